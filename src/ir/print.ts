/**
 * @fileoverview The IR as MLIR text in the generic op form, which the importer reads back
 * (`--dump-after` of the tensor-level phases, tests that a phase's output still verifies). Values
 * are renumbered per function (`%arg0`, `%0`, ...); constants larger than `elideElements` print as
 * `dense_resource<__elided__>` so dumps of real models stay readable.
 */
import type { Attr, Attrs, DenseElem, DenseLiteral } from './attrs.js';
import type { Block, Func, Module, Op, Region, Value } from './core.js';
import type { Mesh, Sharding } from './sharding.js';
import { typeToString, type Type } from './types.js';

export interface PrintOptions {
  /** Dense constants with more elements than this print elided (default: all printed). */
  readonly elideElements?: number;
}

export function printModule(m: Module, o: PrintOptions = {}): string {
  const lines: string[] = [];
  const attrs = Object.keys(m.attrs).length ? ` attributes ${printDict(m.attrs, o)}` : '';
  lines.push(`module${m.name ? ` @${symbol(m.name)}` : ''}${attrs} {`);
  for (const mesh of m.meshes?.values() ?? []) lines.push(`  ${printMesh(mesh)}`);
  for (const g of m.globals.values()) {
    const v = g.value.kind === 'dense' || g.value.kind === 'denseResource' ? { ...g.value, type: undefined } : g.value;
    lines.push(
      `  util.global private @${symbol(g.name)}${v.kind === 'unit' ? '' : ` = ${printAttr(v, o)}`} : ${typeToString(g.type)}`,
    );
  }
  for (const f of m.funcs.values()) lines.push(...printFunc(f, o).map((l) => `  ${l}`));
  lines.push('}');
  return lines.join('\n') + '\n';
}

function printFunc(f: Func, o: PrintOptions): string[] {
  const names = new Names();
  const params = f.params.map(
    (p, i) => `${names.param(p, i)}: ${typeToString(p.type)}${argAttrs(f.paramAttrs?.[i], o)}`,
  );
  const results = f.resultTypes.map((t, i) => `${typeToString(t)}${argAttrs(f.resultAttrs?.[i], o)}`);
  const head = `func.func ${f.visibility === 'private' ? 'private ' : ''}@${symbol(f.name)}(${params.join(', ')}) -> (${results.join(', ')})`;
  if (!f.body) return [head];
  const lines = [`${head} {`];
  f.body.blocks.forEach((b, i) => lines.push(...printBlock(b, names, o, i > 0)));
  lines.push('}');
  return lines;
}

/** Block `b`'s ops, with its label line when it is not a function's entry block. */
function printBlock(b: Block, names: Names, o: PrintOptions, labelled: boolean): string[] {
  const lines: string[] = [];
  if (labelled)
    lines.push(`${b.label}(${b.args.map((a) => `${names.define(a)}: ${typeToString(a.type)}`).join(', ')}):`);
  for (const op of b.ops) lines.push(...printOp(op, names, o).map((l) => `  ${l}`));
  return lines;
}

function printOp(op: Op, names: Names, o: PrintOptions): string[] {
  const operands = op.operands.map((v) => names.use(v)).join(', ');
  const results = op.results.length ? `${op.results.map((r) => names.define(r)).join(', ')} = ` : '';
  const succ = op.successors.length
    ? ` [${op.successors.map((s) => (s.args.length ? `${s.label}(${s.args.map((a) => names.use(a)).join(', ')} : ${s.args.map((a) => typeToString(a.type)).join(', ')})` : s.label)).join(', ')}]`
    : '';
  const attrs = Object.keys(op.attrs).length ? ` ${printDict(op.attrs, o)}` : '';
  const sig = ` : (${op.operands.map((v) => typeToString(v.type)).join(', ')}) -> ${resultTypes(op.results.map((r) => r.type))}`;
  if (!op.regions.length) return [`${results}"${op.name}"(${operands})${succ}${attrs}${sig}`];
  const lines = [`${results}"${op.name}"(${operands})${succ} (`];
  op.regions.forEach((r, i) => {
    lines.push(...printRegion(r, names, o).map((l) => `  ${l}`));
    if (i < op.regions.length - 1) lines[lines.length - 1] += ',';
  });
  lines.push(`)${attrs}${sig}`);
  return lines;
}

