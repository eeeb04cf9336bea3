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

/**
 * Attribute names of each VHLO op that has any: properties hold them in the alphabetical order
 * of these names (format >= 5), older artifacts name them in the op's attribute dictionary.
 */
const NAMED_ATTRS: Readonly<Record<string, readonly string[]>> = {
  all_gather_v1: ['all_gather_dim', 'channel_id', 'replica_groups', 'use_global_device_ids'],
  all_gather_v2: ['all_gather_dim', 'channel_id', 'replica_groups', 'use_global_device_ids'],
  all_reduce_v1: ['channel_id', 'replica_groups', 'use_global_device_ids'],
  all_reduce_v2: ['channel_id', 'replica_groups', 'use_global_device_ids'],
  all_to_all_v1: ['channel_id', 'concat_dimension', 'replica_groups', 'split_count', 'split_dimension'],
  all_to_all_v2: ['channel_id', 'concat_dimension', 'replica_groups', 'split_count', 'split_dimension'],
  batch_norm_grad_v1: ['epsilon', 'feature_index'],
  batch_norm_inference_v1: ['epsilon', 'feature_index'],
  batch_norm_training_v1: ['epsilon', 'feature_index'],
  broadcast_in_dim_v1: ['broadcast_dimensions'],
  broadcast_v1: ['broadcast_sizes'],
  call_v1: ['callee'],
  cholesky_v1: ['lower'],
  'cross-replica-sum_v1': ['replica_groups'],
  collective_broadcast_v1: ['channel_id', 'replica_groups'],
  collective_broadcast_v2: ['channel_id', 'has_dynamic_root', 'replica_groups'],
  collective_permute_v1: ['channel_id', 'source_target_pairs'],
  collective_reduce_v1: ['channel_id', 'has_dynamic_root', 'replica_groups', 'use_global_device_ids'],
  compare_v1: ['compare_type', 'comparison_direction'],
  composite_v1: ['composite_attributes', 'decomposition', 'name', 'version'],
  composite_v2: ['composite_attributes', 'decomposition', 'name', 'version'],
  concatenate_v1: ['dimension'],
  constant_v1: ['value'],
  convolution_v1: [
    'batch_group_count',
    'feature_group_count',
    'input_batch_dimension',
    'input_feature_dimension',
    'input_spatial_dimensions',
    'kernel_input_feature_dimension',
    'kernel_output_feature_dimension',
    'kernel_spatial_dimensions',
    'lhs_dilation',
    'output_batch_dimension',
    'output_feature_dimension',
    'output_spatial_dimensions',
    'padding',
    'precision_config',
    'rhs_dilation',
    'window_reversal',
    'window_strides',
  ],
  custom_call_v1: [
    'api_version',
    'backend_config',
    'call_target_name',
    'called_computations',
    'has_side_effect',
    'operand_layouts',
    'output_operand_aliases',
    'result_layouts',
  ],
  dot_general_v1: [
    'lhs_batching_dimensions',
    'lhs_contracting_dimensions',
    'precision_config',
    'rhs_batching_dimensions',
    'rhs_contracting_dimensions',
  ],
  dot_general_v2: [
    'accumulation_type',
    'allow_imprecise_accumulation',
    'lhs_batching_dimensions',
    'lhs_component_count',
    'lhs_contracting_dimensions',
    'lhs_precision_type',
    'num_primitive_operations',
    'precision_config',
    'rhs_batching_dimensions',
    'rhs_component_count',
    'rhs_contracting_dimensions',
    'rhs_precision_type',
  ],
  dot_v1: ['precision_config'],
  dynamic_broadcast_in_dim_v1: ['broadcast_dimensions', 'known_expanding_dimensions', 'known_nonexpanding_dimensions'],
  dynamic_gather_v1: [
    'collapsed_slice_dims',
    'index_vector_dim',
    'indices_are_sorted',
    'offset_dims',
    'start_index_map',
  ],
  dynamic_gather_v2: [
    'collapsed_slice_dims',
    'index_vector_dim',
    'indices_are_sorted',
    'offset_dims',
    'operand_batching_dims',
    'start_index_map',
    'start_indices_batching_dims',
  ],
  dynamic_iota_v1: ['iota_dimension'],
  dynamic_slice_v1: ['slice_sizes'],
  einsum_v1: ['einsum_config'],
  fft_v1: ['fft_length', 'fft_type'],
  func_v1: ['arg_attrs', 'function_type', 'res_attrs', 'sym_name', 'sym_visibility'],
  gather_v1: [
    'collapsed_slice_dims',
    'index_vector_dim',
    'indices_are_sorted',
    'offset_dims',
    'slice_sizes',
    'start_index_map',
  ],
  gather_v2: [
    'collapsed_slice_dims',
    'index_vector_dim',
    'indices_are_sorted',
    'offset_dims',
    'operand_batching_dims',
    'slice_sizes',
    'start_index_map',
    'start_indices_batching_dims',
  ],
  get_dimension_size_v1: ['dimension'],
  get_tuple_element_v1: ['index'],
  infeed_v1: ['infeed_config', 'layout'],
  iota_v1: ['iota_dimension'],
  map_v1: ['dimensions'],
  outfeed_v1: ['outfeed_config'],
  pad_v1: ['edge_padding_high', 'edge_padding_low', 'interior_padding'],
  recv_v1: ['channel_id', 'channel_type', 'is_host_transfer'],
  recv_v2: ['channel_id', 'channel_type', 'is_host_transfer', 'source_target_pairs'],
  reduce_precision_v1: ['exponent_bits', 'mantissa_bits'],
  reduce_scatter_v1: ['channel_id', 'replica_groups', 'scatter_dimension', 'use_global_device_ids'],
  reduce_v1: ['dimensions'],
  reduce_window_v1: ['base_dilations', 'padding', 'window_dilations', 'window_dimensions', 'window_strides'],
  reverse_v1: ['dimensions'],
  rng_bit_generator_v1: ['rng_algorithm'],
  rng_v1: ['rng_distribution'],
  scatter_v1: [
    'index_vector_dim',
    'indices_are_sorted',
    'inserted_window_dims',
    'scatter_dims_to_operand_dims',
    'unique_indices',
    'update_window_dims',
  ],
  scatter_v2: [
    'index_vector_dim',
    'indices_are_sorted',
    'input_batching_dims',
    'inserted_window_dims',
    'scatter_dims_to_operand_dims',
    'scatter_indices_batching_dims',
    'unique_indices',
    'update_window_dims',
  ],
  select_and_scatter_v1: ['padding', 'window_dimensions', 'window_strides'],
  send_v1: ['channel_id', 'channel_type', 'is_host_transfer'],
  send_v2: ['channel_id', 'channel_type', 'is_host_transfer', 'source_target_pairs'],
  set_dimension_size_v1: ['dimension'],
  slice_v1: ['limit_indices', 'start_indices', 'strides'],
  sort_v1: ['dimension', 'is_stable'],
  torch_index_select_v1: ['batch_dims', 'dim'],
  transpose_v1: ['permutation'],
  triangular_solve_v1: ['left_side', 'lower', 'transpose_a', 'unit_diagonal'],
  unary_einsum_v1: ['einsum_config'],
};
/** NAMED_ATTRS plus the ops whose names follow from others'. */
const OP_ATTRS: Readonly<Record<string, readonly string[]>> = {
  ...NAMED_ATTRS,
  dynamic_conv_v1: NAMED_ATTRS['convolution_v1']!,
  dynamic_conv_v2: NAMED_ATTRS['convolution_v1']!.filter((n) => n !== 'padding'),
  custom_call_v2: [...NAMED_ATTRS['custom_call_v1']!, 'result_tilings'],
  // Unary ops that gained a result_accuracy in their second version.
  ...Object.fromEntries(
    ['cbrt', 'cosine', 'exponential', 'exponential_minus_one', 'log', 'log_plus_one', 'logistic']
      .concat(['rsqrt', 'sine', 'sqrt', 'tan', 'tanh'])
      .map((op) => [`${op}_v2`, ['result_accuracy']]),
  ),
};

