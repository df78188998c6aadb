import { Logger } from '@nestjs/common';
import type { PlanoutLogRecord } from '../../core/log-record.js';
import { LogSink } from '../log-sink.interface.js';
import type { PlanoutMetrics } from '../planout-metrics.js';
import {
  checkNumber,
  errorMessage,
  holdProcessOpen,
  OutcomeWindow,
  RateLimitedLogger,
  settledWithin,
  withTimeout,
  type PlanoutBackendLogger,
  type RecentOutcomes,
} from './backend-utils.js';
import { LogSinkDataError, SinkClosedError, SinkOverflowError, SinkTimeoutError } from './errors.js';

/**
 * A destination that takes records in batches (a database, an HTTP collector).
 * Wrap it in {@link BatchingSink} to get queueing, retries and bounded shutdown.
 */
export abstract class BatchLogSink {
  /**
   * Stores all of `records` or rejects. A batch rejected for a transient reason is
   * retried whole; one rejected because of its data (see {@link isDataError}) is split
   * to isolate the records at fault.
   */
  abstract writeBatch(records: PlanoutLogRecord[]): Promise<void>;

  /**
   * Whether an error of `writeBatch` means the destination refused the data itself (so
   * retrying the same records cannot help) rather than being unreachable or slow.
   * Default: it is a {@link LogSinkDataError}. Override to classify your driver's errors.
   */
  isDataError(error: unknown): boolean {
    return error instanceof LogSinkDataError;
  }

  /** Releases resources; called once by {@link BatchingSink.close} after the final flush. */
  close?(): Promise<void>;
}

/** Which record goes when the queue is full. */
export type DropPolicy = 'drop-newest' | 'drop-oldest';

/**
 * Why records were not delivered, as passed to `onDrop`: the queue bound overflowed,
 * the destination refused the record's data (counted `rejected`), or shutdown came
 * before delivery (past its timeout).
 */
export type DropReason = 'overflow' | 'invalid' | 'shutdown';

/** What a {@link BatchingSink} did with the records it accepted, since it was created. */
export interface BatchingSinkStats {
  /** Records stored by the destination (a batch retried after a timeout may land twice: at-least-once). */
  delivered: number;
  /** Records the destination refused because of their data (`onDrop` reason `'invalid'`). */
  rejected: number;
  /** Records dropped because the queue was full (`'overflow'`). */
  droppedOverflow: number;
  /** Records dropped because shutdown came before they could be delivered (`'shutdown'`). */
  droppedShutdown: number;
}

export interface BatchingSinkOptions {
  /** Records per `writeBatch` call, at most. Default 100. */
  batchSize?: number;
  /** Longest time a record waits for its batch to fill. Default 1000 ms. */
  flushIntervalMs?: number;
  /**
   * Queued records, at most (not counting the batch in flight). Default 100 000: about
   * 8 minutes of an outage at 200 records/s.
   */
  maxQueueSize?: number;
  /**
   * When the queue is full: `'drop-newest'` (default) rejects the new record by
   * throwing {@link SinkOverflowError}; `'drop-oldest'` accepts it and drops the oldest queued one.
   */
  dropPolicy?: DropPolicy;
  /**
   * Delay before the first retry; doubles per attempt (with jitter) up to `retryMaxDelayMs`.
   * A batch that fails for a transient reason is retried for as long as it takes: records
   * are never dropped because a retry count ran out, only when the queue overflows or at
   * shutdown. Default 200 ms.
   */
  retryBaseDelayMs?: number;
  /** Cap of the retry delay. Default 10 000 ms. */
  retryMaxDelayMs?: number;
  /**
   * A `writeBatch` still pending after this long counts as failed. Also how long
   * `close()` waits, after the flush, for the batch in flight. Default 10 000 ms.
   */
  writeTimeoutMs?: number;
  /**
   * Bound of `flush()`, and of the inner sink's `close()`. `close()` takes at most
   * `shutdownTimeoutMs + writeTimeoutMs` before closing the inner sink. Default 5000 ms.
   */
  shutdownTimeoutMs?: number;
  /** Called with records that were not delivered, and why; errors it throws are logged and ignored. */
  onDrop?: (records: readonly PlanoutLogRecord[], reason: DropReason, error?: unknown) => void;
  /**
   * Counts `logged`, `dropped` and `rejected` (records) and `retried` (batch re-attempts);
   * records the last error.
   */
  metrics?: PlanoutMetrics;
  logger?: PlanoutBackendLogger;
  /** Length of the sliding window of {@link BatchingSink.recentOutcomes} (health checks). Default 10 000 ms. */
  healthWindowMs?: number;
  /** Name used in log messages. Default: the inner sink's class name. */
  name?: string;
}

