import { ExposureCache } from '../exposure-cache.interface.js';
import { checkNumber } from '../sinks/backend-utils.js';

export interface InMemoryExposureCacheOptions {
  /** Entries kept at most; the least recently used goes first. Default 100 000. */
  maxEntries?: number;
  /** Default lifetime of a mark. Default 24 h. */
  ttlMs?: number;
}

/**
 * The default exposure cache: a bounded LRU in this process. A `Map` keeps insertion
 * order, so re-inserting on use makes the first key the least recently used and every
 * operation O(1). Expiry is checked on read; there are no per-entry timers.
 */
export class InMemoryExposureCache extends ExposureCache {
  readonly maxEntries: number;
  readonly ttlMs: number;
  /** key → expiry time (epoch ms). */
  private readonly entries = new Map<string, number>();
  /**
   * Finds the least recently used key. Kept across evictions: every key it passed was
   * evicted, so its next key is the oldest. A fresh `keys()` per eviction would rescan the
   * holes deleted keys leave at the front of the table until V8 rehashes it (≈ 15 µs per
   * eviction at 100 000 keys).
   */
  private oldest: IterableIterator<string> = this.entries.keys();
  /** The key the last `has` found absent (or expired and removed), until the next `mark` or `clear`. */
  private lastAbsent: string | undefined;

  constructor(options: InMemoryExposureCacheOptions = {}) {
    super();
    this.maxEntries = checkNumber('InMemoryExposureCache', 'maxEntries', options.maxEntries, 100_000, 1);
    this.ttlMs = checkNumber('InMemoryExposureCache', 'ttlMs', options.ttlMs, 24 * 60 * 60 * 1000, 1);
  }

  /** Entries held, including expired ones not yet read or evicted. */
  get size(): number {
    return this.entries.size;
  }

  has(key: string): boolean {
    const expires = this.entries.get(key);
    if (expires === undefined) {
      this.lastAbsent = key;
      return false;
    }
    this.entries.delete(key);
    if (expires <= Date.now()) {
      this.lastAbsent = key;
      return false;
    }
    this.entries.set(key, expires);
    return true;
  }

  mark(key: string, ttlMs?: number): void {
    // The usual call follows a `has` that found the key absent: skip the lookup of `delete`.
    if (key !== this.lastAbsent) this.entries.delete(key);
    this.lastAbsent = undefined;
    this.entries.set(key, Date.now() + (ttlMs ?? this.ttlMs));
    if (this.entries.size > this.maxEntries) {
      let oldest = this.oldest.next();
      if (oldest.done === true) {
        this.oldest = this.entries.keys();
        oldest = this.oldest.next();
      }
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
  }

  clear(): void {
    this.entries.clear();
    this.lastAbsent = undefined;
    this.oldest = this.entries.keys();
  }

  override async close(): Promise<void> {
    this.clear();
  }
}
