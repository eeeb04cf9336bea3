/**
 * @fileoverview The CLI's commands (main.ts wires them to yargs): interpret, compile (C, firmware,
 * CUDA), run (compiled, diffed against the interpreter), conformance and fuzz.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { autotune, readTuningFile, tuningOf, writeTuningFile } from '../toolchain/autotune.js';
import type { GemmTuning } from '../kernel/ukernel.js';
import type { CompileOptions } from '../pipeline.js';
import { Progress } from '../util/progress.js';
import { collectFiles, summarize } from '../conformance/runner.js';
import { fuzz, fuzzInputs } from '../fuzz/fuzz.js';
import { runFiles } from '../conformance/parallel.js';
import { runFilesC } from '../conformance/c-backend.js';
import { importModule, readSourceFile } from '../import/index.js';
import { Interpreter } from '../interpret/eval.js';
import { parseInput, randomInputs } from '../interpret/inputs.js';
import { flattenTuples, type RtValue } from '../ir/tensor.js';
import { isCheckOp, printTensor } from '../ops/control.js';
import { encodeNpy } from '../util/npy.js';
import { buildCudaLibrary, buildExecutable, buildLibrary, writeFiles } from '../toolchain/build.js';
import { boardOf, FIRMWARE_ELF, FIRMWARE_LINK_FLAGS, firmwareFiles, qemuCommand } from '../toolchain/firmware.js';
import { formatSizeReport, sizeReport } from '../toolchain/size-report.js';
import { compilerOf, lookupTarget } from '../target/targets.js';
import { importPhases, PHASE_NAMES, runPipeline, type PhaseControl, type PhaseName } from '../pipeline.js';
import { runCompiled, runCompiledCuda, SANITIZE_FLAGS } from '../toolchain/run.js';
import { compareTensors, degenerate, integerBound, narrowestFloat } from '../ir/compare.js';
import { type FaultKind } from '../flat/faults.js';
import type { Func, Module, Region } from '../ir/core.js';
import type { Tensor } from '../ir/tensor.js';
import { error, RuntimeError } from '../diag/diagnostics.js';
import { runDevicesCommand } from './devices.js';
import { asStored } from '../emit-common/program.js';
import { deviceCount, deviceGrid, type DeviceGrid } from '../partition/devices.js';

function printValue(v: RtValue): string {
  if (v.kind === 'tensor') return printTensor(v);
  if (v.kind === 'tuple') return `tuple(${v.elems.map(printValue).join(', ')})`;
  if (v.kind === 'sharded') return `per-partition(${v.parts.map(printTensor).join(', ')})`;
  return v.kind === 'token' ? '!stablehlo.token' : `@${v.name}`;
}

export interface InterpretArgs {
  file: string;
  entry?: string;
  input: string[];
  outputDir?: string;
  randomSeed?: number;
}

/** The function to run or compile: --entry if given, else @main, else the only public function. */
function entryOf(m: Module, file: string, entry: string | undefined): Func {
  const publics = [...m.funcs.values()].filter((f) => f.visibility === 'public' && f.body);
  const f = entry ? m.funcs.get(entry) : (m.funcs.get('main') ?? (publics.length === 1 ? publics[0] : undefined));
  if (!f) {
    const names = [...m.funcs.keys()].map((n) => '@' + n);
    const what = entry ? `no function @${entry}` : 'no @main and not exactly one public function';
    // Located at the file's start: the diagnostic is about the file as a whole.
    throw error(
      'E0107',
      { name: `${entry ?? 'main'} (${what}; functions: ${names.join(', ') || 'none'}; use --entry)` },
      m.source.locAt(0),
    );
  }
  return f;
}

function hasCheckOps(f: Func): boolean {
  const inRegion = (r: Region): boolean =>
    r.blocks.some((b) => b.ops.some((op) => isCheckOp(op) || op.regions.some(inRegion)));
  return !!f.body && inRegion(f.body);
}

function argsFor(m: Module, f: Func, a: { input: string[]; randomSeed?: number }): RtValue[] {
  if (a.randomSeed !== undefined) return randomInputs(f, a.randomSeed, m);
  if (a.input.length !== f.params.length)
    throw new RuntimeError(
      `@${f.name} takes ${f.params.length} input(s), ${a.input.length} given (use --input or --random-seed)`,
    );
  return a.input.map((s, i) => parseInput(s, f, i));
}

