/**
 * @fileoverview Lowers one (inlined) op to one C kernel: a `RL_KERNEL void` function (static, not inlined) over
 * restrict-qualified buffers, written as plain scalar loop nests, except f32 dots and convolutions
 * on SIMD targets, which take the packed GEMM path of gemm.ts.
 * Each kernel carries a comment naming the op and its source location.
 */
import { error } from '../diag/diagnostics.js';
import type { Region } from '../ir/core.js';
import { simpleCombiner } from '../ops/reduction.js';
import { numElements, type TensorType } from '../ir/types.js';
import type { WindowAttrs } from '../ops/reduction.js';
import { strides } from '../ir/tensor.js';
import { CodeWriter } from '../emit-common/code-writer.js';
import { cElem, cElemOrUndefined, type CElem } from './ctypes.js';
import { describeGroup, emitFusedLoop, emitFusedReduce, fusedIR, fusedParams, type FusedEnv, type RowRange } from './fused.js';
import { vectorSpelling } from './c-renderer.js';
import { emitRowsKernel, PARALLEL_MIN_ELEMENTS } from './rows.js';
import { singleOpGroup } from '../fusion/fuse.js';
import { emitScalarRegion } from './region.js';
import { emitGemmKernel, type GemmPlan } from './gemm.js';
import { emitDirectConvKernel, type DirectConvPlan } from './direct-conv.js';
import { batchNormGrad, batchNormInference, batchNormTraining } from './normalization.js';
import { rng } from './random.js';
import { MIXED_OPS } from './mixed.js';
import { hasScalarCode, scalarCode } from './scalar.js';
import type { FlatOp, Sym } from '../flat/program.js';
import { KernelBuilder, tensorOf, unsupported, type Kernel, type KernelParam, type Lowering } from './builder.js';
import { attrsOf } from '../ops/index.js';
import { elementwise, IR_LOWERINGS, irLoweringOf, KernelBuild, windowElement } from '../kernel/lower.js';
import { and } from '../kernel/ir.js';
import { v } from '../ir/index-expr.js';
import { cIndex } from '../emit-common/cstyle.js';
import type { Stmt } from '../kernel/ir.js';
import { CRenderer } from './c-renderer.js';

/** `i0*12 + i1*4 + i2` for an index list and strides (terms with zero stride dropped). */
function linear(terms: readonly (readonly [string, number])[], base = 0): string {
  const parts: string[] = base ? [String(base)] : [];
  for (const [v, s] of terms) if (s !== 0) parts.push(s === 1 ? v : `${v} * ${s}`);
  return parts.length ? parts.join(' + ') : '0';
}

function nest(w: CodeWriter, shape: readonly number[], body: (idx: string[]) => void, prefix = 'i', rows?: RowRange): void {
  const idx = shape.map((_, d) => `${prefix}${d}`);
  const open = (d: number): void => {
    if (d === shape.length) return body(idx);
    const [from, to] = d === 0 && rows ? [rows.begin, rows.end] : ['0', String(shape[d])];
    w.block(`for (int64_t ${idx[d]} = ${from}; ${idx[d]} < ${to}; ++${idx[d]}) {`, () => open(d + 1));
  };
  open(0);
}

// ---- reductions and contractions ---------------------------------------------------------------
/** One application of a reduction body; rounded to the element type each step (as the spec's
 * tensor<E> body results are), which matters for f16/bf16 computed in float. */
function combine(k: KernelBuilder, body: Region | undefined, c: CElem, acc: string, v: string): string {
  const name = simpleCombiner(body);
  if (!name || !hasScalarCode(name, c)) throw error('E0303', { op: k.fop.op.name }, k.fop.op.loc);
  const e = scalarCode(name, [acc, v], c, k.fop.op);
  return c.storage === c.compute ? e : c.load(c.store(e));
}

/** Applies a reduction body to accumulators `accs` and new values `xs` (C expressions): a single
 * binary op inline, anything else through the scalar-region emitter. Returns the new values. */
function applyBody(k: KernelBuilder, body: Region | undefined, cs: readonly CElem[], accs: readonly string[], xs: readonly string[]): string[] {
  if (accs.length === 1 && simpleCombiner(body) && hasScalarCode(simpleCombiner(body)!, cs[0]!)) return [combine(k, body, cs[0]!, accs[0]!, xs[0]!)];
  return emitScalarRegion(k.w, body, [...accs, ...xs], k.fop.op, k.names);
}

