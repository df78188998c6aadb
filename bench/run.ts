// `npm run bench [-- --quick] [-- --json] [-- --out=report.json] [-- --only=assign,http]`: runs every suite, each in
// its own child process, then prints a table (or, with --json, one JSON object; see bench/README.md).
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { medianInterval, round } from './lib/stats.js';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const json = args.includes('--json');
const out = args.find((a) => a.startsWith('--out='))?.slice('--out='.length);
const only = args.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
const SUITES = ['assign', 'interpreter', 'namespace', 'hostile', 'log', 'definitions', 'bootstrap', 'http'] as const;

/**
 * In-process suites whose target ratio is timed again in more processes, each timing only the
 * ratio's two contenders (`--pair`): on a busy machine the same code's ratio moved by up to 40 % from
 * one process to the next, so one process's ratio says little. The target is the median of the
 * processes' ratios, with its interval, as the HTTP suite's is the median of its blocks.
 */
const PAIRED_SUITES: Record<string, { ratio: string; numerator: string; denominator: string }> = {
  assign: { ratio: 'assign_vs_sha1_floor', numerator: 'ours', denominator: 'sha1_floor' },
  interpreter: { ratio: 'interpreter_vs_native', numerator: 'interpreted_experiment', denominator: 'native_experiment' },
};
/** 9 processes: the interval from the 2nd smallest to the 2nd largest ratio holds the median with 96 %. */
const PAIR_PROCESSES = quick ? 3 : 9;

