import { PlanoutError } from './errors.js';
import { PyFloat, setOwn, type PlanoutValue, type PlanoutObject, floatRepr, isPlainObject } from './values.js';

/** A JSON number; groups: fraction, exponent. */
const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;

/**
 * Parses JSON keeping Python's int/float distinction, which `JSON.parse` loses:
 * `2.0` becomes a {@link PyFloat}, integers beyond 2^53 become `bigint`, exact at any
 * length as in Python's `json` (floats beyond the double range become infinities, as
 * there). Keys such as `__proto__` become own properties.
 */
export function parsePlanoutJson(text: string): PlanoutValue {
  let pos = 0;

  const fail = (what: string): never => {
    throw new PlanoutError(`Invalid JSON at position ${pos}: ${what}`);
  };
  const skipWs = (): void => {
    while (pos < text.length) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++;
      else break;
    }
  };

  const parseString = (): string => {
    // Let JSON.parse decode the escapes of this one string literal.
    const start = pos;
    pos++;
    while (pos < text.length) {
      const c = text[pos];
      if (c === '\\') pos += 2;
      else if (c === '"') {
        pos++;
        return JSON.parse(text.slice(start, pos)) as string;
      } else pos++;
    }
    return fail('unterminated string');
  };

  const parseNumber = (): number | bigint | PyFloat => {
    // Sticky: matched in place, so a long number costs its length, never the text's.
    NUMBER.lastIndex = pos;
    const match = NUMBER.exec(text);
    if (!match) return fail('expected a value');
    pos += match[0].length;
    if (match[1] !== undefined || match[2] !== undefined) {
      const n = Number(match[0]);
      return Number.isInteger(n) ? new PyFloat(n) : n;
    }
    // Python's int: exact at any length (`-0` is the int 0).
    const n = Number(match[0]);
    if (Number.isSafeInteger(n)) return n === 0 ? 0 : n;
    return BigInt(match[0]);
  };

  const parseValue = (depth: number): PlanoutValue => {
    if (depth > 1000) fail('nesting too deep');
    skipWs();
    const c = text[pos];
    if (c === '{') {
      pos++;
      const obj: PlanoutObject = {};
      skipWs();
      if (text[pos] === '}') {
        pos++;
        return obj;
      }
      for (;;) {
        skipWs();
        if (text[pos] !== '"') fail('expected a key');
        const key = parseString();
        skipWs();
        if (text[pos++] !== ':') fail("expected ':'");
        setOwn(obj, key, parseValue(depth + 1));
        skipWs();
        const sep = text[pos++];
        if (sep === '}') return obj;
        if (sep !== ',') fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      pos++;
      const arr: PlanoutValue[] = [];
      skipWs();
      if (text[pos] === ']') {
        pos++;
        return arr;
      }
      for (;;) {
        arr.push(parseValue(depth + 1));
        skipWs();
        const sep = text[pos++];
        if (sep === ']') return arr;
        if (sep !== ',') fail("expected ',' or ']'");
      }
    }
    if (c === '"') return parseString();
    if (text.startsWith('true', pos)) {
      pos += 4;
      return true;
    }
    if (text.startsWith('false', pos)) {
      pos += 5;
      return false;
    }
    if (text.startsWith('null', pos)) {
      pos += 4;
      return null;
    }
    // Python's json module also reads these.
    if (text.startsWith('NaN', pos)) {
      pos += 3;
      return NaN;
    }
    if (text.startsWith('Infinity', pos)) {
      pos += 8;
      return Infinity;
    }
    if (text.startsWith('-Infinity', pos)) {
      pos += 9;
      return -Infinity;
    }
    return parseNumber();
  };

  const value = parseValue(0);
  skipWs();
  if (pos !== text.length) fail('trailing characters');
  return value;
}

/**
 * Serializes a value as JSON the way Python's `json.dumps` would for PlanOut values:
 * floats keep a fractional part (`2.0`), bigints are written exactly. `separators`
 * defaults to Python's `(', ', ': ')`, which the reference checksum depends on.
 */
export function stringifyPlanoutJson(v: unknown, separators: [string, string] = [', ', ': ']): string {
  const [itemSep, keySep] = separators;
  const write = (x: unknown): string => {
    if (x === null || x === undefined) return 'null';
    switch (typeof x) {
      case 'string':
        return pythonJsonString(x);
      case 'boolean':
        return x ? 'true' : 'false';
      case 'bigint':
        return x.toString();
      case 'number':
        if (Number.isNaN(x)) return 'NaN';
        if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
        return Number.isInteger(x) && !Object.is(x, -0) ? String(Number.isSafeInteger(x) ? x : BigInt(x)) : floatRepr(x);
      case 'object':
        if (x instanceof PyFloat) return floatRepr(x.value);
        if (Array.isArray(x)) return '[' + x.map(write).join(itemSep) + ']';
        if (isPlainObject(x)) {
          return '{' + Object.keys(x).map((k) => pythonJsonString(k) + keySep + write(x[k])).join(itemSep) + '}';
        }
        return write(String(x));
      default:
        return 'null';
    }
  };
  return write(v);
}

/** `json.dumps` escapes every non-ASCII character (ensure_ascii=True). */
function pythonJsonString(s: string): string {
  return JSON.stringify(s).replace(/[\u0080-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}
