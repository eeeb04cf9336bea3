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
import { lookupOp } from '../ops/index.js';
import { opAttrs } from '../ops/def.js';
import type { ConvAttrs, DotDims } from '../ops/contraction.js';
import type { GatherDims, ScatterDims } from '../ops/movement.js';
import type { WindowAttrs } from '../ops/reduction.js';
import { strides } from '../ir/tensor.js';
import { CodeWriter } from '../emit-common/code-writer.js';
import { cElem, cElemOrUndefined, type CElem } from './ctypes.js';
import { describeGroup, emitFusedLoop, emitFusedReduce, fusedParams, vectorSpelling, type FusedEnv, type RowRange } from './fused.js';
import { emitRowsKernel, PARALLEL_MIN_ELEMENTS } from './rows.js';
import { singleOpGroup } from '../fusion/fuse.js';
import { emitScalarRegion } from './region.js';
import { emitGemmKernel, type GemmPlan } from './gemm.js';
import { emitDirectConvKernel, type DirectConvPlan } from './direct-conv.js';
import { batchNormGrad, batchNormInference, batchNormTraining } from './normalization.js';
import { rng } from './random.js';
import { compareCode, convertCode, MIXED_OPS, selectCode } from './mixed.js';
import { hasScalarCode, scalarCode } from './scalar.js';
import type { FlatOp, Sym } from '../flat/program.js';
import { attrsOf, KernelBuilder, tensorOf, unsupported, type Kernel, type KernelParam, type Lowering } from './builder.js';

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

// ---- elementwise -------------------------------------------------------------------------------
function elementwise(name: string): Lowering {
  return (k) => {
    const ins = k.fop.ins.map((_, i) => k.input(i));
    const out = k.output();
    const n = numElements(out.t.shape);
    const c = ins[0]!.c;
    if (!hasScalarCode(name, c) || (name === 'next_after' && c.storage !== c.compute)) unsupported(k.fop, `not defined for ${c.name}`);
    // Bit-level ops would see the 8-bit container, not the 2/4-bit value.
    if (c.subByte && ['shift_left', 'shift_right_logical', 'shift_right_arithmetic', 'popcnt', 'count_leading_zeros'].includes(name))
      unsupported(k.fop, `${name} on ${c.name}`);
    k.w.block(`for (int64_t i = 0; i < ${n}; ++i) {`, () => {
      k.w.line(`${out.name}[i] = ${out.c.store(scalarCode(name, ins.map((x) => x.c.load(`${x.name}[i]`)), c, k.fop.op))};`);
    });
  };
}

const compare: Lowering = (k) => {
  const [a, b] = [k.input(0), k.input(1)];
  const out = k.output();
  // UNSIGNED compares of signed storage read the raw bits (compareCode casts them unsigned).
  const raw = (x: typeof a, i: string): string => (opAttrs(lookupOp('stablehlo.compare')!, k.fop.op) as { type: string }).type === 'UNSIGNED' && x.c.signed ? `${x.name}[${i}]` : x.c.load(`${x.name}[${i}]`);
  k.w.block(`for (int64_t i = 0; i < ${numElements(out.t.shape)}; ++i) {`, () => k.w.line(`${out.name}[i] = ${compareCode(k.fop, raw(a, 'i'), raw(b, 'i'), a.c)};`));
};

const select: Lowering = (k) => {
  const [p, a, b] = [k.input(0), k.input(1), k.input(2)];
  const out = k.output();
  const pi = p.t.shape.length === 0 ? '0' : 'i';
  k.w.block(`for (int64_t i = 0; i < ${numElements(out.t.shape)}; ++i) {`, () => k.w.line(`${out.name}[i] = ${selectCode(`${p.name}[${pi}]`, `${a.name}[i]`, `${b.name}[i]`)};`));
};

const clamp: Lowering = (k) => {
  const [lo, x, hi] = [k.input(0), k.input(1), k.input(2)];
  const out = k.output();
  const at = (v: typeof lo): string => v.c.load(`${v.name}[${v.t.shape.length === 0 ? '0' : 'i'}]`);
  k.w.block(`for (int64_t i = 0; i < ${numElements(out.t.shape)}; ++i) {`, () => {
    k.w.line(`${out.name}[i] = ${out.c.store(scalarCode('clamp', [at(lo), x.c.load(`${x.name}[i]`), at(hi)], x.c, k.fop.op))};`);
  });
};

const convert: Lowering = (k) => {
  const x = k.input(0);
  const out = k.output();
  const v = convertCode(k.fop, x.c.load(`${x.name}[i]`), x.c, out.c);
  k.w.block(`for (int64_t i = 0; i < ${numElements(out.t.shape)}; ++i) {`, () => k.w.line(`${out.name}[i] = ${out.c.store(v)};`));
};

const copy: Lowering = (k) => {
  const ins = k.fop.ins.map((_, i) => k.input(i));
  const outs = ins.map((_, i) => k.output(i)); // parameters: all inputs, then all outputs
  ins.forEach((x, i) => k.w.line(`memcpy(${outs[i]!.name}, ${x.name}, ${numElements(outs[i]!.t.shape) * outs[i]!.c.bytes});`));
};

// ---- movement ----------------------------------------------------------------------------------
function gatherFrom(k: KernelBuilder, srcIndex: (idx: string[], xs: number[], x: { t: TensorType }) => string): void {
  const x = k.input(0);
  const out = k.output();
  const xs = strides(x.t.shape);
  k.w.line('int64_t o = 0;');
  nest(k.w, out.t.shape, (idx) => k.w.line(`${out.name}[o++] = ${x.name}[${srcIndex(idx, xs, x)}];`));
}