function printRegion(r: Region, names: Names, o: PrintOptions): string[] {
  return ['{', ...r.blocks.flatMap((b) => printBlock(b, names, o, true)), '}'];
}

function resultTypes(ts: readonly Type[]): string {
  return ts.length === 1 && ts[0]!.kind !== 'tuple' ? typeToString(ts[0]!) : `(${ts.map(typeToString).join(', ')})`;
}

function argAttrs(a: Attrs | undefined, o: PrintOptions): string {
  return a && Object.keys(a).length ? ` ${printDict(a, o)}` : '';
}

/** SSA names, renumbered per function; a value used before its definition (a bug) prints as `%undefined_N`. */
class Names {
  private readonly names = new Map<Value, string>();
  private next = 0;
  param(v: Value, i: number): string {
    const n = `%arg${i}`;
    this.names.set(v, n);
    return n;
  }
  define(v: Value): string {
    const n = `%${this.next++}`;
    this.names.set(v, n);
    return n;
  }
  use(v: Value): string {
    return this.names.get(v) ?? `%undefined_${v.id}`;
  }
}

function printDict(attrs: Attrs, o: PrintOptions): string {
  return `{${Object.entries(attrs)
    .map(([k, v]) => (v.kind === 'unit' ? symbol(k) : `${symbol(k)} = ${printAttr(v, o)}`))
    .join(', ')}}`;
}

/** An attribute key or symbol name: bare when it is an identifier, quoted otherwise. */
const symbol = (name: string): string => (/^[A-Za-z_][A-Za-z0-9_.$]*$/.test(name) ? name : JSON.stringify(name));

export function printAttr(a: Attr, o: PrintOptions = {}): string {
  switch (a.kind) {
    case 'int':
      return a.type ? `${a.value} : ${a.type.name}` : String(a.value);
    case 'float':
      return `${floatText(a.value)}${a.type ? ` : ${a.type.name}` : ''}`;
    case 'bool':
      return String(a.value);
    case 'string':
      return JSON.stringify(a.value);
    case 'symbol':
      return `@${symbol(a.name)}`;
    case 'array':
      return `[${a.elems.map((e) => printAttr(e, o)).join(', ')}]`;
    case 'pair':
      return `${printAttr(a.first, o)} x ${printAttr(a.second, o)}`;
    case 'denseArray':
      return `array<${a.elemType}${a.values.length ? `: ${a.values.map((v) => (a.elemType === 'i1' ? (v ? 'true' : 'false') : String(v))).join(', ')}` : ''}>`;
    case 'dense':
      return printDense(a.literal, a.type, o);
    case 'denseResource':
      return `dense_resource<${a.name}>${a.type ? ` : ${typeToString(a.type)}` : ''}`;
    case 'enum':
      return `#stablehlo<enum ${a.value}>`;
    case 'struct': {
      const fields = Object.entries(a.fields).map(([k, v]) => `${k} = ${printAttr(v, o)}`);
      return `${a.name ? `#${a.name}` : ''}<${fields.join(', ')}>`;
    }
    case 'convDims':
      return `#stablehlo.conv<[${a.lhs.join(', ')}]x[${a.rhs.join(', ')}]->[${a.out.join(', ')}]>`;
    case 'dict':
      return printDict(a.fields, o);
    case 'type':
      return 'kind' in a.type &&
        (a.type.kind === 'tensor' || a.type.kind === 'tuple' || a.type.kind === 'token' || a.type.kind === 'opaque')
        ? typeToString(a.type as Type)
        : a.type.name;
    case 'fnType':
      return `(${a.inputs.map(typeToString).join(', ')}) -> ${resultTypes(a.outputs)}`;
    case 'sharding': {
      const sh = a.sharding;
      if (sh.kind === 'mesh') return `#sdy.sharding${sdyBody(sh)}`;
      if (sh.kind === 'tuple' && sh.elems.length && sh.elems.every((e) => e.kind === 'mesh'))
        return `#sdy.sharding_per_value<[${sh.elems.map((e) => sdyBody(e as MeshSharding)).join(', ')}]>`;
      return JSON.stringify(gspmdText(sh));
    }
    case 'opaque':
      return a.text;
    case 'unit':
      return 'unit';
  }
}

