import { createHmac, timingSafeEqual } from 'node:crypto';

/** Forced params by experiment name: `{ Exp1: { group_size: 10 } }`. */
export type PlanoutOverrides = Record<string, Record<string, unknown>>;

/** The signed payload of a QA override token. */
export interface PlanoutOverridesPayload {
  v: 1;
  /** Expiry, in whole seconds since the epoch. */
  exp?: number;
  experiments: PlanoutOverrides;
}

/** Why a token or an unsigned override value was refused. */
export type PlanoutOverridesRejection = 'malformed' | 'too-large' | 'bad-signature' | 'expired';

export type PlanoutOverridesVerification =
  | { readonly valid: true; readonly experiments: PlanoutOverrides; readonly exp: number | undefined }
  | { readonly valid: false; readonly reason: PlanoutOverridesRejection };

/** Longest token or unsigned JSON value accepted, in characters. */
export const MAX_OVERRIDES_LENGTH = 8 * 1024;

// Nesting of param values; deeper values make the whole payload malformed.
const MAX_DEPTH = 8;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * A QA override token: `base64url(JSON payload).base64url(HMAC-SHA256(secret, first part))`.
 * Send it in the `x-planout-overrides` header (or the configured query parameter) of an
 * app whose `overrides.secret` is `secret`.
 */
export function signPlanoutOverrides(
  overrides: PlanoutOverrides,
  secret: string,
  options: { expiresInSeconds?: number; nowSeconds?: number } = {},
): string {
  if (typeof secret !== 'string' || secret.length === 0) throw new TypeError('signPlanoutOverrides: secret must be a non-empty string');
  const payload: PlanoutOverridesPayload = { v: 1, experiments: overrides };
  if (options.expiresInSeconds !== undefined) {
    if (!Number.isFinite(options.expiresInSeconds)) throw new TypeError('signPlanoutOverrides: expiresInSeconds must be a finite number');
    const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
    payload.exp = Math.floor(now + options.expiresInSeconds);
  }
  const body = Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
  const token = `${body}.${mac(body, secret)}`;
  if (token.length > MAX_OVERRIDES_LENGTH) {
    throw new RangeError(`signPlanoutOverrides: the token has ${token.length} characters, more than the ${MAX_OVERRIDES_LENGTH} accepted`);
  }
  return token;
}

/**
 * Checks a token made by {@link signPlanoutOverrides}: length, signature (in constant
 * time), then payload shape and expiry. Never throws.
 */
export function verifyPlanoutOverrides(token: string, secret: string, nowSeconds = Math.floor(Date.now() / 1000)): PlanoutOverridesVerification {
  if (typeof token !== 'string' || typeof secret !== 'string' || secret.length === 0) return reject('malformed');
  if (token.length > MAX_OVERRIDES_LENGTH) return reject('too-large');
  const dot = token.indexOf('.');
  if (dot <= 0 || dot !== token.lastIndexOf('.')) return reject('malformed');
  const body = token.slice(0, dot);
  const signature = token.slice(dot + 1);
  if (!BASE64URL.test(body) || !BASE64URL.test(signature)) return reject('malformed');
  // Authenticate before parsing anything the sender wrote.
  const given = Buffer.from(signature, 'base64url');
  const expected = Buffer.from(mac(body, secret), 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return reject('bad-signature');
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    return reject('malformed');
  }
  if (!isRecord(payload) || payload.v !== 1) return reject('malformed');
  const exp = payload.exp;
  if (exp !== undefined && (typeof exp !== 'number' || !Number.isFinite(exp))) return reject('malformed');
  const experiments = sanitizeOverrides(payload.experiments);
  if (experiments === undefined) return reject('malformed');
  if (exp !== undefined && exp <= nowSeconds) return reject('expired');
  return { valid: true, experiments, exp };
}

/**
 * Parses an unsigned override value (JSON of `{ experiment: { param: value } }`), for
 * requests an `allow` predicate accepted. Undefined when it is not such an object.
 */
export function parseUnsignedOverrides(text: string): PlanoutOverrides | undefined {
  if (typeof text !== 'string' || text.length > MAX_OVERRIDES_LENGTH) return undefined;
  try {
    return sanitizeOverrides(JSON.parse(text));
  } catch {
    return undefined;
  }
}

/**
 * A copy of `value` as overrides: objects of objects, without `__proto__`, `constructor`
 * or `prototype` keys at any depth (such keys make it malformed). Undefined when invalid.
 */
function sanitizeOverrides(value: unknown): PlanoutOverrides | undefined {
  if (!isRecord(value)) return undefined;
  const out: PlanoutOverrides = {};
  for (const name of Object.keys(value)) {
    const params = value[name];
    if (FORBIDDEN_KEYS.has(name) || !isRecord(params)) return undefined;
    const copy = sanitizeValue(params, 1) as Record<string, unknown> | undefined;
    if (copy === undefined) return undefined;
    out[name] = copy;
  }
  return out;
}

// A JSON value copied into fresh objects; undefined when invalid.
function sanitizeValue(value: unknown, depth: number): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (depth > MAX_DEPTH) return undefined;
  if (Array.isArray(value)) {
    const items: unknown[] = [];
    for (const item of value) {
      const copy = sanitizeValue(item, depth + 1);
      if (copy === undefined) return undefined;
      items.push(copy);
    }
    return items;
  }
  if (isRecord(value)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      if (FORBIDDEN_KEYS.has(key)) return undefined;
      const copy = sanitizeValue(value[key], depth + 1);
      if (copy === undefined) return undefined;
      out[key] = copy;
    }
    return out;
  }
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function mac(body: string, secret: string): string {
  return createHmac('sha256', secret).update(body, 'utf8').digest('base64url');
}

function reject(reason: PlanoutOverridesRejection): PlanoutOverridesVerification {
  return { valid: false, reason };
}
