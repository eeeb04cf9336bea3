/**
 * @fileoverview The quantize phase (module to module, before flatten): quantized contractions in
 * integer arithmetic, and per-axis quantized values as their storage integers. The backends
 * compute every other quantized op in its expressed float type (dequantize on load, quantize on
 * store: the spec's rule), which a per-axis type would need per element: this phase leaves none.
 *
 * dot_general, dot and convolution whose operands are !quant.uniform (lhs per tensor, rhs per
 * tensor or per axis along a dimension that reaches the result, as weights are quantized per
 * output channel) become, with a = lhs and b = rhs as stored integers:
 *   acc = the same contraction of (a - za) and (b - zb) accumulated in i32 (an operand stays i8
 *         as stored when its zero point is 0, else is widened to i16 less it: CMSIS-NN's q15)
 *   quantized result: q = clamp(zr + floor(acc * M0[c] / 2^n[c] + 1/2)) in i64 (round half up,
 *         TFLite's and CMSIS-NN's single rounding), where
 *         sa * sb[c] / sr[c] = M0[c] * 2^-n[c] with M0 in [2^30, 2^31) (a 31-bit fixed point)
 *   float result: convert(acc) * (sa * sb[c]).
 * maximum, minimum and clamp whose operands and result share one per-tensor quantization run on
 * the stored integers (exact: dequantization is monotonic); a max pool of a contraction's result
 * runs on its accumulators, before the requantization (quantized-order.ts); add and multiply of
 * per-tensor operands run on the stored integers (quantized-arith.ts), and so do average pools
 * in QDQ form (quantized-pool.ts).
 * The spec defines the contractions as dequantize, dot in f32, quantize; the integer path does not round
 * the dequantized operands or the f32 sum, so a result may differ from the interpreter's by one
 * quantum where that one lands within rounding of a tie, or is a tie (rounded up, not to even);
 * tests state and check the bound.
 */
import { error } from '../diag/diagnostics.js';
import type { Loc } from '../diag/source.js';
import type { Attr } from '../ir/attrs.js';
import { newValue, type Block, type Func, type Module, type Op, type Region, type Value } from '../ir/core.js';
import { tensorType, type QuantElem } from '../ir/types.js';
import { attrsOf } from '../ops/index.js';
import { constantValue } from '../ops/control.js';
import { forEachIndex, getElem, strides } from '../ir/tensor.js';
import { dotDims, type DotDims } from '../ops/contraction.js';
import { hasQuantTypes } from '../ops/quant.js';
import { Builder, F32, fixedPoint, I16, I32, I64, perAxis, quantOf, tensorOf } from './quant-builder.js';
import { isQuantizedArithmetic, lowerQuantizedArithmetic } from './quantized-arith.js';
import { averagePools, lowerAveragePool } from './quantized-pool.js';

export { fixedPoint };
import {
  applyChain,
  isOrderReduction,
  lowerOrderOp,
  ORDER_OPS,
  poolAccumulators,
  poolsBeforeRequantization,
  sameQuantization,
  spannedDims,
} from './quantized-order.js';

function unsupported(what: string, loc: Loc): never {
  throw error('E0301', { op: what, target: 'the quantize phase' }, loc);
}

/** The quantization of `q` at each index of dimension `dim` of size n (per tensor: n copies). */
function perChannel(q: QuantElem, n: number): { scales: number[]; zeroPoints: number[] } {
  const at = (i: number) => (q.axis === undefined ? 0 : i);
  return {
    scales: Array.from({ length: n }, (_, i) => Math.fround(q.scales[at(i)]!)),
    zeroPoints: Array.from({ length: n }, (_, i) => q.zeroPoints[at(i)] ?? 0),
  };
}

interface Contraction {
  /** The rhs dimension a per-axis rhs varies along and the result dimension it becomes. */
  readonly rhsChannelDim: number;
  readonly resultChannelDim: number;
}

