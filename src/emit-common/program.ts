/**
 * @fileoverview What the C-family backends share between canonicalization and lowering: the
 * flat program with C storage types and decoded constants (CProgram), fusion into kernels
 * (fuseKernels, with the backend's micro-kernel planner), the arena plan (planArena), and the
 * options and result of a compile.
 */
import { error, RuntimeError } from '../diag/diagnostics.js';
import { intElem, numElements, tensorType, typeToString, type TensorType } from '../ir/types.js';
import { elemBits, makeTensor, size, type RtValue, type Tensor } from '../ir/tensor.js';
import { constantValue } from '../ops/control.js';
import { planMemory, planWithJumps, type MemoryPlan, type PlanStep } from '../memory/plan.js';
import { fuse } from '../fusion/fuse.js';
import { controlCopies } from '../flat/flatten.js';
import type { InjectedFault } from '../flat/faults.js';
import type { FlatOp, FlatProgram, Sym } from '../flat/program.js';
import { lookupTarget, type Target } from '../target/targets.js';
import type { GemmPlan, GemmTuning, IntGemmPlan, UkernelPlan, WinogradPlan } from '../kernel/ukernel.js';
import { cElem, cElemOrUndefined, storageLiteral } from './ctypes.js';
import { isFusibleElementwise, isReducible, writesInPlaceSafely } from './lowering.js';
import { generateSplats } from './splats.js';
import { deviceCount, type DeviceGrid } from '../partition/devices.js';

/** How a token is stored: tokens order side effects and carry no data, so a token value (an
 * after_all, a send's result, a token parameter or result) is an empty buffer of zero bytes. */
export const TOKEN_STORAGE: TensorType = tensorType([0], intElem(8, false));

/** A value as a compiled program takes or returns it (a token: an empty TOKEN_STORAGE buffer). */
export const asStored = (v: RtValue): Tensor => (v.kind === 'token' ? makeTensor(TOKEN_STORAGE) : (v as Tensor));

export const VERSION = '0.1.0';

export interface EmitOptions {
  readonly prefix: string;
  readonly sourceName: string;
  readonly cc: string;
  /** Compilation target (default: host); its flags go into the generated Makefile. */
  readonly target?: Target;
  /** SIMD kernels on SIMD targets (default on): the packed GEMM and direct-convolution paths for
   * f32 dots/convolutions, vector loops for pooling and elementwise ops. Off: portable scalar C. */
  readonly simd?: boolean;
  /** Loop fusion of elementwise chains and GEMM epilogues (default on). */
  readonly fusion?: boolean;
  /** C: 3x3 stride-1 f32 convolutions by Winograd's F(m x m, 3x3) where it pays (default on). */
  readonly winograd?: boolean;
  /** Threads for GEMM, convolution and large loop kernels (hosted targets; default 1: no pthreads at all). */
  readonly threads?: number;
  /** The backend: C (default) or CUDA (`--target cuda`: `target` then only sizes C storage). */
  readonly backend?: 'c' | 'cuda';
  /** CUDA: the GPU architectures nvcc builds for (sm_80, sm_90, ...). */
  readonly gpuArchs?: readonly string[];
  /** C: kernels of more source than this (bytes; default 150 KB) are split over files of about
   * this much, which a parallel build compiles at once. */
  readonly kernelFileBytes?: number;
  /** C: GEMM tiles chosen by `--autotune` (a tuning file), by gemmKey; the others from the cost model. */
  readonly tuning?: GemmTuning;
  /** An SPMD build (`--devices N`): the program runs once per device, collectives through the
   * communicator (runtime-lite rl_comm.h) that `comm` names. */
  readonly devices?: DeviceGrid;
}

