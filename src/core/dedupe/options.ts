/**
 * Settings of duplicate detection, their defaults, and the banding derived from
 * them. The defaults are justified by `npm run bench` (bench/dedupe.ts).
 */
import { Banding, chooseBanding } from './lsh';
import type { DedupeTurns } from './normalize';

export interface DedupeOptions {
  /** Jaccard similarity of character n-gram sets from which two samples are near duplicates (0 < t ≤ 1). */
  readonly threshold: number;
  /** Shingle width in columns: n characters of alphabetic text, ⌈n/2⌉ of CJK (see shingle.ts). */
  readonly ngram: number;
  /** MinHash signature length K (rounded up to a multiple of 8). */
  readonly numPerm: number;
  /** Which turns count (used by `dedupeText`; kept here so one object carries every setting). */
  readonly turns: DedupeTurns;
  /**
   * A new sample is compared with at most this many candidates (those sharing the
   * most bands). Only huge clusters of near-identical samples reach it; past it
   * the clusters are the same in practice but not every pair is confirmed.
   */
  readonly maxCandidates: number;
}

export interface ResolvedDedupeOptions extends DedupeOptions {
  readonly banding: Banding;
}

export const DEFAULT_DEDUPE_OPTIONS: DedupeOptions = Object.freeze({
  threshold: 0.8,
  ngram: 4,
  numPerm: 256,
  turns: 'all',
  maxCandidates: 64,
});

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

/** Defaults for what is missing, out-of-range values brought into range, and the banding for them. */
export function resolveDedupeOptions(options: Partial<DedupeOptions> = {}): ResolvedDedupeOptions {
  const num = (v: unknown, d: number) => (typeof v === 'number' && Number.isFinite(v) ? v : d);
  const threshold = clamp(num(options.threshold, DEFAULT_DEDUPE_OPTIONS.threshold), 0.05, 1);
  const ngram = Math.round(clamp(num(options.ngram, DEFAULT_DEDUPE_OPTIONS.ngram), 1, 32));
  // A multiple of 8: signatures' 8-bit sketches are compared four bytes at a time (sketch.ts).
  const numPerm = Math.ceil(clamp(num(options.numPerm, DEFAULT_DEDUPE_OPTIONS.numPerm), 16, 1024) / 8) * 8;
  const maxCandidates = Math.round(clamp(num(options.maxCandidates, DEFAULT_DEDUPE_OPTIONS.maxCandidates), 1, 1_000_000));
  const turns: DedupeTurns = options.turns === 'user' ? 'user' : 'all';
  return { threshold, ngram, numPerm, turns, maxCandidates, banding: chooseBanding(threshold, numPerm) };
}
