/**
 * Embedded and cross targets: real models and the fixtures built for Cortex-M (firmware under
 * qemu-system-arm), aarch64 and armv7a (qemu-user), diffed against the reference interpreter with
 * the per-dtype tolerances of src/ir/compare.ts; the flash/RAM report read from the built
 * objects; and the CLI around targets. `make test` installs the toolchains (make toolchains).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import t from 'tap';
import { SourceFile } from '../../src/diag/source.js';
import { buildLibrary, writeFiles } from '../../src/toolchain/build.js';
import { compile } from '../../src/pipeline.js';
import { runCompiled } from '../../src/toolchain/run.js';
import { FORBIDDEN_CALLS, sizeReport } from '../../src/toolchain/size-report.js';
import { importModule } from '../../src/import/index.js';
import { Interpreter } from '../../src/interpret/eval.js';
import { parseInput, randomInputs } from '../../src/interpret/inputs.js';
import { fromStorageBytes } from '../../src/emit-common/ctypes.js';
import { getElem, size, type Tensor } from '../../src/ir/tensor.js';
import { cannotRunHere, lookupTarget, TARGETS } from '../../src/target/targets.js';
import { CLI, FIXTURES, HAVE_SHARED, ROOT, SHARED, scratchDir } from '../helpers/paths.js';
import { expectMatch, reference } from '../helpers/reference.js';
import { countWorkload } from '../../src/bench/embedded.js';
import { gemmModule, randomFloats } from '../../src/bench/models.js';

const load = (path: string) => importModule(new SourceFile(path, readFileSync(path, 'utf8')));
const model = (name: string) => join(SHARED, 'models', name);
const fixture = (name: string) => join(FIXTURES, 'models', name);

interface Case {
  readonly path: string;
  readonly entry: string;
  readonly targets: readonly string[];
  /** Inputs taken from the file's RUN line (the LSTM's step mask: see c-backend.test.ts). */
  readonly documented?: readonly number[];
}

const EVERY = ['cortex-m4', 'cortex-m55', 'aarch64', 'cortex-m3', 'cortex-m7', 'armv7a'];
const CASES: Record<string, Case> = {
  'MNIST MLP (iree samples)': { path: model('iree_samples_mnist.mlir'), entry: 'predict', targets: EVERY },
  'small CNN fixture': { path: fixture('small_cnn.mlir'), entry: 'main', targets: EVERY },
  'attention fixture': { path: fixture('attention.mlir'), entry: 'main', targets: EVERY },
  'LSTM (iree e2e)': {
    path: model('iree_e2e_unidirectional_lstm.mlir'),
    entry: 'main',
    targets: EVERY,
    documented: [0],
  },
  'edge detection (iree e2e)': {
    path: model('iree_e2e_edge_detection.mlir'),
    entry: 'edge_detect_sobel_operator',
    targets: ['cortex-m4', 'cortex-m55', 'aarch64'],
  },
  'fully connected (iree e2e)': {
    path: model('iree_e2e_fullyconnected.mlir'),
    entry: 'main',
    targets: [...EVERY, 'cortex-m0'],
  },
  'MLP (byteir)': {
    path: model('byteir_mlp_inference_mhlo.mlir'),
    entry: 'forward',
    targets: ['cortex-m4', 'cortex-m55', 'aarch64'],
  },
};

t.test(
  'models and fixtures on embedded and cross targets match the interpreter',
  { skip: HAVE_SHARED ? false : 'no ../shared/models' },
  async (t) => {
    for (const [name, c] of Object.entries(CASES)) {
      t.test(name, async (t) => {
        const m = load(c.path);
        const { args, expected } = reference(m, c.entry, 7, c.documented);
        for (const target of c.targets)
          expectMatch(
            t,
            (await runCompiled(m, c.entry, args, { target: lookupTarget(target) })).outputs,
            expected,
            target,
            true,
          );
      });
    }
  },
);

t.test(
  'a model that does not fit the board is refused before linking, with the numbers',
  { skip: HAVE_SHARED ? false : 'no ../shared/models' },
  async (t) => {
    const m = load(model('iree_e2e_unidirectional_lstm.mlir'));
    const args = randomInputs(m.funcs.get('main')!, 7) as Tensor[];
    await t.rejects(
      runCompiled(m, 'main', args, { target: lookupTarget('cortex-m0') }),
      /does not fit the RAM of cortex-m0's test board microbit: arena \d+ \+ outputs \d+ \+ stack \d+ bytes > 16384 bytes/,
    );
  },
);

