import { readFileSync } from 'node:fs';
import type { Assignment } from './assignment.js';
import { checkScriptStructure, markScriptSound, resolveEvaluationBudget, type EvaluationBudget } from './budget.js';
import { PlanoutError } from './errors.js';
import { Experiment, shortChecksum, type ExperimentInputs, type ExperimentParams } from './experiment.js';
import { runScript, type DefaultSaltLog, type OperatorRegistry } from './interpreter.js';
import { parsePlanoutJson, stringifyPlanoutJson } from './json.js';
import { deepCopy, isPlainObject, setOwn, type PlanoutObject, type PlanoutValue } from './values.js';

/** A serialized PlanOut script (the compiler's JSON output). */
export type PlanoutScript = PlanoutObject;

export interface InterpretedExperimentOptions {
  /** The script, as an object or as JSON text (parsed keeping `2.0` a float). */
  script?: PlanoutScript | string;
  /** A JSON file holding the script; read once, when the class is defined. */
  scriptFile?: string;
  name?: string;
  salt?: string;
  /** Extra operators the script may use. */
  operators?: OperatorRegistry;
  /**
   * Limits on one assignment's work; over them, reading a param throws a
   * `PlanoutBudgetError`. Overrides the module-wide `evaluationBudget`, itself over the
   * defaults (10 000 operations, 100 000 elements).
   */
  budget?: EvaluationBudget;
}

/** Reads and checks a script given as an object, JSON text or a file. */
export function loadPlanoutScript(options: InterpretedExperimentOptions, experiment = options.name): PlanoutScript {
  let script: unknown = options.script;
  if (options.scriptFile !== undefined) {
    try {
      script = readFileSync(options.scriptFile, 'utf8');
    } catch (error) {
      throw new PlanoutError(`cannot read script file ${options.scriptFile}: ${(error as Error).message}`, { experiment });
    }
  }
  if (typeof script === 'string') script = parsePlanoutJson(script);
  if (!isPlainObject(script)) throw new PlanoutError('the script must be a JSON object', { experiment });
  checkScriptStructure(script, experiment);
  return script;
}

/**
 * An experiment whose assignment is a serialized PlanOut script (the reference's
 * SimpleInterpretedExperiment). The script's `return` decides `inExperiment`; the
 * checksum is the reference's: SHA-1 of the script's `json.dumps` after evaluation.
 *
 * Subclass it and implement {@link loadScript}, or build a class with {@link define}.
 */
export abstract class InterpretedExperiment<
  TParams extends object = ExperimentParams,
  TInputs extends object = ExperimentInputs,
> extends Experiment<TParams, TInputs> {
  /** This instance's run: its script and the `set` nodes that got a default salt. */
  private run: { plan: ScriptPlan; script: PlanoutScript; salted: DefaultSaltLog } | undefined;
  private budgetDefaults: EvaluationBudget | undefined;

  /** The script to run. Called once per instance. */
  protected abstract loadScript(): PlanoutScript;

  /** Operators available to the script (the core ones by default). */
  protected operators(): OperatorRegistry | undefined {
    return undefined;
  }

  /** This experiment's evaluation budget (over the module-wide one and the defaults). */
  protected evaluationBudget(): EvaluationBudget | undefined {
    return undefined;
  }

  /**
   * The budget under this experiment's own: hosts such as the Nest module pass their
   * module-wide `evaluationBudget` here. Call before the first read.
   */
  setBudgetDefaults(budget: EvaluationBudget | undefined): this {
    this.budgetDefaults = budget;
    return this;
  }

  assign(params: Assignment<TParams>, inputs: TInputs): boolean {
    const source = this.loadScript();
    checkScriptStructure(source, this.name);
    const plan = planFor(source);
    // The reference writes default salts into the script it runs, and the checksum is taken
    // from that script. A script that cannot leak its own objects into values runs shared
    // and untouched (the salts are noted instead); one that can runs on its own copy.
    const script = plan.shared ? source : markedSound(deepCopy(source));
    const salted: DefaultSaltLog = { nodes: [], names: [] };
    this.run = { plan, script, salted };
    // The inputs are this experiment's own and the script runs now: read them as they are.
    return runScript(script, this.salt, inputs as PlanoutObject, {
      environment: params as Assignment,
      experimentName: this.name,
      operators: this.operators(),
      mutateScript: !plan.shared,
      defaultSaltLog: plan.shared ? salted : undefined,
      budget: resolveEvaluationBudget(this.budgetDefaults, this.evaluationBudget()),
    });
  }

  protected override computeChecksum(): string {
    const run = this.run;
    if (run === undefined) {
      const script = this.loadScript();
      checkScriptStructure(script, this.name);
      return shortChecksum(stringifyPlanoutJson(script));
    }
    if (!run.plan.shared) return shortChecksum(stringifyPlanoutJson(run.script));
    return run.plan.checksum(run.salted);
  }

  /** A class for the script in `options`, ready for `new`, namespaces and Nest. */
  static define<P extends object = ExperimentParams, I extends object = ExperimentInputs>(
    options: InterpretedExperimentOptions,
  ): new (inputs?: I) => ScriptExperiment<P, I> {
    const script = loadPlanoutScript(options);
    const { name, salt, operators, budget } = options;
    if (budget !== undefined) resolveEvaluationBudget(budget); // a bad budget fails here, not per unit
    return class DefinedInterpretedExperiment extends ScriptExperiment<P, I> {
      protected override setup(): void {
        if (name !== undefined) this.name = name;
        if (salt !== undefined) this.salt = salt;
      }
      protected override loadScript(): PlanoutScript {
        return script;
      }
      protected override operators(): OperatorRegistry | undefined {
        return operators;
      }
      protected override evaluationBudget(): EvaluationBudget | undefined {
        return budget;
      }
    };
  }
}