export interface EmitResult {
  /** File name -> contents (text, or bytes for the weight blob). */
  readonly files: ReadonlyMap<string, string | Uint8Array>;
  readonly plan: MemoryPlan;
  readonly objects: readonly string[];
  readonly inputs: readonly TensorType[];
  readonly outputs: readonly TensorType[];
  readonly kernelNames: readonly string[];
  readonly weightBytes: number;
  readonly target: Target;
  /** `kernel: fused ops` for every fusion group (for --report). */
  readonly fusionGroups: readonly string[];
  /** Kernels written with rl_simd.h vectors (GEMM, direct convolution, vector loops). */
  readonly simdKernels: readonly string[];
  /** Flags the sources need at compile and link time beyond the target's (-pthread). */
  readonly buildFlags: readonly string[];
  /** With a fault injected (flat/faults.ts): where it went. */
  readonly fault?: string;
  /** SPMD builds: each communicator call (for --report), and the bytes the busiest device
   * receives when each collective runs once. */
  readonly communication?: { readonly calls: readonly string[]; readonly receivedBytes: number };
  /** The program reads an infeed or writes an outfeed: the app binds its feeds (<prefix>_bind_feeds). */
  readonly hostFeeds?: boolean;
}

/** The target and thread count of `o`, checked: the pipeline calls this before any phase, so a
 * bad --prefix or --threads is reported before a large model is flattened. */
export function emitSettings(o: EmitOptions): { readonly target: Target; readonly threads: number } {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(o.prefix))
    throw error('E0204', { op: '--prefix', detail: `'${o.prefix}' is not a C identifier` }, undefined);
  const target = o.target ?? lookupTarget('host');
  const threads = o.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1 || threads > 64)
    throw new RuntimeError(`--threads must be an integer from 1 to 64, got ${threads}`);
  if (o.backend === 'cuda' && threads > 1)
    throw new RuntimeError('--threads is for CPU targets; a CUDA build runs its kernels on the GPU');
  for (const arch of o.gpuArchs ?? [])
    if (!/^sm_[0-9]{2,3}a?$/.test(arch)) throw new RuntimeError(`--gpu-arch: '${arch}' is not an sm_XX architecture`);
  const d = o.devices;
  if (d) {
    const n = deviceCount(d);
    if (![d.replicas, d.partitions].every((k) => Number.isInteger(k) && k >= 1) || n > 1024)
      throw new RuntimeError(`--devices must be an integer from 1 to 1024, got ${d.replicas} x ${d.partitions}`);
    if (o.backend === 'cuda') throw new RuntimeError('--devices: the CUDA backend has no communicator yet (NCCL)');
    if (target.os !== 'hosted')
      throw new RuntimeError(`--devices ${n} needs a hosted target (threads or MPI); '${target.name}' is ${target.os}`);
  }
  if (threads > 1 && target.os !== 'hosted')
    throw new RuntimeError(
      `--threads ${threads} needs a hosted target (POSIX threads); '${target.name}' is ${target.os}`,
    );
  return { target, threads };
}

/**
 * The flat program as the C backend sees it: constants decoded once (a fault's perturbed values
 * first), large splats turned into run-time broadcasts, C storage sizes, and which constants are
 * splats a fused loop reads as a literal.
 */
export class CProgram {
  readonly prog: FlatProgram;
  readonly target: Target;
  readonly threads: number;
  private readonly decoded = new Map<Sym, Tensor>();
  private readonly splats = new Map<Sym, string | undefined>();

  constructor(
    canonical: FlatProgram,
    readonly o: EmitOptions,
    settings: ReturnType<typeof emitSettings>,
    readonly fault?: InjectedFault,
  ) {
    this.target = settings.target;
    this.threads = settings.threads;
    const entryLoc = canonical.entry.loc;
    const start = fault?.prog ?? canonical;
    // Large splat constants are broadcast at run time (splats.ts), never stored in full.
    const generated = generateSplats(
      start,
      (s) => this.valueOf(s, start),
      (s) => this.bytes(s, entryLoc),
    );
    for (const [s, v] of generated.scalars) this.decoded.set(s, v);
    this.prog = generated.prog;
  }

  /** A value's tensor type; a token's is TOKEN_STORAGE (no data: a zero-byte buffer). */
  tensor(s: Sym): TensorType {
    if (s.type.kind === 'token') return TOKEN_STORAGE;
    if (s.type.kind !== 'tensor')
      throw error('E0301', { op: `value of type ${typeToString(s.type)}`, target: 'C backend' }, this.prog?.entry.loc);
    return s.type;
  }

  elemBytes(s: Sym, loc = this.prog.entry.loc): number {
    return cElem(this.tensor(s), 'value', loc).bytes;
  }

