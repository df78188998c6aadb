import { MAX_NESTING, type EvaluationMeter } from '../budget.js';
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
import { RANDOM_OPERATORS, SaltPrefixCache, type RandomContext, type RandomOperatorLike } from './random.js';
import { compileRandomSet, isFlat } from './random-set.js';

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

/** Runs a random operator class on evaluated arguments, in the script's context. */
function randomDraw(RandomClass: new (args: never) => RandomOperatorLike): (args: PlanoutObject, context: OperatorContext) => PlanoutValue {
  return (args, context) => {
    const operator = new RandomClass(args as never);
    if (context.mayDraw !== undefined && !context.mayDraw(operator)) context.stop(false);
    return operator.execute(context) as PlanoutValue;
  };
}

/**
 * A random operator compiled for one script node: the salt prefix it hashed with last is
 * kept for the next run. The node meters itself (as {@link compileObject} would), saving a call per draw.
 */
function compileRandomDraw(RandomClass: new (args: never) => RandomOperatorLike): OperatorCompiler {
  return (node, compile) => {
    const args = compileArgs(node, compile);
    const prefixCache = new SaltPrefixCache();
    return (context) => {
      if (++context.depth > MAX_DEPTH) context.tooDeep();
      context.meter.spend(1);
      const operator = new RandomClass(args(context) as never);
      if (context.mayDraw !== undefined && !context.mayDraw(operator)) context.stop(false);
      const result = operator.execute(context, undefined, prefixCache) as PlanoutValue;
      context.depth--;
      return result === undefined ? null : result;
    };
  };
}

