// The packed package, as users get it: `npm pack`, then `npm install` of the tarball into
// an ESM and a CommonJS Nest app that type-check against it (with `skipLibCheck: false`),
// boot, serve a request over HTTP and log the exposure. In the integration suite because
// it needs npm install time (from the npm cache, else the registry).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Assignment, BernoulliTrial, UniformChoice } from '../../src/core/index.js';

const root = process.cwd();
const fixtures = path.join(root, 'test/consumer/fixtures');
const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
const project = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as {
  name: string;
  exports: Record<string, unknown>;
  devDependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
};
const OPTIONAL_PEERS = Object.keys(project.peerDependenciesMeta).filter((name) => project.peerDependenciesMeta[name]!.optional);
/** Every subpath of `exports` except package.json, as a consumer imports it. */
const ENTRY_POINTS = Object.keys(project.exports)
  .filter((key) => key !== './package.json')
  .map((key) => (key === '.' ? project.name : `${project.name}/${key.slice(2)}`));

/** The version this project is developed and tested with, so the install comes from the npm cache. */
function pinned(name: string): string {
  const version = project.devDependencies[name];
  if (version === undefined) throw new Error(`${name} is not a devDependency of the project`);
  return version;
}

// A child npm must not inherit the npm_* settings `npm run` exports (e.g. this project's
// legacy-peer-deps), except where the cache and the registry are.
const KEPT_NPM_SETTINGS = ['npm_config_cache', 'npm_config_registry'];
const childEnv = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_') || KEPT_NPM_SETTINGS.includes(key.toLowerCase())),
);

