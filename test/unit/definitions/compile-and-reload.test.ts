import { describe, expect, it } from '@jest/globals';
import {
  compileExperimentDefinition,
  compilePlanout,
  DefinitionSource,
  InterpretedExperiment,
  parseDefinitionFiles,
  PlanoutDefinitionError,
  PlanoutDefinitions,
  PlanoutMetrics,
  PlanoutSyntaxError,
  PlanoutUnknownExperimentError,
  stringifyPlanoutJson,
  type DefinitionSet,
} from '../../../src/index.js';

/** A source whose content the test sets; reload() is called by hand. */
class MutableSource extends DefinitionSource {
  readonly description = 'test';
  set: DefinitionSet = { experiments: [], namespaces: [] };
  async load(): Promise<DefinitionSet> {
    return this.set;
  }
  watch(): () => void {
    return () => undefined;
  }
}

async function definitionsOver(set: DefinitionSet) {
  const source = new MutableSource();
  source.set = set;
  const metrics = new PlanoutMetrics();
  const definitions = new PlanoutDefinitions(source, metrics, {});
  await definitions.start({ names: new Set(), salts: new Set() });
  return { source, metrics, definitions };
}

describe('compileExperimentDefinition', () => {
  it('PlanOut source, JSON text and script objects give the same script and the reference checksum', () => {
    const program = "color = uniformChoice(choices=['a', 'b'], unit=userid);";
    const script = compilePlanout(program);
    const fromSource = compileExperimentDefinition({ name: 'e', script: program });
    const fromJson = compileExperimentDefinition({ name: 'e', script: stringifyPlanoutJson(script) });
    const fromObject = compileExperimentDefinition({ name: 'e', script });
    expect(fromSource.script).toEqual(script);
    expect(fromJson.script).toEqual(script);
    expect(fromObject.script).toEqual(script);
    expect(fromSource.salt).toBe('e');
    const Reference = InterpretedExperiment.define({ name: 'e', script });
    expect(new fromSource.type({ userid: 'u' }).checksum).toBe(new Reference({ userid: 'u' }).checksum);
  });

  it('refuses, naming the experiment: a syntax error, an unknown operator, a dry-run argument error, a bad name', () => {
    expect(() => compileExperimentDefinition({ name: 'broken', script: 'x = ;' })).toThrow(PlanoutSyntaxError);
    expect(() => compileExperimentDefinition({ name: 'broken', script: 'x = ;' })).toThrow(/broken/);
    expect(() => compileExperimentDefinition({ name: 'ops', script: { op: 'seq', seq: [{ op: 'nosuchop' }] } })).toThrow(
      /ops.*unknown operator "nosuchop"|unknown operator "nosuchop".*ops/,
    );
    const dry = () => compileExperimentDefinition({ name: 'dry', script: 'x = bernoulliTrial(p=2, unit=userid);' });
    expect(dry).toThrow(PlanoutDefinitionError);
    expect(dry).toThrow(/dry run failed/);
    expect(() => compileExperimentDefinition({ name: '  ', script: 'x = 1;' })).toThrow(/needs a name/);
    expect(() => compileExperimentDefinition({ name: 'j', script: '{not json', language: 'json' })).toThrow(/not valid JSON/);
  });
});

describe('parseDefinitionFiles', () => {
  it('reads .planout, .json (plain or with a salt) and .namespace.json; ignores other files', () => {
    const set = parseDefinitionFiles(
      new Map([
        ['a.planout', 'x = 1;'],
        ['b.json', stringifyPlanoutJson(compilePlanout('y = 2;'))],
        ['c.json', JSON.stringify({ salt: 'c-salt', script: 'z = 3;' })],
        ['ns.namespace.json', JSON.stringify({ primaryUnit: 'userid', segments: 4, history: [{ action: 'add', name: 'one', experiment: 'a', segments: 2 }] })],
        ['README.md', '#'],
        ['.a.planout.swp', 'junk'],
      ]),
    );
    expect(set.experiments.map((e) => [e.name, e.salt ?? null, e.language ?? null])).toEqual([
      ['a', null, 'planout'],
      ['b', null, 'json'],
      ['c', 'c-salt', null],
    ]);
    expect(set.namespaces).toEqual([{ name: 'ns', primaryUnit: 'userid', segments: 4, history: [{ action: 'add', name: 'one', experiment: 'a', segments: 2 }] }]);
    expect(set.problems).toEqual([]);
  });

  it('a name defined twice, malformed JSON and a malformed namespace become problems under their names', () => {
    const set = parseDefinitionFiles(
      new Map([
        ['d.planout', 'x = 1;'],
        ['d.json', '{"op": "seq", "seq": []}'],
        ['e.json', '{oops'],
        ['n.namespace.json', '{"primaryUnit": "userid", "segments": 0, "history": []}'],
      ]),
    );
    expect(set.experiments).toEqual([]);
    expect(set.problems!.map((p) => [p.kind, p.name])).toEqual([
      ['experiment', 'd'],
      ['experiment', 'e'],
      ['namespace', 'n'],
    ]);
    expect(set.problems![2]!.message).toMatch(/segments/);
  });
});

