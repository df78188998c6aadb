import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { compilePlanout, InterpretedExperiment, toPlain, type PlanoutLogRecord } from '../../../src/core/index.js';

/**
 * Reference exposures of the example programs. Provenance: facebook/planout at commit
 * eee764781054abb39f003133b00b88a73c8f8982; each program compiled with the reference
 * compiler (`node compiler/planout.js FILE`, node v20.20.2), the JSON run by the Python
 * reference's `SimpleInterpretedExperiment` (name set in `setup()`, salt = name) on
 * CPython 3.11.7, records captured from its `log()`; `null` checksum = nothing logged.
 * README ("Writing experiments in the PlanOut language") shows alice's Exp1 row.
 */
const REFERENCE: Record<string, Array<[string, Record<string, number>, boolean, string | null]>> = {
  'exp1.planout': [
    ['alice', { group_size: 10, ratings_goal: 80, ratings_per_user_goal: 8, specific_goal: 1 }, true, 'f9dd5aaa'],
    ['bob', { group_size: 1, specific_goal: 0 }, true, '594d44df'],
    ['carol', { group_size: 1, ratings_goal: 32, ratings_per_user_goal: 32, specific_goal: 1 }, true, 'f9dd5aaa'],
    ['grace', { group_size: 10, ratings_goal: 160, ratings_per_user_goal: 16, specific_goal: 1 }, true, 'f9dd5aaa'],
  ],
  'trade-price.planout': [
    ['alice', { trade_price: 0.5 }, false, null],
    ['bob', { trade_price: 0.1 }, true, '271d40f3'],
    ['carol', { trade_price: 0.25 }, true, '271d40f3'],
    ['frank', { trade_price: 0.5 }, true, '271d40f3'],
  ],
};
const NAMES: Record<string, string> = { 'exp1.planout': 'Exp1', 'trade-price.planout': 'TradePrice' };

describe('a compiled (data-defined) experiment', () => {
  it.each(Object.keys(REFERENCE))('%s: params, inExperiment and the exposure checksum are the reference\'s', (file) => {
    const script = compilePlanout(readFileSync(join(process.cwd(), 'examples', file), 'utf8'));
    const Defined = InterpretedExperiment.define({ name: NAMES[file], script });
    const records: PlanoutLogRecord[] = [];
    class Logged extends Defined {
      protected override log(record: PlanoutLogRecord): void {
        records.push(record);
      }
    }
    for (const [userid, params, inExperiment, checksum] of REFERENCE[file]) {
      records.length = 0;
      const exp = new Logged({ userid });
      expect(toPlain(exp.getParams())).toEqual(params);
      expect(exp.inExperiment).toBe(inExperiment);
      expect(records.map((r) => r.checksum)).toEqual(checksum === null ? [] : [checksum]);
      if (checksum !== null) expect(records[0]).toMatchObject({ name: NAMES[file], salt: NAMES[file], event: 'exposure' });
    }
  });
});
