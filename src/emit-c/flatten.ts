/**
 * @fileoverview Canonicalization for code generation: inlines `func.call`s into the entry
 * function's single block and drops no-op ops, giving a flat, ordered op list over program-wide
 * symbols. Constants become weights.
 */
import { error } from '../diag/diagnostics.js';
import type { Func, Module, Op, Value } from '../ir/core.js';
import { isCheckOp } from '../ops/control.js';
import type { FlatOp, Sym } from './kernels.js';

export interface FlatProgram {
  readonly entry: Func;
  readonly inputs: readonly Sym[];
  readonly outputs: readonly Sym[];
  readonly ops: readonly FlatOp[];
  /** Constant ops (weights), by result symbol. */
  readonly constants: ReadonlyMap<Sym, Op>;
}

export interface FlattenOptions {
  /** Drop check ops and make the values they check the program's outputs (conformance runs). */
  readonly checksAsOutputs?: boolean;
}

export function flatten(m: Module, entryName: string, opts: FlattenOptions = {}): FlatProgram {
  const entry = m.funcs.get(entryName);
  if (!entry) throw error('E0107', { name: entryName }, undefined);
  let nextId = 0;
  const sym = (v: Value): Sym => ({ id: nextId++, type: v.type });
  const ops: FlatOp[] = [];
  const constants = new Map<Sym, Op>();
  const checked: Sym[] = [];
  const inline = (f: Func, args: readonly Sym[], depth: number): Sym[] => {
    if (depth > 64) throw error('E0204', { op: 'func.call', detail: 'call depth over 64 (recursion?) cannot be inlined' }, f.loc);
    const body = f.body;
    if (!body) throw error('E0204', { op: 'func.call', detail: `@${f.name} has no body` }, f.loc);
    if (body.blocks.length !== 1) {
      const op = body.blocks[0]?.ops.find((o) => o.name.startsWith('cf.')) ?? body.blocks[1]?.ops[0];
      throw error('E0301', { op: 'unstructured control flow (cf.br/cf.cond_br)', target: 'C backend' }, op?.loc ?? f.loc);
    }
    const env = new Map<Value, Sym>();
    const globalRefs = new Map<Value, string>();
    f.params.forEach((p, i) => env.set(p, args[i]!));
    for (const op of body.blocks[0]!.ops) {
      // IREE globals: an address is a name; loading it is a constant of the global's value.
      if (op.name === 'util.global.address') {
        const g = op.attrs['symbol'];
        if (g?.kind === 'symbol') globalRefs.set(op.results[0]!, g.name);
        continue;
      }
      if (op.name === 'util.global.load.indirect' || op.name === 'util.global.load') {
        const name = op.name === 'util.global.load' ? (op.attrs['global']?.kind === 'symbol' ? (op.attrs['global'] as { name: string }).name : '') : globalRefs.get(op.operands[0]!);
        const g = name ? m.globals.get(name) : undefined;
        if (!g) throw error('E0204', { op: op.name, detail: 'loads an unknown global' }, op.loc);
        const out = sym(op.results[0]!);
        env.set(op.results[0]!, out);
        constants.set(out, { ...op, name: 'stablehlo.constant', operands: [], attrs: { value: g.value } });
        continue;
      }
      const ins = op.operands.map((v) => {
        const s = env.get(v);
        if (!s) throw error('E0301', { op: `${op.name} using ${v.name}, a value the C backend does not produce`, target: 'C backend' }, op.loc);
        return s;
      });
      if (op.name === 'func.return') return ins;
      if (opts.checksAsOutputs && isCheckOp(op)) {
        checked.push(ins[0]!);
        // A check's pass flag (check.eq) is only ever returned, and returns are dropped here.
        op.results.forEach((r) => env.set(r, sym(r)));
        continue;
      }
      if (op.name === 'func.call') {
        const callee = op.attrs['callee'];
        const g = callee?.kind === 'symbol' ? m.funcs.get(callee.name) : undefined;
        if (!g) throw error('E0107', { name: callee?.kind === 'symbol' ? callee.name : '?' }, op.loc);
        inline(g, ins, depth + 1).forEach((s, i) => env.set(op.results[i]!, s));
        continue;
      }
      const outs = op.results.map(sym);
      op.results.forEach((r, i) => env.set(r, outs[i]!));
      if (op.name === 'stablehlo.constant') {
        constants.set(outs[0]!, op);
        continue;
      }
      ops.push({ op, ins, outs });
    }
    throw error('E0204', { op: 'func.func', detail: `@${f.name} does not end in func.return` }, f.loc);
  };
  const inputs = entry.params.map(sym);
  const returned = inline(entry, inputs, 0);
  // In conformance runs the checked values are the outputs (what main returns is what it checks).
  const outputs = opts.checksAsOutputs ? checked : returned;
  // Dead-code elimination: every op here is pure, so an op whose results are never used goes,
  // and so does a constant nothing reads.
  const used = new Set<Sym>(outputs);
  const live: FlatOp[] = [];
  for (let i = ops.length - 1; i >= 0; i--) {
    const f = ops[i]!;
    if (!f.outs.some((s) => used.has(s))) continue;
    live.unshift(f);
    for (const s of f.ins) used.add(s);
  }
  const liveConstants = new Map([...constants].filter(([s]) => used.has(s)));
  return { entry, inputs, outputs, ops: live, constants: liveConstants };
}
