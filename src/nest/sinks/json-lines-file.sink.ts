import { statSync, type BigIntStats } from 'node:fs';
import { mkdir, open, stat, type FileHandle } from 'node:fs/promises';
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
  /**
   * How often, while the file is open, to check that `path` still names it (log rotation
   * renamed or deleted it) and reopen the path if not. `0` turns the timer off; the check
   * before every write stays. Default 1000 ms.
   */
  rotationCheckIntervalMs?: number;
  metrics?: PlanoutMetrics;
  logger?: PlanoutBackendLogger;
}

/**
 * Encoded lines waiting to be written: `bytes` bytes of `buffer`, `records` whole lines.
 * The backlog is a few of these large buffers (outside the JS heap) rather than one heap
 * string per record, so a full queue of 100k records costs the garbage collector nothing
 * to scan or copy, and a write needs no join or re-encoding.
 */
interface Chunk {
  buffer: Buffer;
  bytes: number;
  records: number;
}

/** A chunk taken for writing whose write has not completed (kept across a failure). */
interface Carry {
  /** The chunk's bytes (a view of `backing`). */
  buffer: Buffer;
  /** The whole buffer, given back to the pool once everything is written. */
  backing: Buffer;
  /** Bytes of `buffer` written to the file so far. */
  offset: number;
  /** End of the last complete line written (`offset` minus a partial line's bytes). */
  lineEnd: number;
  /** Records in `buffer` not yet completely written. */
  records: number;
}

/** The open file and its identity, to notice when `path` stops naming it. */
interface OpenFile {
  handle: FileHandle;
  dev: bigint;
  ino: bigint;
  /** The file's last byte is not a newline: write one before the next record. */
  endsMidLine: boolean;
}

const OWNER = 'JsonLinesFileSink';

function sameFile(now: BigIntStats | undefined, file: OpenFile): boolean {
  return now !== undefined && now.ino === file.ino && now.dev === file.dev;
}
const NEWLINE = 0x0a;
/** Free chunk buffers kept for reuse: a producer fills one while the writer writes another. */
const POOLED_BUFFERS = 2;
/** Largest chunk buffer; a larger `flushBytes` still sets when to write, in several chunks. */
const MAX_CHUNK_BYTES = 4 << 20;

/**
 * The default sink: one JSON object per line, appended to a file in the PlanOut
 * reference's record format. `write` only encodes the line into a large in-memory
 * buffer (no heap string is kept per record); one background loop appends those buffers
 * whole, so a burst costs a few syscalls, never one per record, and never blocks the
 * event loop on disk.
 *
 * A failed write (disk full, permissions) keeps the data and retries with backoff;
 * while the file cannot be written the buffer fills up to `maxBufferedRecords` and
 * then new records are rejected with a typed error rather than lost silently. A write
 * that fails part-way is cut back to its last complete line, so the file never ends
 * mid-record, and a record counts as `logged` only once its whole line is written.
 *
 * Log rotation: before each write, and every `rotationCheckIntervalMs` while idle, the
 * sink compares the open file with what `path` names now (device and inode); when the
 * file was renamed or deleted it closes it and opens `path` again. `reopen()` does the
 * same on demand (e.g. on SIGHUP).
 */
export class JsonLinesFileSink extends LogSink {
  readonly path: string;
  private readonly flushIntervalMs: number;
  private readonly flushBytes: number;
  private readonly flushRecords: number;
  private readonly maxBufferedRecords: number;
  private readonly retryDelayMs: number;
  private readonly rotationCheckIntervalMs: number;
  private metrics: PlanoutMetrics | undefined;
  private readonly logger: PlanoutBackendLogger;
  private readonly limited: RateLimitedLogger;

