/**
 * @fileoverview The benchmark's workloads, each written twice from the same weights: as StableHLO
 * (NHWC, what xla-aot compiles) and as ONNX (NCHW, what ONNX Runtime runs), so both sides compute
 * the same function and the driver can check that their outputs agree.
 */
import { encodeOnnx, type OnnxGraph, type OnnxNode } from './onnx.js';

/** Deterministic weights in [-scale, scale) (32-bit LCG). */
export function randomFloats(n: number, scale: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 2 * scale;
  }
  return out;
}

export const hex = (a: Float32Array): string =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex').toUpperCase();
export const ty = (dims: readonly number[]): string => `tensor<${dims.join('x')}xf32>`;
const constant = (name: string, dims: readonly number[], data: Float32Array): string =>
  `  %${name} = stablehlo.constant dense<"0x${hex(data)}"> : ${ty(dims)}`;

export interface BenchModel {
  readonly name: string;
  readonly mlir: string;
  readonly onnx: Uint8Array;
  /** Input as ONNX wants it (NCHW) and as the StableHLO takes it (NHWC): same values. */
  readonly onnxInputDims: readonly number[];
  readonly input: Float32Array;
  readonly ourInput: Float32Array;
  /** Maps our output (NHWC) to ONNX's layout (NCHW) for the comparison. */
  readonly toOnnxLayout: (ours: Float32Array) => Float32Array;
  readonly flops: number;
}

/** GEMM C[M][N] = A[M][K] * W[K][N] with W a weight (packed at compile time by xla-aot). */
export function gemmModule(m: number, k: number, n: number, w: Float32Array): string {
  return [
    `func.func @main(%a: ${ty([m, k])}) -> ${ty([m, n])} {`,
    constant('w', [k, n], w),
    `  %c = stablehlo.dot_general %a, %w, contracting_dims = [1] x [0] : (${ty([m, k])}, ${ty([k, n])}) -> ${ty([m, n])}`,
    `  return %c : ${ty([m, n])}`,
    '}',
    '',
  ].join('\n');
}

/** Seeded int8 values in [-128, 127] (the same generator as randomFloats). */
export function randomInt8(n: number, seed: number): Int8Array {
  const u = randomFloats(n, 1, seed);
  return Int8Array.from(u, (x) => Math.max(-128, Math.min(127, Math.floor(x * 128))));
}

/** C[MxN] = A[MxK] W[KxN] in int8 x int8 -> int32 (W a constant of the model): the integer GEMM that
 * quantized models' contractions become (canonicalize/quantized.ts). */
export function int8GemmModule(m: number, k: number, n: number, w: Int8Array): string {
  const t = (dims: readonly number[], e: string): string => `tensor<${dims.join('x')}x${e}>`;
  const bytes = Buffer.from(w.buffer, w.byteOffset, w.byteLength).toString('hex').toUpperCase();
  return [
    `func.func @main(%a: ${t([m, k], 'i8')}) -> ${t([m, n], 'i32')} {`,
    `  %w = stablehlo.constant dense<"0x${bytes}"> : ${t([k, n], 'i8')}`,
    `  %c = stablehlo.dot_general %a, %w, contracting_dims = [1] x [0] : (${t([m, k], 'i8')}, ${t([k, n], 'i8')}) -> ${t([m, n], 'i32')}`,
    `  return %c : ${t([m, n], 'i32')}`,
    '}',
    '',
  ].join('\n');
}

const identity = (x: Float32Array): Float32Array => x;

/** NHWC [N,H,W,C] -> NCHW [N,C,H,W] (N = the length over H*W*C). */
export function nhwcToNchw(x: Float32Array, h: number, w: number, c: number): Float32Array {
  const out = new Float32Array(x.length);
  const image = h * w * c;
  for (let n = 0; n < x.length; n += image)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++)
        for (let ch = 0; ch < c; ch++) out[n + (ch * h + y) * w + xx] = x[n + (y * w + xx) * c + ch]!;
  return out;
}

/** HWIO [kh][kw][ci][co] -> OIHW [co][ci][kh][kw]. */
export function hwioToOihw(wt: Float32Array, kh: number, kw: number, ci: number, co: number): Float32Array {
  const out = new Float32Array(wt.length);
  for (let a = 0; a < kh; a++)
    for (let b = 0; b < kw; b++)
      for (let i = 0; i < ci; i++)
        for (let o = 0; o < co; o++) out[((o * ci + i) * kh + a) * kw + b] = wt[((a * kw + b) * ci + i) * co + o]!;
  return out;
}

