// One Nest app for the HTTP benchmark, run in its own process by bench/suites/http.ts.
// argv[2] is a JSON ServerConfig. Binds 127.0.0.1 on an ephemeral port and reports it over IPC.
import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { Controller, Get, Injectable, Module, Query, type CallHandler, type DynamicModule, type NestInterceptor, type ExecutionContext } from '@nestjs/common';
import { APP_INTERCEPTOR, NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { Observable } from 'rxjs';
import { Assignment, Experiment, ExposureCache, ManualExposure, LogSink, Param, PlanoutModule, UniformChoice } from '../../src/index.js';
import { Exp1, PlanoutController, userInputs, type Exp1Params, type UserInputs } from './planout-route.js';

export interface ServerConfig {
  adapter: 'express' | 'fastify';
  variant: 'bare' | 'noop' | 'floor' | 'floor_ids' | 'floor_ids_params' | 'planout' | 'openfeature' | 'planout_noread' | 'planout_manual' | 'planout_async';
  /** Registered experiments (Exp1 plus fillers); planout variant only. */
  experiments: number;
  /** Where the default JSON-lines sink writes (a temp dir the suite deletes). */
  logFile: string;
}

const config = JSON.parse(process.argv[2]!) as ServerConfig;


/** Registered but never read by the route: what registration alone costs. */
function filler(i: number): Function {
  class Filler {
    assign(params: Assignment<{ x: number }>, inputs: UserInputs): void {
      params.set('x', new UniformChoice({ choices: [1, 2, 3], unit: inputs.userid }));
    }
  }
  Experiment({ name: `Filler${i}` })(Filler);
  return Filler;
}

@Controller()
class BareController {
  @Get('r')
  r(@Query('u') u: string): Exp1Params & { u: string } {
    return { u, group_size: 1, specific_goal: 1, ratings_goal: 8 };
  }
}

/** Diagnostic: the same params with exposure logging off (isolates the exposure pipeline). */
@Controller()
class ManualExposureController {
  @Get('r')
  @ManualExposure()
  r(
    @Query('u') u: string,
    @Param(Exp1, 'group_size') group_size: number,
    @Param(Exp1, 'specific_goal') specific_goal: number,
    @Param(Exp1, 'ratings_goal') ratings_goal: number,
  ): Exp1Params & { u: string } {
    return { u, group_size, specific_goal, ratings_goal };
  }
}

/** Remembers nothing: every exposure is written (diagnostic). */
class NoopCache extends ExposureCache {
  has(): boolean {
    return false;
  }
  mark(): void {}
}

/** Accepts every record and keeps none (diagnostic). */
class NoopSink extends LogSink {
  write(): void {}
}

@Injectable()
class NoopInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle();
  }
}

