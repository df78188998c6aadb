import type { PlanoutLogRecord } from '../core/log-record.js';

/**
 * Where exposure and event records go. Also the injection token: inject it by type.
 *
 * `write` must return quickly: buffer, then deliver in the background. Returning (or
 * resolving) means the sink has *accepted* the record and will not lose it short of a
 * crash; only then is an exposure marked in the {@link ExposureCache}. Throwing or
 * rejecting means the record was not accepted: the caller logs and counts the failure.
 */
export abstract class LogSink {
  abstract write(record: PlanoutLogRecord): void | Promise<void>;

  /** Deliver everything accepted so far. Called on application shutdown. */
  flush?(): Promise<void>;

  /** Flush, then release resources (files, pools). Called once on shutdown. */
  close?(): Promise<void>;
}
