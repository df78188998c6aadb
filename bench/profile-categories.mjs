// Splits a .cpuprofile's samples by where the time was spent: this library (by file), Nest,
// the HTTP framework, rxjs, Node internals, native code (syscalls such as writev), GC, idle.
// Usage: node bench/profile-categories.mjs file.cpuprofile [requests]
// With `requests` (how many requests the profiled process served) it also prints µs per request.
import { readFileSync } from 'node:fs';
import { frameworkPackage } from './js-package.mjs';

const [file, requestsArg] = process.argv.slice(2);
const profile = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const requests = requestsArg === undefined ? undefined : Number(requestsArg);

function category(node) {
  const { url, functionName } = node.callFrame;
  if (functionName === '(garbage collector)') return 'gc';
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(program)') return 'program';
  if (url === '') return `native: ${functionName || '(anonymous)'}`;
  const ours = /\/src\/(core|nest)\/(.+)\.js$/.exec(url);
  if (ours) return `ours: ${ours[1]}/${ours[2]}`;
  const framework = frameworkPackage(url);
  if (framework !== undefined) return framework;
  if (url === 'node:internal/crypto/hash') return 'node: crypto hash';
  if (url.startsWith('node:internal/http') || url.startsWith('node:_http')) return 'node: http';
  if (url.startsWith('node:')) return 'node: other';
  return 'other js';
}

const samples = new Map();
for (const id of profile.samples) {
  const key = category(byId.get(id));
  samples.set(key, (samples.get(key) ?? 0) + 1);
}
const total = profile.samples.length;
const seconds = (profile.endTime - profile.startTime) / 1e6;
const busy = total - (samples.get('idle') ?? 0);
const rows = [...samples].sort((a, b) => b[1] - a[1]);
const oursTotal = rows.filter(([k]) => k.startsWith('ours:')).reduce((s, [, n]) => s + n, 0);
const line = (label, n) => {
  const share = ((100 * n) / busy).toFixed(1).padStart(5);
  const perRequest = requests ? `  ${((seconds * 1e6 * n) / total / requests).toFixed(2).padStart(7)} µs/req` : '';
  console.log(`${share}% of busy${perRequest}  ${label}`);
};
console.log(`${file}: ${total} samples over ${seconds.toFixed(1)} s, busy ${((100 * busy) / total).toFixed(1)}%`);
line('ALL OURS', oursTotal);
for (const [key, n] of rows) if (key !== 'idle' && (n / busy >= 0.002 || key.startsWith('ours:'))) line(key, n);
