import { describe, expect, it } from '@jest/globals';
import { InMemorySink } from '../../../src/nest/sinks/in-memory.sink.js';
import { LoggerSink } from '../../../src/nest/sinks/logger.sink.js';
import { CapturingLogger, record } from './fixtures.js';

describe('LoggerSink', () => {
  it('logs each record as one JSON string at log level', () => {
    const logger = new CapturingLogger();
    const sink = new LoggerSink({ logger });
    sink.write(record(1, { inputs: { userid: 9007199254740993n } }));
    expect(logger.logs).toHaveLength(1);
    expect(logger.logs[0]).toContain('"userid":9007199254740993');
    expect(JSON.parse(logger.logs[0]!).name).toBe('Exp1');
    expect(logger.warnings).toEqual([]);
  });

  it('defaults to Nest Logger with context "Planout"', () => {
    const sink = new LoggerSink();
    const logger = (sink as unknown as { logger: { context?: string } }).logger;
    expect(logger.context).toBe('Planout');
  });
});

describe('InMemorySink', () => {
  it('keeps records and filters them by event and by name', async () => {
    const sink = new InMemorySink();
    sink.write(record(1));
    sink.write(record(2, { event: 'click' }));
    sink.write(record(3, { name: 'Exp2' }));
    expect(sink.records).toHaveLength(3);
    expect(sink.byEvent('exposure').map((r) => r.time)).toEqual([1_700_000_001, 1_700_000_003]);
    expect(sink.byEvent('click')).toHaveLength(1);
    expect(sink.byName('Exp2').map((r) => r.time)).toEqual([1_700_000_003]);
    sink.clear();
    expect(sink.records).toHaveLength(0);
    await expect(sink.close()).resolves.toBeUndefined();
  });
});
