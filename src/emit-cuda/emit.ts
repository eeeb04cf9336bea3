/**
 * @fileoverview The CUDA backend's phases after canonicalization (src/pipeline.ts runs them with
 * `--target cuda`): fusion with gemm.ts's tiled GEMM as the one micro-kernel (fuseKernels), the
 * arena plan shared with C (planArena), one `__global__` kernel per kernel op, rendered by
 * CudaRenderer from the same kernel IR as C or printed by gemm.ts (lowerForCuda), and the files (emitFilesForCuda): PREFIX.h, PREFIX.cu (kernels, and the
 * host code that launches them in order on a stream, with control flow on the host), the weight
 * blob, rl.h + rl_cuda.h and a Makefile for nvcc.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { error } from '../diag/diagnostics.js';
import { typeToString, type TensorType } from '../ir/types.js';
import type { MemoryPlan } from '../memory/plan.js';
import type { FlatOp, Sym } from '../flat/program.js';
import { render, RUNTIME_DIR } from '../emit-common/templates.js';
import { BlobBuilder } from '../emit-common/blob.js';
import { cElem, toStorageBytes } from '../emit-common/ctypes.js';
import type { Kernel } from '../emit-common/kernel.js';
import { fusedKernelIR, opKernelIR, ukernelIR } from '../emit-common/lowering.js';
import { emitGpuGemm, gpuGemmLaunches, gpuGemmScratchBytes, planGpuGemm } from './gemm.js';
import { ioTables, runSteps } from '../emit-common/host.js';
import { fuseKernels, VERSION, type CProgram, type EmitResult, type FusedProgram } from '../emit-common/program.js';
import { describeGroup } from '../kernel/fused.js';
import { CudaRenderer, launchSteps, type Launch } from './cuda-renderer.js';
import { emitRowGroup, mergeRowGroups } from './row-group.js';
import { followScalars } from './host-scalars.js';

/** GPU architectures nvcc builds for when none are given (`--gpu-arch`). */
export const DEFAULT_GPU_ARCHS = ['sm_80'];
export const NVCC_FLAGS = '-O3 -std=c++17 --Werror all-warnings -Xcompiler -Wall,-Wextra,-Werror';

/** nvcc's flags for a fat binary with code for each sm_XX in `archs`. */
export const gencodeFlags = (archs: readonly string[]): string[] =>
  archs.flatMap((a) => ['-gencode', `arch=compute_${a.slice(3)},code=${a}`]);

/** A CUDA kernel op: its `__global__` functions (one, or one per launch step) and the threads
 * each launch wants, in launch order. */
export interface CudaKernel extends Kernel {
  readonly launches: readonly { readonly name: string; readonly launch: Launch }[];
}

/** Fusion phase for CUDA: elementwise chains, chains into reductions, and big f32/f16/bf16
 * contractions as tiled GEMMs (gemm.ts) with their elementwise epilogues. */
export const fuseForCuda = (c: CProgram): FusedProgram => {
  const fused = fuseKernels(c, {
    lanes: 1,
    planFor: (f, out) => planGpuGemm(f, c.o.gpuArchs ?? DEFAULT_GPU_ARCHS, out?.type as TensorType | undefined),
    scratchBytes: (p) => (p.kind === 'gpu-gemm' ? gpuGemmScratchBytes(p) : 0),
  });
  return c.o.fusion === false ? fused : mergeRowGroups(fused, splatEnv(fused));
};

/** Splat leaves of fused groups as literals. */
const splatEnv = (f: FusedProgram) => ({
  splat: (s: Sym) => (f.c.splatOf(s) !== undefined ? f.c.valueOf(s) : undefined),
});

