/**
 * @fileoverview Graph simplification on the flat program before code generation:
 *   - common-subexpression elimination: a region-free op applied to the same operands with the
 *     same attributes as an earlier one reuses the earlier result;
 *   - constant folding: an op whose operands are all constants is evaluated at compile time with
 *     the op table's semantics and becomes a weight, when its result is no larger than its inputs
 *     together (or tiny), so folding never inflates flash;
 *   - a bitcast_convert undoing the one before it is dropped;
 *   - an integer maximum / minimum with a constant after an exact narrowing of a clamp is that
 *     clamp with the bound moved (a ReLU after a requantization: one clamp instead of three);
 *   - a float max pool of a non-decreasing chain (bias, ReLU) pools first (pool-first.ts).
 * Both keep the program's meaning; the C-vs-interpreter tests check the result.
 */
import type { Attr } from '../ir/attrs.js';
import type { Op } from '../ir/core.js';
import { error } from '../diag/diagnostics.js';
import { numElements, typeToString, type TensorType, type Type } from '../ir/types.js';
import { opAttrs, type OpEvalCtx } from '../ops/def.js';
import { constantValue } from '../ops/control.js';
import { lookupOp } from '../ops/index.js';
import { elemBits, elemBitWidth, filledTensor, size, uniformElem, type RtValue, type Tensor } from '../ir/tensor.js';
import { readSymbols } from '../flat/flatten.js';
import type { Control, Edge, FlatOp, FlatProgram, Sym } from '../flat/program.js';
import { poolBeforeActivation, type PoolContext } from './pool-first.js';

/** Results of at most this many bytes are folded even when larger than their inputs (iota, splats). */
const SMALL_RESULT = 256;

/** A CSE key part for attributes or types: JSON with bigints (quantization parameters) and bytes spelled out. */
function stableAttrs(a: Readonly<Record<string, Attr>> | Type): string {
  return JSON.stringify(a, (_k, v: unknown) =>
    typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? `bytes:${Buffer.from(v).toString('base64')}` : v,
  );
}

function bytesOf(t: TensorType): number {
  return Math.ceil((numElements(t.shape) * elemBitWidth(t.elem)) / 8);
}

/** A `dense<"0x...">` attribute holding a tensor's exact bits. */
function denseOf(t: Tensor): Attr {
  const byteWidth = Math.max(1, Math.ceil(elemBitWidth(t.type.elem) / 8));
  const bytes = new Uint8Array(size(t) * byteWidth);
  for (let i = 0; i < size(t); i++) {
    let bits = elemBits(t, i);
    for (let b = 0; b < byteWidth; b++) {
      bytes[i * byteWidth + b] = Number(bits & 0xffn);
      bits >>= 8n;
    }
  }
  return { kind: 'dense', literal: { hexBytes: bytes }, type: t.type };
}

const NO_REGIONS: OpEvalCtx = {
  runRegion: () => {
    throw new Error('folding never evaluates regions');
  },
  callFunction: () => {
    throw new Error('folding never calls');
  },
  loadGlobal: () => {
    throw new Error('folding never loads globals');
  },
  runParallel: () => {
    throw new Error('folding never runs collectives');
  },
  process: undefined,
  session: { checks: [], printed: [], probes: new Map() },
};

const isQuant = (s: Sym): boolean => s.type.kind === 'tensor' && s.type.elem.kind === 'quant';

/** The one value of every element of integer constant `t`, if they are all equal. */
function uniformInt(t: Tensor | undefined): bigint | undefined {
  const v = t?.type.elem.kind === 'int' ? uniformElem(t) : undefined;
  return typeof v === 'bigint' ? v : undefined;
}

/**
 * maximum(convert(clamp(lo, x, hi)), c) with constants lo <= c <= hi (minimum: lo <= c <= hi too)
 * and a convert exact on [lo, hi] is convert(clamp(max(lo, c), x, hi)) (min(hi, c)): the clamp's
 * result is in [lo, hi], where the convert keeps values and order. Returns the new clamp's bounds.
 */
