import { readFileSync } from 'node:fs';
import type { Assignment } from './assignment.js';
import { PlanoutError } from './errors.js';
import { Experiment, shortChecksum, type ExperimentInputs, type ExperimentParams } from './experiment.js';
import { Interpreter, type OperatorRegistry } from './interpreter.js';
import { parsePlanoutJson, stringifyPlanoutJson } from './json.js';
import { deepCopy, isPlainObject, type PlanoutObject } from './values.js';

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
  private evaluatedScript: PlanoutScript | undefined;

  /** The script to run. Called once per instance. */
  protected abstract loadScript(): PlanoutScript;

  /** Operators available to the script (the core ones by default). */
  protected operators(): OperatorRegistry | undefined {
    return undefined;
  }

  assign(params: Assignment<TParams>, inputs: TInputs): boolean {
    // Each instance evaluates its own copy: the interpreter writes default salts into the
    // script, and the checksum must reflect exactly this run, as in the reference.
    const script = deepCopy(this.loadScript());
    this.evaluatedScript = script;
    const interpreter = new Interpreter(script, this.salt, inputs as PlanoutObject, {
      environment: params as Assignment,
      experimentName: this.name,
      operators: this.operators(),
    });
    return interpreter.inExperiment;
  }

  protected override computeChecksum(): string {
    return shortChecksum(stringifyPlanoutJson(this.evaluatedScript ?? this.loadScript()));
  }

  /** A class for the script in `options`, ready for `new`, namespaces and Nest. */
  static define<P extends object = ExperimentParams, I extends object = ExperimentInputs>(
    options: InterpretedExperimentOptions,
  ): new (inputs?: I) => ScriptExperiment<P, I> {
    const script = loadPlanoutScript(options);
    const { name, salt, operators } = options;
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