/** The dimension numbers of a dot_general, or of a dot (its lhs's last dim with its rhs's first). */
function dotDimsOf(op: Op): DotDims {
  return op.name === 'stablehlo.dot' ? dotDims(tensorOf(op.operands[0]!)) : attrsOf('stablehlo.dot_general', op);
}

/** Where the rhs's output channels land in the result (dot: after batch and lhs-free dims). */
function contractionChannels(op: Op): Contraction {
  const [l, r] = [tensorOf(op.operands[0]!), tensorOf(op.operands[1]!)];
  if (op.name === 'stablehlo.convolution') {
    const c = attrsOf('stablehlo.convolution', op);
    return { rhsChannelDim: c.kOut, resultChannelDim: c.outFeature };
  }
  const d = dotDimsOf(op);
  const lf = [...l.shape.keys()].filter((i) => !d.lb.includes(i) && !d.lc.includes(i));
  const rf = [...r.shape.keys()].filter((i) => !d.rb.includes(i) && !d.rc.includes(i));
  const axis = quantOf(op.operands[1]!)?.axis;
  const free = axis === undefined ? -1 : rf.indexOf(axis);
  return { rhsChannelDim: axis ?? -1, resultChannelDim: free < 0 ? -1 : d.lb.length + lf.length + free };
}

/** A convolution of one input channel per feature group (depthwise, MobileNet's). */
function isDepthwise(op: Op): boolean {
  if (op.name !== 'stablehlo.convolution') return false;
  const c = attrsOf('stablehlo.convolution', op);
  const [l, r] = [tensorOf(op.operands[0]!), tensorOf(op.operands[1]!)];
  return c.featureGroups > 1 && l.shape[c.inFeature] === c.featureGroups && r.shape[c.kIn] === 1;
}

/** The result dimension a quantized contraction's per-channel factors vary along (-1: none;
 * lowerContraction checks that the rhs's and the result's agree). */
function requantizationDim(op: Op): number {
  const axis = quantOf(op.results[0]!)?.axis;
  if (axis !== undefined) return axis;
  return quantOf(op.operands[1]!)?.axis !== undefined ? contractionChannels(op).resultChannelDim : -1;
}

interface ContractionOptions {
  /** A per-axis rhs's stored integers, which this phase holds instead of the value. */
  readonly storedRhs?: Value;
  /** The constant op defining the rhs, when zero points fold. */
  readonly rhsConstant?: Op;
  /** Convolutions pad explicitly (padWithZeroPoint). */
  readonly padConvolution: boolean;
  /** A depthwise convolution's weights widened to i16 like its activations: DSP cores multiply
   * two channels' i16 pairs, each one load (rl_simd.h rl_vp_mac). */
  readonly wideDepthwiseWeights: boolean;
  /** A max pool of the result, computed on the accumulators (poolsBeforeRequantization): the
   * requantized result is then the pool's. */
  readonly pool?: Op;
}

