import type { EvaluationMeter } from '../budget.js';
import { PlanoutArgumentError, type PlanoutError, type PlanoutErrorContext } from '../errors.js';
import {
  PyFloat,
  deepCopy,
  hasOwn,
  isPlainObject,
  isPyNumber,
  normalizeInt,
  pyCompare,
  pyEquals,
  pyTypeName,
  setOwn,
  toPyFloat,
  truthy,
  type PlanoutObject,
  type PlanoutValue,
} from '../values.js';
import { RANDOM_OPERATORS, type RandomContext, type RandomOperatorLike } from './random.js';

/** A PlanoutError subclass, for {@link OperatorContext.fail}. */
export type PlanoutErrorClass = new (message: string, context?: PlanoutErrorContext) => PlanoutError;

/**
 * What an operator sees of the running script: the reference's `mapper`. Random
 * operators hash with its `experimentSalt` and `saltSep`.
 */
export interface OperatorContext extends RandomContext {
  /** Runs a node: operators execute, arrays evaluate element-wise, anything else is a literal. */
  evaluate(node: unknown): PlanoutValue;
  /** Evaluates every key of an operator node, in key order, into a new object (the reference's simple operators). */
  evaluateArgs(node: PlanoutObject): PlanoutObject;
  /** The `get` operator: a param (even `None`), else an input, else `None`. */
  lookup(name: string): PlanoutValue;
  /** Stores a param (`experiment_salt` and `salt_sep` are kept out of band, Q8). */
  assign(name: string, value: PlanoutValue): void;
  isOverridden(name: string): boolean;
  /** `set experiment_salt = ...` hashes later draws with the raw, unevaluated value (Q8). */
  setExperimentSalt(raw: PlanoutValue): void;
  /**
   * `set` gives `valueNode` the default salt `varName`; true when it may write it into the
   * script itself (as the reference does), false to salt a copy.
   */
  defaultSalt(valueNode: PlanoutObject, varName: string): boolean;
  /** The parameter being set, named in error messages. */
  currentParam: string | undefined;
  /**
   * Whether the host lets `operator` draw (its assignment's `drawFilter`); when it does not,
   * the script stops out of the experiment before anything is hashed. Absent: always.
   */
  mayDraw?(operator: RandomOperatorLike): boolean;
  /** Ends the script (`return`); `inExperiment` becomes the given truth. */
  stop(inExperiment: boolean): never;
  /** Throws a PlanoutError naming the experiment and the current parameter. */
  fail(message: string, kind?: PlanoutErrorClass): never;
  /**
   * The assignment's evaluation budget. Operators charge work beyond a constant
   * (per element, per draw) before doing it; running an operator already costs one.
   */
  readonly meter: EvaluationMeter;
}

/** An operator: gets its own (unevaluated) node, returns a value. */
export type OperatorFn = (node: PlanoutObject, context: OperatorContext) => PlanoutValue;

/** Longest string or list a `product` may build (the reference would just run out of memory). */
const MAX_REPEAT = 10_000_000;

/** Builds an operator that first evaluates all its arguments, like the reference's PlanOutOpSimple. */
export function simpleOperator(run: (args: PlanoutObject, context: OperatorContext) => PlanoutValue): OperatorFn {
  return (node, context) => run(context.evaluateArgs(node), context);
}

/** Adapts a random operator class: arguments are evaluated, then the draw runs in the script's context. */
export function randomOperator(RandomClass: new (args: never) => RandomOperatorLike): OperatorFn {
  return (node, context) => {
    const operator = new RandomClass(context.evaluateArgs(node) as never);
    if (context.mayDraw !== undefined && !context.mayDraw(operator)) context.stop(false);
    return operator.execute(context) as PlanoutValue;
  };
}

// ---------------------------------------------------------------------------------------------
// Argument access. Missing keys and wrong shapes are script errors, as the reference's asserts.

function opName(node: PlanoutObject): string {
  return typeof node.op === 'string' ? node.op : '?';
}

function arg(node: PlanoutObject, name: string, ctx: OperatorContext): PlanoutValue {
  if (!hasOwn(node, name)) ctx.fail(`${opName(node)}: missing argument "${name}"`);
  return node[name];
}

