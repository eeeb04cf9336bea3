/**
 * @fileoverview The type and attribute grammar of MLIR text (builtin types, !quant.uniform,
 * dense literals, #stablehlo attributes, Shardy and GSPMD shardings, locations), as the base
 * of the op-level parser (parser.ts).
 */
import { error } from '../diag/diagnostics.js';
import type { Attr, DenseElem, DenseLiteral } from '../ir/attrs.js';
import {
  complexElem,
  elemFromName,
  intElem,
  type ElemType,
  type FloatElem,
  type IntElem,
  type QuantElem,
  type TensorType,
  type Type,
  typeToString,
} from '../ir/types.js';
import { unquote, type Token } from './lexer.js';
import { symbolName, TokenParser } from './syntax.js';
import { parseGspmdSharding, parseSdyShardingPerValue, parseSdyTensorSharding } from './sharding.js';

/** StableHLO attributes the compiler carries without interpreting (bounds of dynamic dimensions,
 * replica groups by mesh axes): kept as text. */
const OPAQUE_HLO_ATTRS = new Set([
  'stablehlo.bounds',
  'stablehlo.type_extensions',
  'stablehlo.replica_group_mesh_axes',
  'stablehlo.axis_ref',
]);

export abstract class AttrParser extends TokenParser {
  /** `!name = type` and `#name = attr` definitions (top level, before use). */
  protected readonly typeAliases = new Map<string, Type>();
  protected readonly attrAliases = new Map<string, Attr>();

  // ---- types ---------------------------------------------------------------------------------

  parseType(): Type {
    return this.nested('types', () => this.parseTypeBody());
  }

  private parseTypeBody(): Type {
    const t = this.peek();
    if (t.kind === 'ident' && t.text === 'tensor') {
      this.lex.next();
      this.expectPunct('<');
      if (this.isPunct('*')) this.fail('a ranked tensor shape (unranked tensors are not supported)');
      const shape = this.lex.scanShapePrefix();
      const elem = this.parseElemType();
      if (this.eatPunct(',')) this.parseAttr(); // encoding attribute (e.g. sparsity, bounds): ignored
      this.expectPunct('>');
      return { kind: 'tensor', shape, elem };
    }
    if (t.kind === 'ident' && t.text === 'tuple') {
      this.lex.next();
      this.expectPunct('<');
      const elems: Type[] = [];
      if (!this.isPunct('>')) {
        elems.push(this.parseType());
        while (this.eatPunct(',')) elems.push(this.parseType());
      }
      this.expectPunct('>');
      return { kind: 'tuple', elems };
    }
    if (t.kind === 'bangId') {
      this.lex.next();
      const alias = this.typeAliases.get(t.text);
      if (alias) return alias;
      if (t.text === '!stablehlo.token' || t.text === '!mhlo.token') return { kind: 'token' };
      // Foreign pointer-like type, e.g. !util.ptr<tensor<..>>: keep the pointee.
      if (this.eatPunct('<')) {
        const pointee = this.parseType();
        if (this.eatPunct('>')) return { kind: 'opaque', text: `${t.text}<${typeToString(pointee)}>`, pointee };
        // Several types (`!stablehlo.future<tensor<f32>, tensor<i32>>`): carried, not interpreted.
        const rest: Type[] = [pointee];
        while (this.eatPunct(',')) rest.push(this.parseType());
        this.expectPunct('>');
        return { kind: 'opaque', text: `${t.text}<${rest.map(typeToString).join(', ')}>` };
      }
      return { kind: 'opaque', text: t.text };
    }
    if (t.kind === 'ident' && t.text === 'memref') {
      // A buffer type (StableHLO's buffer ops): carried, not interpreted.
      this.lex.next();
      this.expectPunct('<');
      return { kind: 'opaque', text: `memref<${this.skipBalanced(t)}>` };
    }
    if (t.kind === 'ident') {
      const e = elemFromName(t.text);
      if (e) {
        this.lex.next();
        return { kind: 'tensor', shape: [], elem: e };
      }
    }
    return this.fail('a type');
  }

