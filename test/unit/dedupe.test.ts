import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { dedupeText, dedupeTextOfLine, normalizeText } from '../../src/core/dedupe/normalize';
import { jaccard, jaccardAtLeast, sampleShingleSet, shingleHashes, shingleSet } from '../../src/core/dedupe/shingle';
import { classicSignature, estimateJaccard, permutationSeeds, signInto, signature } from '../../src/core/dedupe/minhash';
import { sketchAgreement, sketchAgreesAtLeast, sketchCutoffs, sketchPasses, writeSketch } from '../../src/core/dedupe/sketch';
import { bandKeys, candidateProbability, chooseBanding } from '../../src/core/dedupe/lsh';
import { fmix32 } from '../../src/core/dedupe/hash';
import { UnionFind } from '../../src/core/dedupe/unionFind';
import { diffWords, summarizeDiff, tokenize } from '../../src/core/dedupe/diff';
import { DEFAULT_DEDUPE_OPTIONS, resolveDedupeOptions } from '../../src/core/dedupe/options';

const vertex = (turns: [string, string][], system?: string) =>
  JSON.stringify({
    ...(system !== undefined ? { systemInstruction: { parts: [{ text: system }] } } : {}),
    contents: turns.map(([role, text]) => ({ role, parts: [{ text }] })),
  });
const openai = (turns: [string, string][]) => JSON.stringify({ messages: turns.map(([role, content]) => ({ role, content })) });
const line = (l: string, which: 'all' | 'user' = 'all') => dedupeTextOfLine(l, which);

describe('normalisation', () => {
  test('whitespace runs collapse, ends are trimmed, case and compatibility forms fold', () => {
    assert.equal(normalizeText('  Hello \t\n  WORLD  '), 'hello world');
    assert.equal(normalizeText('ＡＢＣ１２３'), 'abc123');
    assert.equal(normalizeText('a\u200bb\u00a0c'), 'a b c');
    assert.equal(normalizeText('ﬁne'), 'fine');
  });

  test('spaces next to Chinese characters are layout and go', () => {
    assert.equal(normalizeText('用 Python  写 一个 函数'), '用python写一个函数');
    assert.equal(normalizeText('路由器。\n重置'), '路由器。重置');
    assert.equal(normalizeText('router reset'), 'router reset');
  });

  test('key order, role names, format, whitespace and case make exact duplicates', () => {
    const a = line(vertex([['user', 'How do I reset the router?'], ['model', 'Hold the button for 10 s.']], 'Be brief.'));
    const reordered = line(JSON.stringify({
      contents: [{ parts: [{ text: 'How do I reset the router?' }], role: 'user' }, { parts: [{ text: 'Hold the button for 10 s.' }], role: 'model' }],
      systemInstruction: { parts: [{ text: 'Be brief.' }] },
    }));
    const asOpenai = line(openai([['system', 'Be brief.'], ['user', 'How do I reset the router?'], ['assistant', 'Hold the button for 10 s.']]));
    const asSharegpt = line(JSON.stringify({ conversations: [{ from: 'system', value: 'be BRIEF.' }, { from: 'human', value: 'How do I  reset the\nrouter?' }, { from: 'gpt', value: ' HOLD the button for 10 s. ' }] }));
    const misnamed = line(vertex([['user', 'How do I reset the router?'], ['assistant', 'Hold the button for 10 s.']], 'Be brief.'));
    assert.ok(a);
    for (const other of [reordered, asOpenai, asSharegpt, misnamed]) {
      assert.equal(other?.exact, a.exact);
      assert.equal(other?.text, a.text);
    }
    assert.equal(a.text, 'how do i reset the router? hold the button for 10 s.');
    assert.equal(a.system, 'be brief.');
  });

  test('another text, another role, or another split between turns is not an exact duplicate', () => {
    const a = line(vertex([['user', 'reset it'], ['model', 'done']]));
    assert.notEqual(line(vertex([['user', 'reset it'], ['model', 'done!']]))?.exact, a?.exact);
    assert.notEqual(line(vertex([['model', 'reset it'], ['user', 'done']]))?.exact, a?.exact);
    assert.notEqual(line(vertex([['user', 'reset'], ['model', 'it done']]))?.exact, a?.exact);
    assert.notEqual(line(vertex([['user', 'reset it'], ['model', 'done']], 'system'))?.exact, a?.exact);
  });

  test("'user' counts the user's turns only; 'all' keeps the system instruction apart", () => {
    const a = vertex([['user', 'Q'], ['model', 'answer one']], 'S1');
    const b = vertex([['user', 'Q'], ['model', 'answer two']], 'S2');
    assert.equal(line(a, 'user')?.exact, line(b, 'user')?.exact);
    assert.equal(line(a, 'user')?.text, 'q');
    assert.equal(line(a, 'user')?.system, undefined);
    assert.notEqual(line(a, 'all')?.exact, line(b, 'all')?.exact);
  });

  test('nothing to compare: no sample', () => {
    assert.equal(line('not json'), undefined);
    assert.equal(line('{"question": "x"}'), undefined);
    assert.equal(line(vertex([['user', '  '], ['model', '']])), undefined);
    assert.equal(dedupeText([], 'all'), undefined);
  });
});

