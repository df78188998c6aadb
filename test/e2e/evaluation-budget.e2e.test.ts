import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { Test } from '@nestjs/testing';
import {
  InMemorySink,
  InterpretedExperiment,
  PlanoutBudgetError,
  PlanoutError,
  PlanoutModule,
  PlanoutService,
  SimpleNamespace,
  type EvaluationBudget,
} from '../../src/index.js';

// 120k elements: over the default maxElements (100k), under 150k.
const BIG_SCRIPT = { op: 'set', var: 'big', value: { op: 'product', values: [[1], 120_000] } };
const BigList = InterpretedExperiment.define({ name: 'BigList', script: BIG_SCRIPT });
const BigListOwnBudget = InterpretedExperiment.define({ name: 'BigListOwn', script: BIG_SCRIPT, budget: { maxElements: 1000 } });

class BigNamespace extends SimpleNamespace {
  protected setup(): void {
    this.name = 'BigNs';
    this.primaryUnit = 'userid';
    this.numSegments = 2;
  }
  protected setupExperiments(): void {
    this.addExperiment('big', InterpretedExperiment.define({ script: BIG_SCRIPT }), 2);
  }
}

async function planoutWith(evaluationBudget?: EvaluationBudget) {
  const moduleRef = await Test.createTestingModule({
    imports: [
      PlanoutModule.forRoot({
        experiments: [BigList, BigListOwnBudget],
        namespaces: [BigNamespace],
        inputs: () => ({ userid: 'u1' }),
        logSink: new InMemorySink(),
        evaluationBudget,
      }),
    ],
  }).compile();
  await moduleRef.init();
  return { planout: moduleRef.get(PlanoutService), close: () => moduleRef.close() };
}

describe('PlanoutModule evaluationBudget (module-wide budget of interpreted experiments)', () => {
  it('the defaults refuse an assignment creating 120k elements', async () => {
    const { planout, close } = await planoutWith();
    try {
      const experiment = planout.create(BigList, { userid: 'u1' });
      expect(() => experiment.getParams()).toThrow(PlanoutBudgetError);
      expect(() => planout.run({ userid: 'u1' }, () => planout.namespace(BigNamespace).get('big'))).toThrow(PlanoutBudgetError);
    } finally {
      await close();
    }
  });

  it('a module-wide budget applies to experiments and namespaces; an experiment budget wins over it', async () => {
    const { planout, close } = await planoutWith({ maxElements: 150_000 });
    try {
      const params = planout.create(BigList, { userid: 'u1' }).getParams() as { big: unknown[] };
      expect(params.big).toHaveLength(120_000);
      const fromNamespace = planout.run({ userid: 'u1' }, () => planout.namespace(BigNamespace).get('big')) as unknown[];
      expect(fromNamespace).toHaveLength(120_000);
      expect(() => planout.create(BigListOwnBudget, { userid: 'u1' }).getParams()).toThrow(PlanoutBudgetError);
    } finally {
      await close();
    }
  });

  it('an invalid module-wide budget stops the app at bootstrap', async () => {
    await expect(planoutWith({ maxOperations: 0 })).rejects.toThrow(PlanoutError);
  });
});