/** Trailing dims a window passes straight through (size 1, stride 1, no padding or dilation):
 * how many, and their element count (e.g. the channels of NHWC pooling). */
function passThroughTail(w: WindowAttrs, shape: readonly number[]): { dims: number; size: number } {
  let dims = 0;
  let size = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    const plain = w.dims[d] === 1 && w.strides[d] === 1 && w.baseDil[d] === 1 && w.winDil[d] === 1 && w.padding[d]![0] === 0 && w.padding[d]![1] === 0;
    if (!plain) break;
    dims++;
    size *= shape[d]!;
  }
  return { dims, size };
}

/** Whether a reduce_window has the pooling layout (one operand, a contiguous tail of channels the
 * window passes straight through, types computed as stored), which poolingWindow lowers. */
export function isPoolingWindow(fop: FlatOp): boolean {
  if (fop.op.name !== 'stablehlo.reduce_window' || fop.ins.length !== 2) return false;
  const [x, out] = [fop.ins[0]!.type, fop.outs[0]!.type];
  if (x.kind !== 'tensor' || out.kind !== 'tensor') return false;
  const [cx, co] = [cElemOrUndefined(x.elem), cElemOrUndefined(out.elem)];
  return !!cx && !!co && cx.storage === cx.compute && co.storage === co.compute && passThroughTail(attrsOf('stablehlo.reduce_window', fop.op), x.shape).size > 1;
}

/** reduce_window in the pooling layout (other windows are kernel/lower.ts's). */
const poolingWindow: Lowering = (k) => {
  const x = k.input(0);
  const inits = [k.input(1)];
  const out = k.output(0);
  const w = k.attrsOf('stablehlo.reduce_window');
  const st = strides(x.t.shape);
  const tail = passThroughTail(w, x.t.shape);
  // Pooling layout: the window walks the leading dims while the tail (channels) is contiguous.
  // f32 with a single-op body rl_simd.h spells (max, sum, ...) on a SIMD target: vectors of
  // channels accumulate in registers over the window (same order and rounding as the scalar
  // loop: bitwise equal); other channels and types accumulate in the output row in a plain loop.
  const lead = x.t.shape.length - tail.dims;
  const lw: WindowAttrs = { ...w, dims: w.dims.slice(0, lead), strides: w.strides.slice(0, lead), baseDil: w.baseDil.slice(0, lead), winDil: w.winDil.slice(0, lead), padding: w.padding.slice(0, lead) };
  const leadSt = st.slice(0, lead);
  const vectorOp = k.lanes && x.c.name === 'f32' && tail.size >= k.lanes ? vectorSpelling(simpleCombiner(k.fop.op.regions[0]) ?? '') : undefined;
  const vectorEnd = vectorOp ? tail.size - (tail.size % k.lanes!) : 0;
  const overWindow = (oi: readonly string[], body: (src: string) => void): void =>
    nest(
      k.w,
      lw.dims,
      (wi) => {
        const at = windowElement(lw, x.t.shape.slice(0, lead), oi.map(v), wi.map(v), out.t.shape.slice(0, lead), leadSt);
        const render = new CRenderer();
        render.renderStmts(k.w, at.decls, k.fop.op);
        k.w.block(`if (${render.condition(and(...at.inside))}) {`, () => body(`${x.name} + ${cIndex(at.index)}`));
      },
      'w',
    );
  // With threads, output rows of the first window dim are split across the pool.
  const leadShape = out.t.shape.slice(0, lead);
  const parallel = k.threads > 1 && lead > 0 && leadShape[0]! > 1 && numElements(x.t.shape) >= PARALLEL_MIN_ELEMENTS;
  if (parallel) k.parallelRows = leadShape[0]!;
  k.w.line(parallel ? `int64_t o = row_begin * ${numElements(leadShape.slice(1))};` : 'int64_t o = 0;');
  nest(k.w, leadShape, (oi) => {
    k.w.line(`${out.c.storage}* restrict row = ${out.name} + o * ${tail.size};`);
    if (vectorOp) {
      k.usesSimd = true;
      k.w.block(`for (int64_t c = 0; c < ${vectorEnd}; c += ${k.lanes}) {`, () => {
        k.w.line(`rl_vf acc = rl_vf_splat(${inits[0]!.name}[0]);`);
        overWindow(oi, (src) => k.w.line(`acc = ${vectorOp(['acc', `rl_vf_load(${src} + c)`])};`));
        k.w.line('rl_vf_store(row + c, acc);');
      });
    }
    if (vectorEnd < tail.size) {
      k.w.line(`for (int64_t c = ${vectorEnd}; c < ${tail.size}; ++c) row[c] = ${inits[0]!.name}[0];`);
      overWindow(oi, (src) => {
        k.w.line(`const ${x.c.storage}* restrict src = ${src};`);
        k.w.block(`for (int64_t c = ${vectorEnd}; c < ${tail.size}; ++c) {`, () => {
          const [next] = applyBody(k, k.fop.op.regions[0], [x.c], ['row[c]'], ['src[c]']);
          k.w.line(`row[c] = ${next};`);
        });
      });
    }
    k.w.line('++o;');
  }, 'i', parallel ? ROWS : undefined);
};

