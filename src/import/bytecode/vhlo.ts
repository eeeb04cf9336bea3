/**
 * @fileoverview VHLO -> StableHLO: the op tree of a portable artifact (container.ts) printed as
 * StableHLO text in MLIR's generic op form, which the text importer then reads. The rules are
 * those of StableHLO's own deserializer (VhloLegalizeToStablehlo): versioned op names lose their
 * `_vN`, every op version maps onto today's op (older versions lack attributes added later, which
 * take their defaults), flattened dimension numbers are regrouped into their struct attributes,
 * 1-D integer lists of the ops that now take `array<i64: ...>` become arrays, and attributes VHLO
 * spells out only because it has no defaults are dropped when they hold the default.
 */
import { BytecodeError } from './stream.js';
import type { BcBlock, BcOp, BcRegion, Entity } from './container.js';
import { BOOL_ARRAYS, I64_ARRAYS, OP_ATTRS, PLAIN_OPS } from './opset.js';
import {
  attrText,
  f64,
  intValue,
  keyText,
  resultsText,
  symbolName,
  tensorInts,
  typeText,
  withTensorSink,
} from './spelling.js';
type Attrs = Map<string, Entity>;

const fail = (op: BcOp, detail: string): never => {
  throw new BytecodeError(op.at, `${op.name}: ${detail}`);
};

// ---------------------------------------------------------------------------------------------
// Ops.

const isBool = (a: Entity | undefined, v: boolean): boolean => a?.k === 'bool' && a['value'] === v;
const isInt = (a: Entity | undefined, v: bigint): boolean => a?.k === 'int' && intValue(a) === v;
const isEmptyArray = (a: Entity | undefined): boolean => a?.k === 'array' && (a['elems'] as Entity[]).length === 0;
const isEmptyDict = (a: Entity | undefined): boolean => a?.k === 'dict' && (a['entries'] as unknown[]).length === 0;
const isString = (a: Entity | undefined, v: string): boolean => a?.k === 'string' && a['value'] === v;
const isEnum = (a: Entity | undefined, v: string): boolean => a?.k === 'enum' && a['value'] === v;
const isEmptyTensor = (a: Entity | undefined): boolean => a?.k === 'tensor' && (a['data'] as Uint8Array).length === 0;
const isSplat = (a: Entity | undefined, v: bigint): boolean => a?.k === 'tensor' && tensorInts(a).every((x) => x === v);
const isSplatArray = (a: Entity | undefined, v: string): boolean =>
  a?.k === 'array' && (a['elems'] as Entity[]).every((e) => isEnum(e, v));

/** The op's attributes by name: the properties zipped with the op's attribute names, then the dictionary. */
function opAttrs(op: BcOp, base: string): Attrs {
  const attrs: Attrs = new Map();
  const props = op.props;
  if (props) {
    if (props.k !== 'props') fail(op, 'an unregistered op carries properties');
    const values = props['values'] as Entity[];
    const names = OP_ATTRS[base] ?? [];
    if (values.length !== names.length)
      fail(op, `expected ${names.length} properties (${names.join(', ') || 'none'}), found ${values.length}`);
    names.forEach((n, i) => attrs.set(n, values[i]!));
  }
  if (op.attrs) {
    if (op.attrs.k !== 'dict') fail(op, 'the attribute dictionary is not a dictionary');
    for (const [k, v] of op.attrs['entries'] as [string, Entity][]) attrs.set(k, v);
  }
  return attrs;
}

function ints(op: BcOp, a: Entity | undefined, name: string): string {
  if (!a) return fail(op, `missing attribute ${name}`);
  if (a.k === 'tensor') return `[${tensorInts(a).join(', ')}]`;
  if (a.k === 'int') return String(intValue(a));
  return fail(op, `attribute ${name} must be an integer list`);
}

function int(op: BcOp, a: Entity | undefined, name: string): string {
  if (a?.k !== 'int') return fail(op, `attribute ${name} must be an integer`);
  return String(intValue(a));
}

