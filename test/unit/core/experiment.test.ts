import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import {
  Assignment,
  BernoulliTrial,
  Experiment,
  PlanoutError,
  Sample,
  SimpleExperiment,
  UniformChoice,
  type PlanoutLogRecord,
} from '../../../src/core/index.js';

interface Exp1Params {
  group_size: number;
  specific_goal: number;
  ratings_per_user_goal: number;
  ratings_goal: number;
}

/** The PlanOut seeds' Exp1, written as TypeScript. */
class Exp1 extends Experiment<Exp1Params, { userid: string | number }> {
  readonly records: PlanoutLogRecord[] = [];
  constructor(inputs: { userid: string | number }, private readonly saltOverride?: string) {
    super(inputs);
  }
  protected override setup(): void {
    this.name = 'Exp1';
    if (this.saltOverride) this.salt = this.saltOverride;
  }
  assign(params: Assignment<Exp1Params>, { userid }: { userid: string | number }): void {
    params.set('group_size', new UniformChoice({ choices: [1, 10], unit: userid }));
    params.set('specific_goal', new BernoulliTrial({ p: 0.8, unit: userid }));
    if (params.get('specific_goal')) {
      params.set('ratings_per_user_goal', new UniformChoice({ choices: [8, 16, 32, 64], unit: userid }));
      params.set('ratings_goal', params.get('group_size')! * params.get('ratings_per_user_goal')!);
    }
  }
  protected override log(record: PlanoutLogRecord): void {
    this.records.push(record);
  }
}

/** The seeds' targeting example: only units in Germany are in the experiment. */
class GermanyExperiment extends Experiment<{ feature_enabled: number }, { userid: string; country: string }> {
  readonly records: PlanoutLogRecord[] = [];
  assign(params: Assignment<{ feature_enabled: number }>, { userid, country }: { userid: string; country: string }) {
    if (country !== 'Germany') return false;
    params.set('feature_enabled', new BernoulliTrial({ p: 0.5, unit: userid }));
  }
  protected override log(record: PlanoutLogRecord): void {
    this.records.push(record);
  }
}

/** The seeds' price example: units drawn 0.99 get 0.5 and are not in the experiment. */
class PriceExperiment extends Experiment<{ trade_price: number }, { userid: string }> {
  readonly records: PlanoutLogRecord[] = [];
  assign(params: Assignment<{ trade_price: number }>, { userid }: { userid: string }) {
    params.set('trade_price', new UniformChoice({ choices: [0.1, 0.25, 0.5, 0.99], unit: userid }));
    if (params.get('trade_price') === 0.99) {
      params.set('trade_price', 0.5);
      return false;
    }
  }
  protected override log(record: PlanoutLogRecord): void {
    this.records.push(record);
  }
}

