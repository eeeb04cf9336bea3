/**
 * @fileoverview Splat constants are generated, never stored: a constant whose elements are all
 * equal and that is larger than SPLAT_STORE_LIMIT bytes becomes a one-element constant broadcast
 * by a kernel at run time. Fused into an elementwise consumer the broadcast is an index map and
 * the value a literal (no buffer at all); read by any other kernel (a GEMM weight, a reduction
 * input) it is a buffer the memory plan places in the arena for as long as it is live. Exporters
 * write such constants for initializers, masks and "fake" weights: a model of splat weights no
 * longer becomes a weights blob of copies of a few values.
 */
import { newValue, type Op } from '../ir/core.js';
import { storageElem, tensorType, type TensorType } from '../ir/types.js';
import { elemBits, makeTensor, setElemBits, size, type Tensor } from '../ir/tensor.js';
import { toStorageBytes } from './ctypes.js';
import { controlCopies } from '../flat/flatten.js';
import { SPLAT_MARK, type FlatOp, type FlatProgram, type Sym } from '../flat/program.js';

/** The largest splat kept as stored data (bytes); larger ones are generated. */
const SPLAT_STORE_LIMIT = 64;

function isSplat(v: Tensor): boolean {
  if (size(v) < 2) return false;
  if (v.data instanceof Float64Array) {
    // Real floats are stored as doubles rounded to the type: equal doubles, bit for bit, are equal
    // elements (NaNs of other payloads count as different: at worst a splat stays stored).
    const words = new Uint32Array(v.data.buffer, v.data.byteOffset, v.data.length * 2);
    const [lo, hi] = [words[0], words[1]];
    for (let i = 2; i < words.length; i += 2) if (words[i] !== lo || words[i + 1] !== hi) return false;
    return true;
  }
  const first = elemBits(v, 0);
  for (let i = 1; i < size(v); i++) if (elemBits(v, i) !== first) return false;
  return true;
}

/**
 * Rewrites the splat constants of `prog` larger than the limit; returns the new program and the
 * values of the one-element constants it made (their symbols are new, so the caller's decoder
 * does not know them).
 */
export function generateSplats(
  prog: FlatProgram,
  valueOf: (s: Sym) => Tensor,
  bytes: (s: Sym) => number,
): { prog: FlatProgram; scalars: Map<Sym, Tensor> } {
  const constants = new Map(prog.constants);
  const scalars = new Map<Sym, Tensor>();
  const broadcasts: FlatOp[] = [];
  let nextId = 1_000_000_000; // symbols of this pass: far above flatten's (C names are built from ids)
  for (const [s, op] of prog.constants) {
    const t = s.type;
    if (t.kind !== 'tensor' || bytes(s) <= SPLAT_STORE_LIMIT) continue;
    const e = storageElem(t.elem);
    if (e.kind === 'complex' || t.elem.kind === 'quant') continue;
    const value = valueOf(s);
    if (!isSplat(value)) continue;
    const scalarType: TensorType = tensorType([], t.elem);
    const scalar = makeTensor(scalarType);
    setElemBits(scalar, 0, elemBits(value, 0));
    const s0: Sym = { id: nextId++, type: scalarType };
    const constOp: Op = {
      ...op,
      operands: [],
      results: [newValue(scalarType, '%splat')],
      attrs: { value: { kind: 'dense', literal: { hexBytes: toStorageBytes(scalar) }, type: scalarType } },
    };
    const broadcast: Op = {
      name: 'stablehlo.broadcast_in_dim',
      operands: [constOp.results[0]!],
      results: [newValue(t, '%splat_broadcast')],
      attrs: {
        broadcast_dimensions: { kind: 'denseArray', elemType: 'i64', values: [] },
        [SPLAT_MARK]: { kind: 'unit' },
      },
      regions: [],
      successors: [],
      loc: op.loc,
    };
    constants.delete(s);
    constants.set(s0, constOp);
    scalars.set(s0, scalar);
    broadcasts.push({ op: broadcast, ins: [s0], outs: [s] });
  }
  if (!broadcasts.length) return { prog, scalars };
  // Each broadcast runs just before the first step that reads its value, so its buffer is live
  // no longer than the stored constant's use requires; every later kernel that reads it gets a
  // broadcast of its own, which fusion folds into it as a literal (one broadcast read by several
  // kernels would stay a kernel of its own writing a buffer, as MobileNet's ReLU6 bounds did at
  // every activation's size). Control steps and the program's outputs read the first.
  const readers = (f: FlatOp): readonly Sym[] => [
    ...f.ins,
    ...controlCopies(prog.control.get(f)).map(([from]) => from),
  ];
  const before = new Map<FlatOp, FlatOp[]>();
  const reads = new Map<FlatOp, Map<Sym, Sym>>();
  const unread: FlatOp[] = [];
  for (const b of broadcasts) {
    const s = b.outs[0]!;
    const steps = prog.ops.filter((f) => readers(f).includes(s));
    if (!steps.length) unread.push(b);
    steps.forEach((f, i) => {
      const own = i > 0 && !prog.control.has(f);
      if (i > 0 && !own) return;
      const out: Sym = own ? { id: nextId++, type: s.type } : s;
      before.set(f, [...(before.get(f) ?? []), own ? { ...b, outs: [out] } : b]);
      if (own) reads.set(f, (reads.get(f) ?? new Map<Sym, Sym>()).set(s, out));
    });
  }
  const withOwnReads = (f: FlatOp): FlatOp => {
    const own = reads.get(f);
    return own ? { ...f, ins: f.ins.map((x) => own.get(x) ?? x) } : f;
  };
  const ops = [...unread, ...prog.ops.flatMap((f) => [...(before.get(f) ?? []), withOwnReads(f)])];
  return { prog: { ...prog, constants, ops }, scalars };
}
