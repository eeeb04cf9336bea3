/**
 * @fileoverview C lowerings of the batch-norm family (ops/normalization.ts gives the semantics).
 * The operand is viewed as [outer, features, inner]; each feature's statistics are summed in
 * double in row-major order, the order the interpreter sums in, and every value is computed in
 * double with the interpreter's expression shape, so results agree to the last rounding.
 */
import type { CodeWriter } from '../emit-common/code-writer.js';
import type { CElem } from './ctypes.js';
import type { KernelInput, Lowering } from './builder.js';

interface Layout {
  readonly outer: number;
  readonly features: number;
  readonly inner: number;
}

function layoutOf(shape: readonly number[], feature: number): Layout {
  const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);
  return { outer: prod(shape.slice(0, feature)), features: shape[feature]!, inner: prod(shape.slice(feature + 1)) };
}

/** `for o, for i` over one feature `c`'s positions, with `p` its flat index. */
function forFeaturePositions(w: CodeWriter, l: Layout, body: () => void): void {
  w.block(`for (int64_t o = 0; o < ${l.outer}; ++o) {`, () =>
    w.block(`for (int64_t i = 0; i < ${l.inner}; ++i) {`, () => {
      w.line(`const int64_t p = (o * ${l.features} + c) * ${l.inner} + i;`);
      body();
    }),
  );
}

/** An f32 attribute as an exact double literal. */
const epsilonLiteral = (epsilon: number): string => {
  const eps = Math.fround(epsilon);
  return Number.isInteger(eps) ? `${eps}.0` : String(eps);
};

const at = (x: { name: string; c: CElem }, index: string): string => `(double)${x.c.load(`${x.name}[${index}]`)}`;

const featureLoop = (w: CodeWriter, l: Layout, body: () => void): void => w.block(`for (int64_t c = 0; c < ${l.features}; ++c) {`, body);

export const batchNormInference: Lowering = (k) => {
  const [x, scale, offset, mean, variance] = [0, 1, 2, 3, 4].map((i) => k.input(i)) as KernelInput[] as [KernelInput, KernelInput, KernelInput, KernelInput, KernelInput];
  const out = k.output();
  const a = k.attrsOf('stablehlo.batch_norm_inference');
  const l = layoutOf(x.t.shape, a.feature);
  featureLoop(k.w, l, () => {
    k.w.line(`const double stddev = sqrt(${at(variance, 'c')} + ${epsilonLiteral(a.epsilon)});`);
    forFeaturePositions(k.w, l, () => k.w.line(`${out.name}[p] = ${out.c.store(`${at(scale, 'c')} * (${at(x, 'p')} - ${at(mean, 'c')}) / stddev + ${at(offset, 'c')}`)};`));
  });
};

export const batchNormTraining: Lowering = (k) => {
  const [x, scale, offset] = [k.input(0), k.input(1), k.input(2)];
  const [out, meanOut, varOut] = [k.output(0), k.output(1), k.output(2)];
  const a = k.attrsOf('stablehlo.batch_norm_training');
  const l = layoutOf(x.t.shape, a.feature);
  const count = l.outer * l.inner;
  featureLoop(k.w, l, () => {
    k.w.line('double sum = 0.0, squares = 0.0;');
    forFeaturePositions(k.w, l, () => k.w.line(`sum += ${at(x, 'p')};`));
    k.w.line(`const double mean = sum / ${count}.0;`);
    forFeaturePositions(k.w, l, () => k.w.line(`squares += (${at(x, 'p')} - mean) * (${at(x, 'p')} - mean);`));
    k.w.line(`const double variance = squares / ${count}.0;`);
    k.w.line(`const double stddev = sqrt(variance + ${epsilonLiteral(a.epsilon)});`);
    forFeaturePositions(k.w, l, () => k.w.line(`${out.name}[p] = ${out.c.store(`${at(scale, 'c')} * (${at(x, 'p')} - mean) / stddev + ${at(offset, 'c')}`)};`));
    k.w.line(`${meanOut.name}[c] = ${meanOut.c.store('mean')};`);
    k.w.line(`${varOut.name}[c] = ${varOut.c.store('variance')};`);
  });
};

export const batchNormGrad: Lowering = (k) => {
  const [x, scale, mean, variance, grad] = [0, 1, 2, 3, 4].map((i) => k.input(i)) as KernelInput[] as [KernelInput, KernelInput, KernelInput, KernelInput, KernelInput];
  const [gradOperand, gradScale, gradOffset] = [k.output(0), k.output(1), k.output(2)];
  const a = k.attrsOf('stablehlo.batch_norm_grad');
  const l = layoutOf(x.t.shape, a.feature);
  const count = l.outer * l.inner;
  featureLoop(k.w, l, () => {
    k.w.line(`const double m = ${at(mean, 'c')}, var_eps = ${at(variance, 'c')} + ${epsilonLiteral(a.epsilon)}, stddev = sqrt(var_eps);`);
    k.w.line('double sum_grad = 0.0, sum_grad_centered = 0.0;');
    forFeaturePositions(k.w, l, () => k.w.line(`sum_grad += ${at(grad, 'p')};`));
    forFeaturePositions(k.w, l, () => k.w.line(`sum_grad_centered += ${at(grad, 'p')} * (${at(x, 'p')} - m);`));
    forFeaturePositions(k.w, l, () => {
      k.w.line(`const double inner = ${count}.0 * ${at(grad, 'p')} - sum_grad - (${at(x, 'p')} - m) * sum_grad_centered / var_eps;`);
      k.w.line(`${gradOperand.name}[p] = ${gradOperand.c.store(`${at(scale, 'c')} / stddev / ${count}.0 * inner`)};`);
    });
    k.w.line(`${gradScale.name}[c] = ${gradScale.c.store('sum_grad_centered / stddev')};`);
    k.w.line(`${gradOffset.name}[c] = ${gradOffset.c.store('sum_grad')};`);
  });
};