/** VHLO ops without attributes (StableHLO op = name without `_vN`). */
const PLAIN_OPS = new Set(
  (
    'abs add after_all and async_done async_start atan2 bitcast_convert case cbrt ceil clamp complex ' +
    'concatenate convert cosine count_leading_zeros create_token divide dynamic_pad dynamic_reshape ' +
    'dynamic_update_slice exponential exponential_minus_one floor if imag is_finite log log_plus_one ' +
    'logistic maximum minimum multiply negate not optimization_barrier or partition_id popcnt power ' +
    'real real_dynamic_slice real remainder replica_id reshape return round_nearest_afz ' +
    'round_nearest_even rsqrt select shift_left shift_right_arithmetic shift_right_logical sign sine ' +
    'sqrt subtract tan tanh tuple uniform_dequantize uniform_quantize while xor'
  )
    .split(/\s+/)
    .map((n) => `${n}_v1`),
);

/** Attributes that today's ops take as `array<i64: ...>` / `array<i1: ...>`, per op (no version). */
const I64_ARRAYS: Readonly<Record<string, readonly string[]>> = {
  fft: ['fft_length'],
  broadcast: ['broadcast_sizes'],
  dynamic_slice: ['slice_sizes'],
  reverse: ['dimensions'],
  transpose: ['permutation'],
  pad: ['edge_padding_low', 'edge_padding_high', 'interior_padding'],
  slice: ['start_indices', 'limit_indices', 'strides'],
  broadcast_in_dim: ['broadcast_dimensions'],
  dynamic_broadcast_in_dim: ['broadcast_dimensions', 'known_expanding_dimensions', 'known_nonexpanding_dimensions'],
  select_and_scatter: ['window_dimensions', 'window_strides'],
  reduce_window: ['window_dimensions', 'window_strides', 'base_dilations', 'window_dilations'],
  map: ['dimensions'],
  reduce: ['dimensions'],
  gather: ['slice_sizes'],
  convolution: ['lhs_dilation', 'rhs_dilation', 'window_strides'],
  dynamic_conv: ['lhs_dilation', 'rhs_dilation', 'window_strides'],
};
const BOOL_ARRAYS: Readonly<Record<string, readonly string[]>> = {
  convolution: ['window_reversal'],
  dynamic_conv: ['window_reversal'],
};

