/**
 * Errors thrown by the log sinks. A sink throws from `write` only when it did not
 * accept the record, so the caller can count the record as not logged.
 */
export class SinkError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * The sink's bounded buffer is full and the record was rejected (or, with the
 * `drop-oldest` policy, never thrown: the oldest record is dropped instead).
 */
export class SinkOverflowError extends SinkError {
  /**
   * True when the sink already incremented `dropped` on its {@link PlanoutMetrics},
   * so the caller must not count the drop a second time.
   */
  readonly counted: boolean;

  constructor(message: string, counted: boolean) {
    super(message);
    this.counted = counted;
  }
}

/** `write` was called after `close()`. */
export class SinkClosedError extends SinkError {}

/** `flush()` did not deliver everything before its deadline; the rest is still queued. */
export class SinkTimeoutError extends SinkError {}
