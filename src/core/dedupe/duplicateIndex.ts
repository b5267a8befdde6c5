/**
 * Incremental duplicate detection for the language server: samples come and go
 * by id (the document's stable line handles), and each change costs the work of
 * that one sample: its shingles, signature and band keys, a walk of its b
 * buckets, a comparison of its signature's 8-bit sketch with those of the
 * candidates found there (sketch.ts), and the exact Jaccard similarity of the
 * few whose sketches agree enough.
 *
 * Samples with the same normalised conversation share one group (`Node`): only
 * groups take part in LSH, so a thousand copies of one sample cost one entry,
 * and an exact copy joins its group without any hashing beyond its key. Groups
 * are linked by confirmed near-duplicate pairs; clusters are the connected
 * components of those links, kept up to date by merging on a new link and by a
 * walk of the one component that lost a group.
 *
 * Two groups are linked exactly when they share a band bucket and their shingle
 * sets reach the threshold, a property of the pair alone, so the clusters do not
 * depend on the order of edits (the batch function finds the same), except past
 * `maxCandidates` (see options.ts).
 *
 * Memory per group: b band keys and b chain links (4 bytes each), K sketch bytes, its normalised
 * text (unless a `source` gives texts back on demand), and a few small objects.
 * Shingle sets are recomputed when needed and kept in a bounded cache.
 */
import { DedupeText } from './normalize';
import { DedupeOptions, ResolvedDedupeOptions, resolveDedupeOptions } from './options';
import { bandKeys } from './lsh';
import { signInto } from './minhash';
import { sketchCutoffs, sketchPasses, writeSketch } from './sketch';
import { jaccardAtLeast, sampleShingles, sortUnique } from './shingle';
import { Cluster, DuplicateView, GroupLike, Twin, closestInGroup, insertSorted, removeSorted, twinsInGroup } from './view';

const NO_EDGES: ReadonlyMap<Node, number> = new Map();

class Node implements GroupLike {
  readonly members: number[];
  edges: ReadonlyMap<Node, number> = NO_EDGES;
  comp: Component;
  /** Whether it was compared with only `maxCandidates` of its candidates. */
  truncated = false;
  /** `closestInGroup` for a one-member group, cached until its links or its neighbours' members change. */
  closest: Twin | null | undefined;

  /** The sample's text, unless the index reads texts from its `source`. */
  constructor(readonly slot: number, readonly exact: number, readonly sample: DedupeText | undefined, id: number) {
    this.members = [id];
    this.comp = new Component(this);
  }

  link(other: Node, similarity: number): void {
    this.closest = undefined;
    if (this.edges === NO_EDGES) this.edges = new Map();
    (this.edges as Map<Node, number>).set(other, similarity);
  }

  unlink(other: Node): void {
    this.closest = undefined;
    if (this.edges === NO_EDGES) return;
    const edges = this.edges as Map<Node, number>;
    edges.delete(other);
    if (edges.size === 0) this.edges = NO_EDGES;
  }
}

class Component {
  nodes: Node[];
  /** Number of samples (members of all nodes). */
  size: number;
  cluster: Cluster | undefined;

  constructor(node: Node) {
    this.nodes = [node];
    this.size = node.members.length;
  }
}

export interface DuplicateIndexStats {
  readonly samples: number;
  /** Groups of exact duplicates (what LSH holds). */
  readonly groups: number;
  /** Confirmed near-duplicate links between groups. */
  readonly links: number;
  /** Candidate pairs met in buckets, how many passed the sketch test, and how many were confirmed, since the index was made. */
  readonly candidates: number;
  readonly checked: number;
  readonly confirmed: number;
  /** Groups compared with only `maxCandidates` of their candidates. */
  readonly truncated: number;
}

export interface DuplicateIndexInit extends Partial<DedupeOptions> {
  /** Expected number of samples, to size the tables once. */
  readonly expectedSize?: number;
  /** Shingle hashes kept in the cache of sets for confirmations (4 bytes each; default 1 M = 4 MB). */
  readonly cacheEntries?: number;
  /**
   * Where to read a sample's text back when it is needed (to confirm a candidate
   * pair, for `textOf`), instead of keeping every text: the document already
   * holds its lines. It must answer what was last `set` for that id, so set every
   * changed id before reading anything from the index.
   */
  readonly source?: (id: number) => DedupeText | undefined;
}

