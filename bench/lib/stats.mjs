// Small statistics for the bench's figures. Pure functions, no I/O.

/** Median of the finite numbers in `values`, or null when there are none. */
export function median(values) {
  const xs = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = xs.length >> 1;
  return xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
}

/** Round r runs the list forward when r is even, backward when odd: A B C, C B A, A B C… */
export function roundOrder(items, round) {
  return round % 2 === 0 ? [...items] : [...items].reverse();
}

/** The p-th percentile (nearest rank) of an ascending array, or null when it is empty. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}
