import { Logger } from '@nestjs/common';
import pg from 'pg';
import type { PlanoutLogRecord } from '../../core/log-record.js';
import { checkNumber, errorMessage, RateLimitedLogger, type PlanoutBackendLogger } from './backend-utils.js';
import { BatchingSink, BatchLogSink, type BatchingSinkOptions } from './batching.sink.js';
import { safeJsonStringify, storableJson, storableText } from './safe-json.js';

export interface PostgresSinkOptions {
  /** e.g. `postgres://user@host:5432/db`. Ignored when `pool` is given; otherwise pg's `PG*` env vars apply. */
  connectionString?: string;
  /** An existing pool to use instead of creating one. It is not closed by {@link PostgresSink.close}. */
  pool?: pg.Pool;
  /** Table name, optionally `schema.table`; letters, digits, `_`. Default `planout_log`. */
  table?: string;
  /** Run {@link planoutLogMigrationSql} (idempotent) before the first insert. Default true. */
  createTable?: boolean;
  /** Connect timeout of a pool created here, so an unreachable server fails fast. Default 5000 ms. */
  connectionTimeoutMs?: number;
  /** Client-side and server-side (`statement_timeout`) bound of each query of a pool created here. Default 10 000 ms. */
  queryTimeoutMs?: number;
  /** Size of a pool created here. One batch is in flight at a time, so 2 is plenty. Default 2. */
  maxConnections?: number;
  logger?: PlanoutBackendLogger;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
/** Postgres binds at most 65 535 parameters per statement; 4 per row. */
const ROWS_PER_STATEMENT = 5000;

interface TableName {
  schema: string | undefined;
  table: string;
}

function parseTableName(name: string): TableName {
  const parts = name.split('.');
  if (parts.length > 2 || !parts.every((p) => IDENTIFIER.test(p))) {
    throw new RangeError(
      `PostgresSink: table "${name}" must be "table" or "schema.table" made of letters, digits and "_" (at most 63 each, not starting with a digit)`,
    );
  }
  return parts.length === 2 ? { schema: parts[0], table: parts[1]! } : { schema: undefined, table: parts[0]! };
}

function quote(identifier: string): string {
  return `"${identifier}"`;
}

function qualified(name: TableName): string {
  return name.schema === undefined ? quote(name.table) : `${quote(name.schema)}.${quote(name.table)}`;
}

function indexName(table: string, column: string): string {
  const suffix = `_${column}_idx`;
  return quote(table.slice(0, 63 - suffix.length) + suffix);
}

/**
 * SQL creating the log table and its indexes; idempotent (`IF NOT EXISTS`). For
 * users who run migrations themselves (then pass `createTable: false`).
 */
export function planoutLogMigrationSql(table = 'planout_log'): string {
  const name = parseTableName(table);
  const target = qualified(name);
  return [
    `CREATE TABLE IF NOT EXISTS ${target} (`,
    `  id bigserial PRIMARY KEY,`,
    `  name text NOT NULL,`,
    `  event text NOT NULL,`,
    `  "time" bigint NOT NULL,`,
    `  record jsonb NOT NULL`,
    `);`,
    `CREATE INDEX IF NOT EXISTS ${indexName(name.table, 'name')} ON ${target} (name);`,
    `CREATE INDEX IF NOT EXISTS ${indexName(name.table, 'event')} ON ${target} (event);`,
    `CREATE INDEX IF NOT EXISTS ${indexName(name.table, 'time')} ON ${target} ("time");`,
    '',
  ].join('\n');
}

/** SQLSTATE class 22 ("data exception"): the row's values, not the server, are at fault. */
function isDataException(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.length === 5 && code.startsWith('22');
}

/**
 * Stores records in a PostgreSQL table (`id, name, event, time, record jsonb`), one
 * multi-row parameterized INSERT per batch. Use it through {@link BatchingSink}, or
 * {@link createPostgresLogSink} which does that.
 */
export class PostgresSink extends BatchLogSink {
  /** The quoted, schema-qualified table name used in statements. */
  readonly table: string;
  readonly pool: pg.Pool;
  private readonly ownsPool: boolean;
  private readonly createTable: boolean;
  private readonly migrationSql: string;
  private ready: Promise<void> | undefined;

