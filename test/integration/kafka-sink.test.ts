import 'reflect-metadata';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { exposureRecordId, stableStringify } from '../../src/index.js';
import type { PlanoutLogRecord } from '../../src/core/log-record.js';
import { PlanoutMetrics } from '../../src/nest/planout-metrics.js';
import { createKafkaLogSink, KafkaSink } from '../../src/nest/sinks/kafka.sink.js';
import { CapturingLogger } from '../unit/sinks/fixtures.js';
import { get, hitUnits, startFaultApp, units } from './support/fault-app.js';
import { assignmentOf, byId, KafkaProxies, MockKafkaCluster } from './support/kafka-mock.js';
import { until } from './support/tcp-proxy.js';

let cluster: MockKafkaCluster;
let app: INestApplication | undefined;
let proxies: KafkaProxies | undefined;

beforeAll(async () => {
  cluster = await MockKafkaCluster.start(3);
});

afterEach(async () => {
  await app?.close();
  app = undefined;
  await proxies?.down();
  proxies = undefined;
});

afterAll(async () => {
  await cluster?.stop();
});

async function exposuresIn(topic: string): Promise<PlanoutLogRecord[]> {
  return (await cluster.consume(topic)).map((m) => m.record).filter((r) => r.name === 'Exp1' && r.event === 'exposure');
}

