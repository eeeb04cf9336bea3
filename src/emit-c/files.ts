/**
 * @fileoverview The C backend's emit phase: kernels + memory plan + weights -> the files of an
 * output directory (model.h, model.c, the weight blob, Makefile, runtime headers). Pure: returns
 * file contents; writing and compiling them is the toolchain's (src/toolchain).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { error } from '../diag/diagnostics.js';
import { shortLoc } from '../diag/source.js';
import { typeToString } from '../ir/types.js';
import type { Attr } from '../ir/attrs.js';
import { printAttr } from '../ir/print.js';
import { DEVICE_TILE, shardingAnnotation } from '../partition/spmd.js';
import { size } from '../ir/tensor.js';
import type { MemoryPlan } from '../memory/plan.js';
import { render, RUNTIME_DIR } from '../emit-common/templates.js';
import type { FlatOp, Sym } from '../flat/program.js';
import { compilerOf, toolOf } from '../target/targets.js';
import type { Kernel } from '../emit-common/kernel.js';
import { BlobBuilder } from '../emit-common/blob.js';
import { cElem, cElemOrUndefined, storageLiteral, toStorageBytes } from '../emit-common/ctypes.js';
import { describeGroup } from '../kernel/fused.js';
import { intWeightPacking } from '../kernel/ukernel.js';
import { ioTables, runSteps } from '../emit-common/host.js';
import { packB, simdMacro } from './gemm.js';
import { CollectiveEmitter } from './collectives.js';
import { feedCall, usesFeeds } from './feeds.js';
import { effectOf } from '../flat/flatten.js';
import { deviceCount } from '../partition/devices.js';
import { packedIntWeightElem, packIntB } from './int-gemm.js';
import { packWinogradWeights } from './winograd.js';
import { AVX512_BLOB_THRESHOLD, BLOB_THRESHOLD, CFLAGS } from './emit.js';
import { prepacked, VERSION, type EmitResult, type FusedProgram } from '../emit-common/program.js';

/** Kernels of more C than this (bytes) are split over files of about this much each, which a
 * parallel build compiles at once (ResNet-50's 500 KB of kernels took one gcc 3.5 s). */
const KERNEL_FILE_BYTES = 150_000;
const MAX_KERNEL_FILES = 8;

/** The kernels in contiguous groups of about KERNEL_FILE_BYTES, with each one's prototype (copied
 * from its definition); undefined when they fit one file. */
function splitKernels(
  kernels: readonly Kernel[],
  fileBytes: number,
): { groups: Kernel[][]; prototypes: string[] } | undefined {
  const total = kernels.reduce((n, k) => n + k.source.length, 0);
  const parts = Math.min(MAX_KERNEL_FILES, kernels.length, Math.ceil(total / fileBytes));
  if (parts < 2) return undefined;
  const prototypes: string[] = [];
  for (const k of kernels) {
    const head = new RegExp(`^RL_KERNEL void ${k.name}\\(([^)]*)\\) \\{$`, 'm').exec(k.source);
    if (!head) return undefined; // not a plain kernel definition: keep one file
    prototypes.push(`RL_KERNEL void ${k.name}(${head[1]});`);
  }
  const groups: Kernel[][] = [[]];
  let done = 0;
  for (const k of kernels) {
    if (done >= (total / parts) * groups.length && groups.length < parts) groups.push([]);
    groups[groups.length - 1]!.push(k);
    done += k.source.length;
  }
  return { groups, prototypes };
}

/** An SPMD build's I/O comment: the sharding the source gives the value (its type is this
 * device's tile of it). */
function shardingNote(attrs: Readonly<Record<string, Attr>> | undefined): string | undefined {
  const a = shardingAnnotation(attrs);
  return a && attrs?.[DEVICE_TILE] ? `this device's part of the value sharded ${printAttr(a)}` : undefined;
}

