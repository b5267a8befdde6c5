/**
 * The near-duplicate benchmark (`runDedupeBench`, part of `npm run bench`): a
 * generated dataset with planted exact and near duplicates (see the generator
 * at the end of this file), each figure printed beside a baseline measured in
 * the same run.
 *
 *   0. n-gram width: share of planted pairs at or above the threshold, and the
 *      similarity of unrelated samples, per width (what the default rests on).
 *   1. Quality at the defaults on 100,000 samples: recall of planted duplicates
 *      per kind, precision of reported pairs.
 *   2. Recall against exact all-pairs Jaccard on a 5,000-sample file.
 *   3. Speed of the batch (shingle, hash, band, verify, cluster) vs. reading and
 *      JSON.parse, and vs. textbook K-permutation MinHash; again on the lint
 *      benchmark's file, whose samples share most of their vocabulary.
 *   4. Incremental update after a one-line edit in a 100,000-sample index.
 *   5. Memory of the index.
 *   6. datasketch's MinHash + MinHashLSH doing the same work (Python, from a
 *      scratch folder outside the repository), when `python3` can import it
 *      (`DATASKETCH_PYTHONPATH` is put on its PYTHONPATH); skipped otherwise.
 *
 * `DEDUPE_LINES` changes the size (default 100,000); `DEDUPE_NGRAM`, `DEDUPE_K`,
 * `DEDUPE_THRESHOLD` measure other settings than the defaults.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { DuplicateIndex } from '../src/core/dedupe/duplicateIndex';
import { findDuplicates } from '../src/core/dedupe/batch';
import { DedupeText, dedupeTextOfLine } from '../src/core/dedupe/normalize';
import { DEFAULT_DEDUPE_OPTIONS, ResolvedDedupeOptions, resolveDedupeOptions } from '../src/core/dedupe/options';
import { Banding, candidateProbability, chooseBanding } from '../src/core/dedupe/lsh';
import { classicSignature, permutationSeeds, signature } from '../src/core/dedupe/minhash';
import { jaccard, sampleShingleSet, sampleShingles, shingleSet } from '../src/core/dedupe/shingle';
import { rng } from './generate';

const ms = (x: number) => `${x.toFixed(x < 10 ? 2 : 0)} ms`;
const mb = (x: number) => `${(x / (1024 * 1024)).toFixed(1)} MB`;
const f3 = (x: number) => x.toFixed(3);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();
const out = (s = '') => process.stdout.write(s + '\n');

function parseAll(lines: readonly string[]): (DedupeText | undefined)[] {
  return lines.map((l) => dedupeTextOfLine(l, DEFAULT_DEDUPE_OPTIONS.turns));
}

/** Pairs (i, j) of samples with exact Jaccard ≥ t, by prefix filtering (exact: no pair is missed). */
function exactJoin(sets: readonly Uint32Array[], t: number): Map<number, number> {
  const n = sets.length;
  const freq = new Map<number, number>();
  for (const s of sets) for (const x of s) freq.set(x, (freq.get(x) ?? 0) + 1);
  // Rare tokens first: short prefixes, few candidates. Any fixed global order is exact.
  const ordered = sets.map((s) => Array.from(s).sort((a, b) => (freq.get(a) as number) - (freq.get(b) as number) || a - b));
  const index = new Map<number, number[]>();
  const found = new Map<number, number>();
  const seen = new Int32Array(n).fill(-1);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (sets[a] as Uint32Array).length - (sets[b] as Uint32Array).length);
  for (const i of order) {
    const s = ordered[i] as number[];
    const size = s.length;
    const prefix = size - Math.ceil(t * size - 1e-9) + 1;
    for (let k = 0; k < Math.min(prefix, size); k++) {
      const tok = s[k] as number;
      const list = index.get(tok);
      if (list !== undefined) {
        for (const j of list) {
          if (seen[j] === i) continue;
          seen[j] = i;
          if ((sets[j] as Uint32Array).length < t * size) continue; // j is no larger than i (by order): length filter
          const sim = jaccard(sets[i] as Uint32Array, sets[j] as Uint32Array);
          if (sim >= t) found.set(Math.min(i, j) * n + Math.max(i, j), sim);
        }
        list.push(i);
      } else index.set(tok, [i]);
    }
  }
  return found;
}

function bruteForce(sets: readonly Uint32Array[], t: number): Map<number, number> {
  const n = sets.length;
  const found = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const sim = jaccard(sets[i] as Uint32Array, sets[j] as Uint32Array);
      if (sim >= t) found.set(i * n + j, sim);
    }
  }
  return found;
}

