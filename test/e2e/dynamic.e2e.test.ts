import 'reflect-metadata';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { compilePlanout, InMemorySink, InterpretedExperiment, LogSink, stringifyPlanoutJson } from '../../src/index.js';
import { getPlanoutRecorder, type PlanoutRecorder } from '../../src/testing/index.js';
import { AppModule, definitionsDir } from '../../sample-app/app.module.js';
import { eventually, RELOAD_TEST_MS } from '../support/definition-store-scenarios.js';
import { createApp, PLATFORMS } from './support.js';

const SHIPPED = join(definitionsDir({}), 'homepage.planout');

/** What the reference assigns (and the checksum it logs) for `program` named `name`. */
function reference(name: string, script: ReturnType<typeof compilePlanout>, userid: string) {
  const Defined = InterpretedExperiment.define({ name, script });
  const experiment = new Defined({ userid });
  return { params: experiment.getParams(), checksum: experiment.checksum };
}

function writeAtomically(path: string, content: string): void {
  writeFileSync(`${path}.tmp~`, content);
  renameSync(`${path}.tmp~`, path);
}

// The sample's /dynamic contract over HTTP, on a temporary PLANOUT_DEFINITIONS_DIR changed mid-way.
describe.each(PLATFORMS)('sample GET /dynamic/:name on %s', (platform) => {
  let app: INestApplication;
  let recorder: PlanoutRecorder;
  let dir: string;
  const previousDir = process.env.PLANOUT_DEFINITIONS_DIR;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'planout-sample-definitions-'));
    copyFileSync(SHIPPED, join(dir, 'homepage.planout'));
    process.env.PLANOUT_DEFINITIONS_DIR = dir;
    app = await createApp(platform, { imports: [AppModule] }, (b) => b.overrideProvider(LogSink).useValue(new InMemorySink()));
    recorder = getPlanoutRecorder(app);
  });
  afterAll(async () => {
    await app.close();
    if (previousDir === undefined) delete process.env.PLANOUT_DEFINITIONS_DIR;
    else process.env.PLANOUT_DEFINITIONS_DIR = previousDir;
    rmSync(dir, { recursive: true, force: true });
  });

  const get = (path: string) => request(app.getHttpServer()).get(path);

  it('serves the shipped homepage.planout, logging one exposure per unit like /exp1', async () => {
    recorder.clear();
    const expected = reference('homepage', compilePlanout(readFileSync(SHIPPED, 'utf8')), '42');
    const first = await get('/dynamic/homepage?userid=42').expect(200);
    expect(first.body).toEqual(expected.params);
    expect(['blue', 'green', 'orange']).toContain(first.body.button_color);
    await get('/dynamic/homepage?userid=42').expect(200, expected.params);
    await recorder.flush();
    expect(recorder.records).toHaveLength(1);
    expect(recorder.records[0]).toMatchObject({
      name: 'homepage',
      salt: 'homepage',
      inputs: { userid: '42' },
      params: expected.params,
      event: 'exposure',
      checksum: expected.checksum,
    });
    await get('/dynamic/homepage?userid=43').expect(200);
    await recorder.flush();
    expect(recorder.exposures('homepage')).toHaveLength(2);
  });

  it('an unknown name answers 404 with a JSON error', async () => {
    const response = await get('/dynamic/nothing-here?userid=42').expect(404);
    expect(response.headers['content-type']).toMatch(/json/);
    expect(response.body).toEqual({ statusCode: 404, error: 'Not Found', message: 'unknown experiment "nothing-here"' });
  });

  it('adding, changing and removing files takes effect after the reload; an invalid file keeps the previous definition and shows in /health', async () => {
    // Added: a compiled JSON script.
    const pricing = compilePlanout("discount = weightedChoice(choices=[0, 10], weights=[1, 3], unit=userid);");
    writeAtomically(join(dir, 'pricing.json'), stringifyPlanoutJson(pricing));
    await eventually(async () => expect((await get('/dynamic/pricing?userid=5')).status).toBe(200));
    expect((await get('/dynamic/pricing?userid=5')).body).toEqual(reference('pricing', pricing, '5').params);

    // Changed: the new params, and a new exposure with the new checksum.
    recorder.clear();
    const changed = "button_color = uniformChoice(choices=['black'], unit=userid);";
    writeAtomically(join(dir, 'homepage.planout'), changed);
    await eventually(async () => expect((await get('/dynamic/homepage?userid=42')).body).toEqual({ button_color: 'black' }));
    await recorder.flush();
    // (Requests polling before the reload logged the old definition again: the test cleared the dedupe cache.)
    const newChecksum = reference('homepage', compilePlanout(changed), '42').checksum;
    const exposures = recorder.exposures('homepage');
    expect(exposures.at(-1)).toMatchObject({ params: { button_color: 'black' }, checksum: newChecksum });
    expect(exposures.filter((r) => r.checksum === newChecksum)).toHaveLength(1);

    // Invalid: still served as before; /health names the file's experiment and the error.
    writeAtomically(join(dir, 'homepage.planout'), "button_color = uniformChoice(choices=['black'] unit=userid);");
    let health: { status: string; details: { planout: { definitions: { errors: Array<{ name: string; message: string; serving: boolean }> } } } };
    await eventually(async () => {
      health = (await get('/health')).body;
      expect(health.details.planout.definitions.errors.map((e) => e.name)).toEqual(['homepage']);
    });
    expect(health!.status).toBe('degraded');
    expect(health!.details.planout.definitions.errors[0]).toMatchObject({ serving: true, message: expect.stringMatching(/homepage.*line 1/) });
    await get('/dynamic/homepage?userid=42').expect(200, { button_color: 'black' });

    // Removed: 404, and the error of the removed file is gone from /health.
    unlinkSync(join(dir, 'homepage.planout'));
    await eventually(async () => expect((await get('/dynamic/homepage?userid=42')).status).toBe(404));
    expect((await get('/health')).body.details.planout.definitions.errors).toEqual([]);
  }, RELOAD_TEST_MS);
});
