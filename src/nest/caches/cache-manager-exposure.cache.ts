import { Logger } from '@nestjs/common';
import { ExposureCache } from '../exposure-cache.interface.js';
import type { PlanoutMetrics } from '../planout-metrics.js';
import {
  checkNumber,
  errorMessage,
  OutcomeWindow,
  RateLimitedLogger,
  withTimeout,
  type PlanoutBackendLogger,
  type RecentOutcomes,
} from '../sinks/backend-utils.js';

/**
 * The part of a cache-manager 7 `Cache` (`createCache()`) this class uses. Declared here,
 * not imported, so that the root entry's types compile without cache-manager installed
 * (it is an optional peer); a cache-manager `Cache` is assignable to it.
 */
export interface CacheManagerCache {
  get<T>(key: string): Promise<T | undefined>;
  set<T>(key: string, value: T, ttl?: number): Promise<T>;
  on(event: 'get', listener: (data: { key: string; error?: unknown }) => void): unknown;
  off(event: 'get', listener: (data: { key: string; error?: unknown }) => void): unknown;
  disconnect(): Promise<unknown>;
}

export interface CacheManagerExposureCacheOptions {
  /** A cache-manager 7 cache (`createCache()`), over any Keyv store. */
  cache: CacheManagerCache;
  /** Default lifetime of a mark. Default 24 h. */
  ttlMs?: number;
  /** Prepended to every key, so exposure marks do not collide with other cached data. Default `planout:exposure:`. */
  keyPrefix?: string;
  /**
   * Time budget of one `has`/`mark`. A slower (or down) store makes `has` resolve
   * `false` — the exposure is logged again (a duplicate, never a loss) — and counts
   * `cacheErrors`. Default 250 ms.
   */
  operationTimeoutMs?: number;
  /** Length of the sliding window of {@link CacheManagerExposureCache.recentOutcomes} (health checks). Default 10 000 ms. */
  healthWindowMs?: number;
  /** Call `cache.disconnect()` on {@link CacheManagerExposureCache.close}. Default false: the cache is yours. */
  disconnectOnClose?: boolean;
  metrics?: PlanoutMetrics;
  logger?: PlanoutBackendLogger;
}

interface Pending {
  errored: boolean;
}

/**
 * An {@link ExposureCache} over cache-manager, so marks can live in a store shared by
 * all processes (Redis, Valkey, Memcached, …). Store failures never surface: they
 * resolve as "not seen" and are counted and logged (rate-limited).
 */
export class CacheManagerExposureCache extends ExposureCache {
  readonly keyPrefix: string;
  readonly ttlMs: number;
  readonly operationTimeoutMs: number;
  protected readonly cache: CacheManagerCache;
  private readonly disconnectOnClose: boolean;
  private metrics: PlanoutMetrics | undefined;
  private readonly limited: RateLimitedLogger;
  /**
   * cache-manager swallows store errors on `get` (it returns `undefined` and emits a
   * `get` event carrying the error); this map lets that event mark our pending call.
   */
  private readonly pending = new Map<string, Set<Pending>>();
  private readonly onGetEvent = (data: { key: string; error?: unknown }): void => {
    if (data.error === undefined) return;
    const calls = this.pending.get(data.key);
    if (calls === undefined) return;
    for (const call of calls) call.errored = true;
    this.failed('get', data.error);
  };
  private lastErrorValue: { message: string; at: Date } | undefined;
  private readonly outcomes: OutcomeWindow;
  private closed = false;

  constructor(options: CacheManagerExposureCacheOptions) {
    super();
    const owner = 'CacheManagerExposureCache';
    if (options?.cache === undefined) throw new TypeError(`${owner}: option "cache" is required`);
    this.cache = options.cache;
    this.keyPrefix = options.keyPrefix ?? 'planout:exposure:';
    this.ttlMs = checkNumber(owner, 'ttlMs', options.ttlMs, 24 * 60 * 60 * 1000, 1);
    this.operationTimeoutMs = checkNumber(owner, 'operationTimeoutMs', options.operationTimeoutMs, 250, 1);
    this.disconnectOnClose = options.disconnectOnClose ?? false;
    this.outcomes = new OutcomeWindow(checkNumber(owner, 'healthWindowMs', options.healthWindowMs, 10_000, 1000));
    this.metrics = options.metrics;
    this.limited = new RateLimitedLogger(options.logger ?? new Logger('Planout'));
    this.cache.on('get', this.onGetEvent);
  }

  /** The last store failure or timeout (kept after recovery; compare its time). */
  get lastError(): { message: string; at: Date } | undefined {
    return this.lastErrorValue;
  }

  /** Called by `PlanoutModule`: a cache built without `metrics` reports into the module's counters. */
  useMetrics(metrics: PlanoutMetrics): void {
    this.metrics ??= metrics;
  }

  /**
   * `has`/`mark` calls over the last `healthWindowMs` (10 s by default): a store that hangs while its connection looks
   * fine (every call timing out) shows here, and makes the health check `degraded`.
   */
  get recentOutcomes(): RecentOutcomes {
    return this.outcomes.snapshot();
  }

  async has(key: string): Promise<boolean> {
    const fullKey = this.keyPrefix + key;
    const call: Pending = { errored: false };
    let calls = this.pending.get(fullKey);
    if (calls === undefined) this.pending.set(fullKey, (calls = new Set()));
    calls.add(call);
    try {
      const value = await withTimeout(this.cache.get<unknown>(fullKey), this.operationTimeoutMs, 'exposure cache get');
      // An errored get also returns undefined, i.e. "not seen": the exposure is logged.
      if (call.errored) return false;
      this.outcomes.success();
      return value !== undefined && value !== null;
    } catch (error) {
      if (!call.errored) this.failed('get', error);
      return false;
    } finally {
      calls.delete(call);
      if (calls.size === 0) this.pending.delete(fullKey);
    }
  }

  async mark(key: string, ttlMs?: number): Promise<void> {
    try {
      await withTimeout(this.cache.set(this.keyPrefix + key, 1, ttlMs ?? this.ttlMs), this.operationTimeoutMs, 'exposure cache set');
      this.outcomes.success();
    } catch (error) {
      this.failed('set', error);
    }
  }

  override async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cache.off('get', this.onGetEvent);
    if (this.disconnectOnClose) {
      try {
        await withTimeout(this.cache.disconnect(), 5000, 'exposure cache disconnect');
      } catch (error) {
        this.limited.warn('close', `CacheManagerExposureCache: disconnect failed: ${errorMessage(error)}`);
      }
    }
  }

  private failed(op: 'get' | 'set', error: unknown): void {
    this.lastErrorValue = { message: errorMessage(error), at: new Date() };
    this.outcomes.failure(error);
    this.metrics?.increment('cacheErrors');
    this.metrics?.recordError(error);
    this.limited.warn(
      op,
      `CacheManagerExposureCache: ${op} failed, ${op === 'get' ? 'treating the exposure as not yet logged' : 'the exposure may be logged again'}: ${errorMessage(error)}`,
    );
  }
}
