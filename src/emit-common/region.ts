/**
 * @fileoverview Lowers a region of scalar ops (the bodies of reduce, sort, select_and_scatter,
 * ... whose values are all rank-0 tensors) to C statements over local variables. Each op's result
 * is rounded to its element type, as the spec's tensor<E> results are (this matters for f16/bf16,
 * which compute in float).
 */
import { error } from '../diag/diagnostics.js';
import type { Op, Region, Value } from '../ir/core.js';
import type { TensorType } from '../ir/types.js';
import { constantValue } from '../ops/control.js';
import { attrsOf } from '../ops/index.js';
import { getElem } from '../ir/tensor.js';
import type { CodeWriter } from './code-writer.js';
import { cElem, literal, type CElem } from './ctypes.js';
import { hasScalarCode, scalarCode } from './scalar.js';

const CMP: Readonly<Record<string, string>> = { EQ: '==', NE: '!=', LT: '<', LE: '<=', GT: '>', GE: '>=' };

function scalarType(v: Value, op: Op): { t: TensorType; c: CElem } {
  const t = v.type;
  if (t.kind !== 'tensor' || t.shape.length !== 0) throw error('E0303', { op: op.name }, op.loc);
  return { t, c: cElem(t, op.name, op.loc) };
}

/** Emits the region's ops; `args` are C expressions (compute type) for its block arguments.
 * Returns the C expressions of the values its `stablehlo.return` yields. */
export function emitScalarRegion(
  w: CodeWriter,
  region: Region | undefined,
  args: readonly string[],
  owner: Op,
  names: { next: number },
): string[] {
  const block = region?.blocks[0];
  if (!block || region!.blocks.length !== 1 || block.args.length !== args.length)
    throw error('E0303', { op: owner.name }, owner.loc);
  const env = new Map<Value, string>();
  block.args.forEach((a, i) => env.set(a, args[i]!));
  const get = (v: Value): string => {
    const e = env.get(v);
    if (e === undefined) throw error('E0303', { op: owner.name }, owner.loc);
    return e;
  };
  for (const op of block.ops) {
    if (op.name === 'stablehlo.return') return op.operands.map(get);
    const result = op.results[0];
    if (!result || op.results.length !== 1) throw error('E0303', { op: owner.name }, op.loc);
    const out = scalarType(result, op);
    const ins = op.operands.map((v) => ({ e: get(v), ...scalarType(v, op) }));
    let expr: string;
    const short = op.name.replace(/^stablehlo\./, '');
    if (op.name === 'stablehlo.constant') {
      const value = getElem(constantValue(op.attrs['value'], out.t, op), 0);
      if (Array.isArray(value)) throw error('E0303', { op: owner.name }, op.loc);
      expr = out.c.cls === 'bool' ? String(value) : literal(out.c, value as number | bigint);
    } else if (op.name === 'stablehlo.compare') {
      const a = attrsOf('stablehlo.compare', op);
      const [x, y] = ins as [(typeof ins)[0], (typeof ins)[0]];
      if (a.type === 'TOTALORDER' && (x.c.cls === 'float' || x.c.cls === 'double')) {
        const key = x.c.cls === 'double' ? 'rl_total_key_f64' : 'rl_total_key_f32';
        expr = `(uint8_t)(${key}(${x.e}) ${CMP[a.direction]} ${key}(${y.e}))`;
      } else if (a.type === 'UNSIGNED' && x.c.signed)
        expr = `(uint8_t)((u${x.c.storage})${x.e} ${CMP[a.direction]} (u${x.c.storage})${y.e})`;
      else if (x.e === y.e && (x.c.cls === 'int' || x.c.cls === 'bool'))
        expr = ['EQ', 'LE', 'GE'].includes(a.direction) ? '1' : '0'; // x OP x on ints (spelled out: gcc rejects self-comparisons)
      else expr = `(uint8_t)(${x.e} ${CMP[a.direction]} ${y.e})`;
    } else if (op.name === 'stablehlo.select') expr = `(${ins[0]!.e} ? ${ins[1]!.e} : ${ins[2]!.e})`;
    else if (op.name === 'stablehlo.convert') {
      const x = ins[0]!;
      if (out.c.cls === 'bool') expr = `(${x.e} != 0)`;
      else if (out.c.cls === 'int' && (x.c.cls === 'float' || x.c.cls === 'double'))
        expr = `rl_f2i_${out.c.intSuffix}((double)${x.e})`;
      else expr = `(${out.c.compute})(${x.e})`;
    } else if (op.name.startsWith('stablehlo.') && hasScalarCode(short, ins[0]!.c))
      expr = scalarCode(
        short,
        ins.map((x) => x.e),
        ins[0]!.c,
        op,
      );
    else throw error('E0303', { op: owner.name }, op.loc);
    const name = `b${names.next++}`; // 'b' for body values: distinct from loop indices
    // Round to the element type (f16/bf16 compute in float but their results are f16/bf16).
    const rounded = out.c.storage === out.c.compute || out.c.cls === 'bool' ? expr : out.c.load(out.c.store(expr));
    w.line(`const ${out.c.compute} ${name} = ${rounded};`);
    env.set(result, name);
  }
  throw error('E0303', { op: owner.name }, owner.loc);
}