  constructor(options: PostgresSinkOptions = {}) {
    super();
    const owner = 'PostgresSink';
    const name = parseTableName(options.table ?? 'planout_log');
    this.table = qualified(name);
    this.migrationSql = planoutLogMigrationSql(options.table ?? 'planout_log');
    this.createTable = options.createTable ?? true;
    if (options.pool !== undefined) {
      this.pool = options.pool;
      this.ownsPool = false;
    } else {
      const queryTimeout = checkNumber(owner, 'queryTimeoutMs', options.queryTimeoutMs, 10_000, 1);
      this.pool = new pg.Pool({
        connectionString: options.connectionString,
        connectionTimeoutMillis: checkNumber(owner, 'connectionTimeoutMs', options.connectionTimeoutMs, 5000, 1),
        query_timeout: queryTimeout,
        statement_timeout: queryTimeout,
        max: checkNumber(owner, 'maxConnections', options.maxConnections, 2, 1),
      });
      this.ownsPool = true;
      // An idle client losing its connection emits 'error' on the pool; unhandled, that
      // would crash the process. The pool drops the client; the next batch reconnects.
      const limited = new RateLimitedLogger(options.logger ?? new Logger('Planout'));
      this.pool.on('error', (error) => {
        limited.warn('pool', `${owner}: idle connection error: ${errorMessage(error)}`);
      });
    }
  }

  async writeBatch(records: PlanoutLogRecord[]): Promise<void> {
    if (records.length === 0) return;
    if (this.createTable) await this.ensureTable();
    if (records.length <= ROWS_PER_STATEMENT) {
      await this.pool.query(...this.insert(records));
      return;
    }
    // Several statements must land together, or a retry would duplicate the first ones.
    const client = await this.pool.connect();
    let broken: unknown;
    try {
      await client.query('BEGIN');
      for (let i = 0; i < records.length; i += ROWS_PER_STATEMENT) {
        await client.query(...this.insert(records.slice(i, i + ROWS_PER_STATEMENT)));
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: unknown) => {
        broken = rollbackError;
      });
      throw error;
    } finally {
      client.release(broken instanceof Error ? broken : undefined);
    }
  }

  /**
   * PostgreSQL refused the values (SQLSTATE class 22: out of range, invalid text or JSON):
   * the batch is split to find the records at fault, which are counted `rejected`.
   */
  override isDataError(error: unknown): boolean {
    return super.isDataError(error) || isDataException(error);
  }

  override async close(): Promise<void> {
    if (this.ownsPool) await this.pool.end();
  }

  private insert(records: PlanoutLogRecord[]): [string, unknown[]] {
    const values: unknown[] = [];
    const rows: string[] = [];
    for (const record of records) {
      const n = values.length;
      rows.push(`($${n + 1},$${n + 2},$${n + 3},$${n + 4})`);
      values.push(
        storableText(String(record.name)),
        storableText(String(record.event)),
        Number.isFinite(record.time) ? Math.trunc(record.time) : Math.floor(Date.now() / 1000),
        storableJson(safeJsonStringify(record)),
      );
    }
    return [`INSERT INTO ${this.table} (name, event, "time", record) VALUES ${rows.join(',')}`, values];
  }

  /** Creates the table once; a failure is retried with the next batch. */
  private ensureTable(): Promise<void> {
    this.ready ??= this.pool.query(this.migrationSql).then(
      () => undefined,
      (error: unknown) => {
        this.ready = undefined;
        // Two processes racing on CREATE ... IF NOT EXISTS can collide in the catalog.
        const code = (error as { code?: unknown }).code;
        if (code === '23505' || code === '42P07') return;
        throw error;
      },
    );
    return this.ready;
  }
}

export type PostgresLogSinkOptions = PostgresSinkOptions & BatchingSinkOptions;

/** A ready-to-use {@link LogSink}: a {@link PostgresSink} behind a {@link BatchingSink}. */
export function createPostgresLogSink(options: PostgresLogSinkOptions = {}): BatchingSink {
  return new BatchingSink(new PostgresSink(options), { name: 'PostgresSink', ...options });
}
