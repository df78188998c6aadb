import { PlanoutError, PlanoutSyntaxError } from '../errors.js';
import type { PlanoutScript } from '../interpreted-experiment.js';
import { PyFloat, setOwn, type PlanoutObject, type PlanoutValue } from '../values.js';
import { CrlfCommentFound } from './lexer.js';
import { Parser, type RawValue } from './parser.js';

/**
 * Compiles a program in the PlanOut language to the serialized script the interpreter
 * runs, exactly as the reference compiler (facebook/planout `compiler/planout.jison`) does:
 * same structure, same key order, same int/float kinds, hence the same checksum.
 *
 * One deliberate difference: the reference rejects a comment ended by CRLF; here such a
 * program compiles as its LF version.
 *
 * @param options.name the experiment the program defines, named in error messages.
 * @throws PlanoutSyntaxError with the line, the column and what was expected.
 */
export function compilePlanout(source: string, options: { name?: string } = {}): PlanoutScript {
  let raw: RawValue;
  try {
    try {
      raw = parse(source);
    } catch (error) {
      if (!(error instanceof CrlfCommentFound)) throw error;
      raw = parse(source.replace(/\r\n/g, '\n'));
    }
  } catch (error) {
    if (error instanceof PlanoutSyntaxError && options.name !== undefined) {
      throw new PlanoutSyntaxError(error.problem, error, { experiment: options.name });
    }
    throw error;
  }
  try {
    return asScriptValue(raw) as PlanoutObject;
  } catch (error) {
    if (error instanceof RangeError) throw new PlanoutError('the program nests too deeply to compile');
    throw error;
  }
}

function parse(source: string): RawValue {
  try {
    return new Parser(source).program();
  } catch (error) {
    // Long chains (a + b + ... or else-if ladders) can still exhaust the stack.
    if (error instanceof RangeError) throw new PlanoutError('the program nests too deeply to compile');
    throw error;
  }
}

/**
 * What the Python reference reads from the compiler's `JSON.stringify` output: a number
 * printed without `.`/`e` is an int (exact, a bigint beyond 2^53: `12345678901234567000`),
 * otherwise a float (`1e+21`); Infinity and NaN print as `null`, and `-0` as `0`.
 */
function asScriptValue(value: RawValue): PlanoutValue {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return null;
    const text = String(value);
    if (/[.eE]/.test(text)) return Number.isInteger(value) ? new PyFloat(value) : value;
    return Number.isSafeInteger(value) ? value + 0 : BigInt(text);
  }
  if (Array.isArray(value)) return value.map(asScriptValue);
  if (value !== null && typeof value === 'object') {
    const out: PlanoutObject = {};
    for (const key of Object.keys(value)) setOwn(out, key, asScriptValue(value[key]));
    return out;
  }
  return value;
}