const broadcastInDim: Lowering = (k) => {
  const a = attrsOf<{ dims: number[] }>(k.fop);
  gatherFrom(k, (idx, xs, x) => linear(a.dims.map((d, i) => [idx[d]!, x.t.shape[i] === 1 ? 0 : xs[i]!] as const)));
};

const transpose: Lowering = (k) => {
  const a = attrsOf<{ perm: number[] }>(k.fop);
  gatherFrom(k, (idx, xs) => linear(a.perm.map((p, i) => [idx[i]!, xs[p]!] as const)));
};

const slice: Lowering = (k) => {
  const a = attrsOf<{ start: number[]; strides: number[] }>(k.fop);
  gatherFrom(k, (idx, xs) => linear(idx.map((v, i) => [v, xs[i]! * (a.strides[i] ?? 1)] as const), a.start.reduce((s, v, i) => s + v * xs[i]!, 0)));
};

const reverse: Lowering = (k) => {
  const a = attrsOf<{ dims: number[] }>(k.fop);
  gatherFrom(k, (idx, xs, x) =>
    idx.map((v, i) => (a.dims.includes(i) ? `(${x.t.shape[i]! - 1} - ${v}) * ${xs[i]}` : `${v} * ${xs[i]}`)).join(' + ') || '0',
  );
};

const iota: Lowering = (k) => {
  const out = k.output();
  const a = attrsOf<{ dim: number }>(k.fop);
  k.w.line('int64_t o = 0;');
  nest(k.w, out.t.shape, (idx) => k.w.line(`${out.name}[o++] = ${out.c.store(`(${out.c.compute})${idx[a.dim]}`)};`));
};

const concatenate: Lowering = (k) => {
  const ins = k.fop.ins.map((_, i) => k.input(i));
  const out = k.output();
  const a = attrsOf<{ dim: number }>(k.fop);
  const os = strides(out.t.shape);
  let offset = 0;
  for (const x of ins) {
    k.w.line(`/* operand ${x.name} at offset ${offset} along dimension ${a.dim} */`);
    nest(k.w, x.t.shape, (idx) => k.w.line(`${out.name}[${linear(idx.map((v, i) => [v, os[i]!] as const), offset * os[a.dim]!)}] = ${x.name}[${linear(idx.map((v, i) => [v, strides(x.t.shape)[i]!] as const))}];`));
    offset += x.t.shape[a.dim]!;
  }
};

const pad: Lowering = (k) => {
  const x = k.input(0);
  const pv = k.input(1);
  const out = k.output();
  const a = attrsOf<{ low: number[]; interior: number[] }>(k.fop);
  const os = strides(out.t.shape);
  k.w.block(`for (int64_t i = 0; i < ${numElements(out.t.shape)}; ++i) {`, () => k.w.line(`${out.name}[i] = ${pv.name}[0];`));
  k.w.line('int64_t s = 0;');
  nest(k.w, x.t.shape, (idx) => {
    const pos = idx.map((v, i) => `${a.low[i]} + ${v} * ${a.interior[i]! + 1}`);
    const inRange = pos.map((p, i) => `(${p}) >= 0 && (${p}) < ${out.t.shape[i]}`).join(' && ') || '1';
    k.w.line(`if (${inRange}) ${out.name}[${pos.map((p, i) => `(${p}) * ${os[i]}`).join(' + ') || '0'}] = ${x.name}[s];`);
    k.w.line('++s;');
  });
};

const dynamicSlice: Lowering = (k) => {
  const x = k.input(0);
  const starts = k.fop.ins.slice(1).map((_, i) => k.input(i + 1));
  const out = k.output();
  const xs = strides(x.t.shape);
  starts.forEach((s, d) => k.w.line(`const int64_t s${d} = rl_clamp_index((int64_t)${s.name}[0], 0, ${x.t.shape[d]! - out.t.shape[d]!});`));
  k.w.line('int64_t o = 0;');
  nest(k.w, out.t.shape, (idx) => k.w.line(`${out.name}[o++] = ${x.name}[${idx.map((v, d) => `(s${d} + ${v}) * ${xs[d]}`).join(' + ') || '0'}];`));
};

const dynamicUpdateSlice: Lowering = (k) => {
  const x = k.input(0);
  const upd = k.input(1);
  const starts = k.fop.ins.slice(2).map((_, i) => k.input(i + 2));
  const out = k.output();
  const os = strides(out.t.shape);
  // A loop-carried update in place (ops/in-place.ts) finds the rest of the tensor already there.
  if (k.fop.ins[0] === k.fop.outs[0]) k.w.line(`(void)${x.name}; /* in place: writes only the update into the loop-carried buffer */`);
  else k.w.line(`memcpy(${out.name}, ${x.name}, ${numElements(out.t.shape) * out.c.bytes});`);
  starts.forEach((s, d) => k.w.line(`const int64_t s${d} = rl_clamp_index((int64_t)${s.name}[0], 0, ${x.t.shape[d]! - upd.t.shape[d]!});`));
  k.w.line('int64_t u = 0;');
  nest(k.w, upd.t.shape, (idx) => k.w.line(`${out.name}[${idx.map((v, d) => `(s${d} + ${v}) * ${os[d]}`).join(' + ') || '0'}] = ${upd.name}[u++];`));
};

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

