/**
 * @fileoverview The GEMM and direct-convolution epilogue: the fusion group's element (kernel/fused.ts
 * builds it as IR) applied to each finished row of the micro-kernel's result, with the row and
 * column loops written around it here, in vectors along the columns where the element allows
 * (kernel/vectorize.ts decides).
 */
import { strides } from '../ir/tensor.js';
import type { TensorType } from '../ir/types.js';
import { mentions } from '../ir/index-expr.js';
import { CodeWriter } from '../emit-common/code-writer.js';
import { cIndex } from '../emit-common/cstyle.js';
import { linearIndex, loopVars, mapsOf } from '../fusion/fuse.js';
import type { FlatOp, Sym } from '../flat/program.js';
import { cElem, type CElem } from '../emit-common/ctypes.js';
import { CRenderer, cVectorUnit } from './c-renderer.js';
import { epilogueLeaf, fusedElement, type FusedEnv } from '../kernel/fused.js';
import { canVectorize, vectorizeStmts, vectorizeVal } from '../kernel/vectorize.js';

/** The fused group a GEMM or convolution kernel applies to its output (`lanes`: SIMD f32 lanes). */
export interface Epilogue {
  readonly fop: FlatOp;
  readonly env: FusedEnv;
  readonly lanes?: number;
}

const tensorOf = (s: Sym): TensorType => s.type as TensorType;
const elemOf = (s: Sym, f: FlatOp): CElem => cElem(tensorOf(s), f.op.name, f.op.loc);
/** The leaves a group's element reads from memory (not splats, which are literals, nor the GEMM
 * head's result, which it is given). */
function leavesRead(f: FlatOp, env: FusedEnv): Sym[] {
  const g = f.group!;
  const produced = new Set(g.members.flatMap((m) => m.outs));
  return g.members
    .flatMap((m) => m.ins)
    .filter((s) => !produced.has(s) && env.splat(s) === undefined && g.head?.outs[0] !== s);
}

/** The root loop variables the group's element reads its leaves through: the epilogue declares only those. */
function rootVarsRead(f: FlatOp, env: FusedEnv): Set<string> {
  const g = f.group!;
  const at = leavesRead(f, env).flatMap((s) => mapsOf(g, s).map((m) => linearIndex(m, tensorOf(s).shape)));
  const vars = loopVars(tensorOf(f.outs[0]!).shape.length).map(cIndex);
  return new Set(vars.filter((name) => at.some((x) => mentions(x, name))));
}

/**
 * The epilogue of a GEMM kernel: applies the group to rows [row0, row0 + rows) of the GEMM
 * result viewed as [rows x cols] (cols = the trailing root dims that make up N), in place in out0.
 * Leaves are the kernel's parameters e0, e1, ... (f.ins after the head's two operands). With
 * `lanes`, a group whose columns are the root's innermost dim runs in vectors along them.
 */
export function emitEpilogue(
  w: CodeWriter,
  { fop: f, env, lanes }: Epilogue,
  cols: number,
  row0: string,
  rows: string,
  headRow = `out0 + r * ${cols}`,
): void {
  const shape = tensorOf(f.outs[0]!).shape;
  // Split the root dims into leading (row) dims and trailing (column) dims with product `cols`.
  let split = shape.length;
  for (let prod = 1; split > 0 && prod < cols;) prod *= shape[--split]!;
  const st = strides(shape);
  const vars = loopVars(shape.length).map(cIndex);
  const read = rootVarsRead(f, env);
  const { stmts, root } = fusedElement(f, env, epilogueLeaf(f));
  const renderer = new CRenderer(lanes);
  // The head's f32 result at (r, n) (out0 itself, or an f32 block for a half-precision result, rounded here).
  const hc = elemOf(f.group!.head!.outs[0]!, f);
  const headValue = hc.name === 'f32' ? `(${headRow})[n]` : hc.load(hc.store(`(${headRow})[n]`));
  /** One element (or vector) at column n: root indices from (r, n), only those the maps use
   * (unused locals would fail -Werror), then the group's body. */
  const element = (vector: boolean): void => {
    vars.forEach((name, d) => {
      if (!read.has(name)) return;
      const inRow = d < split;
      const stride = inRow ? st[d]! / cols : st[d]!;
      // The outermost dim of each group needs no wrap-around (r and n stay in range).
      const outermost = d === 0 || d === split;
      w.line(
        `const rl_index_t ${name} = ${inRow ? 'r' : 'n'}${stride === 1 ? '' : ` / ${stride}`}${outermost ? '' : ` % ${shape[d]}`};`,
      );
    });
    if (vector) {
      const last = vars[vars.length - 1]!;
      renderer.renderStmts(
        w,
        vectorizeStmts(stmts, last, unit!),
        f.op,
        new Map([['head', `rl_vf_load(${headRow} + n)`]]),
      );
      w.line(`rl_vf_store(out0 + r * ${cols} + n, ${renderer.value(vectorizeVal(root, last, unit!))});`);
    } else {
      renderer.renderStmts(w, stmts, f.op, new Map([['head', headValue]]));
      w.line(`out0[r * ${cols} + n] = ${elemOf(f.outs[0]!, f).store(renderer.value(root))};`);
    }
  };
  const unit = cVectorUnit(lanes);
  const vector =
    !!unit && split === shape.length - 1 && cols >= unit.lanes && canVectorize(stmts, vars[vars.length - 1]!, unit);
  w.block(`for (rl_index_t r = ${row0}; r < ${row0} + ${rows}; ++r) {`, () => {
    w.line('rl_index_t n = 0;');
    if (vector) w.block(`for (; n + ${lanes} <= ${cols}; n += ${lanes}) {`, () => element(true));
    if (!vector || cols % lanes!) w.block(`for (; n < ${cols}; ++n) {`, () => element(false));
  });
}
