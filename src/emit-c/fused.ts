/**
 * @fileoverview C for fusion groups (src/fusion): the per-element body shared by standalone fused
 * loops and GEMM epilogues. Each member becomes one local variable, rounded to its own result
 * type like an unfused kernel's store; broadcasts and reshapes are index maps, splats literals.
 */
import { strides } from '../interpret/tensor.js';
import type { TensorType } from '../ir/types.js';
import { CodeWriter } from '../emit-common/code-writer.js';
import { linearIndex, loopVars, type FusionGroup } from '../fusion/fuse.js';
import { cElem, type CElem } from './ctypes.js';
import type { FlatOp, KernelParam, Sym } from './kernels.js';
import { scalarCode } from './scalar.js';

export interface FusedEnv {
  /** C expression (compute type) of a splat constant's value, if `s` is one. */
  readonly splat: (s: Sym) => string | undefined;
}

const tensorOf = (s: Sym): TensorType => s.type as TensorType;
const elemOf = (s: Sym, f: FlatOp): CElem => cElem(tensorOf(s), f.op.name, f.op.loc);

/** A one-line list of what a group fuses, for the kernel comment and --report. */
export function describeGroup(g: FusionGroup): string {
  const where = (f: FlatOp): string => `${f.op.name.replace(/^stablehlo\./, '')} (${f.op.loc.line}:${f.op.loc.col})`;
  return [...(g.head ? [g.head] : []), ...g.members].map(where).join(', ');
}

/**
 * Emits locals for every member at the current loop position and returns the root's value as a
 * storage-typed expression. `leaf(s)` names the pointer holding leaf `s`; `headValue` is the
 * C expression of the GEMM head's result at this element.
 */
function emitElement(w: CodeWriter, f: FlatOp, env: FusedEnv, leaf: (s: Sym) => string, headValue?: string): string {
  const g = f.group!;
  const value = new Map<number, string>();
  const read = (s: Sym, user: FlatOp): string => {
    const known = value.get(s.id);
    if (known) return known;
    const lit = env.splat(s);
    if (lit) return lit;
    if (g.head && g.head.outs[0] === s) return headValue!;
    const c = elemOf(s, user);
    const local = `x${s.id}`;
    w.line(`const ${c.compute} ${local} = ${c.load(`${leaf(s)}[${linearIndex(g.maps.get(s.id)!, tensorOf(s).shape)}]`)};`);
    value.set(s.id, local);
    return local;
  };
  for (const m of g.members) {
    const out = m.outs[0]!;
    if (m.op.name === 'stablehlo.broadcast_in_dim' || m.op.name === 'stablehlo.reshape') {
      value.set(out.id, read(m.ins[0]!, m));
      continue;
    }
    const args = m.ins.map((s) => read(s, m));
    const [c, oc] = [elemOf(m.ins[0]!, m), elemOf(out, m)];
    const local = `v${out.id}`;
    w.line(`const ${oc.compute} ${local} = ${oc.load(oc.store(scalarCode(m.op.name.replace(/^[a-z]+\./, ''), args, c, m.op)))}; /* ${m.op.name} */`);
    value.set(out.id, local);
  }
  const root = g.members[g.members.length - 1]!.outs[0]!;
  return elemOf(root, f).store(value.get(root.id)!);
}

/** Parameters of a fused kernel: its leaves (in `f.ins` order), then the result. */
export function fusedParams(f: FlatOp, inPlace: boolean): KernelParam[] {
  const restrict = inPlace ? '' : ' restrict';
  return [
    ...f.ins.map((s, i) => ({ name: `in${i}`, cType: `const ${elemOf(s, f).storage}*${restrict}`, output: false })),
    { name: 'out0', cType: `${elemOf(f.outs[0]!, f).storage}*${restrict}`, output: true },
  ];
}

/** Body of a standalone fused kernel: one loop nest over the root's shape. */
export function emitFusedLoop(f: FlatOp, env: FusedEnv): string {
  const w = new CodeWriter();
  const shape = tensorOf(f.outs[0]!).shape;
  const vars = loopVars(shape.length);
  const leaf = (s: Sym): string => `in${f.ins.indexOf(s)}`;
  const open = (d: number): void => {
    if (d === shape.length) {
      const v = emitElement(w, f, env, leaf);
      w.line(`out0[${linearIndex({ kind: 'dims', dims: vars }, shape)}] = ${v};`);
      return;
    }
    w.block(`for (int64_t ${vars[d]} = 0; ${vars[d]} < ${shape[d]}; ++${vars[d]}) {`, () => open(d + 1));
  };
  open(0);
  return w.toString();
}

/**
 * The epilogue of a GEMM kernel: applies the group to rows [row0, row0 + rows) of the GEMM
 * result viewed as [rows x cols] (cols = the trailing root dims that make up N), in place in out0.
 * Leaves are the kernel's parameters e0, e1, ... (f.ins after the head's two operands).
 */
export function emitEpilogue(w: CodeWriter, f: FlatOp, env: FusedEnv, cols: number, row0: string, rows: string): void {
  const shape = tensorOf(f.outs[0]!).shape;
  // Split the root dims into leading (row) dims and trailing (column) dims with product `cols`.
  let split = shape.length;
  for (let prod = 1; split > 0 && prod < cols; ) prod *= shape[--split]!;
  const st = strides(shape);
  const vars = loopVars(shape.length);
  const leaf = (s: Sym): string => `e${f.ins.lastIndexOf(s) - 2}`; // after the head's operands, which a leaf may repeat
  w.block(`for (int64_t r = ${row0}; r < ${row0} + ${rows}; ++r) {`, () => {
    w.block(`for (int64_t n = 0; n < ${cols}; ++n) {`, () => {
      const body = new CodeWriter();
      const v = emitElement(body, f, env, leaf, 'out0[r * ' + cols + ' + n]');
      const text = body.toString();
      // Root indices from (r, n), only those the maps use (unused locals would fail -Werror).
      vars.forEach((name, d) => {
        if (!new RegExp(`\\b${name}\\b`).test(text)) return;
        const inRow = d < split;
        const stride = inRow ? st[d]! / cols : st[d]!;
        // The outermost dim of each group needs no wrap-around (r and n stay in range).
        const outermost = d === 0 || d === split;
        w.line(`const int64_t ${name} = ${inRow ? 'r' : 'n'}${stride === 1 ? '' : ` / ${stride}`}${outermost ? '' : ` % ${shape[d]}`};`);
      });
      for (const line of text.split('\n').filter(Boolean)) w.line(line);
      w.line(`out0[r * ${cols} + n] = ${v};`);
    });
  });
}
