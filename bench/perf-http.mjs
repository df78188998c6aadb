// Where the whole server process's CPU goes, per request, for bench HTTP routes under load: Linux `perf`
// sampling every thread (kernel, libc, V8's runtime, builtins and GC, Node's C++, and the JavaScript of each
// package). V8's own profiler (bench/profile-http.mjs) sees JavaScript and GC only, and slows some routes more
// than others while it samples; perf only reads the process from outside.
// Usage (after `npm run bench` built dist-bench/; needs `perf`, Debian's linux-perf, and root or
// kernel.perf_event_paranoid ≤ 1):
//   node bench/perf-http.mjs express floor_ids,planout [seconds=6] [outDir=/tmp/planout-perf-http] [symbols=25]
// For each route: starts bench/http/server.js with --perf-basic-prof-only-functions (JavaScript frames by
// name), warms it up for 4 s, then records every 0.5 ms of the process's CPU time while the bench's load runs
// for `seconds`. It prints each category's µs of CPU a request, and with two routes or more, each one's
// difference to the first route, then the symbols that differ most.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { frameworkPackage } from './js-package.mjs';
import { loadRoute, startRouteServer } from './route-load.mjs';

const [adapter = 'express', variantsArg = 'floor_ids,planout', secondsArg = '6', outDir = '/tmp/planout-perf-http', symbolsArg = '25'] =
  process.argv.slice(2);
const seconds = Number(secondsArg);
/** CPU time per sample, in µs (`perf record -e cpu-clock -c` takes nanoseconds). */
const SAMPLE_US = 500;
mkdirSync(outDir, { recursive: true });
try {
  execFileSync('perf', ['--version'], { stdio: 'ignore' });
} catch {
  throw new Error('perf-http needs Linux perf on the PATH (Debian: apt-get install linux-perf)');
}

/** What a symbol is: which package's JavaScript, or which part of the runtime. */
function category(dso, symbol) {
  if (symbol.startsWith('JS:')) {
    if (/\/src\/(core|nest)\//.test(symbol)) return 'js: this library';
    if (/\/bench\/http\//.test(symbol)) return 'js: the bench app (floor, route)';
    const framework = frameworkPackage(symbol);
    if (framework !== undefined) return `js: ${framework}`;
    if (symbol.includes(' node:')) return 'js: node';
    return 'js: other';
  }
  if (dso.startsWith('[kernel')) return 'kernel';
  if (/Scaveng|Heap::|Marking|MarkCompact|Sweep|Evacuat|MemoryAllocator|BodyDescriptor|MemoryChunk|Page::/.test(symbol)) return 'v8: gc';
  if (symbol.startsWith('Builtins_')) return 'v8: builtins';
  if (symbol.includes('v8::')) return 'v8: runtime (ICs, property lookups, maps)';
  if (symbol.includes('node::') || symbol.startsWith('llhttp')) return 'node: c++';
  return 'libc, openssl, other';
}

/** µs a request by symbol and by category, from `perf report`. */
function report(file, requests) {
  const text = execFileSync('perf', ['report', '-i', file, '--no-children', '--sort', 'dso,sym', '-n', '-q', '--percent-limit', '0'], {
    encoding: 'utf8',
    maxBuffer: 256 << 20,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const symbols = new Map();
  const categories = new Map();
  for (const line of text.split('\n')) {
    // "  12.34%  1234  node  [.] v8::internal::…" (the dso may be "[JIT] tid 123" or "[kernel.kallsyms]").
    const match = /^\s*[\d.]+%\s+(\d+)\s+(\[JIT\] tid \d+|\S+)\s+\[.\]\s+(.*)$/.exec(line);
    if (match === null) continue;
    const [, count, dso, raw] = match;
    // Categorized by the full path; named without addresses and with paths from the package or dist-bench on.
    const kind = category(dso, raw);
    const symbol = raw.trim().replace(/0x[0-9a-f]+/g, '').replace(/\S*node_modules\//g, '').replace(/file:\/\/\S*\/dist-bench\//g, '');
    const us = (Number(count) * SAMPLE_US) / requests;
    symbols.set(symbol, (symbols.get(symbol) ?? 0) + us);
    categories.set(kind, (categories.get(kind) ?? 0) + us);
  }
  return { symbols, categories };
}

const routes = [];
for (const variant of variantsArg.split(',')) {
  const config = { adapter, variant, experiments: 1, logFile: join(outDir, `${adapter}-${variant}.jsonl`) };
  const { child, port } = await startRouteServer(config, undefined, { execArgv: ['--perf-basic-prof-only-functions'] });
  try {
    await loadRoute(port, { duration: 4 });
    const file = join(outDir, `${adapter}-${variant}.perf.data`);
    const perf = spawn('perf', ['record', '-e', 'cpu-clock', '-c', String(SAMPLE_US * 1000), '-p', String(child.pid), '-o', file], { stdio: 'ignore' });
    const exited = new Promise((resolve) => perf.once('exit', resolve));
    await new Promise((resolve) => setTimeout(resolve, 500));
    // Samples count CPU time only, so the idle half-second around the load adds nothing to the per-request figures.
    const result = await loadRoute(port, { duration: seconds });
    await new Promise((resolve) => setTimeout(resolve, 200));
    perf.kill('SIGINT');
    await exited;
    const requests = result.requests.total;
    console.log(`${adapter}.${variant}: ${requests} requests, ${Math.round(result.requests.average)} req/s`);
    routes.push({ variant, requests, ...report(file, requests) });
  } finally {
    child.send({ stop: true });
    await new Promise((resolve) => child.once('exit', resolve));
    // perf reads the JavaScript symbols from the map V8 wrote for the process; report() has run.
    rmSync(`/tmp/perf-${child.pid}.map`, { force: true });
  }
}

const total = (map) => [...map.values()].reduce((sum, us) => sum + us, 0);
const first = routes[0];
const kinds = [...new Set(routes.flatMap((r) => [...r.categories.keys()]))].sort((a, b) => (first.categories.get(b) ?? 0) - (first.categories.get(a) ?? 0));
const cell = (us) => us.toFixed(1).padStart(8);
const delta = (us) => `${us >= 0 ? '+' : ''}${us.toFixed(1)}`.padStart(8);
console.log(`\nµs of CPU a request (every thread)${routes.length > 1 ? `; after each route after the first, its difference to ${first.variant}` : ''}`);
console.log(`${'category'.padEnd(44)}${routes.map((r) => r.variant.padStart(routes.length > 1 ? 18 : 10)).join('')}`);
for (const row of [...kinds, 'total']) {
  const value = (r) => (row === 'total' ? total(r.categories) : (r.categories.get(row) ?? 0));
  const cells = routes.map((r, i) => (i === 0 ? cell(value(r)).padStart(routes.length > 1 ? 18 : 10) : `${cell(value(r))}${delta(value(r) - value(first)).padStart(10)}`));
  console.log(`${row.padEnd(44)}${cells.join('')}`);
}
for (const route of routes.slice(1)) {
  console.log(`\nsymbols that differ most, ${route.variant} − ${first.variant} (µs a request)`);
  const names = new Set([...first.symbols.keys(), ...route.symbols.keys()]);
  const rows = [...names].map((name) => [name, (route.symbols.get(name) ?? 0) - (first.symbols.get(name) ?? 0)]).sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]));
  for (const [name, diff] of rows.slice(0, Number(symbolsArg))) console.log(`${delta(diff)}  ${name.slice(0, 120)}`);
}