/** The integer form of a quantized dot_general / dot / convolution (operands already mapped). */
function lowerContraction(op: Op, lhs: Value, rhs: Value, o: ContractionOptions): { ops: Op[]; result: Value } {
  const { storedRhs, rhsConstant, padConvolution, wideDepthwiseWeights, pool } = o;
  const b = new Builder(op.loc);
  const [qa, qb] = [quantOf(lhs), quantOf(rhs)];
  const accumulated = tensorOf(op.results[0]!);
  const out = pool ? tensorOf(pool.results[0]!) : accumulated;
  const qr = out.elem.kind === 'quant' ? out.elem : undefined;
  if (!qa || !qb) unsupported(`${op.name} of a quantized and a float operand`, op.loc);
  if (qa.axis !== undefined) unsupported(`${op.name} with a per-axis quantized lhs`, op.loc);
  if (!qr && out.elem.kind !== 'float') unsupported(`${op.name} with a ${out.elem.name} result`, op.loc);
  const { rhsChannelDim, resultChannelDim } = contractionChannels(op);
  if (qb.axis !== undefined && resultChannelDim < 0)
    unsupported(`${op.name} whose rhs is quantized along contracted dimension ${qb.axis}`, op.loc);
  const channelDim = requantizationDim(op);
  if (qr?.axis !== undefined && qb.axis !== undefined && qr.axis !== resultChannelDim)
    unsupported(`${op.name} whose result and rhs are quantized along different dimensions`, op.loc);
  const channels = channelDim < 0 ? 1 : out.shape[channelDim]!;
  const a = perChannel(qa, 1);
  const w = perChannel(qb, channels);
  const r = qr ? perChannel(qr, channels) : undefined;

  // Operands as integers, less their zero points where any is not 0; or, for a contraction with
  // constant weights of zero point 0 (rhsConstant: the option is on), the activations as stored
  // and their zero point's share subtracted after: za * (the weights' sum over k), known at
  // compile time (a convolution's padding then pads with za: padWithZeroPoint).
  let [x, y] = [b.storage(lhs), storedRhs ?? b.storage(rhs)];
  const fold = rhsConstant && a.zeroPoints[0] !== 0 && w.zeroPoints.every((z) => z === 0);
  let attrs = op.attrs;
  if ((fold || padConvolution) && op.name === 'stablehlo.convolution')
    [x, attrs] = padWithZeroPoint(b, op, x, a.zeroPoints[0]!);
  if (a.zeroPoints[0] !== 0 && !fold)
    x = b.binary('subtract', b.convert(x, I16), b.along(tensorOf(x).shape, I16, a.zeroPoints, 0));
  if (w.zeroPoints.some((z) => z !== 0)) {
    const rt = tensorOf(rhs);
    const wz = qb.axis === undefined ? [w.zeroPoints[0]!] : perChannel(qb, rt.shape[rhsChannelDim]!).zeroPoints;
    y = b.binary('subtract', b.convert(y, I16), b.along(rt.shape, I16, wz, Math.max(rhsChannelDim, 0)));
  } else if (wideDepthwiseWeights && !fold && isDepthwise(op)) y = b.convert(y, I16);
  let acc = b.one(op.name, [x, y], tensorType(accumulated.shape, I32), attrs);
  // A pool before the share's subtraction (where that is exact) leaves the subtraction to fuse
  // with the requantization of the pooled values.
  const poolFirst = pool && (!fold || poolsBeforeShare(op, pool, qa, qb));
  if (poolFirst) acc = poolAccumulators(b, acc, pool);
  if (fold) acc = b.binary('subtract', acc, zeroPointShare(b, op, rhsConstant!, a.zeroPoints[0]!, tensorOf(acc).shape));
  if (pool && !poolFirst) acc = poolAccumulators(b, acc, pool);
  const dim = Math.max(channelDim, 0);
  const products = w.scales.map((s) => a.scales[0]! * s);
  if (!r) {
    const scaled = b.binary('multiply', b.convert(acc, F32), b.along(out.shape, F32, products.map(Math.fround), dim));
    return { ops: b.ops, result: out.elem.name === 'f32' ? scaled : b.convert(scaled, out.elem) };
  }
  const fixed = products.map((p, c) => fixedPoint(p / r.scales[c]!, op.loc));
  const perOutput = (values: readonly (number | bigint)[], elem = I64): Value => b.along(out.shape, elem, values, dim);
  // M0 < 2^31 is stored as i32 and widened where it is used: a 32 x 32 -> 64-bit product (one
  // SMULL on Arm) instead of a 64 x 64 one.
  const multipliers = perOutput(
    fixed.map((f) => f.m0),
    I32,
  );
  // |acc| <= 2^31: with multipliers below 1 the rounded value may already fit the storage type (an
  // i32 result without zero points), and needs no clamp. Where it and the zero points' sum fit
  // i32 (a multiplier below 1), the rest runs in i32: on a 32-bit core one register instead of
  // two, and the clamp to 8 bits one SSAT.
  const reach = 2 ** 31 * Math.max(...fixed.map((f) => f.m0 / 2 ** f.n));
  const fits =
    -reach + Math.min(...r.zeroPoints) >= Number(qr!.storageMin) &&
    reach + Math.max(...r.zeroPoints) <= Number(qr!.storageMax);
  const wide = reach + Math.max(...r.zeroPoints.map(Math.abs)) > 2 ** 31 - 1 ? I64 : I32;
  // Round half up, in one rounding: floor((p + 2^(n-1)) / 2^n) for p = acc * M0 (TFLite's and
  // CMSIS-NN's single rounding; the spec's quantize rounds half to even: a tie, p exactly halfway,
  // is one quantum up).
  let narrowed: Value;
  if (wide === I32 && fixed.every((f) => f.n >= 33)) {
    // n = 32 + s with s >= 1: 2^(n-1) is a multiple of 2^32, so the sum's high word is p's high
    // word (chlo.mulhi: SMULL's high register on Arm, VMULH on Helium) plus 2^(s-1), all in i32.
    // The shift by s is then the high word of a product with 2^(32-s) where that fits i32 (s >= 2):
    // exactly floor(x / 2^s), without the range check a shift by a variable amount needs in C.
    const high = b.one('chlo.mulhi', [acc, multipliers], tensorOf(acc));
    const sum = b.binary(
      'add',
      high,
      perOutput(
        fixed.map((f) => 2 ** (f.n - 33)),
        I32,
      ),
    );
    narrowed = fixed.every((f) => f.n >= 34)
      ? b.one(
          'chlo.mulhi',
          [
            sum,
            perOutput(
              fixed.map((f) => 2 ** (64 - f.n)),
              I32,
            ),
          ],
          tensorOf(acc),
        )
      : b.binary(
          'shift_right_arithmetic',
          sum,
          perOutput(
            fixed.map((f) => f.n - 32),
            I32,
          ),
        );
  } else {
    const p = b.binary('multiply', b.convert(acc, I64), b.convert(multipliers, I64));
    const half = perOutput(fixed.map((f) => 1n << BigInt(f.n - 1)));
    const rounded = b.binary('shift_right_arithmetic', b.binary('add', p, half), perOutput(fixed.map((f) => f.n)));
    narrowed = wide === I32 ? b.convert(rounded, I32) : rounded;
  }
  const shifted = r.zeroPoints.some((z) => z !== 0)
    ? b.binary('add', narrowed, perOutput(r.zeroPoints, wide))
    : narrowed;
  const bound = (x: bigint): Value => b.along([], wide, [x], 0);
  const clamped = fits
    ? shifted
    : b.one('stablehlo.clamp', [bound(qr!.storageMin), shifted, bound(qr!.storageMax)], tensorOf(shifted));
  const stored = b.convert(clamped, qr!.storage);
  return { ops: b.ops, result: b.one('stablehlo.bitcast_convert', [stored], out) };
}

