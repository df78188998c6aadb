// Where a script allocates, collected objects included (V8's sampling heap profiler keeps only
// live objects by default, which says nothing of a request path's garbage). A preload:
//   node --import ./bench/alloc-profile.mjs dist-bench/bench/request-path.js 50000 1 express ours
// At exit it writes the allocating functions by sampled bytes (self) to ALLOC_OUT (default
// ./alloc-profile.txt); ALLOC_INTERVAL is the mean bytes between samples (256), ALLOC_TOP the rows (40).
// The sum includes start-up: compare two runs of the same length, one loop each.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

const session = new Session();
session.connect();
session.post('HeapProfiler.enable');
session.post(
  'HeapProfiler.startSampling',
  {
    samplingInterval: Number(process.env.ALLOC_INTERVAL ?? 256),
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  },
  (error) => {
    if (error) process.stderr.write(`alloc-profile: cannot start sampling: ${error.message}\n`);
  },
);

process.on('exit', () => {
  // An inspector session answers synchronously, so this runs to the end inside 'exit'.
  session.post('HeapProfiler.stopSampling', (error, result) => {
    if (error) {
      process.stderr.write(`alloc-profile: ${error.message}\n`);
      return;
    }
    const bytesByFunction = new Map();
    let total = 0;
    const visit = (node) => {
      const frame = node.callFrame;
      const where = `${frame.functionName || '(anonymous)'} ${frame.url.split('/').slice(-2).join('/')}:${frame.lineNumber + 1}`;
      total += node.selfSize;
      if (node.selfSize > 0) bytesByFunction.set(where, (bytesByFunction.get(where) ?? 0) + node.selfSize);
      for (const child of node.children) visit(child);
    };
    visit(result.profile.head);
    const rows = [...bytesByFunction].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.ALLOC_TOP ?? 40));
    const lines = [`sampled ${(total / 1e6).toFixed(1)} MB in all`];
    for (const [where, bytes] of rows) {
      lines.push(`${(bytes / 1e6).toFixed(2).padStart(9)} MB ${((100 * bytes) / total).toFixed(1).padStart(5)} %  ${where}`);
    }
    writeFileSync(process.env.ALLOC_OUT ?? 'alloc-profile.txt', `${lines.join('\n')}\n`);
  });
});
