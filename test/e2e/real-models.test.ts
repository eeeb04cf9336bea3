/**
 * The bench's real models (src/bench/real-models.ts) at test size, every layer kind of the full
 * ones (ResNet-50's bottlenecks at an eighth of the width on 32x32 images, MobileNetV2's depthwise
 * blocks at 32x32, a 64-wide BERT layer of 4 heads, an LSTM of 8 steps): the StableHLO side
 * compiled for the host (the ResNet also with two threads) matches the interpreter. `make bench`
 * checks the same writers' ONNX side against it at full size (ONNX Runtime is not a test
 * dependency).
 */
import t from 'tap';
import { SourceFile } from '../../src/diag/source.js';
import { importModule } from '../../src/import/index.js';
import { bertLayer, lstm, mobilenetV2, resnet50 } from '../../src/bench/real-models.js';
import { runCompiled } from '../../src/toolchain/run.js';
import { expectMatch, reference } from '../helpers/reference.js';

const models = [resnet50(1, 0.125, 32), mobilenetV2(1, 32), bertLayer(16, 64, 4, 128), lstm(8, 16, 32)];

for (const bm of models)
  t.test(bm.name, async (t) => {
    const m = importModule(new SourceFile(`${bm.name}.mlir`, bm.mlir));
    const { args, expected } = reference(m, 'main', 5);
    // Two threads for the ResNet only (the pool's paths are the same kernels; c-backend tests them).
    for (const threads of bm.name.startsWith('resnet') ? [1, 2] : [1])
      expectMatch(
        t,
        (await runCompiled(m, 'main', args, { threads })).outputs,
        expected,
        `${bm.name}, ${threads} thread(s)`,
        true,
      );
  });