/** 0. What each n-gram width does to planted pairs and to unrelated samples. */
function ngramSweep(ds: DedupeDataset, texts: readonly (DedupeText | undefined)[], t: number): void {
  out(`0. n-gram width (${ds.lines.length.toLocaleString('en-US')} samples): share of planted edits with exact Jaccard ≥ ${t}, unrelated pairs`);
  out('   n   CJK  edits en  edits zh  system swaps  unrelated p99.9 / max  near misses max');
  const rand = rng(5);
  const pairs: [number, number][] = [];
  for (let k = 0; k < 20000; k++) {
    const a = Math.floor(rand() * ds.lines.length);
    const b = Math.floor(rand() * ds.lines.length);
    if (a !== b && ds.zh[a] === ds.zh[b] && ds.family[a] !== ds.family[b]) pairs.push([a, b]);
  }
  const variants: { n: number; wide: 1 | 2; unit: boolean }[] = [
    { n: 3, wide: 2, unit: true }, { n: 4, wide: 2, unit: true }, { n: 5, wide: 2, unit: true }, { n: 6, wide: 2, unit: true },
    { n: 4, wide: 1, unit: true }, { n: 5, wide: 1, unit: true },
    { n: 4, wide: 2, unit: false }, { n: 5, wide: 2, unit: false },
  ];
  for (const v of variants) {
    const cache = new Map<number, Uint32Array>();
    const set = (i: number): Uint32Array => {
      let s = cache.get(i);
      if (s === undefined) {
        const x = texts[i] as DedupeText;
        if (v.unit) s = v.wide === 2 ? sampleShingleSet(x.text, x.system, v.n) : withUnit(shingleSet(x.text, v.n, 1), x.system);
        else s = shingleSet(x.system !== undefined ? `${x.system} ${x.text}` : x.text, v.n, v.wide);
        cache.set(i, s);
      }
      return s;
    };
    const share = (kind: PlantKind, zh?: number) => {
      let n = 0;
      let hit = 0;
      ds.kind.forEach((k, i) => {
        if (k !== kind || (zh !== undefined && ds.zh[i] !== zh)) return;
        n++;
        if (jaccard(set(i), set(ds.of[i] as number)) >= t) hit++;
      });
      return hit / Math.max(1, n);
    };
    const bg = pairs.map(([a, b]) => jaccard(set(a), set(b))).sort((a, b) => a - b);
    let nearMiss = 0;
    ds.kind.forEach((k, i) => {
      if (k === 'same-question') nearMiss = Math.max(nearMiss, jaccard(set(i), set(ds.of[i] as number)));
    });
    const tpl = ds.kind.map((k, i) => (k === 'template' ? i : -1)).filter((i) => i >= 0).slice(0, 300);
    for (let a = 0; a < tpl.length; a++) for (let b = a + 1; b < tpl.length; b++) nearMiss = Math.max(nearMiss, jaccard(set(tpl[a] as number), set(tpl[b] as number)));
    const p999 = bg[Math.floor(0.999 * (bg.length - 1))] as number;
    out(`   ${v.n}   ${v.wide === 2 ? `${Math.ceil(v.n / 2)}-gram` : `${v.n}-gram`}  ${f3(share('edit', 0))}     ${f3(share('edit', 1))}     ${f3(share('system'))}         ${f3(p999)} / ${f3(bg[bg.length - 1] as number)}          ${f3(nearMiss)}${v.unit ? '' : '   (system prompt shingled as text)'}`);
  }
  out();
}

function withUnit(set: Uint32Array, system: string | undefined): Uint32Array {
  if (system === undefined) return set;
  const [buf, count] = sampleShingles('', system, 1);
  const merged = new Uint32Array(set.length + 1);
  merged.set(set);
  merged[set.length] = buf[count - 1] as number;
  return merged.sort();
}

/** The line with one word (one character in Chinese) of its last turn's text replaced. */
function editLastTurn(line: string, rand: () => number): string {
  const value = JSON.parse(line) as { contents?: { parts: { text: string }[] }[]; messages?: { content: string }[] };
  const change = (text: string) => {
    const words = text.split(' ');
    const i = Math.floor(rand() * words.length);
    if (words.length > 1) words[i] = 'edited';
    else {
      const k = Math.floor(rand() * text.length);
      return text.slice(0, k) + '改' + text.slice(k + 1);
    }
    return words.join(' ');
  };
  if (value.contents !== undefined) {
    const part = value.contents[value.contents.length - 1]?.parts[0];
    if (part !== undefined) part.text = change(part.text);
  } else if (value.messages !== undefined) {
    const msg = value.messages[value.messages.length - 1];
    if (msg !== undefined) msg.content = change(msg.content);
  }
  return JSON.stringify(value);
}

/** The same pipeline with datasketch (shingling as ours, exact groups, MinHash, LSH, verify, union-find). */
const DATASKETCH_SCRIPT = String.raw`
import json, sys, time
from datasketch import MinHash, MinHashLSH
path, n, t, K, b, r = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
rows = [json.loads(l) for l in open(path, encoding="utf-8")]
RANGES = [(0x4e00, 0x9fff), (0x3400, 0x4dbf), (0xac00, 0xd7a3), (0x3040, 0x30ff), (0x1100, 0x115f), (0x2e80, 0x303e),
          (0x3100, 0x33ff), (0xa000, 0xa4cf), (0xf900, 0xfaff), (0xfe30, 0xfe4f), (0xff00, 0xff60), (0xffe0, 0xffe6)]
def width(c):
    o = ord(c)
    return 2 if o >= 0x1100 and any(lo <= o <= hi for lo, hi in RANGES) else 1
def shingles(text):
    out, L, j, w = set(), len(text), 0, 0
    for i in range(L):
        while j < L and w < n:
            w += width(text[j]); j += 1
        if w < n and i > 0: break
        out.add(text[i:j].encode("utf-8"))
        w -= width(text[i])
        if j == L and w < n: break
    return out
t0 = time.perf_counter()
groups, sets = {}, []
for row in rows:
    key = (row["t"], row.get("s"))
    if key in groups: continue
    groups[key] = len(sets)
    s = shingles(row["t"])
    if row.get("s") is not None: s.add(b"\0system\0" + row["s"].encode("utf-8"))
    sets.append(s)
t1 = time.perf_counter()
mhs = MinHash.bulk(sets, num_perm=K)
t2 = time.perf_counter()
lsh = MinHashLSH(num_perm=K, params=(b, r))
with lsh.insertion_session() as session:
    for i, m in enumerate(mhs): session.insert(i, m)
parent = list(range(len(sets)))
def find(x):
    while parent[x] != x:
        parent[x] = parent[parent[x]]; x = parent[x]
    return x
pairs = 0
for i, m in enumerate(mhs):
    for j in lsh.query(m):
        if j <= i: continue
        a, c = sets[i], sets[j]
        inter = len(a & c)
        if inter / (len(a) + len(c) - inter) >= t:
            pairs += 1; parent[find(i)] = find(j)
t3 = time.perf_counter()
print(json.dumps({"samples": len(rows), "groups": len(sets), "pairs": pairs, "shingle": t1 - t0, "minhash": t2 - t1, "lsh": t3 - t2}))
`;

