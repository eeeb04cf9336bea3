/**
 * @fileoverview Random numbers: rng_bit_generator and rng. The spec leaves the bits
 * implementation-defined (only determinism is required); ours come from Threefry-2x32-20, and the
 * compiled code (kernel/lower-stats.ts, rl_uniform01 in runtime-lite) computes the very same bits, so compiled results match exactly.
 */
import { storageElem } from '../ir/types.js';
import { copyElem, expectTensor, getElem, intAt, makeTensor, setElem, setElemBits, size } from '../ir/tensor.js';
import type { Op } from '../ir/core.js';
import { constraint, defineOp } from './def.js';
import { resultTensorType } from './elementwise.js';
import { RuntimeError } from '../diag/diagnostics.js';

// ---- rng_bit_generator -------------------------------------------------------------------------
/** Threefry-2x32 with 20 rounds (Salmon et al.); returns the two output words. */
function threefry2x32(key: readonly [number, number], ctr: readonly [number, number]): [number, number] {
  const R = [13, 15, 26, 6, 17, 29, 16, 24];
  const ks = [key[0] >>> 0, key[1] >>> 0, (0x1bd11bda ^ key[0] ^ key[1]) >>> 0];
  let x0 = (ctr[0] + ks[0]!) >>> 0;
  let x1 = (ctr[1] + ks[1]!) >>> 0;
  for (let r = 0; r < 20; r++) {
    x0 = (x0 + x1) >>> 0;
    const rot = R[r % 8]!;
    x1 = ((x1 << rot) | (x1 >>> (32 - rot))) >>> 0;
    x1 = (x1 ^ x0) >>> 0;
    if (r % 4 === 3) {
      const i = (r + 1) / 4;
      x0 = (x0 + ks[i % 3]!) >>> 0;
      x1 = (x1 + ks[(i + 1) % 3]! + i) >>> 0;
    }
  }
  return [x0, x1];
}

/**
 * rng_bit_generator: the spec leaves the bits implementation-defined (only determinism is
 * required), so the oracle uses Threefry-2x32-20 for every algorithm: key = state[0], counter =
 * state[1]; each block of two 32-bit words advances the counter; the new state is
 * [key, counter + blocks]. Other implementations' bits differ (that file is upstream-disabled).
 */
const rngBitGenerator = defineOp({
  name: 'stablehlo.rng_bit_generator',
  category: 'other',
  spec: 'rng_bit_generator',
  arity: 1,
  infer: (types, _a, op) => {
    const s = types[0];
    const out = op.results[1]?.type;
    if (s?.kind !== 'tensor' || s.shape.length !== 1)
      return constraint(op, 'rng_bit_generator_c1', 'the initial state must be a 1-d tensor');
    if (op.results.length !== 2 || out?.kind !== 'tensor')
      return constraint(op, 'rng_bit_generator_c1', 'results: the output state and a tensor of bits');
    // The output's shape and element type are the op's choice; the state keeps its type (C1).
    return [s, out];
  },
  evaluate: (args, _a, op) => {
    const state = expectTensor(args[0]);
    const st = storageElem(state.type.elem);
    if (st.kind !== 'int' || st.bits !== 64 || size(state) < 2)
      throw new RuntimeError('rng_bit_generator supports a ui64/i64 state of at least 2 elements');
    const word = (i: number): bigint => BigInt.asUintN(64, getElem(state, i) as bigint);
    const key = word(0);
    let counter = word(1);
    const out = makeTensor(resultTensorType(op, 1));
    const e = storageElem(out.type.elem);
    const bits = e.kind === 'int' ? e.bits : e.kind === 'float' ? e.format.bits : 32;
    const words: number[] = [];
    const need = Math.ceil((size(out) * bits) / 32);
    while (words.length < need) {
      words.push(
        ...threefry2x32(
          [Number(key & 0xffffffffn), Number(key >> 32n)],
          [Number(counter & 0xffffffffn), Number((counter >> 32n) & 0xffffffffn)],
        ),
      );
      counter = BigInt.asUintN(64, counter + 1n);
    }
    for (let i = 0; i < size(out); i++) {
      let v = 0n;
      for (let w = Math.ceil(bits / 32) - 1; w >= 0; w--)
        v = (v << 32n) | BigInt(words[i * Math.ceil(bits / 32) + w] ?? 0);
      setElemBits(out, i, BigInt.asUintN(bits, v));
    }
    const newState = makeTensor(resultTensorType(op, 0));
    for (let i = 0; i < size(state); i++) copyElem(newState, i, state, i);
    setElem(newState, 1, st.signed ? BigInt.asIntN(64, counter) : counter);
    return [newState, out];
  },
});

