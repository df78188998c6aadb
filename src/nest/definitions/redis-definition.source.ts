import { Logger } from '@nestjs/common';
import { createClient } from '@keyv/redis';
import { checkNumber, errorMessage, RateLimitedLogger, withTimeout, type PlanoutBackendLogger } from '../sinks/backend-utils.js';
import { parseDefinitionFiles } from './definition-files.js';
import { DefinitionSource, type DefinitionSet } from './definition-source.js';

export interface RedisDefinitionSourceOptions {
  /** Default `redis://127.0.0.1:6379`. */
  url?: string;
  /** The hash holding the definitions, one field per file name. Default `planout:definitions`. */
  key?: string;
  /** The pub/sub channel announcing changes. Default `<key>:changed`. */
  channel?: string;
  /** Reload this often even without a message (a lost subscription). Default 5000 ms; 0 turns it off. */
  pollIntervalMs?: number;
  /** Default 5000 ms. */
  connectTimeoutMs?: number;
  logger?: PlanoutBackendLogger;
}

type RedisClient = ReturnType<typeof createClient>;

/**
 * Definitions in a Redis hash whose fields are named like the folder's files
 * (`homepage.planout`, `homepage.json`, `<ns>.namespace.json`); a message on the channel
 * (see {@link put} and {@link remove}, or `PUBLISH` yourself) reloads every instance, and
 * a poll interval catches what a lost subscription missed. `HGETALL` reads the hash
 * atomically: a `HSET` of several fields is seen whole.
 */
export class RedisDefinitionSource extends DefinitionSource {
  readonly key: string;
  readonly channel: string;
  readonly description: string;
  private readonly client: RedisClient;
  private subscriber: RedisClient | undefined;
  private readonly pollIntervalMs: number;
  private readonly logger: RateLimitedLogger;
  private connecting: Promise<unknown> | undefined;
  private readonly connectTimeoutMs: number;

  constructor(options: RedisDefinitionSourceOptions = {}) {
    super();
    const owner = 'RedisDefinitionSource';
    this.key = options.key ?? 'planout:definitions';
    this.channel = options.channel ?? `${this.key}:changed`;
    this.pollIntervalMs = checkNumber(owner, 'pollIntervalMs', options.pollIntervalMs, 5000, 0);
    const connectTimeout = checkNumber(owner, 'connectTimeoutMs', options.connectTimeoutMs, 5000, 1);
    this.connectTimeoutMs = connectTimeout;
    this.description = `redis:${this.key}`;
    this.logger = new RateLimitedLogger(options.logger ?? new Logger('Planout'));
    this.client = createClient({
      url: options.url ?? 'redis://127.0.0.1:6379',
      disableOfflineQueue: true,
      commandOptions: { timeout: connectTimeout },
      socket: {
        connectTimeout,
        reconnectStrategy: (retries: number) => Math.min(50 * 2 ** Math.min(retries, 16), 2000) + Math.floor(Math.random() * 50),
      },
    });
    this.client.on('error', (error: unknown) => this.logger.warn('redis', `${this.description}: ${errorMessage(error)}`));
  }

  async load(): Promise<DefinitionSet> {
    await this.connect();
    const fields = await this.client.hGetAll(this.key);
    return parseDefinitionFiles(new Map(Object.entries(fields)));
  }

  /** Stores definition file `file` (e.g. `homepage.planout`) and announces the change, in one transaction. */
  async put(file: string, content: string): Promise<void> {
    await this.connect();
    await this.client.multi().hSet(this.key, file, content).publish(this.channel, file).exec();
  }

  /** Deletes definition file `file` and announces the change, in one transaction. */
  async remove(file: string): Promise<void> {
    await this.connect();
    await this.client.multi().hDel(this.key, file).publish(this.channel, file).exec();
  }

  watch(onChange: () => void): () => void {
    const subscriber = this.client.duplicate();
    this.subscriber = subscriber;
    subscriber.on('error', (error: unknown) => this.logger.warn('subscribe', `${this.description}: subscription: ${errorMessage(error)}`));
    let subscribed = false;
    subscriber.on('ready', () => {
      // Messages sent while disconnected were missed: read again (the client resubscribes).
      if (subscribed) onChange();
    });
    subscriber
      .connect()
      .then(() => subscriber.subscribe(this.channel, () => onChange()))
      .then(() => {
        subscribed = true;
        // Messages sent before the subscription took effect were missed: read again.
        onChange();
      })
      .catch((error: unknown) => this.logger.warn('subscribe', `${this.description}: cannot subscribe: ${errorMessage(error)} (polling)`));
    let poll: NodeJS.Timeout | undefined;
    if (this.pollIntervalMs > 0) {
      poll = setInterval(onChange, this.pollIntervalMs);
      poll.unref();
    }
    return () => {
      clearInterval(poll);
      this.subscriber = undefined;
      if (subscriber.isOpen) subscriber.destroy();
    };
  }

  override async close(): Promise<void> {
    if (this.subscriber?.isOpen) this.subscriber.destroy();
    if (this.client.isOpen) this.client.destroy();
  }

  private async connect(): Promise<void> {
    // Once open, the client reconnects by itself (its first connect() waits for that, however
    // long): a read waits at most connectTimeoutMs, and fails fast while Redis is away.
    if (this.connecting === undefined && !this.client.isOpen) {
      this.connecting = this.client.connect();
      this.connecting.catch(() => undefined);
    }
    if (this.client.isReady || this.connecting === undefined) return;
    await withTimeout(this.connecting, this.connectTimeoutMs, 'connect');
  }
}
