import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import {
  asciiPrefixBytes,
  digestMod,
  digestToUnitFloat,
  hash60Mod,
  hash60OfInteger,
  hash60OfText,
  hash60UnitFloat,
  sha1Digest,
  sha1DigestOfInteger,
  sha1DigestOfText,
} from '../../../src/core/hash.js';

/** The digest as the reference computes it: SHA-1 of the UTF-8 text, one char per byte. */
function reference(text: string): string {
  return createHash('sha1').update(text, 'utf8').digest('binary');
}

describe('hashing a prefix and a unit from the reused buffer', () => {
  const prefixes = ['Exp1.group_size.', 'x.', '', 'salt.' + 'p'.repeat(90) + '.', 'e.s' + '\u00e9' + '.'];

  it('reads ASCII prefixes as bytes and refuses other text and long prefixes', () => {
    expect(Array.from(asciiPrefixBytes('Ab.')!)).toEqual([65, 98, 46]);
    expect(asciiPrefixBytes('caf\u00e9.')).toBeUndefined();
    expect(asciiPrefixBytes('p'.repeat(200))).toBeUndefined();
  });

  it('gives the digest of prefix + String(n) for integers of every size and sign', () => {
    const numbers = [0, 1, -1, 9, 10, 99, 100, 1_000_000, -123_456_789, 2 ** 31, 2 ** 32 + 7, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 1e8, 1e8 + 1, 99_999_999, 1_200_000_005, -(10 ** 15) - 7, 2 ** 31 - 1, 2 ** 31];
    for (let i = 0; i < 2000; i++) numbers.push(Math.floor((Math.random() - 0.5) * 2 ** (1 + (i % 53))));
    for (const prefix of prefixes) {
      const bytes = asciiPrefixBytes(prefix);
      if (bytes === undefined) continue;
      for (const n of numbers) expect(sha1DigestOfInteger(bytes, n)).toBe(reference(prefix + String(n)));
    }
  });

  it('gives the digest of prefix + text for ASCII, non-ASCII and long text', () => {
    const texts = ['', 'u1', 'user-42', '\u00e9t\u00e9', '\u{1F600}', 'a'.repeat(100), 'b'.repeat(300), 'mixed \u00fc at the end\u00fc'];
    for (const prefix of prefixes) {
      const bytes = asciiPrefixBytes(prefix);
      if (bytes === undefined) continue;
      for (const text of texts) expect(sha1DigestOfText(bytes, prefix, text)).toBe(reference(prefix + text));
    }
  });

  it('leaves no bytes behind between calls (a shorter input after a longer one)', () => {
    const bytes = asciiPrefixBytes('Exp1.p.')!;
    expect(sha1DigestOfInteger(bytes, 123456789)).toBe(sha1Digest('Exp1.p.123456789'));
    expect(sha1DigestOfInteger(bytes, 7)).toBe(sha1Digest('Exp1.p.7'));
    expect(sha1DigestOfText(bytes, 'Exp1.p.', 'ab')).toBe(sha1Digest('Exp1.p.ab'));
  });
});

describe('the 60-bit hash without a digest string (single-block SHA-1 in JavaScript)', () => {
  const divisors = [1, 2, 3, 4, 7, 10, 1000, 2 ** 25, 2 ** 25 + 1, 2 ** 40 + 3];

  function expectSameHash(input: string): void {
    const digest = reference(input);
    for (const n of divisors) expect(hash60Mod(n)).toBe(digestMod(digest, n));
    expect(hash60UnitFloat()).toBe(digestToUnitFloat(digest));
  }

  it('agrees with node:crypto for every input length around the one-block limit (55 bytes)', () => {
    const alphabet = 'abcXYZ019._-~ ';
    for (let length = 0; length <= 80; length++) {
      for (let trial = 0; trial < 20; trial++) {
        let text = '';
        for (let i = 0; i < length; i++) text += alphabet[Math.floor(Math.random() * alphabet.length)];
        const cut = Math.floor(Math.random() * (Math.min(length, 96) + 1));
        const prefix = text.slice(0, cut);
        hash60OfText(asciiPrefixBytes(prefix)!, prefix, text.slice(cut));
        expectSameHash(text);
      }
    }
  });

  it('agrees with node:crypto on integer units of every size and sign', () => {
    const numbers = [0, 1, -1, 9, 10, 1_000_000, -123_456_789, 2 ** 31, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];
    for (let i = 0; i < 500; i++) numbers.push(Math.floor((Math.random() - 0.5) * 2 ** (1 + (i % 53))));
    for (const prefix of ['Exp1.group_size.', '', 'x'.repeat(38) + '.', 'salt.' + 'p'.repeat(60) + '.']) {
      for (const n of numbers) {
        hash60OfInteger(asciiPrefixBytes(prefix)!, n);
        expectSameHash(prefix + String(n));
      }
    }
  });

  it('falls back to UTF-8 text for units that are not ASCII, and leaves no bytes behind', () => {
    const bytes = asciiPrefixBytes('e.p.')!;
    for (const unit of ['\u00e9t\u00e9', '\u{1F600}', 'a'.repeat(50), 'ab', '']) {
      hash60OfText(bytes, 'e.p.', unit);
      expectSameHash('e.p.' + unit);
    }
  });
});
