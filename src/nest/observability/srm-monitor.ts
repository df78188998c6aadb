import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { PlanoutLogRecord } from '../../core/log-record.js';
import { chiSquareHomogeneity, chiSquareTest, type ChiSquareResult } from '../../core/stats/chi-square.js';
import { stableStringify } from '../dedupe-key.js';
import type { PlanoutModuleOptions } from '../planout-options.interface.js';
import { PlanoutMetrics } from '../planout-metrics.js';
import { MODULE_OPTIONS_TOKEN } from '../planout.module-definition.js';
import { PLANOUT_LOG_CONTEXT } from '../planout.constants.js';
import { PlanoutDefinitions } from '../definitions/planout-definitions.js';
import { PlanoutRegistry } from '../planout.registry.js';
import { ExpectationLearner, type ExpectationOptions, type ParamExpectation, type ProbeSource } from './srm-expectations.js';

/** One param's test: the p-value of the observed exposure counts against the expected shares. */
export interface SrmResult {
  experiment: string;
  param: string;
  pValue: number;
  exposures: number;
}

/** Re-test at most this often while exposures arrive (reads of `results()` always re-test). */
const EVALUATE_INTERVAL_MS = 1_000;

/** A data-defined source as last derived: its compiled definition and the experiments it gave counters to. */
interface DerivedSource {
  readonly definition: object;
  readonly experiments: readonly string[];
}

/** Learning time per background slice: requests get in between slices. */
const BACKGROUND_SLICE_MS = 10;

/**
 * Distinct values kept per param while its experiment waits to be learnt (many times any
 * tested param's): exposures with other values are counted as unexpected once it is learnt.
 */
const MAX_WAITING_VALUES = 256;

/** A source being learnt, resumable. */
interface Learning {
  readonly source: ProbeSource;
  readonly learner: ExpectationLearner;
}

/** Exposures of one experiment param counted while no expectation exists for it yet. */
interface WaitingCounts {
  readonly byLabel: Map<string, number>;
  /** Exposures whose value was not kept (over {@link MAX_WAITING_VALUES} distinct values). */
  others: number;
}

interface ParamCounter {
  readonly expectation: ParamExpectation;
  readonly index: ReadonlyMap<string, number>;
  /**
   * Slots of primitive values seen, by value: the same slot as `index` gives their canonical
   * text, without building the text per exposure. Bounded by {@link MAX_SLOT_MEMO}.
   */
  readonly slotOf: Map<PrimitiveValue, number>;
  /** One slot per expected value, then one for any other value. */
  readonly counts: number[];
  exposures: number;
}

/**
 * The live sample-ratio-mismatch alarm. At bootstrap it learns, per experiment param with a
 * finite set of values, the expected shares (see `deriveExpectations`); then it counts each
 * exposure the sink accepts (QA-overridden ones excepted) by value, and tests the counts with
 * a chi-square goodness-of-fit test (a homogeneity test against the synthetic sample when the
 * shares were estimated). With at least `minExposures` exposures and p below
 * `pValueThreshold`, the param is in {@link alarms}; a warning is logged when it enters or
 * leaves. Data-defined experiments and namespaces are learnt at bootstrap too, and again
 * after a reload that changed them (their counts start over: the split may have changed);
 * removed ones stop being tested. Memory: a fixed set of counters per param, whatever the traffic.
 */
