import { createHmac } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import {
  MAX_OVERRIDES_LENGTH,
  parseUnsignedOverrides,
  signPlanoutOverrides,
  verifyPlanoutOverrides,
} from '../../../src/nest/qa-overrides.js';

const SECRET = 'qa-secret-0123456789abcdef';
const NOW = 1_700_000_000;

/** A token built from the format's definition, independently of signPlanoutOverrides. */
function handMade(payloadJson: string, secret = SECRET): string {
  const body = Buffer.from(payloadJson, 'utf8').toString('base64url');
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

function flip(text: string, index: number): string {
  const c = text[index] === 'A' ? 'B' : 'A';
  return text.slice(0, index) + c + text.slice(index + 1);
}

describe('signPlanoutOverrides / verifyPlanoutOverrides', () => {
  it('round-trips the experiments, with and without expiry', () => {
    const overrides = { Exp1: { group_size: 7, tags: ['a', { b: null }] }, 'TestNs-a': { label: 'x' } };
    expect(verifyPlanoutOverrides(signPlanoutOverrides(overrides, SECRET), SECRET, NOW)).toEqual({
      valid: true,
      experiments: overrides,
      exp: undefined,
    });
    const expiring = signPlanoutOverrides(overrides, SECRET, { expiresInSeconds: 600, nowSeconds: NOW });
    expect(verifyPlanoutOverrides(expiring, SECRET, NOW + 599)).toEqual({ valid: true, experiments: overrides, exp: NOW + 600 });
  });

  it('produces base64url(JSON payload).base64url(HMAC-SHA256(secret, payload part))', () => {
    const token = signPlanoutOverrides({ Exp1: { group_size: 7 } }, SECRET, { expiresInSeconds: 60, nowSeconds: NOW });
    const [body, signature] = token.split('.') as [string, string];
    expect(JSON.parse(Buffer.from(body, 'base64url').toString('utf8'))).toEqual({
      v: 1,
      exp: NOW + 60,
      experiments: { Exp1: { group_size: 7 } },
    });
    expect(signature).toBe(createHmac('sha256', SECRET).update(body).digest('base64url'));
    expect(verifyPlanoutOverrides(handMade('{"v":1,"experiments":{"E":{"p":1}}}'), SECRET, NOW)).toMatchObject({ valid: true });
  });

  it('refuses an expired token (expiry is exclusive)', () => {
    const token = signPlanoutOverrides({ Exp1: { a: 1 } }, SECRET, { expiresInSeconds: 60, nowSeconds: NOW });
    expect(verifyPlanoutOverrides(token, SECRET, NOW + 60)).toEqual({ valid: false, reason: 'expired' });
    expect(verifyPlanoutOverrides(token, SECRET, NOW + 3600)).toEqual({ valid: false, reason: 'expired' });
  });

  it('refuses a tampered payload, a tampered or truncated signature, and another secret', () => {
    const token = signPlanoutOverrides({ Exp1: { group_size: 7 } }, SECRET);
    const dot = token.indexOf('.');
    const badSignature = { valid: false, reason: 'bad-signature' };
    expect(verifyPlanoutOverrides(flip(token, 3), SECRET, NOW)).toEqual(badSignature);
    expect(verifyPlanoutOverrides(flip(token, dot + 3), SECRET, NOW)).toEqual(badSignature);
    expect(verifyPlanoutOverrides(token.slice(0, -4), SECRET, NOW)).toEqual(badSignature);
    expect(verifyPlanoutOverrides(token + 'AAAA', SECRET, NOW)).toEqual(badSignature);
    expect(verifyPlanoutOverrides(token, 'another-secret-0123456789', NOW)).toEqual(badSignature);
    // A payload re-encoded with other params keeps the old signature: refused.
    const forged = Buffer.from(JSON.stringify({ v: 1, experiments: { Exp1: { group_size: 1 } } })).toString('base64url');
    expect(verifyPlanoutOverrides(`${forged}${token.slice(dot)}`, SECRET, NOW)).toEqual(badSignature);
  });

  it('refuses malformed and oversized tokens without throwing', () => {
    const malformed = { valid: false, reason: 'malformed' };
    for (const token of ['', 'abc', '.abc', 'abc.', 'a.b.c', 'ab$c.def', 'abc.d+f', '{"v":1}']) {
      expect(verifyPlanoutOverrides(token, SECRET, NOW)).toEqual(malformed);
    }
    expect(verifyPlanoutOverrides(undefined as unknown as string, SECRET, NOW)).toEqual(malformed);
    expect(verifyPlanoutOverrides(signPlanoutOverrides({}, SECRET), '', NOW)).toEqual(malformed);
    expect(verifyPlanoutOverrides('a'.repeat(MAX_OVERRIDES_LENGTH) + '.b', SECRET, NOW)).toEqual({ valid: false, reason: 'too-large' });
    expect(() => signPlanoutOverrides({ E: { p: 'x'.repeat(MAX_OVERRIDES_LENGTH) } }, SECRET)).toThrow(RangeError);
    expect(() => signPlanoutOverrides({ E: { p: 1 } }, '')).toThrow(TypeError);
  });

  it('refuses a correctly signed payload of the wrong shape', () => {
    const malformed = { valid: false, reason: 'malformed' };
    for (const json of [
      'not json',
      'null',
      '[1]',
      '{"experiments":{"E":{"p":1}}}',
      '{"v":2,"experiments":{"E":{"p":1}}}',
      '{"v":1}',
      '{"v":1,"experiments":[]}',
      '{"v":1,"experiments":{"E":5}}',
      '{"v":1,"experiments":{"E":[1]}}',
      '{"v":1,"exp":"soon","experiments":{}}',
    ]) {
      expect(verifyPlanoutOverrides(handMade(json), SECRET, NOW)).toEqual(malformed);
    }
  });

  it('cannot pollute prototypes: __proto__, constructor and prototype keys make the payload malformed', () => {
    const malformed = { valid: false, reason: 'malformed' };
    for (const json of [
      '{"v":1,"experiments":{"__proto__":{"polluted":1}}}',
      '{"v":1,"experiments":{"E":{"__proto__":{"polluted":1}}}}',
      '{"v":1,"experiments":{"E":{"p":{"constructor":{"prototype":{"polluted":1}}}}}}',
      '{"v":1,"experiments":{"constructor":{"prototype":1}}}',
      '{"v":1,"experiments":{"E":{"p":[{"__proto__":{"polluted":1}}]}}}',
    ]) {
      expect(verifyPlanoutOverrides(handMade(json), SECRET, NOW)).toEqual(malformed);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // Deep nesting is refused too.
    const deep = '{"v":1,"experiments":{"E":{"p":' + '['.repeat(20) + ']'.repeat(20) + '}}}';
    expect(verifyPlanoutOverrides(handMade(deep), SECRET, NOW)).toEqual(malformed);
  });
});

describe('parseUnsignedOverrides', () => {
  it('reads a JSON map of experiments to params', () => {
    expect(parseUnsignedOverrides('{"Exp1":{"group_size":7}}')).toEqual({ Exp1: { group_size: 7 } });
  });

  it('returns undefined for anything else', () => {
    for (const text of ['', 'nope', '[]', '{"Exp1":7}', '{"__proto__":{"a":1}}', '{"E":{"constructor":1}}', `{"E":{"p":"${'x'.repeat(MAX_OVERRIDES_LENGTH)}"}}`]) {
      expect(parseUnsignedOverrides(text)).toBeUndefined();
    }
    expect(({} as Record<string, unknown>).a).toBeUndefined();
  });
});
