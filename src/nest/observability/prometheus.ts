import { Inject, Injectable, Optional, type OnModuleDestroy } from '@nestjs/common';
import { Counter, Gauge, register as defaultRegistry, type Registry } from 'prom-client';
import { LogSink } from '../log-sink.interface.js';
import { PlanoutMetrics, type PlanoutCounter, type PlanoutCounterLabels, type PlanoutMetricsListener } from '../planout-metrics.js';
import { PlanoutSrmMonitor } from './srm-monitor.js';

/** Token of the prom-client `Registry` the metrics go to; default: prom-client's global `register`. */
export const PLANOUT_PROMETHEUS_REGISTRY = 'PLANOUT_PROMETHEUS_REGISTRY';

/** How a {@link PlanoutMetrics} counter is named in Prometheus, and which labels it keeps. */
interface CounterSpec {
  name: string;
  help: string;
  labelNames: readonly string[];
}

/**
 * The counters with their own names. Any other counter `PlanoutMetrics` has (now or later) is
 * exported as `planout_<snake_case>_total` without labels. `accepted` and `deduplicated` are
 * exported per experiment from the records (`planout_exposures_total` and friends).
 */
const COUNTER_SPECS: Readonly<Record<string, CounterSpec | null>> = {
  accepted: null,
  deduplicated: null,
  logged: { name: 'planout_sink_logged_total', help: 'Records the sink delivered to its store.', labelNames: [] },
  dropped: { name: 'planout_sink_dropped_total', help: 'Records the sink dropped, by reason.', labelNames: ['reason'] },
  rejected: { name: 'planout_sink_rejected_total', help: 'Records the destination refused for their data (never retried).', labelNames: [] },
  failed: { name: 'planout_sink_failed_total', help: 'Records the sink did not accept when the dispatcher handed them over.', labelNames: [] },
  retried: { name: 'planout_sink_retried_total', help: 'Batch deliveries the sink attempted again.', labelNames: [] },
  cacheErrors: { name: 'planout_cache_errors_total', help: 'Exposure cache operations that failed.', labelNames: [] },
  missingUnit: {
    name: 'planout_missing_unit_total',
    help: 'Experiment instances whose unit was missing from the inputs (in no experiment, nothing logged), by experiment.',
    labelNames: ['experiment'],
  },
};

/** Distinct `{experiment, event}` pairs kept per registry; later event types are counted as `event="other"`. */
const MAX_EVENT_SERIES = 1_000;

/** What one module (one app) contributes to a registry. */
interface Source {
  readonly sink: LogSink;
  readonly srm: PlanoutSrmMonitor;
}

/** The instruments of one registry, shared by every module reporting into it. */
interface Instruments {
  readonly exposures: Counter<'experiment'>;
  readonly deduplicated: Counter<'experiment'>;
  readonly events: Counter<'experiment' | 'event'>;
  readonly eventSeries: Set<string>;
  readonly counters: Map<string, Counter<string> | null>;
  readonly sources: Set<Source>;
  readonly registry: Registry;
}

// One set per registry: a second app (or test) in the process adds to the same series instead
// of failing with "A metric with the name ... has already been registered".
const byRegistry = new WeakMap<Registry, Instruments>();

function instrumentsFor(registry: Registry): Instruments {
  let instruments = byRegistry.get(registry);
  if (instruments !== undefined) return instruments;
  const registers = [registry];
  const sources = new Set<Source>();
  instruments = {
    registry,
    sources,
    eventSeries: new Set(),
    counters: new Map(),
    exposures: ensureCounter(registry, 'planout_exposures_total', 'Exposure records accepted by the sink, by experiment.', ['experiment']),
    deduplicated: ensureCounter(
      registry,
      'planout_exposures_deduplicated_total',
      'Exposures not logged again because the exposure cache had them, by experiment.',
      ['experiment'],
    ),
    events: ensureCounter(
      registry,
      'planout_events_total',
      'Event records (logEvent) accepted by the sink, by experiment and event type.',
      ['experiment', 'event'],
    ),
  };
  new Gauge({
    name: 'planout_sink_backlog',
    help: 'Records the sink accepted and has not delivered yet.',
    registers,
    collect() {
      let backlog = 0;
      for (const { sink } of sources) {
        const value = (sink as { backlog?: unknown }).backlog;
        if (typeof value === 'number') backlog += value;
      }
      this.set(backlog);
    },
  });
  new Gauge({
    name: 'planout_srm_p_value',
    help: 'Chi-square p-value of the exposure counts per param value against the expected shares (sample ratio mismatch below 0.001).',
    labelNames: ['experiment', 'param'],
    registers,
    collect() {
      this.reset();
      for (const { srm } of sources) {
        for (const result of srm.results()) this.set({ experiment: result.experiment, param: result.param }, result.pValue);
      }
    },
  });
  for (const counter of Object.keys(COUNTER_SPECS)) counterFor(instruments, counter);
  byRegistry.set(registry, instruments);
  return instruments;
}

