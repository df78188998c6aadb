import type { Assignment } from '../core/assignment.js';
import type { Experiment as CoreExperiment, ExperimentInputs } from '../core/experiment.js';

/**
 * The missing-unit policy, applied where the Nest shell hands inputs to the core: a unit
 * that is `undefined`, `null` or `''` (or a compound unit with such a part, or empty) is
 * missing, and an instance with a missing unit is not in the experiment. Its params read
 * their defaults and it logs neither exposures nor events. Units present are hashed by the
 * core exactly as before.
 */
export function isMissingUnit(value: unknown): boolean {
  if (value === undefined || value === null || value === '') return true;
  if (Array.isArray(value)) return value.length === 0 || value.some(isMissingUnit);
  return false;
}

/** The first of `units` missing from `inputs`, or undefined when all are present. */
export function firstMissingUnit(inputs: ExperimentInputs, units: readonly string[] | undefined): string | undefined {
  if (units === undefined) return undefined;
  for (const name of units) {
    if (isMissingUnit(Object.hasOwn(inputs, name) ? inputs[name] : undefined)) return name;
  }
  return undefined;
}

/**
 * Runs `assign` with `params` watched: a random operator given a missing `unit` is not run
 * (nothing hashes a phantom unit) and marks the assignment. This is how units are inferred
 * when an experiment does not declare them: they are the `unit` arguments it draws with.
 * Returns whether a missing unit was seen, and `assign`'s result.
 */
export function assignWatchingUnits(params: Assignment<object>, assign: () => unknown): { result: unknown; missing: boolean } {
  let missing = false;
  params.drawFilter = (operator) => {
    if (!isMissingUnit(operator.args.unit)) return true;
    missing = true;
    return false;
  };
  try {
    const result = assign();
    return { result, missing };
  } finally {
    params.drawFilter = undefined;
  }
}

/** What {@link assignUnlessUnitMissing} returns when a unit is missing. */
export const UNIT_MISSING: unique symbol = Symbol('nestjs-planout.unit-missing');

/**
 * Runs `assign` under the policy: `UNIT_MISSING` when a declared unit (`units`) is missing
 * (then `assign` does not run) or when it drew with a missing unit; else its result.
 */
export function assignUnlessUnitMissing(
  params: Assignment<object>,
  inputs: ExperimentInputs,
  units: readonly string[] | undefined,
  assign: () => unknown,
): unknown {
  if (firstMissingUnit(inputs, units) !== undefined) return UNIT_MISSING;
  const { result, missing } = assignWatchingUnits(params, assign);
  return missing ? UNIT_MISSING : result;
}

type ExperimentClass = new (inputs: ExperimentInputs) => CoreExperiment;
interface ConcreteExperiment extends CoreExperiment {
  assign(params: Assignment<Record<string, unknown>>, inputs: ExperimentInputs): unknown;
}

/**
 * `Base` (a core `Experiment` subclass: a class registered in `experiments`, or a compiled
 * data definition) under the policy: declared `units`, else the units it draws with. It
 * keeps `Base`'s name (the default experiment name); built once per class, not per request.
 */
export function withUnitPolicy<T extends ExperimentClass>(type: T, units: readonly string[] | undefined, onMissingUnit: () => void): T {
  // Typed concrete: `type` is a subclass that implements assign.
  const Base = type as unknown as new (inputs: ExperimentInputs) => ConcreteExperiment;
  const Checked = class extends Base {
    private unitMissing = false;

    override assign(params: Assignment<Record<string, unknown>>, inputs: ExperimentInputs): unknown {
      const result = assignUnlessUnitMissing(params, inputs, units, () => super.assign(params, inputs));
      if (result !== UNIT_MISSING) return result;
      this.unitMissing = true;
      onMissingUnit();
      return false;
    }

    override get(name: string, defaultValue?: unknown): unknown {
      // A missing unit reads defaults (or QA-forced values), never a draw.
      if (this.inExperiment || !this.unitMissing) return super.get(name, defaultValue);
      return overriddenOr(this.getOverrides(), name, defaultValue);
    }

    override getParams(): Record<string, unknown> {
      if (this.inExperiment || !this.unitMissing) return super.getParams();
      return this.getOverrides();
    }
  };
  Object.defineProperty(Checked, 'name', { value: type.name });
  return Checked as unknown as T;
}

/** The forced value of `name`, else `defaultValue`. */
export function overriddenOr(overrides: Record<string, unknown>, name: string, defaultValue: unknown): unknown {
  return Object.hasOwn(overrides, name) ? overrides[name] : defaultValue;
}