const MLP_SIZES = [784, 512, 512, 10];
/** The bench MLP's weights, layer by layer ([k][n] row-major). */
const mlpWeights = (): Float32Array[] =>
  MLP_SIZES.slice(1).map((n, i) => randomFloats(MLP_SIZES[i]! * n, 1 / Math.sqrt(MLP_SIZES[i]!), 100 + i));

/** MLP 784-512-512-10 (Gemm+ReLU, Gemm+ReLU, Gemm) at a batch size. */
export function mlp(batch: number): BenchModel {
  const sizes = MLP_SIZES;
  const ws = mlpWeights();
  const bs = sizes.slice(1).map((n, i) => randomFloats(n, 0.1, 200 + i));
  const lines = [`func.func @main(%x: ${ty([batch, 784])}) -> ${ty([batch, 10])} {`];
  const nodes: OnnxNode[] = [];
  let cur = 'x';
  let onnxCur = 'x';
  for (let l = 0; l < 3; l++) {
    const [k, n] = [sizes[l]!, sizes[l + 1]!];
    lines.push(constant(`w${l}`, [k, n], ws[l]!), constant(`b${l}`, [n], bs[l]!));
    lines.push(
      `  %d${l} = stablehlo.dot_general %${cur}, %w${l}, contracting_dims = [1] x [0] : (${ty([batch, k])}, ${ty([k, n])}) -> ${ty([batch, n])}`,
    );
    lines.push(`  %bb${l} = stablehlo.broadcast_in_dim %b${l}, dims = [1] : (${ty([n])}) -> ${ty([batch, n])}`);
    lines.push(`  %s${l} = stablehlo.add %d${l}, %bb${l} : ${ty([batch, n])}`);
    nodes.push({ op: 'Gemm', inputs: [onnxCur, `w${l}`, `b${l}`], outputs: [`g${l}`] });
    cur = `s${l}`;
    onnxCur = `g${l}`;
    if (l < 2) {
      lines.push(
        `  %z${l} = stablehlo.constant dense<0.0> : ${ty([batch, n])}`,
        `  %r${l} = stablehlo.maximum %s${l}, %z${l} : ${ty([batch, n])}`,
      );
      nodes.push({ op: 'Relu', inputs: [onnxCur], outputs: [`r${l}`] });
      cur = `r${l}`;
      onnxCur = `r${l}`;
    }
  }
  lines.push(`  return %${cur} : ${ty([batch, 10])}`, '}', '');
  const graph: OnnxGraph = {
    nodes,
    initializers: [
      ...ws.map((data, i) => ({ name: `w${i}`, dims: [sizes[i]!, sizes[i + 1]!], data })),
      ...bs.map((data, i) => ({ name: `b${i}`, dims: [sizes[i + 1]!], data })),
    ],
    input: { name: 'x', dims: [batch, 784] },
    output: { name: onnxCur, dims: [batch, 10] },
  };
  const input = randomFloats(batch * 784, 1, 7);
  const flops = 2 * batch * (784 * 512 + 512 * 512 + 512 * 10);
  return {
    name: `mlp_b${batch}`,
    mlir: lines.join('\n'),
    onnx: encodeOnnx(graph),
    onnxInputDims: [batch, 784],
    input,
    ourInput: input,
    toOnnxLayout: identity,
    flops,
  };
}

