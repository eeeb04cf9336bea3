/**
 * @fileoverview Function inputs for `interpret`/`run`: iree-run-module style literals
 * (`2x3xf32=1,2,3,4,5,6`, `f32=1.5`, `@file.npy`), .npy files, and seeded random tensors for
 * models whose weights are arguments, drawn within the ranges the program shows (inputRanges).
 */
import { readFileSync } from 'node:fs';
import type { Func, Module, Op, Value } from '../ir/core.js';
import { numElements, storageElem, typeToString, type TensorType, type Type } from '../ir/types.js';
import type { ConvAttrs, DotDims } from '../ops/contraction.js';
import { opAttrs } from '../ops/def.js';
import { lookupOp } from '../ops/index.js';
import { decodeNpy } from '../util/npy.js';
import { makeTensor, setElem, size, type RtValue, type Tensor } from '../ir/tensor.js';
import { RuntimeError } from '../diag/diagnostics.js';

function parseLiteral(spec: string, type: TensorType, what: string): Tensor {
  const eq = spec.indexOf('=');
  const head = spec.slice(0, eq);
  const body = spec.slice(eq + 1);
  const declared = typeToString(type).replace(/^tensor<|>$/g, '');
  if (head !== declared)
    throw new RuntimeError(
      `${what}: input '${head}' does not match the parameter type ${typeToString(type)} (write ${declared}=...)`,
    );
  const tokens = body.split(/[\s,[\]]+/).filter((s) => s.length > 0);
  const t = makeTensor(type);
  const n = size(t);
  if (tokens.length !== n && tokens.length !== 1)
    throw new RuntimeError(`${what}: ${tokens.length} value(s) given, ${typeToString(type)} needs ${n}`);
  const e = storageElem(type.elem);
  for (let i = 0; i < n; i++) {
    const tok = tokens[tokens.length === 1 ? 0 : i]!;
    const num = Number(tok);
    if (e.kind === 'bool') setElem(t, i, tok === 'true' || num === 1 ? 1 : 0);
    else if (Number.isNaN(num) && !/^[-+]?(nan|inf)/i.test(tok))
      throw new RuntimeError(`${what}: '${tok}' is not a number`);
    else if (e.kind === 'int') setElem(t, i, BigInt(tok));
    else if (e.kind === 'complex') setElem(t, i, [num, 0]);
    else setElem(t, i, /^-inf/i.test(tok) ? -Infinity : /^\+?inf/i.test(tok) ? Infinity : num);
  }
  return t;
}

/** Parses one `--input` value (or a bare .npy path) for parameter `index` of `f`. */
export function parseInput(spec: string, f: Func, index: number): RtValue {
  const p = f.params[index];
  if (!p) throw new RuntimeError(`@${f.name} takes ${f.params.length} argument(s); too many inputs given`);
  if (p.type.kind !== 'tensor') throw new RuntimeError(`parameter ${index} of @${f.name} is not a tensor`);
  const what = `input ${index}`;
  const path = spec.startsWith('@') ? spec.slice(1) : spec.endsWith('.npy') ? spec : undefined;
  if (path !== undefined) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch {
      throw new RuntimeError(`${what}: cannot read ${path}`);
    }
    return decodeNpy(bytes, p.type, `${what} (${path})`);
  }
  if (!spec.includes('='))
    throw new RuntimeError(`${what}: expected SHAPExTYPE=values (e.g. 2x3xf32=1,2,3,4,5,6), @file.npy or file.npy`);
  return parseLiteral(spec, p.type, what);
}

/** How seeded random values for one parameter are drawn (see inputRanges). */
export interface InputRange {
  /** Integers: values in [0, min(8, intBound)). */
  readonly intBound?: number;
  /** Floats: values in [-scale, scale). */
  readonly scale?: number;
}

/** Deterministic pseudo-random tensor (xorshift32): floats in [-scale, scale) (default 1), ints in
 * [0, min(8, intBound)). */
function randomTensor(type: TensorType, seed: number, range: InputRange = {}): Tensor {
  const t = makeTensor(type);
  // The seed goes through murmur3's finalizer first: xorshift's first outputs for nearby seeds
  // (parameter i of one call gets seed * 1000003 + i) are nearly equal, which made every scalar
  // input of a function the same value.
  let s = seed >>> 0;
  s = Math.imul(s ^ (s >>> 16), 0x85ebca6b);
  s = Math.imul(s ^ (s >>> 13), 0xc2b2ae35);
  s = (s ^ (s >>> 16)) >>> 0 || 0x9e3779b9;
  const next = (): number => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
  const e = storageElem(type.elem);
  const scale = range.scale ?? 1;
  const n = size(t);
  for (let i = 0; i < n; i++) {
    const u = next();
    if (e.kind === 'int') setElem(t, i, BigInt(Math.floor(u * Math.min(8, range.intBound ?? 8))));
    else if (e.kind === 'bool') setElem(t, i, u < 0.5 ? 1 : 0);
    else if (e.kind === 'complex') setElem(t, i, [(2 * u - 1) * scale, (2 * next() - 1) * scale]);
    else setElem(t, i, (2 * u - 1) * scale);
  }
  return t;
}

const dims = (op: Op, i: number): readonly number[] => {
  const t = op.operands[i]?.type;
  return t?.kind === 'tensor' ? t.shape : [];
};