  parseElemType(): ElemType {
    const t = this.peek();
    if (t.kind === 'ident' && t.text === 'complex') {
      this.lex.next();
      this.expectPunct('<');
      const part = this.parseElemType();
      this.expectPunct('>');
      if (part.kind !== 'float' || (part.name !== 'f32' && part.name !== 'f64'))
        throw error('E0104', { name: `complex<${part.name}>` }, this.loc(t));
      return complexElem(part);
    }
    if (t.kind === 'ident') {
      const e = elemFromName(t.text);
      if (!e) throw error('E0104', { name: `'${t.text}'` }, this.loc(t));
      this.lex.next();
      return e;
    }
    if (t.kind === 'bangId' && t.text === '!quant.uniform') {
      this.lex.next();
      return this.parseQuantBody();
    }
    return this.fail('an element type (f32, i8, complex<f64>, !quant.uniform<...>, ...)');
  }

  /** `<i8<-127:127>:f32:1, {0.1:-30, 0.5}>` or `<i8:f32, 0.1:-30>`. */
  private parseQuantBody(): QuantElem {
    const start = this.peek();
    this.expectPunct('<');
    // The quant dialect spells unsigned storage u8 (as well as the builtin ui8).
    const t = this.peek();
    const unsigned = t.kind === 'ident' && /^u\d+$/.test(t.text) ? elemFromName(`ui${t.text.slice(1)}`) : undefined;
    if (unsigned) this.lex.next();
    const storage = unsigned ?? this.parseElemType();
    if (storage.kind !== 'int' && storage.kind !== 'bool') this.fail('an integer storage type');
    const st = storage.kind === 'bool' ? intElem(1, false) : storage;
    let storageMin = st.signed ? -(1n << BigInt(st.bits - 1)) : 0n;
    let storageMax = st.signed ? (1n << BigInt(st.bits - 1)) - 1n : (1n << BigInt(st.bits)) - 1n;
    if (this.eatPunct('<')) {
      storageMin = BigInt(this.expectInt());
      this.expectPunct(':');
      storageMax = BigInt(this.expectInt());
      this.expectPunct('>');
    }
    this.expectPunct(':');
    const expressed = this.parseElemType();
    if (expressed.kind !== 'float') this.fail('a float expressed type');
    let axis: number | undefined;
    if (this.eatPunct(':')) axis = this.expectInt();
    this.expectPunct(',');
    const scales: number[] = [];
    const zeroPoints: number[] = [];
    const one = (): void => {
      const s = this.peek();
      if (s.kind !== 'float' && s.kind !== 'int') this.fail('a quantization scale');
      this.lex.next();
      scales.push(Number(s.text));
      zeroPoints.push(this.eatPunct(':') ? this.expectInt() : 0);
    };
    if (this.eatPunct('{')) {
      one();
      while (this.eatPunct(',')) one();
      this.expectPunct('}');
    } else one();
    const end = this.expectPunct('>');
    const text = this.source.text.slice(start.pos, end.end).replace(/\s+/g, ' ');
    const q: QuantElem = {
      kind: 'quant',
      name: `!quant.uniform${text}`,
      storage: st as IntElem,
      expressed: expressed as FloatElem,
      scales,
      zeroPoints,
      storageMin,
      storageMax,
      ...(axis !== undefined ? { axis } : {}),
    };
    return q;
  }

  /** The operand types of the last `(inputs) -> outputs` signature read (the op parser checks
   * them against the operands' own types). */
  signatureInputs: Type[] | undefined;

  /** `(T, T) -> (T, T)`, `(T) -> T`, or a plain list of types `T, T`. */
  parseTypeSignature(): { inputs?: Type[]; outputs: Type[] } {
    const sig = this.parseTypeSignatureBody();
    this.signatureInputs = sig.inputs;
    return sig;
  }

