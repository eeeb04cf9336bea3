/**
 * @fileoverview Parsing of the sharding annotations exporters write (see ir/sharding.ts): Shardy's
 * `sdy.mesh` op and `#sdy.sharding` attribute on the token stream, GSPMD's `mhlo.sharding` string
 * grammar on its text.
 */
import { error } from '../diag/diagnostics.js';
import type { Loc } from '../diag/source.js';
import type { DimSharding, Mesh, Sharding } from '../ir/sharding.js';
import type { Attr } from '../ir/attrs.js';
import type { Type } from '../ir/types.js';
import { unquote, type Token } from './lexer.js';
import { symbolName, type ParsedOpParts, type TokenParser as Parser } from './syntax.js';

/** Everything after `sdy.mesh`: `@name = <["x"=2, "y"=4], device_ids=[...]>` (or `<[]>`, `<device_ids=[0]>`). */
export function parseSdyMesh(p: Parser): Mesh {
  const name = symbolName(p.expectKind('symbol', 'a mesh name (@name)').text);
  p.expectPunct('=');
  p.expectPunct('<');
  const axes: { name: string; size: number }[] = [];
  let deviceIds: number[] | undefined;
  while (!p.isPunct('>')) {
    if (p.eatPunct('[')) {
      while (!p.isPunct(']')) {
        const axis = unquote(p.expectKind('string', 'a mesh axis name ("x")').text);
        p.expectPunct('=');
        axes.push({ name: axis, size: p.expectInt() });
        if (!p.eatPunct(',')) break;
      }
      p.expectPunct(']');
    } else {
      p.expectIdent('device_ids');
      p.expectPunct('=');
      p.expectPunct('[');
      deviceIds = [];
      while (!p.isPunct(']')) {
        deviceIds.push(p.expectInt());
        if (!p.eatPunct(',')) break;
      }
      p.expectPunct(']');
    }
    if (!p.eatPunct(',')) break;
  }
  p.expectPunct('>');
  return { name, axes, ...(deviceIds ? { deviceIds } : {}) };
}

/** `"x"`, `"x":(2)4` (a sub-axis: kept by its full name). */
function parseAxisRef(p: Parser): string {
  const axis = unquote(p.expectKind('string', 'a mesh axis name').text);
  if (p.eatPunct(':')) {
    p.expectPunct('(');
    const pre = p.expectInt();
    p.expectPunct(')');
    return `${axis}:(${pre})${p.expectInt()}`;
  }
  return axis;
}

/** `{"x", "y", ?}p1` */
function parseDimSharding(p: Parser): DimSharding {
  p.expectPunct('{');
  const axes: string[] = [];
  let open = false;
  while (!p.isPunct('}')) {
    if (p.eatPunct('?')) open = true;
    else axes.push(parseAxisRef(p));
    if (!p.eatPunct(',')) break;
  }
  p.expectPunct('}');
  // Priority suffix `p0`, `p1`: an ordering hint for propagation.
  const t = p.peek();
  if (t.kind === 'ident' && /^p\d+$/.test(t.text)) p.lex.next();
  return { axes, open };
}

/** After `#sdy.sharding<`: `@mesh, [{"x"}, {}], replicated={"y"}>` (the inline mesh form `mesh<...>` too). */
export function parseSdyTensorSharding(p: Parser): Sharding {
  let mesh: string;
  if (p.peek().kind === 'symbol') mesh = symbolName(p.lex.next().text);
  else {
    p.expectIdent('mesh');
    p.expectPunct('<');
    let depth = 1;
    while (depth > 0) {
      const t = p.lex.next();
      if (t.kind === 'eof') p.fail("'>' closing the inline mesh", t);
      if (t.text === '<') depth++;
      if (t.text === '>') depth--;
    }
    mesh = '';
  }
  p.expectPunct(',');
  p.expectPunct('[');
  const dims: DimSharding[] = [];
  while (!p.isPunct(']')) {
    dims.push(parseDimSharding(p));
    if (!p.eatPunct(',')) break;
  }
  p.expectPunct(']');
  const replicated: string[] = [];
  while (p.eatPunct(',')) {
    const key = p.expectIdent().text;
    p.expectPunct('=');
    p.expectPunct('{');
    const list: string[] = [];
    while (!p.isPunct('}')) {
      list.push(parseAxisRef(p));
      if (!p.eatPunct(',')) break;
    }
    p.expectPunct('}');
    if (key === 'replicated') replicated.push(...list);
  }
  p.expectPunct('>');
  return { kind: 'mesh', mesh, dims, replicated };
}

/** After `#sdy.sharding_per_value<`: `[<@mesh, [...]>, ...]>`. */
export function parseSdyShardingPerValue(p: Parser): Sharding {
  p.expectPunct('[');
  const elems: Sharding[] = [];
  while (!p.isPunct(']')) {
    p.expectPunct('<');
    elems.push(parseSdyTensorSharding(p));
    if (!p.eatPunct(',')) break;
  }
  p.expectPunct(']');
  p.expectPunct('>');
  return { kind: 'tuple', elems };
}

const product = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/** Device order of `<=[dims]` optionally transposed `T(perm)`: iota reshaped to dims, transposed, flattened. */
function iotaDevices(dims: readonly number[], perm: readonly number[] | undefined): number[] {
  const n = product(dims);
  if (!perm) return Array.from({ length: n }, (_, i) => i);
  const permuted = perm.map((d) => dims[d]!);
  const strides = dims.map((_, i) => product(dims.slice(i + 1)));
  const out: number[] = [];
  const idx = new Array<number>(permuted.length).fill(0);
  for (let k = 0; k < n; k++) {
    out.push(idx.reduce((off, v, i) => off + v * strides[perm[i]!]!, 0));
    for (let i = idx.length - 1; i >= 0; i--) {
      if (++idx[i]! < permuted[i]!) break;
      idx[i] = 0;
    }
  }
  return out;
}