t.test(
  'MCU report: flash and RAM from the built objects, code per op kind, no allocation or I/O',
  { skip: HAVE_SHARED ? false : 'no ../shared/models' },
  async (t) => {
    const reports: string[] = [];
    for (const [name, c] of Object.entries(CASES).slice(0, 4)) {
      for (const targetName of ['cortex-m4', 'cortex-m55']) {
        const dir = scratchDir('xla-aot-size-');
        const m = load(c.path);
        const target = lookupTarget(targetName);
        const r = compile(m, { entry: c.entry, prefix: 'model', sourceName: 'm.mlir', cc: 'gcc', target });
        writeFiles(dir, r);
        await buildLibrary(dir, r, 'model');
        const s = await sizeReport(dir, r, 'model');
        t.ok(
          s.rodataBytes >= r.weightBytes,
          `${name} on ${targetName}: weights (${r.weightBytes} bytes) are read-only data (${s.rodataBytes})`,
        );
        t.equal(s.flashBytes, s.textBytes + s.rodataBytes + s.dataBytes + s.libraryBytes);
        if (s.needs.libm.length)
          t.ok(s.libraryBytes > 0, `${name} on ${targetName}: flash counts the linked libm routines`);
        // f32 models accumulate in f32 on microcontrollers: no software double routines.
        t.same(
          s.needs.compilerRuntime.filter((x) => /^__aeabi_d|df[0-9]$/.test(x)),
          [],
          `${name} on ${targetName}: no double-precision routines linked`,
        );
        t.equal(s.ramBytes, s.arenaBytes + s.dataBytes + s.bssBytes + s.stackBytes);
        t.ok(s.stackBytes > 0 && s.stackBytes < 4096, `${name} on ${targetName}: stack estimate ${s.stackBytes} bytes`);
        t.equal(s.bssBytes, 0, 'no mutable globals: the arena belongs to the caller');
        const kinds = [...s.codeByOpKind.keys()];
        t.ok(
          kinds.includes('run') && kinds.some((k) => /dot|convolution/.test(k)),
          `${name} on ${targetName}: code by op kind ${kinds.join(', ')}`,
        );
        const all = [...s.needs.libc, ...s.needs.libm, ...s.needs.compilerRuntime];
        t.same(
          all.filter((x) => FORBIDDEN_CALLS.test(x)),
          [],
          'no malloc, stdio or exit',
        );
        t.ok(
          s.needs.libm.every((x) => /^[a-z]+f?$/.test(x)),
          `libm needs are libm functions: ${s.needs.libm.join(', ') || 'none'}`,
        );
        reports.push(
          `${name} ${targetName}: flash ${s.flashBytes} RAM ${s.ramBytes} (arena ${s.arenaBytes}, stack ${s.stackBytes}) libm [${s.needs.libm.join(' ')}]`,
        );
      }
    }
    t.comment(reports.join('\n'));
    // A model without transcendental math needs no libm at all.
    const dir = scratchDir('xla-aot-size-');
    const r = compile(load(model('iree_e2e_fullyconnected.mlir')), {
      entry: 'main',
      prefix: 'model',
      sourceName: 'm.mlir',
      cc: 'gcc',
      target: lookupTarget('cortex-m4'),
    });
    writeFiles(dir, r);
    await buildLibrary(dir, r, 'model');
    t.same(
      (await sizeReport(dir, r, 'model')).needs.libm,
      [],
      'fully connected (adds, dots, max, select) links without libm',
    );
  },
);

