// Figure 5 and the registered-experiments half of 7: Nest routes under autocannon.
// Each server runs in its own child process on 127.0.0.1 (never another address); runs are
// interleaved across configurations and repeated, and the median is reported.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { median, round } from '../lib/stats.js';
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

async function runOnce(config: ServerConfig, warmupS: number, measureS: number, connections: number): Promise<RunResult> {
  const { child, port } = await startServer(config);
  try {
    await cannon(port, warmupS, connections);
    const r = await cannon(port, measureS, connections);
    const rssKb = await stopServer(child);
    let exposures: number | undefined;
    if ((config.variant.startsWith('planout') || config.variant.startsWith('floor')) && existsSync(config.logFile)) {
      const text = readFileSync(config.logFile, 'utf8');
      exposures = text.length === 0 ? 0 : text.split('\n').length - 1;
      rmSync(config.logFile);
    }
    return {
      rps: r.requests.average,
      p99_ms: r.latency.p99,
      p50_ms: r.latency.p50,
      errors: r.errors + r.timeouts,
      non2xx: r.non2xx,
      requests: r.requests.total,
      exposures,
      server_max_rss_mb: rssKb === undefined ? undefined : round(rssKb / 1024, 1),
    };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
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
  // The routes of the HTTP targets and their floors get two more repetitions: on a machine whose
  // speed drops for a while (seen as every route of one repetition, the bare one too, losing a third
  // of its req/s), a median of five is not moved by one or two slow repetitions, as one of three is.
  const targetReps = quick ? 1 : 5;
  const targetRoutes = new Set(['bare', 'noop', 'floor', 'floor_ids', 'planout']);
  const connections = 32;
  const dir = mkdtempSync(join(tmpdir(), 'planout-bench-http-'));
  const skipOpenFeature = await openFeatureLoadable();
  if (skipOpenFeature) progress(skipOpenFeature);
  const adapters = ['express', 'fastify'] as const;
  const configs: Array<{ key: string; config: ServerConfig }> = [];
  for (const adapter of adapters) {
    const logFile = join(dir, `${adapter}.jsonl`);
    configs.push({ key: `${adapter}.bare`, config: { adapter, variant: 'bare', experiments: 1, logFile } });
    configs.push({ key: `${adapter}.noop`, config: { adapter, variant: 'noop', experiments: 1, logFile } });
    // The same route doing only the floor's work, by hand (bench/http/floor-app.ts).
    configs.push({ key: `${adapter}.floor`, config: { adapter, variant: 'floor', experiments: 1, logFile } });
    // The floor plus the record id every record carries (issue 14).
    configs.push({ key: `${adapter}.floor_ids`, config: { adapter, variant: 'floor_ids', experiments: 1, logFile } });
    configs.push({ key: `${adapter}.planout`, config: { adapter, variant: 'planout', experiments: 1, logFile } });
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
  try {
    for (let rep = 0; rep < targetReps; rep++) {
      // Alternate the order between repetitions so drift in machine load spreads evenly.
      const order = rep % 2 ? [...configs].reverse() : configs;
      for (const { key, config } of order) {
        const routeReps = targetRoutes.has(key.slice(key.indexOf('.') + 1)) ? targetReps : reps;
        if (rep >= routeReps) continue;
        const r = await runOnce(config, warmupS, measureS, connections);
        (runs[key] ??= []).push(r);
        progress(`http ${key} rep ${rep + 1}/${routeReps}: ${Math.round(r.rps)} req/s, p99 ${r.p99_ms} ms${r.exposures !== undefined ? `, ${r.exposures} exposures` : ''}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const summary: Record<string, { rps: number; p99_ms: number; p50_ms: number; errors: number; non2xx: number; exposure_share?: number; server_max_rss_mb?: number; rps_runs: number[] }> = {};
  for (const [key, rs] of Object.entries(runs)) {
    const exposures = rs.map((r) => r.exposures).filter((e): e is number => e !== undefined);
    summary[key] = {
      rps: Math.round(median(rs.map((r) => r.rps))),
      p99_ms: median(rs.map((r) => r.p99_ms)),
      p50_ms: median(rs.map((r) => r.p50_ms)),
      errors: rs.reduce((s, r) => s + r.errors, 0),
      non2xx: rs.reduce((s, r) => s + r.non2xx, 0),
      // Exposures written over requests sent (warm-up included): the share of first exposures.
      exposure_share: exposures.length
        ? round(median(rs.map((r) => (r.exposures ?? 0) / (r.requests + r.rps * warmupS))), 3)
        : undefined,
      server_max_rss_mb: median(rs.map((r) => r.server_max_rss_mb ?? NaN)),
      rps_runs: rs.map((r) => Math.round(r.rps)),
    };
  }
  return { warmup_s: warmupS, measure_s: measureS, repetitions: reps, target_repetitions: targetReps, connections, unit_ids: UNIT_IDS, skipped: skipOpenFeature ?? null, routes: summary };
});
