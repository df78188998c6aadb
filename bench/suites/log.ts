// Figure 6: the default JSON-lines sink. Phases, each in a fresh child process:
//  - sustained: a producer writes records as fast as the sink accepts them (it backs off
//    when the backlog reaches the queue limit); reports records/s to disk and the longest
//    event-loop stall meanwhile;
//  - floor: the same producer with JSON.stringify and 1 MiB file writes instead of the sink;
//  - idle: the same monitor on an idle loop (the machine's own delay);
//  - burst: 1M records offered at once (10k per tick, no back-off); records past the queue
//    limit are rejected, so peak RSS stays bounded.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { PlanoutLogRecord } from '../../src/core/log-record.js';
import { SinkOverflowError } from '../../src/nest/sinks/errors.js';
import { JsonLinesFileSink } from '../../src/nest/sinks/json-lines-file.sink.js';
import { median, round } from '../lib/stats.js';
import { progress, runSuite } from '../lib/suite.js';

const QUEUE_LIMIT = 100_000; // the sink's default maxBufferedRecords

function record(i: number): PlanoutLogRecord {
  return {
    name: 'Exp1',
    salt: 'Exp1',
    inputs: { userid: String(1_000_000 + i) },
    params: { group_size: i % 2 ? 10 : 1, specific_goal: 1, ratings_goal: 16 },
    event: 'exposure',
    time: 1_795_000_000 + (i >> 10),
    checksum: '9014945f',
  };
}

const quietLogger = { log() {}, warn() {}, error() {} };
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

async function sustained(path: string, total: number): Promise<Record<string, number>> {
  const sink = new JsonLinesFileSink({ path, logger: quietLogger });
  const h = monitorEventLoopDelay({ resolution: 1 });
  const chunk = 1_000;
  const start = performance.now();
  h.enable();
  let i = 0;
  while (i < total) {
    if (sink.backlog + chunk > QUEUE_LIMIT) {
      await tick();
      continue;
    }
    for (const end = Math.min(i + chunk, total); i < end; i++) sink.write(record(i));
    await tick();
  }
  await sink.close();
  h.disable();
  return { ...rateFigures(total, start, h), bytes: statSync(path).size, max_rss_mb: round(process.resourceUsage().maxRSS / 1024, 1) };
}

/** Records per second since `start`, and the longest and 99th-percentile event-loop delays of `h`. */
function rateFigures(total: number, start: number, h: IntervalHistogram): Record<string, number> {
  const seconds = (performance.now() - start) / 1000;
  return { records: total, seconds: round(seconds, 3), records_per_s: Math.round(total / seconds), ...delayFigures(h) };
}

function delayFigures(h: IntervalHistogram): Record<string, number> {
  return { event_loop_max_stall_ms: round(h.max / 1e6, 2), event_loop_p99_ms: round(h.percentile(99) / 1e6, 2) };
}

/**
 * The stall floor: the same producer, each record serialized with `JSON.stringify` and appended
 * to a file in 1 MiB writes, nothing else (no bound, no retry, no rotation). The least any sink that
 * writes these records as JSON lines stalls the loop on this machine.
 */
async function sustainedFloor(path: string, total: number): Promise<Record<string, number>> {
  const file = await open(path, 'w');
  const h = monitorEventLoopDelay({ resolution: 1 });
  const chunk = 1_000;
  const start = performance.now();
  h.enable();
  let lines: string[] = [];
  let chars = 0;
  let writing: Promise<unknown> = Promise.resolve();
  for (let i = 0; i < total; ) {
    for (const end = Math.min(i + chunk, total); i < end; i++) {
      const line = JSON.stringify(record(i));
      lines.push(line);
      chars += line.length + 1;
    }
    if (chars >= 1 << 20 || i === total) {
      const text = lines.join('\n') + '\n';
      lines = [];
      chars = 0;
      await writing;
      writing = file.write(text);
    }
    await tick();
  }
  await writing;
  await file.close();
  h.disable();
  return rateFigures(total, start, h);
}

/** The same monitor on an idle loop for `ms`: the delay the machine adds by itself (a halted vCPU waking up). */
async function idle(_path: string, ms: number): Promise<Record<string, number>> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  await new Promise((resolve) => setTimeout(resolve, ms));
  h.disable();
  return delayFigures(h);
}

