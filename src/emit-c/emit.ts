/**
 * @fileoverview The C backend's emit phase: flat program -> kernels + memory plan + weights ->
 * the files of an output directory (model.h, model.c, weights, Makefile, rl.h). Pure: returns
 * file contents; writing and compiling are the caller's (build.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { error } from '../diag/diagnostics.js';

import type { Module } from '../ir/core.js';
import { intElem, numElements, tensorType, typeToString, type TensorType } from '../ir/types.js';
import { elemBits, getElem, size, type Tensor } from '../ir/tensor.js';
import { constantValue } from '../ops/control.js';
import { unrollManualRegions } from '../partition/unroll.js';
import { planMemory, planWithJumps, type MemoryPlan, type PlanStep } from '../memory/plan.js';
import { render, RUNTIME_DIR } from '../emit-common/templates.js';
import { cElem, cElemOrUndefined, literal, toStorageBytes, type CElem } from './ctypes.js';
import { fuse } from '../fusion/fuse.js';
import { describeGroup } from './fused.js';
import { simplify } from '../canonicalize/simplify.js';
import { controlCopies, flatten } from '../flat/flatten.js';
import { isFusibleElementwise, isReducible, lowerToKernel, writesInPlaceSafely } from './kernels.js';
import { gemmScratchBytes, packB, planGemm, simdMacro, type GemmPlan } from './gemm.js';
import { planDirectConv, type DirectConvPlan } from './direct-conv.js';
import { BlobBuilder } from './blob.js';
import { generateSplats } from './splats.js';
import { injectFault, UNWRITTEN_BYTE, type FaultKind, type UnwrittenRange } from '../flat/faults.js';
import { compilerOf, lookupTarget, toolOf, type Target } from '../target/targets.js';
import type { Edge, FlatOp, Sym } from '../flat/program.js';
import { RuntimeError } from '../diag/diagnostics.js';

export const VERSION = '0.1.0';
/** Weights at least this large go into the .incbin blob instead of a C array literal. */
export const BLOB_THRESHOLD = 1024;
/**
 * With AVX-512 enabled, GCC 12.2 (Debian bookworm's gcc) miscompiles copies of some constant
 * arrays it can see: 48 bytes of {a,a,a,a,0,0,0,0,...} were stored as a broadcast of a to 32
 * bytes (found by the conformance data: quantized gather, expected-value constant). On AVX-512
 * targets every weight wider than 16 bytes therefore goes to the blob, out of the compiler's sight.
 */
const AVX512_BLOB_THRESHOLD = 17;

export interface EmitOptions {
  readonly entry: string;
  readonly prefix: string;
  readonly sourceName: string;
  readonly cc: string;
  /** Compilation target (default: host); its flags go into the generated Makefile. */
  readonly target?: Target;
  /** Conformance runs: check ops become extra outputs (see flatten). */
  readonly checksAsOutputs?: boolean;
  /** Constant folding and CSE before code generation (default on). */
  readonly simplify?: boolean;
  /** SIMD kernels on SIMD targets (default on): the packed GEMM and direct-convolution paths for
   * f32 dots/convolutions, vector loops for pooling and elementwise ops. Off: portable scalar C. */
  readonly simd?: boolean;
  /** Loop fusion of elementwise chains and GEMM epilogues (default on). */
  readonly fusion?: boolean;
  /** Threads for GEMM, convolution and large loop kernels (hosted targets; default 1: no pthreads at all). */
  readonly threads?: number;
  /** Testing the tests: emit a deliberately wrong program (faults.ts). */
  readonly fault?: FaultKind;
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
  /** With EmitOptions.fault: where the fault went. */
  readonly fault?: string;
}

export const CFLAGS = '-O3 -std=c99 -Wall -Wextra -Werror -ffp-contract=off';

