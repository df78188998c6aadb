import { Assignment } from './assignment.js';
import {
  EvaluationMeter,
  MAX_NESTING,
  checkParamValue,
  checkScriptStructure,
  resolveEvaluationBudget,
  type EvaluationBudget,
} from './budget.js';
import { PlanoutError, PlanoutScriptError } from './errors.js';
import {
  BUILTIN_OPERATORS,
  compileNode,
  evaluateArgsCompiled,
  type CompiledContext,
  type OperatorFn,
  type PlanoutErrorClass,
} from './ops/core.js';
import { PyFloat, hasOwn, pyStr, setOwn, toPlain, type PlanoutObject, type PlanoutValue } from './values.js';
import type { RandomOperatorLike } from './ops/random.js';

export { CORE_OPERATORS, randomOperator, simpleOperator } from './ops/core.js';
export type { OperatorContext, OperatorFn, PlanoutErrorClass } from './ops/core.js';

/**
 * Operators a script may use, by serialized name. The default registry is frozen;
 * extend it with `new OperatorRegistry(DEFAULT_OPERATORS).register('myOp', fn)`.
 */
export class OperatorRegistry {
  private readonly table: Map<string, OperatorFn>;
  private frozen = false;

  /** A copy of `base`'s operators (the built-in ones when omitted). */
  constructor(base?: OperatorRegistry) {
    this.table = new Map(base ? base.table : BUILTIN_OPERATORS);
  }

  /** Adds an operator. As in the reference, an existing name cannot be replaced. */
  register(name: string, operator: OperatorFn): this {
    if (this.frozen) throw new PlanoutError(`cannot register operator "${name}": the registry is frozen`);
    if (typeof name !== 'string' || name === '') throw new PlanoutError('an operator name must be a non-empty string');
    if (typeof operator !== 'function') throw new PlanoutError(`operator "${name}" must be a function`);
    if (this.table.has(name)) throw new PlanoutError(`operator "${name}" is already registered`);
    this.table.set(name, operator);
    return this;
  }

  /** Forbids further registrations. */
  freeze(): this {
    this.frozen = true;
    return this;
  }

  get isFrozen(): boolean {
    return this.frozen;
  }

  has(name: string): boolean {
    return this.table.has(name);
  }

  get(name: unknown): OperatorFn | undefined {
    return this.table.get(name as string);
  }

  names(): string[] {
    return [...this.table.keys()];
  }
}

/** The reference's operators (29 core + 8 random), frozen. */
export const DEFAULT_OPERATORS: OperatorRegistry = new OperatorRegistry().freeze();

export interface InterpreterOptions {
  /** Where params are stored (the experiment's Assignment); a fresh one by default. */
  environment?: Assignment;
  operators?: OperatorRegistry;
  /** Named in error messages; defaults to the salt. */
  experimentName?: string;
  /**
   * Whether `set` may write default salts into the script's own objects, as the
   * reference does (default true). With false, the script is left untouched.
   */
  mutateScript?: boolean;
  /** Told of every `set` whose operator gets the default salt (the var's name). */
  onDefaultSalt?: (valueNode: PlanoutObject, varName: string) => void;
  /**
   * Where `set` records the nodes it gives the default salt (and the var's names), in
   * order: what onDefaultSalt is told, without a call per node.
   */
  defaultSaltLog?: DefaultSaltLog;
  /** Limits on operations run and elements created; {@link DEFAULT_EVALUATION_BUDGET} fills the rest. */
  budget?: EvaluationBudget;
}

/** The operator nodes a run gave the default salt, and the salts, in the order it did. */
export interface DefaultSaltLog {
  readonly nodes: object[];
  readonly names: string[];
}

/**
 * Nesting beyond this is rejected rather than risking a stack overflow; the reference
 * hits Python's recursion limit at a few hundred levels already.
 */
const MAX_DEPTH = MAX_NESTING;

/** Thrown by `return` and caught by the interpreter; not an Error, so it carries no stack. */
class StopSignal {
  constructor(readonly inExperiment: boolean) {}
}

/** The running script's state; operators receive it as their context. */
class Evaluator implements CompiledContext {
  currentParam: string | undefined = undefined;
  /** Params the script assigned a list, dict or big int to: checked once it ends. */
  readonly containerParams: string[] = [];
  depth = 0;
  private rawSalt: PlanoutValue;
  private saltValue: PlanoutValue;

  constructor(
    readonly env: Assignment,
    readonly inputs: PlanoutObject,
    readonly registry: OperatorRegistry,
    readonly experimentName: string,
    salt: string,
    readonly meter: EvaluationMeter,
    private readonly options: InterpreterOptions = {},
  ) {
    this.rawSalt = salt;
    this.saltValue = env.experimentSalt;
  }

  /** The salt random operators hash with: `'%s' % experiment_salt` in the reference. */
  get experimentSalt(): string {
    return typeof this.rawSalt === 'string' ? this.rawSalt : pyStr(this.rawSalt);
  }