export class DuplicateIndex implements DuplicateView {
  readonly options: ResolvedDedupeOptions;
  private readonly bands: number;
  private readonly byId = new Map<number, Node>();
  private readonly byExact = new Map<number, Node>();
  private changed = new Set<number>();
  // Band buckets: per band a table of chain heads (a quarter as many as slots: chains of about four);
  // chains run through `next`, one link per (slot, band), and compare the full key stored in `keys`.
  private capacity = 0;
  private perBand = 0;
  private mask = 0;
  private keys = new Uint32Array(0);
  private next = new Int32Array(0);
  private heads = new Int32Array(0);
  private slots: (Node | undefined)[] = [];
  private free: number[] = [];
  private stamp = new Int32Array(0);
  private shared = new Int32Array(0);
  private epoch = 0;
  private readonly sig: Uint32Array;
  private readonly queryKeys: Uint32Array;
  // Per slot: the 8-bit sketch of its signature (K bytes) and the number of bins its own shingles filled.
  private sketches = new Uint8Array(0);
  private sketchWords = new Int32Array(0);
  private filled = new Uint16Array(0);
  private readonly querySketch: Uint8Array;
  private readonly queryWords: Int32Array;
  private readonly cutoffs: Uint16Array;
  // Shingle sets for confirmations, least recently added first.
  private readonly sets = new Map<Node, Uint32Array>();
  private setEntries = 0;
  private readonly cacheEntries: number;
  private clusterKeys = 0;
  private readonly source: ((id: number) => DedupeText | undefined) | undefined;
  private counters = { candidates: 0, checked: 0, confirmed: 0, links: 0 };

  constructor(init: DuplicateIndexInit = {}) {
    this.options = resolveDedupeOptions(init);
    this.bands = this.options.banding.bands;
    this.sig = new Uint32Array(this.options.numPerm);
    this.queryKeys = new Uint32Array(this.bands);
    this.querySketch = new Uint8Array(this.options.numPerm);
    this.queryWords = new Int32Array(this.querySketch.buffer);
    this.cutoffs = sketchCutoffs(this.options.threshold, this.options.numPerm);
    this.cacheEntries = init.cacheEntries ?? 1 << 20;
    this.source = init.source;
    this.grow(Math.max(1024, init.expectedSize ?? 0));
  }

  /** Number of samples held. */
  get size(): number {
    return this.byId.size;
  }

  has(id: number): boolean {
    return this.byId.has(id);
  }

  /**
   * Puts a sample under `id`, replacing what was there; `undefined` removes it
   * (a line that is no longer a sample). Setting the same exact key again is free.
   */
  set(id: number, sample: DedupeText | undefined): void {
    const old = this.byId.get(id);
    if (old !== undefined && sample !== undefined && old.exact === sample.exact) return;
    if (old !== undefined) this.removeMember(old, id);
    if (sample !== undefined) this.addMember(id, sample);
    this.changed.add(id);
  }

  delete(id: number): void {
    this.set(id, undefined);
  }

  /**
   * Ids whose duplicate findings may have changed since the last call (their
   * cluster, twins or similarity; removed ids included), then forgets them. After
   * a one-line edit: the edited id and the members of its old and new clusters.
   */
  takeChanged(): Set<number> {
    const out = this.changed;
    this.changed = new Set();
    return out;
  }

  clusterOf(id: number): Cluster | undefined {
    const node = this.byId.get(id);
    return node === undefined ? undefined : this.clusterOfComp(node.comp);
  }

  clusters(): Cluster[] {
    const out: Cluster[] = [];
    const seen = new Set<Component>();
    for (const node of this.byExact.values()) {
      if (seen.has(node.comp)) continue;
      seen.add(node.comp);
      const c = this.clusterOfComp(node.comp);
      if (c !== undefined) out.push(c);
    }
    return out.sort((a, b) => (a.members[0] as number) - (b.members[0] as number));
  }

  twinsOf(id: number): Twin[] {
    const node = this.byId.get(id);
    return node === undefined ? [] : twinsInGroup(node, id);
  }

  closestTwin(id: number): Twin | undefined {
    const node = this.byId.get(id);
    if (node === undefined) return undefined;
    if (node.members.length > 1) return closestInGroup(node, id);
    if (node.closest === undefined) node.closest = closestInGroup(node, id) ?? null;
    return node.closest ?? undefined;
  }

  textOf(id: number): string | undefined {
    const node = this.byId.get(id);
    if (node === undefined) return undefined;
    return node.sample !== undefined ? node.sample.text : this.source?.(id)?.text;
  }

