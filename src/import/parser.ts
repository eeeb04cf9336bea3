/**
 * @fileoverview Recursive-descent parser for MLIR text: modules, func.func (pretty and generic),
 * ops in generic form and in the StableHLO/CHLO pretty forms (see pretty.ts), regions, blocks,
 * types and attributes. Builds IR directly, resolving SSA names through nested scopes.
 * Every error is a CompileError carrying `file:line:col`.
 */
import { error } from '../diag/diagnostics.js';
import type { Loc, SourceFile } from '../diag/source.js';
import type { Attr } from '../ir/attrs.js';
import {
  newValue,
  type Block,
  type Func,
  type Global,
  type Module,
  type Op,
  type Region,
  type Successor,
  type Value,
} from '../ir/core.js';
import type { Mesh } from '../ir/sharding.js';
import { typeToString, type Type } from '../ir/types.js';
import { unquote, type Token } from './lexer.js';
import { canonicalOpName, symbolName, type ParsedOpParts } from './syntax.js';
import { AttrParser } from './attr-parser.js';
import { parsePrettyOp } from './pretty.js';
import { parseSdyMesh } from './sharding.js';

export class Parser extends AttrParser {
  constructor(source: SourceFile) {
    super(source);
  }

  // ---- ops, blocks, regions ------------------------------------------------------------------

  /** Parses `{ ^bb0(%a: T): ops ... }`. `entryArgs` are pre-bound (pretty while/reduce bodies). */
  parseRegion(entryArgs: { name: string; type: Type; tok: Token }[] = []): Region {
    return this.nested('regions', () => this.parseRegionBody(entryArgs));
  }

  private parseRegionBody(entryArgs: { name: string; type: Type; tok: Token }[]): Region {
    this.expectPunct('{');
    this.pushScope();
    const blocks: { label: string; args: Value[]; ops: Op[] }[] = [];
    let current: { label: string; args: Value[]; ops: Op[] } = { label: '^entry', args: [], ops: [] };
    for (const a of entryArgs) {
      const v = newValue(a.type, a.name);
      this.define(a.name, v, a.tok);
      current.args.push(v);
    }
    let started = false;
    const pendingSuccessors: { op: Successor[]; tok: Token }[] = [];
    while (!this.isPunct('}')) {
      const t = this.peek();
      if (t.kind === 'eof') this.fail("'}'");
      if (t.kind === 'block') {
        this.lex.next();
        if (started || current.ops.length > 0) blocks.push(current);
        current = { label: t.text, args: [], ops: [] };
        if (this.eatPunct('(')) {
          while (!this.isPunct(')')) {
            const at = this.expectKind('value', 'a block argument');
            this.expectPunct(':');
            const ty = this.parseType();
            if (this.isIdent('loc')) this.parseLoc();
            const v = newValue(ty, at.text);
            this.define(at.text, v, at);
            current.args.push(v);
            if (!this.eatPunct(',')) break;
          }
          this.expectPunct(')');
        }
        this.expectPunct(':');
        started = true;
        continue;
      }
      started = true;
      const op = this.parseOp();
      if (op.successors.length) pendingSuccessors.push({ op: op.successors as Successor[], tok: t });
      current.ops.push(op);
    }
    this.expectPunct('}');
    blocks.push(current);
    this.popScope();
    const labels = new Set(blocks.map((b) => b.label));
    for (const p of pendingSuccessors)
      for (const s of p.op)
        if (!labels.has(s.label))
          throw error(
            'E0101',
            { tok: `'${s.label}'`, expected: 'a block label defined in this region' },
            this.loc(p.tok),
          );
    return { blocks: blocks as Block[] };
  }

