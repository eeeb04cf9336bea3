import t from 'tap';
import { SourceFile } from '../../src/diag/source.js';
import { CompileError } from '../../src/diag/diagnostics.js';
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

/** The location, code and first two words of the message of the CompileError `f` throws. */
function located(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (!(e instanceof CompileError)) throw e;
    const { loc, code, message } = e.diagnostic;
    const words = message.includes('hex bytes') ? 'hex bytes' : message.split(' ')[0];
    return `${loc?.file}:${loc?.line}:${loc?.col} ${code} ${words}`;
  }
  return 'no error';
}

t.test('a bad character at the end of a long hex literal is a located error', async (t) => {
  const src = `func.func @main() -> tensor<4096xi8> {\n  %w = stablehlo.constant dense<"0x${'00'.repeat(4095)}0G"> : tensor<4096xi8>\n  return %w : tensor<4096xi8>\n}\n`;
  t.equal(
    located(() => importModule(new SourceFile('badend.mlir', src))),
    'badend.mlir:2:33 E0103 hex bytes',
  );
});

t.test('f32 and f64 hex literals decode exactly (typed-array path), splats and f16 bit by bit', async (t) => {
  const values = [1.5, -0.1, 3.4028234663852886e38, 1e-45, -0, NaN];
  const f32 = Buffer.alloc(4 * values.length);
  const f64 = Buffer.alloc(8 * values.length);
  values.forEach((v, i) => (f32.writeFloatLE(v, 4 * i), f64.writeDoubleLE(v, 8 * i)));
  const n = values.length;
  const src = [
    `func.func @main() -> (tensor<${n}xf32>, tensor<${n}xf64>, tensor<3xf32>, tensor<2xf16>) {`,
    `  %a = stablehlo.constant dense<"0x${f32.toString('hex')}"> : tensor<${n}xf32>`,
    `  %b = stablehlo.constant dense<"0x${f64.toString('hex')}"> : tensor<${n}xf64>`,
    `  %c = stablehlo.constant dense<"0x0000C03F"> : tensor<3xf32>`,
    `  %d = stablehlo.constant dense<"0x003C00C0"> : tensor<2xf16>`,
    `  return %a, %b, %c, %d : tensor<${n}xf32>, tensor<${n}xf64>, tensor<3xf32>, tensor<2xf16>`,
    '}',
    '',
  ].join('\n');
  const ops = importModule(new SourceFile('exact.mlir', src)).funcs.get('main')!.body!.blocks[0]!.ops;
  const value = (i: number) => constantValue(ops[i]!.attrs['value'], ops[i]!.results[0]!.type as TensorType, ops[i]!);
  t.same(
    Array.from({ length: n }, (_, i) => getElem(value(0), i)),
    values.map((v) => Math.fround(v)),
  );
  t.same(
    Array.from({ length: n }, (_, i) => getElem(value(1), i)),
    values,
  );
  t.same(
    [0, 1, 2].map((i) => getElem(value(2), i)),
    [1.5, 1.5, 1.5],
  );
  t.same(
    [0, 1].map((i) => getElem(value(3), i)),
    [1, -2],
  );
});

t.test('string literals: escapes before the closing quote, an escaped newline is an error', async (t) => {
  const ok = `func.func @main() -> tensor<f32> {\n  %c = stablehlo.constant {note = "a \\"quoted\\" \\\\ word"} dense<1.0> : tensor<f32>\n  return %c : tensor<f32>\n}\n`;
  const m = importModule(new SourceFile('escapes.mlir', ok));
  const note = m.funcs.get('main')!.body!.blocks[0]!.ops[0]!.attrs['note'];
  t.same(note, { kind: 'string', value: 'a "quoted" \\ word' });
  const bad = `func.func @main() -> tensor<f32> {\n  %c = stablehlo.constant {note = "a \\\n b"} dense<1.0> : tensor<f32>\n  return %c : tensor<f32>\n}\n`;
  t.equal(
    located(() => importModule(new SourceFile('newline.mlir', bad))),
    'newline.mlir:2:35 E0102 unterminated',
  );
});
