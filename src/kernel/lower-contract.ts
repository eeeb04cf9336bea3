/**
 * @fileoverview Lowerings of contractions as loop nests: dot, dot_general and convolution (the
 * GEMM and direct-convolution paths of a backend take the ones it plans as ukernels instead).
 */
import type { ElemType } from '../ir/types.js';
import { strides } from '../ir/tensor.js';
import { dotDims, type ConvAttrs, type DotDims } from '../ops/contraction.js';
import { eq, ge, lt, nest, type Cond, type Stmt, type Val } from './ir.js';
import { add, div, int, linear, mod, mul, sub, v, type Idx } from '../ir/index-expr.js';
import { guarded, local, zero, type IRLowering, type KernelBuild } from './build.js';

/** Contractions accumulate loaded values in double when the result computes in float (this
 * covers quantized and mixed int/float operands); integer results take integer operands no
 * wider than themselves (i8 or i16 x i8 or i16 -> i32: the quantize phase's integer dots). */
function checkContractionTypes(k: KernelBuild): void {
  const floaty = (e: ElemType): boolean => e.kind === 'float' || e.kind === 'complex' || e.kind === 'quant';
  const [l, r, out] = [k.ins[0]!.elem, k.ins[1]!.elem, k.outs[0]!.elem];
  const narrower = (e: ElemType): boolean =>
    e.name === out.name || (e.kind === 'int' && out.kind === 'int' && e.signed && out.signed && e.bits <= out.bits);
  const ok = floaty(out)
    ? (floaty(l) || l.kind === 'int') && (floaty(r) || r.kind === 'int')
    : narrower(l) && narrower(r);
  if (!ok) k.unsupported('mixed element types');
}

function dotKernel(k: KernelBuild, d: DotDims): Stmt[] {
  checkContractionTypes(k);
  const [l, r, out] = [k.ins[0]!, k.ins[1]!, k.outs[0]!];
  const [ls, rs, os] = [strides(l.t.shape), strides(r.t.shape), strides(out.t.shape)];
  const lf = l.t.shape.map((_, i) => i).filter((i) => !d.lb.includes(i) && !d.lc.includes(i));
  const rf = r.t.shape.map((_, i) => i).filter((i) => !d.rb.includes(i) && !d.rc.includes(i));
  const nb = d.lb.length;
  return nest(out.t.shape, (oi) => {
    const lbase = add(
      ...d.lb.map((dim, j) => mul(oi[j]!, ls[dim]!)),
      ...lf.map((dim, j) => mul(oi[nb + j]!, ls[dim]!)),
    );
    const rbase = add(
      ...d.rb.map((dim, j) => mul(oi[j]!, rs[dim]!)),
      ...rf.map((dim, j) => mul(oi[nb + lf.length + j]!, rs[dim]!)),
    );
    return [
      { k: 'local', name: 'acc', elem: out.elem, wide: true, init: zero(out.elem) },
      ...nest(
        d.lc.map((dim) => l.t.shape[dim]!),
        (ci) => {
          const li = add(lbase, ...d.lc.map((dim, j) => mul(ci[j]!, ls[dim]!)));
          const ri = add(rbase, ...d.rc.map((dim, j) => mul(ci[j]!, rs[dim]!)));
          return [
            { k: 'set', name: 'acc', value: k.op('mac', [local('acc'), k.load(l, li), k.load(r, ri)], out.elem) },
          ];
        },
        'c',
        false,
      ),
      { k: 'store', buf: out, at: linear(oi, os), value: local('acc') },
    ];
  });
}

const dotGeneral: IRLowering = (k) => dotKernel(k, k.attrsOf('stablehlo.dot_general'));
const dot: IRLowering = (k) => dotKernel(k, dotDims(k.ins[0]!.t));

/** Where kernel tap `ki` of output position `oi` reads: the input position's declarations
 * (p0, p1, ...), the conditions for it to lie on an input element (not padding or a dilation's
 * hole), and the spatial terms of the input's and the kernel's offsets. */
function tapIndexing(
  c: ConvAttrs,
  oi: readonly Idx[],
  ki: readonly Idx[],
  inShape: readonly number[],
  kShape: readonly number[],
): { decls: Stmt[]; inside: Cond[]; lidx: Idx[]; kidx: Idx[] } {
  const [ls, ks] = [strides(inShape), strides(kShape)];
  const decls: Stmt[] = [];
  const inside: Cond[] = [];
  const lidx: Idx[] = [];
  const kidx: Idx[] = [];
  c.inSpatial.forEach((dimIn, s) => {
    const p = v(`p${s}`);
    decls.push({
      k: 'index',
      name: `p${s}`,
      value: sub(add(mul(oi[c.outSpatial[s]!]!, c.strides[s]!), mul(ki[s]!, c.rhsDil[s]!)), int(c.padding[s]![0]!)),
    });
    inside.push(ge(p, 0), eq(mod(p, c.lhsDil[s]!), 0), lt(div(p, c.lhsDil[s]!), inShape[dimIn]!));
    lidx.push(mul(div(p, c.lhsDil[s]!), ls[dimIn]!));
    const taps = kShape[c.kSpatial[s]!]!;
    kidx.push(mul(c.reversal[s] ? sub(int(taps - 1), ki[s]!) : ki[s]!, ks[c.kSpatial[s]!]!));
  });
  return { decls, inside, lidx, kidx };
}

