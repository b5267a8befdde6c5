/**
 * Small, fast, non-cryptographic 32-bit hashing over integers (murmur3's
 * finaliser and a multiply–rotate step), used for shingles, MinHash bins and
 * LSH band keys. Everything is `Math.imul` on int32, so V8 keeps it in registers.
 */

/** murmur3's 32-bit finaliser: a bijection with full avalanche. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** One murmur3 body step: mixes the 32-bit word `k` into the running hash `h`. */
export function mix32(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** murmur3-32 of a list of 32-bit words (for band keys and tests). */
export function hashWords(words: ArrayLike<number>, start: number, end: number, seed: number): number {
  let h = seed | 0;
  for (let i = start; i < end; i++) h = mix32(h, words[i] as number);
  return fmix32(h ^ (end - start));
}
