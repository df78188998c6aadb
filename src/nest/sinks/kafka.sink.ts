import { Logger } from '@nestjs/common';
import kafkajs from 'kafkajs';
import type { IHeaders, KafkaConfig, LogEntry, Message, Producer } from 'kafkajs';
import type { PlanoutLogRecord } from '../../core/log-record.js';
import { stableStringify } from '../dedupe-key.js';
import { checkNumber, errorMessage, RateLimitedLogger, type PlanoutBackendLogger } from './backend-utils.js';
import { BatchingSink, BatchLogSink, type BatchingSinkOptions } from './batching.sink.js';
import { safeJsonStringify } from './safe-json.js';

const { Kafka, logLevel, Partitioners } = kafkajs;

export interface KafkaSinkOptions {
  /** Bootstrap brokers, `host:port`: an array or a comma-separated list. Required. */
  brokers: readonly string[] | string;
  /** Topic the records go to (auto-created if the cluster allows it). Default `planout-exposures`. */
  topic?: string;
  /** Client id the brokers see. Default `nestjs-planout`. */
  clientId?: string;
  /**
   * Ask the brokers for an idempotent producer (no duplicates from the client's own
   * retries). If the cluster does not grant one, the sink warns once and produces
   * without; the record `id` still makes every repeat recognizable. Default true.
   */
  idempotent?: boolean;
  /** TCP connect timeout per broker. Default 3000 ms. */
  connectionTimeoutMs?: number;
  /**
   * Bound of one produce request, and the brokers' wait for all in-sync replicas
   * (`acks: all`). Default 4000 ms; with one client retry, a send settles within about
   * 9 s, inside BatchingSink's default `writeTimeoutMs` (10 s).
   */
  requestTimeoutMs?: number;
  /**
   * Further kafkajs settings: `ssl`, `sasl`, `socketFactory`, `authenticationTimeout`...
   * (brokers, client id, timeouts and logging come from the options above).
   */
  kafkaConfig?: Omit<KafkaConfig, 'brokers' | 'clientId' | 'connectionTimeout' | 'requestTimeout' | 'logLevel' | 'logCreator' | 'retry'>;
  logger?: PlanoutBackendLogger;
}

/** Kafka's legal topic names. */
const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;

/** Protocol errors meaning the brokers refuse an idempotent producer, not that they are down. */
const NO_IDEMPOTENCE = new Set(['UNSUPPORTED_VERSION', 'CLUSTER_AUTHORIZATION_FAILED', 'UNSUPPORTED_FOR_MESSAGE_FORMAT']);

/** Protocol errors after which the producer's id or sequence numbers are unusable: start a new producer. */
const STALE_PRODUCER = new Set([
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'UNKNOWN_PRODUCER_ID',
  'INVALID_PRODUCER_EPOCH',
  'INVALID_PRODUCER_ID_MAPPING',
  'PRODUCER_FENCED',
]);

/** Protocol errors about the records themselves: sending them again cannot succeed. */
const DATA_ERRORS = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'INVALID_TIMESTAMP']);

/** The error and the errors it wraps (kafkajs nests them in `originalError`, `cause`, `errors`). */
function errorChain(error: unknown): { name?: unknown; type?: unknown }[] {
  const out: { name?: unknown; type?: unknown }[] = [];
  const pending: unknown[] = [error];
  while (pending.length > 0 && out.length < 20) {
    const e = pending.shift();
    if (typeof e !== 'object' || e === null) continue;
    const item = e as { name?: unknown; type?: unknown; originalError?: unknown; cause?: unknown; errors?: unknown };
    out.push(item);
    pending.push(item.originalError, item.cause);
    if (Array.isArray(item.errors)) pending.push(...(item.errors as unknown[]));
  }
  return out;
}

function hasType(error: unknown, types: ReadonlySet<string>): boolean {
  return errorChain(error).some((e) => typeof e.type === 'string' && types.has(e.type));
}

/**
 * The brokers answered but will not hand out a producer id: too old, no `IdempotentWrite`
 * permission, or (librdkafka's mock cluster) no controller among the brokers it lists.
 */
function idempotenceRefused(error: unknown): boolean {
  return hasType(error, NO_IDEMPOTENCE) || errorChain(error).some((e) => e.name === 'KafkaJSBrokerNotFound');
}

/**
 * The Kafka message of a record: value = the record as one JSON-lines line; key = the
 * unit (its inputs, canonical JSON with sorted keys), so one unit's records keep their
 * order in one partition; headers = experiment name, event and record id.
 */
export function kafkaMessageOf(record: PlanoutLogRecord): Message {
  const headers: IHeaders = { 'planout-experiment': String(record.name), 'planout-event': String(record.event) };
  if (typeof record.id === 'string') headers['planout-id'] = record.id;
  return { key: stableStringify(record.inputs), value: safeJsonStringify(record), headers };
}

/**
 * Produces records to a Kafka topic with kafkajs, `acks: all`, one message per record
 * (see {@link kafkaMessageOf}). Use it through {@link BatchingSink}, or
 * {@link createKafkaLogSink} which does that: the batching sink queues, retries and
 * bounds shutdown; this class only sends.
 *
 * One send is in flight at a time: a send that the batching sink gave up on (its write
 * timeout) is awaited before the retry starts, so an idempotent producer never sees
 * its own sequence numbers overlap.
 */
