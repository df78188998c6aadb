import { ExposureCache } from '../exposure-cache.interface.js';
import { checkNumber } from '../sinks/backend-utils.js';

export interface InMemoryExposureCacheOptions {
  /** Entries kept at most; the least recently used goes first. Default 100 000. */
  maxEntries?: number;
  /** Default lifetime of a mark. Default 24 h. */
  ttlMs?: number;
}

/** Slots allocated at first; the arrays double up to `maxEntries` as entries arrive. */
const INITIAL_SLOTS = 1024;
const NONE = -1;

/**
 * The default exposure cache: a bounded LRU in this process, every operation O(1).
 *
 * Entries live in typed arrays, not in a `Map` of strings: under a steady stream of new
 * units a `Map` promotes every key to the old generation and later evicts it, and that
 * garbage cost more CPU than the cache's own work (bench/http-ab.mjs). Here an entry is a
 * 96-bit fingerprint of its key, its expiry, and its two links in the recency list; the
 * lookup table is open addressing with linear probing. Nothing is allocated per operation.
 *
 * A fingerprint stands for its key: two keys that share all 96 bits would be taken for
 * one (an exposure not logged). With n entries that is about n / 2^96 per lookup
 * (1e-24 at 100 000), far below any other cause of a lost record.
 *
 * Expiry is checked on read; there are no per-entry timers.
 */
export class InMemoryExposureCache extends ExposureCache {
  readonly maxEntries: number;
  readonly ttlMs: number;
  private slots = 0;
  /** Three fingerprint words per slot. */
  private fingerprints = new Int32Array(0);
  /** Expiry time per slot (epoch ms). */
  private expiries = new Float64Array(0);
  /** Recency links per slot; `newer` also chains the free slots. */
  private newer = new Int32Array(0);
  private older = new Int32Array(0);
  private newest = NONE;
  private oldest = NONE;
  private freeSlots = NONE;
  /** Slots ever handed out (the rest were never used). */
  private used = 0;
  private live = 0;
  /**
   * Open-addressing table of (slot + 1, first fingerprint word) pairs, slot + 1 = 0 when empty;
   * a power of two at least twice `slots` pairs. The word beside the slot lets a probe (and the
   * deletion's shift) skip entries without reading the slot's own arrays: a cache miss saved
   * per probe in a table that does not fit the CPU cache.
   */
  private table = new Int32Array(0);
  private mask = 0;
  /** The key `has` just found absent: `mark` of the same key needs no lookup. */
  private absentKey: string | undefined;
  /** The last key fingerprinted: `mark` usually follows a `has` of the same key. */
  private lastKey: string | undefined;
  private f0 = 0;
  private f1 = 0;
  private f2 = 0;

  constructor(options: InMemoryExposureCacheOptions = {}) {
    super();
    this.maxEntries = checkNumber('InMemoryExposureCache', 'maxEntries', options.maxEntries, 100_000, 1);
    this.ttlMs = checkNumber('InMemoryExposureCache', 'ttlMs', options.ttlMs, 24 * 60 * 60 * 1000, 1);
    this.allocate(Math.min(INITIAL_SLOTS, this.maxEntries));
  }

  /** Entries held, including expired ones not yet read or evicted. */
  get size(): number {
    return this.live;
  }

  has(key: string): boolean {
    this.fingerprint(key);
    const slot = this.find();
    this.absentKey = key;
    if (slot === NONE) return false;
    if (this.expiries[slot]! <= Date.now()) {
      this.remove(slot);
      return false;
    }
    this.absentKey = undefined;
    this.touch(slot);
    return true;
  }

  mark(key: string, ttlMs?: number): void {
    this.fingerprint(key);
    const expires = Date.now() + (ttlMs ?? this.ttlMs);
    // Nothing but `mark` adds entries, and every `mark` forgets the absent key.
    let slot = key === this.absentKey ? NONE : this.find();
    this.absentKey = undefined;
    if (slot !== NONE) {
      this.expiries[slot] = expires;
      this.touch(slot);
      return;
    }
    if (this.live >= this.maxEntries) this.remove(this.oldest);
    slot = this.takeSlot();
    const words = this.fingerprints;
    words[slot * 3] = this.f0;
    words[slot * 3 + 1] = this.f1;
    words[slot * 3 + 2] = this.f2;
    this.expiries[slot] = expires;
    this.linkNewest(slot);
    this.insert(slot);
    this.live++;
  }

  clear(): void {
    this.table.fill(0);
    this.absentKey = undefined;
    this.newest = this.oldest = this.freeSlots = NONE;
    this.used = this.live = 0;
  }

