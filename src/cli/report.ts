import { createReadStream, readdirSync, readFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { compilePlanout } from '../core/compiler/index.js';
import { PlanoutError } from '../core/errors.js';
import { parsePlanoutJson } from '../core/json.js';
import { chiSquareTest } from '../core/stats/chi-square.js';
import { isPlainObject, type PlanoutObject } from '../core/values.js';
import { stableStringify } from '../nest/dedupe-key.js';
import { checkDistribution } from './check.js';

/** Count and sums of the numeric `extra_data` fields of some event records. */
export interface EventTotals {
  count: number;
  sums: Record<string, number>;
}

export interface EventReport extends EventTotals {
  /** The events of exposed units, by the unit's exposure params: param → `JSON.stringify(value)` → totals. */
  byParam: Record<string, Record<string, EventTotals>>;
}

export interface ExperimentReport {
  name: string;
  salt: string;
  checksum: string | null;
  /** Distinct exposed units (a unit = the record's inputs, as canonical JSON). */
  units: number;
  /** param → `JSON.stringify(value)` → exposed units. */
  params: Record<string, Record<string, number>>;
  events: Record<string, EventReport>;
  /** With `--definitions`: per param whose shares the definition's weights fix, the chi-square p-value of `params`. */
  srm?: Record<string, { pValue: number; expected: Record<string, number> }>;
}

export interface LogReport {
  experiments: ExperimentReport[];
}

/** Lines or rows that were not log records, and QA-overridden records (left out, as analysis should). */
export interface ReportSkipped {
  invalid: number;
  overridden: number;
}

interface Totals {
  count: number;
  sums: Map<string, number>;
}

interface ExperimentState {
  name: string;
  salt: string;
  checksum: string | null;
  /** unit → arm id, from the unit's first exposure. */
  units: Map<string, number>;
  arms: Map<string, number>;
  /** arm id → its params as [param, JSON.stringify(value)] pairs. */
  armParams: Array<Array<[string, string]>>;
  events: Map<string, { all: Totals; byArm: Map<number, Totals> }>;
  /** Events of units not exposed (yet): joined to their arm when the exposure comes. */
  pending: Map<string, Map<string, Totals>>;
  /** The inputs of the first exposure (for `--definitions`: which input is the unit, and the others' values). */
  firstInputs: PlanoutObject | undefined;
}

function newTotals(): Totals {
  return { count: 0, sums: new Map() };
}

function addExtras(totals: Totals, extras: unknown): void {
  totals.count++;
  if (!isPlainObject(extras)) return;
  for (const field of Object.keys(extras)) {
    const value = extras[field];
    if (typeof value === 'number' && Number.isFinite(value)) totals.sums.set(field, (totals.sums.get(field) ?? 0) + value);
  }
}

function mergeTotals(into: Totals, from: Totals): void {
  into.count += from.count;
  for (const [field, sum] of from.sums) into.sums.set(field, (into.sums.get(field) ?? 0) + sum);
}

/**
 * Aggregates log records one at a time. Memory holds the distinct units (one key and an arm
 * id each), the distinct arms and the totals per event type and arm: never the records.
 */
export class LogReportBuilder {
  private readonly experiments = new Map<string, ExperimentState>();
  readonly skipped: ReportSkipped = { invalid: 0, overridden: 0 };

  add(record: unknown): void {
    if (!isPlainObject(record)) return void this.skipped.invalid++;
    const { name, salt, event, inputs, params } = record;
    const checksum = record.checksum ?? null;
    if (typeof name !== 'string' || typeof salt !== 'string' || typeof event !== 'string' || !isPlainObject(inputs) || (checksum !== null && typeof checksum !== 'string')) {
      return void this.skipped.invalid++;
    }
    if (record.overridden === true) return void this.skipped.overridden++;
    const key = JSON.stringify([name, salt, checksum]);
    let experiment = this.experiments.get(key);
    if (experiment === undefined) {
      experiment = { name, salt, checksum, units: new Map(), arms: new Map(), armParams: [], events: new Map(), pending: new Map(), firstInputs: undefined };
      this.experiments.set(key, experiment);
    }
    const unit = stableStringify(inputs);
    if (event === 'exposure') {
      experiment.firstInputs ??= inputs;
      this.expose(experiment, unit, isPlainObject(params) ? params : {});
    }
    else this.track(experiment, unit, event, record.extra_data);
  }

  private expose(experiment: ExperimentState, unit: string, params: PlanoutObject): void {
    if (experiment.units.has(unit)) return;
    const arm = stableStringify(params);
    let id = experiment.arms.get(arm);
    if (id === undefined) {
      id = experiment.armParams.length;
      experiment.arms.set(arm, id);
      experiment.armParams.push(Object.keys(params).map((p) => [p, JSON.stringify(params[p]) ?? 'null']));
    }
    experiment.units.set(unit, id);
    const pending = experiment.pending.get(unit);
    if (pending === undefined) return;
    experiment.pending.delete(unit);
    for (const [event, totals] of pending) mergeTotals(this.armTotals(experiment, event, id), totals);
  }

  private track(experiment: ExperimentState, unit: string, event: string, extras: unknown): void {
    let totals = experiment.events.get(event);
    if (totals === undefined) experiment.events.set(event, (totals = { all: newTotals(), byArm: new Map() }));
    addExtras(totals.all, extras);
    const arm = experiment.units.get(unit);
    if (arm !== undefined) return addExtras(this.armTotals(experiment, event, arm), extras);
    let pending = experiment.pending.get(unit);
    if (pending === undefined) experiment.pending.set(unit, (pending = new Map()));
    let own = pending.get(event);
    if (own === undefined) pending.set(event, (own = newTotals()));
    addExtras(own, extras);
  }

  private armTotals(experiment: ExperimentState, event: string, arm: number): Totals {
    let totals = experiment.events.get(event);
    if (totals === undefined) experiment.events.set(event, (totals = { all: newTotals(), byArm: new Map() }));
    let byArm = totals.byArm.get(arm);
    if (byArm === undefined) totals.byArm.set(arm, (byArm = newTotals()));
    return byArm;
  }

  /** The inputs of the first exposure of a reported experiment. */
  firstInputsOf(experiment: ExperimentReport): PlanoutObject | undefined {
    return this.experiments.get(JSON.stringify([experiment.name, experiment.salt, experiment.checksum]))?.firstInputs;
  }

  /** The report, experiments ordered by name, salt and checksum. */
  finish(): LogReport {
    const experiments = [...this.experiments.values()]
      .sort((a, b) => compare(a.name, b.name) || compare(a.salt, b.salt) || compare(a.checksum ?? '', b.checksum ?? ''))
      .map((e) => this.experimentReport(e));
    return { experiments };
  }

  private experimentReport(experiment: ExperimentState): ExperimentReport {
    const unitsPerArm = new Array<number>(experiment.armParams.length).fill(0);
    for (const arm of experiment.units.values()) unitsPerArm[arm]++;
    const params: Record<string, Record<string, number>> = {};
    experiment.armParams.forEach((pairs, arm) => {
      for (const [param, label] of pairs) {
        const values = (params[param] ??= {});
        values[label] = (values[label] ?? 0) + unitsPerArm[arm];
      }
    });
    const events: Record<string, EventReport> = {};
    for (const event of [...experiment.events.keys()].sort(compare)) {
      const { all, byArm } = experiment.events.get(event)!;
      const byParam: Record<string, Record<string, EventTotals>> = {};
      for (const [arm, totals] of byArm) {
        for (const [param, label] of experiment.armParams[arm]) {
          const values = (byParam[param] ??= {});
          const into = (values[label] ??= { count: 0, sums: {} });
          into.count += totals.count;
          for (const [field, sum] of totals.sums) into.sums[field] = (into.sums[field] ?? 0) + sum;
        }
      }
      events[event] = { count: all.count, sums: Object.fromEntries(all.sums), byParam: sortKeys(byParam, (v) => sortKeys(v)) };
    }
    return {
      name: experiment.name,
      salt: experiment.salt,
      checksum: experiment.checksum,
      units: experiment.units.size,
      params: sortKeys(params, (v) => sortKeys(v)),
      events,
    };
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortKeys<T, U = T>(object: Record<string, T>, map: (value: T) => U = (v) => v as unknown as U): Record<string, U> {
  const out: Record<string, U> = {};
  for (const key of Object.keys(object).sort(compare)) out[key] = map(object[key]);
  return out;
}

/** The records of a JSON-lines file, one at a time (a line that is not JSON yields `undefined`). */
export async function* readJsonLines(file: string): AsyncGenerator<unknown> {
  const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    try {
      yield JSON.parse(line);
    } catch {
      yield undefined;
    }
  }
}

const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$/;

/**
 * The `record` column of a PostgresSink table, in insertion order, through a server-side
 * cursor (`FETCH` in batches): the table is never loaded whole.
 */
export async function* readPostgres(url: string, table: string, batchSize = 5_000): AsyncGenerator<unknown> {
  if (!TABLE_NAME.test(table)) throw new PlanoutError(`--table must be "table" or "schema.table" (letters, digits, _), got "${table}"`);
  const quoted = table
    .split('.')
    .map((part) => `"${part}"`)
    .join('.');
  let Client: typeof import('pg').Client;
  try {
    Client = (await import('pg')).default.Client;
  } catch {
    throw new PlanoutError('reading PostgreSQL needs the "pg" package: npm install pg');
  }
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('BEGIN READ ONLY');
    await client.query(`DECLARE planout_report NO SCROLL CURSOR FOR SELECT record FROM ${quoted} ORDER BY id`);
    for (;;) {
      const { rows } = await client.query<{ record: unknown }>(`FETCH ${batchSize} FROM planout_report`);
      for (const row of rows) yield row.record;
      if (rows.length < batchSize) break;
    }
    await client.query('COMMIT');
  } finally {
    await client.end();
  }
}

/** Adds, per experiment with a definition in `dir` (file name = experiment name), the SRM p-value of each param the weights fix. */
export function addSrm(report: LogReport, dir: string, firstInputs: (experiment: ExperimentReport) => PlanoutObject | undefined): void {
  const files = new Map<string, string>();
  for (const file of readdirSync(dir)) {
    const ext = extname(file);
    if (ext === '.planout' || ext === '.json') files.set(basename(file, ext), join(dir, file));
  }
  for (const experiment of report.experiments) {
    const file = files.get(experiment.name);
    if (file === undefined) continue;
    const source = readFileSync(file, 'utf8');
    const script = extname(file) === '.json' ? parsePlanoutJson(source) : compilePlanout(source);
    if (!isPlainObject(script)) throw new PlanoutError(`${file}: the script must be a JSON object`);
    // Synthetic units vary the first input (the unit); the other inputs keep the values of the first exposure.
    const inputs = firstInputs(experiment) ?? {};
    const [unitInput = 'userid', ...rest] = Object.keys(inputs);
    const fixed: PlanoutObject = {};
    for (const key of rest) fixed[key] = inputs[key];
    const check = checkDistribution(script, { units: 2_000, salt: experiment.salt, unitInput, inputs: fixed });
    // Weights say what is exposed only when every unit is in and the param is one draw, never reassigned.
    if (check.inExperiment !== check.units) continue;
    const srm: NonNullable<ExperimentReport['srm']> = {};
    for (const param of Object.keys(experiment.params)) {
      const reports = check.params.filter((p) => p.param === param);
      const draw = reports[0];
      if (reports.length !== 1 || draw.kind !== 'draw' || draw.expectedFrom !== 'weights') continue;
      const expected: Record<string, number> = {};
      for (const value of draw.values) expected[JSON.stringify(value.value)] = value.expected!;
      const labels = Object.keys(expected);
      const observed = experiment.params[param];
      const others = Object.keys(observed).filter((label) => !(label in expected));
      const test = chiSquareTest(
        [...labels.map((l) => observed[l] ?? 0), ...others.map((l) => observed[l])],
        [...labels.map((l) => expected[l]), ...others.map(() => 0)],
      );
      if (test !== undefined) srm[param] = { pValue: test.pValue, expected };
    }
    experiment.srm = srm;
  }
}

/** The report as text, for people. */
export function formatLogReport(report: LogReport, skipped: ReportSkipped): string {
  const lines: string[] = [];
  const percent = (n: number, total: number): string => (total === 0 ? '' : ` (${((100 * n) / total).toFixed(1)}%)`);
  const sums = (s: Record<string, number>): string =>
    Object.keys(s).length === 0 ? '' : `, ${Object.entries(s).map(([field, sum]) => `${field} sum ${formatNumber(sum)}`).join(', ')}`;
  for (const e of report.experiments) {
    lines.push(`${e.name} (salt ${e.salt}, checksum ${e.checksum ?? '-'}): ${e.units} exposed units`);
    for (const [param, values] of Object.entries(e.params)) {
      const total = Object.values(values).reduce((a, b) => a + b, 0);
      const srm = e.srm?.[param];
      lines.push(`  ${param}${srm === undefined ? '' : `  [SRM p = ${srm.pValue.toPrecision(3)}${srm.pValue < 0.001 ? ', MISMATCH' : ''}]`}`);
      for (const [label, units] of Object.entries(values)) lines.push(`    ${label}: ${units} units${percent(units, total)}`);
    }
    for (const [event, totals] of Object.entries(e.events)) {
      lines.push(`  event ${event}: ${totals.count} records${sums(totals.sums)}`);
      for (const [param, values] of Object.entries(totals.byParam)) {
        for (const [label, arm] of Object.entries(values)) lines.push(`    ${param} = ${label}: ${arm.count} records${sums(arm.sums)}`);
      }
    }
  }
  if (report.experiments.length === 0) lines.push('no records');
  if (skipped.invalid > 0 || skipped.overridden > 0) {
    lines.push(`skipped: ${skipped.invalid} lines that are not log records, ${skipped.overridden} QA-overridden records`);
  }
  return lines.join('\n') + '\n';
}

function formatNumber(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(12)));
}

/** Streams `records` into a report. */
export async function buildLogReport(
  records: AsyncIterable<unknown>,
  options: { definitions?: string } = {},
): Promise<{ report: LogReport; skipped: ReportSkipped }> {
  const builder = new LogReportBuilder();
  for await (const record of records) builder.add(record);
  const report = builder.finish();
  if (options.definitions !== undefined) addSrm(report, options.definitions, (e) => builder.firstInputsOf(e));
  return { report, skipped: builder.skipped };
}
