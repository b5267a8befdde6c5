/**
 * A cheap test of a candidate pair before its exact Jaccard similarity: the
 * share of positions where the two MinHash signatures agree estimates the
 * similarity, so a pair whose signatures agree far less often than the
 * threshold asks is dropped without building and merging two shingle sets.
 *
 * Only the low 8 bits of each position are kept (b-bit minwise hashing, Li &
 * König 2010): K bytes per sample instead of 4K. Two different minima then
 * agree by chance with probability 1/256, which only raises the estimate (the
 * test never loses a pair for it, and lets through a few more to the exact
 * check).
 *
 * The cut-off is a number of agreeing positions, a few standard deviations
 * below what a pair exactly at the threshold shows on average. A signature of
 * a short text, with fewer filled bins than K (the rest borrowed by
 * densification), carries fewer independent draws; the cut-off is set from
 * the smaller number of filled bins of the two, so it is lower there.
 */

/** Standard deviations of the estimate between the threshold and the cut-off. */
export const SKETCH_Z = 5;

/** Writes the low 8 bits of each of the K signature positions to `out[offset …]`. */
export function writeSketch(sig: Uint32Array, out: Uint8Array, offset: number): void {
  const k = sig.length;
  for (let i = 0; i < k; i++) out[offset + i] = (sig[i] as number) & 0xff;
}

/** Number of zero bytes in a 32-bit word (bit tricks: no branch, no loop). */
function zeroBytes(x: number): number {
  const t = ~((((x & 0x7f7f7f7f) + 0x7f7f7f7f) | x) | 0x7f7f7f7f); // the top bit of each zero byte
  return Math.imul((t >>> 7) & 0x01010101, 0x01010101) >>> 24;
}

/**
 * Whether two K-byte sketches, at `aWord`/`bWord` of int32 views (K a multiple
 * of 4), agree at `need` positions or more. Four positions are compared per
 * word, and the walk stops once too many have disagreed (unrelated pairs stop
 * early).
 */
export function sketchAgreesAtLeast(a: Int32Array, aWord: number, b: Int32Array, bWord: number, words: number, need: number): boolean {
  let spare = words * 4 - need; // disagreements still allowed
  if (spare < 0) return false;
  for (let i = 0; i < words; i++) {
    spare -= 4 - zeroBytes((a[aWord + i] as number) ^ (b[bWord + i] as number));
    if (spare < 0) return false;
  }
  return true;
}

/** Number of positions where two K-byte sketches hold the same byte (for tests and measurements). */
export function sketchAgreement(a: Uint8Array, aOffset: number, b: Uint8Array, bOffset: number, k: number): number {
  let same = 0;
  for (let i = 0; i < k; i++) if (a[aOffset + i] === b[bOffset + i]) same++;
  return same;
}

/**
 * Per number of filled bins m (1 … K): the fewest agreeing positions of K a
 * pair needs to be worth an exact check at `threshold`. A pair of similarity
 * t agrees at each position with probability p ≥ t; over m independent bins the
 * share has standard deviation √(t(1−t)/m), and the cut-off sits `SKETCH_Z` of
 * them below t (at the threshold, under a normal approximation, fewer than one
 * pair in a million is lost; pairs above it, fewer still).
 */
export function sketchCutoffs(threshold: number, k: number): Uint16Array {
  const cut = new Uint16Array(k + 1);
  const sd1 = Math.sqrt(threshold * (1 - threshold));
  for (let m = 1; m <= k; m++) {
    const share = threshold - SKETCH_Z * (sd1 / Math.sqrt(m));
    cut[m] = Math.max(0, Math.floor(share * k));
  }
  return cut;
}

/**
 * Whether a pair passes the test. Sketches are int32 views of K bytes per
 * sample (K a multiple of 4), `aSlot`/`bSlot` their indices; `filledA`/`filledB`
 * the numbers of bins each signature filled from its own shingles.
 */
export function sketchPasses(
  cutoffs: Uint16Array, k: number, a: Int32Array, aSlot: number, filledA: number, b: Int32Array, bSlot: number, filledB: number,
): boolean {
  const need = cutoffs[Math.max(1, Math.min(filledA, filledB, k))] as number;
  if (need === 0) return true;
  const words = k >>> 2;
  return sketchAgreesAtLeast(a, aSlot * words, b, bSlot * words, words, need);
}