/** Shortest decimal text that reads back as the same double; non-finite values in hex (MLIR's rule). */
function floatText(v: number): string {
  if (Number.isNaN(v)) return '0x7FF8000000000000';
  if (!Number.isFinite(v)) return v > 0 ? '0x7FF0000000000000' : '0xFFF0000000000000';
  const s = Object.is(v, -0) ? '-0.0' : String(v);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

function printDense(lit: DenseLiteral, type: Type | undefined, o: PrintOptions): string {
  const suffix = type ? ` : ${typeToString(type)}` : '';
  const count = lit.hexBytes ? lit.hexBytes.length : (lit.elems?.length ?? 0);
  if (o.elideElements !== undefined && count > o.elideElements) return `dense_resource<__elided__>${suffix}`;
  if (lit.hexBytes)
    return `dense<"0x${Buffer.from(lit.hexBytes.buffer, lit.hexBytes.byteOffset, lit.hexBytes.length).toString('hex').toUpperCase()}">${suffix}`;
  const elems = lit.elems ?? [];
  if (elems.length === 1 && !lit.listShape?.length) return `dense<${denseElem(elems[0]!)}>${suffix}`;
  const shape = lit.listShape ?? [elems.length];
  let next = 0;
  const nested = (d: number): string => {
    if (d === shape.length) return denseElem(elems[next++]!);
    return `[${Array.from({ length: shape[d]! }, () => nested(d + 1)).join(', ')}]`;
  };
  return `dense<${nested(0)}>${suffix}`;
}

function denseElem(e: DenseElem): string {
  switch (e.kind) {
    case 'int':
      return e.hex ? `0x${e.value.toString(16).toUpperCase()}` : String(e.value);
    case 'float':
      return floatText(e.value);
    case 'bool':
      return String(e.value);
    case 'complex':
      return `(${denseElem(e.re)}, ${denseElem(e.im)})`;
  }
}

function printMesh(m: Mesh): string {
  const axes = m.axes.map((a) => `"${a.name}"=${a.size}`).join(', ');
  return `sdy.mesh @${symbol(m.name)} = <[${axes}]${m.deviceIds ? `, device_ids=[${m.deviceIds.join(', ')}]` : ''}>`;
}

type MeshSharding = Extract<Sharding, { kind: 'mesh' }>;

/** `<@mesh, [{"x"}, {}], replicated={"y"}>` */
function sdyBody(s: MeshSharding): string {
  const dims = s.dims.map((d) => `{${[...d.axes.map((x) => `"${x}"`), ...(d.open ? ['?'] : [])].join(', ')}}`);
  const rep = s.replicated.length ? `, replicated={${s.replicated.map((x) => `"${x}"`).join(', ')}}` : '';
  return `<@${symbol(s.mesh)}, [${dims.join(', ')}]${rep}>`;
}

/** The GSPMD spelling (`{devices=[2,1]0,1}`) of a sharding. */
function gspmdText(s: Sharding): string {
  switch (s.kind) {
    case 'replicated':
      return '{replicated}';
    case 'manual':
      return '{manual}';
    case 'maximal':
      return `{maximal device=${s.device}}`;
    case 'tiled':
      return `{devices=[${s.tiles.join(',')}]${s.devices.join(',')}${s.lastTileReplicated ? ' last_tile_dim_replicate' : ''}}`;
    case 'tuple':
      return `{${s.elems.map(gspmdText).join(', ')}}`;
    case 'mesh':
      return `#sdy.sharding${sdyBody(s)}`; // not a GSPMD form: printed for reading only
  }
}