/** `#stablehlo.NAME<field = [..], ...>` from VHLO's flattened fields (empty lists omitted, as MLIR prints them). */
function struct(op: BcOp, attrs: Attrs, name: string, fields: readonly string[], scalars: readonly string[]): string {
  const parts: string[] = [];
  for (const f of fields) {
    const a = attrs.get(f);
    attrs.delete(f);
    if (!a) continue; // an older op version without this field: the default (empty)
    if (scalars.includes(f)) parts.push(`${f} = ${int(op, a, f)}`);
    else {
      const list = ints(op, a, f);
      if (list !== '[]') parts.push(`${f} = ${list}`);
    }
  }
  return `#stablehlo.${name}<${parts.join(', ')}>`;
}

/** Conv dimension numbers in the bracket form `[b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]`. */
function convDims(op: BcOp, attrs: Attrs): string {
  const take = (n: string): bigint[] => {
    const a = attrs.get(n);
    attrs.delete(n);
    if (a?.k === 'int') return [intValue(a)];
    if (a?.k === 'tensor') return tensorInts(a);
    return fail(op, `missing attribute ${n}`);
  };
  const layout = (first: string, a: bigint, second: string, b: bigint, spatial: bigint[]): string => {
    const out: string[] = new Array<string>(spatial.length + 2).fill('?');
    const put = (i: bigint, s: string): void => {
      if (i < 0n || i >= BigInt(out.length) || out[Number(i)] !== '?')
        fail(op, 'invalid convolution dimension numbers');
      out[Number(i)] = s;
    };
    put(a, first);
    put(b, second);
    spatial.forEach((d, i) => put(d, String(i)));
    return `[${out.join(', ')}]`;
  };
  const lhs = layout(
    'b',
    take('input_batch_dimension')[0]!,
    'f',
    take('input_feature_dimension')[0]!,
    take('input_spatial_dimensions'),
  );
  const rhs = layout(
    'i',
    take('kernel_input_feature_dimension')[0]!,
    'o',
    take('kernel_output_feature_dimension')[0]!,
    take('kernel_spatial_dimensions'),
  );
  const out = layout(
    'b',
    take('output_batch_dimension')[0]!,
    'f',
    take('output_feature_dimension')[0]!,
    take('output_spatial_dimensions'),
  );
  return `#stablehlo.conv<${lhs}x${rhs}->${out}>`;
}

