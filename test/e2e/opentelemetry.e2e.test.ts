import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { context, trace } from '@opentelemetry/api';
import { AsyncHooksContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ExpressAdapter } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { InMemorySink, LogSink, type PlanoutLogRecord } from '../../src/index.js';
import { getPlanoutRecorder, type PlanoutRecorder } from '../../src/testing/index.js';
import { AppModule } from '../../sample-app/app.module.js';

// An OpenTelemetry SDK as an app would run it: a tracer provider exporting to memory, async-hooks
// context, and one server span per HTTP request (what the HTTP instrumentation does).
describe('OpenTelemetry: exposures as feature_flag.evaluation span events (sample app, real HTTP)', () => {
  const exporter = new InMemorySpanExporter();
  const contextManager = new AsyncHooksContextManager();
  let app: INestApplication;
  let recorder: PlanoutRecorder;

  beforeAll(async () => {
    context.setGlobalContextManager(contextManager.enable());
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).overrideProvider(LogSink).useValue(new InMemorySink()).compile();
    app = moduleRef.createNestApplication(new ExpressAdapter(), { logger: false });
    const tracer = trace.getTracer('test-http');
    // Before the routes (init), as the HTTP instrumentation's span wraps the whole request.
    app.use((req: { method: string; url: string }, res: { on(event: 'finish', fn: () => void): void }, next: () => void) => {
      tracer.startActiveSpan(`${req.method} ${req.url}`, (span) => {
        res.on('finish', () => span.end());
        next();
      });
    });
    await app.init();
    recorder = getPlanoutRecorder(app);
  });

  afterAll(async () => {
    await app.close();
    trace.disable();
    context.disable();
  });

  async function spanOf(path: string, userid: string) {
    exporter.reset();
    recorder.clear();
    await request(app.getHttpServer()).get(path).set('x-user-id', userid).expect(200);
    await recorder.flush();
    // The span ends on the response's `finish`, which may come just after the client has the body.
    for (let i = 0; i < 100 && exporter.getFinishedSpans().length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    const spans = exporter.getFinishedSpans();
    expect(spans).toHaveLength(1);
    return { span: spans[0]!, records: recorder.records as PlanoutLogRecord[] };
  }

  it('GET /exp1: one event with the experiment, params, unit, checksum and provider', async () => {
    const { span, records } = await spanOf('/exp1', '42');
    expect(records).toHaveLength(1);
    const record = records[0]!;
    expect(span.events.map((e) => e.name)).toEqual(['feature_flag.evaluation']);
    expect(span.events[0]!.attributes).toEqual({
      'feature_flag.key': 'Exp1',
      'feature_flag.provider.name': 'nestjs-planout',
      'feature_flag.result.variant': JSON.stringify(record.params, Object.keys(record.params).sort()),
      'feature_flag.context.id': '42',
      'feature_flag.version': record.checksum,
    });
    expect(record.checksum).toMatch(/^[0-9a-f]{8}$/);
  });

  it('GET /banner: the namespace is the flag set', async () => {
    // A unit whose segment belongs to one of the namespace's experiments.
    for (let u = 0; u < 50; u++) {
      const { span, records } = await spanOf('/banner', String(u));
      if (records.length === 0) continue;
      expect(span.events[0]!.attributes).toMatchObject({
        'feature_flag.key': records[0]!.name,
        'feature_flag.set.id': 'BannerNamespace',
        'feature_flag.context.id': String(u),
      });
      expect(records[0]!.name).toMatch(/^BannerNamespace-/);
      return;
    }
    throw new Error('no unit of 50 in a namespace experiment');
  });

  it('no exposure (manual exposure off): no event', async () => {
    const { span, records } = await spanOf('/manual', '7');
    expect(records).toHaveLength(0);
    expect(span.events).toEqual([]);
  });
});
