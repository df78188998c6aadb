// Which package a JavaScript frame's script belongs to, from its URL or path: shared by the profile
// splits (bench/profile-categories.mjs for V8's profiles, bench/perf-http.mjs for perf's symbols).

/** 'nest', 'fastify', 'express', 'rxjs', or undefined for this library, Node and anything else. */
export function frameworkPackage(location) {
  if (location.includes('/@nestjs/')) return 'nest';
  if (/\/(fastify|find-my-way|light-my-request|avvio|@fastify)\//.test(location)) return 'fastify';
  if (/\/(express|router|body-parser|finalhandler|send|qs|parseurl|content-type|etag|mime-types|on-finished)\//.test(location)) return 'express';
  if (location.includes('/rxjs/')) return 'rxjs';
  return undefined;
}
