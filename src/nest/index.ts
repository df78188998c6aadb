// The Nest integration of nestjs-planout.
export { CacheManagerExposureCache, createRedisExposureCache, InMemoryExposureCache, RedisExposureCache } from './caches/index.js';
export type { CacheManagerExposureCacheOptions, InMemoryExposureCacheOptions, RedisExposureCacheOptions } from './caches/index.js';
export { exposureDedupeKey, stableStringify } from './dedupe-key.js';
export {
  ExperimentInstance,
  ExperimentParam,
  ManualExposure,
  NamespaceInstance,
  NamespaceParam,
  Param,
} from './experiment-param.decorator.js';
export {
  Experiment,
  experimentDecorator,
  getExperimentOptions,
  type ExperimentDefinition,
  type ExperimentInstanceOf,
  type ExperimentOptions,
  type ExperimentType,
  type InputsOf,
  type ParamNameOf,
  type ParamsOf,
} from './experiment.decorator.js';
export { ExposureCache } from './exposure-cache.interface.js';
export { ExposureDispatcher } from './exposure-dispatcher.js';
export { LogSink } from './log-sink.interface.js';
export { PlanoutMetrics, type PlanoutCounter, type PlanoutMetricsSnapshot } from './planout-metrics.js';
export type { NamespaceType, PlanoutInputResolver, PlanoutModuleOptions, PlanoutRequest } from './planout-options.interface.js';
export { EXPERIMENT_METADATA, MANUAL_EXPOSURE_METADATA, PLANOUT_LOG_CONTEXT } from './planout.constants.js';
export { PlanoutInterceptor } from './planout.interceptor.js';
export { MODULE_OPTIONS_TOKEN as PLANOUT_MODULE_OPTIONS, type PlanoutModuleAsyncOptions, type PlanoutOptionsFactory } from './planout.module-definition.js';
export { PlanoutModule } from './planout.module.js';
export { PlanoutRegistry } from './planout.registry.js';
export { PlanoutService } from './planout.service.js';
export {
  BatchingSink,
  BatchLogSink,
  createPostgresLogSink,
  InMemorySink,
  JsonLinesFileSink,
  LoggerSink,
  planoutLogMigrationSql,
  PostgresSink,
  SinkClosedError,
  SinkError,
  SinkOverflowError,
  SinkTimeoutError,
} from './sinks/index.js';
export type {
  BatchingSinkOptions,
  JsonLinesFileSinkOptions,
  LoggerSinkOptions,
  PostgresLogSinkOptions,
  PostgresSinkOptions,
} from './sinks/index.js';