t.test(
  'maximum and minimum on M-profile cores (compare-and-branch rl_maxf/rl_minf): NaN, +-0, +-inf, subnormals exact',
  async (t) => {
    const a = 'nan,1,nan,0,-0,0,-0,inf,-inf,2,-3,5,-inf,inf,1e-40,-1e-40';
    const b = '1,nan,nan,-0,0,0,-0,-inf,inf,2,3,-5,-inf,1,-1e-40,1e-40';
    const src = [
      'func.func @main(%a: tensor<16xf32>, %b: tensor<16xf32>) -> (tensor<16xf32>, tensor<16xf32>) {',
      '  %x = stablehlo.maximum %a, %b : tensor<16xf32>',
      '  %n = stablehlo.minimum %a, %b : tensor<16xf32>',
      '  return %x, %n : tensor<16xf32>, tensor<16xf32>',
      '}',
    ].join('\n');
    const m = importModule(new SourceFile('minmax.mlir', src));
    const f = m.funcs.get('main')!;
    const args = [parseInput(`16xf32=${a}`, f, 0), parseInput(`16xf32=${b}`, f, 1)] as Tensor[];
    const expected = new Interpreter(m).runFunc(f, args) as Tensor[];
    const spell = (x: Tensor) =>
      Array.from({ length: 16 }, (_, k) => getElem(x, k) as number).map((v) =>
        Number.isNaN(v) ? 'nan' : Object.is(v, -0) ? '-0' : String(v),
      );
    for (const target of ['cortex-m4', 'cortex-m3']) {
      const got = (await runCompiled(m, 'main', args, { target: lookupTarget(target) })).outputs;
      expected.forEach((want, i) =>
        t.same(
          spell(got[i]!),
          spell(want),
          `${target} ${i ? 'minimum' : 'maximum'}: every element as the interpreter's`,
        ),
      );
    }
  },
);

t.test('instruction counting of bench-embedded: firmware under QEMU -icount counts what the model runs', async (t) => {
  // Twice the columns, twice the work: the count measures the model's run, not a constant, and
  // a scalar FPU needs at least one instruction per multiply-accumulate; on Helium (four f32
  // lanes) at least one per four. (Cross-checked once by hand on Cortex-M55: a single-stepped
  // trace of gemm 64^3 ran 142617 instructions in its micro-kernel, the count 154406 in all.)
  for (const [target, lanes] of [
    ['cortex-m4', 1],
    ['cortex-m55', 4],
  ] as const) {
    const counts: number[] = [];
    for (const n of [64, 128]) {
      const w = { name: `gemm_1x256x${n}`, mlir: gemmModule(1, 256, n, randomFloats(256 * n, 0.1, 3)), macs: 256 * n };
      const c = await countWorkload(w, target, scratchDir('xla-aot-count-'));
      t.ok(c.ok, `${w.name} on ${target}: ${c.message}`);
      t.ok(
        c.instructions > w.macs / lanes,
        `${w.name} on ${target}: ${c.instructions} instructions for ${w.macs} MACs`,
      );
      counts.push(c.instructions);
    }
    const ratio = counts[1]! / counts[0]!;
    t.ok(ratio > 1.8 && ratio < 2.2, `${target}: twice the columns, ${ratio.toFixed(3)} times the instructions`);
  }
});

const cli = (args: string[]) => execa('node', [CLI, ...args], { cwd: ROOT, reject: false });

t.test(
  'CLI: --target=arm-cortex --firmware --report builds firmware that runs under QEMU',
  { skip: HAVE_SHARED ? false : 'no ../shared/models' },
  async (t) => {
    const dir = scratchDir('xla-aot-fw-');
    const r = await cli([
      model('iree_e2e_fullyconnected.mlir'),
      '--target=arm-cortex',
      '--firmware',
      '--report',
      '-o',
      dir,
      '--input=1x5xf32=1,-2,-3,4,-5',
      '--input=1x5x3x1xf32=15,14,13,12,11,10,9,8,7,6,5,4,3,2,1',
    ]);
    t.equal(r.exitCode, 0, r.stderr);
    t.match(r.stdout, /flash \(cortex-m4\): \d+ bytes/);
    t.match(r.stdout, /RAM \(cortex-m4\): \d+ bytes .* = arena \d+ \+ data \d+ \+ bss \d+ \+ stack estimate \d+/);
    t.match(r.stdout, /code by op kind: .*dot \d+/);
    t.match(r.stdout, 'libm: not needed');
    const runLine = /run the firmware: (.*)$/m.exec(r.stdout)?.[1];
    t.ok(runLine, 'prints the QEMU command');
    const [cmd, ...args] = runLine!.split(' ');
    const out = await execa(cmd!, args, { reject: false, stdin: 'ignore' });
    t.equal(out.exitCode, 0, 'firmware exits 0 over semihosting');
    t.match(out.stdout, /XLA-AOT BEGIN model status 0\nXLA-AOT OUTPUT 0 100\n/);
    // Every output value (25 f32, hex over semihosting) against the interpreter on the same inputs.
    const m = load(model('iree_e2e_fullyconnected.mlir'));
    const f = m.funcs.get('main')!;
    const [want] = new Interpreter(m).runFunc(f, [
      parseInput('1x5xf32=1,-2,-3,4,-5', f, 0),
      parseInput('1x5x3x1xf32=15,14,13,12,11,10,9,8,7,6,5,4,3,2,1', f, 1),
    ]) as Tensor[];
    const hex = Buffer.from(
      /XLA-AOT OUTPUT 0 100\n([0-9a-f\n]+)XLA-AOT END/.exec(out.stdout)![1]!.replace(/\n/g, ''),
      'hex',
    );
    expectMatch(t, [fromStorageBytes(hex, want!.type)], [want!], 'firmware');
  },
);

