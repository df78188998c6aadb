// `set <param> = <random operator>(...)`, the statement most scripts are made of, compiled
// into one generated function per statement shape instead of a closure per node. The
// generated code has its own call sites (one operator class, one argument shape), which the
// shared closures of the general compiler cannot have; a run takes it only when it cannot
// differ from the general path (see compileRandomSet).
import { MAX_NESTING } from '../budget.js';
import { hasOwn, isPlainObject, setOwn, type PlanoutObject, type PlanoutValue } from '../values.js';
import type { CompiledContext, CompiledNode } from './core.js';
import { RANDOM_OPERATORS, SaltPrefixCache, type RandomOperatorLike } from './random.js';

/** Whether `list` holds only values that evaluate to themselves (no holes, no undefined). */
export function isFlat(list: readonly unknown[]): boolean {
  for (let i = 0; i < list.length; i++) {
    const value = list[i];
    if (value === undefined || (typeof value === 'object' && value !== null)) return false;
  }
  return true;
}

/** How the generated code gets one argument of the operator. */
type ArgumentKind =
  | { readonly kind: 'static'; readonly value: PlanoutValue }
  /** A list of literals (a plain list, or an `array` operator): one operation and its elements, copied. */
  | { readonly kind: 'list'; readonly list: readonly PlanoutValue[] }
  /** A `get`: one operation. */
  | { readonly kind: 'get'; readonly name: string };

function argumentKind(value: PlanoutValue | undefined): ArgumentKind | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null) return { kind: 'static', value };
  if (Array.isArray(value)) return isFlat(value) ? { kind: 'list', list: value } : undefined;
  if (!isPlainObject(value) || !hasOwn(value, 'op')) return undefined;
  if (value.op === 'get' && hasOwn(value, 'var') && typeof value.var === 'string') return { kind: 'get', name: value.var };
  if (value.op === 'array' && hasOwn(value, 'values') && Array.isArray(value.values) && isFlat(value.values)) {
    return { kind: 'list', list: value.values };
  }
  return undefined;
}

type RandomClass = new (args: PlanoutObject) => RandomOperatorLike & { execute(context: CompiledContext, salt: undefined, cache: SaltPrefixCache): unknown };

/** What the generated code reads: the statement's parts and the general path to fall back on. */
interface RandomSetParts {
  readonly node: PlanoutObject;
  readonly name: string;
  readonly RandomClass: RandomClass;
  readonly statics: readonly PlanoutValue[];
  readonly lists: readonly (readonly PlanoutValue[])[];
  readonly names: readonly string[];
  readonly prefixCache: SaltPrefixCache;
  readonly general: CompiledNode;
  readonly setOwn: typeof setOwn;
  readonly hasOwn: typeof hasOwn;
}

type RandomSetFactory = (parts: RandomSetParts) => CompiledNode;

/** Whether compilation uses generated statements; tests turn it off to compare with the general path. */
export const randomSetCompilation = { enabled: true };

const factories = new Map<string, RandomSetFactory | null>();
/** Distinct statement shapes given generated code; past it, statements run on the general path. */
const MAX_FACTORIES = 512;

/**
 * The `set` node `node` as one function, when its value is a built-in random operator whose
 * arguments are literals, flat lists and `get`s (undefined otherwise, or where code cannot
 * be generated). `general` is the node compiled as usual: the function runs it instead
 * whenever the budget or the nesting lacks room for the whole statement, or the operator
 * node got a salt since it was compiled, so every charge, error and result is the same.
 * The statement's charges (the `set`, the operator, one per list or `get`, the lists'
 * elements) are made at once, before the draw, as the general path makes them before it.
 */
