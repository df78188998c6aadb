// Figure 5 and the registered-experiments half of 7: Nest routes under autocannon.
// Each server runs in its own child process on 127.0.0.1 (never another address); runs are
// interleaved across configurations and repeated, and the median is reported.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { median, medianInterval, round, type MedianInterval } from '../lib/stats.js';
import { progress, runSuite } from '../lib/suite.js';
import type { ServerConfig } from '../http/server.js';

const here = dirname(fileURLToPath(import.meta.url));
const serverScript = join(here, '..', 'http', 'server.js');
const resolveHook = join(here, '..', 'http', 'resolve-hook.js');
const UNIT_IDS = 1_000_000;

interface RunResult {
  rps: number;
  p99_ms: number;
  p50_ms: number;
  errors: number;
  non2xx: number;
  requests: number;
  exposures?: number;
  server_max_rss_mb?: number;
}

function startServer(config: ServerConfig): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const execArgv = process.env.BENCH_OPENFEATURE_CORE ? ['--import', resolveHook] : [];
    const child = fork(serverScript, [JSON.stringify(config)], { execArgv, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server ${JSON.stringify(config)} did not start in 30 s: ${stderr}`));
    }, 30_000);
    child.on('message', (m: { ready?: boolean; port?: number }) => {
      if (m.ready) {
        clearTimeout(timer);
        resolve({ child, port: m.port! });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server ${JSON.stringify(config)} exited with ${code}: ${stderr.slice(-2000)}`));
    });
  });
}

function stopServer(child: ChildProcess): Promise<number | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve(undefined);
    }, 15_000);
    child.removeAllListeners('exit');
    child.on('message', (m: { stopped?: boolean; maxRssKb?: number }) => {
      if (m.stopped) {
        clearTimeout(timer);
        resolve(m.maxRssKb);
      }
    });
    child.send({ stop: true });
  });
}

function cannon(port: number, seconds: number, connections: number): Promise<autocannon.Result> {
  return autocannon({
    url: `http://127.0.0.1:${port}`,
    connections,
    duration: seconds,
    requests: [
      {
        method: 'GET',
        path: '/r?u=0',
        // A unit per request, from a million ids: most requests are a first exposure.
        setupRequest: (req) => ({ ...req, path: `/r?u=${Math.floor(Math.random() * UNIT_IDS)}` }),
      },
    ],
  });
}

/** The records a server wrote to `logFile` (one per line), then the file is removed; undefined when it wrote none. */
function takeExposures(logFile: string): number | undefined {
  if (!existsSync(logFile)) return undefined;
  const text = readFileSync(logFile, 'utf8');
  rmSync(logFile);
  return text.length === 0 ? 0 : text.split('\n').length - 1;
}

/** The figures of one autocannon load. */
function loadFigures(r: autocannon.Result): RunResult {
  return { rps: r.requests.average, p99_ms: r.latency.p99, p50_ms: r.latency.p50, errors: r.errors + r.timeouts, non2xx: r.non2xx, requests: r.requests.total };
}

async function runOnce(config: ServerConfig, warmupS: number, measureS: number, connections: number): Promise<RunResult> {
  const { child, port } = await startServer(config);
  try {
    await cannon(port, warmupS, connections);
    const r = await cannon(port, measureS, connections);
    const rssKb = await stopServer(child);
    const exposures = config.variant.startsWith('planout') || config.variant.startsWith('floor') ? takeExposures(config.logFile) : undefined;
    return { ...loadFigures(r), exposures, server_max_rss_mb: rssKb === undefined ? undefined : round(rssKb / 1024, 1) };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
}

/** The routes of the HTTP targets and their floors, measured side by side ({@link pairedBlock}). */
const PAIRED_ROUTES = ['bare', 'noop', 'floor', 'floor_ids', 'planout'] as const;
type PairedRoute = (typeof PAIRED_ROUTES)[number];

interface PairedRouteBlock {
  windows: RunResult[];
  /** Requests sent to the route in this block, warm-up included. */
  sent: number;
  exposures?: number;
  server_max_rss_mb?: number;
}

/**
 * One block of the target routes of `adapter`: every route's server runs at once, each is
 * warmed up, then each of `rounds` rounds loads every route for `windowS` seconds in turn (in
 * reverse every other round; block `block` starts with route `block` mod 5). Each route's window
 * is later divided by the no-op route's window of the same round: a slow phase of the machine,
 * which lasts longer than a round (seen as every route losing a third of its req/s for a
 * minute), then moves both sides of the ratio, where routes measured minutes apart each catch
 * it or not.
 */
async function pairedBlock(
  adapter: ServerConfig['adapter'],
  dir: string,
  block: number,
  warmupS: number,
  windowS: number,
  rounds: number,
  connections: number,
): Promise<Record<PairedRoute, PairedRouteBlock>> {
  const servers: Array<{ route: PairedRoute; config: ServerConfig; child: ChildProcess; port: number }> = [];
  try {
    // The order (of start, warm-up and load) rotates by one route from block to block, so every
    // route takes every place: a place sets the gap between a route's two windows (back to back
    // for the last), and a server loaded again sooner serves faster. In one fixed order the floor
    // without ids measured below the floor with ids on Express (runs Y to AB; bench/README.md).
    const order = PAIRED_ROUTES.map((_, i) => PAIRED_ROUTES[(i + block) % PAIRED_ROUTES.length]!);
    for (const route of order) {
      // One log file per route: the servers run at the same time.
      const config: ServerConfig = { adapter, variant: route, experiments: 1, logFile: join(dir, `${adapter}-${route}-${block}.jsonl`) };
      servers.push({ route, config, ...(await startServer(config)) });
    }
    const result = {} as Record<PairedRoute, PairedRouteBlock>;
    for (const s of servers) {
      const warm = await cannon(s.port, warmupS, connections);
      result[s.route] = { windows: [], sent: warm.requests.total };
    }
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 ? [...servers].reverse() : servers;
      for (const s of order) {
        const r = await cannon(s.port, windowS, connections);
        result[s.route].windows.push(loadFigures(r));
        result[s.route].sent += r.requests.total;
      }
    }
    for (const s of servers.splice(0)) {
      const rssKb = await stopServer(s.child);
      const entry = result[s.route];
      entry.server_max_rss_mb = rssKb === undefined ? undefined : round(rssKb / 1024, 1);
      entry.exposures = takeExposures(s.config.logFile);
    }
    return result;
  } finally {
    for (const s of servers) s.child.kill('SIGKILL');
  }
}