/** The newest VHLO opset this reader knows (artifacts name theirs in the producer string). */
export const NEWEST_VHLO: readonly [number, number, number] = [1, 20, 0];

type Attrs = Map<string, Entity>;

const fail = (op: BcOp, detail: string): never => {
  throw new BytecodeError(op.at, `${op.name}: ${detail}`);
};

// ---------------------------------------------------------------------------------------------
// Types and attribute values as StableHLO text.

function typeText(t: Entity): string {
  switch (t.k) {
    case 'scalar':
      return t['name'] as string;
    case 'complex':
      return `complex<${typeText(t['elem'] as Entity)}>`;
    case 'tensor': {
      const dims = (t['shape'] as number[]).map((d) => (d < 0 ? '?' : String(d)));
      const enc = t['encoding'] as Entity | undefined;
      return `tensor<${[...dims, typeText(t['elem'] as Entity)].join('x')}${enc ? `, ${encodingText(enc)}` : ''}>`;
    }
    case 'unranked':
      return `tensor<*x${typeText(t['elem'] as Entity)}>`;
    case 'tuple':
      return `tuple<${(t['elems'] as Entity[]).map(typeText).join(', ')}>`;
    case 'token':
      return '!stablehlo.token';
    case 'function':
      return `(${(t['inputs'] as Entity[]).map(typeText).join(', ')}) -> ${resultsText(t['outputs'] as Entity[])}`;
    case 'buffer':
      return `memref<${[...(t['shape'] as number[]).map((d) => (d < 0 ? '?' : String(d))), typeText(t['elem'] as Entity)].join('x')}>`;
    case 'quant':
      return quantText(t);
    case 'future':
      return `!stablehlo.future<${(t['types'] as Entity[]).map(typeText).join(', ')}>`;
    case 'asm':
      return t['text'] as string;
    default:
      throw new BytecodeError(0, `type ${t.k} has no StableHLO spelling`);
  }
}

