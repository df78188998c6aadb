import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { JsonLinesFileSink, PlanoutMetrics, PlanoutModule } from '../../src/index.js';
import { ColorExperiment, DeepService, Exp1, GroupSizes, TestController, testInputs } from './fixtures.js';
import { createApp, PLATFORMS } from './support.js';

let app: INestApplication | undefined;
let dir: string | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe.each(PLATFORMS)('hostile input through HTTP on %s', (platform) => {
  it('__proto__/constructor keys, very long strings and nested objects as units: no pollution, no crash, valid JSON lines', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'planout-bad-'));
    const file = path.join(dir, 'log.jsonl');
    const metrics = new PlanoutMetrics();
    app = await createApp(platform, {
      imports: [PlanoutModule.forRoot({ experiments: [Exp1, ColorExperiment], inputs: testInputs, logSink: new JsonLinesFileSink({ path: file, metrics }), metrics })],
      controllers: [TestController],
      providers: [GroupSizes, Exp1, DeepService],
    });
    const server = app.getHttpServer();
    // Node's default header limit is 16 KiB.
    const long = 'x'.repeat(12_000);
    await request(server).get('/param').query('userid[__proto__][polluted]=1&userid[constructor][prototype][polluted]=1').expect((res) => {
      expect(res.status).toBeLessThan(500);
    });
    await request(server).get('/param').query('userid[a][b][c]=1&userid[__proto__]=x').expect((res) => expect(res.status).toBeLessThan(500));
    await request(server).get('/param').set('x-user-id', long).expect(200);
    await request(server).get('/param').query({ userid: '__proto__' }).expect(200);
    await request(server).get('/param').query({ userid: 'constructor' }).expect(200);
    const convert = await request(server)
      .post('/convert')
      .set('content-type', 'application/json')
      .send('{"amount":{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"deep":[[[{"__proto__":1}]]]}}')
      .query({ userid: 'hostile' })
      .expect((res) => expect(res.status).toBeLessThan(500));
    // Fastify refuses `__proto__` in JSON bodies outright (400); Express parses and we log it.
    expect(convert.status).toBe(platform === 'fastify' ? 400 : 201);
    await app.close();
    app = undefined;

    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
    const lines = (await readFile(file, 'utf8')).split('\n').filter((l) => l !== '');
    const records = lines.map((l) => JSON.parse(l) as { inputs: { userid: unknown }; event: string });
    const units = records.filter((r) => r.event === 'exposure').map((r) => r.inputs.userid);
    expect(units).toEqual(expect.arrayContaining([long, '__proto__', 'constructor']));
    expect(records.some((r) => r.event === 'conversion')).toBe(platform === 'express');
    expect(metrics.snapshot()).toMatchObject({ failed: 0, dropped: 0 });
  });
});
