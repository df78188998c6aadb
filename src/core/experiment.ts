import { createHash } from 'node:crypto';
import { Assignment } from './assignment.js';
import type { PlanoutLogRecord } from './log-record.js';
import { deepCopy, hasOwn, setOwn, toPlain, truthy, type PlanoutObject, type PlanoutValue } from './values.js';

/** Inputs of an experiment: the unit(s) and anything the assignment reads. */
export type ExperimentInputs = Record<string, unknown>;

/** Params of an experiment, by name. */
export type ExperimentParams = Record<string, unknown>;

/** Extra data attached to an exposure or event record. */
export type LogExtras = Record<string, unknown>;

/** Python's `\s` (str.isspace), which differs from JavaScript's (\x1c-\x1f, \x85; not \ufeff). */
const PYTHON_WHITESPACE_RUN = /[\t\n\v\f\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/g;

/** Whitespace runs become `-` in experiment names, as in the reference. */
export function normalizeExperimentName(name: string): string {
  // Runs once per instance, nearly always on the name it ran on last.
  if (name === lastName.given) return lastName.normalized;
  let normalized = name;
  // Names rarely hold whitespace; skip the regex for those.
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c <= 32 || c === 0x85 || c === 0xa0 || c > 0x167f) {
      normalized = name.replace(PYTHON_WHITESPACE_RUN, '-');
      break;
    }
  }
  lastName.given = name;
  lastName.normalized = normalized;
  return normalized;
}
const lastName = { given: '', normalized: '' };

/** A copy of an object's own keys with values made plain (PyFloat unboxed), nested ones copied. */
function plainCopy(source: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const keys = Object.keys(source);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    let value = (source as Record<string, unknown>)[key];
    if (typeof value === 'object' && value !== null) value = toPlain(value);
    if (key === '__proto__') setOwn(out, key, value);
    else out[key] = value;
  }
  return out;
}

/** First 8 hex digits of the SHA-1 of `source`. */
export function shortChecksum(source: string): string {
  return createHash('sha1').update(source, 'utf8').digest('hex').slice(0, 8);
}

// Loggers are configured once per experiment class and name, as the reference does.
const configuredLoggers = new WeakMap<object, Set<string>>();
const lastConfigured: { constructor: object | undefined; name: string | undefined } = { constructor: undefined, name: undefined };
const DEFAULT_CHECKSUM = shortChecksum('default');
const MISSING: unique symbol = Symbol('missing');
// The source of assign() is fixed per class, so is its checksum.
const sourceChecksums = new WeakMap<object, string>();
// Most units are of the class checksummed last: one comparison instead of a WeakMap read.
const lastChecksum: { assign: object | undefined; checksum: string } = { assign: undefined, checksum: '' };

/**
 * A PlanOut experiment for one unit: the reference's `Experiment` lifecycle.
 *
 * Subclasses implement {@link assign}; they may set `name` and `salt` in {@link setup}
 * and override {@link configureLogger}, {@link log} and {@link previouslyLogged}.
 * Assignment runs lazily, once, on the first read. Reading a param logs one exposure
 * (unless turned off), and never when `assign` returned a falsy value other than
 * `undefined`.
 */
export abstract class Experiment<
  TParams extends object = ExperimentParams,
  TInputs extends object = ExperimentInputs,