describe('shingles and exact Jaccard', () => {
  test('n-grams of n columns: 4 characters of English, 2 of Chinese', () => {
    assert.equal(shingleSet('abcdef', 4).length, 3);
    assert.equal(shingleSet('abc', 4).length, 1); // shorter than n: the whole text
    assert.equal(shingleSet('', 4).length, 0);
    assert.equal(shingleSet('路由器固件', 4).length, 4);
    assert.deepEqual(shingleSet('路由器固件', 4), shingleSet('路由器固件', 3)); // 2 characters = 4 columns ≥ 3
    assert.equal(shingleSet('路由器固件', 2).length, 5);
    assert.equal(shingleSet('路由器固件', 4, 1).length, 2); // plain 4-grams, for comparison
    // Repeats count once; the set is sorted.
    const s = shingleSet('abab abab abab', 4);
    assert.equal(s.length, new Set(shingleHashes('abab abab abab', 4)).size);
    for (let i = 1; i < s.length; i++) assert.ok((s[i - 1] as number) < (s[i] as number));
  });

  test('the system instruction is one shingle, whatever its length', () => {
    const a = sampleShingleSet('hold the button', 'be brief and kind', 4);
    const b = sampleShingleSet('hold the button', 'you are a router support agent', 4);
    assert.equal(a.length, shingleSet('hold the button', 4).length + 1);
    assert.equal(jaccard(a, b), (a.length - 1) / (a.length + 1));
  });

  test('jaccard by merge', () => {
    assert.equal(jaccard(Uint32Array.of(1, 2, 3), Uint32Array.of(2, 3, 4)), 0.5);
    assert.equal(jaccard(Uint32Array.of(1, 2), Uint32Array.of(3, 4)), 0);
    assert.equal(jaccard(Uint32Array.of(5, 9), Uint32Array.of(5, 9)), 1);
    assert.equal(jaccard(shingleSet('the router light', 4), shingleSet('the router light', 4)), 1);
  });

  test('jaccardAtLeast stops early but agrees with jaccard', () => {
    const sortedSet = fc.uniqueArray(fc.integer({ min: 0, max: 60 }), { maxLength: 40 }).map((xs) => Uint32Array.from(xs.sort((a, b) => a - b)));
    fc.assert(
      fc.property(sortedSet, sortedSet, fc.constantFrom(0.3, 0.5, 0.8, 0.9, 1), (a, b, t) => {
        if (a.length === 0 || b.length === 0) return;
        const j = jaccard(a, b);
        assert.equal(jaccardAtLeast(a, b, t), j >= t ? j : -1);
      }),
      { numRuns: 2000 },
    );
  });
});

