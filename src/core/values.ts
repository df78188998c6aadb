/**
 * Python value semantics on JavaScript values.
 *
 * The reference hashes units through Python's `str()`, so `1` and `1.0` hash
 * differently. JavaScript numbers cannot tell them apart, so:
 *  - a `number` with an integral value is a Python int, any other `number`
 *    (fractional, infinite, NaN) is a Python float;
 *  - a {@link PyFloat} is a float whose value happens to be integral (`2.0`);
 *  - a `bigint` is an int beyond 2^53.
 */

/** A Python float with an integral value, such as `2.0` produced by `6 / 3`. */
export class PyFloat {
  constructor(readonly value: number) {}

  valueOf(): number {
    return this.value;
  }

  toJSON(): number {
    return this.value;
  }

  toString(): string {
    return floatRepr(this.value);
  }
}

/** Any value a PlanOut script or a unit can hold. */
export type PlanoutValue =
  | null
  | undefined
  | boolean
  | number
  | bigint
  | string
  | PyFloat
  | PlanoutValue[]
  | { [key: string]: PlanoutValue };

export type PlanoutObject = { [key: string]: PlanoutValue };

/** Wraps a JS number as a Python float, boxing it only when it is integral. */
export function toPyFloat(n: number): number | PyFloat {
  return Number.isInteger(n) || Object.is(n, -0) ? new PyFloat(n) : n;
}

export function isPyFloat(v: unknown): boolean {
  return v instanceof PyFloat || (typeof v === 'number' && !Number.isInteger(v));
}

export function isPyInt(v: unknown): v is number | bigint {
  return typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v));
}

/** Numbers, booleans (Python bools are ints) and PyFloats. */
export function isPyNumber(v: unknown): v is number | bigint | boolean | PyFloat {
  return typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean' || v instanceof PyFloat;
}

/** The numeric value as a double (booleans count as 0/1). */
export function toNumber(v: number | bigint | boolean | PyFloat): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'bigint') return Number(v);
  return v.value;
}

/** Narrows a bigint back to a number when it is safely representable. */
export function normalizeInt(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

export function isPlainObject(v: unknown): v is PlanoutObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof PyFloat);
}

/**
 * Sets an own property even for keys such as `__proto__`, so input objects can never
 * reach a prototype.
 */
export function setOwn<T>(target: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

export function hasOwn(target: object, key: string): boolean {
  return Object.hasOwn(target, key);
}

/** Python's `repr(float)`: shortest round-trip digits, `1.0`, `1e-05`, `1e+16`. */
export function floatRepr(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (n === Infinity) return 'inf';
  if (n === -Infinity) return '-inf';
  if (n === 0) return Object.is(n, -0) ? '-0.0' : '0.0';
  const sign = n < 0 ? '-' : '';
  // toExponential() without an argument yields the shortest round-trip digits, as repr does.
  const [mantissa, expText] = Math.abs(n).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const exp = Number(expText);
  if (exp >= -4 && exp < 16) {
    let text: string;
    if (exp < 0) {
      text = '0.' + '0'.repeat(-exp - 1) + digits;
    } else if (digits.length > exp + 1) {
      text = digits.slice(0, exp + 1) + '.' + digits.slice(exp + 1);
    } else {
      text = digits + '0'.repeat(exp + 1 - digits.length) + '.0';
    }
    return sign + text;
  }
  const frac = digits.length > 1 ? '.' + digits.slice(1) : '';
  const expAbs = Math.abs(exp);
  return `${sign}${digits[0]}${frac}e${exp < 0 ? '-' : '+'}${expAbs < 10 ? '0' : ''}${expAbs}`;
}

/** Python's `repr(str)`. */
export function stringRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += '\\' + quote;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += '\\x' + code.toString(16).padStart(2, '0');
    else out += ch;
  }
  return out + quote;
}

/** Python's `str()` of a value, which is how units reach the hash. */
export function pyStr(v: unknown): string {
  return typeof v === 'string' ? v : pyRepr(v);
}

/** Objects with a method under this key supply their own Python `repr` (e.g. tuples). */
export const PY_REPR: unique symbol = Symbol.for('nestjs-planout.pyRepr');