/**
 * An integer depthwise convolution (one input channel per output channel, the features the
 * innermost dimension of the image, the kernel and the output: NHWC x HWIO with I = 1, as the
 * quantize phase leaves MobileNet-style blocks), per output pixel: where every tap lies inside
 * the image, each channel sums its taps in a register, the taps unrolled (constant offsets: two
 * loads and a multiply-add per tap); elsewhere (borders, lhs dilation, kernels over 5 x 5) the
 * channels accumulate in the output tap by tap, each tap's padding checked once for all the
 * channels. Exact: the same integer sums in the output's type. The channel loops are vector loops
 * (Helium's i32 lanes; DSP cores' i16 pairs, rl_simd.h rl_vp). For an int8 3 x 3 of 32 channels
 * with its requantization the loop nest of `convolution` took 12.2 instructions per MAC on a
 * Cortex-M4 and 9.6 on an M55; this takes 4.7 and 2.5 (`make bench-embedded`'s qdw_b1).
 */
function depthwiseInts(k: KernelBuild): Stmt[] | undefined {
  const [l, r, out] = [k.ins[0]!, k.ins[1]!, k.outs[0]!];
  const c = k.attrsOf('stablehlo.convolution');
  const shape = out.t.shape;
  const last = shape.length - 1;
  const channels = shape[c.outFeature]!;
  if (
    ![l, r, out].every((b) => b.elem.kind === 'int') ||
    c.batchGroups !== 1 ||
    c.featureGroups !== channels ||
    l.t.shape[c.inFeature] !== channels ||
    r.t.shape[c.kIn] !== 1 ||
    c.outFeature !== last ||
    c.inFeature !== last ||
    c.kOut !== last
  )
    return undefined;
  const [ls, os] = [strides(l.t.shape), strides(shape)];
  const kSpatial = c.kSpatial.map((d) => r.t.shape[d]!);
  // Channels are contiguous in image, kernel and output: a target with integer vectors (Helium's
  // i32 lanes, int8 loads widening) runs this loop on vectors of them.
  const channelLoop = (body: (f: Idx) => Stmt[]): Stmt => ({
    k: 'loop',
    var: 'f',
    from: int(0),
    to: int(channels),
    parallel: false,
    vector: true,
    body: body(v('f')),
  });
  const at = (f: Idx): Idx => add(v('ob'), f);
  const tapAddresses = (oi: readonly Idx[], ki: readonly Idx[]): { decls: Stmt[]; inside: Cond[] } => {
    const { decls, inside, lidx, kidx } = tapIndexing(c, oi, ki, l.t.shape, r.t.shape);
    return {
      decls: [
        ...decls,
        { k: 'index', name: 'lo', value: add(v('lb'), ...lidx) },
        { k: 'index', name: 'ko', value: add(...kidx) },
      ],
      inside,
    };
  };
  /** acc plus the image at `x` times the kernel at `w`. */
  const product = (acc: Val, x: Idx, w: Idx): Val => k.op('mac', [acc, k.load(l, x), k.load(r, w)], out.elem);
  /** The input position of tap 0 along spatial dim s (padding below subtracted). */
  const origin = (oi: readonly Idx[], s: number): Idx =>
    sub(mul(oi[c.outSpatial[s]!]!, c.strides[s]!), int(c.padding[s]![0]!));
  // A pixel whose every tap lies inside the image: each channel's taps summed in a register, the
  // taps unrolled (their offsets constants from the pixel's first input element: two loads and a
  // multiply-add each, no checks).
  const interior = (oi: readonly Idx[]): Cond[] =>
    c.inSpatial.flatMap((dimIn, s) => [
      ge(origin(oi, s), 0),
      lt(add(origin(oi, s), int((kSpatial[s]! - 1) * c.rhsDil[s]!)), l.t.shape[dimIn]!),
    ]);
  const ks = strides(r.t.shape);
  const taps = kSpatial.reduce<number[][]>(
    (ts, n) => ts.flatMap((t) => Array.from({ length: n }, (_, x) => [...t, x])),
    [[]],
  );
  const inOffset = (t: readonly number[]): number =>
    c.inSpatial.reduce((sum, dimIn, s) => sum + t[s]! * c.rhsDil[s]! * ls[dimIn]!, 0);
  const kOffset = (t: readonly number[]): number =>
    c.kSpatial.reduce((sum, dim, s) => sum + (c.reversal[s] ? kSpatial[s]! - 1 - t[s]! : t[s]!) * ks[dim]!, 0);
  const inRegisters = (oi: readonly Idx[]): Stmt[] => [
    {
      k: 'index',
      name: 'lo',
      value: add(v('lb'), ...c.inSpatial.map((dimIn, s) => mul(origin(oi, s), ls[dimIn]!))),
    },
    channelLoop((f) => [
      { k: 'local', name: 'acc', elem: out.elem, wide: false, init: zero(out.elem) },
      ...taps.map((t): Stmt => ({
        k: 'set',
        name: 'acc',
        value: product(local('acc'), add(v('lo'), int(inOffset(t)), f), add(int(kOffset(t)), f)),
      })),
      { k: 'store', buf: out, at: at(f), value: local('acc') },
    ]),
  ];
  // Else the channels accumulate in the output, tap by tap, each tap checked once.
  const inOutput = (oi: readonly Idx[]): Stmt[] => [
    channelLoop((f) => [{ k: 'store', buf: out, at: at(f), value: zero(out.elem) }]),
    ...nest(
      kSpatial,
      (ki) => {
        const { decls, inside } = tapAddresses(oi, ki);
        return [
          ...decls,
          ...guarded(inside, [
            channelLoop((f) => [
              { k: 'store', buf: out, at: at(f), value: product(k.load(out, at(f)), add(v('lo'), f), add(v('ko'), f)) },
            ]),
          ]),
        ];
      },
      'k',
      false,
    ),
  ];
  // Unrolled taps for kernels up to 5 x 5; lhs dilation's holes need the checks.
  const checked = c.lhsDil.some((d) => d !== 1) || taps.length > 25;
  return nest(shape.slice(0, last), (oi) => [
    { k: 'index', name: 'ob', value: add(...oi.map((i, d) => mul(i, os[d]!))) },
    { k: 'index', name: 'lb', value: mul(oi[c.outBatch]!, ls[c.inBatch]!) },
    ...(checked
      ? inOutput(oi)
      : [{ k: 'if', cond: { k: 'and', all: interior(oi) }, then: inRegisters(oi), otherwise: inOutput(oi) } as Stmt]),
  ]);
}

