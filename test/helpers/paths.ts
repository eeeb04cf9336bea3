/**
 * @fileoverview Paths shared by the tests: repository root, fixtures, and ../shared (the
 * read-only conformance data and models beside the checkout).
 */
import { existsSync } from 'node:fs';
import tmp from 'tmp';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// Tests run from dist/test/**; the repository root is two levels above dist/.
const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(here, '..', '..', '..');
export const FIXTURES = join(ROOT, 'test', 'fixtures');
export const SHARED = resolve(ROOT, '..', 'shared');
export const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
export const HAVE_SHARED = existsSync(join(SHARED, 'conformance'));

// Scratch directories are removed when the test process exits.
tmp.setGracefulCleanup();

/** A fresh scratch directory (removed with everything in it when the test process exits). */
export function scratchDir(prefix: string): string {
  return tmp.dirSync({ prefix, unsafeCleanup: true }).name;
}