/** A convolution's padding and lhs dilation as an explicit pad of the stored activations `x` with
 * their zero point za (whose a - za is the 0 the convolution pads with), and the convolution's
 * attributes without them: every tap of every window is then a stored value a, and
 * sum (a - za) * w = sum a * w - za * sum w exactly. */
function padWithZeroPoint(b: Builder, op: Op, x: Value, za: number): [Value, Readonly<Record<string, Attr>>] {
  const c = attrsOf('stablehlo.convolution', op);
  const t = tensorOf(x);
  const [low, high, interior] = [0, 1, 2].map(() => new Array<number>(t.shape.length).fill(0)) as [
    number[],
    number[],
    number[],
  ];
  c.inSpatial.forEach((d, i) => {
    [low[d], high[d], interior[d]] = [c.padding[i]![0]!, c.padding[i]![1]!, c.lhsDil[i]! - 1];
  });
  const { padding: _padding, lhs_dilation: _dilation, ...attrs } = op.attrs;
  if ([...low, ...high, ...interior].every((n) => n === 0)) return [x, attrs];
  const shape = t.shape.map((n, d) => low[d]! + high[d]! + n + Math.max(n - 1, 0) * interior[d]!);
  const ints = (values: number[]): Attr => ({ kind: 'denseArray', elemType: 'i64', values });
  const padded = b.one('stablehlo.pad', [x, b.along([], t.elem, [za], 0)], tensorType(shape, t.elem), {
    edge_padding_low: ints(low),
    edge_padding_high: ints(high),
    interior_padding: ints(interior),
  });
  return [padded, attrs];
}

