// Diagnostic: this library's CPU per request of the bench's @Param route, without HTTP.
// Runs what Nest runs for one request of the bench's PlanoutController (bench/http/planout-route.ts: the global
// interceptor, then the three @Param factories, each with its own ExecutionContextHost) in a
// loop, and drains the exposures every 64 requests (JSON-lines sink, default cache, SRM on);
// a "baseline" loop allocates the same request objects and contexts and runs nothing of ours.
// Fast and far less noisy than an HTTP A/B (bench/http-ab.mjs), which decides in the end.
// Requests are shaped as Fastify's (a raw Node request inside a request object) or, with `express`, as
// Express 5's (a Node request whose prototype is the app's `request`, its query a getter parsing `url`).
// Usage (after `npx tsc -p tsconfig.bench.json`):
//   node dist-bench/bench/request-path.js [requests=200000] [rounds=7] [fastify|express] [loops=baseline,floor_ids,ours]
// One loop alone (`ours`) suits a profile of that path only: CPU (--cpu-prof) or allocations (bench/alloc-profile.mjs).
import 'reflect-metadata';
import { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Module, type ClassProvider, type ExecutionContext, type NestInterceptor, type OnApplicationShutdown } from '@nestjs/common';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants.js';
import { NestFactory } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { of } from 'rxjs';
import { ExposureCache, LogSink, PlanoutInterceptor, PlanoutModule } from '../src/index.js';
import { ExposureDispatcher } from '../src/nest/exposure-dispatcher.js';
import { floorApp } from './http/floor-app.js';
import { Exp1, PlanoutController, userInputs } from './http/planout-route.js';
import { Exp1 as CoreExp1 } from './lib/experiments.js';

interface CustomParam {
  index: number;
  data: unknown;
  factory: (data: unknown, ctx: ExecutionContext) => unknown;
}

const requests = Number(process.argv[2] ?? 200_000);
const rounds = Number(process.argv[3] ?? 7);
const shape = process.argv[4] ?? 'fastify';
if (shape !== 'fastify' && shape !== 'express') throw new Error(`request shape must be fastify or express, not ${shape}`);
const dir = mkdtempSync(join(tmpdir(), 'planout-request-path-'));

