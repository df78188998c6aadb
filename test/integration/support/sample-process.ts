import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { closedPort, until } from './tcp-proxy.js';

export interface SampleProcess {
  base: string;
  child: ChildProcessWithoutNullStreams;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts the compiled sample app (see `buildSampleApp`) on a free port with `env` on top
 * of a neutral environment (no Redis, no PostgreSQL unless given); resolves once it listens.
 */
export async function startSample(sampleOut: string, cwd: string, env: Record<string, string>): Promise<SampleProcess> {
  const port = await closedPort();
  const child = spawn(process.execPath, [path.join(sampleOut, 'sample-app/main.js')], {
    cwd,
    env: { ...process.env, PORT: String(port), REDIS_URL: '', DATABASE_URL: '', NO_COLOR: '1', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += String(chunk)));
  child.stderr.on('data', (chunk) => (output += String(chunk)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  await until(() => output.includes('listening on') || child.exitCode !== null, 20_000);
  if (child.exitCode !== null) throw new Error(`sample app exited at start:\n${output}`);
  return { base: `http://127.0.0.1:${port}`, child, output: () => output, exited };
}

/** Kills `sample` (SIGKILL) if it is still running and waits for it to exit. */
export async function killSample(sample: SampleProcess | undefined): Promise<void> {
  if (sample === undefined || sample.child.exitCode !== null || sample.child.signalCode !== null) return;
  sample.child.kill('SIGKILL');
  await sample.exited;
}

/** A PostgreSQL URL to `host:port` whose default schema is `schema` (the sample's table lands there). */
export function databaseUrl(base: string, schema: string, port?: number): string {
  const url = new URL(base);
  url.hostname = '127.0.0.1';
  if (port !== undefined) url.port = String(port);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}

/** What a `BatchingSink` said about its records when it closed (its last line), or undefined. */
export interface SinkSummary {
  delivered: number;
  droppedOverflow: number;
  droppedShutdown: number;
  rejected: number;
}

export function sinkSummary(output: string, name = 'PostgresSink'): SinkSummary | undefined {
  const clean = output.match(new RegExp(`${name}: closed; all (\\d+) records accepted were delivered`));
  if (clean) return { delivered: Number(clean[1]), droppedOverflow: 0, droppedShutdown: 0, rejected: 0 };
  const lossy = output.match(
    new RegExp(`${name}: closed; (\\d+) records delivered, (\\d+) dropped \\((\\d+) queue full, (\\d+) at shutdown\\), (\\d+) rejected as invalid`),
  );
  if (!lossy) return undefined;
  return { delivered: Number(lossy[1]), droppedOverflow: Number(lossy[3]), droppedShutdown: Number(lossy[4]), rejected: Number(lossy[5]) };
}
