/**
 * @fileoverview On-demand lexer for MLIR text. The parser pulls tokens one at a time; type
 * parsing can rewind to a token start and scan shape prefixes (`2x0x3x`) at the character
 * level, since `0x3` would otherwise lex as a hex number.
 */
import { error } from '../diag/diagnostics.js';
import type { Loc, SourceFile } from '../diag/source.js';

export type TokenKind =
  | 'value' // %name or %name#3
  | 'symbol' // @name or @"quoted name"
  | 'block' // ^bb0
  | 'hashId' // #stablehlo.gather, #loc3
  | 'bangId' // !stablehlo.token, !quant.uniform
  | 'ident'
  | 'int'
  | 'float'
  | 'string'
  | 'punct'
  | 'eof';

export interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  /** Offset of the token's first character. */
  readonly pos: number;
  /** Offset just past the token. */
  readonly end: number;
}

const PUNCT2 = ['->', '::'];
const PUNCT1 = '()[]{}<>,:=?*+|';

export class Lexer {
  private pos = 0;
  private peeked: Token | undefined;

  constructor(readonly source: SourceFile) {}

  get text(): string {
    return this.source.text;
  }

  loc(pos: number): Loc {
    return this.source.locAt(pos);
  }

  peek(): Token {
    if (!this.peeked) this.peeked = this.lex();
    return this.peeked;
  }

  next(): Token {
    const t = this.peek();
    this.peeked = undefined;
    return t;
  }

  /** Offset where the next token starts (after whitespace and comments). */
  nextPos(): number {
    return this.peek().pos;
  }

  /** Re-positions the raw cursor (dropping any peeked token). */
  rewind(pos: number): void {
    this.peeked = undefined;
    this.pos = pos;
  }

  /**
   * Scans a shape prefix like `2x?x0x` at the next token position and returns the dims
   * (-1 for `?`); leaves the cursor after the last `x`.
   */
  scanShapePrefix(): number[] {
    const start = this.nextPos();
    this.rewind(start);
    const m = /^(?:(?:\d+|\?)x)*/.exec(this.text.slice(start, start + 4096));
    const prefix = m ? m[0] : '';
    this.pos = start + prefix.length;
    return prefix
      .split('x')
      .filter((s) => s.length > 0)
      .map((s) => (s === '?' ? -1 : Number(s)));
  }

  private skipTrivia(): void {
    const s = this.text;
    for (;;) {
      const c = s.charCodeAt(this.pos);
      if (c === 32 || c === 9 || c === 10 || c === 13) this.pos++;
      else if (c === 47 && s.charCodeAt(this.pos + 1) === 47) {
        while (this.pos < s.length && s.charCodeAt(this.pos) !== 10) this.pos++;
      } else return;
    }
  }

  private lex(): Token {
    this.skipTrivia();
    const s = this.text;
    const start = this.pos;
    if (start >= s.length) return { kind: 'eof', text: '', pos: start, end: start };
    const c = s[start]!;
    const tok = (kind: TokenKind, end: number): Token => {
      this.pos = end;
      return { kind, text: s.slice(start, end), pos: start, end };
    };
    const identEnd = (from: number): number => {
      let i = from;
      while (i < s.length && /[A-Za-z0-9_$.\-]/.test(s[i]!)) {
        // A '-' only continues an identifier when it is not the start of '->'.
        if (s[i] === '-' && s[i + 1] === '>') break;
        i++;
      }
      return i;
    };
    if (c === '"') {
      // By indexOf, not character by character: a weight's hex string can be megabytes long. A
      // newline before the closing quote, escaped or not, leaves the literal unterminated.
      let i = start + 1;
      for (;;) {
        const quote = s.indexOf('"', i);
        const body = s.slice(i, quote < 0 ? s.length : quote);
        const [newline, escape] = [body.indexOf('\n'), body.indexOf('\\')];
        const escaped = escape < 0 ? undefined : s.charCodeAt(i + escape + 1);
        if (quote < 0 || (newline >= 0 && (escape < 0 || newline < escape)) || escaped === 10)
          throw error('E0102', { what: 'string literal' }, this.loc(start));
        if (escape < 0) {
          i = quote;
          break;
        }
        i += escape + 2;
      }
      return tok('string', i + 1);
    }
    if (c === '%' || c === '@' || c === '^' || c === '#' || c === '!') {
      const kind: TokenKind =
        c === '%' ? 'value' : c === '@' ? 'symbol' : c === '^' ? 'block' : c === '#' ? 'hashId' : 'bangId';
      if (s[start + 1] === '"') {
        let i = start + 2;
        while (i < s.length && s[i] !== '"') i += s[i] === '\\' ? 2 : 1;
        return tok(kind, i + 1);
      }
      let i = start + 1;
      while (i < s.length && /[A-Za-z0-9_$.\-]/.test(s[i]!)) {
        if (s[i] === '-' && s[i + 1] === '>') break;
        i++;
      }
      if (kind === 'value' && s[i] === '#' && /\d/.test(s[i + 1] ?? '')) {
        i++;
        while (/\d/.test(s[i] ?? '')) i++;
      }
      if (i === start + 1) throw error('E0100', { ch: `'${c}'` }, this.loc(start));
      return tok(kind, i);
    }
    if (/[A-Za-z_]/.test(c)) return tok('ident', identEnd(start + 1));
    if (/[0-9]/.test(c) || ((c === '-' || c === '+') && /[0-9]/.test(s[start + 1] ?? ''))) {
      const hex = /^[-+]?0x[0-9a-fA-F]+/.exec(s.slice(start, start + 200));
      if (hex) return tok('int', start + hex[0].length);
      const m = /^[-+]?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?/.exec(s.slice(start, start + 200))!;
      return tok(m[1] !== undefined || m[2] !== undefined ? 'float' : 'int', start + m[0].length);
    }
    for (const p of PUNCT2) if (s.startsWith(p, start)) return tok('punct', start + p.length);
    if (PUNCT1.includes(c)) return tok('punct', start + 1);
    if (c === '-') return tok('punct', start + 1);
    throw error('E0100', { ch: JSON.stringify(c) }, this.loc(start));
  }
}

/** Decodes an MLIR string literal body (handles \\, \", \n, \t and \XX hex escapes). */
export function unquote(text: string): string {
  const body = text.slice(text.indexOf('"') + 1, -1);
  if (!body.includes('\\')) return body; // a hex weight of megabytes has no escapes
  return body.replace(/\\(["\\nt]|[0-9a-fA-F]{2})/g, (_, e: string) =>
    e === 'n' ? '\n' : e === 't' ? '\t' : e.length === 2 ? String.fromCharCode(parseInt(e, 16)) : e,
  );
}