/** Applies the per-op rules, returning today's attribute dictionary as text entries. */
function stablehloAttrs(op: BcOp, kind: string, attrs: Attrs): [string, string][] {
  const out: [string, string][] = [];
  const drop = (name: string, when: (a: Entity | undefined) => boolean): void => {
    if (attrs.has(name) && when(attrs.get(name))) attrs.delete(name);
  };
  const channelOps = [
    'all_gather',
    'all_reduce',
    'all_to_all',
    'collective_permute',
    'reduce_scatter',
    'collective_broadcast',
    'collective_reduce',
  ];

  // Defaults VHLO spells out.
  if (kind === 'func') {
    drop('sym_visibility', (a) => isString(a, ''));
    drop('arg_attrs', isEmptyArray);
    drop('res_attrs', isEmptyArray);
  }
  if (channelOps.includes(kind)) {
    drop('channel_id', (a) => isInt(a, 0n));
    drop('use_global_device_ids', (a) => isBool(a, false));
    drop('has_dynamic_root', (a) => isBool(a, false));
  }
  if (kind === 'cholesky') drop('lower', (a) => isBool(a, false));
  if (kind === 'compare') drop('compare_type', (a) => isEnum(a, 'NOTYPE'));
  if (kind === 'composite') {
    drop('version', (a) => isInt(a, 0n));
    drop('composite_attributes', isEmptyDict);
  }
  if (kind === 'convolution' || kind === 'dynamic_conv') {
    drop('window_strides', (a) => isSplat(a, 1n));
    drop('padding', (a) => isSplat(a, 0n));
    drop('lhs_dilation', (a) => isSplat(a, 1n));
    drop('rhs_dilation', (a) => isSplat(a, 1n));
    drop('window_reversal', (a) => isSplat(a, 0n));
    drop('precision_config', (a) => isSplatArray(a, 'DEFAULT'));
  }
  if (kind === 'custom_call') {
    drop('has_side_effect', (a) => isBool(a, false));
    drop('backend_config', (a) => isString(a, '') || isEmptyDict(a));
    drop('api_version', (a) => isEnum(a, 'API_VERSION_ORIGINAL'));
    for (const n of [
      'called_computations',
      'operand_layouts',
      'result_layouts',
      'output_operand_aliases',
      'result_tilings',
    ])
      drop(n, isEmptyArray);
  }
  if (kind === 'dot_general' || kind === 'dot') drop('precision_config', (a) => isSplatArray(a, 'DEFAULT'));
  if (kind === 'dynamic_broadcast_in_dim') {
    drop('known_expanding_dimensions', isEmptyTensor);
    drop('known_nonexpanding_dimensions', isEmptyTensor);
  }
  if (kind === 'gather' || kind === 'dynamic_gather') drop('indices_are_sorted', (a) => isBool(a, false));
  if (kind === 'infeed') {
    drop('infeed_config', (a) => isString(a, ''));
    drop('layout', isEmptyArray);
  }
  if (kind === 'outfeed') drop('outfeed_config', (a) => isString(a, ''));
  if (kind === 'send' || kind === 'recv') {
    drop('is_host_transfer', (a) => isBool(a, false));
    drop('source_target_pairs', isEmptyTensor);
  }
  if (kind === 'reduce_window') {
    drop('window_strides', (a) => isSplat(a, 1n));
    drop('base_dilations', (a) => isSplat(a, 1n));
    drop('window_dilations', (a) => isSplat(a, 1n));
    drop('padding', (a) => isSplat(a, 0n));
  }
  if (kind === 'scatter') {
    drop('indices_are_sorted', (a) => isBool(a, false));
    drop('unique_indices', (a) => isBool(a, false));
  }
  if (kind === 'select_and_scatter') {
    drop('window_strides', (a) => isSplat(a, 1n));
    drop('padding', (a) => isSplat(a, 0n));
  }
  if (kind === 'sort') {
    drop('dimension', (a) => isInt(a, -1n));
    drop('is_stable', (a) => isBool(a, false));
  }
  const ra = attrs.get('result_accuracy');
  if (
    ra?.k === 'resultAccuracy' &&
    f64(ra['atol'] as bigint) === 0 &&
    f64(ra['rtol'] as bigint) === 0 &&
    ra['ulps'] === 0
  )
    if (isEnum(ra['mode'] as Entity, 'DEFAULT')) attrs.delete('result_accuracy');

  // Struct attributes VHLO flattens.
  if (kind === 'convolution' || kind === 'dynamic_conv') out.push(['dimension_numbers', convDims(op, attrs)]);
  if (kind === 'dot_general') {
    out.push([
      'dot_dimension_numbers',
      struct(
        op,
        attrs,
        'dot',
        [
          'lhs_batching_dimensions',
          'rhs_batching_dimensions',
          'lhs_contracting_dimensions',
          'rhs_contracting_dimensions',
        ],
        [],
      ),
    ]);
    const algo = [
      'lhs_precision_type',
      'rhs_precision_type',
      'accumulation_type',
      'lhs_component_count',
      'rhs_component_count',
      'num_primitive_operations',
      'allow_imprecise_accumulation',
    ];
    const lhsType = attrs.get('lhs_precision_type');
    if (lhsType) {
      const none = lhsType.k === 'typeAttr' && (lhsType['type'] as Entity)['name'] === 'none';
      if (!none)
        out.push([
          'algorithm',
          `#stablehlo.dot_algorithm<${algo.map((n) => `${n} = ${algorithmField(op, attrs.get(n), n)}`).join(', ')}>`,
        ]);
      algo.forEach((n) => attrs.delete(n));
    }
  }
  if (kind === 'gather' || kind === 'dynamic_gather')
    out.push([
      'dimension_numbers',
      struct(
        op,
        attrs,
        'gather',
        [
          'offset_dims',
          'collapsed_slice_dims',
          'operand_batching_dims',
          'start_indices_batching_dims',
          'start_index_map',
          'index_vector_dim',
        ],
        ['index_vector_dim'],
      ),
    ]);
  if (kind === 'scatter')
    out.push([
      'scatter_dimension_numbers',
      struct(
        op,
        attrs,
        'scatter',
        [
          'update_window_dims',
          'inserted_window_dims',
          'input_batching_dims',
          'scatter_indices_batching_dims',
          'scatter_dims_to_operand_dims',
          'index_vector_dim',
        ],
        ['index_vector_dim'],
      ),
    ]);
  if (kind === 'send' || kind === 'recv') {
    out.push([
      'channel_handle',
      `#stablehlo.channel_handle<handle = ${int(op, attrs.get('channel_id'), 'channel_id')}, type = ${int(op, attrs.get('channel_type'), 'channel_type')}>`,
    ]);
    attrs.delete('channel_id');
    attrs.delete('channel_type');
  }

  for (const [name, a] of attrs) {
    if (channelOps.includes(kind) && name === 'channel_id') {
      out.push(['channel_handle', `#stablehlo.channel_handle<handle = ${int(op, a, name)}, type = 0>`]);
      continue;
    }
    if (channelOps.includes(kind) && (name === 'use_global_device_ids' || name === 'has_dynamic_root')) {
      out.push([name, 'unit']);
      continue;
    }
    if (
      (kind === 'custom_call' && name === 'called_computations') ||
      (kind === 'composite' && name === 'decomposition') ||
      (kind === 'call' && name === 'callee')
    ) {
      out.push([name, symbolText(op, a)]);
      continue;
    }
    if (I64_ARRAYS[kind]?.includes(name) && a.k === 'tensor') {
      const v = tensorInts(a);
      out.push([name, `array<i64${v.length ? `: ${v.join(', ')}` : ''}>`]);
      continue;
    }
    if (BOOL_ARRAYS[kind]?.includes(name) && a.k === 'tensor') {
      const v = tensorInts(a);
      out.push([name, `array<i1${v.length ? `: ${v.map((x) => (x ? 'true' : 'false')).join(', ')}` : ''}>`]);
      continue;
    }
    out.push([name, attrText(a)]);
  }
  return out;
}

