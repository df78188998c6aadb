// Stop-gap for a missing peer dependency: `@openfeature/server-sdk` imports `@openfeature/core`,
// which is not in package.json yet. When BENCH_OPENFEATURE_CORE points at an installed copy
// (a directory holding its package.json), this hook resolves the bare name there.
import { register } from 'node:module';
import { pathToFileURL } from 'node:url';

const dir = process.env.BENCH_OPENFEATURE_CORE;
if (dir) {
  const target = pathToFileURL(`${dir.replace(/\/$/, '')}/dist/esm/index.js`).href;
  const source = `export async function resolve(specifier, context, next) {
    if (specifier === '@openfeature/core') return { url: ${JSON.stringify(target)}, shortCircuit: true, format: 'module' };
    return next(specifier, context);
  }`;
  register(`data:text/javascript,${encodeURIComponent(source)}`);
}