/** Adapts a random operator class: arguments are evaluated, then the draw runs in the script's context. */
export function randomOperator(RandomClass: new (args: never) => RandomOperatorLike): OperatorFn {
  return simpleOperator(randomDraw(RandomClass));
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

function compare(args: PlanoutObject, ctx: OperatorContext): number {
  const left = arg(args, 'left', ctx);
  const right = arg(args, 'right', ctx);
  spendComparing(left, right, ctx);
  try {
    return pyCompare(left, right);
  } catch (error) {
    if (error instanceof TypeError) {
      ctx.fail(`'${opName(args)}' not supported between instances of '${pyTypeName(left)}' and '${pyTypeName(right)}'`, PlanoutArgumentError);
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
function extreme(args: PlanoutObject, ctx: OperatorContext, sign: 1 | -1): PlanoutValue {
  const values = listArg(args, 'values', ctx);
  if (values.length === 0) ctx.fail(`${opName(args)}() arg is an empty sequence`, PlanoutArgumentError);
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

function unary(args: PlanoutObject, ctx: OperatorContext): PlanoutValue {
  return arg(args, 'value', ctx);
}

// ---------------------------------------------------------------------------------------------
// Compiled scripts. Each node of a script is compiled once into a closure (memoized by the
// node's identity), so running a script walks no JSON, looks up no operator name and checks
// no argument shape that is fixed by the script. A script's shape errors are not raised when
// compiling: the compiled node raises them when it runs, exactly where the reference would.

/** The context compiled nodes run in: the operator context plus the nesting of the run. */
export interface CompiledContext extends OperatorContext {
  /** Operators and arrays being evaluated, one inside the other. */
  depth: number;
  /** Throws the script error for a run nested deeper than {@link MAX_NESTING}. */
  tooDeep(): never;
  /** The operators the script may use, for the names that are not built in. */
  readonly registry: { get(name: unknown): OperatorFn | undefined };
}

/** A compiled node: evaluates it in `context`. */
export type CompiledNode = (context: CompiledContext) => PlanoutValue;

/** Compiles a child node (memoized). */
export type NodeCompiler = (node: unknown) => CompiledNode;

/**
 * Compiles the body of one operator node; the metering around it (one operation, the
 * nesting) is added by {@link compileNode}.
 */
type OperatorCompiler = (node: PlanoutObject, compile: NodeCompiler) => CompiledNode;

const MAX_DEPTH = MAX_NESTING;

// Compiled nodes by node. A compiled node reads the parts of its node that a run can change
// (a default salt that `set` writes in, a list a draw appended to) when it runs.
const compiledNodes = new WeakMap<object, CompiledNode>();
const compiledArgs = new WeakMap<object, (context: CompiledContext) => PlanoutObject>();
/** Nodes being compiled, one inside the other; deeper ones are compiled when first run. */
let compileDepth = 0;

/** Evaluates any node: operators execute, arrays evaluate element-wise, anything else is a literal. */
export function compileNode(node: unknown): CompiledNode {
  if (typeof node !== 'object' || node === null) {
    const value = node === undefined ? null : (node as PlanoutValue);
    return () => value;
  }
  const known = compiledNodes.get(node);
  if (known !== undefined) return known;
  // Past the nesting a run may reach, a node is compiled only if a run gets there (it will
  // not: the run fails first), and a cycle compiles to a node that calls itself.
  let compiled: CompiledNode | undefined;
  const forward: CompiledNode = (context) => (compiled ??= compileNode(node))(context);
  if (compileDepth >= MAX_DEPTH) return forward;
  compiledNodes.set(node, forward);
  compileDepth++;
  try {
    compiled = compileObject(node);
  } finally {
    compileDepth--;
  }
  compiledNodes.set(node, compiled);
  return compiled;
}

function compileObject(node: object): CompiledNode {
  if (Array.isArray(node)) return compileArray(node);
  if (!hasOwn(node, 'op')) return () => node as PlanoutValue;
  const name = (node as PlanoutObject).op;
  const builtin = typeof name === 'string' ? BUILTINS.get(name) : undefined;
  if (builtin === undefined) return compileRegistered(node as PlanoutObject, name);
  const body = builtin.compile(node as PlanoutObject, compileNode);
  return builtin.metered === true ? body : meteredBody(body);
}

/** An operator the registry of the run provides (a custom one), or an unknown name. */
function compileRegistered(node: PlanoutObject, name: PlanoutValue): CompiledNode {
  return (context) => {
    const operator = context.registry.get(name);
    if (operator === undefined) {
      return context.fail(`unknown operator ${typeof name === 'string' ? `"${name}"` : `of type ${pyTypeName(name)}`}`);
    }
    if (++context.depth > MAX_DEPTH) context.tooDeep();
    context.meter.spend(1);
    const result = operator(node, context);
    context.depth--;
    return result === undefined ? null : result;
  };
}

/** The compiled elements of a list, compiled again if a run appended to it. */
class CompiledList<T> {
  private items: T[];

  constructor(
    private readonly list: readonly unknown[],
    private readonly compileItem: (item: unknown) => T,
  ) {
    this.items = list.map((item) => compileItem(item));
  }

  at(i: number): T {
    if (this.items.length !== this.list.length) this.items = this.list.map((item) => this.compileItem(item));
    return this.items[i];
  }
}

function compileArray(node: unknown[]): CompiledNode {
  const flat = isFlat(node);
  const elements = new CompiledList(node, compileNode);
  const length = node.length;
  return (context) => {
    if (++context.depth > MAX_DEPTH) context.tooDeep();
    context.meter.spend(1, node.length);
    let out: PlanoutValue[];
    if (flat && node.length === length) {
      out = node.slice() as PlanoutValue[];
    } else {
      out = new Array(node.length);
      for (let i = 0; i < node.length; i++) out[i] = elements.at(i)(context);
    }
    context.depth--;
    return out;
  };
}

/**
 * Evaluates every key of an operator node, in key order, into a new object (the reference's
 * simple operators). Values that evaluate to themselves are copied from a template.
 */
function compileArgs(node: PlanoutObject, compile: NodeCompiler): (context: CompiledContext) => PlanoutObject {
  const keys = Object.keys(node);
  const template: PlanoutObject = {};
  const dynamicKeys: string[] = [];
  const dynamicValues: CompiledNode[] = [];
  for (const key of keys) {
    const value = node[key];
    if (typeof value === 'object' && value !== null) {
      setOwn(template, key, null);
      dynamicKeys.push(key);
      dynamicValues.push(compile(value));
    } else {
      setOwn(template, key, value === undefined ? null : value);
    }
  }
  // `set` may write a default salt into the node after it was compiled (as its last key).
  const mayGetSalt = !hasOwn(node, 'salt');
  const count = dynamicKeys.length;
  if (keys.includes('__proto__')) {
    return (context) => {
      const out: PlanoutObject = {};
      for (const key of keys) setOwn(out, key, template[key]);
      for (let i = 0; i < count; i++) setOwn(out, dynamicKeys[i], dynamicValues[i](context));
      if (mayGetSalt && hasOwn(node, 'salt')) setOwn(out, 'salt', context.evaluate(node.salt));
      return out;
    };
  }
  const build = argsBuilder(keys, dynamicKeys);
  const buildSalted = mayGetSalt ? argsBuilder([...keys, 'salt'], [...dynamicKeys, 'salt']) : build;
  const values: CompiledNode[] = [...dynamicValues, (context) => context.evaluate(node.salt)];
  if (!mayGetSalt) return (context) => build(template, values, context);
  // The salt `set` writes in later is read from the node on each run, after the other keys.
  return (context) => (hasOwn(node, 'salt') ? buildSalted(template, values, context) : build(template, values, context));
}

/**
 * Builds an operator's argument object as one object literal with the node's keys, in
 * key order: every node with the same keys shares the hidden class and the generated code
 * (so its stores are monomorphic), instead of copying a template and storing by key.
 * Static values come from `template`, dynamic ones from `values` (in `dynamicKeys` order).
 */
type ArgsBuilder = (template: PlanoutObject, values: readonly CompiledNode[], context: CompiledContext) => PlanoutObject;

const argsBuilders = new Map<string, ArgsBuilder>();

/** Distinct key sets given generated code; past it (odd scripts), arguments are built generically. */
const MAX_ARGS_BUILDERS = 512;

function genericArgsBuilder(keys: readonly string[], dynamicKeys: readonly string[]): ArgsBuilder {
  const template: PlanoutObject = {};
  for (const key of keys) template[key] = null;
  const count = dynamicKeys.length;
  return (statics, values, context) => {
    const out: PlanoutObject = { ...template };
    for (const key of keys) if (dynamicKeys.indexOf(key) < 0) out[key] = statics[key];
    for (let i = 0; i < count; i++) out[dynamicKeys[i]] = values[i](context);
    return out;
  };
}

function argsBuilder(keys: readonly string[], dynamicKeys: readonly string[]): ArgsBuilder {
  const id = JSON.stringify([keys, dynamicKeys]);
  let builder = argsBuilders.get(id);
  if (builder === undefined) {
    if (argsBuilders.size >= MAX_ARGS_BUILDERS) return genericArgsBuilder(keys, dynamicKeys);
    const fields = keys.map((key) => {
      const name = JSON.stringify(key);
      const dynamic = dynamicKeys.indexOf(key);
      return dynamic >= 0 ? `${name}: values[${dynamic}](context)` : `${name}: template[${name}]`;
    });
    // Keys are JSON string literals (never `__proto__`, handled above), so the code holds no script text unquoted.
    try {
      builder = new Function('template', 'values', 'context', `return { ${fields.join(', ')} };`) as ArgsBuilder;
    } catch {
      // A host that forbids generating code (a content security policy) gets the generic builder.
      builder = genericArgsBuilder(keys, dynamicKeys);
    }
    argsBuilders.set(id, builder);
  }
  return builder;
}

/** `context.evaluateArgs(node)`, compiled once per node. */
export function evaluateArgsCompiled(node: PlanoutObject, context: CompiledContext): PlanoutObject {
  let args = compiledArgs.get(node);
  if (args === undefined) compiledArgs.set(node, (args = compileArgs(node, compileNode)));
  return args(context);
}

// Shape errors found while compiling, raised when the node runs.

function failing(message: string): CompiledNode {
  return (context) => context.fail(message);
}

const compileSeq = compileListOperator('seq', (list, elements, context) => {
  for (let i = 0; i < list.length; i++) elements.at(i)(context);
  return null;
});

/** The `seq` node with the metering of {@link compileObject} inlined (a script's root: run once per unit). */
function compileMeteredSeq(node: PlanoutObject, compile: NodeCompiler): CompiledNode {
  const problem = badListArg(node, 'seq');
  if (problem !== undefined) return meteredBody(failing(problem));
  const list = node.seq as PlanoutValue[];
  const elements = new CompiledList(list, compile);
  return (context) => {
    if (++context.depth > MAX_DEPTH) context.tooDeep();
    context.meter.spend(1);
    for (let i = 0; i < list.length; i++) elements.at(i)(context);
    context.depth--;
    return null;
  };
}

/** The `get` operator's body (unmetered). */
function compileGet(node: PlanoutObject): CompiledNode {
  const problem = badStringArg(node, 'var');
  if (problem !== undefined) return failing(problem);
  const name = node.var as string;
  return (context) => context.lookup(name);
}

/** The `get` node with the metering of {@link compileObject} inlined: the commonest node saves a call. */
function compileMeteredGet(node: PlanoutObject): CompiledNode {
  if (badStringArg(node, 'var') !== undefined) return meteredBody(compileGet(node));
  const name = node.var as string;
  return (context) => {
    if (++context.depth > MAX_DEPTH) context.tooDeep();
    context.meter.spend(1);
    const result = context.lookup(name);
    context.depth--;
    return result === undefined ? null : result;
  };
}

/** A node body with the per-node metering (depth and one unit of budget) around it. */
function meteredBody(body: CompiledNode): CompiledNode {
  return (context) => {
    if (++context.depth > MAX_DEPTH) context.tooDeep();
    context.meter.spend(1);
    const result = body(context);
    context.depth--;
    return result === undefined ? null : result;
  };
}

function missingArg(node: PlanoutObject, name: string): string | undefined {
  return hasOwn(node, name) ? undefined : `${opName(node)}: missing argument "${name}"`;
}

function badListArg(node: PlanoutObject, name: string): string | undefined {
  const value = node[name];
  return missingArg(node, name) ?? (Array.isArray(value) ? undefined : `${opName(node)}: ${name} must be a list, got ${pyTypeName(value)}`);
}

function badStringArg(node: PlanoutObject, name: string): string | undefined {
  const value = node[name];
  return missingArg(node, name) ?? (typeof value === 'string' ? undefined : `${opName(node)}: ${name} must be a string, got ${pyTypeName(value)}`);
}

// ---------------------------------------------------------------------------------------------
// The 29 core operators of the reference interpreter (README §4.1).

// Salted copies of operator nodes that run untouched (shared or frozen scripts), made once
// per node: a run only reads them, and one object per node keeps evaluation monomorphic.
const saltedCopies = new WeakMap<PlanoutObject, { readonly salt: string; readonly copy: PlanoutObject }>();

/** `{ ...node, salt }`, the same object for every run that salts `node` with `salt`. */
function saltedCopy(node: PlanoutObject, salt: string): PlanoutObject {
  const known = saltedCopies.get(node);
  if (known !== undefined && known.salt === salt) return known.copy;
  const copy: PlanoutObject = { ...node, salt };
  // A node salted under two names (shared in the script) keeps only its first copy.
  if (known === undefined) saltedCopies.set(node, { salt, copy });
  return copy;
}

/** `set`; with `selfMetered`, the node does the metering of compileObject itself. */
function compileSet(node: PlanoutObject, compile: NodeCompiler, selfMetered = false): CompiledNode {
  const problem = badStringArg(node, 'var') ?? missingArg(node, 'value');
  if (problem !== undefined) return selfMetered ? meteredBody(failing(problem)) : failing(problem);
  const name = node.var as string;
  const value = node.value;
  const run = compile(value);
  const isOperator = isOperatorNode(value);
  let lastCopy: PlanoutObject | undefined;
  let stableCopy: PlanoutObject | undefined;
  let runCopy: CompiledNode = run;
  // The metering of compileObject is inlined (nesting, one operation): a call less per param.
  const depthStep = selfMetered ? 1 : 0;
  const general: CompiledNode = (context) => {
    if (selfMetered) {
      if (++context.depth > MAX_DEPTH) context.tooDeep();
      context.meter.spend(1);
    }
    if (context.isOverridden(name)) {
      context.depth -= depthStep;
      return null;
    }
    const outer = context.currentParam;
    context.currentParam = name;
    let raw: PlanoutValue = value;
    let evaluate = run;
    if (isOperator && !hasOwn(value as PlanoutObject, 'salt')) {
      // The reference writes the default salt into the script itself; the checksum sees it.
      if (context.defaultSalt(value as PlanoutObject, name) && Object.isExtensible(value)) {
        setOwn(value as PlanoutObject, 'salt', name);
      } else {
        // The copy is the same object run after run, unless the node is shared under two names.
        const copy = stableCopy ?? saltedCopy(value as PlanoutObject, name);
        if (copy !== lastCopy) {
          lastCopy = copy;
          runCopy = compile(copy);
          if (saltedCopies.get(value as PlanoutObject)?.copy === copy) stableCopy = copy;
        }
        raw = copy;
        evaluate = runCopy;
      }
    }
    if (name === 'experiment_salt') context.setExperimentSalt(raw);
    context.assign(name, evaluate(context));
    context.currentParam = outer;
    context.depth -= depthStep;
    return null;
  };
  // The commonest statement, a param drawn by a random operator, as one generated function.
  return (selfMetered ? compileRandomSet(node, general) : undefined) ?? general;
}

function compileCond(node: PlanoutObject, compile: NodeCompiler): CompiledNode {
  const problem = badListArg(node, 'cond');
  if (problem !== undefined) return failing(problem);
  const list = node.cond as PlanoutValue[];
  const clauses = new CompiledList(list, (clause) => {
    if (!isPlainObject(clause)) return failing(`cond: each clause must be a map with "if" and "then", got ${pyTypeName(clause)}`);
    if (!hasOwn(clause, 'if')) return failing('cond: clause without "if"');
    if (!hasOwn(clause, 'then')) return failing('cond: clause without "then"');
    return { test: compile(clause.if), then: compile(clause.then) };
  });
  return (context) => {
    for (let i = 0; i < list.length; i++) {
      const clause = clauses.at(i);
      if (typeof clause === 'function') return clause(context);
      if (truthy(clause.test(context))) return clause.then(context);
    }
    return null;
  };
}

/** A list argument compiled element by element (`seq`, `and`, `or`, `coalesce`, `array`). */
function compileListOperator(
  name: string,
  run: (list: readonly unknown[], elements: CompiledList<CompiledNode>, context: CompiledContext) => PlanoutValue,
): OperatorCompiler {
  return (node, compile) => {
    const problem = badListArg(node, name);
    if (problem !== undefined) return failing(problem);
    const list = node[name] as PlanoutValue[];
    const elements = new CompiledList(list, compile);
    return (context) => run(list, elements, context);
  };
}

function compileArrayOperator(node: PlanoutObject, compile: NodeCompiler): CompiledNode {
  const problem = badListArg(node, 'values');
  if (problem !== undefined) return failing(problem);
  const values = node.values as PlanoutValue[];
  const flat = isFlat(values);
  const length = values.length;
  const elements = new CompiledList(values, compile);
  return (context) => {
    context.meter.spend(0, values.length);
    if (flat && values.length === length) return values.slice();
    const out: PlanoutValue[] = new Array(values.length);
    for (let i = 0; i < values.length; i++) out[i] = elements.at(i)(context);
    return out;
  };
}

function opIndex(args: PlanoutObject, ctx: OperatorContext): PlanoutValue {
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

function opMap(args: PlanoutObject, ctx: OperatorContext): PlanoutValue {
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

function opProduct(args: PlanoutObject, ctx: OperatorContext): PlanoutValue {
  const values = listArg(args, 'values', ctx);
  if (values.length === 0) ctx.fail('product: reduce() of empty iterable with no initial value', PlanoutArgumentError);
  ctx.meter.spend(values.length);
  let acc = values[0];
  for (let i = 1; i < values.length; i++) acc = pyMul(acc, values[i], ctx);
  return acc;
}

function opSum(args: PlanoutObject, ctx: OperatorContext): PlanoutValue {
  let acc: PlanoutValue = 0;
  const values = listArg(args, 'values', ctx);
  ctx.meter.spend(values.length);
  for (const v of values) acc = pyAdd(acc, v, ctx);
  return acc;
}

function opNegative(args: PlanoutObject, ctx: OperatorContext): PlanoutValue {
  const v = unary(args, ctx);
  if (!isPyNumber(v)) return ctx.fail(`bad operand type for unary -: '${pyTypeName(v)}'`, PlanoutArgumentError);
  if (isFloat(v)) return toPyFloat(0 - floatOf(v, ctx));
  const n = intOf(v as number | bigint | boolean);
  return typeof n === 'number' ? intResult(-n) : normalizeInt(-n);
}

function opDivide(args: PlanoutObject, ctx: OperatorContext): PlanoutValue {
  const left = pyFloat(arg(args, 'left', ctx), ctx);
  const right = pyFloat(arg(args, 'right', ctx), ctx);
  if (right === 0) ctx.fail('float division by zero', PlanoutArgumentError);
  return toPyFloat(left / right);
}

function opExp(args: PlanoutObject, ctx: OperatorContext): PlanoutValue {
  const x = mathArg('exp', unary(args, ctx), ctx);
  const r = Math.exp(x);
  if (r === Infinity && Number.isFinite(x)) ctx.fail('exp: math range error', PlanoutArgumentError);
  return toPyFloat(r);
}

function opSqrt(args: PlanoutObject, ctx: OperatorContext): PlanoutValue {
  const x = mathArg('sqrt', unary(args, ctx), ctx);
  if (x < 0) ctx.fail('sqrt: math domain error', PlanoutArgumentError);
  return toPyFloat(Math.sqrt(x));
}

/** A built-in operator: how it compiles, and the same as a registry function. */
interface BuiltinOperator {
  readonly compile: OperatorCompiler;
  readonly call: OperatorFn;
  /**
   * Whether the compiled node does the metering of {@link compileObject} itself (nesting,
   * one operation, null for undefined), to spare the hottest nodes a wrapper call.
   */
  readonly metered?: boolean;
}

/** An operator that reads its own node (its arguments are evaluated as it decides). */
function structural(compile: OperatorCompiler): BuiltinOperator {
  return { compile, call: (node, context) => compile(node, compileNode)(context as CompiledContext) };
}

/** An operator that evaluates all its arguments first (the reference's PlanOutOpSimple). */
function simple(run: (args: PlanoutObject, context: OperatorContext) => PlanoutValue): BuiltinOperator {
  return {
    compile: (node, compile) => {
      const args = compileArgs(node, compile);
      return (context) => run(args(context), context);
    },
    call: simpleOperator(run),
  };
}

const CORE: ReadonlyArray<readonly [string, BuiltinOperator]> = [
  [
    'literal',
    structural((node) => {
      const problem = missingArg(node, 'value');
      return problem !== undefined ? failing(problem) : () => node.value;
    }),
  ],
  ['get', { compile: compileMeteredGet, call: structural(compileGet).call, metered: true }],
  ['seq', { compile: compileMeteredSeq, call: structural(compileSeq).call, metered: true }],
  ['set', { compile: (node, compile) => compileSet(node, compile, true), call: structural(compileSet).call, metered: true }],
  [
    'return',
    structural((node, compile) => {
      const problem = missingArg(node, 'value');
      if (problem !== undefined) return failing(problem);
      const value = compile(node.value);
      return (context) => context.stop(truthy(value(context)));
    }),
  ],
  ['index', simple(opIndex)],
  ['array', structural(compileArrayOperator)],
  ['map', simple(opMap)],
  [
    'equals',
    simple((args, ctx) => {
      const left = arg(args, 'left', ctx);
      const right = arg(args, 'right', ctx);
      spendComparing(left, right, ctx);
      return pyEquals(left, right);
    }),
  ],
  ['cond', structural(compileCond)],
  [
    'and',
    structural(
      compileListOperator('values', (list, elements, context) => {
        for (let i = 0; i < list.length; i++) if (!truthy(elements.at(i)(context))) return false;
        return true;
      }),
    ),
  ],
  [
    'or',
    structural(
      compileListOperator('values', (list, elements, context) => {
        for (let i = 0; i < list.length; i++) if (truthy(elements.at(i)(context))) return true;
        return false;
      }),
    ),
  ],
  ['>', simple((args, ctx) => compare(args, ctx) > 0)],
  ['<', simple((args, ctx) => compare(args, ctx) < 0)],
  ['>=', simple((args, ctx) => compare(args, ctx) >= 0)],
  ['<=', simple((args, ctx) => compare(args, ctx) <= 0)],
  ['%', simple((args, ctx) => pyMod(arg(args, 'left', ctx), arg(args, 'right', ctx), ctx))],
  ['/', simple(opDivide)],
  ['not', simple((args, ctx) => !truthy(unary(args, ctx)))],
  ['round', simple((args, ctx) => pyRound(unary(args, ctx), ctx))],
  ['negative', simple(opNegative)],
  ['min', simple((args, ctx) => extreme(args, ctx, -1))],
  ['max', simple((args, ctx) => extreme(args, ctx, 1))],
  ['length', simple((args, ctx) => pyLen(unary(args, ctx), ctx))],
  [
    'coalesce',
    structural(
      compileListOperator('values', (list, elements, context) => {
        for (let i = 0; i < list.length; i++) {
          const value = elements.at(i)(context);
          if (value !== null && value !== undefined) return value;
        }
        return null;
      }),
    ),
  ],
  ['product', simple(opProduct)],
  ['sum', simple(opSum)],
  ['exp', simple(opExp)],
  ['sqrt', simple(opSqrt)],
];

const BUILTINS: ReadonlyMap<string, BuiltinOperator> = new Map<string, BuiltinOperator>([
  ...CORE,
  ...Object.entries(RANDOM_OPERATORS).map(
    ([name, cls]) => [name, { compile: compileRandomDraw(cls as never), call: randomOperator(cls as never), metered: true }] as const,
  ),
]);

/** The core operators, by serialized name. */
export const CORE_OPERATORS: ReadonlyMap<string, OperatorFn> = new Map<string, OperatorFn>(CORE.map(([name, op]) => [name, op.call]));

/** Core and random operators: what the reference interpreter knows. */
export const BUILTIN_OPERATORS: ReadonlyMap<string, OperatorFn> = new Map<string, OperatorFn>([...BUILTINS].map(([name, op]) => [name, op.call]));
