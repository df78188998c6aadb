import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { sampleOptions } from '../../sample-app/app.module.js';
import { BatchingSink } from '../../src/nest/sinks/batching.sink.js';
import { KafkaSink } from '../../src/nest/sinks/kafka.sink.js';

describe('sample app: PLANOUT_KAFKA_BROKERS switches the log sink to Kafka', () => {
  it('a KafkaSink behind a BatchingSink, on planout-exposures unless PLANOUT_KAFKA_TOPIC says otherwise', async () => {
    for (const [env, topic] of [
      [{ PLANOUT_KAFKA_BROKERS: '127.0.0.1:9092,127.0.0.1:9093' }, 'planout-exposures'],
      [{ PLANOUT_KAFKA_BROKERS: '127.0.0.1:9092', PLANOUT_KAFKA_TOPIC: 'exposures-eu' }, 'exposures-eu'],
    ] as const) {
      const { logSink } = await sampleOptions(env);
      expect(logSink).toBeInstanceOf(BatchingSink);
      const inner = (logSink as BatchingSink).inner as KafkaSink;
      expect(inner).toBeInstanceOf(KafkaSink);
      expect(inner.topic).toBe(topic);
      expect(inner.brokers).toEqual(env.PLANOUT_KAFKA_BROKERS.split(','));
      await logSink!.close!();
    }
  });

  it('refuses DATABASE_URL and PLANOUT_KAFKA_BROKERS together rather than pick one silently', async () => {
    await expect(sampleOptions({ DATABASE_URL: 'postgres://x@127.0.0.1/db', PLANOUT_KAFKA_BROKERS: '127.0.0.1:9092' })).rejects.toThrow(
      /DATABASE_URL and PLANOUT_KAFKA_BROKERS/,
    );
  });

  it('without it the sample keeps its default sink (the JSON-lines file of logFile)', async () => {
    expect((await sampleOptions({})).logSink).toBeUndefined();
  });
});
