import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { PlanoutLogRecord } from '../core/log-record.js';
import { ExposureCache } from './exposure-cache.interface.js';
import { LogSink } from './log-sink.interface.js';
import type { PlanoutModuleOptions } from './planout-options.interface.js';
import { PlanoutMetrics } from './planout-metrics.js';
import { MODULE_OPTIONS_TOKEN } from './planout.module-definition.js';
import { PLANOUT_LOG_CONTEXT } from './planout.constants.js';
import { dedupeKeyOf, ownExposureId, withRecordId } from './record-id.js';

/** Same warning at most this often, so a dead backend does not flood the logs. */
const WARN_INTERVAL_MS = 10_000;

/**
 * Records wait at most this long for their batch. Draining on every `setImmediate` made
 * batches of one or two records under load, and the per-batch work (a macrotask, the
 * sink's buffer, the cache's first touch) cost ≈ 2 µs of CPU a request (bench/http-ab.mjs).
 */
export const EXPOSURE_DRAIN_DELAY_MS = 5;

/** A batch this large drains on the next `setImmediate` without waiting for the delay. */
export const EXPOSURE_DRAIN_BATCH = 512;

/**
 * Takes records from experiments and delivers them off the request path: `enqueue` only
 * pushes to a queue, drained as one batch {@link EXPOSURE_DRAIN_DELAY_MS} later (on the next
 * `setImmediate` once {@link EXPOSURE_DRAIN_BATCH} records wait). With a synchronous
 * cache and sink (the defaults) a record is handled without any promise; asynchronous
 * backends continue with promises from their first asynchronous answer. Exposures are deduplicated
 * through the {@link ExposureCache} (identical keys in flight are coalesced in this
 * process) and marked only after the sink accepted them; events, and exposures flagged
 * `overridden` (QA overrides), are never deduplicated.
 * Failures are logged and counted, never thrown.
 */