  bytes(s: Sym, loc = this.prog.entry.loc): number {
    return numElements(this.tensor(s).shape) * this.elemBytes(s, loc);
  }

  /** A constant's value, decoded once (splat detection, the weights and GEMM packing all read it). */
  valueOf(s: Sym, prog: FlatProgram = this.prog): Tensor {
    let v = this.decoded.get(s);
    if (!v) {
      const op = prog.constants.get(s)!;
      v = this.fault?.constants.get(s) ?? constantValue(op.attrs['value'], this.tensor(s), op);
      this.decoded.set(s, v);
    }
    return v!;
  }

  /** The C literal of a splat constant (every element equal), which a fused loop reads instead of a weight. */
  splatOf(s: Sym): string | undefined {
    if (!this.splats.has(s)) {
      const op = this.prog.constants.get(s);
      const ce =
        op && s.type.kind === 'tensor' && s.type.elem.kind !== 'complex' && s.type.elem.kind !== 'quant'
          ? cElemOrUndefined(s.type.elem)
          : undefined;
      let lit: string | undefined;
      // Not booleans: gcc rejects `(1 | x) != 0` as a tautology under -Werror.
      if (op && ce && !ce.subByte && ce.cls !== 'bool') {
        const value = this.valueOf(s);
        const first = elemBits(value, 0);
        let all = size(value) > 0;
        for (let i = 1; all && i < size(value); i++) all = elemBits(value, i) === first;
        if (all) lit = ce.load(storageLiteral(ce, value, 0));
      }
      this.splats.set(s, lit);
    }
    return this.splats.get(s);
  }
}

/** After fusion: the kernels in program order, GEMM / direct-convolution plans, and what stays materialized. */
export interface FusedProgram {
  readonly c: CProgram;
  /** One FlatOp per kernel (a fusion group is one); GEMM kernels carry an extra scratch output. */
  readonly kernelOps: readonly FlatOp[];
  readonly gemmOf: ReadonlyMap<FlatOp, UkernelPlan>;
  /** Kernels by the op of the source program at whose position they run (a group runs at its root's). */
  readonly kernelAt: ReadonlyMap<FlatOp, FlatOp>;
  /** Values read by a control step or across a jump: never fused away. */
  readonly keep: ReadonlySet<Sym>;
  /** f32 lanes of the target's vectors on SIMD builds. */
  readonly lanes?: number;
}

/** Plans whose B operand (a constant) is linked packed for the micro-kernel, not as stored. */
export const prepacked = (g: UkernelPlan | undefined): g is GemmPlan | IntGemmPlan | WinogradPlan =>
  (g?.kind === 'gemm' && g.bPrepacked) || g?.kind === 'int-gemm' || g?.kind === 'winograd';

/** How a backend computes contractions with micro-kernels of its own (emit-c: the packed GEMM and
 * direct convolution on SIMD targets). */
export interface UkernelPlanner {
  /** The plan for `f` (a dot or convolution; `out`: the type its epilogue stores), if any. */
  readonly planFor: (f: FlatOp, out?: Sym) => UkernelPlan | undefined;
  /** Bytes of arena scratch the plan's kernel needs (packing buffers). */
  readonly scratchBytes: (p: UkernelPlan) => number;
  /** f32 lanes of the backend's vectors (absent: micro-kernels only, no vector loops). */
  readonly lanes?: number;
  /** Whether the plan's kernel applies a fused elementwise group to its result (default: yes). */
  readonly takesEpilogue?: (p: UkernelPlan) => boolean;
}

/** Fusion phase: groups each straight-line run of kernels; ops a planner takes get their plan
 * and arena scratch (an extra output symbol of the op, live only during it). */
