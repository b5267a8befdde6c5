/**
 * Duplicate detection over a whole file at once, for the command line:
 * group exact duplicates, then over one sample per group shingle, sign
 * (MinHash), band, sort each band's keys to find shared buckets, drop candidate
 * pairs whose signatures agree too seldom (sketch.ts), confirm the rest by exact
 * Jaccard similarity, and join confirmed pairs with union-find. Finds the same clusters as `DuplicateIndex` fed the same samples.
 */
import { DedupeText } from './normalize';
import { DedupeOptions, ResolvedDedupeOptions, resolveDedupeOptions } from './options';
import { bandKeys } from './lsh';
import { signInto } from './minhash';
import { sketchCutoffs, sketchPasses, writeSketch } from './sketch';
import { jaccardAtLeast, sampleShingles, sortUnique } from './shingle';
import { UnionFind } from './unionFind';
import { Cluster, DuplicateView, GroupLike, Twin, closestInGroup, twinsInGroup } from './view';

/** A confirmed near-duplicate pair, between the first samples of two exact groups. */
export interface DuplicatePair {
  readonly a: number;
  readonly b: number;
  readonly similarity: number;
}

export interface BatchStats {
  readonly samples: number;
  readonly groups: number;
  /** Distinct candidate pairs of groups from shared buckets, and how many were confirmed. */
  readonly candidates: number;
  /** Candidates whose signatures agreed enough for an exact Jaccard similarity (the rest were dropped unmerged). */
  readonly checked: number;
  readonly confirmed: number;
  /** Buckets larger than `maxCandidates` + 1, where only neighbours in the bucket were compared. */
  readonly truncatedBuckets: number;
  /** Milliseconds spent signing (shingle, MinHash, band keys), finding candidates, confirming, clustering. */
  readonly ms: { readonly sign: number; readonly band: number; readonly verify: number; readonly cluster: number };
}

const NO_EDGES: ReadonlyMap<Group, number> = new Map();

class Group implements GroupLike {
  readonly members: number[] = [];
  /** Confirmed neighbours (made on the first one: most groups have none). */
  edges: ReadonlyMap<Group, number> = NO_EDGES;
  constructor(readonly index: number, readonly text: string, readonly system: string | undefined) {}
}

/** The result of `findDuplicates`, read like the incremental index. Ids are indices into the input. */
export class DuplicateReport implements DuplicateView {
  private readonly cache = new Map<number, Cluster>();
  private all: Cluster[] | undefined;

  /** @internal */
  constructor(
    readonly options: ResolvedDedupeOptions,
    private readonly groupOf: Int32Array,
    private readonly groups: readonly Group[],
    private readonly uf: UnionFind,
    private readonly members: ReadonlyMap<number, number[]>,
    /** Confirmed near-duplicate pairs, by group representatives (first members), ascending. */
    readonly pairs: readonly DuplicatePair[],
    readonly stats: BatchStats,
  ) {}

  /** Groups of exact duplicates (two or more samples), by smallest member. */
  exactGroups(): number[][] {
    return this.groups.filter((g) => g.members.length > 1).map((g) => g.members.slice());
  }

  clusters(): readonly Cluster[] {
    if (this.all === undefined) {
      const out: Cluster[] = [];
      for (const root of this.members.keys()) {
        const c = this.clusterOfRoot(root);
        if (c !== undefined) out.push(c);
      }
      this.all = out.sort((a, b) => (a.members[0] as number) - (b.members[0] as number));
    }
    return this.all;
  }

  clusterOf(id: number): Cluster | undefined {
    const g = this.groupOf[id];
    if (g === undefined || g < 0) return undefined;
    return this.clusterOfRoot(this.uf.find(g));
  }

  twinsOf(id: number): Twin[] {
    const g = this.groupOf[id];
    return g === undefined || g < 0 ? [] : twinsInGroup(this.groups[g] as Group, id);
  }

  closestTwin(id: number): Twin | undefined {
    const g = this.groupOf[id];
    return g === undefined || g < 0 ? undefined : closestInGroup(this.groups[g] as Group, id);
  }