export function compileRandomSet(node: PlanoutObject, general: CompiledNode): CompiledNode | undefined {
  if (!randomSetCompilation.enabled) return undefined;
  const name = node.var;
  const value = node.value;
  if (typeof name !== 'string' || name === 'experiment_salt' || name === 'salt_sep') return undefined;
  if (!isPlainObject(value) || !hasOwn(value, 'op') || typeof value.op !== 'string') return undefined;
  if (!Object.hasOwn(RANDOM_OPERATORS, value.op)) return undefined;
  const keys = Object.keys(value);
  if (keys.includes('__proto__')) return undefined;
  const kinds: ArgumentKind[] = [];
  for (const key of keys) {
    const kind = argumentKind(value[key]);
    if (kind === undefined) return undefined;
    kinds.push(kind);
  }
  const salted = hasOwn(value, 'salt');
  const factory = factoryFor(value.op, keys, kinds, salted);
  if (factory === undefined) return undefined;
  const parts: RandomSetParts = {
    node: value,
    name,
    RandomClass: RANDOM_OPERATORS[value.op as keyof typeof RANDOM_OPERATORS] as unknown as RandomClass,
    statics: kinds.map((kind) => (kind.kind === 'static' ? kind.value : null)),
    lists: kinds.map((kind) => (kind.kind === 'list' ? kind.list : [])),
    names: kinds.map((kind) => (kind.kind === 'get' ? kind.name : '')),
    prefixCache: new SaltPrefixCache(),
    general,
    setOwn,
    hasOwn,
  };
  return factory(parts);
}

function factoryFor(op: string, keys: readonly string[], kinds: readonly ArgumentKind[], salted: boolean): RandomSetFactory | undefined {
  const shape = kinds.map((kind) => (kind.kind === 'list' ? `list${kind.list.length}` : kind.kind));
  const id = JSON.stringify([op, keys, shape, salted]);
  const known = factories.get(id);
  if (known !== undefined) return known ?? undefined;
  if (factories.size >= MAX_FACTORIES) return undefined;
  let factory: RandomSetFactory | null;
  try {
    factory = new Function('parts', randomSetSource(keys, kinds, salted)) as RandomSetFactory;
  } catch {
    // A host that forbids generating code (a content security policy) runs the general path.
    factory = null;
  }
  factories.set(id, factory);
  return factory ?? undefined;
}

/** The salt of an operator node compiled without one: the param's name, unless a run wrote one in since. */
const SALT_SOURCE = `let salt = name;
  if (!hasOwn(node, 'salt')) {
    if (context.defaultSalt(node, name) && Object.isExtensible(node)) setOwn(node, 'salt', name);
  } else {
    salt = node.salt === undefined ? null : node.salt;
  }`;

/**
 * The generated statement. Keys are JSON string literals and every number is one computed
 * here; the script's values and names reach the code only as data in `parts`.
 */
function randomSetSource(keys: readonly string[], kinds: readonly ArgumentKind[], salted: boolean): string {
  let operations = 2; // the set and the operator
  let elements = 0;
  const fields: string[] = [];
  const lengthChecks: string[] = [];
  kinds.forEach((kind, i) => {
    const key = JSON.stringify(keys[i]);
    if (kind.kind === 'static') {
      fields.push(`${key}: statics[${i}]`);
    } else if (kind.kind === 'list') {
      operations++;
      elements += kind.list.length;
      // A run that appended to the list (quirk Q3) charges and copies it as it is now: general path.
      lengthChecks.push(`lists[${i}].length !== ${kind.list.length}`);
      fields.push(`${key}: lists[${i}].slice()`);
    } else {
      operations++;
      fields.push(`${key}: context.lookup(names[${i}]) ?? null`);
    }
  });
  // A salt `set` wrote into the node (the reference's way, on an earlier run) is read from it.
  if (!salted) fields.push('"salt": salt');
  // The general path nests the set, the operator and an argument: three levels.
  const fallBack = [
    `context.depth > ${MAX_NESTING - 3}`,
    `meter.operations + ${operations} > meter.maxOperations`,
    `meter.elements + ${elements} > meter.maxElements`,
    // A salt that is an expression is evaluated (and charged) by the general path.
    ...(salted ? [] : ["(typeof node.salt === 'object' && node.salt !== null && hasOwn(node, 'salt'))"]),
    ...lengthChecks,
  ];
  return `
const { node, name, RandomClass, statics, lists, names, prefixCache, general, setOwn, hasOwn } = parts;
return function randomSet(context) {
  const meter = context.meter;
  if (${fallBack.join(' || ')}) return general(context);
  if (context.isOverridden(name)) {
    meter.spend(1, 0);
    return null;
  }
  meter.spend(${operations}, ${elements});
  const outer = context.currentParam;
  context.currentParam = name;
  ${salted ? '' : SALT_SOURCE}
  const operator = new RandomClass({ ${fields.join(', ')} });
  if (context.mayDraw !== undefined && !context.mayDraw(operator)) context.stop(false);
  const result = operator.execute(context, undefined, prefixCache);
  context.assign(name, result === undefined ? null : result);
  context.currentParam = outer;
  return null;
};`;
}