/**
 * GSPMD's text form: `{replicated}`, `{manual}`, `{maximal device=N}`, `{devices=[2,1]0,1}`,
 * `{devices=[2,2]<=[4]}`, `{devices=[2,2]<=[2,2]T(1,0) last_tile_dim_replicate}`, `{{...}, {...}}`.
 * Throws a located E0204 naming what it could not read.
 */
export function parseGspmdSharding(text: string, loc: Loc): Sharding {
  let i = 0;
  const bad = (): never => {
    throw error('E0204', { op: 'mhlo.sharding', detail: `cannot read sharding "${text}" at character ${i + 1}` }, loc);
  };
  const skipSpace = (): void => {
    while (text[i] === ' ') i++;
  };
  const eat = (s: string): boolean => {
    skipSpace();
    if (!text.startsWith(s, i)) return false;
    i += s.length;
    return true;
  };
  const int = (): number => {
    skipSpace();
    const m = /^\d+/.exec(text.slice(i));
    if (!m) return bad();
    i += m[0].length;
    return Number(m[0]);
  };
  const intList = (open: string, close: string): number[] => {
    if (!eat(open)) bad();
    const out: number[] = [];
    while (!eat(close)) {
      out.push(int());
      eat(',');
    }
    return out;
  };
  const one = (): Sharding => {
    if (!eat('{')) bad();
    skipSpace();
    if (text[i] === '{') {
      const elems: Sharding[] = [one()];
      while (eat(',')) elems.push(one());
      if (!eat('}')) bad();
      return { kind: 'tuple', elems };
    }
    let s: Sharding;
    if (eat('replicated')) s = { kind: 'replicated' };
    else if (eat('manual')) s = { kind: 'manual' };
    else if (eat('maximal')) {
      if (!eat('device=')) bad();
      s = { kind: 'maximal', device: int() };
    } else if (eat('devices=')) {
      const tiles = intList('[', ']');
      let devices: number[];
      if (eat('<=')) {
        const dims = intList('[', ']');
        const perm = eat('T') ? intList('(', ')') : undefined;
        devices = iotaDevices(dims, perm);
      } else {
        devices = [int()];
        while (eat(',')) devices.push(int());
      }
      if (devices.length !== product(tiles)) bad();
      const lastTileReplicated = eat('last_tile_dim_replicate');
      s = { kind: 'tiled', tiles, devices, lastTileReplicated };
    } else return bad();
    // Trailing metadata (`metadata={...}`, `last_tile_dims={manual}`) carries no placement we use.
    let depth = 0;
    while (i < text.length && !(depth === 0 && text[i] === '}')) {
      if (text[i] === '{') depth++;
      if (text[i] === '}') depth--;
      i++;
    }
    if (!eat('}')) bad();
    return s;
  };
  const s = one();
  skipSpace();
  if (i !== text.length) bad();
  return s;
}

/**
 * Shardy's shard_map: `sdy.manual_computation(%a, %b) in_shardings=[<@mesh, [...]>, ...]
 * out_shardings=[...] manual_axes={"x", "y"} (%la: T, %lb: T) { ... sdy.return %r : T } : (T, T) -> T`.
 * The shardings go to attributes (arrays of sharding attributes), the body to the op's region.
 */
export function parseManualComputation(p: Parser, _name: string, nResults: number): ParsedOpParts {
  p.expectPunct('(');
  const operands = p.parseOperandList();
  p.expectPunct(')');
  const attrs: Record<string, Attr> = {};
  const shardingList = (): Attr => {
    p.expectPunct('=');
    p.expectPunct('[');
    const elems: Attr[] = [];
    while (!p.isPunct(']')) {
      p.expectPunct('<');
      elems.push({ kind: 'sharding', sharding: parseSdyTensorSharding(p) });
      if (!p.eatPunct(',')) break;
    }
    p.expectPunct(']');
    return { kind: 'array', elems };
  };
  while (p.isIdent()) {
    const key = p.lex.next().text;
    if (key === 'in_shardings' || key === 'out_shardings') attrs[key] = shardingList();
    else if (key === 'manual_axes') {
      p.expectPunct('=');
      p.expectPunct('{');
      const axes: Attr[] = [];
      while (!p.isPunct('}')) {
        axes.push({ kind: 'string', value: parseAxisRef(p) });
        if (!p.eatPunct(',')) break;
      }
      p.expectPunct('}');
      attrs['manual_axes'] = { kind: 'array', elems: axes };
    } else p.fail('in_shardings, out_shardings or manual_axes');
  }
  p.expectPunct('(');
  const args: { name: string; type: Type; tok: Token }[] = [];
  while (!p.isPunct(')')) {
    const tok = p.expectKind('value', 'a body argument');
    p.expectPunct(':');
    args.push({ name: tok.text, type: p.parseType(), tok });
    if (p.isIdent('loc')) p.parseLoc();
    if (!p.eatPunct(',')) break;
  }
  p.expectPunct(')');
  const region = p.parseRegion(args);
  p.expectPunct(':');
  const sig = p.parseTypeSignature();
  const resultTypes = sig.inputs ? sig.outputs : sig.outputs.slice(-nResults);
  return { operands, attrs, regions: [region], successors: [], resultTypes };
}
