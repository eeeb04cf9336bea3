/**
 * @fileoverview Constants, calls and control flow (while, if, case, composite), tuples, tokens,
 * the test-suite check ops (check.*, custom_call @check.*), interpreter.print/probe, and the few
 * foreign ops exported models carry (util.global.*, tensor.extract).
 */
import { error } from '../diag/diagnostics.js';
import type { Attr } from '../ir/attrs.js';
import { customCallTarget, type Op } from '../ir/core.js';
import { storageElem, tensorType, typeToString, type TensorType } from '../ir/types.js';
import { checkAlmostEq, checkClose, checkEq } from './checks.js';
import {
  copyElem,
  expectTensor,
  forEachIndex,
  getElem,
  intAt,
  literalSizeError,
  makeTensor,
  setElem,
  size,
  strides,
  tensorFromDense,
  type RtValue,
  type ShardedValue,
  type Tensor,
} from '../ir/tensor.js';
import { constraint, defineOp, type OpDef, type OpEvalCtx } from './def.js';
import {
  distinctTiles,
  FULL_TO_SHARD,
  isShardingBoundary,
  SHARD_TO_FULL,
  shardingAttr,
  tileStarts,
} from './sharding-calls.js';
import { allowInPlace, inPlaceLoopUpdates, isLoopOwned, markLoopOwned, releaseLoopOwned } from './in-place.js';
import { resultTensorType } from './elementwise.js';
import { RuntimeError } from '../diag/diagnostics.js';

/** Deterministic stand-in values for `dense_resource<__elided__>` weights (seeded by position):
 * floats in [-0.1, 0.1), or in [0.5, 1.5) where the program needs them positive (a variance under
 * rsqrt, see import/elided.ts). */
function elidedTensor(type: TensorType, seed: number, positive: boolean): Tensor {
  const out = makeTensor(type);
  let s = (seed * 2654435761) >>> 0 || 1;
  const e = storageElem(type.elem);
  for (let i = 0; i < size(out); i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    const u = s / 4294967296 - 0.5; // [-0.5, 0.5)
    if (e.kind === 'int') setElem(out, i, BigInt(Math.floor(u * 8)));
    else if (e.kind === 'bool') setElem(out, i, u > 0 ? 1 : 0);
    else if (e.kind === 'complex') setElem(out, i, [u * 0.2, 0]);
    else setElem(out, i, positive ? u + 1 : u * 0.2);
  }
  return out;
}

export function constantValue(value: Attr | undefined, type: TensorType, op: Op): Tensor {
  if (!value) throw new RuntimeError('constant has no value');
  if (value.kind === 'dense') return tensorFromDense(value.literal, type);
  if (value.kind === 'denseResource')
    return elidedTensor(type, op.loc.line * 131 + op.loc.col, value.positive === true);
  if (value.kind === 'int' || value.kind === 'float' || value.kind === 'bool') {
    const v = value.kind === 'int' ? value.value : value.kind === 'float' ? value.value : value.value ? 1 : 0;
    const e = storageElem(type.elem);
    return tensorFromDense(
      {
        elems: [
          typeof v === 'bigint'
            ? { kind: 'int', value: v, hex: false }
            : e.kind === 'int'
              ? { kind: 'int', value: BigInt(v), hex: false }
              : { kind: 'float', value: v },
        ],
      },
      type,
    );
  }
  throw new RuntimeError(`unsupported constant value (${value.kind})`);
}

const constant = defineOp({
  name: 'stablehlo.constant',
  category: 'constant',
  spec: 'constant',
  infer: (_types, _a, op) => {
    const value = op.attrs['value'];
    const t = op.results[0]?.type;
    const wrong = value?.kind === 'dense' && t?.kind === 'tensor' ? literalSizeError(value.literal, t) : undefined;
    if (wrong) constraint(op, 'constant_c1', wrong);
    return undefined;
  },
  evaluate: (_args, _a, op) => [constantValue(op.attrs['value'], resultTensorType(op), op)],
});

