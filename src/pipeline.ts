/**
 * @fileoverview The compiler's phases in one list, and compile(), which runs them. Every phase
 * has a printed form: `xla-aot compile --compile-to=PHASE` stops after a phase and prints the
 * program, `--dump-after=PHASE` prints it and goes on (MLIR for the tensor-level phases, a listing
 * for the flat program, its kernels and its arena, the files for emit).
 *
 * Memory planning runs before lowering: a kernel whose output overwrites an input (an in-place
 * plan) is written without `restrict` on those pointers.
 */
import { channelEnds } from './partition/channels.js';
import type { SourceFile } from './diag/source.js';
import type { Module } from './ir/core.js';
import { printModule } from './ir/print.js';
import { parseSource, verifyImported } from './import/index.js';
import { unrollManualRegions } from './partition/unroll.js';
import { collectivesAlongDimZero } from './partition/collective-layout.js';
import { partitionMode, partitionSpmd } from './partition/spmd.js';
import { manualRegionsOnDevices } from './partition/manual.js';
import { flatten } from './flat/flatten.js';
import { injectFault, type FaultKind, type InjectedFault } from './flat/faults.js';
import { printFlat, symName } from './flat/print.js';
import type { FlatOp, FlatProgram, Sym } from './flat/program.js';
import type { Tensor } from './ir/tensor.js';
import { simplify } from './canonicalize/simplify.js';
import { lowerQuantized } from './canonicalize/quantized.js';
import type { MemoryPlan } from './memory/plan.js';
import { constantValue } from './ops/control.js';
import type { Kernel } from './emit-common/kernel.js';
import { printKernel } from './kernel/print.js';
import { intWeightPacking } from './kernel/ukernel.js';
import { fuseForC, lowerForC } from './emit-c/emit.js';
import {
  CProgram,
  emitSettings,
  planArena,
  type EmitOptions,
  type EmitResult,
  type FusedProgram,
} from './emit-common/program.js';
import { emitFilesForC } from './emit-c/files.js';
import { emitFilesForCuda, fuseForCuda, lowerForCuda, type CudaKernel } from './emit-cuda/emit.js';

const PHASES = [
  { name: 'import', what: 'parse the MLIR text (Shardy shard_map read as its GSPMD form)' },
  { name: 'verify', what: 'check every op against the op table; annotate elided weights and operand shardings' },
  {
    name: 'partition',
    what: 'manual (shard_map) regions unrolled; with --devices, a sharded entry partitioned (SPMD); collectives along dimension 0',
  },
  {
    name: 'quantize',
    what: 'quantized dots and convolutions in integer arithmetic; per-axis values as stored integers',
  },
  { name: 'flatten', what: 'calls inlined into one op list over program-wide symbols; blocks become control steps' },
  { name: 'canonicalize', what: 'constant folding, CSE, dead code (and an injected fault, when asked)' },
  { name: 'fusion', what: 'elementwise chains, GEMM epilogues and reductions grouped into kernels' },
  { name: 'memory', what: 'one arena: an offset for every intermediate value' },
  { name: 'lower', what: 'one kernel per kernel op' },
  { name: 'emit', what: 'the output files for the target' },
] as const;
export type PhaseName = (typeof PHASES)[number]['name'];
export const PHASE_NAMES: readonly PhaseName[] = PHASES.map((p) => p.name);

export interface CompileOptions extends EmitOptions {
  readonly entry: string;
  /** Conformance runs: check ops become extra outputs (see flatten). */
  readonly checksAsOutputs?: boolean;
  /** Constant folding and CSE (default on). */
  readonly simplify?: boolean;
  /** Testing the tests: a deliberately wrong program (flat/faults.ts). */
  readonly fault?: FaultKind;
  /** Stop after this phase (compile then returns undefined). */
  readonly stopAfter?: PhaseName;
  /** Phases after which `dump` receives the printed program. */
  readonly dumpAfter?: readonly PhaseName[];
  readonly dump?: (phase: PhaseName, text: string) => void;
  /** Receives each phase's result as data (tests check every phase's program with it). */
  readonly observe?: (r: PhaseResult) => void;
}