/** One 3x3 stride-1 'same' convolution, NHWC [1,H,W,C] -> [1,H,W,CO] (no bias, no activation). */
export function conv(h: number, w: number, c: number, co: number): BenchModel {
  const wt = randomFloats(9 * c * co, 1 / Math.sqrt(9 * c), 300);
  const inT = ty([1, h, w, c]);
  const outT = ty([1, h, w, co]);
  const mlir = [
    `func.func @main(%x: ${inT}) -> ${outT} {`,
    constant('w', [3, 3, c, co], wt),
    `  %y = stablehlo.convolution(%x, %w) dim_numbers = [b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f], window = {stride = [1, 1], pad = [[1, 1], [1, 1]]} {batch_group_count = 1 : i64, feature_group_count = 1 : i64} : (${inT}, ${ty([3, 3, c, co])}) -> ${outT}`,
    `  return %y : ${outT}`,
    '}',
    '',
  ].join('\n');
  const graph: OnnxGraph = {
    nodes: [
      {
        op: 'Conv',
        inputs: ['x', 'w'],
        outputs: ['y'],
        attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1] },
      },
    ],
    initializers: [{ name: 'w', dims: [co, c, 3, 3], data: hwioToOihw(wt, 3, 3, c, co) }],
    input: { name: 'x', dims: [1, c, h, w] },
    output: { name: 'y', dims: [1, co, h, w] },
  };
  const ourInput = randomFloats(h * w * c, 1, 8);
  return {
    name: `conv_${h}x${w}x${c}_3x3_${co}`,
    mlir,
    onnx: encodeOnnx(graph),
    onnxInputDims: [1, c, h, w],
    input: nhwcToNchw(ourInput, h, w, c),
    ourInput,
    toOnnxLayout: (y) => nhwcToNchw(y, h, w, co),
    flops: 2 * h * w * co * 9 * c,
  };
}