function writeResults(
  dir: string | undefined,
  results: readonly RtValue[],
  args: readonly RtValue[],
  wroteInputs: boolean,
): void {
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  results.forEach((r, i) => {
    if (r.kind === 'tensor') writeFileSync(join(dir, `result${i}.npy`), encodeNpy(r));
  });
  if (wroteInputs)
    args.forEach((x, i) => x.kind === 'tensor' && writeFileSync(join(dir, `input${i}.npy`), encodeNpy(x)));
}

export function interpretCommand(a: InterpretArgs): number {
  const source = readSourceFile(a.file);
  const m = importModule(source);
  const f = entryOf(m, a.file, a.entry);
  const args = argsFor(m, f, a);
  const interp = new Interpreter(m);
  const results = interp.runFunc(f, args);
  for (const line of interp.session.printed) console.log(line);
  results.forEach((r, i) => console.log(`result[${i}]: ${printValue(r)}`));
  writeResults(a.outputDir, results, args, a.randomSeed !== undefined);
  if (a.randomSeed !== undefined)
    results.forEach((r, i) => {
      const why = r.kind === 'tensor' ? degenerate(r) : undefined;
      if (why)
        console.error(
          `warning: result[${i}] is degenerate (${why}): the random inputs may be outside the range the model expects; give --input values`,
        );
    });
  const failed = interp.session.checks.filter((c) => !c.ok);
  for (const c of failed)
    console.error(
      `${c.op.loc.file}:${c.op.loc.line}:${c.op.loc.col}: error E0302: check failed: ${c.op.name}: ${c.message}`,
    );
  if (interp.session.checks.length)
    console.error(`${interp.session.checks.length - failed.length} of ${interp.session.checks.length} check(s) passed`);
  return failed.length ? 1 : 0;
}

export interface CompileArgs {
  file: string;
  output: string;
  entry?: string;
  prefix: string;
  emit: string;
  cc?: string;
  target: string;
  report: boolean;
  firmware: boolean;
  input: string[];
  randomSeed?: number;
  threads: number;
  /** --devices / --comm: an SPMD build. */
  devices?: number;
  comm?: DeviceGrid['comm'];
  gpuArch: string[];
  compileTo?: PhaseName;
  dumpAfter: string[];
  autotune: boolean;
  tuningFile?: string;
  /** --no-winograd: 3x3 convolutions as direct sums (the GEMM path) only. */
  winograd: boolean;
}

/** --tuning-file / --autotune: the GEMM tiles to compile with (a file's; with --autotune, the
 * GEMMs it lacks timed here first and the file written: by default OUTPUT/tuning.json). */
async function tuningFor(
  a: CompileArgs,
  m: Module,
  options: CompileOptions,
  cuda: boolean,
  progress: Progress,
): Promise<GemmTuning | undefined> {
  if (!a.autotune && !a.tuningFile) return undefined;
  if (cuda)
    throw new RuntimeError("--autotune and --tuning-file choose the C backend's GEMM tiles, not --target cuda's");
  const target = options.target!;
  const path = a.tuningFile ?? join(a.output, 'tuning.json');
  const previous = !a.autotune || existsSync(path) ? readTuningFile(path, target) : undefined;
  if (!a.autotune) return tuningOf(previous!);
  const file = await autotune(m, options, previous, (done, total) => progress.update('autotune: GEMMs', done, total));
  mkdirSync(dirname(path), { recursive: true });
  writeTuningFile(path, file);
  progress.done();
  const count = Object.keys(file.gemms).length;
  const added = count - Object.keys(previous?.gemms ?? {}).length;
  console.log(`autotune: ${added} GEMM(s) timed on this machine, ${count} in ${path}`);
  return tuningOf(file);
}

