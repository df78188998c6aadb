import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Logger } from '@nestjs/common';
import type { PlanoutLogRecord } from '../../core/log-record.js';
import { LogSink } from '../log-sink.interface.js';
import type { PlanoutMetrics } from '../planout-metrics.js';
import {
  checkNumber,
  errorMessage,
  RateLimitedLogger,
  type PlanoutBackendLogger,
} from './backend-utils.js';
import { SinkClosedError, SinkOverflowError } from './errors.js';
import { safeJsonStringify } from './safe-json.js';

export interface JsonLinesFileSinkOptions {
  /** File to append to; created (with its directory) if missing. Default `./planout-exposures.jsonl`. */
  path?: string;
  /** Longest time a record waits in memory before it is written. Default 200 ms. */
  flushIntervalMs?: number;
  /** Write as soon as this many bytes (approximately) are buffered. Default 1 MiB. */
  flushBytes?: number;
  /** Write as soon as this many records are buffered. Default 8192. */
  flushRecords?: number;
  /**
   * Records accepted but not yet on disk, at most. Past it `write` throws
   * {@link SinkOverflowError} (the record is not accepted). Default 100 000.
   */
  maxBufferedRecords?: number;
  /** First delay before retrying a failed file write; doubles up to 30 s. Default 500 ms. */
  retryDelayMs?: number;
  metrics?: PlanoutMetrics;
  logger?: PlanoutBackendLogger;
}

interface Carry {
  buffer: Buffer;
  offset: number;
  records: number;
}

const OWNER = 'JsonLinesFileSink';

/**
 * The default sink: one JSON object per line, appended to a file in the PlanOut
 * reference's record format. `write` only serializes into memory; one background
 * loop appends the buffer in large chunks, so a burst costs a few syscalls, never one
 * per record, and never blocks the event loop on disk.
 *
 * A failed write (disk full, permissions) keeps the data and retries with backoff;
 * while the file cannot be written the buffer fills up to `maxBufferedRecords` and
 * then new records are rejected with a typed error rather than lost silently.
 */
export class JsonLinesFileSink extends LogSink {
  readonly path: string;
  private readonly flushIntervalMs: number;
  private readonly flushBytes: number;
  private readonly flushRecords: number;
  private readonly maxBufferedRecords: number;
  private readonly retryDelayMs: number;
  private readonly metrics: PlanoutMetrics | undefined;
  private readonly logger: PlanoutBackendLogger;
  private readonly limited: RateLimitedLogger;

  private lines: string[] = [];
  private lineChars = 0;
  /** Bytes taken from `lines` whose write has not completed (kept across a failure). */
  private carry: Carry | undefined;
  /** Records accepted and not yet written: `lines` plus `carry`. */
  private pending = 0;
  private handle: FileHandle | undefined;
  private writing: Promise<unknown> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private closed = false;
  private closing: Promise<void> | undefined;
  private lastErrorValue: { message: string; at: Date } | undefined;

  constructor(options: JsonLinesFileSinkOptions = {}) {
    super();
    this.path = options.path ?? './planout-exposures.jsonl';
    this.flushIntervalMs = checkNumber(OWNER, 'flushIntervalMs', options.flushIntervalMs, 200, 1);
    this.flushBytes = checkNumber(OWNER, 'flushBytes', options.flushBytes, 1 << 20, 1);
    this.flushRecords = checkNumber(OWNER, 'flushRecords', options.flushRecords, 8192, 1);
    this.maxBufferedRecords = checkNumber(OWNER, 'maxBufferedRecords', options.maxBufferedRecords, 100_000, 1);
    this.retryDelayMs = checkNumber(OWNER, 'retryDelayMs', options.retryDelayMs, 500, 1);
    this.metrics = options.metrics;
    this.logger = options.logger ?? new Logger('Planout');
    this.limited = new RateLimitedLogger(this.logger);
  }

  /** Records accepted but not yet written to the file. */
  get backlog(): number {
    return this.pending;
  }

  /** The last write failure, cleared by the next successful write. */
  get lastError(): { message: string; at: Date } | undefined {
    return this.lastErrorValue;
  }

