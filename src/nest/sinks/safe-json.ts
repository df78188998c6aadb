/**
 * JSON text for a log record, with `JSON.stringify` semantics (`toJSON` respected,
 * `undefined`/functions omitted) plus two additions: a `bigint` is written as raw
 * digits (PlanOut ints beyond 2^53 stay exact for analysis), and it never throws —
 * cycles become `"[Circular]"` and values whose getters or `toJSON` throw become
 * `"[Unserializable]"`, because a log line must not take a request down.
 */
export function safeJsonStringify(value: unknown): string {
  try {
    // Fast path: ordinary records (no bigint, no cycle) go through the native encoder.
    const text = JSON.stringify(value);
    return text === undefined ? 'null' : text;
  } catch {
    try {
      return encode(value, '', []) ?? 'null';
    } catch (error) {
      // Only reachable for pathological inputs (e.g. a Proxy throwing on key listing).
      return JSON.stringify({
        unserializable: true,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
}

const MAX_DEPTH = 500;
const CIRCULAR = '"[Circular]"';
const UNSERIALIZABLE = '"[Unserializable]"';

function encode(input: unknown, key: string, stack: object[]): string | undefined {
  let value = input;
  if ((typeof value === 'object' && value !== null) || typeof value === 'bigint') {
    const toJSON = tryRead(value, 'toJSON');
    if (toJSON === THREW) return UNSERIALIZABLE;
    if (typeof toJSON === 'function') {
      try {
        value = (toJSON as (k: string) => unknown).call(value, key);
      } catch {
        return UNSERIALIZABLE;
      }
    }
  }
  // Boxed primitives serialize as their primitive, as in JSON.stringify.
  if (value instanceof Number || value instanceof String || value instanceof Boolean || value instanceof BigInt) {
    value = value.valueOf();
  }
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
  }
  if (value === null) return 'null';
  const obj = value as object;
  if (stack.includes(obj)) return CIRCULAR;
  if (stack.length >= MAX_DEPTH) return UNSERIALIZABLE;
  stack.push(obj);
  try {
    if (Array.isArray(obj)) {
      const parts: string[] = [];
      for (let i = 0; i < obj.length; i++) {
        const item = tryRead(obj, i);
        parts.push(item === THREW ? UNSERIALIZABLE : (encode(item, String(i), stack) ?? 'null'));
      }
      return `[${parts.join(',')}]`;
    }
    const parts: string[] = [];
    for (const k of Object.keys(obj)) {
      const item = tryRead(obj, k);
      const text = item === THREW ? UNSERIALIZABLE : encode(item, k, stack);
      if (text !== undefined) parts.push(`${JSON.stringify(k)}:${text}`);
    }
    return `{${parts.join(',')}}`;
  } finally {
    stack.pop();
  }
}

const THREW: unique symbol = Symbol('threw');

function tryRead(target: unknown, key: PropertyKey): unknown {
  try {
    return (target as Record<PropertyKey, unknown>)[key];
  } catch {
    return THREW;
  }
}

const NUL_OR_LONE_SURROGATE = /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * `text` with what PostgreSQL text cannot hold replaced by U+FFFD: U+0000, and UTF-16
 * surrogates that are not part of a pair (they have no UTF-8 encoding).
 */
export function storableText(text: string): string {
  return text.replace(NUL_OR_LONE_SURROGATE, '\uFFFD');
}

/**
 * The same for JSON text made by {@link safeJsonStringify} (i.e. `JSON.stringify`), which
 * writes U+0000 and lone surrogates as `\u` escapes that jsonb refuses (SQLSTATE 22P02/22P05).
 * `JSON.stringify` writes paired surrogates as characters, never as escapes, so every
 * surrogate escape in its output is a lone one. An escaped backslash followed by `u0000`
 * is left alone.
 */
export function storableJson(json: string): string {
  if (!json.includes('\\u')) return json;
  return json.replace(/(?<!\\)((?:\\\\)*)\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})/g, '$1\\ufffd');
}
