import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import t, { type Test } from 'tap';
import { SourceFile } from '../../src/diag/source.js';
import { CompileError, renderDiagnostic } from '../../src/diag/diagnostics.js';
import { importModule } from '../../src/import/index.js';
import { Interpreter } from '../../src/interpret/eval.js';
import { runParallel } from '../../src/interpret/process-grid.js';
import { compareTensors } from '../../src/ir/compare.js';
import type { Module } from '../../src/ir/core.js';
import { makeTensor, type RtValue, type Tensor } from '../../src/ir/tensor.js';
import { parseInput } from '../../src/interpret/inputs.js';
import { toStorageBytes } from '../../src/emit-common/ctypes.js';
import { asStored, TOKEN_STORAGE } from '../../src/emit-common/program.js';
import { compile } from '../../src/pipeline.js';
import { writeFiles } from '../../src/toolchain/build.js';
import { runSpmd, runSpmdBatch } from '../../src/toolchain/spmd-run.js';
import type { DeviceGrid } from '../../src/partition/devices.js';
import { SANITIZE } from '../helpers/models.js';
import { FIXTURES, scratchDir } from '../helpers/paths.js';

// Ops with effects beyond their buffers, in compiled C: tokens (after_all, token parameters and
// results, a token carried by a loop), send / recv between devices that run different programs
// (MPMD: a sender and a receiver that both send first, two messages on one channel received in a
// loop, a message of two tensors), and infeed / outfeed through the feeds the app binds. Each
// device's results are diffed against the interpreter running the same programs on a process
// grid; the outfed bytes against the values the program also returns.
const FIXTURE = join(FIXTURES, 'partition', 'point-to-point.mlir');
const fixture = (): Module => importModule(new SourceFile(FIXTURE, readFileSync(FIXTURE, 'utf8')));
/** A tensor from `SHAPExTYPE=v,v,...` (the CLI's --input syntax). */
const tensor = (spec: string): Tensor => {
  const type = spec.slice(0, spec.indexOf('='));
  const f = importModule(
    new SourceFile('t.mlir', `func.func @f(%x: tensor<${type}>) -> tensor<${type}> { return %x : tensor<${type}> }`),
  );
  return parseInput(spec, f.funcs.get('f')!, 0) as Tensor;
};
const token: RtValue = { kind: 'token' };

const X = tensor('4x3xf32=1.5,-2,0.25,8,3,-7.5,0.125,6,-1,2.5,4,-0.5');
const Y = tensor('5xi32=3,-1,2147483647,0,-8');

/** The interpreter's results of `programs` on a 1 x n grid (tokens as the C stores them). */
function reference(m: Module, programs: string[], args: RtValue[], infeed: string[] = []): Tensor[][] {
  const flat = runParallel(new Interpreter(m), [programs], args, infeed);
  const counts = programs.map((p) => m.funcs.get(p)!.resultTypes.length);
  let next = 0;
  return counts.map((n) => flat.slice(next, (next += n)).map(asStored));
}

function expectMatch(t: Test, got: readonly (readonly Tensor[])[], want: readonly (readonly Tensor[])[]): void {
  want.forEach((outs, d) =>
    outs.forEach((w, i) => {
      const diff = compareTensors(got[d]![i]!, w);
      t.ok(diff.ok, `device ${d} result ${i}: ${diff.message}`);
    }),
  );
}

for (const comm of ['threads', 'mpi'] as const)
  t.test(`send / recv between a sender and a receiver program, ${comm}`, async (t) => {
    const m = fixture();
    const want = reference(m, ['sender', 'receiver'], [X, Y, token, token]);
    const grid: DeviceGrid = { replicas: 1, partitions: 2, comm, programs: ['sender', 'receiver'] };
    const run = await runSpmd(m, 'sender', [[X, Y, makeTensor(TOKEN_STORAGE)], [makeTensor(TOKEN_STORAGE)]], {
      grid,
      ...(comm === 'threads' ? { flags: SANITIZE } : {}),
    });
    expectMatch(t, run.outputs, want);
    t.same([...toStorageBytes(run.outputs[0]![0]!)], [...toStorageBytes(tensor('2xi64=7,-9'))], 'the sender got 7, -9');
    t.equal(run.outputs[1]![0]!.type.shape.join('x'), '4x3', "the receiver's loop sum");
  });

