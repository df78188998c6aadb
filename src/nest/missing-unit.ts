import type { Assignment } from '../core/assignment.js';
import type { ExperimentInputs } from '../core/experiment.js';
import type { RandomOperatorLike } from '../core/ops/random.js';

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

function isRandomOperator(value: unknown): value is RandomOperatorLike {
  return typeof value === 'object' && value !== null && 'args' in value && typeof (value as RandomOperatorLike).execute === 'function';
}

/**
 * Runs `assign` with `params` watched: a random operator given a missing `unit` is not run
 * (nothing hashes a phantom unit) and marks the assignment. This is how units are inferred
 * when an experiment does not declare them: they are the `unit` arguments it draws with.
 * Returns whether a missing unit was seen, and `assign`'s result.
 */
export function assignWatchingUnits(params: Assignment<object>, assign: () => unknown): { result: unknown; missing: boolean } {
  let missing = false;
  const set = params.set;
  const watched = function (this: Assignment<object>, name: string, value: unknown): void {
    if (isRandomOperator(value) && isMissingUnit(value.args.unit) && !params.isOverridden(name)) {
      missing = true;
      return;
    }
    (set as (name: string, value: unknown) => void).call(params, name, value);
  };
  // An own property for the length of the (synchronous) assign call, then the prototype's again.
  Object.defineProperty(params, 'set', { value: watched, configurable: true, writable: true });
  try {
    const result = assign();
    return { result, missing };
  } finally {
    delete (params as { set?: unknown }).set;
  }
}