t.test('CLI: targets are listed, unknown ones and misuse are clear errors', async (t) => {
  const list = await cli(['--list-targets']);
  t.equal(list.exitCode, 0);
  for (const target of TARGETS) t.match(list.stdout, new RegExp(`^${target.name}\\b`, 'm'), `${target.name} listed`);
  t.match(list.stdout, /cortex-m4 \(alias: arm-cortex\)/);
  t.match(list.stdout, /cc: arm-none-eabi-gcc .*-mcpu=cortex-m55/);
  const src = join(FIXTURES, 'models', 'attention.mlir');
  const bad = await cli([src, '--target=riscv', '-o', scratchDir('xla-aot-')]);
  t.equal(bad.exitCode, 1);
  t.match(bad.stderr, "unknown target 'riscv': expected one of host, x86-64-v3");
  const hosted = await cli([src, '--target=aarch64', '--firmware', '-o', scratchDir('xla-aot-')]);
  t.equal(hosted.exitCode, 1);
  t.match(hosted.stderr, "--firmware is for bare-metal targets; 'aarch64' is hosted");
  t.notMatch(bad.stderr + hosted.stderr, /\n\s+at /, 'no stack traces');
});

t.test('every target toolchain package is installed by make toolchains', async (t) => {
  const makefile = readFileSync(join(ROOT, 'Makefile'), 'utf8');
  const listed = /^TOOLCHAIN_PACKAGES :=(.*)$/m.exec(makefile)?.[1]?.trim().split(/\s+/) ?? [];
  for (const target of TARGETS)
    for (const p of target.packages) t.ok(listed.includes(p), `${target.name}: ${p} in TOOLCHAIN_PACKAGES`);
});

t.test('x86-64-v3/v4 and generic-c builds match the interpreter where the CPU runs them', async (t) => {
  const m = load(fixture('attention.mlir'));
  const {
    args,
    expected: [expected],
  } = reference(m, 'main', 5);
  for (const name of ['x86-64-v3', 'x86-64-v4', 'generic-c', 'host']) {
    const target = lookupTarget(name);
    const why = cannotRunHere(target);
    if (why) {
      t.pass(`${name}: not run`, { skip: why });
      continue;
    }
    expectMatch(t, (await runCompiled(m, 'main', args, { target })).outputs, [expected!], name);
  }
});

t.test(
  'CLI: run --target diffs a QEMU run against the interpreter; --report lists fusion groups and SIMD kernels',
  async (t) => {
    const src = fixture('small_cnn.mlir');
    const run = await cli(['run', src, '--target', 'cortex-m55', '--random-seed', '2']);
    t.equal(run.exitCode, 0, run.stderr);
    t.match(run.stdout, /result\[0\] vs interpreter: match/);
    const dir = scratchDir('xla-aot-report-');
    const report = await cli([src, '-o', dir, '--report']);
    t.equal(report.exitCode, 0, report.stderr);
    t.match(report.stdout, /fusion groups: \d+\n  k2_fused_maximum: broadcast_in_dim \(\d+:\d+\), add/);
    t.match(report.stdout, /read-only image \(host\): \d+ bytes/);
    const m55 = await cli([src, '-o', dir, '--report', '--target', 'cortex-m55', '--emit', 'c']);
    t.match(
      m55.stdout,
      /SIMD \(helium\): \d+ of \d+ kernels: k0_convolution, k1_reduce_window, k2_fused_maximum, /,
      'the report names the kernels written with Helium vectors',
    );
  },
);