/** A dot algorithm field: types and booleans as themselves, counts as bare integers. */
function algorithmField(op: BcOp, a: Entity | undefined, name: string): string {
  if (!a) return fail(op, `missing attribute ${name}`);
  return a.k === 'int' ? String(intValue(a)) : attrText(a);
}

function symbolText(op: BcOp, a: Entity): string {
  if (a.k === 'string') return `@${symbolName(a['value'] as string)}`;
  if (a.k === 'array') return `[${(a['elems'] as Entity[]).map((e) => symbolText(op, e)).join(', ')}]`;
  return fail(op, 'expected a symbol name');
}

/** Runs `f`, giving errors raised where no op was at hand (offset 0) the offset of `op`. */
function locate(op: BcOp, f: () => void): void {
  try {
    f();
  } catch (e) {
    if (e instanceof BytecodeError && e.offset === 0) throw new BytecodeError(op.at, `${op.name}: ${e.detail}`);
    throw e;
  }
}

/** Prints a module's ops as StableHLO text. */
export class StablehloPrinter {
  private readonly lines: string[] = [];
  private readonly names = new Map<number, string>();

  /** Tensor data by the `dense_resource` key the text gives it (views into the artifact). */
  readonly blobs = new Map<string, Uint8Array>();

  print(ops: readonly BcOp[]): string {
    const keep = (bytes: Uint8Array): string => {
      const key = `__vhlo_tensor_${this.blobs.size}`;
      this.blobs.set(key, bytes);
      return key;
    };
    withTensorSink(keep, () => ops.forEach((op) => this.topLevel(op)));
    return this.lines.join('\n') + '\n';
  }