@Injectable()
export class ExposureDispatcher implements BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger(PLANOUT_LOG_CONTEXT);
  private queue: PlanoutLogRecord[] = [];
  /** The pending drain's timer, while the queue waits for its delay. */
  private timer: NodeJS.Timeout | undefined;
  private immediate = false;
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly lastWarned = new Map<string, number>();
  private readonly ttlMs: number | undefined;
  private closed = false;

  constructor(
    private readonly sink: LogSink,
    private readonly cache: ExposureCache,
    private readonly metrics: PlanoutMetrics,
    @Inject(MODULE_OPTIONS_TOKEN) options: PlanoutModuleOptions,
  ) {
    this.ttlMs = options.exposureTtlMs;
  }

  /**
   * Queues a record; returns at once. The record becomes the dispatcher's (records are built
   * for one log call): it sets the record's `id` on it rather than on a copy.
   */
  enqueue(record: PlanoutLogRecord): void {
    // Still in the request's async context: observers (OpenTelemetry) see its active span.
    this.metrics.recordOutcome('enqueued', record);
    const waiting = this.queue.push(record);
    // Referenced: a process never exits with records still queued.
    if (waiting === 1) this.timer = setTimeout(this.drain, EXPOSURE_DRAIN_DELAY_MS);
    else if (waiting >= EXPOSURE_DRAIN_BATCH && !this.immediate) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.immediate = true;
      setImmediate(this.drain);
    }
  }

  /** Hands the queued records to the cache and sink now, without waiting for the drain's delay. */
  drainNow(): void {
    this.drain();
  }

  /** Resolves when every record enqueued so far has been handed to the sink (or failed). */
  async whenIdle(): Promise<void> {
    while (this.queue.length > 0 || this.pending.size > 0) {
      this.drain();
      await Promise.all([...this.pending]);
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.whenIdle();
  }

  /** After the HTTP server closed: deliver the last records, then release the backends. */
  async onApplicationShutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.whenIdle();
    // Closed even when the flush failed or timed out: close() settles what is left.
    await this.safely('sink-flush', async () => this.sink.flush?.());
    await this.safely('sink-close', async () => this.sink.close?.());
    await this.safely('cache-close', async () => this.cache.close?.());
  }

  private readonly drain = (): void => {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.immediate = false;
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    for (let i = 0; i < batch.length; i++) {
      const record = batch[i]!;
      // QA overrides: logged (flagged) but kept out of the cache, so a forced assignment that
      // happens to equal the unit's real one never suppresses the real exposure.
      if (record.event === 'exposure' && record.overridden !== true) this.expose(record);
      else this.track(this.write(record));
    }
  };

  /**
   * Deduplicates and writes one exposure. Synchronous while the cache and the sink answer
   * synchronously (the defaults); continues with promises from the first one that does not.
   */
  private expose(exposure: PlanoutLogRecord): void {
    // The record with its id, which the dedupe key is made of (queued records are the dispatcher's own).
    let record: PlanoutLogRecord & { id: string };
    try {
      record = ownExposureId(exposure);
    } catch (error) {
      // Unserializable inputs: log without deduplication (with a random id) rather than lose the exposure.
      this.warn('key', `cannot build the dedupe key of an exposure of "${exposure.name}": ${message(error)}`);
      this.track(this.write(exposure));
      return;
    }
    const key = dedupeKeyOf(record.name, record.id);
    // Empty unless a backend answers asynchronously: skip the lookup then.
    if (this.inFlight.size !== 0 && this.inFlight.has(key)) {
      this.metrics.recordOutcome('deduplicated', record);
      return;
    }
    let seen: boolean | Promise<boolean>;
    try {
      seen = this.cache.has(key);
    } catch (error) {
      this.cacheFailed('has', error);
      seen = false;
    }
    if (typeof seen !== 'boolean') {
      this.coalesce(key, this.exposeAfterHas(key, record, seen));
      return;
    }
    if (seen) {
      this.metrics.recordOutcome('deduplicated', record);
      return;
    }
    const written = this.write(record);
    if (typeof written !== 'boolean') {
      this.coalesce(key, this.markAfterWrite(key, written));
      return;
    }
    if (written) {
      const marked = this.mark(key);
      if (marked !== undefined) this.coalesce(key, marked);
    }
  }

  private async exposeAfterHas(key: string, record: PlanoutLogRecord, has: Promise<boolean>): Promise<void> {
    let seen = false;
    try {
      seen = await has;
    } catch (error) {
      this.cacheFailed('has', error);
    }
    if (seen) {
      this.metrics.recordOutcome('deduplicated', record);
      return;
    }
    await this.markAfterWrite(key, this.write(record));
  }

  private async markAfterWrite(key: string, written: boolean | Promise<boolean>): Promise<void> {
    if (await written) await this.mark(key);
  }

  /** Marks `key`; a promise only when the cache answered with one (failures are counted, never thrown). */
  private mark(key: string): Promise<void> | undefined {
    let result: void | Promise<void>;
    try {
      result = this.cache.mark(key, this.ttlMs);
    } catch (error) {
      this.cacheFailed('mark', error);
      return undefined;
    }
    if (!isThenable(result)) return undefined;
    return Promise.resolve(result).then(undefined, (error: unknown) => this.cacheFailed('mark', error));
  }

  /** Exposures of `key` are deduplicated in this process until `task` settles. */
  private coalesce(key: string, task: Promise<void>): void {
    const settled = task.finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, settled);
    this.track(settled);
  }

  /** Keeps an asynchronous step visible to {@link whenIdle}. */
  private track(task: boolean | Promise<unknown>): void {
    if (typeof task === 'boolean') return;
    this.pending.add(task);
    void task.finally(() => this.pending.delete(task));
  }

  /**
   * Hands `record` to the sink: true / false (accepted / rejected) when the sink answered
   * synchronously, else a promise of it. Never throws or rejects.
   */
  private write(record: PlanoutLogRecord): boolean | Promise<boolean> {
    let result: void | Promise<void>;
    try {
      // The id is set once per record (exposures have it from their key): a retry inside the sink resends the same object.
      result = this.sink.write(withRecordId(record));
    } catch (error) {
      return this.writeFailed(record, error);
    }
    if (!isThenable(result)) {
      this.metrics.recordOutcome('accepted', record);
      return true;
    }
    return Promise.resolve(result).then(
      () => {
        this.metrics.recordOutcome('accepted', record);
        return true;
      },
      (error: unknown) => this.writeFailed(record, error),
    );
  }

  private writeFailed(record: PlanoutLogRecord, error: unknown): false {
    this.metrics.increment('failed');
    this.metrics.recordError(error);
    this.warn('sink', `log sink rejected a "${record.event}" record of "${record.name}": ${message(error)}`);
    return false;
  }

  private cacheFailed(op: string, error: unknown): void {
    this.metrics.increment('cacheErrors');
    this.metrics.recordError(error);
    this.warn(`cache-${op}`, `exposure cache ${op} failed (the exposure may be logged twice): ${message(error)}`);
  }

  private async safely(kind: string, fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (error) {
      this.warn(kind, `${kind} failed on shutdown: ${message(error)}`);
    }
  }

  private warn(kind: string, text: string): void {
    const now = Date.now();
    const last = this.lastWarned.get(kind);
    if (last !== undefined && now - last < WARN_INTERVAL_MS) return;
    this.lastWarned.set(kind, now);
    this.logger.warn(text);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
