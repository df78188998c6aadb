// A/B of bench HTTP routes: keeps one server per variant running, loads them in turn
// (interleaved rounds, the same autocannon load as the bench), and reports per variant the
// median req/s and the server's CPU time per request (all its threads, and its main thread alone, from /proc).
// Usage (after `npm run bench` built dist-bench/):
//   node bench/http-ab.mjs fastify noop,planout [rounds=5] [seconds=3] [blocks=1]
// With blocks > 1 the whole A/B runs that many times, each block with new server processes (a process keeps
// its own speed for its life: bench/README.md), and it ends with the medians over the blocks.
// A variant may carry environment for the server after a colon (planout:BENCH_X=1), and another
// build's dist-bench directory after an @ (planout@/tmp/dist-before), to compare two builds.
// BENCH_EXEC_PATH=<program> among the environment starts that server with another program in place of
// node (a wrapper script that runs node under `setarch -R`, or with V8 flags NODE_OPTIONS refuses).
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRoute, startRouteServer } from './route-load.mjs';

const [adapter = 'fastify', variantsArg = 'noop,planout', roundsArg = '5', secondsArg = '3', blocksArg = '1'] = process.argv.slice(2);
const rounds = Number(roundsArg);
const seconds = Number(secondsArg);
const blocks = Number(blocksArg);
const specs = variantsArg.split(',');
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

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = (port, duration) => loadRoute(port, { duration });

/** One block: a new server per variant, warmed up, then `rounds` interleaved rounds; prints and returns its figures. */
async function block(number) {
  const servers = [];
  try {
    for (const [i, spec] of specs.entries()) {
      const [variantAndBuild, ...envPairs] = spec.split(':');
      const [variant, build] = variantAndBuild.split('@');
      // NAME=value, split at the first `=` only (NODE_OPTIONS=--max-semi-space-size=64).
      const env = { ...process.env, ...Object.fromEntries(envPairs.map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)])) };
      const config = { adapter, variant, experiments: 1, logFile: join(dir, `${number}-${i}.jsonl`) };
      const { BENCH_EXEC_PATH: execPath, ...serverEnv } = env;
      // fork() runs node itself when execPath is undefined.
      const { child, port } = await startRouteServer(config, build, { env: serverEnv, execPath });
      servers.push({ spec, child, port, rps: [], cpu: [], main: [], faults: [] });
    }
    for (const s of servers) await load(s.port, 2);
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 ? [...servers].reverse() : servers;
      for (const s of order) {
        const before = cpuSeconds(s.child.pid);
        const mainBefore = mainThreadCpuSeconds(s.child.pid);
        const faultsBefore = minorFaults(s.child.pid);
        const r = await load(s.port, seconds);
        s.rps.push(r.requests.average);
        s.cpu.push(((cpuSeconds(s.child.pid) - before) * 1e6) / r.requests.total);
        s.main.push(((mainThreadCpuSeconds(s.child.pid) - mainBefore) * 1e6) / r.requests.total);
        s.faults.push((minorFaults(s.child.pid) - faultsBefore) / r.requests.total);
      }
    }
    if (blocks > 1) console.log(`block ${number + 1} of ${blocks}`);
    const base = servers[0];
    return servers.map((s) => {
      const rps = median(s.rps);
      const cpu = median(s.cpu);
      const main = median(s.main);
      // Each round's req/s over the base's in the same round: slow phases of the machine cancel out.
      const paired = s.rps.map((r, i) => r / base.rps[i]);
      console.log(
        `${adapter}.${s.spec.padEnd(40)} ${String(Math.round(rps)).padStart(7)} req/s (${(rps / median(base.rps)).toFixed(3)})  ` +
          `${cpu.toFixed(1).padStart(6)} µs CPU/req (${(median(base.cpu) / cpu).toFixed(3)}), main thread ${main.toFixed(1)}  ` +
          `runs ${s.rps.map(Math.round).join(' ')}`,
      );
      console.log(`  pid ${s.child.pid}, minor page faults per request: ${median(s.faults).toFixed(3)}`);
      console.log(`  paired ratio: median ${median(paired).toFixed(3)}, mean ${(paired.reduce((a, b) => a + b, 0) / paired.length).toFixed(3)}`);
      return { paired: median(paired), cpu, main, rps };
    });
  } finally {
    // The next block starts only once these servers have exited.
    await Promise.all(
      servers.map(({ child }) => new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        child.once('exit', () => (clearTimeout(timer), resolve()));
        child.send({ stop: true });
      })),
    );
  }
}

const results = [];
for (let b = 0; b < blocks; b++) results.push(await block(b));
if (blocks > 1) {
  console.log(`medians over ${blocks} blocks (the main thread's µs a request, each block's median round, then its difference to the first route's)`);
  specs.forEach((spec, i) => {
    const of = (key) => results.map((r) => r[i][key]);
    const overBase = results.map((r) => r[i].main - r[0].main);
    console.log(
      `${adapter}.${spec.padEnd(40)} paired ratio ${median(of('paired')).toFixed(3)} [${of('paired').map((x) => x.toFixed(3)).join(' ')}]  ` +
        `main thread ${median(of('main')).toFixed(1)} µs/req, ${median(overBase) >= 0 ? '+' : ''}${median(overBase).toFixed(1)} [${overBase.map((x) => x.toFixed(1)).join(' ')}]`,
    );
  });
}
rmSync(dir, { recursive: true, force: true });