function listArg(node: PlanoutObject, name: string, ctx: OperatorContext): PlanoutValue[] {
  const value = arg(node, name, ctx);
  if (!Array.isArray(value)) ctx.fail(`${opName(node)}: ${name} must be a list, got ${pyTypeName(value)}`);
  return value;
}

function stringArg(node: PlanoutObject, name: string, ctx: OperatorContext): string {
  const value = arg(node, name, ctx);
  if (typeof value !== 'string') ctx.fail(`${opName(node)}: ${name} must be a string, got ${pyTypeName(value)}`);
  return value;
}

function isOperatorNode(value: unknown): value is PlanoutObject {
  return isPlainObject(value) && hasOwn(value, 'op');
}

// ---------------------------------------------------------------------------------------------
// Python numbers. Results that are ints never become -0 (which the value model reads as a float).

type PyNum = number | bigint | boolean | PyFloat;

function isFloat(v: PyNum): boolean {
  return typeof v === 'number' ? !Number.isInteger(v) || Object.is(v, -0) : v instanceof PyFloat;
}

function intOf(v: number | bigint | boolean): number | bigint {
  return typeof v === 'boolean' ? (v ? 1 : 0) : v;
}

/** Python `float(x)` of a number; huge ints overflow as in the reference. */
function floatOf(v: PyNum, ctx: OperatorContext): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v instanceof PyFloat) return v.value;
  const n = Number(v);
  if (!Number.isFinite(n)) ctx.fail('int too large to convert to float', PlanoutArgumentError);
  return n;
}

function intResult(n: number): number {
  return n === 0 ? 0 : n;
}

function addInt(a: number | bigint, b: number | bigint): number | bigint {
  if (typeof a === 'number' && typeof b === 'number') {
    const r = a + b;
    if (Number.isSafeInteger(r)) return intResult(r);
  }
  return normalizeInt(BigInt(a) + BigInt(b));
}

function mulInt(a: number | bigint, b: number | bigint): number | bigint {
  if (typeof a === 'number' && typeof b === 'number') {
    const r = a * b;
    if (Number.isSafeInteger(r)) return intResult(r);
  }
  return normalizeInt(BigInt(a) * BigInt(b));
}

function typeError(op: string, a: unknown, b: unknown, ctx: OperatorContext): never {
  return ctx.fail(`unsupported operand type(s) for ${op}: '${pyTypeName(a)}' and '${pyTypeName(b)}'`, PlanoutArgumentError);
}

function pyAdd(a: PlanoutValue, b: PlanoutValue, ctx: OperatorContext): PlanoutValue {
  if (!isPyNumber(a) || !isPyNumber(b)) typeError('+', a, b, ctx);
  if (isFloat(a) || isFloat(b)) return toPyFloat(floatOf(a, ctx) + floatOf(b, ctx));
  return addInt(intOf(a as number | bigint | boolean), intOf(b as number | bigint | boolean));
}

/** Python `seq * n` for a str or list. */
function repeat(seq: string | PlanoutValue[], times: number | bigint | boolean, ctx: OperatorContext): PlanoutValue {
  const n = Number(intOf(times));
  if (n <= 0 || seq.length === 0) return typeof seq === 'string' ? '' : [];
  ctx.meter.spend(0, seq.length * n);
  if (seq.length * n > MAX_REPEAT) ctx.fail(`product: result too large (${seq.length} x ${n})`, PlanoutArgumentError);
  if (typeof seq === 'string') return seq.repeat(n);
  const out: PlanoutValue[] = new Array(seq.length * n);
  let k = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < seq.length; j++) out[k++] = seq[j];
  return out;
}

function isIntLike(v: unknown): v is number | bigint | boolean {
  return typeof v === 'boolean' || typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v) && !Object.is(v, -0));
}

/** 64-bit words of an int (an upper bound), for charging big multiplications. */
function intWords(v: number | bigint): number {
  return typeof v === 'number' ? 1 : Math.ceil(v.toString(16).length / 16);
}