  private parseTypeSignatureBody(): { inputs?: Type[]; outputs: Type[] } {
    if (this.isPunct('(')) {
      const inputs = this.parseParenTypes();
      if (this.eatPunct('->')) return { inputs, outputs: this.parseResultTypes() };
      // `(T, T)` without arrow: a parenthesized list of result types.
      return { outputs: inputs };
    }
    const list = [this.parseType()];
    while (this.isPunct(',')) {
      this.lex.next();
      list.push(this.parseType());
    }
    if (this.eatPunct('->')) return { inputs: list, outputs: this.parseResultTypes() };
    return { outputs: list };
  }

  /** `(T {attrs}?, ...)`; each type's attribute dict goes to `attrsOut` when given. */
  parseParenTypes(attrsOut?: Record<string, Attr>[]): Type[] {
    this.expectPunct('(');
    const out: Type[] = [];
    while (!this.isPunct(')')) {
      out.push(this.parseType());
      const attrs = this.parseArgAttrs();
      attrsOut?.push(attrs);
      if (!this.eatPunct(',')) break;
    }
    this.expectPunct(')');
    return out;
  }

  parseResultTypes(attrsOut?: Record<string, Attr>[]): Type[] {
    if (this.isPunct('(')) return this.parseParenTypes(attrsOut);
    return [this.parseType()];
  }

  /** The optional `{attrs}` and `loc(...)` after a parameter or result type. */
  protected parseArgAttrs(): Record<string, Attr> {
    const attrs = this.isPunct('{') ? this.parseDict() : {};
    if (this.isIdent('loc')) this.parseLoc();
    return attrs;
  }

  // ---- attributes ----------------------------------------------------------------------------

  /** `{a = 1 : i64, b, "c" = ...}` */
  parseDict(): Record<string, Attr> {
    this.expectPunct('{');
    const out: Record<string, Attr> = {};
    while (!this.isPunct('}')) {
      const k = this.lex.next();
      if (k.kind !== 'ident' && k.kind !== 'string') this.fail('an attribute name', k);
      const key = k.kind === 'string' ? unquote(k.text) : k.text;
      const value: Attr = this.eatPunct('=') ? this.parseAttr(true) : { kind: 'unit' };
      // GSPMD shardings are strings in their own grammar: read them here, once, with their location
      // (an empty string says nothing and stays one).
      out[key] =
        key === 'mhlo.sharding' && value.kind === 'string' && value.value !== ''
          ? { kind: 'sharding', sharding: parseGspmdSharding(value.value, this.loc(k)) }
          : value;
      if (!this.eatPunct(',')) break;
    }
    this.expectPunct('}');
    return out;
  }

  /** Parses one attribute value. With `typed`, a trailing `: type` is consumed (dict context). */
  parseAttr(typed = false): Attr {
    return this.nested('attributes', () => this.parseAttrBody(typed));
  }

