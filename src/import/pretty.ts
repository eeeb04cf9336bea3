/**
 * @fileoverview The pretty (custom assembly) forms of StableHLO, CHLO, func, cf and a few other
 * ops. Most ops follow one shape -- operands, `key = value` pairs, bare enum keywords, an
 * optional attribute dict, then `: types` -- handled by `parseDefault`; the rest have entries in
 * `CUSTOM`. Every form normalizes attribute names to those of the generic form, so the op table
 * reads one spelling.
 */
import { error } from '../diag/diagnostics.js';
import type { Attr } from '../ir/attrs.js';
import { newValue, type Op, type Region, type Successor, type Value } from '../ir/core.js';
import type { TensorType, Type } from '../ir/types.js';
import type { Token } from './lexer.js';
import { parseManualComputation } from './sharding.js';
import { canonicalOpName, symbolName, type ParsedOpParts, type TokenParser as Parser } from './syntax.js';

/** Pretty keyword → generic attribute name, per op (keys not listed keep their spelling). */
const RENAMES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  'stablehlo.broadcast_in_dim': { dims: 'broadcast_dimensions' },
  'stablehlo.transpose': { dims: 'permutation' },
  'stablehlo.dynamic_broadcast_in_dim': { dims: 'broadcast_dimensions' },
  'stablehlo.reverse': { dims: 'dimensions' },
  'stablehlo.concatenate': { dim: 'dimension' },
  'stablehlo.iota': { dim: 'iota_dimension' },
  'stablehlo.dynamic_iota': { dim: 'iota_dimension' },
  'stablehlo.get_dimension_size': { dim: 'dimension' },
  'stablehlo.dynamic_slice': { sizes: 'slice_sizes' },
  'stablehlo.pad': { low: 'edge_padding_low', high: 'edge_padding_high', interior: 'interior_padding' },
  'stablehlo.fft': { type: 'fft_type', length: 'fft_length' },
  'stablehlo.rng_bit_generator': { algorithm: 'rng_algorithm' },
  'stablehlo.rng': { distribution: 'rng_distribution' },
  'stablehlo.dot': { precision: 'precision_config' },
  'stablehlo.dot_general': { precision: 'precision_config' },
};

/** Names of the bare enum keywords, by position, for ops that take them. */
const ENUM_NAMES: Readonly<Record<string, readonly string[]>> = {
  'stablehlo.compare': ['comparison_direction', 'compare_type'],
};

function resultTypesFrom(sig: { inputs?: Type[]; outputs: Type[] }, nResults: number): Type[] {
  if (sig.inputs) return sig.outputs;
  if (nResults === 0) return [];
  if (nResults === sig.outputs.length) return sig.outputs;
  const last = sig.outputs[sig.outputs.length - 1]!;
  return nResults === 1 ? [last] : sig.outputs;
}

function empty(): ParsedOpParts {
  return { operands: [], attrs: {}, regions: [], successors: [], resultTypes: [] };
}

/** Next token is an identifier immediately followed by `=`? Leaves the cursor unchanged. */
function atKeyValue(p: Parser): boolean {
  const t = p.peek();
  if (t.kind !== 'ident') return false;
  p.lex.next();
  const yes = p.isPunct('=');
  p.lex.rewind(t.pos);
  return yes;
}

function atBareEnum(p: Parser): boolean {
  const t = p.peek();
  if (t.kind !== 'ident' || t.text === 'dense' || t.text === 'dense_resource' || t.text === 'array') return false;
  p.lex.next();
  const yes = p.isPunct(',') || p.isPunct(':');
  p.lex.rewind(t.pos);
  return yes;
}

