/**
 * @fileoverview The real models of ../shared/models as the backend tests run them: entry function,
 * whether they also run under ASan+UBSan (the big ones take minutes there), and which inputs
 * come from the file's RUN line rather than the seeded generator.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SourceFile } from '../../src/diag/source.js';
import { importModule } from '../../src/import/index.js';
import type { Module } from '../../src/ir/core.js';
import { SHARED } from './paths.js';

export const MODELS = join(SHARED, 'models');

export function loadModel(name: string): Module {
  return importModule(new SourceFile(join(MODELS, name), readFileSync(join(MODELS, name), 'utf8')));
}

/** The LSTM's input 0 is its documented step mask (a step whose value is exactly 0 is skipped,
 * and random floats never are, so every output would be zero); its documented data input (1..20)
 * would saturate every gate of its splat-weight cell, so that one stays random. */
export const MODEL_ENTRIES: Readonly<Record<string, { entry: string; sanitize: boolean; documented?: readonly number[] }>> = {
  'byteir_mlp_inference_mhlo.mlir': { entry: 'forward', sanitize: true },
  'iree_e2e_edge_detection.mlir': { entry: 'edge_detect_sobel_operator', sanitize: true },
  'iree_e2e_fullyconnected.mlir': { entry: 'main', sanitize: true },
  'iree_e2e_unidirectional_lstm.mlir': { entry: 'main', sanitize: true, documented: [0] },
  'iree_samples_mnist.mlir': { entry: 'predict', sanitize: true },
  'ttmlir_mnist_inference.mlir': { entry: 'main', sanitize: true },
  'gleasonk_jax_resnet_50.mlir': { entry: 'main', sanitize: false },
  'gleasonk_pt_bert.mlir': { entry: 'main', sanitize: false },
  'gleasonk_searchless_chess_9m.mlir': { entry: 'main', sanitize: false },
};