/** sort: a stable insertion sort of each slice along `dimension`, moving all operands together. */
const sort: Lowering = (k) => {
  const ins = k.fop.ins.map((_, i) => k.input(i));
  const outs = ins.map((_, i) => k.output(i));
  const a = k.attrsOf('stablehlo.sort');
  const shape = ins[0]!.t.shape;
  const dim = a.dim < 0 ? shape.length + a.dim : a.dim;
  const st = strides(shape);
  const len = shape[dim]!;
  outs.forEach((o, i) => k.w.line(`memcpy(${o.name}, ${ins[i]!.name}, ${numElements(shape) * o.c.bytes});`));
  nest(k.w, shape.map((d, i) => (i === dim ? 1 : d)), (oi) => {
    const base = linear(oi.map((v, i) => [v, i === dim ? 0 : st[i]!] as const));
    k.w.block(`for (int64_t j = 1; j < ${len}; ++j) {`, () => {
      k.w.block(`for (int64_t m = j; m > 0; --m) {`, () => {
        k.w.line(`const int64_t lo = ${base} + (m - 1) * ${st[dim]}, hi = ${base} + m * ${st[dim]};`);
        // comparator(lhs0, rhs0, lhs1, rhs1, ...): is the element at hi less than the one at lo?
        const args = outs.flatMap((o) => [o.c.load(`${o.name}[hi]`), o.c.load(`${o.name}[lo]`)]);
        const [less] = emitScalarRegion(k.w, k.fop.op.regions[0], args, k.fop.op, k.names);
        k.w.line(`if (!${less}) break;`);
        outs.forEach((o, i) => k.w.line(`{ const ${o.c.storage} t${i} = ${o.name}[lo]; ${o.name}[lo] = ${o.name}[hi]; ${o.name}[hi] = t${i}; }`));
      });
    });
  });
};

/** chlo.top_k: the k largest of each last-axis row (NaN largest, ties by lower index) with indices. */
const topK: Lowering = (k) => {
  const x = k.input(0);
  const vals = k.output(0);
  const idxs = k.output(1);
  const kk = k.attrsOf('chlo.top_k').k;
  const n = x.t.shape[x.t.shape.length - 1]!;
  const rows = numElements(x.t.shape) / Math.max(1, n);
  const isF = x.c.cls === 'float' || x.c.cls === 'double';
  const key = (e: string): string => (isF ? `${x.c.cls === 'double' ? 'rl_total_key_f64' : 'rl_total_key_f32'}(${e})` : e);
  k.w.block(`for (int64_t r = 0; r < ${rows}; ++r) {`, () => {
    k.w.block(`for (int64_t j = 0; j < ${kk}; ++j) {`, () => {
      k.w.line('int64_t best = -1;');
      k.w.block(`for (int64_t i = 0; i < ${n}; ++i) {`, () => {
        k.w.line('int taken = 0;');
        k.w.line(`for (int64_t q = 0; q < j; ++q) taken |= (int64_t)${idxs.name}[r * ${kk} + q] == i;`);
        k.w.line(`if (taken) continue;`);
        // NaN compares as the largest value (total order with the sign bit ignored for NaN).
        const v = x.c.load(`${x.name}[r * ${n} + i]`);
        const b = x.c.load(`${x.name}[r * ${n} + best]`);
        const gt = isF ? `((${v} != ${v}) ? !(${b} != ${b}) : (!(${b} != ${b}) && ${key(v)} > ${key(b)}))` : `${v} > ${b}`;
        k.w.line(`if (best < 0 || ${gt}) best = i;`);
      });
      k.w.line(`${vals.name}[r * ${kk} + j] = ${x.name}[r * ${n} + best];`);
      k.w.line(`${idxs.name}[r * ${kk} + j] = ${idxs.c.store('best')};`);
    });
  });
};

