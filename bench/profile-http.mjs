// CPU profiles of bench HTTP routes under load, startup excluded, and where each request's time goes.
// Usage (after `npm run bench` built dist-bench/):
//   node bench/profile-http.mjs fastify noop,planout [requests=60000] [outDir=/tmp/planout-http-profiles]
// For each route: starts bench/http/server.js, warms it up with autocannon, profiles exactly
// `requests` requests (32 connections, a unit per request from 1M ids, as the bench), then
// prints bench/profile-categories.mjs's split in µs per request.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadRoute, startRouteServer } from './route-load.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const [adapter = 'fastify', variants = 'noop,planout', requestsArg = '60000', outDir = '/tmp/planout-http-profiles'] = process.argv.slice(2);
const requests = Number(requestsArg);
mkdirSync(outDir, { recursive: true });

for (const variant of variants.split(',')) {
  const config = { adapter, variant, experiments: 1, logFile: join(outDir, `${adapter}-${variant}.jsonl`) };
  const { child, port } = await startRouteServer(config);
  const next = (key) => new Promise((resolve) => child.once('message', function on(m) { if (key in m) resolve(m[key]); else child.once('message', on); }));
  const load = (amount) => loadRoute(port, { amount });
  await load(20_000);
  child.send({ profileStart: true });
  await next('profiling');
  const result = await load(requests);
  const path = join(outDir, `${adapter}-${variant}.cpuprofile`);
  child.send({ profileStop: path });
  await next('profiled');
  child.send({ stop: true });
  await next('stopped');
  console.log(`\n${adapter}.${variant}: ${result.requests.total} requests, ${Math.round(result.requests.average)} req/s`);
  console.log(execFileSync('node', [join(here, 'profile-categories.mjs'), path, String(result.requests.total)], { encoding: 'utf8' }));
}