  textOf(id: number): string | undefined {
    const g = this.groupOf[id];
    return g === undefined || g < 0 ? undefined : (this.groups[g] as Group).text;
  }

  private clusterOfRoot(root: number): Cluster | undefined {
    const cached = this.cache.get(root);
    if (cached !== undefined) return cached;
    const members = this.members.get(root);
    if (members === undefined || members.length < 2) return undefined;
    const cluster: Cluster = Object.freeze({ key: root + 1, members: Object.freeze(members), exact: this.uf.sizeOf(root) === 1 });
    this.cache.set(root, cluster);
    return cluster;
  }
}

/** Sorts `keys` (and `vals` alongside) ascending: LSD radix sort, two passes of 16 bits. */
function radixSort(keys: Uint32Array, vals: Int32Array, tmpKeys: Uint32Array, tmpVals: Int32Array, count: Uint32Array): void {
  const n = keys.length;
  for (let shift = 0; shift < 32; shift += 16) {
    const [srcK, srcV, dstK, dstV] = shift === 0 ? [keys, vals, tmpKeys, tmpVals] : [tmpKeys, tmpVals, keys, vals];
    count.fill(0);
    for (let i = 0; i < n; i++) count[((srcK[i] as number) >>> shift) & 0xffff]++;
    let sum = 0;
    for (let i = 0; i < 65536; i++) {
      const c = count[i] as number;
      count[i] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const k = srcK[i] as number;
      const d = count[(k >>> shift) & 0xffff]++;
      dstK[d] = k;
      dstV[d] = srcV[i] as number;
    }
  }
}

/**
 * Exact groups and near-duplicate clusters of `samples` (undefined: not a sample,
 * e.g. a broken line). Ids in the report are indices into `samples`.
 */
