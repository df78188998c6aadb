import { Assignment } from '../../core/assignment.js';
import type { ExperimentInputs } from '../../core/experiment.js';
import { BernoulliTrial, RandomOperator, UniformChoice, WeightedChoice } from '../../core/ops/random.js';
import { hasOwn, isPlainObject, toPlain, truthy, type PlanoutValue } from '../../core/values.js';
import { stableStringify } from '../dedupe-key.js';

/** One experiment's assignment, ready to run into a fresh {@link Assignment} without logging. */
export interface AssignmentProbe {
  /** The name its records carry (for a namespace, the member experiment's, e.g. `Ns-text`). */
  readonly experiment: string;
  readonly salt: string;
  /** The namespace routing the unit, if any (OpenTelemetry's `feature_flag.set.id`). */
  readonly namespace?: string;
  /** Runs `assign`; its result decides whether the unit is in the experiment (as the core does). */
  assign(params: Assignment): unknown;
  /** The script of an interpreted experiment: its operators say the weights (the interpreter sets plain values). */
  script?(): unknown;
}

/** A registered experiment or namespace: builds the probe for one unit's inputs (none when it reaches no experiment). */
export interface ProbeSource {
  readonly kind: 'experiment' | 'namespace';
  readonly name: string;
  /** A data-defined source's compiled definition: another object once a reload changed it. */
  readonly definition?: object;
  probe(inputs: ExperimentInputs): AssignmentProbe | undefined;
}

/**
 * Expected distribution of one param's values in exposure records: exact shares from the
 * weights of the random operator that sets it, or the counts seen on synthetic units.
 */
export interface ParamExpectation {
  readonly experiment: string;
  readonly param: string;
  /** Value labels (`stableStringify` of the value), in a stable order. */
  readonly labels: readonly string[];
  /** Shares from `uniformChoice` / `weightedChoice` / `bernoulliTrial` weights, summing to 1. */
  readonly shares?: readonly number[];
  /** Otherwise: how many synthetic units in the experiment got each value. */
  readonly syntheticCounts?: readonly number[];
}

export interface ExpectationOptions {
  /** Synthetic units per experiment (default 4 000): the work that decides what is learnt. */
  units?: number;
  /** Params with more distinct values are not checked (default 32). */
  maxValues?: number;
  /**
   * Safety net for a pathological source (default 10 000 ms of its own running time, summed
   * over the slices it ran in; a normal experiment needs tens of milliseconds). A source that
   * has not run its units by then is given up: it yields no expectation, never one learnt from
   * however many units the machine's speed allowed.
   */
  maxMsPerSource?: number;
}

/** Default of {@link ExpectationOptions.maxMsPerSource}. */
export const DEFAULT_MAX_MS_PER_SOURCE = 10_000;

/** What set a param last in one unit: a weighted operator (with its arguments) or a computed value. */
type Source = { key: string; shares: Map<string, number> } | 'computed';

/** Records which weighted operator (with which arguments) set each param last. */
class ObservingAssignment extends Assignment {
  readonly sources = new Map<string, Source>();

  override set(name: string, value: PlanoutValue | RandomOperator): void {
    super.set(name as never, value);
    if (name === 'salt_sep' || name === 'experiment_salt') return;
    this.sources.set(name, value instanceof RandomOperator ? weightedSource(value) : 'computed');
  }
}

function weightedSource(op: RandomOperator): Source {
  const args = op.args as unknown as Record<string, unknown>;
  const shares = new Map<string, number>();
  const add = (value: unknown, share: number): void => {
    const label = stableStringify(value);
    shares.set(label, (shares.get(label) ?? 0) + share);
  };
  if (op instanceof BernoulliTrial) {
    const p = Number(args.p);
    if (!(p >= 0 && p <= 1)) return 'computed';
    add(1, p);
    add(0, 1 - p);
  } else if (op instanceof UniformChoice || op instanceof WeightedChoice) {
    const choices = args.choices;
    if (!Array.isArray(choices) || choices.length === 0) return 'computed';
    if (op instanceof WeightedChoice) {
      const weights = args.weights;
      if (!Array.isArray(weights) || weights.length !== choices.length) return 'computed';
      const numbers = weights.map(Number);
      const total = numbers.reduce((a, b) => a + b, 0);
      if (!(total > 0) || numbers.some((w) => !(w >= 0))) return 'computed';
      choices.forEach((choice, i) => add(choice, numbers[i] / total));
    } else {
      for (const choice of choices) add(choice, 1 / choices.length);
    }
  } else {
    return 'computed';
  }
  const { unit: _unit, salt: _salt, full_salt: _fullSalt, ...rest } = args;
  return { key: `${op.constructor.name}:${stableStringify(rest)}`, shares };
}

