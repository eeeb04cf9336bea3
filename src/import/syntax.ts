/**
 * @fileoverview What the op syntaxes (pretty.ts, sharding.ts) see of the parser: token helpers,
 * SSA scopes, and the grammar's entry points for types, attributes and regions, which parser.ts
 * implements. Kept apart so those modules and parser.ts do not import each other.
 */
import { error } from '../diag/diagnostics.js';
import type { Loc, SourceFile } from '../diag/source.js';
import type { Attr } from '../ir/attrs.js';
import type { Region, Successor, Value } from '../ir/core.js';
import type { Type } from '../ir/types.js';
import { Lexer, unquote, type Token } from './lexer.js';

/** Maps names of other dialects/spellings onto the op names the op table uses. */
const OP_ALIASES: Readonly<Record<string, string>> = {
  return: 'func.return',
  call: 'func.call',
  'arith.constant': 'stablehlo.constant',
  // IREE's test inputs: a constant its compiler must not fold (folding it changes nothing here).
  'util.unfoldable_constant': 'stablehlo.constant',
  'sdy.return': 'stablehlo.return',
};

export function canonicalOpName(name: string): string {
  const alias = OP_ALIASES[name];
  if (alias) return alias;
  if (name.startsWith('mhlo.')) return `stablehlo.${name.slice(5)}`;
  return name;
}

/** Result of parsing an op's body (everything after `=`): the parts the IR op needs. */
export interface ParsedOpParts {
  operands: Value[];
  attrs: Record<string, Attr>;
  regions: Region[];
  successors: Successor[];
  /** Result types; may be undefined when the op's syntax derives them (resolved by the caller). */
  resultTypes: Type[];
}

class Scope {
  private readonly names = new Map<string, Value>();
  constructor(readonly parent?: Scope) {}
  define(name: string, v: Value): boolean {
    if (this.names.has(name)) return false;
    this.names.set(name, v);
    return true;
  }
  lookup(name: string): Value | undefined {
    return this.names.get(name) ?? this.parent?.lookup(name);
  }
}

export abstract class TokenParser {
  readonly lex: Lexer;
  protected scope = new Scope();

  constructor(readonly source: SourceFile) {
    this.lex = new Lexer(source);
  }

  /** Nesting of the recursive constructs (types, attributes, dense lists, regions): bounded, so
   * a pathological input ends in a located error instead of overflowing the stack. */
  private depth = 0;
  static readonly MAX_NESTING = 256;

  protected nested<T>(what: string, f: () => T): T {
    if (this.depth >= TokenParser.MAX_NESTING)
      throw error('E0108', { what, limit: TokenParser.MAX_NESTING }, this.loc());
    this.depth++;
    try {
      return f();
    } finally {
      this.depth--;
    }
  }

  loc(tok?: Token): Loc {
    return this.lex.loc((tok ?? this.lex.peek()).pos);
  }

  peek(): Token {
    return this.lex.peek();
  }

  isPunct(p: string): boolean {
    const t = this.lex.peek();
    return t.kind === 'punct' && t.text === p;
  }

  isIdent(word?: string): boolean {
    const t = this.lex.peek();
    return t.kind === 'ident' && (word === undefined || t.text === word);
  }

  eatPunct(p: string): boolean {
    if (!this.isPunct(p)) return false;
    this.lex.next();
    return true;
  }

  eatIdent(word: string): boolean {
    if (!this.isIdent(word)) return false;
    this.lex.next();
    return true;
  }

  fail(expected: string, tok: Token = this.lex.peek()): never {
    const what =
      tok.kind === 'eof' ? 'end of file' : `'${tok.text.length > 40 ? tok.text.slice(0, 40) + '...' : tok.text}'`;
    throw error('E0101', { tok: what, expected }, this.lex.loc(tok.pos));
  }

  expectPunct(p: string): Token {
    if (!this.isPunct(p)) this.fail(`'${p}'`);
    return this.lex.next();
  }

  expectIdent(word?: string): Token {
    if (!this.isIdent(word)) this.fail(word ? `'${word}'` : 'an identifier');
    return this.lex.next();
  }

  expectKind(kind: Token['kind'], what: string): Token {
    if (this.lex.peek().kind !== kind) this.fail(what);
    return this.lex.next();
  }

  expectInt(): number {
    const t = this.lex.peek();
    if (t.kind !== 'int') this.fail('an integer');
    this.lex.next();
    return Number(BigInt(t.text));
  }

  pushScope(): void {
    this.scope = new Scope(this.scope);
  }

  popScope(): void {
    this.scope = this.scope.parent ?? new Scope();
  }

  define(name: string, v: Value, tok: Token): void {
    if (!this.scope.define(name, v)) throw error('E0106', { name }, this.lex.loc(tok.pos));
  }

  /** Parses a `%name` use and resolves it. */
  parseOperand(): Value {
    const t = this.expectKind('value', 'an SSA value (%name)');
    const v = this.scope.lookup(t.text) ?? (t.text.endsWith('#0') ? this.scope.lookup(t.text.slice(0, -2)) : undefined);
    if (!v) throw error('E0105', { name: t.text }, this.lex.loc(t.pos));
    return v;
  }

  /** `%a, %b, ...` (possibly empty). */
  parseOperandList(): Value[] {
    const out: Value[] = [];
    if (this.peek().kind !== 'value') return out;
    out.push(this.parseOperand());
    while (this.isPunct(',')) {
      this.lex.next();
      out.push(this.parseOperand());
    }
    return out;
  }

  // ---- the grammar (parser.ts) ---------------------------------------------------------------

  abstract parseType(): Type;
  /** `(T, U) -> V` or `T` (the types after `:`). */
  abstract parseTypeSignature(): { inputs?: Type[]; outputs: Type[] };
  abstract parseAttr(typed?: boolean): Attr;
  abstract parseDict(): Record<string, Attr>;
  abstract parseConvDims(): Attr;
  abstract parseLoc(): string | undefined;
  abstract parseRegion(entryArgs?: { name: string; type: Type; tok: Token }[]): Region;
  abstract parseSuccessor(): Successor;
}

export function symbolName(text: string): string {
  const body = text.slice(1);
  return body.startsWith('"') ? unquote(body) : body;
}
