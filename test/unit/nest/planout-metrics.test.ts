import { describe, expect, it } from '@jest/globals';
import type { PlanoutLogRecord } from '../../../src/core/log-record.js';
import { PlanoutMetrics, type PlanoutCounter, type PlanoutRecordOutcome } from '../../../src/nest/planout-metrics.js';

const record: PlanoutLogRecord = { name: 'Exp1', salt: 'Exp1', inputs: { userid: 'u' }, params: { a: 1 }, event: 'exposure', time: 1, checksum: 'abcd1234' };

describe('PlanoutMetrics listeners', () => {
  it('a listener that throws is skipped and reported in lastError; the counters and the other listeners go on', () => {
    const metrics = new PlanoutMetrics();
    const seen: string[] = [];
    metrics.addListener({
      counter: () => {
        throw new Error('counter boom');
      },
      record: () => {
        throw new Error('record boom');
      },
      error: () => {
        throw new Error('error boom');
      },
    });
    metrics.addListener({
      counter: (counter: PlanoutCounter, by: number) => seen.push(`${counter}+${by}`),
      record: (outcome: PlanoutRecordOutcome, r: PlanoutLogRecord) => seen.push(`${outcome}:${r.name}`),
      error: (error: unknown) => seen.push(`error:${(error as Error).message}`),
    });

    metrics.increment('failed', 2);
    expect(metrics.lastError?.message).toBe('metrics listener failed: counter boom');
    metrics.recordOutcome('enqueued', record);
    metrics.recordOutcome('accepted', record);
    expect(metrics.lastError?.message).toBe('metrics listener failed: record boom');
    metrics.recordError(new Error('sink down'));
    expect(metrics.lastError?.message).toBe('metrics listener failed: error boom');

    expect(seen).toEqual(['failed+2', 'enqueued:Exp1', 'accepted:Exp1', 'error:sink down']);
    expect(metrics.snapshot()).toMatchObject({ failed: 2, accepted: 1 });
  });

  it('a removed listener hears nothing more', () => {
    const metrics = new PlanoutMetrics();
    const seen: PlanoutRecordOutcome[] = [];
    const remove = metrics.addListener({ record: (outcome) => seen.push(outcome) });
    metrics.recordOutcome('accepted', record);
    remove();
    metrics.recordOutcome('deduplicated', record);
    expect(seen).toEqual(['accepted']);
    expect(metrics.snapshot()).toMatchObject({ accepted: 1, deduplicated: 1 });
  });
});
