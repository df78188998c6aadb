import { PlanoutSyntaxError } from '../errors.js';
import { Lexer, type Token, type TokenKind } from './lexer.js';

/**
 * A value as the reference compiler builds it: plain JavaScript, numbers as doubles,
 * objects with JavaScript's own key order. `compilePlanout` turns it into a script.
 */
export type RawValue = null | boolean | number | string | RawValue[] | RawObject;
export interface RawObject {
  [key: string]: RawValue;
}

/** How deep expressions may nest; deeper programs are rejected instead of exhausting the stack. */
export const MAX_NESTING = 500;

interface BinaryOperator {
  precedence: number;
  build(left: RawValue, right: RawValue): RawObject;
}

const comparison = (op: string) => ({
  precedence: 3,
  build: (left: RawValue, right: RawValue): RawObject => ({ op, left, right }),
});

/**
 * The reference's precedence levels, lowest first: `|| && ??` (one level) < comparisons <
 * `+ -` (and unary minus) < `* / %` < `!` < indexing. All binary operators are left-associative.
 */
const BINARY: Partial<Record<TokenKind, BinaryOperator>> = {
  '||': { precedence: 2, build: (a, b) => ({ op: 'or', values: [a, b] }) },
  '&&': { precedence: 2, build: (a, b) => ({ op: 'and', values: [a, b] }) },
  '??': { precedence: 2, build: (a, b) => ({ op: 'coalesce', values: [a, b] }) },
  '==': { precedence: 3, build: (left, right) => ({ op: 'equals', left, right }) },
  '!=': { precedence: 3, build: (left, right) => ({ op: 'not', value: { op: 'equals', left, right } }) },
  '<': comparison('<'),
  '>': comparison('>'),
  '<=': comparison('<='),
  '>=': comparison('>='),
  '+': { precedence: 4, build: (a, b) => ({ op: 'sum', values: [a, b] }) },
  '-': { precedence: 4, build: (a, b) => ({ op: 'sum', values: [a, { op: 'negative', value: b }] }) },
  '*': { precedence: 5, build: (a, b) => ({ op: 'product', values: [a, b] }) },
  '/': { precedence: 5, build: (left, right) => ({ op: '/', left, right }) },
  '%': { precedence: 5, build: (left, right) => ({ op: '%', left, right }) },
};

/** Unary operators take as operand everything that binds tighter than their own level. */
const UNARY_MINUS_OPERAND = 5;
const NOT_OPERAND = 7;

const EXPRESSION_START = new Set<TokenKind>([
  'identifier', 'number', 'string', 'true', 'false', 'null', '[', '(', '{', '@', '-', '!',
]);

const AN_EXPRESSION = 'an expression';
const AN_OPERATOR = 'an operator';
const STATEMENT_START = ['identifier', "'if'", "'switch'", "'return'"];

/**
 * Recursive-descent parser of the PlanOut language accepting exactly the programs of the
 * reference's LALR grammar, and building the same objects in the same key order.
 */
export class Parser {
  private readonly lexer: Lexer;
  private readonly lookahead: Token[] = [];
  private previous: Token | undefined;
  private depth = 0;

  constructor(source: string) {
    this.lexer = new Lexer(source);
  }

  /** program → statement* end-of-input, as `{"op": "seq", "seq": [...]}`. */
  program(): RawObject {
    const seq = this.statementsUntil('end of input');
    return { op: 'seq', seq };
  }

  private statementsUntil(end: '}' | 'end of input'): RawValue[] {
    const statements: RawValue[] = [];
    while (this.peek().kind !== end) statements.push(this.statement(end));
    return statements;
  }

  /** `x = e;`, `x <- e;`, or `if`/`switch`/`return` optionally followed by one `;`. */
  private statement(end: '}' | 'end of input'): RawValue {
    const token = this.peek();
    if (token.kind === 'identifier') {
      this.take();
      const arrow = this.peek();
      if (arrow.kind !== '=' && arrow.kind !== '<-') this.fail(arrow, ["'='", "'<-'"]);
      this.take();
      const value = this.expression();
      this.expect(';', [AN_OPERATOR]);
      return { op: 'set', var: token.text, value };
    }
    if (token.kind === 'if' || token.kind === 'switch' || token.kind === 'return') {
      const result = this.control();
      if (this.peek().kind === ';') this.take();
      return result;
    }
    return this.fail(token, [...STATEMENT_START, end === '}' ? "'}'" : 'end of input']);
  }

  /** The expressions that can be statements and switch results. */
  private control(): RawObject {
    const token = this.peek();
    let result: RawObject;
    this.enter();
    switch (token.kind) {
      case 'if':
        result = this.ifExpression();
        break;
      case 'switch':
        result = this.switchExpression();
        break;
      case 'return':
        this.take();
        result = { op: 'return', value: this.expression() };
        break;
      default:
        return this.fail(token, ["'if'", "'switch'", "'return'"]);
    }
    this.depth--;
    return result;
  }