export function fuseKernels(c: CProgram, ukernels?: UkernelPlanner): FusedProgram {
  const { prog, o } = c;
  const lanes = ukernels?.lanes;
  const planFor = (f: FlatOp, out?: Sym): UkernelPlan | undefined => ukernels?.planFor(f, out);
  // Fusion works on each straight-line run of kernels between control steps (labels, branches,
  // edge copies), so a group never spans a jump; values read by a control step or in another run
  // stay materialized like program outputs.
  const runs: FlatOp[][] = [[]];
  for (const f of prog.ops) {
    if (prog.control.has(f)) runs.push([]);
    else runs[runs.length - 1]!.push(f);
  }
  const runOf = new Map<Sym, number>();
  runs.forEach((run, i) => run.forEach((f) => f.outs.forEach((s) => runOf.set(s, i))));
  const keep = new Set<Sym>(prog.outputs);
  runs.forEach((run, i) => run.forEach((f) => f.ins.forEach((s) => runOf.has(s) && runOf.get(s) !== i && keep.add(s))));
  // A control step lists what it reads in its ins (branch condition, switch index, values a jump
  // copies); a copy step's pairs are only in its copies.
  for (const [f, ctl] of prog.control) {
    f.ins.forEach((s) => keep.add(s));
    for (const [from, to] of controlCopies(ctl)) keep.add(from).add(to);
  }
  const fuseContext = {
    isElementwise: isFusibleElementwise,
    isSplat: (s: Sym) => c.splatOf(s) !== undefined,
    canHead: (f: FlatOp) => {
      const p = planFor(f);
      return p !== undefined && (ukernels?.takesEpilogue?.(p) ?? true);
    },
    isReducible,
    outputs: [...keep],
  };
  const grouped = o.fusion === false ? runs.flat() : runs.flatMap((run) => fuse(run, fuseContext));
  const gemmOf = new Map<FlatOp, UkernelPlan>();
  let scratchId = -1;
  const kernelOps = grouped.map((f) => {
    const gemm = planFor(f.group?.head ?? f, f.outs[0]);
    if (!gemm) return f;
    const scratch: Sym = {
      id: scratchId--,
      type: tensorType([ukernels!.scratchBytes(gemm)], intElem(8, false)),
    };
    const withScratch: FlatOp = { ...f, outs: [...f.outs, scratch] };
    gemmOf.set(withScratch, gemm);
    return withScratch;
  });
  const kernelAt = new Map(
    grouped.map((f, i) => [
      f.group ? (f.group.reduce ?? f.group.members[f.group.members.length - 1]!) : f,
      kernelOps[i]!,
    ]),
  );
  return { c, kernelOps, gemmOf, kernelAt, keep, ...(lanes !== undefined ? { lanes } : {}) };
}

/** The program as memory planning sees it: one step per op or control step, in program order
 * (ops fused into a later kernel are empty steps). */
export function planSteps(f: FusedProgram): PlanStep[] {
  const { prog } = f.c;
  return prog.ops.map((op) => {
    const ctl = prog.control.get(op);
    if (!ctl) {
      const k = f.kernelAt.get(op);
      return k ? { defs: k.outs, uses: k.ins } : { defs: [], uses: [] };
    }
    const copies = controlCopies(ctl);
    const moved = { defs: copies.map(([, to]) => to), uses: copies.map(([from]) => from) };
    switch (ctl.kind) {
      case 'label':
        return { defs: [], uses: [], label: ctl.name };
      case 'goto':
        return { ...moved, jumpsTo: [ctl.edge.target] };
      case 'branch':
        return { defs: moved.defs, uses: [ctl.cond, ...moved.uses], jumpsTo: [ctl.onTrue.target, ctl.onFalse.target] };
      case 'switch':
        return { defs: [], uses: [ctl.index], jumpsTo: ctl.targets };
      case 'copy':
        return moved;
      case 'effect':
        return { defs: op.outs, uses: op.ins };
    }
  });
}

/** Values that live outside the arena: inputs and weights. */
export const externalValues = (f: FusedProgram): Set<Sym> =>
  new Set<Sym>([...f.c.prog.inputs, ...f.c.prog.constants.keys()]);

/** Memory phase: one arena for every intermediate value and scratch buffer (memory/plan.ts). */
export function planArena(f: FusedProgram): MemoryPlan {
  const { prog } = f.c;
  const elemBytes = (s: Sym): number => f.c.elemBytes(s);
  if (prog.control.size === 0)
    return planMemory(f.kernelOps, externalValues(f), prog.outputs, elemBytes, writesInPlaceSafely);
  // Control flow: live ranges over the steps in program order, widened over loops (memory/plan.ts).
  return planWithJumps(planSteps(f), externalValues(f), prog.outputs, elemBytes);
}
