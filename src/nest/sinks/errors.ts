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

/**
 * Thrown by a {@link BatchLogSink.writeBatch} when the destination refused the batch
 * because of its *data* (a value it cannot store), not because it is unreachable:
 * retrying the same records cannot succeed. {@link BatchingSink} then splits the batch
 * to find the records at fault, delivers the others, and counts those as `rejected`.
 * Pass the original error as `cause`. (A sink can also override `BatchLogSink.isDataError`.)
 */
export class LogSinkDataError extends SinkError {}