/** How many index values an index operand of `op` may take, if operand `k` is one. */
function indexExtent(op: Op, k: number): number | undefined {
  switch (op.name) {
    case 'stablehlo.gather':
      // The smallest dimension of the table bounds every index into it (valid, if not all values).
      return k === 1 ? Math.min(...dims(op, 0)) : undefined;
    case 'stablehlo.dynamic_slice':
      return k >= 1 ? dims(op, 0)[k - 1] : undefined;
    case 'stablehlo.dynamic_update_slice':
      return k >= 2 ? dims(op, 0)[k - 2] : undefined;
    default:
      return undefined;
  }
}

/** The number of terms each output element of a contraction sums, if operand `k` is one. */
function contractionLength(op: Op, k: number): number | undefined {
  if (k > 1) return undefined;
  const def = lookupOp(op.name);
  switch (op.name) {
    case 'stablehlo.dot':
      return dims(op, 0)[dims(op, 0).length - 1];
    case 'stablehlo.dot_general':
      return (opAttrs(def!, op) as DotDims).lc.reduce((n, d) => n * (dims(op, 0)[d] ?? 1), 1);
    case 'stablehlo.convolution': {
      const c = opAttrs(def!, op) as ConvAttrs;
      return numElements(dims(op, 1)) / (dims(op, 1)[c.kOut] ?? 1);
    }
    default:
      return undefined;
  }
}

/** Ops that move or retype values without computing new ones (a weight stays a weight). */
const LAYOUT = new Set([
  'stablehlo.transpose',
  'stablehlo.reshape',
  'stablehlo.convert',
  'stablehlo.broadcast_in_dim',
  'stablehlo.slice',
  'func.call',
]);

/**
 * The ranges a function's parameters take where the program shows them:
 *  - an integer parameter whose values reach an index operand (of gather, dynamic_slice or
 *    dynamic_update_slice, through any ops and calls) is drawn within the table: a token-type id
 *    drawn past a 2-row table makes the gather fill NaN, and the outputs prove nothing;
 *  - a float parameter that reaches an operand of a dot or convolution through layout ops only
 *    (a weight, or an activation passed in) is drawn in [-1/sqrt(K), 1/sqrt(K)) for K terms
 *    summed, as weights are initialised: with [-1, 1) weights a deep MLP's logits grow so large
 *    that its softmax is one-hot, and small errors vanish in it.
 */
function inputRanges(m: Module, f: Func): Map<number, InputRange> {
  const ranges = new Map<number, InputRange>();
  f.params.forEach((p, i) => {
    if (p.type.kind !== 'tensor') return;
    const kind = storageElem(p.type.elem).kind;
    if (kind !== 'int' && kind !== 'float') return;
    let bound = Infinity;
    const seen = new Set<Value>();
    const visitFunc = (g: Func, tainted: readonly Value[]): void => {
      if (!g.body) return;
      const reached = new Set(tainted);
      const walk = (ops: readonly Op[]): void => {
        for (const op of ops) {
          const hits = op.operands.map((v, k) => (reached.has(v) ? k : -1)).filter((k) => k >= 0);
          if (hits.length === 0) continue;
          // Integers follow every op to an index; floats only layout ops to a contraction.
          const limit = kind === 'int' ? indexExtent : contractionLength;
          for (const k of hits) bound = Math.min(bound, limit(op, k) ?? Infinity);
          if (kind === 'float' && !LAYOUT.has(op.name)) continue;
          op.results.forEach((r) => reached.add(r));
          const callee = op.name === 'func.call' ? op.attrs['callee'] : undefined;
          const h = callee?.kind === 'symbol' ? m.funcs.get(callee.name) : undefined;
          const args = h ? h.params.filter((_, k) => hits.includes(k) && !seen.has(h.params[k]!)) : [];
          args.forEach((a) => seen.add(a));
          if (h && args.length) visitFunc(h, args);
        }
      };
      for (const b of g.body.blocks) walk(b.ops);
    };
    visitFunc(f, [p]);
    if (bound === Infinity) return;
    ranges.set(i, kind === 'int' ? { intBound: bound } : { scale: 1 / Math.sqrt(Math.max(1, bound)) });
  });
  return ranges;
}

/** Seeded random inputs for `f`; with the module, drawn within the ranges the program shows
 * (inputRanges). */
export function randomInputs(f: Func, seed: number, m?: Module): RtValue[] {
  return randomInputRecipes(f, seed, m).map((r, i) => {
    if (!r) return { kind: 'token' };
    if (r.type.kind !== 'tensor')
      throw new RuntimeError(
        `parameter ${i} of @${f.name} has type ${typeToString(r.type)}; random inputs need tensors`,
      );
    return randomTensor(r.type, r.seed, r.range);
  });
}

/** How randomInputs draws each parameter (undefined: a token): the generator's seed and range
 * (test/gpu/gen-inputs.c draws the same values where a tensor is too big to carry). */
export function randomInputRecipes(
  f: Func,
  seed: number,
  m?: Module,
): ({ type: Type; seed: number; range: InputRange } | undefined)[] {
  const ranges = m ? inputRanges(m, f) : new Map<number, InputRange>();
  return f.params.map((p, i) =>
    p.type.kind === 'token' ? undefined : { type: p.type, seed: seed * 1000003 + i, range: ranges.get(i) ?? {} },
  );
}