for (const comm of ['threads', 'mpi'] as const)
  t.test(`infeed and outfeed through the app's feeds, 2 devices, ${comm}`, async (t) => {
    const m = fixture();
    const interp = new Interpreter(m);
    const queue = ['infeed0', 'infeed1'].map((f) => interp.callFunction(f, []) as Tensor[]);
    const xs = [tensor('3xf32=1,2,3'), tensor('3xf32=-4,0.5,100')];
    const want = xs.map((x) => reference(m, ['feeds'], [x], ['infeed0', 'infeed1'])[0]!);
    const run = await runSpmd(m, 'feeds', [[xs[0]!], [xs[1]!]], {
      grid: { replicas: 1, partitions: 2, comm },
      ...(comm === 'threads' ? { flags: SANITIZE } : {}),
      infeed: queue,
    });
    expectMatch(t, run.outputs, want);
    run.outfeeds.forEach((calls, d) => {
      t.equal(calls.length, 1, `device ${d}: one outfeed call`);
      t.same(
        calls[0]!.map((b) => [...b]),
        [2, 1].map((i) => [...toStorageBytes(run.outputs[d]![i]!)]),
        `device ${d}: the outfeed got the sum and the infed integers`,
      );
    });
  });

t.test('a missing infeed value fails the run with the file it wanted', async (t) => {
  const m = fixture();
  const interp = new Interpreter(m);
  const first = interp.callFunction('infeed0', []) as Tensor[];
  await t.rejects(
    runSpmd(m, 'feeds', [[tensor('3xf32=1,2,3')]], {
      grid: { replicas: 1, partitions: 1, comm: 'threads' },
      infeed: [first],
    }),
    /infeed 1: cannot read 12 bytes/,
  );
});