function pyMul(a: PlanoutValue, b: PlanoutValue, ctx: OperatorContext): PlanoutValue {
  if (isPyNumber(a) && isPyNumber(b)) {
    if (isFloat(a) || isFloat(b)) return toPyFloat(floatOf(a, ctx) * floatOf(b, ctx));
    if (typeof a === 'bigint' || typeof b === 'bigint') {
      // Repeated squaring doubles an int's size each time: charge the words of the result.
      const words = intWords(intOf(a as number | bigint | boolean)) + intWords(intOf(b as number | bigint | boolean));
      ctx.meter.spend(words, words);
    }
    return mulInt(intOf(a as number | bigint | boolean), intOf(b as number | bigint | boolean));
  }
  if ((typeof a === 'string' || Array.isArray(a)) && isIntLike(b)) return repeat(a, b, ctx);
  if ((typeof b === 'string' || Array.isArray(b)) && isIntLike(a)) return repeat(b, a, ctx);
  return typeError('*', a, b, ctx);
}

/** Python `%`: the result takes the sign of the divisor. */
function pyMod(a: PlanoutValue, b: PlanoutValue, ctx: OperatorContext): PlanoutValue {
  if (typeof a === 'string') ctx.fail('%: string formatting is not supported', PlanoutArgumentError);
  if (!isPyNumber(a) || !isPyNumber(b)) typeError('%', a, b, ctx);
  if (isFloat(a) || isFloat(b)) {
    const x = floatOf(a, ctx);
    const y = floatOf(b, ctx);
    if (y === 0) ctx.fail('float modulo by zero', PlanoutArgumentError);
    let m = x % y;
    // C's `if (mod)` is true for NaN too, unlike JavaScript's truthiness.
    if (m !== 0) {
      if (y < 0 !== m < 0) m += y;
    } else {
      m = y < 0 ? -0 : 0;
    }
    return toPyFloat(m);
  }
  const x = intOf(a as number | bigint | boolean);
  const y = intOf(b as number | bigint | boolean);
  if (y === 0 || y === 0n) ctx.fail('integer modulo by zero', PlanoutArgumentError);
  if (typeof x === 'number' && typeof y === 'number') {
    let m = x % y;
    if (m !== 0 && m < 0 !== y < 0) m += y;
    return intResult(m);
  }
  const bx = BigInt(x);
  const by = BigInt(y);
  let m = bx % by;
  if (m !== 0n && m < 0n !== by < 0n) m += by;
  return normalizeInt(m);
}

// `\d+(?:\.\d*)?`, not `\d+\.?\d*`: the latter backtracks quadratically on a long run of digits that fails to match.
const FLOAT_TEXT = /^[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?|inf|infinity|nan)$/i;

/** Python `float(x)`: numbers, and strings in Python's float syntax. */
function pyFloat(v: PlanoutValue, ctx: OperatorContext): number {
  if (isPyNumber(v)) return floatOf(v, ctx);
  if (typeof v === 'string') {
    ctx.meter.spend(v.length >>> 6);
    // Python strips whitespace and allows `_` between digits.
    const text = v.trim().replace(/(?<=\d)_(?=\d)/g, '');
    if (FLOAT_TEXT.test(text)) {
      const lower = text.toLowerCase().replace(/^\+/, '');
      if (lower.endsWith('nan')) return NaN;
      if (lower.endsWith('inf') || lower.endsWith('infinity')) return lower.startsWith('-') ? -Infinity : Infinity;
      return Number(text);
    }
    const shown = v.length > 200 ? `${JSON.stringify(v.slice(0, 200))}... (${v.length} characters)` : JSON.stringify(v);
    ctx.fail(`could not convert string to float: ${shown}`, PlanoutArgumentError);
  }
  return ctx.fail(`float() argument must be a string or a real number, not '${pyTypeName(v)}'`, PlanoutArgumentError);
}

/** A real number for `math` functions (no strings, unlike `float()`). */
function mathArg(name: string, v: PlanoutValue, ctx: OperatorContext): number {
  if (!isPyNumber(v)) ctx.fail(`${name}: must be real number, not ${pyTypeName(v)}`, PlanoutArgumentError);
  return floatOf(v, ctx);
}

