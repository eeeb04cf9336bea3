/**
 * @fileoverview The real models of `make bench`: ResNet-50, MobileNetV2, a BERT-base encoder layer
 * and an LSTM, with seeded random weights. One builder writes each model twice from the same
 * weights, layer call by layer call: as StableHLO (images NHWC, what an exporter from JAX writes
 * and xla-aot compiles) and as ONNX (images NCHW, what ONNX Runtime runs), so the bench can check
 * that both sides compute the same function before it compares their speed. Convolutions carry a
 * bias where the trained networks have batch norm: at inference batch norm folds into exactly that.
 */
import { numElements } from '../ir/types.js';
import { encodeOnnx, type OnnxInitializer, type OnnxNode } from './onnx.js';
import { hex, hwioToOihw, nhwcToNchw, randomFloats, ty, type BenchModel } from './models.js';

/** A tensor of the model on both sides: our SSA name, ONNX's value name, our dims (NHWC for images). */
interface Value {
  readonly ours: string;
  readonly theirs: string;
  readonly dims: readonly number[];
  /** A 4-d image: NHWC for us, NCHW for ONNX. */
  readonly image: boolean;
}

const list = (xs: readonly number[]): string => `[${xs.join(', ')}]`;

/** Writes one model as StableHLO and as ONNX at once; `flops` counts multiply-adds twice. */
class DualGraph {
  private readonly lines: string[] = [];
  private readonly nodes: OnnxNode[] = [];
  private readonly initializers: OnnxInitializer[] = [];
  private readonly splats = new Map<string, string>();
  private readonly scalars = new Map<number, string>();
  private counter = 0;
  private seed: number;
  flops = 0;

  constructor(seed: number) {
    this.seed = seed;
  }

  private fresh(prefix: string): string {
    return `${prefix}${this.counter++}`;
  }

  private weights(n: number, scale: number): Float32Array {
    return randomFloats(n, scale, this.seed++);
  }

  /** Emits `%name = rhs` and returns the name. */
  private ours(prefix: string, rhs: string): string {
    const name = this.fresh(prefix);
    this.lines.push(`  %${name} = ${rhs}`);
    return name;
  }

  private theirs(op: string, inputs: readonly string[], attrs?: OnnxNode['attrs'], floatAttrs?: string[]): string {
    const out = this.fresh(`${op.toLowerCase()}_`);
    this.nodes.push({ op, inputs, outputs: [out], ...(attrs ? { attrs } : {}), ...(floatAttrs ? { floatAttrs } : {}) });
    return out;
  }

  private constant(prefix: string, dims: readonly number[], data: Float32Array): { ours: string; theirs: string } {
    const ours = this.ours(prefix, `stablehlo.constant dense<"0x${hex(data)}"> : ${ty(dims)}`);
    return { ours, theirs: ours };
  }

  private initializer(name: string, dims: readonly number[], data: OnnxInitializer['data']): string {
    this.initializers.push({ name, dims, data });
    return name;
  }

  /** A splat constant of our side (one per value and shape). */
  private splat(value: number, dims: readonly number[]): string {
    const key = `${value}:${dims.join('x')}`;
    let name = this.splats.get(key);
    if (!name) {
      name = this.ours('k', `stablehlo.constant dense<${value.toPrecision(9)}> : ${ty(dims)}`);
      this.splats.set(key, name);
    }
    return name;
  }

  /** A scalar initializer of ONNX's side (broadcast by its elementwise ops). */
  private scalar(value: number): string {
    let name = this.scalars.get(value);
    if (!name) {
      name = this.initializer(this.fresh('s'), [], new Float32Array([value]));
      this.scalars.set(value, name);
    }
    return name;
  }

  input(dims: readonly number[], image: boolean): Value {
    return { ours: 'x', theirs: 'x', dims, image };
  }