/** What each phase produces. */
export type PhaseResult =
  | { readonly phase: 'import' | 'verify' | 'partition' | 'quantize'; readonly module: Module }
  | { readonly phase: 'flatten' | 'canonicalize'; readonly prog: FlatProgram }
  | { readonly phase: 'fusion'; readonly fused: FusedProgram; readonly order: readonly FlatOp[] }
  | { readonly phase: 'memory'; readonly fused: FusedProgram; readonly plan: MemoryPlan }
  | { readonly phase: 'lower'; readonly kernels: readonly Kernel[] }
  | { readonly phase: 'emit'; readonly result: EmitResult };

/** Phase options common to both halves of the pipeline. */
export type PhaseControl = Pick<CompileOptions, 'stopAfter' | 'dumpAfter' | 'dump' | 'observe'>;

/** Reports a phase's result to `observe` and (printed) to `dump`; true when the pipeline stops there. */
function phaseDone(o: PhaseControl, r: PhaseResult, print: () => string): boolean {
  o.observe?.(r);
  if (o.dump && o.dumpAfter?.includes(r.phase)) o.dump(r.phase, print());
  return o.stopAfter === r.phase;
}

const mlir = (m: Module) => (): string => printModule(m, { elideElements: 16 });

/** The import and verify phases: MLIR text to a verified module (undefined when told to stop). */
export function importPhases(source: SourceFile, o: PhaseControl = {}): Module | undefined {
  const m = parseSource(source);
  if (phaseDone(o, { phase: 'import', module: m }, mlir(m))) return undefined;
  verifyImported(m);
  if (phaseDone(o, { phase: 'verify', module: m }, mlir(m))) return undefined;
  return m;
}

/** The phases from `partition` to `emit` on a verified module (undefined when told to stop earlier). */
export function runPipeline(m: Module, o: CompileOptions): EmitResult | undefined {
  const at = (r: PhaseResult, print: () => string): boolean => phaseDone(o, r, print);
  // The ends of each send / recv channel, from every device's program as the source states it.
  if (o.devices) o = { ...o, devices: { ...o.devices, channels: channelEnds(m, o.entry, o.devices) } };
  const settings = emitSettings(o);
  const partitioned = collectivesAlongDimZero(partitionForDevices(m, o.entry, o.devices?.partitions ?? 1));
  if (at({ phase: 'partition', module: partitioned }, mlir(partitioned))) return undefined;
  // Helium multiplies 8-bit lanes twice as fast as 16-bit ones: int8 activations stay as stored
  // there. Microcontrollers' integer convolutions gather each window (int-windows.ts forEachWindow).
  const helium = settings.target.simd === 'helium';
  const integer = lowerQuantized(partitioned, {
    // So does SDOT (int8 x int8 only).
    foldZeroPoints: helium || !!settings.target.dotProduct,
    padConvolutions: helium || !!settings.target.armDsp,
    wideDepthwiseWeights: !!settings.target.armDsp && !helium,
  });
  if (at({ phase: 'quantize', module: integer }, mlir(integer))) return undefined;
  const flat = flatten(integer, o.entry, { checksAsOutputs: o.checksAsOutputs ?? false });
  if (at({ phase: 'flatten', prog: flat }, () => printFlat(flat))) return undefined;
  const canonical = o.simplify === false ? flat : simplify(flat);
  const fault = o.fault ? injectFault(canonical, o.fault, (s) => constantValueOf(canonical, s)) : undefined;
  if (at({ phase: 'canonicalize', prog: fault?.prog ?? canonical }, () => printCanonical(canonical, fault)))
    return undefined;
  const cuda = o.backend === 'cuda';
  const program = new CProgram(canonical, o, settings, fault);
  const fused = cuda ? fuseForCuda(program) : fuseForC(program);
  const order = kernelOrder(fused);
  if (at({ phase: 'fusion', fused, order }, () => printFused(fused, order))) return undefined;
  const plan = planArena(fused);
  if (at({ phase: 'memory', fused, plan }, () => printPlanned(fused, order, plan))) return undefined;
  const kernels = cuda ? lowerForCuda(fused, plan) : lowerForC(fused, plan);
  if (at({ phase: 'lower', kernels }, () => printKernels(kernels))) return undefined;
  const result = cuda
    ? emitFilesForCuda(fused, plan, kernels as CudaKernel[], o.gpuArchs)
    : emitFilesForC(fused, plan, kernels);
  if (at({ phase: 'emit', result }, () => printFiles(result))) return undefined;
  return result;
}