/** Two random sets of 32-bit values with a chosen overlap. */
function setPair(seed: number, sizeA: number, sizeB: number, shared: number): [Uint32Array, Uint32Array] {
  const val = (i: number) => fmix32(Math.imul(seed, 0x9e3779b1) ^ fmix32(i));
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < shared; i++) {
    a.push(val(i));
    b.push(val(i));
  }
  for (let i = 0; i < sizeA - shared; i++) a.push(val(1_000_000 + i));
  for (let i = 0; i < sizeB - shared; i++) b.push(val(2_000_000 + i));
  const sort = (xs: number[]) => Uint32Array.from(xs).sort();
  return [sort(a), sort(b)];
}

describe('MinHash', () => {
  test('the estimate is within tolerance of the exact Jaccard similarity, for small and large sets', () => {
    const seeds = permutationSeeds(256);
    const errors: number[] = [];
    const classicErrors: number[] = [];
    let signed = 0;
    for (let k = 0; k < 300; k++) {
      const sizeA = 5 + ((k * 37) % 400);
      const sizeB = Math.max(1, sizeA + ((k * 13) % 41) - 20);
      const shared = Math.floor(Math.min(sizeA, sizeB) * ((k % 11) / 10));
      const [a, b] = setPair(k + 1, sizeA, sizeB, shared);
      const exact = jaccard(a, b);
      const est = estimateJaccard(signature(a, a.length, 256) as Uint32Array, signature(b, b.length, 256) as Uint32Array);
      const classic = estimateJaccard(classicSignature(a, a.length, seeds) as Uint32Array, classicSignature(b, b.length, seeds) as Uint32Array);
      // Five standard deviations of a 256-sample estimate, and a floor for tiny sets.
      const tol = 5 * Math.sqrt((exact * (1 - exact)) / 256) + 0.02;
      assert.ok(Math.abs(est - exact) <= tol, `one-permutation: exact ${exact.toFixed(3)}, estimate ${est.toFixed(3)} (|A| ${sizeA}, |B| ${sizeB})`);
      assert.ok(Math.abs(classic - exact) <= tol, `classic: exact ${exact.toFixed(3)}, estimate ${classic.toFixed(3)}`);
      errors.push(Math.abs(est - exact));
      classicErrors.push(Math.abs(classic - exact));
      signed += est - exact;
    }
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    assert.ok(mean(errors) < 0.025, `mean error ${mean(errors)}`);
    assert.ok(Math.abs(signed / errors.length) < 0.01, `bias ${signed / errors.length}`);
    assert.ok(mean(classicErrors) < 0.025, `classic mean error ${mean(classicErrors)}`);
  });

  test('equal sets give equal signatures, whatever the order and repeats of their shingles', () => {
    const [a] = setPair(7, 50, 1, 0);
    const shuffled = Uint32Array.from([...a].reverse().concat([...a].slice(0, 10)));
    assert.deepEqual(signature(a, a.length, 128), signature(shuffled, shuffled.length, 128));
    assert.equal(signature(a, 0, 128), undefined);
    // A single shingle fills every position (densification).
    const one = signature(Uint32Array.of(12345), 1, 64) as Uint32Array;
    assert.ok(one.every((v) => v === 12345));
  });
});