/** operands / key = value / bare enums / {dict} ..., then optional `: signature`. */
function parseDefault(p: Parser, name: string, nResults: number): ParsedOpParts {
  const parts = empty();
  const renames = RENAMES[name] ?? {};
  const enumNames = ENUM_NAMES[name] ?? [];
  let enumIndex = 0;
  const item = (): boolean => {
    const t = p.peek();
    if (t.kind === 'value') parts.operands.push(p.parseOperand());
    else if (atKeyValue(p)) {
      const key = p.lex.next().text;
      p.expectPunct('=');
      const v = p.parseAttr();
      if (key === 'format' && v.kind === 'enum') {
        const m = /^e(\d+)m(\d+)$/.exec(v.value);
        if (!m) throw error('E0204', { op: name, detail: `bad format '${v.value}', expected eXmY` }, p.loc(t));
        parts.attrs['exponent_bits'] = { kind: 'int', value: BigInt(m[1]!) };
        parts.attrs['mantissa_bits'] = { kind: 'int', value: BigInt(m[2]!) };
      } else if ((key === 'batching_dims' || key === 'contracting_dims') && v.kind === 'pair') {
        const which = key === 'batching_dims' ? 'batching' : 'contracting';
        parts.attrs[`lhs_${which}_dimensions`] = v.first;
        parts.attrs[`rhs_${which}_dimensions`] = v.second;
      } else parts.attrs[renames[key] ?? key] = v;
    } else if (t.kind === 'ident' && (t.text === 'dense' || t.text === 'dense_resource'))
      parts.attrs['value'] = p.parseAttr();
    else if (t.kind === 'symbol') {
      p.lex.next();
      parts.attrs['symbol'] = { kind: 'symbol', name: symbolName(t.text) };
    } else if (atBareEnum(p)) {
      const key = enumNames[enumIndex++] ?? `enum${enumIndex}`;
      parts.attrs[key] = { kind: 'enum', value: p.lex.next().text };
    } else return false;
    return true;
  };
  if (p.isPunct('{')) Object.assign(parts.attrs, p.parseDict());
  if (item()) {
    while (p.isPunct(',')) {
      const comma = p.lex.next();
      if (!item()) p.fail("an operand or attribute after ','", p.peek().pos === comma.pos ? comma : p.peek());
    }
  }
  if (p.isPunct('{')) Object.assign(parts.attrs, p.parseDict());
  if (p.eatPunct(':')) {
    parts.resultTypes = resultTypesFrom(p.parseTypeSignature(), nResults);
    // check.expect_almost_eq_const writes its tolerance dict after the type.
    if (name.startsWith('check.') && p.isPunct('{')) Object.assign(parts.attrs, p.parseDict());
  } else if (nResults > 0) p.fail("':' followed by the result type");
  // `stablehlo.constant dense<...> : T` carries its type on the op, not on the literal.
  const value = parts.attrs['value'];
  const firstType = parts.resultTypes[0];
  if (
    value &&
    (value.kind === 'dense' || value.kind === 'denseResource') &&
    !value.type &&
    firstType?.kind === 'tensor'
  )
    parts.attrs['value'] = { ...value, type: firstType };
  return parts;
}

/** The `: T` of ops whose value attribute follows the type of the checked operand (check.*_const). */
function parseCheckConst(p: Parser, name: string, nResults: number): ParsedOpParts {
  // Older IREE exports: `check.expect_almost_eq_const(%x, dense<...> : T) : T`.
  const parenthesized = p.eatPunct('(');
  const parts = parseDefault(p, name, nResults);
  if (parenthesized) {
    p.expectPunct(')');
    if (p.isPunct('{')) Object.assign(parts.attrs, p.parseDict());
    p.expectPunct(':');
    p.parseType();
  }
  const v = parts.attrs['value'];
  const operand = parts.operands[0];
  if (v && v.kind === 'dense' && !v.type && operand?.type.kind === 'tensor')
    parts.attrs['value'] = { ...v, type: operand.type };
  return parts;
}

function parseSlice(p: Parser, name: string, nResults: number): ParsedOpParts {
  const operand = p.parseOperand();
  p.expectPunct('[');
  const start: number[] = [];
  const limit: number[] = [];
  const strides: number[] = [];
  while (!p.isPunct(']')) {
    start.push(p.expectInt());
    p.expectPunct(':');
    limit.push(p.expectInt());
    strides.push(p.eatPunct(':') ? p.expectInt() : 1);
    if (!p.eatPunct(',')) break;
  }
  p.expectPunct(']');
  const parts = parseDefault(p, name, nResults);
  const arr = (xs: number[]): Attr => ({ kind: 'denseArray', elemType: 'i64', values: xs });
  parts.operands.unshift(operand);
  Object.assign(parts.attrs, { start_indices: arr(start), limit_indices: arr(limit), strides: arr(strides) });
  return parts;
}

function parseIndexed(attrName: string) {
  return (p: Parser, name: string, nResults: number): ParsedOpParts => {
    const operand = p.parseOperand();
    p.expectPunct('[');
    const idx: Value[] = [];
    let index: number | undefined;
    while (!p.isPunct(']')) {
      if (p.peek().kind === 'value') idx.push(p.parseOperand());
      else index = p.expectInt();
      if (!p.eatPunct(',')) break;
    }
    p.expectPunct(']');
    const parts = parseDefault(p, name, nResults);
    parts.operands.unshift(operand, ...idx);
    if (index !== undefined) parts.attrs[attrName] = { kind: 'int', value: BigInt(index) };
    return parts;
  };
}

