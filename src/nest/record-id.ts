import * as crypto from 'node:crypto';
import type { PlanoutLogRecord } from '../core/log-record.js';
import { assignmentText, stableStringify } from './dedupe-key.js';
import { copyWith } from './record-copy.js';
import { hexDigit, sha1WordsOf } from './sha1-text.js';

/**
 * Namespace of the record ids (UUID version 5):
 * `uuid5(NAMESPACE_URL, 'https://www.npmjs.com/package/nestjs-planout#record-id')`.
 */
export const PLANOUT_RECORD_ID_NAMESPACE = 'de39f304-defb-59fb-b5ca-0986284a079c';

const NAMESPACE_BYTES = Buffer.from(PLANOUT_RECORD_ID_NAMESPACE.replaceAll('-', ''), 'hex');

const DASH = 0x2d;

/** RFC 9562 UUID version 5 (SHA-1) of `name` (UTF-8) in `namespace` (a UUID string). */
export function uuidV5(name: string, namespace: string = PLANOUT_RECORD_ID_NAMESPACE): string {
  const ns = namespace === PLANOUT_RECORD_ID_NAMESPACE ? NAMESPACE_BYTES : Buffer.from(namespace.replaceAll('-', ''), 'hex');
  if (ns.length !== 16) throw new RangeError(`uuidV5: namespace "${namespace}" is not a UUID`);
  // The first 16 bytes of SHA-1(namespace bytes + name), with the version (5) in the top
  // 4 bits of byte 6 and the variant (binary 10) in the top 2 bits of byte 8.
  const words = sha1WordsOf(name, ns);
  const a = words[0];
  const b = (words[1] & ~0xf000) | 0x5000;
  const c = (words[2] & ~0x40000000) | -0x80000000;
  const d = words[3];
  // One flat string from its 36 char codes: cheaper than slicing and joining a hex digest.
  return String.fromCharCode(
    hexDigit(a, 28), hexDigit(a, 24), hexDigit(a, 20), hexDigit(a, 16), hexDigit(a, 12), hexDigit(a, 8), hexDigit(a, 4), hexDigit(a, 0), DASH,
    hexDigit(b, 28), hexDigit(b, 24), hexDigit(b, 20), hexDigit(b, 16), DASH,
    hexDigit(b, 12), hexDigit(b, 8), hexDigit(b, 4), hexDigit(b, 0), DASH,
    hexDigit(c, 28), hexDigit(c, 24), hexDigit(c, 20), hexDigit(c, 16), DASH,
    hexDigit(c, 12), hexDigit(c, 8), hexDigit(c, 4), hexDigit(c, 0),
    hexDigit(d, 28), hexDigit(d, 24), hexDigit(d, 20), hexDigit(d, 16), hexDigit(d, 12), hexDigit(d, 8), hexDigit(d, 4), hexDigit(d, 0),
  );
}

/**
 * The id of an exposure: a UUID v5 of the experiment name, the event (`exposure`), and
 * the canonical assignment text of the dedupe key (salt, checksum, inputs, params), plus
 * a marker when QA overrides forced params. Not the time nor `extra_data`: the same
 * unit seeing the same assignment gets the same id in every process, on every retry.
 */
export function exposureRecordId(record: PlanoutLogRecord): string {
  let text = record.name + '\n' + record.event + '\n' + assignmentText(record);
  if (record.overridden === true) text += '\noverridden';
  return uuidV5(text);
}

/**
 * The exposure `record` with its id (the record itself when it has one). Throws when its
 * assignment cannot be serialized canonically (a cycle): the caller decides what then.
 */
export function withExposureId(record: PlanoutLogRecord): PlanoutLogRecord & { id: string } {
  if (typeof record.id === 'string') return record as PlanoutLogRecord & { id: string };
  return copyWith(record, 'id', exposureRecordId(record));
}

/**
 * {@link withExposureId} for a record its caller owns (the dispatcher's: built for one log
 * call and handed over): the id is set on the record itself when it is a plain, extensible
 * object without an `id`, which costs a fraction of the copy; otherwise it is copied.
 */
export function ownExposureId(record: PlanoutLogRecord): PlanoutLogRecord & { id: string } {
  if (typeof record.id === 'string') return record as PlanoutLogRecord & { id: string };
  return setOwnId(record, exposureRecordId(record));
}

function setOwnId(record: PlanoutLogRecord, id: string): PlanoutLogRecord & { id: string } {
  if (Object.getPrototypeOf(record) !== Object.prototype || !Object.isExtensible(record) || Object.hasOwn(record, 'id')) {
    return copyWith(record, 'id', id);
  }
  // Added last, as the copy would have it.
  record.id = id;
  return record as PlanoutLogRecord & { id: string };
}

/**
 * The exposure cache key of `record`: its experiment name and its record id
 * ({@link exposureRecordId}), so a changed assignment (new salt, new code, new params) logs
 * again, and the cache remembers exactly the exposures a consumer deduplicates by id.
 */
export function exposureDedupeKey(record: PlanoutLogRecord): string {
  return dedupeKeyOf(record.name, withExposureId(record).id);
}

/** {@link exposureDedupeKey} from the experiment name and the exposure's record id. */
export function dedupeKeyOf(name: string, id: string): string {
  return name + ':' + id;
}

/**
 * The id of an event (a conversion): the exposure's fields plus `time`, `extra_data` and
 * `call`, a value unique to one `logEvent` call, so two real conversions never share an id.
 */
export function eventRecordId(record: PlanoutLogRecord, call: string): string {
  const text =
    record.name +
    '\n' +
    record.event +
    '\n' +
    assignmentText(record) +
    '\n' +
    stableStringify(record.time) +
    '\n' +
    stableStringify(record.extra_data ?? null) +
    (record.overridden === true ? '\noverridden' : '') +
    '\n' +
    call;
  return uuidV5(text);
}

/** Random per process, then a counter: unique per call across processes and restarts. */
const PROCESS_NONCE = crypto.randomBytes(12).toString('hex');
let calls = 0;

/**
 * `record` with its `id`, set once when the record enters the pipeline (a record that
 * already has one keeps it): deterministic for exposures ({@link exposureRecordId}),
 * unique per call for events ({@link eventRecordId}). A record whose inputs cannot be
 * serialized canonically (a cycle) gets a random id.
 */
export function withRecordId(record: PlanoutLogRecord): PlanoutLogRecord {
  if (typeof record.id === 'string') return record;
  try {
    if (record.event === 'exposure') return withExposureId(record);
    return copyWith(record, 'id', eventRecordId(record, `${PROCESS_NONCE}:${++calls}`));
  } catch {
    return copyWith(record, 'id', crypto.randomUUID());
  }
}
