import { RandomOperator, type RandomContext, type RandomOperatorLike } from './ops/random.js';
import { deepCopy, hasOwn, setOwn, type PlanoutObject, type PlanoutValue } from './values.js';

/**
 * The parameters of one experiment for one unit, as the reference's `Assignment`.
 *
 * Assigning a random operator runs it, salted with the parameter's name unless the
 * operator has its own `salt`. Overridden parameters keep their override.
 */
export class Assignment<TParams extends object = Record<string, unknown>> implements RandomContext {
  experimentSalt: string;
  saltSep = '.';
  /** For error messages only. */
  experimentName?: string;
  private overrides: PlanoutObject = {};
  private hasOverrides = false;
  private readonly data: PlanoutObject = {};

  constructor(experimentSalt: string, overrides: PlanoutObject = {}, experimentName?: string) {
    this.experimentSalt = experimentSalt;
    this.experimentName = experimentName;
    this.setOverrides(overrides);
  }

  /** Fixes parameters to the given values; later assignments to them are ignored. */
  setOverrides(overrides: PlanoutObject): void {
    this.overrides = deepCopy(overrides);
    this.hasOverrides = Object.keys(this.overrides).length > 0;
    for (const key of Object.keys(this.overrides)) setOwn(this.data, key, this.overrides[key]);
  }

  getOverrides(): PlanoutObject {
    return { ...this.overrides };
  }

  isOverridden(name: string): boolean {
    return hasOwn(this.overrides, name);
  }

  /** Assigns `value` to `name`; a random operator is run first (and salted with `name`). */
  set<K extends keyof TParams & string>(name: K, value: PlanoutValue | RandomOperatorLike): void {
    if (this.hasOverrides && hasOwn(this.overrides, name)) return;
    if (value instanceof RandomOperator) {
      // Salted with the param's name unless the operator has its own salt.
      setOwn(this.data, name, value.execute(this, name) as PlanoutValue);
    } else {
      setOwn(this.data, name, value as PlanoutValue);
    }
  }

  /** The value of `name`, or `defaultValue` when it was never assigned. */
  get<K extends keyof TParams & string>(name: K): TParams[K] | undefined;
  get<K extends keyof TParams & string, D>(name: K, defaultValue: D): TParams[K] | D;
  get(name: string, defaultValue?: unknown): unknown {
    return hasOwn(this.data, name) ? this.data[name] : defaultValue;
  }

  has(name: keyof TParams & string): boolean {
    return hasOwn(this.data, name);
  }

  delete(name: string): void {
    delete this.data[name];
  }

  keys(): string[] {
    return Object.keys(this.data);
  }

  /** A shallow copy of every assigned parameter (overrides included). */
  toObject(): PlanoutObject {
    const out: PlanoutObject = {};
    for (const key of Object.keys(this.data)) setOwn(out, key, this.data[key]);
    return out;
  }
}