function parseConvolution(p: Parser, name: string, nResults: number): ParsedOpParts {
  p.expectPunct('(');
  const operands = p.parseOperandList();
  p.expectPunct(')');
  const attrs: Record<string, Attr> = {};
  while (p.isIdent()) {
    const key = p.expectIdent().text;
    p.expectPunct('=');
    if (key === 'dim_numbers') attrs['dimension_numbers'] = p.parseConvDims();
    else if (key === 'window') {
      const w = p.parseDict();
      const map: Record<string, string> = {
        stride: 'window_strides',
        pad: 'padding',
        lhs_dilate: 'lhs_dilation',
        rhs_dilate: 'rhs_dilation',
        reverse: 'window_reversal',
      };
      for (const [k, v] of Object.entries(w)) attrs[map[k] ?? k] = v;
    } else attrs[key] = p.parseAttr();
    p.eatPunct(',');
  }
  if (p.isPunct('{')) Object.assign(attrs, p.parseDict());
  p.expectPunct(':');
  return {
    operands,
    attrs,
    regions: [],
    successors: [],
    resultTypes: resultTypesFrom(p.parseTypeSignature(), nResults),
  };
}

function scalarOf(t: Type): TensorType {
  if (t.kind !== 'tensor') throw new Error('tensor expected');
  return { kind: 'tensor', shape: [], elem: t.elem };
}

/** `stablehlo.reduce(%a init: %b), ... applies OP across dimensions = [..] : sig` or with `reducer(...) {...}`. */
function parseReduce(p: Parser, name: string, nResults: number, nameTok: Token): ParsedOpParts {
  const inputs: Value[] = [];
  const inits: Value[] = [];
  do {
    p.expectPunct('(');
    inputs.push(p.parseOperand());
    p.expectIdent('init');
    p.expectPunct(':');
    inits.push(p.parseOperand());
    p.expectPunct(')');
  } while (p.eatPunct(','));
  let applies: string | undefined;
  if (p.eatIdent('applies')) applies = canonicalOpName(p.expectIdent().text);
  p.expectIdent('across');
  p.expectIdent('dimensions');
  p.expectPunct('=');
  const dims = p.parseAttr();
  const attrs: Record<string, Attr> = { dimensions: dims };
  if (p.isPunct('{')) Object.assign(attrs, p.parseDict());
  p.expectPunct(':');
  const resultTypes = resultTypesFrom(p.parseTypeSignature(), nResults);
  let region: Region;
  if (applies) {
    const loc = p.loc(nameTok);
    const elemTypes = inits.map((v) => scalarOf(v.type));
    const lhs = elemTypes.map((t, i) => newValue(t, `%lhs${i}`));
    const rhs = elemTypes.map((t, i) => newValue(t, `%rhs${i}`));
    const res = elemTypes.map((t, i) => newValue(t, `%r${i}`));
    if (elemTypes.length !== 1)
      throw error('E0204', { op: name, detail: "'applies' form needs exactly one input" }, loc);
    const body: Op = {
      name: applies,
      operands: [lhs[0]!, rhs[0]!],
      results: res,
      attrs: {},
      regions: [],
      successors: [],
      loc,
    };
    const ret: Op = {
      name: 'stablehlo.return',
      operands: res,
      results: [],
      attrs: {},
      regions: [],
      successors: [],
      loc,
    };
    region = { blocks: [{ label: '^bb0', args: [...lhs, ...rhs], ops: [body, ret] }] };
  } else {
    p.expectIdent('reducer');
    const groups: { name: string; type: Type; tok: Token }[][] = [];
    while (p.eatPunct('(')) {
      const g: { name: string; type: Type; tok: Token }[] = [];
      while (!p.isPunct(')')) {
        const tok = p.expectKind('value', 'a reducer argument');
        p.expectPunct(':');
        g.push({ name: tok.text, type: p.parseType(), tok });
        if (p.isIdent('loc')) p.parseLoc(); // torch_xla writes locations on reducer arguments
        if (!p.eatPunct(',')) break;
      }
      p.expectPunct(')');
      groups.push(g);
    }
    const args = [...groups.map((g) => g[0]!), ...groups.map((g) => g[1]!)].filter((a) => a !== undefined);
    region = p.parseRegion(args);
  }
  return { operands: [...inputs, ...inits], attrs, regions: [region], successors: [], resultTypes };
}

/** `stablehlo.while(%arg0 = %init, ...) : T, T cond { } do { }` */
function parseWhile(p: Parser, _name: string, nResults: number): ParsedOpParts {
  p.expectPunct('(');
  const names: Token[] = [];
  const operands: Value[] = [];
  while (!p.isPunct(')')) {
    names.push(p.expectKind('value', 'a loop-carried value name'));
    p.expectPunct('=');
    operands.push(p.parseOperand());
    if (!p.eatPunct(',')) break;
  }
  p.expectPunct(')');
  const attrs: Record<string, Attr> = {};
  if (p.eatIdent('attributes')) Object.assign(attrs, p.parseDict());
  let types: Type[] = [];
  if (p.eatPunct(':')) types = resultTypesFrom(p.parseTypeSignature(), nResults);
  if (types.length !== operands.length) types = operands.map((o) => o.type);
  const args = names.map((tok, i) => ({ name: tok.text, type: types[i]!, tok }));
  p.expectIdent('cond');
  const cond = p.parseRegion(args);
  p.expectIdent('do');
  const body = p.parseRegion(args);
  return { operands, attrs, regions: [cond, body], successors: [], resultTypes: types };
}