function counterFor(instruments: Instruments, counter: string): Counter<string> | null {
  let instrument = instruments.counters.get(counter);
  if (instrument !== undefined) return instrument;
  const spec = Object.prototype.hasOwnProperty.call(COUNTER_SPECS, counter)
    ? COUNTER_SPECS[counter]!
    : { name: `planout_${counter.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}_total`, help: `PlanoutMetrics counter "${counter}".`, labelNames: [] };
  instrument = spec === null ? null : ensureCounter(instruments.registry, spec.name, spec.help, spec.labelNames);
  instruments.counters.set(counter, instrument);
  return instrument;
}

/** The registry's counter of that name (another copy of this library may have made it), else a new one. */
function ensureCounter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[]): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing instanceof Counter) return existing as Counter<L>;
  return new Counter({ name, help, labelNames: [...labelNames], registers: [registry] });
}

function pickLabels(names: readonly string[], labels: PlanoutCounterLabels | undefined): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const name of names) picked[name] = labels?.[name] ?? 'unspecified';
  return picked;
}

/**
 * Prometheus metrics of the module, through prom-client: provide it where the `PlanoutModule`
 * exports are visible (as `PlanoutHealthIndicator`) and serve {@link metrics}. It reports
 * into prom-client's global registry, or the one provided as {@link PLANOUT_PROMETHEUS_REGISTRY}.
 * The instruments are created once per registry, so several apps in one process share them.
 *
 * ```ts
 * providers: [PlanoutPrometheus, { provide: PLANOUT_PROMETHEUS_REGISTRY, useValue: registry }]
 * ```
 */
@Injectable()
export class PlanoutPrometheus implements OnModuleDestroy {
  readonly registry: Registry;
  private readonly source: Source;
  private readonly instruments: Instruments;
  private readonly stopListening: () => void;

  constructor(
    metrics: PlanoutMetrics,
    sink: LogSink,
    srm: PlanoutSrmMonitor,
    @Optional() @Inject(PLANOUT_PROMETHEUS_REGISTRY) registry?: Registry,
  ) {
    this.registry = registry ?? defaultRegistry;
    this.instruments = instrumentsFor(this.registry);
    this.source = { sink, srm };
    this.instruments.sources.add(this.source);
    for (const counter of Object.keys(metrics.snapshot()) as PlanoutCounter[]) counterFor(this.instruments, counter);
    const instruments = this.instruments;
    const listener: PlanoutMetricsListener = {
      counter(counter, by, labels) {
        const instrument = counterFor(instruments, counter);
        if (instrument === null) return;
        const names = COUNTER_SPECS[counter]?.labelNames ?? [];
        if (names.length === 0) instrument.inc(by);
        else instrument.inc(pickLabels(names, labels), by);
      },
      record(outcome, record) {
        if (outcome === 'deduplicated') instruments.deduplicated.inc({ experiment: record.name });
        if (outcome !== 'accepted') return;
        if (record.event === 'exposure') {
          instruments.exposures.inc({ experiment: record.name });
          return;
        }
        const series = `${record.name}\u0000${record.event}`;
        if (!instruments.eventSeries.has(series) && instruments.eventSeries.size < MAX_EVENT_SERIES) instruments.eventSeries.add(series);
        instruments.events.inc({ experiment: record.name, event: instruments.eventSeries.has(series) ? record.event : 'other' });
      },
    };
    this.stopListening = metrics.addListener(listener);
  }

  /** The content type of {@link metrics}: `text/plain; version=0.0.4; charset=utf-8` for the default registry. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Every metric of the registry (the module's and any other), in the Prometheus text format. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  onModuleDestroy(): void {
    this.stopListening();
    this.instruments.sources.delete(this.source);
  }
}
