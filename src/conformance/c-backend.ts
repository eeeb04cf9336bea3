/**
 * @fileoverview `conformance --backend c|cuda`: every case the interpreter passes is compiled (to C,
 * or to CUDA run through rl_cuda.h's host emulation)
 * with its check ops turned into outputs, and the compiled values are diffed against the
 * interpreter's (tolerances: ir/compare.ts). The value a check op compares is its computed
 * operand (ops/control.ts checkedOperand), never the expected literal. Cases are batched (BATCH
 * per compiler call), with one harness executable per batch; a batch that fails to build is
 * split in halves until the failing cases are alone, so one bad case cannot hide the others.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import tmp from 'tmp';
import { CompileError, error, renderDiagnostic } from '../diag/diagnostics.js';
import { SourceFile } from '../diag/source.js';
import { NVCC, writeFiles } from '../toolchain/build.js';
import { gencodeFlags } from '../emit-cuda/emit.js';
import { fromStorageBytes } from '../emit-common/ctypes.js';
import { CFLAGS } from '../emit-c/emit.js';
import { CUDA_EMULATION_FLAGS, deviceArch } from '../toolchain/run.js';
import { VERSION, type EmitResult } from '../emit-common/program.js';
import { compile } from '../pipeline.js';
import { UNWRITTEN_BYTE, type FaultKind } from '../flat/faults.js';
import { render } from '../emit-common/templates.js';
import { importModule, readSourceFile } from '../import/index.js';
import { compareTensors } from '../ir/compare.js';
import { Interpreter } from '../interpret/eval.js';
import type { RtValue, Tensor } from '../ir/tensor.js';
import { entryFunctions, runFile, splitCases, type CaseResult } from './runner.js';
import { readTextIfExists } from '../util/files.js';
import { prepareSpmd, runSpmdCases, type SpmdCase } from './spmd.js';
import type { DeviceGrid } from '../partition/devices.js';

// Build directories are removed when the process exits (tests once left hundreds of GB of them).
tmp.setGracefulCleanup();

interface Candidate {
  readonly file: string;
  readonly index: number;
  readonly prefix: string;
  readonly emitted: EmitResult;
  readonly expected: readonly Tensor[];
}

/** Cases per compiler call: CUDA batches are one translation unit, where a bigger batch saves
 * nvcc's and g++'s per-call header work. */
const BATCH = { c: 40, cuda: 100 };

/** The backend a run compiles for: C, or CUDA run through rl_cuda.h's host emulation. */
export type Backend = 'c' | 'cuda';

/** Interprets a case and emits C for it; returns a candidate or the case's final result. */
function prepare(
  file: string,
  text: string,
  index: number,
  prefix: string,
  backend: Backend,
  fault?: FaultKind,
): Candidate | CaseResult {
  const source = new SourceFile(file, text);
  try {
    const m = importModule(source);
    const entries = entryFunctions(m);
    const unsupported = (what: string): CaseResult => ({
      file,
      index,
      outcome: 'failed',
      reason: renderDiagnostic(
        error('E0301', { op: what, target: `${backend === 'cuda' ? 'CUDA' : 'C'} backend` }).diagnostic,
      ),
    });
    if (entries.length !== 1) return unsupported(`a case with ${entries.length} entry functions`);
    const f = entries[0]!;
    const interp = new Interpreter(m);
    interp.runFunc(f, []);
    const values: RtValue[] = interp.session.checks.map((c) => c.value!);
    if (values.length === 0) return unsupported('a case without check ops (nothing to compare)');
    if (values.some((v) => v?.kind !== 'tensor')) return unsupported('tokens or tuples as results');
    // No constant folding here: the inputs of these cases are constants, and folding would hand
    // the whole case to the op table's own evaluator instead of testing the generated C.
    const emitted = compile(m, {
      entry: f.name,
      prefix,
      sourceName: file.split('/').pop()!,
      cc: 'gcc',
      checksAsOutputs: true,
      simplify: false,
      backend,
      ...(fault ? { fault } : {}),
    });
    return { file, index, prefix, emitted, expected: values as Tensor[] };
  } catch (e) {
    const reason =
      e instanceof CompileError
        ? renderDiagnostic(e.diagnostic).split('\n')[0]!
        : e instanceof Error
          ? e.message.split('\n')[0]!
          : String(e);
    return { file, index, outcome: 'failed', reason };
  }
}