  /** `if (c) e [else if (c2) e2]* [else e3]`: else-if chains flatten into one `cond` list. */
  private ifExpression(): RawObject {
    const branches: RawValue[] = [];
    for (;;) {
      this.take();
      this.expect('(');
      const condition = this.expression();
      this.expect(')', [AN_OPERATOR]);
      branches.push({ if: condition, then: this.expression() });
      if (this.peek().kind !== 'else') break;
      this.take();
      if (this.peek().kind !== 'if') {
        branches.push({ if: true, then: this.expression() });
        break;
      }
    }
    return { op: 'cond', cond: branches };
  }

  /** `switch { c => result; ... }`; the reference spells the key `condidion`. */
  private switchExpression(): RawObject {
    this.take();
    this.expect('{');
    const cases: RawValue[] = [];
    while (this.peek().kind !== '}') {
      if (!EXPRESSION_START.has(this.peek().kind)) this.fail(this.peek(), ["'}'", AN_EXPRESSION]);
      const condition = this.expression();
      this.expect('=>', [AN_OPERATOR]);
      const result = this.control();
      this.expect(';');
      cases.push({ op: 'case', condidion: condition, result });
    }
    this.take();
    return { op: 'switch', cases };
  }

  /** A value expression whose binary operators all bind at least as tightly as `minPrecedence`. */
  private expression(minPrecedence = 0): RawValue {
    this.enter();
    let left = this.unary();
    // A chain `a + b + c` nests to the left: each operator is one more level.
    for (let chain = 1; ; chain++) {
      const operator = BINARY[this.peek().kind];
      if (operator === undefined || operator.precedence < minPrecedence) break;
      if (this.depth + chain > MAX_NESTING) this.tooDeep();
      this.take();
      left = operator.build(left, this.expression(operator.precedence + 1));
    }
    this.depth--;
    return left;
  }

  /** `-e` and `!e` are never folded, not even on literals. */
  private unary(): RawValue {
    const token = this.peek();
    if (token.kind === '-') {
      this.take();
      return { op: 'negative', value: this.expression(UNARY_MINUS_OPERAND) };
    }
    if (token.kind === '!') {
      this.take();
      return { op: 'not', value: this.expression(NOT_OPERAND) };
    }
    let value = this.primary();
    for (let chain = 1; this.peek().kind === '['; chain++) {
      if (this.depth + chain > MAX_NESTING) this.tooDeep();
      this.take();
      const index = this.expression();
      this.expect(']', [AN_OPERATOR]);
      value = { op: 'index', base: value, index };
    }
    return value;
  }

  private primary(): RawValue {
    const token = this.peek();
    switch (token.kind) {
      case 'identifier':
        this.take();
        return this.peek().kind === '(' ? this.call(token.text) : { op: 'get', var: token.text };
      case 'number':
      case 'string':
        this.take();
        return token.value!;
      case 'true':
        this.take();
        return true;
      case 'false':
        this.take();
        return false;
      case 'null':
        this.take();
        return null;
      case '[': {
        const values: RawValue[] = [];
        this.separated(']', () => values.push(this.expression()));
        return { op: 'array', values };
      }
      case '{': {
        this.take();
        const seq = this.statementsUntil('}');
        this.take();
        return { op: 'seq', seq };
      }
      case '(': {
        this.take();
        const inner = this.expression();
        this.expect(')', [AN_OPERATOR]);
        return inner;
      }
      case '@':
        this.take();
        return { op: 'literal', value: this.json() };
      default:
        return this.fail(token, [AN_EXPRESSION]);
    }
  }

  /**
   * The items of `[a, b]` and of the JSON forms, up to `close`. The reference's list rules
   * start from an empty list, so one leading comma is accepted (`[, a]`), a trailing one is not.
   */
  private separated(close: ']' | '}', item: () => void): void {
    this.take();
    if (this.peek().kind !== close) {
      if (this.peek().kind !== ',') item();
      while (this.peek().kind === ',') {
        this.take();
        item();
      }
    }
    this.expect(close, ["','"]);
  }

