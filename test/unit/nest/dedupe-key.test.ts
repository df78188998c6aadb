import { createHash } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import type { PlanoutLogRecord } from '../../../src/core/log-record.js';
import { stableStringify } from '../../../src/nest/dedupe-key.js';
import { exposureDedupeKey, PLANOUT_RECORD_ID_NAMESPACE } from '../../../src/nest/record-id.js';
import { seededRandom } from '../../support/prng.js';

/** stableStringify before its JSON.stringify fast path: the text the keys must keep. */
function reference(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : JSON.stringify(String(value));
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return `"${value}n"`;
    case 'object': {
      if (Array.isArray(value)) return '[' + value.map(reference).join(',') + ']';
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj);
      if (keys.length > 1) keys.sort();
      let out = '{';
      for (let i = 0; i < keys.length; i++) {
        if (i) out += ',';
        out += JSON.stringify(keys[i]) + ':' + reference(obj[keys[i]!]);
      }
      return out + '}';
    }
    default:
      return JSON.stringify(String(value));
  }
}

/** The name and the record id, by node:crypto: UUID v5 of `name \n exposure \n` and the reference text. */
function referenceKey(r: PlanoutLogRecord): string {
  const text = `${r.name}\n${r.event}\n` + reference([r.salt, r.checksum ?? null, r.inputs, r.params]);
  const namespace = Buffer.from(PLANOUT_RECORD_ID_NAMESPACE.replaceAll('-', ''), 'hex');
  const hex = createHash('sha1').update(namespace).update(text, 'utf8').digest('hex');
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${r.name}:${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

const KEYS = ['a', 'b', 'userid', 'group_size', 'ratings_goal', 'specific_goal', 'Z', '', '0', '1', '10', '9', '01', '-1', '1.5',
  '4294967295', '__proto__', 'toJSON', 'constructor', 'é', 'a"b', 'x\\y', '\n', '\ud800', '😀', 'aa', 'a0'];
const STRINGS = ['', 'x', 'u123', 'a"b', 'back\\slash', '\u0000\u001f', '\ud800', '\udc00x', '😀', 'é', '</script>', '\u2028'];
const NUMBERS = [0, -0, 1, -1, 0.1, 1e21, 1e-7, 123456789012, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, NaN, Infinity, -Infinity, 5e-324];

function pick<T>(r: () => number, items: readonly T[]): T {
  return items[Math.floor(r() * items.length)]!;
}

function primitive(r: () => number): unknown {
  switch (Math.floor(r() * 9)) {
    case 0:
    case 1:
      return pick(r, STRINGS);
    case 2:
    case 3:
      return pick(r, NUMBERS);
    case 4:
      return r() < 0.5;
    case 5:
      return null;
    case 6:
      return undefined;
    case 7:
      return BigInt(Math.floor(r() * 1e6)) * 10n ** 20n;
    default:
      return Math.floor(r() * 100);
  }
}

function object(r: () => number, depth: number, flatBias: boolean): Record<string, unknown> {
  const obj: Record<string, unknown> = {};
  const n = Math.floor(r() * 6);
  for (let i = 0; i < n; i++) {
    const key = r() < 0.7 ? pick(r, KEYS.slice(0, 7)) : pick(r, KEYS);
    // defineProperty, so `__proto__` becomes an own key rather than the prototype.
    Object.defineProperty(obj, key, { value: value(r, depth + 1, flatBias), enumerable: true, writable: true, configurable: true });
  }
  return obj;
}

function value(r: () => number, depth: number, flatBias: boolean): unknown {
  const x = r();
  if (depth > 3 || x < (flatBias ? 0.85 : 0.5)) return primitive(r);
  if (x < 0.93) return object(r, depth, flatBias);
  if (x < 0.96) return Array.from({ length: Math.floor(r() * 4) }, () => value(r, depth + 1, flatBias));
  return pick(r, [new Date(0), new String('s'), new Number(1), () => 1, Symbol('s'), new Map([[1, 2]]), Object.create(null)]);
}

describe('stableStringify', () => {
  it('sorts keys and marks bigints', () => {
    expect(stableStringify({ b: 1, a: [2n, null, 'x'] })).toBe('{"a":["2n",null,"x"],"b":1}');
    expect(stableStringify({ group_size: 10, specific_goal: 1, ratings_goal: 8 })).toBe(
      '{"group_size":10,"ratings_goal":8,"specific_goal":1}',
    );
    expect(stableStringify({ 10: 'a', 9: 'b', x: NaN, y: undefined })).toBe('{"10":"a","9":"b","x":"NaN","y":null}');
  });

  it('gives the same text as before the fast path, on random flat and nested values', () => {
    for (let seed = 1; seed <= 20_000; seed++) {
      const r = seededRandom(seed);
      const v = seed % 2 === 0 ? object(r, 0, true) : value(r, 0, seed % 3 === 0);
      const expected = reference(v);
      const actual = stableStringify(v);
      if (actual !== expected) throw new Error(`seed ${seed}: ${actual} !== ${expected}`);
    }
  });

  it('gives the reference text for key lists that repeat, share a first key, exceed the remembered shapes or have many keys', () => {
    const r = seededRandom(7);
    for (let round = 0; round < 3; round++) {
      // 3 × 1500 distinct lists, all starting with "k": more than the memo keeps, in every order.
      for (let i = 0; i < 1500; i++) {
        const keys = ['k', `x${i}`, `a${i % 7}`, ...(i % 3 === 0 ? ['z'] : [])];
        if (round === 1) keys.reverse();
        const obj = Object.fromEntries(keys.map((key) => [key, pick(r, NUMBERS)]));
        expect(stableStringify(obj)).toBe(reference(obj));
      }
    }
    const wide = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`key${(i * 17) % 40}`, i]));
    expect(stableStringify(wide)).toBe(reference(wide));
    expect(stableStringify({ ...wide, extra: 1 })).toBe(reference({ ...wide, extra: 1 }));
  });

  it('reads each value once, like the slow path', () => {
    let reads = 0;
    const obj = { b: 1 };
    Object.defineProperty(obj, 'a', { get: () => ++reads, enumerable: true });
    expect(stableStringify(obj)).toBe('{"a":1,"b":1}');
    expect(reads).toBe(1);
  });

  it('ignores toJSON and prototypes, like the slow path', () => {
    const withToJSON = { a: 1, toJSON: () => 'x' };
    expect(stableStringify(withToJSON)).toBe(reference(withToJSON));
    class Point {
      constructor(readonly y: number, readonly x: number) {}
      toJSON(): string {
        return 'point';
      }
    }
    expect(stableStringify(new Point(2, 1))).toBe('{"x":1,"y":2}');
    expect(stableStringify(new Date(0))).toBe('{}');
  });
});