function movedBound(
  f: FlatOp,
  producer: ReadonlyMap<Sym, FlatOp>,
  valueOf: (s: Sym) => Tensor | undefined,
): { convert: FlatOp; clamp: FlatOp; lo: Tensor; hi: Tensor } | undefined {
  if (f.op.name !== 'stablehlo.maximum' && f.op.name !== 'stablehlo.minimum') return undefined;
  const [a, k] = f.ins as [Sym, Sym];
  const convert = producer.get(a);
  const clamp = convert?.op.name === 'stablehlo.convert' ? producer.get(convert.ins[0]!) : undefined;
  if (!convert || clamp?.op.name !== 'stablehlo.clamp') return undefined;
  const [loT, hiT] = [valueOf(clamp.ins[0]!), valueOf(clamp.ins[2]!)];
  const [lo, hi, c] = [uniformInt(loT), uniformInt(hiT), uniformInt(valueOf(k))];
  const narrow = a.type.kind === 'tensor' && a.type.elem.kind === 'int' ? a.type.elem : undefined;
  if (lo === undefined || hi === undefined || c === undefined || !narrow || lo > c || c > hi) return undefined;
  const bits = BigInt(narrow.bits);
  const [min, max] = narrow.signed ? [-(1n << (bits - 1n)), (1n << (bits - 1n)) - 1n] : [0n, (1n << bits) - 1n];
  if (lo < min || hi > max) return undefined;
  return f.op.name === 'stablehlo.maximum'
    ? { convert, clamp, lo: filledTensor(loT!.type, c), hi: hiT! }
    : { convert, clamp, lo: loT!, hi: filledTensor(hiT!.type, c) };
}

