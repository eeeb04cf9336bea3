/**
 * @fileoverview Direct convolution for the convolutions a GEMM serves badly: depthwise (one input
 * channel per output channel, no reduction across channels to block) and dense convolutions with
 * few input channels (K = taps x channels is tiny, so packing A would cost more than the FMAs).
 *
 * Vectorized over output channels, which are contiguous in NHWC: one register block holds
 * `pixelBlock` output pixels x `channelBlock` vectors of channels, accumulated with FMA over the
 * kernel taps (and, dense, the input channels: each input value is broadcast). The HWIO weights are
 * read as stored; no scratch. Output pixels whose window lies inside the image ("interior") take a
 * loop without padding checks; the few at the borders check each tap. Each output row is finished
 * by the fused epilogue while it is in L1, and with --threads rows are split across the pool.
 */
import type { Target } from '../target/targets.js';
import { CodeWriter } from '../emit-common/code-writer.js';
import type { KernelParam } from '../emit-common/kernel.js';
import { emitEpilogue, type Epilogue } from './fused.js';
import { emitRowsKernel } from './rows.js';
import { isF32 } from '../emit-common/ctypes.js';
import { simdMacro } from './gemm.js';
import { ukernelLanes } from './gemm-tiling.js';
import { convGeometry, type DirectConvPlan } from '../kernel/ukernel.js';
import type { FlatOp } from '../flat/program.js';

/** Dense convolutions with fewer input channels than this go direct; more feed the GEMM's k blocks well. */
const DENSE_MAX_CHANNELS = 16;

export function planDirectConv(f: FlatOp, target: Target): DirectConvPlan | undefined {
  if (!simdMacro(target) || f.op.name !== 'stablehlo.convolution' || f.ins.length !== 2 || f.outs.length !== 1)
    return undefined;
  if (![...f.ins, ...f.outs].every((s) => isF32(s.type))) return undefined;
  const g = convGeometry(f);
  if (!g || [g.batch, g.outHeight, g.outWidth, g.outChannels].includes(0)) return undefined;
  const lanes = ukernelLanes(target);
  const depthwise = g.featureGroups === g.channels && g.outChannels === g.channels && g.kernelChannels === 1;
  const dense = g.featureGroups === 1 && g.channels < DENSE_MAX_CHANNELS && g.outChannels >= lanes;
  if (!depthwise && !dense) return undefined;
  const vectors = Math.floor(g.outChannels / lanes);
  if (target.os === 'bare-metal')
    return {
      kind: 'direct-conv',
      op: f.op,
      conv: g,
      depthwise,
      lanes,
      inOrder: true,
      ...inOrderBlocks(vectors, depthwise, target),
    };
  // Up to 4 vectors of channels, fewer where the register file must also hold at least two
  // pixels' accumulators next to the weight vectors.
  const channelBlock = Math.max(1, Math.min(vectors, 4, Math.floor((target.vectorRegisters - 1) / 3)));
  // Enough accumulators to cover the FMA latency (about 12 in flight), within the registers left
  // after the block's weight vectors and one broadcast.
  const pixelBlock = Math.max(
    1,
    Math.min(Math.ceil(12 / channelBlock), Math.floor((target.vectorRegisters - channelBlock - 1) / channelBlock)),
  );
  return { kind: 'direct-conv', op: f.op, conv: g, depthwise, lanes, channelBlock, pixelBlock };
}

/**
 * The register block of a microcontroller core (in order: count instructions). Per kernel tap a
 * block of p pixels x v vectors takes p x v FMAs, v weight loads, p input loads (dense: a scalar
 * the FMA multiplies by; depthwise: p x v vectors) and about 6 of index arithmetic and loop;
 * the registers hold the p x v accumulators, the v weights and, without SIMD, the p inputs.
 */
function inOrderBlocks(
  vectors: number,
  depthwise: boolean,
  target: Target,
): { channelBlock: number; pixelBlock: number } {
  const scalar = target.vectorBits === 0;
  let best = { cost: Infinity, channelBlock: 1, pixelBlock: 1 };
  for (let v = 1; v <= Math.min(vectors, 16); v++)
    for (let p = 1; p <= 16; p++) {
      const registers = p * v + v + (depthwise ? 1 : scalar ? p : 0);
      if (registers > target.vectorRegisters) continue;
      const perTap = p * v + v + (depthwise ? p * v : p) + 6;
      // Per output pixel, over every channel block (a partial last block costs as much as a full one).
      const cost = (Math.ceil(vectors / v) * perTap) / p;
      if (cost < best.cost - 1e-9) best = { cost, channelBlock: v, pixelBlock: p };
    }
  return { channelBlock: best.channelBlock, pixelBlock: best.pixelBlock };
}

