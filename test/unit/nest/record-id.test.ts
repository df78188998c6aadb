import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import type { PlanoutLogRecord } from '../../../src/core/log-record.js';
import { assignmentText, stableStringify } from '../../../src/nest/dedupe-key.js';
import { InMemoryExposureCache } from '../../../src/nest/caches/in-memory-exposure.cache.js';
import { EXPOSURE_DRAIN_DELAY_MS, ExposureDispatcher } from '../../../src/nest/exposure-dispatcher.js';
import { PlanoutMetrics } from '../../../src/nest/planout-metrics.js';
import {
  eventRecordId,
  exposureRecordId,
  ownExposureId,
  PLANOUT_RECORD_ID_NAMESPACE,
  uuidV5,
  withRecordId,
} from '../../../src/nest/record-id.js';
import { BatchingSink, BatchLogSink } from '../../../src/nest/sinks/batching.sink.js';
import { InMemorySink } from '../../../src/nest/sinks/in-memory.sink.js';
import { CapturingLogger } from '../sinks/fixtures.js';

function record(over: Partial<PlanoutLogRecord> = {}): PlanoutLogRecord {
  return { name: 'Exp1', salt: 'Exp1', inputs: { userid: 'u' }, params: { a: 1 }, event: 'exposure', time: 1, checksum: 'abcd1234', ...over };
}

const UUID_V5 = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
/** After the dispatcher's drain of what is queued now (equal delays fire in the order they were set). */
const nextTurn = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, EXPOSURE_DRAIN_DELAY_MS));