export async function compileCommand(a: CompileArgs): Promise<number> {
  // --target cuda: the CUDA backend (the host target then only sizes C storage types).
  const cuda = a.target === 'cuda';
  if (cuda && a.firmware) throw new RuntimeError('--firmware is for bare-metal targets, not --target cuda');
  if (!cuda && a.gpuArch.length) throw new RuntimeError('--gpu-arch is for --target cuda');
  const target = lookupTarget(cuda ? 'host' : a.target);
  if (a.firmware) boardOf(target); // refuses hosted targets before any work
  const dumpAfter = [
    ...(a.dumpAfter.includes('all') ? PHASE_NAMES : (a.dumpAfter as PhaseName[])),
    ...(a.compileTo ? [a.compileTo] : []),
  ];
  // A compile of more than a second shows its phase on a terminal (not beside printed programs).
  const progress = new Progress(dumpAfter.length ? { write: () => true } : process.stderr);
  const phases: PhaseControl = {
    dumpAfter,
    dump: (phase, text) =>
      process.stdout.write(`// ----- after ${phase} -----\n${text}${text.endsWith('\n') ? '' : '\n'}`),
    observe: (r) => progress.update(`xla-aot ${a.file}: ${r.phase} done`),
    ...(a.compileTo ? { stopAfter: a.compileTo } : {}),
  };
  const m = importPhases(readSourceFile(a.file), phases);
  if (!m) return 0;
  const f = entryOf(m, a.file, a.entry);
  // A test program that returns nothing and checks its values compiles to those values (as run does).
  const checksAsOutputs = f.resultTypes.length === 0 && hasCheckOps(f);
  if (checksAsOutputs)
    console.log(
      `note: @${f.name} returns nothing; the values its check ops compare are the compiled program's outputs`,
    );
  const options = {
    entry: f.name,
    prefix: a.prefix,
    sourceName: a.file.split('/').pop()!,
    cc: compilerOf(target, a.cc),
    target,
    threads: a.threads,
    checksAsOutputs,
    ...(a.winograd ? {} : { winograd: false }),
    ...(a.devices !== undefined ? { devices: deviceGrid(m, a.devices, a.comm ?? 'threads') } : {}),
    ...(cuda ? { backend: 'cuda' as const, ...(a.gpuArch.length ? { gpuArchs: a.gpuArch } : {}) } : {}),
  };
  const tuning = await tuningFor(a, m, options, cuda, progress);
  const r = runPipeline(m, { ...options, ...(tuning ? { tuning } : {}), ...phases });
  if (!r) return 0; // --compile-to: the program was printed, nothing written
  progress.update(`xla-aot ${a.file}: writing ${a.output}`);
  const written = writeFiles(a.output, r);
  if (a.emit !== 'c' || a.firmware)
    progress.update(`xla-aot ${a.file}: building with ${cuda ? 'nvcc' : compilerOf(target, a.cc)}`);
  if (cuda) {
    const built = a.emit === 'c' ? [] : await buildCudaLibrary(a.output, a.prefix);
    progress.done();
    console.log(`wrote ${[...written, ...built].map((n) => join(a.output, n)).join(', ')}`);
    if (a.report)
      console.log(
        `CUDA: entry @${f.name}, ${r.kernelNames.length} kernels, arena ${r.plan.arenaBytes} bytes of activations, weights ${r.weightBytes} bytes`,
      );
    return 0;
  }
  const cc = a.comm === 'mpi' && a.devices !== undefined ? 'mpicc' : a.cc;
  const built = a.emit !== 'c' || a.firmware ? [...(await buildLibrary(a.output, r, a.prefix, cc)).files] : [];
  if (a.firmware) {
    // Test inputs baked into the firmware: --input values, else seeded random ones (seed 0 by default).
    const inputs = argsFor(m, f, {
      input: a.input,
      ...(a.input.length ? {} : { randomSeed: a.randomSeed ?? 0 }),
    }) as Tensor[];
    await buildExecutable(a.output, r, a.cc, firmwareFiles(r, a.prefix, inputs), FIRMWARE_ELF, {
      linkFlags: FIRMWARE_LINK_FLAGS,
    });
    built.push(FIRMWARE_ELF);
  }
  progress.done();
  console.log(`wrote ${[...written, ...built].map((n) => join(a.output, n)).join(', ')}`);
  if (a.firmware) console.log(`run the firmware: ${qemuCommand(target, join(a.output, FIRMWARE_ELF)).join(' ')}`);
  if (a.report) {
    const p = r.plan;
    console.log(
      `target ${target.name}: entry @${f.name}, ${r.kernelNames.length} kernels, ${r.inputs.length} input(s), ${r.outputs.length} output(s)`,
    );
    console.log(
      `arena: ${p.arenaBytes} bytes (liveness lower bound ${p.lowerBound}, no-reuse sum ${p.noReuseBytes}, alignment ${p.alignment})`,
    );
    console.log(`weights: ${r.weightBytes} bytes in the .incbin blob, small ones as C arrays`);
    console.log(`fusion groups: ${r.fusionGroups.length}${r.fusionGroups.map((g) => `\n  ${g}`).join('')}`);
    if (r.communication)
      console.log(
        `communication (${deviceCount(options.devices!)} devices, ${options.devices!.comm}): ${r.communication.receivedBytes} bytes received per device per run${r.communication.calls.map((c) => `\n  ${c}`).join('')}`,
      );
    console.log(
      `SIMD (${target.simd}): ${r.simdKernels.length} of ${r.kernelNames.length} kernels${r.simdKernels.length ? `: ${r.simdKernels.join(', ')}` : ''}`,
    );
    if (built.length)
      for (const line of formatSizeReport(await sizeReport(a.output, r, a.prefix), target)) console.log(line);
    else console.log('sizes: not measured with --emit=c (nothing was compiled)');
  }
  return 0;
}

