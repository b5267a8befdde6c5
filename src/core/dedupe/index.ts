/**
 * Exact and near-duplicate detection over samples: normalisation, character
 * n-gram shingles, MinHash, LSH banding, exact Jaccard confirmation, clusters.
 * Pure TypeScript over typed arrays; no editor or LSP types.
 *
 *   const index = new DuplicateIndex(options);           // language server
 *   index.set(lineId, dedupeText(turns, options.turns));  // per changed line
 *   for (const id of index.takeChanged()) …index.clusterOf(id), index.closestTwin(id)
 *
 *   const report = findDuplicates(samples, options);      // command line
 */
export type { DedupeText, DedupeTurns } from './normalize';
export { dedupeText, dedupeTextOfLine, normalizeText, roleKind } from './normalize';
export type { DedupeOptions, ResolvedDedupeOptions } from './options';
export { DEFAULT_DEDUPE_OPTIONS, resolveDedupeOptions } from './options';
export type { Cluster, DuplicateView, Twin } from './view';
export type { DuplicateIndexInit, DuplicateIndexStats } from './duplicateIndex';
export { DuplicateIndex } from './duplicateIndex';
export type { BatchStats, DuplicatePair } from './batch';
export { DuplicateReport, findDuplicates } from './batch';
export type { DiffOp, DiffSummary } from './diff';
export { diffWords, summarizeDiff, tokenize } from './diff';
export type { Banding } from './lsh';
export { candidateProbability, chooseBanding, curveMidpoint } from './lsh';
export { classicSignature, estimateJaccard, permutationSeeds, signature } from './minhash';
export { jaccard, jaccardAtLeast, shingleHashes, shingleSet } from './shingle';
export { UnionFind } from './unionFind';