  /** One op statement: `[%r, ... =] op-body [loc(...)]`. */
  parseOp(): Op {
    const resultToks: { tok: Token; count: number }[] = [];
    if (this.peek().kind === 'value') {
      do {
        const tok = this.expectKind('value', 'a result name');
        let count = 1;
        if (this.eatPunct(':')) count = this.expectInt();
        resultToks.push({ tok, count });
      } while (this.eatPunct(','));
      this.expectPunct('=');
    }
    const nameTok = this.peek();
    const loc = this.loc(nameTok);
    let rawName: string;
    let parts: ParsedOpParts;
    const nResults = resultToks.reduce((n, r) => n + r.count, 0);
    const outerSignature = this.signatureInputs;
    this.signatureInputs = undefined;
    if (nameTok.kind === 'string') {
      this.lex.next();
      rawName = unquote(nameTok.text);
      parts = this.parseGenericBody(rawName, loc);
    } else if (nameTok.kind === 'ident') {
      this.lex.next();
      rawName = nameTok.text;
      parts = parsePrettyOp(this, canonicalOpName(rawName), nResults, nameTok);
    } else {
      return this.fail('an operation name');
    }
    const name = canonicalOpName(rawName);
    // The signature's operand types are the operands' own: a value of another type is an error
    // (it was silently used with its own type, which no later check saw).
    const declared = this.signatureInputs as Type[] | undefined; // set by the signature just parsed
    this.signatureInputs = outerSignature;
    if (declared && declared.length === parts.operands.length)
      parts.operands.forEach((v, i) => {
        if (typeToString(v.type) !== typeToString(declared[i]!))
          throw error(
            'E0204',
            {
              op: name,
              detail: `operand #${i} (${v.name}) has type ${typeToString(v.type)}, the signature says ${typeToString(declared[i]!)}`,
            },
            loc,
          );
      });
    let origin: string | undefined;
    if (this.isIdent('loc')) origin = this.parseLoc();
    if (parts.resultTypes.length !== nResults) {
      throw error(
        'E0204',
        {
          op: name,
          detail: `${nResults} result name(s) bound but the type signature gives ${parts.resultTypes.length} result type(s)`,
        },
        loc,
      );
    }
    const results: Value[] = [];
    let k = 0;
    for (const r of resultToks) {
      for (let i = 0; i < r.count; i++) {
        const ty = parts.resultTypes[k++]!;
        const vname = r.count === 1 ? r.tok.text : `${r.tok.text}#${i}`;
        const v = newValue(ty, vname);
        this.define(vname, v, r.tok);
        results.push(v);
      }
    }
    return {
      name,
      operands: parts.operands,
      results,
      attrs: parts.attrs,
      regions: parts.regions,
      successors: parts.successors,
      loc: origin ? { ...loc, origin } : loc,
    };
  }

  /** `(%a, %b) [succ]? <{props}>? ({regions})? {attrs}? : (T) -> (T)` */
  parseGenericBody(name: string, at?: Loc): ParsedOpParts {
    this.expectPunct('(');
    const operands = this.parseOperandList();
    this.expectPunct(')');
    const successors: Successor[] = [];
    if (this.eatPunct('[')) {
      do successors.push(this.parseSuccessor());
      while (this.eatPunct(','));
      this.expectPunct(']');
    }
    const attrs: Record<string, Attr> = {};
    if (this.isPunct('<')) {
      this.lex.next();
      Object.assign(attrs, this.parseDict());
      this.expectPunct('>');
    }
    const regions: Region[] = [];
    if (this.isPunct('(')) {
      this.lex.next();
      do regions.push(this.parseRegion());
      while (this.eatPunct(','));
      this.expectPunct(')');
    }
    if (this.isPunct('{')) Object.assign(attrs, this.parseDict());
    this.expectPunct(':');
    const sig = this.parseTypeSignature();
    if (!sig.inputs) this.fail(`a function type '(...) -> (...)' for generic op "${name}"`);
    if (sig.inputs.length !== operands.length)
      throw error('E0205', { op: name, expected: sig.inputs.length, got: operands.length }, at ?? this.loc());
    return { operands, attrs, regions, successors, resultTypes: sig.outputs };
  }

