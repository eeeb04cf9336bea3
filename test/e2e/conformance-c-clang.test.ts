import { join } from 'node:path';
import { execa } from 'execa';
import t from 'tap';
import { runFilesC } from '../../src/conformance/c-backend.js';
import { collectFiles } from '../../src/conformance/runner.js';
import { judgeC } from '../helpers/conformance.js';
import { HAVE_SHARED, SHARED } from '../helpers/paths.js';

// The same cases built with clang (-Wall -Wextra -Werror too): `make test` installs it.
t.test(
  'clang builds the generated C as well',
  { skip: HAVE_SHARED ? false : 'no ../shared/conformance' },
  async (t) => {
    const which = await execa('sh', ['-c', 'command -v clang'], { reject: false });
    t.equal(which.exitCode, 0, 'clang is installed (make toolchains)');
    if (which.exitCode !== 0) return;
    const results = await runFilesC(collectFiles([join(SHARED, 'conformance', 'interpret')]), {
      jobs: 2,
      cc: 'clang',
      comms: ['threads'],
    });
    judgeC(t, results, 'clang', (id) => / interpret\//.test(id));
  },
);
