import 'reflect-metadata';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Logger, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import { JsonLinesFileSink, LogSink, PlanoutMetrics, PlanoutSrmMonitor, type PlanoutLogRecord } from '../../src/index.js';
import { ExposureDispatcher } from '../../src/nest/exposure-dispatcher.js';
import { chiSquareTest } from '../../src/core/stats/chi-square.js';
import { AppModule } from '../../sample-app/app.module.js';
import { createApp, PLATFORMS } from './support.js';

/** Prometheus text format → `name{labels}` → value (HELP/TYPE lines skipped). */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'planout-monitoring-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.each(PLATFORMS)('sample app monitoring on %s', (platform) => {
  let app: INestApplication | undefined;
  let file: string;
  let run = 0;

  async function start(): Promise<INestApplication> {
    file = join(dir, `${platform}-${++run}.jsonl`);
    process.env.PLANOUT_LOG_FILE = file;
    app = await createApp(platform, { imports: [AppModule] });
    delete process.env.PLANOUT_LOG_FILE;
    // The SRM expectations bootstrap did not learn within srm.bootstrapMs are learnt in the background.
    await app.get(PlanoutSrmMonitor).settled();
    return app;
  }

  /** Every record delivered to the JSON-lines file so far. */
  async function delivered(): Promise<PlanoutLogRecord[]> {
    await app!.get(ExposureDispatcher).whenIdle();
    await (app!.get(LogSink) as JsonLinesFileSink).flush();
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as PlanoutLogRecord);
  }

  afterEach(async () => {
    await app?.close();
    app = undefined;
    jest.restoreAllMocks();
  });

  it('GET /metrics: Prometheus text whose counters equal the records in the sink', async () => {
    const server = (await start()).getHttpServer();
    for (let u = 0; u < 30; u++) await request(server).get(`/exp1?userid=${u}`).expect(200);
    for (let u = 0; u < 10; u++) await request(server).get(`/exp1?userid=${u}`).expect(200); // deduplicated
    for (let u = 0; u < 12; u++) await request(server).post('/exp1/convert').set('x-user-id', String(u)).send({ amount: u }).expect(200);
    for (let u = 0; u < 8; u++) await request(server).get(`/price?userid=${u}`).expect(200);
    const records = await delivered();

    const response = await request(server).get('/metrics').expect(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const samples = parseMetrics(response.text);
    const count = (predicate: (r: PlanoutLogRecord) => boolean): number => records.filter(predicate).length;
    expect(samples.get('planout_exposures_total{experiment="Exp1"}')).toBe(count((r) => r.name === 'Exp1' && r.event === 'exposure'));
    expect(samples.get('planout_exposures_total{experiment="Exp1"}')).toBe(30);
    expect(samples.get('planout_exposures_total{experiment="TradePrice"}')).toBe(count((r) => r.name === 'TradePrice' && r.event === 'exposure'));
    expect(samples.get('planout_exposures_deduplicated_total{experiment="Exp1"}')).toBe(10);
    expect(samples.get('planout_events_total{experiment="Exp1",event="conversion"}')).toBe(count((r) => r.event === 'conversion'));
    expect(samples.get('planout_events_total{experiment="Exp1",event="conversion"}')).toBe(12);
    expect(samples.get('planout_sink_logged_total')).toBe(records.length);
    expect(samples.get('planout_sink_backlog')).toBe(0);
    expect(samples.get('planout_sink_rejected_total')).toBe(0);
    expect(samples.get('planout_sink_failed_total')).toBe(0);
    expect(samples.get('planout_cache_errors_total')).toBe(0);
    expect(samples.get('planout_missing_unit_total')).toBeUndefined(); // labelled: no series until counted
    expect(response.text).toContain('# TYPE planout_missing_unit_total counter');
    expect(response.text).toContain('# TYPE planout_sink_dropped_total counter');
    // Fair traffic: the gauge shows the SRM p-value of the tested params, none alarming.
    expect(samples.get('planout_srm_p_value{experiment="Exp1",param="group_size"}')).toBeGreaterThan(0.001);
    // The unit is never a label.
    expect(response.text).not.toMatch(/userid/);

    // A request without a unit: counted per experiment, nothing logged.
    await request(server).get('/exp1').expect(200);
    const after = parseMetrics((await request(server).get('/metrics').expect(200)).text);
    expect(after.get('planout_missing_unit_total{experiment="Exp1"}')).toBe(1);
    expect(after.get('planout_exposures_total{experiment="Exp1"}')).toBe(30);

    // The JSON counters moved to /metrics/json, and agree.
    const json = await request(server).get('/metrics/json').expect(200);
    expect(json.body).toMatchObject({ accepted: records.length, logged: records.length, deduplicated: 10, missingUnit: 1 });
  }, 30_000);

  it('SRM: exposing only the units shown the red button raises the alarm; /health names it, the gauge shows p, one warning', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn');
    const server = (await start()).getHttpServer();
    let red = 0;
    for (let u = 0; red < 150; u++) {
      const shown = await request(server).get(`/manual?userid=${u}`).expect(200);
      if (shown.body.button_color !== '#ff0000') continue;
      await request(server).get(`/manual?userid=${u}&expose=1`).expect(200);
      red++;
    }
    const records = await delivered();
    expect(records.filter((r) => r.name === 'CheckoutButton')).toHaveLength(150);

    const health = await request(server).get('/health').expect(200);
    expect(health.body.status).toBe('degraded'); // still HTTP 200: requests are served
    const planout = health.body.details.planout;
    expect(planout.status).toBe('degraded');
    const expected = chiSquareTest([150, 0], [0.5, 0.5])!.pValue;
    expect(planout.srm).toEqual([{ experiment: 'CheckoutButton', param: 'button_color', pValue: expected, exposures: 150 }]);
    expect(planout.reasons).toEqual([expect.stringContaining('sample ratio mismatch: CheckoutButton.button_color')]);

    const samples = parseMetrics((await request(server).get('/metrics').expect(200)).text);
    expect(samples.get('planout_srm_p_value{experiment="CheckoutButton",param="button_color"}')).toBeLessThan(0.001);
    // The text is independent of the colour: no alarm there.
    expect(samples.get('planout_srm_p_value{experiment="CheckoutButton",param="button_text"}')).toBeGreaterThan(0.001);

    await request(server).get('/health').expect(200);
    const srmWarnings = warn.mock.calls.filter(([message]) => String(message).startsWith('Sample ratio mismatch'));
    expect(srmWarnings).toHaveLength(1);
    expect(String(srmWarnings[0]![0])).toContain('"CheckoutButton", param "button_color"');
  }, 30_000);

  it('SRM: exposing every unit (a fair pattern) raises no alarm', async () => {
    const server = (await start()).getHttpServer();
    for (let u = 0; u < 150; u++) await request(server).get(`/manual?userid=${u}&expose=1`).expect(200);
    const records = (await delivered()).filter((r) => r.name === 'CheckoutButton');
    expect(records).toHaveLength(150);
    const reds = records.filter((r) => r.params.button_color === '#ff0000').length;

    const health = await request(server).get('/health').expect(200);
    expect(health.body.details.planout.status).toBe('up');
    expect(health.body.details.planout.srm).toEqual([]);
    const samples = parseMetrics((await request(server).get('/metrics').expect(200)).text);
    expect(samples.get('planout_srm_p_value{experiment="CheckoutButton",param="button_color"}')).toBe(
      chiSquareTest([reds, 150 - reds], [0.5, 0.5])!.pValue,
    );
  }, 30_000);
});

