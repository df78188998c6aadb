import { Logger } from '@nestjs/common';
import type { PlanoutLogRecord } from '../../core/log-record.js';
import { LogSink } from '../log-sink.interface.js';
import type { PlanoutMetrics } from '../planout-metrics.js';
import {
  checkNumber,
  errorMessage,
  RateLimitedLogger,
  settledWithin,
  withTimeout,
  type PlanoutBackendLogger,
} from './backend-utils.js';
import { SinkClosedError, SinkOverflowError, SinkTimeoutError } from './errors.js';

/**
 * A destination that takes records in batches (a database, an HTTP collector).
 * Wrap it in {@link BatchingSink} to get queueing, retries and bounded shutdown.
 */
export abstract class BatchLogSink {
  /** Stores all of `records` or rejects; a rejected batch is retried whole. */
  abstract writeBatch(records: PlanoutLogRecord[]): Promise<void>;

  /** Releases resources; called once by {@link BatchingSink.close} after the final flush. */
  close?(): Promise<void>;
}

/** Which record goes when the queue is full. */
export type DropPolicy = 'drop-newest' | 'drop-oldest';

/** Why records were dropped, as passed to `onDrop`. */
export type DropReason = 'overflow' | 'retries-exhausted' | 'shutdown';

export interface BatchingSinkOptions {
  /** Records per `writeBatch` call, at most. Default 100. */
  batchSize?: number;
  /** Longest time a record waits for its batch to fill. Default 1000 ms. */
  flushIntervalMs?: number;
  /** Queued records, at most (not counting the batch in flight). Default 10 000. */
  maxQueueSize?: number;
  /**
   * When the queue is full: `'drop-newest'` (default) rejects the new record by
   * throwing {@link SinkOverflowError}; `'drop-oldest'` accepts it and drops the oldest queued one.
   */
  dropPolicy?: DropPolicy;
  /** Re-attempts of a failed batch before it is dropped (0: one attempt only). Default 5. */
  maxRetries?: number;
  /** Delay before the first retry; doubles per attempt (with jitter) up to `retryMaxDelayMs`. Default 200 ms. */
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
  /** Called with records that were dropped; errors it throws are logged and ignored. */
  onDrop?: (records: readonly PlanoutLogRecord[], reason: DropReason, error?: unknown) => void;
  /** Counts `logged` and `dropped` (records) and `retried` (batch re-attempts); records the last error. */
  metrics?: PlanoutMetrics;
  logger?: PlanoutBackendLogger;
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
 * never waits on the destination), one batch at a time is delivered in order, failed
 * batches are retried with capped exponential backoff, and nothing is lost without
 * being counted and logged — a full queue rejects (or evicts) per `dropPolicy`, a
 * batch that exhausts its retries is dropped with an error log.
 *
 * Delivery is at-least-once: a write that timed out may still land, and is retried.
 */
export class BatchingSink extends LogSink {
  readonly inner: BatchLogSink;
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly maxQueueSize: number;
  private readonly dropPolicy: DropPolicy;
  private readonly maxRetries: number;
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