export function findDuplicates(samples: readonly (DedupeText | undefined)[], options: Partial<DedupeOptions> = {}): DuplicateReport {
  const opts = resolveDedupeOptions(options);
  const { bands } = opts.banding;
  const t0 = performance.now();

  // 1. Exact groups.
  const groupOf = new Int32Array(samples.length).fill(-1);
  const byExact = new Map<number, number>();
  const groups: Group[] = [];
  samples.forEach((s, i) => {
    if (s === undefined) return;
    let g = byExact.get(s.exact);
    if (g === undefined) {
      g = groups.length;
      byExact.set(s.exact, g);
      groups.push(new Group(g, s.text, s.system));
    }
    groupOf[i] = g;
    (groups[g] as Group).members.push(i);
  });
  const n = groups.length;

  // 2. Shingles → MinHash signature → band keys and an 8-bit sketch, one group at a time.
  const k = opts.numPerm;
  const keys = new Uint32Array(n * bands);
  const sketches = new Uint8Array(n * k);
  const filled = new Uint16Array(n); // 0: no shingles, not signed
  const sig = new Uint32Array(k);
  for (let g = 0; g < n; g++) {
    const group = groups[g] as Group;
    const [buf, count] = sampleShingles(group.text, group.system, opts.ngram);
    const f = signInto(buf, count, k, sig);
    if (f === 0) continue;
    bandKeys(sig, opts.banding, keys, g * bands);
    writeSketch(sig, sketches, g * k);
    filled[g] = f;
  }
  const t1 = performance.now();

  // 3. Per band, sort the keys; groups in one run of equal keys share a bucket.
  let pairs = new Float64Array(1024);
  let pairCount = 0;
  const addPair = (x: number, y: number) => {
    if (pairCount === pairs.length) {
      const bigger = new Float64Array(pairs.length * 2);
      bigger.set(pairs);
      pairs = bigger;
    }
    pairs[pairCount++] = x < y ? x * n + y : y * n + x;
  };
  const bandK = new Uint32Array(n);
  const bandV = new Int32Array(n);
  const tmpK = new Uint32Array(n);
  const tmpV = new Int32Array(n);
  const count = new Uint32Array(65536);
  let truncatedBuckets = 0;
  const window = opts.maxCandidates;
  for (let t = 0; t < bands; t++) {
    let m = 0;
    for (let g = 0; g < n; g++) {
      if (filled[g] === 0) continue;
      bandK[m] = keys[g * bands + t] as number;
      bandV[m] = g;
      m++;
    }
    const bk = bandK.subarray(0, m);
    const v = bandV.subarray(0, m);
    radixSort(bk, v, tmpK.subarray(0, m), tmpV.subarray(0, m), count);
    for (let i = 0; i < m; ) {
      let j = i + 1;
      while (j < m && bk[j] === bk[i]) j++;
      if (j - i > window + 1) truncatedBuckets++;
      for (let x = i; x < j; x++) {
        const end = Math.min(j, x + 1 + window);
        for (let y = x + 1; y < end; y++) addPair(v[x] as number, v[y] as number);
      }
      i = j;
    }
  }
  const unique = pairs.subarray(0, pairCount).sort();
  let candidates = 0;
  for (let i = 0; i < unique.length; i++) if (i === 0 || unique[i] !== unique[i - 1]) unique[candidates++] = unique[i] as number;
  const t2 = performance.now();

  // 4. Confirm each candidate whose signatures agree enough by the exact Jaccard similarity of the two shingle sets.
  const sets = new Map<number, Uint32Array>();
  let setEntries = 0;
  const setOf = (g: number): Uint32Array => {
    let s = sets.get(g);
    if (s === undefined) {
      const group = groups[g] as Group;
      const [buf, c] = sampleShingles(group.text, group.system, opts.ngram);
      s = buf.slice(0, sortUnique(buf, c));
      sets.set(g, s);
      setEntries += s.length;
      for (const [h, old] of sets) {
        if (setEntries <= 1 << 24 || h === g) break;
        sets.delete(h);
        setEntries -= old.length;
      }
    }
    return s;
  };
  const uf = new UnionFind(n);
  const confirmed: DuplicatePair[] = [];
  const cutoffs = sketchCutoffs(opts.threshold, k);
  const words = new Int32Array(sketches.buffer);
  let checked = 0;
  for (let i = 0; i < candidates; i++) {
    const p = unique[i] as number;
    const x = Math.floor(p / n);
    const y = p - x * n;
    if (!sketchPasses(cutoffs, k, words, x, filled[x] as number, words, y, filled[y] as number)) continue;
    checked++;
    const similarity = jaccardAtLeast(setOf(x), setOf(y), opts.threshold);
    if (similarity < 0) continue;
    const gx = groups[x] as Group;
    const gy = groups[y] as Group;
    if (gx.edges === NO_EDGES) gx.edges = new Map();
    if (gy.edges === NO_EDGES) gy.edges = new Map();
    (gx.edges as Map<Group, number>).set(gy, similarity);
    (gy.edges as Map<Group, number>).set(gx, similarity);
    uf.union(x, y);
    confirmed.push({ a: gx.members[0] as number, b: gy.members[0] as number, similarity });
  }
  const t3 = performance.now();

  // 5. Members of each cluster (union-find root → sample ids), only where there is more than one.
  const members = new Map<number, number[]>();
  for (let g = 0; g < n; g++) {
    const group = groups[g] as Group;
    if (group.members.length < 2 && group.edges.size === 0) continue;
    const root = uf.find(g);
    const list = members.get(root);
    if (list === undefined) members.set(root, group.members.slice());
    else for (const m of group.members) list.push(m);
  }
  for (const list of members.values()) list.sort((a, b) => a - b);
  const t4 = performance.now();

  confirmed.sort((p, q) => p.a - q.a || p.b - q.b);
  return new DuplicateReport(opts, groupOf, groups, uf, members, confirmed, {
    samples: samples.length - samples.filter((s) => s === undefined).length,
    groups: n, candidates, checked, confirmed: confirmed.length, truncatedBuckets,
    ms: { sign: t1 - t0, band: t2 - t1, verify: t3 - t2, cluster: t4 - t3 },
  });
}
