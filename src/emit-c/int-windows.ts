/**
 * @fileoverview The integer GEMM's convolutions as implicit GEMMs: the taps of an output pixel's
 * window in HWIO's k order (the x86 pair packing and the SDOT packing gather them while packing A),
 * and, for the microcontrollers' kernels, each window gathered once into a row of scratch.
 */
import type { CodeWriter } from '../emit-common/code-writer.js';
import type { IntGemmPlan } from '../kernel/ukernel.js';

/** The taps of output pixel `row`'s window in HWIO's k order: `tap` runs once per tap with
 * `inside` (whether the tap lies in the image) and `src` (its channels there; in0 outside).
 * `pixelKnown`: n, oy and ox are already declared (forEachPixel). */
export function forEachTap(w: CodeWriter, p: IntGemmPlan, aType: string, tap: () => void, pixelKnown = false): void {
  const g = p.a as Extract<IntGemmPlan['a'], { kind: 'conv' }>;
  const [sy, sx] = g.stride;
  const [dy, dx] = g.dilation;
  const [py, px] = g.padBefore;
  if (!pixelKnown) outputPixel(w, g);
  w.block(`for (rl_index_t ky = 0; ky < ${g.kernelHeight}; ++ky) {`, () => {
    w.block(`for (rl_index_t kx = 0; kx < ${g.kernelWidth}; ++kx) {`, () => {
      w.line(`const rl_index_t iy = oy * ${sy} + ky * ${dy} - ${py}, ix = ox * ${sx} + kx * ${dx} - ${px};`);
      w.line(`const int inside = iy >= 0 && iy < ${g.height} && ix >= 0 && ix < ${g.width};`);
      w.line(
        `const ${aType}* restrict src = inside ? in0 + ((n * ${g.height} + iy) * ${g.width} + ix) * ${g.channels} : in0;`,
      );
      tap();
    });
  });
}

/**
 * Convolutions on microcontrollers' kernels (an implicit GEMM): each output pixel's window (its
 * taps' channels, zero where the window leaves the image) is copied into one row of scratch
 * (`window`, of A's type: no RAM for a packed block of A), then `body` reads it like a row of A.
 */
export function forEachWindow(w: CodeWriter, p: IntGemmPlan, aType: string, body: () => void): void {
  const g = p.a as Extract<IntGemmPlan['a'], { kind: 'conv' }>;
  const { channels } = g;
  const tap = `${channels} * sizeof(${aType})`;
  w.line(`${aType}* restrict window = (${aType}*)(void*)scratch; /* ${p.k} values: one output pixel's taps */`);
  // Without padding (the quantize phase pads microcontrollers' convolutions explicitly) and with
  // adjacent taps, a window row is one run of the image: one copy per row, no bounds checks.
  const rows = !g.padBefore.some((x) => x !== 0) && g.dilation[1] === 1 && windowsInside(g);
  forEachPixel(w, p, () => {
    w.line(`${aType}* restrict dst = window;`);
    if (rows) {
      const run = g.kernelWidth * channels;
      windowStart(w, g, aType);
      // Helium: a vector at a time (gcc's inline copy moved a word per load and store); DSP
      // cores: four words per LDM/STM where every row starts on a word.
      const bytes = channels * (aType === 'int8_t' ? 1 : 2);
      const copy = p.columnDot ? 'rl_vd_copy' : p.quads && bytes % 4 === 0 ? 'rl_copy_words' : 'memcpy';
      // Unrolled: a few short copies (gcc kept the loop around a 3-byte copy).
      w.line(`#pragma GCC unroll ${g.kernelHeight}`);
      w.block(`for (rl_index_t ky = 0; ky < ${g.kernelHeight}; ++ky) {`, () => {
        w.line(`${copy}(dst, src + ky * ${g.dilation[0] * g.width * channels}, ${run} * sizeof(${aType}));`);
        w.line(`dst += ${run};`);
      });
    } else
      forEachTap(
        w,
        p,
        aType,
        () => {
          w.line(`if (inside) memcpy(dst, src, ${tap});`);
          w.line(`else memset(dst, 0, ${tap});`);
          w.line(`dst += ${channels};`);
        },
        true,
      );
    body();
  });
}

