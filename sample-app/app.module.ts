import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { FolderDefinitionSource, PlanoutModule, type ExposureCache, type LogSink, type PlanoutModuleOptions } from '../src/index.js';
import { PlanoutHealthIndicator } from '../src/nest/health/index.js';
import { PlanoutOpenTelemetry } from '../src/opentelemetry.js';
import { PLANOUT_PROMETHEUS_REGISTRY, PlanoutPrometheus } from '../src/prometheus.js';
import { Registry } from 'prom-client';
import { AppController, CheckoutService } from './app.controller.js';
import { DynamicController } from './dynamic.controller.js';
import { HealthController } from './health.controller.js';
import {
  BannerNamespace,
  CheckoutButtonExperiment,
  Exp1,
  GermanyExperiment,
  PriceExperiment,
  userInputs,
} from './experiments.js';

/**
 * The folder of data-defined experiments: `PLANOUT_DEFINITIONS_DIR` (relative to the
 * working directory), else the sample's own `definitions/` in the source tree (also when
 * running the build in dist-sample/).
 */
export function definitionsDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PLANOUT_DEFINITIONS_DIR) return resolve(env.PLANOUT_DEFINITIONS_DIR);
  const beside = fileURLToPath(new URL('./definitions/', import.meta.url));
  if (existsSync(beside)) return beside;
  // dist-sample/sample-app/ -> sample-app/definitions/
  return fileURLToPath(new URL('../../sample-app/definitions/', import.meta.url));
}

/**
 * Embedded defaults (a JSON-lines file, an in-memory cache, the definitions folder);
 * `REDIS_URL` switches the exposure cache to Redis, `DATABASE_URL` the sink to PostgreSQL
 * and `PLANOUT_KAFKA_BROKERS` (comma-separated; topic `PLANOUT_KAFKA_TOPIC`) the sink to
 * Kafka (the backends are imported only when configured); `PLANOUT_MAX_QUEUE` bounds the
 * PostgreSQL or Kafka sink's queue (default 100 000 records); `PLANOUT_QA_SECRET` enables
 * signed QA overrides.
 */
export async function sampleOptions(env: NodeJS.ProcessEnv = process.env): Promise<PlanoutModuleOptions> {
  let exposureCache: ExposureCache | undefined;
  let logSink: LogSink | undefined;
  if (env.REDIS_URL) {
    const { createRedisExposureCache } = await import('../src/redis.js');
    exposureCache = createRedisExposureCache({ url: env.REDIS_URL, keyPrefix: env.PLANOUT_REDIS_PREFIX });
  }
  if (env.DATABASE_URL && env.PLANOUT_KAFKA_BROKERS) {
    throw new Error('DATABASE_URL and PLANOUT_KAFKA_BROKERS are both set: choose one log sink');
  }
  if (env.DATABASE_URL) {
    const { createPostgresLogSink } = await import('../src/postgres.js');
    const maxQueueSize = env.PLANOUT_MAX_QUEUE ? Number(env.PLANOUT_MAX_QUEUE) : undefined;
    logSink = createPostgresLogSink({ connectionString: env.DATABASE_URL, maxQueueSize });
  }
  if (env.PLANOUT_KAFKA_BROKERS) {
    const { createKafkaLogSink } = await import('../src/kafka.js');
    const maxQueueSize = env.PLANOUT_MAX_QUEUE ? Number(env.PLANOUT_MAX_QUEUE) : undefined;
    logSink = createKafkaLogSink({ brokers: env.PLANOUT_KAFKA_BROKERS, topic: env.PLANOUT_KAFKA_TOPIC || undefined, maxQueueSize });
  }
  // The backends count into the module's PlanoutMetrics: no instance to pass around.
  return {
    overrides: env.PLANOUT_QA_SECRET ? { secret: env.PLANOUT_QA_SECRET } : undefined,
    experiments: [Exp1, GermanyExperiment, PriceExperiment, CheckoutButtonExperiment],
    namespaces: [BannerNamespace],
    inputs: userInputs,
    // The unit of every experiment: a request without it is in none and logs nothing.
    units: ['userid'],
    logFile: env.PLANOUT_LOG_FILE ?? './planout-exposures.jsonl',
    logSink,
    exposureCache,
    definitions: new FolderDefinitionSource({ dir: definitionsDir(env) }),
  };
}

@Module({
  imports: [PlanoutModule.forRootAsync({ useFactory: () => sampleOptions() }), TerminusModule],
  controllers: [AppController, DynamicController, HealthController],
  providers: [
    CheckoutService,
    PlanoutHealthIndicator,
    PlanoutPrometheus,
    // A registry per app (tests start several in one process); leave this provider out to
    // report into prom-client's global `register` next to your other metrics.
    { provide: PLANOUT_PROMETHEUS_REGISTRY, useFactory: () => new Registry() },
    // Exposures as span events when an OpenTelemetry SDK is running; nothing otherwise.
    PlanoutOpenTelemetry,
  ],
})
export class AppModule {}