function runSuite(name: string, label = '', extraArgs: string[] = []): Promise<any> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    process.stderr.write(`▶ ${name}${label}${quick ? ' (quick)' : ''}\n`);
    const child = fork(join(here, 'suites', `${name}.js`), [...(quick ? ['--quick'] : []), ...extraArgs], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    let result: unknown;
    child.on('message', (m: { result?: unknown }) => (result = m.result));
    child.on('exit', (code) => {
      process.stderr.write(`  ${name}${label} done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
      if (code === 0 && result !== undefined) resolve(result);
      else reject(new Error(`suite ${name} exited with code ${code}`));
    });
  });
}

interface Target {
  value: number | null;
  target: string;
  met: boolean | null;
  /**
   * HTTP targets: the same ratio for the floor route (the least work that serves the route,
   * bench/http/floor-app.ts), and whether it meets the target. A target the floor misses
   * cannot be met on this machine by any implementation of the contract.
   */
  floor?: FloorCheck;
  /** The same for the floor route that also gives every record its id (issue 14's requirement). */
  floor_ids?: FloorCheck;
  /** HTTP targets: the interval (of at least 95 %) of the median window-by-window ratio (bench/suites/http.ts). */
  interval?: Interval;
}

interface Interval {
  median: number;
  low: number;
  high: number;
  n: number;
  /** The probability that the interval holds the true median (≥ 0.95 from 6 blocks on). */
  coverage: number;
  /**
   * Paired HTTP ratios: each block's ratio, in block order (absent in reports made before this field).
   * In-process ratios: each --pair process's ratio, in order.
   */
  blocks?: number[];
}

interface FloorCheck {
  value: number | null;
  met: boolean | null;
  interval?: Interval;
}

function check(value: number | undefined | null, op: '>=' | '<=' | '<', bound: number): Target {
  if (value === undefined || value === null || !Number.isFinite(value)) return { value: null, target: `${op} ${bound}`, met: null };
  const met = op === '>=' ? value >= bound : op === '<=' ? value <= bound : value < bound;
  return { value: round(value, 3), target: `${op} ${bound}`, met };
}

/** `check` of a ratio's median when it has an interval (paired HTTP blocks, --pair processes), else of the plain ratio. */
function checkRatio(r: Ratio, op: '>=' | '<=', bound: number): Target {
  const c = check(typeof r === 'object' && r !== null ? r.median : r, op, bound);
  return typeof r === 'object' && r !== null ? { ...c, interval: r } : c;
}

/** `check` of an HTTP ratio (`value`: its paired interval, or a plain ratio), with the floors' ratios checked against the same bound. */
function checkWithFloor(value: Ratio, floor: Ratio, floorIds: Ratio, op: '>=', bound: number): Target {
  const { value: floorValue, met: floorMet, interval: floorInterval } = checkRatio(floor, op, bound);
  const { value: idsValue, met: idsMet, interval: idsInterval } = checkRatio(floorIds, op, bound);
  return {
    ...checkRatio(value, op, bound),
    floor: { value: floorValue, met: floorMet, ...(floorInterval ? { interval: floorInterval } : {}) },
    floor_ids: { value: idsValue, met: idsMet, ...(idsInterval ? { interval: idsInterval } : {}) },
  };
}

/** An HTTP ratio: the window-by-window interval when the suite measured the pair side by side, else a plain ratio. */
type Ratio = Interval | number | undefined | null;

async function main(): Promise<void> {
  const started = Date.now();
  const load = loadavg();
  const results: Record<string, any> = {};
  const failures: Record<string, string> = {};
  for (const s of SUITES) {
    if (only && !only.includes(s)) continue;
    try {
      results[s] = await runSuite(s);
      const paired = PAIRED_SUITES[s];
      if (paired) {
        const runs: Array<Record<string, number>> = [];
        for (let p = 1; p <= PAIR_PROCESSES; p++) runs.push((await runSuite(s, ` --pair, process ${p} of ${PAIR_PROCESSES}`, ['--pair'])).ns_per_unit);
        const each = runs.map((ns) => ns[paired.numerator]! / ns[paired.denominator]!);
        results[s].processes = { ratio: paired.ratio, ...medianInterval(each), each: each.map((r) => round(r, 3)), ns_per_unit: runs };
      }
    } catch (error) {
      failures[s] = (error as Error).message;
    }
  }
  const a = results.assign?.ns_per_unit;
  const it = results.interpreter?.ns_per_unit;
  const http = results.http?.routes;
  const rps = (k: string): number | undefined => http?.[k]?.rps;
  // Routes measured side by side: the median of their blocks' ratios, with its interval.
  const pairedRatio = (a: string, b: string): Interval | undefined => results.http?.paired_ratios?.[`${a}/${b}`];
  const httpRatio = (a: string, b: string): Ratio => pairedRatio(a, b) ?? div(rps(a), rps(b));
  const value = (r: Ratio): number | undefined => (typeof r === 'object' && r !== null ? r.median : (r ?? undefined));
  const div = (x: number | undefined, y: number | undefined) => (x === undefined || y === undefined ? undefined : x / y);

  // The in-process target ratios: their median over the --pair processes, with its interval.
  const processRatio = (suite: string): Interval | undefined => {
    const p = results[suite]?.processes;
    return p ? { median: p.median, low: p.low, high: p.high, n: p.n, coverage: p.coverage, blocks: p.each } : undefined;
  };
  const ratios: Record<string, number | null> = {
    assign_vs_planoutjs_compat: div(a?.planoutjs_compat, a?.ours) ?? null,
    assign_vs_planoutjs_default: div(a?.planoutjs_default, a?.ours) ?? null,
    assign_vs_sha1_floor: value(processRatio('assign') ?? div(a?.ours, a?.sha1_floor)) ?? null,
    // Exp1's draws written inline (bench/lib/experiments.ts readHandwritten) over the floor: the bound for `ours`.
    handwritten_vs_sha1_floor: div(a?.handwritten, a?.sha1_floor) ?? null,
    interpreter_vs_native: value(processRatio('interpreter') ?? div(it?.interpreted_experiment, it?.native_experiment)) ?? null,
    interpreter_raw_vs_assignment_raw: div(it?.interpreter, it?.native_assignment) ?? null,
    planoutjs_default_interpreter_vs_ours: div(it?.planoutjs_default_interpreter, it?.interpreter) ?? null,
    planoutjs_compat_interpreter_vs_ours: div(it?.planoutjs_compat_interpreter, it?.interpreter) ?? null,
    namespace_max_over_min: results.namespace?.max_over_min ?? null,
    http_express_vs_noop: value(httpRatio('express.planout', 'express.noop')) ?? null,
    http_fastify_vs_noop: value(httpRatio('fastify.planout', 'fastify.noop')) ?? null,
    // The floor route (bench/http/floor-app.ts) over the no-op route: the best any implementation reaches here.
    http_express_floor_vs_noop: value(httpRatio('express.floor', 'express.noop')) ?? null,
    http_fastify_floor_vs_noop: value(httpRatio('fastify.floor', 'fastify.noop')) ?? null,
    // The floor route that also gives each record its id, as issue 14 requires of every record.
    http_express_floor_ids_vs_noop: value(httpRatio('express.floor_ids', 'express.noop')) ?? null,
    http_fastify_floor_ids_vs_noop: value(httpRatio('fastify.floor_ids', 'fastify.noop')) ?? null,
    // Ours over the floors: what is left to remove.
    http_express_vs_floor: value(httpRatio('express.planout', 'express.floor')) ?? null,
    http_fastify_vs_floor: value(httpRatio('fastify.planout', 'fastify.floor')) ?? null,
    http_express_vs_floor_ids: value(httpRatio('express.planout', 'express.floor_ids')) ?? null,
    http_fastify_vs_floor_ids: value(httpRatio('fastify.planout', 'fastify.floor_ids')) ?? null,
    http_express_vs_openfeature: div(rps('express.planout'), rps('express.openfeature')) ?? null,
    http_fastify_vs_openfeature: div(rps('fastify.planout'), rps('fastify.openfeature')) ?? null,
    http_express_100_vs_1_experiments: div(rps('express.planout_100'), rps('express.planout')) ?? null,
    http_fastify_100_vs_1_experiments: div(rps('fastify.planout_100'), rps('fastify.planout')) ?? null,
  };
  for (const k of Object.keys(ratios)) if (ratios[k] !== null) ratios[k] = round(ratios[k]!, 3);
  const g = results.assign?.growth_ns_per_unit_by_params;
  const figures: Record<string, number | null> = {
    assign_ns_per_unit: a?.ours ?? null,
    sha1_floor_ns_per_unit: a?.sha1_floor ?? null,
    jsonl_records_per_s: results.log?.sustained.records_per_s ?? null,
    event_loop_max_stall_ms: results.log?.sustained.event_loop_max_stall_ms ?? null,
    // The same producer with JSON.stringify and plain file writes instead of the sink, and an idle loop.
    event_loop_max_stall_ms_floor: results.log?.floor?.event_loop_max_stall_ms ?? null,
    event_loop_max_stall_ms_idle: results.log?.idle?.event_loop_max_stall_ms ?? null,
    burst_peak_rss_mb: results.log?.burst.peak_rss_mb ?? null,
    namespace_ns_per_unit_10000x20: results.namespace?.ns_per_unit_by_segments_x_experiments?.['10000x20'] ?? null,
    // Marginal cost of a param, from the 3 → 30 params slope.
    assign_ns_per_extra_param: g ? round((g['30'] - g['3']) / 27, 1) : null,
    compat_agreement: results.assign?.sanity.compat_agreement ?? null,
    definitions_reload_ms_1000_all_changed: results.definitions?.reload_ms.all_changed ?? null,
    bootstrap_ms_1000_class_experiments: results.bootstrap?.bootstrap_ms.class ?? null,
    bootstrap_ms_1000_data_experiments: results.bootstrap?.bootstrap_ms.data ?? null,
  };
  const targets: Record<string, Target> = {
    'ratios.assign_vs_planoutjs_compat': check(ratios.assign_vs_planoutjs_compat, '>=', 20),
    'ratios.assign_vs_planoutjs_default': check(ratios.assign_vs_planoutjs_default, '>=', 10),
    'ratios.assign_vs_sha1_floor': checkRatio(processRatio('assign') ?? ratios.assign_vs_sha1_floor, '<=', 2),
    'ratios.interpreter_vs_native': checkRatio(processRatio('interpreter') ?? ratios.interpreter_vs_native, '<=', 1.5),
    'ratios.http_express_vs_noop': checkWithFloor(
      httpRatio('express.planout', 'express.noop'),
      httpRatio('express.floor', 'express.noop'),
      httpRatio('express.floor_ids', 'express.noop'),
      '>=',
      0.93,
    ),
    'ratios.http_fastify_vs_noop': checkWithFloor(
      httpRatio('fastify.planout', 'fastify.noop'),
      httpRatio('fastify.floor', 'fastify.noop'),
      httpRatio('fastify.floor_ids', 'fastify.noop'),
      '>=',
      0.8,
    ),
    'ratios.http_express_vs_openfeature': check(ratios.http_express_vs_openfeature, '>=', 1),
    'ratios.http_fastify_vs_openfeature': check(ratios.http_fastify_vs_openfeature, '>=', 1),
    'figures.jsonl_records_per_s': check(figures.jsonl_records_per_s, '>=', 300_000),
    'figures.event_loop_max_stall_ms': { ...check(figures.event_loop_max_stall_ms, '<', 10), floor: check(figures.event_loop_max_stall_ms_floor, '<', 10) },
  };
  const report = {
    schema: 1,
    command: `npm run bench${args.length ? ' -- ' + args.join(' ') : ''}`,
    quick,
    started_at: new Date(started).toISOString(),
    duration_s: round((Date.now() - started) / 1000, 1),
    machine: { node: process.version, cpus: cpus().length, cpu_model: cpus()[0]?.model, mem_gb: round(totalmem() / 2 ** 30, 1), loadavg_at_start: load.map((x) => round(x, 2)) },
    ratios,
    figures,
    targets,
    results,
    failures,
  };
  if (out) writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
  if (json) {
    process.stdout.write(JSON.stringify(report) + '\n');
  } else {
    printTables(report);
  }
  process.exitCode = Object.keys(failures).length ? 1 : 0;
}

function table(title: string, rows: Array<Array<string | number | null | undefined>>, head: string[]): void {
  const cells = [head, ...rows.map((r) => r.map((c) => (c === null || c === undefined ? '—' : typeof c === 'number' ? c.toLocaleString('en-US') : c)))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => String(r[i]).length)));
  console.log(`\n${title}`);
  cells.forEach((r, n) => {
    console.log(r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]!) : String(c).padStart(widths[i]!))).join('  '));
    if (n === 0) console.log(widths.map((w) => '─'.repeat(w)).join('  '));
  });
}

function printTables(report: any): void {
  const { results: r } = report;
  console.log(`nestjs-planout benchmarks — ${report.command} — node ${report.machine.node}, ${report.machine.cpus} CPUs, load ${report.machine.loadavg_at_start.join(' ')}, ${report.duration_s} s`);
  if (r.assign) {
    table('Assignment, Exp1 (3 params), per unit', Object.entries(r.assign.ns_per_unit).map(([k, v]) => [k, v as number, round((v as number) / r.assign.ns_per_unit.ours, 2)]), ['implementation', 'ns/unit', '× ours']);
    table('Assignment cost by number of params', Object.entries(r.assign.growth_ns_per_unit_by_params).map(([k, v]) => [k, v as number, r.assign.growth_ns_per_param[k]]), ['params', 'ns/unit', 'ns/param']);
    const s = r.assign.sanity;
    console.log(`PlanOut.js output valid: default ${s.default_valid}, compat ${s.compat_valid}; compat build = ours on ${s.compat_agreement * 100}% of ${s.sample} units (default build: ${s.default_agreement * 100}%)`);
  }
  if (r.interpreter) table('Interpreter, Exp1 as a script, per unit', Object.entries(r.interpreter.ns_per_unit).map(([k, v]) => [k, v as number]), ['implementation', 'ns/unit']);
  const inProcess = [r.assign?.processes, r.interpreter?.processes].filter((p) => p !== undefined);
  if (inProcess.length) {
    table(
      'In-process target ratios over processes (each process times only the two contenders, interleaved; the median of the processes, and an interval that holds the true median with the probability shown)',
      inProcess.map((p) => [p.ratio, p.median, `${p.low}–${p.high}`, `${Math.floor(p.coverage * 100)} %`, p.n, p.each.join(' ')]),
      ['ratio', 'median', 'interval', 'holds', 'processes', 'each process'],
    );
  }
  if (r.namespace) table('SimpleNamespace routing (segments x experiments), per unit', Object.entries(r.namespace.ns_per_unit_by_segments_x_experiments).map(([k, v]) => [k, v as number, r.namespace.layout_setup_ms[k]]), ['layout', 'ns/unit', 'setup ms']);
  if (r.hostile) {
    table(`Hostile scripts (issue 9): define + one unit's params, ${r.hostile.repeats} runs`, Object.entries(r.hostile.cases).map(([k, v]: [string, any]) => [k, v.outcome, v.median_ms, v.max_ms]), ['case', 'outcome', 'median ms', 'max ms']);
  }
  if (r.bootstrap) table(`Bootstrap of a Nest application context with ${r.bootstrap.experiments} experiments (median of ${r.bootstrap.rounds})`, Object.entries(r.bootstrap.bootstrap_ms).map(([k, v]) => [k === 'class_1' ? 'class (1 experiment)' : k, v as number]), ['kind', 'ms']);
  if (r.log) {
    table('JSON-lines sink', [
      ['sustained records/s', r.log.sustained.records_per_s],
      ['max event-loop stall (ms)', r.log.sustained.event_loop_max_stall_ms],
      ['floor: records/s (JSON.stringify, 1 MiB writes)', r.log.floor?.records_per_s],
      ['floor: max event-loop stall (ms)', r.log.floor?.event_loop_max_stall_ms],
      ['idle loop: max event-loop stall (ms)', r.log.idle?.event_loop_max_stall_ms],
      ['1M burst: peak RSS (MB)', r.log.burst.peak_rss_mb],
      ['1M burst: baseline RSS (MB)', r.log.burst.baseline_rss_mb],
      ['1M burst: accepted / rejected', `${r.log.burst.accepted} / ${r.log.burst.rejected}`],
    ], ['figure', 'value']);
  }
  if (r.definitions) {
    table(`Reload of ${r.definitions.definitions} data definitions (compile, checks, dry run, swap; median of ${r.definitions.rounds})`, [...Object.entries(r.definitions.reload_ms).map(([k, v]) => [k, v as number]), ['max event-loop stall during reloads', r.definitions.event_loop_max_stall_ms]], ['reload', 'ms']);
  }
  if (r.http) {
    const p = r.http.paired;
    const method = p
      ? `${p.routes.join(', ')}: ${p.blocks} blocks × ${p.rounds} rounds of ${p.window_s} s windows side by side; the others: ${r.http.measure_s} s × ${r.http.repetitions}; median`
      : `${r.http.measure_s} s × ${r.http.repetitions}, median`;
    table(`HTTP (autocannon, ${r.http.connections} connections; ${method})`, Object.entries(r.http.routes).map(([k, v]: [string, any]) => [k, v.rps, v.p99_ms, v.exposure_share ?? null, v.errors + v.non2xx]), ['route', 'req/s', 'p99 ms', 'exposure share', 'errors']);
    if (r.http.paired_ratios) {
      table(
        "HTTP routes side by side (per block of new servers, the median of a route's req/s over the other's in the same round; the median of the blocks, and an interval that holds the true median with the probability shown)",
        Object.entries(r.http.paired_ratios as Record<string, Interval>).map(([k, v]) => [k, v.median, `${v.low}–${v.high}`, `${Math.floor(v.coverage * 100)} %`, v.n, v.blocks?.join(' ') ?? '']),
        ['ratio', 'median', 'interval', 'holds', 'blocks', 'each block'],
      );
    }
    if (r.http.skipped) console.log(r.http.skipped);
  }
  const span = (i: Interval | undefined): string => (i ? ` (${Math.floor(i.coverage * 100)} %: ${i.low}–${i.high})` : '');
  // A floor misses beyond doubt only when its whole interval, of at least 95 %, misses the bound;
  // otherwise it misses at its median only, which does not show that it prevents the target.
  const floorNote = (label: string, f: FloorCheck, bound: number): string => {
    if (f.interval === undefined) return `; ${label} too: ${f.value}`;
    const beyondDoubt = f.interval.coverage >= 0.95 && f.interval.high < bound;
    return `; ${label} too${beyondDoubt ? '' : ' at its median only'}: ${f.value}${span(f.interval)}`;
  };
  const status = (t: Target): string => {
    if (t.met === null) return 'n/a';
    const own = `${t.met ? 'met' : 'MISSED'}${span(t.interval)}`;
    if (t.met) return own;
    const bound = Number(t.target.split(' ')[1]);
    if (t.floor?.met === false) return own + floorNote('the floor', t.floor, bound);
    if (t.floor_ids?.met === false) return own + floorNote('the floor with record ids', t.floor_ids, bound);
    return own;
  };
  table('Targets', Object.entries(report.targets as Record<string, Target>).map(([k, t]) => [k, t.value, t.target, status(t)]), ['key', 'value', 'target', '']);
  const extra = Object.entries(report.ratios).filter(([k]) => !(`ratios.${k}` in report.targets));
  table('Other ratios', extra.map(([k, v]) => [k, v as number]), ['key', 'value']);
  if (Object.keys(report.failures).length) console.log('\nFAILED SUITES:', report.failures);
}

void main();