/** The rhs dims that za * (the weights' sum over the rest) keeps, and the result dims they
 * become: a dot keeps B's batch and free dims, a convolution its output features. */
function shareDims(op: Op): { kept: number[]; dims: number[] } {
  if (op.name === 'stablehlo.convolution') {
    const c = attrsOf('stablehlo.convolution', op);
    return { kept: [c.kOut], dims: [c.outFeature] };
  }
  const [lt, rt] = [tensorOf(op.operands[0]!), tensorOf(op.operands[1]!)];
  const d = dotDimsOf(op);
  const rf = [...rt.shape.keys()].filter((i) => !d.rb.includes(i) && !d.rc.includes(i));
  const nlf = lt.shape.length - d.lb.length - d.lc.length;
  return { kept: [...d.rb, ...rf], dims: [...d.rb.keys(), ...rf.map((_, i) => d.lb.length + nlf + i)] };
}

/** za * (the weights' sum over everything but the output's dims), as an i32 constant broadcast
 * over `outShape`: what the activations' zero point contributes to sum_k (a - za) * b (wrapping,
 * as the i32 sums do). */
function zeroPointShare(b: Builder, op: Op, rhsConstant: Op, za: number, outShape: readonly number[]): Value {
  const rt = tensorOf(rhsConstant.results[0]!);
  const { kept, dims } = shareDims(op);
  const storage = rt.elem.kind === 'quant' ? rt.elem.storage : rt.elem;
  const weights = constantValue(rhsConstant.attrs['value'], tensorType(rt.shape, storage), rhsConstant);
  const keptShape = kept.map((i) => rt.shape[i]!);
  const sums = new Array<bigint>(keptShape.reduce((n, x) => n * x, 1)).fill(0n);
  const st = strides(keptShape);
  forEachIndex(rt.shape, (idx, flat) => {
    const key = kept.reduce((o, dim, i) => o + idx[dim]! * st[i]!, 0);
    sums[key] = sums[key]! + (getElem(weights, flat) as bigint);
  });
  const share = b.constant(
    tensorType(keptShape, I32),
    sums.map((x) => BigInt.asIntN(32, x * BigInt(za))),
  );
  return b.one('stablehlo.broadcast_in_dim', [share], tensorType(outShape, I32), {
    broadcast_dimensions: { kind: 'denseArray', elemType: 'i64', values: dims },
  });
}

/** Whether a max pool of acc - share is the pool of acc less the share: the share is the same
 * across each window (every window one wide, strided one, along each dim it varies along) and no
 * i32 sum wraps (K * max|a| * max|b| * 2 < 2^31, the factor 2 for a - za), so max(acc - s) =
 * max(acc) - s exactly. */
function poolsBeforeShare(op: Op, pool: Op, lhs: QuantElem, rhs: QuantElem): boolean {
  const spanned = spannedDims(attrsOf('stablehlo.reduce_window', pool));
  const { kept, dims } = shareDims(op);
  if (dims.some((d) => spanned.has(d))) return false;
  const rt = tensorOf(op.operands[1]!);
  const k = rt.shape.reduce((n, x, i) => (kept.includes(i) ? n : n * x), 1);
  const most = (q: QuantElem): number => Math.max(-Number(q.storageMin), Number(q.storageMax));
  return k * most(lhs) * most(rhs) * 2 < 2 ** 31;
}

