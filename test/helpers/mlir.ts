/**
 * @fileoverview MLIR text for the tests' hand-written programs.
 */

/** A `stablehlo.constant` of varied f32 or bf16 weights in [-1, 1) (seeded; a hex literal).
 * GEMM and convolution tests use these rather than splats: with every column of a weight equal,
 * a tiling or packing bug that mixes up columns gives the same numbers. */
export function variedConstant(shape: readonly number[], elem: 'f32' | 'bf16', seed: number): string {
  const n = shape.reduce((a, b) => a * b, 1);
  const bytes = elem === 'f32' ? 4 : 2;
  const buf = Buffer.alloc(n * bytes);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const v = s / 2 ** 31 - 1;
    if (elem === 'f32') buf.writeFloatLE(v, i * 4);
    else {
      buf.writeFloatLE(v, 0); // bf16: the top half of the f32 pattern (truncation is fine for test data)
      buf.writeUInt16LE(buf.readUInt32LE(0) >>> 16, i * 2);
    }
  }
  return `stablehlo.constant dense<"0x${buf.toString('hex').toUpperCase()}"> : tensor<${shape.join('x')}x${elem}>`;
}
