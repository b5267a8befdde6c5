import { fmix32 } from './hash';
/**
 * Character n-gram shingles of a normalised text, hashed to 32 bits, and the
 * exact Jaccard similarity of two shingle sets (sorted `Uint32Array`s, so the
 * intersection is a linear merge).
 *
 * A shingle is a window of characters `n` columns wide, where a wide character
 * (CJK ideographs, kana, hangul, fullwidth forms) takes two columns, as in a
 * terminal. So n = 4 (the default) means 4-grams in English and 2-grams in
 * Chinese, where one character carries about as much as a short English word:
 * one edited word then changes about as many shingles in either script. Mixed
 * text needs no guess of its language.
 */

/** Whether a UTF-16 code unit is a wide (two-column) character. */
export function isWide(c: number): boolean {
  if (c < 0x1100) return false;
  return (
    (c >= 0x4e00 && c <= 0x9fff) || // CJK unified ideographs
    (c >= 0x3400 && c <= 0x4dbf) || // extension A
    (c >= 0xac00 && c <= 0xd7a3) || // hangul syllables
    (c >= 0x3040 && c <= 0x30ff) || // kana
    (c >= 0x1100 && c <= 0x115f) || // hangul jamo
    (c >= 0x2e80 && c <= 0x303e) || // radicals, CJK symbols and punctuation
    (c >= 0x3100 && c <= 0x33ff) ||
    (c >= 0xa000 && c <= 0xa4cf) || // Yi
    (c >= 0xf900 && c <= 0xfaff) || // compatibility ideographs
    (c >= 0xfe30 && c <= 0xfe4f) ||
    (c >= 0xff00 && c <= 0xff60) || // fullwidth forms
    (c >= 0xffe0 && c <= 0xffe6) ||
    (c >= 0xd840 && c <= 0xd8bf) // high surrogates of ideographs in planes 2–3
  );
}

let scratch = new Uint32Array(4096);

function grow(size: number): Uint32Array {
  if (scratch.length < size) scratch = new Uint32Array(Math.max(size, scratch.length * 2));
  return scratch;
}

/** Multiplier of the rolling polynomial hash of a window, and its powers (a window is at most 64 characters). */
const P = 0x01000193;
const POW = (() => {
  const t = new Int32Array(65);
  t[0] = 1;
  for (let i = 1; i < t.length; i++) t[i] = Math.imul(t[i - 1] as number, P);
  return t;
})();

/**
 * The hashes of every shingle of `text`, in order, duplicates included, written
 * to a shared scratch buffer (valid until the next call): `[buffer, count]`.
 * A text narrower than `n` columns is one shingle; an empty text has none.
 * `wideColumns` = 1 gives plain character n-grams (for measurements).
 *
 * The window's hash rolls: Σ c_k·P^(j−1−k) over the window [i, j) gains the
 * character entering on the right and loses the one leaving on the left, so a
 * shingle costs two multiplications and murmur3's finaliser whatever n is.
 */
export function shingleHashesScratch(text: string, n: number, wideColumns = 2): [Uint32Array, number] {
  const len = text.length;
  const out = grow(len + 2); // room for `sampleShingles`' whole-text unit
  let count = 0;
  if (len === 0) return [out, 0];
  let j = 0; // the window is text[i, j)
  let w = 0; // its width in columns
  let h = 0; // its polynomial hash
  for (let i = 0; i < len; i++) {
    while (j < len && w < n) {
      const c = text.charCodeAt(j);
      w += c >= 0x1100 && isWide(c) ? wideColumns : 1;
      h = (Math.imul(h, P) + c) | 0;
      j++;
    }
    if (w < n && i > 0) break; // a short tail repeats what the last full window covered
    // The window's length in characters, then murmur3's finaliser: the high bits pick MinHash bins.
    let x = h ^ Math.imul(j - i, 0x9e3779b1);
    x ^= x >>> 16;
    x = Math.imul(x, 0x85ebca6b);
    x ^= x >>> 13;
    x = Math.imul(x, 0xc2b2ae35);
    x ^= x >>> 16;
    out[count++] = x >>> 0;
    const c = text.charCodeAt(i);
    w -= c >= 0x1100 && isWide(c) ? wideColumns : 1;
    h = (h - Math.imul(c, POW[j - i - 1] as number)) | 0;
    if (j === len && w < n) break;
  }
  return [out, count];
}