const CONTRACTIONS = new Set(['stablehlo.dot_general', 'stablehlo.dot', 'stablehlo.convolution']);

/** uniform_dequantize / uniform_quantize of per-axis values, in f32 as the interpreter computes
 * them: (q - zp) * scale, and clamp(round_half_even(x / scale) + zp). */
function lowerPerAxis(op: Op, operand: Value, stored: Value | undefined): { ops: Op[]; result: Value } {
  const b = new Builder(op.loc);
  const out = tensorOf(op.results[0]!);
  const shape = out.shape;
  const expressed = out.elem.kind === 'quant' ? out.elem.expressed : out.elem;
  if (expressed.name !== 'f32') unsupported(`${op.name} of a per-axis type expressed in ${expressed.name}`, op.loc);
  let x = operand;
  // From a per-axis value (mapped to its stored integers): to its expressed f32.
  if (stored) {
    const q = quantOf(operand)!;
    const { scales, zeroPoints } = perChannel(q, shape[q.axis!]!);
    x = b.binary('subtract', b.convert(stored, F32), b.along(shape, F32, zeroPoints, q.axis!));
    x = b.binary('multiply', x, b.along(shape, F32, scales, q.axis!));
  } else if (quantOf(operand)) x = b.one('stablehlo.uniform_dequantize', [operand], tensorType(shape, F32));
  if (op.name === 'stablehlo.uniform_dequantize') return { ops: b.ops, result: x };
  const q = out.elem as QuantElem;
  const dim = q.axis ?? 0;
  const { scales, zeroPoints } = perChannel(q, q.axis === undefined ? 1 : shape[dim]!);
  let y = b.one('stablehlo.round_nearest_even', [b.binary('divide', x, b.along(shape, F32, scales, dim))], tensorOf(x));
  y = b.binary('add', y, b.along(shape, F32, zeroPoints, dim));
  const lo = b.along([], F32, [Number(q.storageMin)], 0);
  const hi = b.along([], F32, [Number(q.storageMax)], 0);
  const ints = b.convert(b.one('stablehlo.clamp', [lo, y, hi], tensorOf(y)), q.storage);
  // A per-axis result stays as its stored integers; a per-tensor one becomes its type again.
  return { ops: b.ops, result: q.axis === undefined ? b.one('stablehlo.bitcast_convert', [ints], out) : ints };
}

/** What a rewrite carries through a function: values mapped to their rewritten ones, per-axis
 * values to their stored integers, and (when zero points fold) constant ops by result. */
interface Rewrite {
  readonly map: Map<Value, Value>;
  readonly stored: Map<Value, Value>;
  readonly constants?: Map<Value, Op>;
  /** Convolutions pad explicitly (padWithZeroPoint). */
  readonly padConvolutions: boolean;
  /** Depthwise convolutions' weights widened to i16 (ContractionOptions.wideDepthwiseWeights). */
  readonly wideDepthwiseWeights: boolean;
}

/** Rewrites one region. */
function rewriteRegion(region: Region, rw: Rewrite): Region {
  return { blocks: region.blocks.map((block) => rewriteBlock(block, rw)) };
}

/** Operands read by an op, its regions and its successors. */
function reads(op: Op): Value[] {
  return [
    ...op.operands,
    ...op.successors.flatMap((x) => x.args),
    ...op.regions.flatMap((r) => r.blocks.flatMap((b) => b.ops.flatMap(reads))),
  ];
}

/** The op defining each value of `block`, and how many times each value is read. */
function defsAndUses(block: Block): { def: Map<Value, Op>; uses: Map<Value, number> } {
  const def = new Map<Value, Op>();
  const uses = new Map<Value, number>();
  for (const op of block.ops) {
    op.results.forEach((r) => def.set(r, op));
    for (const v of reads(op)) uses.set(v, (uses.get(v) ?? 0) + 1);
  }
  return { def, uses };
}