/** Python's `repr()` of a value. */
export function pyRepr(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return stringRepr(v);
    case 'number':
      return Number.isInteger(v) && !Object.is(v, -0) ? intText(v) : floatRepr(v);
    case 'bigint':
      return v.toString();
    case 'boolean':
      return v ? 'True' : 'False';
    case 'undefined':
      return 'None';
    case 'object':
      if (v === null) return 'None';
      if (v instanceof PyFloat) return floatRepr(v.value);
      if (Array.isArray(v)) return '[' + v.map(pyRepr).join(', ') + ']';
      if (PY_REPR in v) return (v as { [PY_REPR](): string })[PY_REPR]();
      return (
        '{' +
        Object.keys(v)
          .map((k) => `${stringRepr(k)}: ${pyRepr((v as Record<string, unknown>)[k])}`)
          .join(', ') +
        '}'
      );
    default:
      return String(v);
  }
}

/** Decimal digits of an integral double, exact even beyond 2^53 (`1e21` is an int here). */
function intText(n: number): string {
  return Number.isSafeInteger(n) ? String(n) : BigInt(n).toString();
}

/** Python truthiness. */
export function truthy(v: unknown): boolean {
  if (v === null || v === undefined || v === false) return false;
  if (typeof v === 'number') return v !== 0; // NaN is truthy in Python too
  if (typeof v === 'bigint') return v !== 0n;
  if (typeof v === 'string') return v.length > 0;
  if (v instanceof PyFloat) return v.value !== 0;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return Boolean(v);
}

/** Python `==`: `1 == 1.0 == True`, deep equality of lists and dicts, `"1" != 1`. */
export function pyEquals(a: unknown, b: unknown): boolean {
  if (a === undefined) a = null;
  if (b === undefined) b = null;
  if (isPyNumber(a) && isPyNumber(b)) return compareNumbers(a, b) === 0;
  if (a === null || b === null) return a === b;
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => pyEquals(x, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => hasOwn(b, k) && pyEquals(a[k], b[k]));
  }
  return false;
}

/** Three-way comparison of Python numbers, exact for bigints. NaN compares as unordered (NaN). */
export function compareNumbers(a: number | bigint | boolean | PyFloat, b: number | bigint | boolean | PyFloat): number {
  if (typeof a === 'bigint' || typeof b === 'bigint') {
    const x = toNumber(a);
    const y = toNumber(b);
    // Exact integer comparison when both are integral; doubles otherwise.
    if (Number.isInteger(x) && Number.isInteger(y)) {
      const bx = typeof a === 'bigint' ? a : BigInt(x);
      const by = typeof b === 'bigint' ? b : BigInt(y);
      return bx < by ? -1 : bx > by ? 1 : 0;
    }
    return x < y ? -1 : x > y ? 1 : x === y ? 0 : NaN;
  }
  const x = toNumber(a);
  const y = toNumber(b);
  return x < y ? -1 : x > y ? 1 : x === y ? 0 : NaN;
}

/**
 * Python ordering (`<`): numbers with numbers, strings by code point, lists
 * lexicographically. Anything else raises in Python, so it throws here.
 */
export function pyCompare(a: unknown, b: unknown): number {
  if (isPyNumber(a) && isPyNumber(b)) return compareNumbers(a, b);
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      if (!pyEquals(a[i], b[i])) return pyCompare(a[i], b[i]);
    }
    return a.length - b.length;
  }
  throw new TypeError(`'<' not supported between ${pyTypeName(a)} and ${pyTypeName(b)}`);
}

export function pyTypeName(v: unknown): string {
  if (v === null || v === undefined) return 'NoneType';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'string') return 'str';
  if (typeof v === 'bigint') return 'int';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (v instanceof PyFloat) return 'float';
  if (Array.isArray(v)) return 'list';
  return 'dict';
}

/**
 * Replaces PyFloat boxes by plain numbers, deeply, for values handed to users.
 * Bigints stay bigints (they cannot be represented exactly otherwise).
 */
export function toPlain(v: unknown): unknown {
  if (v instanceof PyFloat) return v.value;
  if (Array.isArray(v)) return v.map(toPlain);
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) setOwn(out, k, toPlain(v[k]));
    return out;
  }
  return v;
}

/** A deep copy of a JSON-like value (keeps PyFloat boxes and bigints). */
export function deepCopy<T>(v: T): T {
  if (Array.isArray(v)) return v.map(deepCopy) as T;
  if (isPlainObject(v)) {
    const out: PlanoutObject = {};
    for (const k of Object.keys(v)) setOwn(out, k, deepCopy(v[k]));
    return out as T;
  }
  return v;
}
