import { afterAll, describe, expect, it } from '@jest/globals';
import { InterpretedExperiment, type PlanoutScript } from '../../src/core/interpreted-experiment.js';
import type { PlanoutLogRecord } from '../../src/core/log-record.js';
import { SimpleNamespace, type ExperimentClass } from '../../src/core/namespace.js';
import type { PlanoutObject } from '../../src/core/values.js';
import { countCase, executedCases, expectSame, loadCases } from './vectors.js';

interface Operation {
  action: 'add_experiment' | 'remove_experiment';
  name: string;
  segments?: number;
  script?: PlanoutScript;
  expected_ok: boolean;
  expected_added_segments?: number[];
  expected_freed_segments?: number[];
}

interface NamespaceCase {
  id: string;
  description: string;
  namespace: { name: string; primary_unit: string | string[]; num_segments: number; default_params: PlanoutObject; sampler: string };
  operations: Operation[];
  expected_allocations: [number, string][];
  query_params: string[];
  units: { inputs: PlanoutObject; expected: Record<string, unknown> }[];
}

const cases = loadCases<NamespaceCase>('namespaces.json');

/** A namespace class for the case; its experiments log into `sink`. */
function namespaceFor(c: NamespaceCase, sink: PlanoutLogRecord[], results: unknown[][]) {
  const experimentClass = (script: PlanoutScript): ExperimentClass =>
    class extends InterpretedExperiment.define({ script }) {
      protected override log(record: PlanoutLogRecord): void {
        sink.push(record);
      }
    };
  return class CaseNamespace extends SimpleNamespace {
    protected setup(): void {
      this.name = c.namespace.name;
      this.primaryUnit = c.namespace.primary_unit;
      this.numSegments = c.namespace.num_segments;
    }
    protected setupExperiments(): void {
      const ops: unknown[] = [];
      for (const op of c.operations) {
        const before = new Map(this.allocations);
        if (op.action === 'add_experiment') {
          const ok = this.addExperiment(op.name, experimentClass(op.script!), op.segments!);
          const added = [...this.allocations.keys()].filter((s) => !before.has(s)).sort((a, b) => a - b);
          ops.push([ok, added]);
        } else {
          const ok = this.removeExperiment(op.name);
          const freed = [...before.keys()].filter((s) => !this.allocations.has(s)).sort((a, b) => a - b);
          ops.push([ok, freed]);
        }
      }
      results.push(ops);
    }
    protected override getDefaultParams(): Record<string, unknown> {
      return c.namespace.default_params;
    }
  };
}

describe('namespaces.json', () => {
  it('has cases', () => expect(cases.length).toBeGreaterThan(0));

  describe.each(cases.map((c) => [c.id, c] as const))('%s', (_id, c) => {
    const sink: PlanoutLogRecord[] = [];
    const setups: unknown[][] = [];
    const Namespace = namespaceFor(c, sink, setups);

    it(`${c.id} allocations`, () => {
      countCase();
      // The layout is built once per sampler kind, by the first instance.
      const ns = new Namespace(c.namespace.sampler === 'fastSample' ? { use_fast_sample: true } : {});
      const allocations = [...ns.allocations].sort((a, b) => a[0] - b[0]);
      expectSame(allocations, c.expected_allocations, `${c.id} allocations`);
      c.operations.forEach((op, k) => {
        const [ok, segments] = setups[0][k] as [boolean, number[]];
        expect(ok).toBe(op.expected_ok);
        expectSame(segments, op.expected_added_segments ?? op.expected_freed_segments ?? [], `${c.id} op ${k}`);
      });
    });

    it.each(c.units.map((u, k) => [`${c.id}#${k}`, u] as const))('%s', (where, unit) => {
      countCase();
      const ns = new Namespace({ ...unit.inputs });
      const exp = unit.expected;
      const before = sink.length;
      // Our fix of the reference (Q15): in_experiment is the experiment's own answer.
      const expectedIn = exp.experiment === null ? false : exp.experiment_in_experiment;
      expect(ns.inExperiment).toBe(expectedIn);
      const got: Record<string, unknown> = {};
      for (const name of c.query_params) got[name] = ns.get(name, null);
      expectSame(got, exp.get, `${where} get`);
      const exposure = sink.slice(before).some((r) => r.event === 'exposure');
      expect(exposure).toBe(exp.exposure_logged);
      expect(ns.segment).toBe(exp.segment);
      const current = ns.currentExperiment;
      expect(current === undefined ? null : ns.allocations.get(ns.segment)).toBe(exp.experiment);
      expect(current?.name ?? null).toBe(exp.experiment_name);
      expect(current?.salt ?? null).toBe(exp.experiment_salt);
      expect(current?.inExperiment ?? null).toBe(exp.experiment_in_experiment);
      if (current) {
        current.setAutoExposureLogging(false);
        expectSame(current.getParams(), exp.experiment_params, `${where} params`);
      } else {
        expect(exp.experiment_params).toBeNull();
      }
    });
  });

  afterAll(() => {
    console.log(`namespaces conformance: ${executedCases()} cases executed`);
  });
});
