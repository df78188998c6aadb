// PlanOut.js (the `planout` npm package, CommonJS) loaded into this ESM project, with the
// few types the benchmarks use. Its default build hashes differently from the reference;
// `planout_core_compatible.js` follows the reference's SHA-1 scheme (using bignumber.js).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export interface PjsAssignment {
  set(name: string, value: unknown): void;
  get(name: string, def?: unknown): unknown;
  getParams(): Record<string, unknown>;
}

export interface PjsExperiment {
  get(name: string, def?: unknown): unknown;
  getParams(): Record<string, unknown>;
  setAutoExposureLogging(value: boolean): void;
}

export interface PjsInterpreter {
  getParams(): Record<string, unknown>;
  inExperiment(): boolean;
}

type Ctor<T> = new (...args: any[]) => T;

export interface PlanoutJs {
  Assignment: Ctor<PjsAssignment>;
  Experiment: Ctor<PjsExperiment> & { prototype: PjsExperiment };
  Interpreter: new (script: unknown, salt?: string, inputs?: Record<string, unknown>) => PjsInterpreter;
  Namespace: { SimpleNamespace: Ctor<{ get(name: string, def?: unknown): unknown }> };
  Ops: { Random: Record<'UniformChoice' | 'BernoulliTrial' | 'WeightedChoice' | 'RandomInteger' | 'Sample', Ctor<unknown>> };
}

export function loadPlanoutJs(build: 'default' | 'compat'): PlanoutJs {
  return require(build === 'default' ? 'planout' : 'planout/dist/planout_core_compatible.js') as PlanoutJs;
}
