/**
 * One exposure or event, in the PlanOut reference's record format, so that existing
 * PlanOut analysis reads our logs unchanged.
 */
export interface PlanoutLogRecord {
  /** Experiment name (runs of whitespace replaced by `-`). */
  name: string;
  salt: string;
  inputs: Record<string, unknown>;
  params: Record<string, unknown>;
  /** `"exposure"` for exposures, otherwise the event type given to `logEvent`. */
  event: string;
  /** Whole seconds since the epoch, as the reference's `int(time.time())`. */
  time: number;
  /** First 8 hex digits of the SHA-1 of the assignment logic. */
  checksum?: string;
  /** Present only when non-empty extras were given. */
  extra_data?: Record<string, unknown>;
  /**
   * Set (to `true`) when some params were forced by overrides, so analysis can drop
   * the record. Not part of the reference format; absent on ordinary records.
   */
  overridden?: boolean;
  /**
   * Record id (a UUID), set by the Nest module on every record it hands to a sink. Equal
   * for repeats of one exposure (a retry, two processes, a cache outage), unique per
   * `logEvent` call. Not part of the reference format; consumers deduplicate by it.
   */
  id?: string;
}