/** Small CNN on 28x28x1: conv3x3(1->16)+ReLU+maxpool2, conv3x3(16->32)+ReLU+maxpool2, dense 1568->10. */
export function cnn(batch: number): BenchModel {
  const w1 = randomFloats(9 * 16, 1 / 3, 400);
  const b1 = randomFloats(16, 0.1, 401);
  const w2 = randomFloats(9 * 16 * 32, 1 / 12, 402);
  const b2 = randomFloats(32, 0.1, 403);
  const wd = randomFloats(1568 * 10, 1 / Math.sqrt(1568), 404); // rows in NHWC flatten order (h, w, c)
  const bd = randomFloats(10, 0.1, 405);
  const lines = [
    `func.func @main(%x: ${ty([batch, 28, 28, 1])}) -> ${ty([batch, 10])} {`,
    '  %ninf = stablehlo.constant dense<0xFF800000> : tensor<f32>',
  ];
  const block = (
    i: number,
    input: string,
    hw: number,
    ci: number,
    co: number,
    wt: Float32Array,
    b: Float32Array,
  ): string => {
    const t = ty([batch, hw, hw, co]);
    lines.push(constant(`w${i}`, [3, 3, ci, co], wt), constant(`b${i}`, [co], b));
    lines.push(
      `  %c${i} = stablehlo.convolution(%${input}, %w${i}) dim_numbers = [b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f], window = {stride = [1, 1], pad = [[1, 1], [1, 1]]} {batch_group_count = 1 : i64, feature_group_count = 1 : i64} : (${ty([batch, hw, hw, ci])}, ${ty([3, 3, ci, co])}) -> ${t}`,
    );
    lines.push(
      `  %bb${i} = stablehlo.broadcast_in_dim %b${i}, dims = [3] : (${ty([co])}) -> ${t}`,
      `  %s${i} = stablehlo.add %c${i}, %bb${i} : ${t}`,
    );
    lines.push(`  %z${i} = stablehlo.constant dense<0.0> : ${t}`, `  %r${i} = stablehlo.maximum %s${i}, %z${i} : ${t}`);
    lines.push(
      `  %p${i} = "stablehlo.reduce_window"(%r${i}, %ninf) ({\n  ^bb0(%a: tensor<f32>, %b: tensor<f32>):\n    %m = stablehlo.maximum %a, %b : tensor<f32>\n    stablehlo.return %m : tensor<f32>\n  }) {window_dimensions = array<i64: 1, 2, 2, 1>, window_strides = array<i64: 1, 2, 2, 1>} : (${t}, tensor<f32>) -> ${ty([batch, hw / 2, hw / 2, co])}`,
    );
    return `p${i}`;
  };
  const p1 = block(1, 'x', 28, 1, 16, w1, b1);
  const p2 = block(2, p1, 14, 16, 32, w2, b2);
  lines.push(`  %flat = stablehlo.reshape %${p2} : (${ty([batch, 7, 7, 32])}) -> ${ty([batch, 1568])}`);
  lines.push(constant('wd', [1568, 10], wd), constant('bd', [10], bd));
  lines.push(
    `  %d = stablehlo.dot_general %flat, %wd, contracting_dims = [1] x [0] : (${ty([batch, 1568])}, ${ty([1568, 10])}) -> ${ty([batch, 10])}`,
  );
  lines.push(
    `  %bbd = stablehlo.broadcast_in_dim %bd, dims = [1] : (${ty([10])}) -> ${ty([batch, 10])}`,
    `  %y = stablehlo.add %d, %bbd : ${ty([batch, 10])}`,
  );
  lines.push(`  return %y : ${ty([batch, 10])}`, '}', '');
  // ONNX flattens NCHW as (c, h, w): permute the dense weight's rows to match.
  const wdOnnx = new Float32Array(wd.length);
  for (let h = 0; h < 7; h++)
    for (let w = 0; w < 7; w++)
      for (let c = 0; c < 32; c++)
        for (let o = 0; o < 10; o++) wdOnnx[((c * 7 + h) * 7 + w) * 10 + o] = wd[((h * 7 + w) * 32 + c) * 10 + o]!;
  const pool = { kernel_shape: [2, 2], strides: [2, 2] };
  const conv3 = { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1] };
  const graph: OnnxGraph = {
    nodes: [
      { op: 'Conv', inputs: ['x', 'w1', 'b1'], outputs: ['c1'], attrs: conv3 },
      { op: 'Relu', inputs: ['c1'], outputs: ['r1'] },
      { op: 'MaxPool', inputs: ['r1'], outputs: ['p1'], attrs: pool },
      { op: 'Conv', inputs: ['p1', 'w2', 'b2'], outputs: ['c2'], attrs: conv3 },
      { op: 'Relu', inputs: ['c2'], outputs: ['r2'] },
      { op: 'MaxPool', inputs: ['r2'], outputs: ['p2'], attrs: pool },
      { op: 'Flatten', inputs: ['p2'], outputs: ['flat'], attrs: { axis: 1 } },
      { op: 'Gemm', inputs: ['flat', 'wd', 'bd'], outputs: ['y'] },
    ],
    initializers: [
      { name: 'w1', dims: [16, 1, 3, 3], data: hwioToOihw(w1, 3, 3, 1, 16) },
      { name: 'b1', dims: [16], data: b1 },
      { name: 'w2', dims: [32, 16, 3, 3], data: hwioToOihw(w2, 3, 3, 16, 32) },
      { name: 'b2', dims: [32], data: b2 },
      { name: 'wd', dims: [1568, 10], data: wdOnnx },
      { name: 'bd', dims: [10], data: bd },
    ],
    input: { name: 'x', dims: [batch, 1, 28, 28] },
    output: { name: 'y', dims: [batch, 10] },
  };
  const ourInput = randomFloats(batch * 784, 1, 9);
  const flops = 2 * batch * (28 * 28 * 16 * 9 + 14 * 14 * 32 * 9 * 16 + 1568 * 10);
  // batch > 1: NHWC with C = 1 has the same memory order as NCHW.
  return {
    name: `cnn_b${batch}`,
    mlir: lines.join('\n'),
    onnx: encodeOnnx(graph),
    onnxInputDims: [batch, 1, 28, 28],
    input: ourInput,
    ourInput,
    toOnnxLayout: identity,
    flops,
  };
}

/** A single ReLU on one float: what ONNX Runtime's latency costs before any math (Node binding,
 * session.run bookkeeping), to show model ratios without that fixed overhead too. */
export function onnxOverheadModel(): Uint8Array {
  return encodeOnnx({
    nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }],
    initializers: [],
    input: { name: 'x', dims: [1] },
    output: { name: 'y', dims: [1] },
  });
}

/** A while loop that doubles element i of an n-element carried tensor in iteration i (the shape of
 * ResNet-18's max-pool-with-indices loop): linear time only if the update is done in place. */