/** How `runFilesC` builds: the compiler and extra flags of C builds, an injected fault, the backend,
 * and for CUDA the sm_XX archs nvcc must also build every batch for (none: emulation only). */
export interface BuildOptions {
  readonly jobs: number;
  readonly cc?: string;
  readonly flags?: readonly string[];
  readonly fault?: FaultKind;
  readonly backend?: Backend;
  readonly gpuArchs?: readonly string[];
  /** CUDA: build each batch with nvcc for `gpuArchs` (default: this machine's GPU) and run it on
   * the GPU instead of the emulation. */
  readonly device?: boolean;
  /** CUDA on a GPU machine that has no node (gpu-bundle.ts): `pack` builds every batch's harness
   * for the GPU into DIR/NAME without running it; `judge` reads what the GPU machine's run
   * wrote to RESULTS/NAME (exit status, log, outputs). Both prepare the same cases in the
   * same order, so a batch's name says which cases it holds. */
  readonly deferred?: { readonly phase: 'pack' | 'judge'; readonly dir: string; readonly results: string };
  /** C: the communicators process-grid cases run with (default: threads and MPI). */
  readonly comms?: readonly DeviceGrid['comm'][];
  /** Told of each file the interpreter ran and each batch the backend ran (a terminal's progress line). */
  readonly progress?: (phase: string, done: number, total: number) => void;
}

/** nvcc's check of a batch: the generated Makefile's warnings-as-errors, every arch through
 * ptxas into a fat binary, but without device optimisation (cicc's optimiser is most of nvcc's
 * time, and a ptxas error such as an unsupported instruction or an oversized parameter list does
 * not depend on it) and without the host compile (-fatbin: the emulated build compiles the same
 * host code with g++ -Werror). The big models' nvcc builds in the tests take this check too; the
 * small models' are the Makefile's full -O3 builds (test/helpers/cuda.ts). */
export const NVCC_CHECK_FLAGS = ['-std=c++17', '--Werror', 'all-warnings', '-Xcompiler', '-Wall,-Wextra,-Werror'];
export const NVCC_CHECK_FAST = ['-Xcicc', '-O0', '-Xptxas', '-O0', '-fatbin'];

/** A judged deferred batch: what its run on the GPU left (undefined where the pack has no build
 * of it: the build failed, and its halves were packed instead). */
function judgeDeferred(
  name: string,
  d: NonNullable<BuildOptions['deferred']>,
): { ok: boolean; log: string; dir: string } | undefined {
  if (!existsSync(join(d.dir, name, 'harness'))) return undefined;
  const results = join(d.results, name);
  const read = (f: string): string => readTextIfExists(join(results, f));
  const rc = read('rc').trim();
  if (rc === '') return { ok: false, log: `error: not run on the GPU (no ${join(results, 'rc')})`, dir: results };
  return { ok: rc === '0', log: `error: exit ${rc} on the GPU: ${read('log')}`, dir: results };
}