// Integer loops in Helium vectors (rl_simd.h's rl_vn: i32 lanes holding 8- and 16-bit values
// exactly): widening loads of i8, u8 and i16, i32 arithmetic, converts that wrap (to i8, u8, i16,
// u16: values far outside their range; an i8 maximum after one), narrowing stores; exact against
// the interpreter. 37 elements: 9 vectors and a scalar remainder of 1.
t.test('integer loops in Helium vectors wrap, widen and narrow exactly as the interpreter', async (t) => {
  const ty = (e: string) => `tensor<37x${e}>`;
  // Each output its own chain (a value two chains read would be a loop of its own).
  const k = (name: string, v: number) => `  %${name} = stablehlo.constant dense<${v}> : ${ty('i32')}`;
  const src = [
    `func.func @main(%x: ${ty('i32')}, %a: ${ty('i8')}, %b: ${ty('ui8')}, %c: ${ty('i16')}) -> (${ty('i8')}, ${ty('ui8')}, ${ty('i16')}, ${ty('ui16')}, ${ty('i32')}) {`,
    ...[k('k0', 77), k('k1', 91), k('k2', 1000), k('k3', 3), k('k4', 5), k('lo', -500000), k('hi', 500000)],
    `  %aw = stablehlo.convert %a : (${ty('i8')}) -> ${ty('i32')}`,
    `  %m0 = stablehlo.multiply %x, %k0 : ${ty('i32')}`,
    `  %s0 = stablehlo.add %m0, %aw : ${ty('i32')}`,
    `  %n0 = stablehlo.convert %s0 : (${ty('i32')}) -> ${ty('i8')}`,
    `  %f0 = stablehlo.constant dense<-50> : ${ty('i8')}`,
    `  %o0 = stablehlo.maximum %n0, %f0 : ${ty('i8')}`,
    `  %m1 = stablehlo.multiply %x, %k1 : ${ty('i32')}`,
    `  %o1 = stablehlo.convert %m1 : (${ty('i32')}) -> ${ty('ui8')}`,
    `  %bw = stablehlo.convert %b : (${ty('ui8')}) -> ${ty('i32')}`,
    `  %m2 = stablehlo.multiply %bw, %k2 : ${ty('i32')}`,
    `  %s2 = stablehlo.add %m2, %x : ${ty('i32')}`,
    `  %o2 = stablehlo.convert %s2 : (${ty('i32')}) -> ${ty('i16')}`,
    `  %cw = stablehlo.convert %c : (${ty('i16')}) -> ${ty('i32')}`,
    `  %m3 = stablehlo.multiply %cw, %k3 : ${ty('i32')}`,
    `  %s3 = stablehlo.subtract %m3, %x : ${ty('i32')}`,
    `  %o3 = stablehlo.convert %s3 : (${ty('i32')}) -> ${ty('ui16')}`,
    `  %m4 = stablehlo.multiply %x, %k4 : ${ty('i32')}`,
    `  %o4 = stablehlo.clamp %lo, %m4, %hi : ${ty('i32')}`,
    `  return %o0, %o1, %o2, %o3, %o4 : ${ty('i8')}, ${ty('ui8')}, ${ty('i16')}, ${ty('ui16')}, ${ty('i32')}`,
    '}',
  ].join('\n');
  const m = importModule(new SourceFile('int_lanes.mlir', src));
  const f = m.funcs.get('main')!;
  const values = (g: (i: number) => number) => Array.from({ length: 37 }, (_, i) => g(i)).join(',');
  const args = [
    parseInput(`37xi32=${values((i) => i * 7919 - 150000)}`, f, 0),
    parseInput(`37xi8=${values((i) => ((i * 37) % 256) - 128)}`, f, 1),
    parseInput(`37xui8=${values((i) => (i * 101) % 256)}`, f, 2),
    parseInput(`37xi16=${values((i) => ((i * 4099) % 65536) - 32768)}`, f, 3),
  ] as Tensor[];
  const want = new Interpreter(m).runFunc(f, args) as Tensor[];
  const { outputs, emitted } = await runCompiled(m, 'main', args, { target: lookupTarget('cortex-m55') });
  const c = emitted.files.get('model.c') as string;
  for (const form of ['load_s8', 'load_u8', 'load_s16', 'wrap_s8', 'wrap_u8', 'wrap_s16', 'wrap_u16', 'store_u16'])
    t.ok(c.includes(`rl_vn_${form}(`), `rl_vn_${form} is used`);
  const elems = (x: Tensor) => Array.from({ length: 37 }, (_, k) => getElem(x, k));
  want.forEach((w, i) => {
    t.same(elems(outputs[i]!), elems(w), `output ${i} (${w.type.elem.name}) equals the interpreter's`);
    t.ok(new Set(elems(w)).size > 20, `output ${i} is informative`);
  });
});