describe('KafkaSink against a real broker (librdkafka mock cluster, 3 brokers)', () => {
  it('value is the JSON line, key the canonical unit, headers name/event/id; exposure ids are deterministic, event ids per call', async () => {
    const metrics = new PlanoutMetrics();
    const logger = new CapturingLogger();
    const logSink = createKafkaLogSink({ brokers: cluster.bootstrap, topic: 'shape', flushIntervalMs: 20, metrics, logger });
    ({ app } = await startFaultApp({ metrics, logSink }));
    const base = await app.getUrl();
    const sent = units('shape', 10);
    expect(await hitUnits(base, sent)).toHaveLength(10);
    expect(await hitUnits(base, sent)).toHaveLength(10); // deduplicated: no new exposure
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${base}/convert?userid=shape-0`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ amount: 9.99 }),
      });
      expect(res.status).toBe(201);
    }
    await app.close();
    app = undefined;

    const messages = await cluster.consume('shape');
    expect(messages).toHaveLength(12);
    for (const m of messages) {
      expect(m.value).toBe(JSON.stringify(m.record));
      expect(m.key).toBe(stableStringify(m.record.inputs));
      expect(m.headers).toEqual({ 'planout-experiment': m.record.name, 'planout-event': m.record.event, 'planout-id': m.record.id });
      expect(m.record.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
    const exposures = messages.filter((m) => m.record.event === 'exposure');
    expect(exposures.map((m) => m.record.inputs.userid).sort()).toEqual([...sent].sort());
    for (const m of exposures) expect(m.record.id).toBe(exposureRecordId(m.record));
    expect(messages.find((m) => m.record.inputs.userid === 'shape-0' && m.record.event === 'exposure')!.key).toBe('{"userid":"shape-0"}');
    // One unit's records (its exposure, its conversions) share a key, hence a partition.
    const partitions = new Set(messages.filter((m) => m.key === '{"userid":"shape-0"}').map((m) => m.partition));
    expect(partitions.size).toBe(1);
    // Two real conversions with equal content stay two records.
    const conversions = messages.filter((m) => m.record.event === 'conversion').map((m) => m.record);
    expect(conversions).toHaveLength(2);
    expect(conversions[0]!.id).not.toBe(conversions[1]!.id);
    expect(conversions.map(({ id: _id, time: _time, ...rest }) => rest)).toEqual([
      expect.objectContaining({ extra_data: { amount: 9.99 } }),
      expect.objectContaining({ extra_data: { amount: 9.99 } }),
    ]);

    expect(metrics.snapshot()).toMatchObject({ accepted: 12, logged: 12, dropped: 0, failed: 0 });
    // kafkajs cannot get a producer id from this cluster: the sink says so and goes on without.
    expect((logSink.inner as KafkaSink).idempotent).toBe(false);
    expect(logger.warnings.join('\n')).toContain('did not grant an idempotent producer');
  });

  it('acknowledgements lost (the brokers store, the client times out): batches are sent again, and every repeat carries the same id', async () => {
    proxies = new KafkaProxies(cluster.brokers);
    await proxies.up();
    const metrics = new PlanoutMetrics();
    const logger = new CapturingLogger();
    const logSink = createKafkaLogSink({
      brokers: cluster.bootstrap,
      topic: 'lost-acks',
      kafkaConfig: { socketFactory: proxies.socketFactory },
      requestTimeoutMs: 500,
      writeTimeoutMs: 3000,
      batchSize: 50,
      flushIntervalMs: 20,
      retryBaseDelayMs: 50,
      retryMaxDelayMs: 200,
      metrics,
      logger,
    });
    ({ app } = await startFaultApp({ metrics, logSink }));
    const base = await app.getUrl();
    const warmup = units('acked', 10);
    expect(await hitUnits(base, warmup)).toHaveLength(10);
    await until(async () => (await exposuresIn('lost-acks')).length >= 10, 15_000);

    proxies.loseResponses(true);
    const sent = units('unacked', 100);
    expect(await hitUnits(base, sent)).toHaveLength(100);
    // Each failed attempt reached the brokers: wait until the batches went out several times.
    await until(async () => metrics.snapshot().retried >= 2 && (await exposuresIn('lost-acks')).length >= 210, 20_000);
    proxies.loseResponses(false);
    // Fresh connections: the discarded answers left the old ones mid-frame.
    await proxies.down();
    await proxies.up();
    await until(() => logSink.backlog === 0, 20_000);

    const stored = await exposuresIn('lost-acks');
    const groups = byId(stored);
    console.log(`Kafka lost acks: ${stored.length} exposure records for 110 units, ${groups.size} distinct ids, ${metrics.snapshot().retried} retries`);
    expect(stored.length).toBeGreaterThan(110);
    expect(groups.size).toBe(110);
    for (const group of groups.values()) expect(new Set(group.map(assignmentOf)).size).toBe(1);
    expect(new Set(stored.map((r) => String(r.inputs.userid)))).toEqual(new Set([...warmup, ...sent]));
    expect(metrics.snapshot()).toMatchObject({ accepted: 110, dropped: 0, failed: 0 });
  }, 60_000);

  it('broker unreachable for 30 s at 200 records/s: requests never wait, every record is delivered after recovery, duplicates share an id', async () => {
    proxies = new KafkaProxies(cluster.brokers);
    await proxies.up();
    const metrics = new PlanoutMetrics();
    const logger = new CapturingLogger();
    const logSink = createKafkaLogSink({
      brokers: cluster.bootstrap,
      topic: 'outage',
      kafkaConfig: { socketFactory: proxies.socketFactory },
      connectionTimeoutMs: 1000,
      batchSize: 200,
      flushIntervalMs: 50,
      retryBaseDelayMs: 100,
      retryMaxDelayMs: 1000,
      maxQueueSize: 20_000,
      metrics,
      logger,
    });
    ({ app } = await startFaultApp({ metrics, logSink }));
    const base = await app.getUrl();

    const before = units('before', 200);
    expect(await hitUnits(base, before)).toHaveLength(200);
    await until(async () => (await exposuresIn('outage')).length >= 200, 15_000);

    await proxies.down();
    const during = units('during', 6000);
    const started = Date.now();
    const latencies: number[] = [];
    const statuses: number[] = [];
    // 200 requests per second: 10 every 50 ms, each timed.
    for (let i = 0; i < during.length; i += 10) {
      const due = started + (i / 10) * 50;
      await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
      for (const unit of during.slice(i, i + 10)) {
        const t0 = performance.now();
        void get(`${base}/param?userid=${unit}`).then((status) => {
          statuses.push(status);
          latencies.push(performance.now() - t0);
        });
      }
    }
    await until(() => statuses.length === during.length, 10_000);
    const outageMs = Date.now() - started;
    const backlogAtEnd = logSink.backlog;
    const deliveredDuring = (await cluster.consume('outage')).length;
    await proxies.up();
    const recoveredAt = Date.now();
    await until(() => logSink.backlog === 0, 30_000);
    const recoveryMs = Date.now() - recoveredAt;

    const stored = await exposuresIn('outage');
    const groups = byId(stored);
    const storedUnits = new Set(stored.map((r) => String(r.inputs.userid)));
    latencies.sort((a, b) => a - b);
    const report = {
      outageMs,
      requests: statuses.length,
      p50: Math.round(latencies[latencies.length >> 1]!),
      p99: Math.round(latencies[Math.floor(latencies.length * 0.99)]!),
      max: Math.round(latencies[latencies.length - 1]!),
      backlogAtEnd,
      deliveredDuring,
      recoveryMs,
      stored: stored.length,
      distinctIds: groups.size,
      retried: metrics.snapshot().retried,
    };
    console.log(`Kafka outage: ${JSON.stringify(report)}`);

    expect(outageMs).toBeGreaterThanOrEqual(29_000);
    expect(statuses.every((s) => s === 200)).toBe(true);
    // Loose bound, only to prove no request waited on the broker (timing is for the bench).
    expect(latencies[latencies.length - 1]!).toBeLessThan(2000);
    expect(deliveredDuring).toBe(200);
    expect(backlogAtEnd).toBeGreaterThan(5000);
    expect([...before, ...during].filter((u) => !storedUnits.has(u))).toEqual([]);
    expect(groups.size).toBe(6200);
    for (const group of groups.values()) expect(new Set(group.map(assignmentOf)).size).toBe(1);
    expect(metrics.snapshot()).toMatchObject({ accepted: 6200, dropped: 0, failed: 0 });
    expect(metrics.snapshot().retried).toBeGreaterThan(0);
  }, 120_000);
});
