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