function resultsText(ts: readonly Entity[]): string {
  return ts.length === 1 && ts[0]!.k !== 'function' ? typeText(ts[0]!) : `(${ts.map(typeText).join(', ')})`;
}

function encodingText(a: Entity): string {
  if (a.k === 'typeExtensions')
    return `#stablehlo.type_extensions<bounds = [${(a['bounds'] as number[]).map((b) => (b < 0 ? '?' : String(b))).join(', ')}]>`;
  return attrText(a);
}

function f64(bits: bigint): number {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setBigUint64(0, bits);
  return dv.getFloat64(0);
}

/** `!quant.uniform<i8:f32, 0.5:-1>` / per axis `!quant.uniform<i8:f32:1, {0.5:-1, 0.25:0}>`. */
function quantText(t: Entity): string {
  const storage = typeText(t['storage'] as Entity);
  const signed = ((t['flags'] as number) & 1) === 1;
  const bits = Number(/\d+$/.exec(storage)?.[0] ?? 8);
  const st = `${signed ? 'i' : 'u'}${bits}`;
  const min = t['min'] as bigint;
  const max = t['max'] as bigint;
  const fullMin = signed ? -(2n ** BigInt(bits - 1)) : 0n;
  const fullMax = signed ? 2n ** BigInt(bits - 1) - 1n : 2n ** BigInt(bits) - 1n;
  const range = min === fullMin && max === fullMax ? '' : `<${min}:${max}>`;
  const params = (t['scales'] as bigint[]).map((s, i) => `${doubleText(f64(s))}:${(t['zeroPoints'] as number[])[i]}`);
  const axis = t['axis'] as number | undefined;
  const expressed = typeText(t['expressed'] as Entity);
  return axis === undefined
    ? `!quant.uniform<${st}${range}:${expressed}, ${params[0]}>`
    : `!quant.uniform<${st}${range}:${expressed}:${axis}, {${params.join(', ')}}>`;
}

