import t from 'tap';
import { checkModel } from '../helpers/models.js';
import { HAVE_SHARED } from '../helpers/paths.js';

// One big model per test file (its reference and C builds take from tens of seconds to minutes), so
// that no file runs near tap's timeout: compiled C matches the interpreter and every injected fault is
// caught (test/helpers/models.ts checkModel).
t.test(
  'gleasonk_pt_bert.mlir: compiled C matches the interpreter and every injected fault is caught',
  { skip: HAVE_SHARED ? false : 'no ../shared/models' },
  (t) => checkModel(t, 'gleasonk_pt_bert.mlir'),
);