export interface RunArgs extends InterpretArgs {
  backend: string;
  cc?: string;
  target: string;
  threads: number;
  devices?: number;
  comm?: DeviceGrid['comm'];
  fault?: FaultKind;
  onGpu: boolean;
}

export async function runCommand(a: RunArgs): Promise<number> {
  if (a.backend === 'interp') return interpretCommand(a);
  if (a.backend === 'cuda' && (a.fault || a.threads > 1 || a.target !== 'host'))
    throw new RuntimeError('--backend cuda takes none of --inject-fault, --threads, --target');
  const m = importModule(readSourceFile(a.file));
  const f = entryOf(m, a.file, a.entry);
  const args = argsFor(m, f, a);
  const tensors = args.map((x) => {
    if (x.kind !== 'tensor' && x.kind !== 'token') throw new RuntimeError('the C backend takes tensor inputs only');
    return asStored(x);
  });
  if (a.devices !== undefined) {
    if (a.backend !== 'c' || a.target !== 'host' || a.fault)
      throw new RuntimeError('--devices runs host C builds: it takes none of --backend cuda, --target, --inject-fault');
    return runDevicesCommand(a, m, f, tensors, deviceGrid(m, a.devices, a.comm ?? 'threads'));
  }
  // The reference first: its results, and the verdicts of the program's own check ops (goldens).
  const interp = new Interpreter(m);
  const results = flattenTuples(interp.runFunc(f, args));
  const checks = interp.session.checks;
  // A test program that returns nothing and checks its values (IREE's e2e tests): the checked
  // values are what the compiled program must reproduce, so they become its outputs.
  const checksAsOutputs = results.length === 0 && checks.length > 0;
  const expected = checksAsOutputs ? checks.map((c) => c.value!) : results;
  const label = (i: number): string => {
    if (!checksAsOutputs) return `result[${i}]`;
    const at = checks[i]!.op.loc;
    return `checked value ${i} (${at.file}:${at.line}:${at.col} ${checks[i]!.op.name})`;
  };
  // --backend cuda: the CUDA build, run on the GPU with --on-gpu, else on this CPU through
  // rl_cuda.h's emulation.
  const compiled =
    a.backend === 'cuda'
      ? await runCompiledCuda(m, f.name, tensors, { checksAsOutputs, device: a.onGpu })
      : await runCompiled(m, f.name, tensors, {
          ...(a.cc ? { cc: a.cc } : {}),
          target: lookupTarget(a.target),
          threads: a.threads,
          checksAsOutputs,
          ...(a.fault ? { fault: a.fault } : {}),
        });
  if (compiled.emitted.fault) console.log(`injected fault (${a.fault}): ${compiled.emitted.fault}`);
  compiled.outputs.forEach((r, i) =>
    console.log(`${label(i)}: ${expected[i]?.kind === 'token' ? '!stablehlo.token' : printTensor(r)}`),
  );
  writeResults(a.outputDir, compiled.outputs, args, a.randomSeed !== undefined);
  // Always check the compiled program against the reference interpreter.
  // A reference that is mostly NaN or one repeated value cannot tell right from wrong: such a
  // comparison is reported as inconclusive (exit 1), never as a match.
  const computedIn = narrowestFloat(m);
  const quantum = integerBound(m);
  let ok = compiled.outputs.length === expected.length;
  if (!ok)
    console.log(`compiled program returned ${compiled.outputs.length} result(s), the interpreter ${expected.length}`);
  compiled.outputs.forEach((r, i) => {
    if (expected[i]?.kind === 'token') return console.log(`${label(i)} vs interpreter: a token (no data to compare)`);
    const want = expected[i] as Tensor;
    const d = compareTensors(r, want, computedIn, quantum);
    const why = degenerate(want);
    ok &&= d.ok && !why;
    console.log(
      `${label(i)} vs interpreter: ${why ? `inconclusive: the reference result is degenerate (${why}); give inputs in the model's range` : d.message}`,
    );
  });
  const failed = checks.filter((c) => !c.ok);
  for (const c of failed)
    console.error(
      `${c.op.loc.file}:${c.op.loc.line}:${c.op.loc.col}: error E0302: check failed in the interpreter: ${c.op.name}: ${c.message}`,
    );
  if (checks.length)
    console.log(
      `the program's own checks: ${checks.length - failed.length} of ${checks.length} passed in the interpreter`,
    );
  return ok && failed.length === 0 ? 0 : 1;
}

