import type { PlanoutLogRecord } from '../core/log-record.js';

/** Names of the counters the logging pipeline keeps. */
export type PlanoutCounter =
  /** Records a sink accepted from the dispatcher (delivery is counted by the sink as `logged`). */
  | 'accepted'
  | 'logged'
  | 'deduplicated'
  | 'retried'
  /** Records a sink accepted and then dropped: its queue overflowed, or shutdown came first. */
  | 'dropped'
  /** Records the destination refused because of their data (e.g. PostgreSQL SQLSTATE class 22); the rest of their batch was delivered. */
  | 'rejected'
  | 'failed'
  | 'cacheErrors'
  /** Requests whose QA overrides were applied. */
  | 'overridesApplied'
  /** QA override values ignored: bad signature, expired, malformed, not allowed. */
  | 'overridesRejected'
  /** Reloads of the data definitions (each read of the source, whether or not it changed anything). */
  | 'definitionReloads'
  /** Data definitions refused by a reload (invalid, clashing, or unreadable); counted once per distinct error. */
  | 'definitionsRejected'
  /** Experiment instances (and namespace routings) whose unit input was missing: not in the experiment, nothing logged. */
  | 'missingUnit';

export type PlanoutMetricsSnapshot = Readonly<Record<PlanoutCounter, number>>;

/** Low-cardinality detail of an increment, e.g. `{ reason: 'overflow' }` for `dropped`. */
export type PlanoutCounterLabels = Readonly<Record<string, string>>;

/**
 * What happened to a record in the dispatcher: `enqueued` when an experiment logged it (still
 * on the request's async context, so the active span is the request's), then `accepted` by
 * the sink or `deduplicated`.
 */
export type PlanoutRecordOutcome = 'enqueued' | 'accepted' | 'deduplicated';

/**
 * Observes a {@link PlanoutMetrics}: how monitoring (Prometheus, OpenTelemetry, the SRM alarm)
 * and a backend's own counters report into the module's without anyone passing instances around.
 * Called synchronously; must not throw (a listener that throws is counted in `lastError` and skipped).
 */
export interface PlanoutMetricsListener {
  counter?(counter: PlanoutCounter, by: number, labels: PlanoutCounterLabels | undefined): void;
  record?(outcome: PlanoutRecordOutcome, record: PlanoutLogRecord): void;
  error?(error: unknown): void;
}

/**
 * Process-local counters of the exposure pipeline. One instance per module, shared by
 * the dispatcher, the sinks and the caches that the module creates.
 */
export class PlanoutMetrics {
  private readonly counters: Record<PlanoutCounter, number> = {
    accepted: 0,
    logged: 0,
    deduplicated: 0,
    retried: 0,
    dropped: 0,
    rejected: 0,
    failed: 0,
    cacheErrors: 0,
    overridesApplied: 0,
    overridesRejected: 0,
    definitionReloads: 0,
    definitionsRejected: 0,
    missingUnit: 0,
  };
  private lastErrorValue: { message: string; at: Date } | undefined;
  private listeners: readonly PlanoutMetricsListener[] = [];

  increment(counter: PlanoutCounter, by = 1, labels?: PlanoutCounterLabels): void {
    this.counters[counter] += by;
    for (const listener of this.listeners) {
      if (listener.counter === undefined) continue;
      try {
        listener.counter(counter, by, labels);
      } catch (error) {
        this.listenerFailed(error);
      }
    }
  }

  /** Counts `accepted` / `deduplicated` and tells the listeners which record it was. */
  recordOutcome(outcome: PlanoutRecordOutcome, record: PlanoutLogRecord): void {
    if (outcome !== 'enqueued') this.counters[outcome] += 1;
    // Twice per exposure: a try per listener, no closure.
    for (const listener of this.listeners) {
      if (listener.record === undefined) continue;
      try {
        listener.record(outcome, record);
      } catch (error) {
        this.listenerFailed(error);
      }
    }
  }

  recordError(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.lastErrorValue = { message, at: new Date() };
    for (const listener of this.listeners) {
      if (listener.error === undefined) continue;
      try {
        listener.error(error);
      } catch (failure) {
        this.listenerFailed(failure);
      }
    }
  }

  /** Adds a listener; returns the function that removes it. */
  addListener(listener: PlanoutMetricsListener): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  private listenerFailed(error: unknown): void {
    this.lastErrorValue = { message: `metrics listener failed: ${error instanceof Error ? error.message : String(error)}`, at: new Date() };
  }

  get lastError(): { message: string; at: Date } | undefined {
    return this.lastErrorValue;
  }

  snapshot(): PlanoutMetricsSnapshot {
    return { ...this.counters };
  }
}