  private topLevel(op: BcOp): void {
    if (op.name !== 'builtin.module') fail(op, 'expected a builtin.module at the top level');
    const attrs = new Map<string, Entity>();
    // builtin.module's properties (an optional name and visibility) do not change the program.
    if (op.attrs?.k === 'dict') for (const [k, v] of op.attrs['entries'] as [string, Entity][]) attrs.set(k, v);
    const dict = [...attrs].map(([k, v]) => `${keyText(k)} = ${attrText(v)}`);
    this.lines.push(`module${dict.length ? ` attributes {${dict.join(', ')}}` : ''} {`);
    for (const r of op.regions) for (const b of r.blocks) for (const inner of b.ops) this.func(inner, '  ');
    this.lines.push('}');
  }

  private func(op: BcOp, indent: string): void {
    locate(op, () => this.funcText(op, indent));
  }

  private funcText(op: BcOp, indent: string): void {
    if (op.name !== 'vhlo.func_v1') fail(op, 'expected a function (vhlo.func_v1) in the module');
    const attrs = opAttrs(op, 'func_v1');
    const fnType = attrs.get('function_type');
    const sym = attrs.get('sym_name');
    if (fnType?.k !== 'typeAttr' || (fnType['type'] as Entity).k !== 'function')
      return fail(op, 'function_type must be a function type');
    if (sym?.k !== 'string') return fail(op, 'sym_name must be a string');
    const entries = new Map(stablehloAttrs(op, 'func', attrs));
    const type = fnType['type'] as Entity;
    const inputs = type['inputs'] as Entity[];
    const outputs = type['outputs'] as Entity[];
    const argAttrs = attrs.get('arg_attrs');
    const resAttrs = attrs.get('res_attrs');
    const dictAt = (list: Entity | undefined, i: number): string => {
      const d = list?.k === 'array' ? (list['elems'] as Entity[])[i] : undefined;
      return d?.k === 'dict' && (d['entries'] as unknown[]).length ? ` ${attrText(d)}` : '';
    };
    const visibility = attrs.get('sym_visibility');
    const vis = visibility?.k === 'string' && visibility['value'] ? `${visibility['value'] as string} ` : '';
    for (const n of ['function_type', 'sym_name', 'sym_visibility', 'arg_attrs', 'res_attrs']) entries.delete(n);
    const body = op.regions[0];
    const entry = body?.blocks[0];
    const params = inputs.map((t, i) => {
      const v = entry?.args[i];
      const name = v ? this.define(v.id, `%arg${i}`) : `%arg${i}`;
      return `${name}: ${typeText(t)}${dictAt(argAttrs, i)}`;
    });
    const results = outputs.map((t, i) => `${typeText(t)}${dictAt(resAttrs, i)}`);
    const resultText =
      results.length === 0
        ? ''
        : ` -> ${results.length === 1 && !dictAt(resAttrs, 0) && outputs[0]!.k !== 'function' ? results[0] : `(${results.join(', ')})`}`;
    const extra = [...entries].map(([k, v]) => `${keyText(k)} = ${v}`);
    const head = `${indent}func.func ${vis}@${symbolName(sym['value'] as string)}(${params.join(', ')})${resultText}${extra.length ? ` attributes {${extra.join(', ')}}` : ''}`;
    if (!body || body.blocks.length === 0) {
      this.lines.push(head);
      return;
    }
    this.lines.push(`${head} {`);
    this.blocks(body, indent + '  ', true, 'func');
    this.lines.push(`${indent}}`);
  }

