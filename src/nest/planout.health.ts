import { Injectable, Optional } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { PlanoutDefinitions, type DefinitionsReport } from './definitions/planout-definitions.js';
import { ExposureCache } from './exposure-cache.interface.js';
import { LogSink } from './log-sink.interface.js';
import { PlanoutSrmMonitor, type SrmResult } from './observability/srm-monitor.js';
import { PlanoutMetrics, type PlanoutMetricsSnapshot } from './planout-metrics.js';
import type { RecentOutcomes } from './sinks/backend-utils.js';

export interface PlanoutHealthOptions {
  /**
   * Records accepted but not yet delivered, at most, before the check reports `down`
   * (e.g. the database has been unreachable long enough to fill most of the queue).
   * Default: no bound (the backlog is only reported).
   */
  maxBacklog?: number;
  /**
   * A sink write pending longer than this makes the check `degraded`: the destination
   * accepts connections but does not answer. Default 2000 ms.
   */
  maxWritePendingMs?: number;
  /**
   * Share of the sink's or the cache's operations over their recent window (10 s) that
   * may fail or time out before the check reports `degraded`. Default 0.1.
   */
  maxErrorRate?: number;
  /** Failures in the window below which the error rate is not judged (one blip is not an outage). Default 3. */
  minFailures?: number;
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
  /** How long the sink's current write has been pending (0: none); null when the sink does not say. */
  writePendingMs: number | null;
  /** Operations of the sink and the cache over their recent window; null when a backend does not say. */
  recent: { sink: RecentOutcomes | null; cache: RecentOutcomes | null };
  /** The data definitions: what serves, and the definitions refused with their errors. */
  definitions?: DefinitionsReport;
  /** Why the status is not `up`, when it is not. */
  reasons?: string[];
}

/** Health of a sink or cache, read structurally: the built-in backends expose these getters. */
interface Observable {
  backlog?: unknown;
  lastError?: unknown;
  connected?: unknown;
  writePendingMs?: unknown;
  recentOutcomes?: unknown;
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
 * deliver (its `lastError` is set), a sink write has been pending longer than
 * `maxWritePendingMs` (a hung destination), the sink's or the cache's recent operations
 * fail or time out more than `maxErrorRate` of the time (a hung or flapping backend,
 * whatever its connection state), the exposure cache is disconnected (deduplication is
 * off, exposures are logged again), a data definition was refused (its last good version,
 * if any, keeps serving), or an experiment param is in sample-ratio-mismatch alarm (`srm`
 * names it); `up` otherwise.
 */
@Injectable()
export class PlanoutHealthIndicator {
  constructor(
    private readonly health: HealthIndicatorService,
    private readonly sink: LogSink,
    private readonly cache: ExposureCache,
    private readonly metrics: PlanoutMetrics,
    @Optional() private readonly srm?: PlanoutSrmMonitor,
    @Optional() private readonly definitions?: PlanoutDefinitions,
  ) {}

  isHealthy<const Key extends string>(key: Key, options: PlanoutHealthOptions = {}): HealthIndicatorResult<Key> {
    const indicator = this.health.check(key);
    const data = this.report();
    const reasons: string[] = [];
    if (options.maxBacklog !== undefined && data.backlog !== null && data.backlog > options.maxBacklog) {
      reasons.push(`sink backlog ${data.backlog} exceeds ${options.maxBacklog}`);
      return indicator.down({ ...data, reasons });
    }
    const maxPending = options.maxWritePendingMs ?? 2000;
    const maxErrorRate = options.maxErrorRate ?? 0.1;
    const minFailures = options.minFailures ?? 3;
    const sinkError = readError((this.sink as Observable).lastError);
    if (sinkError !== null) reasons.push(`sink failing: ${sinkError.message}`);
    if (data.writePendingMs !== null && data.writePendingMs > maxPending) {
      reasons.push(`sink stalled: a write has been pending for ${data.writePendingMs}ms`);
    }
    // While the sink is failing now, its error says more than its recent rate.
    const sinkRate = sinkError === null ? failing(data.recent.sink, maxErrorRate, minFailures) : undefined;
    if (sinkRate !== undefined) reasons.push(`sink ${sinkRate}`);
    if (data.cacheConnected === false) reasons.push('exposure cache disconnected: deduplication off');
    const cacheRate = failing(data.recent.cache, maxErrorRate, minFailures);
    if (cacheRate !== undefined) reasons.push(`exposure cache ${cacheRate}: deduplication impaired`);
    for (const error of data.definitions?.errors ?? []) {
      const serving = error.serving ? 'previous version serving' : 'not serving';
      reasons.push(`definition ${error.kind} "${error.name}" refused (${serving}): ${error.message}`);
    }
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
      writePendingMs: typeof sink.writePendingMs === 'number' ? sink.writePendingMs : null,
      recent: { sink: readOutcomes(sink.recentOutcomes), cache: readOutcomes(cache.recentOutcomes) },
      ...(this.definitions !== undefined && { definitions: this.definitions.report() }),
    };
  }
}

/** A description of the failures when they exceed the bounds, else undefined. */
function failing(recent: RecentOutcomes | null, maxErrorRate: number, minFailures: number): string | undefined {
  if (recent === null || recent.failed < minFailures) return undefined;
  const total = recent.failed + recent.succeeded;
  if (recent.failed / total <= maxErrorRate) return undefined;
  const timeouts = recent.timedOut > 0 ? ` (${recent.timedOut} timed out)` : '';
  return `failing: ${recent.failed} of ${total} operations in the last ${recent.windowMs / 1000}s failed${timeouts}`;
}

function readError(value: unknown): { message: string; at: string } | null {
  if (typeof value !== 'object' || value === null) return null;
  const { message, at } = value as { message?: unknown; at?: unknown };
  if (typeof message !== 'string') return null;
  return { message, at: at instanceof Date ? at.toISOString() : String(at) };
}

function readOutcomes(value: unknown): RecentOutcomes | null {
  if (typeof value !== 'object' || value === null) return null;
  const { windowMs, succeeded, failed, timedOut } = value as Partial<Record<keyof RecentOutcomes, unknown>>;
  if (typeof windowMs !== 'number' || typeof succeeded !== 'number' || typeof failed !== 'number') return null;
  return { windowMs, succeeded, failed, timedOut: typeof timedOut === 'number' ? timedOut : 0 };
}