/** FIFO with O(1) push/shift; compacts lazily instead of `Array#shift` per record. */
class RecordQueue {
  private items: (PlanoutLogRecord | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(record: PlanoutLogRecord): void {
    this.items.push(record);
  }

  shift(): PlanoutLogRecord | undefined {
    if (this.length === 0) return undefined;
    const record = this.items[this.head];
    this.items[this.head++] = undefined;
    this.compact();
    return record;
  }

  take(n: number): PlanoutLogRecord[] {
    const end = Math.min(this.head + n, this.items.length);
    const out = this.items.slice(this.head, end) as PlanoutLogRecord[];
    for (let i = this.head; i < end; i++) this.items[i] = undefined;
    this.head = end;
    this.compact();
    return out;
  }

  takeAll(): PlanoutLogRecord[] {
    return this.take(this.length);
  }

  private compact(): void {
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

/**
 * Turns any {@link BatchLogSink} into a {@link LogSink}: `write` only enqueues (it
 * never waits on the destination), one batch at a time is delivered in order, and a
 * batch that fails transiently is retried with capped, jittered exponential backoff for
 * as long as it takes. A batch the destination refuses because of its data is split in
 * halves until the records at fault are found; those are counted `rejected`, the others
 * delivered. Records are dropped only when the queue overflows or at shutdown past its
 * timeout — always counted and logged.
 *
 * Delivery is at-least-once: a write that timed out may still land, and is retried.
 */
export class BatchingSink extends LogSink {
  readonly inner: BatchLogSink;
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly maxQueueSize: number;
  private readonly dropPolicy: DropPolicy;
  private readonly retryBaseDelayMs: number;
  private readonly retryMaxDelayMs: number;
  private readonly writeTimeoutMs: number;
  private readonly shutdownTimeoutMs: number;
  private readonly onDrop: BatchingSinkOptions['onDrop'];
  private metrics: PlanoutMetrics | undefined;
  private readonly logger: PlanoutBackendLogger;
  private readonly limited: RateLimitedLogger;
  private readonly name: string;

  private readonly queue = new RecordQueue();
  /** Records of the batch being delivered that are not settled yet. */
  private inflight = 0;
  private pumping: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The interval elapsed: deliver what is queued even if it is less than a batch. */
  private due = false;
  /** Number of `flush()` calls in progress: while > 0, partial batches go out immediately. */
  private flushers = 0;
  private closed = false;
  /** Set on close past the deadline: stop retrying, drop what is left. */
  private abandoned = false;
  private closing: Promise<void> | undefined;
  private wakeSleeper: (() => void) | undefined;
  private lastErrorValue: { message: string; at: Date } | undefined;
  /**
   * When a `flush()` last ran out of time with nothing delivered since: `close()` right
   * after it (Nest calls `flush()` then `close()` on shutdown) does not wait a second time.
   */
  private flushTimedOutAt: number | undefined;
  /** When the `writeBatch` now pending started. */
  private attemptStartedAt: number | undefined;
  private readonly outcomes: OutcomeWindow;
  private readonly counts: BatchingSinkStats = { delivered: 0, rejected: 0, droppedOverflow: 0, droppedShutdown: 0 };

  constructor(inner: BatchLogSink, options: BatchingSinkOptions = {}) {
    super();
    const owner = 'BatchingSink';
    if ((options as { maxRetries?: unknown }).maxRetries !== undefined) {
      throw new RangeError(
        `${owner}: option "maxRetries" was removed: a failing batch is retried until it is delivered; records are dropped only when the queue (maxQueueSize) overflows or at shutdown`,
      );
    }
    this.inner = inner;
    this.batchSize = checkNumber(owner, 'batchSize', options.batchSize, 100, 1);
    this.flushIntervalMs = checkNumber(owner, 'flushIntervalMs', options.flushIntervalMs, 1000, 1);
    this.maxQueueSize = checkNumber(owner, 'maxQueueSize', options.maxQueueSize, 100_000, 1);
    this.retryBaseDelayMs = checkNumber(owner, 'retryBaseDelayMs', options.retryBaseDelayMs, 200, 0);
    this.retryMaxDelayMs = checkNumber(owner, 'retryMaxDelayMs', options.retryMaxDelayMs, 10_000, 0);
    this.writeTimeoutMs = checkNumber(owner, 'writeTimeoutMs', options.writeTimeoutMs, 10_000, 1);
    this.shutdownTimeoutMs = checkNumber(owner, 'shutdownTimeoutMs', options.shutdownTimeoutMs, 5000, 0);
    this.outcomes = new OutcomeWindow(checkNumber(owner, 'healthWindowMs', options.healthWindowMs, 10_000, 1000));
    this.dropPolicy = options.dropPolicy ?? 'drop-newest';
    if (this.dropPolicy !== 'drop-newest' && this.dropPolicy !== 'drop-oldest') {
      throw new RangeError(`${owner}: option "dropPolicy" must be 'drop-newest' or 'drop-oldest', got ${String(options.dropPolicy)}`);
    }
    this.onDrop = options.onDrop;
    this.metrics = options.metrics;
    this.logger = options.logger ?? new Logger('Planout');
    this.limited = new RateLimitedLogger(this.logger);
    this.name = options.name ?? inner.constructor.name;
  }

  /** Records accepted and not yet delivered (queued plus the batch in flight). */
  get backlog(): number {
    return this.queue.length + this.inflight;
  }

  /** The last failed delivery attempt; cleared by the next successful one. */
  get lastError(): { message: string; at: Date } | undefined {
    return this.lastErrorValue;
  }

  /** Called by `PlanoutModule`: a backend built without `metrics` reports into the module's counters. */
  useMetrics(metrics: PlanoutMetrics): void {
    this.metrics ??= metrics;
  }

  /**
   * How long the `writeBatch` now in progress has been pending (0 when none is): a
   * destination that accepts connections but does not answer shows here at once,
   * long before `writeTimeoutMs` turns it into an error.
   */
  get writePendingMs(): number {
    return this.attemptStartedAt === undefined ? 0 : Date.now() - this.attemptStartedAt;
  }

  /**
   * Delivery attempts over the last `healthWindowMs` (10 s by default). Refusals of bad
   * data are not counted as failures: the destination works.
   */
  get recentOutcomes(): RecentOutcomes {
    return this.outcomes.snapshot();
  }

  /** What happened to the records accepted so far; final once `close()` resolved. */
  get stats(): BatchingSinkStats {
    return { ...this.counts };
  }

  write(record: PlanoutLogRecord): void {
    if (this.closed) throw new SinkClosedError(`${this.name}: write after close`);
    if (this.queue.length >= this.maxQueueSize) {
      if (this.dropPolicy === 'drop-newest') {
        this.drop([record], 'overflow');
        throw new SinkOverflowError(
          `${this.name}: queue full (${this.maxQueueSize} records); record rejected`,
          this.metrics !== undefined,
        );
      }
      this.drop([this.queue.shift()!], 'overflow');
    }
    this.queue.push(record);
    if (this.queue.length >= this.batchSize) this.startPump();
    else this.armTimer();
  }

  /**
   * Delivers everything accepted so far, retries included. Rejects with
   * {@link SinkTimeoutError} if records are still pending after `shutdownTimeoutMs`
   * (they stay queued). Keeps the process alive while it runs.
   */
  override async flush(): Promise<void> {
    this.flushers++;
    const release = holdProcessOpen();
    const run = { stopped: false };
    try {
      const drained = await settledWithin(this.drainAll(run), this.shutdownTimeoutMs);
      if (!drained) {
        run.stopped = true;
        this.flushTimedOutAt = Date.now();
        throw new SinkTimeoutError(
          `${this.name}: flush timed out after ${this.shutdownTimeoutMs}ms with ${this.backlog} records pending`,
        );
      }
    } finally {
      this.flushers--;
      release();
    }
  }

  /**
   * Stops accepting records, flushes (bounded by `shutdownTimeoutMs`; skipped when a
   * `flush()` has just run out of that time with nothing delivered since), drops what is
   * still queued with counters and an error log, waits for the batch in flight to be
   * delivered or dropped (bounded by `writeTimeoutMs`), then closes the inner sink
   * (bounded by `shutdownTimeoutMs`), and logs what became of every record. Keeps the
   * process alive while it runs. When it resolves, `logged`, `dropped` and `rejected`
   * are final. Never rejects.
   */
  override close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.closed = true;
    const release = holdProcessOpen();
    try {
      const justTimedOut = this.flushTimedOutAt !== undefined && Date.now() - this.flushTimedOutAt < this.shutdownTimeoutMs;
      if (!justTimedOut) {
        try {
          await this.flush();
        } catch (error) {
          this.logger.warn(errorMessage(error));
        }
      }
      if (this.backlog > 0) {
        this.abandoned = true;
        this.wakeSleeper?.();
        const rest = this.queue.takeAll();
        if (rest.length > 0) this.drop(rest, 'shutdown');
        // The batch in flight is delivered or drops itself once its attempt settles, which
        // writeTimeoutMs bounds (no new attempt starts once abandoned). Wait for it, so that
        // the counters are final when close() resolves.
        if (this.pumping !== undefined && !(await settledWithin(this.pumping, this.writeTimeoutMs))) {
          this.logger.error(`${this.name}: the batch in flight did not settle within writeTimeoutMs (${this.writeTimeoutMs}ms)`);
        }
      }
      this.clearTimer();
      if (this.inner.close !== undefined) {
        const closed = await settledWithin(
          Promise.resolve()
            .then(() => this.inner.close?.())
            .catch((error: unknown) => {
              this.logger.error(`${this.name}: close failed: ${errorMessage(error)}`);
            }),
          this.shutdownTimeoutMs,
        );
        if (!closed) this.logger.error(`${this.name}: close did not finish within ${this.shutdownTimeoutMs}ms`);
      }
      this.logSummary();
    } finally {
      release();
    }
  }

  /** One line, never rate-limited, accounting for every record this sink accepted. */
  private logSummary(): void {
    const { delivered, rejected, droppedOverflow, droppedShutdown } = this.counts;
    const dropped = droppedOverflow + droppedShutdown;
    if (dropped + rejected === 0) {
      this.logger.log(`${this.name}: closed; all ${delivered} records accepted were delivered`);
      return;
    }
    this.logger.error(
      `${this.name}: closed; ${delivered} records delivered, ${dropped} dropped (${droppedOverflow} queue full, ${droppedShutdown} at shutdown), ${rejected} rejected as invalid`,
    );
  }

  private async drainAll(run: { stopped: boolean }): Promise<void> {
    while (!run.stopped) {
      if (this.pumping !== undefined) {
        await this.pumping;
        continue;
      }
      if (this.queue.length === 0 || this.abandoned) return;
      this.startPump();
    }
  }

  private armTimer(): void {
    if (this.timer !== undefined || this.pumping !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.due = true;
      this.startPump();
    }, this.flushIntervalMs);
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private startPump(): void {
    if (this.pumping !== undefined || this.abandoned) return;
    this.clearTimer();
    this.pumping = this.pump().finally(() => {
      this.pumping = undefined;
      if (this.queue.length === 0 || this.abandoned) return;
      if (this.queue.length >= this.batchSize || this.flushers > 0) this.startPump();
      else this.armTimer();
    });
  }

  private async pump(): Promise<void> {
    while (
      !this.abandoned &&
      this.queue.length > 0 &&
      (this.queue.length >= this.batchSize || this.due || this.flushers > 0)
    ) {
      const batch = this.queue.take(this.batchSize);
      this.inflight = batch.length;
      try {
        await this.deliver(batch);
      } finally {
        this.inflight = 0;
      }
    }
    this.due = false;
  }

  /**
   * Delivers `batch`, retrying transient failures until it succeeds or shutdown abandons
   * it. A data error splits the batch in two, each half delivered the same way, so one bad
   * record costs about 2·log2(batchSize) extra writes and no other record is lost.
   */
  private async deliver(batch: PlanoutLogRecord[]): Promise<void> {
    let lastFailure: unknown;
    for (let attempt = 0; ; attempt++) {
      if (this.abandoned) {
        this.settled(batch.length);
        this.drop(batch, 'shutdown', lastFailure);
        return;
      }
      try {
        await this.attempt(batch);
        this.settled(batch.length);
        this.counts.delivered += batch.length;
        this.metrics?.increment('logged', batch.length);
        this.outcomes.success();
        this.lastErrorValue = undefined;
        this.flushTimedOutAt = undefined;
        return;
      } catch (error) {
        lastFailure = error;
        this.metrics?.recordError(error);
        if (this.isDataError(error)) {
          // The destination works; the data does not. Not a delivery failure for health.
          if (batch.length === 1) {
            this.reject(batch[0]!, error);
            return;
          }
          const middle = Math.ceil(batch.length / 2);
          await this.deliver(batch.slice(0, middle));
          await this.deliver(batch.slice(middle));
          return;
        }
        this.outcomes.failure(error);
        this.lastErrorValue = { message: errorMessage(error), at: new Date() };
        // `failed` is the dispatcher's (records the sink did not accept); attempts show as `retried`.
        if (this.abandoned) continue;
        const delay = this.backoff(attempt);
        this.limited.warn(
          'retry',
          `${this.name}: writing ${batch.length} records failed (attempt ${attempt + 1}), retrying in ${delay}ms; ${this.backlog} records waiting: ${errorMessage(error)}`,
        );
        await this.sleep(delay);
        if (!this.abandoned) this.metrics?.increment('retried');
      }
    }
  }

  private async attempt(batch: PlanoutLogRecord[]): Promise<void> {
    this.attemptStartedAt = Date.now();
    try {
      await withTimeout(
        Promise.resolve().then(() => this.inner.writeBatch(batch)),
        this.writeTimeoutMs,
        `${this.name}.writeBatch`,
      );
    } finally {
      this.attemptStartedAt = undefined;
    }
  }

  private isDataError(error: unknown): boolean {
    if (error instanceof LogSinkDataError) return true;
    try {
      return typeof this.inner.isDataError === 'function' && this.inner.isDataError(error) === true;
    } catch (classifierError) {
      this.limited.error('classify', `${this.name}: isDataError threw: ${errorMessage(classifierError)}`);
      return false;
    }
  }

  /** Records of the batch in flight that are done with (delivered, rejected or dropped). */
  private settled(n: number): void {
    this.inflight = Math.max(0, this.inflight - n);
  }

  /** Capped exponential backoff with "equal jitter", so many processes do not retry in step. */
  private backoff(attempt: number): number {
    const ceiling = Math.min(this.retryBaseDelayMs * 2 ** Math.min(attempt, 30), this.retryMaxDelayMs);
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakeSleeper = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.wakeSleeper = done;
    });
  }

