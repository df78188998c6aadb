import type { PlanoutLogRecord } from '../core/log-record.js';

/** JSON with sorted object keys and bigints as `123n`, so equal values give equal text. */
export function stableStringify(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : JSON.stringify(String(value));
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return `"${value}n"`;
    case 'object': {
      if (Array.isArray(value)) return '[' + value.map(stableStringify).join(',') + ']';
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj);
      if (keys.length === 0) return '{}';
      const shape = keys.length > MAX_SHAPE_KEYS ? shapeFor(keys) : shapeOf(keys);
      let out = '';
      for (let i = 0; i < shape.sorted.length; i++) out += shape.prefixes[i]! + stableStringify(obj[shape.sorted[i]!]);
      return out + '}';
    }
    default:
      return JSON.stringify(String(value));
  }
}

/**
 * The sorted keys of one key list (in insertion order) and their text (`{"a":`, `,"b":`):
 * records of one experiment repeat the same few lists, and sorting and quoting them again
 * cost more than the values' text (≈ 40 % of an exposure's assignment text).
 */
interface ObjectShape {
  readonly keys: readonly string[];
  readonly sorted: readonly string[];
  readonly prefixes: readonly string[];
}

/** Objects with more keys are sorted each time (their lists rarely repeat). */
const MAX_SHAPE_KEYS = 16;
/** Bound on remembered shapes: past it the memo starts over (objects whose keys are data). */
const MAX_SHAPES = 1024;
/** Shapes by first key. */
const shapes = new Map<string, ObjectShape[]>();
let shapeCount = 0;

function shapeOf(keys: string[]): ObjectShape {
  let candidates = shapes.get(keys[0]!);
  if (candidates !== undefined) {
    for (let s = 0; s < candidates.length; s++) {
      const shape = candidates[s]!;
      if (sameKeys(shape.keys, keys)) return shape;
    }
  }
  if (shapeCount >= MAX_SHAPES) {
    shapes.clear();
    shapeCount = 0;
    candidates = undefined;
  }
  const shape = shapeFor(keys);
  if (candidates === undefined) shapes.set(keys[0]!, [shape]);
  else candidates.push(shape);
  shapeCount++;
  return shape;
}

/** The shape of `keys`, built now (not remembered). */
function shapeFor(keys: string[]): ObjectShape {
  const sorted = keys.slice();
  sortKeys(sorted);
  return { keys, sorted, prefixes: sorted.map((key, i) => (i ? ',' : '{') + quote(key) + ':') };
}

/** Same keys in the same order (the first is equal by the lookup). */
function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 1; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** What `JSON.stringify` escapes: quote, backslash, control characters, (lone) surrogates. */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** `JSON.stringify(text)`, without the native call when nothing needs escaping (ids, keys). */
function quote(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : '"' + text + '"';
}

/**
 * Sorts like `keys.sort()` (UTF-16 code unit order; keys are distinct, so stability does
 * not matter), by insertion for the few keys of inputs and params: the default sort's
 * comparator costs more than the whole sort of three keys.
 */
function sortKeys(keys: string[]): void {
  const n = keys.length;
  if (n < 2) return;
  if (n > 16) {
    keys.sort();
    return;
  }
  for (let i = 1; i < n; i++) {
    const key = keys[i]!;
    let j = i - 1;
    while (j >= 0 && keys[j]! > key) {
      keys[j + 1] = keys[j]!;
      j--;
    }
    keys[j + 1] = key;
  }
}

/**
 * The canonical text of what `record` was assigned: `stableStringify([salt, checksum,
 * inputs, params])`, built without the array: what an exposure's record id (and so its
 * dedupe key) hashes.
 */
export function assignmentText(record: PlanoutLogRecord): string {
  return assignmentHead(record.salt, record.checksum) + stableStringify(record.inputs) + ',' + stableStringify(record.params) + ']';
}

/** The last head built: an experiment's records repeat the same salt and checksum. */
let lastHead: { salt: string; checksum: string | undefined; text: string } | undefined;

/** `[salt,checksum,`: the start of {@link assignmentText}, remembered for the last string salt and checksum. */
function assignmentHead(salt: unknown, checksum: unknown): string {
  const last = lastHead;
  if (last !== undefined && salt === last.salt && checksum === last.checksum) return last.text;
  const text = '[' + stableStringify(salt) + ',' + stableStringify(checksum ?? null) + ',';
  if (typeof salt === 'string' && (typeof checksum === 'string' || checksum === undefined)) lastHead = { salt, checksum, text };
  return text;
}