describe('class-based experiments', () => {
  it('Exp1 matches the reference for a unit of the public vectors', () => {
    // demo_exp1 run by the Python reference with this salt and unit.
    const exp = new Exp1({ userid: 'ranker1886@example.com' }, 'cart_onboard\\share56');
    expect(exp.getParams()).toEqual({ group_size: 10, specific_goal: 1, ratings_per_user_goal: 8, ratings_goal: 80 });
  });

  it('Exp1 logs one exposure per instance, in the reference record format', () => {
    const exp = new Exp1({ userid: 42 });
    const before = Math.floor(Date.now() / 1000);
    const groupSize = exp.get('group_size');
    exp.get('specific_goal');
    exp.getParams();
    expect([1, 10]).toContain(groupSize);
    expect(exp.records).toHaveLength(1);
    const [record] = exp.records;
    expect(record).toEqual({
      name: 'Exp1',
      salt: 'Exp1',
      inputs: { userid: 42 },
      params: exp.getParams(),
      event: 'exposure',
      time: expect.any(Number),
      checksum: expect.stringMatching(/^[0-9a-f]{8}$/),
    });
    expect(record.time).toBeGreaterThanOrEqual(before);
    expect(Number.isInteger(record.time)).toBe(true);
    // A new instance for the same unit logs again (the base class does not dedupe).
    const again = new Exp1({ userid: 42 });
    again.get('group_size');
    expect(again.records).toHaveLength(1);
    expect(again.records[0].params).toEqual(record.params);
  });

  it('Exp1 assigns every group size and both goal branches over many units', () => {
    const seen = new Set<string>();
    for (let id = 0; id < 200; id++) {
      const p = new Exp1({ userid: id }).getParams();
      seen.add(`${p.group_size}/${p.specific_goal}`);
      if (p.specific_goal) expect(p.ratings_goal).toBe(p.group_size * p.ratings_per_user_goal);
      else expect(p.ratings_goal).toBeUndefined();
    }
    expect(seen).toEqual(new Set(['1/0', '1/1', '10/0', '10/1']));
  });

  it('the Germany example returns false outside Germany and logs nothing', () => {
    const outside = new GermanyExperiment({ userid: 'u1', country: 'France' });
    expect(outside.get('feature_enabled', false)).toBe(false);
    expect(outside.inExperiment).toBe(false);
    outside.logExposure();
    outside.logEvent('click');
    expect(outside.records).toEqual([]);

    const inside = new GermanyExperiment({ userid: 'u1', country: 'Germany' });
    expect([0, 1]).toContain(inside.get('feature_enabled'));
    expect(inside.inExperiment).toBe(true);
    expect(inside.records.map((r) => r.event)).toEqual(['exposure']);
  });

  it('in_experiment is the truth even before assignment (a reference bug we fix)', () => {
    const exp = new GermanyExperiment({ userid: 'u2', country: 'Spain' });
    expect(exp.inExperiment).toBe(false);
    // The reference would log this first event; we do not.
    const fresh = new GermanyExperiment({ userid: 'u2', country: 'Spain' });
    fresh.logEvent('purchase', { amount: 3 });
    expect(fresh.records).toEqual([]);
  });

  it('the price example remaps 0.99 to 0.5, returns false and logs no exposure', () => {
    // Draw each unit twice: once through the experiment, once through the bare operator,
    // so units drawn 0.5 (in the experiment) and 0.99 (moved to 0.5, out) are told apart.
    const drawn = new Map<number, number>();
    for (let i = 0; i < 400; i++) {
      const userid = `user-${i}`;
      const exp = new PriceExperiment({ userid });
      const price = exp.get('trade_price');
      const bare = new Assignment<{ trade_price: number }>('PriceExperiment');
      bare.set('trade_price', new UniformChoice({ choices: [0.1, 0.25, 0.5, 0.99], unit: userid }));
      const draw = bare.get('trade_price')!;
      drawn.set(draw, (drawn.get(draw) ?? 0) + 1);
      if (draw === 0.99) {
        expect(price).toBe(0.5);
        expect(exp.inExperiment).toBe(false);
        expect(exp.records).toEqual([]);
      } else {
        expect(price).toBe(draw);
        expect(exp.inExperiment).toBe(true);
        expect(exp.records).toHaveLength(1);
        expect(exp.records[0].params).toEqual({ trade_price: draw });
      }
    }
    // Every arm is drawn, each about a quarter of the time.
    expect([...drawn.keys()].sort()).toEqual([0.1, 0.25, 0.5, 0.99]);
    for (const count of drawn.values()) expect(count).toBeGreaterThan(60);
  });


  it('previouslyLogged really dedupes exposures across instances', () => {
    const logged = new Set<string>();
    const records: PlanoutLogRecord[] = [];
    class Deduped extends Exp1 {
      protected override previouslyLogged(): boolean {
        return logged.has(String(this.inputs.userid));
      }
      protected override log(record: PlanoutLogRecord): void {
        records.push(record);
        if (record.event === 'exposure') logged.add(String(record.inputs.userid));
      }
    }
    new Deduped({ userid: 7 }).get('group_size');
    new Deduped({ userid: 7 }).get('group_size');
    new Deduped({ userid: 7 }).logExposure();
    new Deduped({ userid: 8 }).getParams();
    expect(records.map((r) => r.inputs.userid)).toEqual([7, 8]);
  });

  it('logEvent carries extra_data only for non-empty extras, and is not an exposure', () => {
    const exp = new Exp1({ userid: 'e' });
    exp.logEvent('conversion', { amount: 12.5 });
    exp.logEvent('view', {});
    expect(exp.exposureLogged).toBe(false);
    expect(exp.records.map((r) => [r.event, r.extra_data])).toEqual([
      ['conversion', { amount: 12.5 }],
      ['view', undefined],
    ]);
    expect('extra_data' in exp.records[1]).toBe(false);
  });

  it('setAutoExposureLogging(false) leaves exposure to explicit calls', () => {
    const exp = new Exp1({ userid: 'manual' });
    exp.setAutoExposureLogging(false);
    exp.getParams();
    expect(exp.records).toEqual([]);
    exp.logExposure({ source: 'server' });
    expect(exp.records.map((r) => [r.event, r.extra_data])).toEqual([['exposure', { source: 'server' }]]);
  });

  it('overrides fix params and replace inputs of the same name', () => {
    const given = { userid: 1 };
    const exp = new Exp1(given);
    exp.setOverrides({ group_size: 5, userid: 2 });
    expect(given.userid).toBe(1); // the caller's object is left alone
    const reference = new Exp1({ userid: 2 }).getParams();
    expect(exp.get('group_size')).toBe(5);
    expect(exp.get('specific_goal')).toBe(reference.specific_goal);
    expect(exp.inputs.userid).toBe(2);
  });

  it('normalizes names and defaults the salt to the name', () => {
    class Spaced extends Experiment {
      protected override setup(): void {
        this.name = 'Checkout  Button\tTest';
      }
      assign(): void {}
    }
    const exp = new Spaced({});
    expect(exp.name).toBe('Checkout-Button-Test');
    expect(exp.salt).toBe('Checkout-Button-Test');
  });

  it('raises a PlanoutError naming the experiment and the parameter for bad arguments', () => {
    class BadP extends Experiment {
      protected override setup(): void {
        this.name = 'BadP';
      }
      assign(params: Assignment): void {
        params.set('show', new BernoulliTrial({ p: 1.5, unit: 1 }));
      }
    }
    expect(() => new BadP({}).get('show')).toThrow(PlanoutError);
    expect(() => new BadP({}).get('show')).toThrow(/Experiment "BadP", param "show": .*p must be between 0 and 1/);

    class TooManyDraws extends Experiment {
      protected override setup(): void {
        this.name = 'Draws';
      }
      assign(params: Assignment): void {
        params.set('picked', new Sample({ choices: [1, 2], draws: 3, unit: 1 }));
      }
    }
    expect(() => new TooManyDraws({}).getParams()).toThrow(/Experiment "Draws", param "picked": .*draws/);
  });

  it('inputs with __proto__ or constructor keys cannot pollute prototypes', () => {
    const hostile = JSON.parse('{"userid": "x", "__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}}');
    const exp = new Exp1(hostile);
    exp.getParams();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype.hasOwnProperty.call(exp.records[0].inputs, '__proto__')).toBe(true);
    expect(JSON.parse(JSON.stringify(exp.records[0])).inputs.__proto__).toEqual({ polluted: true });
  });
});

describe('SimpleExperiment', () => {
  const dir = mkdtempSync(join(tmpdir(), 'planout-simple-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('appends JSON lines to <name>.log', async () => {
    class Logged extends SimpleExperiment {
      protected override logDirectory(): string {
        return dir;
      }
      protected override setup(): void {
        this.name = 'simple exp';
      }
      assign(params: Assignment, inputs: Record<string, unknown>): void {
        params.set('x', new UniformChoice({ choices: [1, 2.0, 'a'], unit: inputs.userid as string }));
      }
    }
    new Logged({ userid: 'a' }).get('x');
    new Logged({ userid: 'b' }).logEvent('click', { n: 1 });
    await SimpleExperiment.closeLogs();
    const lines = readFileSync(join(dir, 'simple-exp.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.name, l.event, l.inputs.userid])).toEqual([
      ['simple-exp', 'exposure', 'a'],
      ['simple-exp', 'click', 'b'],
    ]);
    expect(lines[1].extra_data).toEqual({ n: 1 });
  });
});