  private parseAttrBody(typed: boolean): Attr {
    const t = this.peek();
    switch (t.kind) {
      case 'int':
      case 'float': {
        this.lex.next();
        const isInt = t.kind === 'int';
        if (typed && this.isPunct(':')) {
          this.lex.next();
          const ty = this.parseType();
          const elem = ty.kind === 'tensor' ? ty.elem : undefined;
          if (elem && elem.kind === 'float')
            return { kind: 'float', value: isInt ? Number(BigInt(t.text)) : Number(t.text), type: elem };
          return isInt
            ? { kind: 'int', value: BigInt(t.text), ...(elem ? { type: elem } : {}) }
            : { kind: 'float', value: Number(t.text) };
        }
        return isInt ? { kind: 'int', value: BigInt(t.text) } : { kind: 'float', value: Number(t.text) };
      }
      case 'string': {
        this.lex.next();
        if (typed && this.isPunct(':')) {
          this.lex.next();
          this.parseType();
        }
        return { kind: 'string', value: unquote(t.text) };
      }
      case 'symbol':
        this.lex.next();
        return { kind: 'symbol', name: symbolName(t.text) };
      case 'hashId':
        return this.parseHashAttr();
      case 'bangId':
        return { kind: 'type', type: this.parseType() };
      case 'punct':
        if (t.text === '[') return this.parseArrayAttr();
        if (t.text === '{') return { kind: 'dict', fields: this.parseDict() };
        if (t.text === '(') {
          const inputs = this.parseParenTypes();
          this.expectPunct('->');
          return { kind: 'fnType', inputs, outputs: this.parseResultTypes() };
        }
        if (t.text === '<') {
          // Pretty-form struct without a name, e.g. `algorithm = <lhs_precision_type = tf32, ...>`.
          this.lex.next();
          const fields = this.parseStructFields();
          return { kind: 'struct', name: '', fields };
        }
        return this.fail('an attribute value');
      case 'ident': {
        const w = t.text;
        if (w === 'true' || w === 'false') {
          this.lex.next();
          if (typed && this.isPunct(':')) {
            this.lex.next();
            this.parseType();
          }
          return { kind: 'bool', value: w === 'true' };
        }
        if (w === 'unit') {
          this.lex.next();
          return { kind: 'unit' };
        }
        if (w === 'dense') return this.parseDense(typed);
        if (w === 'dense_resource') {
          this.lex.next();
          this.expectPunct('<');
          const name = this.lex.next().text;
          this.expectPunct('>');
          let type: TensorType | undefined;
          if (this.isPunct(':') && typed) {
            this.lex.next();
            const ty = this.parseType();
            if (ty.kind === 'tensor') type = ty;
          }
          const blob = this.source.blobs?.get(name);
          if (blob) return { kind: 'dense', literal: { hexBytes: blob }, ...(type ? { type } : {}) };
          return type ? { kind: 'denseResource', name, type } : { kind: 'denseResource', name };
        }
        if (w === 'array') {
          this.lex.next();
          this.expectPunct('<');
          const et = this.expectIdent().text;
          const values: number[] = [];
          if (this.eatPunct(':')) {
            do {
              const v = this.lex.next();
              if (v.kind === 'int' || v.kind === 'float')
                values.push(Number(v.kind === 'int' ? BigInt(v.text) : v.text));
              else if (v.kind === 'ident' && (v.text === 'true' || v.text === 'false'))
                values.push(v.text === 'true' ? 1 : 0);
              else this.fail('an array element', v);
            } while (this.eatPunct(','));
          }
          this.expectPunct('>');
          return { kind: 'denseArray', elemType: et, values };
        }
        if (w === 'tensor' || w === 'tuple' || w === 'complex' || elemFromName(w)) {
          if (w === 'complex') return { kind: 'type', type: this.parseElemType() };
          return { kind: 'type', type: this.parseType() };
        }
        this.lex.next();
        return { kind: 'enum', value: w };
      }
      default:
        return this.fail('an attribute value');
    }
  }

  private parseArrayAttr(): Attr {
    this.expectPunct('[');
    const elems: Attr[] = [];
    while (!this.isPunct(']')) {
      elems.push(this.parseAttr(true));
      if (!this.eatPunct(',')) break;
    }
    this.expectPunct(']');
    const arr: Attr = { kind: 'array', elems };
    // Pretty dot_general: `batching_dims = [0] x [0]`.
    if (this.isIdent('x')) {
      this.lex.next();
      return { kind: 'pair', first: arr, second: this.parseArrayAttr() };
    }
    return arr;
  }