function datasketchBaseline(texts: readonly (DedupeText | undefined)[], opts: ResolvedDedupeOptions): void {
  const n = Math.min(texts.length, Number(process.env.DEDUPE_DATASKETCH_LINES ?? 10_000));
  const env = { ...process.env, PYTHONPATH: [process.env.DATASKETCH_PYTHONPATH, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter) };
  // Debian's numpy and scipy belong to /usr/bin/python3; DATASKETCH_PYTHON names the interpreter.
  const python = process.env.DATASKETCH_PYTHON ?? 'python3';
  const probe = spawnSync(python, ['-c', 'import datasketch, numpy'], { env, encoding: 'utf8' });
  out(`6. datasketch MinHash + MinHashLSH (K = ${opts.numPerm}, b = ${opts.banding.bands}, r = ${opts.banding.rows}), same work on ${n.toLocaleString('en-US')} samples`);
  if (probe.status !== 0) {
    out(`   skipped: ${python} cannot import datasketch and numpy (set DATASKETCH_PYTHONPATH to a folder holding datasketch's source, DATASKETCH_PYTHON to an interpreter with numpy and scipy)\n`);
    return;
  }
  const dir = path.join(os.tmpdir(), 'sft-studio-dedupe-bench'); // a scratch folder outside the repository
  mkdirSync(dir, { recursive: true });
  const data = path.join(dir, 'samples.jsonl');
  const slice = texts.slice(0, n).filter((x): x is DedupeText => x !== undefined);
  writeFileSync(data, slice.map((x) => JSON.stringify({ t: x.text, s: x.system ?? null })).join('\n') + '\n');
  writeFileSync(path.join(dir, 'datasketch_baseline.py'), DATASKETCH_SCRIPT);
  const r = spawnSync(python, [path.join(dir, 'datasketch_baseline.py'), data, String(opts.ngram), String(opts.threshold), String(opts.numPerm), String(opts.banding.bands), String(opts.banding.rows)], { cwd: dir, env, encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) {
    out(`   failed: ${(r.stderr || '').trim().split('\n').slice(-1)[0] ?? ''}\n`);
    return;
  }
  const py = JSON.parse(r.stdout) as { groups: number; pairs: number; shingle: number; minhash: number; lsh: number };
  let best = Infinity;
  let ours = findDuplicates(slice, opts);
  for (let k = 0; k < 3; k++) {
    const t0 = performance.now();
    ours = findDuplicates(slice, opts);
    best = Math.min(best, performance.now() - t0);
  }
  const dsMs = (py.shingle + py.minhash + py.lsh) * 1000;
  const dsCore = (py.minhash + py.lsh) * 1000;
  out(`   datasketch: shingling (Python) ${ms(py.shingle * 1000)} + MinHash.bulk ${ms(py.minhash * 1000)} + LSH insert, query, verify, union-find ${ms(py.lsh * 1000)} = ${ms(dsMs)}; ${py.pairs} pairs`);
  out(`   SFT Studio findDuplicates: ${ms(best)}; ${ours.pairs.length} pairs`);
  out(`   ${(dsMs / best).toFixed(0)}× faster than datasketch end to end, ${(dsCore / best).toFixed(0)}× counting datasketch's MinHash and LSH only (target ≥ 10×)\n`);
}

/** Section 3 on the lint benchmark's file: many samples over one small vocabulary. */
function lintFileSpeed(file: string, opts: ResolvedDedupeOptions): void {
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0);
  let base = Infinity;
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    let n = 0;
    for (const l of lines) {
      try {
        if (JSON.parse(l) !== null) n++;
      } catch {
        n--;
      }
    }
    base = Math.min(base, performance.now() - t0);
  }
  const texts = lines.map((l) => dedupeTextOfLine(l, opts.turns));
  let best = Infinity;
  let report = findDuplicates(texts, opts);
  for (let r = 0; r < 3; r++) {
    gc();
    const t0 = performance.now();
    const rep = findDuplicates(texts, opts);
    const took = performance.now() - t0;
    if (took < best) [best, report] = [took, rep];
  }
  const st = report.stats;
  out(`   the lint benchmark's file (${path.basename(file)}, ${lines.length.toLocaleString('en-US')} lines, ${st.samples.toLocaleString('en-US')} samples over one small vocabulary), best of 4:`);
  out(`   baseline: JSON.parse of every line                    ${ms(base)}`);
  out(`   findDuplicates: shingle + MinHash + band keys ${ms(st.ms.sign)}, buckets ${ms(st.ms.band)}, verify ${ms(st.ms.verify)}, cluster ${ms(st.ms.cluster)}`);
  out(`   total                                                 ${ms(best)}  (target < 3,000 ms; ${(best / base).toFixed(2)}× JSON.parse)`);
  out(`   LSH: ${st.candidates.toLocaleString('en-US')} candidate pairs, ${st.checked.toLocaleString('en-US')} left after the signature sketches for exact Jaccard, ${st.confirmed.toLocaleString('en-US')} confirmed`);
}

/**
 * The banding datasketch's MinHashLSH picks (_optimal_param): the b, r minimising the area
 * under the S-curve below the threshold plus the area above it over the threshold, equal
 * weights. Shown beside the default for what it misses at the threshold.
 */
function leastErrorArea(t: number, k: number): Banding {
  const area = (lo: number, hi: number, f: (s: number) => number) => {
    const steps = 200;
    let sum = 0;
    for (let i = 0; i < steps; i++) sum += f(lo + ((i + 0.5) * (hi - lo)) / steps);
    return (sum * (hi - lo)) / steps;
  };
  let best: Banding = { bands: k, rows: 1 };
  let bestErr = Infinity;
  for (let bands = 1; bands <= k; bands++) {
    for (let rows = 1; bands * rows <= k; rows++) {
      const banding = { bands, rows };
      const err = 0.5 * area(0, t, (s) => candidateProbability(s, banding)) + 0.5 * area(t, 1, (s) => 1 - candidateProbability(s, banding));
      if (err < bestErr) [best, bestErr] = [banding, err];
    }
  }
  return best;
}