export function emitFilesForC(f: FusedProgram, plan: MemoryPlan, kernels: readonly Kernel[]): EmitResult {
  const { c, kernelOps, gemmOf, keep } = f;
  const { prog, target, threads, o } = c;
  const injected = c.fault;
  const tensor = (s: Sym) => c.tensor(s);
  const valueOf = (s: Sym) => c.valueOf(s);
  const bytes = (s: Sym): number => c.bytes(s);
  // Constants read only as a prepacked GEMM weight are linked in packed form only.
  const readAsIs = new Set<Sym>(prog.outputs);
  for (const k of kernelOps)
    (prepacked(gemmOf.get(k)) ? k.ins.filter((_, i) => i !== 1) : k.ins).forEach((x) => readAsIs.add(x));
  for (const x of keep) if (prog.constants.has(x)) readAsIs.add(x); // e.g. a constant copied on a loop edge

  // ---- weights ---------------------------------------------------------------------------------
  const weightDecls: string[] = [];
  const ref = new Map<Sym, string>();
  const blob = new BlobBuilder();
  const blobSymbol = `${o.prefix}_weights_blob`;
  let w = 0;
  for (const [s, op] of prog.constants) {
    if (!readAsIs.has(s)) continue;
    const t = tensor(s);
    const ce = cElem(t, 'stablehlo.constant', op.loc);
    const value = valueOf(s);
    const n = size(value);
    const name = `w${w++}`;
    const loc = shortLoc(op.loc);
    // Complex constants always go to the blob: C has no portable constant initializer for
    // complex values with infinite or NaN parts.
    if (n * ce.bytes >= (target.simd === 'avx512' ? AVX512_BLOB_THRESHOLD : BLOB_THRESHOLD) || ce.cls === 'complex') {
      const offset = blob.add(toStorageBytes(value));
      weightDecls.push(`/* ${name}: ${typeToString(t)} from ${loc}, in the weight blob at offset ${offset} */`);
      ref.set(s, `((const ${ce.storage}*)(${blobSymbol} + ${offset}))`);
    } else {
      const vals: string[] = [];
      for (let i = 0; i < n; i++) vals.push(storageLiteral(ce, value, i));
      weightDecls.push(
        `/* ${name}: ${typeToString(t)} from ${loc} */\nstatic const ${ce.storage} ${name}[${Math.max(1, n)}] = {${vals.join(', ') || '0'}};`,
      );
      ref.set(s, name);
    }
  }
  const packedWeight = new Map<FlatOp, string>();
  for (const [f, g] of gemmOf) {
    if (!prepacked(g)) continue;
    const [s, op] = [f.ins[1]!, prog.constants.get(f.ins[1]!)!];
    const int = g.kind === 'int-gemm';
    const offset = blob.add(
      int ? packIntB(g, valueOf(s)) : g.kind === 'winograd' ? packWinogradWeights(g, valueOf(s)) : packB(g, valueOf(s)),
    );
    const loc = shortLoc(op.loc);
    const gemm = g.kind === 'winograd' ? g.gemm : g;
    const tile =
      gemm.kind === 'int-gemm'
        ? `${gemm.mr}x${gemm.nr}, as ${intWeightPacking(gemm)}`
        : `${gemm.tiling.mr}x${gemm.tiling.nr}`;
    weightDecls.push(
      `/* w${w++}: ${typeToString(s.type)} from ${loc}, ${g.kind === 'winograd' ? `transformed for Winograd F(${g.tile}x${g.tile}, 3x3) (G g G^T) and ` : ''}packed for the GEMM tile ${tile}, in the weight blob at offset ${offset} */`,
    );
    const type = int ? cElemOrUndefined(packedIntWeightElem(g))!.storage : 'float';
    packedWeight.set(f, `((const ${type}*)(${blobSymbol} + ${offset}))`);
  }
  if (blob.bytes) weightDecls.unshift(`extern const uint8_t ${blobSymbol}[];`);

  prog.inputs.forEach((s, i) =>
    ref.set(s, `((const ${cElem(tensor(s), 'input', prog.entry.loc).storage}*)inputs[${i}])`),
  );
  const bufRef = (s: Sym): string => {
    const r = ref.get(s);
    if (r) return r;
    const off = plan.offsets.get(s);
    if (off === undefined)
      throw error('E0204', { op: 'memory plan', detail: `value ${s.id} has no buffer` }, prog.entry.loc);
    return `((${cElem(tensor(s), 'value', prog.entry.loc).storage}*)(A + ${off}))`;
  };
  const collectives = o.devices ? new CollectiveEmitter(o.devices, o.prefix, bufRef) : undefined;
  const calls = runSteps(f, kernels, {
    effect: (step: FlatOp) => {
      const what = effectOf(step.op.name);
      if (what === 'token join') return `/* ${step.op.name}: tokens carry no data */`;
      if (what === 'host feed') return feedCall(step, bufRef, bytes);
      if (collectives) return collectives.call(step);
      throw error(
        'E0301',
        { op: `${step.op.name} (an SPMD program: compile it with --devices N)`, target: 'one device' },
        step.op.loc,
      );
    },
    bufRef,
    copy: (dst, src, n) => `memcpy(${dst}, ${src}, ${n});`,
    fill: (dst, byte, n) => `memset(${dst}, ${byte}, ${n});`,
    read: (ptr) => `*${ptr}`,
    args: (k) => [
      ...k.ins.map((x, i) => (i === 1 && packedWeight.has(k) ? packedWeight.get(k)! : bufRef(x))),
      ...k.outs.map(bufRef),
    ],
    call: (kernel, args) => {
      const pool = kernel.params.some((p) => p.name === 'pool') ? ['pool'] : [];
      return `${kernel.name}(${[...args, ...pool].join(', ')});`;
    },
  });

  const { ioDims, inputInfos, outputInfos } = ioTables(c, o.prefix);
  const PREFIX = o.prefix.toUpperCase();
  const header = `${o.prefix}.h`;
  const simd = kernels.some((k) => k.usesSimd) ? simdMacro(target) : undefined;
  const comm = o.devices?.comm;
  const buildFlags = threads > 1 || comm === 'threads' ? ['-pthread'] : [];
  const spmd = o.devices
    ? {
        devices: deviceCount(o.devices),
        replicas: o.devices.replicas,
        partitions: o.devices.partitions,
        comm,
        launch:
          comm === 'mpi'
            ? `mpirun -np ${deviceCount(o.devices)} ./app (each process one device, rank = device)`
            : `one process; rl_comm_launch starts ${deviceCount(o.devices)} threads, one per device`,
      }
    : undefined;
  const threadsParam = threads > 1 ? threads : undefined;
  // Pointers the arena keeps after the plan (and the thread pool): the communicator's, the feeds'.
  const feeds = usesFeeds(prog.ops);
  const slots = { comm: spmd !== undefined, feeds, bytes: 16 * (Number(spmd !== undefined) + Number(feeds)) };
  const common = { version: VERSION, sourceName: o.sourceName, prefix: o.prefix, PREFIX };
  const files = new Map<string, string | Uint8Array>();
  const split = splitKernels(kernels, o.kernelFileBytes ?? KERNEL_FILE_BYTES);
  const kernelsHeader = split ? `${o.prefix}_kernels.h` : undefined;
  const kernelObjects: string[] = [];
  if (split) {
    files.set(
      kernelsHeader!,
      render('c/kernels.h.hbs', {
        ...common,
        header,
        guard: `${PREFIX}_KERNELS_H_`,
        simdMacro: simd,
        target: target.name,
        kernelCount: kernels.length,
        parts: split.groups.length,
        lastPart: split.groups.length - 1,
        renames: kernels.map((k) => `#define ${k.name} ${o.prefix}_${k.name}`),
        prototypes: split.prototypes,
      }),
    );
    split.groups.forEach((group, i) => {
      files.set(
        `${o.prefix}_kernels${i}.c`,
        render('c/kernels.c.hbs', {
          ...common,
          kernelsHeader,
          part: i + 1,
          parts: split.groups.length,
          first: group[0]!.name,
          last: group[group.length - 1]!.name,
          kernels: group.map((k) => k.source),
        }),
      );
      kernelObjects.push(`${o.prefix}_kernels${i}.o`);
    });
  }
  files.set(
    header,
    render('c/model.h.hbs', {
      ...common,
      entry: prog.entry.name,
      guard: `${PREFIX}_H_`,
      threads: threadsParam,
      numInputs: prog.inputs.length,
      numOutputs: prog.outputs.length,
      arenaBytes: plan.arenaBytes,
      arenaAlignment: plan.alignment,
      inputs: prog.inputs.map((s, i) => ({
        index: i,
        type: typeToString(s.type),
        bytes: bytes(s),
        sharding: o.devices ? shardingNote(prog.entry.paramAttrs?.[i]) : undefined,
      })),
      outputs: prog.outputs.map((s, i) => ({
        index: i,
        type: typeToString(s.type),
        bytes: bytes(s),
        sharding: o.devices ? shardingNote(prog.entry.resultAttrs?.[i]) : undefined,
      })),
      spmd,
      slots,
    }),
  );
  files.set(
    `${o.prefix}.c`,
    render('c/model.c.hbs', {
      ...common,
      header,
      kernelsHeader,
      simdMacro: simd,
      target: target.name,
      threads: threadsParam,
      planBytes: plan.arenaBytes,
      kernelCount: kernels.length,
      arenaBytes: plan.arenaBytes,
      arenaNote: `liveness lower bound ${plan.lowerBound}, no-reuse sum ${plan.noReuseBytes}`,
      weightDecls: [...weightDecls, ...(collectives?.tables ?? [])],
      spmd,
      slots,
      kernels: split ? [] : kernels.map((k) => k.source),
      ioDims,
      inputInfos,
      outputInfos,
      numInputs: prog.inputs.length,
      numOutputs: prog.outputs.length,
      numInputsOrOne: Math.max(1, prog.inputs.length),
      numOutputsOrOne: Math.max(1, prog.outputs.length),
      calls: calls.filter(Boolean),
    }),
  );
  const objects = [`${o.prefix}.o`, ...kernelObjects, ...(comm ? [`rl_comm_${comm}.o`] : [])];
  if (comm) {
    files.set('rl_comm.h', readFileSync(join(RUNTIME_DIR, 'include', 'rl_comm.h'), 'utf8'));
    files.set(`rl_comm_${comm}.c`, readFileSync(join(RUNTIME_DIR, 'src', `rl_comm_${comm}.c`), 'utf8'));
  }
  if (blob.bytes) {
    const { bin, asm } = blob.files(VERSION, blobSymbol, `${o.prefix}_weights.bin`, 'Large weights');
    files.set(`${o.prefix}_weights.bin`, bin);
    files.set(`${o.prefix}_weights.S`, asm);
    objects.push(`${o.prefix}_weights.o`);
  }
  files.set('rl.h', readFileSync(join(RUNTIME_DIR, 'include', 'rl.h'), 'utf8'));
  if (simd) files.set('rl_simd.h', readFileSync(join(RUNTIME_DIR, 'include', 'rl_simd.h'), 'utf8'));
  if (threads > 1) files.set('rl_threads.h', readFileSync(join(RUNTIME_DIR, 'include', 'rl_threads.h'), 'utf8'));
  files.set(
    'Makefile',
    render('c/Makefile.hbs', {
      ...common,
      target: target.name,
      cc: comm === 'mpi' ? 'mpicc' : compilerOf(target, o.cc),
      ar: toolOf(target, 'ar'),
      cflags: [CFLAGS, ...target.cflags, ...buildFlags].join(' '),
      shared: target.os === 'hosted',
      objects: objects.join(' '),
    }),
  );
  return {
    files,
    plan,
    objects,
    inputs: prog.inputs.map(tensor),
    outputs: prog.outputs.map(tensor),
    kernelNames: kernels.map((k) => k.name),
    weightBytes: blob.bytes,
    target,
    buildFlags,
    fusionGroups: kernelOps.flatMap((k, i) => (k.group ? [`${kernels[i]!.name}: ${describeGroup(k.group)}`] : [])),
    simdKernels: kernels.filter((k) => k.usesSimd).map((k) => k.name),
    ...(injected ? { fault: injected.where } : {}),
    ...(feeds ? { hostFeeds: true } : {}),
    ...(collectives
      ? { communication: { calls: collectives.described, receivedBytes: collectives.receivedBytes } }
      : {}),
  };
}
