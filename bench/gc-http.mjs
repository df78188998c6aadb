// GC time per request of bench HTTP routes under load, from V8's --trace-gc lines.
// Usage (after `npm run bench` built dist-bench/):
//   node bench/gc-http.mjs express floor_ids,planout [requests=30000]
// A variant may carry another build's dist-bench directory after an @ (planout@/tmp/dist-before), as in
// bench/http-ab.mjs. For each route: starts bench/http/server.js with --trace-gc, warms it up with 10,000
// requests, then counts the collections of `requests` more (32 connections, a unit per request from 1M ids)
// and prints their number and pause per request, and the MB allocated between two scavenges (less means
// more of the young generation survived the previous one).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRoute, startRouteServer } from './route-load.mjs';

const [adapter = 'express', variantsArg = 'floor_ids,planout', requestsArg = '30000'] = process.argv.slice(2);
const requests = Number(requestsArg);
const dir = mkdtempSync(join(tmpdir(), 'planout-gc-http-'));
const GC_LINE = /(Scavenge|Mark-Compact|Minor Mark-Sweep)\S* ([\d.]+) \([\d.]+\) -> ([\d.]+) \([\d.]+\) MB, ([\d.]+) \//;

for (const spec of variantsArg.split(',')) {
  const [variant, build] = spec.split('@');
  const config = { adapter, variant, experiments: 1, logFile: join(dir, `${variant}.jsonl`) };
  const { child, port } = await startRouteServer(config, build, { execArgv: ['--trace-gc'], stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  let trace = '';
  child.stdout.on('data', (chunk) => (trace += chunk));
  const load = (amount) => loadRoute(port, { amount });
  await load(10_000);
  trace = '';
  const result = await load(requests);
  const kinds = new Map();
  let allocated = 0;
  let gaps = 0;
  let after;
  for (const line of trace.split('\n')) {
    const match = GC_LINE.exec(line);
    if (match === null) continue;
    const [, kind, beforeMb, afterMb, pauseMs] = match;
    const entry = kinds.get(kind) ?? { count: 0, ms: 0 };
    entry.count++;
    entry.ms += Number(pauseMs);
    kinds.set(kind, entry);
    if (kind === 'Scavenge' && after !== undefined) {
      allocated += Number(beforeMb) - after;
      gaps++;
    }
    after = kind === 'Scavenge' ? Number(afterMb) : undefined;
  }
  const parts = [...kinds].map(([kind, { count, ms }]) => `${kind} ${count} × ${(ms / count).toFixed(2)} ms = ${((ms * 1000) / requests).toFixed(2)} µs/req`);
  console.log(`${adapter}.${spec}: ${result.requests.total} requests, ${Math.round(result.requests.average)} req/s`);
  console.log(`  ${parts.join('; ')}`);
  console.log(`  MB allocated between two scavenges: ${gaps > 0 ? (allocated / gaps).toFixed(2) : '—'}`);
  child.send({ stop: true });
  await new Promise((resolve) => child.once('exit', resolve));
}
rmSync(dir, { recursive: true, force: true });
