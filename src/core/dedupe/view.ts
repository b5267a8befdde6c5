/**
 * What callers read from duplicate detection, the same from the incremental
 * index (language server) and the batch function (command line): clusters and,
 * per sample, its confirmed twins. Ids are the caller's handles (line numbers,
 * stable line ids, sample indices).
 */

/** A confirmed duplicate of a sample. */
export interface Twin {
  readonly id: number;
  /** Exact Jaccard similarity of the two samples' shingle sets; 1 for an exact duplicate. */
  readonly similarity: number;
  /** Same normalised conversation (not only similar text). */
  readonly exact: boolean;
}

/** Samples linked by confirmed duplicate pairs (a connected component). */
export interface Cluster {
  /** Changes whenever the cluster changes (members, pairs): compare keys to skip unchanged clusters. */
  readonly key: number;
  /** Ids, ascending. At least two. */
  readonly members: readonly number[];
  /** Whether all members are exact duplicates of one another. */
  readonly exact: boolean;
}

export interface DuplicateView {
  /** Every cluster, ordered by smallest member. */
  clusters(): readonly Cluster[];
  /** The cluster of `id`, or undefined when it has no duplicate. */
  clusterOf(id: number): Cluster | undefined;
  /** Confirmed twins of `id`: exact ones first, then by similarity (highest first), then by id. */
  twinsOf(id: number): Twin[];
  /** The twin `twinsOf` lists first, without listing them all. */
  closestTwin(id: number): Twin | undefined;
  /** The normalised text of `id` (for `diffWords`). */
  textOf(id: number): string | undefined;
}

/** A group of exact duplicates and its confirmed near-duplicate neighbours. */
export interface GroupLike {
  readonly members: readonly number[];
  readonly edges: ReadonlyMap<GroupLike, number>;
}

export function twinsInGroup(group: GroupLike, id: number): Twin[] {
  const out: Twin[] = [];
  for (const m of group.members) if (m !== id) out.push({ id: m, similarity: 1, exact: true });
  const near: Twin[] = [];
  for (const [g, similarity] of group.edges) for (const m of g.members) near.push({ id: m, similarity, exact: false });
  near.sort((a, b) => b.similarity - a.similarity || a.id - b.id);
  return out.concat(near);
}

export function closestInGroup(group: GroupLike, id: number): Twin | undefined {
  for (const m of group.members) if (m !== id) return { id: m, similarity: 1, exact: true };
  let best: Twin | undefined;
  for (const [g, similarity] of group.edges) {
    const m = g.members[0];
    if (m === undefined) continue;
    if (best === undefined || similarity > best.similarity || (similarity === best.similarity && m < best.id)) {
      best = { id: m, similarity, exact: false };
    }
  }
  return best;
}

/** First index of an ascending array whose value is not below `id`. */
function lowerBound(list: readonly number[], id: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((list[mid] as number) < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Inserts `id` into an ascending array. */
export function insertSorted(list: number[], id: number): void {
  list.splice(lowerBound(list, id), 0, id);
}

/** Removes `id` from an ascending array; returns whether it was there. */
export function removeSorted(list: number[], id: number): boolean {
  const lo = lowerBound(list, id);
  if (list[lo] !== id) return false;
  list.splice(lo, 1);
  return true;
}