  /**
   * `f(k=v, ...)` → `{k: v, ..., op: f}`; `f(a)` → `{value: a, op: f}`; `f(a, b)` →
   * `{values: [a, b], op: f}`. A repeated name keeps its first position and its last value,
   * and an argument named `op` is overwritten in place, as on a JavaScript object.
   */
  private call(name: string): RawObject {
    this.take();
    let args: RawObject = {};
    const first = this.peek();
    if (first.kind === ')') {
      // no arguments
    } else if (first.kind === 'identifier' && this.peek(1).kind === '=') {
      for (;;) {
        const key = this.expect('identifier');
        this.expect('=');
        setProperty(args, key.text, this.expression());
        if (this.peek().kind !== ',') break;
        this.take();
      }
    } else {
      const values = [this.expression()];
      while (this.peek().kind === ',') {
        this.take();
        values.push(this.expression());
      }
      args = values.length > 1 ? { values } : { value: values[0] };
    }
    this.expect(')', ["','", AN_OPERATOR]);
    args.op = name;
    return args;
  }

  /** The value after `@`: JSON with the PlanOut lexer's strings and numbers. */
  private json(): RawValue {
    this.enter();
    const token = this.peek();
    let value: RawValue;
    switch (token.kind) {
      case 'number':
      case 'string':
        this.take();
        value = token.value!;
        break;
      case 'true':
      case 'false':
      case 'null':
        this.take();
        value = token.kind === 'true' ? true : token.kind === 'false' ? false : null;
        break;
      case '-': {
        // Applied by JavaScript, so a string goes through Number() first: -"5" is -5.
        this.take();
        const operand = this.peek();
        if (operand.kind !== 'number' && operand.kind !== 'string') this.fail(operand, ['a number', 'a string']);
        this.take();
        value = -Number(operand.value);
        break;
      }
      case '[': {
        const items: RawValue[] = [];
        this.separated(']', () => items.push(this.json()));
        value = items;
        break;
      }
      case '{': {
        const object: RawObject = {};
        this.separated('}', () => {
          const key = this.json();
          this.expect(':');
          // Keys are converted with JavaScript String(): 1 → "1", [1, 2] → "1,2".
          setProperty(object, String(key), this.json());
        });
        value = object;
        break;
      }
      case 'identifier':
        // The reference hands the identifier to JSON.parse, which rejects every one of them.
        return this.fail(token, ['a JSON value'], `${describe(token)} is not a JSON value (quote it: "${token.text}")`);
      default:
        return this.fail(token, ['a JSON value']);
    }
    this.depth--;
    return value;
  }

  private enter(): void {
    if (++this.depth > MAX_NESTING) this.tooDeep();
  }

  /** Deeper scripts could not run anyway (the interpreter, like the reference, stops at 1000 levels). */
  private tooDeep(): never {
    return this.fail(this.peek(), [], `expressions nest deeper than ${MAX_NESTING} levels`);
  }

  private peek(offset = 0): Token {
    while (this.lookahead.length <= offset) this.lookahead.push(this.lexer.next());
    return this.lookahead[offset];
  }

  private take(): Token {
    const token = this.peek();
    this.lookahead.shift();
    this.previous = token;
    return token;
  }

  private expect(kind: TokenKind, alsoExpected: string[] = []): Token {
    const token = this.peek();
    if (token.kind !== kind) this.fail(token, [quote(kind), ...alsoExpected]);
    return this.take();
  }

  /**
   * Throws a located error. A token missing at the end of a line (typically `;`) is reported
   * where it is missing, not at the start of the next line.
   */
  private fail(token: Token, expected: string[], problem?: string): never {
    const found = describe(token);
    const previous = this.previous;
    const atEndOfPreviousLine = problem === undefined && previous !== undefined && token.line > previous.endLine;
    const line = atEndOfPreviousLine ? previous.endLine : token.line;
    const column = atEndOfPreviousLine ? previous.endColumn : token.column;
    throw new PlanoutSyntaxError(problem ?? `expected ${oneOf(expected)} but found ${found}`, {
      line,
      column,
      expected,
      found,
    });
  }
}

/**
 * Sets a key the way the reference's `obj[key] = value` does. On a JavaScript object a key
 * named `__proto__` sets the prototype and never reaches the JSON output, so it is dropped.
 */
function setProperty(target: RawObject, key: string, value: RawValue): void {
  if (key !== '__proto__') target[key] = value;
}

function quote(kind: TokenKind): string {
  return kind === 'identifier' || kind === 'end of input' ? kind : `'${kind}'`;
}

function describe(token: Token): string {
  switch (token.kind) {
    case 'identifier':
      return `identifier "${token.text}"`;
    case 'number':
      return `number ${token.text}`;
    case 'string':
      return `string ${token.text.length > 24 ? token.text.slice(0, 21) + '...' : token.text}`;
    case 'end of input':
      return 'end of input';
    default:
      return `'${token.text}'`;
  }
}

function oneOf(expected: string[]): string {
  if (expected.length <= 1) return expected[0] ?? 'something else';
  return `${expected.slice(0, -1).join(', ')} or ${expected[expected.length - 1]}`;
}