  /** `#loc3`, `#stablehlo<comparison_direction EQ>`, `#stablehlo.gather<k = v, ...>`, `#stablehlo.conv<[b, 0, f]x[0, i, o]->[b, 0, f]>`. */
  private parseHashAttr(): Attr {
    const t = this.lex.next();
    const name = t.text.slice(1);
    if (!this.isPunct('<')) return this.attrAliases.get(t.text) ?? { kind: 'enum', value: name };
    this.lex.next();
    if (name === 'sdy.sharding') return { kind: 'sharding', sharding: parseSdyTensorSharding(this) };
    if (name === 'sdy.sharding_per_value') return { kind: 'sharding', sharding: parseSdyShardingPerValue(this) };
    const dialect = name.split('.')[0]!;
    if (
      (dialect !== 'stablehlo' && dialect !== 'mhlo' && dialect !== 'chlo' && dialect !== 'vhlo') ||
      OPAQUE_HLO_ATTRS.has(name)
    )
      return this.skipOpaqueAttr(t);
    return this.parseHashAttrBody(name);
  }

  /** A dialect attribute we do not interpret: its balanced `<...>` kept as text. */
  private skipOpaqueAttr(start: Token): Attr {
    return { kind: 'opaque', text: `${start.text}<${this.skipBalanced(start)}>` };
  }

  /**
   * The tokens up to the `>` closing an already-opened `<`, as text in one spelling whatever the
   * source's layout (tokens joined, a space after commas and around `=`), so two spellings of
   * one attribute or type compare equal.
   */
  private skipBalanced(start: Token): string {
    let depth = 1;
    let text = '';
    let prev: Token | undefined;
    const wordy = (k: Token | undefined): boolean => !!k && k.kind !== 'punct';
    for (;;) {
      const tok = this.lex.next();
      if (tok.kind === 'eof') throw error('E0102', { what: `${start.text}<...>` }, this.loc(start));
      if (tok.kind === 'punct' && tok.text === '<') depth++;
      if (tok.kind === 'punct' && tok.text === '>' && --depth === 0) return text;
      const shapeDim = prev?.kind === 'int' && tok.kind === 'ident' && tok.text.startsWith('x'); // 2xf32
      if (
        prev &&
        !shapeDim &&
        ((wordy(prev) && wordy(tok)) || prev.text === ',' || prev.text === '=' || tok.text === '=')
      )
        text += ' ';
      text += tok.text;
      prev = tok;
    }
  }

  private parseHashAttrBody(name: string): Attr {
    if (this.isPunct('[')) {
      const dims = this.parseConvDims();
      this.expectPunct('>');
      return dims;
    }
    if (this.isIdent('raw')) this.lex.next();
    const first = this.peek();
    if (first.kind === 'ident') {
      // `#stablehlo<comparison_direction EQ>` or `#x<DEFAULT>`
      this.lex.next();
      if (this.isPunct('>')) {
        this.lex.next();
        return { kind: 'enum', value: first.text };
      }
      if (this.peek().kind === 'ident') {
        const v = this.lex.next().text;
        this.expectPunct('>');
        return { kind: 'enum', value: v };
      }
      this.lex.rewind(first.pos);
    }
    return { kind: 'struct', name, fields: this.parseStructFields() };
  }

  /** `k = v, k2 = v2>` (the opening `<` already consumed). */
  parseStructFields(): Record<string, Attr> {
    const fields: Record<string, Attr> = {};
    while (!this.isPunct('>')) {
      const k = this.expectIdent().text;
      this.expectPunct('=');
      fields[k] = this.parseAttr(true);
      if (!this.eatPunct(',')) break;
    }
    this.expectPunct('>');
    return fields;
  }

  /** `[b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]` */
  parseConvDims(): Attr {
    const list = (): string[] => {
      this.expectPunct('[');
      const out: string[] = [];
      while (!this.isPunct(']')) {
        if (!/^(\d+|[bfio])$/.test(this.peek().text)) this.fail('a dimension label (b, f, i, o or a spatial index)');
        out.push(this.lex.next().text);
        if (!this.eatPunct(',')) break;
      }
      this.expectPunct(']');
      return out;
    };
    const lhs = list();
    this.expectIdent('x');
    const rhs = list();
    this.expectPunct('->');
    const out = list();
    return { kind: 'convDims', lhs, rhs, out };
  }