  override async close(): Promise<void> {
    this.clear();
  }

  /** Sets f0..f2 to the fingerprint of `key`: three independently mixed 32-bit lanes. */
  private fingerprint(key: string): void {
    if (key === this.lastKey) return;
    let a = 0x811c9dc5 ^ key.length;
    let b = 0x2545f491;
    let c = 0x9e3779b9;
    for (let i = 0; i < key.length; i++) {
      const code = key.charCodeAt(i);
      a = Math.imul(a ^ code, 0x01000193);
      b = Math.imul(b ^ code, 0x5bd1e995);
      b ^= b >>> 15;
      c = Math.imul(c + code, 0x85ebca6b);
      c = (c << 13) | (c >>> 19);
    }
    this.f0 = finalMix(a);
    this.f1 = finalMix(b);
    this.f2 = finalMix(c);
    this.lastKey = key;
  }

  /** The slot holding the current fingerprint, or NONE. */
  private find(): number {
    const { table, fingerprints: words, mask, f0, f1, f2 } = this;
    for (let at = f0 & mask; ; at = (at + 1) & mask) {
      const held = table[at * 2]!;
      if (held === 0) return NONE;
      const slot = held - 1;
      if (table[at * 2 + 1] === f0 && words[slot * 3 + 1] === f1 && words[slot * 3 + 2] === f2) return slot;
    }
  }

  private insert(slot: number): void {
    const table = this.table;
    const word = this.fingerprints[slot * 3]!;
    let at = word & this.mask;
    while (table[at * 2] !== 0) at = (at + 1) & this.mask;
    table[at * 2] = slot + 1;
    table[at * 2 + 1] = word;
  }

  /** Drops `slot` from the table (backward-shift deletion: no tombstones), the list, and frees it. */
  private remove(slot: number): void {
    const { table, fingerprints: words, mask } = this;
    let hole = words[slot * 3]! & mask;
    while (table[hole * 2] !== slot + 1) hole = (hole + 1) & mask;
    for (let at = (hole + 1) & mask; table[at * 2] !== 0; at = (at + 1) & mask) {
      const home = table[at * 2 + 1]! & mask;
      // The entry at `at` may move back into the hole unless its home lies cyclically in (hole, at].
      const stays = hole <= at ? home > hole && home <= at : home > hole || home <= at;
      if (!stays) {
        table[hole * 2] = table[at * 2]!;
        table[hole * 2 + 1] = table[at * 2 + 1]!;
        hole = at;
      }
    }
    table[hole * 2] = 0;
    this.unlink(slot);
    this.newer[slot] = this.freeSlots;
    this.freeSlots = slot;
    this.live--;
  }

  private takeSlot(): number {
    if (this.freeSlots !== NONE) {
      const slot = this.freeSlots;
      this.freeSlots = this.newer[slot]!;
      return slot;
    }
    if (this.used === this.slots) this.allocate(Math.min(this.slots * 2, this.maxEntries));
    return this.used++;
  }

  /** Makes `slot` the most recently used. */
  private touch(slot: number): void {
    if (slot === this.newest) return;
    this.unlink(slot);
    this.linkNewest(slot);
  }

  private linkNewest(slot: number): void {
    this.older[slot] = this.newest;
    this.newer[slot] = NONE;
    if (this.newest !== NONE) this.newer[this.newest] = slot;
    else this.oldest = slot;
    this.newest = slot;
  }

  private unlink(slot: number): void {
    const newer = this.newer[slot]!;
    const older = this.older[slot]!;
    if (newer !== NONE) this.older[newer] = older;
    else this.newest = older;
    if (older !== NONE) this.newer[older] = newer;
    else this.oldest = newer;
  }

  /** Grows the arrays to `slots` entries and rebuilds the table. */
  private allocate(slots: number): void {
    this.fingerprints = grown(this.fingerprints, new Int32Array(slots * 3));
    this.expiries = grown(this.expiries, new Float64Array(slots));
    this.newer = grown(this.newer, new Int32Array(slots));
    this.older = grown(this.older, new Int32Array(slots));
    this.slots = slots;
    let size = 2;
    while (size < slots * 2) size *= 2;
    this.table = new Int32Array(size * 2);
    this.mask = size - 1;
    for (let slot = this.oldest; slot !== NONE; slot = this.newer[slot]!) this.insert(slot);
  }
}

function grown<T extends Int32Array | Float64Array>(from: T, to: T): T {
  to.set(from);
  return to;
}

/** MurmurHash3's 32-bit finalizer: every input bit affects every output bit. */
function finalMix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}
