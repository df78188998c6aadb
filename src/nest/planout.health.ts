import { Injectable, Optional } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { ExposureCache } from './exposure-cache.interface.js';
import { LogSink } from './log-sink.interface.js';
import { PlanoutSrmMonitor, type SrmResult } from './observability/srm-monitor.js';
import { PlanoutMetrics, type PlanoutMetricsSnapshot } from './planout-metrics.js';

export interface PlanoutHealthOptions {
  /**
   * Records accepted but not yet delivered, at most, before the check reports `down`
   * (e.g. the database has been unreachable long enough to fill most of the queue).
   * Default: no bound (the backlog is only reported).
   */
  maxBacklog?: number;
}

/** What the check reports, next to `status`. */
export interface PlanoutHealthData {
  [key: string]: unknown;
  /** Records the sink accepted and has not delivered yet; null when the sink does not say. */
  backlog: number | null;
  /** The sink's last delivery error (cleared by its next success), else the module's last error. */
  lastError: { message: string; at: string } | null;
  counters: PlanoutMetricsSnapshot;
  /** Whether the exposure cache reaches its store; null when the cache does not say (in-memory). */
  cacheConnected: boolean | null;
  /** Experiment params in sample-ratio-mismatch alarm (chi-square p below 0.001 after 100 exposures by default). */
  srm: SrmResult[];
  /** Why the status is not `up`, when it is not. */
  reasons?: string[];
}

/** Health of a sink or cache, read structurally: the built-in backends expose these getters. */
interface Observable {
  backlog?: unknown;
  lastError?: unknown;
  connected?: unknown;
}

/**
 * A `@nestjs/terminus` health indicator for the exposure pipeline. Provide it in a module
 * that imports `TerminusModule` and sees the `PlanoutModule` exports (import the module
 * there, or register it with `isGlobal: true`), then:
 *
 * ```ts
 * @Get('health') @HealthCheck()
 * check() { return this.health.check([() => this.planout.isHealthy('planout', { maxBacklog: 5000 })]); }
 * ```
 *
 * Status: `down` when the sink's backlog exceeds `maxBacklog`; `degraded` (still HTTP
 * 200: requests are served, exposures are still accepted) while the sink is failing to
 * deliver (its `lastError` is set), the exposure cache is disconnected (deduplication is
 * off, exposures are logged again) or an experiment param is in sample-ratio-mismatch alarm
 * (`srm` names it); `up` otherwise.
 */
@Injectable()
export class PlanoutHealthIndicator {
  constructor(
    private readonly health: HealthIndicatorService,
    private readonly sink: LogSink,
    private readonly cache: ExposureCache,
    private readonly metrics: PlanoutMetrics,
    @Optional() private readonly srm?: PlanoutSrmMonitor,
  ) {}

  isHealthy<const Key extends string>(key: Key, options: PlanoutHealthOptions = {}): HealthIndicatorResult<Key> {
    const indicator = this.health.check(key);
    const data = this.report();
    const reasons: string[] = [];
    if (options.maxBacklog !== undefined && data.backlog !== null && data.backlog > options.maxBacklog) {
      reasons.push(`sink backlog ${data.backlog} exceeds ${options.maxBacklog}`);
      return indicator.down({ ...data, reasons });
    }
    const sinkError = readError((this.sink as Observable).lastError);
    if (sinkError !== null) reasons.push(`sink failing: ${sinkError.message}`);
    if (data.cacheConnected === false) reasons.push('exposure cache disconnected: deduplication off');
    for (const alarm of data.srm) {
      reasons.push(`sample ratio mismatch: ${alarm.experiment}.${alarm.param} (p = ${alarm.pValue.toPrecision(3)}, ${alarm.exposures} exposures)`);
    }
    return reasons.length > 0 ? indicator.degraded({ ...data, reasons }) : indicator.up(data);
  }

  /** The figures the check reports, without a status. */
  report(): PlanoutHealthData {
    const sink = this.sink as Observable;
    const cache = this.cache as Observable;
    const lastError = readError(sink.lastError) ?? readError(this.metrics.lastError);
    return {
      backlog: typeof sink.backlog === 'number' ? sink.backlog : null,
      lastError,
      counters: this.metrics.snapshot(),
      cacheConnected: typeof cache.connected === 'boolean' ? cache.connected : null,
      srm: this.srm?.alarms() ?? [],
    };
  }
}

function readError(value: unknown): { message: string; at: string } | null {
  if (typeof value !== 'object' || value === null) return null;
  const { message, at } = value as { message?: unknown; at?: unknown };
  if (typeof message !== 'string') return null;
  return { message, at: at instanceof Date ? at.toISOString() : String(at) };
}
