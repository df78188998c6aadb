import { Logger } from '@nestjs/common';
import type { PlanoutLogRecord } from '../../core/log-record.js';
import { LogSink } from '../log-sink.interface.js';
import type { PlanoutBackendLogger } from './backend-utils.js';
import { safeJsonStringify } from './safe-json.js';

export interface LoggerSinkOptions {
  /** Defaults to Nest's `Logger` with context `'Planout'`, so records follow the app's logger. */
  logger?: PlanoutBackendLogger;
}

/** Writes each record as one JSON string at `log` level through Nest's logger. */
export class LoggerSink extends LogSink {
  private readonly logger: PlanoutBackendLogger;

  constructor(options: LoggerSinkOptions = {}) {
    super();
    this.logger = options.logger ?? new Logger('Planout');
  }

  write(record: PlanoutLogRecord): void {
    this.logger.log(safeJsonStringify(record));
  }
}