  constructor(inner: BatchLogSink, options: BatchingSinkOptions = {}) {
    super();
    const owner = 'BatchingSink';
    this.inner = inner;
    this.batchSize = checkNumber(owner, 'batchSize', options.batchSize, 100, 1);
    this.flushIntervalMs = checkNumber(owner, 'flushIntervalMs', options.flushIntervalMs, 1000, 1);
    this.maxQueueSize = checkNumber(owner, 'maxQueueSize', options.maxQueueSize, 10_000, 1);
    this.maxRetries = checkNumber(owner, 'maxRetries', options.maxRetries, 5, 0);
    this.retryBaseDelayMs = checkNumber(owner, 'retryBaseDelayMs', options.retryBaseDelayMs, 200, 0);
    this.retryMaxDelayMs = checkNumber(owner, 'retryMaxDelayMs', options.retryMaxDelayMs, 10_000, 0);
    this.writeTimeoutMs = checkNumber(owner, 'writeTimeoutMs', options.writeTimeoutMs, 10_000, 1);
    this.shutdownTimeoutMs = checkNumber(owner, 'shutdownTimeoutMs', options.shutdownTimeoutMs, 5000, 0);
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
   * (they stay queued). Batches dropped after their retries count as handled.
   */
  override async flush(): Promise<void> {
    this.flushers++;
    const run = { stopped: false };
    try {
      const drained = await settledWithin(this.drainAll(run), this.shutdownTimeoutMs);
      if (!drained) {
        run.stopped = true;
        throw new SinkTimeoutError(
          `${this.name}: flush timed out after ${this.shutdownTimeoutMs}ms with ${this.backlog} records pending`,
        );
      }
    } finally {
      this.flushers--;
    }
  }

  /**
   * Stops accepting records, flushes (bounded by `shutdownTimeoutMs`), drops what is
   * still queued with counters and an error log, waits for the batch in flight to be
   * delivered or dropped (bounded by `writeTimeoutMs`), then closes the inner sink
   * (bounded by `shutdownTimeoutMs`). When it resolves, `logged` and `dropped` are
   * final. Never rejects.
   */
  override close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.closed = true;
    try {
      await this.flush();
    } catch (error) {
      this.logger.warn(errorMessage(error));
    }
    if (this.backlog > 0) {
      this.abandoned = true;
      this.wakeSleeper?.();
      const rest = this.queue.takeAll();
      if (rest.length > 0) this.drop(rest, 'shutdown');
      // The batch in flight is delivered or drops itself once its attempt settles, which
      // writeTimeoutMs bounds (no new attempt starts once abandoned). Wait for it, so that
      // `logged` and `dropped` are final when close() resolves.
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

  private async deliver(batch: PlanoutLogRecord[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await withTimeout(
          Promise.resolve().then(() => this.inner.writeBatch(batch)),
          this.writeTimeoutMs,
          `${this.name}.writeBatch`,
        );
        this.metrics?.increment('logged', batch.length);
        this.lastErrorValue = undefined;
        return;
      } catch (error) {
        this.lastErrorValue = { message: errorMessage(error), at: new Date() };
        // `failed` is the dispatcher's (records the sink rejected); attempts show as `retried`/`dropped`.
        this.metrics?.recordError(error);
        if (this.abandoned) {
          this.drop(batch, 'shutdown', error);
          return;
        }
        if (attempt >= this.maxRetries) {
          this.drop(batch, 'retries-exhausted', error);
          return;
        }
        const delay = this.backoff(attempt);
        this.limited.warn(
          'retry',
          `${this.name}: writing ${batch.length} records failed (attempt ${attempt + 1} of ${this.maxRetries + 1}), retrying in ${delay}ms: ${errorMessage(error)}`,
        );
        await this.sleep(delay);
        if (this.abandoned) {
          this.drop(batch, 'shutdown', error);
          return;
        }
        this.metrics?.increment('retried');
      }
    }
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

  private drop(records: PlanoutLogRecord[], reason: DropReason, error?: unknown): void {
    this.metrics?.increment('dropped', records.length, { reason });
    if (reason === 'overflow') {
      this.limited.warn(
        'overflow',
        `${this.name}: queue full (${this.maxQueueSize} records), dropping records (${this.dropPolicy})`,
      );
    } else {
      const why = reason === 'shutdown' ? 'not delivered before shutdown' : `failed after ${this.maxRetries + 1} attempts`;
      this.limited.error(
        `drop-${reason}`,
        `${this.name}: dropped ${records.length} records, ${why}${error === undefined ? '' : `: ${errorMessage(error)}`}`,
      );
    }
    if (this.onDrop !== undefined) {
      try {
        this.onDrop(records, reason, error);
      } catch (callbackError) {
        this.logger.error(`${this.name}: onDrop callback threw: ${errorMessage(callbackError)}`);
      }
    }
  }
}