/** Lower phase: one `__global__` kernel per kernel op. */
export function lowerForCuda(f: FusedProgram, plan: MemoryPlan): CudaKernel[] {
  const env = splatEnv(f);
  return f.kernelOps.map((k, i): CudaKernel => {
    if (k.rowParts) {
      const { launch, ...g } = emitRowGroup(k, i, env);
      return { ...g, launches: [{ name: g.name, launch }] };
    }
    const gemm = f.gemmOf.get(k);
    if (gemm) {
      if (gemm.kind !== 'gpu-gemm') throw new Error(`${k.op.name}: a CPU micro-kernel plan reached the CUDA backend`);
      const ir = ukernelIR(k, i, gemm);
      const params = new CudaRenderer().kernelParams(ir, false, k.op);
      const source = emitGpuGemm(gemm, ir.name, ir.comment, params, k.group ? { fop: k, env } : undefined);
      return {
        name: ir.name,
        comment: ir.comment,
        params,
        source,
        ir,
        launches: gpuGemmLaunches(gemm, ir.name),
      };
    }
    const inPlace = plan.inPlace.has(k) || k.ins.includes(k.outs[0]!);
    const ir = k.group ? fusedKernelIR(k, i, env) : opKernelIR(k, i, inPlace, 'CUDA backend');
    const owner = k.group?.reduce?.op ?? k.op;
    // A fused reduction's output is never an operand's buffer (as in C's lowerToKernel).
    const aliasing = inPlace && !k.group?.reduce;
    const r = new CudaRenderer();
    const params = r.kernelParams(ir, aliasing, owner);
    const steps = launchSteps(ir)?.map((body, j) => ({ ...ir, name: `${ir.name}_step${j}`, body })) ?? [ir];
    const launches: { name: string; launch: Launch }[] = [];
    const sources = steps.map((step) => {
      const source = r.render(step, owner, aliasing);
      launches.push({ name: step.name, launch: r.launch });
      return source;
    });
    return { name: ir.name, comment: ir.comment, params, source: sources.join('\n\n'), ir, launches };
  });
}

const align = (n: number, a: number): number => Math.ceil(n / a) * a;

