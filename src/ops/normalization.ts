/**
 * @fileoverview The batch-norm family: batch_norm_inference, batch_norm_training and
 * batch_norm_grad. Every statistic is computed in f64 over all positions of one feature and
 * rounded once when stored, so the emitted C (which does the same) can be held to a tight bound.
 */
import type { Op } from '../ir/core.js';
import { tensorType, type Type } from '../ir/types.js';
import { expectTensor, forEachIndex, getElem, makeTensor, setElem, type Tensor } from '../ir/tensor.js';
import { constraint, defineOp } from './def.js';
import { resultTensorType } from './elementwise.js';

interface BatchNormAttrs {
  epsilon: number;
  feature: number;
}

const readAttrs = (r: import('../ir/attrs.js').AttrReader): BatchNormAttrs => ({
  epsilon: r.float('epsilon'),
  feature: r.int('feature_index'),
});

/** Checks the shared constraints (feature_index in range, per-feature vectors of the right size, one
 * element type) and returns the operand type and its feature count. */
function checkOperands(
  op: Op,
  types: readonly Type[],
  a: BatchNormAttrs,
  family: string,
  vectorOperands: readonly number[],
): Type | undefined {
  const x = types[0];
  if (x?.kind !== 'tensor') return undefined;
  if (a.feature < 0 || a.feature >= x.shape.length)
    constraint(op, `${family}_c1`, `feature_index ${a.feature} out of range for rank ${x.shape.length}`);
  const features = x.shape[a.feature]!;
  for (const i of vectorOperands) {
    const t = types[i];
    if (t?.kind !== 'tensor' || t.shape.length !== 1 || t.shape[0] !== features)
      constraint(op, `${family}_c3`, `operand #${i} must be a vector of ${features} features`);
  }
  for (const [i, t] of types.entries())
    if (t.kind === 'tensor' && t.elem.name !== x.elem.name)
      constraint(op, `${family}_c2`, `operand #${i} has element type ${t.elem.name}, operand #0 ${x.elem.name}`);
  return x;
}

/** Per feature f: the sum over all positions of `term(flat, f)` (f64), and the count per feature. */
function perFeatureSums(
  x: Tensor,
  feature: number,
  term: (flat: number, f: number) => number,
): { sums: Float64Array; count: number } {
  const sums = new Float64Array(x.type.shape[feature]!);
  forEachIndex(x.type.shape, (idx, flat) => {
    const f = idx[feature]!;
    sums[f] = sums[f]! + term(flat, f);
  });
  const count = x.type.shape.reduce((n, d, i) => (i === feature ? n : n * d), 1);
  return { sums, count };
}

const num = (t: Tensor, i: number): number => getElem(t, i) as number;

/** Writes scale * (x - mean) / sqrt(variance + epsilon) + offset for every element of x (f64). */
function normalizeInto(
  out: Tensor,
  x: Tensor,
  feature: number,
  epsilon: number,
  stats: { mean: (f: number) => number; variance: (f: number) => number; scale: Tensor; offset: Tensor },
): void {
  const eps = Math.fround(epsilon);
  forEachIndex(x.type.shape, (idx, flat) => {
    const f = idx[feature]!;
    setElem(
      out,
      flat,
      (num(stats.scale, f) * (num(x, flat) - stats.mean(f))) / Math.sqrt(stats.variance(f) + eps) +
        num(stats.offset, f),
    );
  });
}

/** batch_norm_inference: scale * (x - mean) / sqrt(variance + epsilon) + offset, per feature. */
const batchNormInference = defineOp({
  name: 'stablehlo.batch_norm_inference',
  category: 'elementwise',
  spec: 'batch_norm_inference',
  attrs: readAttrs,
  infer: (types, a, op) => {
    const x = checkOperands(op, types, a, 'batch_norm_inference', [1, 2, 3, 4]);
    return x ? [x] : undefined;
  },
  evaluate: (args, a, op) => {
    const [x, scale, offset, mean, variance] = args.map((v) => expectTensor(v)) as [
      Tensor,
      Tensor,
      Tensor,
      Tensor,
      Tensor,
    ];
    const out = makeTensor(resultTensorType(op));
    normalizeInto(out, x, a.feature, a.epsilon, {
      mean: (f) => num(mean, f),
      variance: (f) => num(variance, f),
      scale,
      offset,
    });
    return [out];
  },
});

