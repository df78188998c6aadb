import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { parseArgs } from 'node:util';
import { compilePlanout } from '../core/compiler/index.js';
import { PlanoutError, PlanoutSyntaxError } from '../core/errors.js';
import { parsePlanoutJson, stringifyPlanoutJson } from '../core/json.js';
import { isPlainObject, type PlanoutObject } from '../core/values.js';
import { checkDistribution } from './check.js';
import { checkReportJson, formatCheckReport } from './format.js';
import { buildLogReport, formatLogReport, readJsonLines, readPostgres } from './report.js';

export interface CliOutput {
  stdout(text: string): void;
  stderr(text: string): void;
}

/** Exit codes: 0 done, 1 the definition is bad (syntax, script, file), 2 the command line is. */
export const EXIT_OK = 0;
export const EXIT_BAD_INPUT = 1;
export const EXIT_USAGE = 2;

export const USAGE = `Usage:
  nestjs-planout compile <file.planout>
      Prints the JSON script of a PlanOut-language program (as the reference compiler does).
  nestjs-planout check <file.planout|file.json> [--units N] [--unit-input NAME] [--input KEY=VALUE]... [--salt SALT] [--json]
      Runs the definition on N synthetic units (default 10000; NAME = 1..N, default NAME userid)
      and prints, per param, each value's share, the share its operator's weights expect
      (uniformChoice, weightedChoice, bernoulliTrial) and a chi-square p-value.
      --input sets another input for every unit (the value is read as JSON, else as a string);
      --salt is the experiment salt (default: the file name without extension).
  nestjs-planout report <planout-exposures.jsonl | postgres://...> [--table planout_log] [--definitions DIR] [--json]
      Reads an exposure log (a JSON-lines file, or the PostgresSink table --table, default planout_log)
      as a stream and prints per experiment (name, salt, checksum) the exposed units (distinct inputs),
      the units per param value, and per event type the count and the sums of numeric extra_data
      fields, overall and per arm (each event joined to its unit's exposure). With --definitions,
      the chi-square SRM p-value of each param whose weights the definition DIR/<experiment>.planout
      (or .json) fixes. QA-overridden records are left out.
`;

class UsageError extends Error {}

/** Runs one command line; returns the exit code (a promise of it for `report`, which streams). */
export function runCli(argv: readonly string[], out: CliOutput): number | Promise<number> {
  try {
    const [command, ...rest] = argv;
    switch (command) {
      case 'compile':
        return compileCommand(rest, out);
      case 'check':
        return checkCommand(rest, out);
      case 'report':
        return reportCommand(rest, out);
      case 'help':
      case '--help':
      case '-h':
        out.stdout(USAGE);
        return EXIT_OK;
      case undefined:
        throw new UsageError('no command given');
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof UsageError || isParseArgsError(error)) {
      out.stderr(`nestjs-planout: ${(error as Error).message}\n\n${USAGE}`);
      return EXIT_USAGE;
    }
    throw error;
  }
}

function compileCommand(args: readonly string[], out: CliOutput): number {
  const { positionals } = parseArgs({ args: [...args], options: {}, allowPositionals: true, strict: true });
  const file = onlyFile(positionals);
  const source = readSource(file, out);
  if (source === undefined) return EXIT_BAD_INPUT;
  try {
    out.stdout(prettyJson(compilePlanout(source)) + '\n');
    return EXIT_OK;
  } catch (error) {
    return reportError(error, file, source, out);
  }
}

function checkCommand(args: readonly string[], out: CliOutput): number {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: {
      units: { type: 'string' },
      'unit-input': { type: 'string' },
      input: { type: 'string', multiple: true },
      salt: { type: 'string' },
      json: { type: 'boolean' },
    },
    allowPositionals: true,
    strict: true,
  });
  const file = onlyFile(positionals);
  const units = values.units === undefined ? 10_000 : Number(values.units);
  if (!Number.isInteger(units) || units < 1 || units > 10_000_000) {
    throw new UsageError(`--units must be a whole number from 1 to 10000000, got "${values.units}"`);
  }
  const unitInput = values['unit-input'] ?? 'userid';
  if (unitInput === '') throw new UsageError('--unit-input must name an input');
  const inputs = parseInputs(values.input ?? []);

  const source = readSource(file, out);
  if (source === undefined) return EXIT_BAD_INPUT;
  try {
    const script = extname(file) === '.json' ? scriptFromJson(source) : compilePlanout(source);
    const salt = values.salt ?? basename(file, extname(file));
    const report = checkDistribution(script, { units, unitInput, inputs, salt });
    out.stdout(values.json ? checkReportJson(report, file) + '\n' : formatCheckReport(report, file));
    return EXIT_OK;
  } catch (error) {
    return reportError(error, file, source, out);
  }
}

