// `nestjs-planout/postgres`: the PostgreSQL log sink (requires the `pg` package).
export {
  createPostgresLogSink,
  planoutLogMigrationSql,
  PostgresSink,
  type PostgresLogSinkOptions,
  type PostgresSinkOptions,
} from './nest/sinks/postgres.sink.js';
// The definitions table, reloaded on LISTEN/NOTIFY.
export {
  planoutDefinitionsMigrationSql,
  PostgresDefinitionSource,
  type PostgresDefinitionSourceOptions,
} from './nest/definitions/postgres-definition.source.js';
