import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Get, Module, NotFoundException, Param as RouteParam, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import {
  compilePlanout,
  InMemorySink,
  InterpretedExperiment,
  PlanoutDefinitions,
  PlanoutMetrics,
  PlanoutModule,
  PlanoutService,
  PlanoutUnknownExperimentError,
  type DefinitionSource,
  type PlanoutRequest,
} from '../../src/index.js';
import { PlanoutHealthIndicator } from '../../src/nest/health/index.js';
import { TerminusModule } from '@nestjs/terminus';
import { createApp } from '../e2e/support.js';

/** Writes definitions to one store under test; each call is one change the store announces. */
export interface DefinitionStoreWriter {
  /** Stores files (`<name>.planout`, ...). `atomic` stores apply several files as one change. */
  put(files: Record<string, string>): Promise<void>;
  remove(file: string): Promise<void>;
  /** A new source on the store (one per app instance). */
  source(): DefinitionSource;
  readonly atomic: boolean;
}

/**
 * Generous deadline for a reload to be served: a loaded machine may take seconds, and the
 * test asserts what is served, not how fast (reload times are measured by the bench).
 */
export const EVENTUALLY_MS = 15_000;

/** Jest timeout of a test that waits for several reloads. */
export const RELOAD_TEST_MS = 120_000;

/** Waits for `check` to pass, polling; fails with its last error after `limitMs`. */
export async function eventually(check: () => Promise<void> | void, limitMs = EVENTUALLY_MS): Promise<void> {
  const started = Date.now();
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() - started > limitMs) throw error;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

// Lets a test hold a request between its two reads.
let gate: { reached: () => void; release: Promise<void> } | undefined;

@Controller()
class DefinitionsTestController {
  constructor(private readonly planout: PlanoutService) {}

  @Get('exp/:name')
  params(@RouteParam('name') name: string): Record<string, unknown> {
    try {
      return this.planout.experiment(name).getParams();
    } catch (error) {
      if (error instanceof PlanoutUnknownExperimentError) throw new NotFoundException(error.message);
      throw error;
    }
  }