export function emitC(m: Module, o: EmitOptions): EmitResult {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(o.prefix)) throw error('E0204', { op: '--prefix', detail: `'${o.prefix}' is not a C identifier` }, undefined);
  const target = o.target ?? lookupTarget('host');
  const threads = o.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1 || threads > 64) throw new RuntimeError(`--threads must be an integer from 1 to 64, got ${threads}`);
  if (threads > 1 && target.os !== 'hosted') throw new RuntimeError(`--threads ${threads} needs a hosted target (POSIX threads); '${target.name}' is ${target.os}`);
  // Partition phase: on one device, manual (shard_map) regions become plain code.
  const flat = flatten(unrollManualRegions(m), o.entry, { checksAsOutputs: o.checksAsOutputs ?? false });
  const simplified = o.simplify === false ? flat : simplify(flat);
  const tensor = (s: Sym): TensorType => {
    if (s.type.kind !== 'tensor') throw error('E0301', { op: `value of type ${typeToString(s.type)}`, target: 'C backend' }, simplified.entry.loc);
    return s.type;
  };
  const decodeConstant = (s: Sym): Tensor => {
    const op = simplified.constants.get(s)!;
    return constantValue(op.attrs['value'], tensor(s), op);
  };
  const injected = o.fault ? injectFault(simplified, o.fault, decodeConstant) : undefined;
  const elemBytes = (s: Sym): number => cElem(tensor(s), 'value', simplified.entry.loc).bytes;
  const bytes = (s: Sym): number => numElements(tensor(s).shape) * elemBytes(s);
  // Each constant is decoded once, though splat detection, the weights and GEMM packing all read it.
  const decoded = new Map<Sym, Tensor>();
  const valueOf = (s: Sym): Tensor => {
    let v = decoded.get(s);
    if (!v) {
      v = injected?.constants.get(s) ?? decodeConstant(s);
      decoded.set(s, v);
    }
    return v;
  };
  // Large splat constants are broadcast at run time (splats.ts), never stored in full.
  const generated = generateSplats(injected?.prog ?? simplified, valueOf, bytes);
  for (const [s, v] of generated.scalars) decoded.set(s, v);
  const prog = generated.prog;
  // Splat constants (every element equal) fused into a loop become literals, never weights.
  const splats = new Map<Sym, string | undefined>();
  const splatOf = (s: Sym): string | undefined => {
    if (!splats.has(s)) {
      const op = prog.constants.get(s);
      const ce = op && s.type.kind === 'tensor' && s.type.elem.kind !== 'complex' && s.type.elem.kind !== 'quant' ? cElemOrUndefined(s.type.elem) : undefined;
      let lit: string | undefined;
      // Not booleans: gcc rejects `(1 | x) != 0` as a tautology under -Werror.
      if (op && ce && !ce.subByte && ce.cls !== 'bool') {
        const value = valueOf(s);
        const first = elemBits(value, 0);
        let all = size(value) > 0;
        for (let i = 1; all && i < size(value); i++) all = elemBits(value, i) === first;
        if (all) lit = ce.load(storageLiteral(ce, value, 0));
      }
      splats.set(s, lit);
    }
    return splats.get(s);
  };
  // f32 dots and convolutions on SIMD targets take the packed GEMM path (depthwise and few-channel
  // convolutions the direct one), with arena scratch for packing: the scratch is an extra output
  // symbol of the op, live only during it.
  const lanes = o.simd !== false && simdMacro(target) ? target.vectorBits / 32 : undefined;
  const planFor = (f: FlatOp, out?: Sym): GemmPlan | DirectConvPlan | undefined =>
    lanes === undefined ? undefined : (planDirectConv(f, target) ?? planGemm(f, target, (i) => prog.constants.has(f.ins[i]!), out?.type as TensorType | undefined));
  const prepacked = (g: GemmPlan | DirectConvPlan | undefined): g is GemmPlan => g?.kind === 'gemm' && g.bPrepacked;
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
  for (const [f, c] of prog.control) {
    f.ins.forEach((s) => keep.add(s));
    for (const [from, to] of controlCopies(c)) keep.add(from).add(to);
  }
  const fuseContext = { isElementwise: isFusibleElementwise, isSplat: (s: Sym) => splatOf(s) !== undefined, canHead: (f: FlatOp) => planFor(f) !== undefined, isReducible, outputs: [...keep] };
  const grouped = o.fusion === false ? runs.flat() : runs.flatMap((run) => fuse(run, fuseContext));
  const gemmOf = new Map<FlatOp, GemmPlan | DirectConvPlan>();
  let scratchId = -1;
  const kernelOps = grouped.map((f) => {
    const gemm = planFor(f.group?.head ?? f, f.outs[0]);
    if (!gemm) return f;
    const scratch: Sym = { id: scratchId--, type: tensorType([gemm.kind === 'gemm' ? gemmScratchBytes(gemm) : 0], intElem(8, false)) };
    const withScratch: FlatOp = { ...f, outs: [...f.outs, scratch] };
    gemmOf.set(withScratch, gemm);
    return withScratch;
  });
  // Kernels by the op of the source program at whose position they run (a group runs at its root's).
  const kernelAt = new Map(grouped.map((f, i) => [f.group ? (f.group.reduce ?? f.group.members[f.group.members.length - 1]!) : f, kernelOps[i]!]));
  // Constants read only as a prepacked GEMM weight are linked in packed form only.
  const readAsIs = new Set<Sym>(prog.outputs);
  for (const k of kernelOps) (prepacked(gemmOf.get(k)) ? k.ins.filter((_, i) => i !== 1) : k.ins).forEach((x) => readAsIs.add(x));
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
    const loc = `${op.loc.file.split('/').pop()}:${op.loc.line}:${op.loc.col}`;
    // Complex constants always go to the blob: C has no portable constant initializer for
    // complex values with infinite or NaN parts.
    if (n * ce.bytes >= (target.simd === 'avx512' ? AVX512_BLOB_THRESHOLD : BLOB_THRESHOLD) || ce.cls === 'complex') {
      const offset = blob.add(toStorageBytes(value));
      weightDecls.push(`/* ${name}: ${typeToString(t)} from ${loc}, in the weight blob at offset ${offset} */`);
      ref.set(s, `((const ${ce.storage}*)(${blobSymbol} + ${offset}))`);
    } else {
      const vals: string[] = [];
      for (let i = 0; i < n; i++) vals.push(storageLiteral(ce, value, i));
      weightDecls.push(`/* ${name}: ${typeToString(t)} from ${loc} */\nstatic const ${ce.storage} ${name}[${Math.max(1, n)}] = {${vals.join(', ') || '0'}};`);
      ref.set(s, name);
    }
  }
  const packedWeight = new Map<FlatOp, string>();
  for (const [f, g] of gemmOf) {
    if (!prepacked(g)) continue;
    const [s, op] = [f.ins[1]!, prog.constants.get(f.ins[1]!)!];
    const offset = blob.add(packB(g, valueOf(s)));
    const loc = `${op.loc.file.split('/').pop()}:${op.loc.line}:${op.loc.col}`;
    weightDecls.push(`/* w${w++}: ${typeToString(s.type)} from ${loc}, packed for the GEMM tile ${g.tiling.mr}x${g.tiling.nr}, in the weight blob at offset ${offset} */`);
    packedWeight.set(f, `((const float*)(${blobSymbol} + ${offset}))`);
  }
  if (blob.bytes) weightDecls.unshift(`extern const uint8_t ${blobSymbol}[];`);

  // ---- memory plan and calls -------------------------------------------------------------------
  const external = new Set<Sym>([...prog.inputs, ...prog.constants.keys()]);
  let plan: MemoryPlan;
  if (prog.control.size === 0) plan = planMemory(kernelOps, external, prog.outputs, elemBytes, writesInPlaceSafely);
  else {
    // Control flow: live ranges over the steps in program order, widened over loops (memory/plan.ts).
    const steps: PlanStep[] = prog.ops.map((f) => {
      const c = prog.control.get(f);
      if (!c) {
        const k = kernelAt.get(f);
        return k ? { defs: k.outs, uses: k.ins } : { defs: [], uses: [] }; // fused into a later kernel
      }
      const copies = controlCopies(c);
      const moved = { defs: copies.map(([, to]) => to), uses: copies.map(([from]) => from) };
      switch (c.kind) {
        case 'label':
          return { defs: [], uses: [], label: c.name };
        case 'goto':
          return { ...moved, jumpsTo: [c.edge.target] };
        case 'branch':
          return { defs: moved.defs, uses: [c.cond, ...moved.uses], jumpsTo: [c.onTrue.target, c.onFalse.target] };
        case 'switch':
          return { defs: [], uses: [c.index], jumpsTo: c.targets };
        case 'copy':
          return moved;
      }
    });
    plan = planWithJumps(steps, external, prog.outputs, elemBytes);
  }
  const env = { splat: splatOf };
  const kernels = kernelOps.map((f, i) => lowerToKernel(f, i, plan.inPlace.has(f) || f.ins.includes(f.outs[0]!), gemmOf.get(f), env, threads, lanes));
  const kernelOf = new Map(kernelOps.map((f, i) => [f, kernels[i]!]));
  prog.inputs.forEach((s, i) => ref.set(s, `((const ${cElem(tensor(s), 'input', prog.entry.loc).storage}*)inputs[${i}])`));
  const bufRef = (s: Sym): string => {
    const r = ref.get(s);
    if (r) return r;
    const off = plan.offsets.get(s);
    if (off === undefined) throw error('E0204', { op: 'memory plan', detail: `value ${s.id} has no buffer` }, prog.entry.loc);
    return `((${cElem(tensor(s), 'value', prog.entry.loc).storage}*)(A + ${off}))`;
  };
  // Injected fault: these elements end as an unwritten buffer reads in the test harnesses.
  const unwrite = (buffer: string, u: UnwrittenRange): string =>
    `memset((uint8_t*)${buffer} + ${u.firstElement * elemBytes(u.sym)}, ${UNWRITTEN_BYTE}, ${u.elements * elemBytes(u.sym)}); /* injected fault */`;
  const copyList = (cs: Edge['copies']): string => cs.map(([from, to]) => `memcpy(${bufRef(to)}, ${bufRef(from)}, ${bytes(to)}); `).join('');
  const copies = (e: Edge): string => copyList(e.copies);
  const calls = prog.ops.map((f) => {
    const c = prog.control.get(f);
    if (!c) {
      const k = kernelAt.get(f);
      if (!k) return ''; // fused into a kernel that runs later
      const ins = k.ins.map((x, i) => (i === 1 && packedWeight.has(k) ? packedWeight.get(k)! : bufRef(x)));
      const pool = kernelOf.get(k)!.params.some((p) => p.name === 'pool') ? ['pool'] : [];
      const call = `${kernelOf.get(k)!.name}(${[...ins, ...k.outs.map(bufRef), ...pool].join(', ')});`;
      const u = injected?.unwritten;
      return u?.by === 'kernel' && k.outs.includes(u.sym) ? `${call} ${unwrite(bufRef(u.sym), u)}` : call;
    }
    switch (c.kind) {
      case 'label':
        return `${c.name}:;`;
      case 'goto':
        return `${copies(c.edge)}goto ${c.edge.target};`;
      case 'branch':
        return `if (*(const uint8_t*)${bufRef(c.cond)}) { ${copies(c.onTrue)}goto ${c.onTrue.target}; } ${copies(c.onFalse)}goto ${c.onFalse.target};`;
      case 'copy':
        return copyList(c.copies).trimEnd() || '/* no copies */';
      case 'switch': {
        const cases = c.targets.slice(0, -1).map((t, i) => `case ${i}: goto ${t}; `).join('');
        return `switch ((int64_t)*${bufRef(c.index)}) { ${cases}default: goto ${c.targets[c.targets.length - 1]}; }`;
      }
    }
  });
  prog.outputs.forEach((s, i) => calls.push(`memcpy(outputs[${i}], ${bufRef(s)}, ${bytes(s)}); /* output ${i} */`));
  if (injected?.unwritten?.by === 'output copy') calls.push(unwrite('outputs[0]', injected.unwritten));

  // ---- I/O tables ------------------------------------------------------------------------------
  const ioDims: string[] = [];
  const info = (s: Sym, kind: string, i: number): string => {
    const t = tensor(s);
    const dims = `${o.prefix}_${kind}${i}_dims`;
    ioDims.push(`static const int64_t ${dims}[${Math.max(1, t.shape.length)}] = {${t.shape.join(', ') || '0'}};`);
    return `{"${kind}${i}", ${cElem(t, kind, prog.entry.loc).rlDtype}, ${t.shape.length}, ${dims}, ${bytes(s)}}`;
  };
  const inputInfos = prog.inputs.map((s, i) => info(s, 'input', i));
  const outputInfos = prog.outputs.map((s, i) => info(s, 'output', i));
  const PREFIX = o.prefix.toUpperCase();
  const header = `${o.prefix}.h`;
  const simd = kernels.some((k) => k.usesSimd) ? simdMacro(target) : undefined;
  const buildFlags = threads > 1 ? ['-pthread'] : [];
  const threadsParam = threads > 1 ? threads : undefined;
  const common = { version: VERSION, sourceName: o.sourceName, prefix: o.prefix, PREFIX };
  const files = new Map<string, string | Uint8Array>();
  files.set(
    header,
    render('c/model.h.hbs', {
      ...common,
      entry: o.entry,
      guard: `${PREFIX}_H_`,
      threads: threadsParam,
      numInputs: prog.inputs.length,
      numOutputs: prog.outputs.length,
      arenaBytes: plan.arenaBytes,
      arenaAlignment: plan.alignment,
      inputs: prog.inputs.map((s, i) => ({ index: i, type: typeToString(s.type), bytes: bytes(s) })),
      outputs: prog.outputs.map((s, i) => ({ index: i, type: typeToString(s.type), bytes: bytes(s) })),
    }),
  );
  files.set(
    `${o.prefix}.c`,
    render('c/model.c.hbs', {
      ...common,
      header,
      simdMacro: simd,
      target: target.name,
      threads: threadsParam,
      planBytes: plan.arenaBytes,
      kernelCount: kernels.length,
      arenaBytes: plan.arenaBytes,
      arenaNote: `liveness lower bound ${plan.lowerBound}, no-reuse sum ${plan.noReuseBytes}`,
      weightDecls,
      kernels: kernels.map((k) => k.source),
      ioDims,
      inputInfos: inputInfos.length ? inputInfos : ['{0}'],
      outputInfos: outputInfos.length ? outputInfos : ['{0}'],
      numInputs: prog.inputs.length,
      numOutputs: prog.outputs.length,
      numInputsOrOne: Math.max(1, prog.inputs.length),
      numOutputsOrOne: Math.max(1, prog.outputs.length),
      calls: calls.filter(Boolean),
    }),
  );
  const objects = [`${o.prefix}.o`];
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
      cc: compilerOf(target, o.cc),
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
    fusionGroups: kernelOps.flatMap((f, i) => (f.group ? [`${kernels[i]!.name}: ${describeGroup(f.group)}`] : [])),
    simdKernels: kernels.filter((k) => k.usesSimd).map((k) => k.name),
    ...(injected ? { fault: injected.where } : {}),
  };
}