/** Python 3 `round(x)`: half to even, an int. */
function pyRound(v: PlanoutValue, ctx: OperatorContext): PlanoutValue {
  if (!isPyNumber(v)) ctx.fail(`type ${pyTypeName(v)} doesn't define __round__ method`, PlanoutArgumentError);
  if (!isFloat(v)) return intOf(v as number | bigint | boolean);
  const x = floatOf(v, ctx);
  if (Number.isNaN(x)) ctx.fail('cannot convert float NaN to integer', PlanoutArgumentError);
  if (!Number.isFinite(x)) ctx.fail('cannot convert float infinity to integer', PlanoutArgumentError);
  const t = Math.trunc(x);
  const frac = Math.abs(x - t); // exact for doubles
  let r = t;
  if (frac > 0.5 || (frac === 0.5 && t % 2 !== 0)) r = t + Math.sign(x);
  return Number.isSafeInteger(r) ? intResult(r) : normalizeInt(BigInt(r));
}

function compare(node: PlanoutObject, ctx: OperatorContext): number {
  const args = ctx.evaluateArgs(node);
  const left = arg(args, 'left', ctx);
  const right = arg(args, 'right', ctx);
  spendComparing(left, right, ctx);
  try {
    return pyCompare(left, right);
  } catch (error) {
    if (error instanceof TypeError) {
      ctx.fail(`'${opName(node)}' not supported between instances of '${pyTypeName(left)}' and '${pyTypeName(right)}'`, PlanoutArgumentError);
    }
    throw error;
  }
}

/** Equality and ordering walk lists and dicts: charge their elements first. */
function spendComparing(left: PlanoutValue, right: PlanoutValue, ctx: OperatorContext): void {
  if (typeof left === 'object' && left !== null && typeof right === 'object' && right !== null) {
    ctx.meter.spendWalking(left);
    ctx.meter.spendWalking(right);
  }
}

/** Python `len`, counting code points in strings. */
function pyLen(v: PlanoutValue, ctx: OperatorContext): number {
  if (typeof v === 'string') {
    ctx.meter.spend(v.length >>> 6);
    let n = v.length;
    for (let i = 0; i < v.length; i++) {
      const c = v.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < v.length) {
        const d = v.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          n--;
          i++;
        }
      }
    }
    return n;
  }
  if (Array.isArray(v)) return v.length;
  if (isPlainObject(v)) return Object.keys(v).length;
  return ctx.fail(`object of type '${pyTypeName(v)}' has no len()`, PlanoutArgumentError);
}

/** `min`/`max`: the first of equal elements wins, as Python's. */
function extreme(node: PlanoutObject, ctx: OperatorContext, sign: 1 | -1): PlanoutValue {
  const values = listArg(ctx.evaluateArgs(node), 'values', ctx);
  if (values.length === 0) ctx.fail(`${opName(node)}() arg is an empty sequence`, PlanoutArgumentError);
  // Each comparison walks at most the element it compares: the whole list bounds them all.
  ctx.meter.spendWalking(values);
  let best = values[0];
  for (let i = 1; i < values.length; i++) {
    let c: number;
    try {
      c = pyCompare(values[i], best);
    } catch (error) {
      if (!(error instanceof TypeError)) throw error;
      const op = sign < 0 ? '<' : '>';
      return ctx.fail(`'${op}' not supported between instances of '${pyTypeName(values[i])}' and '${pyTypeName(best)}'`, PlanoutArgumentError);
    }
    if (c * sign > 0) best = values[i];
  }
  return best;
}

function unary(node: PlanoutObject, ctx: OperatorContext): PlanoutValue {
  return arg(ctx.evaluateArgs(node), 'value', ctx);
}

// ---------------------------------------------------------------------------------------------
// The 29 core operators of the reference interpreter (README §4.1).

function opSet(node: PlanoutObject, ctx: OperatorContext): PlanoutValue {
  const name = stringArg(node, 'var', ctx);
  let value = arg(node, 'value', ctx);
  if (ctx.isOverridden(name)) return null;
  const outer = ctx.currentParam;
  ctx.currentParam = name;
  if (isOperatorNode(value) && !hasOwn(value, 'salt')) {
    // The reference writes the default salt into the script itself; the checksum sees it.
    if (ctx.defaultSalt(value, name) && Object.isExtensible(value)) setOwn(value, 'salt', name);
    else value = { ...value, salt: name };
  }
  if (name === 'experiment_salt') ctx.setExperimentSalt(value);
  ctx.assign(name, ctx.evaluate(value));
  ctx.currentParam = outer;
  return null;
}