  /** `^bb1(%a, %b : T, T)` or `^bb1` */
  parseSuccessor(): Successor {
    const label = this.expectKind('block', 'a block label').text;
    const args: Value[] = [];
    if (this.eatPunct('(')) {
      args.push(...this.parseOperandList());
      if (this.eatPunct(':')) {
        this.parseType();
        while (this.eatPunct(',')) this.parseType();
      }
      this.expectPunct(')');
    }
    return { label, args };
  }

  // ---- functions and modules -----------------------------------------------------------------

  /** Pretty `func.func [vis] @name(args) [-> results] [attributes {..}] [{ body }]`. */
  parseFunc(): Func {
    const start = this.expectIdent('func.func');
    let visibility: 'public' | 'private' = 'public';
    if (this.isIdent('public') || this.isIdent('private') || this.isIdent('nested'))
      visibility = this.lex.next().text === 'private' ? 'private' : 'public';
    const nameTok = this.expectKind('symbol', 'a function name (@name)');
    this.expectPunct('(');
    const args: { name: string; type: Type; tok: Token }[] = [];
    const paramAttrs: Record<string, Attr>[] = [];
    while (!this.isPunct(')')) {
      const at = this.peek();
      if (at.kind === 'value') {
        this.lex.next();
        this.expectPunct(':');
        args.push({ name: at.text, type: this.parseType(), tok: at });
      } else {
        args.push({ name: `%arg${args.length}`, type: this.parseType(), tok: at });
      }
      paramAttrs.push(this.parseArgAttrs());
      if (!this.eatPunct(',')) break;
    }
    this.expectPunct(')');
    let resultTypes: Type[] = [];
    const resultAttrs: Record<string, Attr>[] = [];
    if (this.eatPunct('->')) resultTypes = this.parseResultTypes(resultAttrs);
    if (this.eatIdent('attributes')) this.parseDict();
    const loc = this.loc(start);
    this.pushScope();
    let body: Region | undefined;
    let params: Value[];
    if (this.isPunct('{')) {
      body = this.parseRegion(args);
      params = [...body.blocks[0]!.args];
    } else {
      params = args.map((a) => newValue(a.type, a.name));
    }
    this.popScope();
    if (this.isIdent('loc')) this.parseLoc();
    const f: Func = {
      name: symbolName(nameTok.text),
      visibility,
      params,
      resultTypes,
      paramAttrs,
      resultAttrs,
      loc,
      ...(body ? { body } : {}),
    };
    return f;
  }

  /** Generic `"func.func"() ({ ^bb0(...): ... }) {sym_name = "f", function_type = (T) -> T} : () -> ()`. */
  private funcFromGenericOp(op: Op): Func {
    const nameAttr = op.attrs['sym_name'];
    const ft = op.attrs['function_type'];
    if (!nameAttr || nameAttr.kind !== 'string') throw error('E0206', { op: 'func.func', name: 'sym_name' }, op.loc);
    if (!ft || ft.kind !== 'fnType') throw error('E0206', { op: 'func.func', name: 'function_type' }, op.loc);
    const vis = op.attrs['sym_visibility'];
    const body = op.regions[0];
    return {
      name: nameAttr.value,
      visibility: vis && vis.kind === 'string' && vis.value === 'private' ? 'private' : 'public',
      params: body?.blocks[0]?.args ?? [],
      resultTypes: ft.outputs,
      loc: op.loc,
      ...(body && body.blocks.length ? { body } : {}),
    };
  }