async function appModule(): Promise<DynamicModule> {
  switch (config.variant) {
    case 'bare':
      return { module: class BareApp {}, controllers: [BareController] };
    case 'noop':
      return {
        module: class NoopApp {},
        controllers: [BareController],
        providers: [{ provide: APP_INTERCEPTOR, useClass: NoopInterceptor }],
      };
    case 'planout':
    case 'planout_noread':
    case 'planout_manual':
    case 'planout_async':
      return {
        module: class PlanoutApp {},
        imports: [
          PlanoutModule.forRoot({
            experiments: [Exp1, ...Array.from({ length: config.experiments - 1 }, (_, i) => filler(i) as typeof Exp1)],
            inputs: userInputs,
            logFile: config.logFile,
            // Diagnostics for bench/http-ab.mjs (route:BENCH_SINK=noop): what the sink, the cache and the SRM alarm cost.
            ...(process.env.BENCH_SINK === 'noop' ? { logSink: new NoopSink() } : {}),
            ...(process.env.BENCH_CACHE === 'noop' ? { exposureCache: new NoopCache() } : {}),
            ...(process.env.BENCH_SRM === 'off' ? { srm: false as const } : {}),
            // Nothing here injects PlanoutService, so 'auto' leaves AsyncLocalStorage off;
            // planout_async (diagnostic) forces it on, as an app with services using it gets.
            ...(config.variant === 'planout_async' ? { asyncContext: true } : {}),
          }),
        ],
        // planout_noread (diagnostic): the module and its interceptor, a route that reads nothing.
        controllers: [config.variant === 'planout' || config.variant === 'planout_async' ? PlanoutController : config.variant === 'planout_manual' ? ManualExposureController : BareController],
      };
    case 'floor':
    case 'floor_ids':
    case 'floor_ids_params': {
      const { floorApp, floorExp1, floorExposureId } = await import('./floor-app.js');
      const { exposureRecordId } = await import('../../src/nest/record-id.js');
      const { Exp1: CoreExp1 } = await import('../lib/experiments.js');
      // The floor's draws must be Exp1's, or its speed means nothing.
      for (let u = 0; u < 2_000; u++) {
        const exp = new CoreExp1({ userid: u });
        exp.setAutoExposureLogging(false);
        const ours = exp.getParams();
        const floor = floorExp1(String(u));
        if ((Object.keys(ours) as Array<keyof Exp1Params>).some((k) => floor[k] !== ours[k])) throw new Error(`floor Exp1 differs from ours for unit ${u}`);
      }
      const checksum = (new CoreExp1({ userid: 0 }) as unknown as { computeChecksum(): string }).computeChecksum();
      // And its ids the library's, for the records the PlanOut route writes (string units from the query).
      for (let u = 0; u < 2_000; u++) {
        const userid = String(u);
        const params = floorExp1(userid);
        const record = { name: 'Exp1', salt: 'Exp1', inputs: { userid }, params, event: 'exposure', time: 0, checksum };
        if (floorExposureId(userid, params, checksum) !== exposureRecordId(record)) throw new Error(`floor record id differs from ours for unit ${u}`);
      }
      // floor_ids_params (diagnostic, bench/http-ab.mjs): the floor with ids, its params read through three custom param decorators.
      return floorApp(config.logFile, checksum, config.variant !== 'floor', config.variant === 'floor_ids_params');
    }
    case 'openfeature':
      // Imported only here: @openfeature/server-sdk needs its peer @openfeature/core.
      return (await import('./openfeature-app.js')).openFeatureApp();
  }
}

@Module({})
class Root {}

async function main(): Promise<void> {
  const dynamic = await appModule();
  const rootModule: DynamicModule = { module: Root, imports: [dynamic] };
  const app =
    config.adapter === 'fastify'
      ? await NestFactory.create(rootModule, new FastifyAdapter(), { logger: ['error', 'warn'] })
      : await NestFactory.create(rootModule, { logger: ['error', 'warn'] });
  app.enableShutdownHooks();
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };
  process.send?.({ ready: true, port: address.port });
  // Profiling (bench/profile-http.mjs): a CPU profile of the measured load only, not of startup.
  let profiler: Session | undefined;
  process.on('message', (message: { stop?: boolean; profileStart?: boolean; profileStop?: string }) => {
    if (message.profileStart) {
      profiler = new Session();
      profiler.connect();
      profiler.post('Profiler.enable', () => profiler!.post('Profiler.start', () => process.send?.({ profiling: true })));
    }
    if (message.profileStop !== undefined && profiler !== undefined) {
      const path = message.profileStop;
      profiler.post('Profiler.stop', (error, result) => {
        if (error === null) writeFileSync(path, JSON.stringify(result.profile));
        profiler!.disconnect();
        profiler = undefined;
        process.send?.({ profiled: path });
      });
    }
    if (message.stop) {
      const rss = process.resourceUsage().maxRSS;
      void app.close().then(() => process.send?.({ stopped: true, maxRssKb: rss }, () => process.exit(0)));
    }
  });
}

void main().catch((error: unknown) => {
  process.stderr.write(`bench server failed: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
