import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { sha1Blocks } from '../../../src/core/sha1-block.js';
import type { PlanoutLogRecord } from '../../../src/core/log-record.js';
import { dedupeKeyOf, exposureDedupeKey, exposureRecordId, PLANOUT_RECORD_ID_NAMESPACE, uuidV5 } from '../../../src/nest/record-id.js';
import { hexDigit, sha1WordsOf } from '../../../src/nest/sha1-text.js';
import { seededRandom } from '../../support/prng.js';

/** What node:crypto gives for the prefix bytes followed by the text as UTF-8. */
function reference(text: string, prefix: Uint8Array = new Uint8Array(0)): string {
  return createHash('sha1').update(prefix).update(text, 'utf8').digest('hex');
}

function hexOfWords(words: Int32Array): string {
  return Array.from(words, (word) => (word >>> 0).toString(16).padStart(8, '0')).join('');
}

/** Prefixes of 0, 1, 16 (a UUID namespace), 55, 64 and 70 bytes, with bytes above 0x7f. */
const PREFIXES = [0, 1, 16, 55, 64, 70].map((length) => Uint8Array.from({ length }, (_, i) => (i * 151 + 7) & 0xff));

/** One char each of 1, 2, 3 and 4 (a surrogate pair) UTF-8 bytes. */
const BY_BYTES = ['a', '\u00e9', '\u20ac', '\u{1F600}'];

/** A text of exactly `bytes` UTF-8 bytes, mixing chars of 1 to 4 bytes (seeded). */
function textOfBytes(bytes: number, seed: number): string {
  const r = seededRandom(seed);
  let text = '';
  let left = bytes;
  while (left > 0) {
    const size = 1 + Math.floor(r() * Math.min(4, left));
    text += BY_BYTES[size - 1];
    left -= size;
  }
  return text;
}

/** SHA-1 block boundaries (55/56 bytes: one block or two; 64; 119/120; ...) and the JavaScript/native limit (247/248). */
const BOUNDARIES = [0, 1, 54, 55, 56, 57, 63, 64, 65, 118, 119, 120, 121, 127, 128, 183, 184, 191, 192, 246, 247, 248, 249, 256, 300];

/** Records whose ids and keys are pinned below: Exp1, non-ASCII and lone surrogates, a text past the JavaScript path. */
const PINNED: Record<'exp1' | 'odd' | 'long', PlanoutLogRecord> = {
  exp1: {
    name: 'Exp1',
    salt: 'Exp1',
    checksum: '9014945f',
    inputs: { userid: '779251' },
    params: { group_size: 10, ratings_goal: 16, specific_goal: 1 },
    event: 'exposure',
    time: 1,
  },
  odd: {
    name: 'caf\u00e9',
    salt: 's\ud800',
    checksum: undefined,
    inputs: { userid: '\u{1F600}'.repeat(40), x: '\u20ac'.repeat(30) },
    params: { p: '\u00e9\udc00' },
    event: 'exposure',
    time: 1,
  },
  long: { name: 'long', salt: 'long', checksum: 'abcd1234', inputs: { userid: 'u'.repeat(600) }, params: { a: 1 }, event: 'exposure', time: 1 },
};
const { exp1, odd, long } = PINNED;

describe('sha1Blocks (generated)', () => {
  it('compresses a run of padded blocks to the digest node:crypto gives', () => {
    const r = seededRandom(7);
    for (let length = 0; length <= 400; length += 13) {
      const message = Uint8Array.from({ length }, () => Math.floor(r() * 256));
      const blocks = ((length + 8) >> 6) + 1;
      const padded = new Uint8Array(blocks * 64);
      padded.set(message);
      padded[length] = 0x80;
      new DataView(padded.buffer).setInt32(padded.length - 4, length * 8);
      const state = Int32Array.of(0x67452301, -0x10325477, -0x67452302, 0x10325476, -0x3c2d1e10);
      sha1Blocks(new DataView(padded.buffer), blocks, state);
      expect(hexOfWords(state)).toBe(createHash('sha1').update(message).digest('hex'));
    }
  });

  it('continues from the state it is given and reads only blockCount blocks', () => {
    const data = new Uint8Array(256).fill(0x61);
    const first = Int32Array.of(1, 2, 3, 4, 5);
    sha1Blocks(new DataView(data.buffer), 2, first);
    const stepwise = Int32Array.of(1, 2, 3, 4, 5);
    sha1Blocks(new DataView(data.buffer), 1, stepwise);
    sha1Blocks(new DataView(data.buffer, 64), 1, stepwise);
    expect(Array.from(stepwise)).toEqual(Array.from(first));
    const none = Int32Array.of(1, 2, 3, 4, 5);
    sha1Blocks(new DataView(data.buffer), 0, none);
    expect(Array.from(none)).toEqual([1, 2, 3, 4, 5]);
  });
});

