import type { EvaluationBudget } from '../../core/budget.js';
import { PlanoutArgumentError, PlanoutBudgetError, PlanoutError } from '../../core/errors.js';
import { compilePlanout } from '../../core/compiler/index.js';
import { normalizeExperimentName, type Experiment as CoreExperiment, type ExperimentInputs } from '../../core/experiment.js';
import { InterpretedExperiment, type PlanoutScript } from '../../core/interpreted-experiment.js';
import { DEFAULT_OPERATORS, type OperatorRegistry } from '../../core/interpreter.js';
import { parsePlanoutJson } from '../../core/json.js';
import { SimpleNamespace } from '../../core/namespace.js';
import { deepCopy, isPlainObject } from '../../core/values.js';
import { stableStringify } from '../dedupe-key.js';
import type { ExperimentDefinitionData, NamespaceDefinitionData, NamespaceHistoryStep } from './definition-source.js';

export type DataExperimentClass = new (inputs: ExperimentInputs) => CoreExperiment;
export type DataNamespaceClass = new (inputs: ExperimentInputs) => SimpleNamespace;

/** A definition that passed every check, ready to build per-request instances. */
export interface CompiledExperiment {
  readonly name: string;
  readonly salt: string;
  /** The compiled script (what the checksum of the records is computed from). */
  readonly script: PlanoutScript;
  readonly type: DataExperimentClass;
  /** Identifies the data it was compiled from: an unchanged definition is not compiled again. */
  readonly fingerprint: string;
}

export interface CompiledNamespace {
  readonly name: string;
  readonly type: DataNamespaceClass;
  /** The inputs that route a unit (a unit missing one is routed nowhere). */
  readonly primaryUnits: readonly string[];
  readonly history: readonly NamespaceHistoryStep[];
  readonly fingerprint: string;
}

export interface DefinitionCheckOptions {
  /** Operators scripts may use. Default: the reference's. */
  readonly operators?: OperatorRegistry;
  /** Synthetic units each new definition is assigned in its dry run. Default 5. */
  readonly dryRunUnits?: number;
  /**
   * The evaluation budget every data-defined experiment runs under, from its dry run on
   * (the module's `evaluationBudget`). Default: the core's defaults.
   */
  readonly budget?: EvaluationBudget;
}

/** Raised when a definition fails a check; names the experiment. */
export class PlanoutDefinitionError extends PlanoutError {}

/** Raised when a name has no data-defined experiment (never defined, removed, or never valid). */
export class PlanoutUnknownExperimentError extends PlanoutError {
  constructor(readonly experimentName: string, kind: 'experiment' | 'namespace' = 'experiment') {
    super(`unknown ${kind}: no definition of that name is serving`, { experiment: experimentName });
  }
}

export function experimentFingerprint(definition: ExperimentDefinitionData): string {
  return stableStringify([definition.name, definition.salt ?? null, definition.language ?? null, definition.script]);
}

/**
 * The one place a script becomes a class. Interpreter options that apply to every
 * data-defined experiment (operators; the evaluation budget) are passed here.
 */
export function dataExperimentClass(name: string, salt: string, script: PlanoutScript, options: DefinitionCheckOptions): DataExperimentClass {
  const Defined = InterpretedExperiment.define({ name, salt, script, operators: options.operators });
  const { budget } = options;
  if (budget === undefined) return Defined;
  return class DataExperiment extends Defined {
    constructor(inputs: ExperimentInputs) {
      super(inputs);
      // As the module-wide budget: the layer under an experiment's own.
      this.setBudgetDefaults(budget);
    }
  };
}

/** Compiles, statically checks and dry-runs one experiment definition; throws what is wrong. */
export function compileExperimentDefinition(definition: ExperimentDefinitionData, options: DefinitionCheckOptions = {}): CompiledExperiment {
  const rawName: unknown = definition.name;
  if (typeof rawName !== 'string' || rawName.trim() === '') throw new PlanoutDefinitionError('an experiment definition needs a name');
  const name = normalizeExperimentName(rawName);
  const salt = definition.salt ?? name;
  if (typeof salt !== 'string' || salt === '') throw new PlanoutDefinitionError('the salt must be a non-empty string', { experiment: name });
  const script = scriptOf(definition, name);
  checkOperators(script, name, options.operators ?? DEFAULT_OPERATORS);
  const type = dataExperimentClass(name, salt, script, options);
  dryRun(type, script, name, options.dryRunUnits ?? 5);
  return { name, salt, script, type, fingerprint: experimentFingerprint(definition) };
}

function scriptOf(definition: ExperimentDefinitionData, name: string): PlanoutScript {
  const { script } = definition;
  if (typeof script === 'string') {
    const language = definition.language ?? (script.trimStart().startsWith('{') ? 'json' : 'planout');
    if (language === 'planout') return compilePlanout(script, { name });
    let parsed: unknown;
    try {
      parsed = parsePlanoutJson(script);
    } catch (error) {
      throw new PlanoutDefinitionError(`the script is not valid JSON: ${(error as Error).message}`, { experiment: name });
    }
    if (!isPlainObject(parsed)) throw new PlanoutDefinitionError('the script must be a JSON object', { experiment: name });
    return parsed;
  }
  if (!isPlainObject(script)) throw new PlanoutDefinitionError('the script must be PlanOut source or a compiled script object', { experiment: name });
  // Our own copy: the caller's object may change after the check.
  return deepCopy(script);
}

