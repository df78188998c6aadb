import { describe, expect, it } from '@jest/globals';
import { BatchingSink } from '../../../src/nest/sinks/batching.sink.js';
import { createKafkaLogSink, kafkaMessageOf, KafkaSink } from '../../../src/nest/sinks/kafka.sink.js';
import { withRecordId } from '../../../src/nest/record-id.js';
import { CapturingLogger, record } from './fixtures.js';

describe('kafkaMessageOf', () => {
  it('value = the JSON line, key = the inputs with sorted keys, headers = experiment, event, id', () => {
    const r = withRecordId(record(7, { inputs: { userid: 7, country: 'DE' }, extra_data: { big: 2n ** 64n } }));
    const message = kafkaMessageOf(r);
    expect(message.value).toBe(
      `{"name":"Exp1","salt":"Exp1","inputs":{"userid":7,"country":"DE"},"params":{"color":"green"},"event":"exposure","time":1700000007,"checksum":"a1b2c3d4","extra_data":{"big":18446744073709551616},"id":"${r.id}"}`,
    );
    expect(message.key).toBe('{"country":"DE","userid":7}');
    expect(message.headers).toEqual({ 'planout-experiment': 'Exp1', 'planout-event': 'exposure', 'planout-id': r.id });
  });

  it('a record without id (written to the sink directly) has no id header', () => {
    expect(kafkaMessageOf(record(1)).headers).toEqual({ 'planout-experiment': 'Exp1', 'planout-event': 'exposure' });
  });
});

describe('KafkaSink options', () => {
  it('takes brokers as a list or a comma-separated string; topic defaults to planout-exposures', async () => {
    const sink = new KafkaSink({ brokers: ' 127.0.0.1:9092, kafka-2:9093 ', logger: new CapturingLogger() });
    expect(sink.brokers).toEqual(['127.0.0.1:9092', 'kafka-2:9093']);
    expect(sink.topic).toBe('planout-exposures');
    expect(sink.idempotent).toBe(false); // not connected
    await sink.close();
  });

  it.each([
    [{ brokers: '' }, /"brokers"/],
    [{ brokers: ['localhost'] }, /"brokers"/],
    [{ brokers: ['127.0.0.1:9092'], topic: 'bad topic' }, /"topic"/],
    [{ brokers: ['127.0.0.1:9092'], topic: '..' }, /"topic"/],
    [{ brokers: ['127.0.0.1:9092'], requestTimeoutMs: 0 }, /"requestTimeoutMs"/],
    [{ brokers: ['127.0.0.1:9092'], connectionTimeoutMs: -1 }, /"connectionTimeoutMs"/],
  ])('rejects bad options early, naming the option (%j)', (options, message) => {
    expect(() => new KafkaSink(options)).toThrow(message);
  });

  it('createKafkaLogSink wraps a KafkaSink in a BatchingSink (nothing connects until a batch is due)', async () => {
    const sink = createKafkaLogSink({ brokers: ['127.0.0.1:9092'], topic: 'x', logger: new CapturingLogger() });
    expect(sink).toBeInstanceOf(BatchingSink);
    expect(sink.inner).toBeInstanceOf(KafkaSink);
    expect((sink.inner as KafkaSink).topic).toBe('x');
    await sink.close();
  });
});

describe('KafkaSink error classes', () => {
  const sink = new KafkaSink({ brokers: ['127.0.0.1:9092'], logger: new CapturingLogger() });

  it('records the broker refuses (too large, invalid) are data errors, wrapped or not; an outage is not', () => {
    const tooLarge = Object.assign(new Error('The request included a message larger than the max message size'), { type: 'MESSAGE_TOO_LARGE' });
    expect(sink.isDataError(tooLarge)).toBe(true);
    expect(sink.isDataError(Object.assign(new Error('retries exceeded'), { originalError: tooLarge }))).toBe(true);
    expect(sink.isDataError(Object.assign(new Error('x'), { type: 'INVALID_RECORD' }))).toBe(true);
    expect(sink.isDataError(Object.assign(new Error('Connection error: connect ECONNREFUSED'), { name: 'KafkaJSConnectionError' }))).toBe(false);
    expect(sink.isDataError(Object.assign(new Error('x'), { type: 'NOT_LEADER_FOR_PARTITION' }))).toBe(false);
  });
});
