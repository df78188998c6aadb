// In-process A/B of the two hashes per exposure: the dedupe key (dedupeKeyOf) and the record id
// (uuidV5 of name, event and the same assignment text), on Exp1-like assignment texts.
//   npx tsc -p tsconfig.bench.json && node bench/exposure-hash-ab.mjs dist-bench [another-build ...]
// A build is a dist-bench/ (src/nest/…) or a tsc outDir of src/ alone (nest/…). Builds alternate,
// order reversed every other round, after one warm-up each; prints the median ns per call.
// First checks that every build gives the same keys and ids.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const dirs = process.argv.slice(2);
if (dirs.length === 0) {
  console.error('usage: node bench/exposure-hash-ab.mjs <build> [<build> ...]');
  process.exit(2);
}

async function load(dir) {
  const nest = existsSync(resolve(dir, 'src/nest')) ? resolve(dir, 'src/nest') : resolve(dir, 'nest');
  const dedupe = await import(pathToFileURL(resolve(nest, 'dedupe-key.js')).href);
  const recordId = await import(pathToFileURL(resolve(nest, 'record-id.js')).href);
  return { dir, dedupeKeyOf: dedupe.dedupeKeyOf, uuidV5: recordId.uuidV5 };
}
const builds = await Promise.all(dirs.map(load));

const N = 4096;
const users = Array.from({ length: N }, (_, i) => String(100_000 + ((i * 7919) % 900_000)));
const assignmentOf = (i) =>
  '["Exp1","9014945f",{"userid":"' + users[i & (N - 1)] + '"},{"group_size":10,"ratings_goal":' + (i & 15) + ',"specific_goal":1}]';
// Flat strings (a JSON round trip flattens them); `fresh` builds each text per call, as the dispatcher does.
const flat = Array.from({ length: N }, (_, i) => JSON.parse(JSON.stringify(assignmentOf(i))));
const flatIds = flat.map((a) => JSON.parse(JSON.stringify('Exp1\nexposure\n' + a)));

const cases = {
  'dedupeKeyOf + uuidV5 (fresh text)': (b, i) => {
    const assignment = assignmentOf(i);
    return b.dedupeKeyOf('Exp1', assignment).length + b.uuidV5('Exp1\nexposure\n' + assignment).length;
  },
  'dedupeKeyOf + uuidV5 (flat text)': (b, i) => b.dedupeKeyOf('Exp1', flat[i & (N - 1)]).length + b.uuidV5(flatIds[i & (N - 1)]).length,
  'dedupeKeyOf alone': (b, i) => b.dedupeKeyOf('Exp1', flat[i & (N - 1)]).length,
  'uuidV5 alone': (b, i) => b.uuidV5(flatIds[i & (N - 1)]).length,
};

for (let i = 0; i < 2000; i++) {
  const outputs = builds.map((b) => b.dedupeKeyOf('Exp1', flat[i]) + ' ' + b.uuidV5(flatIds[i]));
  if (new Set(outputs).size !== 1) throw new Error(`builds disagree on text ${i}: ${outputs.join(' | ')}`);
}

function run(build, f, iterations) {
  let sink = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) sink += f(build, i);
  const ns = Number(process.hrtime.bigint() - start) / iterations;
  if (sink === 0) throw new Error('nothing computed');
  return ns;
}

const ROUNDS = 7;
for (const [name, f] of Object.entries(cases)) {
  for (const build of builds) run(build, f, 200_000);
  const samples = builds.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? builds.keys() : [...builds.keys()].reverse();
    for (const k of order) samples[k].push(run(builds[k], f, 300_000));
  }
  for (let k = 0; k < builds.length; k++) {
    const sorted = samples[k].sort((x, y) => x - y);
    console.log(`${name.padEnd(36)} ${builds[k].dir.padEnd(24)} ${sorted[ROUNDS >> 1].toFixed(0).padStart(6)} ns (min ${sorted[0].toFixed(0)})`);
  }
}