const convolution: IRLowering = (k) => {
  checkContractionTypes(k);
  const depthwise = depthwiseInts(k);
  if (depthwise) return depthwise;
  const [l, r, out] = [k.ins[0]!, k.ins[1]!, k.outs[0]!];
  const c = k.attrsOf('stablehlo.convolution');
  const [ls, ks, os] = [strides(l.t.shape), strides(r.t.shape), strides(out.t.shape)];
  const shape = out.t.shape;
  const cInPerGroup = l.t.shape[c.inFeature]! / c.featureGroups;
  const outPerFeatureGroup = shape[c.outFeature]! / c.featureGroups;
  const outPerBatchGroup = shape[c.outFeature]! / c.batchGroups;
  const kSpatial = c.kSpatial.map((d) => r.t.shape[d]!);
  return nest(shape, (oi) => {
    const [b, f] = [oi[c.outBatch]!, oi[c.outFeature]!];
    const taps = nest(
      kSpatial,
      (ki) => {
        const t = tapIndexing(c, oi, ki, l.t.shape, r.t.shape);
        const [decls, inside] = [t.decls, t.inside];
        const lidx: Idx[] = [v('lb'), ...t.lidx];
        const kidx: Idx[] = [mul(f, ks[c.kOut]!), ...t.kidx];
        const channels: Stmt[] = [
          { k: 'index', name: 'lo', value: add(...lidx) },
          { k: 'index', name: 'ko', value: add(...kidx) },
          {
            k: 'loop',
            var: 'ci',
            from: int(0),
            to: int(cInPerGroup),
            parallel: false,
            body: [
              {
                k: 'set',
                name: 'acc',
                value: k.op(
                  'mac',
                  [
                    local('acc'),
                    k.load(l, add(v('lo'), mul(v('ci'), ls[c.inFeature]!))),
                    k.load(r, add(v('ko'), mul(v('ci'), ks[c.kIn]!))),
                  ],
                  out.elem,
                ),
              },
            ],
          },
        ];
        return [...decls, ...guarded(inside, channels)];
      },
      'k',
      false,
    );
    return [
      { k: 'index', name: 'g', value: div(f, outPerFeatureGroup) },
      { k: 'index', name: 'bg', value: div(f, outPerBatchGroup) },
      {
        k: 'index',
        name: 'lb',
        value: add(
          mul(add(mul(v('bg'), shape[c.outBatch]!), b), ls[c.inBatch]!),
          mul(v('g'), cInPerGroup * ls[c.inFeature]!),
        ),
      },
      { k: 'local', name: 'acc', elem: out.elem, wide: true, init: zero(out.elem) },
      ...taps,
      { k: 'store', buf: out, at: linear(oi, os), value: local('acc') },
    ];
  });
};

export const CONTRACT_LOWERINGS = {
  'stablehlo.dot_general': dotGeneral,
  'stablehlo.dot': dot,
  'stablehlo.convolution': convolution,
} as const;
