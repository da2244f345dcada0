// 2^n for the orders and shifts of include/linux/mmzone.h and friends (`1UL << order`).
//
// `2 ** n` with n not a constant compiles to a call of pow() returning a double, and the
// arithmetic around it (pfn % size, pfn + size) then runs on doubles (fmod() for %): about
// 40 ns in the buddy allocator's hot paths, against a few for a shift. This is the same number.

/** 2^n for an integer n >= 0: a shift below 2^31, `2 ** n` above (no int32 overflow). */
export function pow2(n: number): number {
  return n < 31 ? 1 << n : 2 ** n;
}

/**
 * x mod m for an integer x >= 0 and m a power of two: the same number as `x % m`, exact below
 * 2^53, but without fmod() where x is above 2^31 (a pfn or vpn of a large machine).
 */
export function modPow2(x: number, m: number): number {
  return x - Math.floor(x / m) * m;
}