  parseDense(typed = false): Attr {
    this.expectIdent('dense');
    this.expectPunct('<');
    let literal: DenseLiteral;
    const t = this.peek();
    if (t.kind === 'string') {
      this.lex.next();
      const body = unquote(t.text);
      // Buffer's hex decoder stops at the first pair that is not hex: a full-length result is the
      // check that every character was (weights are tens of megabytes: no regex, no per-byte loop).
      const bytes = body.startsWith('0x') && body.length % 2 === 0 ? Buffer.from(body.slice(2), 'hex') : undefined;
      if (!bytes || bytes.length !== (body.length - 2) / 2)
        throw error('E0103', { detail: 'dense string must be hex bytes "0x..."' }, this.loc(t));
      literal = { hexBytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length) };
    } else if (this.isPunct('>')) {
      literal = { elems: [], listShape: [0] };
    } else {
      const elems: DenseElem[] = [];
      const shape: number[] = [];
      this.parseDenseList(elems, shape, 0);
      literal = { elems, listShape: shape };
    }
    this.expectPunct('>');
    if (typed && this.isPunct(':')) {
      // `dense<...> : tensor<...>` inside attribute dicts; in op position the op's type applies.
      const save = this.peek().pos;
      this.lex.next();
      if (this.isIdent('tensor')) {
        const ty = this.parseType();
        if (ty.kind === 'tensor') return { kind: 'dense', literal, type: ty };
      }
      this.lex.rewind(save);
    }
    return { kind: 'dense', literal };
  }

  private parseDenseList(out: DenseElem[], shape: number[], depth: number): void {
    if (this.isPunct('[')) {
      this.lex.next();
      let n = 0;
      while (!this.isPunct(']')) {
        this.nested('dense lists', () => this.parseDenseList(out, shape, depth + 1));
        n++;
        if (!this.eatPunct(',')) break;
      }
      this.expectPunct(']');
      if (shape[depth] === undefined) shape[depth] = n;
      else if (shape[depth] !== n)
        throw error('E0103', { detail: `ragged dense list (${n} vs ${shape[depth]} elements)` }, this.loc());
      return;
    }
    out.push(this.parseDenseScalar());
  }

  private parseDenseScalar(): DenseElem {
    const t = this.peek();
    if (t.kind === 'punct' && t.text === '(') {
      this.lex.next();
      const re = this.parseDenseScalar();
      this.expectPunct(',');
      const im = this.parseDenseScalar();
      this.expectPunct(')');
      return { kind: 'complex', re, im };
    }
    this.lex.next();
    if (t.kind === 'int') return { kind: 'int', value: BigInt(t.text), hex: /^[-+]?0x/.test(t.text) };
    if (t.kind === 'float') return { kind: 'float', value: Number(t.text) };
    if (t.kind === 'ident') {
      if (t.text === 'true' || t.text === 'false') return { kind: 'bool', value: t.text === 'true' };
      if (t.text === 'inf' || t.text === 'nan') return { kind: 'float', value: t.text === 'inf' ? Infinity : NaN };
    }
    if (t.kind === 'punct' && t.text === '-' && this.isIdent('inf')) {
      this.lex.next();
      return { kind: 'float', value: -Infinity };
    }
    return this.fail('a dense element literal', t);
  }

  /** `loc(...)`: returns the origin text (e.g. `"x.py":3:10`) when it names a file position. */
  parseLoc(): string | undefined {
    this.expectIdent('loc');
    const open = this.expectPunct('(');
    let depth = 1;
    let last = open;
    while (depth > 0) {
      const t = this.lex.next();
      if (t.kind === 'eof') throw error('E0102', { what: 'loc(...)' }, this.loc(open));
      if (t.kind === 'punct' && t.text === '(') depth++;
      if (t.kind === 'punct' && t.text === ')') depth--;
      last = t;
    }
    const text = this.source.text.slice(open.end, last.pos);
    const m = /"([^"]*)":(\d+):(\d+)/.exec(text);
    return m ? `"${m[1]}":${m[2]}:${m[3]}` : undefined;
  }
}