describe('exposureDedupeKey', () => {
  const base: PlanoutLogRecord = {
    name: 'Exp1',
    salt: 'Exp1',
    inputs: { userid: 'u' },
    params: { group_size: 10, specific_goal: 1, ratings_goal: 8 },
    event: 'exposure',
    time: 1,
    checksum: 'abcd1234',
  };

  it('is the same key as before the fast path, for random records', () => {
    for (let seed = 1; seed <= 10_000; seed++) {
      const r = seededRandom(seed);
      const record: PlanoutLogRecord = {
        ...base,
        name: pick(r, ['Exp1', 'exp"2']),
        salt: pick(r, ['Exp1', 's"alt', '']),
        checksum: pick(r, ['abcd1234', undefined]),
        inputs: object(r, 0, seed % 2 === 0),
        params: object(r, 0, seed % 3 !== 0),
      };
      const expected = referenceKey(record);
      const actual = exposureDedupeKey(record);
      if (actual !== expected) throw new Error(`seed ${seed}: ${actual} !== ${expected}`);
    }
  });

  it('matches a pinned key, so shared caches stay valid', () => {
    expect(exposureDedupeKey(base)).toBe(referenceKey(base));
    // uuid.uuid5(UUID('de39f304-…'), 'Exp1\nexposure\n["Exp1","abcd1234",{"userid":"u"},{…}]') in Python.
    expect(exposureDedupeKey(base)).toBe('Exp1:70503147-3350-54e0-859a-7ed2614a40d9');
  });

  it('handles odd salts, checksums and non-object inputs like the slow path', () => {
    const odd = [
      { ...base, checksum: undefined },
      { ...base, salt: 5 as unknown as string },
      { ...base, inputs: [1, 2] as unknown as Record<string, unknown> },
      { ...base, params: null as unknown as Record<string, unknown> },
      { ...base, params: { nested: { b: 2, a: 1n } } },
    ];
    for (const record of odd) expect(exposureDedupeKey(record)).toBe(referenceKey(record));
  });
});