export function updateLoopModule(n: number): string {
  return `func.func @main(%init: ${ty([n])}) -> ${ty([n])} {
  %zero = stablehlo.constant dense<0> : tensor<i32>
  %n = stablehlo.constant dense<${n}> : tensor<i32>
  %r:2 = stablehlo.while(%i = %zero, %acc = %init) : tensor<i32>, ${ty([n])}
  cond {
    %c = stablehlo.compare LT, %i, %n : (tensor<i32>, tensor<i32>) -> tensor<i1>
    stablehlo.return %c : tensor<i1>
  } do {
    %one = stablehlo.constant dense<1> : tensor<i32>
    %v = stablehlo.dynamic_slice %acc, %i, sizes = [1] : (${ty([n])}, tensor<i32>) -> ${ty([1])}
    %two = stablehlo.constant dense<2.0> : ${ty([1])}
    %w = stablehlo.multiply %v, %two : ${ty([1])}
    %u = stablehlo.dynamic_update_slice %acc, %w, %i : (${ty([n])}, ${ty([1])}, tensor<i32>) -> ${ty([n])}
    %next = stablehlo.add %i, %one : tensor<i32>
    stablehlo.return %next, %u : tensor<i32>, ${ty([n])}
  }
  return %r#1 : ${ty([n])}
}
`;
}

/** An ONNX graph in QDQ form, as ONNX Runtime's quantizer writes it: QuantizeLinear and
 * DequantizeLinear pairs around float ops, int8 weights dequantized per output channel. */
class QdqGraph {
  readonly nodes: OnnxNode[] = [];
  readonly inits: OnnxGraph['initializers'][number][] = [];

  /** A per-tensor scale and zero point named `name`_scale and `name`_zp. */
  scalar(name: string, [s, zp]: readonly [number, number]): void {
    this.inits.push({ name: `${name}_scale`, dims: [], data: Float32Array.of(s) });
    this.inits.push({ name: `${name}_zp`, dims: [], data: Int8Array.of(zp) });
  }

  /** `from` quantized with `q` and dequantized back; returns the dequantized value's name. */
  qdq(from: string, name: string, q: readonly [number, number]): string {
    this.scalar(name, q);
    this.nodes.push({ op: 'QuantizeLinear', inputs: [from, `${name}_scale`, `${name}_zp`], outputs: [`${name}_q`] });
    this.nodes.push({
      op: 'DequantizeLinear',
      inputs: [`${name}_q`, `${name}_scale`, `${name}_zp`],
      outputs: [`${name}_dq`],
    });
    return `${name}_dq`;
  }

  /** An int8 weight with per-channel scales along `axis`, dequantized; returns its name. */
  weight(name: string, q: Int8Array, scales: readonly number[], dims: readonly number[], axis: number): string {
    this.inits.push({ name: `${name}_q`, dims, data: q });
    this.inits.push({ name: `${name}_scale`, dims: [scales.length], data: Float32Array.from(scales) });
    this.inits.push({ name: `${name}_zp`, dims: [scales.length], data: new Int8Array(scales.length) });
    this.nodes.push({
      op: 'DequantizeLinear',
      inputs: [`${name}_q`, `${name}_scale`, `${name}_zp`],
      outputs: [`${name}_dq`],
      attrs: { axis },
    });
    return `${name}_dq`;
  }
}

/** Per output channel (the last dimension): the scale of its largest weight over 127, and the
 * weights rounded to int8 with it. */
function perChannelInt8(w: Float32Array, channels: number): { scales: number[]; q: Int8Array } {
  const scales = Array.from({ length: channels }, (_, c) => {
    let m = 0;
    for (let i = c; i < w.length; i += channels) m = Math.max(m, Math.abs(w[i]!));
    return Math.fround(m / 127);
  });
  return { scales, q: Int8Array.from(w, (x, i) => Math.round(x / scales[i % channels]!)) };
}

/**
 * The bench MLP (784-512-512-10, batch 1) quantized as int8 exporters write it: input quantized
 * per tensor, weights int8 per output channel (the same weights as `mlp`, rounded), ReLU as the
 * maximum with the zero point, the int8 output: StableHLO with quantized types, and its QDQ twin
 * in ONNX; `input` is the float input both take.
 */
