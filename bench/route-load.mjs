// The bench's HTTP route servers and their load, shared by the diagnostic scripts (http-ab, profile-http,
// gc-http): a server per route, and a load of 32 connections, each request for a unit drawn from 1M ids,
// as bench/suites/http.ts loads its routes.
import { fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const distBench = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist-bench');

/**
 * Forks the bench server (bench/http/server.js of `build`, a dist-bench directory, else this checkout's)
 * for `config`, with `forkOptions` over the defaults; resolves with the child and its port once it listens.
 * A server that dies before it listens (a bad flag, a failed check) rejects instead of hanging the script.
 */
export async function startRouteServer(config, build, forkOptions = {}) {
  const script = join(build ?? distBench, 'bench', 'http', 'server.js');
  const child = fork(script, [JSON.stringify(config)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], ...forkOptions });
  const port = await new Promise((resolve, reject) => {
    child.on('message', (m) => m.port && resolve(m.port));
    const name = `${config.adapter}.${config.variant}${build === undefined ? '' : `@${build}`}`;
    child.once('exit', (code) => reject(new Error(`${name}: the server exited (${code}) before listening`)));
  });
  return { child, port };
}

/** Loads the bench route `/r` on `port` for `limit`: `{ amount }` requests or `{ duration }` seconds. */
export function loadRoute(port, limit) {
  return autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: 32,
    ...limit,
    requests: [{ method: 'GET', path: '/r?u=0', setupRequest: (req) => ({ ...req, path: `/r?u=${Math.floor(Math.random() * 1_000_000)}` }) }],
  });
}