  get saltSep(): string {
    return this.env.saltSep;
  }

  mayDraw(operator: RandomOperatorLike): boolean {
    const filter = this.env.drawFilter;
    return filter === undefined || filter(operator, this.currentParam ?? '');
  }

  evaluate(node: unknown): PlanoutValue {
    if (typeof node !== 'object' || node === null) return node === undefined ? null : (node as PlanoutValue);
    return compileNode(node)(this);
  }

  defaultSalt(valueNode: PlanoutObject, varName: string): boolean {
    const log = this.options.defaultSaltLog;
    if (log !== undefined) {
      log.nodes.push(valueNode);
      log.names.push(varName);
    }
    this.options.onDefaultSalt?.(valueNode, varName);
    return this.options.mutateScript !== false;
  }

  evaluateArgs(node: PlanoutObject): PlanoutObject {
    return evaluateArgsCompiled(node, this);
  }

  lookup(name: string): PlanoutValue {
    // The reference Assignment keeps experiment_salt outside its params; salt_sep is not readable.
    if (name === 'experiment_salt') return this.saltValue;
    if (this.env.has(name)) return (this.env.get(name) as PlanoutValue) ?? null;
    if (hasOwn(this.inputs, name)) return this.inputs[name] ?? null;
    return null;
  }

  assign(name: string, value: PlanoutValue): void {
    if ((name === 'experiment_salt' || name === 'salt_sep') && typeof value === 'object' && value !== null) {
      this.meter.spendWalking(value); // str() of it below
    }
    if (name === 'experiment_salt') {
      this.saltValue = value;
      this.env.experimentSalt = pyStr(value);
    } else if (name === 'salt_sep') {
      this.env.saltSep = pyStr(value);
    } else {
      if ((typeof value === 'object' && value !== null && !(value instanceof PyFloat)) || typeof value === 'bigint') {
        this.containerParams.push(name);
      }
      this.env.set(name, value);
    }
  }

  isOverridden(name: string): boolean {
    return this.env.isOverridden(name);
  }

  setExperimentSalt(raw: PlanoutValue): void {
    this.rawSalt = raw;
  }

  stop(inExperiment: boolean): never {
    throw new StopSignal(inExperiment);
  }

  fail(message: string, kind: PlanoutErrorClass = PlanoutScriptError): never {
    throw new kind(message, { experiment: this.experimentName, param: this.currentParam });
  }

  tooDeep(): never {
    return this.fail(`script nested deeper than ${MAX_DEPTH} levels`);
  }

  /** Turns anything thrown during evaluation into a PlanoutError naming the experiment and param. */
  toPlanoutError(error: unknown): PlanoutError {
    const context = { experiment: this.experimentName, param: this.currentParam };
    let result: PlanoutError;
    if (error instanceof PlanoutError) {
      const experiment = error.experiment ?? context.experiment;
      // Random operators name their salt; the param being set is the more useful name.
      const param = context.param ?? error.param;
      if (experiment === error.experiment && param === error.param) return error;
      const prefix = new PlanoutError('', { experiment: error.experiment, param: error.param }).message;
      const message = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
      try {
        result = new (error.constructor as PlanoutErrorClass)(message, { experiment, param });
      } catch {
        return error;
      }
    } else if (error instanceof RangeError && /call stack/i.test(error.message)) {
      result = new PlanoutScriptError('script or value nested too deeply', context);
    } else if (error instanceof StopSignal) {
      result = new PlanoutScriptError('"return" outside of a script evaluation', context);
    } else {
      const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      result = new PlanoutScriptError(`evaluation failed: ${text}`, context);
    }
    Object.defineProperty(result, 'cause', { value: error, configurable: true, writable: true });
    return result;
  }

  reset(): void {
    this.depth = 0;
    this.currentParam = undefined;
  }

  /**
   * Runs a whole script: what its `return` said (undefined when none ran). Throws a
   * PlanoutError.
   */
  runScript(script: PlanoutValue): boolean | undefined {
    let inExperiment: boolean | undefined;
    try {
      try {
        checkScriptStructure(script, this.experimentName);
        this.evaluate(script);
      } catch (error) {
        if (!(error instanceof StopSignal)) throw error;
        inExperiment = error.inExperiment;
      }
      this.reset();
      // Values the script built must be safe to copy, log and serialize (no deep nesting,
      // no cycles, no exponential sharing): checked without recursion.
      const names = this.containerParams;
      if (names.length > 0) {
        let room = this.meter.maxElements;
        for (const name of new Set(names)) {
          room = checkParamValue(this.env.get(name), room, this.meter, this.experimentName, name);
        }
      }
    } catch (error) {
      const wrapped = this.toPlanoutError(error);
      this.reset();
      throw wrapped;
    }
    return inExperiment;
  }
}