function sCurve(bandings: { label: string; banding: Banding }[]): void {
  const sims = [0.3, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9];
  out(`   S-curve P(candidate | s) = 1 − (1 − s^r)^b      s = ${sims.join('   ')}`);
  for (const { label, banding } of bandings) {
    out(`   ${label.padEnd(22)} b=${String(banding.bands).padEnd(3)} r=${String(banding.rows).padEnd(2)}  ${sims.map((s) => candidateProbability(s, banding).toExponential(1)).join(' ')}`);
  }
}

/**
 * `lintFile`: the lint benchmark's generated file (bench/generate.ts), whose samples share
 * most of their vocabulary: LSH meets many unrelated candidates there, the work the
 * signature sketches save. Section 3 measures it too.
 */
export async function runDedupeBench(lintFile?: string): Promise<void> {
  const LINES = Number(process.env.DEDUPE_LINES ?? 100_000);
  const env = (name: string, d: number) => (process.env[name] !== undefined ? Number(process.env[name]) : d);
  const opts = resolveDedupeOptions({
    ...DEFAULT_DEDUPE_OPTIONS,
    ngram: env('DEDUPE_NGRAM', DEFAULT_DEDUPE_OPTIONS.ngram),
    numPerm: env('DEDUPE_K', DEFAULT_DEDUPE_OPTIONS.numPerm),
    threshold: env('DEDUPE_THRESHOLD', DEFAULT_DEDUPE_OPTIONS.threshold),
  });
  out(`near duplicates: threshold ${opts.threshold}, n-gram ${opts.ngram}, K = ${opts.numPerm} (b = ${opts.banding.bands} bands × r = ${opts.banding.rows} rows), turns '${opts.turns}'; node ${process.version}\n`);

  // 0. n-gram width, on a smaller file.
  {
    const ds = generateDedupeDataset(Math.min(LINES, 20_000), 99);
    ngramSweep(ds, parseAll(ds.lines), opts.threshold);
  }

  let t = performance.now();
  const ds = generateDedupeDataset(LINES, 1234);
  const genMs = performance.now() - t;
  const bytes = ds.lines.reduce((n, l) => n + l.length + 1, 0);
  t = performance.now();
  const texts = parseAll(ds.lines);
  const parseMs = performance.now() - t;
  t = performance.now();
  let parsed = 0;
  for (const l of ds.lines) if (JSON.parse(l) !== null) parsed++;
  const jsonMs = performance.now() - t;
  out(`dataset: ${LINES.toLocaleString('en-US')} samples, ${mb(bytes)} (generated in ${ms(genMs)}); planted: ${(['exact', 'edit', 'system', 'same-question', 'template'] as const).map((k) => `${ds.kind.filter((x) => x === k).length} ${k}`).join(', ')}\n`);

  // 1. Quality at the defaults.
  gc();
  t = performance.now();
  const report = findDuplicates(texts, opts);
  const batchMs = performance.now() - t;
  out('1. quality at the defaults (planted truth)');
  const sameCluster = (a: number, b: number) => {
    const c = report.clusterOf(a);
    return c !== undefined && c === report.clusterOf(b);
  };
  for (const kind of ['exact', 'edit', 'system'] as const) {
    for (const zh of [0, 1]) {
      let n = 0;
      let hit = 0;
      let direct = 0;
      ds.kind.forEach((k, i) => {
        if (k !== kind || ds.zh[i] !== zh) return;
        n++;
        const o = ds.of[i] as number;
        if (sameCluster(i, o)) hit++;
        if (report.twinsOf(i).some((tw) => tw.id === o || report.textOf(tw.id) === report.textOf(o))) direct++;
      });
      out(`   ${kind.padEnd(7)} ${zh ? 'zh' : 'en'}: ${hit}/${n} in the cluster of their source = recall ${f3(hit / n)} (confirmed pair with it: ${f3(direct / n)})`);
    }
  }
  let nearPlanted = 0;
  let nearFound = 0;
  ds.kind.forEach((k, i) => {
    if (k !== 'edit' && k !== 'system') return;
    nearPlanted++;
    if (sameCluster(i, ds.of[i] as number)) nearFound++;
  });
  // Precision: a reported pair is right when both samples come from one family.
  let pairsRight = 0;
  for (const p of report.pairs) if (ds.family[p.a] === ds.family[p.b]) pairsRight++;
  let exactRight = 0;
  const exactGroups = report.exactGroups();
  for (const g of exactGroups) if (g.every((m) => ds.family[m] === ds.family[g[0] as number])) exactRight++;
  let nearMisses = 0;
  ds.kind.forEach((k, i) => {
    if (k === 'same-question' && sameCluster(i, ds.of[i] as number)) nearMisses++;
  });
  const clusters = report.clusters();
  let pure = 0;
  for (const c of clusters) if (c.members.every((m) => ds.family[m] === ds.family[c.members[0] as number])) pure++;
  out(`   planted near duplicates (edits + system swaps): recall ${f3(nearFound / nearPlanted)} (target ≥ 0.95)`);
  out(`   reported near pairs: ${report.pairs.length}, right ${pairsRight}: precision ${f3(pairsRight / Math.max(1, report.pairs.length))} (target ≥ 0.98); exact groups ${exactGroups.length}, pure ${f3(exactRight / Math.max(1, exactGroups.length))}`);
  out(`   clusters ${clusters.length}, pure ${f3(pure / Math.max(1, clusters.length))}; same question with another answer reported: ${nearMisses}`);
  out(`   LSH: ${report.stats.candidates.toLocaleString('en-US')} candidate pairs for ${report.stats.groups.toLocaleString('en-US')} groups, ${report.stats.confirmed.toLocaleString('en-US')} confirmed`);
  sCurve([
    { label: 'default', banding: opts.banding },
    { label: 'least FP+FN area', banding: leastErrorArea(opts.threshold, opts.numPerm) },
    { label: 'K=128', banding: chooseBanding(opts.threshold, 128) },
    { label: 'K=256, r=6', banding: { bands: 42, rows: 6 } },
  ]);
  out();

  // 2. Recall against exact all-pairs Jaccard.
  {
    const sub = generateDedupeDataset(5000, 77);
    const subTexts = parseAll(sub.lines);
    const rep = findDuplicates(subTexts, opts);
    // Ground truth over exact groups (one sample each), as the pipeline sees them.
    const reps: number[] = [];
    const repOf = new Map<number, number>();
    subTexts.forEach((s, i) => {
      if (s === undefined || repOf.has(s.exact)) return;
      repOf.set(s.exact, reps.length);
      reps.push(i);
    });
    const sets = reps.map((i) => sampleShingleSet((subTexts[i] as DedupeText).text, (subTexts[i] as DedupeText).system, opts.ngram));
    t = performance.now();
    const truth = exactJoin(sets, opts.threshold);
    const joinMs = performance.now() - t;
    const small = sets.slice(0, 1000);
    const agree = (() => {
      const a = exactJoin(small, opts.threshold);
      const b = bruteForce(small, opts.threshold);
      return a.size === b.size && [...b.keys()].every((k) => a.has(k));
    })();
    const g = reps.length;
    let found = 0;
    let clustered = 0;
    for (const key of truth.keys()) {
      const i = reps[Math.floor(key / g)] as number;
      const j = reps[key % g] as number;
      if (rep.twinsOf(i).some((tw) => tw.id === j)) found++;
      const c = rep.clusterOf(i);
      if (c !== undefined && c === rep.clusterOf(j)) clustered++;
    }
    let extra = 0;
    for (const p of rep.pairs) {
      const a = repOf.get((subTexts[p.a] as DedupeText).exact) as number;
      const b = repOf.get((subTexts[p.b] as DedupeText).exact) as number;
      if (!truth.has(Math.min(a, b) * g + Math.max(a, b))) extra++;
    }
    out(`2. recall against exact all-pairs Jaccard ≥ ${opts.threshold} (5,000 samples, ${g} distinct)`);
    out(`   exact join (prefix filtering; equals brute force on 1,000: ${agree ? 'yes' : 'NO'}) ${ms(joinMs)}: ${truth.size} pairs`);
    out(`   MinHash LSH + confirmation found ${found} of them: recall ${f3(found / Math.max(1, truth.size))} (target ≥ 0.97); in one cluster: ${f3(clustered / Math.max(1, truth.size))}; reported pairs not in the truth: ${extra}\n`);
  }

  // 3. Speed.
  {
    const base = (() => {
      const t0 = performance.now();
      let n = 0;
      for (const l of ds.lines) if (JSON.parse(l) !== null) n++;
      return performance.now() - t0;
    })();
    const times: number[] = [];
    let last = report;
    for (let r = 0; r < 3; r++) {
      gc();
      const t0 = performance.now();
      last = findDuplicates(texts, opts);
      times.push(performance.now() - t0);
    }
    const best = Math.min(batchMs, ...times);
    const s = last.stats.ms;
    // Baseline: textbook MinHash, K seeded hashes per shingle, on a slice, scaled.
    const sliceN = Math.min(2000, texts.length);
    const seeds = permutationSeeds(opts.numPerm);
    let t0 = performance.now();
    for (let i = 0; i < sliceN; i++) {
      const x = texts[i];
      if (x === undefined) continue;
      const [buf, count] = sampleShingles(x.text, x.system, opts.ngram);
      classicSignature(buf, count, seeds);
    }
    const classic = ((performance.now() - t0) / sliceN) * texts.length;
    t0 = performance.now();
    for (let i = 0; i < sliceN; i++) {
      const x = texts[i];
      if (x === undefined) continue;
      const [buf, count] = sampleShingles(x.text, x.system, opts.ngram);
      signature(buf, count, opts.numPerm);
    }
    const oph = ((performance.now() - t0) / sliceN) * texts.length;
    out(`3. speed, ${LINES.toLocaleString('en-US')} samples, one core (best of 4)`);
    out(`   baseline: JSON.parse of every line                    ${ms(Math.min(base, jsonMs))}  (${parsed} lines)`);
    out(`   parse + extract turns + normalise (not in the total)   ${ms(parseMs)}`);
    out(`   findDuplicates: shingle + MinHash + band keys ${ms(s.sign)}, buckets ${ms(s.band)}, verify ${ms(s.verify)}, cluster ${ms(s.cluster)}`);
    out(`   total                                                 ${ms(best)}  (target < 3,000 ms; ${(best / Math.min(base, jsonMs)).toFixed(2)}× JSON.parse)`);
    out(`   LSH: ${last.stats.candidates.toLocaleString('en-US')} candidate pairs, ${last.stats.checked.toLocaleString('en-US')} left after the signature sketches for exact Jaccard, ${last.stats.confirmed.toLocaleString('en-US')} confirmed`);
    out(`   signatures alone: one-permutation MinHash ${ms(oph)} vs. textbook ${opts.numPerm}-permutation MinHash ${ms(classic)} (scaled from ${sliceN}): ${(classic / oph).toFixed(0)}× faster`);
    if (lintFile !== undefined) lintFileSpeed(lintFile, opts);
    out();
  }

  // 4. Incremental.
  {
    gc();
    gc();
    const before = process.memoryUsage();
    let t0 = performance.now();
    const index = new DuplicateIndex({ ...opts, expectedSize: texts.length });
    texts.forEach((x, i) => index.set(i, x));
    index.takeChanged();
    const buildMs = performance.now() - t0;
    gc();
    gc();
    const after = process.memoryUsage();
    const held = after.heapUsed + after.arrayBuffers - (before.heapUsed + before.arrayBuffers);
    // The same index reading texts back from the caller (the document) instead of keeping them.
    const lean = new DuplicateIndex({ ...opts, expectedSize: texts.length, source: (id) => texts[id] });
    texts.forEach((x, i) => lean.set(i, x));
    lean.takeChanged();
    const leanSame = lean.clusters().map((c) => c.members.join(',')).join(';') === index.clusters().map((c) => c.members.join(',')).join(';');
    // Same clusters as the batch?
    const a = index.clusters().map((c) => c.members.join(',')).join(';');
    const b = report.clusters().map((c) => c.members.join(',')).join(';');
    const rand = rng(11);
    const planted = ds.kind.map((k, i) => (k !== undefined ? i : -1)).filter((i) => i >= 0);
    const times: number[] = [];
    const affected: number[] = [];
    for (let e = 0; e < 200; e++) {
      // Change one word of a random sample's last turn; every other edit lands on a planted duplicate.
      const id = e % 2 === 0 ? Math.floor(rand() * texts.length) : (planted[Math.floor(rand() * planted.length)] as number);
      const original = ds.lines[id] as string;
      const edited = editLastTurn(original, rand);
      t0 = performance.now();
      index.set(id, dedupeTextOfLine(edited, opts.turns));
      const changed = index.takeChanged();
      for (const c of changed) {
        index.clusterOf(c);
        index.closestTwin(c);
      }
      times.push(performance.now() - t0);
      affected.push(changed.size);
      index.set(id, texts[id]);
      index.takeChanged();
    }
    // Worst case: a cluster of 2,000 near-identical samples (a long instruction around a few words).
    const rt = rng(21);
    const template = (JSON.parse(ds.lines[0] as string) as { contents?: { parts: { text: string }[] }[] }).contents?.[0]?.parts[0]?.text ?? 'template';
    const words = 'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau'.split(' ');
    const templated = (k: number) => dedupeTextOfLine(JSON.stringify({ contents: [
      { role: 'user', parts: [{ text: `${template} ${template} ${words[k % 19]} ${words[Math.floor(k / 19) % 19]} ${k}` }] },
      { role: 'model', parts: [{ text: 'ok' }] },
    ] }), opts.turns);
    t0 = performance.now();
    for (let k = 0; k < 2000; k++) index.set(LINES + k, templated(k));
    index.takeChanged();
    const bigBuild = performance.now() - t0;
    const bigTimes: number[] = [];
    let bigChanged = 0;
    for (let e = 0; e < 20; e++) {
      const k = Math.floor(rt() * 2000);
      t0 = performance.now();
      index.set(LINES + k, templated(k + 100_000));
      const changed = index.takeChanged();
      for (const c of changed) {
        index.clusterOf(c);
        index.closestTwin(c);
      }
      bigTimes.push(performance.now() - t0);
      bigChanged = Math.max(bigChanged, changed.size);
    }
    const bigCluster = index.clusterOf(LINES)?.members.length ?? 0;
    for (let k = 0; k < 2000; k++) index.delete(LINES + k);
    index.takeChanged();
    out(`4. incremental update after a one-line edit (${LINES.toLocaleString('en-US')}-sample index, 200 edits)`);
    out(`   baseline: building the index from scratch              ${ms(buildMs)}  (batch: ${ms(batchMs)}; same clusters as the batch: ${a === b ? 'yes' : 'NO'})`);
    out(`   set(id, edited) + takeChanged + cluster and closest twin of each changed id: median ${ms(median(times))}, max ${ms(Math.max(...times))} (target < 20 ms); ids changed per edit: median ${median(affected)}, max ${Math.max(...affected)}`);
    out(`   worst case, an edit inside a cluster of ${bigCluster.toLocaleString('en-US')} near-identical samples (added in ${ms(bigBuild)}): median ${ms(median(bigTimes))}, max ${ms(Math.max(...bigTimes))}; ids changed ${bigChanged}`);
    out(`5. memory held by the index, texts aside: ${mb(held)} (${(held / bytes).toFixed(2)}× the file); stats ${JSON.stringify(index.stats())}`);
    let textBytes = 0;
    for (const x of texts) if (x !== undefined) textBytes += (x.text.length + (x.system?.length ?? 0)) * (/[^\u0000-\u00ff]/.test(x.text) ? 2 : 1);
    out(`   plus the normalised texts it keeps, ${mb(textBytes)}, unless it is given a \`source\` to read them back from (same clusters that way: ${leanSame ? 'yes' : 'NO'})\n`);
  }

  datasketchBaseline(texts, opts);
}