/**
 * The QDQ pattern of PyTorch's and ONNX's exports: uniform_quantize(contraction(
 * uniform_dequantize(a), uniform_dequantize(b))), the float result read by nothing else, is the
 * contraction of a and b with the quantize's result type (the spec gives both the same value).
 * Returns the quantize ops so recognised, each with its quantized contraction, and the float
 * contractions they replace.
 */
function qdqContractions(
  block: Block,
  def: ReadonlyMap<Value, Op>,
  uses: ReadonlyMap<Value, number>,
): { fused: Map<Op, Op>; absorbed: Set<Op> } {
  const dequantized = (v: Value): Value | undefined => {
    const d = def.get(v);
    return d?.name === 'stablehlo.uniform_dequantize' ? d.operands[0] : undefined;
  };
  const fused = new Map<Op, Op>();
  const absorbed = new Set<Op>();
  for (const op of block.ops) {
    if (op.name !== 'stablehlo.uniform_quantize') continue;
    const c = def.get(op.operands[0]!);
    if (!c || !CONTRACTIONS.has(c.name) || c.operands.length !== 2 || uses.get(c.results[0]!) !== 1) continue;
    const [a, b] = [dequantized(c.operands[0]!), dequantized(c.operands[1]!)];
    if (!a || !b) continue;
    fused.set(op, { ...c, operands: [a, b], results: op.results });
    absorbed.add(c);
  }
  return { fused, absorbed };
}

function rewriteBlock(block: Block, rw: Rewrite): Block {
  const { map, stored, constants, padConvolutions, wideDepthwiseWeights } = rw;
  const ops: Op[] = [];
  const use = (v: Value): Value => map.get(v) ?? v;
  /** The constant op defining `v` (per-axis: its stored integers), when zero points fold. */
  const constantOf = (v: Value): Op | undefined => constants?.get(stored.get(v) ?? use(v));
  const { def, uses } = defsAndUses(block);
  const qdq = qdqContractions(block, def, uses);
  /** The quantized contraction `op` computes (a QDQ quantize: the one it stands for), if any. */
  const contractionAt = (op: Op): Op | undefined =>
    qdq.fused.get(op) ??
    (CONTRACTIONS.has(op.name) && op.operands.length === 2 && op.operands.some((v) => quantOf(v)) ? op : undefined);
  const lower = (c: Op, pool?: Op): { ops: Op[]; result: Value } => {
    const [a, b] = c.operands as [Value, Value];
    const o = {
      storedRhs: stored.get(b),
      rhsConstant: constantOf(b),
      padConvolution: padConvolutions,
      wideDepthwiseWeights,
      pool,
    };
    return lowerContraction(c, use(a), use(b), o);
  };
  const pooled = poolsBeforeRequantization(block, def, uses, (op) => {
    const c = contractionAt(op);
    return c && requantizationDim(c);
  });
  const averages = averagePools(block, def, uses);
  const push = (o: Op): void => {
    ops.push(o);
    if (constants && o.name === 'stablehlo.constant') constants.set(o.results[0]!, o);
  };
  for (const op of block.ops) {
    // Computed by the integer contraction at its quantize, or at the pool of its result.
    if (qdq.absorbed.has(op) || pooled.absorbed.has(op) || averages.absorbed.has(op)) continue;
    const replace = (r: { ops: Op[]; result: Value }): void => {
      ops.push(...r.ops);
      map.set(op.results[0]!, r.result);
    };
    const poolFirst = pooled.pools.get(op);
    if (poolFirst) {
      const r = lower(contractionAt(poolFirst.contraction)!, op);
      const chained = applyChain(poolFirst.chain, r.result, def, use);
      replace({ ops: [...r.ops, ...chained.ops], result: chained.result });
      continue;
    }
    const average = averages.at.get(op);
    if (average) {
      replace(lowerAveragePool(op, average, use(average.input)));
      continue;
    }
    const c = contractionAt(op);
    if (c) {
      replace(lower(c));
      continue;
    }
    const operands = op.operands.map(use);
    if (isQuantizedArithmetic(op)) {
      replace(lowerQuantizedArithmetic(op, operands));
      continue;
    }
    if ((ORDER_OPS.has(op.name) || isOrderReduction(op)) && sameQuantization(op, operands)) {
      replace(lowerOrderOp(op, operands));
      continue;
    }
    const perAxisIn = op.operands.find((v) => stored.has(v));
    const perAxisOut = op.results.some(perAxis);
    if (op.name === 'stablehlo.constant' && perAxisOut) {
      // The literal holds the stored integers: the same literal as the storage type.
      const t = tensorOf(op.results[0]!);
      const ints = newValue(tensorType(t.shape, (t.elem as QuantElem).storage), op.results[0]!.name);
      push({ ...op, results: [ints] });
      stored.set(op.results[0]!, ints);
      continue;
    }
    if (op.name === 'stablehlo.bitcast_convert' && (perAxisIn || perAxisOut)) {
      // Per-axis <-> its storage integers: the same bits, no op.
      if (perAxisIn) map.set(op.results[0]!, stored.get(op.operands[0]!)!);
      else stored.set(op.results[0]!, operands[0]!);
      continue;
    }
    if (
      (op.name === 'stablehlo.uniform_quantize' || op.name === 'stablehlo.uniform_dequantize') &&
      (perAxisIn || perAxisOut)
    ) {
      const r = lowerPerAxis(op, op.operands[0]!, perAxisIn ? stored.get(perAxisIn) : undefined);
      ops.push(...r.ops);
      if (perAxisOut) stored.set(op.results[0]!, r.result);
      else map.set(op.results[0]!, r.result);
      continue;
    }
    if (perAxisIn || perAxisOut)
      unsupported(
        `${op.name} on per-axis quantized values (taken as a dot/convolution's rhs and by uniform_quantize, uniform_dequantize and bitcast_convert)`,
        op.loc,
      );
    push({
      ...op,
      operands,
      regions: op.regions.map((r) => rewriteRegion(r, rw)),
      successors: op.successors.map((s) => ({ label: s.label, args: s.args.map(use) })),
    });
  }
  return { label: block.label, args: block.args, ops };
}

