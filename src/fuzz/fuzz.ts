/**
 * @fileoverview A seeded mutation fuzzer for the whole compiler. A mutant of a real input (a token
 * deleted, doubled or replaced; an element type, a number or an op name swapped for another of the
 * op table's, same family) must end in a located diagnostic, or be accepted, interpreted, compiled
 * (-Wall -Wextra -Werror; optionally under ASan+UBSan) and match the interpreter. Anything else
 * (a JavaScript exception, C that does not build or trips a sanitizer, a wrong value) is a bug,
 * reported with the mutant. `xla-aot fuzz` runs it; make test runs a bounded sample, make fuzz a
 * long one.
 */
import { readFileSync } from 'node:fs';
import { collectFiles, splitCases } from '../conformance/runner.js';
import { CompileError } from '../diag/diagnostics.js';
import { SourceFile } from '../diag/source.js';
import { runCompiled } from '../toolchain/run.js';
import { importModule } from '../import/index.js';
import { compareTensors, integerBound, narrowestFloat } from '../ir/compare.js';
import { Interpreter } from '../interpret/eval.js';
import { randomInputs } from '../interpret/inputs.js';
import { flattenTuples, type Tensor } from '../ir/tensor.js';
import { OPS } from '../ops/index.js';
import { RuntimeError } from '../diag/diagnostics.js';

/** The programs under `paths` (directories: every .mlir), each case of a `// -----` file apart. */
export function fuzzInputs(paths: readonly string[]): { name: string; text: string }[] {
  return collectFiles(paths).flatMap((file) =>
    splitCases(readFileSync(file, 'utf8')).map((c, i) => ({ name: `${file}#${i + 1}`, text: c.text })),
  );
}

export type FuzzOutcome = 'diagnostic' | 'refused' | 'match' | 'bug';

export interface FuzzResult {
  readonly outcome: FuzzOutcome;
  /** For bugs: what went wrong. */
  readonly detail?: string;
}

/** A 32-bit LCG: the same seed gives the same mutants on every machine. */
export class Rng {
  constructor(private state: number) {}
  next(n: number): number {
    this.state = (Math.imul(this.state, 1103515245) + 12345) >>> 0;
    return (this.state >>> 8) % n;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.next(xs.length)]!;
  }
}

const ELEM_TYPES = ['f32', 'f16', 'bf16', 'f64', 'i1', 'i8', 'i32', 'i64', 'ui8', 'ui32'];
const NUMBERS = ['0', '1', '-1', '2', '5', '64', '99999999999', '-2147483648'];
/** Op names by category, for structure-aware swaps (an add for a multiply, a reduce-family op for another). */
const OPS_BY_CATEGORY = new Map<string, string[]>();
for (const def of OPS.values())
  if (def.name.startsWith('stablehlo.'))
    OPS_BY_CATEGORY.set(def.category, [
      ...(OPS_BY_CATEGORY.get(def.category) ?? []),
      def.name.slice('stablehlo.'.length),
    ]);

