import { join } from 'node:path';
import t from 'tap';
import { runFilesC } from '../../src/conformance/c-backend.js';
import { collectFiles } from '../../src/conformance/runner.js';
import { judgeC } from '../helpers/conformance.js';
import { SANITIZE } from '../helpers/models.js';
import { HAVE_SHARED, SHARED } from '../helpers/paths.js';

// The same cases built with AddressSanitizer and UndefinedBehaviorSanitizer: any report (out of
// bounds, misaligned access, signed overflow, ...) fails its case, and so this test.
t.test('C backend runs clean under ASan+UBSan on the conformance data', { skip: HAVE_SHARED ? false : 'no ../shared/conformance' }, async (t) => {
  judgeC(t, await runFilesC(collectFiles([join(SHARED, 'conformance')]), 2, 'gcc', SANITIZE), 'gcc ASan+UBSan', () => true);
});