/** A whole text as one shingle (a hash apart from every n-gram's, but for 2^-32 chances). */
export function unitHash(text: string): number {
  let h = 0x9747b28c;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return fmix32(h ^ text.length);
}

/**
 * The shingle hashes of a sample: the n-grams of its text, and its system
 * instruction, when it has one, as a single unit. Scratch buffer, as above.
 */
export function sampleShingles(text: string, system: string | undefined, n: number): [Uint32Array, number] {
  const [buf, count] = shingleHashesScratch(text, n);
  if (system === undefined) return [buf, count];
  buf[count] = unitHash(system);
  return [buf, count + 1];
}

/** The shingle set of a sample (`sampleShingles`, sorted, without repeats). */
export function sampleShingleSet(text: string, system: string | undefined, n: number): Uint32Array {
  const [buf, count] = sampleShingles(text, system, n);
  return buf.slice(0, sortUnique(buf, count));
}

/** The hashes of every shingle of `text`, in order, duplicates included. */
export function shingleHashes(text: string, n: number): Uint32Array {
  const [buf, count] = shingleHashesScratch(text, n);
  return buf.slice(0, count);
}

/** Sorts the first `count` values of `buf` in place and removes repeats; returns the new count. */
export function sortUnique(buf: Uint32Array, count: number): number {
  if (count < 2) return count;
  buf.subarray(0, count).sort();
  let k = 1;
  for (let i = 1; i < count; i++) {
    const v = buf[i] as number;
    if (v !== buf[k - 1]) buf[k++] = v;
  }
  return k;
}

/** The set of `text`'s shingle hashes: sorted ascending, without repeats. */
export function shingleSet(text: string, n: number, wideColumns = 2): Uint32Array {
  const [buf, count] = shingleHashesScratch(text, n, wideColumns);
  return buf.slice(0, sortUnique(buf, count));
}

/** Exact Jaccard similarity |a ∩ b| / |a ∪ b| of two sorted sets; 1 for two empty sets. */
export function jaccard(a: Uint32Array, b: Uint32Array): number {
  if (a.length === 0 || b.length === 0) return a.length === b.length ? 1 : 0;
  return jaccardAtLeast(a, b, 0); // with no threshold the merge never stops early
}

/**
 * Whether the Jaccard similarity of `a` and `b` reaches `threshold`, stopping the
 * merge as soon as the answer is known (most rejected candidates stop early).
 * Returns the similarity when it does, -1 when it does not.
 */
export function jaccardAtLeast(a: Uint32Array, b: Uint32Array, threshold: number): number {
  const la = a.length;
  const lb = b.length;
  if (la === 0 || lb === 0) return la === lb && threshold <= 1 ? 1 : -1;
  // J ≤ min/max: sets of very different sizes cannot be similar.
  if (Math.min(la, lb) < threshold * Math.max(la, lb)) return -1;
  // J ≥ t ⇔ |a ∩ b| ≥ t (|a| + |b|) / (1 + t): each side may leave out at most |side| − that
  // many elements (rounded down a hair, so the early exit never rejects a pair the final test accepts).
  const need = Math.ceil((threshold * (la + lb)) / (1 + threshold) - 1e-9);
  const slackA = la - need;
  const slackB = lb - need;
  let i = 0;
  let j = 0;
  let n = 0;
  while (i < la && j < lb) {
    const x = a[i] as number;
    const y = b[j] as number;
    if (x === y) {
      n++;
      i++;
      j++;
    } else if (x < y) {
      i++;
      if (i - n > slackA) return -1;
    } else {
      j++;
      if (j - n > slackB) return -1;
    }
  }
  const similarity = n / (la + lb - n);
  return similarity >= threshold ? similarity : -1;
}
