/**
 * @fileoverview Decoded VHLO/builtin types and attribute values (dialects.ts's vocabulary) spelled
 * as StableHLO text: tensor, quantized and function types, float bit patterns as the shortest
 * decimal of their type, MLIR string escapes, tensor literals (large ones as `dense_resource` keys
 * whose data stays in the artifact, see withTensorSink).
 */
import { BytecodeError } from './stream.js';
import type { Entity } from './container.js';

export function typeText(t: Entity): string {
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

export function resultsText(ts: readonly Entity[]): string {
  return ts.length === 1 && ts[0]!.k !== 'function' ? typeText(ts[0]!) : `(${ts.map(typeText).join(', ')})`;
}

function encodingText(a: Entity): string {
  if (a.k === 'typeExtensions')
    return `#stablehlo.type_extensions<bounds = [${(a['bounds'] as number[]).map((b) => (b < 0 ? '?' : String(b))).join(', ')}]>`;
  return attrText(a);
}

export function f64(bits: bigint): number {
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

export function intValue(a: Entity): bigint {
  const v = a['value'] as bigint;
  const t = a['type'] as Entity;
  const name = t.k === 'scalar' ? (t['name'] as string) : '';
  const m = /^(u?)i(\d+)$/.exec(name);
  if (name === 'index') return BigInt.asIntN(64, v);
  return m && !m[1] ? BigInt.asIntN(Number(m[2]), v) : v;
}

/** Element values of an integer tensor attribute (little-endian storage). */
export function tensorInts(a: Entity): bigint[] {
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

/** Runs `f` with large tensors handed to `sink` (which returns their `dense_resource` key). */
export function withTensorSink<T>(sink: (bytes: Uint8Array) => string, f: () => T): T {
  blobSink = sink;
  try {
    return f();
  } finally {
    blobSink = undefined;
  }
}

export function attrText(a: Entity): string {
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

export const symbolName = (n: string): string => (/^[A-Za-z_][A-Za-z0-9_.$-]*$/.test(n) ? n : mlirString(n));
export const keyText = (k: string): string => (/^[A-Za-z_][A-Za-z0-9_.$]*$/.test(k) ? k : mlirString(k));

function dictText(entries: readonly (readonly [string, Entity])[]): string {
  return `{${entries.map(([k, v]) => (v.k === 'unit' ? keyText(k) : `${keyText(k)} = ${attrText(v)}`)).join(', ')}}`;
}
