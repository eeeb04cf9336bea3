import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type Result } from 'execa';
import t from 'tap';
import { CLI, FIXTURES, ROOT } from '../helpers/paths.js';

// Each malformed input must give exactly its expected file:line:col diagnostic, exit 1, no stack trace.
const dir = join(FIXTURES, 'errors');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.mlir'))
  .sort();

t.ok(files.length >= 30, `${files.length} malformed-input fixtures`);
// The CLI runs on every fixture up front, a few processes at a time (each is mostly node's start-up).
const rel = (f: string): string => join('test', 'fixtures', 'errors', f);
const runs = new Map<string, Promise<Result>>();
const started: Promise<unknown>[] = [];
for (const [i, f] of files.entries()) {
  const run = (i < 3 ? Promise.resolve() : started[i - 3]!).then(() =>
    execa('node', [CLI, 'interpret', rel(f)], { cwd: ROOT, reject: false }),
  );
  started.push(run.catch(() => undefined));
  runs.set(f, run);
}
for (const f of files) {
  t.test(f, async (t) => {
    const r = await runs.get(f)!;
    const expected = readFileSync(join(dir, `${f}.expected`), 'utf8');
    t.equal(r.exitCode, 1, 'exit code 1');
    t.equal(r.stderr + '\n', expected, 'diagnostic matches');
    t.match(
      r.stderr,
      new RegExp(`^${rel(f).replace(/[.]/g, '\\.')}:\\d+:\\d+: error E\\d{4}: `),
      'starts with file:line:col',
    );
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });
}
