// Figure 4: SimpleNamespace routing. Per-unit cost of `new NS(inputs).get(param)` for
// several segment counts and experiment counts; it should be flat in both.
import { SimpleNamespace, type ExperimentClass } from '../../src/core/namespace.js';
import { Exp1 } from '../lib/experiments.js';
import { compare, range, round, type Contender } from '../lib/stats.js';
import { progress, runSuite } from '../lib/suite.js';

type NamespaceCtor = new (inputs: Record<string, unknown>) => SimpleNamespace;

/** A namespace of `segments` segments split evenly among `experiments` copies of Exp1. */
function namespaceClass(segments: number, experiments: number): NamespaceCtor {
  return class BenchNamespace extends SimpleNamespace {
    protected setup(): void {
      this.name = `ns_${segments}_${experiments}`;
      this.primaryUnit = 'userid';
      this.numSegments = segments;
    }
    protected setupExperiments(): void {
      const each = Math.floor(segments / experiments);
      for (let i = 0; i < experiments; i++) this.addExperiment(`exp${i}`, Exp1 as unknown as ExperimentClass, each);
    }
  };
}

runSuite('namespace', ({ quick }) => {
  const unitCount = quick ? 50_000 : 100_000;
  const rounds = quick ? 3 : 5;
  const units = range(unitCount, 1_000_000);
  const grid: Array<[number, number]> = [
    [100, 1],
    [100, 20],
    [1_000, 20],
    [10_000, 1],
    [10_000, 20],
  ];
  const setupMs: Record<string, number> = {};
  const contenders = grid.map(([segments, experiments]): Contender<number> => {
    const NS = namespaceClass(segments, experiments);
    const t = performance.now();
    new NS({ userid: 0 }).get('group_size'); // builds the layout once per class
    setupMs[`${segments}x${experiments}`] = round(performance.now() - t, 1);
    return {
      name: `${segments}x${experiments}`,
      fn: (userid) => {
        const ns = new NS({ userid });
        return (ns.get('group_size') as number) + (ns.get('specific_goal') as number) + (ns.get('ratings_goal') as number);
      },
    };
  });
  progress(`namespace: ${grid.length} layouts × ${unitCount} units × ${rounds} rounds`);
  const ns = compare(units, contenders, rounds);
  const values = Object.values(ns);
  return {
    units: unitCount,
    rounds,
    ns_per_unit_by_segments_x_experiments: Object.fromEntries(Object.entries(ns).map(([k, v]) => [k, round(v, 1)])),
    layout_setup_ms: setupMs,
    max_over_min: round(Math.max(...values) / Math.min(...values), 3),
  };
});