// Helium's integer GEMM with K within one vector (int-gemm.ts emitOneVectorColumnDot: one A load
// per row, every column in one call): K = 16 int8 (a whole vector), 9 int8 (predicated, as a
// one-channel 3 x 3 window) and 6 int16 (predicated, 8 lanes), into 7, 5 and 3 columns; exact.
t.test('Helium integer dots with K within one vector equal the interpreter', async (t) => {
  const cases = [
    { k: 16, n: 7, a: 'i8' },
    { k: 9, n: 5, a: 'i8' },
    { k: 6, n: 3, a: 'i16' },
  ];
  let seed = 17;
  const int = (bound: number): number => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) % (2 * bound)) - bound;
  const lines = cases.flatMap(({ k, n, a }, i) => [
    `  %w${i} = stablehlo.constant dense<[${Array.from({ length: k }, () => `[${Array.from({ length: n }, () => int(128)).join(', ')}]`).join(', ')}]> : tensor<${k}x${n}xi8>`,
    `  %d${i} = stablehlo.dot_general %x${i}, %w${i}, contracting_dims = [1] x [0] : (tensor<5x${k}x${a}>, tensor<${k}x${n}xi8>) -> tensor<5x${n}xi32>`,
  ]);
  const params = cases.map(({ k, a }, i) => `%x${i}: tensor<5x${k}x${a}>`).join(', ');
  const results = cases.map(({ n }) => `tensor<5x${n}xi32>`).join(', ');
  const src = [
    `func.func @main(${params}) -> (${results}) {`,
    ...lines,
    `  return ${cases.map((_, i) => `%d${i}`).join(', ')} : ${results}`,
    '}',
  ].join('\n');
  const m = importModule(new SourceFile('one_vector.mlir', src));
  const f = m.funcs.get('main')!;
  const args = cases.map(({ k, a }, i) =>
    parseInput(`5x${k}x${a}=${Array.from({ length: 5 * k }, () => int(a === 'i8' ? 128 : 30000)).join(',')}`, f, i),
  ) as Tensor[];
  const want = new Interpreter(m).runFunc(f, args) as Tensor[];
  const { outputs, emitted } = await runCompiled(m, 'main', args, { target: lookupTarget('cortex-m55') });
  const c = emitted.files.get('model.c') as string;
  t.equal(
    c.match(/for \(rl_index_t j = 0; j < \d+; \+\+j\) c\[j\] = rl_vd_dot0_s(8|16)\(x/g)?.length,
    3,
    'one call per row',
  );
  const elems = (x: Tensor) => Array.from({ length: size(x) }, (_, k) => getElem(x, k));
  want.forEach((w, i) =>
    t.same(elems(outputs[i]!), elems(w), `dot ${i} (K = ${cases[i]!.k}) equals the interpreter's`),
  );
});

