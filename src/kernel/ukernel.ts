/**
 * @fileoverview Micro-kernel ("ukernel") plans: contractions a backend computes with a tuned
 * kernel of its own instead of the loop nests of the kernel IR, which carries them as `ukernel`
 * nodes. The shape of a contraction (a GEMM's batch, M, N, K and operand strides; an NHWC
 * convolution's geometry) is target-neutral and read here; the schedule (tile, blocking,
 * packing, register blocks) is chosen by the backend for its machine (emit-c/gemm.ts,
 * emit-c/direct-conv.ts for CPUs).
 */
import type { Op } from '../ir/core.js';
import type { ElemType, TensorType } from '../ir/types.js';
import { strides } from '../ir/tensor.js';
import { attrsOf } from '../ops/index.js';
import { dotDims, type DotDims } from '../ops/contraction.js';
import type { FlatOp } from '../flat/program.js';

/** How the packing code reads A[b][m][k]. */
export type ASource =
  | { readonly kind: 'matrix'; readonly batchStride: number; readonly mStride: number; readonly kStride: number }
  | ({ readonly kind: 'conv' } & ConvGeometry);

export interface GemmTiling {
  readonly lanes: number;
  readonly mr: number;
  /** Vectors per micro-tile row; nr = nrv * lanes. */
  readonly nrv: number;
  readonly nr: number;
  readonly kc: number;
  readonly mc: number;
  /** The micro-kernel is inlined into the blocked driver (not on microcontrollers: inlined there,
   * gcc spilled Helium accumulators, 21 instead of 18 instructions per k step). */
  readonly inlineMicroKernel: boolean;
  /** Per k step, B's nrv vectors are loaded into registers once and each row's A value broadcast
   * in turn (out-of-order cores: mr x nrv accumulators + nrv + 1 registers). Otherwise each B
   * vector in turn meets every row's A scalar (microcontrollers: the scalars stay in general
   * registers, Helium multiplies by them directly). */
  readonly bVectorsInRegisters: boolean;
}

/** A register tile and k block (`--autotune`'s unit of choice). */
export interface TileChoice {
  readonly mr: number;
  readonly nrv: number;
  readonly kc: number;
}

/** Tile choices by GEMM (emit-c/gemm.ts gemmKey), from a tuning file: they replace the cost model's. */
export type GemmTuning = ReadonlyMap<string, TileChoice>;

/** A contraction as C[b][m][n] = sum over k of A[b][m][k] * B[b][k][n], read from the operands
 * as stored (no transposes or copies). */
export interface GemmShape {
  readonly batch: number;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly a: ASource;
  /** Element strides of B[b][k][n] in the operand as stored. */
  readonly b: { readonly batchStride: number; readonly kStride: number; readonly nStride: number };
}

/** A GEMM micro-kernel's plan: the shape and the backend's schedule (tile, blocking, packing). */
export interface GemmPlan extends GemmShape {
  readonly kind: 'gemm';
  readonly op: Op;
  /** B is a constant: packed at compile time (packB), read as is by the kernel. */
  readonly bPrepacked: boolean;
  /** How the micro-kernel reads A: packed panels, rows of the operand in place (contiguous k), or
   * row pointers into the image (convolution with k blocks of one kernel tap: indirect GEMM). */
  readonly aMode: 'packed' | 'direct' | 'indirect';
  readonly tiling: GemmTiling;
  /** Element types (f32, f16 or bf16) of A, B, the product, and the kernel's output (the product,
   * or the root of its epilogue). Half-precision operands are widened to f32 while packing (a
   * constant B at compile time); unless product and output are both f32, the product accumulates
   * in an f32 block of the scratch and is rounded once, when the epilogue stores the output. */
  readonly elems: { readonly a: ElemType; readonly b: ElemType; readonly c: ElemType; readonly out: ElemType };
}

export interface DirectConvPlan {
  readonly kind: 'direct-conv';
  readonly op: Op;
  readonly conv: ConvGeometry;
  /** One input channel per output channel (feature groups = channels = output channels). */
  readonly depthwise: boolean;
  readonly lanes: number;
  /** Vectors of output channels per register block, and output pixels per block. */
  readonly channelBlock: number;
  readonly pixelBlock: number;
  /** For an in-order core (microcontrollers): interior blocks take a narrow window's taps along x
   * unrolled, a schedule barrier after each (emit-c/direct-conv.ts). */
  readonly inOrder?: boolean;
}

/** A GPU GEMM's plan: the shape (A a matrix, or a convolution's image read as one: an implicit
 * GEMM), and the block tile each thread block computes through shared memory: bm x bn outputs, k
 * in steps of bk, tm x tn outputs per thread (on tensor cores: per warp). */
