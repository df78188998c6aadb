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

  increment(counter: PlanoutCounter, by = 1): void {
    this.counters[counter] += by;
  }

  recordError(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.lastErrorValue = { message, at: new Date() };
  }

  get lastError(): { message: string; at: Date } | undefined {
    return this.lastErrorValue;
  }

  snapshot(): PlanoutMetricsSnapshot {
    return { ...this.counters };
  }
}