// Int8 order ops in byte vectors on cores with the DSP extension (rl_simd.h rl_vb: SSUB8 + SEL on
// four int8 in a word): maximum and minimum of 37 pairs (9 words and a remainder of 1) including
// -128 against 127 (a difference that needs 9 bits), and a 2 x 2 max pooling of 8 channels;
// exact against the interpreter on Cortex-M4 and M7, and the byte vectors used.
t.test('int8 maximum, minimum and max pooling in SIMD32 byte vectors on Cortex-M4 and M7', async (t) => {
  const ty = 'tensor<37xi8>';
  const [img, pooled] = ['tensor<1x4x4x8xi8>', 'tensor<1x2x2x8xi8>'];
  const src = [
    `func.func @main(%a: ${ty}, %b: ${ty}, %x: ${img}) -> (${ty}, ${ty}, ${pooled}) {`,
    `  %mx = stablehlo.maximum %a, %b : ${ty}`,
    `  %mn = stablehlo.minimum %a, %b : ${ty}`,
    '  %init = stablehlo.constant dense<-128> : tensor<i8>',
    `  %p = "stablehlo.reduce_window"(%x, %init) ({\n  ^bb0(%u: tensor<i8>, %v: tensor<i8>):\n    %m = stablehlo.maximum %u, %v : tensor<i8>\n    stablehlo.return %m : tensor<i8>\n  }) {window_dimensions = array<i64: 1, 2, 2, 1>, window_strides = array<i64: 1, 2, 2, 1>} : (${img}, tensor<i8>) -> ${pooled}`,
    `  return %mx, %mn, %p : ${ty}, ${ty}, ${pooled}`,
    '}',
  ].join('\n');
  const m = importModule(new SourceFile('bytes.mlir', src));
  const f = m.funcs.get('main')!;
  // Every pair of the extremes and their neighbours first (-128 against 127 included), then a
  // spread of values.
  const edge = [-128, 127, -1, 0, 1, -127, 126];
  const pairs = edge.flatMap((x) => edge.map((y) => [x, y] as const)).slice(0, 37);
  const spread = (n: number, k: number) => Array.from({ length: n }, (_, i) => ((i * k * 37) % 256) - 128).join(',');
  const args = [
    parseInput(`37xi8=${pairs.map(([x]) => x).join(',')}`, f, 0),
    parseInput(`37xi8=${pairs.map(([, y]) => y).join(',')}`, f, 1),
    parseInput(`1x4x4x8xi8=${spread(128, 5)}`, f, 2),
  ] as Tensor[];
  const want = new Interpreter(m).runFunc(f, args) as Tensor[];
  const elems = (x: Tensor) => Array.from({ length: size(x) }, (_, k) => getElem(x, k));
  for (const target of ['cortex-m4', 'cortex-m7']) {
    const { outputs, emitted } = await runCompiled(m, 'main', args, { target: lookupTarget(target) });
    const c = emitted.files.get('model.c') as string;
    for (const form of ['rl_vb_max', 'rl_vb_min']) t.ok(c.includes(`${form}(`), `${target}: ${form} is used`);
    want.forEach((w, i) => t.same(elems(outputs[i]!), elems(w), `${target}: output ${i} equals the interpreter's`));
  }
  t.ok(elems(want[0]!).map(Number).includes(127) && elems(want[1]!).map(Number).includes(-128), 'the extremes meet');
});

// Helium's in-order GEMM tiles in two k steps per pass (emit-c/gemm.ts kLoop's pairs): rows read
// in place over an even K (one LDRD per row for both steps), with several rows (rows past the
// tile's end alias its first), an odd K (one step per pass), and a convolution whose taps have an
// even channel count (indirect rows); on Cortex-M55 under QEMU against the interpreter.
const PAIRS = `func.func @main(%a: tensor<5x40xf32>, %b: tensor<40x8xf32>, %c: tensor<5x41xf32>, %d: tensor<41x8xf32>, %x: tensor<1x6x6x16xf32>, %w: tensor<3x3x16x8xf32>) -> (tensor<5x8xf32>, tensor<5x8xf32>, tensor<1x6x6x8xf32>) {
  %0 = stablehlo.dot_general %a, %b, contracting_dims = [1] x [0] : (tensor<5x40xf32>, tensor<40x8xf32>) -> tensor<5x8xf32>
  %1 = stablehlo.dot_general %c, %d, contracting_dims = [1] x [0] : (tensor<5x41xf32>, tensor<41x8xf32>) -> tensor<5x8xf32>
  %2 = stablehlo.convolution(%x, %w) dim_numbers = [b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f], window = {stride = [1, 1], pad = [[1, 1], [1, 1]]} {batch_group_count = 1 : i64, feature_group_count = 1 : i64} : (tensor<1x6x6x16xf32>, tensor<3x3x16x8xf32>) -> tensor<1x6x6x8xf32>
  func.return %0, %1, %2 : tensor<5x8xf32>, tensor<5x8xf32>, tensor<1x6x6x8xf32>
}
`;

t.test('Cortex-M55 GEMM tiles taking k steps in pairs match the interpreter', async (t) => {
  const target = lookupTarget('cortex-m55');
  const why = cannotRunHere(target);
  if (why) return t.pass('cortex-m55: not run', { skip: why });
  const m = importModule(new SourceFile('pairs.mlir', PAIRS));
  const { args, expected } = reference(m, 'main', 10);
  const run = await runCompiled(m, 'main', args, { target });
  const c = run.emitted.files.get('model.c') as string;
  t.equal(c.match(/RL_F32_PAIR_NEXT\(a0,/g)?.length, 2, 'the even-K product and the convolution take pairs');
  expectMatch(t, run.outputs, expected, 'pairs on Cortex-M55');
});