/** The partition phase's rewrites: on one device, manual regions unrolled; on several, a sharded
 * entry partitioned (its manual regions with it), or the manual regions of an unannotated one
 * run per device. */
function partitionForDevices(m: Module, entry: string, partitions: number): Module {
  if (partitions < 2) return unrollManualRegions(m);
  const f = m.funcs.get(entry);
  const mode = f ? partitionMode(m, f, partitions) : 'grid';
  return mode === 'tiles' ? partitionSpmd(m, entry, partitions) : manualRegionsOnDevices(m, partitions);
}

/** Compiles an imported module to the files of its target. */
export function compile(m: Module, o: Omit<CompileOptions, 'stopAfter'>): EmitResult {
  return runPipeline(m, o)!;
}

function constantValueOf(prog: FlatProgram, s: Sym): Tensor {
  const op = prog.constants.get(s)!;
  if (s.type.kind !== 'tensor') throw new Error(`constant ${symName(s)} is not a tensor`);
  return constantValue(op.attrs['value'], s.type, op);
}

function printCanonical(prog: FlatProgram, fault: InjectedFault | undefined): string {
  return (fault ? `// injected fault: ${fault.where}\n` : '') + printFlat(fault?.prog ?? prog);
}

/** The kernel ops in program order, control steps between them (ops fused into a later kernel left out). */
function kernelOrder(f: FusedProgram): FlatOp[] {
  const { prog } = f.c;
  return prog.ops.flatMap((op) => (prog.control.has(op) ? [op] : f.kernelAt.has(op) ? [f.kernelAt.get(op)!] : []));
}

function printFused(f: FusedProgram, order: readonly FlatOp[]): string {
  const note = (k: FlatOp): string | undefined => {
    const g = f.gemmOf.get(k);
    if (!g) return undefined;
    if (g.kind === 'gpu-gemm') return `tiled GPU GEMM, ${g.tile.bm}x${g.tile.bn} block tiles`;
    if (g.kind === 'int-gemm')
      return `integer GEMM path, ${g.mr}x${g.nr} tiles, weights packed as ${intWeightPacking(g)}`;
    if (g.kind === 'winograd')
      return `Winograd F(${g.tile}x${g.tile}, 3x3), GEMM ${g.gemm.tiling.mr}x${g.gemm.tiling.nr} tiles, weights transformed and packed at compile time`;
    return g.kind === 'gemm'
      ? `GEMM path, ${g.tiling.mr}x${g.tiling.nr} tiles${g.bPrepacked ? ', weights packed at compile time' : ''}`
      : 'direct convolution';
  };
  return printFlat(f.c.prog, order, note);
}

function printPlanned(f: FusedProgram, order: readonly FlatOp[], plan: MemoryPlan): string {
  const where = (k: FlatOp): string | undefined => {
    const placed = k.outs
      .filter((s) => plan.offsets.has(s))
      .map((s) => `${symName(s)} at arena+${plan.offsets.get(s)} (${f.c.bytes(s)} B)`);
    return [...placed, ...(plan.inPlace.has(k) ? ['in place'] : [])].join(', ') || undefined;
  };
  const head = `// arena: ${plan.arenaBytes} bytes (liveness lower bound ${plan.lowerBound}, no-reuse sum ${plan.noReuseBytes}, alignment ${plan.alignment})\n`;
  return head + printFlat(f.c.prog, order, where);
}

function printKernels(kernels: readonly Kernel[]): string {
  if (!kernels.length) return '// no kernels: every result is an input, a weight or a copy\n';
  return kernels.map((k) => printKernel(k.ir)).join('\n');
}

function printFiles(r: EmitResult): string {
  return [...r.files]
    .map(
      ([name, body]) =>
        `// ===== ${name} =====\n${typeof body === 'string' ? body : `(${body.length} bytes of binary data)\n`}`,
    )
    .join('\n');
}