async function main(): Promise<void> {
  @Module({
    imports: [
      PlanoutModule.forRoot({
        experiments: [Exp1],
        inputs: userInputs,
        logFile: join(dir, 'exposures.jsonl'),
        // The HTTP server's diagnostics (BENCH_SINK=noop, BENCH_CACHE=noop, BENCH_SRM=off), to split the route's work.
        ...(process.env.BENCH_SINK === 'noop' ? { logSink: new (class extends LogSink { write(): void {} })() } : {}),
        ...(process.env.BENCH_CACHE === 'noop'
          ? {
              exposureCache: new (class extends ExposureCache {
                has(): boolean {
                  return false;
                }
                mark(): void {}
              })(),
            }
          : {}),
        ...(process.env.BENCH_SRM === 'off' ? { srm: false as const } : {}),
      }),
    ],
    controllers: [PlanoutController],
  })
  class App {}
  const app = await NestFactory.createApplicationContext(App, { logger: ['error', 'warn'] });
  // The HTTP bench's floor with ids (bench/http/floor-app.ts): its interceptor and its batched drain.
  const checksum = (new CoreExp1({ userid: 0 }) as unknown as { computeChecksum(): string }).computeChecksum();
  const floorModule = floorApp(join(dir, 'floor.jsonl'), checksum, true);
  const FloorInterceptor = (floorModule.providers![0] as ClassProvider<NestInterceptor & OnApplicationShutdown>).useClass;
  const floorInterceptor = new FloorInterceptor();
  const interceptor = app.get(PlanoutInterceptor);
  const dispatcher = app.get(ExposureDispatcher);
  const handler = PlanoutController.prototype.r;
  const metadata = Reflect.getMetadata(ROUTE_ARGS_METADATA, PlanoutController, 'r') as Record<string, CustomParam>;
  const params = Object.values(metadata).filter((p) => typeof p.factory === 'function');
  if (params.length !== 3) throw new Error(`expected the three @Param factories, found ${params.length}`);
  const next = { handle: () => of(null) };
  const socket = new Socket();
  let unit = 0;

  // Express has no type declarations here; only its app's request prototype is used.
  const express = createRequire(import.meta.url)('express') as () => { request: object };
  const expressRequest = express().request;
  /** One request's objects as Fastify (a raw Node request, a Fastify-like request) or Express makes them. */
  const request = (): object => {
    const raw = new IncomingMessage(socket);
    const u = String((unit++ * 7919) % 1_000_000);
    if (shape === 'fastify') return { raw, query: { u } };
    raw.url = `/r?u=${u}`;
    return Object.setPrototypeOf(raw, expressRequest) as object;
  };
  const host = (req: object) => {
    const ctx = new ExecutionContextHost([req, undefined, undefined], PlanoutController, handler);
    ctx.setType('http');
    return ctx;
  };

  // BENCH_COOL_KB (diagnostic): before each request, read this many KB of a 32 MB array (a new
  // stretch each time), as a server's other work evicts the CPU caches between two requests; the
  // baseline reads the same, so what a loop costs over it is what the request's code and data
  // cost from cold caches.
  const coolLines = Math.floor((Number(process.env.BENCH_COOL_KB ?? 0) * 1024) / 64);
  const coolArea = new Float64Array(coolLines > 0 ? (32 << 20) / 8 : 0);
  let coolAt = 0;
  let cooled = 0;

  // BENCH_COOL_CODE (diagnostic): before each request, also run this many distinct generated
  // functions (about 2 KB of machine code each, optimized before the rounds), as a server's HTTP
  // parsing, routing and framework code evicts the instruction cache and the branch predictor's
  // state between two requests; the baseline runs the same, so what a loop costs over it is what
  // the request's code costs when it is not hot.
  const coolCode = Array.from({ length: Number(process.env.BENCH_COOL_CODE ?? 0) }, (_, f) => {
    let body = 'let x = seed | 0;\n';
    for (let s = 0; s < 200; s++) body += `x = (Math.imul(x ^ ${(f * 7919 + s * 104729) % 65521}, ${2 * ((f * 31 + s) % 1000) + 1}) + ${s}) | 0;\n`;
    return new Function('seed', body + 'return x;') as (seed: number) => number;
  });
  for (let w = 0; w < 20_000; w++) for (const fn of coolCode) cooled += fn(w);
  /** Both coolings (each is off unless its variable is set), before every request of every loop. */
  const cool = (): void => {
    for (let line = 0; line < coolLines; line++) {
      cooled += coolArea[coolAt]!;
      coolAt = (coolAt + 8) % coolArea.length;
    }
    for (let f = 0; f < coolCode.length; f++) cooled += coolCode[f]!(f);
  };

  // BENCH_DRAIN_EVERY (diagnostic): ours drains every this many requests (default 64); under HTTP a
  // drain takes what 5 ms brought, about 10 to 30 records at the bench's rates.
  const drainEvery = Number(process.env.BENCH_DRAIN_EVERY ?? 64);
  if (!Number.isInteger(drainEvery) || drainEvery < 1) throw new Error(`BENCH_DRAIN_EVERY must be a positive integer, not ${process.env.BENCH_DRAIN_EVERY}`);

  const loops = {
    baseline: async (): Promise<number> => {
      let sink = 0;
      for (let i = 0; i < requests; i++) {
        cool();
        const req = request();
        host(req);
        for (let p = 0; p < params.length; p++) sink += host(req) === undefined ? 1 : 0;
        if ((i & 4095) === 4095) await new Promise(setImmediate);
      }
      return sink;
    },
    floor_ids: async (): Promise<number> => {
      let sink = 0;
      for (let i = 0; i < requests; i++) {
        cool();
        const req = request();
        floorInterceptor.intercept(host(req), next as never);
        sink += Object.getOwnPropertySymbols(req).length;
        if ((i & 4095) === 4095) await new Promise(setImmediate);
      }
      return sink;
    },
    ours: async (): Promise<number> => {
      let sink = 0;
      for (let i = 0; i < requests; i++) {
        cool();
        const req = request();
        interceptor.intercept(host(req), next as never);
        for (let p = 0; p < params.length; p++) sink += params[p]!.factory(params[p]!.data, host(req)) as number;
        if (i % drainEvery === drainEvery - 1) dispatcher.drainNow();
        // The sink writes its file in the background: let it, as a server's event loop would.
        if ((i & 4095) === 4095) await new Promise(setImmediate);
      }
      dispatcher.drainNow();
      return sink;
    },
  };
  const chosen = (process.argv[5]?.split(',') ?? Object.keys(loops)) as Array<keyof typeof loops>;
  for (const name of chosen) if (!(name in loops)) throw new Error(`no loop ${name}: choose among ${Object.keys(loops).join(', ')}`);
  const times: Partial<Record<keyof typeof loops, number[]>> = {};
  for (let round = 0; round < rounds; round++) {
    for (const name of chosen) {
      const start = process.hrtime.bigint();
      await loops[name]();
      (times[name] ??= []).push(Number(process.hrtime.bigint() - start) / requests);
      await dispatcher.whenIdle();
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const base = times.baseline === undefined ? undefined : median(times.baseline);
  const over = (name: 'floor_ids' | 'ours'): string =>
    times[name] === undefined ? '' : `, ${name} ${(median(times[name]) - (base ?? 0)).toFixed(0)} ns`;
  console.log(
    base === undefined
      ? `${shape} (no baseline loop): per request${over('floor_ids')}${over('ours')}`
      : `${shape}: baseline ${base.toFixed(0)} ns/request; over it${over('floor_ids')}${over('ours')}`,
  );
  if (times.ours !== undefined) console.log(`  rounds (ours): ${times.ours.map((t) => t.toFixed(0)).join(' ')}`);
  if (coolLines > 0 || coolCode.length > 0) {
    console.log(`  cooled before each request: ${coolLines * 64} bytes read, ${coolCode.length} generated functions run (sum ${cooled})`);
  }
  await app.close();
  floorInterceptor.onApplicationShutdown();
}

void main()
  .catch((error: unknown) => {
    process.stderr.write(`${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(() => rmSync(dir, { recursive: true, force: true }));