describe('signature sketches (the test before exact Jaccard)', () => {
  test('signInto counts the bins the shingles filled themselves', () => {
    const sig = new Uint32Array(64);
    assert.equal(signInto(Uint32Array.of(1), 0, 64, sig), 0);
    for (const size of [1, 5, 40, 64, 300, 5000]) {
      const [a] = setPair(size, size, 1, 0);
      const bins = new Set(Array.from(a, (h) => Math.floor(((h >>> 16) * 64) / 65536)));
      assert.equal(signInto(a, a.length, 64, sig), bins.size, `${size} shingles`);
      assert.deepEqual(sig, signature(a, a.length, 64));
    }
  });

  test('word-wise agreement with an early stop answers as a byte-by-byte count', () => {
    const sketch = fc.uint8Array({ minLength: 32, maxLength: 32 });
    fc.assert(
      fc.property(sketch, sketch, fc.integer({ min: 0, max: 33 }), fc.boolean(), (a, b, need, copy) => {
        if (copy) b.set(a.subarray(0, 20)); // many agreeing bytes, too
        const same = sketchAgreement(a, 0, b, 0, 32);
        const wa = new Int32Array(a.buffer, a.byteOffset, 8);
        const wb = new Int32Array(b.buffer, b.byteOffset, 8);
        assert.equal(sketchAgreesAtLeast(wa, 0, wb, 0, 8, need), same >= need);
      }),
      { numRuns: 3000 },
    );
  });

  test('the cut-off is lower for sparse signatures and never above the threshold', () => {
    const cut = sketchCutoffs(0.8, 256);
    assert.ok((cut[256] as number) < 0.8 * 256);
    assert.ok((cut[256] as number) > 0.6 * 256); // unrelated pairs (J ≈ 0.2) are dropped
    for (let m = 2; m <= 256; m++) assert.ok((cut[m] as number) >= (cut[m - 1] as number));
    assert.equal(cut[1], 0); // one filled bin says nothing: always checked exactly
  });

  test('pairs at or above the threshold pass, whatever the set sizes; unrelated pairs do not', () => {
    const k = 256;
    const cut = sketchCutoffs(0.8, k);
    const sa = new Uint8Array(k);
    const sb = new Uint8Array(k);
    const wa = new Int32Array(sa.buffer);
    const wb = new Int32Array(sb.buffer);
    const sig = new Uint32Array(k);
    const sign = (set: Uint32Array, out: Uint8Array) => {
      const filled = signInto(set, set.length, k, sig);
      writeSketch(sig, out, 0);
      return filled;
    };
    let similar = 0;
    let unrelatedPassed = 0;
    let unrelated = 0;
    for (let seed = 1; seed <= 4000; seed++) {
      const size = [8, 20, 60, 150, 400, 1200][seed % 6] as number;
      // Shared share chosen so that J = shared / (2·size − shared) lands in [0.8, 0.9] or near 0.2.
      const near = seed % 4 !== 0;
      const j = near ? 0.8 + ((seed * 7919) % 1000) / 10_000 : 0.2;
      const shared = Math.ceil((2 * size * j) / (1 + j));
      const [a, b] = setPair(seed, size, size, Math.min(size, shared));
      const exact = jaccard(a, b);
      const pass = sketchPasses(cut, k, wa, 0, sign(a, sa), wb, 0, sign(b, sb));
      if (exact >= 0.8) {
        similar++;
        assert.ok(pass, `J = ${exact.toFixed(3)} with ${size} shingles each was dropped`);
      } else if (exact < 0.3 && size >= 60) {
        unrelated++;
        if (pass) unrelatedPassed++;
      }
    }
    assert.ok(similar > 2500);
    assert.ok(unrelated > 500);
    assert.equal(unrelatedPassed, 0);
  });
});

