import { readFileSync, readdirSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { expect } from '@jest/globals';
import { parsePlanoutJson } from '../../src/core/json.js';
import { PyFloat, isPlainObject, type PlanoutObject, type PlanoutValue } from '../../src/core/values.js';

/** The vector folder: `PLANOUT_VECTORS_DIR`, default `../shared/planout-vectors` (from the project root). */
export const VECTORS_DIR = (() => {
  const dir = process.env.PLANOUT_VECTORS_DIR ?? '../shared/planout-vectors';
  return isAbsolute(dir) ? dir : resolve(process.cwd(), dir);
})();

export function vectorFiles(): string[] {
  return readdirSync(VECTORS_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort();
}

/**
 * Cases of one vector file (in `dir`, the vector folder by default), parsed keeping
 * Python's int/float distinction; [] when absent.
 */
export function loadCases<T = PlanoutObject>(file: string, dir = VECTORS_DIR): T[] {
  if (!readdirSync(dir).includes(file)) return [];
  const doc = parsePlanoutJson(readFileSync(join(dir, file), 'utf8')) as PlanoutObject;
  return (doc.cases ?? []) as unknown as T[];
}

let executed = 0;
/** Counts executed cases so the run can report how many it checked. */
export function countCase(): void {
  executed++;
}
export function executedCases(): number {
  return executed;
}

function ulpDistance(a: number, b: number): number {
  const buf = new DataView(new ArrayBuffer(16));
  buf.setFloat64(0, a);
  buf.setFloat64(8, b);
  const x = buf.getBigInt64(0);
  const y = buf.getBigInt64(8);
  const ox = x < 0n ? -(x & 0x7fffffffffffffffn) : x;
  const oy = y < 0n ? -(y & 0x7fffffffffffffffn) : y;
  const d = ox - oy;
  return Number(d < 0n ? -d : d);
}

/**
 * Structural comparison per the vectors README §1.3: numbers by value (bigints exactly),
 * floats bit-identical unless `ulps` allows a tolerance, key order ignored.
 */
export function sameValue(actual: unknown, expected: unknown, ulps = 0): boolean {
  if (expected instanceof PyFloat) expected = expected.value;
  if (actual instanceof PyFloat) actual = actual.value;
  if (typeof expected === 'boolean' || typeof actual === 'boolean') {
    return actual === expected;
  }
  if (typeof expected === 'bigint' || typeof actual === 'bigint') {
    return (typeof actual === 'bigint' || typeof actual === 'number') &&
      (typeof expected === 'bigint' || typeof expected === 'number') &&
      Number.isInteger(Number(actual)) && BigInt(actual) === BigInt(expected);
  }
  if (typeof expected === 'number') {
    if (typeof actual !== 'number') return false;
    if (Object.is(actual, expected) || actual === expected) return true;
    return ulps > 0 && ulpDistance(actual, expected) <= ulps;
  }
  if (expected === null || expected === undefined) return actual === null || actual === undefined;
  if (Array.isArray(expected)) {
    return Array.isArray(actual) && actual.length === expected.length && expected.every((e, i) => sameValue(actual[i], e, ulps));
  }
  if (isPlainObject(expected)) {
    if (!isPlainObject(actual)) return false;
    const keys = Object.keys(expected);
    if (keys.length !== Object.keys(actual).length) return false;
    return keys.every((k) => Object.prototype.hasOwnProperty.call(actual, k) && sameValue(actual[k], expected[k], ulps));
  }
  return actual === expected;
}

const show = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x instanceof PyFloat ? x.value : x));

/** Asserts with a readable diff. */
export function expectSame(actual: unknown, expected: unknown, what: string, ulps = 0): void {
  if (!sameValue(actual, expected, ulps)) {
    expect(`${what}: ${show(actual)}`).toBe(`${what}: ${show(expected)}`);
  }
}

export type { PlanoutValue };
