import { describe, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { createClient } from '@keyv/redis';
import { RedisDefinitionSource } from '../../src/redis.js';
import { describeDefinitionStore } from '../support/definition-store-scenarios.js';

// The Redis store against the local server: a key and channel of their own per run, deleted after.
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const key = `planout-test:${randomUUID()}:definitions`;
const admin = createClient({ url: REDIS_URL });
let writerSource: RedisDefinitionSource;

describeDefinitionStore(
  'a Redis hash (pub/sub)',
  async () => {
    await admin.connect();
    writerSource = new RedisDefinitionSource({ url: REDIS_URL, key });
    return {
      atomic: true,
      async put(files) {
        // Several fields in one HSET, announced in the same transaction.
        await admin.multi().hSet(key, files).publish(`${key}:changed`, Object.keys(files).join(',')).exec();
      },
      remove: (file) => writerSource.remove(file),
      // Polling far apart: changes must arrive through pub/sub to pass the 2 s bound.
      source: () => new RedisDefinitionSource({ url: REDIS_URL, key, pollIntervalMs: 60_000 }),
    };
  },
  async () => {
    await writerSource.close();
    await admin.del(key);
    admin.destroy();
  },
);

describe('RedisDefinitionSource, Redis unreachable', () => {
  it('the app starts anyway within the connect timeout, with the source error in health', async () => {
    const { bootWithUnreachableSource } = await import('../support/definition-store-scenarios.js');
    const { closedPort } = await import('./support/tcp-proxy.js');
    const port = await closedPort();
    await bootWithUnreachableSource(new RedisDefinitionSource({ url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 300, pollIntervalMs: 0 }));
  });
});

describe('RedisDefinitionSource, outages', () => {
  it('boots with Redis down and serves once it is back; a change made during an outage is read on reconnect', async () => {
    const { recoversAfterOutage } = await import('../support/definition-store-scenarios.js');
    const { TcpProxy } = await import('./support/tcp-proxy.js');
    const target = new URL(REDIS_URL);
    const proxy = new TcpProxy(target.hostname, Number(target.port || 6379));
    const port = await proxy.up();
    const outageKey = `${key}:outage`;
    // Its own client: the store suite's is closed by then.
    const writer = createClient({ url: REDIS_URL });
    await writer.connect();
    try {
      await recoversAfterOutage({
        proxy,
        source: () => new RedisDefinitionSource({ url: `redis://127.0.0.1:${port}`, key: outageKey, pollIntervalMs: 0, connectTimeoutMs: 300 }),
        put: async (program) => {
          await writer.hSet(outageKey, 'outage.planout', program);
        },
      });
    } finally {
      await proxy.down();
      await writer.del(outageKey);
      writer.destroy();
    }
  }, 40_000);
});