// ---- the dataset ----

/**
 * A reproducible dataset for the duplicate benchmark: support conversations in
 * English and (a third) Chinese over a Zipf-distributed vocabulary, as Vertex
 * AI Gemini or OpenAI chat lines, with planted duplicates whose truth is known:
 *
 * - `exact`: the same conversation re-written — extra whitespace, changed case,
 *   fullwidth letters, keys reordered, the other format (so other role names);
 * - `edit`: 1–5 % of the words substituted, deleted or inserted (sometimes with
 *   whitespace and case changes too);
 * - `system`: the same conversation under another system prompt (or none);
 *
 * and near misses that are not duplicates of the sample they come from:
 * - `same-question`: the same question with another answer;
 * - `template`: one long instruction template around different short content.
 */


export type PlantKind = 'exact' | 'edit' | 'system' | 'same-question' | 'template';

export interface DedupeDataset {
  readonly lines: string[];
  /** Per line: the line it was planted from, or -1. */
  readonly of: Int32Array;
  /** Per line: how it was planted, or undefined for an original sample. */
  readonly kind: (PlantKind | undefined)[];
  /** Per line: its family (an original and its planted duplicates share one; near misses get their own). */
  readonly family: Int32Array;
  /** Per line: whether it is Chinese. */
  readonly zh: Uint8Array;
}