  /**
   * The confirmed twins a sample would have, without adding it (for a sample of
   * another file: train/validation leakage).
   */
  query(sample: DedupeText): Twin[] {
    const out: Twin[] = [];
    const same = this.byExact.get(sample.exact);
    if (same !== undefined) for (const m of same.members) out.push({ id: m, similarity: 1, exact: true });
    const filled = this.computeKeys(sample, this.queryKeys, 0);
    if (filled === 0) return out;
    writeSketch(this.sig, this.querySketch, 0);
    const found = this.candidates(this.queryKeys, 0, same?.slot ?? -1, undefined, this.queryWords, 0, filled);
    const set = found.length > 0 ? this.lastSet() : new Uint32Array(0);
    for (const node of found) {
      const similarity = jaccardAtLeast(set, this.setOf(node), this.options.threshold);
      if (similarity >= 0) for (const m of node.members) out.push({ id: m, similarity, exact: false });
    }
    const near = out.filter((t) => !t.exact).sort((a, b) => b.similarity - a.similarity || a.id - b.id);
    return out.filter((t) => t.exact).concat(near);
  }

  stats(): DuplicateIndexStats {
    let truncated = 0;
    for (const n of this.byExact.values()) if (n.truncated) truncated++;
    return {
      samples: this.byId.size, groups: this.byExact.size, links: this.counters.links,
      candidates: this.counters.candidates, checked: this.counters.checked, confirmed: this.counters.confirmed, truncated,
    };
  }

  // ---- members and groups ----

  private addMember(id: number, sample: DedupeText): void {
    const existing = this.byExact.get(sample.exact);
    if (existing !== undefined) {
      insertSorted(existing.members, id);
      this.membersChanged(existing);
      existing.comp.size++;
      this.byId.set(id, existing);
      this.touch(existing.comp);
      return;
    }
    const slot = this.allocSlot();
    const node = new Node(slot, sample.exact, this.source === undefined ? sample : undefined, id);
    this.slots[slot] = node;
    this.byExact.set(sample.exact, node);
    this.byId.set(id, node);
    const filled = this.computeKeys(sample, this.keys, slot * this.bands);
    if (filled > 0) {
      const k = this.options.numPerm;
      writeSketch(this.sig, this.sketches, slot * k);
      this.filled[slot] = filled;
      const found = this.candidates(this.keys, slot * this.bands, slot, node, this.sketchWords, slot, filled);
      this.linkSlot(slot);
      // The set is sorted only when there is something to compare it with (most samples have no candidate).
      if (found.length > 0) {
        const set = this.lastSet();
        this.cacheSet(node, set);
        for (const other of found) {
          const similarity = jaccardAtLeast(set, this.setOf(other), this.options.threshold);
          if (similarity >= 0) this.addEdge(node, other, similarity);
        }
      }
    }
    this.touch(node.comp);
  }

  private removeMember(node: Node, id: number): void {
    this.touch(node.comp);
    this.byId.delete(id);
    removeSorted(node.members, id);
    this.membersChanged(node);
    node.comp.size--;
    if (node.members.length > 0) return;
    // The group is gone: out of the buckets, its links dropped, its component split if it held it together.
    this.byExact.delete(node.exact);
    this.unlinkSlot(node.slot);
    this.slots[node.slot] = undefined;
    this.free.push(node.slot);
    this.dropSet(node);
    const comp = node.comp;
    const neighbours = [...node.edges.keys()];
    for (const other of neighbours) other.unlink(node);
    this.counters.links -= neighbours.length;
    node.edges = NO_EDGES;
    if (comp.nodes.length > 1) this.rebuild(comp, node, neighbours);
  }

  private addEdge(a: Node, b: Node, similarity: number): void {
    a.link(b, similarity);
    b.link(a, similarity);
    this.counters.links++;
    this.counters.confirmed++;
    let big = a.comp;
    let small = b.comp;
    if (big === small) return;
    if (big.nodes.length < small.nodes.length) [big, small] = [small, big];
    for (const n of small.nodes) {
      n.comp = big;
      big.nodes.push(n);
    }
    big.size += small.size;
    big.cluster = undefined;
  }