/** Element i of a constant as a C literal of its storage type. */
function storageLiteral(ce: CElem, value: Tensor, i: number): string {
  if (ce.quant) return `(${ce.storage})${String(getElem(value, i))}`;
  if (ce.cls === 'int') return literal(ce, getElem(value, i) as bigint);
  if (ce.cls === 'bool') return String(getElem(value, i));
  if (ce.storage === 'uint16_t') return `(uint16_t)0x${elemBits(value, i).toString(16)}`;
  return cLiteralBits(ce.storage, elemBits(value, i));
}

/** Exact C literal of a float or double from its bit pattern (hex float, no rounding). */
function cLiteralBits(storage: string, bits: bigint): string {
  const buf = new DataView(new ArrayBuffer(8));
  let v: number;
  if (storage === 'float') {
    buf.setUint32(0, Number(bits));
    v = buf.getFloat32(0);
  } else {
    buf.setBigUint64(0, bits);
    v = buf.getFloat64(0);
  }
  if (Number.isNaN(v)) return 'NAN';
  if (!Number.isFinite(v)) return v > 0 ? 'INFINITY' : '-INFINITY';
  const s = Object.is(v, -0) ? '-0.0' : String(v); // shortest text that reads back exactly
  const lit = /[.e]/.test(s) ? s : `${s}.0`;
  return storage === 'float' ? `${lit}f` : lit;
}