export class KafkaSink extends BatchLogSink {
  readonly topic: string;
  readonly brokers: readonly string[];
  private readonly kafka: InstanceType<typeof Kafka>;
  private readonly requestTimeoutMs: number;
  private readonly logger: PlanoutBackendLogger;
  private idempotenceWanted: boolean;
  private connectedIdempotent = false;
  private producer: Promise<Producer> | undefined;
  private lastSend: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(options: KafkaSinkOptions) {
    super();
    const owner = 'KafkaSink';
    const brokers = typeof options?.brokers === 'string' ? options.brokers.split(',') : [...(options?.brokers ?? [])];
    this.brokers = brokers.map((b) => b.trim()).filter((b) => b !== '');
    if (this.brokers.length === 0 || !this.brokers.every((b) => /^[^\s:]+:\d{1,5}$/.test(b))) {
      throw new RangeError(`${owner}: option "brokers" must list at least one "host:port", got ${JSON.stringify(options?.brokers)}`);
    }
    this.topic = options.topic ?? 'planout-exposures';
    if (!TOPIC.test(this.topic) || this.topic === '.' || this.topic === '..') {
      throw new RangeError(`${owner}: option "topic" must be 1-249 of letters, digits, ".", "_", "-", got ${JSON.stringify(options.topic)}`);
    }
    this.requestTimeoutMs = checkNumber(owner, 'requestTimeoutMs', options.requestTimeoutMs, 4000, 1);
    this.idempotenceWanted = options.idempotent ?? true;
    this.logger = options.logger ?? new Logger('Planout');
    const limited = new RateLimitedLogger(this.logger);
    this.kafka = new Kafka({
      ...options.kafkaConfig,
      brokers: [...this.brokers],
      clientId: options.clientId ?? 'nestjs-planout',
      connectionTimeout: checkNumber(owner, 'connectionTimeoutMs', options.connectionTimeoutMs, 3000, 1),
      requestTimeout: this.requestTimeoutMs,
      // One quick retry inside a send (a leader moved); BatchingSink retries the batch after that.
      retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 1000 },
      logLevel: logLevel.WARN,
      logCreator: () => (entry: LogEntry) => kafkajsLog(limited, entry),
    });
  }

  /** Whether the connected producer is idempotent: false until connected, and when the cluster refused it. */
  get idempotent(): boolean {
    return this.connectedIdempotent;
  }

  async writeBatch(records: PlanoutLogRecord[]): Promise<void> {
    if (records.length === 0) return;
    if (this.closed) throw new Error('KafkaSink: writeBatch after close');
    const messages = records.map(kafkaMessageOf);
    // Queued behind the previous call, even one the batching sink gave up on (its write
    // timeout): that one settles first (kafkajs bounds it), so sends never overlap.
    const turn = this.send(this.lastSend, messages);
    this.lastSend = turn.catch(() => undefined);
    await turn;
  }

  private async send(previous: Promise<unknown>, messages: Message[]): Promise<void> {
    await previous;
    const producer = await this.connect();
    try {
      await producer.send({ topic: this.topic, messages, acks: -1, timeout: this.requestTimeoutMs });
    } catch (error) {
      if (hasType(error, STALE_PRODUCER)) await this.resetProducer();
      throw error;
    }
  }

  /**
   * Whether a `writeBatch` error is about the records (too large, invalid), so retrying
   * them cannot help, rather than about the cluster being unreachable.
   */
  override isDataError(error: unknown): boolean {
    return hasType(error, DATA_ERRORS);
  }

  override async close(): Promise<void> {
    this.closed = true;
    await this.lastSend;
    await this.resetProducer();
  }

  private connect(): Promise<Producer> {
    this.producer ??= this.newProducer().catch((error: unknown) => {
      this.producer = undefined;
      throw error;
    });
    return this.producer;
  }

  private async newProducer(): Promise<Producer> {
    const config = {
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: true,
      retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 1000 },
    };
    if (this.idempotenceWanted) {
      const producer = this.kafka.producer({ ...config, idempotent: true, maxInFlightRequests: 1 });
      try {
        await producer.connect();
        this.connectedIdempotent = true;
        return producer;
      } catch (error) {
        await producer.disconnect().catch(() => undefined);
        if (!idempotenceRefused(error)) throw error;
        this.idempotenceWanted = false;
        this.logger.warn(
          `KafkaSink: the cluster did not grant an idempotent producer (${errorMessage(error)}); producing with acks=all without idempotence. A repeated send can duplicate records; they carry the same "id".`,
        );
      }
    }
    const producer = this.kafka.producer(config);
    try {
      await producer.connect();
    } catch (error) {
      await producer.disconnect().catch(() => undefined);
      throw error;
    }
    this.connectedIdempotent = false;
    return producer;
  }

  private async resetProducer(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    this.connectedIdempotent = false;
    if (producer === undefined) return;
    try {
      await (await producer).disconnect();
    } catch {
      // Never connected, or the connection is already gone: nothing to release.
    }
  }
}

/**
 * kafkajs logs through the sink's logger, rate-limited per kind: an outage makes every
 * request log a connection error.
 */
function kafkajsLog(limited: RateLimitedLogger, { namespace, level, log }: LogEntry): void {
  // We bound kafkajs's own retries on purpose: BatchingSink retries the batch, ids make repeats safe.
  if (log.message.startsWith('Limiting retries for the idempotent producer')) return;
  const broker = typeof log.broker === 'string' ? ` (broker ${log.broker})` : '';
  const text = `KafkaSink: kafkajs ${namespace}: ${log.message}${broker}`;
  if (level === logLevel.ERROR || level === logLevel.NOTHING) limited.error(`kafkajs:${namespace}:error`, text);
  else if (level === logLevel.WARN) limited.warn(`kafkajs:${namespace}:warn`, text);
}

export type KafkaLogSinkOptions = KafkaSinkOptions & BatchingSinkOptions;

/** A ready-to-use {@link LogSink}: a {@link KafkaSink} behind a {@link BatchingSink}. */
export function createKafkaLogSink(options: KafkaLogSinkOptions): BatchingSink {
  return new BatchingSink(new KafkaSink(options), { name: 'KafkaSink', ...options });
}