export async function fuzzCommand(a: {
  paths: string[];
  seconds: number;
  seed: number;
  sanitize: boolean;
}): Promise<number> {
  const inputs = fuzzInputs(a.paths);
  if (!inputs.length) throw new RuntimeError(`no .mlir files in ${a.paths.join(', ')}`);
  const report = await fuzz(inputs, a.seed, a.seconds, Infinity, a.sanitize ? SANITIZE_FLAGS : []);
  for (const b of report.bugs)
    console.log(
      `BUG from ${b.source}: ${b.detail.split('\n').slice(0, 6).join('\n  ')}\n--- mutant ---\n${b.mutant}\n---`,
    );
  const c = report.counts;
  console.log(
    `fuzz: ${c.diagnostic + c.refused + c.match + c.bug} mutants of ${inputs.length} inputs (seed ${a.seed}): ${c.diagnostic} located diagnostics, ${c.refused} refused by the C backend (E030x), ${c.match} compiled and matched, ${c.bug} bugs`,
  );
  return c.bug ? 1 : 0;
}

export interface ConformanceArgs {
  paths: string[];
  backend: string;
  json: boolean;
  jobs: number;
  verbose: boolean;
  gpuArch: string[];
  onGpu: boolean;
  fault?: FaultKind;
}

export async function conformanceCommand(a: ConformanceArgs): Promise<number> {
  const t0 = Date.now();
  const files = collectFiles(a.paths);
  if (files.length === 0) throw new RuntimeError(`no .mlir files under ${a.paths.join(', ')}`);
  if (a.fault && a.backend === 'interp') throw new RuntimeError('--inject-fault needs --backend c or cuda');
  if ((a.gpuArch.length || a.onGpu) && a.backend !== 'cuda')
    throw new RuntimeError('--gpu-arch and --on-gpu are for --backend cuda');
  const backend = a.backend === 'cuda' ? 'cuda' : 'c';
  const progress = new Progress();
  const onProgress = (phase: string, done: number, total: number): void =>
    progress.update(`conformance: ${phase}`, done, total);
  const results =
    a.backend === 'interp'
      ? await runFiles(files, a.jobs, (done) => onProgress('files', done, files.length))
      : await runFilesC(files, {
          jobs: a.jobs,
          backend,
          progress: onProgress,
          ...(a.gpuArch.length ? { gpuArchs: a.gpuArch } : {}),
          ...(a.onGpu ? { device: true } : {}),
          ...(a.fault ? { fault: a.fault } : {}),
        });
  progress.done();
  for (const r of results) {
    const where = `${r.file}${r.index > 1 ? `#${r.index}` : ''}`;
    if (r.outcome === 'failed') console.log(`FAIL ${where}: ${r.reason}`);
    else if (r.outcome === 'skipped') console.log(`SKIP ${where}: ${r.reason}`);
    else if (a.verbose) console.log(`${r.outcome.toUpperCase()} ${where}: ${r.reason}`);
  }
  const s = summarize(results);
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  console.log(
    `(${s.disabled} upstream-disabled and ${s.parse_only} parse-only files, ${s.no_check} cases without a check op and ${s.no_kernel} whose C has no kernel not counted; ${s.total} cases in ${secs}s)`,
  );
  console.log(`conformance: ${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped`);
  if (a.json) console.log(JSON.stringify(s));
  return s.failed > 0 ? 1 : 0;
}
