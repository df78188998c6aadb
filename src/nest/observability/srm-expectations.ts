import { Assignment } from '../../core/assignment.js';
import type { ExperimentInputs } from '../../core/experiment.js';
import { BernoulliTrial, RandomOperator, UniformChoice, WeightedChoice } from '../../core/ops/random.js';
import { truthy, type PlanoutValue } from '../../core/values.js';
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
}

/** A registered experiment or namespace: builds the probe for one unit's inputs (none when it reaches no experiment). */
export interface ProbeSource {
  readonly kind: 'experiment' | 'namespace';
  readonly name: string;
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
  /** Synthetic units per experiment (default 4 000). */
  units?: number;
  /** Params with more distinct values are not checked (default 32). */
  maxValues?: number;
}

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
}

function exactSoFar(tally: ExperimentTally): boolean {
  if (tally.failed || tally.out > 0 || tally.in === 0) return tally.failed;
  for (const param of tally.params.values()) {
    if (param.source === undefined || param.source === 'computed') return false;
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
  const units = options.units ?? 4_000;
  const maxValues = options.maxValues ?? 32;
  const experiments = new Map<string, ExperimentTally>();
  for (const source of sources) {
    const names = new Set<string>();
    const reached = new Set<string>();
    for (let unit = 1; unit <= units; unit++) {
      // Enough once every param seen so far comes from one weighted draw for every unit in:
      // the weights give the shares, and more units would change nothing.
      if (unit === EARLY_CHECK_UNITS + 1 && [...reached].every((name) => exactSoFar(experiments.get(name)!))) break;
      let probe: AssignmentProbe | undefined;
      try {
        probe = source.probe(syntheticInputs(unit, names));
      } catch {
        break; // The namespace cannot route synthetic units: nothing to learn.
      }
      if (probe === undefined) continue;
      let tally = experiments.get(probe.experiment);
      if (tally === undefined) experiments.set(probe.experiment, (tally = { in: 0, out: 0, failed: false, params: new Map() }));
      reached.add(probe.experiment);
      if (tally.failed) continue;
      const params = new ObservingAssignment(probe.salt, undefined, probe.experiment);
      let result: unknown;
      try {
        result = probe.assign(params);
      } catch {
        tally.failed = true;
        continue;
      }
      if (!(result === undefined || truthy(result))) {
        tally.out++;
        continue;
      }
      tally.in++;
      for (const [name, value] of params.entries()) {
        let param = tally.params.get(name);
        if (param === undefined) tally.params.set(name, (param = { counts: new Map(), units: 0, source: undefined }));
        const label = stableStringify(value);
        if (param.counts.size <= maxValues || param.counts.has(label)) param.counts.set(label, (param.counts.get(label) ?? 0) + 1);
        const from = params.sources.get(name) ?? 'computed';
        if (param.units === 0) param.source = from;
        else if (param.source !== undefined && (from === 'computed' || param.source === 'computed' || from.key !== param.source.key)) {
          param.source = 'computed';
        }
        param.units++;
      }
    }
  }
  const expectations: ParamExpectation[] = [];
  for (const [experiment, tally] of experiments) {
    if (tally.failed || tally.in === 0) continue;
    for (const [param, { counts, source }] of tally.params) {
      if (counts.size > maxValues) continue;
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