  /** Reads `alpha`, waits (a tick, or the test's gate), then reads `beta`. */
  @Get('pair')
  async pair(): Promise<{ alpha: unknown; beta: unknown }> {
    const alpha = this.planout.experiment('alpha').get('version');
    const held = gate;
    if (held !== undefined) {
      held.reached();
      await held.release;
    } else {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return { alpha, beta: this.planout.experiment('beta').get('version') };
  }
}

function buttonProgram(choices: string[], version: number): string {
  return `version = ${version};\nbutton_color = uniformChoice(choices=${JSON.stringify(choices)}, unit=userid);\n`;
}

/** The checksum the reference logs for `program` named `name`, for `userid`. */
function referenceChecksum(name: string, program: string, userid: string): string {
  const Defined = InterpretedExperiment.define({ name, script: compilePlanout(program) });
  return new Defined({ userid }).checksum;
}

/**
 * The contract every definition store keeps, over HTTP on real Nest apps: add, change,
 * invalid change, remove, requests in flight during a reload, instances converging.
 */
export function describeDefinitionStore(label: string, writerFactory: () => Promise<DefinitionStoreWriter>, cleanup: () => Promise<void>): void {
  describe(`definitions from ${label}`, () => {
    let writer: DefinitionStoreWriter;
    const apps: Array<{ app: INestApplication; sink: InMemorySink; metrics: PlanoutMetrics }> = [];

    async function startApp(): Promise<(typeof apps)[number]> {
      const sink = new InMemorySink();
      const metrics = new PlanoutMetrics();
      @Module({
        imports: [
          PlanoutModule.forRoot({
            inputs: (req: PlanoutRequest) => ({ userid: String((req.query as Record<string, unknown>).userid ?? '') }),
            definitions: writer.source(),
            definitionsReload: { debounceMs: 20 },
            logSink: sink,
            metrics,
          }),
          TerminusModule,
        ],
        controllers: [DefinitionsTestController],
        providers: [PlanoutHealthIndicator],
      })
      class StoreTestModule {}
      const app = await createApp('express', { imports: [StoreTestModule] });
      const started = { app, sink, metrics };
      apps.push(started);
      return started;
    }

    beforeAll(async () => {
      writer = await writerFactory();
    });
    afterAll(async () => {
      await Promise.all(apps.map(({ app }) => app.close()));
      await cleanup();
    });

    it('add, change, invalid change, remove: each served after the reload, records carry the new checksum', async () => {
      const { app, sink, metrics } = await startApp();
      const http = () => request(app.getHttpServer());
      await http().get('/exp/homepage?userid=7').expect(404);

      const v1 = buttonProgram(['blue', 'green'], 1);
      await writer.put({ 'homepage.planout': v1 });
      await eventually(async () => expect((await http().get('/exp/homepage?userid=7')).status).toBe(200));
      const first = (await http().get('/exp/homepage?userid=7').expect(200)).body;
      expect(first.version).toBe(1);
      expect(['blue', 'green']).toContain(first.button_color);
      // One exposure per unit, as for class-based experiments; the reference's checksum.
      await app.get(PlanoutService).flush();
      expect(sink.records).toHaveLength(1);
      expect(sink.records[0]).toMatchObject({ name: 'homepage', salt: 'homepage', event: 'exposure', inputs: { userid: '7' }, params: first });
      expect(sink.records[0]!.checksum).toBe(referenceChecksum('homepage', v1, '7'));

      const v2 = buttonProgram(['red'], 2);
      await writer.put({ 'homepage.planout': v2 });
      await eventually(async () => expect((await http().get('/exp/homepage?userid=7')).body).toEqual({ version: 2, button_color: 'red' }));
      await app.get(PlanoutService).flush();
      const last = sink.records.at(-1)!;
      expect(last.params).toEqual({ version: 2, button_color: 'red' });
      expect(last.checksum).toBe(referenceChecksum('homepage', v2, '7'));
      expect(last.checksum).not.toBe(sink.records[0]!.checksum);

      // Invalid: the last good definition keeps serving; the error is logged, counted and in health.
      const rejectedBefore = metrics.snapshot().definitionsRejected;
      await writer.put({ 'homepage.planout': 'button_color = uniformChoice(choices=[, unit=userid);' });
      const health = app.get(PlanoutHealthIndicator);
      await eventually(() => expect(health.report().definitions?.errors.map((e) => e.name)).toEqual(['homepage']));
      const refused = health.report().definitions!.errors[0]!;
      expect(refused).toMatchObject({ kind: 'experiment', serving: true });
      expect(refused.message).toMatch(/homepage/);
      expect(metrics.snapshot().definitionsRejected).toBe(rejectedBefore + 1);
      const status = health.isHealthy('planout');
      expect(status.planout.status).toBe('degraded');
      await http().get('/exp/homepage?userid=7').expect(200, { version: 2, button_color: 'red' });

      // A dry-run failure (an operator's invalid argument) is refused the same way.
      await writer.put({ 'homepage.planout': 'x = bernoulliTrial(p=1.5, unit=userid);' });
      await eventually(() => expect(health.report().definitions?.errors[0]?.message).toMatch(/dry run failed/));
      await http().get('/exp/homepage?userid=7').expect(200, { version: 2, button_color: 'red' });

      // Fixed: serving again, error cleared.
      await writer.put({ 'homepage.planout': buttonProgram(['red'], 3) });
      await eventually(async () => expect((await http().get('/exp/homepage?userid=7')).body.version).toBe(3));
      expect(health.report().definitions?.errors).toEqual([]);

      // Removed: new lookups answer "unknown experiment".
      await writer.remove('homepage.planout');
      await eventually(async () => expect((await http().get('/exp/homepage?userid=7')).status).toBe(404));
      expect(app.get(PlanoutDefinitions).snapshot.experiments.has('homepage')).toBe(false);
    }, RELOAD_TEST_MS);

    it('a request in flight keeps the definitions it started with; the next one sees the reload', async () => {
      const { app } = await startApp();
      await writer.put({ 'alpha.planout': 'version = 1;', 'beta.planout': 'version = 1;' });
      const definitions = app.get(PlanoutDefinitions);
      await eventually(() => expect(definitions.snapshot.experiments.get("beta")?.script).toEqual(compilePlanout("version = 1;")));
      let reached!: () => void;
      const atGate = new Promise<void>((resolve) => (reached = resolve));
      let release!: () => void;
      gate = { reached, release: new Promise<void>((resolve) => (release = resolve)) };
      try {
        const inFlight = request(app.getHttpServer()).get('/pair?userid=1').then((r) => r);
        await atGate;
        const version = definitions.snapshot.version;
        await writer.put({ 'alpha.planout': 'version = 2;', 'beta.planout': 'version = 2;' });
        await eventually(() => expect(definitions.snapshot.experiments.get('beta')?.script).toEqual(compilePlanout('version = 2;')));
        expect(definitions.snapshot.version).toBeGreaterThan(version);
        release();
        expect((await inFlight).body).toEqual({ alpha: 1, beta: 1 });
      } finally {
        gate = undefined;
      }
      await eventually(async () => expect((await request(app.getHttpServer()).get('/pair?userid=1')).body).toEqual({ alpha: 2, beta: 2 }));
    }, RELOAD_TEST_MS);

    it('concurrent requests during reloads never mix two versions', async () => {
      const { app } = await startApp();
      const http = () => request(app.getHttpServer());
      await writer.put({ 'alpha.planout': 'version = 10;', 'beta.planout': 'version = 10;' });
      await eventually(async () => expect((await http().get('/pair?userid=1')).body).toEqual({ alpha: 10, beta: 10 }));
      const seen = new Set<number>();
      for (let version = 11; version <= 14; version++) {
        const burst = Array.from({ length: 25 }, (_, i) => http().get(`/pair?userid=${i}`));
        // Atomic stores change both in one write; the others change them one after the other,
        // which is two reloads: every request must still see one snapshot.
        if (writer.atomic) await writer.put({ 'alpha.planout': `version = ${version};`, 'beta.planout': `version = ${version};` });
        else {
          await writer.put({ 'alpha.planout': `version = ${version};` });
          await writer.put({ 'beta.planout': `version = ${version};` });
        }
        for (const response of await Promise.all(burst)) {
          expect(response.status).toBe(200);
          seen.add(response.body.alpha);
          if (writer.atomic) expect(response.body.beta).toBe(response.body.alpha);
          else expect([response.body.alpha, response.body.alpha + 1]).toContain(response.body.beta);
        }
      }
      await eventually(async () => expect((await http().get('/pair?userid=1')).body).toEqual({ alpha: 14, beta: 14 }));
      expect(seen.size).toBeGreaterThanOrEqual(1);
    }, RELOAD_TEST_MS);

    it('several app instances on the same store converge on the same definitions', async () => {
      const instances = [await startApp(), await startApp(), await startApp()];
      const program = buttonProgram(['a', 'b', 'c', 'd'], 7);
      await writer.put({ 'converge.planout': program });
      await eventually(async () => {
        for (const { app } of instances) expect((await request(app.getHttpServer()).get('/exp/converge?userid=u1')).status).toBe(200);
      });
      const answers = await Promise.all(
        instances.map(async ({ app }) => (await request(app.getHttpServer()).get('/exp/converge?userid=u1')).body),
      );
      expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
      const checksums = await Promise.all(
        instances.map(async ({ app, sink }) => {
          await app.get(PlanoutService).flush();
          return sink.records.find((r) => r.name === 'converge')!.checksum;
        }),
      );
      expect(new Set(checksums)).toEqual(new Set([referenceChecksum('converge', program, 'u1')]));
      await writer.remove('converge.planout');
      await eventually(async () => {
        for (const { app } of instances) expect((await request(app.getHttpServer()).get('/exp/converge?userid=u1')).status).toBe(404);
      });
    }, RELOAD_TEST_MS);
  });
}

/** Boots an app on `source` (unreachable): it must start, serve class-free routes, and report the source error. */
export async function bootWithUnreachableSource(source: DefinitionSource): Promise<void> {
  @Module({
    imports: [
      PlanoutModule.forRoot({
        inputs: (req: PlanoutRequest) => ({ userid: String((req.query as Record<string, unknown>).userid ?? '') }),
        definitions: source,
        logSink: new InMemorySink(),
      }),
      TerminusModule,
    ],
    controllers: [DefinitionsTestController],
    providers: [PlanoutHealthIndicator],
  })
  class UnreachableModule {}
  // Start-up is bounded by the connect timeout, not by the store coming back (it never does
  // here: a start that waited for it would not finish).
  const app = await createApp('express', { imports: [UnreachableModule] });
  try {
    await request(app.getHttpServer()).get('/exp/homepage?userid=1').expect(404);
    const report = app.get(PlanoutHealthIndicator).report().definitions!;
    expect(report.errors).toMatchObject([{ kind: 'source', name: 'source', serving: false }]);
    expect(report.errors[0]!.message).toMatch(/^cannot read /);
    expect(app.get(PlanoutHealthIndicator).isHealthy('planout').planout.status).toBe('degraded');
  } finally {
    await app.close();
  }
}

/**
 * Boots an app whose store is behind `proxy` while the proxy is down; the store gets a
 * definition meanwhile. Once the proxy is up the app must serve it without a poll (sources
 * built with polling off), then catch a change made during a second outage.
 */
export async function recoversAfterOutage(options: {
  proxy: { up(): Promise<number>; down(): Promise<void>; port: number };
  source: () => DefinitionSource;
  put: (program: string) => Promise<void>;
}): Promise<void> {
  const { proxy } = options;
  await proxy.down();
  @Module({
    imports: [
      PlanoutModule.forRoot({
        inputs: (req: PlanoutRequest) => ({ userid: String((req.query as Record<string, unknown>).userid ?? '') }),
        definitions: options.source(),
        definitionsReload: { debounceMs: 20 },
        logSink: new InMemorySink(),
      }),
    ],
    controllers: [DefinitionsTestController],
  })
  class OutageModule {}
  const app = await createApp('express', { imports: [OutageModule] });
  const http = () => request(app.getHttpServer());
  try {
    await options.put('version = 1;');
    await http().get('/exp/outage?userid=1').expect(404);
    await proxy.up();
    await eventually(async () => expect((await http().get('/exp/outage?userid=1')).body).toEqual({ version: 1 }));

    // A change while the connection is down: its notification is lost, the reconnect reads it.
    await proxy.down();
    await options.put('version = 2;');
    await new Promise((resolve) => setTimeout(resolve, 300));
    await http().get('/exp/outage?userid=1').expect(200, { version: 1 });
    await proxy.up();
    await eventually(async () => expect((await http().get('/exp/outage?userid=1')).body).toEqual({ version: 2 }));
  } finally {
    await app.close();
  }
}