describe('sha1WordsOf: SHA-1 of prefix bytes and the UTF-8 of a text', () => {
  it('agrees with node:crypto for every ASCII length from 0 to 300 bytes, with and without a prefix', () => {
    const r = seededRandom(1);
    for (const prefix of PREFIXES) {
      for (let length = 0; length <= 300; length++) {
        let text = '';
        for (let i = 0; i < length; i++) text += String.fromCharCode(32 + Math.floor(r() * 95));
        expect(hexOfWords(sha1WordsOf(text, prefix))).toBe(reference(text, prefix));
      }
    }
  });

  it('agrees with node:crypto for 2-, 3- and 4-byte chars at every byte length from 0 to 300', () => {
    for (const prefix of PREFIXES) {
      for (let bytes = 0; bytes <= 300; bytes++) {
        const text = textOfBytes(bytes, bytes * 31 + prefix.length);
        expect(Buffer.byteLength(text)).toBe(bytes);
        expect(hexOfWords(sha1WordsOf(text, prefix))).toBe(reference(text, prefix));
      }
    }
  });

  it('agrees with node:crypto at the block boundaries, message and prefix together', () => {
    for (const prefix of PREFIXES) {
      for (const total of BOUNDARIES) {
        if (total < prefix.length) continue;
        for (let seed = 0; seed < 8; seed++) {
          const text = seed === 0 ? 'x'.repeat(total - prefix.length) : textOfBytes(total - prefix.length, seed);
          expect(hexOfWords(sha1WordsOf(text, prefix))).toBe(reference(text, prefix));
        }
      }
    }
  });

  it('encodes lone surrogates as U+FFFD (EF BF BD), like node:crypto and Buffer.from', () => {
    const texts = [
      '\ud800',
      '\udfff',
      'a\ud83d',
      '\ude00b',
      '\ude00\ud83d',
      '\ud83d\ud83d\ude00',
      '\ud83d\ude00\ude00',
      'x'.repeat(54) + '\ud800',
      'x'.repeat(62) + '\ud83d\ude00',
      '\udc00'.repeat(90),
      '\ud800'.repeat(90) + 'end',
    ];
    for (const prefix of PREFIXES) {
      for (const text of texts) {
        expect(hexOfWords(sha1WordsOf(text, prefix))).toBe(reference(text, prefix));
        expect(hexOfWords(sha1WordsOf(text, prefix))).toBe(
          createHash('sha1').update(Buffer.concat([prefix, Buffer.from(text, 'utf8')])).digest('hex'),
        );
      }
    }
    expect(hexOfWords(sha1WordsOf('\ud800'))).toBe(createHash('sha1').update(Uint8Array.of(0xef, 0xbf, 0xbd)).digest('hex'));
  });

  it('agrees with node:crypto on random texts of mixed chars, surrogates included', () => {
    const alphabet = ['a', 'Z', '"', '\n', '\u0000', '\u007f', '\u0080', '\u00e9', '\u07ff', '\u0800', '\u20ac', '\uffff', '\u{1F600}', '\u{10FFFF}', '\ud800', '\udc00'];
    for (let seed = 1; seed <= 3000; seed++) {
      const r = seededRandom(seed);
      const chars = Math.floor(r() * (seed % 10 === 0 ? 1500 : 150));
      let text = '';
      for (let i = 0; i < chars; i++) text += alphabet[Math.floor(r() * alphabet.length)];
      const prefix = PREFIXES[seed % PREFIXES.length]!;
      const actual = hexOfWords(sha1WordsOf(text, prefix));
      if (actual !== reference(text, prefix)) throw new Error(`seed ${seed}: ${JSON.stringify(text)}`);
    }
  });

  it('hashes long inputs natively (past the buffer too) with the same result', () => {
    for (const length of [400, 1000, 1365, 1366, 2000, 5000, 20_000]) {
      for (const prefix of PREFIXES) {
        for (const unit of ['y', '\u20ac', '\u{1F600}']) {
          const text = unit.repeat(length);
          expect(hexOfWords(sha1WordsOf(text, prefix))).toBe(reference(text, prefix));
        }
      }
    }
  });

  it('leaves no bytes behind: a short input after a long one, a prefix after none', () => {
    const prefix = PREFIXES[2]!;
    const sequence: [string, Uint8Array | undefined][] = [
      ['\u20ac'.repeat(80), prefix],
      ['abc', prefix],
      ['z'.repeat(200), undefined],
      ['', undefined],
      ['', prefix],
      ['q'.repeat(5000), prefix],
      ['q', undefined],
    ];
    for (const [text, bytes] of sequence) expect(hexOfWords(sha1WordsOf(text, bytes))).toBe(reference(text, bytes));
  });
});