async function burst(path: string, total: number): Promise<Record<string, number>> {
  const sink = new JsonLinesFileSink({ path, logger: quietLogger });
  const baseline = process.memoryUsage().rss;
  let accepted = 0;
  let rejected = 0;
  let peakRss = baseline;
  for (let i = 0; i < total; ) {
    for (const end = Math.min(i + 10_000, total); i < end; i++) {
      try {
        sink.write(record(i));
        accepted++;
      } catch (error) {
        if (!(error instanceof SinkOverflowError)) throw error;
        rejected++;
      }
    }
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    await tick();
  }
  await sink.close();
  return {
    offered: total,
    accepted,
    rejected,
    baseline_rss_mb: round(baseline / 2 ** 20, 1),
    peak_rss_mb: round(Math.max(peakRss, process.resourceUsage().maxRSS * 1024) / 2 ** 20, 1),
    queue_limit: QUEUE_LIMIT,
  };
}

const phase = process.argv.find((a) => a.startsWith('--phase='))?.slice('--phase='.length);

if (phase) {
  // Child: one phase, result over IPC.
  const [, path, total] = process.argv.slice(2);
  const run = phase === 'sustained' ? sustained : phase === 'floor' ? sustainedFloor : phase === 'idle' ? idle : burst;
  void run(path!, Number(total)).then((r) => process.send!(r, () => process.exit(0)));
} else {
  runSuite('log', async ({ quick }) => {
    const dir = mkdtempSync(join(tmpdir(), 'planout-bench-log-'));
    const self = fileURLToPath(import.meta.url);
    const child = (p: string, file: string, total: number) =>
      new Promise<Record<string, number>>((resolve, reject) => {
        const c = fork(self, [`--phase=${p}`, join(dir, file), String(total)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        c.on('message', (m) => resolve(m as Record<string, number>));
        c.on('exit', (code) => code !== 0 && reject(new Error(`log phase ${p} exited with ${code}`)));
      });
    try {
      const runs: Record<string, number>[] = [];
      const floorRuns: Record<string, number>[] = [];
      const idleRuns: Record<string, number>[] = [];
      // The sink, its floor and an idle loop, interleaved: each run in a new process.
      // Five runs each: one run's longest stall is one GC pause or one vCPU wait, which vary a lot.
      for (let r = 0; r < (quick ? 1 : 5); r++) {
        runs.push(await child('sustained', `sustained-${r}.jsonl`, quick ? 500_000 : 1_000_000));
        progress(`log sustained run ${r + 1}: ${runs.at(-1)!.records_per_s} records/s, max stall ${runs.at(-1)!.event_loop_max_stall_ms} ms`);
        rmSync(join(dir, `sustained-${r}.jsonl`));
        floorRuns.push(await child('floor', `floor-${r}.jsonl`, quick ? 500_000 : 1_000_000));
        progress(`log floor run ${r + 1}: ${floorRuns.at(-1)!.records_per_s} records/s, max stall ${floorRuns.at(-1)!.event_loop_max_stall_ms} ms`);
        rmSync(join(dir, `floor-${r}.jsonl`));
        idleRuns.push(await child('idle', 'idle', 2_000));
        progress(`log idle loop run ${r + 1}: max stall ${idleRuns.at(-1)!.event_loop_max_stall_ms} ms`);
      }
      const burstResult = await child('burst', 'burst.jsonl', 1_000_000);
      progress(`log burst: peak RSS ${burstResult.peak_rss_mb} MB, ${burstResult.rejected} rejected`);
      // Runs are odd in number (5, or 1 with --quick), so each median is one run's figure.
      const med = (xs: Record<string, number>[], k: string) => median(xs.map((x) => x[k]!));
      return {
        sustained: { records_per_s: med(runs, 'records_per_s'), event_loop_max_stall_ms: med(runs, 'event_loop_max_stall_ms'), runs },
        floor: { records_per_s: med(floorRuns, 'records_per_s'), event_loop_max_stall_ms: med(floorRuns, 'event_loop_max_stall_ms'), runs: floorRuns },
        idle: { event_loop_max_stall_ms: med(idleRuns, 'event_loop_max_stall_ms'), runs: idleRuns },
        burst: burstResult,
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
