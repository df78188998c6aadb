import { PlanoutSyntaxError } from '../errors.js';

/** Token kinds: punctuation is its own text; the rest are named. */
export type TokenKind =
  | 'identifier'
  | 'number'
  | 'string'
  | 'true'
  | 'false'
  | 'null'
  | 'switch'
  | 'if'
  | 'else'
  | 'return'
  | '@'
  | '<-'
  | '||'
  | '&&'
  | '??'
  | '=='
  | '>='
  | '<='
  | '!='
  | '=>'
  | ';'
  | '='
  | ':'
  | '['
  | ']'
  | '('
  | ')'
  | ','
  | '{'
  | '}'
  | '+'
  | '%'
  | '*'
  | '-'
  | '/'
  | '>'
  | '<'
  | '!'
  | 'end of input';

export interface Token {
  kind: TokenKind;
  /** The source text of the token. */
  text: string;
  /** `number`: JavaScript `Number()` of the text; `string`: the text between the quotes, verbatim. */
  value: number | string | undefined;
  /** 1-based position of the first character. */
  line: number;
  column: number;
  /** 1-based position just after the last character. */
  endLine: number;
  endColumn: number;
}

/**
 * Thrown (and caught by the compiler) when a comment ends with CRLF: the reference's lexer
 * rejects that, and the compiler fixes it on purpose by compiling the LF version.
 */
export class CrlfCommentFound extends Error {}

/**
 * The reference lexer's rules, tried in order (first match wins, not longest): keywords
 * only as whole words, numbers as `[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?`, strings without
 * escape decoding, and `.` in comments not matching line terminators.
 */
const COMMENT = /#[^\n\r\u2028\u2029]*(?:\n|$)/y;
const WHITESPACE = /\s+/y;
const KEYWORD = /(true|false|null|switch|if|else|return)\b/y;
const IDENTIFIER = /[a-zA-Z_][a-zA-Z0-9_]*/y;
const NUMBER = /[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?/y;
const DOUBLE_QUOTED = /"(?:\\.|[^\\"])*"/y;
const SINGLE_QUOTED = /'[^']*'/y;
const OPERATOR = /<-|\|\||&&|\?\?|==|>=|<=|!=|=>|[;=:[\]{}(),+%*\-/><!@]/y;

export class Lexer {
  private pos = 0;
  private line = 1;
  private lineStart = 0;

  constructor(private readonly source: string) {}

  /** The next token; `end of input` at the end (and again on every later call). */
  next(): Token {
    this.skipLayout();
    const { source, pos } = this;
    const line = this.line;
    const column = pos - this.lineStart + 1;
    if (pos >= source.length) {
      return { kind: 'end of input', text: '', value: undefined, line, column, endLine: line, endColumn: column };
    }

    const token = (kind: TokenKind, text: string, value?: number | string): Token => {
      this.advance(text.length);
      return { kind, text, value, line, column, endLine: this.line, endColumn: this.pos - this.lineStart + 1 };
    };
    let m: RegExpExecArray | null;
    if ((m = match(KEYWORD, source, pos))) return token(m[0] as TokenKind, m[0]);
    if (source[pos] === '@') return token('@', '@');
    if ((m = match(IDENTIFIER, source, pos))) return token('identifier', m[0]);
    if ((m = match(NUMBER, source, pos))) return token('number', m[0], Number(m[0]));
    if ((m = match(DOUBLE_QUOTED, source, pos)) || (m = match(SINGLE_QUOTED, source, pos))) {
      return token('string', m[0], m[0].slice(1, -1));
    }
    if ((m = match(OPERATOR, source, pos))) return token(m[0] as TokenKind, m[0]);

    const found = describeText(source, pos);
    throw new PlanoutSyntaxError(lexicalProblem(source, pos, found), { line, column, expected: ['a token'], found });
  }

  /** Skips whitespace and comments, keeping line numbers (CRLF, CR and LF end a line). */
  private skipLayout(): void {
    for (;;) {
      const { source, pos } = this;
      let m = match(WHITESPACE, source, pos);
      if (m === null && source[pos] === '#') {
        m = match(COMMENT, source, pos);
        if (m === null && source.startsWith('\r\n', endOfLine(source, pos))) throw new CrlfCommentFound();
      }
      if (m === null) return;
      this.advance(m[0].length);
    }
  }

  private advance(length: number): void {
    const end = this.pos + length;
    for (let i = this.pos; i < end; i++) {
      const c = this.source[i];
      if (c === '\n' || (c === '\r' && this.source[i + 1] !== '\n')) {
        this.line++;
        this.lineStart = i + 1;
      }
    }
    this.pos = end;
  }
}

/** Index of the first line terminator at or after `pos` (or the end of the source). */
function endOfLine(source: string, pos: number): number {
  let end = pos;
  while (end < source.length && !'\n\r\u2028\u2029'.includes(source[end])) end++;
  return end;
}

function match(pattern: RegExp, source: string, pos: number): RegExpExecArray | null {
  pattern.lastIndex = pos;
  return pattern.exec(source);
}

/** Why no token starts at `pos`, in the terms a user fixes it with. */
function lexicalProblem(source: string, pos: number, found: string): string {
  const c = source[pos];
  if (c === '"' || c === "'") return `unterminated string ${found}`;
  if (c === '.' && /[0-9]/.test(source[pos - 1] ?? '')) return "a number cannot end with '.' (write 2 or 2.0)";
  if (c === '#') return 'a comment must end at a line feed (it contains a lone carriage return or line separator)';
  return `unrecognized text ${found}`;
}

function describeText(source: string, pos: number): string {
  const text = source.slice(pos, pos + 12).split(/[\r\n]/)[0];
  return JSON.stringify(text.length > 0 ? text : source[pos]);
}