export interface GpuGemmPlan extends GemmShape {
  readonly kind: 'gpu-gemm';
  readonly op: Op;
  readonly elems: GemmPlan['elems'];
  readonly tile: {
    readonly bm: number;
    readonly bn: number;
    readonly bk: number;
    readonly tm: number;
    readonly tn: number;
  };
  /** Both operands f16 (or both bf16) and every target arch sm_80 or later: the block's warps
   * multiply on tensor cores (mma.sync m16n8k16, f32 accumulation) instead of tm x tn FMAs. */
  readonly tensorCores?: 'f16' | 'bf16';
  /** On tensor cores in a build for sm_90a only: Hopper's warpgroup MMA (wgmma), tm x tn per
   * warpgroup of four warps, operands read from shared memory. */
  readonly wgmma?: boolean;
  /** On FMAs with fewer than 32 rows: a GEMV kernel, every row per thread (bm = tm = M), a
   * column per lane, the block's warps splitting k (bk of them). */
  readonly gemv?: boolean;
  /** On FMAs, products of few output tiles and long k: k cut into this many slices, a block per
   * tile and slice writing its partial product to arena scratch (f32), a second kernel summing
   * the slices in slice order and applying the epilogue. */
  readonly kSlices?: number;
}

/** An integer GEMM micro-kernel's plan (the quantize phase's contractions: i8/i16 x i8/i16 -> i32
 * with constant weights, A's rows contiguous along k): B packed at compile time as 16-bit pairs
 * along k, one 32-bit word per column, for dual 16-bit multiply-adds (SMLAD on DSP cores,
 * vpmaddwd on x86); mr rows x nr columns of i32 accumulators in registers, in vectors of `lanes`
 * columns (1: scalar). */
export interface IntGemmPlan extends GemmShape {
  readonly kind: 'int-gemm';
  readonly op: Op;
  readonly elems: { readonly a: ElemType; readonly b: ElemType };
  readonly mr: number;
  readonly nr: number;
  readonly lanes: number;
  /** Rows of A packed per block into arena scratch as pair words (vector tiles), 0: A read in place. */
  readonly mc: number;
  /** Helium's column-dot layout instead of pairs: B packed column by column, each column's k's
   * contiguous (zero-padded to whole vectors) as 8- or 16-bit integers (A's width), one A row
   * against nr columns per call (VMLADAVA). */
  readonly columnDot?: 8 | 16;
  /** DSP cores (Arm's SMLAD / SXTB16): four k per step, one row against nr columns. A's four values
   * are one load (i8: one word, split by SXTB16 into the pairs (k0, k2) and (k1, k3); i16: two
   * pair words), and each column's two B words of the step are adjacent (one LDRD), packed to
   * match A's pairs. K's last k % 4 values run as plain pairs. */
  readonly quads?: boolean;
  /** Vector tiles on Armv8.2's dot product (int8 x int8): B packed as words of four int8 k, A's
   * rows likewise, one SDOT (four products per lane) per word and vector of columns. */
  readonly byteQuads?: boolean;
}

/** A 3x3 stride-1 convolution by Winograd's minimal filtering F(m x m, 3x3): each m x m block of
 * output pixels (a tile) from its (m + 2)^2 input window in (m + 2)^2 products per channel pair
 * instead of 9 m^2 (m = 2: 16 for 36; m = 4: 36 for 144). The kernel transforms every tile's
 * window (B^T d B) into (m + 2)^2 matrices of [tiles x channels], runs `gemm` (that batch of
 * [tiles x channels] * [channels x out channels], the weights transformed (G g G^T) and packed at
 * compile time) and transforms each tile's products back (A^T m A). */
export interface WinogradPlan {
  readonly kind: 'winograd';
  readonly op: Op;
  readonly conv: ConvGeometry;
  /** m: output pixels along each side of a tile (2 or 4). */
  readonly tile: 2 | 4;
  /** Tiles along the output's height and width (the last ones may reach past it). */
  readonly tilesHigh: number;
  readonly tilesWide: number;
  /** Tile rows (of every image, in order) per block; the GEMM's M is a block's tiles (the last
   * block's rows past the output are zero windows, their products dropped). */
  readonly blockRows: number;
  readonly gemm: GemmPlan;
}

export type UkernelPlan = GemmPlan | DirectConvPlan | GpuGemmPlan | IntGemmPlan | WinogradPlan;

