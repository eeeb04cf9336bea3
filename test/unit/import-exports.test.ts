import t, { type Test } from 'tap';
import { CompileError, renderDiagnostic } from '../../src/diag/diagnostics.js';
import { SourceFile } from '../../src/diag/source.js';
import { importModule } from '../../src/import/index.js';
import { parseGspmdSharding } from '../../src/import/sharding.js';
import { Interpreter } from '../../src/interpret/eval.js';
import { flattenTuples, getElem, type Tensor } from '../../src/ir/tensor.js';
import type { Module } from '../../src/ir/core.js';
import type { Sharding } from '../../src/ir/sharding.js';
import { typeToString } from '../../src/ir/types.js';

// The syntax real exporters write (jax.export with Shardy, torch_xla, IREE, ByteIR): each piece
// parses into the IR, and what the IR keeps is what the text says.
const load = (text: string): Module => importModule(new SourceFile('x.mlir', text));
const here = { file: 'x.mlir', line: 1, col: 1 };

function located(t: Test, text: string, pattern: RegExp): void {
  try {
    load(text);
    t.fail('accepted');
  } catch (e) {
    t.ok(e instanceof CompileError, 'a CompileError, not a crash');
    t.match(renderDiagnostic((e as CompileError).diagnostic), pattern);
  }
}

t.test('type and attribute aliases, and locations on block arguments', async (t) => {
  const m = load(`
!pair = tuple<tensor<2xf32>, tensor<i32>>
#dn = #stablehlo<comparison_direction GT>
func.func @main(%a: tensor<2xf32>, %b: tensor<i32>) -> !pair {
  %t = stablehlo.tuple %a, %b : !pair
  %z = stablehlo.constant dense<0.0> : tensor<f32>
  %r = stablehlo.reduce(%a init: %z) across dimensions = [0] : (tensor<2xf32>, tensor<f32>) -> tensor<f32>
    reducer(%x: tensor<f32> loc("x.py":3:1), %y: tensor<f32> loc(unknown)) {
      %s = stablehlo.add %x, %y : tensor<f32>
      stablehlo.return %s : tensor<f32>
    }
  return %t : !pair
}`);
  const main = m.funcs.get('main')!;
  t.equal(typeToString(main.resultTypes[0]!), 'tuple<tensor<2xf32>, tensor<i32>>', '!pair resolves to its tuple type');
});

t.test('Shardy meshes and shardings, GSPMD strings, IREE globals with attributes', async (t) => {
  const m = load(`
#loc1 = loc("params['w']")
module @jit attributes {mhlo.num_partitions = 1 : i32} {
  sdy.mesh @mesh = <["data"=2, "model"=4]> loc(#loc1)
  sdy.mesh @empty_mesh = <[]>
  util.global private @w {noinline} = dense<1.0> : tensor<4xf32>
  "ml_program.global"() {sym_name = "g", type = tensor<1xf32>, value = dense<0.0> : tensor<1xf32>} : () -> ()
  func.func public @main(%arg0: tensor<8x16xf32> {sdy.sharding = #sdy.sharding<@mesh, [{"data"}, {"model", ?}p1], replicated={}>, ttcore.argument_type = #ttcore.argument_type<parameter>} loc("args[0]"),
                         %arg1: tensor<16xf32> {mhlo.sharding = "{devices=[2,1,4]<=[8] last_tile_dim_replicate}"})
      -> (tensor<8x16xf32> {jax.result_info = "", sdy.sharding = #sdy.sharding<@mesh, [{}, {}]>}) {
    %0 = stablehlo.custom_call @Sharding(%arg0) {mhlo.sharding = "{replicated}"} : (tensor<8x16xf32>) -> tensor<8x16xf32>
    return %0 : tensor<8x16xf32>
  }
}`);
  t.same(
    m.meshes?.get('mesh'),
    {
      name: 'mesh',
      axes: [
        { name: 'data', size: 2 },
        { name: 'model', size: 4 },
      ],
    },
    'sdy.mesh',
  );
  t.same(m.meshes?.get('empty_mesh')?.axes, [], 'an empty mesh');
  t.same(
    m.ignoredOps?.map((o) => o.name),
    ['ml_program.global'],
    'an unknown module-level op in generic form is kept by name',
  );
  t.ok(m.globals.has('w'), 'util.global with {noinline}');
  const f = m.funcs.get('main')!;
  const shard = (a: unknown): Sharding | undefined => (a as { kind: string; sharding?: Sharding })?.sharding;
  t.same(shard(f.paramAttrs![0]!['sdy.sharding']), {
    kind: 'mesh',
    mesh: 'mesh',
    dims: [
      { axes: ['data'], open: false },
      { axes: ['model'], open: true },
    ],
    replicated: [],
  });
  t.same(
    f.paramAttrs![0]!['ttcore.argument_type'],
    { kind: 'opaque', text: '#ttcore.argument_type<parameter>' },
    'a foreign dialect attribute is kept as text',
  );
  t.same(shard(f.paramAttrs![1]!['mhlo.sharding']), {
    kind: 'tiled',
    tiles: [2, 1, 4],
    devices: [0, 1, 2, 3, 4, 5, 6, 7],
    lastTileReplicated: true,
  });
  t.same(shard(f.resultAttrs![0]!['sdy.sharding']), {
    kind: 'mesh',
    mesh: 'mesh',
    dims: [
      { axes: [], open: false },
      { axes: [], open: false },
    ],
    replicated: [],
  });
  // On one device the sharding call passes its operand through.
  const x: Tensor = {
    kind: 'tensor',
    type: f.params[0]!.type as never,
    data: Float64Array.from({ length: 128 }, (_, i) => i),
  };
  const y: Tensor = { kind: 'tensor', type: f.params[1]!.type as never, data: new Float64Array(16) };
  const [r] = flattenTuples(new Interpreter(m).runFunc(f, [x, y]));
  t.equal(getElem(r as Tensor, 77), 77);
});

