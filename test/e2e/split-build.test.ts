/**
 * Large models' kernels are split over several C files (emit-c/files.ts splitKernels), compiled at
 * once. Checked on the small CNN fixture with a small split size: the files, the prefixed kernel
 * symbols (two models link into one program), the numerics on the host (1 and 2 threads) and as
 * Cortex-M4 firmware, the generated Makefile with make -j, and --report's code and stack figures,
 * which read every kernel file.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { execa } from 'execa';
import { SourceFile } from '../../src/diag/source.js';
import { importModule } from '../../src/import/index.js';
import { compile } from '../../src/pipeline.js';
import { runCompiled } from '../../src/toolchain/run.js';
import { buildLibrary, writeFiles } from '../../src/toolchain/build.js';
import { sizeReport } from '../../src/toolchain/size-report.js';
import { cannotRunHere, lookupTarget } from '../../src/target/targets.js';
import { FIXTURES, scratchDir } from '../helpers/paths.js';
import { expectMatch, reference } from '../helpers/reference.js';

const path = join(FIXTURES, 'models', 'small_cnn.mlir');
const m = importModule(new SourceFile(path, readFileSync(path, 'utf8')));
const { args, expected } = reference(m, 'main', 3);
const SPLIT = 3000;

t.test('kernels over the split size go to several files, each kernel symbol prefixed', async (t) => {
  const r = compile(m, {
    entry: 'main',
    prefix: 'cnn',
    sourceName: 'small_cnn.mlir',
    cc: 'gcc',
    target: lookupTarget('host'),
    kernelFileBytes: SPLIT,
  });
  const parts = [...r.files.keys()].filter((f) => /^cnn_kernels\d+\.c$/.test(f));
  t.ok(parts.length >= 2, `${parts.length} kernel files`);
  t.same(
    r.objects.filter((o) => o.startsWith('cnn_kernels')),
    parts.map((p) => p.replace(/\.c$/, '.o')),
  );
  const header = r.files.get('cnn_kernels.h') as string;
  for (const k of r.kernelNames) {
    t.match(header, new RegExp(`#define ${k} cnn_${k}\\n`), `${k} renamed`);
    t.match(header, new RegExp(`RL_KERNEL void ${k}\\(`), `${k} declared`);
  }
  t.notMatch(r.files.get('cnn.c') as string, /RL_KERNEL void k\d+/, 'cnn.c defines no kernel');
  const dir = scratchDir('xla-aot-split-');
  writeFiles(dir, r);
  const make = await execa('make', ['-s', '-j2'], { cwd: dir, reject: false, all: true });
  t.equal(make.exitCode, 0, `make -j2 builds the split sources: ${make.all ?? ''}`);
  const nm = await execa('nm', ['--defined-only', 'libcnn.a'], { cwd: dir });
  t.match(nm.stdout, new RegExp(` T cnn_${r.kernelNames[0]}\\n`), 'kernel symbols carry the prefix');
  t.notMatch(nm.stdout, / T k\d+_/, 'no unprefixed kernel symbol');
});

t.test('split kernels match the interpreter with 1 and 2 threads', async (t) => {
  for (const threads of [1, 2]) {
    const run = await runCompiled(m, 'main', args, { kernelFileBytes: SPLIT, threads });
    t.ok(run.emitted.objects.length > 2, `${run.emitted.objects.join(' ')}`);
    expectMatch(t, run.outputs, expected, `small CNN, split, ${threads} thread(s)`);
  }
});

const m4 = lookupTarget('cortex-m4');
t.test(
  'split kernels as Cortex-M4 firmware, and the size report over every kernel file',
  { skip: cannotRunHere(m4) ?? false },
  async (t) => {
    const run = await runCompiled(m, 'main', args, { kernelFileBytes: SPLIT, target: m4 });
    expectMatch(t, run.outputs, expected, 'small CNN, split, on Cortex-M4');
    const dir = scratchDir('xla-aot-split-size-');
    const r = compile(m, {
      entry: 'main',
      prefix: 'model',
      sourceName: 'small_cnn.mlir',
      cc: 'gcc',
      target: m4,
      kernelFileBytes: SPLIT,
    });
    writeFiles(dir, r);
    await buildLibrary(dir, r, 'model');
    const s = await sizeReport(dir, r, 'model');
    // Each kernel counted under its op kind, as in one file (gcc may inline a helper differently).
    const kinds = [...s.codeByOpKind.keys()];
    for (const k of r.kernelNames)
      t.ok(kinds.includes(k.replace(/^k\d+_/, '')), `${k} counted (kinds: ${kinds.join(', ')})`);
    t.ok(s.stackBytes > 0 && s.stackBytes < 4096, `stack estimate ${s.stackBytes} bytes, from every kernel file`);
  },
);
