/**
 * @fileoverview NumPy .npy (format 1.0) reading and writing for interpreter inputs/results.
 * Types NumPy lacks are widened losslessly: bf16 and the f8/f6/f4 floats as float32,
 * i2/i4 as int8, ui2/ui4 as uint8.
 */
import { elemFromName, storageElem, tensorType, type ElemType, type TensorType } from '../ir/types.js';
import { decodeFloat, encodeFloat, FLOAT_FORMATS } from '../ir/float-format.js';
import { getElem, makeTensor, setElem, size, type Tensor } from '../ir/tensor.js';
import { RuntimeError } from '../diag/diagnostics.js';

interface NpyDtype {
  readonly descr: string;
  readonly bytes: number;
}

function npyDtype(e: ElemType): NpyDtype {
  const s = storageElem(e);
  switch (s.kind) {
    case 'bool':
      return { descr: '|b1', bytes: 1 };
    case 'int': {
      const bits = Math.max(8, s.bits);
      return { descr: `${bits === 8 ? '|' : '<'}${s.signed ? 'i' : 'u'}${bits / 8}`, bytes: bits / 8 };
    }
    case 'float':
      if (s.name === 'f64') return { descr: '<f8', bytes: 8 };
      if (s.name === 'f16') return { descr: '<f2', bytes: 2 };
      return { descr: '<f4', bytes: 4 };
    case 'complex':
      return s.part.name === 'f64' ? { descr: '<c16', bytes: 16 } : { descr: '<c8', bytes: 8 };
    case 'quant':
      throw new RuntimeError('quantized tensors have no .npy form');
  }
}

function writeScalar(view: DataView, off: number, descr: string, v: number | bigint): void {
  switch (descr.slice(1)) {
    case 'b1':
    case 'u1':
      view.setUint8(off, Number(v));
      return;
    case 'i1':
      view.setInt8(off, Number(v));
      return;
    case 'i2':
      view.setInt16(off, Number(v), true);
      return;
    case 'u2':
      view.setUint16(off, Number(v), true);
      return;
    case 'i4':
      view.setInt32(off, Number(v), true);
      return;
    case 'u4':
      view.setUint32(off, Number(v), true);
      return;
    case 'i8':
      view.setBigInt64(off, BigInt(v), true);
      return;
    case 'u8':
      view.setBigUint64(off, BigInt(v), true);
      return;
    case 'f2':
      view.setUint16(off, f16Bits(Number(v)), true);
      return;
    case 'f4':
      view.setFloat32(off, Number(v), true);
      return;
    case 'f8':
      view.setFloat64(off, Number(v), true);
      return;
  }
  throw new RuntimeError(`npy: unsupported dtype ${descr}`);
}

function readScalar(view: DataView, off: number, descr: string): number | bigint {
  switch (descr.slice(1)) {
    case 'b1':
    case 'u1':
      return view.getUint8(off);
    case 'i1':
      return view.getInt8(off);
    case 'i2':
      return view.getInt16(off, true);
    case 'u2':
      return view.getUint16(off, true);
    case 'i4':
      return view.getInt32(off, true);
    case 'u4':
      return view.getUint32(off, true);
    case 'i8':
      return view.getBigInt64(off, true);
    case 'u8':
      return view.getBigUint64(off, true);
    case 'f2':
      return f16Value(view.getUint16(off, true));
    case 'f4':
      return view.getFloat32(off, true);
    case 'f8':
      return view.getFloat64(off, true);
  }
  throw new RuntimeError(`npy: unsupported dtype ${descr}`);
}

const f16Bits = (x: number): number => Number(encodeFloat(FLOAT_FORMATS['f16']!, x));
const f16Value = (b: number): number => decodeFloat(FLOAT_FORMATS['f16']!, b);

export function encodeNpy(t: Tensor): Uint8Array {
  const dt = npyDtype(t.type.elem);
  const complex = storageElem(t.type.elem).kind === 'complex';
  const shape = t.type.shape.length === 1 ? `(${t.type.shape[0]},)` : `(${t.type.shape.join(', ')})`;
  let header = `{'descr': '${dt.descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const n = size(t);
  const out = new Uint8Array(10 + header.length + n * dt.bytes);
  out.set([0x93, ...Buffer.from('NUMPY'), 1, 0, header.length & 0xff, header.length >> 8]);
  out.set(Buffer.from(header, 'latin1'), 10);
  const view = new DataView(out.buffer, 10 + header.length);
  const partDescr = complex ? `<f${dt.bytes / 2}` : dt.descr;
  for (let i = 0; i < n; i++) {
    const v = getElem(t, i);
    if (complex) {
      const [re, im] = v as readonly [number, number];
      writeScalar(view, i * dt.bytes, partDescr, re);
      writeScalar(view, i * dt.bytes + dt.bytes / 2, partDescr, im);
    } else writeScalar(view, i * dt.bytes, dt.descr, v as number | bigint);
  }
  return out;
}

/** Decodes a .npy file into a tensor of `type` (values are converted to its element type). */
export function decodeNpy(bytes: Uint8Array, type: TensorType | undefined, what: string): Tensor {
  if (bytes[0] !== 0x93 || Buffer.from(bytes.subarray(1, 6)).toString() !== 'NUMPY')
    throw new RuntimeError(`${what}: not a .npy file`);
  const major = bytes[6]!;
  const hlen =
    major === 1 ? bytes[8]! | (bytes[9]! << 8) : bytes[8]! | (bytes[9]! << 8) | (bytes[10]! << 16) | (bytes[11]! << 24);
  const start = major === 1 ? 10 : 12;
  const header = Buffer.from(bytes.subarray(start, start + hlen)).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || shapeText === undefined) throw new RuntimeError(`${what}: bad .npy header`);
  if (/'fortran_order':\s*True/.test(header)) throw new RuntimeError(`${what}: fortran_order arrays are not supported`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s)
    .map(Number);
  const ty = type ?? tensorType(shape, elemForDescr(descr, what));
  if (shape.join('x') !== ty.shape.join('x'))
    throw new RuntimeError(`${what}: .npy shape (${shape.join(', ')}) does not match ${ty.shape.join('x')}`);
  const t = makeTensor(ty);
  const complex = descr.slice(1, 2) === 'c';
  const bytesPer = Number(descr.slice(2));
  const view = new DataView(bytes.buffer, bytes.byteOffset + start + hlen);
  const target = storageElem(ty.elem);
  for (let i = 0; i < size(t); i++) {
    let v: number | bigint | [number, number];
    if (complex) {
      const pd = `<f${bytesPer / 2}`;
      v = [Number(readScalar(view, i * bytesPer, pd)), Number(readScalar(view, i * bytesPer + bytesPer / 2, pd))];
    } else v = readScalar(view, i * bytesPer, descr);
    if (target.kind === 'int') setElem(t, i, typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v))));
    else if (target.kind === 'complex') setElem(t, i, Array.isArray(v) ? v : [Number(v), 0]);
    else setElem(t, i, Array.isArray(v) ? v[0] : Number(v));
  }
  return t;
}

function elemForDescr(descr: string, what: string): ElemType {
  const names: Record<string, string> = {
    b1: 'i1',
    i1: 'i8',
    i2: 'i16',
    i4: 'i32',
    i8: 'i64',
    u1: 'ui8',
    u2: 'ui16',
    u4: 'ui32',
    u8: 'ui64',
    f2: 'f16',
    f4: 'f32',
    f8: 'f64',
  };
  const e = elemFromName(names[descr.slice(1)] ?? '');
  if (!e) throw new RuntimeError(`${what}: unsupported .npy dtype ${descr}`);
  return e;
}