  /** KxK convolution with bias, `groups` feature groups (groups = channels: depthwise). */
  conv(x: Value, k: number, co: number, stride: number, pad: number, groups = 1): Value {
    const [n, h, w, ci] = x.dims as [number, number, number, number];
    const [ho, wo] = [Math.floor((h + 2 * pad - k) / stride) + 1, Math.floor((w + 2 * pad - k) / stride) + 1];
    const cig = ci / groups;
    const wt = this.weights(k * k * cig * co, Math.sqrt(3 / (k * k * cig)));
    const b = this.weights(co, 0.1);
    const wDims = [k, k, cig, co];
    const outDims = [n, ho, wo, co];
    const wc = this.constant('w', wDims, wt);
    const bc = this.constant('b', [co], b);
    const c = this.ours(
      'conv',
      `stablehlo.convolution(%${x.ours}, %${wc.ours}) dim_numbers = [b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f], window = {stride = [${stride}, ${stride}], pad = [[${pad}, ${pad}], [${pad}, ${pad}]]} {batch_group_count = 1 : i64, feature_group_count = ${groups} : i64} : (${ty(x.dims)}, ${ty(wDims)}) -> ${ty(outDims)}`,
    );
    const bb = this.ours('bb', `stablehlo.broadcast_in_dim %${bc.ours}, dims = [3] : (${ty([co])}) -> ${ty(outDims)}`);
    const ours = this.ours('y', `stablehlo.add %${c}, %${bb} : ${ty(outDims)}`);
    this.initializer(wc.theirs, [co, cig, k, k], hwioToOihw(wt, k, k, cig, co));
    this.initializer(bc.theirs, [co], b);
    const theirs = this.theirs('Conv', [x.theirs, wc.theirs, bc.theirs], {
      kernel_shape: [k, k],
      pads: [pad, pad, pad, pad],
      strides: [stride, stride],
      group: groups,
    });
    this.flops += 2 * n * ho * wo * co * k * k * cig;
    return { ours, theirs, dims: outDims, image: true };
  }

  relu(x: Value): Value {
    const ours = this.ours('relu', `stablehlo.maximum %${x.ours}, %${this.splat(0, x.dims)} : ${ty(x.dims)}`);
    return { ...x, ours, theirs: this.theirs('Relu', [x.theirs]) };
  }

  /** min(max(x, 0), 6), MobileNet's activation (ONNX: Clip). */
  relu6(x: Value): Value {
    const t = ty(x.dims);
    const low = this.ours('relu6_', `stablehlo.maximum %${x.ours}, %${this.splat(0, x.dims)} : ${t}`);
    const ours = this.ours('relu6_', `stablehlo.minimum %${low}, %${this.splat(6, x.dims)} : ${t}`);
    return { ...x, ours, theirs: this.theirs('Clip', [x.theirs, this.scalar(0), this.scalar(6)]) };
  }

  private binary(ourOp: string, onnxOp: string, a: Value, b: Value): Value {
    const ours = this.ours(ourOp, `stablehlo.${ourOp} %${a.ours}, %${b.ours} : ${ty(a.dims)}`);
    return { ...a, ours, theirs: this.theirs(onnxOp, [a.theirs, b.theirs]) };
  }

  add(a: Value, b: Value): Value {
    return this.binary('add', 'Add', a, b);
  }

  mul(a: Value, b: Value): Value {
    return this.binary('multiply', 'Mul', a, b);
  }

  /** x op c for a float constant c (a splat for us, a broadcast scalar for ONNX). */
  private withScalar(ourOp: string, onnxOp: string, x: Value, c: number): Value {
    const ours = this.ours(ourOp, `stablehlo.${ourOp} %${x.ours}, %${this.splat(c, x.dims)} : ${ty(x.dims)}`);
    return { ...x, ours, theirs: this.theirs(onnxOp, [x.theirs, this.scalar(c)]) };
  }

  tanh(x: Value): Value {
    return {
      ...x,
      ours: this.ours('tanh', `stablehlo.tanh %${x.ours} : ${ty(x.dims)}`),
      theirs: this.theirs('Tanh', [x.theirs]),
    };
  }

