import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import t from 'tap';
import { CLI, FIXTURES, ROOT } from '../helpers/paths.js';

// Each malformed input must give exactly its expected file:line:col diagnostic, exit 1, no stack trace.
const dir = join(FIXTURES, 'errors');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.mlir'))
  .sort();

t.ok(files.length >= 30, `${files.length} malformed-input fixtures`);
for (const f of files) {
  t.test(f, async (t) => {
    const rel = join('test', 'fixtures', 'errors', f);
    const r = await execa('node', [CLI, 'interpret', rel], { cwd: ROOT, reject: false });
    const expected = readFileSync(join(dir, `${f}.expected`), 'utf8');
    t.equal(r.exitCode, 1, 'exit code 1');
    t.equal(r.stderr + '\n', expected, 'diagnostic matches');
    t.match(
      r.stderr,
      new RegExp(`^${rel.replace(/[.]/g, '\\.')}:\\d+:\\d+: error E\\d{4}: `),
      'starts with file:line:col',
    );
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });
}