describe('README: Monitoring shows what the sample serves', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

  it('the /metrics series after the documented requests', async () => {
    const file = join(dir, 'readme.jsonl');
    process.env.PLANOUT_LOG_FILE = file;
    const app = await createApp('express', { imports: [AppModule] });
    delete process.env.PLANOUT_LOG_FILE;
    try {
      await app.get(PlanoutSrmMonitor).settled();
      const server = app.getHttpServer();
      await request(server).get('/exp1?userid=42').expect(200);
      await request(server).get('/exp1?userid=42').expect(200);
      await request(server).post('/exp1/convert').set('x-user-id', '42').send({ amount: 10 }).expect(200);
      await app.get(ExposureDispatcher).whenIdle();
      await (app.get(LogSink) as JsonLinesFileSink).flush();
      const series = (await request(server).get('/metrics').expect(200)).text
        .split('\n')
        .filter((line) => line.startsWith('planout_'))
        .join('\n');
      const shown = /its series are:\n\n```text\n([\s\S]*?)\n```/.exec(readme)?.[1];
      expect(shown).toBe(series);
    } finally {
      await app.close();
    }
  }, 30_000);

  it('the health details of the biased pattern', () => {
    const srm = [{ experiment: 'CheckoutButton', param: 'button_color', pValue: chiSquareTest([150, 0], [0.5, 0.5])!.pValue, exposures: 150 }];
    expect(readme).toContain('```json\n"srm":' + JSON.stringify(srm) + '\n```');
  });
});

describe('metrics registration', () => {
  it('two apps in one process report into one registry without duplicate-registration errors', async () => {
    const { Registry } = await import('prom-client');
    const { PLANOUT_PROMETHEUS_REGISTRY } = await import('../../src/prometheus.js');
    const registry = new Registry();
    const apps: INestApplication[] = [];
    for (let i = 0; i < 2; i++) {
      process.env.PLANOUT_LOG_FILE = join(dir, `shared-${i}.jsonl`);
      apps.push(await createApp('express', { imports: [AppModule] }, (b) => b.overrideProvider(PLANOUT_PROMETHEUS_REGISTRY).useValue(registry)));
    }
    delete process.env.PLANOUT_LOG_FILE;
    try {
      await request(apps[0]!.getHttpServer()).get('/exp1?userid=1').expect(200);
      await request(apps[1]!.getHttpServer()).get('/exp1?userid=2').expect(200);
      for (const app of apps) await app.get(ExposureDispatcher).whenIdle();
      const samples = parseMetrics(await registry.metrics());
      expect(samples.get('planout_exposures_total{experiment="Exp1"}')).toBe(2);
      expect(apps[0]!.get(PlanoutMetrics)).not.toBe(apps[1]!.get(PlanoutMetrics));
    } finally {
      for (const app of apps) await app.close();
    }
  }, 30_000);
});
