import { Module } from '@nestjs/common';
import { PlanoutModule, type ExposureCache, type LogSink, type PlanoutModuleOptions } from '../src/index.js';
import { AppController, CheckoutService } from './app.controller.js';
import {
  BannerNamespace,
  CheckoutButtonExperiment,
  Exp1,
  GermanyExperiment,
  PriceExperiment,
  userInputs,
} from './experiments.js';

/**
 * Embedded defaults (a JSON-lines file, an in-memory cache); `REDIS_URL` switches the
 * exposure cache to Redis and `DATABASE_URL` the sink to PostgreSQL. The backends are
 * imported only when configured.
 */
export async function sampleOptions(env: NodeJS.ProcessEnv = process.env): Promise<PlanoutModuleOptions> {
  let exposureCache: ExposureCache | undefined;
  let logSink: LogSink | undefined;
  if (env.REDIS_URL) {
    const { createRedisExposureCache } = await import('../src/nest/caches/redis-exposure.cache.js');
    exposureCache = createRedisExposureCache({ url: env.REDIS_URL });
  }
  if (env.DATABASE_URL) {
    const { createPostgresLogSink } = await import('../src/nest/sinks/postgres.sink.js');
    logSink = createPostgresLogSink({ connectionString: env.DATABASE_URL });
  }
  return {
    experiments: [Exp1, GermanyExperiment, PriceExperiment, CheckoutButtonExperiment],
    namespaces: [BannerNamespace],
    inputs: userInputs,
    logFile: env.PLANOUT_LOG_FILE ?? './planout-exposures.jsonl',
    logSink,
    exposureCache,
  };
}

@Module({
  imports: [PlanoutModule.forRootAsync({ useFactory: () => sampleOptions() })],
  controllers: [AppController],
  providers: [CheckoutService],
})
export class AppModule {}
