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

/** Bins of the signature being made, as signed 32-bit values (hash ^ 2^31: signed order is unsigned order, and V8 keeps int32 in registers). */
let raw = new Int32Array(256);

/** The bin that empty bin `i` borrows from on its `attempt`-th try (a multiply-shift maps 16 hash bits to 0 … k−1). */
function probe(i: number, attempt: number, k: number): number {
  return Math.imul(fmix32(Math.imul(i + 1, 0x9e3779b1) ^ Math.imul(attempt, 0x85ebca6b)) >>> 16, k) >>> 16;
}

/** The first probes of every bin, for the K last used (a table lookup instead of a hash per probe). */
const PROBES = 16;
let probeK = 0;
let probeTable = new Uint16Array(0);

/**
 * The K-position signature of the first `count` shingle hashes in `hashes`
 * (repeats allowed), written to `out` (a new array when not given).
 * Returns undefined when there are no shingles.
 */
export function signature(hashes: Uint32Array, count: number, k: number, out?: Uint32Array): Uint32Array | undefined {
  if (count === 0) return undefined;
  const sig = out ?? new Uint32Array(k);
  signInto(hashes, count, k, sig);
  return sig;
}

/**
 * `signature` into `sig` (K long); returns the number of bins filled by the
 * sample's own shingles (the others borrowed by densification), 0 when there
 * are no shingles (and `sig` is left as it was).
 */
export function signInto(hashes: Uint32Array, count: number, k: number, sig: Uint32Array): number {
  if (count === 0) return 0;
  if (k < 1 || k > 65536) throw new RangeError(`signature length ${k} is not in 1 … 65536`);
  if (raw.length < k) raw = new Int32Array(k);
  const bins = raw;
  const empty = EMPTY ^ 0x80000000; // the largest int32
  bins.fill(empty, 0, k);
  for (let i = 0; i < count; i++) {
    const h = (hashes[i] as number) ^ 0x80000000;
    // The bin is floor(top 16 bits × K / 2^16): integer arithmetic only, contiguous ranges of hashes.
    const bin = Math.imul((h >>> 16) ^ 0x8000, k) >>> 16;
    bins[bin] = Math.min(h, bins[bin] as number); // no branch: which is smaller is a coin toss early on
  }
  let filled = k;
  if (probeK !== k) {
    probeK = k;
    probeTable = new Uint16Array(k * PROBES);
    for (let i = 0; i < k; i++) for (let a = 1; a <= PROBES; a++) probeTable[i * PROBES + a - 1] = probe(i, a, k);
  }
  const probes = probeTable;
  for (let i = 0; i < k; i++) {
    let v = bins[i] as number;
    if (v === empty) {
      filled--;
      // Optimal densification: probe bins in an order fixed by (bin, attempt) until one is filled.
      for (let attempt = 1; ; attempt++) {
        const j = attempt <= PROBES ? (probes[i * PROBES + attempt - 1] as number) : probe(i, attempt, k);
        const u = bins[j] as number;
        if (u !== empty) {
          v = u;
          break;
        }
      }
    }
    sig[i] = v ^ 0x80000000; // an int32 stored into a Uint32Array keeps its bits
  }
  return filled;
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
