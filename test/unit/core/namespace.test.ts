import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import {
  Assignment,
  CPythonIntSet,
  Experiment,
  InterpretedExperiment,
  Interpreter,
  PlanoutError,
  parsePlanoutJson,
  shortChecksum,
  stringifyPlanoutJson,
  type PlanoutObject,
  SimpleNamespace,
  UniformChoice,
  type PlanoutLogRecord,
} from '../../../src/core/index.js';

const records: PlanoutLogRecord[] = [];

class ColorTest extends Experiment<{ color: string }> {
  assign(params: Assignment<{ color: string }>, inputs: Record<string, unknown>): void {
    params.set('color', new UniformChoice({ choices: ['red', 'blue'], unit: inputs.userid as string }));
  }
  protected override log(record: PlanoutLogRecord): void {
    records.push(record);
  }
}

class OutOfExperiment extends ColorTest {
  override assign(params: Assignment<{ color: string }>, inputs: Record<string, unknown>): boolean {
    super.assign(params, inputs);
    return false;
  }
}

let setups = 0;
class HomePage extends SimpleNamespace {
  protected setup(): void {
    this.name = 'home page';
    this.primaryUnit = 'userid';
    this.numSegments = 10;
  }
  protected setupExperiments(): void {
    setups++;
    this.addExperiment('colors', ColorTest, 4);
    this.addExperiment('closed', OutOfExperiment, 3);
  }
  protected override getDefaultParams(): Record<string, unknown> {
    return { color: 'grey' };
  }
}

describe('SimpleNamespace', () => {
  it('routes units to experiments by segment, others get the default params', () => {
    const seen = new Map<string | undefined, number>();
    for (let id = 0; id < 300; id++) {
      const ns = new HomePage({ userid: id });
      const owner = ns.allocations.get(ns.segment);
      seen.set(owner, (seen.get(owner) ?? 0) + 1);
      const color = ns.get('color');
      if (owner === undefined) {
        expect(color).toBe('grey');
        expect(ns.inExperiment).toBe(false);
        expect(ns.currentExperiment).toBeUndefined();
      } else {
        expect(['red', 'blue']).toContain(color);
        expect(ns.currentExperiment?.name).toBe(`home-page-${owner}`);
        expect(ns.currentExperiment?.salt).toBe(`home page.${owner}`);
        // The experiment's own answer, also when it returned false (a reference bug we fix).
        expect(ns.inExperiment).toBe(owner === 'colors');
      }
    }
    expect([...seen.keys()].sort()).toEqual(['closed', 'colors', undefined].sort());
    expect([...new HomePage({ userid: 1 }).allocations.values()].filter((n) => n === 'colors')).toHaveLength(4);
  });

  it('defines the layout once per class, not per unit', () => {
    const before = setups;
    for (let id = 0; id < 50; id++) new HomePage({ userid: id }).get('color');
    expect(setups).toBe(before);
  });

  it('logs exposures only for units in an experiment that assigned them', () => {
    records.length = 0;
    for (let id = 0; id < 100; id++) new HomePage({ userid: id }).get('color');
    expect(records.length).toBeGreaterThan(0);
    expect(new Set(records.map((r) => r.name))).toEqual(new Set(['home-page-colors']));
  });

  it('refuses to allocate more segments than are free, or a name twice', () => {
    class Small extends SimpleNamespace {
      results: boolean[] = [];
      protected setup(): void {
        this.name = 'small';
        this.primaryUnit = ['userid', 'country'];
        this.numSegments = 4;
      }
      protected setupExperiments(): void {
        this.results = [
          this.addExperiment('a', ColorTest, 3),
          this.addExperiment('a', ColorTest, 1),
          this.addExperiment('b', ColorTest, 2),
          this.removeExperiment('a'),
          this.removeExperiment('a'),
          this.addExperiment('b2', ColorTest, 3),
        ];
      }
    }
    const ns = new Small({ userid: 1, country: 'US' });
    expect(ns.allocations.size).toBe(3); // the first instance builds the layout
    expect(ns.results).toEqual([true, false, false, true, false, true]);
    expect(() => new Small({ userid: 1 }).get('color')).toThrow(/Experiment "small", param "country": missing primary unit/);
  });

  it('rejects a namespace without segments', () => {
    class Empty extends SimpleNamespace {
      protected setup(): void {
        this.name = 'empty';
        this.primaryUnit = 'userid';
      }
      protected setupExperiments(): void {}
    }
    expect(() => new Empty({ userid: 1 }).get('x')).toThrow(PlanoutError);
  });
});

