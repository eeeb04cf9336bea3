/**
 * @fileoverview Canonicalization for code generation: inlines `func.call`s into one ordered op
 * list over program-wide symbols, turns constants (and IREE globals) into weights, and removes
 * dead code. Functions with several blocks (cf.br / cf.cond_br) become labels, edge copies and
 * gotos (control steps), so the LSTM-style loops of imported XLA HLO compile too.
 */
import { error } from '../diag/diagnostics.js';
import type { Loc } from '../diag/source.js';
import type { Module, Op, Region, Value } from '../ir/core.js';
import type { Control, Edge, FlatOp, FlatProgram, Sym } from './program.js';
import { typeToString, type Type } from '../ir/types.js';
import { inPlaceLoopUpdates } from '../ops/in-place.js';
import { checkedOperand, isCheckOp, isIdentityCustomCall, unsupportedCustomCall } from '../ops/control.js';
import { customCallTarget } from '../ir/core.js';
import { COLLECTIVE_OPS } from '../ops/collective.js';

/** Ops that talk to other devices or ask which device this is: communicator calls. */
const COMM_STEPS: ReadonlySet<string> = new Set([
  ...COLLECTIVE_OPS,
  'stablehlo.replica_id',
  'stablehlo.partition_id',
  'stablehlo.send',
  'stablehlo.recv',
]);
/** Ops that talk to the app: calls of the feeds it binds (rl.h rl_feeds_t). */
const FEED_STEPS: ReadonlySet<string> = new Set(['stablehlo.infeed', 'stablehlo.outfeed']);
/** Joins of tokens: no data and no code, but a step, so their token has a definition. */
const TOKEN_STEPS: ReadonlySet<string> = new Set(['stablehlo.after_all', 'stablehlo.create_token']);

/** What an effect step (control kind `effect`) does, by op name; undefined: not an effect step. */
export function effectOf(name: string): 'communicator call' | 'host feed' | 'token join' | undefined {
  if (COMM_STEPS.has(name)) return 'communicator call';
  if (FEED_STEPS.has(name)) return 'host feed';
  return TOKEN_STEPS.has(name) ? 'token join' : undefined;
}

export interface FlattenOptions {
  /** Drop check ops and make the values they check the program's outputs (conformance runs). */
  readonly checksAsOutputs?: boolean;
}

/** The tensor (and token) types of a possibly nested tuple type, in order. */
function leafTypes(t: Type): Type[] {
  return t.kind === 'tuple' ? t.elems.flatMap(leafTypes) : [t];
}

/** Static memory plans need static shapes: a dynamic dimension (`?`) is a located refusal. */
function refuseDynamic(what: string, types: readonly Type[], loc: Loc): void {
  const dynamic = types.flatMap(leafTypes).find((t) => t.kind === 'tensor' && t.shape.some((d) => d < 0));
  if (dynamic)
    throw error(
      'E0301',
      { op: `${what} with the dynamic shape ${typeToString(dynamic)}`, target: 'a static memory plan' },
      loc,
    );
}