describe('hexDigit', () => {
  it('gives the char code of each lowercase hex digit of a word', () => {
    for (const word of [0, -1, 0x12345678, -0x7fffffff - 1, 0x0abcdef0]) {
      let hex = '';
      for (let shift = 28; shift >= 0; shift -= 4) hex += String.fromCharCode(hexDigit(word, shift));
      expect(hex).toBe((word >>> 0).toString(16).padStart(8, '0'));
    }
  });
});

/** uuidV5 as it was written before the JavaScript SHA-1: node:crypto, then the hex digest cut and joined. */
function referenceUuidV5(name: string, namespace: string = PLANOUT_RECORD_ID_NAMESPACE): string {
  const ns = Buffer.from(namespace.replaceAll('-', ''), 'hex');
  const hex = createHash('sha1').update(Buffer.concat([ns, Buffer.from(name, 'utf8')])).digest('hex');
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

describe('uuidV5 keeps its values', () => {
  it('matches the node:crypto version on record-id-like texts of every length to 300 bytes and beyond', () => {
    const assignment = '["Exp1","9014945f",{"userid":"779251"},{"group_size":10,"ratings_goal":16,"specific_goal":1}]';
    const base = 'Exp1\nexposure\n' + assignment;
    for (let length = 0; length <= 320; length++) {
      const name = (base + base + base + base).slice(0, length);
      expect(uuidV5(name)).toBe(referenceUuidV5(name));
    }
    for (let bytes = 0; bytes <= 300; bytes += 3) {
      const name = textOfBytes(bytes, bytes);
      expect(uuidV5(name)).toBe(referenceUuidV5(name));
    }
    for (const name of ['\ud800', 'x\udfffy', 'z'.repeat(3000), '\u{1F600}'.repeat(700)]) expect(uuidV5(name)).toBe(referenceUuidV5(name));
  });

  it('matches the node:crypto version in other namespaces, for every version and variant nibble', () => {
    const namespaces = ['6ba7b810-9dad-11d1-80b4-00c04fd430c8', '6ba7b811-9dad-11d1-80b4-00c04fd430c8', '00000000-0000-0000-0000-000000000000'];
    const nibbles = new Set<string>();
    for (const namespace of namespaces) {
      for (let i = 0; i < 400; i++) {
        const name = `unit-${i}`;
        const expected = referenceUuidV5(name, namespace);
        expect(uuidV5(name, namespace)).toBe(expected);
        nibbles.add(expected[19]!);
      }
    }
    expect([...nibbles].sort()).toEqual(['8', '9', 'a', 'b']);
  });

  it('gives the pinned ids of these exposures (as computed before the change)', () => {
    expect(exposureRecordId(exp1)).toBe('998c788a-6cff-53cb-bee1-bbfbadba7447');
    expect(exposureRecordId({ ...exp1, overridden: true })).toBe('95b09b4f-118a-5205-98ac-6c251abb8312');
    expect(exposureRecordId(odd)).toBe('d165e54d-67b2-52fd-887f-d6e727f0259b');
    expect(exposureRecordId(long)).toBe('ae322abd-7409-523d-9437-336fc8b1be76');
  });
});

describe('dedupe keys', () => {
  it('are the experiment name and the record id', () => {
    expect(dedupeKeyOf('Exp1', '998c788a-6cff-53cb-bee1-bbfbadba7447')).toBe('Exp1:998c788a-6cff-53cb-bee1-bbfbadba7447');
    expect(exposureDedupeKey(exp1)).toBe('Exp1:998c788a-6cff-53cb-bee1-bbfbadba7447');
    expect(exposureDedupeKey(odd)).toBe(`caf\u00e9:${exposureRecordId(odd)}`);
    expect(exposureDedupeKey(long)).toBe('long:ae322abd-7409-523d-9437-336fc8b1be76');
    // A record that already carries its id is keyed by it.
    expect(exposureDedupeKey({ ...exp1, id: 'given' })).toBe('Exp1:given');
  });
});