  private reject(record: PlanoutLogRecord, error: unknown): void {
    this.settled(1);
    this.counts.rejected++;
    this.metrics?.increment('rejected');
    this.limited.error(
      'invalid',
      `${this.name}: rejected a "${String(record.event)}" record of "${String(record.name)}": the destination refused its data: ${errorMessage(error)}`,
    );
    this.report([record], 'invalid', error);
  }

  private drop(records: PlanoutLogRecord[], reason: 'overflow' | 'shutdown', error?: unknown): void {
    this.metrics?.increment('dropped', records.length, { reason });
    if (reason === 'overflow') {
      this.counts.droppedOverflow += records.length;
      this.limited.warn(
        'overflow',
        `${this.name}: queue full (${this.maxQueueSize} records), dropping records (${this.dropPolicy})`,
      );
    } else {
      this.counts.droppedShutdown += records.length;
      this.limited.error(
        'drop-shutdown',
        `${this.name}: dropped ${records.length} records, not delivered before shutdown${error === undefined ? '' : `: ${errorMessage(error)}`}`,
      );
    }
    this.report(records, reason, error);
  }

  private report(records: PlanoutLogRecord[], reason: DropReason, error: unknown): void {
    if (this.onDrop === undefined) return;
    try {
      this.onDrop(records, reason, error);
    } catch (callbackError) {
      this.logger.error(`${this.name}: onDrop callback threw: ${errorMessage(callbackError)}`);
    }
  }
}