const reduce: Lowering = (k) => {
  const n = k.fop.ins.length / 2;
  const xs = Array.from({ length: n }, (_, i) => k.input(i));
  const inits = Array.from({ length: n }, (_, i) => k.input(n + i));
  const outs = Array.from({ length: n }, (_, i) => k.output(i));
  const x = xs[0]!;
  const a = attrsOf<{ dims: number[] }>(k.fop);
  const keep = x.t.shape.map((_, d) => d).filter((d) => !a.dims.includes(d));
  const st = strides(x.t.shape);
  k.w.line('int64_t o = 0;');
  nest(k.w, keep.map((d) => x.t.shape[d]!), (oi) => {
    xs.forEach((v, j) => k.w.line(`${v.c.compute} acc${j} = ${inits[j]!.c.load(`${inits[j]!.name}[0]`)};`));
    nest(
      k.w,
      a.dims.map((d) => x.t.shape[d]!),
      (ri) => {
        const at = linear([...keep.map((d, j) => [oi[j]!, st[d]!] as const), ...a.dims.map((d, j) => [ri[j]!, st[d]!] as const)]);
        const next = applyBody(k, k.fop.op.regions[0], xs.map((v) => v.c), xs.map((_, j) => `acc${j}`), xs.map((v) => v.c.load(`${v.name}[${at}]`)));
        next.forEach((e, j) => k.w.line(`acc${j} = ${e};`));
      },
      'r',
    );
    outs.forEach((out, j) => k.w.line(`${out.name}[o] = ${out.c.store(`acc${j}`)};`));
    k.w.line('++o;');
  });
};

/** Declares p<d> (window element `wi` of output position `oi` in padded, dilated coordinates)
 * and returns whether it is a real operand element and its flat index. Bounds and dilation tests
 * that the static shapes prove always true are left out (plain pooling windows need none). */