/** triangular_solve: substitution in double (or double _Complex) on a stack copy of B, as the
 * interpreter does, rounding once at the end. Loops touch only the chosen triangle of A. */
const triangularSolve: Lowering = (k) => {
  const A = k.input(0);
  const B = k.input(1);
  const out = k.output();
  const a = k.attrsOf('stablehlo.triangular_solve');
  const n = A.t.shape[A.t.shape.length - 1]!;
  const bs = B.t.shape;
  const [m, kk] = [bs[bs.length - 2]!, bs[bs.length - 1]!];
  const batch = numElements(bs) / Math.max(1, m * kk);
  const complex = out.c.cls === 'complex';
  if (!complex && out.c.cls !== 'float' && out.c.cls !== 'double') unsupported(k.fop, `on ${out.c.name}`);
  const acc = complex ? 'double _Complex' : 'double';
  const effLower = a.transpose === 'NO_TRANSPOSE' ? a.lower : !a.lower;
  // Element (i, j) of op(A) as a C expression over runtime indices.
  const opA = (i: string, j: string): string => {
    const [r, c] = a.transpose === 'NO_TRANSPOSE' ? [i, j] : [j, i];
    const v = `(${acc})${A.c.load(`${A.name}[ao + (${r}) * ${n} + (${c})]`)}`;
    return a.transpose === 'ADJOINT' && complex ? `conj(${v})` : v;
  };
  const diag = (i: string): string => (a.unit ? '1.0' : opA(i, i));
  const size = m * kk;
  k.w.block(`for (int64_t bi = 0; bi < ${batch}; ++bi) {`, () => {
    k.w.line(`const int64_t ao = bi * ${n * n}, bo = bi * ${size};`);
    k.w.line(`${acc} X[${Math.max(1, size)}];`);
    k.w.line(`for (int64_t i = 0; i < ${size}; ++i) X[i] = (${acc})${B.c.load(`${B.name}[bo + i]`)};`);
    if (a.left) {
      const idx = (v: string): string => (effLower ? v : `${m - 1} - ${v}`);
      k.w.block(`for (int64_t col = 0; col < ${kk}; ++col) {`, () =>
        k.w.block(`for (int64_t p = 0; p < ${m}; ++p) {`, () => {
          k.w.line(`const int64_t i = ${idx('p')};`);
          k.w.line(`${acc} s = X[i * ${kk} + col];`);
          k.w.line(`for (int64_t q = 0; q < p; ++q) { const int64_t j = ${idx('q')}; s -= ${opA('i', 'j')} * X[j * ${kk} + col]; }`);
          k.w.line(`X[i * ${kk} + col] = s / ${diag('i')};`);
        }),
      );
    } else {
      const idx = (v: string): string => (effLower ? `${kk - 1} - ${v}` : v);
      k.w.block(`for (int64_t row = 0; row < ${m}; ++row) {`, () =>
        k.w.block(`for (int64_t p = 0; p < ${kk}; ++p) {`, () => {
          k.w.line(`const int64_t j = ${idx('p')};`);
          k.w.line(`${acc} s = X[row * ${kk} + j];`);
          k.w.line(`for (int64_t q = 0; q < p; ++q) { const int64_t i = ${idx('q')}; s -= X[row * ${kk} + i] * ${opA('i', 'j')}; }`);
          k.w.line(`X[row * ${kk} + j] = s / ${diag('j')};`);
        }),
      );
    }
    k.w.line(`for (int64_t i = 0; i < ${size}; ++i) ${out.name}[bo + i] = ${out.c.store('X[i]')};`);
  });
};

/** fft: naive DFT along each transformed axis on a double _Complex copy (like the interpreter),
 * with the Hermitian completion for IRFFT. */
