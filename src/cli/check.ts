import { Assignment } from '../core/assignment.js';
import { Interpreter, OperatorRegistry } from '../core/interpreter.js';
import { stringifyPlanoutJson } from '../core/json.js';
import { hasOwn, isPlainObject, toNumber, isPyNumber, type PlanoutObject, type PlanoutValue } from '../core/values.js';
import { chiSquareTest, type ChiSquareResult } from '../core/stats/chi-square.js';

export interface CheckOptions {
  /** How many synthetic units to run (default 10 000). */
  units?: number;
  /** The input the units are given as, `userid` by default; unit k (1..N) gets the value k. */
  unitInput?: string;
  /** Other inputs, the same for every unit. */
  inputs?: PlanoutObject;
  /** The experiment salt the script runs with. */
  salt: string;
}

/** One value of a param: how many units got it and, when the weights define it, its expected share. */
export interface ValueShare {
  value: unknown;
  /** The value as JSON (Python `json.dumps` form, so `2.0` and `2` differ). */
  label: string;
  count: number;
  share: number;
  expected: number | undefined;
}

export interface ParamReport {
  param: string;
  /**
   * `draw`: the values a random operator assigned to the param (each evaluation counted);
   * `final`: the param's values at the end of the script (observed only).
   */
  kind: 'draw' | 'final';
  /** The random operator of a draw. */
  operator?: string;
  /** Where expected shares come from: the operator's weights, or nowhere (observed only). */
  expectedFrom: 'weights' | undefined;
  /** Why there is no expected share, when there is none. */
  note?: string;
  /** Units counted (drawn for, or that have the param at the end). */
  units: number;
  values: ValueShare[];
  /** Values beyond the listed ones (continuous draws have many). */
  otherValues: number;
  chiSquare: ChiSquareResult | undefined;
}

export interface CheckReport {
  units: number;
  unitInput: string;
  salt: string;
  inExperiment: number;
  params: ParamReport[];
}

/** Listed values per param; the rest are summarized as "other values". */
const MAX_LISTED_VALUES = 20;

/** The operators whose weights define the shares of their values. */
const WEIGHTED = new Set(['uniformChoice', 'weightedChoice', 'bernoulliTrial']);
const RANDOM = new Set([...WEIGHTED, 'randomInteger', 'randomFloat', 'sample', 'fastSample', 'bernoulliFilter']);

const DRAW_OP = 'nestjsPlanoutCheckDraw';

interface Draw {
  id: number;
  param: string;
  operator: string;
  expected: Map<string, { value: PlanoutValue; share: number }> | undefined;
  note: string | undefined;
  counts: Map<string, { value: unknown; count: number }>;
  units: number;
}

/**
 * Runs a script on `units` synthetic units and tallies, per param, the values drawn by each
 * random operator (with expected shares and a chi-square test where the operator's weights
 * define them) and, for params computed or reassigned by the script, their final values.
 */