async function buildAndRun(
  cands: readonly Candidate[],
  o: BuildOptions,
  name: string,
): Promise<{ ok: boolean; log: string; dir: string; packed?: boolean }> {
  const dir = o.deferred
    ? join(o.deferred.dir, name)
    : tmp.dirSync({ prefix: 'xla-aot-conf-', unsafeCleanup: true }).name;
  if (o.deferred) mkdirSync(dir, { recursive: true });
  const sources: string[] = [];
  for (const c of cands) {
    writeFiles(dir, c.emitted);
    for (const o of c.emitted.objects) {
      const stem = o.slice(0, -'.o'.length);
      sources.push([`${stem}.S`, `${stem}.cu`].find((f) => c.emitted.files.has(f)) ?? `${stem}.c`);
    }
  }
  writeFileSync(
    join(dir, 'harness.c'),
    render('c/batch-harness.c.hbs', {
      version: VERSION,
      poison: UNWRITTEN_BYTE,
      cases: cands.map((c) => ({ prefix: c.prefix })),
    }),
  );
  const flags = o.flags ?? [];
  const asm = sources.filter((f) => f.endsWith('.S'));
  let args: string[];
  if (o.backend === 'cuda') {
    // One translation unit for the batch, each case in its own namespace (kernels are static, the
    // API is prefixed): the C++ headers are parsed once per batch, not once per case.
    const unit = cands.map((c) => `namespace case_${c.prefix} {\n#include "${c.prefix}.cu"\n}`);
    writeFileSync(join(dir, 'cases.cu'), ['#include "rl_cuda.h"', ...unit, ''].join('\n'));
    if (o.gpuArchs?.length && !o.device) {
      const nvcc = await execa(
        NVCC,
        [...NVCC_CHECK_FLAGS, ...NVCC_CHECK_FAST, ...gencodeFlags(o.gpuArchs), '-I.', 'cases.cu', '-o', 'cases.fatbin'],
        { cwd: dir, reject: false, all: true },
      );
      if (nvcc.exitCode !== 0) return { ok: false, log: `nvcc: ${nvcc.all ?? ''}`, dir };
    }
    if (o.device) {
      // On the GPU: the weights assembled by cc, the harness and the cases by nvcc.
      for (const f of asm) {
        const cc = await execa('cc', ['-c', f, '-o', f.replace(/\.S$/, '.o')], { cwd: dir, reject: false, all: true });
        if (cc.exitCode !== 0) return { ok: false, log: cc.all ?? '', dir };
      }
      writeFileSync(join(dir, 'harness.cu'), readFileSync(join(dir, 'harness.c')));
      const objects = asm.map((f) => f.replace(/\.S$/, '.o'));
      const archs = gencodeFlags(o.gpuArchs ?? [await deviceArch()]);
      args = ['-O3', '-std=c++17', ...archs, '-I.', 'harness.cu', 'cases.cu', ...objects, '-o', 'harness'];
    } else {
      // CUDA builds run on this CPU through rl_cuda.h's host emulation (g++).
      args = [...CUDA_EMULATION_FLAGS, ...flags, '-I.', '-x', 'c++', 'harness.c', 'cases.cu'];
      args.push('-x', 'assembler-with-cpp', ...asm, '-o', 'harness');
    }
  } else {
    // Every case is emitted for the host target (GEMM path included): build with its flags.
    const targetFlags = cands[0]?.emitted.target.cflags ?? [];
    args = [...CFLAGS.split(' '), ...targetFlags, ...flags, '-I.', 'harness.c', ...sources, '-o', 'harness', '-lm'];
  }
  const compiler = o.backend !== 'cuda' ? (o.cc ?? 'gcc') : o.device ? NVCC : 'g++';
  const build = await execa(compiler, args, {
    cwd: dir,
    reject: false,
    all: true,
  });
  if (build.exitCode !== 0) return { ok: false, log: build.all ?? '', dir };
  if (o.deferred) return { ok: true, log: '', dir, packed: true };
  const run = await execa('./harness', [], { cwd: dir, reject: false, all: true });
  // A sanitizer report (or a crash) fails the whole batch: rerun case by case to find the culprit.
  const clean = run.exitCode === 0 && !/runtime error|AddressSanitizer|LeakSanitizer/.test(run.all ?? '');
  return { ok: clean, log: run.all ?? '', dir };
}

function judge(c: Candidate, dir: string): CaseResult {
  for (let i = 0; i < c.expected.length; i++) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(join(dir, `out_${c.prefix}_${i}.bin`));
    } catch {
      return { file: c.file, index: c.index, outcome: 'failed', reason: `compiled case produced no output ${i}` };
    }
    const exp = c.expected[i]!;
    const d = compareTensors(fromStorageBytes(bytes, exp.type), exp);
    if (!d.ok)
      return { file: c.file, index: c.index, outcome: 'failed', reason: `C output ${i} vs interpreter: ${d.message}` };
  }
  // Values that reach the outputs without any kernel are constants copied by the run function:
  // matching them says nothing about the generated code, so they are never counted as passes.
  if (c.emitted.kernelNames.length === 0)
    return {
      file: c.file,
      index: c.index,
      outcome: 'no_kernel',
      reason: `${c.expected.length} value(s) match, but the generated C has no kernel (it copies constants)`,
    };
  return {
    file: c.file,
    index: c.index,
    outcome: 'passed',
    reason: `${c.expected.length} value(s) match the interpreter`,
  };
}