/** `@target(%a, %b) {attrs} : sig` (custom_call, func.call) */
function parseCallLike(attrName: string) {
  return (p: Parser, _name: string, nResults: number): ParsedOpParts => {
    const sym = p.expectKind('symbol', 'a symbol (@name)');
    p.expectPunct('(');
    const operands = p.parseOperandList();
    p.expectPunct(')');
    const attrs: Record<string, Attr> = { [attrName]: { kind: 'symbol', name: symbolName(sym.text) } };
    if (p.isPunct('{')) Object.assign(attrs, p.parseDict());
    p.expectPunct(':');
    return {
      operands,
      attrs,
      regions: [],
      successors: [],
      resultTypes: resultTypesFrom(p.parseTypeSignature(), nResults),
    };
  };
}

function parseComposite(p: Parser, name: string, nResults: number): ParsedOpParts {
  const nameTok = p.expectKind('string', 'the composite name');
  const parts = parseDefault(p, name, nResults);
  parts.attrs['name'] = { kind: 'string', value: nameTok.text.slice(1, -1) };
  return parts;
}

function parseBranch(p: Parser): ParsedOpParts {
  const parts = empty();
  parts.successors.push(p.parseSuccessor());
  return parts;
}

function parseCondBranch(p: Parser): ParsedOpParts {
  const parts = empty();
  parts.operands.push(p.parseOperand());
  p.expectPunct(',');
  const succ: Successor[] = [p.parseSuccessor()];
  p.expectPunct(',');
  succ.push(p.parseSuccessor());
  parts.successors.push(...succ);
  return parts;
}

/** `chlo.top_k(%x, k = 2) : T -> (T, T)` */
function parseTopK(p: Parser, _name: string, nResults: number): ParsedOpParts {
  p.expectPunct('(');
  const operand = p.parseOperand();
  p.expectPunct(',');
  p.expectIdent('k');
  p.expectPunct('=');
  const k = p.parseAttr();
  p.expectPunct(')');
  p.expectPunct(':');
  return {
    operands: [operand],
    attrs: { k },
    regions: [],
    successors: [],
    resultTypes: resultTypesFrom(p.parseTypeSignature(), nResults),
  };
}

/** `chlo.scan(%in...) inits(%init...) dimension=0 [reverse=true] { body } : sig` */
function parseScan(p: Parser, _name: string, nResults: number): ParsedOpParts {
  p.expectPunct('(');
  const inputs = p.parseOperandList();
  p.expectPunct(')');
  p.expectIdent('inits');
  p.expectPunct('(');
  const inits = p.parseOperandList();
  p.expectPunct(')');
  const attrs: Record<string, Attr> = { num_inputs: { kind: 'int', value: BigInt(inputs.length) } };
  while (p.isIdent()) {
    const key = p.expectIdent().text;
    if (key === 'attributes') {
      Object.assign(attrs, p.parseDict());
      continue;
    }
    p.expectPunct('=');
    attrs[key] = p.parseAttr();
  }
  const region = p.parseRegion();
  p.expectPunct(':');
  return {
    operands: [...inputs, ...inits],
    attrs,
    regions: [region],
    successors: [],
    resultTypes: resultTypesFrom(p.parseTypeSignature(), nResults),
  };
}

type PrettyParser = (p: Parser, name: string, nResults: number, nameTok: Token) => ParsedOpParts;

const CUSTOM: Readonly<Record<string, PrettyParser>> = {
  'stablehlo.slice': parseSlice,
  'stablehlo.get_tuple_element': parseIndexed('index'),
  'tensor.extract': parseIndexed('index'),
  'stablehlo.convolution': parseConvolution,
  'stablehlo.reduce': parseReduce,
  'stablehlo.while': parseWhile,
  'stablehlo.custom_call': parseCallLike('call_target_name'),
  'func.call': parseCallLike('callee'),
  'sdy.manual_computation': parseManualComputation,
  'stablehlo.composite': parseComposite,
  'cf.br': parseBranch,
  'cf.cond_br': parseCondBranch,
  'chlo.top_k': parseTopK,
  'chlo.scan': parseScan,
  'check.expect_eq_const': parseCheckConst,
  'check.expect_almost_eq_const': parseCheckConst,
};

export function parsePrettyOp(p: Parser, name: string, nResults: number, nameTok: Token): ParsedOpParts {
  const custom = CUSTOM[name];
  return custom ? custom(p, name, nResults, nameTok) : parseDefault(p, name, nResults);
}
