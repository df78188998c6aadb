import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Controller, Get, Inject, Injectable, type INestApplication } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import request from 'supertest';
import { Param, PlanoutService, type PlanoutModuleOptions } from '../../src/index.js';
import { PlanoutRegistry } from '../../src/nest/planout.registry.js';
import { getPlanoutRecorder, PlanoutTestingModule } from '../../src/testing/index.js';
import { ColorExperiment, DeepService, Exp1, GroupSizes, testInputs } from './fixtures.js';
import { createApp, PLATFORMS } from './support.js';

const options: PlanoutModuleOptions = { experiments: [Exp1, ColorExperiment], inputs: testInputs };

/** Reads params through the decorators only: nothing injects PlanoutService. */
@Controller()
class ParamsOnlyController {
  constructor(private readonly moduleRef: ModuleRef) {}

  @Get('param')
  param(@Param(ColorExperiment, 'color') color: string): Record<string, unknown> {
    return { color };
  }

  @Get('nothing')
  nothing(): Record<string, unknown> {
    return { ok: true };
  }

  /** Reaches PlanoutService without injection, which 'auto' cannot see at bootstrap. */
  @Get('looked-up')
  async lookedUp(): Promise<Record<string, unknown>> {
    await new Promise((resolve) => setTimeout(resolve, 1));
    const planout = this.moduleRef.get(PlanoutService, { strict: false });
    return { color: planout.experiment(ColorExperiment).get('color', 'none') };
  }
}

@Injectable()
class PropertyInjected {
  @Inject(PlanoutService) readonly planout!: PlanoutService;
}

@Controller()
class DeepController {
  constructor(private readonly deep: DeepService) {}

  @Get('deep')
  async deepColor(): Promise<Record<string, unknown>> {
    return { color: await this.deep.color(false) };
  }
}

async function asyncContextOf(platform: 'express' | 'fastify', metadata: { providers?: unknown[]; controllers?: Function[] }, extra: Partial<PlanoutModuleOptions> = {}) {
  const app = await createApp(platform, {
    imports: [PlanoutTestingModule.forRoot({ ...options, ...extra })],
    controllers: (metadata.controllers ?? [ParamsOnlyController]) as never[],
    providers: [GroupSizes, Exp1, ...((metadata.providers ?? []) as never[])],
  });
  return { app, asyncContext: app.get(PlanoutRegistry).asyncContext };
}

describe.each(PLATFORMS)('asyncContext on %s', (platform) => {
  let app: INestApplication | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it("'auto' is off when nothing injects PlanoutService; the decorators still read and log", async () => {
    const built = await asyncContextOf(platform, {});
    app = built.app;
    expect(built.asyncContext).toBe(false);
    const res = await request(app.getHttpServer()).get('/param').query({ userid: 'amy' }).expect(200);
    await request(app.getHttpServer()).get('/nothing').query({ userid: 'amy' }).expect(200);
    await request(app.getHttpServer()).get('/param').query({ userid: 'amy' }).expect(200);
    const recorder = getPlanoutRecorder(app);
    await recorder.flush();
    expect(recorder.exposures().map((r) => [r.name, r.inputs.userid, r.params.color])).toEqual([['ColorExperiment', 'amy', res.body.color]]);
    // Outside any context the error says why (and, under 'auto', turns it on for later requests).
    expect(() => app!.get(PlanoutService).experiment(ColorExperiment)).toThrow(/asyncContext is off/);
    expect(app.get(PlanoutRegistry).asyncContext).toBe(true);
  });

  it("'auto' is on when a provider injects PlanoutService by constructor, and services reach the request after an await", async () => {
    const built = await asyncContextOf(platform, { providers: [DeepService], controllers: [DeepController] });
    app = built.app;
    expect(built.asyncContext).toBe(true);
    const res = await request(app.getHttpServer()).get('/deep').query({ userid: 'bea' }).expect(200);
    expect(['red', 'blue']).toContain(res.body.color);
  });

  it("'auto' sees property injection and factory providers", async () => {
    const byProperty = await asyncContextOf(platform, { providers: [PropertyInjected] });
    await byProperty.app.close();
    expect(byProperty.asyncContext).toBe(true);
    const byFactory = await asyncContextOf(platform, {
      providers: [{ provide: 'COLOR_OF', inject: [PlanoutService], useFactory: (planout: PlanoutService) => planout }],
    });
    await byFactory.app.close();
    expect(byFactory.asyncContext).toBe(true);
  });

  it('false turns it off even when a service injects PlanoutService; true turns it on when none does', async () => {
    const off = await asyncContextOf(platform, { providers: [DeepService], controllers: [DeepController] }, { asyncContext: false });
    await off.app.close();
    expect(off.asyncContext).toBe(false);
    const on = await asyncContextOf(platform, {}, { asyncContext: true });
    app = on.app;
    expect(on.asyncContext).toBe(true);
    const res = await request(app.getHttpServer()).get('/looked-up').query({ userid: 'cal' }).expect(200);
    expect(['red', 'blue']).toContain(res.body.color);
  });

  it("under 'auto', a PlanoutService found without injection fails once with a hint, then works from the next request", async () => {
    const built = await asyncContextOf(platform, {});
    app = built.app;
    expect(built.asyncContext).toBe(false);
    await request(app.getHttpServer()).get('/looked-up').query({ userid: 'dan' }).expect(500);
    expect(app.get(PlanoutRegistry).asyncContext).toBe(true);
    const res = await request(app.getHttpServer()).get('/looked-up').query({ userid: 'dan' }).expect(200);
    expect(['red', 'blue']).toContain(res.body.color);
  });
});
