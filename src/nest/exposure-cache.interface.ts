/**
 * Remembers which exposures were already logged, so that one unit seeing the same
 * assignment many times (many requests, many processes) produces one exposure record.
 * Also the injection token: inject it by type.
 *
 * Keys are built by the library: the experiment name and the exposure's record id
 * (which covers salt, checksum, inputs and params). Implementations may be lossy
 * (eviction, TTL): a forgotten key only means the exposure is logged again.
 */
export abstract class ExposureCache {
  /** Whether `key` was marked and has not expired. */
  abstract has(key: string): boolean | Promise<boolean>;

  /** Marks `key` as logged for `ttlMs` milliseconds (the cache's default when omitted). */
  abstract mark(key: string, ttlMs?: number): void | Promise<void>;

  /** Release connections on shutdown. */
  close?(): Promise<void>;
}
