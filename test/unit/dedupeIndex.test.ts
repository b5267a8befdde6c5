import assert from 'node:assert/strict';
import { rng } from '../../bench/generate';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { DuplicateIndex } from '../../src/core/dedupe/duplicateIndex';
import { findDuplicates } from '../../src/core/dedupe/batch';
import { DedupeText, dedupeTextOfLine } from '../../src/core/dedupe/normalize';
import { jaccard, sampleShingleSet } from '../../src/core/dedupe/shingle';
import { resolveDedupeOptions } from '../../src/core/dedupe/options';
import type { DuplicateView } from '../../src/core/dedupe/view';

// ---- seeded text ----

const seeded = rng;

const SYL = 'ka ro mi ten sel pra dor li ven ta nis ol ur be cha gri ple sto fu an er in on ex qua mo ne si la ve'.split(' ');

function vocabulary(rand: () => number, size = 600): string[] {
  const words = new Set<string>();
  while (words.size < size) {
    let w = '';
    const n = 1 + Math.floor(rand() * 3);
    for (let i = 0; i < n; i++) w += SYL[Math.floor(rand() * SYL.length)];
    words.add(w);
  }
  return [...words];
}

const english = (rand: () => number, words: readonly string[], length: number) =>
  Array.from({ length }, () => words[Math.floor(rand() * words.length)] as string).join(' ');

const chinese = (rand: () => number, length: number) =>
  Array.from({ length }, () => String.fromCharCode(0x4e00 + Math.floor(rand() * 3000))).join('');

function editWords(rand: () => number, text: string, words: readonly string[], edits: number): string {
  const list = text.split(' ');
  for (let e = 0; e < edits; e++) list[Math.floor(rand() * list.length)] = words[Math.floor(rand() * words.length)] as string;
  return list.join(' ');
}

function editChars(rand: () => number, text: string, edits: number): string {
  const chars = [...text];
  for (let e = 0; e < edits; e++) chars[Math.floor(rand() * chars.length)] = String.fromCharCode(0x8000 + Math.floor(rand() * 1000));
  return chars.join('');
}

const sample = (user: string, model = 'ok', system?: string): DedupeText =>
  dedupeTextOfLine(JSON.stringify({
    ...(system !== undefined ? { systemInstruction: { parts: [{ text: system }] } } : {}),
    contents: [{ role: 'user', parts: [{ text: user }] }, { role: 'model', parts: [{ text: model }] }],
  })) as DedupeText;

const exactSim = (a: DedupeText, b: DedupeText) => jaccard(sampleShingleSet(a.text, a.system, 4), sampleShingleSet(b.text, b.system, 4));

/** Everything a caller reads, as plain data, for comparisons. */
function snapshot(view: DuplicateView, ids: readonly number[]): Map<number, string> {
  const out = new Map<number, string>();
  for (const id of ids) {
    const c = view.clusterOf(id);
    const twins = view.twinsOf(id).map((t) => `${t.id}:${t.similarity.toFixed(6)}:${t.exact}`).join(',');
    const closest = view.closestTwin(id);
    out.set(id, `${c?.members.join(',') ?? '-'}|${c?.exact ?? '-'}|${twins}|${closest?.id ?? '-'}`);
  }
  return out;
}

const rand0 = seeded(42);
const WORDS = vocabulary(rand0);

