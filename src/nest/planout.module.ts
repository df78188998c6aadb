import { Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
// Direct files, not the barrels: those pull optional backends (pg, @keyv/redis).
import { InMemoryExposureCache } from './caches/in-memory-exposure.cache.js';
import { DefinitionSource, StaticDefinitionSource } from './definitions/definition-source.js';
import { PlanoutDefinitions } from './definitions/planout-definitions.js';
import { ExposureCache } from './exposure-cache.interface.js';
import { ExposureDispatcher } from './exposure-dispatcher.js';
import { LogSink } from './log-sink.interface.js';
import type { PlanoutModuleOptions } from './planout-options.interface.js';
import { PlanoutCatalog } from './planout-catalog.js';
import { PlanoutMetrics } from './planout-metrics.js';
import { PlanoutSrmMonitor } from './observability/srm-monitor.js';
import { PlanoutInterceptor } from './planout.interceptor.js';
import { ConfigurablePlanoutModule, MODULE_OPTIONS_TOKEN } from './planout.module-definition.js';
import { PlanoutRegistry } from './planout.registry.js';
import { PlanoutService } from './planout.service.js';
import { JsonLinesFileSink } from './sinks/json-lines-file.sink.js';

/**
 * PlanOut experiments for Nest: `PlanoutModule.forRoot(options)` or
 * `forRootAsync({ useFactory, inject, imports })`, `isGlobal` optional. Registers a
 * global interceptor; the sink and the cache default to a JSON-lines file and an
 * in-memory LRU, both replaceable by options or by overriding `LogSink` / `ExposureCache`.
 */
@Module({
  providers: [
    {
      provide: PlanoutMetrics,
      inject: [MODULE_OPTIONS_TOKEN],
      useFactory: (options: PlanoutModuleOptions): PlanoutMetrics => options.metrics ?? new PlanoutMetrics(),
    },
    {
      provide: LogSink,
      inject: [MODULE_OPTIONS_TOKEN, PlanoutMetrics],
      useFactory: (options: PlanoutModuleOptions, metrics: PlanoutMetrics): LogSink =>
        reportInto(options.logSink, metrics) ?? new JsonLinesFileSink({ path: options.logFile, metrics }),
    },
    {
      provide: ExposureCache,
      inject: [MODULE_OPTIONS_TOKEN, PlanoutMetrics],
      useFactory: (options: PlanoutModuleOptions, metrics: PlanoutMetrics): ExposureCache =>
        reportInto(options.exposureCache, metrics) ?? new InMemoryExposureCache(),
    },
    {
      provide: DefinitionSource,
      inject: [MODULE_OPTIONS_TOKEN],
      useFactory: (options: PlanoutModuleOptions): DefinitionSource => options.definitions ?? new StaticDefinitionSource(),
    },
    PlanoutDefinitions,
    PlanoutSrmMonitor,
    PlanoutCatalog,
    ExposureDispatcher,
    PlanoutRegistry,
    PlanoutService,
    PlanoutInterceptor,
    { provide: APP_INTERCEPTOR, useExisting: PlanoutInterceptor },
  ],
  // The dispatcher and the registry are internals: not exported (tests reach them with `app.get`).
  // Observability providers of the app read what they need from PlanoutMetrics, PlanoutSrmMonitor and PlanoutCatalog.
  exports: [
    PlanoutService,
    LogSink,
    ExposureCache,
    PlanoutMetrics,
    DefinitionSource,
    PlanoutDefinitions,
    PlanoutSrmMonitor,
    PlanoutCatalog,
    PlanoutInterceptor,
  ],
})
export class PlanoutModule extends ConfigurablePlanoutModule {}

/** Backends built without `metrics` (they have `useMetrics`) count into the module's. */
function reportInto<T extends object>(backend: T | undefined, metrics: PlanoutMetrics): T | undefined {
  (backend as { useMetrics?: (metrics: PlanoutMetrics) => void } | undefined)?.useMetrics?.(metrics);
  return backend;
}