> {
  private nameValue: string | undefined;
  private saltValue: string | undefined;
  private inputValues: TInputs;
  /** Whether `inputValues` is our own copy (made before overrides first replace an input). */
  private ownsInputs = false;
  private readonly assignment: Assignment<TParams>;
  private isSetUp = false;
  private assigned = false;
  private inExperimentValue = true;
  private exposureLoggedValue = false;
  private autoExposureLogging = true;
  private checksumValue: string | undefined;

  constructor(inputs: TInputs = {} as TInputs) {
    // Copied on write: only overrides replace inputs, and the caller's object must not change.
    this.inputValues = inputs;
    this.assignment = new Assignment<TParams>('');
  }

  /** Sets `name` / `salt`; runs once, before anything else reads them. */
  protected setup(): void {}

  /**
   * Assigns the params of this unit. Return `false` (or another falsy value other than
   * `undefined`) when the unit is not in the experiment.
   */
  abstract assign(params: Assignment<TParams>, inputs: TInputs): unknown;

  /** Names of the params this experiment declares; reading another name does not log exposure. */
  getParamNames(): readonly string[] | undefined {
    return undefined;
  }

  /** Sets up logging; called once per experiment class and name, before the first assignment. */
  protected configureLogger(): void {}

  /** Writes one record. The base class drops it. */
  protected log(_record: PlanoutLogRecord): void {}

  /**
   * Whether this unit's exposure was already logged elsewhere (another instance, another
   * process). Consulted before every exposure: returning `true` suppresses it.
   */
  protected previouslyLogged(): boolean {
    return false;
  }

  /** The checksum of the assignment logic, logged with every record. */
  protected computeChecksum(): string {
    const assign = this.assign as unknown as object;
    if (assign === lastChecksum.assign) return lastChecksum.checksum;
    let checksum = sourceChecksums.get(assign);
    if (checksum === undefined) {
      const source = this.assign.toString();
      // The reference leaves out the first line (the signature) of assign's source.
      checksum = shortChecksum(source.slice(source.indexOf('\n') + 1));
      sourceChecksums.set(assign, checksum);
    }
    lastChecksum.assign = assign;
    lastChecksum.checksum = checksum;
    return checksum;
  }

  get name(): string {
    this.ensureSetup();
    return (this.nameValue ??= normalizeExperimentName(this.constructor.name));
  }

  set name(value: string) {
    this.ensureSetup();
    this.nameValue = normalizeExperimentName(value);
  }

  /** The experiment salt; defaults to the name. */
  get salt(): string {
    this.ensureSetup();
    return this.saltValue ?? this.name;
  }

  set salt(value: string) {
    this.ensureSetup();
    this.saltValue = value;
  }

  get inputs(): TInputs {
    return this.inputValues;
  }

  /** Whether the unit is in the experiment; assigns first if needed. */
  get inExperiment(): boolean {
    this.requireAssignment();
    return this.inExperimentValue;
  }

  get exposureLogged(): boolean {
    return this.exposureLoggedValue;
  }

  get checksum(): string {
    this.requireAssignment();
    return this.checksumValue ??= this.computeChecksum();
  }

  /** Fixes params (and inputs of the same name) to the given values. */
  setOverrides(overrides: Record<string, unknown>): void {
    this.assignment.setOverrides(overrides as PlanoutObject);
    for (const key of Object.keys(overrides)) {
      if (!hasOwn(this.inputValues, key)) continue;
      if (!this.ownsInputs) {
        this.inputValues = plainCopy(this.inputValues) as TInputs;
        this.ownsInputs = true;
      }
      setOwn(this.inputValues as Record<string, unknown>, key, overrides[key]);
    }
  }

  getOverrides(): Record<string, unknown> {
    return toPlain(this.assignment.getOverrides()) as Record<string, unknown>;
  }

  setAutoExposureLogging(enabled: boolean): void {
    this.autoExposureLogging = enabled;
  }

  get autoExposureLoggingEnabled(): boolean {
    return this.autoExposureLogging;
  }

  /** All params; logs the exposure if it is due. */
  getParams(): TParams {
    this.requireAssignment();
    this.autoLogExposure();
    return this.paramsSnapshot() as TParams;
  }

  /** One param, or `defaultValue` when it was not assigned; logs the exposure if it is due. */
  get<K extends keyof TParams & string>(name: K): TParams[K] | undefined;
  get<K extends keyof TParams & string, D>(name: K, defaultValue: D): TParams[K] | D;
  get(name: string, defaultValue?: unknown): unknown;
  get(name: string, defaultValue?: unknown): unknown {
    this.requireAssignment();
    if (this.autoExposureLogging && this.inExperimentValue && !this.exposureLoggedValue) {
      const declared = this.getParamNames();
      if (declared === undefined || declared.includes(name)) this.logExposure();
    }
    const value: unknown = this.assignment.get(name as keyof TParams & string, MISSING);
    if (value === MISSING) return defaultValue;
    return typeof value === 'object' && value !== null ? toPlain(value) : value;
  }

  /** Logs an exposure now (with optional extra data), unless the unit is not in the experiment. */
  logExposure(extras?: LogExtras): void {
    this.requireAssignment();
    if (!this.inExperimentValue || this.previouslyLogged()) return;
    this.exposureLoggedValue = true;
    this.writeRecord('exposure', extras);
  }

  /** Logs an event such as a conversion; it does not count as an exposure. */
  logEvent(eventType: string, extras?: LogExtras): void {
    this.requireAssignment();
    if (!this.inExperimentValue) return;
    this.writeRecord(eventType, extras);
  }

  /** The record the reference would log for `event` now. */
  protected buildRecord(event: string, extras?: LogExtras): PlanoutLogRecord {
    const record: PlanoutLogRecord = {
      name: this.name,
      salt: this.salt,
      inputs: plainCopy(this.inputValues),
      params: this.paramsSnapshot(),
      event,
      time: Math.floor(Date.now() / 1000),
      checksum: this.checksum,
    };
    if (extras !== undefined && truthy(extras)) record.extra_data = toPlain(deepCopy(extras as PlanoutValue)) as LogExtras;
    return record;
  }

  private writeRecord(event: string, extras?: LogExtras): void {
    this.log(this.buildRecord(event, extras));
  }

  private autoLogExposure(): void {
    if (this.autoExposureLogging && this.inExperimentValue && !this.exposureLoggedValue) this.logExposure();
  }

  private paramsSnapshot(): Record<string, unknown> {
    return this.assignment.toPlainObject();
  }

  private ensureSetup(): void {
    if (this.isSetUp) return;
    this.isSetUp = true;
    this.setup();
  }

  private requireAssignment(): void {
    if (this.assigned) return;
    this.ensureSetup();
    this.ensureLoggerConfigured();
    this.assignment.experimentSalt = this.salt;
    this.assignment.experimentName = this.name;
    // Mark first: an assign() that reads this experiment's params must not recurse.
    this.assigned = true;
    let result: unknown;
    try {
      result = this.assign(this.assignment, this.inputValues);
    } catch (error) {
      this.assigned = false;
      throw error;
    }
    this.inExperimentValue = result === undefined || truthy(result);
  }

  private ensureLoggerConfigured(): void {
    // Most units are of the class and name configured last: skip the two lookups.
    if (this.constructor === lastConfigured.constructor && this.name === lastConfigured.name) return;
    let names = configuredLoggers.get(this.constructor);
    if (!names) configuredLoggers.set(this.constructor, (names = new Set()));
    if (names.has(this.name)) return;
    names.add(this.name);
    this.configureLogger();
    lastConfigured.constructor = this.constructor;
    lastConfigured.name = this.name;
  }
}

/**
 * An experiment that only logs the params it declares (the reference's
 * ProductionExperiment): reading an undeclared name does not count as an exposure.
 */
export abstract class ProductionExperiment<
  TParams extends object = ExperimentParams,
  TInputs extends object = ExperimentInputs,
> extends Experiment<TParams, TInputs> {
  abstract override getParamNames(): readonly string[];
}

/** An experiment that assigns fixed default params and logs nothing (the reference's DefaultExperiment). */
export class DefaultExperiment<TParams extends object = ExperimentParams> extends Experiment<TParams> {
  constructor(inputs: ExperimentInputs = {}, private readonly defaults: Partial<TParams> = {}) {
    super(inputs);
    // It logs nothing, so there is no exposure record to build.
    this.setAutoExposureLogging(false);
  }

  /** The params every unit gets. */
  getDefaultParams(): Partial<TParams> {
    return this.defaults;
  }

  assign(params: Assignment<TParams>): void {
    const defaults = this.getDefaultParams() as Record<string, unknown>;
    for (const key of Object.keys(defaults)) params.set(key as keyof TParams & string, defaults[key] as PlanoutValue);
  }

  protected override computeChecksum(): string {
    return DEFAULT_CHECKSUM;
  }
}
