import t from 'tap';
import { SourceFile } from '../../src/diag/source.js';
import { compile } from '../../src/pipeline.js';
import { runCompiled } from '../../src/toolchain/run.js';
import { importModule } from '../../src/import/index.js';
import { compareTensors } from '../../src/ir/compare.js';
import { Interpreter } from '../../src/interpret/eval.js';
import { getElem, makeTensor, type Tensor } from '../../src/ir/tensor.js';
import { floatElem, tensorType } from '../../src/ir/types.js';
import { inPlaceLoopUpdates } from '../../src/ops/in-place.js';

// A while loop that rewrites one element of a carried tensor per iteration (ResNet-18's
// max-pool-with-indices loop has this shape) must update the tensor in place in both backends,
// and only when no one can observe the old value.
const N = 512;

/** Doubles element i of %acc in iteration i; `beforeUpdate` / `afterUpdate` are ops around the
 * update (one of them defines %s2), and `ret` is what the body returns in the second place. */
function loop(beforeUpdate: string, afterUpdate: string, ret = '%u'): string {
  return `func.func @main(%init: tensor<${N}xf32>) -> (tensor<${N}xf32>, tensor<f32>) {
  %zero = stablehlo.constant dense<0> : tensor<i32>
  %n = stablehlo.constant dense<${N}> : tensor<i32>
  %fzero = stablehlo.constant dense<0.0> : tensor<f32>
  %r:3 = stablehlo.while(%i = %zero, %acc = %init, %s = %fzero) : tensor<i32>, tensor<${N}xf32>, tensor<f32>
  cond {
    %c = stablehlo.compare LT, %i, %n : (tensor<i32>, tensor<i32>) -> tensor<i1>
    stablehlo.return %c : tensor<i1>
  } do {
    %one = stablehlo.constant dense<1> : tensor<i32>
    %v = stablehlo.dynamic_slice %acc, %i, sizes = [1] : (tensor<${N}xf32>, tensor<i32>) -> tensor<1xf32>
    %two = stablehlo.constant dense<2.0> : tensor<1xf32>
    %w = stablehlo.multiply %v, %two : tensor<1xf32>
    ${beforeUpdate}
    %u = stablehlo.dynamic_update_slice %acc, %w, %i : (tensor<${N}xf32>, tensor<1xf32>, tensor<i32>) -> tensor<${N}xf32>
    ${afterUpdate}
    %next = stablehlo.add %i, %one : tensor<i32>
    stablehlo.return %next, ${ret}, %s2 : tensor<i32>, tensor<${N}xf32>, tensor<f32>
  }
  return %r#1, %r#2 : tensor<${N}xf32>, tensor<f32>
}`;
}

const sumOf = (x: string, out: string): string =>
  `%z_${out.slice(1)} = stablehlo.constant dense<0.0> : tensor<f32>\n    ${out} = stablehlo.reduce(${x} init: %z_${out.slice(1)}) applies stablehlo.add across dimensions = [0] : (tensor<${N}xf32>, tensor<f32>) -> tensor<f32>`;

const CASES = [
  // Reads of the carried value before the update are fine: the old value is dead after it.
  { name: 'read before the update', text: loop(sumOf('%acc', '%s2'), ''), inPlace: true },
  // A read after the update needs the old value: a copy it must be.
  { name: 'read after the update', text: loop('', sumOf('%acc', '%s2')), inPlace: false },
  // A reshape is a view of the operand in the interpreter: reading it later would see the update.
  {
    name: 'a view read after the update',
    text: loop(
      '%view = stablehlo.reshape %acc : (tensor<512xf32>) -> tensor<2x256xf32>',
      `%flat = stablehlo.reshape %view : (tensor<2x256xf32>) -> tensor<${N}xf32>\n    ${sumOf('%flat', '%s2')}`,
    ),
    inPlace: false,
  },
  // The update returned in another place than the value it updates carries nothing over.
  { name: 'returned elsewhere', text: loop(sumOf('%u', '%s2').replace('%u', '%acc'), '', '%acc'), inPlace: false },
];

const input = (): Tensor =>
  makeTensor(
    tensorType([N], floatElem('f32')!),
    Float64Array.from({ length: N }, (_, i) => 1 + (i % 7) / 8),
  );

for (const c of CASES) {
  t.test(c.name, async (t) => {
    const m = importModule(new SourceFile(`${c.name}.mlir`, c.text));
    const main = m.funcs.get('main')!;
    const whileOp = main.body!.blocks[0]!.ops.find((op) => op.name === 'stablehlo.while')!;
    t.equal(
      inPlaceLoopUpdates(whileOp).size,
      c.inPlace ? 1 : 0,
      c.inPlace ? 'the update is in place' : 'the update copies',
    );
    const x = input();
    const expected = new Interpreter(m).runFunc(main, [x]) as Tensor[];
    // The interpreter's values against the loop's meaning, worked out here: element i doubled.
    const doubled =
      c.name === 'returned elsewhere'
        ? (i: number) => getElem(x, i) as number
        : (i: number) => 2 * (getElem(x, i) as number);
    t.ok(
      [...Array(N).keys()].every((i) => getElem(expected[0]!, i) === doubled(i)),
      'interpreter: the loop did what it says',
    );
    t.equal(getElem(x, 3), 1 + 3 / 8, 'the caller’s input is untouched');
    const run = await runCompiled(m, 'main', [x]);
    expected.forEach((e, i) => t.ok(compareTensors(run.outputs[i]!, e).ok, `C output ${i} matches`));
    const c99 = compile(m, { entry: 'main', prefix: 'model', sourceName: 'loop.mlir', cc: 'gcc' }).files.get(
      'model.c',
    ) as string;
    const updateKernel = /RL_KERNEL void k\d+_dynamic_update_slice\([^]*?\n}/.exec(c99)?.[0];
    if (!updateKernel) t.notOk(c.inPlace, 'an update nobody reads is dead code');
    else
      t.equal(
        /memcpy/.test(updateKernel),
        !c.inPlace,
        c.inPlace ? 'the C kernel writes only the update' : 'the C kernel copies the operand first',
      );
  });
}
