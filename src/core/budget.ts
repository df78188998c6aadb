import { PlanoutBudgetError, PlanoutError, PlanoutScriptError } from './errors.js';
import { isPlainObject } from './values.js';

/**
 * Limits on what one assignment of a script may cost. Charged before the work is done,
 * so an over-budget script fails at once with a {@link PlanoutBudgetError}.
 */
export interface EvaluationBudget {
  /**
   * Operators run, random draws (one per hash: `sample` over n choices is n - 1 draws),
   * value elements walked by comparisons, hashing and copies (and one per 64 characters
   * hashed). Default 10 000: tens of milliseconds of work at most.
   */
  maxOperations?: number;
  /**
   * List elements, string characters and map entries the script creates, and the
   * params' total size once expanded (a list shared twice counts twice, a big int its
   * decimal digits). Default 100 000.
   */
  maxElements?: number;
}

/** The defaults: far above what real experiments use (tens of operations), far below a stall. */
export const DEFAULT_EVALUATION_BUDGET: Readonly<Required<EvaluationBudget>> = Object.freeze({
  maxOperations: 10_000,
  maxElements: 100_000,
});

/**
 * Scripts and param values nested deeper than this are refused: every walk of them
 * (checksum, copies, logging) stays far from the stack limit. The reference stops at
 * Python's recursion limit, a few hundred levels.
 */
export const MAX_NESTING = 1000;

/** Nodes a script may hold, counting a shared sub-object at each of its places. */
export const MAX_SCRIPT_NODES = 1_000_000;

// Budgets resolved from one layer, by identity: experiments resolve theirs per unit.
const resolvedLayers = new WeakMap<EvaluationBudget, Readonly<Required<EvaluationBudget>>>();

/** The budget in effect: later layers override earlier ones, the defaults under all. */
export function resolveEvaluationBudget(...layers: (EvaluationBudget | undefined)[]): Readonly<Required<EvaluationBudget>> {
  let only: EvaluationBudget | undefined;
  let count = 0;
  for (const layer of layers) {
    if (layer !== undefined) {
      only = layer;
      count++;
    }
  }
  if (only === undefined) return DEFAULT_EVALUATION_BUDGET;
  if (count === 1) {
    let resolved = resolvedLayers.get(only);
    if (resolved === undefined) resolvedLayers.set(only, (resolved = Object.freeze(mergeBudgets([only]))));
    return resolved;
  }
  return mergeBudgets(layers.filter((layer) => layer !== undefined));
}

function mergeBudgets(layers: readonly EvaluationBudget[]): Required<EvaluationBudget> {
  const out = { ...DEFAULT_EVALUATION_BUDGET };
  for (const layer of layers) {
    for (const key of ['maxOperations', 'maxElements'] as const) {
      const value = layer[key];
      if (value === undefined) continue;
      if (typeof value !== 'number' || !(value >= 1)) {
        throw new PlanoutError(`evaluation budget: ${key} must be a number >= 1 (Infinity turns it off), got ${String(value)}`);
      }
      out[key] = value;
    }
  }
  return out;
}

/**
 * Counts the cost of one assignment against its {@link EvaluationBudget}. Operators
 * (custom ones included) charge their work through `context.meter` before doing it.
 */
export class EvaluationMeter {
  operations = 0;
  elements = 0;
  readonly maxOperations: number;
  readonly maxElements: number;

  constructor(budget: Required<EvaluationBudget> = DEFAULT_EVALUATION_BUDGET) {
    this.maxOperations = budget.maxOperations;
    this.maxElements = budget.maxElements;
  }

  /** Charges `operations` and `elements`; throws when either total passes its limit. */
  spend(operations: number, elements = 0): void {
    this.operations += operations;
    this.elements += elements;
    if (this.operations > this.maxOperations || this.elements > this.maxElements) this.exceeded();
  }

  /**
   * Charges one operation per element of `value` (as expanded: a shared list counts at
   * each place), walking it without recursion and stopping at the limit. Call it before
   * a walk that recursion would do (equality, ordering, `str()`, copies).
   */
  spendWalking(value: unknown): void {
    if (typeof value !== 'object' || value === null) {
      if (typeof value === 'string') this.spend(value.length >>> 6);
      else if (typeof value === 'bigint') this.spend(bigintTextCost(value));
      return;
    }
    const room = this.maxOperations - this.operations;
    let count = 0;
    const stack: unknown[] = [value];
    while (stack.length > 0) {
      const node = stack.pop();
      if (++count > room) break;
      if (Array.isArray(node)) {
        // Each pending node counts at least one: past the room, stop before pushing them.
        if (count + stack.length + node.length > room) return this.spend(room + 1);
        for (let i = 0; i < node.length; i++) stack.push(node[i]);
      } else if (isPlainObject(node)) {
        const keys = Object.keys(node);
        if (count + stack.length + keys.length > room) return this.spend(room + 1);
        for (const key of keys) stack.push(node[key]);
      } else if (typeof node === 'string') {
        count += node.length >>> 6;
      } else if (typeof node === 'bigint') {
        count += bigintTextCost(node);
      }
    }
    this.spend(count);
  }

  private exceeded(): never {
    const [what, total, limit, key] =
      this.operations > this.maxOperations
        ? ['operations', this.operations, this.maxOperations, 'maxOperations']
        : ['elements', this.elements, this.maxElements, 'maxElements'];
    throw new PlanoutBudgetError(
      `evaluation budget exceeded: at least ${total} ${what} needed, the limit is ${limit} per assignment ` +
        `(raise ${key} in the experiment's budget or the module's evaluationBudget)`,
    );
  }
}