function windowElement(k: KernelBuilder, w: WindowAttrs, shape: readonly number[], st: readonly number[], oi: readonly string[], wi: readonly string[], outShape: readonly number[]): { inside: string; index: string } {
  const conds: string[] = [];
  const idx: string[] = [];
  oi.forEach((o, d) => {
    const [stride, dil, base, lo] = [w.strides[d]!, w.winDil[d]!, w.baseDil[d]!, w.padding[d]![0]!];
    k.w.line(`const int64_t p${d} = ${o} * ${stride} + ${wi[d]} * ${dil} - ${lo};`);
    const maxP = (outShape[d]! - 1) * stride + (w.dims[d]! - 1) * dil - lo;
    if (lo > 0) conds.push(`p${d} >= 0`);
    if (base !== 1) conds.push(`p${d} % ${base} == 0`);
    if (maxP > (shape[d]! - 1) * base) conds.push(`p${d} / ${base} < ${shape[d]}`);
    idx.push(base === 1 ? `p${d} * ${st[d]}` : `(p${d} / ${base}) * ${st[d]}`);
  });
  return { inside: conds.join(' && ') || '1', index: idx.join(' + ') || '0' };
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

const reduceWindow: Lowering = (k) => {
  const n = k.fop.ins.length / 2;
  const xs = Array.from({ length: n }, (_, i) => k.input(i));
  const inits = Array.from({ length: n }, (_, i) => k.input(n + i));
  const outs = Array.from({ length: n }, (_, i) => k.output(i));
  const x = xs[0]!;
  const w = attrsOf<WindowAttrs>(k.fop);
  const st = strides(x.t.shape);
  const tail = passThroughTail(w, x.t.shape);
  if (n === 1 && tail.size > 1 && x.c.storage === x.c.compute && outs[0]!.c.storage === outs[0]!.c.compute) {
    // Pooling layout: the window walks the leading dims while the tail (channels) is contiguous.
    // f32 with a single-op body rl_simd.h spells (max, sum, ...) on a SIMD target: vectors of
    // channels accumulate in registers over the window (same order and rounding as the scalar
    // loop: bitwise equal); other channels and types accumulate in the output row in a plain loop.
    const lead = x.t.shape.length - tail.dims;
    const out = outs[0]!;
    const lw: WindowAttrs = { ...w, dims: w.dims.slice(0, lead), strides: w.strides.slice(0, lead), baseDil: w.baseDil.slice(0, lead), winDil: w.winDil.slice(0, lead), padding: w.padding.slice(0, lead) };
    const leadSt = st.slice(0, lead);
    const vectorOp = k.lanes && x.c.name === 'f32' && tail.size >= k.lanes ? vectorSpelling(simpleCombiner(k.fop.op.regions[0]) ?? '') : undefined;
    const vectorEnd = vectorOp ? tail.size - (tail.size % k.lanes!) : 0;
    const overWindow = (oi: readonly string[], body: (src: string) => void): void =>
      nest(
        k.w,
        lw.dims,
        (wi) => {
          const at = windowElement(k, lw, x.t.shape.slice(0, lead), leadSt, oi, wi, out.t.shape.slice(0, lead));
          k.w.block(`if (${at.inside}) {`, () => body(`${x.name} + ${at.index}`));
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
    return;
  }
  k.w.line('int64_t o = 0;');
  nest(k.w, outs[0]!.t.shape, (oi) => {
    xs.forEach((v, j) => k.w.line(`${v.c.compute} acc${j} = ${inits[j]!.c.load(`${inits[j]!.name}[0]`)};`));
    nest(
      k.w,
      w.dims,
      (wi) => {
        // Padding and base-dilation holes contribute the init value, as in the spec's pad-then-reduce.
        const at = windowElement(k, w, x.t.shape, st, oi, wi, outs[0]!.t.shape);
        const load = (v: (typeof xs)[number]): string => v.c.load(`${v.name}[${at.index}]`);
        const vals = at.inside === '1' ? xs.map(load) : xs.map((v, j) => `((${at.inside}) ? ${load(v)} : ${inits[j]!.c.load(`${inits[j]!.name}[0]`)})`);
        const next = applyBody(k, k.fop.op.regions[0], xs.map((v) => v.c), xs.map((_, j) => `acc${j}`), vals);
        next.forEach((e, j) => k.w.line(`acc${j} = ${e};`));
      },
      'w',
    );
    outs.forEach((out, j) => k.w.line(`${out.name}[o] = ${out.c.store(`acc${j}`)};`));
    k.w.line('++o;');
  });
};

const selectAndScatter: Lowering = (k) => {
  const x = k.input(0);
  const src = k.input(1);
  const init = k.input(2);
  const out = k.output();
  const w = attrsOf<WindowAttrs>(k.fop);
  const [selectBody, scatterBody] = k.fop.op.regions;
  const st = strides(x.t.shape);
  k.w.block(`for (int64_t i = 0; i < ${numElements(out.t.shape)}; ++i) {`, () => k.w.line(`${out.name}[i] = ${init.name}[0];`));
  k.w.line('int64_t s = 0;');
  nest(k.w, src.t.shape, (oi) => {
    k.w.line('int64_t sel = -1;');
    nest(
      k.w,
      w.dims,
      (wi) => {
        const at = windowElement(k, w, x.t.shape, st, oi, wi, src.t.shape);
        k.w.block(`if (${at.inside}) {`, () => {
          k.w.line(`const int64_t cur = ${at.index};`);
          k.w.block('if (sel < 0) {', () => k.w.line('sel = cur;'), '} else {');
          // The select body keeps the current selection when it returns true.
          const [keep] = emitScalarRegion(k.w, selectBody, [x.c.load(`${x.name}[sel]`), x.c.load(`${x.name}[cur]`)], k.fop.op, k.names);
          k.w.line(`if (!${keep}) sel = cur;`);
          k.w.line('}');
        });
      },
      'w',
    );
    k.w.block('if (sel >= 0) {', () => {
      const [v] = applyBody(k, scatterBody, [out.c], [out.c.load(`${out.name}[sel]`)], [src.c.load(`${src.name}[s]`)]);
      k.w.line(`${out.name}[sel] = ${out.c.store(v!)};`);
    });
    k.w.line('++s;');
  });
};

/** sort: a stable insertion sort of each slice along `dimension`, moving all operands together. */
const sort: Lowering = (k) => {
  const ins = k.fop.ins.map((_, i) => k.input(i));
  const outs = ins.map((_, i) => k.output(i));
  const a = attrsOf<{ dim: number }>(k.fop);
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
  const kk = attrsOf<{ k: number }>(k.fop).k;
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

/** Contractions accumulate loaded values in double when the result computes in float (this covers
 * quantized and mixed int/float operands); integer results need all types equal. */
function floatResultOrSameTypes(l: CElem, r: CElem, out: CElem): boolean {
  const floaty = (c: CElem): boolean => c.cls === 'float' || c.cls === 'double' || c.cls === 'complex';
  if (floaty(out)) return (floaty(l) || l.cls === 'int') && (floaty(r) || r.cls === 'int');
  return l.name === out.name && r.name === out.name;
}

/** Accumulator type: double for floats (the interpreter sums in f64 and rounds once), the int type otherwise. */
function accType(c: CElem): string {
  if (c.cls === 'complex') return 'double _Complex';
  return c.cls === 'float' || c.cls === 'double' ? 'double' : c.compute;
}

function accumulate(c: CElem, acc: string, a: string, b: string): string {
  if (c.cls === 'int') return `${acc} = rl_add_${c.intSuffix}(${acc}, rl_mul_${c.intSuffix}(${a}, ${b}));`;
  if (c.cls === 'bool') return `${acc} = (uint8_t)(${acc} | (${a} & ${b}));`;
  if (c.cls === 'complex') return `${acc} += (double _Complex)${a} * (double _Complex)${b};`;
  return `${acc} += (double)${a} * (double)${b};`;
}

function dotKernel(k: KernelBuilder, d: DotDims): void {
  const l = k.input(0);
  const r = k.input(1);
  const out = k.output();
  if (!floatResultOrSameTypes(l.c, r.c, out.c)) unsupported(k.fop, 'mixed element types');
  const ls = strides(l.t.shape);
  const rs = strides(r.t.shape);
  const lf = l.t.shape.map((_, i) => i).filter((i) => !d.lb.includes(i) && !d.lc.includes(i));
  const rf = r.t.shape.map((_, i) => i).filter((i) => !d.rb.includes(i) && !d.rc.includes(i));
  k.w.line('int64_t o = 0;');
  nest(k.w, out.t.shape, (oi) => {
    const nb = d.lb.length;
    const lterms = [...d.lb.map((dim, j) => [oi[j]!, ls[dim]!] as const), ...lf.map((dim, j) => [oi[nb + j]!, ls[dim]!] as const)];
    const rterms = [...d.rb.map((dim, j) => [oi[j]!, rs[dim]!] as const), ...rf.map((dim, j) => [oi[nb + lf.length + j]!, rs[dim]!] as const)];
    k.w.line(`${accType(out.c)} acc = 0;`);
    nest(
      k.w,
      d.lc.map((dim) => l.t.shape[dim]!),
      (ci) => {
        const li = linear([...lterms, ...d.lc.map((dim, j) => [ci[j]!, ls[dim]!] as const)]);
        const ri = linear([...rterms, ...d.rc.map((rdim, j) => [ci[j]!, rs[rdim]!] as const)]);
        k.w.line(accumulate(out.c, 'acc', l.c.load(`${l.name}[${li}]`), r.c.load(`${r.name}[${ri}]`)));
      },
      'c',
    );
    k.w.line(`${out.name}[o++] = ${out.c.store('acc')};`);
  });
}
const dotGeneral: Lowering = (k) => dotKernel(k, attrsOf<DotDims>(k.fop));
const dot: Lowering = (k) => {
  const l = tensorOf(k.fop.ins[0]!, k.fop);
  dotKernel(k, { lb: [], rb: [], lc: [l.shape.length - 1], rc: [0] });
};

const convolution: Lowering = (k) => {
  const l = k.input(0);
  const r = k.input(1);
  const out = k.output();
  if (!floatResultOrSameTypes(l.c, r.c, out.c)) unsupported(k.fop, 'mixed element types');
  const c = attrsOf<ConvAttrs>(k.fop);
  const ls = strides(l.t.shape);
  const ks = strides(r.t.shape);
  const os = out.t.shape;
  const cInPerGroup = l.t.shape[c.inFeature]! / c.featureGroups;
  const outPerFeatureGroup = os[c.outFeature]! / c.featureGroups;
  const outPerBatchGroup = os[c.outFeature]! / c.batchGroups;
  const kSpatial = c.kSpatial.map((d) => r.t.shape[d]!);
  k.w.line('int64_t o = 0;');
  nest(k.w, os, (oi) => {
    const b = oi[c.outBatch]!;
    const f = oi[c.outFeature]!;
    k.w.line(`const int64_t g = ${f} / ${outPerFeatureGroup}, bg = ${f} / ${outPerBatchGroup};`);
    k.w.line(`const int64_t lb = (bg * ${os[c.outBatch]} + ${b}) * ${ls[c.inBatch]} + g * ${cInPerGroup * ls[c.inFeature]!};`);
    k.w.line(`${accType(out.c)} acc = 0;`);
    nest(
      k.w,
      kSpatial,
      (ki) => {
        const conds: string[] = [];
        const lidx: string[] = ['lb'];
        const kidx: string[] = [`${f} * ${ks[c.kOut]}`];
        c.inSpatial.forEach((dimIn, s) => {
          k.w.line(`const int64_t p${s} = ${oi[c.outSpatial[s]!]} * ${c.strides[s]} + ${ki[s]} * ${c.rhsDil[s]} - ${c.padding[s]![0]};`);
          conds.push(`p${s} >= 0 && p${s} % ${c.lhsDil[s]} == 0 && p${s} / ${c.lhsDil[s]} < ${l.t.shape[dimIn]}`);
          lidx.push(`(p${s} / ${c.lhsDil[s]}) * ${ls[dimIn]}`);
          const kk = c.reversal[s] ? `(${kSpatial[s]! - 1} - ${ki[s]})` : ki[s]!;
          kidx.push(`${kk} * ${ks[c.kSpatial[s]!]}`);
        });
        k.w.block(`if (${conds.join(' && ') || '1'}) {`, () => {
          k.w.line(`const int64_t lo = ${lidx.join(' + ')}, ko = ${kidx.join(' + ')};`);
          k.w.block(`for (int64_t ci = 0; ci < ${cInPerGroup}; ++ci) {`, () => {
            k.w.line(accumulate(out.c, 'acc', l.c.load(`${l.name}[lo + ci * ${ls[c.inFeature]}]`), r.c.load(`${r.name}[ko + ci * ${ks[c.kIn]}]`)));
          });
        });
      },
      'k',
    );
    k.w.line(`${out.name}[o++] = ${out.c.store('acc')};`);
  });
};

/** C expression for entry `kk` of the index vector of `ind` at batch position `batch`. */
function indexVectorAt(ind: { name: string; t: TensorType }, batch: readonly string[], indexVectorDim: number, kk: number): string {
  const is = strides(ind.t.shape);
  const hasVec = indexVectorDim < ind.t.shape.length;
  const terms: (readonly [string, number])[] = [];
  let bi = 0;
  for (let d = 0; d < ind.t.shape.length; d++) {
    if (hasVec && d === indexVectorDim) continue;
    terms.push([batch[bi++]!, is[d]!]);
  }
  return `(int64_t)${ind.name}[${linear(terms, hasVec ? kk * is[indexVectorDim]! : 0)}]`;
}

const gather: Lowering = (k) => {
  const x = k.input(0);
  const ind = k.input(1);
  const out = k.output();
  const { dims: g, sliceSizes } = attrsOf<{ dims: GatherDims; sliceSizes: number[] }>(k.fop);
  const rank = out.t.shape.length;
  const batchDims = [...Array(rank).keys()].filter((d) => !g.offsetDims.includes(d));
  const xr = x.t.shape.length;
  const offsetOperandDims = [...Array(xr).keys()].filter((d) => !g.collapsedSliceDims.includes(d) && !g.operandBatchingDims.includes(d));
  const xs = strides(x.t.shape);
  k.w.line('int64_t o = 0;');
  nest(k.w, out.t.shape, (oi) => {
    const batch = batchDims.map((d) => oi[d]!);
    const indexAt = (kk: number): string => indexVectorAt(ind, batch, g.indexVectorDim, kk);
    const full: string[] = new Array<string>(xr).fill('0');
    g.startIndexMap.forEach((od, kk) => (full[od] = `rl_clamp_index(${indexAt(kk)}, 0, ${x.t.shape[od]! - sliceSizes[od]!})`));
    addBatchAndWindow(full, { operandDims: g.operandBatchingDims, indicesDims: g.startIndicesBatchingDims, indexVectorDim: g.indexVectorDim, batch }, { dims: g.offsetDims, operandDims: offsetOperandDims, index: oi });
    k.w.line(`${out.name}[o++] = ${x.name}[${full.map((f, d) => `(${f}) * ${xs[d]}`).join(' + ') || '0'}];`);
  });
};

/** Gather/scatter operand index: to the start positions in `full`, adds each batching dim's
 * coordinate (read from the indices' batch dims, skipping the index vector dim) and each window
 * dim's position (read from the result/update index). */
function addBatchAndWindow(
  full: string[],
  batching: { operandDims: readonly number[]; indicesDims: readonly number[]; indexVectorDim: number; batch: readonly string[] },
  window: { dims: readonly number[]; operandDims: readonly number[]; index: readonly string[] },
): void {
  batching.operandDims.forEach((od, kk) => {
    const ds = batching.indicesDims[kk]!;
    full[od] = `${full[od]} + ${batching.batch[ds < batching.indexVectorDim ? ds : ds - 1]}`;
  });
  window.dims.forEach((d, kk) => {
    const od = window.operandDims[kk]!;
    full[od] = `${full[od]} + ${window.index[d]}`;
  });
}

/** True when a scatter body just returns its second argument (plain overwrite). */
function isReplaceBody(body: Region | undefined): boolean {
  const block = body?.blocks[0];
  return !!block && block.ops.length === 1 && block.ops[0]!.name === 'stablehlo.return' && block.ops[0]!.operands[0] === block.args[1];
}

const scatter: Lowering = (k) => {
  if (k.fop.ins.length !== 3) unsupported(k.fop, 'variadic scatter');
  const x = k.input(0);
  const ind = k.input(1);
  const upd = k.input(2);
  const out = k.output();
  const s = attrsOf<ScatterDims>(k.fop);
  const body = k.fop.op.regions[0];
  const replace = isReplaceBody(body);
  const xr = x.t.shape.length;
  const os = strides(out.t.shape);
  const scatterDims = upd.t.shape.map((_, d) => d).filter((d) => !s.updateWindowDims.includes(d));
  const windowOperandDims = [...Array(xr).keys()].filter((d) => !s.insertedWindowDims.includes(d) && !s.inputBatchingDims.includes(d));
  k.w.line(`memcpy(${out.name}, ${x.name}, ${numElements(out.t.shape) * out.c.bytes});`);
  k.w.line('int64_t u = 0;');
  nest(k.w, upd.t.shape, (ui) => {
    const batch = scatterDims.map((d) => ui[d]!);
    const indexAt = (kk: number): string => indexVectorAt(ind, batch, s.indexVectorDim, kk);
    const full: string[] = new Array<string>(xr).fill('0');
    s.scatterDimsToOperandDims.forEach((od, kk) => (full[od] = indexAt(kk)));
    addBatchAndWindow(full, { operandDims: s.inputBatchingDims, indicesDims: s.scatterIndicesBatchingDims, indexVectorDim: s.indexVectorDim, batch }, { dims: s.updateWindowDims, operandDims: windowOperandDims, index: ui });
    full.forEach((f, d) => k.w.line(`const int64_t p${d} = ${f};`));
    const inBounds = full.map((_, d) => `p${d} >= 0 && p${d} < ${out.t.shape[d]}`).join(' && ') || '1';
    const dst = `${out.name}[${full.map((_, d) => `p${d} * ${os[d]}`).join(' + ') || '0'}]`;
    const value = replace ? `${upd.name}[u]` : out.c.store(combine(k, body, out.c, out.c.load(dst), upd.c.load(`${upd.name}[u]`)));
    k.w.line(`if (${inBounds}) ${dst} = ${value};`);
    k.w.line('++u;');
  });
};

/** bitcast_convert: generated code stores every type as its bit pattern (little-endian), so a
 * bitcast between types of the same total size is a byte copy. */
const bitcastConvert: Lowering = (k) => {
  const x = k.input(0);
  const out = k.output();
  if (x.c.cls === 'bool' || out.c.cls === 'bool') unsupported(k.fop, 'bitcast of i1');
  k.w.line(`memcpy(${out.name}, ${x.name}, ${numElements(out.t.shape) * out.c.bytes});`);
};

/** reduce_precision: round to e exponent / m mantissa bits (ties to even), via rl_reduce_precision. */
const reducePrecision: Lowering = (k) => {
  const x = k.input(0);
  const out = k.output();
  const a = attrsOf<{ e: number; m: number }>(k.fop);
  k.w.block(`for (int64_t i = 0; i < ${numElements(out.t.shape)}; ++i) {`, () =>
    k.w.line(`${out.name}[i] = ${out.c.store(`rl_reduce_precision((double)${x.c.load(`${x.name}[i]`)}, ${a.e}, ${a.m})`)};`),
  );
};

/** uniform_quantize / uniform_dequantize: load (dequantizing) then store (quantizing). */
const requantize: Lowering = (k) => {
  const x = k.input(0);
  const out = k.output();
  k.w.block(`for (int64_t i = 0; i < ${numElements(out.t.shape)}; ++i) {`, () => k.w.line(`${out.name}[i] = ${out.c.store(x.c.load(`${x.name}[i]`))};`));
};

function part(which: 'real' | 'imag'): Lowering {
  return (k) => {
    const x = k.input(0);
    const out = k.output();
    const v = x.c.cls === 'complex' ? `c${which}(${x.name}[i])` : which === 'real' ? x.c.load(`${x.name}[i]`) : '0';
    if (v === '0') k.w.line(`(void)${x.name}; /* the imaginary part of a real number */`);
    k.w.block(`for (int64_t i = 0; i < ${numElements(out.t.shape)}; ++i) {`, () => k.w.line(`${out.name}[i] = ${out.c.store(v)};`));
  };
}

const complexOp: Lowering = (k) => {
  const [re, im] = [k.input(0), k.input(1)];
  const out = k.output();
  const make = out.c.part === 'float' ? 'rl_cmplxf' : 'rl_cmplx';
  k.w.block(`for (int64_t i = 0; i < ${numElements(out.t.shape)}; ++i) {`, () => k.w.line(`${out.name}[i] = ${make}(${re.c.load(`${re.name}[i]`)}, ${im.c.load(`${im.name}[i]`)});`));
};

/** triangular_solve: substitution in double (or double _Complex) on a stack copy of B, as the
 * interpreter does, rounding once at the end. Loops touch only the chosen triangle of A. */
const triangularSolve: Lowering = (k) => {
  const A = k.input(0);
  const B = k.input(1);
  const out = k.output();
  const a = attrsOf<{ left: boolean; lower: boolean; unit: boolean; transpose: string }>(k.fop);
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
  const a = attrsOf<{ type: string; length: number[] }>(k.fop);
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

/** tensor.extract: one element (at index operands) as a rank-0 tensor. */
const extract: Lowering = (k) => {
  const x = k.input(0);
  const idx = k.fop.ins.slice(1).map((_, i) => k.input(i + 1));
  const out = k.output();
  const st = strides(x.t.shape);
  k.w.line(`${out.name}[0] = ${x.name}[${idx.map((v, d) => `(int64_t)${v.name}[0] * ${st[d]}`).join(' + ') || '0'}];`);
};

/** dynamic_iota with a static result type: the shape operand is not needed. */
const dynamicIota: Lowering = (k) => {
  const shape = k.input(0);
  k.w.line(`(void)${shape.name}; /* result shape is static */`);
  iota(k);
};

/** dynamic_broadcast_in_dim with a static result type. */
const dynamicBroadcastInDim: Lowering = (k) => {
  const a = attrsOf<{ dims: number[] }>(k.fop);
  const x = k.input(0);
  const shape = k.input(1);
  const out = k.output();
  const xs = strides(x.t.shape);
  k.w.line(`(void)${shape.name}; /* result shape is static */`);
  k.w.line('int64_t o = 0;');
  nest(k.w, out.t.shape, (idx) => k.w.line(`${out.name}[o++] = ${x.name}[${linear(a.dims.map((d, i) => [idx[d]!, x.t.shape[i] === 1 ? 0 : xs[i]!] as const))}];`));
};

/** dynamic_reshape with a static result type: a copy. */
const dynamicReshape: Lowering = (k) => {
  const x = k.input(0);
  const shape = k.input(1);
  const out = k.output();
  k.w.line(`(void)${shape.name}; /* result shape is static */`);
  k.w.line(`memcpy(${out.name}, ${x.name}, ${numElements(out.t.shape) * out.c.bytes});`);
};

const getDimensionSize: Lowering = (k) => {
  const x = k.input(0);
  const out = k.output();
  const a = attrsOf<{ dim: number }>(k.fop);
  k.w.line(`(void)${x.name};`);
  k.w.line(`${out.name}[0] = ${out.c.store(String(x.t.shape[a.dim]))};`);
};

/** map: the scalar body applied to every element position. */
const map: Lowering = (k) => {
  const ins = k.fop.ins.map((_, i) => k.input(i));
  const out = k.output();
  k.w.block(`for (int64_t i = 0; i < ${numElements(out.t.shape)}; ++i) {`, () => {
    const [v] = emitScalarRegion(k.w, k.fop.op.regions[0], ins.map((x) => x.c.load(`${x.name}[i]`)), k.fop.op, k.names);
    k.w.line(`${out.name}[i] = ${out.c.store(v!)};`);
  });
};

const LOWERINGS: Readonly<Record<string, Lowering>> = {
  'stablehlo.batch_norm_inference': batchNormInference,
  'stablehlo.batch_norm_training': batchNormTraining,
  'stablehlo.batch_norm_grad': batchNormGrad,
  'stablehlo.rng': rng,
  'stablehlo.dynamic_iota': dynamicIota,
  'stablehlo.dynamic_broadcast_in_dim': dynamicBroadcastInDim,
  'stablehlo.dynamic_reshape': dynamicReshape,
  'stablehlo.get_dimension_size': getDimensionSize,
  'stablehlo.map': map,
  'interpreter.probe': copy,
  'tensor.extract': extract,
  'stablehlo.fft': fft,
  'stablehlo.triangular_solve': triangularSolve,
  'stablehlo.select_and_scatter': selectAndScatter,
  'stablehlo.sort': sort,
  'chlo.top_k': topK,
  'stablehlo.real': part('real'),
  'stablehlo.imag': part('imag'),
  'stablehlo.complex': complexOp,
  'stablehlo.uniform_quantize': requantize,
  'stablehlo.uniform_dequantize': requantize,
  'stablehlo.bitcast_convert': bitcastConvert,
  'stablehlo.reduce_precision': reducePrecision,
  'stablehlo.scatter': scatter,
  'stablehlo.compare': compare,
  'stablehlo.select': select,
  'stablehlo.clamp': clamp,
  'stablehlo.convert': convert,
  'stablehlo.reshape': copy,
  'stablehlo.optimization_barrier': copy,
  'stablehlo.broadcast_in_dim': broadcastInDim,
  'stablehlo.transpose': transpose,
  'stablehlo.slice': slice,
  'stablehlo.reverse': reverse,
  'stablehlo.iota': iota,
  'stablehlo.concatenate': concatenate,
  'stablehlo.pad': pad,
  'stablehlo.dynamic_slice': dynamicSlice,
  'stablehlo.dynamic_update_slice': dynamicUpdateSlice,
  'stablehlo.reduce': reduce,
  'stablehlo.reduce_window': reduceWindow,
  'stablehlo.dot_general': dotGeneral,
  'stablehlo.dot': dot,
  'stablehlo.convolution': convolution,
  'stablehlo.gather': gather,
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
  const generic = (!(name in LOWERINGS) && isElementwiseName(name)) || name === 'stablehlo.clamp';
  // convert, compare and select change type; their per-element code is shared with their own
  // kernels (mixed.ts). Fused, an f64 convert or a mask never becomes a tensor in the arena.
  const mixed = MIXED_OPS.has(name) && !(name === 'stablehlo.compare' && (attrsOf<{ type: string }>(fop).type === 'TOTALORDER'));
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
  return name in LOWERINGS || isElementwiseName(name);
}

/** Ops whose kernels read element i of every full-size operand before writing element i of the
 * result, so the result may share an operand's buffer (in-place; see memory/plan.ts). */
export function writesInPlaceSafely(fop: FlatOp): boolean {
  if (fop.group) return fop.group.inPlaceSafe;
  const name = fop.op.name;
  return isElementwiseName(name) || ['stablehlo.reshape', 'stablehlo.convert', 'stablehlo.select', 'stablehlo.clamp', 'stablehlo.compare', 'stablehlo.uniform_quantize', 'stablehlo.uniform_dequantize'].includes(name);
}

/** A kernel whose body is `code`; inputs the code never reads (a splat operand, which the loop
 * spells as a literal, or an operand passed twice, as in x * x) are marked used for -Werror. */
function kernelWithBody(name: string, comment: string, params: readonly KernelParam[], code: string, usesSimd = false): Kernel {
  const body = new CodeWriter();
  body.block(`RL_KERNEL void ${name}(${params.map((p) => `${p.cType} ${p.name}`).join(', ')}) {`, () => {
    for (const p of params) if (!p.output && !new RegExp(`\\b${p.name}\\b`).test(code)) body.line(`(void)${p.name};`);
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
    const c = cElem(red.outs[0]!.type as TensorType, red.op.name, red.op.loc);
    const combiner = simpleCombiner(red.op.regions[0])!;
    const dims = attrsOf<{ dims: number[] }>(red).dims;
    const combine = (acc: string, v: string): string => {
      const e = scalarCode(combiner, [acc, v], c, red.op);
      return c.storage === c.compute ? e : c.load(c.store(e));
    };
    const name = `k${index}_fused_reduce`;
    const comment = `/* ${name}: fuses ${describeGroup(fop.group)} */`;
    const inShape = (red.ins[0]!.type as TensorType).shape;
    const firstKept = inShape.findIndex((_, d) => !dims.includes(d));
    if (firstKept >= 0 && split(inShape[firstKept]!, numElements(inShape))) return parallelKernel(name, comment, fusedParams(fop, false), inShape[firstKept]!, emitFusedReduce(fop, env, dims, combine, ROWS));
    return kernelWithBody(name, comment, fusedParams(fop, false), emitFusedReduce(fop, env, dims, combine));
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
      if (parallel) return parallelKernel(name, comment, fusedParams(f, inPlace), shape[0]!, loop.code, loop.usesSimd);
      return kernelWithBody(name, comment, fusedParams(f, inPlace), loop.code, loop.usesSimd);
    }
  }
  const lowering = LOWERINGS[fop.op.name] ?? (isElementwiseName(fop.op.name) ? elementwise(short) : undefined);
  if (!lowering) unsupported(fop, 'no C lowering yet');
  const k = new KernelBuilder(fop, lanes, threads);
  // A reshape given its operand's buffer (memory plan in-place rule) has nothing to move.
  if (fop.op.name === 'stablehlo.reshape' && inPlace) k.w.line(`(void)${k.input(0).name}; (void)${k.output(0).name}; /* in place: the result is the operand's buffer, row-major order unchanged */`);
  else lowering(k);
  const name = `k${index}_${short}`;
  // An in-place kernel's output aliases an input: no `restrict` on its pointers then.
  const params = inPlace ? k.params.map((p) => ({ ...p, cType: p.cType.replace(' restrict', '') })) : k.params;
  if (k.parallelRows !== undefined) return parallelKernel(name, kernelComment(name, fop), params, k.parallelRows, k.w.toString(), k.usesSimd);
  return kernelWithBody(name, kernelComment(name, fop), params, k.w.toString(), k.usesSimd);
}