/** Window widths whose taps along x interior blocks unroll. */
const UNROLLED_TAPS = 4;

/** The C of a direct convolution kernel. Params: in0 (image), in1 (HWIO weights), epilogue leaves, out0, scratch (unused). */
export function emitDirectConvKernel(
  p: DirectConvPlan,
  name: string,
  comment: string,
  params: readonly KernelParam[],
  epilogue?: Epilogue,
  parallel = false,
): string {
  const g = p.conv;
  const { lanes } = p;
  const cout = g.outChannels;
  const vectors = Math.floor(cout / lanes);
  const rows = g.batch * g.outHeight;
  // Output columns whose every tap is inside the image: ox * stride - pad >= 0 and the last tap < width.
  const lastTap = (g.kernelWidth - 1) * g.dilation[1];
  const interiorLo = Math.min(g.outWidth, Math.ceil(g.padBefore[1] / g.stride[1]));
  const interiorHi = Math.max(
    interiorLo,
    Math.min(g.outWidth, Math.floor((g.width - 1 - lastTap + g.padBefore[1]) / g.stride[1]) + 1),
  );
  const tapChannels = p.depthwise ? 1 : g.channels;
  const w = new CodeWriter();
  w.line(comment);
  w.line(
    `/* Direct ${p.depthwise ? 'depthwise ' : ''}convolution ${g.batch}x${g.height}x${g.width}x${g.channels} (NHWC) * ${g.kernelHeight}x${g.kernelWidth}x${g.kernelChannels}x${cout} (HWIO), f32 FMA accumulation; blocks of ${p.pixelBlock} pixels x ${p.channelBlock} vectors of ${lanes} output channels; columns ${interiorLo}..${interiorHi - 1} need no padding checks. */`,
  );
  const kernel = emitRowsKernel(name, params, rows, parallel, (w) => {
    w.block('for (rl_index_t row = row_begin; row < row_end; ++row) {', () => {
      w.line(`const rl_index_t image = row / ${g.outHeight}, oy = row % ${g.outHeight};`);
      w.line(`const float* restrict img = in0 + image * ${g.height * g.width * g.channels};`);
      w.line(`float* restrict orow = out0 + row * ${g.outWidth * cout};`);
      // Interior columns in balanced blocks of at most pixelBlock (a short last block would be
      // latency-bound); border columns one at a time, checking each tap.
      const interior = interiorHi - interiorLo;
      const blocks = Math.ceil(interior / p.pixelBlock);
      const size = blocks ? Math.floor(interior / blocks) : 0;
      const bigger = interior - blocks * size; // this many blocks take size + 1
      const blockCode = (vecs: number): void => {
        w.line('rl_index_t ox = 0;');
        w.block(`for (; ox < ${interiorLo}; ++ox) {`, () => pixels(1, vecs, true));
        if (bigger)
          w.block(`for (; ox < ${interiorLo + bigger * (size + 1)}; ox += ${size + 1}) {`, () =>
            pixels(size + 1, vecs, false),
          );
        if (size) w.block(`for (; ox < ${interiorHi}; ox += ${size}) {`, () => pixels(size, vecs, false));
        w.block(`for (; ox < ${g.outWidth}; ++ox) {`, () => pixels(1, vecs, true));
      };
      // One register block of `count` pixels from column ox, `vecs` vectors from channel c0.
      const pixels = (count: number, vecs: number, checked: boolean): void => {
        const acc = (i: number, v: number): string => `a${i}_${v}`;
        for (let i = 0; i < count; i++)
          w.line(`rl_vf ${Array.from({ length: vecs }, (_, v) => `${acc(i, v)} = rl_vf_zero()`).join(', ')};`);
        w.block(`for (rl_index_t ky = 0; ky < ${g.kernelHeight}; ++ky) {`, () => {
          w.line(`const rl_index_t iy = oy * ${g.stride[0]} + ky * ${g.dilation[0]} - ${g.padBefore[0]};`);
          w.line(`if (iy < 0 || iy >= ${g.height}) continue;`);
          // On in-order cores, interior blocks of a narrow window take its taps along x unrolled,
          // a schedule barrier after each (a Cortex-M55's first convolution of the bench
          // CNN, 3 pixels x 2 vectors of 4 channels: gcc left the loop of three taps rolled, then,
          // unrolled, hoisted the next tap's weight loads and spilled accumulators to the stack:
          // 149 K, then 142 K, now 130 K instructions).
          const unrolled = p.inOrder === true && !checked && g.kernelWidth <= UNROLLED_TAPS;
          const tap = (kx: string): void => {
            w.line(`const rl_index_t ix = ox * ${g.stride[1]} + ${kx} * ${g.dilation[1]} - ${g.padBefore[1]};`);
            if (checked) w.line(`if (ix < 0 || ix >= ${g.width}) continue;`);
            w.line(
              `const float* restrict x = img + (iy * ${g.width} + ix) * ${g.channels}${p.depthwise ? ' + c0' : ''};`,
            );
            w.line(`const float* restrict wk = in1 + (ky * ${g.kernelWidth} + ${kx}) * ${tapChannels * cout} + c0;`);
            const step = (ci: string): void => {
              w.line(
                `const rl_vf ${Array.from({ length: vecs }, (_, v) => `w${v} = rl_vf_load(wk + ${ci === '0' ? '' : `${ci} * ${cout} + `}${v * lanes})`).join(', ')};`,
              );
              for (let i = 0; i < count; i++) {
                const at = i * g.stride[1] * g.channels;
                const fmas = p.depthwise
                  ? Array.from(
                      { length: vecs },
                      (_, v) => `${acc(i, v)} = rl_vf_fma(rl_vf_load(x + ${at + v * lanes}), w${v}, ${acc(i, v)});`,
                    )
                  : [
                      `const float s = x[${at}${ci === '0' ? '' : ` + ${ci}`}];`,
                      ...Array.from(
                        { length: vecs },
                        (_, v) => `${acc(i, v)} = rl_vf_fma_scalar(w${v}, s, ${acc(i, v)});`,
                      ),
                    ];
                w.line(`{ ${fmas.join(' ')} }`);
              }
            };
            if (tapChannels === 1) step('0');
            else w.block(`for (rl_index_t ci = 0; ci < ${tapChannels}; ++ci) {`, () => step('ci'));
          };
          if (unrolled)
            for (let kx = 0; kx < g.kernelWidth; kx++) {
              w.block('{', () => tap(String(kx)));
              w.line('RL_SCHEDULE_BARRIER();');
            }
          else w.block(`for (rl_index_t kx = 0; kx < ${g.kernelWidth}; ++kx) {`, () => tap('kx'));
        });
        for (let i = 0; i < count; i++)
          for (let v = 0; v < vecs; v++)
            w.line(`rl_vf_store(orow + (ox + ${i}) * ${cout} + c0 + ${v * lanes}, ${acc(i, v)});`);
      };
      const fullBlocks = Math.floor(vectors / p.channelBlock);
      if (fullBlocks > 0)
        w.block(
          `for (rl_index_t c0 = 0; c0 < ${fullBlocks * p.channelBlock * lanes}; c0 += ${p.channelBlock * lanes}) {`,
          () => blockCode(p.channelBlock),
        );
      const rest = vectors % p.channelBlock;
      if (rest > 0)
        w.block('{', () => {
          w.line(`const rl_index_t c0 = ${fullBlocks * p.channelBlock * lanes};`);
          blockCode(rest);
        });
      if (cout % lanes) {
        w.line('/* channels past the last full vector: scalar */');
        w.block(`for (rl_index_t ox = 0; ox < ${g.outWidth}; ++ox) {`, () => {
          w.block(`for (rl_index_t c = ${vectors * lanes}; c < ${cout}; ++c) {`, () => {
            w.line('float sum = 0.0f;');
            w.block(`for (rl_index_t ky = 0; ky < ${g.kernelHeight}; ++ky) {`, () => {
              w.line(`const rl_index_t iy = oy * ${g.stride[0]} + ky * ${g.dilation[0]} - ${g.padBefore[0]};`);
              w.line(`if (iy < 0 || iy >= ${g.height}) continue;`);
              w.block(`for (rl_index_t kx = 0; kx < ${g.kernelWidth}; ++kx) {`, () => {
                w.line(`const rl_index_t ix = ox * ${g.stride[1]} + kx * ${g.dilation[1]} - ${g.padBefore[1]};`);
                w.line(`if (ix < 0 || ix >= ${g.width}) continue;`);
                w.line(`const float* restrict x = img + (iy * ${g.width} + ix) * ${g.channels};`);
                w.line(`const float* restrict wk = in1 + (ky * ${g.kernelWidth} + kx) * ${tapChannels * cout} + c;`);
                if (p.depthwise) w.line('sum = rl_fmaf(x[c], wk[0], sum);');
                else
                  w.line(
                    `for (rl_index_t ci = 0; ci < ${tapChannels}; ++ci) sum = rl_fmaf(x[ci], wk[ci * ${cout}], sum);`,
                  );
              });
            });
            w.line(`orow[ox * ${cout} + c] = sum;`);
          });
        });
      }
      if (epilogue) {
        w.line('/* epilogue: the fused elementwise ops, on this output row while it is in cache */');
        emitEpilogue(w, epilogue, cout, `row * ${g.outWidth}`, String(g.outWidth));
      }
    });
  });
  return `${w.toString()}\n${kernel}`;
}
