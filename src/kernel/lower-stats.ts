/**
 * @fileoverview Lowerings computed in f64 as the interpreter computes them: the batch-norm family
 * (ops/normalization.ts gives the semantics) and rng (ops/random.ts's generator). Each value has
 * the interpreter's expression shape and summation order, so results agree to the last rounding.
 */
import { rngKey } from '../ops/random.js';
import { int, linear, v, type Idx } from '../ir/index-expr.js';
import { nest, type Stmt, type Val } from './ir.js';
import { F64, local, num, type IRLowering, type KernelBuild, type TensorBuf } from './build.js';

/** The operand viewed as [outer, features, inner] around the feature dimension. */
interface Layout {
  readonly outer: number;
  readonly features: number;
  readonly inner: number;
}

function layoutOf(shape: readonly number[], feature: number): Layout {
  const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);
  return { outer: prod(shape.slice(0, feature)), features: shape[feature]!, inner: prod(shape.slice(feature + 1)) };
}

/** Shorthands for f64 arithmetic in kernel `k`. */
function f64Math(k: KernelBuild) {
  const bin =
    (name: string) =>
    (a: Val, b: Val): Val =>
      k.bin(name, a, b, F64);
  return {
    add: bin('add'),
    sub: bin('subtract'),
    mul: bin('multiply'),
    div: bin('divide'),
    sqrt: (a: Val): Val => k.op('sqrt', [a], F64),
    num: (value: number): Val => num(F64, value),
    at: (b: TensorBuf, i: Idx): Val => k.loadAs(b, i, F64),
    local,
  };
}

/** Loops over feature `c`'s positions in row-major order (`p`: the flat index). */
const overFeature = (l: Layout, body: (p: Idx) => Stmt[]): Stmt[] =>
  nest([l.outer, l.inner], ([o, i]) => body(linear([o!, v('c'), i!], [l.features * l.inner, l.inner, 1])), 'i', false);

/** A loop over the features (independent: each has its own statistics). */
const forEachFeature = (l: Layout, body: Stmt[]): Stmt => ({
  k: 'loop',
  var: 'c',
  from: int(0),
  to: int(l.features),
  parallel: true,
  body,
});

/** f32 attribute `epsilon` as the f64 the interpreter adds. */
const epsilonOf = (epsilon: number): number => Math.fround(epsilon);

const batchNormInference: IRLowering = (k) => {
  const [x, scale, offset, mean, variance] = k.ins as [TensorBuf, TensorBuf, TensorBuf, TensorBuf, TensorBuf];
  const out = k.outs[0]!;
  const a = k.attrsOf('stablehlo.batch_norm_inference');
  const l = layoutOf(x.t.shape, a.feature);
  const m = f64Math(k);
  const c = v('c');
  return [
    forEachFeature(l, [
      { k: 'let', name: 'stddev', elem: F64, value: m.sqrt(m.add(m.at(variance, c), m.num(epsilonOf(a.epsilon)))) },
      ...overFeature(l, (p) => [
        {
          k: 'store',
          buf: out,
          at: p,
          value: m.add(
            m.div(m.mul(m.at(scale, c), m.sub(m.at(x, p), m.at(mean, c))), m.local('stddev')),
            m.at(offset, c),
          ),
        },
      ]),
    ]),
  ];
};

const batchNormTraining: IRLowering = (k) => {
  const [x, scale, offset] = k.ins as [TensorBuf, TensorBuf, TensorBuf];
  const [out, meanOut, varOut] = k.outs as [TensorBuf, TensorBuf, TensorBuf];
  const a = k.attrsOf('stablehlo.batch_norm_training');
  const l = layoutOf(x.t.shape, a.feature);
  const m = f64Math(k);
  const c = v('c');
  const count = m.num(l.outer * l.inner);
  const [mean, variance] = [m.local('mean'), m.local('variance')];
  const centered = (p: Idx): Val => m.sub(m.at(x, p), mean);
  return [
    forEachFeature(l, [
      { k: 'local', name: 'sum', elem: F64, wide: false, init: m.num(0) },
      { k: 'local', name: 'squares', elem: F64, wide: false, init: m.num(0) },
      ...overFeature(l, (p) => [{ k: 'set', name: 'sum', value: m.add(m.local('sum'), m.at(x, p)) }]),
      { k: 'let', name: 'mean', elem: F64, value: m.div(m.local('sum'), count) },
      ...overFeature(l, (p) => [
        { k: 'set', name: 'squares', value: m.add(m.local('squares'), m.mul(centered(p), centered(p))) },
      ]),
      { k: 'let', name: 'variance', elem: F64, value: m.div(m.local('squares'), count) },
      { k: 'let', name: 'stddev', elem: F64, value: m.sqrt(m.add(variance, m.num(epsilonOf(a.epsilon)))) },
      ...overFeature(l, (p) => [
        {
          k: 'store',
          buf: out,
          at: p,
          value: m.add(m.div(m.mul(m.at(scale, c), centered(p)), m.local('stddev')), m.at(offset, c)),
        },
      ]),
      { k: 'store', buf: meanOut, at: c, value: mean },
      { k: 'store', buf: varOut, at: c, value: variance },
    ]),
  ];
};