async function run(command: string, args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(command, args, { cwd, env: childEnv, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}:\n${stdout ?? ''}\n${stderr ?? ''}`);
  }
}

/**
 * TypeScript before 6 resolves `module: commonjs` with node10, which ignores `exports`
 * (subpaths then need `typesVersions`); TypeScript 7 has no node10. Many CommonJS Nest
 * apps are still on TypeScript 5, so the consumer installs it to check that too.
 */
const TYPESCRIPT_5 = '5.9.3';

const npmInstall = (cwd: string, extra: string[] = []) => run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...extra], cwd);

/** Exp1 of the consumer apps, computed by this repository's sources: the artifact must agree. */
function expectedExp1(userid: string): Record<string, number> {
  const params = new Assignment('Exp1');
  params.set('group_size', new UniformChoice({ choices: [1, 10], unit: userid }));
  params.set('specific_goal', new BernoulliTrial({ p: 0.8, unit: userid }));
  if (params.get('specific_goal')) {
    params.set('ratings_per_user_goal', new UniformChoice({ choices: [8, 16, 32, 64], unit: userid }));
    params.set('ratings_goal', (params.get('group_size') as number) * (params.get('ratings_per_user_goal') as number));
  }
  return params.toObject() as Record<string, number>;
}

interface Started {
  port: number;
  checks: Record<string, boolean>;
  /** SIGTERM, then the exit: Nest's shutdown hooks close the app (flushing the sink) and re-raise the signal. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs `node dist/main.js` of an app until it prints its port line. */
function startApp(appDir: string, logFile: string): Promise<Started> {
  const child = spawn(process.execPath, ['dist/main.js'], { cwd: appDir, env: { ...childEnv, PLANOUT_LOG_FILE: logFile } });
  let stdout = '';
  let stderr = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return new Promise<Started>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${appDir} did not start:\n${stdout}\n${stderr}`));
    }, 30_000);
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n').find((l) => l.startsWith('{"listening"'));
      if (line === undefined) return;
      clearTimeout(timer);
      const { listening, checks } = JSON.parse(line) as { listening: number; checks: Record<string, boolean> };
      resolve({
        port: listening,
        checks,
        stop: async () => {
          child.kill('SIGTERM');
          return exited;
        },
      });
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${appDir} exited (${code ?? signal}) before listening:\n${stdout}\n${stderr}`));
    });
  });
}

let dir: string;
let installed: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'planout-consumer-'));
  // `prepack` builds dist/ afresh, so the tarball never carries stale files.
  const packed = JSON.parse(await run('npm', ['pack', '--json', '--pack-destination', dir], root)) as Array<{ filename: string }>;
  const tarball = path.join(dir, packed[0]!.filename);
  // Only the required peers (plus @types/node for the apps): the root types must not need the optional ones.
  const dependencies: Record<string, string> = {
    [project.name]: `file:${tarball}`,
    '@types/node': pinned('@types/node'),
    typescript: TYPESCRIPT_5,
  };
  for (const name of ['@nestjs/common', '@nestjs/core', '@nestjs/platform-express', 'reflect-metadata', 'rxjs']) dependencies[name] = pinned(name);
  for (const name of Object.keys(project.peerDependencies)) {
    if (!OPTIONAL_PEERS.includes(name)) expect(dependencies).toHaveProperty([name]);
  }
  await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: 'planout-consumer', private: true, dependencies }, null, 2));
  await npmInstall(dir);
  installed = path.join(dir, 'node_modules', project.name);
  // Two apps under one node_modules: esm/ ("type": "module") and cjs/ ("type": "commonjs").
  for (const kind of ['esm', 'cjs']) {
    await cp(path.join(fixtures, kind), path.join(dir, kind), { recursive: true });
    await mkdir(path.join(dir, kind, 'src'));
    await cp(path.join(fixtures, 'shared/main.ts'), path.join(dir, kind, 'src/main.ts'));
  }
}, 300_000);

afterAll(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('installs without the optional peers', () => {
    for (const name of OPTIONAL_PEERS) expect(existsSync(path.join(dir, 'node_modules', name))).toBe(false);
    expect(OPTIONAL_PEERS.sort()).toEqual(['@keyv/redis', '@nestjs/terminus', '@opentelemetry/api', 'cache-manager', 'kafkajs', 'keyv', 'pg', 'prom-client']);
  });

  it('ships LICENSE, README, dist and src, and no tests', async () => {
    const top = (await readdir(installed)).sort();
    expect(top).toEqual(['LICENSE', 'README.md', 'dist', 'package.json', 'src']);
    expect(await readFile(path.join(installed, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} nestjs-planout contributors\n/);
    const files = (await readdir(installed, { recursive: true })).map(String);
    expect(files.filter((f) => /\.(test|spec)\.ts$|\.tgz$|tsbuildinfo/.test(f))).toEqual([]);
  });

  it('has source maps whose sources resolve inside the package and carry the same text', async () => {
    const maps = (await readdir(path.join(installed, 'dist'), { recursive: true })).map(String).filter((f) => f.endsWith('.map'));
    expect(maps.filter((m) => m.endsWith('.js.map')).length).toBeGreaterThan(20);
    expect(maps.filter((m) => m.endsWith('.d.ts.map')).length).toBeGreaterThan(20);
    for (const map of maps) {
      const file = path.join(installed, 'dist', map);
      const json = JSON.parse(await readFile(file, 'utf8')) as { sources: string[]; sourcesContent?: string[]; sourceRoot?: string };
      expect(json.sources.length).toBeGreaterThan(0);
      json.sources.forEach((source, i) => {
        const resolved = path.resolve(path.dirname(file), json.sourceRoot ?? '', source);
        expect(resolved.startsWith(path.join(installed, 'src') + path.sep)).toBe(true);
        expect(existsSync(resolved)).toBe(true);
        if (map.endsWith('.js.map')) expect(json.sourcesContent?.[i]).toBeDefined();
      });
      if (json.sourcesContent !== undefined) {
        const text = await readFile(path.resolve(path.dirname(file), json.sources[0]!), 'utf8');
        expect(json.sourcesContent[0]).toBe(text);
      }
    }
  });
});

describe.each([
  ['ESM', 'esm'],
  ['CommonJS', 'cjs'],
])('a %s Nest app using the tarball', (_label, kind) => {
  it('type-checks with skipLibCheck false, boots, serves a request and logs the exposure', async () => {
    const appDir = path.join(dir, kind);
    await run(process.execPath, [tsc, '-p', '.'], appDir);
    const compiled = await readFile(path.join(appDir, 'dist/main.js'), 'utf8');
    if (kind === 'cjs') expect(compiled).toMatch(/require\("nestjs-planout"\)/);
    else expect(compiled).toMatch(/from 'nestjs-planout'/);

    const logFile = path.join(dir, `${kind}.jsonl`);
    const app = await startApp(appDir, logFile);
    let exit: { code: number | null; signal: NodeJS.Signals | null };
    try {
      expect(app.checks).toEqual({
        coreAssignmentIsRootAssignment: true,
        testingSinkIsInMemorySink: true,
        testingRecorderEmpty: true,
        coreHashWorks: true,
      });
      for (let i = 0; i < 2; i++) {
        const response = await fetch(`http://127.0.0.1:${app.port}/goals`, { headers: { 'x-user-id': '42' } });
        expect(response.status).toBe(200);
        expect(await response.json()).toEqual(expectedExp1('42'));
      }
    } finally {
      exit = await app.stop();
    }
    expect(exit).toEqual({ code: null, signal: 'SIGTERM' });
    const records = (await readFile(logFile, 'utf8'))
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    // Two requests of one unit: one exposure, in the reference's record format.
    expect(records).toHaveLength(1);
    const [record] = records as [Record<string, unknown>];
    // The reference's fields plus the deterministic record id (README: "Record ids").
    expect(Object.keys(record).sort()).toEqual(['checksum', 'event', 'id', 'inputs', 'name', 'params', 'salt', 'time']);
    expect(record.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(record).toMatchObject({ name: 'Exp1', salt: 'Exp1', event: 'exposure', inputs: { userid: '42' }, params: expectedExp1('42') });
    expect(Number.isInteger(record.time)).toBe(true);
    expect(Math.abs((record.time as number) - Date.now() / 1000)).toBeLessThan(120);
    expect(record.checksum).toMatch(/^[0-9a-f]{8}$/);
  }, 60_000);
});

