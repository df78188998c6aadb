import 'reflect-metadata';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import { MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { ExperimentInstance, NamespaceParam, Param, PlanoutMetrics, PlanoutService, type ExperimentInstanceOf } from '../../src/index.js';
import { getPlanoutRecorder, PlanoutTestingModule, type PlanoutRecorder } from '../../src/testing/index.js';
import { ColorExperiment, Exp1, GroupSizes, TestNamespace } from './fixtures.js';
import { createApp } from './support.js';
import { transportOptions, type VariantView } from './transport-fixtures.js';

@WebSocketGateway({ path: '/planout-ws' })
class VariantGateway {
  constructor(private readonly planout: PlanoutService) {}

  @SubscribeMessage('variant')
  variant(
    @Param(Exp1, 'group_size', -1) size: number,
    @Param(ColorExperiment, 'color', 'none') color: string,
    @NamespaceParam(TestNamespace, 'label', 'default') label: string,
    @ExperimentInstance(Exp1) exp: ExperimentInstanceOf<typeof Exp1>,
  ): { event: string; data: VariantView } {
    return { event: 'variant', data: { group_size: size, color, label: String(label), in_exp1: exp.inExperiment } };
  }

  @SubscribeMessage('convert')
  convert(@MessageBody() body: { amount?: number }): { event: string; data: { ok: boolean } } {
    this.planout.logEvent(Exp1, 'conversion', { amount: body.amount });
    return { event: 'converted', data: { ok: true } };
  }
}

/** A real client on a real connection; replies come back in order. */
class Client {
  private readonly replies: Array<(data: unknown) => void> = [];
  private constructor(private readonly socket: WebSocket) {
    socket.on('message', (raw) => this.replies.shift()?.((JSON.parse(String(raw)) as { data: unknown }).data));
  }

  static async connect(url: string): Promise<Client> {
    const socket = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return new Client(socket);
  }

  send<T>(event: string, data: unknown): Promise<T> {
    return new Promise<T>((resolve) => {
      this.replies.push(resolve as (data: unknown) => void);
      this.socket.send(JSON.stringify({ event, data }));
    });
  }

  close(): void {
    this.socket.close();
  }
}

describe('WebSocket gateway (@nestjs/platform-ws) over a real connection', () => {
  let app: INestApplication;
  let client: Client;
  let recorder: PlanoutRecorder;
  let metrics: PlanoutMetrics;
  let planout: PlanoutService;

  beforeAll(async () => {
    app = await createApp('express', {
      imports: [PlanoutTestingModule.forRoot(transportOptions)],
      providers: [GroupSizes, Exp1, VariantGateway],
    }, undefined, (created) => created.useWebSocketAdapter(new WsAdapter(created)));
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    client = await Client.connect(`ws://127.0.0.1:${port}/planout-ws`);
    recorder = getPlanoutRecorder(app);
    metrics = app.get(PlanoutMetrics);
    planout = app.get(PlanoutService);
  });
  afterAll(async () => {
    client?.close();
    await app?.close();
  });
  beforeEach(() => recorder.clear());

  it('handlers get the message data as inputs: the same params as outside a request', async () => {
    for (const userid of ['w1', 'w2', 'w3']) {
      const view = await client.send<VariantView>('variant', { userid });
      const exp1 = planout.create(Exp1, { userid }, { autoExposureLogging: false });
      const color = planout.create(ColorExperiment, { userid }, { autoExposureLogging: false });
      expect(view).toEqual({ group_size: exp1.get('group_size'), color: color.get('color'), label: expect.stringMatching(/^a[12]$/), in_exp1: true });
    }
  });

  it('logs one exposure per unit per message, deduplicated across messages', async () => {
    const before = metrics.snapshot().deduplicated;
    await client.send('variant', { userid: 'ws-dedupe' });
    await recorder.flush();
    // Two params of Exp1 in one message: one instance, so nothing reached the dedupe cache.
    expect(metrics.snapshot().deduplicated).toBe(before);
    await client.send('variant', { userid: 'ws-dedupe' });
    await recorder.flush();
    expect(metrics.snapshot().deduplicated).toBeGreaterThan(before);
    expect(recorder.exposures('Exp1').map((r) => r.inputs)).toEqual([{ userid: 'ws-dedupe' }]);
    expect(recorder.exposures('ColorExperiment')).toHaveLength(1);
    expect(recorder.exposures('TestNs-a')).toHaveLength(1);
  });

  it('PlanoutService logs events of the message unit', async () => {
    await client.send('convert', { userid: 'ws-buyer', amount: 7 });
    await recorder.flush();
    expect(recorder.records).toEqual([expect.objectContaining({ name: 'Exp1', event: 'conversion', inputs: { userid: 'ws-buyer' }, extra_data: { amount: 7 } })]);
  });

  it('a message without a unit reads defaults, logs nothing and counts missingUnit', async () => {
    const before = metrics.snapshot().missingUnit;
    expect(await client.send('variant', { userid: '' })).toEqual({ group_size: -1, color: 'none', label: 'default', in_exp1: false });
    expect(await client.send('variant', {})).toEqual({ group_size: -1, color: 'none', label: 'default', in_exp1: false });
    await client.send('convert', { amount: 3 });
    await recorder.flush();
    expect(recorder.records).toEqual([]);
    // Two variant messages (Exp1, color, namespace each) and one conversion.
    expect(metrics.snapshot().missingUnit - before).toBe(7);
  });
});