  /** Parses a whole file: a `module {...}`, a generic `"builtin.module"`, or bare top-level items. */
  parseModule(): Module {
    const funcs = new Map<string, Func>();
    const globals = new Map<string, Global>();
    let moduleName: string | undefined;
    let moduleAttrs: Record<string, Attr> = {};
    const meshes = new Map<string, Mesh>();
    const ignoredOps: { name: string; loc: Loc }[] = [];
    const addFunc = (f: Func, at: Token): void => {
      if (funcs.has(f.name))
        throw error('E0204', { op: 'func.func', detail: `redefinition of function @${f.name}` }, this.loc(at));
      funcs.set(f.name, f);
    };
    const parseItems = (until: 'eof' | '}'): void => {
      for (;;) {
        const t = this.peek();
        if (until === 'eof' && t.kind === 'eof') return;
        if (until === '}' && t.kind === 'punct' && t.text === '}') return;
        if (t.kind === 'eof') this.fail("'}' closing the module");
        if (t.kind === 'hashId') {
          // `#loc1 = loc(...)` location aliases, and attribute aliases.
          this.lex.next();
          this.expectPunct('=');
          if (this.isIdent('loc')) this.parseLoc();
          else this.attrAliases.set(t.text, this.parseAttr(true));
          continue;
        }
        if (t.kind === 'bangId') {
          this.lex.next();
          this.expectPunct('=');
          this.typeAliases.set(t.text, this.parseType());
          continue;
        }
        if (t.kind === 'ident' && t.text === 'sdy.mesh') {
          this.lex.next();
          const mesh = parseSdyMesh(this);
          meshes.set(mesh.name, mesh);
          if (this.isIdent('loc')) this.parseLoc();
          continue;
        }
        if (t.kind === 'ident' && t.text === 'module') {
          this.lex.next();
          if (this.peek().kind === 'symbol') moduleName = symbolName(this.lex.next().text);
          if (this.eatIdent('attributes')) moduleAttrs = this.parseDict();
          this.expectPunct('{');
          parseItems('}');
          this.expectPunct('}');
          if (this.isIdent('loc')) this.parseLoc();
          continue;
        }
        if (t.kind === 'ident' && t.text === 'func.func') {
          addFunc(this.parseFunc(), t);
          continue;
        }
        if (t.kind === 'ident' && t.text === 'util.global') {
          this.lex.next();
          while (this.isIdent()) this.lex.next(); // private, mutable
          const nameTok = this.expectKind('symbol', 'a global name');
          if (this.isPunct('{')) this.parseDict(); // {noinline}, {inlining_policy = ...}: hints for IREE
          let value: Attr = { kind: 'unit' };
          if (this.eatPunct('=')) value = this.parseAttr();
          this.expectPunct(':');
          const type = this.parseType();
          globals.set(symbolName(nameTok.text), {
            name: symbolName(nameTok.text),
            type,
            value,
            loc: this.loc(nameTok),
          });
          continue;
        }
        if (t.kind === 'string' && (t.text === '"builtin.module"' || t.text === '"func.func"')) {
          this.lex.next();
          if (t.text === '"builtin.module"') {
            this.expectPunct('(');
            this.expectPunct(')');
            this.expectPunct('(');
            this.expectPunct('{');
            if (this.peek().kind === 'block') {
              this.lex.next();
              this.expectPunct(':');
            }
            parseItems('}');
            this.expectPunct('}');
            this.expectPunct(')');
            if (this.isPunct('{')) moduleAttrs = this.parseDict();
            this.expectPunct(':');
            this.parseTypeSignature();
            continue;
          }
          const parts = this.parseGenericBody('func.func');
          const op: Op = {
            name: 'func.func',
            operands: [],
            results: [],
            attrs: parts.attrs,
            regions: parts.regions,
            successors: [],
            loc: this.loc(t),
          };
          if (this.isIdent('loc')) this.parseLoc();
          addFunc(this.funcFromGenericOp(op), t);
          continue;
        }
        if (t.kind === 'string') {
          // Any other module-level op in generic form (its syntax is self-describing): kept by name.
          const op = this.parseOp();
          ignoredOps.push({ name: op.name, loc: op.loc });
          continue;
        }
        this.fail("'func.func', 'module', 'util.global', 'sdy.mesh', an alias definition or a generic op at top level");
      }
    };
    parseItems('eof');
    return {
      ...(moduleName ? { name: moduleName } : {}),
      funcs,
      globals,
      attrs: moduleAttrs,
      ...(meshes.size ? { meshes } : {}),
      ...(ignoredOps.length ? { ignoredOps } : {}),
      source: this.source,
    };
  }
}

/** Parses MLIR text into a module (throws CompileError with file:line:col on bad input). */
export function parseModule(source: SourceFile): Module {
  return new Parser(source).parseModule();
}