describe('other CommonJS compiler settings', () => {
  it('the CommonJS template of @nestjs/schematics (module nodenext, no "type": "module") type-checks', async () => {
    await run(process.execPath, [tsc, '-p', 'tsconfig.nodenext.json'], path.join(dir, 'cjs'));
  }, 60_000);

  it(`TypeScript ${TYPESCRIPT_5} with module commonjs (node10 resolution: subpaths through typesVersions) type-checks`, async () => {
    const cjs = path.join(dir, 'cjs');
    const consumerTsc = path.join(dir, 'node_modules/typescript/bin/tsc');
    expect(await run(process.execPath, [consumerTsc, '--version'], cjs)).toContain(TYPESCRIPT_5);
    const trace = await run(process.execPath, [consumerTsc, '-p', '.', '--noEmit', '--traceResolution'], cjs);
    expect(trace).toMatch(/Resolving module 'nestjs-planout\/core'[^]*?using 'Node10'/);
  }, 60_000);
});

describe('every entry point, once the optional peers are installed', () => {
  beforeAll(async () => {
    await npmInstall(dir, [...OPTIONAL_PEERS, '@types/pg'].map((name) => `${name}@${pinned(name)}`));
    for (const kind of ['esm', 'cjs']) {
      await rm(path.join(dir, kind, 'src/main.ts'));
      await cp(path.join(fixtures, 'shared/entries.ts'), path.join(dir, kind, 'src/entries.ts'));
    }
  }, 300_000);

  it.each(['esm', 'cjs'])('%s: type-checks with skipLibCheck false and loads each one', async (kind) => {
    const appDir = path.join(dir, kind);
    await run(process.execPath, [tsc, '-p', '.'], appDir);
    const compiled = await readFile(path.join(appDir, 'dist/entries.js'), 'utf8');
    for (const entry of ENTRY_POINTS) {
      expect(compiled).toContain(kind === 'cjs' ? `require("${entry}")` : `from '${entry}'`);
    }
    const out = JSON.parse(await run(process.execPath, ['dist/entries.js'], appDir)) as { loaded: Record<string, string> };
    expect(Object.keys(out.loaded).sort()).toEqual(ENTRY_POINTS.map((e) => e.slice(project.name.length) || '.').sort());
    expect(Object.values(out.loaded).every((type) => type === 'function')).toBe(true);
    expect(out).toMatchObject({ migrationMentionsTable: true, redisCacheIsClass: true });
  }, 60_000);

  it('require() and import() of each entry point give the same module instance', async () => {
    const out = JSON.parse(await run(process.execPath, ['identity.cjs', ...ENTRY_POINTS], path.join(dir, 'cjs'))) as Record<string, number>;
    expect(Object.keys(out).sort()).toEqual([...ENTRY_POINTS].sort());
    for (const count of Object.values(out)) expect(count).toBeGreaterThan(0);
  }, 60_000);
});