type Rand = () => number;

const FUNCTION_WORDS = (
  'the to and a of you your is it in for that on this with can be if not or are will have do my ' +
  'please I what how when there from at by as but so then all use check try again one an new set up ' +
  'it\'s don\'t after before also more any some which should'
).split(' ');
const SYLLABLES = (
  'ka ro mi ten sel pra dor li ven ta nis ol ur be cha gri ple sto fu an er in on ex qua ri ' +
  'mo ne si la ve to re de sa po ly tri ban cor fen gal hor jun kel mar nod pel rus tam vor wex zin'
).split(' ');

function zipfTable(size: number, s: number): Float64Array {
  const cdf = new Float64Array(size);
  let sum = 0;
  for (let i = 0; i < size; i++) {
    sum += 1 / Math.pow(i + 1, s);
    cdf[i] = sum;
  }
  for (let i = 0; i < size; i++) cdf[i] = (cdf[i] as number) / sum;
  return cdf;
}

function pick(cdf: Float64Array, rand: Rand): number {
  const x = rand();
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((cdf[mid] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

class Language {
  private readonly enWords: string[];
  private readonly enCdf: Float64Array;
  private readonly zhChars: string[];
  private readonly zhCdf: Float64Array;

  constructor(rand: Rand) {
    const seen = new Set<string>(FUNCTION_WORDS);
    this.enWords = [...FUNCTION_WORDS];
    while (this.enWords.length < 4000) {
      const syl = 1 + Math.floor(rand() * rand() * 4);
      let w = '';
      for (let i = 0; i < syl; i++) w += SYLLABLES[Math.floor(rand() * SYLLABLES.length)];
      if (!seen.has(w)) {
        seen.add(w);
        this.enWords.push(w);
      }
    }
    this.enCdf = zipfTable(this.enWords.length, 1.0);
    const chars = new Set<string>();
    while (chars.size < 2500) chars.add(String.fromCharCode(0x4e00 + Math.floor(rand() * (0x9fa5 - 0x4e00))));
    this.zhChars = [...chars];
    this.zhCdf = zipfTable(this.zhChars.length, 0.9);
  }

  word(rand: Rand): string {
    return this.enWords[pick(this.enCdf, rand)] as string;
  }

  /** A Chinese "word": one or two characters. */
  zhWord(rand: Rand): string {
    const one = this.zhChars[pick(this.zhCdf, rand)] as string;
    return rand() < 0.55 ? one + (this.zhChars[pick(this.zhCdf, rand)] as string) : one;
  }

  sentence(rand: Rand, zh: boolean): string {
    if (zh) {
      const n = 4 + Math.floor(rand() * 12);
      let s = '';
      for (let i = 0; i < n; i++) {
        s += this.zhWord(rand);
        if (i > 2 && i < n - 2 && rand() < 0.12) s += '，';
      }
      return s + (rand() < 0.85 ? '。' : '？');
    }
    const n = 5 + Math.floor(rand() * 12);
    const words: string[] = [];
    for (let i = 0; i < n; i++) words.push(this.word(rand) + (i > 2 && i < n - 2 && rand() < 0.08 ? ',' : ''));
    const first = words[0] as string;
    words[0] = first.charAt(0).toUpperCase() + first.slice(1);
    return words.join(' ') + (rand() < 0.85 ? '.' : '?');
  }

  paragraph(rand: Rand, zh: boolean, min: number, max: number): string {
    const n = min + Math.floor(rand() * (max - min + 1));
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(this.sentence(rand, zh));
    return out.join(zh ? '' : ' ');
  }
}

interface Conversation {
  system: string | undefined;
  user: string;
  model: string;
  zh: boolean;
  format: 'vertex' | 'openai';
}

function toLine(c: Conversation, keyOrder: 'normal' | 'reversed' = 'normal'): string {
  if (c.format === 'vertex') {
    const turn = (role: string, text: string) => (keyOrder === 'normal' ? { role, parts: [{ text }] } : { parts: [{ text }], role });
    const contents = [turn('user', c.user), turn('model', c.model)];
    const sys = c.system !== undefined ? { systemInstruction: { parts: [{ text: c.system }] } } : {};
    return JSON.stringify(keyOrder === 'normal' ? { ...sys, contents } : { contents, ...sys });
  }
  const msg = (role: string, content: string) => (keyOrder === 'normal' ? { role, content } : { content, role });
  const messages = [
    ...(c.system !== undefined ? [msg('system', c.system)] : []),
    msg('user', c.user),
    msg('assistant', c.model),
  ];
  return JSON.stringify({ messages });
}

/** Whitespace noise: doubled spaces, line breaks between sentences, tabs, padding. */
function whitespaceNoise(text: string, rand: Rand): string {
  let out = '';
  for (const ch of text) {
    if (ch === ' ' && rand() < 0.15) out += rand() < 0.5 ? '  ' : '\t ';
    else out += ch;
    if ((ch === '.' || ch === '。') && rand() < 0.3) out += '\n';
  }
  return (rand() < 0.5 ? '  ' : '') + out + (rand() < 0.5 ? '\n' : '');
}

function caseNoise(text: string, rand: Rand): string {
  const r = rand();
  if (r < 0.33) return text.toUpperCase();
  if (r < 0.66) return text.toLowerCase();
  return text.replace(/\b[a-z]/g, (c) => c.toUpperCase());
}

/** Some ASCII letters and digits as their fullwidth forms (NFKC maps them back). */
function fullwidthNoise(text: string, rand: Rand): string {
  return text.replace(/[A-Za-z0-9]/g, (c) => (rand() < 0.2 ? String.fromCharCode(c.charCodeAt(0) + 0xfee0) : c));
}

/** Substitutes, deletes or inserts a fraction `p` of the words (CJK: of one- or two-character chunks). */
function editWords(text: string, p: number, zh: boolean, lang: Language, rand: Rand): string {
  const words = zh ? (text.match(/.{1,2}/gsu) ?? []) : text.split(' ');
  const edits = Math.max(1, Math.round(p * words.length));
  for (let e = 0; e < edits; e++) {
    const i = Math.floor(rand() * words.length);
    const r = rand();
    const fresh = zh ? lang.zhWord(rand) : lang.word(rand);
    if (r < 0.6) words[i] = fresh;
    else if (r < 0.8 && words.length > 1) words.splice(i, 1);
    else words.splice(i, 0, fresh);
  }
  return words.join(zh ? '' : ' ');
}

export function generateDedupeDataset(size: number, seed = 1234): DedupeDataset {
  const rand = rng(seed);
  const lang = new Language(rand);
  const systems = {
    en: Array.from({ length: 6 }, () => lang.paragraph(rand, false, 2, 4)),
    zh: Array.from({ length: 4 }, () => lang.paragraph(rand, true, 1, 3)),
  };
  const templates = Array.from({ length: 8 }, (_, i) => lang.paragraph(rand, i % 3 === 0, 3, 5));
  const pickSystem = (zh: boolean, not?: string): string | undefined => {
    const pool = zh ? systems.zh : systems.en;
    for (;;) {
      const s = pool[Math.floor(rand() * pool.length)];
      if (s !== not) return s;
    }
  };
  const fresh = (zh: boolean): Conversation => ({
    system: rand() < 0.8 ? pickSystem(zh) : undefined,
    user: lang.paragraph(rand, zh, 1, 4),
    model: lang.paragraph(rand, zh, 2, 8),
    zh,
    format: rand() < 0.75 ? 'vertex' : 'openai',
  });

  // Planted shares of the file; the rest are original samples.
  const shares: [PlantKind, number][] = [['exact', 0.04], ['edit', 0.05], ['system', 0.02], ['same-question', 0.01], ['template', 0.01]];
  const planted = shares.map(([k, s]) => [k, Math.round(s * size)] as const);
  const originals = size - planted.reduce((n, [, c]) => n + c, 0);
  const convs: Conversation[] = [];
  const of: number[] = [];
  const kinds: (PlantKind | undefined)[] = [];
  for (let i = 0; i < originals; i++) {
    convs.push(fresh(i % 3 === 0));
    of.push(-1);
    kinds.push(undefined);
  }
  const lines: string[] = convs.map((c) => toLine(c));
  for (const [kind, count] of planted) {
    for (let k = 0; k < count; k++) {
      const src = Math.floor(rand() * originals);
      const o = convs[src] as Conversation;
      let c: Conversation;
      let line: string;
      switch (kind) {
        case 'exact': {
          c = { ...o };
          const r = rand();
          if (r < 0.3) c = { ...c, user: whitespaceNoise(c.user, rand), model: whitespaceNoise(c.model, rand) };
          else if (r < 0.5) c = { ...c, user: caseNoise(c.user, rand), model: caseNoise(c.model, rand) };
          else if (r < 0.65) c = { ...c, user: fullwidthNoise(c.user, rand) };
          else if (r < 0.85) c = { ...c, format: c.format === 'vertex' ? 'openai' : 'vertex' };
          line = toLine(c, r >= 0.85 || rand() < 0.3 ? 'reversed' : 'normal');
          break;
        }
        case 'edit': {
          const p = 0.01 + rand() * 0.04;
          c = { ...o, user: editWords(o.user, p, o.zh, lang, rand), model: editWords(o.model, p, o.zh, lang, rand) };
          if (rand() < 0.3) c = { ...c, user: whitespaceNoise(caseNoise(c.user, rand), rand) };
          line = toLine(c);
          break;
        }
        case 'system': {
          const r = rand();
          c = { ...o, system: o.system === undefined || r < 0.8 ? pickSystem(o.zh, o.system) : undefined };
          line = toLine(c);
          break;
        }
        case 'same-question': {
          c = { ...o, model: lang.paragraph(rand, o.zh, 2, 8) };
          line = toLine(c);
          break;
        }
        case 'template': {
          const ti = Math.floor(rand() * templates.length);
          const zh = ti % 3 === 0;
          c = { system: undefined, user: `${templates[ti] as string}${zh ? '' : '\n\n'}${lang.sentence(rand, zh)}`, model: lang.sentence(rand, zh), zh, format: 'vertex' };
          line = toLine(c);
          break;
        }
      }
      convs.push(c);
      lines.push(line);
      of.push(kind === 'template' ? -1 : src);
      kinds.push(kind);
    }
  }
  // Shuffle (Fisher–Yates) and renumber `of`.
  const order = Array.from({ length: lines.length }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  const position = new Int32Array(order.length);
  order.forEach((src, pos) => (position[src] = pos));
  const outOf = new Int32Array(order.length).fill(-1);
  const outKind: (PlantKind | undefined)[] = new Array(order.length);
  const family = new Int32Array(order.length);
  const zh = new Uint8Array(order.length);
  const outLines: string[] = new Array(order.length);
  order.forEach((src, pos) => {
    outLines[pos] = lines[src] as string;
    const o = of[src] as number;
    const k = kinds[src];
    outKind[pos] = k;
    outOf[pos] = o >= 0 ? (position[o] as number) : -1;
    // Exact, edited and system copies are duplicates of their source; near misses are their own family.
    family[pos] = o >= 0 && (k === 'exact' || k === 'edit' || k === 'system') ? o : src;
    zh[pos] = (convs[src] as Conversation).zh ? 1 : 0;
  });
  return { lines: outLines, of: outOf, kind: outKind, family, zh };
}