function opIndex(node: PlanoutObject, ctx: OperatorContext): PlanoutValue {
  const args = ctx.evaluateArgs(node);
  const base = arg(args, 'base', ctx);
  if (!Array.isArray(base) && !isPlainObject(base)) ctx.fail(`index: base must be a map or list, got ${pyTypeName(base)}`);
  const index = arg(args, 'index', ctx);
  if (Array.isArray(base)) {
    // Python evaluates `index >= 0 and index < len(base)`, then `base[index]`.
    if (!isPyNumber(index)) {
      return ctx.fail(`'>=' not supported between instances of '${pyTypeName(index)}' and 'int'`, PlanoutArgumentError);
    }
    if (!(pyCompare(index, 0) >= 0 && pyCompare(index, base.length) < 0)) return null;
    if (isFloat(index)) ctx.fail('list indices must be integers or slices, not float', PlanoutArgumentError);
    return base[Number(intOf(index as number | bigint | boolean))] ?? null;
  }
  if (Array.isArray(index) || isPlainObject(index)) ctx.fail(`unhashable type: '${pyTypeName(index)}'`, PlanoutArgumentError);
  // JSON keys are strings, so only a string index can hit.
  return typeof index === 'string' && hasOwn(base, index) ? (base[index] ?? null) : null;
}

function opCond(node: PlanoutObject, ctx: OperatorContext): PlanoutValue {
  for (const clause of listArg(node, 'cond', ctx)) {
    if (!isPlainObject(clause)) ctx.fail(`cond: each clause must be a map with "if" and "then", got ${pyTypeName(clause)}`);
    if (!hasOwn(clause, 'if')) ctx.fail('cond: clause without "if"');
    if (!hasOwn(clause, 'then')) ctx.fail('cond: clause without "then"');
    if (truthy(ctx.evaluate(clause.if))) return ctx.evaluate(clause.then);
  }
  return null;
}

function opMap(node: PlanoutObject, ctx: OperatorContext): PlanoutValue {
  const args = ctx.evaluateArgs(node);
  // The reference deletes `salt` unconditionally: a map outside `set` raises (KeyError).
  if (!hasOwn(args, 'salt')) ctx.fail('map: missing "salt" (a map must be the value of a set)');
  const out: PlanoutObject = {};
  for (const key of Object.keys(args)) {
    if (key === 'op' || key === 'salt') continue;
    const value = args[key];
    if (typeof value === 'object' && value !== null) {
      // A deep copy: as many operations and elements as the value has.
      const before = ctx.meter.operations;
      ctx.meter.spendWalking(value);
      ctx.meter.spend(0, ctx.meter.operations - before);
    }
    setOwn(out, key, deepCopy(value));
  }
  return out;
}

function opProduct(node: PlanoutObject, ctx: OperatorContext): PlanoutValue {
  const values = listArg(ctx.evaluateArgs(node), 'values', ctx);
  if (values.length === 0) ctx.fail('product: reduce() of empty iterable with no initial value', PlanoutArgumentError);
  ctx.meter.spend(values.length);
  let acc = values[0];
  for (let i = 1; i < values.length; i++) acc = pyMul(acc, values[i], ctx);
  return acc;
}

function opSum(node: PlanoutObject, ctx: OperatorContext): PlanoutValue {
  let acc: PlanoutValue = 0;
  const values = listArg(ctx.evaluateArgs(node), 'values', ctx);
  ctx.meter.spend(values.length);
  for (const v of values) acc = pyAdd(acc, v, ctx);
  return acc;
}

function opNegative(node: PlanoutObject, ctx: OperatorContext): PlanoutValue {
  const v = unary(node, ctx);
  if (!isPyNumber(v)) return ctx.fail(`bad operand type for unary -: '${pyTypeName(v)}'`, PlanoutArgumentError);
  if (isFloat(v)) return toPyFloat(0 - floatOf(v, ctx));
  const n = intOf(v as number | bigint | boolean);
  return typeof n === 'number' ? intResult(-n) : normalizeInt(-n);
}