/** The concrete base of the classes {@link InterpretedExperiment.define} builds. */
export class ScriptExperiment<
  TParams extends object = ExperimentParams,
  TInputs extends object = ExperimentInputs,
> extends InterpretedExperiment<TParams, TInputs> {
  protected loadScript(): PlanoutScript {
    throw new PlanoutError('no script: build the class with InterpretedExperiment.define()', { experiment: this.name });
  }
}

/** What is known of one script object, shared by every run of it. */
class ScriptPlan {
  /** False when the script holds literal objects a run could mutate (quirk Q3). */
  readonly shared: boolean;
  private readonly checksums = new Map<string, string>();
  private readonly nodeIds = new WeakMap<object, number>();
  private nextId = 0;
  /** The salted nodes (and their salts) of the last checksum asked for, and that checksum. */
  private last: { readonly nodes: readonly object[]; readonly names: readonly string[]; readonly checksum: string } | undefined;

  constructor(private readonly script: PlanoutScript) {
    this.shared = !holdsLiteralObjects(script, true);
  }

  /** The reference's checksum of the script with default salts written at the `salted` nodes. */
  checksum(salted: DefaultSaltLog): string {
    // Units nearly always salt the nodes the previous unit salted, in the same order.
    const last = this.last;
    const { nodes, names } = salted;
    if (last !== undefined && last.nodes.length === nodes.length) {
      let i = 0;
      while (i < nodes.length && nodes[i] === last.nodes[i] && names[i] === last.names[i]) i++;
      if (i === nodes.length) return last.checksum;
    }
    // A node salted twice keeps its first place and its last name.
    const byNode = new Map<object, string>();
    for (let i = 0; i < nodes.length; i++) byNode.set(nodes[i], names[i]);
    let key = '';
    for (const node of byNode.keys()) key += this.idOf(node) + ',';
    let checksum = this.checksums.get(key);
    if (checksum === undefined) {
      checksum = shortChecksum(stringifyPlanoutJson(withSalts(this.script, byNode)));
      if (this.checksums.size < 1024) this.checksums.set(key, checksum);
    }
    this.last = { nodes: [...nodes], names: [...names], checksum };
    return checksum;
  }

  private idOf(node: object): number {
    let id = this.nodeIds.get(node);
    if (id === undefined) this.nodeIds.set(node, (id = this.nextId++));
    return id;
  }
}

function markedSound<T extends object>(copy: T): T {
  markScriptSound(copy);
  return copy;
}

const plans = new WeakMap<object, ScriptPlan>();

function planFor(script: PlanoutScript): ScriptPlan {
  let plan = plans.get(script);
  if (plan === undefined) plans.set(script, (plan = new ScriptPlan(script)));
  return plan;
}

/** Whether evaluating `node` could hand out one of the script's own lists or objects. */
function holdsLiteralObjects(node: unknown, top = false): boolean {
  if (Array.isArray(node)) return node.some((item) => holdsLiteralObjects(item));
  if (!isPlainObject(node)) return false;
  if (!top && (!Object.hasOwn(node, 'op') || node.op === 'literal')) return true;
  if (node.op === 'cond' && Array.isArray(node.cond)) {
    // The {if, then} pairs are structure, not values: look inside them.
    const branches = node.cond.every((b) => isPlainObject(b) && !Object.hasOwn(b, 'op'));
    if (branches) {
      const rest = Object.keys(node).filter((key) => key !== 'cond');
      return (
        (node.cond as PlanoutObject[]).some((b) => Object.keys(b).some((key) => holdsLiteralObjects(b[key]))) ||
        rest.some((key) => holdsLiteralObjects(node[key]))
      );
    }
  }
  return Object.keys(node).some((key) => holdsLiteralObjects(node[key]));
}

/** A copy of `node` where each object in `salted` gets `salt` appended, as `set` does. */
function withSalts(node: PlanoutValue, salted: ReadonlyMap<object, string>): PlanoutValue {
  if (Array.isArray(node)) return node.map((item) => withSalts(item, salted));
  if (!isPlainObject(node)) return node;
  const out: PlanoutObject = {};
  for (const key of Object.keys(node)) setOwn(out, key, withSalts(node[key], salted));
  const salt = salted.get(node);
  if (salt !== undefined && !Object.hasOwn(out, 'salt')) setOwn(out, 'salt', salt);
  return out;
}