function doubleText(v: number): string {
  if (!Number.isFinite(v)) return v > 0 ? '0x7FF0000000000000' : v < 0 ? '0xFFF0000000000000' : '0x7FF8000000000000';
  const s = Object.is(v, -0) ? '-0.0' : String(v);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/** A float attribute's value: shortest decimal that reads back as the same value of its type. */
function floatText(bits: bigint, type: string): string {
  const hex = `0x${bits.toString(16).toUpperCase()}`;
  let v: number;
  const dv = new DataView(new ArrayBuffer(8));
  if (type === 'f64') return doubleText(f64(bits));
  if (type === 'f32') {
    dv.setUint32(0, Number(bits));
    v = dv.getFloat32(0);
    if (!Number.isFinite(v)) return hex;
    for (let p = 1; p <= 9; p++) {
      const s = v.toPrecision(p);
      if (Math.fround(Number(s)) === v) return doubleText(Number(s));
    }
    return doubleText(v);
  }
  return hex; // narrower floats: the bit pattern, which MLIR reads as such
}

const MLIR_STRING_SAFE = /^[\x20-\x7e]*$/;
/** An MLIR string literal: `\"`, `\\` and two-digit hex escapes for anything unprintable. */
export function mlirString(s: string): string {
  if (MLIR_STRING_SAFE.test(s) && !/["\\]/.test(s)) return `"${s}"`;
  const bytes = new TextEncoder().encode(s);
  let out = '"';
  for (const b of bytes) {
    if (b === 0x22 || b === 0x5c) out += `\\${String.fromCharCode(b)}`;
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += `\\${b.toString(16).padStart(2, '0').toUpperCase()}`;
  }
  return `${out}"`;
}

function intValue(a: Entity): bigint {
  const v = a['value'] as bigint;
  const t = a['type'] as Entity;
  const name = t.k === 'scalar' ? (t['name'] as string) : '';
  const m = /^(u?)i(\d+)$/.exec(name);
  if (name === 'index') return BigInt.asIntN(64, v);
  return m && !m[1] ? BigInt.asIntN(Number(m[2]), v) : v;
}

/** Element values of an integer tensor attribute (little-endian storage). */
function tensorInts(a: Entity): bigint[] {
  const t = a['type'] as Entity;
  const data = a['data'] as Uint8Array;
  const elem = (t['elem'] as Entity)['name'] as string;
  if (elem === 'i1') {
    const bytes = tensorBytes(a);
    return Array.from({ length: numElements(t) }, (_, i) => BigInt(bytes[bytes.length === 1 ? 0 : i]!));
  }
  const m = /^(u?)i(\d+)$/.exec(elem);
  if (!m) throw new BytecodeError(0, `expected an integer tensor, got ${elem}`);
  const width = Math.max(1, Math.ceil(Number(m[2]) / 8));
  const n = numElements(t);
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) {
    const off = data.length === width ? 0 : i * width;
    let v = 0n;
    for (let b = width - 1; b >= 0; b--) v = (v << 8n) | BigInt(data[off + b] ?? 0);
    out.push(m[1] ? v : BigInt.asIntN(width * 8, v));
  }
  return out;
}

function numElements(t: Entity): number {
  return (t['shape'] as number[]).reduce((a, b) => a * Math.max(b, 0), 1);
}

/**
 * The raw element bytes of a tensor attribute, one byte per boolean: VHLO packs booleans eight to
 * a byte (a blob of exactly ceil(n/8) bytes, n != ceil(n/8)); any other blob is the raw bytes (one
 * byte for all elements: a splat).
 */
function tensorBytes(a: Entity): Uint8Array {
  const t = a['type'] as Entity;
  const data = a['data'] as Uint8Array;
  const elem = t.k === 'tensor' ? (t['elem'] as Entity) : undefined;
  if (elem?.k !== 'scalar' || elem['name'] !== 'i1') return data;
  const n = numElements(t);
  if (data.length === Math.ceil(n / 8) && data.length !== n) {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = (data[i >> 3]! >> (i & 7)) & 1;
    return out;
  }
  return data.map((b) => (b ? 1 : 0));
}

function hex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0').toUpperCase();
  return s;
}

/** Tensors of this many bytes or more stay in the file: the text names them, `blobs` holds them. */
const BLOB_BYTES = 64;
/** Where the printer being run puts tensor data (undefined: spelled out in hex). */
let blobSink: ((bytes: Uint8Array) => string) | undefined;

function attrText(a: Entity): string {
  switch (a.k) {
    case 'array':
      return `[${(a['elems'] as Entity[]).map(attrText).join(', ')}]`;
    case 'bool':
      return String(a['value']);
    case 'enum':
      return a['enum'] === 'api_version'
        ? `${apiVersionNumber(a['value'] as string)} : i32`
        : `#stablehlo<${a['enum']} ${a['value']}>`;
    case 'dict':
      return dictText(a['entries'] as [string, Entity][]);
    case 'float': {
      const type = typeText(a['type'] as Entity);
      return `${floatText(a['bits'] as bigint, type)} : ${type}`;
    }
    case 'int':
      return `${intValue(a)} : ${typeText(a['type'] as Entity)}`;
    case 'outputOperandAlias':
      return (
        `#stablehlo.output_operand_alias<output_tuple_indices = [${(a['outputTupleIndices'] as number[]).join(', ')}], ` +
        `operand_index = ${a['operandIndex']}, operand_tuple_indices = [${(a['operandTupleIndices'] as number[]).join(', ')}]>`
      );
    case 'string':
      return mlirString(a['value'] as string);
    case 'tensor': {
      const bytes = tensorBytes(a);
      const type = typeText(a['type'] as Entity);
      if (blobSink && bytes.length >= BLOB_BYTES) return `dense_resource<${blobSink(bytes)}> : ${type}`;
      return `dense<"0x${hex(bytes)}"> : ${type}`;
    }
    case 'resource': {
      const data = a['data'] as Uint8Array | undefined;
      const type = typeText(a['type'] as Entity);
      if (!data) return `dense_resource<${a['key'] as string}> : ${type}`;
      return blobSink ? `dense_resource<${blobSink(data)}> : ${type}` : `dense<"0x${hex(data)}"> : ${type}`;
    }
    case 'typeAttr':
      return typeText(a['type'] as Entity);
    case 'typeExtensions':
      return encodingText(a);
    case 'resultAccuracy':
      return (
        `#stablehlo.result_accuracy<atol = ${doubleText(f64(a['atol'] as bigint))}, rtol = ${doubleText(f64(a['rtol'] as bigint))}, ` +
        `ulps = ${a['ulps']}, mode = #stablehlo.result_accuracy_mode<${(a['mode'] as Entity)['value']}>>`
      );
    case 'symbol':
      return `@${symbolName(a['name'] as string)}`;
    case 'meshAxes': {
      const mesh = a['mesh'] as Entity;
      const name = mesh.k === 'string' ? `@${symbolName(mesh['value'] as string)}` : attrText(mesh);
      return `#stablehlo.replica_group_mesh_axes<mesh = ${name}, axes = ${attrText(a['axes'] as Entity)}>`;
    }
    case 'axisRef': {
      const sub = (a['subAxisInfo'] as Entity[])[0];
      return `#stablehlo.axis_ref<name = ${attrText(a['name'] as Entity)}${sub ? `, sub_axis_info = (${sub['preSize']})${sub['size']}` : ''}>`;
    }
    case 'unit':
      return 'unit';
    case 'asm':
      return a['text'] as string;
    default:
      throw new BytecodeError(0, `attribute ${a.d}.${a.k} has no StableHLO spelling`);
  }
}

function apiVersionNumber(v: string): number {
  return [
    'API_VERSION_UNSPECIFIED',
    'API_VERSION_ORIGINAL',
    'API_VERSION_STATUS_RETURNING',
    'API_VERSION_STATUS_RETURNING_UNIFIED',
    'API_VERSION_TYPED_FFI',
  ].indexOf(v);
}

const symbolName = (n: string): string => (/^[A-Za-z_][A-Za-z0-9_.$-]*$/.test(n) ? n : mlirString(n));
const keyText = (k: string): string => (/^[A-Za-z_][A-Za-z0-9_.$]*$/.test(k) ? k : mlirString(k));

function dictText(entries: readonly (readonly [string, Entity])[]): string {
  return `{${entries.map(([k, v]) => (v.k === 'unit' ? keyText(k) : `${keyText(k)} = ${attrText(v)}`)).join(', ')}}`;
}

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
    blobSink = (bytes) => {
      const key = `__vhlo_tensor_${this.blobs.size}`;
      this.blobs.set(key, bytes);
      return key;
    };
    try {
      for (const op of ops) this.topLevel(op);
    } finally {
      blobSink = undefined;
    }
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
