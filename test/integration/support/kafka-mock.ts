import { execFile, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import type { ISocketFactory } from 'kafkajs';
import type { PlanoutLogRecord } from '../../../src/core/log-record.js';

/**
 * An in-memory Kafka cluster served by librdkafka's mock brokers (Debian's `kcat`): it
 * speaks the real protocol on local ports until stopped. The documented form is
 * `sleep 3600 | kcat -b 127.0.0.1:1 -X test.mock.num.brokers=3 -P -t TOPIC -d broker`;
 * here the test process itself holds kcat's stdin open instead of `sleep`, so a crashed
 * test run cannot leave a cluster behind (kcat exits at end of input).
 */
export class MockKafkaCluster {
  private constructor(
    private readonly child: ChildProcess,
    /** The brokers' `host:port`, as kcat printed them. */
    readonly brokers: string[],
  ) {}

  static async start(brokers = 3, topic = 'planout-exposures'): Promise<MockKafkaCluster> {
    const child = spawn('kcat', ['-b', '127.0.0.1:1', '-X', `test.mock.num.brokers=${brokers}`, '-P', '-t', topic, '-d', 'broker'], {
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let stderr = '';
    const list = await new Promise<string[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`kcat printed no mock cluster within 10 s: ${stderr.slice(0, 500)}`)), 10_000);
      child.on('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`cannot start kcat (is it installed? .ci/run installs it): ${error.message}`));
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`kcat exited (${code}) before the mock cluster was up: ${stderr.slice(0, 500)}`));
      });
      child.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        const match = /Mock cluster enabled: .*replaced with (\S+)/.exec(stderr);
        if (match !== null) {
          clearTimeout(timer);
          resolve(match[1]!.split(','));
        }
      });
    });
    // The debug output continues for the cluster's lifetime: keep draining it.
    child.stderr!.removeAllListeners('data');
    child.stderr!.resume();
    child.removeAllListeners('exit');
    return new MockKafkaCluster(child, list);
  }

  get bootstrap(): string {
    return this.brokers.join(',');
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    // kcat -P blocks reading its input and ignores SIGTERM meanwhile: end of input stops it.
    this.child.stdin!.end();
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }

  /** Every message now in `topic`, read with `kcat -C` (not with the client under test). */
  async consume(topic: string): Promise<ConsumedMessage[]> {
    const { stdout } = await promisify(execFile)('kcat', ['-C', '-b', this.bootstrap, '-t', topic, '-o', 'beginning', '-e', '-J', '-q'], {
      maxBuffer: 256 * 1024 * 1024,
      timeout: 30_000,
    });
    return stdout
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => {
        const raw = JSON.parse(line) as { partition: number; offset: number; key: string | null; payload: string; headers?: string[] };
        const headers: Record<string, string> = {};
        for (let i = 0; i + 1 < (raw.headers?.length ?? 0); i += 2) headers[raw.headers![i]!] = raw.headers![i + 1]!;
        return { partition: raw.partition, offset: raw.offset, key: raw.key, headers, value: raw.payload, record: JSON.parse(raw.payload) as PlanoutLogRecord };
      });
  }
}

export interface ConsumedMessage {
  partition: number;
  offset: number;
  key: string | null;
  headers: Record<string, string>;
  /** The message value as sent. */
  value: string;
  record: PlanoutLogRecord;
}

/**
 * A TCP forwarder in front of one broker: `down()` kills live connections and refuses
 * new ones, `up()` listens again on the same port, and `loseResponses()` keeps
 * forwarding requests to the broker but discards its answers (an acknowledgement lost
 * on the way back: the records are stored, the client does not know).
 */
class BrokerProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  losing = false;
  port = 0;

  constructor(
    private readonly host: string,
    private readonly targetPort: number,
  ) {}

  async up(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, this.host);
      this.sockets.add(client);
      this.sockets.add(upstream);
      client.on('data', (chunk) => upstream.write(chunk));
      upstream.on('data', (chunk) => {
        if (!this.losing) client.write(chunk);
      });
      const teardown = (): void => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      for (const s of [client, upstream]) {
        s.on('error', teardown);
        s.on('close', teardown);
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/**
 * One TCP proxy per broker, and a kafkajs socket factory that dials each broker through
 * its proxy. A Kafka client learns the brokers' addresses from metadata and connects to
 * them directly, so a proxy in front of the bootstrap address alone would be bypassed;
 * routing every connection the client opens (bootstrap and advertised brokers alike)
 * makes `down()` a real outage of the whole cluster for it.
 */
export class KafkaProxies {
  private readonly proxies = new Map<string, BrokerProxy>();

  constructor(brokers: readonly string[]) {
    for (const broker of brokers) {
      const [host, port] = broker.split(':') as [string, string];
      this.proxies.set(broker, new BrokerProxy(host, Number(port)));
    }
  }

  async up(): Promise<void> {
    for (const proxy of this.proxies.values()) await proxy.up();
  }

  async down(): Promise<void> {
    for (const proxy of this.proxies.values()) await proxy.down();
  }

  /** Brokers keep storing what the client sends; their answers are discarded (or no longer). */
  loseResponses(losing: boolean): void {
    for (const proxy of this.proxies.values()) proxy.losing = losing;
  }

  readonly socketFactory: ISocketFactory = ({ host, port, onConnect }) => {
    const proxy = this.proxies.get(`${host}:${port}`);
    if (proxy === undefined) throw new Error(`no proxy for broker ${host}:${port}`);
    const socket = net.connect({ host: '127.0.0.1', port: proxy.port }, onConnect);
    socket.setKeepAlive(true, 60_000);
    return socket;
  };
}

/** Groups records by id; each group must hold one assignment (duplicates only). */
export function byId(records: readonly PlanoutLogRecord[]): Map<string, PlanoutLogRecord[]> {
  const groups = new Map<string, PlanoutLogRecord[]>();
  for (const record of records) {
    const id = record.id ?? '(missing)';
    const group = groups.get(id);
    if (group === undefined) groups.set(id, [record]);
    else group.push(record);
  }
  return groups;
}

/** The fields a duplicate must repeat exactly (an exposure repeated later differs in `time`). */
export function assignmentOf(record: PlanoutLogRecord): string {
  const { name, salt, checksum, inputs, params, event } = record;
  return JSON.stringify({ name, salt, checksum, inputs, params, event });
}
