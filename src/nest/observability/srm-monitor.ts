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
import { deriveExpectations, type ExpectationOptions, type ParamExpectation, type ProbeSource } from './srm-expectations.js';

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

interface ParamCounter {
  readonly expectation: ParamExpectation;
  readonly index: ReadonlyMap<string, number>;
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
  private following: Promise<void> | undefined;
  private followAgain = false;
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
    // Learning runs synthetic units synchronously: within a bootstrap budget, then in the
    // background, so a thousand experiments never hold up start-up.
    const budgetMs = (this.options.srm || {}).bootstrapMs ?? 1_000;
    const started = performance.now();
    const later: ProbeSource[] = [];
    for (const source of this.registry.probeSources()) {
      if (performance.now() - started < budgetMs) this.learn(source);
      else later.push(source);
    }
    if (later.length > 0) this.learnInBackground(later);
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

  /** The params it tests and their expectations (what was learnt at bootstrap). */
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
    return { units: srm.syntheticUnits, maxValues: srm.maxValues };
  }

  /** Learns `sources` one at a time, letting requests in between; `settled()` waits for it. */
  private learnInBackground(sources: readonly ProbeSource[]): void {
    const run = async (): Promise<void> => {
      for (const source of sources) {
        await new Promise((resolve) => setImmediate(resolve));
        if (this.closed) return;
        this.learn(source);
      }
    };
    this.following = run()
      .catch((error: unknown) => this.logger.error(`Planout SRM expectations not learnt: ${(error as Error).message}`))
      .finally(() => {
        this.following = undefined;
        // A reload during bootstrap learning is followed once that is done.
        if (this.followAgain) this.follow();
      });
  }

  /** Derives one source's expectations and starts counting them (from zero). */
  private learn(source: ProbeSource): void {
    const expectations = deriveExpectations([source], this.expectationOptions);
    const experiments = new Set<string>();
    for (const expectation of expectations) {
      experiments.add(expectation.experiment);
      const list = this.counters.get(expectation.experiment) ?? [];
      list.push({
        expectation,
        index: new Map(expectation.labels.map((label, i) => [label, i])),
        counts: new Array<number>(expectation.labels.length + 1).fill(0),
        exposures: 0,
      });
      this.counters.set(expectation.experiment, list);
    }
    if (source.definition !== undefined) this.derived.set(`${source.kind}:${source.name}`, { definition: source.definition, experiments: [...experiments] });
  }

  private forget(key: string): void {
    for (const experiment of this.derived.get(key)?.experiments ?? []) this.counters.delete(experiment);
    this.derived.delete(key);
    this.dirty = true;
  }

  /** After a reload: learn the data definitions that changed, forget the removed ones. */
  private follow(): void {
    if (this.following !== undefined) {
      this.followAgain = true;
      return;
    }
    const run = async (): Promise<void> => {
      do {
        this.followAgain = false;
        const current = new Map<string, ProbeSource>();
        for (const source of this.registry.probeSources()) {
          if (source.definition !== undefined) current.set(`${source.kind}:${source.name}`, source);
        }
        for (const key of [...this.derived.keys()]) if (!current.has(key)) this.forget(key);
        for (const [key, source] of current) {
          if (this.closed) return;
          if (this.derived.get(key)?.definition === source.definition) continue;
          this.forget(key);
          // Running synthetic units is synchronous: one source at a time, letting requests in between.
          await new Promise((resolve) => setImmediate(resolve));
          this.learn(source);
        }
      } while (this.followAgain && !this.closed);
    };
    this.following = run()
      .catch((error: unknown) => this.logger.error(`Planout SRM expectations not updated after a reload: ${(error as Error).message}`))
      .finally(() => {
        this.following = undefined;
      });
  }

  private count(record: PlanoutLogRecord): void {
    const counters = this.counters.get(record.name);
    if (counters === undefined) return;
    for (const counter of counters) {
      if (!Object.prototype.hasOwnProperty.call(record.params, counter.expectation.param)) continue;
      const slot = counter.index.get(stableStringify(record.params[counter.expectation.param])) ?? counter.counts.length - 1;
      counter.counts[slot]++;
      counter.exposures++;
    }
    this.dirty = true;
    if (Date.now() - this.lastEvaluated >= EVALUATE_INTERVAL_MS) this.evaluate();
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

function testCounts(counter: ParamCounter): ChiSquareResult | undefined {
  const { shares, syntheticCounts } = counter.expectation;
  // The last slot counts values the expectation does not know (share 0 / never seen).
  if (shares !== undefined) return chiSquareTest(counter.counts, [...shares, 0]);
  return chiSquareHomogeneity(counter.counts, [...syntheticCounts!, 0]);
}