const mentionsQuant = (r: Region): boolean =>
  r.blocks.some((b) => b.ops.some((op) => hasQuantTypes(op) || op.regions.some(mentionsQuant)));

/** The quantize phase: every function with quantized values rewritten, others kept as they are.
 * foldZeroPoints: contractions with constant weights keep int8 activations of a non-zero zero
 * point as stored (the zero point's share subtracted from the i32 sums: for Helium's 8-bit dot
 * products); otherwise they are widened to i16 less it (DSP pairs load an i16 pair in one
 * instruction). padConvolutions: every convolution's padding is an explicit pad (for kernels
 * that gather each window: then whole window rows, with no bounds checks). wideDepthwiseWeights:
 * depthwise convolutions' weights as i16 (DSP pairs). */
export function lowerQuantized(
  m: Module,
  o: {
    readonly foldZeroPoints?: boolean;
    readonly padConvolutions?: boolean;
    readonly wideDepthwiseWeights?: boolean;
  } = {},
): Module {
  const funcs = new Map<string, Func>();
  for (const [name, f] of m.funcs) {
    if (!f.body || !mentionsQuant(f.body)) {
      funcs.set(name, f);
      continue;
    }
    if (f.params.some(perAxis)) unsupported(`@${name}: a per-axis quantized parameter`, f.loc);
    const rw = {
      map: new Map(),
      stored: new Map(),
      padConvolutions: o.padConvolutions ?? false,
      wideDepthwiseWeights: o.wideDepthwiseWeights ?? false,
      ...(o.foldZeroPoints ? { constants: new Map() } : {}),
    };
    funcs.set(name, { ...f, body: rewriteRegion(f.body, rw) });
  }
  return { ...m, funcs };
}