export function flatten(m: Module, entryName: string, opts: FlattenOptions = {}): FlatProgram {
  const entry = m.funcs.get(entryName);
  if (!entry) throw error('E0107', { name: entryName }, undefined);
  refuseDynamic(`@${entryName}'s signature`, [...entry.params.map((p) => p.type), ...entry.resultTypes], entry.loc);
  let nextId = 0;
  let nextInstance = 0;
  const sym = (v: Value): Sym => ({ id: nextId++, type: v.type });
  const ops: FlatOp[] = [];
  const control = new Map<FlatOp, Control>();
  const constants = new Map<Sym, Op>();
  const checked: Sym[] = [];
  /** Loop-carried updates done in place (ops/in-place.ts): the op writes the carried buffer itself. */
  const inPlaceOut = new Map<Op, Sym>();
  const step = (op: Op, c: Control, ins: readonly Sym[] = []): void => {
    const f: FlatOp = { op, ins, outs: [] };
    ops.push(f);
    control.set(f, c);
  };

  const fresh = (t: Type): Sym => ({ id: nextId++, type: t });
  /** Sequential copies with the semantics of a parallel assignment (through temporaries when a
   * source is also a destination, e.g. a loop that swaps two carried values). */
  const parallelCopies = (pairs: readonly (readonly [Sym, Sym])[]): (readonly [Sym, Sym])[] => {
    const dests = new Set(pairs.map(([, to]) => to));
    if (!pairs.some(([from, to]) => from !== to && dests.has(from))) return pairs.filter(([from, to]) => from !== to);
    const temps = pairs.map(([from]) => fresh(from.type));
    return [
      ...pairs.map(([from], i) => [from, temps[i]!] as const),
      ...pairs.map(([, to], i) => [temps[i]!, to] as const),
    ];
  };
  /** A value's symbol, or for a tuple the symbols of its leaves (tuples are lowered away here). */
  type Bound = Sym | readonly Sym[];
  type Lookup = (v: Value) => Bound | undefined;
  /** Binds values of `types` to consecutive runs of `flat` (a tuple takes as many as it has leaves). */
  const bindFlat = (types: readonly Type[], flat: readonly Sym[]): Bound[] => {
    let next = 0;
    return types.map((t) => {
      const n = leafTypes(t).length;
      const run = flat.slice(next, (next += n));
      return t.kind === 'tuple' ? run : run[0]!;
    });
  };

  /** Inlines a function body or an op region; returns the values its terminator yields. */
  const inlineRegion = (
    body: Region,
    args: readonly Sym[],
    resultTypes: readonly Type[],
    depth: number,
    outer: Lookup | undefined,
    where: Loc,
  ): Sym[] => {
    if (depth > 64)
      throw error('E0204', { op: 'func.call', detail: 'nesting over 64 (recursion?) cannot be inlined' }, where);
    const instance = nextInstance++;
    const multiBlock = body.blocks.length > 1;
    const label = (block: string): string => `L${instance}_${block.replace(/\^/, '')}`;
    const env = new Map<Value, Bound>();
    const globalRefs = new Map<Value, string>();
    // Block arguments of non-entry blocks are buffers the incoming branches copy into.
    const entryArgs = body.blocks[0]!.args;
    bindFlat(
      entryArgs.map((a) => a.type),
      args,
    ).forEach((b, i) => env.set(entryArgs[i]!, b));
    body.blocks.slice(1).forEach((b) =>
      b.args.forEach((a) => {
        if (a.type.kind === 'tuple')
          throw error('E0301', { op: `a tuple-typed block argument (${a.name})`, target: 'C backend' }, where);
        env.set(a, sym(a));
      }),
    );
    const results = multiBlock ? resultTypes.flatMap(leafTypes).map(fresh) : undefined;
    const exit = `L${instance}_exit`;
    const lookup: Lookup = (v) => env.get(v) ?? outer?.(v);
    const leaves = (op: Op, v: Value): readonly Sym[] => {
      const s = lookup(v);
      if (!s)
        throw error(
          'E0301',
          { op: `${op.name} using ${v.name}, a value the C backend does not produce`, target: 'C backend' },
          op.loc,
        );
      return Array.isArray(s) ? s : [s as Sym];
    };
    const get = (op: Op, v: Value): Sym => {
      const s = lookup(v);
      if (Array.isArray(s))
        throw error('E0301', { op: `${op.name} on the tuple ${v.name}`, target: 'C backend' }, op.loc);
      return leaves(op, v)[0]!;
    };
    const edge = (op: Op, target: string, from: readonly Value[]): Edge => {
      const block = body.blocks.find((b) => b.label === target)!;
      return {
        target: label(target),
        copies: parallelCopies(from.map((v, i) => [get(op, v), env.get(block.args[i]!) as Sym] as const)),
      };
    };
    /** Lowers while / if / case to labels, branches and copies around their inlined regions. */
    const structured = (op: Op, ins: readonly Sym[]): void => {
      const k = nextInstance++;
      const types = op.results.map((r) => r.type);
      const results = op.results.map(sym);
      op.results.forEach((r, i) => env.set(r, results[i]!));
      const L = (name: string): string => `L${k}_${name}`;
      if (op.name === 'stablehlo.while') {
        step(op, { kind: 'copy', copies: parallelCopies(ins.map((s, i) => [s, results[i]!] as const)) });
        step(op, { kind: 'label', name: L('head') });
        const [c] = inlineRegion(op.regions[0]!, results, [], depth + 1, lookup, op.loc);
        step(
          op,
          {
            kind: 'branch',
            cond: c!,
            onTrue: { target: L('body'), copies: [] },
            onFalse: { target: L('exit'), copies: [] },
          },
          [c!],
        );
        step(op, { kind: 'label', name: L('body') });
        const updates = inPlaceLoopUpdates(op);
        for (const [update, i] of updates) inPlaceOut.set(update, results[i]!);
        const next = inlineRegion(op.regions[1]!, results, types, depth + 1, lookup, op.loc);
        for (const update of updates.keys()) inPlaceOut.delete(update);
        step(
          op,
          {
            kind: 'goto',
            edge: { target: L('head'), copies: parallelCopies(next.map((s, i) => [s, results[i]!] as const)) },
          },
          next,
        );
        step(op, { kind: 'label', name: L('exit') });
        return;
      }
      const arms = op.regions.map((_, i) => L(`arm${i}`));
      if (op.name === 'stablehlo.if')
        step(
          op,
          {
            kind: 'branch',
            cond: ins[0]!,
            onTrue: { target: arms[0]!, copies: [] },
            onFalse: { target: arms[1]!, copies: [] },
          },
          ins,
        );
      else step(op, { kind: 'switch', index: ins[0]!, targets: arms }, ins);
      op.regions.forEach((r, i) => {
        step(op, { kind: 'label', name: arms[i]! });
        const vals = inlineRegion(r, [], types, depth + 1, lookup, op.loc);
        step(
          op,
          { kind: 'goto', edge: { target: L('end'), copies: vals.map((s, j) => [s, results[j]!] as const) } },
          vals,
        );
      });
      step(op, { kind: 'label', name: L('end') });
    };
    for (const [bi, block] of body.blocks.entries()) {
      if (bi > 0) step(block.ops[0] ?? body.blocks[0]!.ops[0]!, { kind: 'label', name: label(block.label) });
      for (const op of block.ops) {
        refuseDynamic(
          op.name,
          [...op.operands, ...op.results].map((v) => v.type),
          op.loc,
        );
        // IREE globals: an address is a name; loading it is a constant of the global's value.
        if (op.name === 'util.global.address') {
          const g = op.attrs['symbol'];
          if (g?.kind === 'symbol') globalRefs.set(op.results[0]!, g.name);
          continue;
        }
        if (op.name === 'util.global.load.indirect' || op.name === 'util.global.load') {
          const ga = op.attrs['global'];
          const name =
            op.name === 'util.global.load' ? (ga?.kind === 'symbol' ? ga.name : '') : globalRefs.get(op.operands[0]!);
          const g = name ? m.globals.get(name) : undefined;
          if (!g) throw error('E0204', { op: op.name, detail: 'loads an unknown global' }, op.loc);
          const out = sym(op.results[0]!);
          env.set(op.results[0]!, out);
          constants.set(out, { ...op, name: 'stablehlo.constant', operands: [], attrs: { value: g.value } });
          continue;
        }
        if (op.name === 'cf.br') {
          const s = op.successors[0]!;
          step(
            op,
            { kind: 'goto', edge: edge(op, s.label, s.args) },
            s.args.map((v) => get(op, v)),
          );
          continue;
        }
        if (op.name === 'cf.cond_br') {
          const [t, e] = op.successors as [(typeof op.successors)[0], (typeof op.successors)[0]];
          const cond = get(op, op.operands[0]!);
          step(op, { kind: 'branch', cond, onTrue: edge(op, t.label, t.args), onFalse: edge(op, e.label, e.args) }, [
            cond,
            ...[...t.args, ...e.args].map((v) => get(op, v)),
          ]);
          continue;
        }
        if (op.name === 'stablehlo.tuple') {
          env.set(
            op.results[0]!,
            op.operands.flatMap((v) => leaves(op, v)),
          );
          continue;
        }
        if (op.name === 'stablehlo.get_tuple_element') {
          const tuple = op.operands[0]!.type;
          const index = Number((op.attrs['index'] as { value: bigint }).value);
          if (tuple.kind !== 'tuple') throw error('E0204', { op: op.name, detail: 'operand must be a tuple' }, op.loc);
          env.set(op.results[0]!, bindFlat(tuple.elems, leaves(op, op.operands[0]!))[index]!);
          continue;
        }
        if (op.name === 'func.return' || op.name === 'stablehlo.return') {
          const ins = op.operands.flatMap((v) => leaves(op, v));
          if (!results) return ins;
          step(op, { kind: 'goto', edge: { target: exit, copies: ins.map((s, i) => [s, results[i]!] as const) } }, ins);
          continue;
        }
        if (op.name === 'func.call') {
          const callee = op.attrs['callee'];
          const g = callee?.kind === 'symbol' ? m.funcs.get(callee.name) : undefined;
          if (!g?.body) throw error('E0107', { name: callee?.kind === 'symbol' ? callee.name : '?' }, op.loc);
          // A callee sees only its arguments (functions are isolated from above).
          const returned = inlineRegion(
            g.body,
            op.operands.flatMap((v) => leaves(op, v)),
            g.resultTypes,
            depth + 1,
            undefined,
            g.loc,
          );
          bindFlat(
            op.results.map((r) => r.type),
            returned,
          ).forEach((b, i) => env.set(op.results[i]!, b));
          continue;
        }
        if (isIdentityCustomCall(op)) {
          env.set(op.results[0]!, get(op, op.operands[0]!));
          continue;
        }
        if (op.name === 'stablehlo.custom_call' && !isCheckOp(op))
          throw unsupportedCustomCall(op, customCallTarget(op) ?? '?', 'C backend');
        const ins = op.operands.map((v) => get(op, v));
        if (opts.checksAsOutputs && isCheckOp(op)) {
          checked.push(ins[checkedOperand(op)]!);
          // A check's pass flag (check.eq) is only ever returned, and returns are dropped here.
          op.results.forEach((r) => env.set(r, sym(r)));
          continue;
        }
        if (op.name === 'stablehlo.composite') {
          const callee = op.attrs['decomposition'];
          const g = callee?.kind === 'symbol' ? m.funcs.get(callee.name) : undefined;
          if (!g?.body) throw error('E0107', { name: callee?.kind === 'symbol' ? callee.name : '?' }, op.loc);
          // A callee sees only its arguments (functions are isolated from above).
          inlineRegion(g.body, ins, g.resultTypes, depth + 1, undefined, g.loc).forEach((s, i) =>
            env.set(op.results[i]!, s),
          );
          continue;
        }
        if (op.name === 'stablehlo.while' || op.name === 'stablehlo.if' || op.name === 'stablehlo.case') {
          structured(op, ins);
          continue;
        }
        const carried = inPlaceOut.get(op);
        const outs = carried ? [carried] : op.results.map(sym);
        op.results.forEach((r, i) => env.set(r, outs[i]!));
        if (op.name === 'stablehlo.constant') {
          constants.set(outs[0]!, op);
          continue;
        }
        if (effectOf(op.name)) {
          const f: FlatOp = { op, ins, outs };
          ops.push(f);
          control.set(f, { kind: 'effect' });
          continue;
        }
        ops.push({ op, ins, outs });
      }
    }
    if (!results) throw error('E0204', { op: 'region', detail: 'does not end in a return' }, where);
    step(body.blocks[0]!.ops[0]!, { kind: 'label', name: exit });
    return results;
  };

  // Tuple parameters and results of the entry become one input / output per leaf.
  const inputs = entry.params.flatMap((p) => leafTypes(p.type)).map(fresh);
  if (!entry.body) throw error('E0204', { op: 'func.func', detail: `@${entry.name} has no body` }, entry.loc);
  const returned = inlineRegion(entry.body, inputs, entry.resultTypes, 0, undefined, entry.loc);
  // In conformance runs the checked values are the outputs (what main returns is what it checks).
  const outputs = opts.checksAsOutputs ? checked : returned;
  // Dead-code elimination to a fixpoint ("used anywhere", so loop back edges are respected):
  // kernels are pure; control steps stay; copies on edges count as uses.
  const live = new Set(ops);
  for (let changed = true; changed;) {
    changed = false;
    const used = readSymbols(live, control, outputs);
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
    if (c.kind === 'switch') c.targets.forEach((t) => targets.add(t));
  }
  const kept = ops.filter(
    (f) =>
      live.has(f) && !(control.get(f)?.kind === 'label' && !targets.has((control.get(f) as { name: string }).name)),
  );
  return { entry, inputs, outputs, ops: kept, control, constants };
}

/** Every symbol the program reads: op operands, edge-copy sources, branch conditions, switch
 * indices, and the outputs. */
export function readSymbols(
  ops: Iterable<FlatOp>,
  control: ReadonlyMap<FlatOp, Control>,
  outputs: readonly Sym[],
): Set<Sym> {
  const used = new Set<Sym>(outputs);
  for (const f of ops) {
    for (const s of f.ins) used.add(s);
    for (const [from] of controlCopies(control.get(f))) used.add(from);
    const c = control.get(f);
    if (c?.kind === 'branch') used.add(c.cond);
    if (c?.kind === 'switch') used.add(c.index);
  }
  return used;
}

/** The copies a control step performs (edge copies included), in order. */
export function controlCopies(c: Control | undefined): readonly (readonly [Sym, Sym])[] {
  if (!c) return [];
  switch (c.kind) {
    case 'copy':
      return c.copies;
    case 'goto':
      return c.edge.copies;
    case 'branch':
      return [...c.onTrue.copies, ...c.onFalse.copies];
    default:
      return [];
  }
}