/**
 * Runs `script` once for an experiment (its `Assignment` in `options.environment`), reading
 * `inputs` as given; true unless the script returned a falsy value. Throws a PlanoutError
 * naming the experiment and param. The one-shot form of {@link Interpreter}.
 */
export function runScript(
  script: PlanoutValue,
  experimentSalt: string,
  inputs: PlanoutObject,
  options: InterpreterOptions & { environment: Assignment },
): boolean {
  const evaluator = new Evaluator(
    options.environment,
    inputs,
    options.operators ?? DEFAULT_OPERATORS,
    options.experimentName ?? experimentSalt,
    experimentSalt,
    new EvaluationMeter(resolveEvaluationBudget(options.budget)),
    options,
  );
  return evaluator.runScript(script) ?? true;
}

const PENDING = 0;
const DONE = 1;
const FAILED = 2;

/**
 * Runs a serialized PlanOut script, as the reference's `Interpreter`. The script runs
 * once, on the first read (`getParams`, `get`, `inExperiment`).
 *
 * As in the reference, assigning an operator to a param writes `salt: <param>` into the
 * script object itself, so `stringifyPlanoutJson(script)` after evaluation is the
 * reference's checksum input.
 */
export class Interpreter {
  readonly script: PlanoutValue;
  /** Holds the params; pass the experiment's Assignment to share it. */
  readonly environment: Assignment;
  readonly experimentName: string;
  private readonly evaluator: Evaluator;
  private readonly inputs: PlanoutObject;
  private state = PENDING;
  private error: PlanoutError | undefined;
  private inExp = true;

  constructor(
    script: PlanoutValue,
    experimentSalt = 'global_salt',
    inputs: Readonly<Record<string, unknown>> = {},
    options: InterpreterOptions = {},
  ) {
    this.script = script;
    this.experimentName = options.experimentName ?? experimentSalt;
    this.environment = options.environment ?? new Assignment(experimentSalt, {}, this.experimentName);
    const own: PlanoutObject = {};
    for (const key of Object.keys(inputs)) setOwn(own, key, inputs[key] as PlanoutValue);
    this.inputs = own;
    this.evaluator = new Evaluator(
      this.environment,
      own,
      options.operators ?? DEFAULT_OPERATORS,
      this.experimentName,
      experimentSalt,
      new EvaluationMeter(resolveEvaluationBudget(options.budget)),
      options,
    );
  }

  /** Whether the script has run (successfully or not). */
  get evaluated(): boolean {
    return this.state !== PENDING;
  }

  /**
   * False when the script executed `return` with a falsy value. Reading it runs the
   * script first (the reference would answer `true` before evaluation).
   */
  get inExperiment(): boolean {
    this.run();
    return this.inExp;
  }

  /** Every param set by the script (and every override), as plain values. */
  getParams(): Record<string, unknown> {
    this.run();
    const out: Record<string, unknown> = {};
    try {
      for (const key of this.environment.keys()) setOwn(out, key, toPlain(this.environment.get(key)));
    } catch (error) {
      throw this.evaluator.toPlanoutError(error);
    }
    return out;
  }

  /** A param, else an input of that name, else `defaultValue` (the reference's `get`). */
  get(name: string, defaultValue: unknown = null): unknown {
    this.run();
    let value: unknown = defaultValue;
    if (name === 'experiment_salt' || this.environment.has(name) || hasOwn(this.inputs, name)) {
      value = this.evaluator.lookup(name);
    }
    try {
      return toPlain(value);
    } catch (error) {
      throw this.evaluator.toPlanoutError(error);
    }
  }

  /**
   * Fixes params to the given values; the script's assignments to them are skipped.
   * Call before the first read. An overridden input name changes what the script reads.
   */
  setOverrides(overrides: Readonly<Record<string, unknown>>): this {
    this.environment.setOverrides(overrides as PlanoutObject);
    return this;
  }

  getOverrides(): PlanoutObject {
    return this.environment.getOverrides();
  }

  hasOverride(name: string): boolean {
    return this.environment.isOverridden(name);
  }

  /**
   * Evaluates one node in this interpreter's environment (the reference's `evaluate`).
   * A `return` in it sets `inExperiment` and yields `null`.
   */
  evaluate(node: PlanoutValue): PlanoutValue {
    try {
      checkScriptStructure(node, this.experimentName);
      return this.evaluator.evaluate(node);
    } catch (error) {
      if (error instanceof StopSignal) {
        this.inExp = error.inExperiment;
        this.evaluator.reset();
        return null;
      }
      const wrapped = this.evaluator.toPlanoutError(error);
      this.evaluator.reset();
      throw wrapped;
    }
  }

  private run(): void {
    if (this.state === DONE) return;
    if (this.state === FAILED) throw this.error;
    try {
      const returned = this.evaluator.runScript(this.script);
      if (returned !== undefined) this.inExp = returned;
    } catch (error) {
      this.state = FAILED;
      this.error = error as PlanoutError;
      throw error;
    }
    this.state = DONE;
  }
}