/** The key of one rng op: its source position, so two dropout masks in one program differ, and
 * the interpreter and the compiled program (which keeps op locations) draw the same numbers. */
export function rngKey(op: Op): number {
  return ((op.loc.line << 12) ^ op.loc.col) >>> 0;
}

/** Uniform in [0, 1) from 53 random bits: element `index`, draw pair `pair` (0 or 1). */
export function uniform01(key: number, index: number, pair: number): number {
  const [hi, lo] = threefry2x32([key, pair], [index >>> 0, Math.floor(index / 2 ** 32)]);
  return ((hi >>> 5) * 67108864 + (lo >>> 6)) / 9007199254740992;
}

/**
 * rng(a, b, shape): UNIFORM draws from [a, b) (floats: a + (b - a) u; integers: a + floor(u (b - a)));
 * NORMAL draws a + b z with z standard normal by Box-Muller from two uniforms. All in f64, rounded
 * once to the result type.
 */
const rng = defineOp({
  name: 'stablehlo.rng',
  category: 'other',
  spec: 'rng',
  attrs: (r) => ({ distribution: r.enumValue('rng_distribution') }),
  infer: (types, a, op) => {
    const result = op.results[0]?.type;
    if (result?.kind !== 'tensor') return undefined;
    const [lo, hi, shape] = types;
    for (const [i, t] of [lo, hi].entries())
      if (t?.kind !== 'tensor' || t.shape.length !== 0 || t.elem.name !== result.elem.name)
        constraint(op, 'rng_c1', `operand #${i} must be a scalar of the result's element type ${result.elem.name}`);
    if (shape?.kind !== 'tensor' || shape.shape.length !== 1 || shape.shape[0] !== result.shape.length)
      constraint(op, 'rng_c2', `shape must be a 1-D tensor of ${result.shape.length} dimension sizes`);
    if (a.distribution !== 'UNIFORM' && a.distribution !== 'NORMAL')
      constraint(op, 'rng_c3', `unknown rng_distribution ${a.distribution}`);
    const e = storageElem(result.elem);
    if (a.distribution === 'NORMAL' && e.kind !== 'float')
      constraint(op, 'rng_c4', 'a NORMAL distribution needs a floating-point result');
    if (e.kind !== 'float' && e.kind !== 'int' && e.kind !== 'bool')
      constraint(op, 'rng_c1', `rng of ${result.elem.name}`);
    return [result];
  },
  evaluate: (args, a, op) => {
    const [lo, hi, shape] = args.map((v) => expectTensor(v));
    const out = makeTensor(resultTensorType(op));
    out.type.shape.forEach((d, i) => {
      if (intAt(shape!, i) !== d)
        throw new RuntimeError(
          `rng: shape operand [${out.type.shape.map((_, j) => intAt(shape!, j))}] differs from the result shape [${out.type.shape}]`,
        );
    });
    const key = rngKey(op);
    const [x, y] = [Number(getElem(lo!, 0)), Number(getElem(hi!, 0))];
    const isFloat = storageElem(out.type.elem).kind === 'float';
    for (let i = 0; i < size(out); i++) {
      if (a.distribution === 'NORMAL') {
        const u1 = 1 - uniform01(key, i, 0);
        const u2 = uniform01(key, i, 1);
        setElem(out, i, x + y * (Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2)));
      } else if (isFloat) setElem(out, i, x + (y - x) * uniform01(key, i, 0));
      else setElem(out, i, BigInt(x + Math.floor(uniform01(key, i, 0) * (y - x))));
    }
    return [out];
  },
});

export const RANDOM = [rngBitGenerator, rng];
