import { createHash, type Hash } from 'node:crypto';
import type { EvaluationMeter } from '../budget.js';
import { PlanoutArgumentError } from '../errors.js';
import {
  asciiPrefixBytes,
  digestMod,
  digestToBigInt,
  digestToUnitFloat,
  hash60Mod,
  hash60OfInteger,
  hash60OfText,
  hash60UnitFloat,
  sha1Digest,
  sha1DigestOfInteger,
  sha1DigestOfText,
} from '../hash.js';
import {
  hasOwn,
  isPyInt,
  isPyNumber,
  normalizeInt,
  pyStr,
  toNumber,
  toPyFloat,
  type PyFloat,
  type PlanoutValue,
} from '../values.js';

/** What a random operator needs from the assignment it runs in. */
export interface RandomContext {
  /** Salt of the experiment (or namespace) the operator runs in. */
  readonly experimentSalt: string;
  /** Separator between the parameter salt and the unit; `.` unless a script changes it. */
  readonly saltSep: string;
  /** For error messages only. */
  readonly experimentName?: string;
  /** The evaluation budget of an interpreted script; draws charge their work to it. */
  readonly meter?: EvaluationMeter;
}

/** Above this many elements, a list unit that grows by one per draw is hashed incrementally. */
const INCREMENTAL_UNIT_LENGTH = 32;
/** From this length, a unit's text is hashed once per run and its SHA-1 state reused by each draw. */
const LONG_UNIT_TEXT = 4096;
/** Below this length, a string unit costs no budget (1 operation per 64 chars hashed). */
const FREE_UNIT_TEXT = 64;

/** SHA-1 states one run of an operator carries from draw to draw. */
interface IncrementalHashing {
  /** After the prefix and a long unit that is not a list. */
  longUnit?: Hash;
  /** After a list unit that grows one value per draw (sample, bernoulliFilter). */
  growingUnit?: { unit: PlanoutValue[]; length: number; state: Hash };
}

/** Arguments common to every random operator. */
export interface RandomArgs {
  /** The unit: one value, or a list of values for a compound unit. */
  unit: PlanoutValue;
  /** Salt of this draw; defaults to the name of the parameter being assigned. */
  salt?: string;
  /** Replaces the whole `<experiment salt>.<salt>` prefix. */
  full_salt?: string;
}

export interface ChoiceArgs<T extends PlanoutValue = PlanoutValue> extends RandomArgs {
  choices: readonly T[];
}

export interface WeightedChoiceArgs<T extends PlanoutValue = PlanoutValue> extends ChoiceArgs<T> {
  weights: readonly number[];
}

export interface ProbabilityArgs extends RandomArgs {
  p: number;
}

export interface BernoulliFilterArgs<T extends PlanoutValue = PlanoutValue> extends ChoiceArgs<T> {
  p: number;
}

export interface RangeArgs extends RandomArgs {
  min: number | bigint;
  max: number | bigint;
}

export interface SampleArgs<T extends PlanoutValue = PlanoutValue> extends ChoiceArgs<T> {
  draws?: number;
}

/** What {@link Assignment.set} accepts as a random draw: any random operator. */
export interface RandomOperatorLike {
  readonly opName: string;
  readonly args: RandomArgs;
  /** `prefixCache` (optional) keeps the salt prefix of one call site from run to run. */
  execute(context: RandomContext, defaultSalt?: string, prefixCache?: SaltPrefixCache): unknown;
}

/**
 * Base of the random operators. As in the reference, an instance holds its arguments;
 * assigning it to a parameter fills in `salt` with the parameter's name, then runs it.
 */