async function runBatch(cands: readonly Candidate[], o: BuildOptions, name: string): Promise<CaseResult[]> {
  let r: { ok: boolean; log: string; dir: string; packed?: boolean };
  if (o.deferred?.phase === 'judge') {
    // Halves where the pack split the batch (no build of the whole); a build that failed on the
    // GPU fails all its cases: there is no rerun to bisect with.
    const judged = judgeDeferred(name, o.deferred);
    if (judged && !judged.ok)
      return cands.map((c) => ({ file: c.file, index: c.index, outcome: 'failed', reason: judged.log }));
    r = judged ?? { ok: false, log: 'error: no GPU build of this case (it failed to build when packed)', dir: '' };
  } else r = await buildAndRun(cands, o, name);
  if (r.packed)
    return cands.map((c) => ({
      file: c.file,
      index: c.index,
      outcome: 'skipped',
      reason: `built for the GPU in ${r.dir}, to run there`,
    }));
  if (r.ok) return cands.map((c) => judge(c, r.dir));
  if (cands.length === 1) {
    const line = r.log.split('\n').find((l) => /error|runtime error|Sanitizer/.test(l)) ?? r.log.slice(0, 200);
    return [
      {
        file: cands[0]!.file,
        index: cands[0]!.index,
        outcome: 'failed',
        reason: `generated ${o.backend === 'cuda' ? 'CUDA' : 'C'} failed to build or run cleanly: ${line}`,
      },
    ];
  }
  // Halves, until the failing cases are alone: a bad case costs log2(batch) builds, not one per case.
  const half = Math.ceil(cands.length / 2);
  return [
    ...(await runBatch(cands.slice(0, half), o, `${name}a`)),
    ...(await runBatch(cands.slice(half), o, `${name}b`)),
  ];
}

/** Runs the C backend over the files; cases the interpreter does not pass are skipped (with why).
 * With `fault`, every case is compiled with that injected fault (faults.ts): a case that still
 * passes is one whose comparison did not catch it. */
export async function runFilesC(files: readonly string[], o: BuildOptions): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  const cands: Candidate[] = [];
  const spmd: SpmdCase[] = [];
  let n = 0;
  for (const [fileIndex, file] of files.entries()) {
    o.progress?.('interpreter, files', fileIndex, files.length);
    const interp = runFile(file);
    const cases =
      interp.length > 1 || interp[0]?.outcome === 'passed' || interp[0]?.outcome === 'failed'
        ? splitCases(readSourceFile(file).text)
        : [];
    for (const r of interp) {
      if (r.outcome !== 'passed') {
        if (r.outcome === 'failed' || r.outcome === 'skipped')
          results.push({ ...r, outcome: 'skipped', reason: `interpreter does not pass this case: ${r.reason}` });
        else results.push(r);
        continue;
      }
      const text = cases[r.index - 1]!.text;
      if ((o.backend ?? 'c') === 'c' && text.includes('interpreter.run_parallel')) {
        const c = prepareSpmd(file, text, r.index);
        if ('outcome' in c) results.push(c);
        else spmd.push(c);
        continue;
      }
      const c = prepare(file, text, r.index, `c${n++}`, o.backend ?? 'c', o.fault);
      if ('outcome' in c) results.push(c);
      else cands.push(c);
    }
  }
  const batches: Candidate[][] = [];
  const size = BATCH[o.backend ?? 'c'];
  for (let i = 0; i < cands.length; i += size) batches.push(cands.slice(i, i + size));
  let next = 0;
  let finished = 0;
  const worker = async (): Promise<void> => {
    while (next < batches.length) {
      const i = next++;
      results.push(...(await runBatch(batches[i]!, o, `batch${i}`)));
      o.progress?.(`${o.backend ?? 'c'} batches`, ++finished, batches.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.jobs) }, worker));
  // Process-grid cases: one SPMD build and launch per number of devices and communicator (spmd.ts).
  if (spmd.length) {
    o.progress?.('SPMD cases', 0, spmd.length);
    results.push(
      ...(await runSpmdCases(spmd, o.comms ?? ['threads', 'mpi'], {
        flags: o.flags ?? [],
        ...(o.cc ? { cc: o.cc } : {}),
        ...(o.fault ? { fault: o.fault } : {}),
      })),
    );
  }
  const order = new Map(files.map((f, i) => [f, i]));
  return results.sort((a, b) => order.get(a.file)! - order.get(b.file)! || a.index - b.index);
}