/** Every output pixel in nested loops (no division per pixel): `body` runs with n, oy, ox and
 * `row` (the pixel's row of the implicit GEMM) declared. */
function forEachPixel(w: CodeWriter, p: IntGemmPlan, body: () => void): void {
  const g = p.a as Extract<IntGemmPlan['a'], { kind: 'conv' }>;
  const [oh, ow] = [g.outHeight, g.outWidth];
  w.block(`for (rl_index_t n = 0; n < ${p.m / (oh * ow)}; ++n) {`, () =>
    w.block(`for (rl_index_t oy = 0; oy < ${oh}; ++oy) {`, () =>
      w.block(`for (rl_index_t ox = 0; ox < ${ow}; ++ox) {`, () => {
        w.line(`const rl_index_t row = (n * ${oh} + oy) * ${ow} + ox;`);
        body();
      }),
    ),
  );
}

/**
 * The element offsets of a window's taps from its first, in k order, where every window can be
 * read in place with them (no padding, every window inside the image) and each fits `bits` bits
 * (a gather load's offset lanes); undefined otherwise.
 */
export function windowTapOffsets(p: IntGemmPlan, bits: number): number[] | undefined {
  const g = p.a as Extract<IntGemmPlan['a'], { kind: 'conv' }>;
  if (g.padBefore.some((x) => x !== 0) || !windowsInside(g)) return undefined;
  const offsets: number[] = [];
  for (let ky = 0; ky < g.kernelHeight; ky++)
    for (let kx = 0; kx < g.kernelWidth; kx++)
      for (let c = 0; c < g.channels; c++)
        offsets.push((ky * g.dilation[0] * g.width + kx * g.dilation[1]) * g.channels + c);
  return offsets.every((o) => o < 2 ** bits) ? offsets : undefined;
}

/** Each output pixel's window read in place (windowTapOffsets): `body` runs with `row` (the
 * pixel's row of the implicit GEMM) and `src` (its first tap); the pixels in nested loops, no
 * division per pixel. */
export function forEachWindowInPlace(w: CodeWriter, p: IntGemmPlan, aType: string, body: () => void): void {
  const g = p.a as Extract<IntGemmPlan['a'], { kind: 'conv' }>;
  w.line('(void)scratch;');
  forEachPixel(w, p, () => {
    windowStart(w, g, aType);
    body();
  });
}

/** `src`: the first tap of pixel (n, oy, ox)'s window, for a window inside the image. */
function windowStart(w: CodeWriter, g: Extract<IntGemmPlan['a'], { kind: 'conv' }>, aType: string): void {
  w.line(
    `const ${aType}* restrict src = in0 + ((n * ${g.height} + oy * ${g.stride[0]}) * ${g.width} + ox * ${g.stride[1]}) * ${g.channels};`,
  );
}

/** Output pixel `row` as its image n and position (oy, ox). */
function outputPixel(w: CodeWriter, g: Extract<IntGemmPlan['a'], { kind: 'conv' }>): void {
  w.line(
    `const rl_index_t n = row / ${g.outHeight * g.outWidth}, oy = row / ${g.outWidth} % ${g.outHeight}, ox = row % ${g.outWidth};`,
  );
}

/** Whether every window of an unpadded convolution lies inside the image. */
const windowsInside = (g: Extract<IntGemmPlan['a'], { kind: 'conv' }>): boolean =>
  (g.outHeight - 1) * g.stride[0] + (g.kernelHeight - 1) * g.dilation[0] < g.height &&
  (g.outWidth - 1) * g.stride[1] + (g.kernelWidth - 1) * g.dilation[1] < g.width;