/** Static check: every operator the script names exists. */
function checkOperators(script: PlanoutScript, name: string, operators: OperatorRegistry): void {
  const stack: unknown[] = [script];
  while (stack.length > 0) {
    const node = stack.pop();
    if (Array.isArray(node)) {
      stack.push(...node);
    } else if (isPlainObject(node)) {
      if (Object.hasOwn(node, 'op')) {
        const op = node.op;
        if (typeof op !== 'string' || !operators.has(op)) {
          throw new PlanoutDefinitionError(`unknown operator ${JSON.stringify(op)}`, { experiment: name });
        }
        // A literal's value is data, not code.
        if (op === 'literal') continue;
      }
      for (const key of Object.keys(node)) stack.push(node[key]);
    }
  }
}

/** Names the script reads with `get`: the inputs a dry run must supply. */
function readNames(script: PlanoutScript): string[] {
  const names = new Set<string>();
  const stack: unknown[] = [script];
  while (stack.length > 0) {
    const node = stack.pop();
    if (Array.isArray(node)) stack.push(...node);
    else if (isPlainObject(node)) {
      if (node.op === 'literal') continue;
      if (node.op === 'get' && typeof node.var === 'string') names.add(node.var);
      for (const key of Object.keys(node)) stack.push(node[key]);
    }
  }
  return [...names];
}

/**
 * Assigns a few synthetic units. Errors that do not depend on the input values (invalid
 * operator arguments, the evaluation budget, crashes of the process's own code) reject
 * the definition; others may come from the synthetic values themselves and do not.
 */
function dryRun(type: DataExperimentClass, script: PlanoutScript, name: string, units: number): void {
  const inputNames = readNames(script);
  for (let unit = 0; unit < units; unit++) {
    const inputs: ExperimentInputs = {};
    for (const input of inputNames) inputs[input] = `planout-dry-run-${unit}`;
    try {
      const experiment = new type(inputs);
      experiment.setAutoExposureLogging(false);
      experiment.getParams();
      void experiment.checksum;
    } catch (error) {
      if (!(error instanceof PlanoutError) || error instanceof PlanoutArgumentError || error instanceof PlanoutBudgetError) {
        throw dryRunFailure(error, name);
      }
    }
  }
}

/** The definition's rejection by its dry run; `cause` is what the run threw (e.g. a `PlanoutBudgetError`). */
function dryRunFailure(error: unknown, name: string): PlanoutDefinitionError {
  const failure = new PlanoutDefinitionError(`dry run failed: ${(error as Error).message}`, { experiment: name });
  Object.defineProperty(failure, 'cause', { value: error, configurable: true, writable: true });
  return failure;
}

/**
 * Builds a namespace class from its data and the serving experiments its history names.
 * `serving` is the namespace currently in use: the new history must extend its history.
 */
export function compileNamespaceDefinition(
  definition: NamespaceDefinitionData,
  experiments: ReadonlyMap<string, CompiledExperiment>,
  serving: CompiledNamespace | undefined,
  fingerprint: string,
  dryRunUnits = 5,
): CompiledNamespace {
  const { name, segments, history } = definition;
  if (serving !== undefined) {
    const kept = serving.history.length <= history.length && serving.history.every((step, i) => stableStringify(step) === stableStringify(history[i]));
    if (!kept) {
      throw new PlanoutDefinitionError('namespace history is append-only: the new history must start with the serving one', { experiment: name });
    }
  }
  const members = new Map<string, DataExperimentClass>();
  for (const step of history) {
    if (step.action !== 'add' || members.has(step.experiment)) continue;
    const compiled = experiments.get(step.experiment);
    if (compiled === undefined) {
      throw new PlanoutDefinitionError(`namespace step "${step.name}" names experiment "${step.experiment}", which has no valid definition`, {
        experiment: name,
      });
    }
    members.set(step.experiment, compiled.type);
  }
  const primaryUnit = typeof definition.primaryUnit === 'string' ? definition.primaryUnit : [...definition.primaryUnit];
  class DataNamespace extends SimpleNamespace {
    protected setup(): void {
      this.name = name;
      this.primaryUnit = primaryUnit;
      this.numSegments = segments;
    }

    protected setupExperiments(): void {
      history.forEach((step, i) => {
        const done = step.action === 'add' ? this.addExperiment(step.name, members.get(step.experiment)!, step.segments) : this.removeExperiment(step.name);
        if (!done) {
          const why = step.action === 'add' ? 'too few free segments, or the name is in use' : 'no such experiment in the namespace';
          throw new PlanoutDefinitionError(`history[${i}] (${step.action} "${step.name}") cannot apply: ${why}`, { experiment: name });
        }
      });
    }
  }
  Object.defineProperty(DataNamespace, 'name', { value: name });
  try {
    // Builds the layout (runs the history) and routes a few units.
    for (let unit = 0; unit < dryRunUnits; unit++) {
      const inputs: ExperimentInputs = {};
      for (const u of Array.isArray(primaryUnit) ? primaryUnit : [primaryUnit]) inputs[u] = `planout-dry-run-${unit}`;
      const experiment = new DataNamespace(inputs).currentExperiment;
      experiment?.setAutoExposureLogging(false);
      experiment?.getParams();
    }
  } catch (error) {
    if (error instanceof PlanoutDefinitionError) throw error;
    if (!(error instanceof PlanoutError) || error instanceof PlanoutArgumentError || error instanceof PlanoutBudgetError) {
      throw dryRunFailure(error, name);
    }
  }
  return { name, type: DataNamespace, primaryUnits: Array.isArray(primaryUnit) ? primaryUnit : [primaryUnit], history, fingerprint };
}
