// The bench's HTTP load, shared by the diagnostic scripts (http-ab, profile-http, gc-http): 32 connections,
// each request for a unit drawn from 1M ids, as bench/suites/http.ts loads its routes.
import autocannon from 'autocannon';

/** Loads the bench route `/r` on `port` for `limit`: `{ amount }` requests or `{ duration }` seconds. */
export function loadRoute(port, limit) {
  return autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: 32,
    ...limit,
    requests: [{ method: 'GET', path: '/r?u=0', setupRequest: (req) => ({ ...req, path: `/r?u=${Math.floor(Math.random() * 1_000_000)}` }) }],
  });
}
