import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

/**
 * Compiles the sample app into a directory of its own inside the repo (so that its
 * node_modules resolve) and returns that directory; `main.js` is under `sample-app/`.
 */
export async function buildSampleApp(root = process.cwd()): Promise<string> {
  const out = path.join(root, `.tmp-fault-sample-${randomBytes(4).toString('hex')}`);
  await promisify(execFile)(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.sample.json', '--outDir', out], {
    cwd: root,
  });
  return out;
}

export async function removeSampleApp(out: string): Promise<void> {
  await rm(out, { recursive: true, force: true });
}

/** The units of the Exp1 exposures in a JSON-lines log ([] when the file does not exist). */
export async function exp1ExposureUnits(file: string): Promise<string[]> {
  return exp1UnitsInText(await readFile(file, 'utf8').catch(() => ''));
}

/** The units of the Exp1 exposures in JSON-lines text; throws on a line that does not parse. */
export function exp1UnitsInText(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as { name: string; event: string; inputs: { userid: string } })
    .filter((r) => r.name === 'Exp1' && r.event === 'exposure')
    .map((r) => r.inputs.userid);
}