const fft: Lowering = (k) => {
  const x = k.input(0);
  const out = k.output();
  const a = k.attrsOf('stablehlo.fft');
  const rank = out.t.shape.length;
  const axes = a.length.map((_, i) => rank - a.length.length + i);
  const cshape = a.type === 'FFT' || a.type === 'IFFT' ? [...x.t.shape] : [...out.t.shape];
  if (a.type === 'RFFT' || a.type === 'IRFFT') a.length.forEach((l, i) => (cshape[axes[i]!] = l));
  const n = numElements(cshape);
  const cst = strides(cshape);
  const xst = strides(x.t.shape);
  const ost = strides(out.t.shape);
  const last = axes[axes.length - 1]!;
  const inverse = a.type === 'IFFT' || a.type === 'IRFFT';
  const xComplex = x.c.cls === 'complex';
  k.w.line(`double _Complex buf[${n}]; /* stack scratch: no static state, kernels stay reentrant */`);
  k.w.line(`double _Complex tmp[${Math.max(...cshape, 1)}];`);
  k.w.line('int64_t idx[' + Math.max(1, rank) + '];');
  // Fill the complex work array from the input.
  k.w.block(`for (int64_t f = 0; f < ${n}; ++f) {`, () => {
    cshape.forEach((_, d) => k.w.line(`idx[${d}] = (f / ${cst[d]}) % ${cshape[d]};`));
    if (a.type === 'IRFFT') {
      k.w.line('int conj_part = 0;');
      k.w.block(`if (idx[${last}] >= ${x.t.shape[last]}) {`, () => {
        k.w.line(`idx[${last}] = ${cshape[last]} - idx[${last}];`);
        for (const ax of axes.slice(0, -1)) k.w.line(`idx[${ax}] = (${cshape[ax]} - idx[${ax}]) % ${cshape[ax]};`);
        k.w.line('conj_part = 1;');
      });
      const src = `${x.name}[${cshape.map((_, d) => `idx[${d}] * ${xst[d]}`).join(' + ')}]`;
      k.w.line(`const double _Complex v = (double _Complex)${x.c.load(src)};`);
      k.w.line('buf[f] = conj_part ? conj(v) : v;');
    } else {
      const inside = cshape.map((_, d) => `idx[${d}] < ${x.t.shape[d]}`).join(' && ') || '1';
      const src = `${x.name}[${cshape.map((_, d) => `idx[${d}] * ${xst[d]}`).join(' + ') || '0'}]`;
      k.w.line(`buf[f] = (${inside}) ? (double _Complex)${xComplex ? x.c.load(src) : `(double)${x.c.load(src)}`} : 0;`);
    }
  });
  for (const ax of inverse ? [...axes].reverse() : axes) {
    const len = cshape[ax]!;
    k.w.line(`/* DFT along axis ${ax} (length ${len}) */`);
    k.w.block(`for (int64_t f = 0; f < ${n}; ++f) {`, () => {
      k.w.line(`if ((f / ${cst[ax]}) % ${len} != 0) continue; /* one pass per line */`);
      k.w.block(`for (int64_t kk = 0; kk < ${len}; ++kk) {`, () => {
        k.w.line('double _Complex s = 0;');
        k.w.block(`for (int64_t t = 0; t < ${len}; ++t) {`, () => {
          k.w.line(`const double ang = ${inverse ? '' : '-'}2.0 * 3.141592653589793 * (double)((kk * t) % ${len}) / ${len}.0;`);
          k.w.line(`s += buf[f + t * ${cst[ax]}] * rl_cmplx(cos(ang), sin(ang));`);
        });
        k.w.line(`tmp[kk] = ${inverse ? `s / ${len}.0` : 's'};`);
      });
      k.w.line(`for (int64_t kk = 0; kk < ${len}; ++kk) buf[f + kk * ${cst[ax]}] = tmp[kk];`);
    });
  }
  k.w.block(`for (int64_t f = 0; f < ${numElements(out.t.shape)}; ++f) {`, () => {
    out.t.shape.forEach((_, d) => k.w.line(`idx[${d}] = (f / ${ost[d]}) % ${out.t.shape[d]};`));
    const at = `buf[${cshape.map((_, d) => `idx[${d}] * ${cst[d]}`).join(' + ') || '0'}]`;
    k.w.line(`${out.name}[f] = ${out.c.store(out.c.cls === 'complex' ? at : `creal(${at})`)};`);
  });
};

/** Ops whose C is still written as text (not yet kernel IR): pooling windows (vector loops),
 * sort, top_k, triangular_solve, fft, batch norm, rng. Everything else is kernel/lower.ts's. */
const LOWERINGS: Readonly<Record<string, Lowering>> = {
  'stablehlo.batch_norm_inference': batchNormInference,
  'stablehlo.batch_norm_training': batchNormTraining,
  'stablehlo.batch_norm_grad': batchNormGrad,
  'stablehlo.rng': rng,
  'stablehlo.fft': fft,
  'stablehlo.triangular_solve': triangularSolve,
  'stablehlo.sort': sort,
  'chlo.top_k': topK,
};

