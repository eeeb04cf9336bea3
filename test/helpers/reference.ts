/**
 * @fileoverview The reference side of a backend test: seeded random inputs for a function and
 * the reference interpreter's results on them.
 */
import type { Func, Module } from '../../src/ir/core.js';
import { Interpreter } from '../../src/interpret/eval.js';
import { randomInputs } from '../../src/interpret/inputs.js';
import type { Tensor } from '../../src/interpret/tensor.js';

export function reference(m: Module, entry: string, seed: number): { f: Func; args: Tensor[]; expected: Tensor[] } {
  const f = m.funcs.get(entry)!;
  const args = randomInputs(f, seed) as Tensor[];
  return { f, args, expected: new Interpreter(m).runFunc(f, args) as Tensor[] };
}
