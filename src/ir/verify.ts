/**
 * @fileoverview Module verifier: every op must be known to the op table, its attributes must
 * parse, and where the op table infers result types they must match the declared ones
 * (E0202). Calls must name existing functions with matching arity; returns must match their
 * function's signature, and the regions of if/case/while must yield what the op declares.
 * Whatever goes wrong while checking an op is reported at that op, never as a crash.
 */
import { CompileError, error } from '../diag/diagnostics.js';
import { opAttrs } from '../ops/def.js';
import { lookupOp, TERMINATORS } from '../ops/index.js';
import type { Loc } from '../diag/source.js';
import type { Module, Op, Region } from './core.js';
import { BOOL, numElements, typeToString, type Type } from './types.js';
import { MAX_ELEMENTS } from './tensor.js';

function sameType(a: Type, b: Type): boolean {
  if (a.kind === 'tensor' && b.kind === 'tensor') {
    // `?` dims are compatible with anything; element types must agree.
    return (
      a.elem.name === b.elem.name &&
      a.shape.length === b.shape.length &&
      a.shape.every((d, i) => d < 0 || b.shape[i]! < 0 || d === b.shape[i])
    );
  }
  return typeToString(a) === typeToString(b);
}

/** The values `r`'s blocks hand back: the operands of each block's terminator (return ops only). */
function yields(r: Region): { op: Op; values: readonly Type[] }[] {
  return r.blocks.flatMap((b) => {
    const last = b.ops[b.ops.length - 1];
    return last && (last.name === 'stablehlo.return' || last.name === 'func.return')
      ? [{ op: last, values: last.operands.map((v) => v.type) }]
      : [];
  });
}

/** Each region of `op` must yield values of `expected` types (count and type). */
function checkYields(op: Op, regions: readonly Region[], expected: readonly Type[], what: string): void {
  for (const r of regions)
    for (const y of yields(r)) {
      const same = y.values.length === expected.length && y.values.every((t, i) => sameType(t, expected[i]!));
      if (!same)
        throw error(
          'E0204',
          {
            op: op.name,
            detail: `${what} yields (${y.values.map(typeToString).join(', ')}), expected (${expected.map(typeToString).join(', ')})`,
          },
          y.op.loc,
        );
    }
}

/**
 * Ops whose regions are scalar computations (a reduction's combiner, a comparator, a map body):
 * for `k` operands, each region's [arguments, results]. The spec's computation-type constraints;
 * a body that yields too few values was run with missing operands.
 */
const COMPUTATIONS: Readonly<Record<string, (k: number) => readonly (readonly [number, number])[]>> = {
  'stablehlo.reduce': (k) => [[k, k / 2]],
  'stablehlo.reduce_window': (k) => [[k, k / 2]],
  // The collectives apply one binary computation to each operand in turn.
  'stablehlo.all_reduce': () => [[2, 1]],
  'stablehlo.reduce_scatter': () => [[2, 1]],
  'stablehlo.collective_reduce': () => [[2, 1]],
  'stablehlo.scatter': (k) => [[k - 1, (k - 1) / 2]],
  'stablehlo.select_and_scatter': () => [
    [2, 1],
    [2, 1],
  ],
  'stablehlo.sort': (k) => [[2 * k, 1]],
  'stablehlo.map': (k) => [[k, 1]],
};

function checkComputations(op: Op): void {
  const shape = COMPUTATIONS[op.name];
  if (!shape) return;
  const expected = shape(op.operands.length);
  const bad = (detail: string, loc = op.loc): never => {
    throw error('E0204', { op: op.name, detail }, loc);
  };
  if (op.regions.length !== expected.length) bad(`expects ${expected.length} region(s), has ${op.regions.length}`);
  expected.forEach(([args, results], i) => {
    const entry = op.regions[i]!.blocks[0];
    if (!entry) return bad(`region ${i} is empty`);
    if (entry.args.length !== args) bad(`region ${i} takes ${entry.args.length} argument(s), expected ${args}`);
    for (const y of yields(op.regions[i]!)) {
      if (y.values.length !== results)
        bad(`region ${i} yields ${y.values.length} value(s), expected ${results}`, y.op.loc);
      const nonScalar = y.values.find((t) => t.kind !== 'tensor' || t.shape.length !== 0);
      if (nonScalar) bad(`region ${i} yields ${typeToString(nonScalar)}, expected 0-d tensors`, y.op.loc);
    }
  });
}

function checkRegions(op: Op): void {
  checkComputations(op);
  const results = op.results.map((v) => v.type);
  if (op.name === 'stablehlo.if' || op.name === 'stablehlo.case') checkYields(op, op.regions, results, 'a branch');
  if (op.name === 'stablehlo.while' && op.regions.length === 2) {
    const carried = op.operands.map((v) => v.type);
    if (carried.length !== results.length || !carried.every((t, i) => sameType(t, results[i]!)))
      throw error(
        'E0204',
        {
          op: op.name,
          detail: `carries (${carried.map(typeToString).join(', ')}) but declares results (${results.map(typeToString).join(', ')})`,
        },
        op.loc,
      );
    checkYields(op, [op.regions[0]!], [{ kind: 'tensor', shape: [], elem: BOOL }], 'the condition');
    checkYields(op, [op.regions[1]!], carried, 'the body');
  }
}