/**
 * Inputs where every name reads as a distinct string per unit, e.g. `userid` → `srm-probe-17`.
 * Names asked for (read, or checked with `hasOwn`) are remembered in `names`, so that copies
 * (`{ ...inputs }`, as namespaces make) carry them too.
 */
export function syntheticInputs(unit: number, names: Set<string> = new Set()): ExperimentInputs {
  const value = `srm-probe-${unit}`;
  const known = (key: string | symbol): key is string => typeof key === 'string' && !(key in Object.prototype);
  return new Proxy({} as ExperimentInputs, {
    get: (_target, key) => {
      if (!known(key)) return undefined;
      names.add(key);
      return value;
    },
    has: (_target, key) => known(key) && (names.add(key), true),
    getOwnPropertyDescriptor: (_target, key) => {
      if (!known(key)) return undefined;
      names.add(key);
      return { value, enumerable: true, configurable: true, writable: true };
    },
    ownKeys: () => [...names],
  });
}

/** Units after which a source whose params all come from weights stops early. */
const EARLY_CHECK_UNITS = 500;

interface ExperimentTally {
  in: number;
  out: number;
  failed: boolean;
  params: Map<string, ParamTally>;
  /** Per param of an interpreted experiment set once, by a weighted operator with constant arguments: its shares. */
  scriptShares?: Map<string, Map<string, number>>;
}

const WEIGHTED_OPS = new Set(['uniformChoice', 'weightedChoice', 'bernoulliTrial']);

/** The value of a script node that needs no evaluation (literals, arrays of literals), else undefined. */
function constant(node: unknown): unknown {
  if (Array.isArray(node)) {
    const items = node.map(constant);
    return items.some((item) => item === undefined) ? undefined : items;
  }
  if (!isPlainObject(node)) return node;
  if (node.op === 'literal') return node.value;
  if (node.op === 'array' && Array.isArray(node.values)) return constant(node.values);
  return hasOwn(node, 'op') ? undefined : node;
}

/** The names a script reads (`get`) and never assigns: its inputs. */
function scriptInputNames(script: unknown): Set<string> {
  const read = new Set<string>();
  const assigned = new Set<string>();
  const walk = (node: unknown, depth: number): void => {
    if (depth > 200) return;
    if (Array.isArray(node)) return node.forEach((item) => walk(item, depth + 1));
    if (!isPlainObject(node)) return;
    if (node.op === 'get' && typeof node.var === 'string') read.add(node.var);
    if (node.op === 'set' && typeof node.var === 'string') assigned.add(node.var);
    for (const key of Object.keys(node)) walk(node[key], depth + 1);
  };
  walk(script, 0);
  return new Set([...read].filter((name) => !assigned.has(name)));
}

/**
 * Reads a PlanOut script: each param assigned exactly once, by `uniformChoice` /
 * `weightedChoice` / `bernoulliTrial` with constant arguments, gets the shares its weights say.
 */