const ELEMENTWISE_NAMES = [
  'add', 'subtract', 'multiply', 'divide', 'remainder', 'power', 'maximum', 'minimum', 'atan2', 'and', 'or', 'xor',
  'shift_left', 'shift_right_logical', 'shift_right_arithmetic', 'negate', 'abs', 'sign', 'not', 'popcnt',
  'count_leading_zeros', 'ceil', 'floor', 'round_nearest_afz', 'round_nearest_even', 'sqrt', 'rsqrt', 'cbrt',
  'exponential', 'exponential_minus_one', 'log', 'log_plus_one', 'logistic', 'sine', 'cosine', 'tan', 'tanh',
  'is_finite',
];
/** CHLO elementwise ops with a C spelling (libm or rl.h). */
const CHLO_ELEMENTWISE = ['erf', 'erfc', 'lgamma', 'acosh', 'acos', 'asin', 'asinh', 'atan', 'atanh', 'cosh', 'sinh', 'tan', 'mulhi', 'erf_inv', 'digamma', 'bessel_i1e', 'next_after'];

function kernelComment(name: string, fop: FlatOp): string {
  const loc = fop.op.loc;
  return `/* ${name}: ${fop.op.name} at ${loc.file.split('/').pop()}:${loc.line}:${loc.col}${loc.origin ? ` (from ${loc.origin})` : ''} */`;
}

/** Elementwise ops with a per-element C spelling (stablehlo and chlo). */
function isElementwiseName(name: string): boolean {
  const short = name.replace(/^[a-z]+\./, '');
  return (name.startsWith('stablehlo.') && ELEMENTWISE_NAMES.includes(short)) || (name.startsWith('chlo.') && CHLO_ELEMENTWISE.includes(short));
}

/** Elementwise ops lowered by the generic per-element rule, on types fusion handles (real
 * floats and full-width integers; not complex, quantized or sub-byte). */
export function isFusibleElementwise(fop: FlatOp): boolean {
  const name = fop.op.name;
  const short = name.replace(/^[a-z]+\./, '');
  // clamp has a lowering of its own (scalar bounds) but is elementwise for fusion: its rank-0
  // bounds are read through an empty index map.
  const generic = (!(name in LOWERINGS) && !(name in IR_LOWERINGS) && isElementwiseName(name)) || name === 'stablehlo.clamp';
  // convert, compare and select change type; their per-element code is shared with their own
  // kernels (mixed.ts). Fused, an f64 convert or a mask never becomes a tensor in the arena.
  const mixed = MIXED_OPS.has(name) && !(name === 'stablehlo.compare' && (attrsOf('stablehlo.compare', fop.op).type === 'TOTALORDER'));
  if (!(generic || mixed) || fop.outs.length !== 1) return false;
  if (name === 'stablehlo.select' && fop.ins[0]!.type.kind === 'tensor' && fop.outs[0]!.type.kind === 'tensor' && fop.ins[0]!.type.shape.length !== fop.outs[0]!.type.shape.length) return false;
  return [...fop.ins, ...fop.outs].every((s) => {
    if (s.type.kind !== 'tensor' || s.type.elem.kind === 'complex' || s.type.elem.kind === 'quant') return false;
    const c = cElemOrUndefined(s.type.elem);
    return !!c && !c.subByte && !c.quant && (mixed || (hasScalarCode(short, c) && (short !== 'next_after' || c.storage === c.compute)));
  });
}

/** Reductions a fusion group may end in: one input and init value, a single-op combiner the
 * C backend spells (add, max, ...), on a type the fused-loop code handles. */
export function isReducible(fop: FlatOp): boolean {
  if (fop.op.name !== 'stablehlo.reduce' || fop.ins.length !== 2 || fop.outs.length !== 1) return false;
  const name = simpleCombiner(fop.op.regions[0]);
  const t = fop.outs[0]!.type;
  if (!name || t.kind !== 'tensor' || t.elem.kind === 'complex' || t.elem.kind === 'quant') return false;
  const c = cElemOrUndefined(t.elem);
  return !!c && !c.subByte && hasScalarCode(name, c);
}

export function canLower(name: string): boolean {
  return name in LOWERINGS || name in IR_LOWERINGS || isElementwiseName(name);
}

