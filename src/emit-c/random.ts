/**
 * @fileoverview C lowering of stablehlo.rng: the interpreter's generator (ops/random.ts) through
 * rl_uniform01 of runtime-lite, with the same f64 expressions, so both draw the same numbers.
 */
import { numElements } from '../ir/types.js';
import { rngKey } from '../ops/random.js';
import type { Lowering } from './builder.js';

export const rng: Lowering = (k) => {
  const [lo, hi, shape] = [k.input(0), k.input(1), k.input(2)];
  const out = k.output();
  const { distribution } = k.attrsOf('stablehlo.rng');
  const key = `${rngKey(k.fop.op)}u`;
  const [a, b] = [`(double)${lo.c.load(`${lo.name}[0]`)}`, `(double)${hi.c.load(`${hi.name}[0]`)}`];
  k.w.line(`(void)${shape.name}; /* the result shape, known statically */`);
  k.w.line(`const double a = ${a}, b = ${b};`);
  k.w.block(`for (int64_t i = 0; i < ${numElements(out.t.shape)}; ++i) {`, () => {
    if (distribution === 'NORMAL') {
      k.w.line(`const double u1 = 1.0 - rl_uniform01(${key}, (uint64_t)i, 0u), u2 = rl_uniform01(${key}, (uint64_t)i, 1u);`);
      k.w.line(`${out.name}[i] = ${out.c.store('a + b * (sqrt(-2.0 * log(u1)) * cos(2.0 * 3.141592653589793 * u2))')};`);
    } else if (out.c.cls === 'float' || out.c.cls === 'double') k.w.line(`${out.name}[i] = ${out.c.store(`a + (b - a) * rl_uniform01(${key}, (uint64_t)i, 0u)`)};`);
    else k.w.line(`${out.name}[i] = ${out.c.store(`(${out.c.compute})(a + floor(rl_uniform01(${key}, (uint64_t)i, 0u) * (b - a)))`)};`);
  });
};