describe('exact and near duplicates', () => {
  test('exact copies form an exact cluster; near copies a cluster with their similarity', () => {
    const base = english(rand0, WORDS, 60);
    const near = editWords(rand0, base, WORDS, 2);
    const index = new DuplicateIndex();
    index.set(10, sample(base));
    index.set(11, sample(`  ${base.toUpperCase()} `));
    index.set(12, sample(near));
    index.set(13, sample(english(rand0, WORDS, 60)));
    const c = index.clusterOf(10);
    assert.deepEqual(c?.members, [10, 11, 12]);
    assert.equal(c?.exact, false);
    assert.equal(index.clusterOf(13), undefined);
    assert.deepEqual(index.closestTwin(10), { id: 11, similarity: 1, exact: true });
    const sim = exactSim(sample(base), sample(near));
    assert.ok(sim >= 0.8 && sim < 1);
    assert.deepEqual(index.twinsOf(12), [{ id: 10, similarity: sim, exact: false }, { id: 11, similarity: sim, exact: false }]);
    assert.deepEqual(index.closestTwin(12), { id: 10, similarity: sim, exact: false });
    index.delete(12);
    assert.deepEqual(index.clusterOf(10)?.members, [10, 11]);
    assert.equal(index.clusterOf(10)?.exact, true);
  });

  test('clusters are transitive: A ~ B ~ C is one cluster though A ≁ C', () => {
    const rand = seeded(7);
    const a = english(rand, WORDS, 50);
    const aw = a.split(' ');
    // B changes the first k words of A, C also the last k: each step above the threshold, A to C below.
    let found: DedupeText[] | undefined;
    for (let k = 1; k <= 12 && found === undefined; k++) {
      const x = Array.from({ length: k }, (_, i) => `xxx${i}`);
      const y = Array.from({ length: k }, (_, i) => `yyy${i}`);
      const abc = [a, [...x, ...aw.slice(k)].join(' '), [...x, ...aw.slice(k, aw.length - k), ...y].join(' ')].map((t) => sample(t));
      const [s0, s1, s2] = abc as [DedupeText, DedupeText, DedupeText];
      if (exactSim(s0, s1) >= 0.8 && exactSim(s1, s2) >= 0.8 && exactSim(s0, s2) < 0.8) found = abc;
    }
    assert.ok(found !== undefined);
    const [sa, sb, sc] = found as [DedupeText, DedupeText, DedupeText];
    const report = findDuplicates([sa, sb, sc]);
    assert.deepEqual(report.clusters().map((x) => x.members), [[0, 1, 2]]);
    assert.deepEqual(report.pairs.map((p) => [p.a, p.b]), [[0, 1], [1, 2]]);
    assert.deepEqual(report.twinsOf(0).map((t) => t.id), [1]);
    const index = new DuplicateIndex();
    [sa, sb, sc].forEach((s, i) => index.set(i, s));
    assert.deepEqual(index.clusterOf(2)?.members, [0, 1, 2]);
    index.takeChanged();
    // Without the bridge, A and C are strangers; all three must be re-published.
    index.delete(1);
    assert.deepEqual([...index.takeChanged()].sort(), [0, 1, 2]);
    assert.equal(index.clusterOf(0), undefined);
    assert.equal(index.clusterOf(2), undefined);
  });

  test('every candidate is confirmed by exact Jaccard: similar-looking pairs below the threshold are not reported', () => {
    const rand = seeded(11);
    // Pairs of similarity 0.6 … 0.8: most share a band (P ≈ 0.4 … 0.99), none may be reported.
    const samples: DedupeText[] = [];
    const sims: number[] = [];
    while (sims.length < 60) {
      const base = sample(english(rand, WORDS, 40));
      const other = sample(editWords(rand, base.text, WORDS, 4 + Math.floor(rand() * 4)));
      const sim = exactSim(base, other);
      if (sim < 0.6 || sim >= 0.8) continue;
      samples.push(base, other);
      sims.push(sim);
    }
    const report = findDuplicates(samples);
    assert.ok(report.stats.candidates >= 20, `candidates ${report.stats.candidates}`);
    assert.equal(report.stats.confirmed, 0);
    assert.deepEqual(report.clusters(), []);
    // With the threshold below them, the same pairs are reported, each with its exact similarity.
    const low = findDuplicates(samples, { threshold: 0.6 });
    for (const p of low.pairs) assert.equal(p.similarity, exactSim(samples[p.a] as DedupeText, samples[p.b] as DedupeText));
    assert.ok(low.pairs.length >= 57, `pairs at 0.6: ${low.pairs.length}`);
  });

  test('LSH finds every pair at or above the threshold that all-pairs Jaccard finds (English and Chinese)', () => {
    const rand = seeded(3);
    const samples: DedupeText[] = [];
    for (let k = 0; k < 300; k++) {
      const zh = k % 3 === 0;
      const base = zh ? chinese(rand, 60 + Math.floor(rand() * 100)) : english(rand, WORDS, 30 + Math.floor(rand() * 80));
      samples.push(sample(base));
      if (k % 4 === 0) {
        const edits = 1 + Math.floor(rand() * 4);
        samples.push(sample(zh ? editChars(rand, base, edits) : editWords(rand, base, WORDS, edits)));
      }
    }
    const truth = new Set<string>();
    for (let i = 0; i < samples.length; i++) {
      for (let j = i + 1; j < samples.length; j++) {
        if (exactSim(samples[i] as DedupeText, samples[j] as DedupeText) >= 0.8) truth.add(`${i},${j}`);
      }
    }
    const report = findDuplicates(samples);
    const found = new Set(report.pairs.map((p) => `${p.a},${p.b}`));
    assert.ok(truth.size >= 60, `planted pairs at or above the threshold: ${truth.size}`);
    assert.deepEqual([...found].sort(), [...truth].sort());
    const zhPairs = [...truth].filter((k) => /[\u4e00-\u9fff]/.test((samples[Number(k.split(',')[0])] as DedupeText).text));
    assert.ok(zhPairs.length >= 20, `Chinese pairs ${zhPairs.length}`);
  });

  test('on text sharing most of its vocabulary, the sketch drops the unrelated candidates and loses no pair', () => {
    // A vocabulary of 12 words: unrelated samples share many n-grams, and LSH meets many of them.
    const rand = seeded(9);
    const small = WORDS.slice(0, 12);
    const samples: DedupeText[] = [];
    for (let k = 0; k < 400; k++) {
      const base = english(rand, small, 40 + Math.floor(rand() * 40));
      samples.push(sample(base));
      if (k % 5 === 0) samples.push(sample(editWords(rand, base, small, 1 + Math.floor(rand() * 2))));
    }
    const truth = new Set<string>();
    const sets = samples.map((x) => sampleShingleSet(x.text, x.system, 4));
    for (let i = 0; i < samples.length; i++) {
      for (let j = i + 1; j < samples.length; j++) {
        const [a, b] = [samples[i] as DedupeText, samples[j] as DedupeText];
        if (a.exact !== b.exact && jaccard(sets[i] as Uint32Array, sets[j] as Uint32Array) >= 0.8) truth.add(`${i},${j}`); // exact copies are groups, not pairs
      }
    }
    const report = findDuplicates(samples);
    assert.deepEqual(report.pairs.map((p) => `${p.a},${p.b}`).sort(), [...truth].sort());
    assert.ok(truth.size >= 60, `pairs ${truth.size}`);
    const { candidates, checked, confirmed } = report.stats;
    assert.ok(candidates > 3 * checked, `candidates ${candidates}, checked exactly ${checked}`);
    assert.ok(checked >= confirmed);
    const index = new DuplicateIndex();
    samples.forEach((x, i) => index.set(i, x));
    const ids = samples.map((_, i) => i);
    assert.deepEqual(snapshot(index, ids), snapshot(report, ids));
    const stats = index.stats();
    assert.ok(stats.candidates > 3 * stats.checked, `index: candidates ${stats.candidates}, checked ${stats.checked}`);
  });

  test('Chinese near duplicates: a few characters changed', () => {
    const rand = seeded(5);
    const base = chinese(rand, 120);
    const index = new DuplicateIndex();
    index.set(0, sample(base, '好的'));
    index.set(1, sample(editChars(rand, base, 3), '好的'));
    index.set(2, sample(chinese(rand, 120), '好的'));
    assert.deepEqual(index.clusterOf(0)?.members, [0, 1]);
    assert.ok((index.closestTwin(1)?.similarity ?? 0) > 0.85);
    assert.equal(index.clusterOf(2), undefined);
  });

  test('another system prompt is a near duplicate, not a stranger', () => {
    const text = english(rand0, WORDS, 40);
    const index = new DuplicateIndex();
    index.set(0, sample(text, 'ok', english(rand0, WORDS, 80)));
    index.set(1, sample(text, 'ok', english(rand0, WORDS, 80)));
    assert.equal(index.closestTwin(0)?.exact, false);
    assert.ok((index.closestTwin(0)?.similarity ?? 0) > 0.9);
  });
});

