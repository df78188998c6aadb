import { hash as cryptoHash } from 'node:crypto';

/*
 * The reference's hash is the first 15 hex digits of SHA-1: a 60-bit integer, above
 * 2^53. It is read as two exact doubles, the first 32 bits and the next 28, straight
 * from the digest taken as a latin1 string (one char per byte): no hex text, no BigInt
 * and no allocation on the hot path.
 */

const TWO_28 = 2 ** 28;
const TWO_60 = 2 ** 60;
/** Below this divisor, `(hi % n) * 2^28 + lo` stays under 2^53 and doubles are exact. */
const MAX_FAST_DIVISOR = 2 ** 25;

/**
 * The SHA-1 digest of `input`, one char per byte. Units are ASCII in the reference;
 * UTF-8 agrees there and lets other text hash too.
 */
export function sha1Digest(input: string): string {
  return cryptoHash('sha1', input, 'binary'); // 'binary' is latin1
}

/** The top 32 bits of the 60-bit hash. */
function high(digest: string): number {
  return (
    ((digest.charCodeAt(0) << 24) | (digest.charCodeAt(1) << 16) | (digest.charCodeAt(2) << 8) | digest.charCodeAt(3)) >>> 0
  );
}

/** The low 28 bits of the 60-bit hash (7 hex digits: bytes 4 to 6 and the top half of byte 7). */
function low(digest: string): number {
  return (digest.charCodeAt(4) << 20) | (digest.charCodeAt(5) << 12) | (digest.charCodeAt(6) << 4) | (digest.charCodeAt(7) >> 4);
}

/** The 60-bit hash, exactly. */
export function digestToBigInt(digest: string): bigint {
  return (BigInt(high(digest)) << 28n) | BigInt(low(digest));
}

/** `hash % n` for a positive divisor, exact. */
export function digestMod(digest: string, n: number): number {
  if (n <= MAX_FAST_DIVISOR) return ((high(digest) % n) * TWO_28 + low(digest)) % n;
  return Number(digestToBigInt(digest) % BigInt(n));
}

/**
 * `float(hash) / float(0xFFFFFFFFFFFFFFF)`: the 60-bit value rounded once to a double
 * (the sum below rounds exactly once), divided by 2^60 (what the reference's divisor rounds to).
 */
export function digestToUnitFloat(digest: string): number {
  return (high(digest) * TWO_28 + low(digest)) / TWO_60;
}