@Injectable()
export class PlanoutSrmMonitor implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(PLANOUT_LOG_CONTEXT);
  private readonly counters = new Map<string, ParamCounter[]>();
  private readonly minExposures: number;
  private readonly threshold: number;
  private stopListening: (() => void) | undefined;
  private stopFollowing: (() => void) | undefined;
  /** Data-defined sources by `kind:name`, as last derived. */
  private readonly derived = new Map<string, DerivedSource>();
  /** Sources waiting to be learnt, and the one being learnt (resumable, see {@link ExpectationLearner}). */
  private readonly queue: ProbeSource[] = [];
  private current: Learning | undefined;
  /** Data-defined sources queued or being learnt by `kind:name`: their definition. */
  private readonly scheduled = new Map<string, object>();
  /** While learning: exposures of experiments with no counters yet, by experiment then param. */
  private readonly waiting = new Map<string, Map<string, WaitingCounts>>();
  private following: Promise<void> | undefined;
  private closed = false;
  private lastEvaluated = 0;
  private dirty = false;
  private latest: SrmResult[] = [];
  private alarming = new Set<string>();

  constructor(
    private readonly registry: PlanoutRegistry,
    private readonly metrics: PlanoutMetrics,
    private readonly definitions: PlanoutDefinitions,
    @Inject(MODULE_OPTIONS_TOKEN) private readonly options: PlanoutModuleOptions,
  ) {
    const srm = options.srm === false ? {} : (options.srm ?? {});
    this.minExposures = srm.minExposures ?? 100;
    this.threshold = srm.pValueThreshold ?? 0.001;
  }

  /** Whether the alarm runs (`srm: false` turns it off). */
  get enabled(): boolean {
    return this.options.srm !== false;
  }

  /** After every module's `onModuleInit`: the registry has resolved the experiments (and loaded the definitions). */
  onApplicationBootstrap(): void {
    if (!this.enabled || this.stopListening !== undefined) return;
    // Learning runs synthetic units synchronously: within a bootstrap budget, then in
    // background slices, so a thousand experiments never hold up start-up. Time decides only
    // when a source is learnt, never what: each runs its units, however many slices it takes.
    const budgetMs = (this.options.srm || {}).bootstrapMs ?? 1_000;
    this.queue.push(...this.registry.probeSources());
    for (const source of this.queue) if (source.definition !== undefined) this.scheduled.set(keyOf(source), source.definition);
    this.learnUntil(performance.now() + budgetMs);
    if (this.learning) this.learnInBackground();
    this.stopListening = this.metrics.addListener({
      record: (outcome, record) => {
        if (outcome === 'accepted' && record.event === 'exposure' && record.overridden !== true) this.count(record);
      },
    });
    this.stopFollowing = this.definitions.onSwap(() => this.follow());
  }

  onModuleDestroy(): void {
    this.closed = true;
    this.stopListening?.();
    this.stopFollowing?.();
  }

  /**
   * Resolves once the expectations follow the definitions serving now (after a reload,
   * changed data definitions are learnt again in the background).
   */
  async settled(): Promise<void> {
    while (this.following !== undefined) await this.following;
  }

  /** The params it tests and their expectations (learnt so far: see {@link settled}). */
  expectations(): ParamExpectation[] {
    return [...this.counters.values()].flat().map((c) => c.expectation);
  }

  /** Every tested param with at least one exposure, re-tested now. */
  results(): SrmResult[] {
    this.evaluate();
    return this.latest;
  }

  /** The params in alarm now: at least `minExposures` exposures and p below the threshold. */
  alarms(): SrmResult[] {
    return this.results().filter((r) => this.isAlarm(r));
  }

  private get expectationOptions(): ExpectationOptions {
    const srm = this.options.srm || {};
    return { units: srm.syntheticUnits, maxValues: srm.maxValues, maxMsPerSource: srm.maxMsPerSource };
  }

  /** Whether sources are waiting to be learnt or being learnt. */
  private get learning(): boolean {
    return this.current !== undefined || this.queue.length > 0;
  }

  /**
   * Learns queued sources until `deadline` (a `performance.now()` time) has passed, resuming
   * the one it stopped in last time; at least one synthetic unit per call.
   */
  private learnUntil(deadline: number): void {
    do {
      if (this.current === undefined) {
        const source = this.queue.shift();
        if (source === undefined) return;
        this.current = { source, learner: new ExpectationLearner([source], this.expectationOptions) };
      }
      if (!this.current.learner.run(deadline)) return;
      const learnt = this.current;
      this.current = undefined;
      this.install(learnt);
    } while (performance.now() < deadline);
  }

  /** Learns what is queued in slices, letting requests in between; `settled()` waits for it. */
  private learnInBackground(): void {
    if (this.following !== undefined) return;
    const run = async (): Promise<void> => {
      while (this.learning && !this.closed) {
        await new Promise((resolve) => setImmediate(resolve));
        if (this.closed) return;
        this.learnUntil(performance.now() + BACKGROUND_SLICE_MS);
      }
    };
    this.following = run()
      .catch((error: unknown) => {
        // Skip the source that failed (not tested) rather than retry it forever.
        this.logger.error(`Planout SRM expectations of ${this.current?.source.name ?? 'a source'} not learnt: ${(error as Error).message}`);
        if (this.current?.source.definition !== undefined) this.scheduled.delete(keyOf(this.current.source));
        this.current = undefined;
      })
      .finally(() => {
        this.following = undefined;
        this.waiting.clear();
        if (this.learning && !this.closed) this.learnInBackground();
      });
  }

  /** Starts counting what `learnt` derived, with the exposures that arrived while it was learnt. */
  private install({ source, learner }: Learning): void {
    for (const name of learner.givenUp) {
      this.logger.warn(`Planout SRM: ${name} not tested, its synthetic units took longer than the safety net allows (srm.maxMsPerSource)`);
    }
    const experiments = new Set<string>();
    for (const expectation of learner.expectations()) {
      experiments.add(expectation.experiment);
      const counter: ParamCounter = {
        expectation,
        index: new Map(expectation.labels.map((label, i) => [label, i])),
        slotOf: new Map(),
        counts: new Array<number>(expectation.labels.length + 1).fill(0),
        exposures: 0,
      };
      const waiting = this.waiting.get(expectation.experiment)?.get(expectation.param);
      if (waiting !== undefined) {
        for (const [label, n] of waiting.byLabel) counter.counts[counter.index.get(label) ?? counter.counts.length - 1] += n;
        counter.counts[counter.counts.length - 1] += waiting.others;
        counter.exposures = counter.counts.reduce((a, b) => a + b, 0);
        this.dirty = true;
      }
      const list = this.counters.get(expectation.experiment) ?? [];
      list.push(counter);
      this.counters.set(expectation.experiment, list);
    }
    for (const experiment of experiments) this.waiting.delete(experiment);
    if (source.definition !== undefined) {
      this.scheduled.delete(keyOf(source));
      this.derived.set(keyOf(source), { definition: source.definition, experiments: [...experiments] });
    }
  }

  /** Stops testing a data-defined source: its counters, and its learning if queued. */
  private forget(key: string): void {
    for (const experiment of this.derived.get(key)?.experiments ?? []) {
      this.counters.delete(experiment);
      this.waiting.delete(experiment);
    }
    // A data-defined experiment's records carry its name (a namespace's, its members').
    if (key.startsWith('experiment:')) this.waiting.delete(key.slice('experiment:'.length));
    this.derived.delete(key);
    if (this.scheduled.delete(key)) {
      if (this.current !== undefined && keyOf(this.current.source) === key) this.current = undefined;
      const at = this.queue.findIndex((source) => keyOf(source) === key);
      if (at >= 0) this.queue.splice(at, 1);
    }
    this.dirty = true;
  }

  /**
   * After a reload: forget the data definitions that changed or went, and learn the changed
   * ones in the background (their exposures from now on are counted once they are learnt).
   */
  private follow(): void {
    if (this.closed) return;
    const current = new Map<string, ProbeSource>();
    for (const source of this.registry.probeSources()) {
      if (source.definition !== undefined) current.set(keyOf(source), source);
    }
    for (const key of new Set([...this.derived.keys(), ...this.scheduled.keys()])) if (!current.has(key)) this.forget(key);
    for (const [key, source] of current) {
      if ((this.derived.get(key)?.definition ?? this.scheduled.get(key)) === source.definition) continue;
      this.forget(key);
      this.queue.push(source);
      this.scheduled.set(key, source.definition!);
    }
    if (this.learning) this.learnInBackground();
  }

  private count(record: PlanoutLogRecord): void {
    const counters = this.counters.get(record.name);
    if (counters === undefined) {
      if (this.learning) this.wait(record);
      return;
    }
    for (const counter of counters) {
      if (!Object.prototype.hasOwnProperty.call(record.params, counter.expectation.param)) continue;
      counter.counts[slotOf(counter, record.params[counter.expectation.param])]++;
      counter.exposures++;
    }
    this.dirty = true;
    if (Date.now() - this.lastEvaluated >= EVALUATE_INTERVAL_MS) this.evaluate();
  }

  /** Counts an exposure of an experiment not learnt yet, so that when it is learnt does not matter. */
  private wait(record: PlanoutLogRecord): void {
    let params = this.waiting.get(record.name);
    if (params === undefined) this.waiting.set(record.name, (params = new Map()));
    for (const [param, value] of Object.entries(record.params)) {
      let counts = params.get(param);
      if (counts === undefined) params.set(param, (counts = { byLabel: new Map(), others: 0 }));
      const label = stableStringify(value);
      const seen = counts.byLabel.get(label);
      if (seen !== undefined || counts.byLabel.size < MAX_WAITING_VALUES) counts.byLabel.set(label, (seen ?? 0) + 1);
      else counts.others++;
    }
  }

  private evaluate(): void {
    if (!this.dirty) return;
    this.dirty = false;
    this.lastEvaluated = Date.now();
    const results: SrmResult[] = [];
    for (const counters of this.counters.values()) {
      for (const counter of counters) {
        if (counter.exposures === 0) continue;
        const test = testCounts(counter);
        if (test === undefined) continue;
        results.push({
          experiment: counter.expectation.experiment,
          param: counter.expectation.param,
          pValue: test.pValue,
          exposures: counter.exposures,
        });
      }
    }
    this.latest = results;
    const alarming = new Set<string>();
    for (const result of results) {
      const key = `${result.experiment}\u0000${result.param}`;
      if (!this.isAlarm(result)) continue;
      alarming.add(key);
      if (!this.alarming.has(key)) {
        this.logger.warn(
          `Sample ratio mismatch in "${result.experiment}", param "${result.param}": p = ${result.pValue.toPrecision(3)} ` +
            `after ${result.exposures} exposures (alarm below ${this.threshold}); the split is not what the weights say`,
        );
      }
    }
    for (const key of this.alarming) {
      if (!alarming.has(key)) this.logger.log(`Sample ratio mismatch cleared in "${key.replace('\u0000', '", param "')}"`);
    }
    this.alarming = alarming;
  }

  private isAlarm(result: SrmResult): boolean {
    return result.exposures >= this.minExposures && result.pValue < this.threshold;
  }
}