/** One mutation of `text`. */
export function mutate(text: string, rng: Rng): string {
  const tokens = [
    ...text.matchAll(/[A-Za-z_][A-Za-z0-9_.]*|-?\d+(\.\d+)?(e[-+]?\d+)?|%[A-Za-z0-9_#]+|[^\sA-Za-z0-9_]/g),
  ];
  const tok = rng.pick(tokens);
  const word = tok[0];
  const replace = (by: string): string => text.slice(0, tok.index) + by + text.slice(tok.index! + word.length);
  const shortName = word.replace(/^stablehlo\./, '');
  const family = [...OPS_BY_CATEGORY.values()].find((names) => names.includes(shortName));
  switch (rng.next(6)) {
    case 0:
      return replace('');
    case 1:
      return replace(`${word} ${word}`);
    case 2:
      return replace(rng.pick(NUMBERS));
    case 3:
      return replace(ELEM_TYPES.includes(word) ? rng.pick(ELEM_TYPES) : rng.pick(['f32', 'i32', ']', ',', '(', '?']));
    case 4:
      return family
        ? replace(`${word.startsWith('stablehlo.') ? 'stablehlo.' : ''}${rng.pick(family)}`)
        : replace(rng.pick(NUMBERS));
    default: {
      // Structure: drop or repeat a whole line.
      const lines = text.split('\n');
      const i = rng.next(lines.length);
      if (rng.next(2)) lines.splice(i, 1);
      else lines.splice(i, 0, lines[i]!);
      return lines.join('\n');
    }
  }
}

const located = (message: string): boolean => /^[^\s:]+:\d+:\d+: error/.test(message);

/** Runs one program through import, the interpreter and the C backend; judges the outcome. */
export async function fuzzOne(name: string, text: string, flags: readonly string[] = []): Promise<FuzzResult> {
  let m;
  try {
    m = importModule(new SourceFile(name, text));
  } catch (e) {
    if (e instanceof CompileError && e.diagnostic.loc) return { outcome: 'diagnostic' };
    return { outcome: 'bug', detail: `import: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}` };
  }
  const f = m.funcs.get('main') ?? [...m.funcs.values()].find((g) => g.visibility === 'public' && g.body);
  if (!f?.body) return { outcome: 'diagnostic' };
  let args: Tensor[];
  let expected: Tensor[];
  let checksAsOutputs = false;
  try {
    const interp = new Interpreter(m);
    args = randomInputs(f, 1, m) as Tensor[];
    const results = flattenTuples(interp.runFunc(f, args));
    checksAsOutputs = results.length === 0 && interp.session.checks.length > 0;
    expected = (checksAsOutputs ? interp.session.checks.map((c) => c.value!) : results) as Tensor[];
  } catch (e) {
    if ((e instanceof CompileError && e.diagnostic.loc) || (e instanceof RuntimeError && located(e.message)))
      return { outcome: 'diagnostic' };
    return { outcome: 'bug', detail: `interpreter: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}` };
  }
  if (args.some((a) => a.kind !== 'tensor') || expected.some((x) => x?.kind !== 'tensor'))
    return { outcome: 'refused' };
  try {
    const run = await runCompiled(m, f.name, args, { checksAsOutputs, flags });
    const computedIn = narrowestFloat(m);
    const quantum = integerBound(m);
    const wrong =
      run.outputs.length !== expected.length
        ? `${run.outputs.length} outputs, ${expected.length} expected`
        : run.outputs.map((o, i) => compareTensors(o, expected[i]!, computedIn, quantum)).find((d) => !d.ok)?.message;
    return wrong ? { outcome: 'bug', detail: `C differs from the interpreter: ${wrong}` } : { outcome: 'match' };
  } catch (e) {
    if (e instanceof CompileError && e.diagnostic.loc && /^E030/.test(e.diagnostic.code)) return { outcome: 'refused' };
    return { outcome: 'bug', detail: `C backend: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}` };
  }
}

export interface FuzzReport {
  readonly counts: Record<FuzzOutcome, number>;
  readonly bugs: { readonly source: string; readonly mutant: string; readonly detail: string }[];
}

/** Mutants of `inputs` (name, text) from `seed`, until `seconds` have passed or `max` were run. */
export async function fuzz(
  inputs: readonly { name: string; text: string }[],
  seed: number,
  seconds: number,
  max = Infinity,
  flags: readonly string[] = [],
): Promise<FuzzReport> {
  const rng = new Rng(seed);
  const counts: Record<FuzzOutcome, number> = { diagnostic: 0, refused: 0, match: 0, bug: 0 };
  const bugs: { source: string; mutant: string; detail: string }[] = [];
  const end = Date.now() + seconds * 1000;
  for (let k = 0; k < max && Date.now() < end; k++) {
    const input = rng.pick(inputs);
    const mutant = mutate(input.text, rng);
    const r = await fuzzOne(input.name, mutant, flags);
    counts[r.outcome]++;
    if (r.outcome === 'bug') bugs.push({ source: input.name, mutant, detail: r.detail! });
  }
  return { counts, bugs };
}