const call = defineOp({
  name: 'func.call',
  category: 'control',
  attrs: (r) => ({ callee: r.string('callee') }),
  evaluate: (args, a, _op, ctx) => {
    // A call on per-partition values (shard_map's body) runs once per partition, as a process
    // grid, so that its collectives see every partition's contribution.
    const sharded = args.filter((v): v is ShardedValue => v.kind === 'sharded');
    if (!sharded.length) return ctx.callFunction(a.callee, args);
    const n = sharded[0]!.parts.length;
    if (sharded.some((v) => v.parts.length !== n))
      throw new RuntimeError(`call @${a.callee}: arguments split over different partition counts`);
    const perPartition = Array.from({ length: n }, (_, p) => args.map((v) => (v.kind === 'sharded' ? v.parts[p]! : v)));
    const flat = ctx.runParallel([Array<string>(n).fill(a.callee)], perPartition.flat(), []);
    const k = flat.length / n;
    return Array.from({ length: k }, (_, j) => ({
      kind: 'sharded',
      parts: Array.from({ length: n }, (_, p) => expectTensor(flat[p * k + j], `result ${j} of partition ${p}`)),
    }));
  },
});

/** @SPMDFullToShardShape: partition p's tile of the full value (ops/sharding-calls.ts). */
function shardValue(x: Tensor, op: Op): ShardedValue {
  const s = shardingAttr(op, 'operand_sharding');
  const local = resultTensorType(op);
  if (s?.kind !== 'tiled')
    throw error(
      'E0301',
      { op: `@${FULL_TO_SHARD} of a value without a tiled @Sharding`, target: 'the interpreter' },
      op.loc,
    );
  const starts = tileStarts(s, x.type, local, s.devices.length, op.loc);
  const xs = strides(x.type.shape);
  const parts = starts.map((st) => {
    const part = makeTensor(local);
    forEachIndex(local.shape, (idx, flat) =>
      copyElem(
        part,
        flat,
        x,
        idx.reduce((off, v, d) => off + (v + (st?.[d] ?? 0)) * xs[d]!, 0),
      ),
    );
    return part;
  });
  return { kind: 'sharded', parts };
}

/** @SPMDShardToFullShape: the partitions' tiles put back where the result's sharding says. */
function unshardValue(v: ShardedValue, op: Op): Tensor {
  const full = resultTensorType(op);
  const local = v.parts[0]!.type;
  const starts = tileStarts(shardingAttr(op), full, local, v.parts.length, op.loc);
  const out = makeTensor(full);
  const os = strides(full.shape);
  for (const { partition, start } of distinctTiles(starts))
    forEachIndex(local.shape, (idx, flat) =>
      copyElem(
        out,
        idx.reduce((off, x, d) => off + (x + start[d]!) * os[d]!, 0),
        v.parts[partition]!,
        flat,
      ),
    );
  return starts.every((s) => s === undefined) ? v.parts[0]! : out;
}

function pred(v: RtValue | undefined): boolean {
  return (expectTensor(v, 'predicate').data as Uint8Array)[0] === 1;
}

const whileOp = defineOp({
  name: 'stablehlo.while',
  category: 'control',
  spec: 'while',
  evaluate: (args, _a, op, ctx) => {
    const [cond, body] = op.regions;
    // Carried tensors the body updates in place (ops/in-place.ts) are the loop's own copies.
    const updates = inPlaceLoopUpdates(op);
    allowInPlace(updates.keys());
    const carried = [...new Set(updates.values())];
    let state: RtValue[] = [...args];
    for (;;) {
      if (!pred(ctx.runRegion(cond!, state)[0])) {
        for (const i of carried) releaseLoopOwned(state[i]!);
        return state;
      }
      for (const i of carried) {
        const v = state[i]!;
        if (v.kind === 'tensor' && (!isLoopOwned(v) || state.some((w, j) => j !== i && w === v)))
          state[i] = markLoopOwned({ ...v, data: v.data.slice() });
      }
      state = ctx.runRegion(body!, state);
    }
  },
});

const ifOp = defineOp({
  name: 'stablehlo.if',
  category: 'control',
  spec: 'if',
  evaluate: (args, _a, op, ctx) => ctx.runRegion(op.regions[pred(args[0]) ? 0 : 1]!, []),
});

const caseOp = defineOp({
  name: 'stablehlo.case',
  category: 'control',
  spec: 'case',
  evaluate: (args, _a, op, ctx) => {
    const n = op.regions.length;
    let i = intAt(expectTensor(args[0]), 0);
    if (i < 0 || i >= n) i = n - 1; // case_c?: out-of-range index selects the last branch
    return ctx.runRegion(op.regions[i]!, []);
  },
});

const tuple = defineOp({
  name: 'stablehlo.tuple',
  category: 'control',
  spec: 'tuple',
  infer: (types) => [{ kind: 'tuple', elems: [...types] }],
  evaluate: (args) => [{ kind: 'tuple', elems: [...args] }],
});

