import { describe, expect, it } from '@jest/globals';
import { compilePlanout } from '../../../src/core/compiler/index.js';
import { MAX_NESTING } from '../../../src/core/compiler/parser.js';
import { PlanoutError, PlanoutSyntaxError } from '../../../src/core/errors.js';
import { stringifyPlanoutJson } from '../../../src/core/json.js';

function syntaxError(source: string): PlanoutSyntaxError {
  try {
    compilePlanout(source);
  } catch (error) {
    if (error instanceof PlanoutSyntaxError) return error;
    throw error;
  }
  throw new Error(`compiled without error: ${JSON.stringify(source)}`);
}

const dumps = (source: string): string => stringifyPlanoutJson(compilePlanout(source));

describe('compilePlanout: syntax errors are located', () => {
  // [kind, source, line, column, message fragment, an expected item (or undefined)]
  const cases: Array<[string, string, number, number, string, string | undefined]> = [
    ['unrecognized character', 'ok = a & b;\n', 1, 8, 'unrecognized text "& b;"', undefined],
    ['unterminated string', 'x = 1;\ny = "abc;\n', 2, 5, 'unterminated string', undefined],
    ['number ending with a dot', 'x = 1;\n  y = 2.;', 2, 8, "a number cannot end with '.'", undefined],
    ['comment with a lone carriage return', 'x = 1; # a\rb\n', 1, 8, 'comment must end at a line feed', undefined],
    ['missing semicolon at the end of a line', 'a = 1\nb = 2;\n', 1, 6, "expected ';' or an operator but found identifier \"b\"", "';'"],
    ['missing semicolon at the end of input', 'x = 1', 1, 6, 'found end of input', "';'"],
    ['unexpected token', 'x = y = 1;', 1, 7, "expected ';' or an operator but found '='", "';'"],
    ['unclosed block at the end of input', 'if (a) {\n  x = 1;\n', 2, 9, "found end of input", "'}'"],
    ['a call is not a statement', 'log(x);', 1, 4, "expected '=' or '<-' but found '('", "'='"],
    ['mixed named and positional arguments', 'x = f(a=1, 2);', 1, 12, 'expected identifier but found number 2', 'identifier'],
    ['identifier inside a JSON literal', 'x = @{name: 1};', 1, 7, 'identifier "name" is not a JSON value', 'a JSON value'],
    ['minus before a JSON boolean', 'x = @-true;', 1, 7, "but found 'true'", 'a number'],
    ['return without a value', 'x = 1;\nreturn;', 2, 7, "expected an expression but found ';'", 'an expression'],
    ['if without parentheses', 'if x { y = 1; }', 1, 4, "expected '(' but found identifier \"x\"", "'('"],
    ['assignment as a switch result', 'switch {\n  a => x = 1;\n}', 2, 8, "expected 'if', 'switch' or 'return'", "'if'"],
    ['trailing comma', 'x = [1, 2,];', 1, 11, "expected an expression but found ']'", 'an expression'],
    ['double semicolon', 'x = 1;;', 1, 7, "found ';'", 'end of input'],
    ['CRLF line endings count as one line', 'a = 1;\r\nb = ;\r\n', 2, 5, "found ';'", 'an expression'],
  ];

  it.each(cases)('%s', (_kind, source, line, column, fragment, expected) => {
    const error = syntaxError(source);
    expect(error).toBeInstanceOf(PlanoutError);
    expect({ line: error.line, column: error.column }).toEqual({ line, column });
    expect(error.message).toBe(`line ${line}, column ${column}: ${error.problem}`);
    expect(error.message).toContain(fragment);
    if (expected !== undefined) expect(error.expected).toContain(expected);
  });

  it('rejects nesting deeper than the limit instead of exhausting the stack', () => {
    const deep = `x = ${'('.repeat(MAX_NESTING + 10)}1${')'.repeat(MAX_NESTING + 10)};`;
    const error = syntaxError(deep);
    expect(error.message).toContain(`deeper than ${MAX_NESTING} levels`);
    expect(error.line).toBe(1);
    // Just under the limit compiles.
    const fine = `x = ${'('.repeat(MAX_NESTING - 5)}1${')'.repeat(MAX_NESTING - 5)};`;
    expect(dumps(fine)).toBe('{"op": "seq", "seq": [{"op": "set", "var": "x", "value": 1}]}');
  });

  it('a very long operator chain is rejected at the operator past the limit, not with a RangeError', () => {
    const long = `x = ${Array.from({ length: 200_000 }, () => 'a').join(' + ')};`;
    const error = syntaxError(long);
    // 'x = ' then 'a + ' per term: the operator after the 500th term is at column 4 + 4 * 500 - 1.
    expect({ line: error.line, column: error.column }).toEqual({ line: 1, column: 4 + 4 * MAX_NESTING - 1 });
  });

  it('flattens long else-if ladders without nesting (as the reference does)', () => {
    const ladder = 'if (a) {}' + ' else if (a) {}'.repeat(5000) + ' else { x = 1; }';
    const cond = compilePlanout(ladder).seq as Array<{ cond: unknown[] }>;
    expect(cond[0].cond).toHaveLength(5002);
  });

  it('names the experiment when given one', () => {
    let error: unknown;
    try {
      compilePlanout('x = ;', { name: 'Exp1' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PlanoutSyntaxError);
    expect((error as PlanoutSyntaxError).message).toBe("Experiment \"Exp1\": line 1, column 5: expected an expression but found ';'");
    expect((error as PlanoutSyntaxError).experiment).toBe('Exp1');
    expect((error as PlanoutSyntaxError).line).toBe(1);
  });
});

describe('compilePlanout: the reference conventions', () => {
  it('compiles a comment ended by CRLF as the LF version of the program (deliberate fix)', () => {
    const crlf = 'x = "a\r\nb"; # note\r\ny = 2;\r\n';
    expect(dumps(crlf)).toBe(dumps(crlf.replace(/\r\n/g, '\n')));
    expect(compilePlanout(crlf).seq).toEqual([
      { op: 'set', var: 'x', value: 'a\nb' },
      { op: 'set', var: 'y', value: 2 },
    ]);
  });

  it('keeps CR inside strings when no comment needs the fix (as the reference does)', () => {
    expect(compilePlanout('x = "a\r\nb";\r\n').seq).toEqual([{ op: 'set', var: 'x', value: 'a\r\nb' }]);
  });

  it('accepts one leading comma in lists, as the reference grammar does', () => {
    expect(dumps('x = [, 1];')).toBe('{"op": "seq", "seq": [{"op": "set", "var": "x", "value": {"op": "array", "values": [1]}}]}');
    expect(dumps('x = @{, "a": 1};')).toBe(
      '{"op": "seq", "seq": [{"op": "set", "var": "x", "value": {"op": "literal", "value": {"a": 1}}}]}',
    );
    expect(() => compilePlanout('x = [,];')).toThrow(PlanoutSyntaxError);
    expect(() => compilePlanout('x = f(, 1);')).toThrow(PlanoutSyntaxError);
  });

  it('drops keys named __proto__ (the reference sets a prototype instead) and pollutes nothing', () => {
    expect(dumps('x = f(__proto__=1, a=2);')).toBe(
      '{"op": "seq", "seq": [{"op": "set", "var": "x", "value": {"a": 2, "op": "f"}}]}',
    );
    expect(dumps('x = @{"__proto__": {"polluted": 1}, "b": 2};')).toBe(
      '{"op": "seq", "seq": [{"op": "set", "var": "x", "value": {"op": "literal", "value": {"b": 2}}}]}',
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('keeps the int/float kinds Python reads from the compiler output', () => {
    expect(dumps('a = 2.0; b = 1e21; c = 12345678901234567890; d = 1e400; e = @-0.0; f = .5;')).toBe(
      '{"op": "seq", "seq": [' +
        '{"op": "set", "var": "a", "value": 2}, ' +
        '{"op": "set", "var": "b", "value": 1e+21}, ' +
        '{"op": "set", "var": "c", "value": 12345678901234567000}, ' +
        '{"op": "set", "var": "d", "value": null}, ' +
        '{"op": "set", "var": "e", "value": {"op": "literal", "value": 0}}, ' +
        '{"op": "set", "var": "f", "value": 0.5}]}',
    );
  });
});
