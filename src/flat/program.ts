/**
 * @fileoverview The flat program: the middle layer's data. After inlining (flatten.ts) a model is
 * one ordered list of op instances over program-wide symbols, with control steps for functions
 * of several blocks and constants as weights; simplify, fusion, memory planning and the emitters
 * all read and write this form.
 */
import type { Func, Op } from '../ir/core.js';
import type { Idx } from '../ir/index-expr.js';
import type { Type } from '../ir/types.js';

export interface Sym {
  readonly id: number;
  readonly type: Type;
}

/** An op instance after inlining: operands/results are program-wide symbols. A fusion group
 * (src/fusion) is one FlatOp too: `op` is its root, `ins` its leaves, `group` its members. */
export interface FlatOp {
  readonly op: Op;
  readonly ins: readonly Sym[];
  readonly outs: readonly Sym[];
  readonly group?: FusionGroup;
  /** Kernel ops run as one kernel, a row at a time (CUDA's row groups, emit-cuda/row-group.ts):
   * this op reads their external inputs and writes all their results. */
  readonly rowParts?: readonly FlatOp[];
}

/** How a fused value's element is addressed from the loop over the group's root result:
 * one index expression per dimension (in terms of the root's loop variables), or one flat index. */
export type IndexMap =
  { readonly kind: 'dims'; readonly dims: readonly Idx[] } | { readonly kind: 'flat'; readonly index: Idx };

export interface FusionGroup {
  /** Fused ops in program order; the last one is the root whose result the kernel writes. */
  readonly members: readonly FlatOp[];
  /** A dot/convolution computed by the GEMM path whose result the members read (an epilogue). */
  readonly head?: FlatOp;
  /** A reduction of the members' last result: the kernel accumulates the chain's elements over
   * the reduced dims (index maps are then over the reduction's input shape). */
  readonly reduce?: FlatOp;
  /** Index map of every value a member reads, by symbol id (a leaf read through several: the
   * first; operandMaps has them all). */
  readonly maps: ReadonlyMap<number, IndexMap>;
  /** The maps each member reads its operands through, in operand order: a leaf (a value the group
   * reads from memory) may be read through several, as an LSTM step's gates are slices of one
   * product. Absent: every operand through `maps`. */
  readonly operandMaps?: ReadonlyMap<FlatOp, readonly IndexMap[]>;
  /** Element i of the root result depends only on element i of any same-size operand, so the
   * result may overwrite such an operand (memory/plan.ts in-place rule). */
  readonly inPlaceSafe: boolean;
}

/** Copies a branch performs before jumping: block arguments receive the branch operands. */
export interface Edge {
  readonly target: string;
  readonly copies: readonly (readonly [from: Sym, to: Sym])[];
}

/** Control steps of functions with several blocks; every other step is a kernel. */
export type Control =
  | { readonly kind: 'label'; readonly name: string }
  | { readonly kind: 'copy'; readonly copies: Edge['copies'] }
  | { readonly kind: 'goto'; readonly edge: Edge }
  | { readonly kind: 'branch'; readonly cond: Sym; readonly onTrue: Edge; readonly onFalse: Edge }
  /** case: jump to targets[index], the last one for an out-of-range index. */
  | { readonly kind: 'switch'; readonly index: Sym; readonly targets: readonly string[] }
  /** An op whose effect reaches outside the program's buffers (flatten.ts EFFECT_STEPS): a
   * collective, a device id, send / recv (the communicator, runtime-lite rl_comm.h), infeed /
   * outfeed (the app's feeds, rl.h), or a join of tokens. It reads the step's ins and writes its
   * outs, in program order, never fused, never removed. */
  | { readonly kind: 'effect' };

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

/** Marks the broadcasts the splat pass (emit-common/splats.ts) makes: a fused group lists them as
 * what they were, a constant. */
export const SPLAT_MARK = 'xla_aot.generated_splat';