/** batch_norm_training: normalizes with the batch's own mean and (biased) variance, and returns them. */
const batchNormTraining = defineOp({
  name: 'stablehlo.batch_norm_training',
  category: 'other',
  spec: 'batch_norm_training',
  attrs: readAttrs,
  infer: (types, a, op) => {
    const x = checkOperands(op, types, a, 'batch_norm_training', [1, 2]);
    if (x?.kind !== 'tensor') return undefined;
    const stat = tensorType([x.shape[a.feature]!], x.elem);
    return [x, stat, stat];
  },
  evaluate: (args, a, op) => {
    const [x, scale, offset] = args.map((v) => expectTensor(v)) as [Tensor, Tensor, Tensor];
    const { sums, count } = perFeatureSums(x, a.feature, (i) => num(x, i));
    const mean = sums.map((s) => s / count);
    const variance = perFeatureSums(x, a.feature, (i, f) => (num(x, i) - mean[f]!) ** 2).sums.map((s) => s / count);
    const [outType, statType] = [resultTensorType(op, 0), resultTensorType(op, 1)];
    const out = makeTensor(outType);
    normalizeInto(out, x, a.feature, a.epsilon, {
      mean: (f) => mean[f]!,
      variance: (f) => variance[f]!,
      scale,
      offset,
    });
    const meanOut = makeTensor(statType);
    const varOut = makeTensor(statType);
    mean.forEach((v, f) => setElem(meanOut, f, v));
    variance.forEach((v, f) => setElem(varOut, f, v));
    return [out, meanOut, varOut];
  },
});

/**
 * batch_norm_grad: the gradients of batch_norm_training's output with respect to its operand,
 * scale and offset, given the statistics it used. With c = x - mean, s = sqrt(var + eps), N the
 * positions per feature: grad_offset = sum(g), grad_scale = sum(g * c / s),
 * grad_operand = scale / s / N * (N g - sum(g) - c * sum(g c) / (var + eps)).
 */
const batchNormGrad = defineOp({
  name: 'stablehlo.batch_norm_grad',
  category: 'other',
  spec: 'batch_norm_grad',
  attrs: readAttrs,
  infer: (types, a, op) => {
    const x = checkOperands(op, types, a, 'batch_norm_grad', [1, 2, 3]);
    if (x?.kind !== 'tensor') return undefined;
    const g = types[4];
    if (g?.kind === 'tensor' && g.shape.join('x') !== x.shape.join('x'))
      constraint(
        op,
        'batch_norm_grad_c4',
        `grad_output ${g.shape.join('x')} must have the operand's shape ${x.shape.join('x')}`,
      );
    const stat = tensorType([x.shape[a.feature]!], x.elem);
    return [x, stat, stat];
  },
  evaluate: (args, a, op) => {
    const [x, scale, mean, variance, grad] = args.map((v) => expectTensor(v)) as [
      Tensor,
      Tensor,
      Tensor,
      Tensor,
      Tensor,
    ];
    const eps = Math.fround(a.epsilon);
    const centered = (i: number, f: number): number => num(x, i) - num(mean, f);
    const { sums: sumGrad, count } = perFeatureSums(x, a.feature, (i) => num(grad, i));
    const sumGradCentered = perFeatureSums(x, a.feature, (i, f) => num(grad, i) * centered(i, f)).sums;
    const stddev = (f: number): number => Math.sqrt(num(variance, f) + eps);
    const gradOperand = makeTensor(resultTensorType(op, 0));
    forEachIndex(x.type.shape, (idx, flat) => {
      const f = idx[a.feature]!;
      const inner =
        count * num(grad, flat) - sumGrad[f]! - (centered(flat, f) * sumGradCentered[f]!) / (num(variance, f) + eps);
      setElem(gradOperand, flat, (num(scale, f) / stddev(f) / count) * inner);
    });
    const gradScale = makeTensor(resultTensorType(op, 1));
    const gradOffset = makeTensor(resultTensorType(op, 2));
    sumGrad.forEach((s, f) => {
      setElem(gradScale, f, sumGradCentered[f]! / stddev(f));
      setElem(gradOffset, f, s);
    });
    return [gradOperand, gradScale, gradOffset];
  },
});

export const NORMALIZATION = [batchNormInference, batchNormTraining, batchNormGrad];
