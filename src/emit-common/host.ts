/**
 * @fileoverview The body of a model's run function, for every C-family backend: one kernel call
 * per kernel op in program order, the control steps (labels, gotos, branches, switches and the
 * copies on their edges) as host code, then the copies to the outputs. A backend says how it calls
 * a kernel, copies bytes and reads a scalar on the host (C: plain calls, memcpy and loads; CUDA:
 * launches on a stream, device copies and a read back). With a fault injected (flat/faults.ts),
 * its unwritten range is filled with UNWRITTEN_BYTE after the kernel or copy that wrote it.
 */
import type { Edge, FlatOp, Sym } from '../flat/program.js';
import type { CProgram, FusedProgram } from './program.js';
import { cElem } from './ctypes.js';
import type { Kernel } from './kernel.js';
import { UNWRITTEN_BYTE, type UnwrittenRange } from '../flat/faults.js';
import { error } from '../diag/diagnostics.js';

export interface HostSpelling {
  /** The statement running kernel `k` on `args` (its operands then results, as bufRef spells them). */
  readonly call: (k: Kernel, args: readonly string[], op: FlatOp) => string;
  /** The statement copying `bytes` bytes from `src` to `dst`. */
  readonly copy: (dst: string, src: string, bytes: number) => string;
  /** An expression reading, on the host, the element typed pointer `ptr` points to. */
  readonly read: (ptr: string) => string;
  /** Where value `s` is (an input, a weight, an arena offset), as a typed pointer expression. */
  readonly bufRef: (s: Sym) => string;
  /** The operand list of kernel op `k` (defaults to its ins then outs by bufRef). */
  readonly args?: (k: FlatOp) => string[];
  /** The statement setting `bytes` bytes from `dst` (a uint8_t pointer) to `byte`. */
  readonly fill: (dst: string, byte: string, bytes: number) => string;
  /** The statements of an effect step (flat/program.ts; absent: the backend has none yet). */
  readonly effect?: (f: FlatOp) => string;
  /** Whether output `s` is computed in the caller's output buffer (bufRef names it): no copy. */
  readonly inOutputBuffer?: (s: Sym) => boolean;
  /** An expression of scalar `s`'s value the host has without reading it (CUDA's followed
   * scalars), if it has one: a branch or switch on it reads that instead. */
  readonly hostValue?: (s: Sym) => string | undefined;
  /** The statements of an edge's copy of `from` to `to`, given the backend's copy of the bytes
   * (CUDA: with, or instead of it, the host's copy of a followed scalar). */
  readonly edgeCopy?: (to: Sym, from: Sym, copy: string) => string;
}

/** The statements of the run function, the copies to the outputs last. */
export function runSteps(f: FusedProgram, kernels: readonly Kernel[], h: HostSpelling): string[] {
  const { prog } = f.c;
  const unwritten = f.c.fault?.unwritten;
  const unwrite = (buffer: string, u: UnwrittenRange): string => {
    const bytes = f.c.elemBytes(u.sym);
    return ` ${h.fill(`(uint8_t*)${buffer} + ${u.firstElement * bytes}`, UNWRITTEN_BYTE, u.elements * bytes)} /* injected fault */`;
  };
  const kernelOf = new Map(f.kernelOps.map((k, i) => [k, kernels[i]!]));
  const copyList = (cs: Edge['copies']): string =>
    cs
      .map(([from, to]) => {
        const copy = h.copy(h.bufRef(to), h.bufRef(from), f.c.bytes(to));
        return `${h.edgeCopy?.(to, from, copy) ?? copy} `;
      })
      .join('');
  const read = (s: Sym): string => h.hostValue?.(s) ?? h.read(h.bufRef(s));
  const copies = (e: Edge): string => copyList(e.copies);
  return prog.ops
    .map((op) => {
      const c = prog.control.get(op);
      if (!c) {
        const k = f.kernelAt.get(op);
        if (!k) return ''; // fused into a kernel that runs later
        const args = h.args?.(k) ?? [...k.ins, ...k.outs].map(h.bufRef);
        const call = h.call(kernelOf.get(k)!, args, k);
        return unwritten?.by === 'kernel' && k.outs.includes(unwritten.sym)
          ? call + unwrite(h.bufRef(unwritten.sym), unwritten)
          : call;
      }
      switch (c.kind) {
        case 'label':
          return `${c.name}:;`;
        case 'goto':
          return `${copies(c.edge)}goto ${c.edge.target};`;
        case 'branch':
          return `if (${read(c.cond)}) { ${copies(c.onTrue)}goto ${c.onTrue.target}; } ${copies(c.onFalse)}goto ${c.onFalse.target};`;
        case 'copy':
          return copyList(c.copies).trimEnd() || '/* no copies */';
        case 'switch': {
          const cases = c.targets
            .slice(0, -1)
            .map((t, i) => `case ${i}: goto ${t}; `)
            .join('');
          const index = read(c.index);
          return `switch ((int64_t)${index}) { ${cases}default: goto ${c.targets[c.targets.length - 1]}; }`;
        }
        case 'effect':
          if (!h.effect)
            throw error('E0301', { op: op.op.name, target: 'this backend (no communicator or feeds yet)' }, op.op.loc);
          return h.effect(op);
      }
    })
    .filter(Boolean)
    .concat(
      prog.outputs.flatMap((s, i) => {
        if (h.inOutputBuffer?.(s)) return [];
        const copy = `${h.copy(`outputs[${i}]`, h.bufRef(s), f.c.bytes(s))} /* output ${i} */`;
        return i === 0 && unwritten?.by === 'output copy' ? copy + unwrite('outputs[0]', unwritten) : copy;
      }),
    );
}

/** The rl_tensor_info_t tables of the inputs and outputs and the dims arrays they point to. An
 * empty table holds one zeroed entry, `empty` (C has no empty arrays; C's `{0}`, C++'s `{}`). */
export function ioTables(
  c: CProgram,
  prefix: string,
  empty = '{0}',
): { ioDims: string[]; inputInfos: string[]; outputInfos: string[] } {
  const ioDims: string[] = [];
  const info = (s: Sym, kind: string, i: number): string => {
    const t = c.tensor(s);
    const dims = `${prefix}_${kind}${i}_dims`;
    ioDims.push(`static const int64_t ${dims}[${Math.max(1, t.shape.length)}] = {${t.shape.join(', ') || '0'}};`);
    return `{"${kind}${i}", ${cElem(t, kind, c.prog.entry.loc).rlDtype}, ${t.shape.length}, ${dims}, ${c.bytes(s)}}`;
  };
  const inputInfos = c.prog.inputs.map((s, i) => info(s, 'input', i));
  const outputInfos = c.prog.outputs.map((s, i) => info(s, 'output', i));
  return {
    ioDims,
    inputInfos: inputInfos.length ? inputInfos : [empty],
    outputInfos: outputInfos.length ? outputInfos : [empty],
  };
}