  /**
   * Splits `comp` into the connected components left after `removed` went. A
   * walk from one former neighbour that meets all the others proves nothing
   * split, and usually stops long before it has seen the whole component.
   */
  private rebuild(comp: Component, removed: Node, neighbours: readonly Node[]): void {
    const rest = comp.nodes.filter((n) => n !== removed);
    const first = neighbours[0];
    if (first !== undefined) {
      const waiting = new Set(neighbours);
      const seen = new Set<Node>([first]);
      waiting.delete(first);
      const queue = [first];
      for (let i = 0; i < queue.length && waiting.size > 0; i++) {
        for (const nb of (queue[i] as Node).edges.keys()) {
          if (seen.has(nb)) continue;
          seen.add(nb);
          waiting.delete(nb);
          queue.push(nb);
        }
      }
      if (waiting.size === 0) {
        comp.nodes = rest;
        comp.size = 0;
        for (const n of rest) comp.size += n.members.length;
        return;
      }
    }
    const seen = new Set<Node>();
    const regions: Node[][] = [];
    for (const start of rest) {
      if (seen.has(start)) continue;
      seen.add(start);
      const region = [start];
      for (let i = 0; i < region.length; i++) {
        for (const nb of (region[i] as Node).edges.keys()) {
          if (!seen.has(nb)) {
            seen.add(nb);
            region.push(nb);
          }
        }
      }
      regions.push(region);
    }
    regions.sort((x, y) => y.length - x.length);
    regions.forEach((region, i) => {
      const target = i === 0 ? comp : new Component(region[0] as Node);
      target.nodes = region;
      target.size = 0;
      target.cluster = undefined;
      for (const n of region) {
        n.comp = target;
        target.size += n.members.length;
      }
    });
  }

  /** Marks every member of `comp` changed and drops its cached cluster. */
  private touch(comp: Component): void {
    comp.cluster = undefined;
    for (const n of comp.nodes) for (const m of n.members) this.changed.add(m);
  }

  /** A group's members changed: what its neighbours cached about their closest twin may name another id. */
  private membersChanged(node: Node): void {
    node.closest = undefined;
    for (const nb of node.edges.keys()) nb.closest = undefined;
  }

  private clusterOfComp(comp: Component): Cluster | undefined {
    if (comp.size < 2) return undefined;
    if (comp.cluster === undefined) {
      let members: number[];
      if (comp.nodes.length === 1) members = (comp.nodes[0] as Node).members.slice();
      else {
        members = [];
        for (const n of comp.nodes) for (const m of n.members) members.push(m);
        members.sort((a, b) => a - b);
      }
      comp.cluster = Object.freeze({ key: ++this.clusterKeys, members: Object.freeze(members), exact: comp.nodes.length === 1 });
    }
    return comp.cluster;
  }

  // ---- signatures, buckets, candidates ----

  private lastBuf: Uint32Array = new Uint32Array(0);
  private lastCount = 0;

  /**
   * Shingles a sample, signs it into `this.sig`, writes its band keys to `out[offset …]`;
   * the scratch buffer keeps the shingle hashes. Returns the bins it filled (0: no shingles).
   */
  private computeKeys(sample: DedupeText, out: Uint32Array, offset: number): number {
    const [buf, count] = sampleShingles(sample.text, sample.system, this.options.ngram);
    const filled = signInto(buf, count, this.options.numPerm, this.sig);
    if (filled === 0) return 0;
    bandKeys(this.sig, this.options.banding, out, offset);
    this.lastBuf = buf;
    this.lastCount = count;
    return filled;
  }

  /** The shingle set of the text `computeKeys` saw last (a new array); call it before shingling anything else. */
  private lastSet(): Uint32Array {
    return this.lastBuf.slice(0, sortUnique(this.lastBuf, this.lastCount));
  }

