// The Nest integration of nestjs-planout.
// Backends that load optional packages (pg, @keyv/redis) live in the subpaths
// `nestjs-planout/postgres` and `nestjs-planout/redis`, so this barrel never requires them.
export { CacheManagerExposureCache, type CacheManagerCache, type CacheManagerExposureCacheOptions } from './caches/cache-manager-exposure.cache.js';
export { InMemoryExposureCache, type InMemoryExposureCacheOptions } from './caches/in-memory-exposure.cache.js';
export { stableStringify } from './dedupe-key.js';
export * from './definitions/index.js';
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
export { LogSink } from './log-sink.interface.js';
export {
  PlanoutMetrics,
  type PlanoutCounter,
  type PlanoutCounterLabels,
  type PlanoutMetricsListener,
  type PlanoutMetricsSnapshot,
  type PlanoutRecordOutcome,
} from './planout-metrics.js';
export { PlanoutSrmMonitor, type SrmResult } from './observability/srm-monitor.js';
export type { ParamExpectation } from './observability/srm-expectations.js';
export type {
  NamespaceType,
  PlanoutInputResolver,
  PlanoutModuleOptions,
  PlanoutOverridesOptions,
  PlanoutRequest,
  PlanoutSrmOptions,
  RequestInputs,
} from './planout-options.interface.js';
export { EXPERIMENT_METADATA, MANUAL_EXPOSURE_METADATA, PLANOUT_LOG_CONTEXT } from './planout.constants.js';
export { PlanoutInterceptor } from './planout.interceptor.js';
export { MODULE_OPTIONS_TOKEN as PLANOUT_MODULE_OPTIONS, type PlanoutModuleAsyncOptions, type PlanoutOptionsFactory } from './planout.module-definition.js';
export { PlanoutCatalog } from './planout-catalog.js';
export { PlanoutModule } from './planout.module.js';
export { PlanoutService } from './planout.service.js';
export { exposureDedupeKey, exposureRecordId, PLANOUT_RECORD_ID_NAMESPACE } from './record-id.js';
export {
  MAX_OVERRIDES_LENGTH,
  signPlanoutOverrides,
  verifyPlanoutOverrides,
  type PlanoutOverrides,
  type PlanoutOverridesPayload,
  type PlanoutOverridesRejection,
  type PlanoutOverridesVerification,
} from './qa-overrides.js';
export { type PlanoutBackendLogger, type RecentOutcomes } from './sinks/backend-utils.js';
export {
  BatchingSink,
  BatchLogSink,
  type BatchingSinkOptions,
  type BatchingSinkStats,
  type DropPolicy,
  type DropReason,
} from './sinks/batching.sink.js';
export { LogSinkDataError, SinkClosedError, SinkError, SinkOverflowError, SinkTimeoutError } from './sinks/errors.js';
export { InMemorySink } from './sinks/in-memory.sink.js';
export { JsonLinesFileSink, type JsonLinesFileSinkOptions } from './sinks/json-lines-file.sink.js';
export { LoggerSink, type LoggerSinkOptions } from './sinks/logger.sink.js';
export { safeJsonStringify } from './sinks/safe-json.js';
