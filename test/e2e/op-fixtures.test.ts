import { join } from 'node:path';
import t from 'tap';
import { runFilesC } from '../../src/conformance/c-backend.js';
import { collectFiles, runFile } from '../../src/conformance/runner.js';
import { FIXTURES } from '../helpers/paths.js';

// The project's own op fixtures (test/fixtures/ops, StableHLO interpret style, expected values
// worked out by hand in each file's comments): the interpreter must pass their checks, and the
// compiled C must reproduce the interpreter's values.
const files = collectFiles([join(FIXTURES, 'ops')]);

t.test('interpreter passes the op fixtures', async (t) => {
  t.ok(files.length > 0);
  for (const f of files) for (const r of runFile(f)) t.equal(r.outcome, 'passed', `${r.file}#${r.index}: ${r.reason}`);
});

/** Fixtures of ops the C backend does not lower (yet): they must fail with a located E0301. */
const INTERPRETER_ONLY = ['rng_bit_generator.mlir'];

t.test('C backend reproduces the op fixtures', async (t) => {
  for (const r of await runFilesC(files, { jobs: 1 })) {
    if (INTERPRETER_ONLY.some((f) => r.file.endsWith(f)))
      t.match(r.reason, /error E0301: .* is not supported by target 'C backend'/, `${r.file}#${r.index}`);
    else t.equal(r.outcome, 'passed', `${r.file}#${r.index}: ${r.reason}`);
  }
});
