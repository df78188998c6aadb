import { PlanoutArgumentError } from './errors.js';
import { RandomOperator, type RandomContext, type RandomOperatorLike } from './ops/random.js';
import { deepCopy, pyStr, setOwn, type PlanoutObject, type PlanoutValue } from './values.js';

const NO_OVERRIDES: ReadonlyMap<string, PlanoutValue> = new Map();

/**
 * Names the reference's `Assignment` keeps out of its params: assigning them changes how
 * later random operators hash (`experiment_salt`, and `salt_sep` between salt and unit).
 */
export type ReservedAssignmentName = 'salt_sep' | 'experiment_salt';

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
  /**
   * Consulted before a random operator runs, when set: returning false leaves the param
   * unassigned and draws nothing. Unset (the default) changes nothing; hosts use it to
   * refuse draws, e.g. on a missing unit.
   */
  drawFilter: ((operator: RandomOperatorLike, name: string) => boolean) | undefined = undefined;
  // Maps: any name (even `__proto__`) is plain data, and they are cheaper than objects here.
  private overrides: ReadonlyMap<string, PlanoutValue> = NO_OVERRIDES;
  private readonly data = new Map<string, PlanoutValue>();
  // What `set` stored for the reserved names when it was not a string (hashed as `str()`).
  private rawSaltSep: PlanoutValue | undefined;
  private rawExperimentSalt: PlanoutValue | undefined;

  constructor(experimentSalt: string, overrides?: PlanoutObject, experimentName?: string) {
    this.experimentSalt = experimentSalt;
    this.experimentName = experimentName;
    if (overrides !== undefined) this.setOverrides(overrides);
  }

  /** Fixes parameters to the given values; later assignments to them are ignored. */
  setOverrides(overrides: PlanoutObject): void {
    const copy = new Map<string, PlanoutValue>();
    for (const key of Object.keys(overrides)) {
      const value = deepCopy(overrides[key]);
      copy.set(key, value);
      this.data.set(key, value);
    }
    this.overrides = copy;
  }

  getOverrides(): PlanoutObject {
    const out: PlanoutObject = {};
    for (const [key, value] of this.overrides) setOwn(out, key, value);
    return out;
  }

  isOverridden(name: string): boolean {
    return this.overrides.has(name);
  }

  /**
   * Assigns `value` to `name`; a random operator is run first (and salted with `name`).
   * `salt_sep` and `experiment_salt` are not params: as in the reference, they set the
   * separator and the experiment salt that later random operators hash with.
   */
  set<K extends (keyof TParams & string) | ReservedAssignmentName>(name: K, value: PlanoutValue | RandomOperatorLike): void {
    const key: string = name;
    if (key === 'salt_sep' || key === 'experiment_salt') return this.setReserved(key, value);
    if (this.overrides.size > 0 && this.overrides.has(name)) return;
    if (value instanceof RandomOperator) {
      if (this.drawFilter !== undefined && !this.drawFilter(value, name)) return;
      // Salted with the param's name unless the operator has its own salt.
      this.data.set(name, value.execute(this, name) as PlanoutValue);
    } else {
      this.data.set(name, value as PlanoutValue);
    }
  }

  /** The value of `name`, or `defaultValue` when it was never assigned. */
  get<K extends keyof TParams & string>(name: K): TParams[K] | undefined;
  get<K extends keyof TParams & string, D>(name: K, defaultValue: D): TParams[K] | D;
  /** The separator or experiment salt random operators hash with now. */
  get(name: ReservedAssignmentName): PlanoutValue;
  get(name: string, defaultValue?: unknown): unknown {
    if (name === 'salt_sep') return this.rawSaltSep ?? this.saltSep;
    if (name === 'experiment_salt') return this.rawExperimentSalt ?? this.experimentSalt;
    const value = this.data.get(name);
    return value !== undefined || this.data.has(name) ? value : defaultValue;
  }

  has(name: keyof TParams & string): boolean {
    return this.data.has(name);
  }

  delete(name: string): void {
    this.data.delete(name);
  }

  keys(): string[] {
    return [...this.data.keys()];
  }

  /** Every assigned parameter (overrides included), in assignment order. */
  entries(): IterableIterator<[string, PlanoutValue]> {
    return this.data.entries();
  }

  private setReserved(name: ReservedAssignmentName, value: PlanoutValue | RandomOperatorLike): void {
    // The reference stores the value as given and formats it with '%s' when hashing;
    // overrides do not apply to these names. An operator is not run there, and its
    // '%s' is a memory address, so it is refused rather than hashed.
    if (value instanceof RandomOperator) {
      throw new PlanoutArgumentError(`${name} must be a value, not a random operator`, {
        experiment: this.experimentName,
        param: name,
      });
    }
    const raw = value as PlanoutValue;
    const text = typeof raw === 'string' ? raw : pyStr(raw);
    if (name === 'salt_sep') {
      this.saltSep = text;
      this.rawSaltSep = typeof raw === 'string' ? undefined : raw;
    } else {
      this.experimentSalt = text;
      this.rawExperimentSalt = typeof raw === 'string' ? undefined : raw;
    }
  }

  /** A shallow copy of every assigned parameter (overrides included). */
  toObject(): PlanoutObject {
    const out: PlanoutObject = {};
    for (const [key, value] of this.data) setOwn(out, key, value);
    return out;
  }
}
