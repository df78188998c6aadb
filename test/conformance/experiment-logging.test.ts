import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import type { Assignment } from '../../src/core/assignment.js';
import { Experiment, normalizeExperimentName, ProductionExperiment } from '../../src/core/experiment.js';
import { InterpretedExperiment, type PlanoutScript } from '../../src/core/interpreted-experiment.js';
import { Interpreter } from '../../src/core/interpreter.js';
import type { PlanoutLogRecord } from '../../src/core/log-record.js';
import { truthy, type PlanoutObject } from '../../src/core/values.js';
import { countCase, executedCases, expectSame, loadCases } from './vectors.js';

interface Step {
  call: string;
  args?: PlanoutObject | null;
  expected_return?: unknown;
  expected_logs: PlanoutObject[];
}

interface LoggingCase {
  id: string;
  description: string;
  experiment: {
    class: 'Experiment' | 'ProductionExperiment' | 'SimpleInterpretedExperiment';
    name: string;
    salt: string | null;
    script: PlanoutScript;
    assign_returns?: unknown;
    param_names?: string[];
  };
  inputs: PlanoutObject;
  steps: Step[];
}

const cases = loadCases<LoggingCase>('experiment-logging.json');
/** Cases of our own that reach the reference's out-of-experiment quirk through other calls. */
const fixCases = loadCases<LoggingCase>('experiment-logging.json', fileURLToPath(new URL('../fixtures/deliberate-fixes', import.meta.url)));
const ASSIGNING_CALLS = new Set(['get', 'get_params', 'log_exposure', 'log_event', 'in_experiment']);

type Logged = { records: PlanoutLogRecord[] };

/** Builds the case's experiment class the way the reference's generator did, logging into `sink`. */
function buildExperiment(c: LoggingCase, sink: PlanoutLogRecord[]): Experiment & Logged {
  const { experiment: def } = c;
  const naming = function (this: Experiment): void {
    this.name = def.name;
    if (def.salt !== null) this.salt = def.salt;
  };
  if (def.class === 'SimpleInterpretedExperiment') {
    class CaseExperiment extends InterpretedExperiment {
      records = sink;
      protected override setup(): void {
        naming.call(this);
      }
      protected loadScript(): PlanoutScript {
        return def.script;
      }
      protected override log(record: PlanoutLogRecord): void {
        this.records.push(record);
      }
    }
    return new CaseExperiment({ ...c.inputs });
  }
  // Class-based: assign() evaluates the script into params, then returns assign_returns.
  const assign = (params: Assignment, inputs: Record<string, unknown>): unknown => {
    new Interpreter(structuredClone(def.script), params.experimentSalt, inputs as PlanoutObject, {
      environment: params,
    }).getParams();
    return def.assign_returns === null ? undefined : def.assign_returns;
  };
  const Base = def.class === 'ProductionExperiment' ? ProductionExperiment : Experiment;
  class CaseExperiment extends (Base as typeof ProductionExperiment) {
    records = sink;
    protected override setup(): void {
      naming.call(this);
    }
    assign(params: Assignment, inputs: Record<string, unknown>): unknown {
      return assign(params, inputs);
    }
    getParamNames(): readonly string[] {
      return def.param_names ?? (undefined as unknown as string[]);
    }
    protected override log(record: PlanoutLogRecord): void {
      this.records.push(record);
    }
  }
  return new CaseExperiment({ ...c.inputs });
}

/**
 * Our deliberate fixes of the reference, as one general rule: every call behaves as the
 * reference behaves once assignment has run, because we assign before answering
 * `in_experiment` or logging. So a unit that is not in the experiment never logs (not
 * even the reference's first `log_event`/`log_exposure` on a fresh instance),
 * `in_experiment` is the truth from the first read, and `exposure_logged` stays false.
 * Units in the experiment are unaffected: the reference's expectations hold as recorded.
 */
function truthOf(c: LoggingCase): boolean {
  if (c.experiment.class !== 'SimpleInterpretedExperiment') {
    const ret = c.experiment.assign_returns;
    return ret === null || ret === undefined || truthy(ret);
  }
  // The reference's own answer, where the case reads in_experiment after assignment ran.
  let assigned = false;
  for (const step of c.steps) {
    if (step.call === 'in_experiment' && assigned) return step.expected_return === true;
    if (ASSIGNING_CALLS.has(step.call) && step.call !== 'in_experiment') assigned = true;
  }
  return scriptReturns(c);
}

