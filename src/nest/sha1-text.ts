import { hash as cryptoHash } from 'node:crypto';
import { sha1Blocks } from '../core/sha1-block.js';

/*
 * SHA-1 of a short prefix and text (record ids: 16 namespace bytes and 120–150 bytes of
 * text, 3 blocks) in JavaScript. A node:crypto call over a buffer has a fixed cost
 * (argument checks, the buffer view, an OpenSSL context, the result string) of about
 * three blocks of JavaScript rounds; native rounds are then about 3× faster per block
 * (SHA extensions), so from 5 blocks on node:crypto wins and gets the input.
 */

/** Messages of up to this many blocks (with their padding) are hashed in JavaScript. */
const MAX_JS_BLOCKS = 4;
/** The longest message whose padding (at least 9 bytes) fits {@link MAX_JS_BLOCKS}. */
const MAX_JS_BYTES = MAX_JS_BLOCKS * 64 - 9;
/** Inputs are written here when their worst case (3 bytes per UTF-16 code unit) fits. */
const SCRATCH_BYTES = 4096;
const scratch = Buffer.alloc(SCRATCH_BYTES);
const scratchView = new DataView(scratch.buffer, scratch.byteOffset, SCRATCH_BYTES);

/** The digest of the last input as five big-endian words: see {@link sha1WordsOf}. */
const state = new Int32Array(5);

const EMPTY = new Uint8Array(0);

/** Char codes of the lowercase hex digits. */
const DIGITS = new Uint8Array(Array.from('0123456789abcdef', (ch) => ch.charCodeAt(0)));

/**
 * SHA-1 of `prefix` followed by the UTF-8 of `text` (lone surrogates as U+FFFD, as
 * node:crypto and `Buffer.from` encode them), as its five big-endian words. The array is
 * shared: it holds this digest until the next call.
 */
export function sha1WordsOf(text: string, prefix: Uint8Array = EMPTY): Int32Array {
  const prefixLength = prefix.length;
  if (prefixLength + text.length * 3 > SCRATCH_BYTES || (prefixLength === 0 && text.length > MAX_JS_BYTES)) {
    // Too long for the buffer, or a bare text too long for JavaScript rounds (at least one byte per code unit).
    setState(cryptoHash('sha1', prefixLength === 0 ? text : Buffer.concat([prefix, Buffer.from(text, 'utf8')]), 'binary'));
    return state;
  }
  for (let i = 0; i < prefixLength; i++) scratch[i] = prefix[i]!;
  // Node's UTF-8 writer: a JavaScript loop of charCodeAt costs ~2.5× more for 100 chars.
  const length = prefixLength + scratch.write(text, prefixLength, 'utf8');
  if (length > MAX_JS_BYTES) {
    setState(cryptoHash('sha1', scratch.subarray(0, length), 'binary'));
    return state;
  }
  // SHA-1 padding: a 1 bit after the message, zeros, then its length in bits as a 64-bit
  // big-endian number ending the last block (its high word is 0 at these lengths).
  const blocks = ((length + 8) >> 6) + 1;
  const end = blocks * 64;
  scratch[length] = 0x80;
  for (let i = length + 1; i < end - 4; i++) scratch[i] = 0;
  scratchView.setInt32(end - 4, length << 3);
  state[0] = 0x67452301;
  state[1] = -0x10325477;
  state[2] = -0x67452302;
  state[3] = 0x10325476;
  state[4] = -0x3c2d1e10;
  sha1Blocks(scratchView, blocks, state);
  return state;
}

/** Sets {@link state} from a digest given one char per byte ('binary' is latin1). */
function setState(digest: string): void {
  for (let i = 0; i < 5; i++) {
    const at = i * 4;
    state[i] =
      (digest.charCodeAt(at) << 24) | (digest.charCodeAt(at + 1) << 16) | (digest.charCodeAt(at + 2) << 8) | digest.charCodeAt(at + 3);
  }
}

/** The char code of the lowercase hex digit of the 4 bits of `word` from bit `shift` up. */
export function hexDigit(word: number, shift: number): number {
  return DIGITS[(word >>> shift) & 15]!;
}