  private define(id: number, name: string): string {
    this.names.set(id, name);
    return name;
  }

  private use(op: BcOp, id: number): string {
    return this.names.get(id) ?? fail(op, `operand %${id} has no definition`);
  }

  private blocks(region: BcRegion, indent: string, entryArgsNamed: boolean, parent: string): void {
    region.blocks.forEach((b: BcBlock, i) => {
      if (i > 0 || (!entryArgsNamed && b.args.length)) {
        const args = b.args.map((a) => `${this.define(a.id, `%v${a.id}`)}: ${typeText(a.type)}`);
        this.lines.push(`${indent.slice(2)}^bb${i}${args.length ? `(${args.join(', ')})` : ''}:`);
      }
      for (const op of b.ops) this.op(op, indent, parent);
    });
  }

  private op(op: BcOp, indent: string, parent: string): void {
    locate(op, () => this.opText(op, indent, parent));
  }

  private opText(op: BcOp, indent: string, parent: string): void {
    const m = /^vhlo\.([a-z_0-9-]+?)(_v\d+)$/.exec(op.name);
    if (!m) return fail(op, `unknown op (not a VHLO op this reader knows)`);
    const base = `${m[1]}${m[2]}`;
    const kind = m[1]!;
    if (!OP_ATTRS[base] && !PLAIN_OPS.has(base)) return fail(op, `unknown VHLO op version '${op.name}'`);
    if (op.successors.length) return fail(op, 'successors are not supported');
    const attrs = opAttrs(op, base);
    const entries = stablehloAttrs(op, kind, attrs);
    let name = `stablehlo.${kind}`;
    if (kind === 'return') name = parent === 'func' ? 'func.return' : 'stablehlo.return';
    if (kind === 'call') name = 'func.call';
    const operands = op.operands.map((id) => this.use(op, id));
    let results = '';
    if (op.results.length === 1) results = `${this.define(op.results[0]!.id, `%v${op.results[0]!.id}`)} = `;
    else if (op.results.length > 1) {
      const base0 = `%v${op.results[0]!.id}`;
      op.results.forEach((r, i) => this.define(r.id, `${base0}#${i}`));
      results = `${base0}:${op.results.length} = `;
    }
    const attrText2 = entries.length
      ? ` {${entries.map(([k, v]) => (v === 'unit' ? keyText(k) : `${keyText(k)} = ${v}`)).join(', ')}}`
      : '';
    const sig = `(${op.operands.map((id) => this.typeOf(op, id)).join(', ')}) -> ${resultsText(op.results.map((r) => r.type))}`;
    if (!op.regions.length) {
      this.lines.push(`${indent}${results}"${name}"(${operands.join(', ')})${attrText2} : ${sig}`);
      return;
    }
    this.lines.push(`${indent}${results}"${name}"(${operands.join(', ')}) ({`);
    op.regions.forEach((r, i) => {
      if (i > 0) this.lines.push(`${indent}}, {`);
      this.blocks(r, indent + '  ', false, kind);
    });
    this.lines.push(`${indent}})${attrText2} : ${sig}`);
  }

  private readonly types = new Map<number, Entity>();
  private typeOf(op: BcOp, id: number): string {
    const t = this.types.get(id);
    return t ? typeText(t) : fail(op, `operand %${id} has no type`);
  }

  /** Records every value's type before printing (operands are printed with their types). */
  collectTypes(ops: readonly BcOp[]): this {
    const walk = (os: readonly BcOp[]): void => {
      for (const o of os) {
        o.results.forEach((r) => this.types.set(r.id, r.type));
        for (const r of o.regions)
          for (const b of r.blocks) {
            b.args.forEach((a) => this.types.set(a.id, a.type));
            walk(b.ops);
          }
      }
    };
    walk(ops);
    return this;
  }
}