const getTupleElement = defineOp({
  name: 'stablehlo.get_tuple_element',
  category: 'control',
  spec: 'get_tuple_element',
  arity: 1,
  attrs: (r) => ({ index: r.int('index') }),
  infer: (types, a, op) => {
    const t = types[0];
    if (t?.kind !== 'tuple')
      return constraint(
        op,
        'get_tuple_element_c1',
        `the operand must be a tuple, got ${t ? typeToString(t) : 'nothing'}`,
      );
    const e = t.elems[a.index];
    if (!e)
      return constraint(
        op,
        'get_tuple_element_c1',
        `index ${a.index} outside the ${t.elems.length} elements of ${typeToString(t)}`,
      );
    return [e];
  },
  evaluate: (args, a) => {
    const t = args[0];
    if (t?.kind !== 'tuple') throw new RuntimeError('operand must be a tuple');
    const e = t.elems[a.index];
    if (!e) throw new RuntimeError(`tuple index ${a.index} out of range`);
    return [e];
  },
});

/** An op whose results are its operands (optimization_barrier): same number, same types. */
const identity = <const N extends string>(name: N): OpDef<any, N> =>
  defineOp({
    name,
    category: 'control',
    spec: name.replace(/^stablehlo\./, ''),
    infer: (types) => [...types],
    evaluate: (args) => [...args],
  });

const afterAll = defineOp({
  name: 'stablehlo.after_all',
  category: 'control',
  spec: 'after_all',
  infer: (types, _a, op) => {
    if (types.some((t) => t.kind !== 'token')) constraint(op, 'after_all_i1', 'every operand must be a token');
    return [{ kind: 'token' }];
  },
  evaluate: () => [{ kind: 'token' }],
});
const createToken = defineOp({
  name: 'stablehlo.create_token',
  category: 'control',
  arity: 0,
  infer: () => [{ kind: 'token' }],
  evaluate: () => [{ kind: 'token' }],
});

const composite = defineOp({
  name: 'stablehlo.composite',
  category: 'control',
  spec: 'composite',
  attrs: (r) => ({ decomposition: r.string('decomposition') }),
  evaluate: (args, a, _op, ctx) => ctx.callFunction(a.decomposition, args),
});

// ---- checks ------------------------------------------------------------------------------------
function record(ctx: OpEvalCtx, op: Op, failure: string | undefined, value?: RtValue): void {
  ctx.session.checks.push({ ok: failure === undefined, message: failure ?? 'ok', op, ...(value ? { value } : {}) });
}

/** Check ops compare a computed value against an expected one; backends other than the
 * interpreter reproduce the computed value (see checkedOperand). */
export function isCheckOp(op: Op): boolean {
  if (op.name.startsWith('check.')) return true;
  return checkTarget(op)?.startsWith('check.') ?? false;
}

function checkTarget(op: Op): string | undefined {
  return customCallTarget(op);
}

/** The operand of a check op that holds the *computed* value: operand 0, except for the
 * quantized tests' `custom_call @check.eq(%expected, %actual)`, which takes the expected first.
 * The interpreter records this operand and the C backend outputs it, so a backend is judged on
 * what it computed, never on a copy of the expected literal. */
export function checkedOperand(op: Op): number {
  return checkTarget(op) === 'check.eq' ? 1 : 0;
}

function literalOf(op: Op, like: Tensor): Tensor {
  const v = op.attrs['value'];
  const type = v?.kind === 'dense' && v.type ? v.type : like.type;
  return constantValue(v, type, op);
}