  write(record: PlanoutLogRecord): void {
    if (this.closed) throw new SinkClosedError(`${OWNER}: write after close (${this.path})`);
    if (this.pending >= this.maxBufferedRecords) {
      this.metrics?.increment('dropped');
      this.limited.warn(
        'overflow',
        `${OWNER}: buffer full (${this.maxBufferedRecords} records not yet written to ${this.path}); rejecting records`,
      );
      throw new SinkOverflowError(
        `${OWNER}: buffer full (${this.maxBufferedRecords} records pending for ${this.path})`,
        this.metrics !== undefined,
      );
    }
    const line = safeJsonStringify(record) + '\n';
    this.lines.push(line);
    this.lineChars += line.length;
    this.pending++;
    if (this.lineChars >= this.flushBytes || this.lines.length >= this.flushRecords) {
      this.kick();
    } else if (this.timer === undefined && this.writing === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.kick();
      }, this.flushIntervalMs);
      this.timer.unref();
    }
  }

  /** Writes everything accepted so far; rejects if the file cannot be written (data is kept). */
  override async flush(): Promise<void> {
    this.clearTimer();
    for (;;) {
      if (this.writing !== undefined) {
        await this.writing;
        continue;
      }
      if (this.pending === 0) return;
      if (this.retryTimer !== undefined) {
        clearTimeout(this.retryTimer);
        this.retryTimer = undefined;
      }
      const error = await this.startWrite();
      if (error !== undefined) {
        // The data stays buffered; keep retrying in the background as after any failure.
        this.scheduleRetry();
        throw error;
      }
    }
  }

  /**
   * Flushes, then closes the file. Never rejects: records that could not be written
   * are counted as dropped and logged as an error.
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
      const lost = this.pending;
      this.metrics?.increment('dropped', lost);
      this.metrics?.recordError(error);
      this.logger.error(`${OWNER}: ${lost} records could not be written to ${this.path} and are dropped: ${errorMessage(error)}`);
      this.lines = [];
      this.lineChars = 0;
      this.carry = undefined;
      this.pending = 0;
    }
    this.clearTimer();
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    const handle = this.handle;
    this.handle = undefined;
    if (handle !== undefined) {
      try {
        await handle.close();
      } catch (error) {
        this.logger.error(`${OWNER}: closing ${this.path} failed: ${errorMessage(error)}`);
      }
    }
  }

  private clearTimer(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  /** Starts the background loop unless it is running or waiting out a retry delay. */
  private kick(): void {
    this.clearTimer();
    if (this.writing !== undefined || this.retryTimer !== undefined) return;
    void this.startWrite().then((error) => {
      if (error !== undefined) this.scheduleRetry();
    });
  }

  /** Runs the write loop once; resolves to the error that stopped it, if any. */
  private startWrite(): Promise<unknown> {
    const run = this.writeLoop().then(
      () => undefined,
      (error: unknown) => this.onWriteError(error),
    );
    this.writing = run.finally(() => {
      this.writing = undefined;
    });
    return run;
  }

  private async writeLoop(): Promise<void> {
    while (this.carry !== undefined || this.lines.length > 0) {
      this.handle ??= await this.openFile();
      const carry = (this.carry ??= this.takeChunk());
      while (carry.offset < carry.buffer.length) {
        const { bytesWritten } = await this.handle.write(carry.buffer, carry.offset, carry.buffer.length - carry.offset);
        carry.offset += bytesWritten;
      }
      this.carry = undefined;
      this.pending -= carry.records;
      this.metrics?.increment('logged', carry.records);
      this.failures = 0;
      this.lastErrorValue = undefined;
    }
  }

  /** Takes up to about `flushBytes` of buffered lines, so one write never stalls the loop for long. */
  private takeChunk(): Carry {
    let count = 0;
    let chars = 0;
    while (count < this.lines.length && (count === 0 || chars < this.flushBytes)) {
      chars += this.lines[count]!.length;
      count++;
    }
    const taken = count === this.lines.length ? this.lines : this.lines.slice(0, count);
    this.lines = count === this.lines.length ? [] : this.lines.slice(count);
    this.lineChars -= chars;
    return { buffer: Buffer.from(taken.join(''), 'utf8'), offset: 0, records: count };
  }

  private async openFile(): Promise<FileHandle> {
    await mkdir(dirname(this.path), { recursive: true });
    return open(this.path, 'a');
  }

  private onWriteError(error: unknown): unknown {
    this.failures++;
    this.lastErrorValue = { message: errorMessage(error), at: new Date() };
    this.metrics?.recordError(error);
    this.limited.error('write', `${OWNER}: writing to ${this.path} failed (${this.pending} records kept for retry): ${errorMessage(error)}`);
    // A broken handle (e.g. EBADF) is reopened on the next attempt.
    const handle = this.handle;
    this.handle = undefined;
    if (handle !== undefined) void handle.close().catch(() => undefined);
    return error;
  }

  private scheduleRetry(): void {
    if (this.retryTimer !== undefined || this.closed) return;
    const delay = Math.min(this.retryDelayMs * 2 ** Math.min(this.failures - 1, 20), 30_000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.metrics?.increment('retried');
      this.kick();
    }, delay);
    this.retryTimer.unref();
  }
}
