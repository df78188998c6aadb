// nestjs-planout/testing: assert on what a Nest app logged.
import { Module, type DynamicModule, type INestApplicationContext } from '@nestjs/common';
import type { PlanoutLogRecord } from '../core/log-record.js';
import { InMemoryExposureCache } from '../nest/caches/in-memory-exposure.cache.js';
import { ExposureCache } from '../nest/exposure-cache.interface.js';
import { ExposureDispatcher } from '../nest/exposure-dispatcher.js';
import { LogSink } from '../nest/log-sink.interface.js';
import type { PlanoutModuleOptions } from '../nest/planout-options.interface.js';
import { PlanoutModule } from '../nest/planout.module.js';
import { InMemorySink } from '../nest/sinks/in-memory.sink.js';

export { InMemorySink } from '../nest/sinks/in-memory.sink.js';

/** The records an app logged, read after the dispatcher is idle. */
export class PlanoutRecorder {
  constructor(
    readonly sink: InMemorySink,
    private readonly dispatcher: ExposureDispatcher,
    private readonly cache: ExposureCache,
  ) {}

  /** Waits until every record logged so far reached the sink. Call it before asserting. */
  async flush(): Promise<void> {
    await this.dispatcher.whenIdle();
  }

  get records(): readonly PlanoutLogRecord[] {
    return this.sink.records;
  }

  /** Exposure records, of experiment `name` if given. */
  exposures(name?: string): PlanoutLogRecord[] {
    return this.sink.byEvent('exposure').filter((r) => name === undefined || r.name === name);
  }

  /** Records of event `type` (e.g. `'conversion'`), of experiment `name` if given. */
  events(type: string, name?: string): PlanoutLogRecord[] {
    return this.sink.byEvent(type).filter((r) => name === undefined || r.name === name);
  }

  /**
   * Forgets the records and, with the default test cache, the deduplicated exposures.
   * Records still queued (logged by an earlier test that did not flush) are delivered
   * first, so they are forgotten too instead of arriving after the clear.
   */
  clear(): void {
    this.dispatcher.drainNow();
    this.sink.clear();
    if (this.cache instanceof InMemoryExposureCache) this.cache.clear();
  }
}

/** The recorder of `app`, whose `LogSink` must be an {@link InMemorySink} (see {@link PlanoutTestingModule}). */
export function getPlanoutRecorder(app: INestApplicationContext): PlanoutRecorder {
  const sink = app.get(LogSink, { strict: false });
  if (!(sink instanceof InMemorySink)) {
    throw new TypeError(
      'getPlanoutRecorder: the LogSink is not an InMemorySink; use PlanoutTestingModule or .overrideProvider(LogSink).useValue(new InMemorySink())',
    );
  }
  return new PlanoutRecorder(sink, app.get(ExposureDispatcher, { strict: false }), app.get(ExposureCache, { strict: false }));
}

/**
 * `PlanoutModule.forRoot` for tests: records go to an {@link InMemorySink}, exposures are
 * deduplicated in memory, the module is global. Read them with {@link getPlanoutRecorder}.
 */
@Module({})
export class PlanoutTestingModule {
  static forRoot(options: Omit<PlanoutModuleOptions, 'logSink'> = {}): DynamicModule {
    return PlanoutModule.forRoot({
      ...options,
      logSink: new InMemorySink(),
      exposureCache: options.exposureCache ?? new InMemoryExposureCache(),
      isGlobal: true,
    });
  }
}