t.test('a model with host feeds refuses to run until the app binds them (RL_UNAVAILABLE)', async (t) => {
  const m = fixture();
  const dir = scratchDir('xla-aot-feeds-');
  const r = compile(m, { entry: 'feeds', prefix: 'model', sourceName: 'point-to-point.mlir', cc: 'gcc' });
  writeFiles(dir, r);
  const header = String(r.files.get('model.h'));
  t.match(header, /rl_status_t model_bind_feeds\(void\* arena, const rl_feeds_t\* feeds\);/, 'the header declares it');
  t.match(
    header,
    /MODEL_ARENA_BYTES \(\d+u \+ 16u \/\* the feeds' pointer \*\/\)/,
    "the arena keeps the feeds' pointer",
  );
  writeFileSync(
    join(dir, 'app.c'),
    `#include <stdio.h>
#include <stdlib.h>
#include "model.h"
static rl_status_t never(void* u, uint32_t n, void* const* b, const size_t* s) { (void)u; (void)n; (void)b; (void)s; return RL_OUT_OF_RANGE; }
int main(void) {
  void* arena = aligned_alloc(MODEL_ARENA_ALIGNMENT, (MODEL_ARENA_BYTES + MODEL_ARENA_ALIGNMENT - 1) / MODEL_ARENA_ALIGNMENT * MODEL_ARENA_ALIGNMENT);
  float x[3] = {1, 2, 3}, m[3], s[3];
  int32_t k[2];
  const void* in[1] = {x};
  void* out[3] = {m, k, s};
  rl_feeds_t feeds = {never, NULL, NULL};
  int unbound = model_init(arena) == RL_OK ? (int)model_run(in, out, arena) : -1;
  int refused = model_bind_feeds(arena, &feeds) == RL_OK ? (int)model_run(in, out, arena) : -1;
  printf("%d %d\\n", unbound, refused);
  free(arena);
  return 0;
}
`,
  );
  await execa('gcc', ['-std=c11', '-Wall', '-Wextra', '-Werror', '-I.', 'app.c', 'model.c', '-lm', '-o', 'app'], {
    cwd: dir,
  });
  const { stdout } = await execa(join(dir, 'app'), [], { cwd: dir });
  t.equal(stdout.trim(), '3 2', 'unbound: RL_UNAVAILABLE; a feed that fails: its status (RL_OUT_OF_RANGE)');
});

t.test('tokens: a token parameter and result, after_all, on one device', async (t) => {
  const m = importModule(
    new SourceFile(
      'tokens.mlir',
      `func.func @main(%t: !stablehlo.token, %x: tensor<3xf32>) -> (!stablehlo.token, tensor<3xf32>) {
  %a = stablehlo.after_all %t, %t : !stablehlo.token
  %y = stablehlo.add %x, %x : tensor<3xf32>
  return %a, %y : !stablehlo.token, tensor<3xf32>
}`,
    ),
  );
  const r = compile(m, { entry: 'main', prefix: 'model', sourceName: 'tokens.mlir', cc: 'gcc' });
  t.same([r.inputs[0]!.shape, r.outputs[0]!.shape], [[0], [0]], 'a token is a zero-byte input and output');
  t.match(String(r.files.get('model.h')), /input 0: !stablehlo.token \(0 bytes\)/, 'the header names it a token');
  t.match(String(r.files.get('model.c')), /stablehlo.after_all: tokens carry no data/, 'after_all is no code');
});

const refusal = async (m: Module, entry: string, grid: DeviceGrid | undefined): Promise<string> => {
  try {
    compile(m, {
      entry,
      prefix: 'p',
      sourceName: 'point-to-point.mlir',
      cc: 'gcc',
      ...(grid ? { devices: grid } : {}),
    });
    return 'compiled';
  } catch (e) {
    return e instanceof CompileError ? renderDiagnostic(e.diagnostic) : String(e);
  }
};

t.test('refusals are located and say why', async (t) => {
  const m = fixture();
  t.match(
    await refusal(m, 'both', { replicas: 1, partitions: 2, comm: 'threads' }),
    /point-to-point.mlir:\d+:\d+: error E0301: .*stablehlo.send on channel 1, which devices 0, 1 receive on/,
    'a channel every device of an SPMD program receives on has no one receiver',
  );
  t.match(
    await refusal(m, 'both', undefined),
    /E0301: .*stablehlo.send \(an SPMD program: compile it with --devices N\)/,
    'send without --devices',
  );
  t.match(
    await refusal(m, 'sender', { replicas: 1, partitions: 2, comm: 'threads', programs: ['sender', 'gathers'] }),
    /E0301: .*stablehlo.all_gather in a launch whose devices run different programs/,
    'a collective beside another program',
  );
  t.match(
    await refusal(m, 'sender', { replicas: 1, partitions: 2, comm: 'threads', programs: ['sender', 'sender'] }),
    /E0301: .*stablehlo.send on channel 1, which no device receive on/,
    'a send nobody receives',
  );
});

t.test('a launch batch runs an SPMD and an MPMD launch one after the other', async (t) => {
  const m = fixture();
  const runs = await runSpmdBatch(
    [
      {
        module: m,
        entry: 'feeds',
        grid: { replicas: 1, partitions: 2, comm: 'threads' },
        inputs: [[tensor('3xf32=1,1,1')], [tensor('3xf32=2,2,2')]],
        infeed: ['infeed0', 'infeed1'].map((f) => new Interpreter(m).callFunction(f, []) as Tensor[]),
      },
      {
        module: m,
        entry: 'sender',
        grid: { replicas: 1, partitions: 2, comm: 'threads', programs: ['sender', 'receiver'] },
        inputs: [[X, Y, makeTensor(TOKEN_STORAGE)], [makeTensor(TOKEN_STORAGE)]],
      },
    ],
    {},
  );
  expectMatch(t, runs[1]!.outputs, reference(m, ['sender', 'receiver'], [X, Y, token, token]));
  expectMatch(
    t,
    runs[0]!.outputs,
    [tensor('3xf32=1,1,1'), tensor('3xf32=2,2,2')].map((x) => reference(m, ['feeds'], [x], ['infeed0', 'infeed1'])[0]!),
  );
});