/** Emit phase: the files of a CUDA build (see the file comment). `archs`: sm_XX names. */
export function emitFilesForCuda(
  f: FusedProgram,
  plan: MemoryPlan,
  kernels: readonly CudaKernel[],
  archs: readonly string[] = DEFAULT_GPU_ARCHS,
): EmitResult {
  const { c, kernelOps, keep } = f;
  const { prog, o } = c;
  const loc = prog.entry.loc;
  const storage = (s: Sym): string => cElem(c.tensor(s), 'value', loc).storage;

  // Every weight the kernels or the outputs read goes to the blob, which init uploads to the arena.
  const blob = new BlobBuilder();
  const weightAt = new Map<Sym, number>();
  const read = new Set<Sym>([...prog.outputs, ...keep, ...kernelOps.flatMap((k) => k.ins)]);
  for (const [s] of prog.constants) if (read.has(s)) weightAt.set(s, blob.add(toStorageBytes(c.valueOf(s))));
  const alignment = Math.max(256, plan.alignment);
  const activationOffset = align(blob.bytes, alignment);
  const stagingOffset = align(activationOffset + plan.arenaBytes, alignment);
  const staged = [...prog.inputs, ...prog.outputs];
  const stageAt = new Map<Sym, number>();
  let end = stagingOffset;
  for (const s of staged) {
    stageAt.set(s, end - stagingOffset); // from the staging area's start
    end = align(end + c.bytes(s), alignment);
  }

  // Outputs the kernels compute straight into the caller's buffers: each one computed in an arena
  // buffer of its own (not an input or a weight, not sharing its buffer with an operand written
  // in place, returned once), unless a fault is injected (faults.ts corrupts the output copy).
  // On a GPU the copy out was most of an elementwise program's time (an add of 64 Mi floats moved
  // 1.3 GB instead of 0.8).
  const inPlaceOuts = new Set([...plan.inPlace].flatMap((k) => k.outs));
  const direct = new Map<Sym, number>();
  prog.outputs.forEach((s, i) => {
    const once = prog.outputs.indexOf(s) === prog.outputs.lastIndexOf(s);
    if (!c.fault && once && plan.offsets.has(s) && !inPlaceOuts.has(s) && !prog.inputs.includes(s) && !weightAt.has(s))
      direct.set(s, i);
  });
  const bufRef = (s: Sym): string => {
    const input = prog.inputs.indexOf(s);
    if (input >= 0) return `((const ${storage(s)}*)inputs[${input}])`;
    const w = weightAt.get(s);
    if (w !== undefined) return `((const ${storage(s)}*)(W + ${w}))`;
    const out = direct.get(s);
    if (out !== undefined) return `((${storage(s)}*)outputs[${out}])`;
    const off = plan.offsets.get(s);
    if (off === undefined) throw error('E0204', { op: 'memory plan', detail: `value ${s.id} has no buffer` }, loc);
    return `((${storage(s)}*)(A + ${off}))`;
  };
  type CopyKind = 'DeviceToDevice' | 'HostToDevice' | 'DeviceToHost';
  const copy = (dst: string, src: string, n: number, kind: CopyKind = 'DeviceToDevice'): string =>
    `RL_CUDA_CHECK(cudaMemcpyAsync(${dst}, ${src}, ${n}, cudaMemcpy${kind}, stream));`;
  // Scalars the host follows (loop counters, their tests): branches on them read no value back.
  const blobName = `${o.prefix}_weights_blob`;
  const host = followScalars(f, kernels, (s) => weightAt.has(s));
  const hostRef = (s: Sym): string => {
    const name = host.names.get(s);
    return name ? `&${name}` : `(const void*)(${blobName} + ${weightAt.get(s)})`;
  };
  /** A kernel op only the host runs: what it computes is followed there and nothing on the GPU reads it. */
  const hostOnly = (k: FlatOp): boolean => k.outs.length > 0 && k.outs.every((s) => host.hostOnly.has(s));
  const calls = runSteps(f, kernels, {
    bufRef,
    copy,
    fill: (dst, byte, n) => `RL_CUDA_CHECK(cudaMemsetAsync(${dst}, ${byte}, ${n}, stream));`,
    read: (ptr) => `rl_cuda_read(${ptr}, stream)`,
    hostValue: (s) => host.names.get(s),
    edgeCopy: (to, from, deviceCopy) => {
      if (!host.names.has(to)) return deviceCopy;
      const hostCopy = `memcpy(${hostRef(to)}, ${hostRef(from)}, ${c.bytes(to)});`;
      return host.hostOnly.has(to) ? hostCopy : `${deviceCopy} ${hostCopy}`;
    },
    inOutputBuffer: (s) => direct.has(s),
    call: (k, args, op) =>
      (hostOnly(op) ? [] : (k as CudaKernel).launches)
        .map(({ name, launch: l }) => {
          if (l.dynamicShared)
            return `RL_CUDA_LAUNCH_SHARED(${name}, ${l.blocks}, ${l.threads}, ${l.dynamicShared}, stream, ${args.join(', ')});`;
          const macro = l.synced ? 'RL_CUDA_LAUNCH_SYNCED' : 'RL_CUDA_LAUNCH';
          return `${macro}(${name}, ${l.blocks}, ${l.threads}, stream, ${args.join(', ')});`;
        })
        .concat(hostCall(op))
        .join(' '),
  });
  function hostCall(op: FlatOp): string[] {
    const fn = host.kernels.get(op);
    if (!fn) return [];
    const args = [...op.ins, ...op.outs].map(
      (s) => `(${op.outs.includes(s) ? '' : 'const '}${storage(s)}*)${hostRef(s).replace('(const void*)', '')}`,
    );
    return [`${fn.name}(${args.join(', ')});`];
  }
  const hostDecls = [...host.names].map(
    ([s, name]) => `${storage(s)} ${name} = 0; /* the host's copy of a followed scalar */`,
  );
  const branches = [...prog.control.values()].filter((x) => x.kind === 'branch' || x.kind === 'switch').length;
  const hostReads = [...prog.control.values()].filter(
    (x) => (x.kind === 'branch' && !host.names.has(x.cond)) || (x.kind === 'switch' && !host.names.has(x.index)),
  ).length;

  const PREFIX = o.prefix.toUpperCase();
  const header = `${o.prefix}.h`;
  const common = { version: VERSION, sourceName: o.sourceName, prefix: o.prefix, PREFIX, archs: archs.join(', ') };
  const io = (s: Sym, i: number) => ({ index: i, type: typeToString(s.type), bytes: c.bytes(s) });
  const files = new Map<string, string | Uint8Array>();
  files.set(
    header,
    render('cuda/model.h.hbs', {
      ...common,
      entry: prog.entry.name,
      guard: `${PREFIX}_H_`,
      controlFlow: controlFlowNote(hostReads, branches - hostReads),
      numInputs: prog.inputs.length,
      numOutputs: prog.outputs.length,
      arenaBytes: end,
      arenaAlignment: alignment,
      inputs: prog.inputs.map(io),
      outputs: prog.outputs.map(io),
    }),
  );
  const stage = (s: Sym, kind: 'HostToDevice' | 'DeviceToHost', host: string): string => {
    const dev = `S + ${stageAt.get(s)}`;
    const [dst, src] = kind === 'HostToDevice' ? [dev, host] : [host, dev];
    return copy(dst, src, c.bytes(s), kind);
  };
  files.set(
    `${o.prefix}.cu`,
    render('cuda/model.cu.hbs', {
      ...common,
      header,
      kernelCount: kernels.length,
      arenaBytes: end,
      weightBytes: blob.bytes,
      activationBytes: plan.arenaBytes,
      activationOffset,
      stagingOffset,
      arenaNote: `liveness lower bound ${plan.lowerBound}, no-reuse sum ${plan.noReuseBytes}`,
      kernels: [
        ...kernels.filter((_, i) => !hostOnly(kernelOps[i]!)).map((k) => k.source),
        ...[...host.kernels.values()].map((k) => k.source),
      ],
      calls: [...hostDecls, ...calls],
      numInputs: prog.inputs.length,
      numOutputs: prog.outputs.length,
      numInputsOrOne: Math.max(1, prog.inputs.length),
      numOutputsOrOne: Math.max(1, prog.outputs.length),
      ...ioTables(c, o.prefix, '{}'),
      stageIn: [
        ...prog.inputs.flatMap((s, i) => [
          stage(s, 'HostToDevice', `inputs[${i}]`),
          `device_inputs[${i}] = S + ${stageAt.get(s)};`,
        ]),
        ...prog.outputs.map((s, i) => `device_outputs[${i}] = S + ${stageAt.get(s)};`),
      ],
      stageOut: prog.outputs.map((s, i) => stage(s, 'DeviceToHost', `outputs[${i}]`)),
    }),
  );
  const { bin, asm } = blob.files(VERSION, `${o.prefix}_weights_blob`, `${o.prefix}_weights.bin`, 'Weights');
  files.set(`${o.prefix}_weights.bin`, bin);
  files.set(`${o.prefix}_weights.S`, asm);
  files.set('rl.h', readFileSync(join(RUNTIME_DIR, 'include', 'rl.h'), 'utf8'));
  files.set('rl_cuda.h', readFileSync(join(RUNTIME_DIR, 'include', 'rl_cuda.h'), 'utf8'));
  files.set(
    'Makefile',
    render('cuda/Makefile.hbs', {
      ...common,
      nvcc: 'nvcc',
      nvccflags: [NVCC_FLAGS, ...gencodeFlags(archs)].join(' '),
    }),
  );
  return {
    files,
    plan,
    objects: [`${o.prefix}.o`, `${o.prefix}_weights.o`],
    inputs: prog.inputs.map((s) => c.tensor(s)),
    outputs: prog.outputs.map((s) => c.tensor(s)),
    kernelNames: kernels.map((k) => k.name),
    weightBytes: blob.bytes,
    target: c.target,
    buildFlags: [],
    fusionGroups: kernelOps.flatMap((k, i) => (k.group ? [`${kernels[i]!.name}: ${describeGroup(k.group)}`] : [])),
    simdKernels: [],
    ...(c.fault ? { fault: c.fault.where } : {}),
  };
}

/** model.h's words on where its control flow runs (the lines after "on the host:"). */
function controlFlowNote(reads: number, followed: number): string {
  const words =
    reads > 0
      ? `this model reads ${reads} branch or switch value(s) back per step of its control flow (control flow runs on the host)${followed ? `; ${followed} more the host computes itself (loop counters and their tests)` : ''}`
      : followed > 0
        ? `its control flow runs on the host, which computes its ${followed} branch or switch value(s) itself (loop counters and their tests): nothing is read back`
        : 'this model has no control flow';
  const lines: string[] = [];
  let line = ' *     on the host:';
  for (const word of `${words}; outputs may be written as soon as their kernels run, so no output buffer may overlap an input or another output;`.split(
    ' ',
  )) {
    if (line.length + word.length + 1 > 100) (lines.push(line), (line = ' *    '));
    line += ` ${word}`;
  }
  return [...lines, line].join('\n');
}
