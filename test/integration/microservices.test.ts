import 'reflect-metadata';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Controller, type INestApplication, type INestMicroservice, type LoggerService } from '@nestjs/common';
import { ClientProxyFactory, EventPattern, MessagePattern, Payload, Transport, type ClientProxy, type MicroserviceOptions } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { randomUUID } from 'node:crypto';
import { firstValueFrom } from 'rxjs';
import request from 'supertest';
import { ExperimentInstance, NamespaceParam, Param, PlanoutMetrics, PlanoutService, type ExperimentInstanceOf } from '../../src/index.js';
import { getPlanoutRecorder, PlanoutTestingModule, type PlanoutRecorder } from '../../src/testing/index.js';
import { ColorExperiment, Exp1, GroupSizes, TestNamespace } from '../e2e/fixtures.js';
import { HttpVariantController, transportOptions, type VariantView } from '../e2e/transport-fixtures.js';

// Subjects (NATS) and channels (Redis) unique to this run: several runs may share the servers.
const RUN = `planout-test-${randomUUID().slice(0, 8)}`;
const VARIANT = `${RUN}.variant`;
const CONVERT = `${RUN}.convert`;
const SERVICE_COLOR = `${RUN}.service-color`;

@Controller()
class RpcVariantController {
  constructor(private readonly planout: PlanoutService) {}

  @MessagePattern(VARIANT)
  variant(
    @Param(Exp1, 'group_size', -1) size: number,
    @Param(ColorExperiment, 'color', 'none') color: string,
    @NamespaceParam(TestNamespace, 'label', 'default') label: string,
    @ExperimentInstance(Exp1) exp: ExperimentInstanceOf<typeof Exp1>,
  ): VariantView {
    return { group_size: size, color, label: String(label), in_exp1: exp.inExperiment };
  }

  /** PlanoutService needs the interceptor's AsyncLocalStorage context. */
  @MessagePattern(SERVICE_COLOR)
  serviceColor(): string {
    return this.planout.experiment(ColorExperiment).get('color', 'none');
  }

  @EventPattern(CONVERT)
  convert(@Payload() body: { amount?: number }): void {
    this.planout.logEvent(Exp1, 'conversion', { amount: body.amount });
  }
}

type TransportName = 'NATS' | 'Redis';
const TRANSPORTS: Record<TransportName, MicroserviceOptions> = {
  NATS: { transport: Transport.NATS, options: { servers: ['nats://127.0.0.1:4222'] } },
  Redis: { transport: Transport.REDIS, options: { host: '127.0.0.1', port: 6379 } },
};

/** Errors the app logged (the RPC exception filter logs what it hides from clients). */
class CapturingLogger implements LoggerService {
  readonly errors: string[] = [];
  log(): void {}
  warn(): void {}
  debug(): void {}
  verbose(): void {}
  error(message: unknown): void {
    this.errors.push(message instanceof Error ? message.message : String(message));
  }
}

const metadata = {
  imports: [PlanoutTestingModule.forRoot(transportOptions)],
  controllers: [RpcVariantController, HttpVariantController],
  providers: [GroupSizes, Exp1],
};