function verifyOp(m: Module, op: Op): void {
  try {
    checkOp(m, op);
    // After the op's own checks (a wrong declared type is better reported as such).
    checkSizes(
      op.name,
      op.results.map((r) => r.type),
      op.loc,
    );
  } catch (e) {
    if (e instanceof CompileError) throw e;
    // A malformed op the checks above did not foresee (an operand missing from a pretty form,
    // say): still a located diagnostic.
    throw error(
      'E0204',
      { op: op.name, detail: `malformed operands or attributes (${e instanceof Error ? e.message : String(e)})` },
      op.loc,
    );
  }
  for (const r of op.regions) verifyRegion(m, r, op.loc);
}

/** A tensor type too large to hold (checked before anything allocates one), or undefined. */
function oversized(t: Type): Type | undefined {
  if (t.kind === 'tuple') return t.elems.map(oversized).find((x) => x);
  return t.kind === 'tensor' && t.shape.every((d) => d >= 0) && numElements(t.shape) > MAX_ELEMENTS ? t : undefined;
}

function checkSizes(what: string, types: readonly Type[], loc: Loc): void {
  const big = types.map(oversized).find((x) => x);
  if (big) throw error('E0204', { op: what, detail: `${typeToString(big)} has more than 2^31 elements` }, loc);
}

function checkOp(m: Module, op: Op): void {
  checkRegions(op);
  if (!TERMINATORS.has(op.name)) {
    const def = lookupOp(op.name);
    if (!def) throw error('E0201', { op: op.name }, op.loc);
    if (def.arity !== undefined && op.operands.length !== def.arity)
      throw error('E0205', { op: op.name, expected: def.arity, got: op.operands.length }, op.loc);
    const attrs = opAttrs(def, op);
    if (def.infer) {
      const inferred = def.infer(
        op.operands.map((v) => v.type),
        attrs,
        op,
      );
      if (inferred) {
        if (inferred.length !== op.results.length)
          throw error(
            'E0204',
            { op: op.name, detail: `declares ${op.results.length} result(s), expected ${inferred.length}` },
            op.loc,
          );
        inferred.forEach((t, i) => {
          const declared = op.results[i]!.type;
          if (!sameType(t, declared))
            throw error('E0202', { op: op.name, declared: typeToString(declared), inferred: typeToString(t) }, op.loc);
        });
      }
    }
    // A call, and a composite (which runs its decomposition), must match the function it names.
    if (op.name === 'func.call' || op.name === 'stablehlo.composite') {
      const callee = op.attrs[op.name === 'func.call' ? 'callee' : 'decomposition'];
      const name = callee?.kind === 'symbol' ? callee.name : callee?.kind === 'string' ? callee.value : '';
      const f = m.funcs.get(name);
      if (!f) throw error('E0107', { name }, op.loc);
      if (f.params.length !== op.operands.length)
        throw error('E0205', { op: `call @${name}`, expected: f.params.length, got: op.operands.length }, op.loc);
      const args = op.operands.map((v) => v.type);
      const mismatch = f.params.findIndex((p, i) => !sameType(p.type, args[i]!));
      if (mismatch >= 0)
        throw error(
          'E0204',
          {
            op: `call @${name}`,
            detail: `argument ${mismatch} is ${typeToString(args[mismatch]!)}, @${name} takes ${typeToString(f.params[mismatch]!.type)}`,
          },
          op.loc,
        );
      const results = op.results.map((v) => v.type);
      if (results.length !== f.resultTypes.length || !results.every((t, i) => sameType(t, f.resultTypes[i]!)))
        throw error(
          'E0204',
          {
            op: `call @${name}`,
            detail: `declares results (${results.map(typeToString).join(', ')}), @${name} returns (${f.resultTypes.map(typeToString).join(', ')})`,
          },
          op.loc,
        );
    }
  }
}

function verifyRegion(m: Module, r: Region, owner: Loc): void {
  for (const b of r.blocks) {
    for (const op of b.ops) verifyOp(m, op);
    // Every block ends in a terminator: a return, or a branch (the backends lay blocks out by it).
    const last = b.ops[b.ops.length - 1];
    if (!last || !TERMINATORS.has(last.name))
      throw error(
        'E0204',
        { op: 'region', detail: `block ${b.label} does not end in a return or a branch` },
        last?.loc ?? owner,
      );
  }
}

export function verifyModule(m: Module): void {
  for (const f of m.funcs.values()) {
    if (f.body) verifyRegion(m, f.body, f.loc);
    checkSizes(`@${f.name}`, [...f.params.map((p) => p.type), ...f.resultTypes], f.loc);
    if (!f.body) continue;
    // What a function returns is what its signature says (a caller or the generated header reads it).
    for (const y of yields(f.body)) {
      const same = y.values.length === f.resultTypes.length && y.values.every((t, i) => sameType(t, f.resultTypes[i]!));
      if (!same)
        throw error(
          'E0204',
          {
            op: `@${f.name}`,
            detail: `returns (${y.values.map(typeToString).join(', ')}), its signature says (${f.resultTypes.map(typeToString).join(', ')})`,
          },
          y.op.loc,
        );
    }
  }
}