async function openFeatureLoadable(): Promise<string | undefined> {
  if (process.env.BENCH_OPENFEATURE_CORE) return undefined;
  try {
    await import('@openfeature/server-sdk');
    return undefined;
  } catch (error) {
    return `OpenFeature variant skipped: ${(error as Error).message.split('\n')[0]} (add "@openfeature/core" to devDependencies, or set BENCH_OPENFEATURE_CORE)`;
  }
}

runSuite('http', async ({ quick }) => {
  const warmupS = quick ? 1 : 2;
  const measureS = quick ? 4 : 8;
  const reps = quick ? 1 : 3;
  // The routes of the HTTP targets and their floors: measured side by side in blocks (pairedBlock),
  // each block a new server per route, each round a window of every route. Many short blocks rather
  // than a few long ones: a server process keeps its own speed for its whole life (servers of one
  // route side by side differ by up to a fifth in CPU per request, with ASLR off and V8's seeds
  // fixed too: bench/README.md), so the processes, not the windows, are what a ratio is sampled over.
  const blocks = quick ? 1 : 9;
  const rounds = 2;
  const windowS = quick ? 2 : 3;
  const connections = 32;
  const dir = mkdtempSync(join(tmpdir(), 'planout-bench-http-'));
  const skipOpenFeature = await openFeatureLoadable();
  if (skipOpenFeature) progress(skipOpenFeature);
  const adapters = ['express', 'fastify'] as const;
  const configs: Array<{ key: string; config: ServerConfig }> = [];
  for (const adapter of adapters) {
    const logFile = join(dir, `${adapter}.jsonl`);
    // bare, noop, floor, floor_ids and planout are measured in pairedBlock: bare; bare + a no-op
    // interceptor; the route doing only the floor's work by hand (bench/http/floor-app.ts); the
    // floor plus the record id every record carries (issue 14); Exp1 through @Param.
    if (!skipOpenFeature) configs.push({ key: `${adapter}.openfeature`, config: { adapter, variant: 'openfeature', experiments: 1, logFile } });
    configs.push({ key: `${adapter}.planout_10`, config: { adapter, variant: 'planout', experiments: 10, logFile } });
    configs.push({ key: `${adapter}.planout_100`, config: { adapter, variant: 'planout', experiments: 100, logFile } });
    // Diagnostics: the module's interceptor alone, the params without exposure logging, and with AsyncLocalStorage on.
    configs.push({ key: `${adapter}.diag_module_no_read`, config: { adapter, variant: 'planout_noread', experiments: 1, logFile } });
    configs.push({ key: `${adapter}.diag_params_manual_exposure`, config: { adapter, variant: 'planout_manual', experiments: 1, logFile } });
    // The @Param route with AsyncLocalStorage forced on (what an app whose services inject PlanoutService gets).
    configs.push({ key: `${adapter}.diag_async_context`, config: { adapter, variant: 'planout_async', experiments: 1, logFile } });
  }
  const runs: Record<string, RunResult[]> = {};
  const paired: Record<string, PairedRouteBlock[]> = {};
  try {
    for (let rep = 0; rep < Math.max(reps, blocks); rep++) {
      // Alternate the order between repetitions so drift in machine load spreads evenly.
      if (rep < blocks) {
        for (const adapter of rep % 2 ? [...adapters].reverse() : adapters) {
          const block = await pairedBlock(adapter, dir, rep, warmupS, windowS, rounds, connections);
          for (const route of PAIRED_ROUTES) (paired[`${adapter}.${route}`] ??= []).push(block[route]);
          progress(
            `http ${adapter} block ${rep + 1}/${blocks}: ` +
              PAIRED_ROUTES.map((route) => `${route} ${Math.round(median(block[route].windows.map((w) => w.rps)))}`).join(', ') +
              ' req/s (median of the rounds)',
          );
        }
      }
      if (rep >= reps) continue;
      const order = rep % 2 ? [...configs].reverse() : configs;
      for (const { key, config } of order) {
        const r = await runOnce(config, warmupS, measureS, connections);
        (runs[key] ??= []).push(r);
        progress(`http ${key} rep ${rep + 1}/${reps}: ${Math.round(r.rps)} req/s, p99 ${r.p99_ms} ms${r.exposures !== undefined ? `, ${r.exposures} exposures` : ''}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  type RouteSummary = { rps: number; p99_ms: number; p50_ms: number; errors: number; non2xx: number; exposure_share?: number; server_max_rss_mb?: number; rps_runs: number[] };
  /** Medians of the loads' figures (each repetition's, or each window's), sums of their errors. */
  const summarize = (loads: RunResult[], exposureShare: number | undefined, rssMb: number): RouteSummary => ({
    rps: Math.round(median(loads.map((r) => r.rps))),
    p99_ms: median(loads.map((r) => r.p99_ms)),
    p50_ms: median(loads.map((r) => r.p50_ms)),
    errors: loads.reduce((sum, r) => sum + r.errors, 0),
    non2xx: loads.reduce((sum, r) => sum + r.non2xx, 0),
    // Exposures written over requests sent (warm-up included): the share of first exposures.
    exposure_share: exposureShare === undefined ? undefined : round(exposureShare, 3),
    server_max_rss_mb: rssMb,
    rps_runs: loads.map((r) => Math.round(r.rps)),
  });
  const summary: Record<string, RouteSummary> = {};
  const pairedRatios: Record<string, MedianInterval & { blocks: number[] }> = {};
  for (const adapter of adapters) {
    for (const route of PAIRED_ROUTES) {
      const key = `${adapter}.${route}`;
      const bs = paired[key];
      if (bs === undefined) continue;
      const windows = bs.flatMap((b) => b.windows);
      const exposures = bs.filter((b) => b.exposures !== undefined);
      summary[key] = summarize(
        windows,
        exposures.length ? median(exposures.map((b) => b.exposures! / b.sent)) : undefined,
        median(bs.map((b) => b.server_max_rss_mb ?? NaN)),
      );
    }
    // Window by window, a route's req/s over the other route's in the same round of the same block;
    // a block's ratio is the median of its rounds', and the figure is the median of the blocks' with an
    // interval over the blocks: the windows of one block share its two processes, so they are not
    // independent samples, and an interval over them would be too narrow.
    const pairs: Array<[PairedRoute, PairedRoute]> = [
      ['bare', 'noop'],
      ['floor', 'noop'],
      ['floor_ids', 'noop'],
      ['planout', 'noop'],
      ['planout', 'floor'],
      ['planout', 'floor_ids'],
    ];
    for (const [a, b] of pairs) {
      const as = paired[`${adapter}.${a}`];
      const bs = paired[`${adapter}.${b}`];
      if (as === undefined || bs === undefined) continue;
      const blockRatios = as.map((block, i) => median(block.windows.map((w, j) => w.rps / bs[i]!.windows[j]!.rps)));
      // The blocks' own ratios too, in block order: they show which processes ran slow (bench/README.md).
      pairedRatios[`${adapter}.${a}/${adapter}.${b}`] = { ...medianInterval(blockRatios), blocks: blockRatios.map((r) => round(r, 3)) };
    }
    for (const [key, rs] of Object.entries(runs)) {
      if (!key.startsWith(`${adapter}.`)) continue;
      const exposures = rs.map((r) => r.exposures).filter((e): e is number => e !== undefined);
      summary[key] = summarize(
        rs,
        exposures.length ? median(rs.map((r) => (r.exposures ?? 0) / (r.requests + r.rps * warmupS))) : undefined,
        median(rs.map((r) => r.server_max_rss_mb ?? NaN)),
      );
    }
  }
  return {
    warmup_s: warmupS,
    measure_s: measureS,
    repetitions: reps,
    paired: { blocks, rounds, window_s: windowS, routes: [...PAIRED_ROUTES] },
    connections,
    unit_ids: UNIT_IDS,
    skipped: skipOpenFeature ?? null,
    routes: summary,
    paired_ratios: pairedRatios,
  };
});
