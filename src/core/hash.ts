import { hash as cryptoHash } from 'node:crypto';

/*
 * The reference's hash is the first 15 hex digits of SHA-1: a 60-bit integer, above
 * 2^53. It is read as two exact doubles, the first 8 digits (32 bits) and the next 7
 * (28 bits), straight from the hex string: no BigInt and no allocation on the hot path.
 */

const TWO_28 = 2 ** 28;
const TWO_60 = 2 ** 60;
/** Below this divisor, `(hi % n) * 2^28 + lo` stays under 2^53 and doubles are exact. */
const MAX_FAST_DIVISOR = 2 ** 25;

/** SHA-1 of `input` as hex. Units are ASCII in the reference; UTF-8 agrees there and lets other text hash too. */
export function sha1Hex(input: string): string {
  return cryptoHash('sha1', input, 'hex');
}

function hexDigits(hex: string, from: number, to: number): number {
  let value = 0;
  for (let i = from; i < to; i++) {
    const c = hex.charCodeAt(i);
    value = value * 16 + (c < 58 ? c - 48 : c - 87);
  }
  return value;
}

/** The 60-bit hash, exactly. */
export function hexToBigInt(hex: string): bigint {
  return BigInt('0x' + hex.slice(0, 15));
}

/** `hash % n` for a positive divisor, exact. */
export function hexMod(hex: string, n: number): number {
  if (n <= MAX_FAST_DIVISOR) return ((hexDigits(hex, 0, 8) % n) * TWO_28 + hexDigits(hex, 8, 15)) % n;
  return Number(hexToBigInt(hex) % BigInt(n));
}

/**
 * `float(hash) / float(0xFFFFFFFFFFFFFFF)`: the 60-bit value rounded once to a double
 * (the sum below rounds exactly once), divided by 2^60 (what the reference's divisor rounds to).
 */
export function hexToUnitFloat(hex: string): number {
  return (hexDigits(hex, 0, 8) * TWO_28 + hexDigits(hex, 8, 15)) / TWO_60;
}