export function scriptShares(script: unknown): Map<string, Map<string, number>> {
  const sets = new Map<string, unknown[]>();
  const walk = (node: unknown, depth: number): void => {
    if (depth > 200) return;
    if (Array.isArray(node)) return node.forEach((item) => walk(item, depth + 1));
    if (!isPlainObject(node)) return;
    if (node.op === 'set' && typeof node.var === 'string') sets.set(node.var, [...(sets.get(node.var) ?? []), node.value]);
    for (const key of Object.keys(node)) walk(node[key], depth + 1);
  };
  walk(script, 0);
  const shares = new Map<string, Map<string, number>>();
  for (const [param, values] of sets) {
    const node = values[0];
    if (values.length !== 1 || !isPlainObject(node) || !WEIGHTED_OPS.has(node.op as string)) continue;
    const args: Record<string, unknown> = {};
    for (const key of ['choices', 'weights', 'p']) {
      if (!hasOwn(node, key)) continue;
      const value = constant(node[key]);
      if (value === undefined) break;
      args[key] = toPlain(value);
    }
    const op = node.op === 'uniformChoice' ? UniformChoice : node.op === 'weightedChoice' ? WeightedChoice : BernoulliTrial;
    const source = weightedSource(new op({ ...args, unit: '' } as never));
    if (source !== 'computed') shares.set(param, source.shares);
  }
  return shares;
}

/**
 * The script's weights for `param`, when every value the units got is one of its choices
 * (an interpreted experiment sets plain values, so its draws are not observed).
 */
function scriptSource(tally: ExperimentTally, param: string, counts: ReadonlyMap<string, number>): Exclude<Source, 'computed'> | undefined {
  const fromScript = tally.scriptShares?.get(param);
  return fromScript !== undefined && [...counts.keys()].every((label) => fromScript.has(label)) ? { key: 'script', shares: fromScript } : undefined;
}

function exactSoFar(tally: ExperimentTally): boolean {
  if (tally.failed || tally.out > 0 || tally.in === 0) return tally.failed;
  for (const [name, param] of tally.params) {
    if (param.source !== undefined && param.source !== 'computed') continue;
    if (scriptSource(tally, name, param.counts) === undefined) return false;
  }
  return true;
}

interface ParamTally {
  counts: Map<string, number>;
  units: number;
  /** The weighted source every unit's value came from, while it is the same one. */
  source: Source | undefined;
}

/**
 * Runs every source on synthetic units and derives, per experiment param with a finite set of
 * values, its expected distribution. Exact shares need the param set last by one weighted
 * operator with the same arguments for every unit, and every unit in the experiment (a filter
 * such as `return false` for some draws skews what is exposed); otherwise the synthetic counts
 * stand in. Experiments whose `assign` throws on synthetic inputs are skipped.
 */
export function deriveExpectations(sources: readonly ProbeSource[], options: ExpectationOptions = {}): ParamExpectation[] {
  const learner = new ExpectationLearner(sources, options);
  learner.run(Infinity);
  return learner.expectations();
}

/**
 * {@link deriveExpectations}, resumable: `run(deadline)` works until the deadline and resumes
 * where it stopped on the next call. What is learnt depends only on the sources and the
 * options (the units run), never on how many calls it took, so on the machine's speed; the
 * deadlines only decide when (at bootstrap, or in background slices between requests).
 */
export class ExpectationLearner {
  private readonly units: number;
  private readonly maxValues: number;
  private readonly maxMs: number;
  private readonly experiments = new Map<string, ExperimentTally>();
  /** The source being learnt, its next unit, the input names asked for and experiments reached. */
  private sourceIndex = 0;
  private unit = 1;
  private names = new Set<string>();
  private reached = new Set<string>();
  private sourceMs = 0;
  /** Sources given up by the safety net (`maxMsPerSource`): their experiments yield nothing. */
  private readonly abandoned: string[] = [];
  private readonly abandonedExperiments = new Set<string>();

  constructor(
    private readonly sources: readonly ProbeSource[],
    options: ExpectationOptions = {},
  ) {
    this.units = options.units ?? 4_000;
    this.maxValues = options.maxValues ?? 32;
    this.maxMs = options.maxMsPerSource ?? DEFAULT_MAX_MS_PER_SOURCE;
  }

  /** Whether every source has run its units (or stopped early, or was given up). */
  get done(): boolean {
    return this.sourceIndex >= this.sources.length;
  }

  /** The names of the sources the safety net gave up (too slow to learn): not tested. */
  get givenUp(): readonly string[] {
    return this.abandoned;
  }

