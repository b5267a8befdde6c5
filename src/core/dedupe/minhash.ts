/**
 * MinHash signatures of shingle sets, in `Uint32Array`s.
 *
 * `signature` is one-permutation hashing (Li, Owen & Zhang 2012) with optimal
 * densification (Shrivastava 2017): one hash per shingle picks one of K bins (its
 * top bits) and each bin keeps its smallest hash; an empty bin borrows the value
 * of the first non-empty bin on a probe sequence that depends only on the bin, so
 * equal sets borrow alike. Each of the K positions agrees between two sets with
 * probability equal to their Jaccard similarity, as with K independent
 * permutations, but a shingle costs one hash instead of K: that is what makes
 * 100,000 samples of a kilobyte fit in a second.
 *
 * `classicSignature` is the textbook K-permutation MinHash (K seeded hashes per
 * shingle), kept as the reference the tests and the benchmark compare with.
 */
import { fmix32 } from './hash';

const EMPTY = 0xffffffff;

let raw = new Uint32Array(256);

/**
 * The K-position signature of the first `count` shingle hashes in `hashes`
 * (repeats allowed), written to `out` (a new array when not given).
 * Returns undefined when there are no shingles.
 */
export function signature(hashes: Uint32Array, count: number, k: number, out?: Uint32Array): Uint32Array | undefined {
  if (count === 0) return undefined;
  if (k < 1 || k > 65536) throw new RangeError(`signature length ${k} is not in 1 … 65536`);
  if (raw.length < k) raw = new Uint32Array(k);
  const bins = raw;
  bins.fill(EMPTY, 0, k);
  for (let i = 0; i < count; i++) {
    const h = hashes[i] as number;
    // The bin is floor(top 16 bits × K / 2^16): integer arithmetic only, contiguous ranges of hashes.
    const bin = ((h >>> 16) * k) >>> 16;
    if (h < (bins[bin] as number)) bins[bin] = h;
  }
  const sig = out ?? new Uint32Array(k);
  for (let i = 0; i < k; i++) {
    let v = bins[i] as number;
    if (v === EMPTY) {
      // Optimal densification: probe bins in an order fixed by (bin, attempt) until one is filled.
      for (let attempt = 1; ; attempt++) {
        const j = fmix32(Math.imul(i + 1, 0x9e3779b1) ^ Math.imul(attempt, 0x85ebca6b)) % k;
        const u = bins[j] as number;
        if (u !== EMPTY) {
          v = u;
          break;
        }
      }
    }
    sig[i] = v;
  }
  return sig;
}

/** Seeds of the K hash functions of `classicSignature`, from a fixed generator. */
export function permutationSeeds(k: number, seed = 0x5eed): Uint32Array {
  const seeds = new Uint32Array(k);
  let s = seed >>> 0;
  for (let i = 0; i < k; i++) {
    s = (s + 0x9e3779b9) >>> 0;
    seeds[i] = fmix32(s);
  }
  return seeds;
}

/** Textbook MinHash: for each of K seeded hash functions, the smallest hash over the set. */
export function classicSignature(hashes: Uint32Array, count: number, seeds: Uint32Array, out?: Uint32Array): Uint32Array | undefined {
  if (count === 0) return undefined;
  const k = seeds.length;
  const sig = out ?? new Uint32Array(k);
  sig.fill(EMPTY);
  for (let i = 0; i < count; i++) {
    const x = hashes[i] as number;
    for (let p = 0; p < k; p++) {
      // A seeded murmur3 finaliser: one pseudo-random permutation of 32-bit values per seed.
      let h = x ^ (seeds[p] as number);
      h ^= h >>> 16;
      h = Math.imul(h, 0x85ebca6b);
      h ^= h >>> 13;
      h = Math.imul(h, 0xc2b2ae35);
      h ^= h >>> 16;
      h >>>= 0;
      if (h < (sig[p] as number)) sig[p] = h;
    }
  }
  return sig;
}

/** The MinHash estimate of Jaccard similarity: the share of positions where two signatures agree. */
export function estimateJaccard(a: Uint32Array, b: Uint32Array): number {
  const k = Math.min(a.length, b.length);
  if (k === 0) return 0;
  let same = 0;
  for (let i = 0; i < k; i++) if (a[i] === b[i]) same++;
  return same / k;
}
