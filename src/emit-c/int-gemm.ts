/**
 * @fileoverview The integer GEMM path of the C backend on microcontrollers: the quantize phase's
 * contractions (i8 or i16 x i8 or i16 -> i32, constant weights) as C[b][m][n] = sum_k A[b][m][k] *
 * B[b][k][n] with B packed at compile time as 16-bit pairs along k (one 32-bit word per column and
 * pair), so each word meets a pair of A values in one dual multiply-accumulate: SMLAD on cores
 * with the DSP extension (Cortex-M4/M7/M33/M55), two 16-bit products otherwise (rl.h rl_smlad).
 * A tile of mr rows x nr columns of i32 accumulators stays in general registers; the tile is
 * chosen by counting instructions per k pair (an in-order core): mr A pair loads, nr B loads,
 * mr x nr SMLADs and the loop's 3. CMSIS-NN's q7/q15 kernels work the same way.
 */
import type { Target } from '../target/targets.js';
import { CodeWriter } from '../emit-common/code-writer.js';
import type { KernelParam } from '../emit-common/kernel.js';
import { getElem, type Tensor } from '../ir/tensor.js';
import { gemmShape, type IntGemmPlan } from '../kernel/ukernel.js';
import type { FlatOp } from '../flat/program.js';

const narrowInt = (e: { kind: string; name: string }): boolean => e.name === 'i8' || e.name === 'i16';

/** A plan for `f` when it is an integer contraction this path takes (undefined: loop nest). */
export function planIntGemm(
  f: FlatOp,
  target: Target,
  isConstant: (operand: number) => boolean,
): IntGemmPlan | undefined {
  if (target.os !== 'bare-metal' || f.ins.length !== 2 || f.outs.length !== 1 || !isConstant(1)) return undefined;
  const [lt, rt, ot] = [f.ins[0]!.type, f.ins[1]!.type, f.outs[0]!.type];
  if (lt.kind !== 'tensor' || rt.kind !== 'tensor' || ot.kind !== 'tensor') return undefined;
  if (!narrowInt(lt.elem) || !narrowInt(rt.elem) || ot.elem.name !== 'i32') return undefined;
  const shape = gemmShape(f);
  if (!shape || shape.a.kind !== 'matrix' || shape.a.kStride !== 1 || [shape.m, shape.n, shape.k].includes(0))
    return undefined;
  let best = { cost: Infinity, mr: 1, nr: 1 };
  for (let mr = 1; mr <= 4; mr++)
    for (let nr = 1; nr <= 8; nr++) {
      // General registers: mr x nr accumulators, mr A pairs and mr A pointers, a B word, the B
      // pointer and the pair count.
      if (mr * nr + 2 * mr + 3 > target.generalRegisters) continue;
      const cost = Math.ceil(shape.m / mr) * Math.ceil(shape.n / nr) * (mr + nr + mr * nr + 3);
      if (cost < best.cost) best = { cost, mr, nr };
    }
  return { kind: 'int-gemm', op: f.op, ...shape, elems: { a: lt.elem, b: rt.elem }, mr: best.mr, nr: best.nr };
}

const pairs = (p: IntGemmPlan): number => Math.ceil(p.k / 2);
const panels = (p: IntGemmPlan): number => Math.ceil(p.n / p.nr);

/** B packed for the kernel: [batch][n panel][k pair][nr] words of (B[2q][n] low, B[2q+1][n] high), zero past K and N. */
export function packIntB(p: IntGemmPlan, b: Tensor): Uint8Array {
  const out = new Uint32Array(p.batch * panels(p) * pairs(p) * p.nr);
  const at = (bi: number, k: number, n: number): number =>
    k < p.k && n < p.n ? Number(getElem(b, bi * p.b.batchStride + k * p.b.kStride + n * p.b.nStride)) : 0;
  let o = 0;
  for (let bi = 0; bi < p.batch; bi++)
    for (let jp = 0; jp < panels(p); jp++)
      for (let q = 0; q < pairs(p); q++)
        for (let j = 0; j < p.nr; j++, o++) {
          const n = jp * p.nr + j;
          out[o] = ((at(bi, 2 * q, n) & 0xffff) | ((at(bi, 2 * q + 1, n) & 0xffff) << 16)) >>> 0;
        }
  return new Uint8Array(out.buffer);
}

