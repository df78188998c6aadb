import { hash as cryptoHash } from 'node:crypto';

/**
 * The reference's hash: the first 15 hex digits of SHA-1, a 60-bit integer. It is kept
 * as two exact doubles (32 high bits, 28 low bits) because the whole value exceeds 2^53.
 */
export interface Hash60 {
  readonly hi: number;
  readonly lo: number;
}

const TWO_28 = 2 ** 28;
const TWO_60 = 2 ** 60;
/** Below this divisor, `(hi % n) * 2^28 + lo` stays under 2^53 and doubles are exact. */
const MAX_FAST_DIVISOR = 2 ** 25;

export function sha1Hash60(input: string): Hash60 {
  // Units are ASCII in the reference; UTF-8 agrees with ASCII there and lets other text hash too.
  const hex = cryptoHash('sha1', input, 'hex');
  return { hi: parseInt(hex.slice(0, 8), 16), lo: parseInt(hex.slice(8, 15), 16) };
}

export function hashToBigInt(h: Hash60): bigint {
  return (BigInt(h.hi) << 28n) | BigInt(h.lo);
}

/** `hash % n` for a positive divisor, exact. */
export function hashMod(h: Hash60, n: number): number {
  if (n <= MAX_FAST_DIVISOR) return ((h.hi % n) * TWO_28 + h.lo) % n;
  return Number(hashToBigInt(h) % BigInt(n));
}

/**
 * `float(hash) / float(0xFFFFFFFFFFFFFFF)`: the 60-bit value rounded once to a double
 * (the sum below rounds exactly once), divided by 2^60 (what the reference's divisor rounds to).
 */
export function hashToUnitFloat(h: Hash60): number {
  return (h.hi * TWO_28 + h.lo) / TWO_60;
}