function reportCommand(args: readonly string[], out: CliOutput): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: { table: { type: 'string' }, json: { type: 'boolean' }, definitions: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  const source = onlyFile(positionals);
  const postgres = /^postgres(ql)?:\/\//.test(source);
  if (values.table !== undefined && !postgres) throw new UsageError('--table applies to a postgres:// source');
  const records = postgres ? readPostgres(source, values.table ?? 'planout_log') : readJsonLines(source);
  return buildLogReport(records, { definitions: values.definitions }).then(
    ({ report, skipped }) => {
      out.stdout(values.json ? JSON.stringify(report, null, 2) + '\n' : formatLogReport(report, skipped));
      if (values.json && (skipped.invalid > 0 || skipped.overridden > 0)) {
        out.stderr(`skipped: ${skipped.invalid} lines that are not log records, ${skipped.overridden} QA-overridden records\n`);
      }
      return EXIT_OK;
    },
    (error: unknown) => {
      const code = (error as NodeJS.ErrnoException).code;
      out.stderr(`${postgres ? redact(source) : source}: ${code === 'ENOENT' ? 'cannot read: ENOENT' : (error as Error).message}\n`);
      return EXIT_BAD_INPUT;
    },
  );
}

/** The connection string without its password, for messages. */
function redact(url: string): string {
  return url.replace(/(\/\/[^:/@]+):[^@]*@/, '$1:***@');
}

function onlyFile(positionals: string[]): string {
  if (positionals.length === 0) throw new UsageError('no file given');
  if (positionals.length > 1) throw new UsageError(`one file expected, got ${positionals.length}`);
  return positionals[0];
}

function parseInputs(pairs: string[]): PlanoutObject {
  const inputs: PlanoutObject = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--input expects KEY=VALUE, got "${pair}"`);
    const text = pair.slice(eq + 1);
    let value;
    try {
      value = parsePlanoutJson(text);
    } catch {
      value = text;
    }
    Object.defineProperty(inputs, pair.slice(0, eq), { value, enumerable: true, writable: true, configurable: true });
  }
  return inputs;
}

function scriptFromJson(source: string): PlanoutObject {
  const script = parsePlanoutJson(source);
  if (!isPlainObject(script)) throw new PlanoutError('the script must be a JSON object');
  return script;
}

function readSource(file: string, out: CliOutput): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    out.stderr(`${file}: cannot read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}\n`);
    return undefined;
  }
}

/** `file:line:column: problem`, then the line and a caret, as compilers print them. */
function reportError(error: unknown, file: string, source: string, out: CliOutput): number {
  if (error instanceof PlanoutSyntaxError) {
    const text = source.split(/\r\n|\r|\n/)[error.line - 1] ?? '';
    // Keep tabs so the caret lines up under the offending text.
    const caret = text.slice(0, Math.max(0, error.column - 1)).replace(/[^\t]/g, ' ') + '^';
    out.stderr(`${file}:${error.line}:${error.column}: syntax error: ${error.problem}\n  ${text}\n  ${caret}\n`);
    return EXIT_BAD_INPUT;
  }
  if (error instanceof PlanoutError) {
    out.stderr(`${file}: ${error.message}\n`);
    return EXIT_BAD_INPUT;
  }
  throw error;
}

/** Indented JSON keeping Python's number forms (`2.0` stays a float, big ints stay exact). */
export function prettyJson(value: unknown, indent = ''): string {
  const inner = indent + '  ';
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    if (!value.some((item) => Array.isArray(item) || isPlainObject(item))) return stringifyPlanoutJson(value);
    return `[\n${value.map((item) => inner + prettyJson(item, inner)).join(',\n')}\n${indent}]`;
  }
  if (isPlainObject(value)) {
    const keys = Object.keys(value);
    if (keys.length === 0) return '{}';
    const entries = keys.map((key) => `${inner}${stringifyPlanoutJson(key)}: ${prettyJson(value[key], inner)}`);
    return `{\n${entries.join(',\n')}\n${indent}}`;
  }
  return stringifyPlanoutJson(value);
}

function isParseArgsError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}