describe('incremental index', () => {
  test('an edit reports the edited id and the members of its old and new clusters', () => {
    const rand = seeded(9);
    const a = english(rand, WORDS, 50);
    const b = english(rand, WORDS, 50);
    const index = new DuplicateIndex();
    index.set(1, sample(a));
    index.set(2, sample(a));
    index.set(3, sample(b));
    index.set(4, sample(b));
    index.set(5, sample(english(rand, WORDS, 50)));
    assert.deepEqual([...index.takeChanged()].sort(), [1, 2, 3, 4, 5]);
    assert.deepEqual([...index.takeChanged()], []);
    const before = index.clusterOf(3);
    index.set(2, sample(editWords(rand, b, WORDS, 1))); // leaves a's cluster, joins b's
    assert.deepEqual([...index.takeChanged()].sort(), [1, 2, 3, 4]);
    assert.equal(index.clusterOf(1), undefined);
    assert.deepEqual(index.clusterOf(3)?.members, [2, 3, 4]);
    assert.notEqual(index.clusterOf(3)?.key, before?.key);
    const edited = editWords(rand, b, WORDS, 1);
    index.set(2, sample(edited));
    // Setting the same conversation again (here: in other case and spacing) changes nothing.
    const same = index.clusterOf(2);
    index.takeChanged();
    index.set(2, sample(`  ${edited.toUpperCase()}`));
    assert.deepEqual([...index.takeChanged()], []);
    assert.equal(index.clusterOf(2), same);
    index.set(5, undefined);
    assert.deepEqual([...index.takeChanged()], [5]);
    assert.equal(index.size, 4);
  });

  test('query finds the twins of a sample from another file without adding it (leakage)', () => {
    const rand = seeded(13);
    const a = english(rand, WORDS, 60);
    const train = new DuplicateIndex();
    train.set(7, sample(a));
    train.set(8, sample(english(rand, WORDS, 60)));
    train.takeChanged();
    assert.deepEqual(train.query(sample(a.toUpperCase())), [{ id: 7, similarity: 1, exact: true }]);
    const near = train.query(sample(editWords(rand, a, WORDS, 1)));
    assert.equal(near.length, 1);
    assert.equal(near[0]?.id, 7);
    assert.equal(near[0]?.exact, false);
    assert.deepEqual(train.query(sample(english(rand, WORDS, 60))), []);
    assert.equal(train.size, 2);
    assert.deepEqual([...train.takeChanged()], []);
  });

  test('ids are any safe integers; the tables grow past their first size', () => {
    const rand = seeded(17);
    const index = new DuplicateIndex();
    const base = english(rand, WORDS, 40);
    for (let k = 0; k < 3000; k++) index.set(2 ** 40 + k, sample(k % 1000 === 0 ? base : english(rand, WORDS, 20)));
    assert.deepEqual(index.clusterOf(2 ** 40)?.members, [2 ** 40, 2 ** 40 + 1000, 2 ** 40 + 2000]);
    assert.equal(index.stats().groups, 2998);
  });

  test('a huge family of near-identical samples stays cheap and still one cluster (maxCandidates)', () => {
    const rand = seeded(19);
    const template = english(rand, WORDS, 200);
    const samples = Array.from({ length: 150 }, () => sample(`${template} ${english(rand, WORDS, 3)}`));
    const index = new DuplicateIndex({ maxCandidates: 5 });
    samples.forEach((s, i) => index.set(i, s));
    assert.equal(index.clusters().length, 1);
    assert.equal(index.clusterOf(0)?.members.length, 150);
    assert.ok(index.stats().truncated > 0);
    assert.ok(index.stats().links <= 150 * 5);
    const report = findDuplicates(samples, { maxCandidates: 5 });
    assert.equal(report.clusters().length, 1);
    assert.ok(report.stats.truncatedBuckets > 0);
  });

  test('random sets and deletes give what a fresh batch gives, and report every id whose findings changed', () => {
    const rand = seeded(23);
    // A pool of samples: families of a base, copies, near copies (above and below the threshold), and Chinese.
    const pool: DedupeText[] = [];
    for (let f = 0; f < 5; f++) {
      const zh = f === 4;
      const base = zh ? chinese(rand, 90) : english(rand, WORDS, 45);
      pool.push(sample(base), sample(base.toUpperCase()));
      for (const edits of [1, 2, 3, 6]) pool.push(sample(zh ? editChars(rand, base, edits) : editWords(rand, base, WORDS, edits)));
    }
    const ids = Array.from({ length: 16 }, (_, i) => i);
    const op = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), id: fc.nat(15), text: fc.nat(pool.length - 1) }),
      fc.record({ kind: fc.constant('delete' as const), id: fc.nat(15) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 50 }), (ops) => {
        const index = new DuplicateIndex();
        const current: (DedupeText | undefined)[] = new Array(16).fill(undefined);
        // The same, reading texts back from the caller instead of keeping them, with a tiny set cache.
        const lean = new DuplicateIndex({ source: (id) => current[id], cacheEntries: 50 });
        let before = snapshot(index, ids);
        for (const o of ops) {
          if (o.kind === 'set') {
            current[o.id] = pool[o.text];
            index.set(o.id, pool[o.text]);
            lean.set(o.id, pool[o.text]);
          } else {
            current[o.id] = undefined;
            index.delete(o.id);
            lean.delete(o.id);
          }
          const after = snapshot(index, ids);
          const changed = index.takeChanged();
          for (const id of ids) if (before.get(id) !== after.get(id)) assert.ok(changed.has(id), `id ${id} changed but was not reported`);
          before = after;
        }
        const batch = findDuplicates(current);
        assert.deepEqual(snapshot(index, ids), snapshot(batch, ids));
        assert.deepEqual(snapshot(lean, ids), snapshot(batch, ids));
        lean.takeChanged();
        assert.deepEqual(index.clusters().map((c) => c.members), batch.clusters().map((c) => c.members));
        for (const id of ids) assert.equal(index.textOf(id), batch.textOf(id));
        for (const id of ids) assert.equal(lean.textOf(id), batch.textOf(id));
      }),
      { numRuns: 150 },
    );
  });

  test('the options in effect', () => {
    const index = new DuplicateIndex({ threshold: 0.9, ngram: 5, numPerm: 128, turns: 'user' });
    assert.deepEqual([index.options.threshold, index.options.ngram, index.options.numPerm, index.options.turns], [0.9, 5, 128, 'user']);
    assert.deepEqual(index.options.banding, resolveDedupeOptions({ threshold: 0.9, numPerm: 128 }).banding);
  });
});
