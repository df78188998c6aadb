import { Logger } from '@nestjs/common';
import pg from 'pg';
import { parsePlanoutJson } from '../../core/json.js';
import { errorMessage, RateLimitedLogger, type PlanoutBackendLogger } from '../sinks/backend-utils.js';
import { parseNamespaceDefinition } from './definition-files.js';
import { DefinitionSource, type DefinitionProblem, type DefinitionSet, type ExperimentDefinitionData, type NamespaceDefinitionData } from './definition-source.js';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export interface PostgresDefinitionSourceOptions {
  /** e.g. `postgres://user@host:5432/db`. Ignored when `pool` is given. */
  connectionString?: string;
  /** An existing pool for the reads (not closed by the source). LISTEN always uses its own connection. */
  pool?: pg.Pool;
  /** `table` or `schema.table`. Default `planout_definitions`. */
  table?: string;
  /** The NOTIFY channel the table's trigger signals. Default: the table name with `.` as `_`. */
  channel?: string;
  /** Create the table and its notify trigger if missing. Default true. */
  createTable?: boolean;
  /** Reload this often even without a notification (a lost LISTEN connection). Default 5000 ms; 0 turns it off. */
  pollIntervalMs?: number;
  /** Connect timeout of the connections made here. Default 5000 ms. */
  connectTimeoutMs?: number;
  logger?: PlanoutBackendLogger;
}

function checkIdentifier(kind: string, value: string): string {
  if (!IDENTIFIER.test(value)) {
    throw new RangeError(`PostgresDefinitionSource: ${kind} "${value}" must be letters, digits and "_" (at most 63, not starting with a digit)`);
  }
  return value;
}

function parseTable(name: string): { schema: string | undefined; table: string } {
  const parts = name.split('.');
  if (parts.length > 2) throw new RangeError(`PostgresDefinitionSource: table "${name}" must be "table" or "schema.table"`);
  parts.forEach((part) => checkIdentifier('table', part));
  return parts.length === 2 ? { schema: parts[0], table: parts[1]! } : { schema: undefined, table: parts[0]! };
}

/**
 * SQL creating the definitions table and the trigger that NOTIFYs `channel` after every
 * change (one notification per statement, so a transaction's changes reload together);
 * idempotent. Rows: `kind` `experiment` (`body` PlanOut source or compiled JSON, as
 * `language` says; `salt` defaults to the name) or `namespace` (`body` the namespace JSON).
 */
export function planoutDefinitionsMigrationSql(table = 'planout_definitions', channel = table.replace('.', '_')): string {
  const { schema, table: bare } = parseTable(table);
  checkIdentifier('channel', channel);
  const q = (id: string): string => `"${id}"`;
  const qualified = schema === undefined ? q(bare) : `${q(schema)}.${q(bare)}`;
  const fn = schema === undefined ? q(`${bare.slice(0, 55)}_notify`) : `${q(schema)}.${q(`${bare.slice(0, 55)}_notify`)}`;
  return `CREATE TABLE IF NOT EXISTS ${qualified} (
  kind text NOT NULL CHECK (kind IN ('experiment', 'namespace')),
  name text NOT NULL,
  salt text,
  language text CHECK (language IN ('planout', 'json')),
  body text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (kind, name)
);
CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('${channel}', TG_OP);
  RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS ${q(`${bare.slice(0, 55)}_notify`)} ON ${qualified};
CREATE TRIGGER ${q(`${bare.slice(0, 55)}_notify`)} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ${qualified}
  FOR EACH STATEMENT EXECUTE FUNCTION ${fn}();
`;
}

interface DefinitionRow {
  kind: string;
  name: string;
  salt: string | null;
  language: string | null;
  body: string;
}

/**
 * Definitions from a PostgreSQL table, reloaded on `LISTEN/NOTIFY` (the table's trigger
 * notifies on every change) and on a poll interval as a fallback. One `SELECT` reads the
 * whole table, so a transaction's changes are seen together or not at all.
 */
export class PostgresDefinitionSource extends DefinitionSource {
  readonly description: string;
  readonly pool: pg.Pool;
  private readonly ownsPool: boolean;
  private readonly table: string;
  private readonly qualified: string;
  private readonly channel: string;
  private readonly pollIntervalMs: number;
  private readonly connectTimeoutMs: number;
  private readonly connectionString: string | undefined;
  private readonly logger: RateLimitedLogger;
  private ready: Promise<void> | undefined;

