import * as crypto from 'node:crypto';
import type { PlanoutLogRecord } from '../core/log-record.js';
import { assignmentText, stableStringify } from './dedupe-key.js';

/**
 * Namespace of the record ids (UUID version 5):
 * `uuid5(NAMESPACE_URL, 'https://www.npmjs.com/package/nestjs-planout#record-id')`.
 */
export const PLANOUT_RECORD_ID_NAMESPACE = 'de39f304-defb-59fb-b5ca-0986284a079c';

const NAMESPACE_BYTES = Buffer.from(PLANOUT_RECORD_ID_NAMESPACE.replaceAll('-', ''), 'hex');

// One-shot `crypto.hash` (Node ≥ 20.12) over one buffer is ~2.5× faster than a Hash object here.
const oneShotHash = (crypto as { hash?: (algorithm: string, data: Buffer, encoding: 'hex') => string }).hash;
const sha1Hex: (prefix: Buffer, text: string) => string =
  typeof oneShotHash === 'function'
    ? (prefix, text) => oneShotHash('sha1', Buffer.concat([prefix, Buffer.from(text, 'utf8')]), 'hex')
    : (prefix, text) => crypto.createHash('sha1').update(prefix).update(text, 'utf8').digest('hex');

/** RFC 9562 UUID version 5 (SHA-1) of `name` (UTF-8) in `namespace` (a UUID string). */
export function uuidV5(name: string, namespace: string = PLANOUT_RECORD_ID_NAMESPACE): string {
  const ns = namespace === PLANOUT_RECORD_ID_NAMESPACE ? NAMESPACE_BYTES : Buffer.from(namespace.replaceAll('-', ''), 'hex');
  if (ns.length !== 16) throw new RangeError(`uuidV5: namespace "${namespace}" is not a UUID`);
  const hex = sha1Hex(ns, name);
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
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
  let id: string;
  try {
    id = record.event === 'exposure' ? exposureRecordId(record) : eventRecordId(record, `${PROCESS_NONCE}:${++calls}`);
  } catch {
    id = crypto.randomUUID();
  }
  return { ...record, id };
}
