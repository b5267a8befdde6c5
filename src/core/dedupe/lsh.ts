/**
 * Locality-sensitive hashing by banding: a K-position signature is cut into
 * b bands of r rows; two samples become a candidate pair when all r rows of at
 * least one band agree. For a pair of Jaccard similarity s that happens with
 * probability 1 − (1 − s^r)^b, an S-shaped curve.
 *
 * Candidates are confirmed by their exact Jaccard similarity afterwards, so a
 * false candidate costs only a merge of two sets while a missed pair is lost:
 * the banding is chosen for recall at the threshold first, then for as few
 * false candidates as that allows.
 */
import { mix32, fmix32 } from './hash';

export interface Banding {
  readonly bands: number;
  readonly rows: number;
}

/** Probability that a pair of Jaccard similarity `s` shares at least one band. */
export function candidateProbability(s: number, banding: Banding): number {
  return 1 - Math.pow(1 - Math.pow(s, banding.rows), banding.bands);
}

/**
 * The banding for `threshold` with `numPerm` positions: the most rows per band
 * (the steepest curve, so the fewest false candidates below the threshold) that
 * still misses at most `maxMiss` of the pairs exactly at the threshold, with as
 * many bands as fit. Pairs above the threshold are missed less often still.
 */
export function chooseBanding(threshold: number, numPerm: number, maxMiss = 0.005): Banding {
  let best: Banding = { bands: numPerm, rows: 1 };
  for (let rows = 1; rows <= numPerm; rows++) {
    const banding = { bands: Math.floor(numPerm / rows), rows };
    if (1 - candidateProbability(threshold, banding) <= maxMiss) best = banding;
    else break;
  }
  return best;
}

/** The similarity where the S-curve is steepest, about (1/b)^(1/r). */
export function curveMidpoint(banding: Banding): number {
  return Math.pow(1 / banding.bands, 1 / banding.rows);
}

/** Writes the b band keys of `sig` to `out[offset …]`. */
export function bandKeys(sig: Uint32Array, banding: Banding, out: Uint32Array, offset: number): void {
  const { bands, rows } = banding;
  for (let t = 0; t < bands; t++) {
    let h = Math.imul(t + 1, 0x9e3779b1);
    const start = t * rows;
    for (let i = start; i < start + rows; i++) h = mix32(h, sig[i] as number);
    out[offset + t] = fmix32(h ^ rows);
  }
}