describe('PlanoutDefinitions reloads', () => {
  it('swaps only complete snapshots; an unreadable entry keeps its last good version; removal forgets it', async () => {
    const { source, definitions, metrics } = await definitionsOver({ experiments: [{ name: 'a', script: 'v = 1;' }], namespaces: [] });
    const owner = {};
    const first = definitions.experiment(owner, 'a');
    expect(definitions.snapshot.version).toBe(1);

    source.set = { experiments: [], namespaces: [], problems: [{ kind: 'experiment', name: 'a', message: 'a.json: bad' }] };
    await definitions.reload();
    expect(definitions.snapshot.experiments.get('a')).toBe(first);
    expect(definitions.report().errors).toMatchObject([{ name: 'a', serving: true, message: 'a.json: bad' }]);

    // The same error again is not counted again.
    await definitions.reload();
    expect(metrics.snapshot().definitionsRejected).toBe(1);
    expect(metrics.snapshot().definitionReloads).toBe(3);

    source.set = { experiments: [], namespaces: [] };
    await definitions.reload();
    expect(definitions.snapshot.experiments.size).toBe(0);
    expect(definitions.report().errors).toEqual([]);
    // The owner's snapshot was taken before: it still resolves.
    expect(definitions.experiment(owner, 'a')).toBe(first);
    expect(() => definitions.experiment({}, 'a')).toThrow(PlanoutUnknownExperimentError);
  });

  it('an unreachable source keeps everything serving and reports a source error until it answers again', async () => {
    const { source, definitions, metrics } = await definitionsOver({ experiments: [{ name: 'a', script: 'v = 1;' }], namespaces: [] });
    const serving = definitions.snapshot;
    const load = source.load.bind(source);
    source.load = async () => {
      throw new Error('connection refused');
    };
    await definitions.reload();
    expect(definitions.snapshot).toBe(serving);
    expect(definitions.report().errors).toMatchObject([{ kind: 'source', name: 'source', message: 'cannot read test: connection refused' }]);
    expect(metrics.snapshot().definitionsRejected).toBe(1);
    source.load = load;
    // Retried without a notification (a first retry after 250 ms).
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(definitions.report().errors).toEqual([]);
    expect(definitions.snapshot).toBe(serving);
    expect(metrics.snapshot().definitionReloads).toBe(2);
    await definitions.onApplicationShutdown();
  });

  it('an unchanged definition is not compiled again; two definitions with one salt: the later name is refused', async () => {
    const { source, definitions } = await definitionsOver({
      experiments: [
        { name: 'a', script: 'v = 1;' },
        { name: 'b', salt: 'a', script: 'v = 2;' },
      ],
      namespaces: [],
    });
    const a = definitions.snapshot.experiments.get('a');
    expect(definitions.snapshot.experiments.has('b')).toBe(false);
    expect(definitions.report().errors).toMatchObject([{ name: 'b', serving: false }]);
    source.set = { experiments: [{ name: 'a', script: 'v = 1;' }], namespaces: [] };
    await definitions.reload();
    expect(definitions.snapshot.experiments.get('a')).toBe(a);
  });

  it('namespace history is append-only: a rewrite is refused and the serving layout stays', async () => {
    const ns = (history: DefinitionSet['namespaces'][number]['history']) => ({ name: 'ns', primaryUnit: 'userid', segments: 10, history });
    const experiments = [
      { name: 'x', script: 'p = 1;' },
      { name: 'y', script: 'p = 2;' },
    ];
    const { source, definitions } = await definitionsOver({ experiments, namespaces: [ns([{ action: 'add', name: 'one', experiment: 'x', segments: 5 }])] });
    const served = definitions.snapshot.namespaces.get('ns');
    expect(new served!.type({}).allocations.size).toBe(5);

    source.set = { experiments, namespaces: [ns([{ action: 'add', name: 'one', experiment: 'y', segments: 5 }])] };
    await definitions.reload();
    expect(definitions.snapshot.namespaces.get('ns')).toBe(served);
    expect(definitions.report().errors[0]!.message).toMatch(/append-only/);

    source.set = {
      experiments,
      namespaces: [
        ns([
          { action: 'add', name: 'one', experiment: 'x', segments: 5 },
          { action: 'remove', name: 'one' },
          { action: 'add', name: 'two', experiment: 'y', segments: 8 },
        ]),
      ],
    };
    await definitions.reload();
    const next = definitions.snapshot.namespaces.get('ns')!;
    expect(next).not.toBe(served);
    expect([...new Set(new next.type({}).allocations.values())]).toEqual(['two']);
    expect(definitions.report().errors).toEqual([]);

    // A step that cannot apply (more segments than free) is refused too.
    source.set = { experiments, namespaces: [ns([...next.history, { action: 'add', name: 'three', experiment: 'x', segments: 5 }])] };
    await definitions.reload();
    expect(definitions.snapshot.namespaces.get('ns')).toBe(next);
    expect(definitions.report().errors[0]!.message).toMatch(/history\[3\].*cannot apply/);
  });
});