  /**
   * Runs synthetic units until every source is learnt or `deadline` (a `performance.now()`
   * time) has passed; at least one unit per call, so that slices always progress. Returns `done`.
   */
  run(deadline: number): boolean {
    let first = true;
    while (!this.done) {
      const started = performance.now();
      if (!first && started >= deadline) break;
      first = false;
      const finished = this.step();
      this.sourceMs += performance.now() - started;
      if (finished) this.nextSource();
      else if (this.sourceMs > this.maxMs) {
        const source = this.sources[this.sourceIndex];
        this.abandoned.push(`${source.kind} ${source.name}`);
        for (const name of this.reached) this.abandonedExperiments.add(name);
        this.nextSource();
      }
    }
    return this.done;
  }

  private nextSource(): void {
    this.sourceIndex++;
    this.unit = 1;
    this.names = new Set();
    this.reached = new Set();
    this.sourceMs = 0;
  }

  /** Runs the current source's next unit; true when the source has nothing more to learn. */
  private step(): boolean {
    const unit = this.unit++;
    if (unit > this.units) return true;
    // Enough once every param seen so far comes from one weighted draw for every unit in (or,
    // interpreted, from its script's weights): they give the shares, more units change nothing.
    if (unit === EARLY_CHECK_UNITS + 1 && [...this.reached].every((name) => exactSoFar(this.experiments.get(name)!))) return true;
    let probe: AssignmentProbe | undefined;
    try {
      probe = this.sources[this.sourceIndex].probe(syntheticInputs(unit, this.names));
    } catch {
      return true; // The namespace cannot route synthetic units: nothing to learn.
    }
    if (probe === undefined) return unit === this.units;
    let tally = this.experiments.get(probe.experiment);
    if (tally === undefined) this.experiments.set(probe.experiment, (tally = { in: 0, out: 0, failed: false, params: new Map() }));
    this.reached.add(probe.experiment);
    if (tally.in + tally.out === 0 && probe.script !== undefined) {
      try {
        const script = probe.script();
        tally.scriptShares = scriptShares(script);
        // The interpreter copies the inputs by their names: give it the names the script reads.
        for (const name of scriptInputNames(script)) this.names.add(name);
      } catch {
        tally.scriptShares = undefined;
      }
    }
    if (!tally.failed) this.observe(tally, probe);
    return unit === this.units;
  }

  private observe(tally: ExperimentTally, probe: AssignmentProbe): void {
    const params = new ObservingAssignment(probe.salt, undefined, probe.experiment);
    let result: unknown;
    try {
      result = probe.assign(params);
    } catch {
      tally.failed = true;
      return;
    }
    if (!(result === undefined || truthy(result))) {
      tally.out++;
      return;
    }
    tally.in++;
    for (const [name, value] of params.entries()) {
      let param = tally.params.get(name);
      if (param === undefined) tally.params.set(name, (param = { counts: new Map(), units: 0, source: undefined }));
      const label = stableStringify(value);
      if (param.counts.size <= this.maxValues || param.counts.has(label)) param.counts.set(label, (param.counts.get(label) ?? 0) + 1);
      const from = params.sources.get(name) ?? 'computed';
      if (param.units === 0) param.source = from;
      else if (param.source !== undefined && (from === 'computed' || param.source === 'computed' || from.key !== param.source.key)) {
        param.source = 'computed';
      }
      param.units++;
    }
  }

  /** The expectations learnt from the units run so far (all of them once `done`). */
  expectations(): ParamExpectation[] {
    const expectations: ParamExpectation[] = [];
    for (const [experiment, tally] of this.experiments) {
      if (tally.failed || tally.in === 0 || this.abandonedExperiments.has(experiment)) continue;
      for (const [param, { counts, source: observed }] of tally.params) {
        if (counts.size > this.maxValues) continue;
        const source = scriptSource(tally, param, counts) ?? observed;
        if (source !== undefined && source !== 'computed' && tally.out === 0) {
          const labels = [...source.shares.keys()];
          if (labels.length >= 2) expectations.push({ experiment, param, labels, shares: labels.map((l) => source.shares.get(l)!) });
          continue;
        }
        if (counts.size < 2) continue;
        const labels = [...counts.keys()].sort();
        expectations.push({ experiment, param, labels, syntheticCounts: labels.map((l) => counts.get(l)!) });
      }
    }
    return expectations;
  }
}