export abstract class RandomOperator<TArgs extends RandomArgs = RandomArgs, TResult = PlanoutValue>
  implements RandomOperatorLike
{
  /** The operator's name in serialized PlanOut (`uniformChoice`, ...). */
  /** On the prototype (a getter), not on every instance: operators are built per unit. */
  abstract get opName(): string;
  readonly args: TArgs;
  protected context!: RandomContext;
  private defaultSalt: string | undefined;
  /** `<experiment salt>.<salt><sep>` (or `<full_salt>.`) and its bytes, found once per run. */
  private salted: PrefixEntry | undefined;
  /** `str()` of a unit that is not a list, computed once per run. */
  private unitText: string | undefined;
  /** SHA-1 states reused across the draws of one run; rare, so kept off the instance's shape. */
  private incremental: IncrementalHashing | undefined;
  /** The prefix the last run of the same script node hashed with, reused when still right. */
  private prefixCache: SaltPrefixCache | undefined = undefined;

  constructor(args: TArgs) {
    this.args = args;
  }

  /**
   * Runs the operator in `context`; the result is a Python value (see values.ts).
   * `defaultSalt` (the parameter's name) salts it when `args` has no `salt`.
   */
  execute(context: RandomContext, defaultSalt?: string, prefixCache?: SaltPrefixCache): TResult {
    this.context = context;
    this.defaultSalt = defaultSalt;
    this.salted = undefined;
    this.prefixCache = prefixCache;
    this.unitText = undefined;
    this.incremental = undefined;
    if (this.args.unit === undefined && !hasOwn(this.args, 'unit')) this.fail('missing argument "unit"');
    return this.draw();
  }

  protected abstract draw(): TResult;

  protected fail(message: string): never {
    throw new PlanoutArgumentError(`${this.opName}: ${message}`, {
      experiment: this.context?.experimentName,
      param: this.paramName(),
    });
  }

  private paramName(): string | undefined {
    const { salt, full_salt } = this.args as RandomArgs;
    return typeof salt === 'string' ? salt : this.defaultSalt ?? (typeof full_salt === 'string' ? full_salt : undefined);
  }

  private saltedPrefix(): PrefixEntry {
    const args = this.args as RandomArgs;
    // A present key wins even when empty (quirk Q4); null is not a string and fails.
    if (args.full_salt !== undefined) {
      const prefix = this.stringArg('full_salt' as keyof TArgs & string) + '.';
      return { experimentSalt: '', salt: '', sep: '', prefix, bytes: asciiPrefixBytes(prefix), next: undefined };
    }
    const salt = args.salt !== undefined ? this.stringArg('salt' as keyof TArgs & string) : this.defaultSalt;
    if (salt === undefined) {
      this.fail('missing argument "salt" (random operators nested in an expression need an explicit salt)');
    }
    const experimentSalt = this.context.experimentSalt;
    const sep = this.context.saltSep;
    const cache = this.prefixCache;
    if (cache === undefined) return saltPrefix(experimentSalt, salt, sep);
    const known = cache.entry;
    if (known !== undefined && known.salt === salt && known.experimentSalt === experimentSalt && known.sep === sep) return known;
    return (cache.entry = saltPrefix(experimentSalt, salt, sep));
  }

  /** The string the reference hashes, with `appended` added to the unit. */
  protected hashInput(appended?: PlanoutValue): string {
    const args = this.args as RandomArgs;
    const prefix = (this.salted ??= this.saltedPrefix()).prefix;
    const unit = args.unit;
    if (Array.isArray(unit)) {
      // The reference appends to a list unit in place, so appended values accumulate (quirk Q3).
      if (appended !== undefined && appended !== null) unit.push(appended);
      this.context.meter?.spendWalking(unit);
      let text = '';
      for (let i = 0; i < unit.length; i++) text += (i ? '.' : '') + pyStr(unit[i]);
      return prefix + text;
    }
    const head = this.unitHead(unit);
    return appended !== undefined && appended !== null ? prefix + head + '.' + this.appendedText(appended) : prefix + head;
  }

  /** `str()` of a unit that is not a list: computed and charged once per run. */
  private unitHead(unit: PlanoutValue): string {
    let head = this.unitText;
    if (head === undefined) {
      if (typeof unit === 'number' && Number.isSafeInteger(unit) && !Object.is(unit, -0)) head = String(unit);
      else {
        this.context.meter?.spendWalking(unit);
        head = typeof unit === 'string' ? unit : pyStr(unit);
      }
      this.unitText = head;
    }
    return head;
  }

  private appendedText(appended: PlanoutValue): string {
    if (typeof appended !== 'number') this.context.meter?.spendWalking(appended);
    return pyStr(appended);
  }

  /**
   * The common draw: nothing appended to an integer unit, or to a string unit short enough
   * to cost nothing against a budget (it is charged 1 per 64 chars). Hashes it for
   * hash60Mod / hash60UnitFloat, with no text built, and returns true; else false.
   */
  private hashCommonDraw(): boolean {
    const unit = (this.args as RandomArgs).unit;
    if (typeof unit === 'number') {
      if (Number.isSafeInteger(unit) && (unit !== 0 || 1 / unit > 0)) {
        const bytes = (this.salted ??= this.saltedPrefix()).bytes;
        if (bytes === undefined) return false;
        hash60OfInteger(bytes, unit);
        return true;
      }
    } else if (
      typeof unit === 'string' &&
      (unit.length < FREE_UNIT_TEXT || (unit.length < LONG_UNIT_TEXT && this.context.meter === undefined))
    ) {
      const salted = (this.salted ??= this.saltedPrefix());
      if (salted.bytes === undefined) return false;
      hash60OfText(salted.bytes, salted.prefix, unit);
      return true;
    }
    return false;
  }

  /** The hash of this draw's input modulo `n` (a positive divisor). */
  protected hashMod(n: number): number {
    return this.hashCommonDraw() ? hash60Mod(n) : digestMod(this.hash(), n);
  }

  /** The SHA-1 digest of the hash input; read it with digestMod / digestToUnitFloat. */
  protected hash(appended?: PlanoutValue): string {
    const unit = (this.args as RandomArgs).unit;
    // The common draw (see hashCommonDraw), for the callers that need the digest itself.
    if (appended === undefined || appended === null) {
      if (typeof unit === 'number') {
        if (Number.isSafeInteger(unit) && (unit !== 0 || 1 / unit > 0)) {
          const salted = (this.salted ??= this.saltedPrefix());
          const bytes = salted.bytes;
          return bytes !== undefined ? sha1DigestOfInteger(bytes, unit) : sha1Digest(salted.prefix + String(unit));
        }
      } else if (
        typeof unit === 'string' &&
        (unit.length < FREE_UNIT_TEXT || (unit.length < LONG_UNIT_TEXT && this.context.meter === undefined))
      ) {
        const salted = (this.salted ??= this.saltedPrefix());
        const bytes = salted.bytes;
        return bytes !== undefined ? sha1DigestOfText(bytes, salted.prefix, unit) : sha1Digest(salted.prefix + unit);
      }
    }
    if (Array.isArray(unit)) {
      if (appended !== undefined && appended !== null && unit.length >= INCREMENTAL_UNIT_LENGTH) {
        return this.hashGrowingUnit(unit, appended);
      }
    } else if (this.unitHead(unit).length >= LONG_UNIT_TEXT) {
      return this.hashAfterLongUnit(appended);
    }
    return sha1Digest(this.hashInput(appended));
  }

  /** A long unit is hashed once per run; each draw hashes only the `.<appended>` it adds. */
  private hashAfterLongUnit(appended: PlanoutValue | undefined): string {
    const incremental = (this.incremental ??= {});
    let state = incremental.longUnit;
    if (state === undefined) {
      const prefix = (this.salted ??= this.saltedPrefix()).prefix;
      incremental.longUnit = state = createHash('sha1').update(prefix + this.unitText, 'utf8');
    }
    const draw = state.copy();
    if (appended !== undefined && appended !== null) draw.update('.' + this.appendedText(appended), 'utf8');
    return draw.digest('binary');
  }

  /**
   * The reference re-hashes the whole, ever longer unit on each draw (quadratic). Each
   * input extends the previous one by `.<appended>`, so SHA-1's state is carried over
   * and each draw hashes only what it adds: the same digests in linear time.
   */
  private hashGrowingUnit(unit: PlanoutValue[], appended: PlanoutValue): string {
    const incremental = (this.incremental ??= {});
    const grown = incremental.growingUnit;
    if (grown !== undefined && grown.unit === unit && grown.length === unit.length) {
      unit.push(appended);
      const text = this.appendedText(appended);
      grown.length = unit.length;
      grown.state.update(unit.length > 1 ? '.' + text : text, 'utf8');
      return grown.state.copy().digest('binary');
    }
    const state = createHash('sha1').update(this.hashInput(appended), 'utf8');
    incremental.growingUnit = { unit, length: unit.length, state };
    return state.copy().digest('binary');
  }

  protected uniform(min: number, max: number, appended?: PlanoutValue): number {
    const common = (appended === undefined || appended === null) && this.hashCommonDraw();
    return min + (max - min) * (common ? hash60UnitFloat() : digestToUnitFloat(this.hash(appended)));
  }

  protected stringArg(name: keyof TArgs & string): string {
    const value = (this.args as Record<string, unknown>)[name];
    if (typeof value !== 'string') this.fail(`${name} must be a string, got ${describe(value)}`);
    return value;
  }

  protected listArg(name: keyof TArgs & string): PlanoutValue[] {
    const value = (this.args as Record<string, unknown>)[name];
    if (Array.isArray(value)) return value as PlanoutValue[];
    if (!hasOwn(this.args, name)) this.fail(`missing argument "${name}"`);
    return this.fail(`${name} must be a list, got ${describe(value)}`);
  }

  protected numberArg(name: keyof TArgs & string): number {
    const value = (this.args as Record<string, unknown>)[name];
    if (typeof value === 'number') return value;
    if (!hasOwn(this.args, name)) this.fail(`missing argument "${name}"`);
    if (!isPyNumber(value)) this.fail(`${name} must be a number, got ${describe(value)}`);
    return toNumber(value);
  }

  protected intArg(name: keyof TArgs & string): number | bigint {
    if (!hasOwn(this.args, name)) this.fail(`missing argument "${name}"`);
    const value = (this.args as Record<string, unknown>)[name];
    if (typeof value === 'boolean') return value ? 1 : 0;
    if (!isPyInt(value)) this.fail(`${name} must be an integer, got ${describe(value)}`);
    return value;
  }

  protected probabilityArg(): number {
    const p = this.numberArg('p' as keyof TArgs & string);
    if (!(p >= 0 && p <= 1)) this.fail(`p must be between 0 and 1, got ${p}`);
    return p;
  }
}

