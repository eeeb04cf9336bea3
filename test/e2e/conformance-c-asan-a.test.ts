import t from 'tap';
import { runFilesC } from '../../src/conformance/c-backend.js';
import { SANITIZE } from '../helpers/models.js';
import { HAVE_SHARED } from '../helpers/paths.js';
import { conformanceHalf, judgeC } from '../helpers/conformance.js';

// The conformance cases built with AddressSanitizer and UndefinedBehaviorSanitizer: any report
// (out of bounds, misaligned access, signed overflow, ...) fails its case, and so this test. Half
// 'a' of the files (conformanceHalf): the two halves run as two files, each well inside tap's timeout.
t.test(
  'C backend runs clean under ASan+UBSan on the conformance data (half a)',
  { skip: HAVE_SHARED ? false : 'no ../shared/conformance' },
  async (t) => {
    const { files, within } = conformanceHalf('a');
    judgeC(t, await runFilesC(files, { jobs: 2, flags: SANITIZE, comms: ['threads'] }), 'gcc ASan+UBSan', within);
  },
);