/** Ops whose kernels read element i of every full-size operand before writing element i of the
 * result, so the result may share an operand's buffer (in-place; see memory/plan.ts). */
export function writesInPlaceSafely(fop: FlatOp): boolean {
  if (fop.group) return fop.group.inPlaceSafe;
  const name = fop.op.name;
  return isElementwiseName(name) || ['stablehlo.reshape', 'stablehlo.convert', 'stablehlo.select', 'stablehlo.clamp', 'stablehlo.compare', 'stablehlo.uniform_quantize', 'stablehlo.uniform_dequantize'].includes(name);
}

/** A kernel whose body is `code`; inputs it never reads (KernelParam.unread) are marked used for -Werror. */
function kernelWithBody(name: string, comment: string, params: readonly KernelParam[], code: string, usesSimd = false): Kernel {
  const body = new CodeWriter();
  body.block(`RL_KERNEL void ${name}(${params.map((p) => `${p.cType} ${p.name}`).join(', ')}) {`, () => {
    for (const p of params) if (p.unread) body.line(`(void)${p.name};`);
    for (const line of code.split('\n')) body.line(line);
  });
  return { name, comment, params, source: `${comment}\n${body.toString()}`, usesSimd };
}

const POOL_PARAM: KernelParam = { name: 'pool', cType: 'rl_pool_t*', output: false };
const ROWS: RowRange = { begin: 'row_begin', end: 'row_end' };

/** kernelWithBody's form for `code` written over rows [row_begin, row_end): the pool splits them. */
function parallelKernel(name: string, comment: string, params: readonly KernelParam[], rows: number, code: string, usesSimd = false): Kernel {
  const withPool = [...params, POOL_PARAM];
  const source = emitRowsKernel(name, withPool, rows, true, (w) => code.split('\n').forEach((l) => w.line(l)));
  return { name, comment, params: withPool, source: `${comment}\n${source}`, usesSimd };
}

/** Renders the kernel for one op instance. `index` makes the name unique and ordered; `gemm`
 * routes a dot/convolution to the packed GEMM path (its last output is then arena scratch). */
