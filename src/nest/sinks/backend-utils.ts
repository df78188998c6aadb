import type { LoggerService } from '@nestjs/common';

/** The part of Nest's `LoggerService` the backends use. */
export type PlanoutBackendLogger = Pick<LoggerService, 'log' | 'warn' | 'error'>;

/** Rejection used when an operation does not settle within its time budget. */
export class OperationTimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} timed out after ${ms}ms`);
    this.name = 'OperationTimeoutError';
  }
}

/**
 * Settles like `promise`, or rejects with {@link OperationTimeoutError} after `ms`.
 * The timer is unref'ed so a pending operation never keeps the process alive.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new OperationTimeoutError(what, ms)), ms);
    timer.unref();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** Resolves `true` if `promise` settled within `ms`, `false` otherwise; never rejects. */
export async function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  try {
    await withTimeout(
      promise.then(
        () => undefined,
        () => undefined,
      ),
      ms,
      'wait',
    );
    return true;
  } catch {
    return false;
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Logs at most one message per key per interval and reports how many were
 * suppressed, so an outage produces a readable log rather than a flood.
 */
export class RateLimitedLogger {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly logger: PlanoutBackendLogger,
    private readonly intervalMs = 10_000,
  ) {}

  warn(key: string, message: string): void {
    const text = this.admit(key, message);
    if (text !== undefined) this.logger.warn(text);
  }

  error(key: string, message: string): void {
    const text = this.admit(key, message);
    if (text !== undefined) this.logger.error(text);
  }

  private admit(key: string, message: string): string | undefined {
    const now = Date.now();
    const state = this.last.get(key);
    if (state !== undefined && now - state.at < this.intervalMs) {
      state.suppressed++;
      return undefined;
    }
    const suppressed = state?.suppressed ?? 0;
    this.last.set(key, { at: now, suppressed: 0 });
    return suppressed > 0 ? `${message} (${suppressed} similar messages suppressed)` : message;
  }
}

/** Validates a numeric option; the message names the option so a typo is easy to find. */
export function checkNumber(
  owner: string,
  name: string,
  value: number | undefined,
  fallback: number,
  min: number,
): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || Number.isNaN(v) || v < min) {
    throw new RangeError(`${owner}: option "${name}" must be a number >= ${min}, got ${String(value)}`);
  }
  return v;
}

/**
 * What a backend saw over its last few seconds of operations, for health checks: a
 * hung backend shows as failures and timeouts here long before its connection drops.
 */
export interface RecentOutcomes {
  /** Length of the window, in milliseconds. */
  windowMs: number;
  succeeded: number;
  /** Failed operations, timeouts included. */
  failed: number;
  /** Of the failed ones, those that did not answer within their time budget. */
  timedOut: number;
}

/**
 * Counts successes and failures over a sliding window of one-second buckets: O(1) per
 * operation, so it can sit on the exposure path.
 */
export class OutcomeWindow {
  private readonly seconds: number;
  private readonly buckets: { second: number; succeeded: number; failed: number; timedOut: number }[];

  constructor(readonly windowMs = 10_000) {
    this.seconds = Math.max(1, Math.ceil(windowMs / 1000));
    this.buckets = Array.from({ length: this.seconds }, () => ({ second: -1, succeeded: 0, failed: 0, timedOut: 0 }));
  }

  success(now = Date.now()): void {
    this.bucket(now).succeeded++;
  }

  failure(error: unknown, now = Date.now()): void {
    const bucket = this.bucket(now);
    bucket.failed++;
    if (isTimeout(error)) bucket.timedOut++;
  }

  snapshot(now = Date.now()): RecentOutcomes {
    const current = Math.floor(now / 1000);
    const out: RecentOutcomes = { windowMs: this.seconds * 1000, succeeded: 0, failed: 0, timedOut: 0 };
    for (const b of this.buckets) {
      if (b.second <= current - this.seconds || b.second > current) continue;
      out.succeeded += b.succeeded;
      out.failed += b.failed;
      out.timedOut += b.timedOut;
    }
    return out;
  }

  private bucket(now: number) {
    const second = Math.floor(now / 1000);
    const bucket = this.buckets[second % this.seconds]!;
    if (bucket.second !== second) {
      bucket.second = second;
      bucket.succeeded = 0;
      bucket.failed = 0;
      bucket.timedOut = 0;
    }
    return bucket;
  }
}

/**
 * Keeps the process alive until the returned function is called. Background timers are
 * unref'ed so an idle sink never holds a process open; but a flush or close in progress
 * must not be cut short by the event loop running empty (Node would exit with code 0
 * in the middle of a shutdown hook, losing the records silently).
 */
export function holdProcessOpen(): () => void {
  const timer = setInterval(() => undefined, 60_000);
  return () => clearInterval(timer);
}

/** Ours, or a driver's (node-redis `TimeoutError`, pg "Query read timeout", "timeout exceeded when trying to connect"). */
function isTimeout(error: unknown): boolean {
  if (error instanceof OperationTimeoutError) return true;
  if (!(error instanceof Error)) return false;
  return /timeout/i.test(error.name) || /time(d)? ?out/i.test(error.message);
}
