import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import t from 'tap';
import { CLI, HAVE_SHARED, ROOT, SHARED, scratchDir } from '../helpers/paths.js';

const cli = (args: string[]) => execa('node', [CLI, ...args], { cwd: ROOT, reject: false });

t.test('interpret: literal inputs, printed results, .npy outputs', async (t) => {
  const dir = scratchDir('xla-aot-');
  const src = join(dir, 'm.mlir');
  writeFileSync(
    src,
    'func.func @main(%a: tensor<2x2xf32>, %b: tensor<2x2xf32>) -> tensor<2x2xf32> {\n  %0 = stablehlo.dot_general %a, %b, contracting_dims = [1] x [0] : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>\n  func.return %0 : tensor<2x2xf32>\n}\n',
  );
  const r = await cli(['interpret', src, '--input=2x2xf32=1,2,3,4', '--input=2x2xf32=5,6,7,8', '--output-dir', dir]);
  t.equal(r.exitCode, 0, r.stderr);
  t.match(r.stdout, '[[1.900000e+01, 2.200000e+01], [4.300000e+01, 5.000000e+01]]');
  const npy = readFileSync(join(dir, 'result0.npy'));
  t.equal(npy.subarray(1, 6).toString(), 'NUMPY');
  const data = new Float32Array(npy.buffer.slice(npy.byteOffset + npy.length - 16, npy.byteOffset + npy.length));
  t.same(Array.from(data), [19, 22, 43, 50], 'npy payload');
  // The written file is accepted back as an input.
  const again = await cli(['interpret', src, `--input=@${join(dir, 'result0.npy')}`, '--input=2x2xf32=1,0,0,1']);
  t.match(again.stdout, '[[1.900000e+01, 2.200000e+01], [4.300000e+01, 5.000000e+01]]');
});

t.test('interpret: bad inputs are clear errors', async (t) => {
  const dir = scratchDir('xla-aot-');
  const src = join(dir, 'm.mlir');
  writeFileSync(src, 'func.func @main(%a: tensor<2xi32>) -> tensor<2xi32> {\n  func.return %a : tensor<2xi32>\n}\n');
  const wrongType = await cli(['interpret', src, '--input=2xf32=1,2']);
  t.equal(wrongType.exitCode, 1);
  t.match(wrongType.stderr, 'does not match the parameter type tensor<2xi32>');
  const tooFew = await cli(['interpret', src]);
  t.match(tooFew.stderr, 'takes 1 input(s), 0 given');
  const missing = await cli(['interpret', join(dir, 'nope.mlir')]);
  t.match(missing.stderr, 'cannot read');
  t.notMatch(missing.stderr + tooFew.stderr + wrongType.stderr, /\n\s+at /, 'no stack traces');
});

t.test('interpret: failing check exits 1 and names it', async (t) => {
  const dir = scratchDir('xla-aot-');
  const src = join(dir, 'c.mlir');
  writeFileSync(
    src,
    'func.func @main() {\n  %0 = stablehlo.constant dense<[1, 2]> : tensor<2xi32>\n  check.expect_eq_const %0, dense<[1, 3]> : tensor<2xi32>\n  func.return\n}\n',
  );
  const r = await cli(['interpret', src]);
  t.equal(r.exitCode, 1);
  t.match(r.stderr, `${src}:3:3: error E0302: check failed: check.expect_eq_const`);
});

t.test(
  'conformance --json prints the summary object last',
  { skip: HAVE_SHARED ? false : 'no ../shared' },
  async (t) => {
    const r = await cli([
      'conformance',
      join(SHARED, 'conformance', 'interpret', 'add.mlir'),
      join(SHARED, 'conformance', 'testdata', 'dynamic'),
      '--json',
      '--jobs',
      '2',
    ]);
    const last = r.stdout.trim().split('\n').pop()!;
    const s = JSON.parse(last) as Record<string, number>;
    t.same(Object.keys(s), ['total', 'passed', 'failed', 'skipped', 'disabled', 'parse_only', 'no_check', 'no_kernel']);
    t.equal(s['passed'], 21, 'every add.mlir case passes');
    t.equal(s['parse_only'], 388, 'dynamic/ files are parse-only');
    t.equal(r.exitCode, 0);
  },
);

t.test(
  'run: a wrong program is a mismatch; a degenerate reference is inconclusive, never a match',
  { skip: HAVE_SHARED ? false : 'no ../shared' },
  async (t) => {
    const fc = join(SHARED, 'models', 'iree_e2e_fullyconnected.mlir');
    const inputs = ['--input=1x5xf32=1,-2,-3,4,-5', '--input=1x5x3x1xf32=15,14,13,12,11,10,9,8,7,6,5,4,3,2,1'];
    const good = await cli(['run', fc, ...inputs]);
    t.equal(good.exitCode, 0, good.stdout + good.stderr);
    t.match(good.stdout, /result\[0\] vs interpreter: match/);
    const faulty = await cli(['run', fc, ...inputs, '--inject-fault', 'drop-last-term']);
    t.equal(faulty.exitCode, 1, 'the injected fault is caught');
    t.match(faulty.stdout, /injected fault \(drop-last-term\): last term of 3 reduction\(s\)/);
    t.match(faulty.stdout, /result\[0\] vs interpreter: \d+ of 25 differ/);
    // The LSTM skips every step whose mask input is exactly 0; random floats never are, so its
    // outputs are all zero: nothing could fail, so nothing is claimed.
    const lstm = await cli(['run', join(SHARED, 'models', 'iree_e2e_unidirectional_lstm.mlir'), '--random-seed', '3']);
    t.equal(lstm.exitCode, 1);
    t.match(
      lstm.stdout,
      /result\[0\] vs interpreter: inconclusive: the reference result is degenerate \(all 50 elements are 0\)/,
    );
    const interp = await cli([
      'interpret',
      join(SHARED, 'models', 'iree_e2e_unidirectional_lstm.mlir'),
      '--random-seed',
      '3',
    ]);
    t.match(interp.stderr, /warning: result\[0\] is degenerate \(all 50 elements are 0\)/);
  },
);