export function simplify(p: FlatProgram): FlatProgram {
  const subst = new Map<Sym, Sym>();
  const sub = (s: Sym): Sym => subst.get(s) ?? s;
  const constants = new Map(p.constants);
  const values = new Map<Sym, Tensor>();
  const valueOf = (s: Sym): Tensor | undefined => {
    let v = values.get(s);
    const c = constants.get(s);
    if (!v && c && s.type.kind === 'tensor') values.set(s, (v = constantValue(c.attrs['value'], s.type, c)));
    return v;
  };
  /** `s` becomes the constant `t`: a constant op at `from`'s location (a folded op, a moved bound). */
  const setConstant = (s: Sym, t: Tensor, from: Op): void => {
    constants.set(s, { ...from, name: 'stablehlo.constant', operands: [], regions: [], attrs: { value: denseOf(t) } });
    values.set(s, t);
  };
  const seen = new Map<string, FlatOp>();
  let lastId = Math.max(
    0,
    ...p.inputs.map((s) => s.id),
    ...[...p.constants.keys()].map((s) => s.id),
    ...p.ops.flatMap((f) => [...f.ins, ...f.outs].map((s) => s.id)),
  );
  /** The kernel op (kept so far) that computes each value. */
  const producer = new Map<Sym, FlatOp>();
  const ops: FlatOp[] = [];
  const control = new Map<FlatOp, Control>();
  const edge = (e: Edge): Edge => ({ target: e.target, copies: e.copies.map(([a, b]) => [sub(a), b] as const) });
  // Communicator calls are steps of a straight line too: they do not jump.
  const straightLine = [...p.control.values()].every((c) => c.kind === 'effect');
  const uses = new Map<Sym, number>();
  for (const s of [...p.ops.flatMap((f) => f.ins), ...p.outputs]) uses.set(s, (uses.get(s) ?? 0) + 1);
  const freshSym = (type: Type): Sym => ({ id: ++lastId, type });
  /** A new constant holding `t`, at `from`'s location. */
  const newConstant = (t: Tensor, from: Op): Sym => {
    const sym = freshSym(t.type);
    setConstant(sym, t, from);
    return sym;
  };
  /** Kernel ops kept, each computing its results from here on. */
  const keep = (...kept: FlatOp[]): void => {
    for (const g of kept) {
      ops.push(g);
      for (const s of g.outs) producer.set(s, g);
    }
  };
  const poolContext: PoolContext = {
    producer,
    valueOf,
    uses,
    fresh: freshSym,
    constant: (t, like) => newConstant(t, constants.get(like)!),
  };
  for (const f of p.ops) {
    const ins = f.ins.map(sub);
    const c = p.control.get(f);
    if (c) {
      const g: FlatOp = { ...f, ins };
      ops.push(g);
      control.set(
        g,
        c.kind === 'goto'
          ? { kind: 'goto', edge: edge(c.edge) }
          : c.kind === 'branch'
            ? { kind: 'branch', cond: sub(c.cond), onTrue: edge(c.onTrue), onFalse: edge(c.onFalse) }
            : c.kind === 'copy'
              ? { kind: 'copy', copies: c.copies.map(([a, b]) => [sub(a), b] as const) }
              : c.kind === 'switch'
                ? { kind: 'switch', index: sub(c.index), targets: c.targets }
                : c,
      );
      continue;
    }
    const regionFree = f.op.regions.length === 0;
    // A bitcast_convert back to the type its operand was bitcast from is that value: quantized ops
    // that run on their stored integers leave storage -> quantized -> storage between two of them
    // (then a ReLU's maximum fuses with the requantization before it). Outside control flow only,
    // where no jump's copy can overwrite the first operand in between.
    const from = f.op.name === 'stablehlo.bitcast_convert' ? producer.get(ins[0]!) : undefined;
    if (
      straightLine &&
      from?.op.name === 'stablehlo.bitcast_convert' &&
      stableAttrs(from.ins[0]!.type) === stableAttrs(f.outs[0]!.type)
    ) {
      subst.set(f.outs[0]!, from.ins[0]!);
      continue;
    }
    const pooledFirst = straightLine ? poolBeforeActivation({ ...f, ins }, poolContext) : undefined;
    if (pooledFirst) {
      keep(...pooledFirst);
      continue;
    }
    const moved = straightLine ? movedBound({ ...f, ins }, producer, valueOf) : undefined;
    if (moved) {
      const bound = (t: Tensor): Sym => newConstant(t, moved.clamp.op);
      const clamped = freshSym(moved.clamp.outs[0]!.type);
      const clamp = { ...moved.clamp, ins: [bound(moved.lo), moved.clamp.ins[1]!, bound(moved.hi)], outs: [clamped] };
      keep(clamp, { ...moved.convert, ins: [clamped], outs: [f.outs[0]!] });
      continue;
    }
    // CSE (only outside control flow, where "earlier" means "already computed").
    if (regionFree && straightLine) {
      const key = `${f.op.name}|${stableAttrs(f.op.attrs)}|${ins.map((s) => s.id).join(',')}|${f.outs.map((s) => stableAttrs(s.type)).join(',')}`;
      const prev = seen.get(key);
      if (prev) {
        f.outs.forEach((s, i) => subst.set(s, prev.outs[i]!));
        continue;
      }
      seen.set(key, f);
    }
    // Constant folding.
    const def = lookupOp(f.op.name);
    // Constants are decoded only for an op that reads nothing else (a weight read by a convolution
    // of the input stays undecoded here: ResNet-50's are 94 MB).
    const allConstant = ins.every((s) => values.has(s) || constants.has(s));
    const inVals = allConstant ? ins.map(valueOf) : [];
    const foldable =
      def &&
      regionFree &&
      f.outs.length === 1 &&
      allConstant &&
      inVals.every((v) => v !== undefined) &&
      // Quantized values fold only into their stored integers (a ReLU's zero point).
      (f.op.name === 'stablehlo.bitcast_convert' ? !isQuant(f.outs[0]!) : ![...ins, ...f.outs].some(isQuant)) &&
      f.outs[0]!.type.kind === 'tensor';
    if (foldable) {
      const out = f.outs[0]!.type as TensorType;
      const inBytes = ins.reduce((n, s) => n + (s.type.kind === 'tensor' ? bytesOf(s.type) : 0), 0);
      if (bytesOf(out) <= Math.max(inBytes, SMALL_RESULT)) {
        const [r] = def.evaluate(inVals as RtValue[], opAttrs(def, f.op), f.op, NO_REGIONS);
        // The interpreter rejects a result that contradicts the declared type; so does folding.
        if (r?.kind === 'tensor' && out.shape.every((d) => d >= 0) && typeToString(r.type) !== typeToString(out))
          throw error(
            'E0204',
            { op: f.op.name, detail: `computes ${typeToString(r.type)} where it declares ${typeToString(out)}` },
            f.op.loc,
          );
        if (r?.kind === 'tensor') {
          setConstant(f.outs[0]!, r, f.op);
          continue;
        }
      }
    }
    keep({ ...f, ins });
  }
  // Kernels whose results nothing reads any more (a bitcast another one undid) and constants
  // nothing reads (their only users were folded) are dropped.
  const outputs = p.outputs.map(sub);
  let live = ops;
  for (let before = -1; before !== live.length;) {
    before = live.length;
    const used = readSymbols(live, control, outputs);
    live = live.filter((f) => control.has(f) || f.outs.some((s) => used.has(s)));
  }
  const used = readSymbols(live, control, outputs);
  for (const s of [...constants.keys()]) if (!used.has(s)) constants.delete(s);
  return { ...p, outputs, ops: live, control, constants };
}
