import type { Assignment } from '../core/assignment.js';
import type { ExperimentInputs } from '../core/experiment.js';

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
