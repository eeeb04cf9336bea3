import t from 'tap';
import { checkModel, MODEL_ENTRIES } from '../helpers/models.js';
import { HAVE_SHARED } from '../helpers/paths.js';

// The six small models of ../shared/models: compiled C matches the interpreter (also under
// ASan+UBSan), and every injected fault is caught (test/helpers/models.ts checkModel).
const BIG = ['gleasonk_jax_resnet_50.mlir', 'gleasonk_pt_bert.mlir', 'gleasonk_searchless_chess_9m.mlir'];

t.test(
  'small models: compiled C matches the interpreter and every injected fault is caught',
  { skip: HAVE_SHARED ? false : 'no ../shared/models' },
  async (t) => {
    for (const name of Object.keys(MODEL_ENTRIES).filter((n) => !BIG.includes(n)))
      await t.test(name, (t) => checkModel(t, name));
  },
);