const checkOps = [
  defineOp({
    name: 'check.expect_eq',
    category: 'check',
    evaluate: (args, _a, op, ctx) => (
      record(ctx, op, checkEq(expectTensor(args[0]), expectTensor(args[1])), args[0]),
      []
    ),
  }),
  defineOp({
    name: 'check.expect_eq_const',
    category: 'check',
    evaluate: (args, _a, op, ctx) => {
      const x = expectTensor(args[0]);
      record(ctx, op, checkEq(x, literalOf(op, x)), args[0]);
      return [];
    },
  }),
  defineOp({
    name: 'check.expect_almost_eq',
    category: 'check',
    attrs: (r) => ({ tol: r.float('tolerance', 1e-4) }),
    evaluate: (args, a, op, ctx) => (
      record(ctx, op, checkAlmostEq(expectTensor(args[0]), expectTensor(args[1]), a.tol), args[0]),
      []
    ),
  }),
  defineOp({
    name: 'check.expect_almost_eq_const',
    category: 'check',
    attrs: (r) => ({ tol: r.float('tolerance', 1e-4) }),
    evaluate: (args, a, op, ctx) => {
      const x = expectTensor(args[0]);
      record(ctx, op, checkAlmostEq(x, literalOf(op, x), a.tol), args[0]);
      return [];
    },
  }),
  defineOp({
    name: 'check.expect_close',
    category: 'check',
    attrs: (r) => ({ min: r.int('min_ulp_difference', 0), max: r.int('max_ulp_difference', 1) }),
    evaluate: (args, a, op, ctx) => (
      record(ctx, op, checkClose(expectTensor(args[0]), expectTensor(args[1]), a.min, a.max), args[0]),
      []
    ),
  }),
  defineOp({
    name: 'check.expect_serialized_eq',
    category: 'check',
    attrs: (r) => ({ id: r.string('probe_id'), iter: r.int('iter', 0) }),
    evaluate: (args, a, op, ctx) => {
      const probed = ctx.session.probes.get(a.id)?.[a.iter];
      record(
        ctx,
        op,
        probed
          ? checkEq(expectTensor(args[0]), expectTensor(probed))
          : `no probe '${a.id}' (iteration ${a.iter}) was recorded`,
        args[0],
      );
      return [];
    },
  }),
];

/** Custom calls exporters write around sharding (GSPMD / shard_map): on one device each passes its
 * operand through unchanged. Shape-changing ones (a full tensor to one partition's shard) are not. */
const SHARDING_CALLS = new Set([
  'Sharding',
  'SPMDFullToShardShape',
  'SPMDShardToFullShape',
  'mhlo.sharding',
  'xla.sdy.FuncResultSharding',
  'xla.sdy.GlobalToLocalShape',
  'xla.sdy.LocalToGlobalShape',
]);

export function isIdentityCustomCall(op: Op): boolean {
  if (!SHARDING_CALLS.has(customCallTarget(op) ?? '')) return false;
  return (
    op.operands.length === 1 &&
    op.results.length === 1 &&
    typeToString(op.operands[0]!.type) === typeToString(op.results[0]!.type)
  );
}

/** The located error for a custom call `where` cannot run: vendor kernels, and sharding calls
 * that change shape (they need the program partitioned across devices). */
export function unsupportedCustomCall(op: Op, target: string, where: string): Error {
  const why = SHARDING_CALLS.has(target)
    ? ' (changes the shape: it needs the program partitioned over several devices)'
    : ' (a vendor call target)';
  return error('E0301', { op: `custom_call @${target}${why}`, target: where }, op.loc);
}

/** `stablehlo.custom_call @check.*`: the testdata form of the checks (tolerances per upstream). */
const customCall = defineOp({
  name: 'stablehlo.custom_call',
  category: 'other',
  spec: 'custom_call',
  attrs: (r) => ({ target: r.string('call_target_name') }),
  // Vendor targets are refused when the module is verified: by every backend alike, and before a
  // long interpretation reaches them.
  infer: (_types, a, op) => {
    if (!a.target.startsWith('check.') && !SHARDING_CALLS.has(a.target))
      throw unsupportedCustomCall(op, a.target, 'xla-aot');
    return undefined;
  },
  evaluate: (args, a, op, ctx) => {
    // Manual regions: a full value cut into per-partition tiles, and put back together.
    if (a.target === SHARD_TO_FULL && args[0]?.kind === 'sharded') return [unshardValue(args[0], op)];
    if (isShardingBoundary(op)) {
      if (a.target === SHARD_TO_FULL) throw new RuntimeError(`@${SHARD_TO_FULL} of a value that is not per-partition`);
      return [shardValue(expectTensor(args[0]), op)];
    }
    if (isIdentityCustomCall(op)) return [args[0]!];
    if (!a.target.startsWith('check.')) throw unsupportedCustomCall(op, a.target, 'the interpreter');
    const [x, y] = [expectTensor(args[0]), expectTensor(args[1])];
    switch (a.target) {
      case 'check.expect_eq':
        record(ctx, op, checkEq(x, y), args[0]);
        return [];
      case 'check.expect_close':
        record(ctx, op, checkClose(x, y, 0, 3), args[0]);
        return [];
      case 'check.expect_almost_eq':
        record(ctx, op, checkAlmostEq(x, y, 1e-3), args[0]);
        return [];
      case 'check.eq': {
        // Expected value first; integers exact, floats absolute 1e-4. Returns a pass flag.
        const e = storageElem(x.type.elem);
        const failure = e.kind === 'int' || e.kind === 'bool' ? checkEq(y, x) : checkAlmostEq(y, x, 1e-4);
        record(ctx, op, failure, args[checkedOperand(op)]);
        const out = makeTensor(resultTensorType(op));
        setElem(out, 0, failure ? 0 : 1);
        return [out];
      }
      default:
        throw unsupportedCustomCall(op, a.target, 'the interpreter');
    }
  },
});