async function waitFor(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

type Mode = 'standalone' | 'hybrid, inheritAppConfig' | 'hybrid, no inheritAppConfig';
const MODES: Mode[] = ['standalone', 'hybrid, inheritAppConfig', 'hybrid, no inheritAppConfig'];

describe.each(Object.keys(TRANSPORTS) as TransportName[])('microservice over %s', (transportName) => {
  const options = TRANSPORTS[transportName];

  describe.each(MODES)('%s', (mode) => {
    let app: INestApplication | INestMicroservice;
    let client: ClientProxy;
    let recorder: PlanoutRecorder;
    let metrics: PlanoutMetrics;
    let planout: PlanoutService;
    const logger = new CapturingLogger();

    beforeAll(async () => {
      const moduleRef = await Test.createTestingModule(metadata).setLogger(logger).compile();
      if (mode === 'standalone') {
        app = moduleRef.createNestMicroservice<MicroserviceOptions>({ ...options, logger });
        await app.listen();
      } else {
        const http = moduleRef.createNestApplication({ logger });
        http.connectMicroservice<MicroserviceOptions>(options, { inheritAppConfig: mode === 'hybrid, inheritAppConfig' });
        await http.startAllMicroservices();
        await http.init();
        app = http;
      }
      client = ClientProxyFactory.create(options as Parameters<typeof ClientProxyFactory.create>[0]);
      await client.connect();
      recorder = getPlanoutRecorder(app as INestApplication);
      metrics = app.get(PlanoutMetrics);
      planout = app.get(PlanoutService);
    });
    afterAll(async () => {
      await client?.close();
      await app?.close();
    });
    beforeEach(() => recorder.clear());

    const send = <T>(pattern: string, data: unknown): Promise<T> => firstValueFrom(client.send<T>(pattern, data));

    it('@MessagePattern handlers get the payload as inputs: the same params as outside a request', async () => {
      for (const userid of ['r1', 'r2', 'r3']) {
        const view = await send<VariantView>(VARIANT, { userid });
        const exp1 = planout.create(Exp1, { userid }, { autoExposureLogging: false });
        const color = planout.create(ColorExperiment, { userid }, { autoExposureLogging: false });
        expect(view).toEqual({ group_size: exp1.get('group_size'), color: color.get('color'), label: expect.stringMatching(/^a[12]$/), in_exp1: true });
      }
    });

    it('logs one exposure per unit per message, deduplicated across messages', async () => {
      const before = metrics.snapshot().deduplicated;
      await send(VARIANT, { userid: 'rpc-dedupe' });
      await recorder.flush();
      // Two reads of Exp1 in one message share one instance: nothing reached the dedupe cache.
      expect(metrics.snapshot().deduplicated).toBe(before);
      await send(VARIANT, { userid: 'rpc-dedupe' });
      await recorder.flush();
      expect(recorder.exposures('Exp1').map((r) => r.inputs)).toEqual([{ userid: 'rpc-dedupe' }]);
      expect(recorder.exposures('ColorExperiment')).toHaveLength(1);
      expect(metrics.snapshot().deduplicated).toBeGreaterThan(before);
    });

    it('a message without a unit reads defaults, logs nothing and counts missingUnit', async () => {
      const before = metrics.snapshot().missingUnit;
      expect(await send(VARIANT, { userid: '' })).toEqual({ group_size: -1, color: 'none', label: 'default', in_exp1: false });
      expect(await send(VARIANT, { userid: null })).toEqual({ group_size: -1, color: 'none', label: 'default', in_exp1: false });
      await recorder.flush();
      expect(recorder.records).toEqual([]);
      expect(metrics.snapshot().missingUnit - before).toBe(6);
    });

    if (transportName === 'NATS') {
      it('the inputs resolver reads message headers through the RPC context', async () => {
        const withHeader = ClientProxyFactory.create({
          transport: Transport.NATS,
          options: { servers: ['nats://127.0.0.1:4222'], headers: { 'x-user-id': 'from-header' } },
        });
        try {
          const view = await firstValueFrom(withHeader.send<VariantView>(VARIANT, {}));
          expect(view.group_size).toBe(planout.create(Exp1, { userid: 'from-header' }, { autoExposureLogging: false }).get('group_size'));
          await recorder.flush();
          expect(recorder.exposures('Exp1').map((r) => r.inputs)).toEqual([{ userid: 'from-header' }]);
        } finally {
          await withHeader.close();
        }
      });
    }

    if (mode !== 'hybrid, no inheritAppConfig') {
      it('@EventPattern handlers log events of the message unit through PlanoutService, never for a missing unit', async () => {
        await firstValueFrom(client.emit(CONVERT, { amount: 1 }));
        await firstValueFrom(client.emit(CONVERT, { userid: 'rpc-buyer', amount: 9 }));
        await waitFor(() => recorder.records.length > 0, 'the conversion');
        await recorder.flush();
        expect(recorder.records).toEqual([
          expect.objectContaining({ name: 'Exp1', event: 'conversion', inputs: { userid: 'rpc-buyer' }, extra_data: { amount: 9 } }),
        ]);
        expect(await send(SERVICE_COLOR, { userid: 'svc' })).toBe(
          planout.create(ColorExperiment, { userid: 'svc' }, { autoExposureLogging: false }).get('color'),
        );
      });
    } else {
      it('without the interceptor, PlanoutService fails with an error that says what to do', async () => {
        await expect(send(SERVICE_COLOR, { userid: 'svc' })).rejects.toMatchObject({ message: 'Internal server error' });
        expect(logger.errors.some((e) => e.includes('inheritAppConfig: true') && e.includes('UseInterceptors(PlanoutInterceptor)'))).toBe(true);
      });
    }

    if (mode !== 'standalone') {
      it('the HTTP side of the hybrid app serves the same params', async () => {
        const res = await request((app as INestApplication).getHttpServer()).get('/variant').set('x-user-id', 'r1').expect(200);
        expect(res.body.group_size).toBe(planout.create(Exp1, { userid: 'r1' }, { autoExposureLogging: false }).get('group_size'));
      });
    }
  });
});

describe('QA overrides and messages', () => {
  it('are never read from a message payload, even one with a `headers` field', async () => {
    const options = TRANSPORTS.NATS;
    const moduleRef = await Test.createTestingModule({
      ...metadata,
      imports: [PlanoutTestingModule.forRoot({ ...transportOptions, overrides: { allow: () => true } })],
    }).compile();
    const app = moduleRef.createNestMicroservice<MicroserviceOptions>({ ...options, logger: false });
    await app.listen();
    const client = ClientProxyFactory.create(options as Parameters<typeof ClientProxyFactory.create>[0]);
    try {
      const forced = '{"ColorExperiment":{"color":"green"}}';
      const view = await firstValueFrom(client.send<VariantView>(VARIANT, { userid: 'qa-rpc', headers: { 'x-planout-overrides': forced } }));
      const color = app.get(PlanoutService).create(ColorExperiment, { userid: 'qa-rpc' }, { autoExposureLogging: false }).get('color');
      expect(view.color).toBe(color);
      expect(app.get(PlanoutMetrics).snapshot().overridesApplied).toBe(0);
    } finally {
      await client.close();
      await app.close();
    }
  });
});
