import t from 'tap';
import { SourceFile } from '../../src/diag/source.js';
import { importModule } from '../../src/import/index.js';
import { constantValue } from '../../src/ops/control.js';
import { getElem } from '../../src/ir/tensor.js';
import type { TensorType } from '../../src/ir/types.js';

t.test('a multi-megabyte hex weight parses (no regex backtracking blow-up)', async (t) => {
  const n = 1024 * 1024; // 4 MiB of f32
  const bytes = Buffer.alloc(4 * n);
  for (let i = 0; i < n; i++) bytes.writeFloatLE(i % 1000, 4 * i);
  const src = `func.func @main() -> tensor<${n}xf32> {\n  %w = stablehlo.constant dense<"0x${bytes.toString('hex')}"> : tensor<${n}xf32>\n  return %w : tensor<${n}xf32>\n}\n`;
  const m = importModule(new SourceFile('big.mlir', src));
  const op = m.funcs.get('main')!.body!.blocks[0]!.ops[0]!;
  const v = constantValue(op.attrs['value'], op.results[0]!.type as TensorType, op);
  t.equal(getElem(v, n - 1), (n - 1) % 1000);
  t.equal(getElem(v, 1234), 234);
});

t.test('an odd number of hex digits is a located error', async (t) => {
  const src =
    'func.func @main() -> tensor<1xi8> {\n  %w = stablehlo.constant dense<"0x123"> : tensor<1xi8>\n  return %w : tensor<1xi8>\n}\n';
  t.throws(() => importModule(new SourceFile('odd.mlir', src)), /hex bytes/);
});
