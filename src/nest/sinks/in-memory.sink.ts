import type { PlanoutLogRecord } from '../../core/log-record.js';
import { LogSink } from '../log-sink.interface.js';

/** Keeps records in memory, for tests: assert on what an endpoint logged. */
export class InMemorySink extends LogSink {
  private readonly items: PlanoutLogRecord[] = [];

  /** Every record written since construction or the last {@link clear}, oldest first. */
  get records(): readonly PlanoutLogRecord[] {
    return this.items;
  }

  write(record: PlanoutLogRecord): void {
    this.items.push(record);
  }

  clear(): void {
    this.items.length = 0;
  }

  /** Records whose `event` is `event` (`'exposure'` for exposures). */
  byEvent(event: string): PlanoutLogRecord[] {
    return this.items.filter((r) => r.event === event);
  }

  /** Records of the experiment `name`. */
  byName(name: string): PlanoutLogRecord[] {
    return this.items.filter((r) => r.name === name);
  }

  override async flush(): Promise<void> {}

  override async close(): Promise<void> {}
}
