/**
 * @fileoverview Canonicalization for code generation: inlines `func.call`s into one ordered op
 * list over program-wide symbols, turns constants (and IREE globals) into weights, and removes
 * dead code. Functions with several blocks (cf.br / cf.cond_br) become labels, edge copies and
 * gotos (control steps), so the LSTM-style loops of imported XLA HLO compile too.
 */
import { error } from '../diag/diagnostics.js';
import type { Func, Module, Op, Value } from '../ir/core.js';
import { isCheckOp } from '../ops/control.js';
import type { FlatOp, Sym } from './kernels.js';

/** Copies a branch performs before jumping: block arguments receive the branch operands. */
export interface Edge {
  readonly target: string;
  readonly copies: readonly (readonly [from: Sym, to: Sym])[];
}

/** Control steps of functions with several blocks; every other step is a kernel. */
export type Control =
  | { readonly kind: 'label'; readonly name: string }
  | { readonly kind: 'goto'; readonly edge: Edge }
  | { readonly kind: 'branch'; readonly cond: Sym; readonly onTrue: Edge; readonly onFalse: Edge };

export interface FlatProgram {
  readonly entry: Func;
  readonly inputs: readonly Sym[];
  readonly outputs: readonly Sym[];
  /** Kernels and control steps in program order. */
  readonly ops: readonly FlatOp[];
  /** Control steps by op (absent for kernels). */
  readonly control: ReadonlyMap<FlatOp, Control>;
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
  let nextInstance = 0;
  const sym = (v: Value): Sym => ({ id: nextId++, type: v.type });
  const ops: FlatOp[] = [];
  const control = new Map<FlatOp, Control>();
  const constants = new Map<Sym, Op>();
  const checked: Sym[] = [];
  const step = (op: Op, c: Control, ins: readonly Sym[] = []): void => {
    const f: FlatOp = { op, ins, outs: [] };
    ops.push(f);
    control.set(f, c);
  };

  const inline = (f: Func, args: readonly Sym[], depth: number): Sym[] => {
    if (depth > 64) throw error('E0204', { op: 'func.call', detail: 'call depth over 64 (recursion?) cannot be inlined' }, f.loc);
    const body = f.body;
    if (!body) throw error('E0204', { op: 'func.call', detail: `@${f.name} has no body` }, f.loc);
    const instance = nextInstance++;
    const multiBlock = body.blocks.length > 1;
    const label = (block: string): string => `L${instance}_${block.replace(/\^/, '')}`;
    const env = new Map<Value, Sym>();
    const globalRefs = new Map<Value, string>();
    // Block arguments of non-entry blocks are buffers the incoming branches copy into.
    body.blocks.forEach((b, bi) => b.args.forEach((a, i) => env.set(a, bi === 0 ? args[i]! : sym(a))));
    const results = multiBlock ? f.resultTypes.map((t) => ({ id: nextId++, type: t })) : undefined;
    const exit = `L${instance}_exit`;
    const get = (op: Op, v: Value): Sym => {
      const s = env.get(v);
      if (!s) throw error('E0301', { op: `${op.name} using ${v.name}, a value the C backend does not produce`, target: 'C backend' }, op.loc);
      return s;
    };
    const edge = (op: Op, target: string, from: readonly Value[]): Edge => {
      const block = body.blocks.find((b) => b.label === target)!;
      return { target: label(target), copies: from.map((v, i) => [get(op, v), env.get(block.args[i]!)!] as const) };
    };
    for (const [bi, block] of body.blocks.entries()) {
      if (bi > 0) step(block.ops[0] ?? f.body!.blocks[0]!.ops[0]!, { kind: 'label', name: label(block.label) });
      for (const op of block.ops) {
        // IREE globals: an address is a name; loading it is a constant of the global's value.
        if (op.name === 'util.global.address') {
          const g = op.attrs['symbol'];
          if (g?.kind === 'symbol') globalRefs.set(op.results[0]!, g.name);
          continue;
        }
        if (op.name === 'util.global.load.indirect' || op.name === 'util.global.load') {
          const ga = op.attrs['global'];
          const name = op.name === 'util.global.load' ? (ga?.kind === 'symbol' ? ga.name : '') : globalRefs.get(op.operands[0]!);
          const g = name ? m.globals.get(name) : undefined;
          if (!g) throw error('E0204', { op: op.name, detail: 'loads an unknown global' }, op.loc);
          const out = sym(op.results[0]!);
          env.set(op.results[0]!, out);
          constants.set(out, { ...op, name: 'stablehlo.constant', operands: [], attrs: { value: g.value } });
          continue;
        }
        if (op.name === 'cf.br') {
          const s = op.successors[0]!;
          step(op, { kind: 'goto', edge: edge(op, s.label, s.args) }, s.args.map((v) => get(op, v)));
          continue;
        }
        if (op.name === 'cf.cond_br') {
          const [t, e] = op.successors as [(typeof op.successors)[0], (typeof op.successors)[0]];
          const cond = get(op, op.operands[0]!);
          step(op, { kind: 'branch', cond, onTrue: edge(op, t.label, t.args), onFalse: edge(op, e.label, e.args) }, [cond, ...[...t.args, ...e.args].map((v) => get(op, v))]);
          continue;
        }
        const ins = op.operands.map((v) => get(op, v));
        if (op.name === 'func.return') {
          if (!results) return ins;
          step(op, { kind: 'goto', edge: { target: exit, copies: ins.map((s, i) => [s, results[i]!] as const) } }, ins);
          continue;
        }
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
    }
    if (!results) throw error('E0204', { op: 'func.func', detail: `@${f.name} does not end in func.return` }, f.loc);
    step(body.blocks[0]!.ops[0]!, { kind: 'label', name: exit });
    return results;
  };

  const inputs = entry.params.map(sym);
  const returned = inline(entry, inputs, 0);
  // In conformance runs the checked values are the outputs (what main returns is what it checks).
  const outputs = opts.checksAsOutputs ? checked : returned;
  // Dead-code elimination to a fixpoint ("used anywhere", so loop back edges are respected):
  // kernels are pure; control steps stay; copies on edges count as uses.
  const live = new Set(ops);
  for (let changed = true; changed; ) {
    changed = false;
    const used = new Set<Sym>(outputs);
    for (const f of live) {
      for (const s of f.ins) used.add(s);
      const c = control.get(f);
      if (c?.kind === 'goto') for (const [from] of c.edge.copies) used.add(from);
      if (c?.kind === 'branch') for (const e of [c.onTrue, c.onFalse]) for (const [from] of e.copies) used.add(from);
    }
    for (const f of live)
      if (!control.has(f) && !f.outs.some((s) => used.has(s))) {
        live.delete(f);
        changed = true;
      }
    if (!changed) {
      for (const s of [...constants.keys()]) if (!used.has(s)) constants.delete(s);
    }
  }
  // Labels nobody jumps to would trip -Wunused-label.
  const targets = new Set<string>();
  for (const c of control.values()) {
    if (c.kind === 'goto') targets.add(c.edge.target);
    if (c.kind === 'branch') targets.add(c.onTrue.target).add(c.onFalse.target);
  }
  const kept = ops.filter((f) => live.has(f) && !(control.get(f)?.kind === 'label' && !targets.has((control.get(f) as { name: string }).name)));
  return { entry, inputs, outputs, ops: kept, control, constants };
}