export function checkDistribution(script: PlanoutObject, options: CheckOptions): CheckReport {
  const units = options.units ?? 10_000;
  const unitInput = options.unitInput ?? 'userid';
  const draws: Draw[] = [];
  const instrumented = instrument(script, draws) as PlanoutObject;

  // Which draw produced each param's current value (undefined: the script computed it).
  let lastDraw: Draw | undefined;
  let sources = new Map<string, Draw | undefined>();
  class SourceTrackingAssignment extends Assignment {
    override set(name: string, value: PlanoutValue): void {
      super.set(name, value);
      sources.set(name, lastDraw);
      lastDraw = undefined;
    }
  }
  const operators = new OperatorRegistry().register(DRAW_OP, (node, context) => {
    const draw = draws[node.id as number];
    const inner = node.value as PlanoutObject;
    // `set` salted this wrapper with the param's name; the operator it wraps hashes with it.
    const salted = hasOwn(inner, 'salt') || !hasOwn(node, 'salt') ? inner : { ...inner, salt: node.salt };
    const value = context.evaluate(salted);
    tally(draw.counts, value);
    draw.units++;
    lastDraw = draw;
    return value;
  });

  const finals = new Map<string, { counts: Map<string, { value: unknown; count: number }>; units: number; computed: number }>();
  let inExperiment = 0;
  for (let unit = 1; unit <= units; unit++) {
    sources = new Map();
    lastDraw = undefined;
    const environment = new SourceTrackingAssignment(options.salt);
    const interpreter = new Interpreter(instrumented, options.salt, { ...options.inputs, [unitInput]: unit }, {
      environment,
      operators,
      mutateScript: false,
    });
    if (interpreter.inExperiment) inExperiment++;
    const params = interpreter.getParams();
    for (const param of Object.keys(params)) {
      let final = finals.get(param);
      if (final === undefined) finals.set(param, (final = { counts: new Map(), units: 0, computed: 0 }));
      tally(final.counts, environment.get(param) as PlanoutValue);
      final.units++;
      if (sources.get(param) === undefined) final.computed++;
    }
  }

  const reports: ParamReport[] = [];
  const drawnParams = new Set(draws.map((d) => d.param));
  const order = [...new Set([...draws.map((d) => d.param), ...finals.keys()])];
  for (const param of order) {
    const paramDraws = draws.filter((d) => d.param === param && d.units > 0);
    for (const draw of paramDraws) reports.push(drawReport(draw));
    const final = finals.get(param);
    // Final values add something when the script computed the param, reassigned it, or drew it in several places.
    if (final !== undefined && (!drawnParams.has(param) || final.computed > 0 || paramDraws.length > 1)) {
      reports.push({
        param,
        kind: 'final',
        expectedFrom: undefined,
        note: drawnParams.has(param) ? 'final values, after the script reassigned it' : 'computed by the script',
        ...listed(final.counts, final.units, undefined),
        units: final.units,
        chiSquare: undefined,
      });
    }
  }
  return { units, unitInput, salt: options.salt, inExperiment, params: reports };
}

function drawReport(draw: Draw): ParamReport {
  const shares = listed(draw.counts, draw.units, draw.expected);
  let chiSquare: ChiSquareResult | undefined;
  if (draw.expected !== undefined) {
    const keys = [...draw.expected.keys()];
    const unexpected = [...draw.counts.keys()].filter((key) => !draw.expected!.has(key));
    chiSquare = chiSquareTest(
      [...keys.map((key) => draw.counts.get(key)?.count ?? 0), ...unexpected.map((key) => draw.counts.get(key)!.count)],
      [...keys.map((key) => draw.expected!.get(key)!.share), ...unexpected.map(() => 0)],
    );
  }
  return {
    param: draw.param,
    kind: 'draw',
    operator: draw.operator,
    expectedFrom: draw.expected !== undefined ? 'weights' : undefined,
    note: draw.note,
    units: draw.units,
    ...shares,
    chiSquare,
  };
}

/** The values in a stable order: expected ones in weight order, then by count. */
function listed(
  counts: Map<string, { value: unknown; count: number }>,
  units: number,
  expected: Map<string, { value: PlanoutValue; share: number }> | undefined,
): { values: ValueShare[]; otherValues: number } {
  const keys = expected !== undefined ? [...expected.keys()] : [];
  const rest = [...counts.keys()]
    .filter((key) => expected === undefined || !expected.has(key))
    .sort((a, b) => counts.get(b)!.count - counts.get(a)!.count || compareLabels(a, b));
  const all = [...keys, ...rest];
  const values = all.slice(0, Math.max(MAX_LISTED_VALUES, keys.length)).map((label) => {
    const count = counts.get(label)?.count ?? 0;
    return {
      value: counts.get(label)?.value ?? expected?.get(label)?.value,
      label,
      count,
      share: units > 0 ? count / units : 0,
      expected: expected?.get(label)?.share,
    };
  });
  return { values, otherValues: all.length - values.length };
}