const batchNormGrad: IRLowering = (k) => {
  const [x, scale, mean, variance, grad] = k.ins as [TensorBuf, TensorBuf, TensorBuf, TensorBuf, TensorBuf];
  const [gradOperand, gradScale, gradOffset] = k.outs as [TensorBuf, TensorBuf, TensorBuf];
  const a = k.attrsOf('stablehlo.batch_norm_grad');
  const l = layoutOf(x.t.shape, a.feature);
  const m = f64Math(k);
  const c = v('c');
  const count = m.num(l.outer * l.inner);
  const [mu, varEps, stddev] = [m.local('mu'), m.local('var_eps'), m.local('stddev')];
  const [sumGrad, sumGradCentered] = [m.local('sum_grad'), m.local('sum_grad_centered')];
  const centered = (p: Idx): Val => m.sub(m.at(x, p), mu);
  return [
    forEachFeature(l, [
      { k: 'let', name: 'mu', elem: F64, value: m.at(mean, c) },
      { k: 'let', name: 'var_eps', elem: F64, value: m.add(m.at(variance, c), m.num(epsilonOf(a.epsilon))) },
      { k: 'let', name: 'stddev', elem: F64, value: m.sqrt(varEps) },
      { k: 'local', name: 'sum_grad', elem: F64, wide: false, init: m.num(0) },
      { k: 'local', name: 'sum_grad_centered', elem: F64, wide: false, init: m.num(0) },
      ...overFeature(l, (p) => [{ k: 'set', name: 'sum_grad', value: m.add(sumGrad, m.at(grad, p)) }]),
      ...overFeature(l, (p) => [
        { k: 'set', name: 'sum_grad_centered', value: m.add(sumGradCentered, m.mul(m.at(grad, p), centered(p))) },
      ]),
      ...overFeature(l, (p) => {
        const inner = m.sub(
          m.sub(m.mul(count, m.at(grad, p)), sumGrad),
          m.div(m.mul(centered(p), sumGradCentered), varEps),
        );
        return [
          { k: 'store', buf: gradOperand, at: p, value: m.mul(m.div(m.div(m.at(scale, c), stddev), count), inner) },
        ];
      }),
      { k: 'store', buf: gradScale, at: c, value: m.div(sumGradCentered, stddev) },
      { k: 'store', buf: gradOffset, at: c, value: sumGrad },
    ]),
  ];
};

/** rng: UNIFORM a + (b - a) u (integers: a + floor(u (b - a))), NORMAL a + b z by Box-Muller,
 * in f64 from the interpreter's generator; the shape operand is static, so never read. */
const rng: IRLowering = (k) => {
  const [lo, hi] = k.ins as [TensorBuf, TensorBuf];
  const out = k.outs[0]!;
  const { distribution } = k.attrsOf('stablehlo.rng');
  const key = rngKey(k.fop.op);
  const m = f64Math(k);
  const [a, b] = [m.local('a'), m.local('b')];
  const u = (i: Idx, pair: 0 | 1): Val => ({ k: 'uniform01', key, at: i, pair });
  const draw = (i: Idx): Val => {
    if (distribution === 'NORMAL') {
      const radius = m.sqrt(m.mul(m.num(-2), k.op('log', [m.sub(m.num(1), u(i, 0))], F64)));
      const angle = m.mul(m.mul(m.num(2), m.num(Math.PI)), u(i, 1));
      return m.add(a, m.mul(b, m.mul(radius, k.op('cosine', [angle], F64))));
    }
    if (out.elem.kind === 'float') return m.add(a, m.mul(m.sub(b, a), u(i, 0)));
    return k.convert(m.add(a, k.op('floor', [m.mul(u(i, 0), m.sub(b, a))], F64)), F64, out.elem);
  };
  return [
    { k: 'let', name: 'a', elem: F64, value: m.at(lo, int(0)) },
    { k: 'let', name: 'b', elem: F64, value: m.at(hi, int(0)) },
    {
      k: 'loop',
      var: 'i',
      from: int(0),
      to: int(out.elements),
      parallel: true,
      body: [{ k: 'store', buf: out, at: v('i'), value: draw(v('i')) }],
    },
  ];
};

export const STATS_LOWERINGS = {
  'stablehlo.batch_norm_inference': batchNormInference,
  'stablehlo.batch_norm_training': batchNormTraining,
  'stablehlo.batch_norm_grad': batchNormGrad,
  'stablehlo.rng': rng,
} as const;