  /**
   * Groups sharing a band with the keys at `keys[offset …]` whose sketches agree enough with
   * sketch `sketchSlot` of `sketch`, at most `maxCandidates` (those sharing most bands).
   */
  private candidates(keys: Uint32Array, offset: number, self: number, node: Node | undefined, sketch: Int32Array, sketchSlot: number, filled: number): Node[] {
    const b = this.bands;
    if (++this.epoch === 0x7fffffff) {
      this.epoch = 1;
      this.stamp.fill(0);
    }
    const epoch = this.epoch;
    const found: number[] = [];
    for (let t = 0; t < b; t++) {
      const key = keys[offset + t] as number;
      let s = this.heads[t * this.perBand + (key & this.mask)] as number;
      while (s !== -1) {
        if (s !== self && this.keys[s * b + t] === key) {
          if (this.stamp[s] !== epoch) {
            this.stamp[s] = epoch;
            this.shared[s] = 1;
            found.push(s);
          } else this.shared[s] = (this.shared[s] as number) + 1;
        }
        s = this.next[s * b + t] as number;
      }
    }
    this.counters.candidates += found.length;
    const k = this.options.numPerm;
    let kept = 0;
    for (const s of found) {
      if (sketchPasses(this.cutoffs, k, sketch, sketchSlot, filled, this.sketchWords, s, this.filled[s] as number)) found[kept++] = s;
    }
    found.length = kept;
    this.counters.checked += kept;
    if (found.length > this.options.maxCandidates) {
      const shared = this.shared;
      const slots = this.slots;
      found.sort((x, y) => (shared[y] as number) - (shared[x] as number) || (slots[x] as Node).exact - (slots[y] as Node).exact);
      found.length = this.options.maxCandidates;
      if (node !== undefined) node.truncated = true;
    }
    return found.map((s) => this.slots[s] as Node);
  }

  private linkSlot(slot: number): void {
    const b = this.bands;
    for (let t = 0; t < b; t++) {
      const h = t * this.perBand + ((this.keys[slot * b + t] as number) & this.mask);
      this.next[slot * b + t] = this.heads[h] as number;
      this.heads[h] = slot;
    }
  }

  private unlinkSlot(slot: number): void {
    const b = this.bands;
    for (let t = 0; t < b; t++) {
      const h = t * this.perBand + ((this.keys[slot * b + t] as number) & this.mask);
      let s = this.heads[h] as number;
      if (s === slot) {
        this.heads[h] = this.next[slot * b + t] as number;
        continue;
      }
      while (s !== -1) {
        const nx = this.next[s * b + t] as number;
        if (nx === slot) {
          this.next[s * b + t] = this.next[slot * b + t] as number;
          break;
        }
        s = nx;
      }
    }
  }

  private allocSlot(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    const slot = this.slots.length;
    if (slot >= this.capacity) this.grow(Math.ceil(this.capacity * 1.5));
    this.slots.push(undefined);
    return slot;
  }

  /** Resizes the tables to `capacity` slots and re-links every group (amortised: capacity grows by half). */
  private grow(capacity: number): void {
    if (capacity <= this.capacity) return;
    const b = this.bands;
    const keys = new Uint32Array(capacity * b);
    keys.set(this.keys);
    this.keys = keys;
    this.next = new Int32Array(capacity * b);
    let perBand = 256;
    while (perBand * 4 < capacity) perBand *= 2;
    this.perBand = perBand;
    this.mask = perBand - 1;
    this.heads = new Int32Array(perBand * b).fill(-1);
    const stamp = new Int32Array(capacity);
    stamp.set(this.stamp);
    this.stamp = stamp;
    this.shared = new Int32Array(capacity);
    const sketches = new Uint8Array(capacity * this.options.numPerm);
    sketches.set(this.sketches);
    this.sketches = sketches;
    this.sketchWords = new Int32Array(sketches.buffer);
    const filled = new Uint16Array(capacity);
    filled.set(this.filled);
    this.filled = filled;
    this.capacity = capacity;
    for (let s = 0; s < this.slots.length; s++) if (this.slots[s] !== undefined) this.linkSlot(s);
  }

  // ---- shingle sets for confirmation ----

  private setOf(node: Node): Uint32Array {
    const cached = this.sets.get(node);
    if (cached !== undefined) return cached;
    const sample = node.sample ?? this.source?.(node.members[0] as number);
    if (sample === undefined) return new Uint32Array(0); // the source lost it: no similarity until it is set again
    const [buf, count] = sampleShingles(sample.text, sample.system, this.options.ngram);
    const set = buf.slice(0, sortUnique(buf, count));
    this.cacheSet(node, set);
    return set;
  }

  private cacheSet(node: Node, set: Uint32Array): void {
    this.dropSet(node);
    this.sets.set(node, set);
    this.setEntries += set.length;
    for (const [n, s] of this.sets) {
      if (this.setEntries <= this.cacheEntries || n === node) break;
      this.sets.delete(n);
      this.setEntries -= s.length;
    }
  }

  private dropSet(node: Node): void {
    const s = this.sets.get(node);
    if (s === undefined) return;
    this.sets.delete(node);
    this.setEntries -= s.length;
  }
}
