/**
 * @fileoverview Lowerings of contractions as loop nests: dot, dot_general and convolution (the
 * GEMM and direct-convolution paths of a backend take the ones it plans as ukernels instead).
 */
import type { ElemType } from '../ir/types.js';
import { strides } from '../ir/tensor.js';
import { dotDims, type DotDims } from '../ops/contraction.js';
import { eq, ge, lt, nest, type Cond, type Stmt } from './ir.js';
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

const convolution: IRLowering = (k) => {
  checkContractionTypes(k);
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
        const decls: Stmt[] = [];
        const inside: Cond[] = [];
        const lidx: Idx[] = [v('lb')];
        const kidx: Idx[] = [mul(f, ks[c.kOut]!)];
        c.inSpatial.forEach((dimIn, s) => {
          decls.push({
            k: 'index',
            name: `p${s}`,
            value: sub(
              add(mul(oi[c.outSpatial[s]!]!, c.strides[s]!), mul(ki[s]!, c.rhsDil[s]!)),
              int(c.padding[s]![0]!),
            ),
          });
          const p = v(`p${s}`);
          inside.push(ge(p, 0), eq(mod(p, c.lhsDil[s]!), 0), lt(div(p, c.lhsDil[s]!), l.t.shape[dimIn]!));
          lidx.push(mul(div(p, c.lhsDil[s]!), ls[dimIn]!));
          kidx.push(mul(c.reversal[s] ? sub(int(kSpatial[s]! - 1), ki[s]!) : ki[s]!, ks[c.kSpatial[s]!]!));
        });
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