/**
 * What the case's script returns for its unit, with the overrides set before the first
 * assigning call (they replace inputs of the same name, as in the reference). The bare
 * interpreter is held to the reference by interpreter.json.
 */
function scriptReturns(c: LoggingCase): boolean {
  const inputs: PlanoutObject = { ...c.inputs };
  let overrides: PlanoutObject | undefined;
  for (const step of c.steps) {
    if (ASSIGNING_CALLS.has(step.call)) break;
    if (step.call !== 'set_overrides') continue;
    overrides = (step.args?.value ?? {}) as PlanoutObject;
    for (const key of Object.keys(overrides)) if (Object.hasOwn(inputs, key)) inputs[key] = overrides[key];
  }
  const salt = c.experiment.salt ?? normalizeExperimentName(c.experiment.name);
  const interpreter = new Interpreter(structuredClone(c.experiment.script), salt, inputs);
  if (overrides !== undefined) interpreter.setOverrides(overrides);
  return interpreter.inExperiment;
}

/** What a step returns under our rule; `undefined` for calls that return nothing. */
function expectedReturnOf(step: Step, truth: boolean): unknown {
  if (step.call === 'in_experiment') return truth;
  // An out-of-experiment unit never logs, so its exposure is never marked logged.
  if (step.call === 'exposure_logged' && !truth) return false;
  return step.expected_return;
}

function comparable(record: PlanoutObject, keepChecksum: boolean): PlanoutObject {
  const { time: _time, ...rest } = record;
  if (!keepChecksum) delete rest.checksum;
  return rest;
}

/** Runs one case's steps, asserting the reference's expectations under our general rule. */
function runCase(c: LoggingCase): void {
  const records: PlanoutLogRecord[] = [];
  const exp = buildExperiment(c, records);
  const truth = truthOf(c);
  const keepChecksum = c.experiment.class === 'SimpleInterpretedExperiment';
  c.steps.forEach((step, k) => {
    const where = `${c.id} step ${k} ${step.call}`;
    const before = records.length;
    const t0 = Math.floor(Date.now() / 1000);
    const args = step.args ?? {};
    let returned: unknown;
    switch (step.call) {
      case 'get':
        returned = exp.get(args.name as string, args.default ?? null);
        break;
      case 'get_params':
        returned = exp.getParams();
        break;
      case 'log_exposure':
        exp.logExposure(args.extras as PlanoutObject | undefined);
        break;
      case 'log_event':
        exp.logEvent(args.event_type as string, args.extras as PlanoutObject | undefined);
        break;
      case 'set_auto_exposure_logging':
        exp.setAutoExposureLogging(args.value as boolean);
        break;
      case 'set_overrides':
        exp.setOverrides(args.value as PlanoutObject);
        break;
      case 'in_experiment':
        returned = exp.inExperiment;
        break;
      case 'exposure_logged':
        returned = exp.exposureLogged;
        break;
      default:
        throw new Error(`${where}: unknown call`);
    }
    const expectedReturn = expectedReturnOf(step, truth);
    if (step.call === 'get' || step.call === 'get_params' || step.call === 'in_experiment' || step.call === 'exposure_logged') {
      expectSame(returned, expectedReturn, `${where} return`);
    }
    const emitted = records.slice(before);
    const expectedLogs = truth ? step.expected_logs : [];
    for (const r of emitted) {
      expect(Number.isInteger(r.time)).toBe(true);
      expect(r.time).toBeGreaterThanOrEqual(t0);
      expect(r.time).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
      expect(r.checksum).toMatch(/^[0-9a-f]{8}$/);
    }
    expectSame(
      emitted.map((r) => comparable(r as unknown as PlanoutObject, keepChecksum)),
      expectedLogs.map((r) => comparable(r, keepChecksum)),
      `${where} logs`,
    );
  });
}

describe('experiment-logging.json', () => {
  it('has cases', () => expect(cases.length).toBeGreaterThan(0));

  it.each(cases.map((c) => [`${c.id} ${c.description}`, c] as const))('%s', (_title, c) => {
    countCase();
    runCase(c);
  });

  afterAll(() => {
    console.log(`experiment-logging conformance: ${executedCases()} cases executed`);
  });
});

describe('deliberate fixes reached through other calls (test/fixtures/deliberate-fixes)', () => {
  it('has cases', () => expect(fixCases.length).toBeGreaterThan(0));

  it.each(fixCases.map((c) => [`${c.id} ${c.description}`, c] as const))('%s', (_title, c) => runCase(c));
});