describe('uuidV5', () => {
  it('matches RFC 9562 / Python uuid.uuid5 (NAMESPACE_DNS, "python.org")', () => {
    expect(uuidV5('python.org', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe('886313e1-3b8a-5372-9b90-0c9aee199e5d');
  });

  it('the record id namespace is uuid5(NAMESPACE_URL, the package URL + #record-id)', () => {
    expect(uuidV5('https://www.npmjs.com/package/nestjs-planout#record-id', '6ba7b811-9dad-11d1-80b4-00c04fd430c8')).toBe(
      PLANOUT_RECORD_ID_NAMESPACE,
    );
  });
});

describe('exposure record id', () => {
  it('is a UUID v5, equal for the same assignment whatever the time, extras or key order', () => {
    const id = exposureRecordId(record());
    expect(id).toMatch(UUID_V5);
    expect(exposureRecordId(record({ time: 999, extra_data: { page: 'x' } }))).toBe(id);
    expect(exposureRecordId(record({ inputs: { userid: 'u' }, params: { a: 1 } }))).toBe(id);
    const reordered = record({ inputs: { b: 2, userid: 'u' }, params: { z: 1, a: 1 } });
    expect(exposureRecordId(reordered)).toBe(exposureRecordId(record({ inputs: { userid: 'u', b: 2 }, params: { a: 1, z: 1 } })));
  });

  it('differs when the name, salt, checksum, inputs, params, event or the overrides flag differ', () => {
    const id = exposureRecordId(record());
    const changes: Partial<PlanoutLogRecord>[] = [
      { name: 'Exp2' },
      { salt: 'other' },
      { checksum: 'ffffffff' },
      { checksum: undefined },
      { inputs: { userid: 'v' } },
      { params: { a: 2 } },
      { event: 'exposure2' },
      { overridden: true },
    ];
    const ids = changes.map((change) => exposureRecordId(record(change)));
    expect(ids).not.toContain(id);
    expect(new Set(ids).size).toBe(changes.length);
  });
});

describe('exposure record id text', () => {
  it('is the name, the event and the canonical [salt, checksum, inputs, params], whatever record came before (the remembered head)', () => {
    // Sequences that reuse, change and then restore each head field, non-string ones and empty ones included.
    const heads: Partial<PlanoutLogRecord>[] = [
      {},
      {},
      { name: 'Exp2' },
      { salt: 'other' },
      { salt: 'Exp1' },
      { checksum: undefined },
      { checksum: undefined, salt: 'other' },
      { checksum: 'abcd1234' },
      { event: 'conversion' },
      { name: '', event: '', salt: '', checksum: '' },
      { name: '', event: '', salt: '', checksum: undefined },
      { salt: 7 as unknown as string },
      { salt: '7' },
      { checksum: 7 as unknown as string },
      { checksum: '7' },
      { name: 'Exp1', salt: 'a"b\\c\n' },
      {},
    ];
    for (const head of [...heads, ...heads.slice().reverse()]) {
      for (const userid of ['u', 'v']) {
        const r = record({ ...head, inputs: { userid } });
        const canonical = stableStringify([r.salt, r.checksum ?? null, r.inputs, r.params]);
        expect(assignmentText(r)).toBe(canonical);
        expect(exposureRecordId(r)).toBe(uuidV5(r.name + '\n' + r.event + '\n' + canonical));
      }
    }
  });
});

describe('ownExposureId (records the dispatcher owns)', () => {
  it('sets the id on a plain record itself, last, as the copy would', () => {
    const original = record();
    const owned = ownExposureId(original);
    expect(owned).toBe(original);
    expect(Object.keys(owned).at(-1)).toBe('id');
    expect(owned).toEqual(withRecordId(record()));
  });

  it('copies records it must not or cannot change, and keeps an id already set', () => {
    const frozen = Object.freeze(record());
    const sealed = Object.seal(record());
    class RecordClass {
      constructor(readonly fields: PlanoutLogRecord) {
        Object.assign(this, fields);
      }
    }
    const instance = new RecordClass(record()) as unknown as PlanoutLogRecord;
    const withOddId = { ...record(), id: 5 } as unknown as PlanoutLogRecord;
    for (const given of [frozen, sealed, instance, withOddId]) {
      const owned = ownExposureId(given);
      expect(owned).not.toBe(given);
      expect(owned.id).toBe(exposureRecordId(given));
    }
    expect(withOddId.id as unknown).toBe(5);
    const already = { ...record(), id: 'given' };
    expect(ownExposureId(already)).toBe(already);
  });
});

describe('withRecordId', () => {
  it('exposures: the same id for every copy of the same exposure (a retry, another process, a cache outage)', () => {
    const a = withRecordId(record({ time: 1 }));
    const b = withRecordId(record({ time: 2 }));
    expect(a.id).toBe(b.id);
    expect(a.id).toBe(exposureRecordId(record()));
  });

  it('events: a new id per call, even for identical content; stable once set', () => {
    const conversion = record({ event: 'conversion', extra_data: { amount: 9.99 } });
    const first = withRecordId(conversion);
    const second = withRecordId(conversion);
    expect(first.id).toMatch(UUID_V5);
    expect(second.id).toMatch(UUID_V5);
    expect(first.id).not.toBe(second.id);
    expect(withRecordId(first)).toBe(first);
    // The event id covers the call: same content, same call, same id.
    expect(eventRecordId(conversion, 'call-1')).toBe(eventRecordId({ ...conversion }, 'call-1'));
    expect(eventRecordId(conversion, 'call-1')).not.toBe(eventRecordId(conversion, 'call-2'));
  });

  it('copies the record (the original is untouched) and adds only `id`', () => {
    const original = record();
    const copy = withRecordId(original);
    expect(original.id).toBeUndefined();
    expect(copy).toEqual({ ...original, id: copy.id });
  });

  it('inputs that cannot be serialized canonically still get an id (random)', () => {
    const inputs: Record<string, unknown> = { userid: 'u' };
    inputs.self = inputs;
    expect(withRecordId(record({ inputs })).id).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('the dispatcher gives every record it writes an id', () => {
  it('two processes (no shared cache) write the same exposure with the same id; events differ', async () => {
    const sinks = [new InMemorySink(), new InMemorySink()];
    const dispatchers = sinks.map((sink) => new ExposureDispatcher(sink, new InMemoryExposureCache(), new PlanoutMetrics(), {}));
    dispatchers[0]!.enqueue(record({ time: 10 }));
    dispatchers[1]!.enqueue(record({ time: 11 }));
    dispatchers[0]!.enqueue(record({ event: 'conversion' }));
    dispatchers[0]!.enqueue(record({ event: 'conversion' }));
    await Promise.all(dispatchers.map((d) => d.whenIdle()));
    const [a, b] = sinks.map((s) => s.records);
    expect(a![0]!.id).toBe(b![0]!.id);
    expect(a![0]!.id).toBe(exposureRecordId(record()));
    expect(a![1]!.id).not.toBe(a![2]!.id);
  });

  it('a batch retried by BatchingSink resends the same ids', async () => {
    const attempts: string[][] = [];
    class FlakyBatch extends BatchLogSink {
      async writeBatch(records: PlanoutLogRecord[]): Promise<void> {
        attempts.push(records.map((r) => r.id!));
        if (attempts.length === 1) throw new Error('timeout');
      }
    }
    const sink = new BatchingSink(new FlakyBatch(), { batchSize: 2, retryBaseDelayMs: 1, logger: new CapturingLogger() });
    const dispatcher = new ExposureDispatcher(sink, new InMemoryExposureCache(), new PlanoutMetrics(), {});
    dispatcher.enqueue(record());
    dispatcher.enqueue(record({ event: 'conversion' }));
    await nextTurn();
    await sink.flush();
    expect(attempts).toHaveLength(2);
    expect(attempts[1]).toEqual(attempts[0]);
    expect(new Set(attempts[0]).size).toBe(2);
    await sink.close();
  });
});