export function quantizedMlp(): { name: string; mlir: string; macs: number; onnx: Uint8Array; input: Float32Array } {
  const sizes = MLP_SIZES;
  const weights = mlpWeights();
  const layerOut: readonly [number, number][] = [
    [0.01, 0],
    [0.01, 0],
    [0.02, 3],
  ];
  const act = ([s, zp]: readonly [number, number]) => `!quant.uniform<i8:f32, ${s}${zp ? `:${zp}` : ''}>`;
  const inQ: [number, number] = [0.008, -2];
  const qt = (dims: readonly number[], e: string) => `tensor<${dims.join('x')}x${e}>`;
  const lines = [`func.func @main(%x: ${ty([1, 784])}) -> tensor<1x10xi8> {`];
  lines.push(`  %a0 = stablehlo.uniform_quantize %x : (${ty([1, 784])}) -> ${qt([1, 784], act(inQ))}`);
  // The ONNX twin in QDQ form: float MatMuls and ReLUs between quantize / dequantize pairs.
  const g = new QdqGraph();
  let onnxCur = g.qdq('x', 'a0', inQ);
  let cur = { name: 'a0', type: act(inQ) };
  for (let l = 0; l < 3; l++) {
    const [k, n] = [sizes[l]!, sizes[l + 1]!];
    const { scales, q } = perChannelInt8(weights[l]!, n);
    const rows = Array.from({ length: k }, (_, r) => Array.from(q.subarray(r * n, (r + 1) * n)).join(', '));
    const wt = `!quant.uniform<i8:f32:1, {${scales.map((s) => s.toPrecision(9)).join(', ')}}>`;
    const outQ = layerOut[l]!;
    lines.push(`  %w${l} = stablehlo.constant dense<[[${rows.join('], [')}]]> : ${qt([k, n], wt)}`);
    lines.push(
      `  %d${l} = stablehlo.dot_general %${cur.name}, %w${l}, contracting_dims = [1] x [0] : (${qt([1, k], cur.type)}, ${qt([k, n], wt)}) -> ${qt([1, n], act(outQ))}`,
    );
    cur = { name: `d${l}`, type: act(outQ) };
    g.nodes.push({ op: 'MatMul', inputs: [onnxCur, g.weight(`w${l}`, q, scales, [k, n], 1)], outputs: [`mm${l}`] });
    if (l < 2) {
      lines.push(`  %z${l} = stablehlo.constant dense<0> : ${qt([1, n], cur.type)}`);
      lines.push(`  %r${l} = stablehlo.maximum %d${l}, %z${l} : ${qt([1, n], cur.type)}`);
      cur = { name: `r${l}`, type: cur.type };
      const dq = g.qdq(`mm${l}`, `d${l}`, outQ);
      g.nodes.push({ op: 'Relu', inputs: [dq], outputs: [`relu${l}`] });
      onnxCur = g.qdq(`relu${l}`, `r${l}`, outQ);
    } else {
      g.scalar('out', outQ);
      g.nodes.push({ op: 'QuantizeLinear', inputs: [`mm${l}`, 'out_scale', 'out_zp'], outputs: ['y'] });
    }
  }
  lines.push(`  %out = stablehlo.bitcast_convert %${cur.name} : (${qt([1, 10], cur.type)}) -> tensor<1x10xi8>`);
  lines.push('  return %out : tensor<1x10xi8>', '}', '');
  const onnx = encodeOnnx({
    nodes: g.nodes,
    initializers: g.inits,
    input: { name: 'x', dims: [1, 784] },
    output: { name: 'y', dims: [1, 10], int8: true },
  });
  return {
    name: 'qmlp_b1',
    mlir: lines.join('\n'),
    macs: 784 * 512 + 512 * 512 + 512 * 10,
    onnx,
    input: randomFloats(784, 1, 300),
  };
}

/**
 * The bench CNN (batch 1: conv 3x3 1->16, ReLU, 2x2 max pool, conv 3x3 16->32, ReLU, max pool,
 * dense 1568->10; the same weights as `cnn`, no biases) quantized as int8 exporters write it:
 * input per tensor, weights int8 per output channel, ReLU as the maximum with the zero point,
 * pools on the int8 values, the int8 output. StableHLO with quantized types, and its QDQ twin in
 * ONNX (NCHW, OIHW weights, the dense weight's rows in ONNX's (c, h, w) flatten order).
 */
/** An int8 activation type of scale s and zero point zp. */
const act = ([s, zp]: readonly [number, number]): string => `!quant.uniform<i8:f32, ${s}${zp ? `:${zp}` : ''}>`;
const qt = (dims: readonly number[], e: string): string => `tensor<${dims.join('x')}x${e}>`;
/** An int8 weight type quantized per channel along `axis`. */
const perAxis = (scales: readonly number[], axis: number): string =>
  `!quant.uniform<i8:f32:${axis}, {${scales.map((s) => s.toPrecision(9)).join(', ')}}>`;
