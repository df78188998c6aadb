import { hash as cryptoHash } from 'node:crypto';
import { sha1SingleBlock } from './sha1-block.js';

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

// The usual hash input is a salt prefix and a short unit. Rather than concatenating them
// into a new string per draw (which SHA-1 must then flatten and encode), its bytes are
// written into one reused buffer and hashed from there: prefixes as cached ASCII bytes,
// integer units as digits. Views of every length are made once.
const SCRATCH_BYTES = 192;
const scratch = new Uint8Array(SCRATCH_BYTES);
const scratchViews: Uint8Array[] = Array.from({ length: SCRATCH_BYTES + 1 }, (_, n) => scratch.subarray(0, n));

/** The bytes of `text` when it is ASCII and short enough to prefix a hash input; else undefined. */
export function asciiPrefixBytes(text: string): Uint8Array | undefined {
  if (text.length > SCRATCH_BYTES / 2) return undefined;
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) return undefined;
    bytes[i] = c;
  }
  return bytes;
}

function writePrefix(prefix: Uint8Array): number {
  const length = prefix.length;
  for (let i = 0; i < length; i++) scratch[i] = prefix[i];
  return length;
}

/** Writes the ASCII bytes of `prefix` and the decimal digits of `n` into the buffer; returns their length. */
function writeInteger(prefix: Uint8Array, n: number): number {
  let at = writePrefix(prefix);
  let rest = n;
  if (rest < 0) {
    scratch[at++] = 45; // '-'
    rest = -rest;
  }
  // Digits in int32 arithmetic (a division chain in doubles costs more than the copy it saves):
  // up to 8 digits at once, the high part of a larger safe integer before them.
  if (rest >= 1e8) {
    const high = Math.floor(rest / 1e8);
    at = writeDigits(at, high, 1);
    rest -= high * 1e8;
    at = writeDigits(at, rest, 8);
  } else {
    at = writeDigits(at, rest, 1);
  }
  // A prefix has at most SCRATCH_BYTES / 2 bytes and a safe integer 17 chars: it always fits.
  return at;
}

/**
 * `sha1Digest(text + String(n))` for a safe integer `n` (not -0), where `prefix` holds
 * the ASCII bytes of `text` (see {@link asciiPrefixBytes}).
 */
export function sha1DigestOfInteger(prefix: Uint8Array, n: number): string {
  return cryptoHash('sha1', scratchViews[writeInteger(prefix, n)], 'binary');
}

/** Writes `value` (0 <= value < 2^31) in decimal at `at`, zero-padded to `minDigits`; returns the end. */
function writeDigits(at: number, value: number, minDigits: number): number {
  let v = value | 0;
  let digits = 1;
  for (let p = 10; p <= v; p *= 10) digits++;
  if (digits < minDigits) digits = minDigits;
  const end = at + digits;
  for (let i = end - 1; i >= at; i--) {
    const q = (v / 10) | 0;
    scratch[i] = 48 + v - q * 10;
    v = q;
  }
  return end;
}

/** Writes `prefix` and `text` into the buffer when `text` is ASCII and fits; returns the length, or -1. */
function writeText(prefix: Uint8Array, text: string): number {
  const at = prefix.length;
  const end = at + text.length;
  if (end > SCRATCH_BYTES) return -1;
  writePrefix(prefix);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) return -1;
    scratch[at + i] = c;
  }
  // ASCII is its own UTF-8.
  return end;
}

/** `sha1Digest(prefixText + text)`, hashed from the buffer when `text` is short ASCII. */
export function sha1DigestOfText(prefix: Uint8Array, prefixText: string, text: string): string {
  const end = writeText(prefix, text);
  return end >= 0 ? cryptoHash('sha1', scratchViews[end], 'binary') : sha1Digest(prefixText + text);
}

/*
 * The hash of a draw as two numbers, without a digest string: the hash60Of* functions set
 * the top 32 bits and the low 28 bits of the reference's 60-bit hash here, and
 * hash60Mod / hash60UnitFloat read them right after (nothing runs in between).
 */
let hashHigh = 0;
let hashLow = 0;

/** Inputs up to this many bytes fit SHA-1's one padded 64-byte block. */
const MAX_SINGLE_BLOCK = 55;
/** The buffer's first 64 bytes: the one block SHA-1 hashes, padding written in place. */
const scratchBlock = new DataView(scratch.buffer, scratch.byteOffset, 64);
const firstWords = new Int32Array(2);

/**
 * Hashes the first `length` bytes of the buffer. A short input (every usual salt and unit)
 * is hashed here in JavaScript: for one block, a node:crypto call costs more in argument
 * checks, an OpenSSL context and the result string than SHA-1's rounds do.
 */
function hashScratch(length: number): void {
  if (length > MAX_SINGLE_BLOCK) {
    setHash(cryptoHash('sha1', scratchViews[length], 'binary'));
    return;
  }
  // SHA-1 padding: a 1 bit after the message, zeros, its length in bits at the end of the block.
  scratch[length] = 0x80;
  scratch.fill(0, length + 1, 60);
  scratchBlock.setInt32(60, length << 3);
  sha1SingleBlock(scratchBlock, firstWords);
  hashHigh = firstWords[0] >>> 0;
  hashLow = firstWords[1] >>> 4;
}

function setHash(digest: string): void {
  hashHigh = high(digest);
  hashLow = low(digest);
}

/** Hashes `text + String(n)` (as {@link sha1DigestOfInteger}) for {@link hash60Mod} / {@link hash60UnitFloat}. */
export function hash60OfInteger(prefix: Uint8Array, n: number): void {
  hashScratch(writeInteger(prefix, n));
}

/** Hashes `prefixText + text` (as {@link sha1DigestOfText}) for {@link hash60Mod} / {@link hash60UnitFloat}. */
export function hash60OfText(prefix: Uint8Array, prefixText: string, text: string): void {
  const end = writeText(prefix, text);
  if (end >= 0) hashScratch(end);
  else setHash(sha1Digest(prefixText + text));
}

/** The last hash modulo a positive divisor, exact (as {@link digestMod}). */
export function hash60Mod(n: number): number {
  if (n <= MAX_FAST_DIVISOR) return ((hashHigh % n) * TWO_28 + hashLow) % n;
  return Number(((BigInt(hashHigh) << 28n) | BigInt(hashLow)) % BigInt(n));
}

/** The last hash as a float in [0, 1] (as {@link digestToUnitFloat}). */
export function hash60UnitFloat(): number {
  return (hashHigh * TWO_28 + hashLow) / TWO_60;
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