/**
 * Operations charged for the decimal text of a big int (`str()` when hashing): the
 * conversion is superlinear, about words² / 1000 microseconds.
 */
function bigintTextCost(value: bigint): number {
  if (value >= -(2n ** 64n) && value <= 2n ** 64n) return 0;
  const words = Math.ceil(value.toString(16).length / 16);
  return Math.ceil((words * words) / 1000);
}

/** Why a structure cannot be used: too deep, cyclic, or too large once expanded. */
export type StructureFault = 'deep' | 'cyclic' | 'large';

interface Frame {
  readonly node: object;
  readonly children: readonly unknown[];
  next: number;
  size: number;
  depth: number;
}

/** A big int weighs its decimal digits: logging writes them all, in superlinear time. */
function leafWeight(value: unknown): number {
  if (typeof value !== 'bigint' || (value >= -(2n ** 64n) && value <= 2n ** 64n)) return 1;
  return Math.ceil(value.toString(16).length * 1.2042);
}

function isContainer(value: unknown): value is object {
  return Array.isArray(value) || isPlainObject(value);
}

/**
 * Checks, without recursion, that `root` is acyclic, at most `maxDepth` containers deep
 * and at most `maxNodes` nodes once expanded; returns the fault, or the expanded size.
 * Shared sub-objects are walked once, so the cost is that of the distinct objects,
 * whatever their expanded size.
 */
export function measureStructure(root: unknown, maxDepth: number, maxNodes: number): StructureFault | number {
  if (!isContainer(root)) {
    const weight = leafWeight(root);
    return weight > maxNodes ? 'large' : weight;
  }
  const measured = new Map<object, { size: number; depth: number }>();
  const open = new Set<object>();
  const stack: Frame[] = [];
  const enter = (node: object): void => {
    open.add(node);
    const children = Array.isArray(node) ? node : Object.values(node as Record<string, unknown>);
    stack.push({ node, children, next: 0, size: 1, depth: 1 });
  };
  enter(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.next < top.children.length) {
      const child = top.children[top.next++];
      if (!isContainer(child)) {
        top.size += leafWeight(child);
        if (top.size > maxNodes) return 'large';
        continue;
      }
      const known = measured.get(child);
      if (known !== undefined) {
        // Measured once where first met; here it may sit deeper.
        if (stack.length + known.depth > maxDepth) return 'deep';
        top.size += known.size;
        if (known.depth + 1 > top.depth) top.depth = known.depth + 1;
        if (top.size > maxNodes) return 'large';
        continue;
      }
      if (open.has(child)) return 'cyclic';
      if (stack.length >= maxDepth) return 'deep';
      enter(child);
      continue;
    }
    stack.pop();
    open.delete(top.node);
    measured.set(top.node, { size: top.size, depth: top.depth });
    const parent = stack[stack.length - 1];
    if (parent !== undefined) {
      parent.size += top.size;
      if (top.depth + 1 > parent.depth) parent.depth = top.depth + 1;
      if (parent.size > maxNodes) return 'large';
    } else {
      return top.size;
    }
  }
  return 1; // not reached: the root frame returns its size
}

// Scripts found sound, by identity: a script object is checked once, not per assignment.
const soundScripts = new WeakSet<object>();

/** Throws a PlanoutScriptError when `script` is cyclic, nested too deep or too large. */
export function checkScriptStructure(script: unknown, experiment?: string): void {
  if (typeof script !== 'object' || script === null || soundScripts.has(script)) return;
  const fault = measureStructure(script, MAX_NESTING, MAX_SCRIPT_NODES);
  if (typeof fault === 'string') {
    const reason =
      fault === 'cyclic'
        ? 'the script contains itself (a cycle); scripts must be trees'
        : fault === 'deep'
          ? `the script is nested deeper than ${MAX_NESTING} levels`
          : `the script has more than ${MAX_SCRIPT_NODES} nodes (counting shared objects at each place)`;
    throw new PlanoutScriptError(reason, { experiment });
  }
  soundScripts.add(script);
}

/** Marks a copy of a checked script as checked (copies keep the structure). */
export function markScriptSound(script: object): void {
  soundScripts.add(script);
}

/**
 * Throws when a param's value could not be copied, logged or serialized safely: too
 * deep, cyclic, or, with the params before it (`room` elements left), larger once
 * expanded than `maxElements`. Returns the room left.
 */
export function checkParamValue(value: unknown, room: number, meter: EvaluationMeter, experiment: string, param: string): number {
  if (!isContainer(value) && typeof value !== 'bigint') return room;
  const fault = measureStructure(value, MAX_NESTING, room);
  if (typeof fault === 'number') return room - fault;
  const context = { experiment, param };
  if (fault === 'large') {
    throw new PlanoutBudgetError(
      `evaluation budget exceeded: the params hold more than ${meter.maxElements} elements once expanded ` +
        '(raise maxElements in the experiment\'s budget or the module\'s evaluationBudget)',
      context,
    );
  }
  throw new PlanoutScriptError(
    fault === 'cyclic' ? 'the value contains itself (a cycle)' : `the value is nested deeper than ${MAX_NESTING} levels`,
    context,
  );
}
