/**
 * @fileoverview The reference side of a backend test: inputs for a function (seeded random ones
 * drawn within the ranges the program shows, or the ones its authors documented in the file's RUN
 * line), the reference interpreter's results on them, and the comparison every backend test
 * makes: same number of outputs, each matching within the stated tolerances, and each reference
 * informative (finite and varied: a test whose expected values are all NaN, all zero or one
 * repeated value could not fail, so it fails).
 */
import { readFileSync } from 'node:fs';
import type { Test } from 'tap';
import { compareTensors, degenerate } from '../../src/ir/compare.js';
import type { Func, Module } from '../../src/ir/core.js';
import { typeToString } from '../../src/ir/types.js';
import { Interpreter } from '../../src/interpret/eval.js';
import { parseInput, randomInputs } from '../../src/interpret/inputs.js';
import { flattenTuples, getElem, size, type Tensor } from '../../src/ir/tensor.js';

/** Inputs from the first RUN line's `--input="..."` flags of a model file (IREE's e2e tests). */
function documentedInputs(m: Module, f: Func): Tensor[] {
  const run = /^\/\/ RUN:.*$/m.exec(readFileSync(m.source.name, 'utf8'))?.[0] ?? '';
  const specs = [...run.matchAll(/--input="([^"]+)"/g)].map((x) => x[1]!);
  if (specs.length !== f.params.length)
    throw new Error(
      `${m.source.name}: the RUN line documents ${specs.length} inputs, @${f.name} takes ${f.params.length}`,
    );
  return specs.map((s, i) => parseInput(s, f, i) as Tensor);
}

/** Seeded random inputs of `entry` (those whose indexes are in `documented`: the file's own). */
export function referenceInputs(m: Module, entry: string, seed: number, documented: readonly number[] = []): Tensor[] {
  const f = m.funcs.get(entry)!;
  const random = randomInputs(f, seed, m) as Tensor[];
  const own = documented.length ? documentedInputs(m, f) : [];
  return random.map((x, i) => (documented.includes(i) ? own[i]! : x));
}

/** Seeded random inputs (referenceInputs) and the interpreter's results. */
export function reference(
  m: Module,
  entry: string,
  seed: number,
  documented: readonly number[] = [],
): { f: Func; args: Tensor[]; expected: Tensor[] } {
  const f = m.funcs.get(entry)!;
  const args = referenceInputs(m, entry, seed, documented);
  return { f, args, expected: flattenTuples(new Interpreter(m).runFunc(f, args)) as Tensor[] };
}

/** Asserts that `outputs` match `expected` one for one, and that each expected tensor is
 * informative (degenerate() finds nothing; with `allFinite`, no element is NaN or infinite). */
export function expectMatch(
  t: Test,
  outputs: readonly Tensor[],
  expected: readonly Tensor[],
  label: string,
  allFinite = false,
  computedIn?: string,
): void {
  t.equal(outputs.length, expected.length, `${label}: ${expected.length} output(s)`);
  expected.forEach((want, i) => {
    const why = degenerate(want);
    t.notOk(why, `${label} output ${i}: the reference is informative${why ? ` (${why})` : ''}`);
    if (allFinite) {
      let bad = 0;
      const n = size(want);
      for (let k = 0; k < n; k++)
        if ([getElem(want, k)].flat().some((v) => typeof v === 'number' && !Number.isFinite(v))) bad++;
      t.equal(bad, 0, `${label} output ${i}: every reference element is finite`);
    }
    const got = outputs[i];
    if (!got) return;
    const d = compareTensors(got, want, computedIn);
    t.ok(d.ok, `${label} output ${i} (${typeToString(want.type)}): ${d.message}`);
  });
}

/** Asserts each of `got`'s f32/f64 outputs bitwise equal to `want`'s (another thread count, say). */
export function sameBits(t: Test, got: readonly Tensor[], want: readonly Tensor[], label: string): void {
  got.forEach((o, i) =>
    t.same(Array.from(o.data as Float64Array), Array.from(want[i]!.data as Float64Array), `${label} ${i}`),
  );
}

/** Asserts every integer of `got` within one of `want`'s (and `want` informative). */
export function withinOneQuantum(t: Test, got: readonly Tensor[], want: readonly Tensor[], label: string): void {
  t.equal(got.length, want.length, `${label}: ${want.length} output(s)`);
  want.forEach((w, i) => {
    t.notOk(degenerate(w), `${label}: the reference output ${i} is informative`);
    let worst = 0;
    let offByOne = 0;
    for (let k = 0; k < size(w); k++) {
      const d = Math.abs(Number(getElem(got[i]!, k)) - Number(getElem(w, k)));
      worst = Math.max(worst, d);
      if (d === 1) offByOne++;
    }
    t.ok(
      worst <= 1,
      `${label}: output ${i} within one quantum of the interpreter's (${offByOne} of ${size(w)} off by one)`,
    );
  });
}