// `<experiment salt>.<salt><sep>` strings, kept and reused: every unit of an experiment
// hashes with the same few prefixes. Found by the param salt first (one map read), then by
// the experiment; bounded so odd salts cannot grow it forever.
interface PrefixEntry {
  readonly experimentSalt: string;
  readonly salt: string;
  readonly sep: string;
  readonly prefix: string;
  readonly bytes: Uint8Array | undefined;
  readonly next: PrefixEntry | undefined;
}
const prefixes = new Map<string, PrefixEntry>();

/**
 * Holds the salt prefix one call site (a script's operator node) hashed with last: its
 * runs nearly always hash with the same one, found again by comparing three strings.
 */
export class SaltPrefixCache {
  entry: PrefixEntry | undefined = undefined;
}
const MAX_PREFIXES = 10_000;
let prefixCount = 0;

function saltPrefix(experimentSalt: string, salt: string, sep: string): PrefixEntry {
  const head = prefixes.get(salt);
  for (let e = head; e !== undefined; e = e.next) {
    if (e.experimentSalt === experimentSalt && e.sep === sep) return e;
  }
  const prefix = experimentSalt + '.' + salt + sep;
  const entry = { experimentSalt, salt, sep, prefix, bytes: asciiPrefixBytes(prefix), next: head };
  if (prefixCount < MAX_PREFIXES) {
    prefixes.set(salt, entry);
    prefixCount++;
  }
  return entry;
}

