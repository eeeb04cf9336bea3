import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { CompileError, renderDiagnostic } from '../../src/diag/diagnostics.js';
import { SourceFile } from '../../src/diag/source.js';
import { compile } from '../../src/pipeline.js';
import { runCompiled } from '../../src/toolchain/run.js';
import { importModule } from '../../src/import/index.js';
import { compareTensors, narrowestFloat } from '../../src/ir/compare.js';
import { Interpreter } from '../../src/interpret/eval.js';
import { getElem, makeTensor, setElem, size, type Tensor } from '../../src/ir/tensor.js';
import type { Module } from '../../src/ir/core.js';
import { HAVE_SHARED, SHARED } from '../helpers/paths.js';
import { expectMatch, reference } from '../helpers/reference.js';

// The corpus check of real exports (../shared/exports, as their exporters wrote them): each one
// compiles and its C matches the interpreter under the README's comparison rule, or fails with
// the located error this test expects (vendor custom calls only). A one-element corruption of any
// output must fail the same rule.
const EXPORTS = join(SHARED, 'exports');
const load = (name: string): Module =>
  importModule(new SourceFile(join(EXPORTS, name), readFileSync(join(EXPORTS, name), 'utf8')));
const skip = HAVE_SHARED ? false : 'no ../shared';

/** Moves the largest element of `x` by 1% of the tensor's largest magnitude. */
function corruptOne(x: Tensor): Tensor {
  const copy = makeTensor(x.type, x.data.slice() as never);
  let at = 0;
  for (let i = 1; i < size(x); i++) if (Math.abs(getElem(x, i) as number) > Math.abs(getElem(x, at) as number)) at = i;
  const v = getElem(x, at) as number;
  setElem(copy, at, v + 0.01 * Math.max(Math.abs(v), 1e-3));
  return copy;
}

async function compiledMatches(t: Test, name: string, entry: string): Promise<void> {
  const m = load(name);
  const { args, expected } = reference(m, entry, 7);
  const run = await runCompiled(m, entry, args);
  expectMatch(t, run.outputs, expected, name, true, narrowestFloat(m));
  const caught = run.outputs.filter(
    (o, i) => !compareTensors(corruptOne(o), expected[i]!, narrowestFloat(m)).ok,
  ).length;
  t.equal(
    caught,
    run.outputs.length,
    `a one-element corruption of each of the ${run.outputs.length} outputs is caught`,
  );
}

t.test('JAX MLP as jax.export writes it (Shardy mesh)', { skip }, async (t) =>
  compiledMatches(t, 'ttmlir_jax_mnist_mlp_sdy.mlir', 'main'),
);

t.test('JAX 8-way tensor-parallel MLP loss (GSPMD manual regions)', { skip }, async (t) =>
  compiledMatches(t, 'ttmlir_e2e_tp_gspmd.mlir', 'main'),
);

t.test(
  'PyTorch ResNet-18 forward in training mode (ByteIR: tuples, batch_norm_training, a 200k-iteration while loop)',
  { skip },
  async (t) => compiledMatches(t, 'byteir_resnet18_fw.mlir', 'main'),
);

t.test('TF MobileNetV3 through IREE: its golden, and varied weights', { skip }, async (t) => {
  const m = load('iree_mobilenetv3_fake_weights.mlir');
  const f = m.funcs.get('call')!;
  // As written: fake (splat) weights make every class equally likely; IREE's golden says so.
  const interp = new Interpreter(m);
  interp.runFunc(f, []);
  t.same(
    interp.session.checks.map((c) => c.ok),
    [true],
    "the export's own check (1e-3 everywhere) passes in the interpreter",
  );
  const asWritten = await runCompiled(m, 'call', [], { checksAsOutputs: true });
  t.ok(
    compareTensors(asWritten.outputs[0]!, interp.session.checks[0]!.value as Tensor).ok,
    'the compiled checked value matches',
  );
  // Splat weights are generated at run time, never stored (emit-c/splats.ts).
  const emitted = compile(m, {
    entry: 'call',
    prefix: 'model',
    sourceName: 'm.mlir',
    cc: 'gcc',
    checksAsOutputs: true,
  });
  t.ok(
    emitted.weightBytes <= 64 * 210,
    `weights blob ${emitted.weightBytes} bytes for 210 splat globals (11 MB stored in full)`,
  );
  // A uniform output cannot tell right from wrong: the same network with each weight tensor
  // varied by +-25% around its value gives a comparison that can fail.
  const varied = varyGlobals(m);
  const ref = new Interpreter(varied);
  ref.runFunc(varied.funcs.get('call')!, []);
  const run = await runCompiled(varied, 'call', [], { checksAsOutputs: true });
  expectMatch(t, run.outputs, [ref.session.checks[0]!.value as Tensor], 'MobileNetV3 with varied weights', true);
  // With a thread pool: gcc once saw its convolution row pointers as maybe uninitialized (-Werror).
  const pooled = await runCompiled(varied, 'call', [], { checksAsOutputs: true, threads: 4 });
  t.same(
    Array.from(pooled.outputs[0]!.data as Float64Array),
    Array.from(run.outputs[0]!.data as Float64Array),
    'with 4 threads: bitwise the one-thread result',
  );
});

t.test(
  'PyTorch NanoGPT (ByteIR): its vendor custom calls are a located error when it is imported (for every backend)',
  { skip },
  async (t) => {
    try {
      load('byteir_nanogpt_fw.mlir');
      t.fail('accepted');
    } catch (e) {
      t.ok(e instanceof CompileError, 'a located CompileError');
      t.match(
        renderDiagnostic((e as CompileError).diagnostic),
        /byteir_nanogpt_fw\.mlir:34:13: error E0301: op 'custom_call @byteir\.layer_norm \(a vendor call target\)' is not supported by target 'xla-aot'/,
        'names the call and where it is',
      );
    }
  },
);

/** `m` with each splat util.global's value spread to seeded values within +-25% of it. */
function varyGlobals(m: Module): Module {
  let seed = 12345;
  const globals = new Map(
    [...m.globals].map(([name, g]) => {
      if (g.type.kind !== 'tensor' || g.value.kind !== 'dense' || g.value.literal.elems?.length !== 1)
        return [name, g] as const;
      const base =
        g.value.literal.elems[0]!.kind === 'float' ? (g.value.literal.elems[0] as { value: number }).value : 1;
      const n = g.type.shape.reduce((a, b) => a * b, 1);
      const bytes = Buffer.alloc(4 * n);
      for (let i = 0; i < n; i++) {
        seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
        bytes.writeFloatLE(base * (0.75 + 0.5 * (seed / 2 ** 32)), 4 * i);
      }
      return [
        name,
        { ...g, value: { kind: 'dense', literal: { hexBytes: new Uint8Array(bytes) }, type: g.type } },
      ] as const;
    }),
  );
  return { ...m, globals };
}