/** How an integer GEMM's weights are packed, in words (comments, reports, dumps). */
export const intWeightPacking = (p: IntGemmPlan): string =>
  p.columnDot
    ? `${p.columnDot}-bit columns`
    : p.quads
      ? `16-bit pairs, each column's two per group of four k adjacent${p.elems.a.name === 'i8' ? ' as (k0, k2), (k1, k3)' : ''}`
      : p.byteQuads
        ? '8-bit quads along k'
        : '16-bit pairs along k';

/** One line saying what a plan computes and how (`--dump-after=lower`). */
export function describeUkernel(p: UkernelPlan): string {
  if (p.kind === 'int-gemm')
    return `integer gemm ${p.batch > 1 ? `${p.batch} x ` : ''}[${p.m} x ${p.k}] * [${p.k} x ${p.n}] ${p.elems.a.name} x ${p.elems.b.name} -> i32, tile ${p.mr} x ${p.nr}, B packed at compile time as ${intWeightPacking(p)}`;
  if (p.kind === 'gpu-gemm') {
    const t = p.tile;
    const how = p.gemv
      ? `GEMV, ${t.bn} columns per block of ${t.bk} warps splitting k`
      : p.wgmma
        ? `Hopper tensor cores (wgmma m64n${t.tn}k16), ${t.tm} x ${t.tn} per warpgroup`
        : p.tensorCores
          ? `tensor cores (mma m16n8k16), ${t.tm} x ${t.tn} per warp`
          : `${t.tm} x ${t.tn} per thread${p.kSlices ? `, k in ${p.kSlices} slices summed by a second kernel` : ''}`;
    return `gpu gemm ${p.batch > 1 ? `${p.batch} x ` : ''}[${p.m} x ${p.k}] * [${p.k} x ${p.n}] ${p.elems.a.name} x ${p.elems.b.name} -> ${p.elems.out.name}, block tile ${t.bm} x ${t.bn}, k step ${t.bk}, ${how}`;
  }
  if (p.kind === 'winograd') {
    const g = p.conv;
    return `winograd F(${p.tile}x${p.tile}, 3x3) convolution ${g.batch}x${g.height}x${g.width}x${g.channels} * 3x3x${g.channels}x${g.outChannels} (NHWC, HWIO): ${p.tilesHigh} x ${p.tilesWide} tiles per image, then ${describeUkernel(p.gemm)}`;
  }
  if (p.kind === 'direct-conv') {
    const g = p.conv;
    return `direct ${p.depthwise ? 'depthwise ' : ''}convolution ${g.batch}x${g.height}x${g.width}x${g.channels} * ${g.kernelHeight}x${g.kernelWidth}x${g.kernelChannels}x${g.outChannels} (NHWC, HWIO), blocks of ${p.pixelBlock} pixels x ${p.channelBlock} vectors of ${p.lanes} channels`;
  }
  const t = p.tiling;
  return `gemm ${p.batch > 1 ? `${p.batch} x ` : ''}[${p.m} x ${p.k}] * [${p.k} x ${p.n}] ${p.elems.a.name} x ${p.elems.b.name} -> ${p.elems.out.name}, tile ${t.mr} x ${t.nr}, kc ${t.kc}, mc ${t.mc}, A ${p.aMode}, B ${p.bPrepacked ? 'packed at compile time' : 'packed at run time'}`;
}

/** The single stride of a group of dims when they are adjacent and row-major contiguous (size-1 dims ignored). */
function groupStride(shape: readonly number[], dims: readonly number[]): { size: number; stride: number } | undefined {
  const st = strides(shape);
  const real = dims.filter((d) => shape[d] !== 1);
  const size = dims.reduce((n, d) => n * shape[d]!, 1);
  if (real.length === 0) return { size, stride: 0 };
  for (let i = 0; i + 1 < real.length; i++)
    if (st[real[i]!] !== st[real[i + 1]!]! * shape[real[i + 1]!]!) return undefined;
  return { size, stride: st[real[real.length - 1]!]! };
}

/** The GEMM view of a dot_general, dot or one-group NHWC convolution, if it has one (operand
 * dims that group into contiguous batch, M, N and K blocks). */
export function gemmShape(f: FlatOp): GemmShape | undefined {
  const [lt, rt] = [f.ins[0]!.type, f.ins[1]!.type];
  if (lt.kind !== 'tensor' || rt.kind !== 'tensor') return undefined;
  switch (f.op.name) {
    case 'stablehlo.dot_general':
      return dotShape(attrsOf('stablehlo.dot_general', f.op), lt, rt);
    case 'stablehlo.dot': // the deprecated 1-D/2-D form: contract lhs's last dim with rhs's first
      return dotShape(dotDims(lt), lt, rt);
    case 'stablehlo.convolution':
      return convShape(f);
    default:
      return undefined;
  }
}