describe('CPythonIntSet', () => {
  it('iterates in ascending order until a removal, then reuses the last dummy slot on the probe path', () => {
    const set = CPythonIntSet.range(20);
    expect(set.toArray()).toEqual(Array.from({ length: 20 }, (_, i) => i));
    set.delete(3);
    set.delete(5);
    expect(set.has(3)).toBe(false);
    expect(set.size).toBe(18);
    set.add(3);
    expect(set.has(3)).toBe(true);
    expect(set.size).toBe(19);
  });
});

describe('InterpretedExperiment', () => {
  const dir = mkdtempSync(join(tmpdir(), 'planout-script-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const script = {
    op: 'seq',
    seq: [
      { op: 'set', var: 'price', value: { op: 'uniformChoice', choices: [1.0, 2.0], unit: { op: 'get', var: 'userid' } } },
      { op: 'set', var: 'key', value: { op: 'get', var: 'price' } },
    ],
  };

  it('loads a script from a JSON file keeping 2.0 a float, and checksums it as the reference does', () => {
    // Written by hand: JSON.stringify would drop the ".0" that changes what gets hashed.
    const text = JSON.stringify(script).replace('[1,2]', '[1.0, 2.0]');
    const file = join(dir, 'price.json');
    writeFileSync(file, text);
    const FromFile = InterpretedExperiment.define({ name: 'price test', scriptFile: file });
    const FromObject = InterpretedExperiment.define({ name: 'price test', script });
    for (let id = 0; id < 20; id++) {
      const a = new FromFile({ userid: id });
      const b = new FromObject({ userid: id });
      expect(a.getParams()).toEqual(b.getParams());
      expect(a.name).toBe('price-test');
      expect(a.checksum).toMatch(/^[0-9a-f]{8}$/);
    }
  });

  it('names the experiment in errors about its script file', () => {
    expect(() => InterpretedExperiment.define({ name: 'missing', scriptFile: join(dir, 'nope.json') })).toThrow(
      /Experiment "missing": cannot read script file/,
    );
  });
});

describe('InterpretedExperiment checksum', () => {
  // Branches reach different `set`s, so different default salts are written into the script.
  const script = parsePlanoutJson(`{"op": "seq", "seq": [
    {"op": "set", "var": "group", "value": {"op": "randomInteger", "min": 0, "max": 2, "unit": {"op": "get", "var": "userid"}}},
    {"op": "cond", "cond": [
      {"if": {"op": "equals", "left": {"op": "get", "var": "group"}, "right": 0},
       "then": {"op": "set", "var": "color", "value": {"op": "uniformChoice", "choices": ["red", "blue"], "unit": {"op": "get", "var": "userid"}}}},
      {"if": {"op": "equals", "left": {"op": "get", "var": "group"}, "right": 1},
       "then": {"op": "return", "value": false}}]},
    {"op": "set", "var": "size", "value": {"op": "uniformChoice", "choices": [1, 2], "unit": {"op": "get", "var": "userid"}}}
  ]}`) as PlanoutObject;

  /** The reference's way: run a fresh copy that the interpreter salts in place, hash its json.dumps. */
  function referenceChecksum(userid: number): string {
    const copy = structuredClone(script);
    new Interpreter(copy, 'branchy', { userid }).getParams();
    return shortChecksum(stringifyPlanoutJson(copy));
  }

  it('equals the checksum of a freshly salted copy, for every branch', () => {
    const Branchy = InterpretedExperiment.define({ name: 'branchy', script });
    const distinct = new Set<string>();
    for (let userid = 0; userid < 40; userid++) {
      const exp = new Branchy({ userid });
      exp.getParams();
      expect(exp.checksum).toBe(referenceChecksum(userid));
      distinct.add(exp.checksum);
    }
    expect(distinct.size).toBe(3);
    // The shared script itself was never modified.
    expect(JSON.stringify(script)).not.toContain('"salt"');
  });
});
