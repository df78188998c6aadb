import { Logger } from '@nestjs/common';
import KeyvRedis, { createClient, Keyv } from '@keyv/redis';
import { createCache } from 'cache-manager';
import type { PlanoutMetrics } from '../planout-metrics.js';
import { checkNumber, errorMessage, RateLimitedLogger, type PlanoutBackendLogger } from '../sinks/backend-utils.js';
import { CacheManagerExposureCache } from './cache-manager-exposure.cache.js';

export interface RedisExposureCacheOptions {
  /** Default `redis://127.0.0.1:6379`. */
  url?: string;
  /** Default `planout:exposure:`. */
  keyPrefix?: string;
  /** Default lifetime of a mark. Default 24 h. */
  ttlMs?: number;
  /** Bound of one connection attempt. Default 1000 ms. */
  connectTimeoutMs?: number;
  /** Bound of one `has`/`mark` (and of each Redis command). Default 250 ms. */
  operationTimeoutMs?: number;
  /** Cap of the delay between reconnection attempts. Default 2000 ms. */
  reconnectMaxDelayMs?: number;
  /** Length of the sliding window of failures and timeouts the health check reads. Default 10 000 ms. */
  healthWindowMs?: number;
  metrics?: PlanoutMetrics;
  logger?: PlanoutBackendLogger;
}

/** What the cache needs of the node-redis client: its state, and a way to drop it. */
interface RedisConnection {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  destroy(): void;
}

/**
 * A {@link CacheManagerExposureCache} on Redis, built as cache-manager → Keyv →
 * @keyv/redis with a client configured to never make a request wait on Redis:
 * connection attempts are bounded, commands time out, and while disconnected
 * commands fail at once (no offline queue) so `has` resolves `false` immediately.
 * The client keeps reconnecting in the background (capped backoff), so
 * deduplication resumes by itself when Redis returns.
 */
export class RedisExposureCache extends CacheManagerExposureCache {
  constructor(
    private readonly client: RedisConnection,
    options: ConstructorParameters<typeof CacheManagerExposureCache>[0],
  ) {
    super(options);
  }

  /** Whether the connection to Redis is up (for health checks). */
  get connected(): boolean {
    return this.client.isReady;
  }

  override async close(): Promise<void> {
    await super.close();
    // destroy(), not close(): QUIT would wait for a server that may be gone.
    if (this.client.isOpen) this.client.destroy();
  }
}

export function createRedisExposureCache(options: RedisExposureCacheOptions = {}): RedisExposureCache {
  const owner = 'createRedisExposureCache';
  const connectTimeout = checkNumber(owner, 'connectTimeoutMs', options.connectTimeoutMs, 1000, 1);
  const operationTimeoutMs = checkNumber(owner, 'operationTimeoutMs', options.operationTimeoutMs, 250, 1);
  const reconnectMaxDelay = checkNumber(owner, 'reconnectMaxDelayMs', options.reconnectMaxDelayMs, 2000, 1);
  const logger = options.logger ?? new Logger('Planout');
  const limited = new RateLimitedLogger(logger);

  const client = createClient({
    url: options.url ?? 'redis://127.0.0.1:6379',
    disableOfflineQueue: true,
    commandOptions: { timeout: operationTimeoutMs },
    socket: {
      connectTimeout,
      // Never give up: a number keeps the client retrying in the background.
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** Math.min(retries, 16), reconnectMaxDelay) + Math.floor(Math.random() * 50),
    },
  });
  // Without an 'error' listener a refused connection would crash the process.
  client.on('error', (error: unknown) => {
    limited.warn('redis', `Redis exposure cache: ${errorMessage(error)} (deduplication off until Redis is reachable)`);
  });
  let wasReady = false;
  client.on('ready', () => {
    if (wasReady) logger.log('Redis exposure cache: reconnected, deduplication resumed');
    wasReady = true;
  });
  // Connect in the background; the first commands fail fast until it succeeds.
  client.connect().catch((error: unknown) => {
    limited.warn('connect', `Redis exposure cache: connect stopped: ${errorMessage(error)}`);
  });

  // Errors must reach cache-manager (which counts them via its events), not be hidden by the adapter.
  // The cast only bridges generic parameters (RESP version, modules) @keyv/redis spells differently.
  const store = new KeyvRedis(client as unknown as ConstructorParameters<typeof KeyvRedis>[0], {
    throwOnErrors: true,
    throwOnConnectError: true,
  });
  const keyv = new Keyv({ store, useKeyPrefix: false, throwOnErrors: true });
  // Keyv's default namespace would add `keyv::` to every key; our keyPrefix is the namespace.
  keyv.namespace = undefined;
  keyv.on('error', () => undefined);
  const cache = createCache({ stores: [keyv] });

  return new RedisExposureCache(client, {
    cache,
    keyPrefix: options.keyPrefix,
    ttlMs: options.ttlMs,
    operationTimeoutMs,
    healthWindowMs: options.healthWindowMs,
    metrics: options.metrics,
    logger,
  });
}
