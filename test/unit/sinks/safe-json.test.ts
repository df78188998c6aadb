import { describe, expect, it } from '@jest/globals';
import { PyFloat } from '../../../src/core/values.js';
import { safeJsonStringify, storableJson, storableText } from '../../../src/nest/sinks/safe-json.js';
import { OutcomeWindow, OperationTimeoutError } from '../../../src/nest/sinks/backend-utils.js';
import { record } from './fixtures.js';

describe('safeJsonStringify', () => {
  it('matches JSON.stringify for ordinary records', () => {
    const r = { ...record(1), extra_data: { nested: [1, 'a', null, true] } };
    expect(safeJsonStringify(r)).toBe(JSON.stringify(r));
  });

  it('writes bigint as raw digits, exact beyond 2^53', () => {
    const text = safeJsonStringify({ inputs: { userid: 12345678901234567890n }, n: [1n, -2n] });
    expect(text).toBe('{"inputs":{"userid":12345678901234567890},"n":[1,-2]}');
  });

  it('respects toJSON (PyFloat becomes its number), also on the slow path', () => {
    expect(safeJsonStringify({ x: new PyFloat(2) })).toBe('{"x":2}');
    expect(safeJsonStringify({ x: new PyFloat(2), big: 1n, d: new Date(0) })).toBe(
      '{"x":2,"big":1,"d":"1970-01-01T00:00:00.000Z"}',
    );
  });

  it('keeps JSON.stringify semantics for undefined, functions, symbols and non-finite numbers on the slow path', () => {
    const value = { big: 1n, u: undefined, f: () => 1, s: Symbol('s'), nan: NaN, inf: -Infinity, arr: [undefined, () => 1, 2] };
    expect(safeJsonStringify(value)).toBe('{"big":1,"nan":null,"inf":null,"arr":[null,null,2]}');
    expect(JSON.parse(safeJsonStringify(value))).toEqual({ big: 1, nan: null, inf: null, arr: [null, null, 2] });
  });

  it('writes an own "__proto__" key as data without touching prototypes', () => {
    const parsed = JSON.parse('{"__proto__":{"polluted":true},"a":1}') as object;
    const text = safeJsonStringify({ inputs: parsed, big: 2n });
    expect(text).toBe('{"inputs":{"__proto__":{"polluted":true},"a":1},"big":2}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('replaces cycles with "[Circular]" but serializes repeated (non-cyclic) references in full', () => {
    const shared = { v: 1 };
    const cyclic: Record<string, unknown> = { name: 'x', a: shared, b: shared };
    cyclic.self = cyclic;
    expect(JSON.parse(safeJsonStringify(cyclic))).toEqual({ name: 'x', a: { v: 1 }, b: { v: 1 }, self: '[Circular]' });
    const arr: unknown[] = [1];
    arr.push(arr);
    expect(safeJsonStringify(arr)).toBe('[1,"[Circular]"]');
  });

  it('never throws: throwing getters and toJSON become "[Unserializable]"', () => {
    const bad = {
      ok: 1,
      get boom(): number {
        throw new Error('getter');
      },
      t: { toJSON: () => { throw new Error('toJSON'); } },
    };
    expect(JSON.parse(safeJsonStringify(bad))).toEqual({ ok: 1, boom: '[Unserializable]', t: '[Unserializable]' });
  });

  it('never throws on pathological input (revoked proxy, very deep nesting)', () => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    expect(() => JSON.parse(safeJsonStringify({ p: proxy }))).not.toThrow();
    let deep: Record<string, unknown> = { big: 1n };
    for (let i = 0; i < 20_000; i++) deep = { d: deep };
    const text = safeJsonStringify(deep);
    expect(() => JSON.parse(text)).not.toThrow();
  });

  it('returns "null" for a top-level value JSON.stringify would drop', () => {
    expect(safeJsonStringify(undefined)).toBe('null');
  });
});

describe('storableJson / storableText (what PostgreSQL text and jsonb cannot hold becomes U+FFFD)', () => {
  it('replaces lone surrogates and U+0000, keeps pairs and escaped backslashes', () => {
    const value = { amount: '\ud800', low: 'x\udc00y', nul: 'a\u0000b', pair: '\ud83d\ude00', text: '\\ud800 and \\u0000', mix: '\\\ud800' };
    const json = storableJson(safeJsonStringify(value));
    expect(JSON.parse(json)).toEqual({ amount: '\ufffd', low: 'x\ufffdy', nul: 'a\ufffdb', pair: '\ud83d\ude00', text: '\\ud800 and \\u0000', mix: '\\\ufffd' });
    expect(storableJson('{"a":1}')).toBe('{"a":1}');
  });

  it('also on the slow path (bigint present) and in keys', () => {
    const json = storableJson(safeJsonStringify({ big: 1n, ['k\udfff']: '\udbff' }));
    expect(JSON.parse(json)).toEqual({ big: 1, 'k\ufffd': '\ufffd' });
  });

  it('storableText: lone surrogates and NUL in plain text', () => {
    expect(storableText('Exp1\ud800\u0000\ud83d\ude00\udc00')).toBe('Exp1\ufffd\ufffd\ud83d\ude00\ufffd');
    expect(storableText('plain')).toBe('plain');
  });
});

describe('OutcomeWindow', () => {
  it('counts successes, failures and timeouts over the last seconds only', () => {
    const w = new OutcomeWindow(3000);
    const t0 = 1_000_000;
    w.success(t0);
    w.failure(new Error('x'), t0 + 100);
    w.failure(new OperationTimeoutError('get', 250), t0 + 1500);
    w.failure(Object.assign(new Error('Command timeout'), { name: 'TimeoutError' }), t0 + 2500);
    expect(w.snapshot(t0 + 2600)).toEqual({ windowMs: 3000, succeeded: 1, failed: 3, timedOut: 2 });
    // The first second has left the window.
    expect(w.snapshot(t0 + 3100)).toEqual({ windowMs: 3000, succeeded: 0, failed: 2, timedOut: 2 });
    expect(w.snapshot(t0 + 60_000)).toEqual({ windowMs: 3000, succeeded: 0, failed: 0, timedOut: 0 });
    w.success(t0 + 60_000);
    expect(w.snapshot(t0 + 60_000).succeeded).toBe(1);
  });
});
