import type { PlanoutLogRecord } from '../../../src/core/log-record.js';

export function record(i: number, overrides: Partial<PlanoutLogRecord> = {}): PlanoutLogRecord {
  return {
    name: 'Exp1',
    salt: 'Exp1',
    inputs: { userid: i },
    params: { color: i % 2 === 0 ? 'blue' : 'green' },
    event: 'exposure',
    time: 1_700_000_000 + i,
    checksum: 'a1b2c3d4',
    ...overrides,
  };
}

/** Collects what a sink logs through a Nest-style logger. */
export class CapturingLogger {
  readonly logs: string[] = [];
  readonly warnings: string[] = [];
  readonly errors: string[] = [];
  log(message: unknown): void {
    this.logs.push(String(message));
  }
  warn(message: unknown): void {
    this.warnings.push(String(message));
  }
  error(message: unknown): void {
    this.errors.push(String(message));
  }
}