function dotShape(d: DotDims, lt: TensorType, rt: TensorType): GemmShape | undefined {
  const lf = lt.shape.map((_, i) => i).filter((i) => !d.lb.includes(i) && !d.lc.includes(i));
  const rf = rt.shape.map((_, i) => i).filter((i) => !d.rb.includes(i) && !d.rc.includes(i));
  const [lb, lm, lk] = [groupStride(lt.shape, d.lb), groupStride(lt.shape, lf), groupStride(lt.shape, d.lc)];
  const [rb, rk, rn] = [groupStride(rt.shape, d.rb), groupStride(rt.shape, d.rc), groupStride(rt.shape, rf)];
  if (!lb || !lm || !lk || !rb || !rk || !rn) return undefined;
  return {
    batch: lb.size,
    m: lm.size,
    n: rn.size,
    k: lk.size,
    a: { kind: 'matrix', batchStride: lb.stride, mStride: lm.stride, kStride: lk.stride },
    b: { batchStride: rb.stride, kStride: rk.stride, nStride: rn.stride },
  };
}

/** A 2-D convolution in NHWC x HWIO -> NHWC layout without input dilation or reversal, as the
 * GEMM and direct-convolution paths see it. */
export interface ConvGeometry {
  readonly batch: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly outHeight: number;
  readonly outWidth: number;
  readonly outChannels: number;
  readonly kernelHeight: number;
  readonly kernelWidth: number;
  /** Input channels per kernel slice (HWIO's I): channels / feature groups. */
  readonly kernelChannels: number;
  readonly featureGroups: number;
  readonly stride: readonly [number, number];
  readonly dilation: readonly [number, number];
  readonly padBefore: readonly [number, number];
}

export function convGeometry(f: FlatOp): ConvGeometry | undefined {
  const [lt, rt, ot] = [f.ins[0]!.type, f.ins[1]!.type, f.outs[0]!.type] as TensorType[];
  const c = attrsOf('stablehlo.convolution', f.op);
  const nhwc = (b: number, sp: readonly number[], feat: number): boolean =>
    b === 0 && sp.length === 2 && sp[0] === 1 && sp[1] === 2 && feat === 3;
  if (!nhwc(c.inBatch, c.inSpatial, c.inFeature) || !nhwc(c.outBatch, c.outSpatial, c.outFeature)) return undefined;
  if (c.kSpatial[0] !== 0 || c.kSpatial[1] !== 1 || c.kIn !== 2 || c.kOut !== 3) return undefined;
  if (c.batchGroups !== 1 || c.lhsDil.some((x) => x !== 1) || c.reversal.some((x) => x)) return undefined;
  const [batch, height, width, channels] = lt!.shape as [number, number, number, number];
  const [kernelHeight, kernelWidth, kernelChannels, outChannels] = rt!.shape as [number, number, number, number];
  const [, outHeight, outWidth] = ot!.shape as [number, number, number, number];
  return {
    batch,
    height,
    width,
    channels,
    outHeight,
    outWidth,
    outChannels,
    kernelHeight,
    kernelWidth,
    kernelChannels,
    featureGroups: c.featureGroups,
    stride: [c.strides[0]!, c.strides[1]!],
    dilation: [c.rhsDil[0]!, c.rhsDil[1]!],
    padBefore: [c.padding[0]![0]!, c.padding[1]![0]!],
  };
}

/** One-group convolution as an implicit GEMM: rows are output pixels of every image (batch folds into M).
 * A 1x1 window at stride 1 without padding reads the image itself as that matrix ([pixels][channels]). */
function convShape(f: FlatOp): GemmShape | undefined {
  const g = convGeometry(f);
  if (!g || g.featureGroups !== 1) return undefined;
  const pointwise =
    g.kernelHeight === 1 &&
    g.kernelWidth === 1 &&
    g.stride.every((s) => s === 1) &&
    g.padBefore.every((p) => p === 0) &&
    g.outHeight === g.height &&
    g.outWidth === g.width;
  return {
    batch: 1,
    m: g.batch * g.outHeight * g.outWidth,
    n: g.outChannels,
    k: g.kernelHeight * g.kernelWidth * g.channels,
    a: pointwise ? { kind: 'matrix', batchStride: 0, mStride: g.channels, kStride: 1 } : { kind: 'conv', ...g },
    b: { batchStride: 0, kStride: g.outChannels, nStride: 1 },
  };
}
