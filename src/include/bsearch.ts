// include/linux/bsearch.h, lib/bsearch.c: the kernel's one binary search, over a sorted array.
//
// The kernel's bsearch() looks for an element equal to the key. The model's lookups are over
// sorted, disjoint ranges (pfn ranges, runs of pages, boot memmap ranges, pfn-list runs),
// and what they all need is the range that could hold a number: the last one starting at or
// below it. Whether it really holds it (the range's end, its step) is the caller's to check,
// since each kind of range ends differently.

/**
 * Index of the last element of `sorted` whose start is at or below x, or -1 when none is (the
 * array is empty, or its first element starts above x). `sorted` is ascending by startOf();
 * with equal starts, the last of them.
 *
 * startOf should capture nothing. Two measurements on Node 20 pull different ways. An arrow
 * written at the call site is a new closure on every search whenever V8 does not inline that
 * caller: the pfn-list lookups allocated about 39 MB per 1000 folios of the 64 TiB fill that way.
 * One named function passed from many different callers was slower than an arrow inlined with
 * the search (about 1.35 times, in a micro-benchmark of a findInit()-like lookup). So the hot
 * callers (pfn_list.ts, page_alloc.ts findRange()) pass a module-level function of their own,
 * and the rest an arrow.
 */
export function lastAtOrBelow<T>(
  sorted: ArrayLike<T>,
  x: number,
  startOf: (e: T) => number,
): number {
  // The answer is in [lo - 1, hi - 1]: every element below lo starts at or below x, every one
  // from hi on above it.
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (startOf(sorted[mid]) <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}
