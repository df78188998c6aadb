// A/B of bench HTTP routes: keeps one server per variant running, loads them in turn
// (interleaved rounds, the same autocannon load as the bench), and reports per variant the
// median req/s and the server's CPU time per request (all its threads, and its main thread alone, from /proc).
// Usage (after `npm run bench` built dist-bench/):
//   node bench/http-ab.mjs fastify noop,planout [rounds=5] [seconds=3]
// A variant may carry environment for the server after a colon (planout:BENCH_X=1), and another
// build's dist-bench directory after an @ (planout@/tmp/dist-before), to compare two builds.
// BENCH_EXEC_PATH=<program> among the environment starts that server with another program in place of
// node (a wrapper script that runs node under `setarch -R`, or with V8 flags NODE_OPTIONS refuses).
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRoute, startRouteServer } from './route-load.mjs';

const [adapter = 'fastify', variantsArg = 'noop,planout', roundsArg = '5', secondsArg = '3'] = process.argv.slice(2);
const rounds = Number(roundsArg);
const seconds = Number(secondsArg);
const dir = mkdtempSync(join(tmpdir(), 'planout-http-ab-'));
const ticks = 100; // USER_HZ

/** Minor page faults of the whole process so far. */
function minorFaults(pid) {
  return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[7]);
}

function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticks; // utime + stime, all threads
}

/** utime + stime of the main thread alone (its task id is the pid); the rest is libuv's pool, V8's GC helpers. */
function mainThreadCpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticks;
}

const servers = [];
for (const [i, spec] of variantsArg.split(',').entries()) {
  const [variantAndBuild, ...envPairs] = spec.split(':');
  const [variant, build] = variantAndBuild.split('@');
  // NAME=value, split at the first `=` only (NODE_OPTIONS=--max-semi-space-size=64).
  const env = { ...process.env, ...Object.fromEntries(envPairs.map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)])) };
  const config = { adapter, variant, experiments: 1, logFile: join(dir, `${i}.jsonl`) };
  const { BENCH_EXEC_PATH: execPath, ...serverEnv } = env;
  // fork() runs node itself when execPath is undefined.
  const { child, port } = await startRouteServer(config, build, { env: serverEnv, execPath });
  servers.push({ spec, child, port, rps: [], cpu: [], main: [] });
}
const load = (port, duration) => loadRoute(port, { duration });
for (const s of servers) await load(s.port, 2);
for (let round = 0; round < rounds; round++) {
  const order = round % 2 ? [...servers].reverse() : servers;
  for (const s of order) {
    const before = cpuSeconds(s.child.pid);
    const mainBefore = mainThreadCpuSeconds(s.child.pid);
    const faultsBefore = minorFaults(s.child.pid);
    const r = await load(s.port, seconds);
    const cpu = cpuSeconds(s.child.pid) - before;
    const main = mainThreadCpuSeconds(s.child.pid) - mainBefore;
    s.rps.push(r.requests.average);
    s.cpu.push((cpu * 1e6) / r.requests.total);
    s.main.push((main * 1e6) / r.requests.total);
    (s.faults ??= []).push((minorFaults(s.child.pid) - faultsBefore) / r.requests.total);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = servers[0];
for (const s of servers) {
  const rps = median(s.rps);
  const cpu = median(s.cpu);
  console.log(
    `${adapter}.${s.spec.padEnd(40)} ${String(Math.round(rps)).padStart(7)} req/s (${(rps / median(base.rps)).toFixed(3)})  ` +
      `${cpu.toFixed(1).padStart(6)} µs CPU/req (${(median(base.cpu) / cpu).toFixed(3)}), main thread ${median(s.main).toFixed(1)}  ` +
      `runs ${s.rps.map(Math.round).join(' ')}`,
  );
  // Each round's req/s over the base's in the same round: slow phases of the machine cancel out.
  const paired = s.rps.map((r, i) => r / base.rps[i]);
  console.log(`  pid ${s.child.pid}, minor page faults per request: ${median(s.faults).toFixed(3)}`);
  console.log(`  paired ratio: median ${median(paired).toFixed(3)}, mean ${(paired.reduce((a, b) => a + b, 0) / paired.length).toFixed(3)}`);
  s.child.send({ stop: true });
}
rmSync(dir, { recursive: true, force: true });