function opDivide(node: PlanoutObject, ctx: OperatorContext): PlanoutValue {
  const args = ctx.evaluateArgs(node);
  const left = pyFloat(arg(args, 'left', ctx), ctx);
  const right = pyFloat(arg(args, 'right', ctx), ctx);
  if (right === 0) ctx.fail('float division by zero', PlanoutArgumentError);
  return toPyFloat(left / right);
}

function opExp(node: PlanoutObject, ctx: OperatorContext): PlanoutValue {
  const x = mathArg('exp', unary(node, ctx), ctx);
  const r = Math.exp(x);
  if (r === Infinity && Number.isFinite(x)) ctx.fail('exp: math range error', PlanoutArgumentError);
  return toPyFloat(r);
}

function opSqrt(node: PlanoutObject, ctx: OperatorContext): PlanoutValue {
  const x = mathArg('sqrt', unary(node, ctx), ctx);
  if (x < 0) ctx.fail('sqrt: math domain error', PlanoutArgumentError);
  return toPyFloat(Math.sqrt(x));
}

/** The core operators, by serialized name. */
export const CORE_OPERATORS: ReadonlyMap<string, OperatorFn> = new Map<string, OperatorFn>([
  ['literal', (node, ctx) => arg(node, 'value', ctx)],
  ['get', (node, ctx) => ctx.lookup(stringArg(node, 'var', ctx))],
  [
    'seq',
    (node, ctx) => {
      for (const item of listArg(node, 'seq', ctx)) ctx.evaluate(item);
      return null;
    },
  ],
  ['set', opSet],
  ['return', (node, ctx) => ctx.stop(truthy(ctx.evaluate(arg(node, 'value', ctx))))],
  ['index', opIndex],
  [
    'array',
    (node, ctx) => {
      const values = listArg(node, 'values', ctx);
      ctx.meter.spend(0, values.length);
      const out: PlanoutValue[] = new Array(values.length);
      for (let i = 0; i < values.length; i++) out[i] = ctx.evaluate(values[i]);
      return out;
    },
  ],
  ['map', opMap],
  [
    'equals',
    simpleOperator((args, ctx) => {
      const left = arg(args, 'left', ctx);
      const right = arg(args, 'right', ctx);
      spendComparing(left, right, ctx);
      return pyEquals(left, right);
    }),
  ],
  ['cond', opCond],
  [
    'and',
    (node, ctx) => {
      for (const v of listArg(node, 'values', ctx)) if (!truthy(ctx.evaluate(v))) return false;
      return true;
    },
  ],
  [
    'or',
    (node, ctx) => {
      for (const v of listArg(node, 'values', ctx)) if (truthy(ctx.evaluate(v))) return true;
      return false;
    },
  ],
  ['>', (node, ctx) => compare(node, ctx) > 0],
  ['<', (node, ctx) => compare(node, ctx) < 0],
  ['>=', (node, ctx) => compare(node, ctx) >= 0],
  ['<=', (node, ctx) => compare(node, ctx) <= 0],
  ['%', simpleOperator((args, ctx) => pyMod(arg(args, 'left', ctx), arg(args, 'right', ctx), ctx))],
  ['/', opDivide],
  ['not', (node, ctx) => !truthy(unary(node, ctx))],
  ['round', (node, ctx) => pyRound(unary(node, ctx), ctx)],
  ['negative', opNegative],
  ['min', (node, ctx) => extreme(node, ctx, -1)],
  ['max', (node, ctx) => extreme(node, ctx, 1)],
  ['length', (node, ctx) => pyLen(unary(node, ctx), ctx)],
  [
    'coalesce',
    (node, ctx) => {
      for (const v of listArg(node, 'values', ctx)) {
        const value = ctx.evaluate(v);
        if (value !== null && value !== undefined) return value;
      }
      return null;
    },
  ],
  ['product', opProduct],
  ['sum', opSum],
  ['exp', opExp],
  ['sqrt', opSqrt],
]);

/** Core and random operators: what the reference interpreter knows. */
export const BUILTIN_OPERATORS: ReadonlyMap<string, OperatorFn> = new Map<string, OperatorFn>([
  ...CORE_OPERATORS,
  ...Object.entries(RANDOM_OPERATORS).map(([name, cls]) => [name, randomOperator(cls as never)] as [string, OperatorFn]),
]);