/** A dense literal of `q` shaped `dims` (nested brackets). */
function literal(q: Int8Array, dims: readonly number[]): string {
  const nest = (off: number, d: number): string => {
    if (d === dims.length) return String(q[off]);
    const stride = dims.slice(d + 1).reduce((a, b) => a * b, 1);
    return `[${Array.from({ length: dims[d]! }, (_, i) => nest(off + i * stride, d + 1)).join(', ')}]`;
  };
  return nest(0, 0);
}

/** An int8 depthwise 3x3 convolution of 32 channels at 16 x 16 (MobileNet's), per-channel weights,
 * requantized: int8 in and out as stored (bench-embedded). */
export function quantizedDepthwise(): { name: string; mlir: string; macs: number } {
  const { scales, q } = perChannelInt8(randomFloats(9 * 32, 1 / 3, 406), 32);
  const [x, y, w] = [
    qt([1, 16, 16, 32], act([0.03, -5])),
    qt([1, 16, 16, 32], act([0.05, 2])),
    qt([3, 3, 1, 32], perAxis(scales, 3)),
  ];
  const mlir = [
    `func.func @main(%x: tensor<1x16x16x32xi8>) -> tensor<1x16x16x32xi8> {`,
    `  %xq = stablehlo.bitcast_convert %x : (tensor<1x16x16x32xi8>) -> ${x}`,
    `  %w = stablehlo.constant dense<${literal(q, [3, 3, 1, 32])}> : ${w}`,
    `  %dw = stablehlo.convolution(%xq, %w) dim_numbers = [b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f], window = {stride = [1, 1], pad = [[1, 1], [1, 1]]} {batch_group_count = 1 : i64, feature_group_count = 32 : i64} : (${x}, ${w}) -> ${y}`,
    `  %o = stablehlo.bitcast_convert %dw : (${y}) -> tensor<1x16x16x32xi8>`,
    '  return %o : tensor<1x16x16x32xi8>',
    '}',
    '',
  ].join('\n');
  return { name: 'qdw_b1', mlir, macs: 16 * 16 * 32 * 9 };
}