  constructor(private readonly options: PostgresDefinitionSourceOptions = {}) {
    super();
    this.table = options.table ?? 'planout_definitions';
    const { schema, table } = parseTable(this.table);
    this.qualified = schema === undefined ? `"${table}"` : `"${schema}"."${table}"`;
    this.channel = checkIdentifier('channel', options.channel ?? this.table.replace('.', '_'));
    this.pollIntervalMs = options.pollIntervalMs ?? 5000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    this.connectionString = options.connectionString;
    this.description = `postgres:${this.table}`;
    this.logger = new RateLimitedLogger(options.logger ?? new Logger('Planout'));
    if (options.pool !== undefined) {
      this.pool = options.pool;
      this.ownsPool = false;
    } else {
      this.pool = new pg.Pool({ connectionString: options.connectionString, connectionTimeoutMillis: this.connectTimeoutMs, max: 2 });
      this.ownsPool = true;
      this.pool.on('error', (error) => this.logger.warn('pool', `${this.description}: idle connection error: ${errorMessage(error)}`));
    }
  }

  async load(): Promise<DefinitionSet> {
    await this.migrate();
    const { rows } = await this.pool.query<DefinitionRow>(`SELECT kind, name, salt, language, body FROM ${this.qualified} ORDER BY kind, name`);
    const experiments: ExperimentDefinitionData[] = [];
    const namespaces: NamespaceDefinitionData[] = [];
    const problems: DefinitionProblem[] = [];
    for (const row of rows) {
      if (row.kind === 'namespace') {
        try {
          namespaces.push(parseNamespaceDefinition(row.name, parsePlanoutJson(row.body)));
        } catch (error) {
          problems.push({ name: row.name, kind: 'namespace', message: errorMessage(error) });
        }
      } else {
        const language = row.language === 'planout' || row.language === 'json' ? row.language : undefined;
        experiments.push({ name: row.name, salt: row.salt ?? undefined, script: row.body, language });
      }
    }
    return { experiments, namespaces, problems };
  }

  watch(onChange: () => void): () => Promise<void> {
    let client: pg.Client | undefined;
    let stopped = false;
    let retry: NodeJS.Timeout | undefined;
    let failures = 0;
    const reconnectLater = (): void => {
      if (stopped || retry !== undefined) return;
      const delay = Math.min(100 * 2 ** Math.min(failures++, 7), 5000);
      retry = setTimeout(() => {
        retry = undefined;
        void listen();
      }, delay);
      retry.unref();
    };
    const listen = async (): Promise<void> => {
      const next = this.options.pool !== undefined && this.connectionString === undefined
        ? new pg.Client({ ...poolConnection(this.options.pool), connectionTimeoutMillis: this.connectTimeoutMs })
        : new pg.Client({ connectionString: this.connectionString, connectionTimeoutMillis: this.connectTimeoutMs });
      next.on('notification', (message) => {
        if (message.channel === this.channel) onChange();
      });
      next.on('error', (error) => {
        this.logger.warn('listen', `${this.description}: LISTEN connection lost: ${errorMessage(error)} (polling until it is back)`);
        next.end().catch(() => undefined);
        if (client === next) client = undefined;
        reconnectLater();
      });
      try {
        await next.connect();
        await next.query(`LISTEN "${this.channel}"`);
        if (stopped) {
          await next.end();
          return;
        }
        client = next;
        failures = 0;
        // Changes made before LISTEN took effect (since the first load, or while disconnected) were missed: read again.
        onChange();
      } catch (error) {
        next.end().catch(() => undefined);
        if (!stopped) {
          this.logger.warn('listen', `${this.description}: cannot LISTEN: ${errorMessage(error)} (polling until it can)`);
          reconnectLater();
        }
      }
    };
    void listen();
    let poll: NodeJS.Timeout | undefined;
    if (this.pollIntervalMs > 0) {
      poll = setInterval(onChange, this.pollIntervalMs);
      poll.unref();
    }
    return async () => {
      stopped = true;
      clearInterval(poll);
      clearTimeout(retry);
      const current = client;
      client = undefined;
      await current?.end().catch(() => undefined);
    };
  }

  override async close(): Promise<void> {
    if (this.ownsPool) await this.pool.end();
  }

  private migrate(): Promise<void> {
    if (this.options.createTable === false) return Promise.resolve();
    this.ready ??= (async () => {
      const client = await this.pool.connect();
      try {
        // Serialized: two processes replacing the trigger function at once would conflict.
        await client.query('BEGIN');
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`planout_definitions:${this.table}`]);
        await client.query(planoutDefinitionsMigrationSql(this.table, this.channel));
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    })().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
  }
}

/** The connection settings of a pool, for the LISTEN connection. */
function poolConnection(pool: pg.Pool): pg.ClientConfig {
  return (pool as unknown as { options: pg.ClientConfig }).options;
}
