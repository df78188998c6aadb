// Issue 15's new figure: bootstrap time of a Nest application context with 1,000 registered
// experiments, as classes (@Experiment with assign()) and as data (InterpretedExperiment.define
// from a script), then one read of the last experiment so registration is proven complete.
import 'reflect-metadata';
import { Module, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { hrtime } from 'node:process';
import {
  Assignment,
  Experiment,
  InterpretedExperiment,
  LogSink,
  PlanoutModule,
  PlanoutService,
  UniformChoice,
  type PlanoutLogRecord,
} from '../../src/index.js';
import { median, round } from '../lib/stats.js';
import { progress, runSuite } from '../lib/suite.js';

type Inputs = { userid: number };

class DroppingSink extends LogSink {
  written = 0;
  write(_record: PlanoutLogRecord): void {
    this.written++;
  }
}

function classExperiments(n: number, round: number): Function[] {
  return Array.from({ length: n }, (_, i) => {
    class Registered {
      assign(params: Assignment<{ x: number }>, inputs: Inputs): void {
        params.set('x', new UniformChoice({ choices: [1, 2, 3], unit: inputs.userid }));
      }
    }
    Experiment({ name: `Class${round}_${i}` })(Registered);
    return Registered;
  });
}

function dataExperiments(n: number, round: number): Function[] {
  return Array.from({ length: n }, (_, i) =>
    InterpretedExperiment.define({
      name: `Data${round}_${i}`,
      script: {
        op: 'seq',
        seq: [{ op: 'set', var: 'x', value: { op: 'uniformChoice', choices: { op: 'array', values: [1, 2, 3] }, unit: { op: 'get', var: 'userid' } } }],
      },
    }),
  );
}

async function bootOnce(experiments: Function[]): Promise<number> {
  const start = hrtime.bigint();
  const planout = PlanoutModule.forRoot({
    experiments: experiments as never,
    inputs: () => ({}),
    logSink: new DroppingSink(),
  });
  @Module({})
  class Root {}
  const app = await NestFactory.createApplicationContext({ module: Root, imports: [planout] } as DynamicModule, { logger: false });
  const ms = Number(hrtime.bigint() - start) / 1e6;
  // Every experiment must be usable: read the last one.
  const service = app.get(PlanoutService);
  const last = experiments[experiments.length - 1]!;
  const x = (service.create(last as never, { userid: 42 } as never) as unknown as { get(name: string): unknown }).get('x');
  if (![1, 2, 3].includes(x as number)) throw new Error(`bootstrap: the last experiment read ${String(x)}`);
  await app.close();
  return ms;
}

runSuite('bootstrap', async ({ quick }) => {
  const count = 1000;
  const rounds = quick ? 3 : 7;
  const ms: Record<string, number[]> = { class: [], data: [], class_1: [] };
  // One warm-up of each, untimed: module loading and first JIT.
  await bootOnce(classExperiments(count, -1));
  await bootOnce(dataExperiments(count, -2));
  for (let r = 0; r < rounds; r++) {
    ms.class!.push(await bootOnce(classExperiments(count, r)));
    ms.data!.push(await bootOnce(dataExperiments(count, r)));
    ms.class_1!.push(await bootOnce(classExperiments(1, r)));
  }
  progress(`bootstrap: ${count} experiments × ${rounds} rounds, median class ${round(median(ms.class!), 1)} ms, data ${round(median(ms.data!), 1)} ms`);
  return {
    experiments: count,
    rounds,
    bootstrap_ms: Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, round(median(v), 1)])),
  };
});
