import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { Experiment, type ExperimentInputs, type ExperimentParams } from './experiment.js';
import { stringifyPlanoutJson } from './json.js';
import type { PlanoutLogRecord } from './log-record.js';

// One append stream per log file, shared by every instance that logs there.
const streams = new Map<string, WriteStream>();

/**
 * An experiment that appends its records as JSON lines to `<logDirectory>/<name>.log`,
 * like the reference's SimpleExperiment. Writes are buffered by the stream; call
 * {@link SimpleExperiment.closeLogs} before the process exits.
 */
export abstract class SimpleExperiment<
  TParams extends object = ExperimentParams,
  TInputs extends object = ExperimentInputs,
> extends Experiment<TParams, TInputs> {
  /** Directory of the log files; the working directory by default. */
  protected logDirectory(): string {
    return '.';
  }

  protected logFile(): string {
    return join(this.logDirectory(), `${this.name}.log`);
  }

  protected override configureLogger(): void {
    const file = this.logFile();
    if (!streams.has(file)) streams.set(file, createWriteStream(file, { flags: 'a' }));
  }

  protected override log(record: PlanoutLogRecord): void {
    const file = this.logFile();
    let stream = streams.get(file);
    if (!stream) {
      this.configureLogger();
      stream = streams.get(file)!;
    }
    stream.write(stringifyPlanoutJson(record, [',', ':']) + '\n');
  }

  /** Flushes and closes every log file opened by SimpleExperiments. */
  static async closeLogs(): Promise<void> {
    const open = [...streams.values()];
    streams.clear();
    await Promise.all(open.map((s) => new Promise<void>((resolve) => s.end(resolve))));
  }
}