  private readonly chunkBytes: number;
  /** Filled chunks in order, the last one still being appended to. */
  private chunks: Chunk[] = [];
  /** Bytes and records in `chunks` (not yet taken for writing). */
  private chunkedBytes = 0;
  private chunkedRecords = 0;
  private readonly pool: Buffer[] = [];
  private carry: Carry | undefined;
  /** Records accepted and not yet written: `chunks` plus `carry`. */
  private pending = 0;
  private file: OpenFile | undefined;
  /** Why the file must be closed and `path` opened again before anything else, if it must. */
  private reopenReason: string | undefined;
  private writing: Promise<unknown> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private rotationTimer: NodeJS.Timeout | undefined;
  private checkingRotation = false;
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
    this.rotationCheckIntervalMs = checkNumber(OWNER, 'rotationCheckIntervalMs', options.rotationCheckIntervalMs, 1000, 0);
    this.chunkBytes = Math.min(Math.ceil(this.flushBytes), MAX_CHUNK_BYTES);
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

  /** Called by `PlanoutModule`: a backend built without `metrics` reports into the module's counters. */
  useMetrics(metrics: PlanoutMetrics): void {
    this.metrics ??= metrics;
  }

  write(record: PlanoutLogRecord): void {
    if (this.closed) throw new SinkClosedError(`${OWNER}: write after close (${this.path})`);
    if (this.pending >= this.maxBufferedRecords) {
      this.metrics?.increment('dropped', 1, { reason: 'overflow' });
      this.limited.warn(
        'overflow',
        `${OWNER}: buffer full (${this.maxBufferedRecords} records not yet written to ${this.path}); rejecting records`,
      );
      throw new SinkOverflowError(
        `${OWNER}: buffer full (${this.maxBufferedRecords} records pending for ${this.path})`,
        this.metrics !== undefined,
      );
    }
    this.append(safeJsonStringify(record));
    this.pending++;
    if (this.chunkedBytes >= this.flushBytes || this.chunkedRecords >= this.flushRecords) {
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
      if (this.pending === 0 && this.reopenReason === undefined) return;
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
   * Closes the file and opens `path` again (creating it if missing), then writes what is
   * buffered — for a log rotation signal such as SIGHUP. Rotation by rename or delete is
   * also noticed without it. Rejects if the path cannot be opened or written; the records
   * are kept and retried, and the failure is logged and counted like any write failure.
   * After `close()` it does nothing.
   */
  reopen(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.reopenReason ??= 'reopen() was called';
    return this.flush();
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
    this.reopenReason = undefined;
    try {
      await this.flush();
    } catch (error) {
      const lost = this.pending;
      this.metrics?.increment('dropped', lost, { reason: 'shutdown' });
      this.metrics?.recordError(error);
      this.logger.error(
        `${OWNER}: ${lost} records could not be written to ${this.path} before close and are dropped (reason: ${errorMessage(error)})`,
      );
      this.chunks = [];
      this.chunkedBytes = 0;
      this.chunkedRecords = 0;
      this.carry = undefined;
      this.pending = 0;
    }
    this.pool.length = 0;
    this.clearTimer();
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    await this.closeFile();
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
    for (;;) {
      if (this.reopenReason !== undefined) {
        const reason = this.reopenReason;
        this.reopenReason = undefined;
        await this.closeFile();
        this.file = await this.openFile();
        this.logger.log(`${OWNER}: reopened ${this.path} (${reason})`);
      }
      if (this.carry === undefined && this.chunkedRecords === 0) return;
      // Checked before every chunk, so a record accepted after a rotation never goes to the old
      // file. Synchronous on purpose: one stat (~2 us, metadata) per chunk of up to flushBytes,
      // where an async one would cost the writer a thread-pool round trip per chunk.
      if (this.file !== undefined && !this.pathNamesNow(this.file)) {
        this.reopenReason = 'the path no longer names the open file: renamed or deleted';
        continue;
      }
      const file = (this.file ??= await this.openFile());
      const carry = (this.carry ??= this.takeChunk());
      try {
        if (file.endsMidLine) {
          await this.writeAll(file, Buffer.from('\n'));
          file.endsMidLine = false;
        }
        while (carry.offset < carry.buffer.length) {
          const { bytesWritten } = await file.handle.write(carry.buffer, carry.offset, carry.buffer.length - carry.offset);
          if (bytesWritten <= 0) throw new Error(`write to ${this.path} made no progress`);
          this.advance(carry, bytesWritten);
        }
      } catch (error) {
        await this.cutPartialLine(file, carry);
        throw error;
      }
      this.carry = undefined;
      this.recycle(carry.backing);
      this.failures = 0;
      this.lastErrorValue = undefined;
    }
  }

  private async writeAll(file: OpenFile, buffer: Buffer): Promise<void> {
    let offset = 0;
    while (offset < buffer.length) {
      const { bytesWritten } = await file.handle.write(buffer, offset, buffer.length - offset);
      if (bytesWritten <= 0) throw new Error(`write to ${this.path} made no progress`);
      offset += bytesWritten;
    }
  }

  /** Counts the records whose line is now completely written as `logged`. */
  private advance(carry: Carry, bytesWritten: number): void {
    const end = carry.offset + bytesWritten;
    let done = 0;
    if (end === carry.buffer.length) {
      done = carry.records;
      carry.lineEnd = end;
    } else {
      // A short write (disk filling up): count only the lines it completed.
      for (let at = carry.buffer.indexOf(NEWLINE, carry.offset); at !== -1 && at < end; at = carry.buffer.indexOf(NEWLINE, at + 1)) {
        done++;
        carry.lineEnd = at + 1;
      }
    }
    carry.offset = end;
    if (done > 0) {
      carry.records -= done;
      this.pending -= done;
      this.metrics?.increment('logged', done);
    }
  }

  /**
   * After a failed write, removes the bytes of the incomplete line it left at the end of
   * the file, so the file always ends with a whole record; the record is written again
   * in full later. If the file cannot be cut, the next write starts on a new line.
   */
  private async cutPartialLine(file: OpenFile, carry: Carry): Promise<void> {
    const partial = carry.offset - carry.lineEnd;
    carry.offset = carry.lineEnd;
    if (partial === 0) return;
    try {
      const { size } = await file.handle.stat({ bigint: true });
      // Appends go to the end, so the partial line is the file's last `partial` bytes.
      await file.handle.truncate(Number(size) - partial);
    } catch (error) {
      file.endsMidLine = true;
      this.limited.error(
        'truncate',
        `${OWNER}: could not remove a partial line (${partial} bytes) from ${this.path}; the next record starts on a new line: ${errorMessage(error)}`,
      );
    }
  }

  /**
   * Encodes one line (JSON text and a newline) into the last chunk, or a new one when it
   * does not fit: a record costs one UTF-8 copy into a buffer and leaves nothing on the heap.
   */
  private append(json: string): void {
    let chunk = this.chunks.at(-1);
    // UTF-8 takes at most 3 bytes per UTF-16 unit; count exactly only near the end of a chunk.
    let bytes = json.length * 3 + 1;
    if (chunk === undefined || chunk.bytes + bytes > chunk.buffer.length) {
      bytes = Buffer.byteLength(json, 'utf8') + 1;
      if (chunk === undefined || chunk.bytes + bytes > chunk.buffer.length) {
        chunk = { buffer: this.chunkBuffer(bytes), bytes: 0, records: 0 };
        this.chunks.push(chunk);
      }
    }
    const written = chunk.buffer.write(json, chunk.bytes, 'utf8') + 1;
    chunk.buffer[chunk.bytes + written - 1] = NEWLINE;
    chunk.bytes += written;
    chunk.records++;
    this.chunkedBytes += written;
    this.chunkedRecords++;
  }

  /** A buffer for a new chunk: a pooled one, or a new one big enough for a line longer than a chunk. */
  private chunkBuffer(atLeast: number): Buffer {
    if (atLeast > this.chunkBytes) return Buffer.allocUnsafeSlow(atLeast);
    return this.pool.pop() ?? Buffer.allocUnsafeSlow(this.chunkBytes);
  }

  private recycle(buffer: Buffer): void {
    if (buffer.length === this.chunkBytes && this.pool.length < POOLED_BUFFERS && !this.closed) this.pool.push(buffer);
  }

  /** Takes the oldest chunk (about `flushBytes`), so one write never stalls the loop for long. */
  private takeChunk(): Carry {
    const chunk = this.chunks.shift()!;
    this.chunkedBytes -= chunk.bytes;
    this.chunkedRecords -= chunk.records;
    return { buffer: chunk.buffer.subarray(0, chunk.bytes), backing: chunk.buffer, offset: 0, lineEnd: 0, records: chunk.records };
  }

  private async openFile(): Promise<OpenFile> {
    await mkdir(dirname(this.path), { recursive: true });
    let handle: FileHandle;
    let readable = true;
    try {
      // Readable too, to look at the last byte of an existing file.
      handle = await open(this.path, 'a+');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EACCES') throw error;
      handle = await open(this.path, 'a');
      readable = false;
    }
    try {
      const { dev, ino, size } = await handle.stat({ bigint: true });
      let endsMidLine = false;
      if (readable && size > 0n) {
        // A previous writer died mid-line (or another program appended without a newline):
        // start on a new line so that our first record stays parseable.
        const last = Buffer.alloc(1);
        const { bytesRead } = await handle.read(last, 0, 1, Number(size) - 1);
        endsMidLine = bytesRead === 1 && last[0] !== NEWLINE;
      }
      this.startRotationTimer();
      return { handle, dev, ino, endsMidLine };
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
  }

  private async closeFile(): Promise<void> {
    const file = this.file;
    this.file = undefined;
    if (this.rotationTimer !== undefined) {
      clearInterval(this.rotationTimer);
      this.rotationTimer = undefined;
    }
    if (file === undefined) return;
    try {
      await file.handle.close();
    } catch (error) {
      this.logger.error(`${OWNER}: closing ${this.path} failed: ${errorMessage(error)}`);
    }
  }

  /** Whether `path` still names the open file (false once renamed away or deleted). */
  private async pathNames(file: OpenFile): Promise<boolean> {
    try {
      return sameFile(await stat(this.path, { bigint: true }), file);
    } catch {
      // Missing (deleted) or unreadable: open the path again; a failure there is reported.
      return false;
    }
  }

  private pathNamesNow(file: OpenFile): boolean {
    try {
      return sameFile(statSync(this.path, { bigint: true, throwIfNoEntry: false }), file);
    } catch {
      return false;
    }
  }

  private startRotationTimer(): void {
    if (this.rotationCheckIntervalMs === 0 || this.rotationTimer !== undefined) return;
    this.rotationTimer = setInterval(() => this.checkRotation(), this.rotationCheckIntervalMs);
    this.rotationTimer.unref();
  }

  /** Timer tick: one `stat` of the path; reopens when it names another file or none. */
  private checkRotation(): void {
    const file = this.file;
    if (file === undefined || this.closed || this.checkingRotation || this.writing !== undefined) return;
    this.checkingRotation = true;
    void this.pathNames(file).then((same) => {
      this.checkingRotation = false;
      if (same || this.file !== file || this.closed) return;
      this.reopenReason ??= 'the path no longer names the open file: renamed or deleted';
      this.kick();
    });
  }

  private onWriteError(error: unknown): unknown {
    this.failures++;
    this.lastErrorValue = { message: errorMessage(error), at: new Date() };
    this.metrics?.recordError(error);
    this.limited.error('write', `${OWNER}: writing to ${this.path} failed (${this.pending} records kept for retry): ${errorMessage(error)}`);
    // A broken handle (e.g. EBADF) is reopened on the next attempt.
    void this.closeFile();
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