t.test('GSPMD sharding strings', async (t) => {
  t.same(parseGspmdSharding('{replicated}', here), { kind: 'replicated' });
  t.same(parseGspmdSharding('{manual}', here), { kind: 'manual' });
  t.same(parseGspmdSharding('{maximal device=3}', here), { kind: 'maximal', device: 3 });
  t.same(
    parseGspmdSharding('{devices=[2,2]3,2,1,0}', here),
    { kind: 'tiled', tiles: [2, 2], devices: [3, 2, 1, 0], lastTileReplicated: false },
    'an explicit device list',
  );
  // Iota [2,3] transposed: device of tile (i, j) is 3 * ... of the transposed iota: 0 3 1 4 2 5.
  t.same(
    parseGspmdSharding('{devices=[3,2]<=[2,3]T(1,0)}', here),
    { kind: 'tiled', tiles: [3, 2], devices: [0, 3, 1, 4, 2, 5], lastTileReplicated: false },
    'a transposed iota',
  );
  t.same(parseGspmdSharding('{{replicated}, {devices=[2]0,1}}', here), {
    kind: 'tuple',
    elems: [{ kind: 'replicated' }, { kind: 'tiled', tiles: [2], devices: [0, 1], lastTileReplicated: false }],
  });
  t.same(parseGspmdSharding('{devices=[1,8]<=[8] metadata={op_name="x"}}', here).kind, 'tiled', 'metadata is skipped');
  t.throws(
    () => parseGspmdSharding('{devices=[2,2]0,1,2}', here),
    /cannot read sharding/,
    'a device count that does not fill the tiles',
  );
  t.throws(() => parseGspmdSharding('{sideways}', here), /E0204|cannot read sharding/);
});

t.test('what cannot be handled is a located error', async (t) => {
  located(
    t,
    `func.func @main(%a: tensor<2xf32> {mhlo.sharding = "{devices=[2"}) -> tensor<2xf32> {\n  return %a : tensor<2xf32>\n}`,
    /^x\.mlir:1:36: error E0204: mhlo\.sharding: cannot read sharding/,
  );
  located(t, `module {\n  frob.widget @w = <1>\n}`, /^x\.mlir:2:3: error E0101: unexpected 'frob\.widget'/);
  located(
    t,
    `func.func @main(%a: tensor<2xf32>) -> tensor<2xf32> {\n  %0 = stablehlo.custom_call @byteir.softmax(%a) {byteir_attrs = {axis = 0 : i64}} : (tensor<2xf32>) -> tensor<2xf32>\n  return %0 : tensor<2xf32>\n}`,
    /^x\.mlir:2:8: error E0301: op 'custom_call @byteir\.softmax \(a vendor call target\)' is not supported by target 'xla-aot'/,
  );
});

t.test("IREE's parenthesized check form and util.unfoldable_constant", async (t) => {
  const m = load(`func.func @call() {
  %0 = util.unfoldable_constant dense<[1.0, 2.0]> : tensor<2xf32>
  %1 = stablehlo.add %0, %0 : tensor<2xf32>
  check.expect_almost_eq_const(%1, dense<[2.0, 4.0]> : tensor<2xf32>) : tensor<2xf32>
  return
}`);
  const interp = new Interpreter(m);
  interp.runFunc(m.funcs.get('call')!, []);
  t.equal(interp.session.checks.length, 1);
  t.ok(interp.session.checks[0]!.ok, 'the golden is checked');
});
