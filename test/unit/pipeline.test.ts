/**
 * The pipeline's phases, each checked on its own output (src/pipeline.ts): the tensor-level
 * phases' MLIR re-imports, verifies and prints the same; the flat program is well formed after
 * flatten, canonicalize and fusion (flat/verify.ts); the arena plan has no two live buffers
 * overlapping (memory/plan.ts planProblems); every kernel op is lowered and emitted. And each of
 * those checks fails on a program broken on purpose.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { SourceFile } from '../../src/diag/source.js';
import { importModule } from '../../src/import/index.js';
import { printModule } from '../../src/ir/print.js';
import { flatProblems } from '../../src/flat/verify.js';
import { planProblems, type MemoryPlan } from '../../src/memory/plan.js';
import { externalValues, planSteps } from '../../src/emit-common/program.js';
import { importPhases, PHASE_NAMES, runPipeline, type PhaseName, type PhaseResult } from '../../src/pipeline.js';
import type { FlatOp, FlatProgram } from '../../src/flat/program.js';
import { FIXTURES, HAVE_SHARED, SHARED } from '../helpers/paths.js';

const CASES: readonly { file: string; entry: string; what: string }[] = [
  { file: join(SHARED, 'models', 'iree_e2e_fullyconnected.mlir'), entry: 'main', what: 'GEMMs with fused epilogues' },
  {
    file: join(SHARED, 'models', 'iree_e2e_unidirectional_lstm.mlir'),
    entry: 'main',
    what: 'a loop (labels, branches, edge copies)',
  },
  { file: join(SHARED, 'models', 'iree_samples_mnist.mlir'), entry: 'predict', what: 'IREE globals' },
  {
    file: join(SHARED, 'exports', 'ttmlir_e2e_tp_gspmd.mlir'),
    entry: 'main',
    what: 'GSPMD manual regions (partition)',
  },
  { file: join(FIXTURES, 'spmd', 'shardy.mlir'), entry: 'main', what: 'Shardy manual computation' },
  { file: join(SHARED, 'conformance', 'interpret', 'case.mlir'), entry: 'main', what: 'a switch' },
];

/** Runs every phase on `file`, collecting each phase's result and its printed form. */
function allPhases(
  file: string,
  entry: string,
): { results: Map<PhaseName, PhaseResult>; dumps: Map<PhaseName, string> } {
  const results = new Map<PhaseName, PhaseResult>();
  const dumps = new Map<PhaseName, string>();
  const control = {
    dumpAfter: PHASE_NAMES,
    dump: (p: PhaseName, text: string) => dumps.set(p, text),
    observe: (r: PhaseResult) => results.set(r.phase, r),
  };
  const m = importPhases(new SourceFile(file, readFileSync(file, 'utf8')), control)!;
  const fn = m.funcs.has(entry) ? entry : [...m.funcs.values()].find((f) => f.visibility === 'public' && f.body)!.name;
  runPipeline(m, {
    entry: fn,
    prefix: 'model',
    sourceName: 'x.mlir',
    cc: 'gcc',
    checksAsOutputs: ![...m.funcs.get(fn)!.resultTypes].length,
    ...control,
  });
  return { results, dumps };
}

const planOf = (
  r: PhaseResult | undefined,
): { steps: ReturnType<typeof planSteps>; plan: MemoryPlan; r: Extract<PhaseResult, { phase: 'memory' }> } => {
  if (r?.phase !== 'memory') throw new Error('no memory phase result');
  return { steps: planSteps(r.fused), plan: r.plan, r };
};

for (const c of CASES) {
  t.test(
    `every phase of ${c.file.split('/').pop()} (${c.what})`,
    { skip: HAVE_SHARED ? false : 'no ../shared' },
    async (t) => {
      const { results, dumps } = allPhases(c.file, c.entry);
      t.same([...dumps.keys()], PHASE_NAMES, 'a dump after every phase, in order');
      for (const phase of PHASE_NAMES) t.ok(dumps.get(phase)!.trim().length > 0, `${phase}: the dump is not empty`);
      for (const phase of ['import', 'verify', 'partition'] as const) {
        const r = results.get(phase)!;
        if (r.phase !== phase) throw new Error(phase);
        const text = printModule(r.module);
        const again = importModule(new SourceFile(`${phase}.mlir`, text));
        t.equal(printModule(again), text, `${phase}: the printed module re-imports, verifies and prints the same`);
      }
      const partitioned = results.get('partition')!;
      if (c.what.includes('manual') && partitioned.phase === 'partition')
        t.notMatch(
          printModule(partitioned.module),
          /SPMDFullToShardShape|SPMDShardToFullShape/,
          'partition: no manual region is left',
        );
      for (const phase of ['flatten', 'canonicalize'] as const) {
        const r = results.get(phase)!;
        if (r.phase !== phase) throw new Error(phase);
        t.same(flatProblems(r.prog), [], `${phase}: the flat program is well formed`);
      }
      const fusion = results.get('fusion')!;
      if (fusion.phase !== 'fusion') throw new Error('fusion');
      t.same(flatProblems(fusion.fused.c.prog, fusion.order), [], 'fusion: kernels and control steps are well formed');
      const { steps, plan, r } = planOf(results.get('memory'));
      t.same(
        planProblems(steps, plan, externalValues(r.fused), r.fused.c.prog.outputs, (s) => r.fused.c.elemBytes(s)),
        [],
        'memory: no two live buffers overlap',
      );
      const lower = results.get('lower')!;
      if (lower.phase !== 'lower') throw new Error('lower');
      t.equal(lower.kernels.length, r.fused.kernelOps.length, 'lower: one kernel per kernel op');
      const emit = results.get('emit')!;
      if (emit.phase !== 'emit') throw new Error('emit');
      // model.c, or for a large model the kernel files it is split into (model_kernels*.c).
      const sources = [...emit.result.files]
        .filter(([name]) => /^model(_kernels\d+)?\.c$/.test(name))
        .map(([, text]) => text as string)
        .join('\n');
      t.ok(
        lower.kernels.every((k) => sources.match(new RegExp(`^RL_KERNEL void ${k.name}\\(`, 'm'))),
        'emit: the C sources define every kernel',
      );
    },
  );
}

t.test('the phase checks fail on broken programs', { skip: HAVE_SHARED ? false : 'no ../shared' }, async (t) => {
  const { results } = allPhases(CASES[0]!.file, 'main');
  const r = results.get('canonicalize')!;
  if (r.phase !== 'canonicalize') throw new Error('canonicalize');
  const kernels = r.prog.ops.filter((f) => !r.prog.control.has(f));
  // Drop the op that defines a value a later op reads.
  const victim = kernels.find((f) => kernels.some((g) => g !== f && g.ins.includes(f.outs[0]!)))!;
  const broken: FlatProgram = { ...r.prog, ops: r.prog.ops.filter((f) => f !== victim) };
  t.match(flatProblems(broken).join('\n'), /which nothing defines/, 'a read of an undefined value is found');
  const twice: FlatOp[] = [...r.prog.ops, victim];
  t.match(flatProblems(r.prog, twice).join('\n'), /defined twice/, 'a value defined twice is found');
  const { steps, plan, r: mem } = planOf(results.get('memory'));
  const allAtZero: MemoryPlan = { ...plan, offsets: new Map([...plan.offsets.keys()].map((s) => [s, 0])) };
  t.match(
    planProblems(steps, allAtZero, externalValues(mem.fused), mem.fused.c.prog.outputs, (s) =>
      mem.fused.c.elemBytes(s),
    ).join('\n'),
    /overlap while both are live/,
    'overlapping live buffers are found',
  );
});