export function lowerToKernel(fop: FlatOp, index: number, inPlace: boolean, gemm: GemmPlan | DirectConvPlan | undefined, env: FusedEnv, threads = 1, lanes?: number): Kernel {
  const short = fop.op.name.replace(/^[a-z]+\./, '');
  if (gemm) {
    const name = `k${index}_${gemm.op.name.replace(/^[a-z]+\./, '')}${fop.group ? '_fused' : ''}`;
    const comment = fop.group ? `/* ${name}: fuses ${describeGroup(fop.group)} */` : kernelComment(name, fop);
    const storage = (s: Sym): string => cElem(s.type as TensorType, fop.op.name, fop.op.loc).storage;
    const epilogueLeaves = fop.ins.slice(2).map((s, i) => ({ name: `e${i}`, cType: `const ${storage(s)}* restrict`, output: false }));
    const head = fop.group?.head ?? fop;
    const params = [
      { name: 'in0', cType: `const ${storage(head.ins[0]!)}* restrict`, output: false },
      // A constant B arrives packed (f32) from the weight blob.
      { name: 'in1', cType: `const ${gemm.kind === 'gemm' && gemm.bPrepacked ? 'float' : storage(head.ins[1]!)}* restrict`, output: false },
      ...epilogueLeaves,
      { name: 'out0', cType: `${storage(fop.outs[0]!)}* restrict`, output: true },
      { name: 'scratch', cType: 'uint8_t* restrict', output: true },
      ...(threads > 1 ? [POOL_PARAM] : []),
    ];
    const epilogue = fop.group ? { fop, env, lanes } : undefined;
    const source = gemm.kind === 'gemm' ? emitGemmKernel(gemm, name, comment, params, epilogue, threads > 1) : emitDirectConvKernel(gemm, name, comment, params, epilogue, threads > 1);
    return { name, comment, params, source, usesSimd: true };
  }
  /** Whether a loop nest of `elements` with `rows` outermost rows is worth splitting across threads. */
  const split = (rows: number, elements: number): boolean => threads > 1 && rows > 1 && elements >= PARALLEL_MIN_ELEMENTS;
  if (fop.group?.reduce) {
    const red = fop.group.reduce;
    const dims = attrsOf('stablehlo.reduce', red.op).dims;
    const name = `k${index}_fused_reduce`;
    const comment = `/* ${name}: fuses ${describeGroup(fop.group)} */`;
    const inShape = (red.ins[0]!.type as TensorType).shape;
    const firstKept = inShape.findIndex((_, d) => !dims.includes(d));
    const parallel = firstKept >= 0 && split(inShape[firstKept]!, numElements(inShape));
    const loop = emitFusedReduce(fop, env, parallel ? ROWS : undefined);
    const kernel = parallel ? parallelKernel(name, comment, fusedParams(fop, false, env), inShape[firstKept]!, loop.code) : kernelWithBody(name, comment, fusedParams(fop, false, env), loop.code);
    return { ...kernel, ir: fusedIR(name, comment, fop, loop.body) };
  }
  // A lone f32 elementwise op on a SIMD target runs as a group of one, for the vector loop.
  const group = fop.group ?? (lanes && isElementwiseName(fop.op.name) && fop.outs.length === 1 ? singleOpGroup(fop) : undefined);
  if (group) {
    const f = { ...fop, group };
    const shape = (fop.outs[0]!.type as TensorType).shape;
    const parallel = shape.length >= 2 && split(shape[0]!, numElements(shape));
    const loop = emitFusedLoop(f, env, lanes, parallel ? ROWS : undefined);
    if (fop.group || loop.usesSimd) {
      const name = fop.group ? `k${index}_fused_${short}` : `k${index}_${short}`;
      const comment = fop.group ? `/* ${name}: fuses ${describeGroup(fop.group)} */` : kernelComment(name, fop);
      const kernel = parallel ? parallelKernel(name, comment, fusedParams(f, inPlace, env), shape[0]!, loop.code, loop.usesSimd) : kernelWithBody(name, comment, fusedParams(f, inPlace, env), loop.code, loop.usesSimd);
      return { ...kernel, ir: fusedIR(name, comment, f, loop.body) };
    }
  }
  const name = `k${index}_${short}`;
  const pooling = isPoolingWindow(fop);
  // Elementwise ops without a lowering of their own take the generic per-element one.
  const generic = isElementwiseName(fop.op.name) && irLoweringOf(fop.op.name) === undefined;
  const irLowering = pooling ? undefined : (irLoweringOf(fop.op.name) ?? (generic ? elementwise(short) : undefined));
  if (irLowering) {
    if (generic) checkElementwise(fop, short);
    const build = new KernelBuild(fop, 'C backend');
    // A reshape given its operand's buffer (memory plan in-place rule) has nothing to move.
    const body: Stmt[] = fop.op.name === 'stablehlo.reshape' && inPlace ? [{ k: 'comment', text: "in place: the result is the operand's buffer, row-major order unchanged" }] : irLowering(build);
    const comment = kernelComment(name, fop);
    const ir = { name, comment, params: build.params, body };
    const renderer = new CRenderer();
    const source = renderer.render(ir, fop.op, inPlace);
    const params = build.params.map((p) => ({ name: p.name, cType: renderer.paramType(p, inPlace, fop.op), output: p.output }));
    return { name, comment, params, source, ir };
  }
  const lowering = pooling ? poolingWindow : LOWERINGS[fop.op.name];
  if (!lowering) unsupported(fop, 'no C lowering yet');
  const k = new KernelBuilder(fop, lanes, threads);
  lowering(k);
  // An in-place kernel's output aliases an input: no `restrict` on its pointers then.
  const params = inPlace ? k.params.map((p) => ({ ...p, cType: p.cType.replace(' restrict', '') })) : k.params;
  if (k.parallelRows !== undefined) return parallelKernel(name, kernelComment(name, fop), params, k.parallelRows, k.w.toString(), k.usesSimd);
  return kernelWithBody(name, kernelComment(name, fop), params, k.w.toString(), k.usesSimd);
}

/** The generic per-element rule needs C spellings of the op for its type; bit-level ops would
 * see a sub-byte type's 8-bit container, not its 2/4-bit value. */
function checkElementwise(fop: FlatOp, name: string): void {
  const c = cElem(tensorOf(fop.ins[0]!, fop), fop.op.name, fop.op.loc);
  if (!hasScalarCode(name, c) || (name === 'next_after' && c.storage !== c.compute)) unsupported(fop, `not defined for ${c.name}`);
  if (c.subByte && ['shift_left', 'shift_right_logical', 'shift_right_arithmetic', 'popcnt', 'count_leading_zeros'].includes(name)) unsupported(fop, `${name} on ${c.name}`);
}