/** Values at most this large (nodes once expanded, characters) are shown whole in messages. */
const SHOWN_NODES = 100;
const SHOWN_CHARS = 200;

/** Whether `value` has more than `limit` nodes once expanded (walked without recursion, stopping early). */
function largerThan(value: unknown, limit: number): boolean {
  const stack: unknown[] = [value];
  let count = 0;
  while (stack.length > 0) {
    const node = stack.pop();
    if (++count > limit) return true;
    if (Array.isArray(node)) for (let i = 0; i < node.length; i++) stack.push(node[i]);
    else if (typeof node === 'object' && node !== null) stack.push(...Object.values(node).slice(0, limit));
  }
  return false;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  // A message must not expand a huge, deep or shared value.
  if (typeof value === 'object' && value !== null && largerThan(value, SHOWN_NODES)) {
    return Array.isArray(value) ? `a list of ${value.length} elements` : `a dict of ${Object.keys(value).length} keys`;
  }
  if (typeof value === 'string' && value.length > SHOWN_CHARS) {
    return `${JSON.stringify(value.slice(0, SHOWN_CHARS))}... (${value.length} characters)`;
  }
  try {
    return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Picks one of `choices`, each equally likely. */
export class UniformChoice<T extends PlanoutValue = PlanoutValue> extends RandomOperator<ChoiceArgs<T>, T | []> {
  get opName(): string {
    return 'uniformChoice';
  }

  protected draw(): T | [] {
    let choices = this.args.choices as T[];
    if (!Array.isArray(choices)) choices = this.listArg('choices') as T[];
    if (choices.length === 0) return [];
    return choices[this.hashMod(choices.length)];
  }
}

/** Picks one of `choices` with probability proportional to its weight. */
export class WeightedChoice<T extends PlanoutValue = PlanoutValue> extends RandomOperator<WeightedChoiceArgs<T>, T | []> {
  get opName(): string {
    return 'weightedChoice';
  }

  protected draw(): T | [] {
    let choices = this.args.choices as T[];
    if (!Array.isArray(choices)) choices = this.listArg('choices') as T[];
    let weights = this.args.weights as PlanoutValue[];
    if (!Array.isArray(weights)) weights = this.listArg('weights');
    if (choices.length === 0) return [];
    this.context.meter?.spend(weights.length);
    // Accumulate in float from 0.0, as the reference does (quirk Q7). Two passes over the
    // weights repeat the same additions, so the partial sums are the reference's exactly.
    let sum = 0;
    for (const w of weights) {
      if (typeof w !== 'number' && !isPyNumber(w)) this.fail(`weights must be numbers, got ${describe(w)}`);
      sum += typeof w === 'number' ? w : toNumber(w);
    }
    const stop = this.uniform(0, sum);
    let cumulative = 0;
    for (let i = 0; i < weights.length; i++) {
      const w = weights[i];
      cumulative += typeof w === 'number' ? w : toNumber(w as PyFloat);
      if (stop <= cumulative) {
        if (i >= choices.length) {
          this.fail(`weights has ${weights.length} entries but choices has ${choices.length}`);
        }
        return choices[i];
      }
    }
    return null as T;
  }
}

/** 1 with probability `p`, else 0. */
export class BernoulliTrial extends RandomOperator<ProbabilityArgs, number> {
  get opName(): string {
    return 'bernoulliTrial';
  }

  protected draw(): number {
    let p = this.args.p;
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) p = this.probabilityArg();
    return this.uniform(0, 1) <= p ? 1 : 0;
  }
}

/** Keeps each of `choices` independently with probability `p`. */
export class BernoulliFilter<T extends PlanoutValue = PlanoutValue> extends RandomOperator<BernoulliFilterArgs<T>, T[]> {
  get opName(): string {
    return 'bernoulliFilter';
  }

  protected draw(): T[] {
    const p = this.probabilityArg();
    const choices = this.listArg('choices') as T[];
    // One draw and at most one kept element per choice (and one more unit element for a list unit).
    this.context.meter?.spend(choices.length, choices.length * (Array.isArray(this.args.unit) ? 2 : 1));
    return choices.filter((choice) => this.uniform(0, 1, choice) <= p);
  }
}

/** An integer in `[min, max]`, exact beyond 2^53. */
export class RandomInteger extends RandomOperator<RangeArgs, number | bigint> {
  get opName(): string {
    return 'randomInteger';
  }

  protected draw(): number | bigint {
    const min = this.intArg('min');
    const max = this.intArg('max');
    if (typeof min === 'number' && typeof max === 'number' && max - min + 1 <= 2 ** 25 && max - min + 1 > 0) {
      return min + this.hashMod(max - min + 1);
    }
    const span = BigInt(max) - BigInt(min) + 1n;
    if (span === 0n) this.fail('integer modulo by zero (max = min - 1)');
    const h = digestToBigInt(this.hash());
    // Python's % takes the sign of the divisor.
    const mod = ((h % span) + span) % span;
    return normalizeInt(BigInt(min) + mod);
  }
}

/** A float in `[min, max]`. */
export class RandomFloat extends RandomOperator<RangeArgs, number> {
  get opName(): string {
    return 'randomFloat';
  }

  protected draw(): number {
    const min = this.numberArg('min');
    const max = this.numberArg('max');
    // Always a Python float, even when integral (e.g. min = max = 3 gives 3.0).
    return toPyFloat(this.uniform(min, max)) as number;
  }
}

/** A random permutation of `choices`, or its first `draws` elements. */
export class Sample<T extends PlanoutValue = PlanoutValue> extends RandomOperator<SampleArgs<T>, T[]> {
  get opName(): string {
    return 'sample';
  }

  protected numDraws(choices: readonly unknown[]): number {
    if (!hasOwn(this.args, 'draws')) return choices.length;
    const draws = this.intArg('draws');
    if (draws > choices.length) this.fail(`draws (${draws}) must not exceed the number of choices (${choices.length})`);
    return Number(draws);
  }

  /** Charges a copy of `length` choices and `steps` draws (each also grows a list unit by one). */
  protected charge(length: number, steps: number): void {
    const growing = Array.isArray(this.args.unit) ? steps : 0;
    this.context.meter?.spend(Math.max(steps, 0), length * 2 + growing);
  }

  /** Fisher–Yates from the end; returns early in FastSample. */
  protected shuffle(choices: T[], stopAt: number): T[] | undefined {
    for (let i = choices.length - 1; i >= 1; i--) {
      const j = digestMod(this.hash(i), i + 1);
      const tmp = choices[i];
      choices[i] = choices[j];
      choices[j] = tmp;
      if (i === stopAt) return choices.slice(i);
    }
    return undefined;
  }

  protected draw(): T[] {
    const source = this.listArg('choices') as T[];
    const draws = this.numDraws(source);
    this.charge(source.length, source.length - 1);
    const choices = [...source];
    this.shuffle(choices, -1);
    return choices.slice(0, draws);
  }
}

/** Like {@link Sample}, but stops shuffling once `draws` elements are placed (returns the tail). */
export class FastSample<T extends PlanoutValue = PlanoutValue> extends Sample<T> {
  override get opName(): string {
    return 'fastSample';
  }

  protected override draw(): T[] {
    const source = this.listArg('choices') as T[];
    const draws = this.numDraws(source);
    // The shuffle stops after `draws` steps only when 1 <= draws < n; otherwise it runs them all.
    this.charge(source.length, draws >= 1 && draws < source.length ? draws : source.length - 1);
    const choices = [...source];
    return this.shuffle(choices, choices.length - draws) ?? choices.slice(0, draws);
  }
}

/** Random operators by their serialized PlanOut names. */
export const RANDOM_OPERATORS = {
  uniformChoice: UniformChoice,
  weightedChoice: WeightedChoice,
  bernoulliTrial: BernoulliTrial,
  bernoulliFilter: BernoulliFilter,
  randomInteger: RandomInteger,
  randomFloat: RandomFloat,
  sample: Sample,
  fastSample: FastSample,
} as const;