// ---- interpreter.* -----------------------------------------------------------------------------
function formatElem(t: Tensor, i: number): string {
  const v = getElem(t, i);
  const e = storageElem(t.type.elem);
  if (e.kind === 'bool') return v ? 'true' : 'false';
  if (e.kind === 'int') return String(v);
  const f = (x: number): string =>
    Number.isNaN(x)
      ? 'nan'
      : !Number.isFinite(x)
        ? x > 0
          ? 'inf'
          : '-inf'
        : x.toExponential(6).replace(/e([+-])(\d)$/, 'e$10$2');
  if (Array.isArray(v)) return `(${f(v[0])}, ${f(v[1])})`;
  return f(v as number);
}

/** Prints a tensor like the upstream interpreter: `tensor<2xi32> {\n  [1, 2]\n}`. */
export function printTensor(t: Tensor): string {
  const head = typeToString(t.type);
  if (t.type.shape.length === 0) return `${head} {${formatElem(t, 0)}}`;
  const rec = (dim: number, base: number, stride: number[]): string => {
    const n = t.type.shape[dim]!;
    const parts: string[] = [];
    for (let i = 0; i < n; i++)
      parts.push(
        dim === t.type.shape.length - 1 ? formatElem(t, base + i) : rec(dim + 1, base + i * stride[dim]!, stride),
      );
    return `[${parts.join(', ')}]`;
  };
  const st: number[] = [];
  let acc = 1;
  for (let d = t.type.shape.length - 1; d >= 0; d--) {
    st[d] = acc;
    acc *= t.type.shape[d]!;
  }
  return `${head} {\n  ${rec(0, 0, st)}\n}`;
}

const interpreterOps = [
  defineOp({
    name: 'interpreter.print',
    category: 'other',
    evaluate: (args, _a, _op, ctx) => {
      ctx.session.printed.push(printTensor(expectTensor(args[0])));
      return [];
    },
  }),
  defineOp({
    name: 'interpreter.probe',
    category: 'other',
    attrs: (r) => ({ id: r.string('probe_id') }),
    evaluate: (args, a, _op, ctx) => {
      const list = ctx.session.probes.get(a.id) ?? [];
      list.push(args[0]!);
      ctx.session.probes.set(a.id, list);
      return [args[0]!];
    },
  }),
];

// ---- foreign ops found in exported models ------------------------------------------------------
const foreignOps = [
  defineOp({
    name: 'util.global.address',
    category: 'other',
    attrs: (r) => ({ name: r.string('symbol') }),
    evaluate: (_args, a) => [{ kind: 'globalRef', name: a.name }],
  }),
  defineOp({
    name: 'util.global.load.indirect',
    category: 'other',
    evaluate: (args, _a, op, ctx) => {
      const ref = args[0];
      if (ref?.kind !== 'globalRef') throw new RuntimeError('operand must be a global address');
      return [ctx.loadGlobal(ref.name, op)];
    },
  }),
  defineOp({
    name: 'util.global.load',
    category: 'other',
    attrs: (r) => ({ name: r.string('global', r.string('symbol', '')) }),
    evaluate: (_args, a, op, ctx) => [ctx.loadGlobal(a.name, op)],
  }),
  defineOp({
    name: 'tensor.extract',
    category: 'other',
    evaluate: (args, _a, op) => {
      const x = expectTensor(args[0]);
      const idx = args.slice(1).map((v) => intAt(expectTensor(v), 0));
      const out = makeTensor(tensorType([], x.type.elem));
      let flat = 0;
      let stride = 1;
      for (let d = idx.length - 1; d >= 0; d--) {
        flat += idx[d]! * stride;
        stride *= x.type.shape[d]!;
      }
      copyElem(out, 0, x, flat);
      void op;
      return [out];
    },
  }),
];

export const CONTROL = [
  constant,
  call,
  whileOp,
  ifOp,
  caseOp,
  tuple,
  getTupleElement,
  identity('stablehlo.optimization_barrier'),
  afterAll,
  createToken,
  composite,
  customCall,
  ...checkOps,
  ...interpreterOps,
  ...foreignOps,
];