  /** 3x3 stride-2 max pooling with padding 1 (ResNet's stem). */
  maxPool3x3s2(x: Value): Value {
    const [n, h, w, c] = x.dims as [number, number, number, number];
    const outDims = [n, Math.floor((h - 1) / 2) + 1, Math.floor((w - 1) / 2) + 1, c];
    const ninf = this.ours('ninf', 'stablehlo.constant dense<0xFF800000> : tensor<f32>');
    const ours = this.ours(
      'pool',
      `"stablehlo.reduce_window"(%${x.ours}, %${ninf}) <{padding = dense<[[0, 0], [1, 1], [1, 1], [0, 0]]> : tensor<4x2xi64>, window_dimensions = array<i64: 1, 3, 3, 1>, window_strides = array<i64: 1, 2, 2, 1>}> ({\n  ^bb0(%a: tensor<f32>, %b: tensor<f32>):\n    %m = stablehlo.maximum %a, %b : tensor<f32>\n    stablehlo.return %m : tensor<f32>\n  }) : (${ty(x.dims)}, tensor<f32>) -> ${ty(outDims)}`,
    );
    const theirs = this.theirs('MaxPool', [x.theirs], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
    return { ours, theirs, dims: outDims, image: true };
  }

  /** Mean over H and W: [N,H,W,C] -> [N,C]. */
  globalAvgPool(x: Value): Value {
    const [n, h, w, c] = x.dims as [number, number, number, number];
    const zero = this.ours('zero', 'stablehlo.constant dense<0.0> : tensor<f32>');
    const sum = this.ours(
      'sum',
      `stablehlo.reduce(%${x.ours} init: %${zero}) applies stablehlo.add across dimensions = [1, 2] : (${ty(x.dims)}, tensor<f32>) -> ${ty([n, c])}`,
    );
    const ours = this.ours('mean', `stablehlo.divide %${sum}, %${this.splat(h * w, [n, c])} : ${ty([n, c])}`);
    const pooled = this.theirs('GlobalAveragePool', [x.theirs]);
    return { ours, theirs: this.theirs('Flatten', [pooled], { axis: 1 }), dims: [n, c], image: false };
  }

  /** x W + b over the last dimension ([..., K] -> [..., N]); ONNX: Gemm for 2-d, MatMul + Add otherwise. */
  linear(x: Value, nOut: number): Value {
    const k = x.dims[x.dims.length - 1]!;
    const r = x.dims.length - 1;
    const outDims = [...x.dims.slice(0, -1), nOut];
    const wt = this.weights(k * nOut, Math.sqrt(3 / k));
    const b = this.weights(nOut, 0.1);
    const wc = this.constant('w', [k, nOut], wt);
    const bc = this.constant('b', [nOut], b);
    const d = this.ours(
      'dot',
      `stablehlo.dot_general %${x.ours}, %${wc.ours}, contracting_dims = [${r}] x [0] : (${ty(x.dims)}, ${ty([k, nOut])}) -> ${ty(outDims)}`,
    );
    const bb = this.ours(
      'bb',
      `stablehlo.broadcast_in_dim %${bc.ours}, dims = [${r}] : (${ty([nOut])}) -> ${ty(outDims)}`,
    );
    const ours = this.ours('y', `stablehlo.add %${d}, %${bb} : ${ty(outDims)}`);
    this.initializer(wc.theirs, [k, nOut], wt);
    this.initializer(bc.theirs, [nOut], b);
    const theirs =
      r === 1
        ? this.theirs('Gemm', [x.theirs, wc.theirs, bc.theirs])
        : this.theirs('Add', [this.theirs('MatMul', [x.theirs, wc.theirs]), bc.theirs]);
    this.flops += 2 * numElements(outDims) * k;
    return { ours, theirs, dims: outDims, image: false };
  }

  reshape(x: Value, dims: readonly number[]): Value {
    const ours = this.ours('reshape', `stablehlo.reshape %${x.ours} : (${ty(x.dims)}) -> ${ty(dims)}`);
    const shape = this.initializer(this.fresh('shape'), [dims.length], BigInt64Array.from(dims, BigInt));
    return { ours, theirs: this.theirs('Reshape', [x.theirs, shape]), dims, image: false };
  }

  transpose(x: Value, perm: readonly number[]): Value {
    const dims = perm.map((p) => x.dims[p]!);
    const ours = this.ours(
      'tr',
      `stablehlo.transpose %${x.ours}, dims = ${list(perm)} : (${ty(x.dims)}) -> ${ty(dims)}`,
    );
    return { ours, theirs: this.theirs('Transpose', [x.theirs], { perm }), dims, image: false };
  }

  /** Batched a b over the leading two dims: [B,H,M,K] x [B,H,K,N] -> [B,H,M,N], or with `bTransposed`
   * b as [B,H,N,K] (ONNX transposes it first). */
  batchMatmul(a: Value, b: Value, bTransposed: boolean): Value {
    const [bs, heads, m, k] = a.dims as [number, number, number, number];
    const nOut = bTransposed ? b.dims[2]! : b.dims[3]!;
    const dims = [bs, heads, m, nOut];
    const ours = this.ours(
      'bmm',
      `stablehlo.dot_general %${a.ours}, %${b.ours}, batching_dims = [0, 1] x [0, 1], contracting_dims = [3] x [${bTransposed ? 3 : 2}] : (${ty(a.dims)}, ${ty(b.dims)}) -> ${ty(dims)}`,
    );
    const rhs = bTransposed ? this.theirs('Transpose', [b.theirs], { perm: [0, 1, 3, 2] }) : b.theirs;
    this.flops += 2 * numElements(dims) * k;
    return { ours, theirs: this.theirs('MatMul', [a.theirs, rhs]), dims, image: false };
  }

  scale(x: Value, c: number): Value {
    return this.withScalar('multiply', 'Mul', x, c);
  }

  /** Reduces the last dim with `op` (add or maximum) and broadcasts the result back. */
  private reduceLast(x: Value, op: 'add' | 'maximum', init: string): string {
    const r = x.dims.length - 1;
    const reduced = x.dims.slice(0, -1);
    const initName = this.ours('init', `stablehlo.constant dense<${init}> : tensor<f32>`);
    const red = this.ours(
      'red',
      `stablehlo.reduce(%${x.ours} init: %${initName}) applies stablehlo.${op} across dimensions = [${r}] : (${ty(x.dims)}, tensor<f32>) -> ${ty(reduced)}`,
    );
    return this.ours(
      'rb',
      `stablehlo.broadcast_in_dim %${red}, dims = ${list(reduced.map((_, i) => i))} : (${ty(reduced)}) -> ${ty(x.dims)}`,
    );
  }

  /** Softmax over the last dimension, max-subtracted. */
  softmax(x: Value): Value {
    const t = ty(x.dims);
    const max = this.reduceLast(x, 'maximum', '0xFF800000');
    const shifted = this.ours('sh', `stablehlo.subtract %${x.ours}, %${max} : ${t}`);
    const e = this.ours('exp', `stablehlo.exponential %${shifted} : ${t}`);
    const sum = this.reduceLast({ ...x, ours: e }, 'add', '0.0');
    const ours = this.ours('softmax', `stablehlo.divide %${e}, %${sum} : ${t}`);
    return { ...x, ours, theirs: this.theirs('Softmax', [x.theirs], { axis: -1 }) };
  }

  /** Layer normalization over the last dimension with scale and offset (ONNX: LayerNormalization). */
  layerNorm(x: Value, epsilon: number): Value {
    const t = ty(x.dims);
    const c = x.dims[x.dims.length - 1]!;
    const gamma = this.weights(c, 0.5).map((v) => 1 + v);
    const beta = this.weights(c, 0.1);
    const inv = this.splat(1 / c, x.dims);
    const mean = this.ours('mean', `stablehlo.multiply %${this.reduceLast(x, 'add', '0.0')}, %${inv} : ${t}`);
    const centered = this.ours('cen', `stablehlo.subtract %${x.ours}, %${mean} : ${t}`);
    const sq = this.ours('sq', `stablehlo.multiply %${centered}, %${centered} : ${t}`);
    const variance = this.ours(
      'var',
      `stablehlo.multiply %${this.reduceLast({ ...x, ours: sq }, 'add', '0.0')}, %${inv} : ${t}`,
    );
    const ve = this.ours('ve', `stablehlo.add %${variance}, %${this.splat(epsilon, x.dims)} : ${t}`);
    const rs = this.ours('rs', `stablehlo.rsqrt %${ve} : ${t}`);
    const normed = this.ours('nrm', `stablehlo.multiply %${centered}, %${rs} : ${t}`);
    const [g, b] = [this.constant('gamma', [c], gamma), this.constant('beta', [c], beta)];
    const last = [x.dims.length - 1];
    const gb = this.ours('gb', `stablehlo.broadcast_in_dim %${g.ours}, dims = ${list(last)} : (${ty([c])}) -> ${t}`);
    const bb = this.ours('bb', `stablehlo.broadcast_in_dim %${b.ours}, dims = ${list(last)} : (${ty([c])}) -> ${t}`);
    const ours = this.ours(
      'ln',
      `stablehlo.add %${this.ours('sc', `stablehlo.multiply %${normed}, %${gb} : ${t}`)}, %${bb} : ${t}`,
    );
    this.initializer(g.theirs, [c], gamma);
    this.initializer(b.theirs, [c], beta);
    const theirs = this.theirs('LayerNormalization', [x.theirs, g.theirs, b.theirs], { axis: -1, epsilon }, [
      'epsilon',
    ]);
    return { ...x, ours, theirs };
  }

  /** GELU, tanh form (BERT's): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), op by op on both sides. */
  gelu(x: Value): Value {
    const cube = this.mul(this.mul(x, x), x);
    const inner = this.scale(this.add(x, this.scale(cube, 0.044715)), Math.sqrt(2 / Math.PI));
    const onePlus = this.withScalar('add', 'Add', this.tanh(inner), 1);
    return this.mul(this.scale(x, 0.5), onePlus);
  }

  /** The finished model; `input` is our input (NHWC for images). */
  finish(name: string, x: Value, out: Value, input: Float32Array): BenchModel {
    const onnxDims = (v: Value): number[] => (v.image ? [v.dims[0]!, v.dims[3]!, v.dims[1]!, v.dims[2]!] : [...v.dims]);
    const mlir = [
      `func.func @main(%x: ${ty(x.dims)}) -> ${ty(out.dims)} {`,
      ...this.lines,
      `  return %${out.ours} : ${ty(out.dims)}`,
      '}',
      '',
    ].join('\n');
    const toNchw = (v: Value) => (a: Float32Array) => (v.image ? nhwcToNchw(a, v.dims[1]!, v.dims[2]!, v.dims[3]!) : a);
    return {
      name,
      mlir,
      onnx: encodeOnnx({
        nodes: this.nodes,
        initializers: this.initializers,
        input: { name: x.theirs, dims: onnxDims(x) },
        output: { name: out.theirs, dims: onnxDims(out) },
      }),
      onnxInputDims: onnxDims(x),
      input: toNchw(x)(input),
      ourInput: input,
      toOnnxLayout: toNchw(out),
      flops: this.flops,
    };
  }
}

/** ResNet-50 v1.5 (torchvision's: stride on the 3x3 of a bottleneck), 224x224x3 -> 1000 logits;
 * `width` scales every channel count (1: the real network; tests use a narrow one). */
export function resnet50(batch: number, width = 1, size = 224): BenchModel {
  const g = new DualGraph(1000);
  const x = g.input([batch, size, size, 3], true);
  const ch = (c: number): number => Math.max(1, Math.round(c * width));
  let y = g.maxPool3x3s2(g.relu(g.conv(x, 7, ch(64), 2, 3)));
  for (const [blocks, mid, stride] of [
    [3, 64, 1],
    [4, 128, 2],
    [6, 256, 2],
    [3, 512, 2],
  ] as const) {
    for (let i = 0; i < blocks; i++) {
      const s = i === 0 ? stride : 1;
      const out = ch(mid * 4);
      const shortcut = i === 0 ? g.conv(y, 1, out, s, 0) : y;
      const a = g.relu(g.conv(y, 1, ch(mid), 1, 0));
      const b = g.relu(g.conv(a, 3, ch(mid), s, 1));
      y = g.relu(g.add(g.conv(b, 1, out, 1, 0), shortcut));
    }
  }
  const logits = g.linear(g.globalAvgPool(y), 1000);
  return g.finish(`resnet50_b${batch}`, x, logits, randomFloats(batch * size * size * 3, 1, 31));
}

/** MobileNetV2 (width 1.0), 224x224x3 -> 1000 logits: inverted residual blocks of a 1x1 expansion,
 * a 3x3 depthwise convolution and a 1x1 linear projection, ReLU6, residual adds where shapes allow. */
export function mobilenetV2(batch: number, size = 224): BenchModel {
  const g = new DualGraph(2000);
  const x = g.input([batch, size, size, 3], true);
  let y = g.relu6(g.conv(x, 3, 32, 2, 1));
  let channels = 32;
  for (const [t, c, n, s] of [
    [1, 16, 1, 1],
    [6, 24, 2, 2],
    [6, 32, 3, 2],
    [6, 64, 4, 2],
    [6, 96, 3, 1],
    [6, 160, 3, 2],
    [6, 320, 1, 1],
  ] as const) {
    for (let i = 0; i < n; i++) {
      const stride = i === 0 ? s : 1;
      const hidden = channels * t;
      const expanded = t === 1 ? y : g.relu6(g.conv(y, 1, hidden, 1, 0));
      const dw = g.relu6(g.conv(expanded, 3, hidden, stride, 1, hidden));
      const projected = g.conv(dw, 1, c, 1, 0);
      y = stride === 1 && channels === c ? g.add(projected, y) : projected;
      channels = c;
    }
  }
  y = g.relu6(g.conv(y, 1, 1280, 1, 0));
  const logits = g.linear(g.globalAvgPool(y), 1000);
  return g.finish(`mobilenetv2_b${batch}`, x, logits, randomFloats(batch * size * size * 3, 1, 32));
}

/** One BERT-base encoder layer (hidden 768, 12 heads, FFN 3072, post-layer-norm, GELU) on a
 * [1, seq, 768] batch of token embeddings. */
export function bertLayer(seq: number, hidden = 768, heads = 12, ffn = 3072): BenchModel {
  const g = new DualGraph(3000);
  const x = g.input([1, seq, hidden], false);
  const headDim = hidden / heads;
  const split = (v: ReturnType<DualGraph['linear']>) =>
    g.transpose(g.reshape(v, [1, seq, heads, headDim]), [0, 2, 1, 3]);
  const [q, k, v] = [split(g.linear(x, hidden)), split(g.linear(x, hidden)), split(g.linear(x, hidden))];
  const probs = g.softmax(g.scale(g.batchMatmul(q, k, true), 1 / Math.sqrt(headDim)));
  const context = g.reshape(g.transpose(g.batchMatmul(probs, v, false), [0, 2, 1, 3]), [1, seq, hidden]);
  const attended = g.layerNorm(g.add(g.linear(context, hidden), x), 1e-12);
  const out = g.layerNorm(g.add(g.linear(g.gelu(g.linear(attended, ffn)), hidden), attended), 1e-12);
  return g.finish(`bert_layer_s${seq}`, x, out, randomFloats(seq * hidden, 1, 33));
}

/**
 * A one-layer LSTM (batch 1) over `seq` steps of `inputSize` features: the final hidden state.
 * StableHLO as JAX's scan writes it (a while loop carrying h and c; the input projection of every
 * step done before it as one GEMM, as ONNX Runtime's LSTM kernel also does); ONNX: one LSTM node.
 * Gate order i, o, f, c (ONNX's) on both sides.
 */
export function lstm(seq: number, inputSize: number, hiddenSize: number): BenchModel {
  const [I, H] = [inputSize, hiddenSize];
  const scale = 1 / Math.sqrt(H);
  const w = randomFloats(I * 4 * H, scale, 4000); // ours: [I][4H]
  const r = randomFloats(H * 4 * H, scale, 4001); // ours: [H][4H]
  const bw = randomFloats(4 * H, 0.1, 4002);
  const br = randomFloats(4 * H, 0.1, 4003);
  const transposed = (a: Float32Array, rows: number, cols: number): Float32Array => {
    const out = new Float32Array(a.length);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = a[i * cols + j]!;
    return out;
  };
  const bias = bw.map((v, i) => v + br[i]!);
  const g4 = ty([1, 4 * H]);
  const h1 = ty([1, H]);
  const gate = (name: string, i: number, fn: string): string =>
    [
      `    %${name}_pre = stablehlo.slice %gates [0:1, ${i * H}:${(i + 1) * H}] : (${g4}) -> ${h1}`,
      `    %${name} = stablehlo.${fn} %${name}_pre : ${h1}`,
    ].join('\n');
  const mlir = `func.func @main(%x: ${ty([seq, I])}) -> ${h1} {
  %w = stablehlo.constant dense<"0x${hex(w)}"> : ${ty([I, 4 * H])}
  %bias = stablehlo.constant dense<"0x${hex(bias)}"> : ${ty([4 * H])}
  %xw = stablehlo.dot_general %x, %w, contracting_dims = [1] x [0] : (${ty([seq, I])}, ${ty([I, 4 * H])}) -> ${ty([seq, 4 * H])}
  %bb = stablehlo.broadcast_in_dim %bias, dims = [1] : (${ty([4 * H])}) -> ${ty([seq, 4 * H])}
  %xb = stablehlo.add %xw, %bb : ${ty([seq, 4 * H])}
  %t0 = stablehlo.constant dense<0> : tensor<i32>
  %zeros = stablehlo.constant dense<0.0> : ${h1}
  %r:3 = stablehlo.while(%t = %t0, %h = %zeros, %c = %zeros) : tensor<i32>, ${h1}, ${h1}
  cond {
    %n = stablehlo.constant dense<${seq}> : tensor<i32>
    %lt = stablehlo.compare LT, %t, %n : (tensor<i32>, tensor<i32>) -> tensor<i1>
    stablehlo.return %lt : tensor<i1>
  } do {
    %rw = stablehlo.constant dense<"0x${hex(r)}"> : ${ty([H, 4 * H])}
    %zero = stablehlo.constant dense<0> : tensor<i32>
    %row = stablehlo.dynamic_slice %xb, %t, %zero, sizes = [1, ${4 * H}] : (${ty([seq, 4 * H])}, tensor<i32>, tensor<i32>) -> ${g4}
    %hr = stablehlo.dot_general %h, %rw, contracting_dims = [1] x [0] : (${h1}, ${ty([H, 4 * H])}) -> ${g4}
    %gates = stablehlo.add %row, %hr : ${g4}
${gate('i', 0, 'logistic')}
${gate('o', 1, 'logistic')}
${gate('f', 2, 'logistic')}
${gate('g', 3, 'tanh')}
    %fc = stablehlo.multiply %f, %c : ${h1}
    %ig = stablehlo.multiply %i, %g : ${h1}
    %c2 = stablehlo.add %fc, %ig : ${h1}
    %tc = stablehlo.tanh %c2 : ${h1}
    %h2 = stablehlo.multiply %o, %tc : ${h1}
    %one = stablehlo.constant dense<1> : tensor<i32>
    %t2 = stablehlo.add %t, %one : tensor<i32>
    stablehlo.return %t2, %h2, %c2 : tensor<i32>, ${h1}, ${h1}
  }
  return %r#1 : ${h1}
}
`;
  const onnx = encodeOnnx({
    nodes: [{ op: 'LSTM', inputs: ['x', 'W', 'R', 'B'], outputs: ['', 'y_h'], attrs: { hidden_size: H } }],
    initializers: [
      { name: 'W', dims: [1, 4 * H, I], data: transposed(w, I, 4 * H) },
      { name: 'R', dims: [1, 4 * H, H], data: transposed(r, H, 4 * H) },
      { name: 'B', dims: [1, 8 * H], data: Float32Array.from([...bw, ...br]) },
    ],
    input: { name: 'x', dims: [seq, 1, I] },
    output: { name: 'y_h', dims: [1, 1, H] },
  });
  const input = randomFloats(seq * I, 1, 34);
  return {
    name: `lstm_s${seq}`,
    mlir,
    onnx,
    onnxInputDims: [seq, 1, I],
    input,
    ourInput: input,
    toOnnxLayout: (a) => a,
    flops: 2 * seq * 4 * H * (I + H),
  };
}

/** The real models the benchmarks run, by name, each written when asked (ResNet-50's weights are
 * 100 MB of text): `make bench` against ONNX Runtime, `make bench-gpu` the batch-1 ones. */
export const REAL_MODELS: readonly (readonly [string, () => BenchModel])[] = [
  ['resnet50_b1', () => resnet50(1)],
  ['resnet50_b8', () => resnet50(8)],
  ['mobilenetv2_b1', () => mobilenetV2(1)],
  ['bert_layer_s128', () => bertLayer(128)],
  ['lstm_s64', () => lstm(64, 512, 512)],
];