function compareLabels(a: string, b: string): number {
  const x = Number(a);
  const y = Number(b);
  if (!Number.isNaN(x) && !Number.isNaN(y)) return x - y;
  return a < b ? -1 : a > b ? 1 : 0;
}

function tally(counts: Map<string, { value: unknown; count: number }>, value: PlanoutValue): void {
  const label = stringifyPlanoutJson(value);
  const entry = counts.get(label);
  if (entry) entry.count++;
  else counts.set(label, { value, count: 1 });
}

/**
 * A copy of the script where each `set` of a random operator goes through the draw
 * counter. Hashing is unchanged: the counter hands its default salt to the operator.
 */
function instrument(node: PlanoutValue, draws: Draw[]): PlanoutValue {
  if (Array.isArray(node)) return node.map((item) => instrument(item, draws));
  if (!isPlainObject(node)) return node;
  const out: PlanoutObject = {};
  for (const key of Object.keys(node)) out[key] = instrument(node[key], draws);
  if (out.op === 'set' && typeof out.var === 'string' && isPlainObject(out.value) && RANDOM.has(out.value.op as string)) {
    const operator = out.value.op as string;
    const { expected, note } = expectedShares(node.value as PlanoutObject);
    const draw: Draw = { id: draws.length, param: out.var, operator, expected, note, counts: new Map(), units: 0 };
    draws.push(draw);
    out.value = { op: DRAW_OP, id: draw.id, value: out.value };
  }
  return out;
}

/** The shares a random operator's constant arguments define, or why they define none. */
function expectedShares(node: PlanoutObject): {
  expected: Map<string, { value: PlanoutValue; share: number }> | undefined;
  note: string | undefined;
} {
  const op = node.op as string;
  if (!WEIGHTED.has(op)) return { expected: undefined, note: `${op}: observed shares only` };
  const none = { expected: undefined, note: `${op} with computed arguments: observed shares only` };
  const expected = new Map<string, { value: PlanoutValue; share: number }>();
  const add = (value: PlanoutValue, share: number): void => {
    const label = stringifyPlanoutJson(value);
    const entry = expected.get(label);
    if (entry) entry.share += share;
    else expected.set(label, { value, share });
  };
  if (op === 'bernoulliTrial') {
    const p = constant(node.p);
    if (p === undefined || !isPyNumber(p)) return none;
    const probability = toNumber(p);
    if (!(probability >= 0 && probability <= 1)) return none;
    add(1, probability);
    add(0, 1 - probability);
    return { expected, note: undefined };
  }
  const choices = constant(node.choices);
  if (!Array.isArray(choices) || choices.length === 0) return none;
  if (op === 'uniformChoice') {
    for (const choice of choices) add(choice, 1 / choices.length);
    return { expected, note: undefined };
  }
  const weights = constant(node.weights);
  if (!Array.isArray(weights) || weights.length !== choices.length || !weights.every(isPyNumber)) return none;
  const numbers = weights.map((w) => toNumber(w as number));
  const total = numbers.reduce((a, b) => a + b, 0);
  if (!(total > 0) || numbers.some((w) => w < 0)) return none;
  choices.forEach((choice, i) => add(choice, numbers[i] / total));
  return { expected, note: undefined };
}

/** The value of a node that needs no evaluation (literals, arrays of literals), else undefined. */
function constant(node: PlanoutValue): PlanoutValue | undefined {
  if (Array.isArray(node)) {
    const items = node.map(constant);
    return items.some((item) => item === undefined) ? undefined : (items as PlanoutValue[]);
  }
  if (!isPlainObject(node)) return node;
  if (node.op === 'literal') return node.value;
  if (node.op === 'array' && Array.isArray(node.values)) return constant(node.values);
  if (hasOwn(node, 'op')) return undefined;
  return node;
}
