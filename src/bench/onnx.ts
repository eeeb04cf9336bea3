/**
 * @fileoverview A minimal ONNX writer for the benchmark's reference models: just the protobuf
 * fields of ModelProto that the bench's opset-17 graphs need, encoded
 * with the protobuf wire format (varints and length-delimited fields). Field numbers are those of
 * onnx/onnx.proto.
 */

type Field = Uint8Array;

function varint(n: number | bigint): number[] {
  let v = BigInt(n);
  if (v < 0n) v = BigInt.asUintN(64, v);
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v) byte |= 0x80;
    out.push(byte);
  } while (v);
  return out;
}

const concat = (parts: readonly Field[]): Field => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
};

const intField = (field: number, v: number | bigint): Field => Uint8Array.from([...varint(field << 3), ...varint(v)]);
const bytesField = (field: number, bytes: Field): Field =>
  concat([Uint8Array.from([...varint((field << 3) | 2), ...varint(bytes.length)]), bytes]);
const strField = (field: number, s: string): Field => bytesField(field, new TextEncoder().encode(s));
const floatField = (field: number, v: number): Field => {
  const b = new Uint8Array(5);
  b[0] = (field << 3) | 5;
  new DataView(b.buffer).setFloat32(1, v, true);
  return b;
};

const FLOAT = 1;
const INT8 = 3;
const INT64 = 7;

export type AttrValue = number | readonly number[];
export interface OnnxNode {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs?: Readonly<Record<string, AttrValue>>;
  /** Attributes that are floats (the rest are ints). */
  readonly floatAttrs?: readonly string[];
}

export interface OnnxInitializer {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: Float32Array | Int8Array | BigInt64Array;
}

export interface OnnxGraph {
  readonly nodes: readonly OnnxNode[];
  /** float32, int8 or int64 (shapes) tensors: the element type follows the array's. */
  readonly initializers: readonly OnnxInitializer[];
  readonly input: { readonly name: string; readonly dims: readonly number[] };
  readonly output: { readonly name: string; readonly dims: readonly number[]; readonly int8?: boolean };
}

function attribute(name: string, v: AttrValue, isFloat: boolean): Field {
  // AttributeProto: name 1, f 2, i 3, ints 8, type 20 (FLOAT 1, INT 2, INTS 7)
  if (typeof v === 'number')
    return concat([strField(1, name), isFloat ? floatField(2, v) : intField(3, v), intField(20, isFloat ? 1 : 2)]);
  return concat([strField(1, name), ...v.map((x) => intField(8, x)), intField(20, 7)]);
}

function valueInfo(name: string, dims: readonly number[], elemType = FLOAT): Field {
  // ValueInfoProto{name 1, type 2: TypeProto{tensor_type 1: {elem_type 1, shape 2: {dim 1: {dim_value 1}}}}}
  const shape = concat(dims.map((d) => bytesField(1, intField(1, d))));
  const tensorType = concat([intField(1, elemType), bytesField(2, shape)]);
  return concat([strField(1, name), bytesField(2, bytesField(1, tensorType))]);
}

/** Serializes a graph (float32 input; float32 or int8 tensors otherwise) as an ONNX model (IR version 8, opset 17). */
export function encodeOnnx(g: OnnxGraph): Uint8Array {
  const nodes = g.nodes.map((n, i) =>
    bytesField(
      1,
      concat([
        ...n.inputs.map((x) => strField(1, x)),
        ...n.outputs.map((x) => strField(2, x)),
        strField(3, `${n.op.toLowerCase()}${i}`),
        strField(4, n.op),
        ...Object.entries(n.attrs ?? {}).map(([k, v]) =>
          bytesField(5, attribute(k, v, n.floatAttrs?.includes(k) ?? false)),
        ),
      ]),
    ),
  );
  const inits = g.initializers.map((t) =>
    // TensorProto: dims 1, data_type 2, name 8, raw_data 9 (little-endian)
    bytesField(
      5,
      concat([
        ...t.dims.map((d) => intField(1, d)),
        intField(2, t.data instanceof Int8Array ? INT8 : t.data instanceof BigInt64Array ? INT64 : FLOAT),
        strField(8, t.name),
        bytesField(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)),
      ]),
    ),
  );
  const graph = concat([
    ...nodes,
    strField(2, 'bench'),
    ...inits,
    bytesField(11, valueInfo(g.input.name, g.input.dims)),
    bytesField(12, valueInfo(g.output.name, g.output.dims, g.output.int8 ? INT8 : FLOAT)),
  ]);
  // ModelProto: ir_version 1, producer_name 2, graph 7, opset_import 8 {domain 1, version 2}
  return concat([
    intField(1, 8),
    strField(2, 'xla-aot bench'),
    bytesField(7, graph),
    bytesField(8, concat([strField(1, ''), intField(2, 17)])),
  ]);
}