function keyOf(source: ProbeSource): string {
  return `${source.kind}:${source.name}`;
}

function testCounts(counter: ParamCounter): ChiSquareResult | undefined {
  const { shares, syntheticCounts } = counter.expectation;
  // The last slot counts values the expectation does not know (share 0 / never seen).
  if (shares !== undefined) return chiSquareTest(counter.counts, [...shares, 0]);
  return chiSquareHomogeneity(counter.counts, [...syntheticCounts!, 0]);
}

/** Param values remembered by value (as Map keys) rather than by canonical text. */
type PrimitiveValue = string | number | boolean | bigint;

/** Primitive values remembered per counter; past it the others are looked up by text each time. */
const MAX_SLOT_MEMO = 256;

/** The slot of `value` in `counter`: its expected value's, or the last one for any other value. */
function slotOf(counter: ParamCounter, value: unknown): number {
  const type = typeof value;
  const primitive = type === 'string' || type === 'number' || type === 'boolean' || type === 'bigint';
  if (primitive) {
    // Values equal as Map keys (SameValueZero) have the same canonical text: 0 and -0 both give "0".
    const known = counter.slotOf.get(value as PrimitiveValue);
    if (known !== undefined) return known;
  }
  const slot = counter.index.get(stableStringify(value)) ?? counter.counts.length - 1;
  if (primitive && counter.slotOf.size < MAX_SLOT_MEMO) counter.slotOf.set(value as PrimitiveValue, slot);
  return slot;
}
