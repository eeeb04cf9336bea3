import { join } from 'node:path';
import t from 'tap';
import { runFilesC } from '../../src/conformance/c-backend.js';
import { collectFiles, summarize } from '../../src/conformance/runner.js';
import { judgeC } from '../helpers/conformance.js';
import { HAVE_SHARED, SHARED } from '../helpers/paths.js';

// The C backend over the conformance data: every case the interpreter passes is compiled
// (-Wall -Wextra -Werror), run, and the values its check ops compare (the computed operand, not
// the expected literal) are diffed against the interpreter. A case the backend cannot lower yet
// fails with a located E0301/E0303; any other failure (a numeric mismatch, C that does not compile,
// a crash) is a bug and fails this test. The cases that pass are a reviewed per-case list
// (test/fixtures/conformance-c-passes.txt): losing any one of them fails, and so does a case
// that passes without being listed (add it). Cases whose C has no kernel (it only copies
// constants) are listed apart and never count as passes. The ASan+UBSan runs are
// conformance-c-asan-{a,b}.test.ts and the clang build conformance-c-clang.test.ts (one run per
// file keeps each well inside tap's timeout).
t.test(
  'C backend matches the interpreter on the conformance data',
  { skip: HAVE_SHARED ? false : 'no ../shared/conformance' },
  async (t) => {
    const results = await runFilesC(collectFiles([join(SHARED, 'conformance')]), { jobs: 2 });
    const s = summarize(results);
    // Of the cases the interpreter passes (the others are skipped), those whose C has no kernel are
    // neither passes nor failures: the share counts the cases the C computes.
    const computed = s.passed + s.failed;
    t.comment(
      `C backend passes ${s.passed} of the ${computed} cases the interpreter passes and the C computes (${((100 * s.passed) / computed).toFixed(1)}%); ${s.no_kernel} more match without a kernel`,
    );
    judgeC(t, results, 'gcc');
    t.ok(s.passed / computed >= 0.95, 'at least 95% of the cases the interpreter passes and the C computes');
  },
);