describe('LSH banding', () => {
  test('the default banding keeps the threshold on the steep part of the S-curve', () => {
    const b = chooseBanding(0.8, 256);
    assert.deepEqual(b, { bands: 32, rows: 8 });
    assert.ok(candidateProbability(0.8, b) >= 0.995);
    assert.ok(candidateProbability(0.5, b) < 0.15);
    assert.ok(candidateProbability(0.3, b) < 0.005);
    // A step more rows would miss too many pairs at the threshold.
    assert.ok(candidateProbability(0.8, { bands: 28, rows: 9 }) < 0.995);
    for (let s = 0.05; s < 1; s += 0.05) assert.ok(candidateProbability(s, b) <= candidateProbability(s + 0.05, b));
    assert.deepEqual(resolveDedupeOptions().banding, b);
    assert.equal(resolveDedupeOptions({ threshold: 7, numPerm: -3 }).threshold, 1);
    assert.equal(resolveDedupeOptions().ngram, DEFAULT_DEDUPE_OPTIONS.ngram);
  });

  test('band keys agree exactly where the rows agree', () => {
    const banding = { bands: 4, rows: 3 };
    const sig = Uint32Array.from({ length: 12 }, (_, i) => fmix32(i));
    const ka = new Uint32Array(4);
    bandKeys(sig, banding, ka, 0);
    // Changing any one row changes the key of its band, and only that one.
    for (let p = 0; p < 12; p++) {
      const other = sig.slice();
      other[p] = 99;
      const kb = new Uint32Array(4);
      bandKeys(other, banding, kb, 0);
      assert.deepEqual([0, 1, 2, 3].map((t) => ka[t] === kb[t]), [0, 1, 2, 3].map((t) => t !== Math.floor(p / 3)), `row ${p}`);
    }
    // Equal rows in different bands do not share a key.
    const flat = new Uint32Array(12).fill(7);
    const kf = new Uint32Array(4);
    bandKeys(flat, banding, kf, 0);
    assert.equal(new Set(kf).size, 4);
  });
});

describe('union-find', () => {
  test('joins like a naive relabelling', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(29), fc.nat(29)), { maxLength: 40 }), (unions) => {
        const uf = new UnionFind(30);
        const label = Array.from({ length: 30 }, (_, i) => i);
        for (const [a, b] of unions) {
          const joined = uf.union(a, b);
          const la = label[a] as number;
          const lb = label[b] as number;
          assert.equal(joined, la !== lb);
          for (let i = 0; i < 30; i++) if (label[i] === lb) label[i] = la;
        }
        for (let i = 0; i < 30; i++) {
          for (let j = 0; j < 30; j++) assert.equal(uf.find(i) === uf.find(j), label[i] === label[j]);
          assert.equal(uf.sizeOf(i), label.filter((l) => l === label[i]).length);
        }
      }),
    );
  });
});

describe('closest-twin diff', () => {
  test('the differing words', () => {
    const ops = diffWords('hold the reset button for ten seconds', 'hold the power button for ten seconds please');
    assert.deepEqual(ops.map((o) => [o.op, o.tokens.join(' ')]), [
      ['equal', 'hold the'], ['delete', 'reset'], ['insert', 'power'], ['equal', 'button for ten seconds'], ['insert', 'please'],
    ]);
    const s = summarizeDiff(ops, 2);
    assert.deepEqual([s.removed, s.added], [['reset'], ['power', 'please']]);
    assert.equal(s.text, 'hold the [-reset-] {+power+} button for ten seconds {+please+}');
    assert.equal(summarizeDiff(ops, 1).text, '… the [-reset-] {+power+} button … seconds {+please+}');
  });

  test('Chinese is compared character by character', () => {
    assert.deepEqual(tokenize('重置路由器, ok'), ['重', '置', '路', '由', '器', ',', 'ok']);
    const s = summarizeDiff(diffWords('按住重置按钮十秒', '按住电源按钮十秒'));
    assert.deepEqual([s.removed, s.added], [['重', '置'], ['电', '源']]);
    assert.equal(s.text, '按住 [-重置-] {+电源+} 按钮十 …');
  });

  test('equal texts have no changes; long differing middles cost no table', () => {
    assert.deepEqual(summarizeDiff(diffWords('same words', 'same  WORDS'.toLowerCase())).removed, []);
    const a = Array.from({ length: 3000 }, (_, i) => `a${i}`).join(' ');
    const b = Array.from({ length: 3000 }, (_, i) => `b${i}`).join(' ');
    const ops = diffWords(`start ${a} end`, `start ${b} end`, 10_000);
    assert.deepEqual(ops.map((o) => [o.op, o.tokens.length]), [['equal', 1], ['delete', 3000], ['insert', 3000], ['equal', 1]]);
    const many = summarizeDiff(diffWords('a b c d e f g h i j k l', 'a x c x e x g x i x k x'), 1, 2);
    assert.match(many.text, /and 4 more changes/);
  });
});