t.test('compile --compile-to / --dump-after: the program after any phase; nothing written when stopped', async (t) => {
  const dir = scratchDir('xla-aot-');
  const src = join(dir, 'm.mlir');
  writeFileSync(
    src,
    'func.func @main(%a: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<4xf32> {\n  %0 = stablehlo.add %a, %b : tensor<4xf32>\n  %1 = stablehlo.multiply %0, %b : tensor<4xf32>\n  func.return %1 : tensor<4xf32>\n}\n',
  );
  const out = join(dir, 'out');
  const expected: Record<string, RegExp> = {
    import: /"stablehlo\.add"\(%arg0, %arg1\)/,
    verify: /"stablehlo\.multiply"\(%0, %arg1\)/,
    partition: /func\.func @main/,
    quantize: /"stablehlo\.multiply"/,
    flatten: /%s\d+ = stablehlo\.add\(%s0, %s1\)/,
    canonicalize: /output 0 = %s\d+/,
    fusion: /= fused\(%s0, %s1\) \{/,
    memory: /\/\/ arena: \d+ bytes/,
    lower: /kernel k0_fused_\w+\(in in0: f32\[4\], in in1: f32\[4\], out out0: f32\[4\]\)/,
    emit: /\/\/ ===== model\.c =====/,
  };
  for (const [phase, shows] of Object.entries(expected)) {
    const r = await cli([src, '-o', out, `--compile-to=${phase}`]);
    t.equal(r.exitCode, 0, r.stderr);
    t.match(r.stdout, new RegExp(`^// ----- after ${phase} -----\n`), `${phase}: headed dump`);
    t.match(r.stdout, shows, `${phase}: shows the program`);
  }
  t.notOk(existsSync(out), '--compile-to writes no files');
  const all = await cli([src, '-o', out, '--emit=c', '--dump-after=all']);
  t.equal(all.exitCode, 0, all.stderr);
  t.same(
    [...all.stdout.matchAll(/^\/\/ ----- after (\w+) -----$/gm)].map((m) => m[1]),
    Object.keys(expected),
    'every phase dumped, in order',
  );
  t.ok(existsSync(join(out, 'model.c')), '--dump-after goes on and writes the files');
  const bad = await cli([src, '-o', join(dir, 'bad'), '--compile-to=codegen']);
  t.equal(bad.exitCode, 2, 'an unknown phase is a usage error');
  t.match(bad.stderr, /Choices: "import", "verify", "partition"/);
  t.notOk(existsSync(join(dir, 'bad')), 'nothing runs after a usage error');
});

t.test('a missing file or folder is a clear error for every command, never a stack trace', async (t) => {
  for (const args of [
    ['conformance', '/nonexistent/x.mlir'],
    ['fuzz', '/nonexistent/x.mlir', '--seconds', '1'],
    ['run', '/nonexistent/x.mlir'],
    ['/nonexistent/x.mlir'],
  ]) {
    const r = await cli(args);
    t.equal(r.exitCode, 1, `${args[0]}: exit 1`);
    t.match(r.stderr, /^xla-aot: error: cannot read \/nonexistent\/x\.mlir$/m, `${args[0]}: names the path`);
    t.notMatch(r.stderr, /internal error|    at /, `${args[0]}: no stack trace`);
  }
});

t.test('a dynamic shape is a located refusal of the C and CUDA backends, not C that fails to build', async (t) => {
  const dir = scratchDir('xla-aot-');
  const src = join(dir, 'dynamic.mlir');
  writeFileSync(
    src,
    'func.func @main(%a: tensor<?x3xf32>) -> tensor<?x3xf32> {\n  %0 = stablehlo.add %a, %a : tensor<?x3xf32>\n  return %0 : tensor<?x3xf32>\n}\n',
  );
  for (const target of [[], ['--target', 'cuda', '--emit', 'c']]) {
    const r = await cli([src, '-o', join(dir, 'out'), ...target]);
    t.equal(r.exitCode, 1, `${target[1] ?? 'c'}: exit 1`);
    t.match(r.stderr, /dynamic\.mlir:1:1: error E0301: .*dynamic shape tensor<\?x3xf32>/);
    t.notOk(existsSync(join(dir, 'out', 'model.c')), 'no C written');
  }
});
