import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { PlanoutLogRecord } from '../../core/log-record.js';
import { chiSquareHomogeneity, chiSquareTest, type ChiSquareResult } from '../../core/stats/chi-square.js';
import { stableStringify } from '../dedupe-key.js';
import type { PlanoutModuleOptions } from '../planout-options.interface.js';
import { PlanoutMetrics } from '../planout-metrics.js';
import { MODULE_OPTIONS_TOKEN } from '../planout.module-definition.js';
import { PLANOUT_LOG_CONTEXT } from '../planout.constants.js';
import { PlanoutRegistry } from '../planout.registry.js';
import { deriveExpectations, type ParamExpectation } from './srm-expectations.js';

/** One param's test: the p-value of the observed exposure counts against the expected shares. */
export interface SrmResult {
  experiment: string;
  param: string;
  pValue: number;
  exposures: number;
}

/** Re-test at most this often while exposures arrive (reads of `results()` always re-test). */
const EVALUATE_INTERVAL_MS = 1_000;

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
 * leaves. Memory: a fixed set of counters per param, whatever the traffic.
 */
@Injectable()
export class PlanoutSrmMonitor implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(PLANOUT_LOG_CONTEXT);
  private readonly counters = new Map<string, ParamCounter[]>();
  private readonly minExposures: number;
  private readonly threshold: number;
  private stopListening: (() => void) | undefined;
  private lastEvaluated = 0;
  private dirty = false;
  private latest: SrmResult[] = [];
  private alarming = new Set<string>();

  constructor(
    private readonly registry: PlanoutRegistry,
    private readonly metrics: PlanoutMetrics,
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

  /** After every module's `onModuleInit`: the registry has resolved the experiments. */
  onApplicationBootstrap(): void {
    if (!this.enabled || this.stopListening !== undefined) return;
    const srm = this.options.srm || {};
    const expectations = deriveExpectations(this.registry.probeSources(), { units: srm.syntheticUnits, maxValues: srm.maxValues });
    for (const expectation of expectations) {
      const list = this.counters.get(expectation.experiment) ?? [];
      list.push({
        expectation,
        index: new Map(expectation.labels.map((label, i) => [label, i])),
        counts: new Array<number>(expectation.labels.length + 1).fill(0),
        exposures: 0,
      });
      this.counters.set(expectation.experiment, list);
    }
    if (this.counters.size === 0) return;
    this.stopListening = this.metrics.addListener({
      record: (outcome, record) => {
        if (outcome === 'accepted' && record.event === 'exposure' && record.overridden !== true) this.count(record);
      },
    });
  }

  onModuleDestroy(): void {
    this.stopListening?.();
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