/** The C of an integer GEMM kernel. Params: in0 (A), in1 (packed B words), out0 (i32 C), scratch (unused). */
export function emitIntGemmKernel(
  p: IntGemmPlan,
  name: string,
  comment: string,
  params: readonly KernelParam[],
): string {
  const { mr, nr } = p;
  const a = p.a as Extract<IntGemmPlan['a'], { kind: 'matrix' }>;
  const aType = p.elems.a.name === 'i8' ? 'int8_t' : 'int16_t';
  const pair = p.elems.a.name === 'i8' ? 'rl_pair_i8' : 'rl_pair_i16';
  const full = Math.floor(p.k / 2);
  const w = new CodeWriter();
  const acc = (i: number, j: number): string => `c${i}_${j}`;
  w.line(comment);
  w.line(
    `/* Integer GEMM ${p.batch > 1 ? `${p.batch} x ` : ''}[${p.m} x ${p.k}] * [${p.k} x ${p.n}] ${p.elems.a.name} x ${p.elems.b.name} -> i32: tile ${mr} x ${nr} of i32 accumulators, B packed at compile time as 16-bit pairs along k, one dual multiply-accumulate (SMLAD) per pair. */`,
  );
  const micro = `${name}_tile`;
  const rowParams = Array.from({ length: mr }, (_, i) => `const ${aType}* restrict a${i}`).join(', ');
  w.block(
    `static __attribute__((noinline)) void ${micro}(${rowParams}, const uint32_t* restrict b, int32_t* restrict c, rl_index_t rows, rl_index_t cols) {`,
    () => {
      for (let i = 0; i < mr; i++)
        w.line(`int32_t ${Array.from({ length: nr }, (_, j) => `${acc(i, j)} = 0`).join(', ')};`);
      const step = (x: (i: number) => string): void => {
        for (let i = 0; i < mr; i++) w.line(`const uint32_t x${i} = ${x(i)};`);
        for (let j = 0; j < nr; j++)
          w.line(
            `{ const uint32_t y = b[${j}]; ${Array.from({ length: mr }, (_, i) => `${acc(i, j)} = rl_smlad(x${i}, y, ${acc(i, j)});`).join(' ')} }`,
          );
        w.line(`b += ${nr};`);
      };
      if (full) w.block(`for (rl_index_t q = 0; q < ${full}; ++q) {`, () => step((i) => `${pair}(a${i} + 2 * q)`));
      if (p.k % 2) w.block('{', () => step((i) => `(uint32_t)(uint16_t)(int16_t)a${i}[${p.k - 1}]`));
      for (let i = 0; i < mr; i++)
        for (let j = 0; j < nr; j++) w.line(`if (rows > ${i} && cols > ${j}) c[${i * p.n + j}] = ${acc(i, j)};`);
    },
  );
  w.line('');
  w.block(`RL_KERNEL void ${name}(${params.map((x) => `${x.cType} ${x.name}`).join(', ')}) {`, () => {
    w.line('(void)scratch;');
    w.block(`for (rl_index_t bi = 0; bi < ${p.batch}; ++bi) {`, () => {
      w.block(`for (rl_index_t jp = 0; jp < ${panels(p)}; ++jp) {`, () => {
        w.line(`const uint32_t* restrict bp = in1 + (bi * ${panels(p)} + jp) * ${pairs(p) * nr};`);
        w.line(`const rl_index_t cols = ${p.n} - jp * ${nr} < ${nr} ? ${p.n} - jp * ${nr} : ${nr};`);
        w.block(`for (rl_index_t i = 0; i < ${p.m}; i += ${mr}) {`, () => {
          w.line(`const ${aType}* restrict a0 = in0 + bi * ${a.batchStride} + i * ${a.mStride};`);
          // Rows past the end alias row 0: their loads stay in bounds and their results are not stored.
          for (let r = 1; r < mr; r++)
            w.line(`const ${aType}* restrict a${r} = i + ${r} < ${p.m} ? a0 + ${r * a.mStride} : a0;`);
          w.line(
            `${micro}(${Array.from({ length: mr }, (_, r) => `a${r}`).join(', ')}, bp, out0 + (bi * ${p.m} + i) * ${p.n} + jp * ${nr}, ${p.m} - i, cols);`,
          );
        });
      });
    });
  });
  return w.toString();
}