export function quantizedCnn(): { name: string; mlir: string; macs: number; onnx: Uint8Array; input: Float32Array } {
  const w1 = randomFloats(9 * 16, 1 / 3, 400);
  const w2 = randomFloats(9 * 16 * 32, 1 / 12, 402);
  const wd = randomFloats(1568 * 10, 1 / Math.sqrt(1568), 404);
  const inQ: [number, number] = [0.008, 0];
  const qs: [number, number][] = [
    [0.01, -4],
    [0.004, -2],
    [0.002, 1],
  ];
  const g = new QdqGraph();
  const lines = [`func.func @main(%x: ${ty([1, 28, 28, 1])}) -> tensor<1x10xi8> {`];
  lines.push(`  %a0 = stablehlo.uniform_quantize %x : (${ty([1, 28, 28, 1])}) -> ${qt([1, 28, 28, 1], act(inQ))}`);
  let onnxCur = g.qdq('x', 'a0', inQ);
  let cur = { name: 'a0', type: act(inQ) };
  const block = (i: number, hw: number, ci: number, co: number, w: Float32Array, outQ: [number, number]): void => {
    const { scales, q } = perChannelInt8(w, co);
    const wt = perAxis(scales, 3);
    const [t, pooled] = [qt([1, hw, hw, co], act(outQ)), qt([1, hw / 2, hw / 2, co], act(outQ))];
    lines.push(`  %w${i} = stablehlo.constant dense<${literal(q, [3, 3, ci, co])}> : ${qt([3, 3, ci, co], wt)}`);
    lines.push(
      `  %c${i} = stablehlo.convolution(%${cur.name}, %w${i}) dim_numbers = [b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f], window = {stride = [1, 1], pad = [[1, 1], [1, 1]]} {batch_group_count = 1 : i64, feature_group_count = 1 : i64} : (${qt([1, hw, hw, ci], cur.type)}, ${qt([3, 3, ci, co], wt)}) -> ${t}`,
      `  %z${i} = stablehlo.constant dense<${outQ[1]}> : ${t}`,
      `  %r${i} = stablehlo.maximum %c${i}, %z${i} : ${t}`,
      `  %ninf${i} = stablehlo.constant dense<-128> : tensor<${act(outQ)}>`,
      `  %p${i} = "stablehlo.reduce_window"(%r${i}, %ninf${i}) ({\n  ^bb0(%a: tensor<${act(outQ)}>, %b: tensor<${act(outQ)}>):\n    %m = stablehlo.maximum %a, %b : tensor<${act(outQ)}>\n    stablehlo.return %m : tensor<${act(outQ)}>\n  }) {window_dimensions = array<i64: 1, 2, 2, 1>, window_strides = array<i64: 1, 2, 2, 1>} : (${t}, tensor<${act(outQ)}>) -> ${pooled}`,
    );
    cur = { name: `p${i}`, type: act(outQ) };
    const oihw = hwioToOihw(Float32Array.from(q), 3, 3, ci, co);
    const wq = g.weight(`w${i}`, Int8Array.from(oihw), scales, [co, ci, 3, 3], 0);
    g.nodes.push({
      op: 'Conv',
      inputs: [onnxCur, wq],
      outputs: [`c${i}`],
      attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1] },
    });
    const dq = g.qdq(`c${i}`, `c${i}`, outQ);
    g.nodes.push({ op: 'Relu', inputs: [dq], outputs: [`relu${i}`] });
    const rq = g.qdq(`relu${i}`, `r${i}`, outQ);
    g.nodes.push({
      op: 'MaxPool',
      inputs: [rq],
      outputs: [`pool${i}`],
      attrs: { kernel_shape: [2, 2], strides: [2, 2] },
    });
    onnxCur = g.qdq(`pool${i}`, `p${i}`, outQ);
  };
  block(1, 28, 1, 16, w1, qs[0]!);
  block(2, 14, 16, 32, w2, qs[1]!);
  lines.push(
    `  %flat = stablehlo.reshape %${cur.name} : (${qt([1, 7, 7, 32], cur.type)}) -> ${qt([1, 1568], cur.type)}`,
  );
  const { scales, q } = perChannelInt8(wd, 10);
  const wt = perAxis(scales, 1);
  lines.push(
    `  %wd = stablehlo.constant dense<${literal(q, [1568, 10])}> : ${qt([1568, 10], wt)}`,
    `  %d = stablehlo.dot_general %flat, %wd, contracting_dims = [1] x [0] : (${qt([1, 1568], cur.type)}, ${qt([1568, 10], wt)}) -> ${qt([1, 10], act(qs[2]!))}`,
    `  %out = stablehlo.bitcast_convert %d : (${qt([1, 10], act(qs[2]!))}) -> tensor<1x10xi8>`,
    '  return %out : tensor<1x10xi8>',
    '}',
    '',
  );
  // ONNX flattens NCHW as (c, h, w): the dense weight's rows permuted to match.
  const qOnnx = new Int8Array(q.length);
  for (let h = 0; h < 7; h++)
    for (let w = 0; w < 7; w++)
      for (let c = 0; c < 32; c++)
        for (let o = 0; o < 10; o++) qOnnx[((c * 7 + h) * 7 + w) * 10 + o] = q[((h * 7 + w) * 32 + c) * 10 + o]!;
  g.nodes.push({ op: 'Flatten', inputs: [onnxCur], outputs: ['flat'], attrs: { axis: 1 } });
  g.nodes.push({ op: 'MatMul', inputs: ['flat', g.weight('wd', qOnnx, scales, [1568, 10], 1)], outputs: ['mm'] });
  g.scalar('out', qs[2]!);
  g.nodes.push({ op: 'QuantizeLinear', inputs: ['mm', 'out_scale', 'out_zp'], outputs: ['y'] });
  return {
    name: 'qcnn_b1',
    mlir: lines.join('\n'),
    macs: 28 * 28 * 16 * 9 + 14 * 14 * 32 * 9 * 16 + 1568 * 10,
    onnx: encodeOnnx({
      nodes: g.nodes,
      initializers: g.inits,
      input: { name: 'x', dims: [1, 1, 28, 28] },
      output: { name: 'y', dims: [1, 10], int8: true },
    }),
    // NHWC with C = 1 is NCHW's memory order: one input serves both.
    input: randomFloats(784, 1, 301),
  };
}
