/**
 * @fileoverview The reference interpreter's driver: runs functions, regions and CFG blocks over
 * runtime values, dispatching each op to its `evaluate` in the op table. Knows nothing of
 * lowering or emitters.
 */
import { error } from '../diag/diagnostics.js';
import type { Block, Func, Module, Op, Region, Value } from '../ir/core.js';
import { sameShape, typeToString } from '../ir/types.js';
import { opAttrs, type EvalSession, type OpEvalCtx, type ProcessInfo } from '../ops/def.js';
import { constantValue } from '../ops/control.js';
import { lookupOp } from '../ops/index.js';
import { dequantizeArgs, hasQuantTypes, QUANT_NATIVE, quantizedView, requantizeResults } from '../ops/quant.js';
import { runParallel } from './process-grid.js';
import { type RtValue } from '../ir/tensor.js';
import { RuntimeError } from '../diag/diagnostics.js';

class Env {
  private readonly vals = new Map<Value, RtValue>();
  constructor(private readonly parent?: Env) {}
  get(v: Value): RtValue | undefined {
    return this.vals.get(v) ?? this.parent?.get(v);
  }
  set(v: Value, x: RtValue): void {
    this.vals.set(v, x);
  }
}

const MAX_CALL_DEPTH = 200;

export class Interpreter {
  readonly session: EvalSession = { checks: [], printed: [], probes: new Map() };
  private depth = 0;
  private readonly globals = new Map<string, RtValue>();

  constructor(
    readonly module: Module,
    readonly process?: ProcessInfo,
  ) {}

  /** A second interpreter over the same module for one process of a grid; shares the session. */
  forProcess(process: ProcessInfo): Interpreter {
    const it = new Interpreter(this.module, process);
    (it as { session: EvalSession }).session = this.session;
    return it;
  }

  callFunction(name: string, args: readonly RtValue[]): RtValue[] {
    const f = this.module.funcs.get(name);
    if (!f) throw new RuntimeError(`call of unknown function @${name}`);
    return this.runFunc(f, args);
  }

  runFunc(f: Func, args: readonly RtValue[]): RtValue[] {
    if (!f.body) throw new RuntimeError(`function @${f.name} has no body`);
    if (args.length !== f.params.length)
      throw new RuntimeError(`@${f.name} takes ${f.params.length} argument(s), got ${args.length}`);
    if (++this.depth > MAX_CALL_DEPTH) throw new RuntimeError('call depth limit exceeded (recursion?)');
    try {
      return this.runRegion(f.body, args, new Env());
    } finally {
      this.depth--;
    }
  }

  /** Runs a region (one or more blocks linked by cf.br/cf.cond_br) to its return. */
  runRegion(region: Region, args: readonly RtValue[], outer: Env): RtValue[] {
    const env = new Env(outer);
    let block: Block | undefined = region.blocks[0];
    let blockArgs = args;
    for (;;) {
      if (!block) throw new RuntimeError('branch to a missing block');
      if (blockArgs.length !== block.args.length)
        throw new RuntimeError(`block ${block.label} takes ${block.args.length} argument(s), got ${blockArgs.length}`);
      block.args.forEach((a, i) => env.set(a, blockArgs[i]!));
      let next: { block: Block | undefined; args: RtValue[] } | undefined;
      for (const op of block.ops) {
        const operands = op.operands.map((v) => {
          const x = env.get(v);
          if (!x) throw new RuntimeError(`value ${v.name} used before it was computed`);
          return x;
        });
        if (op.name === 'func.return' || op.name === 'stablehlo.return' || op.name === 'chlo.return') return operands;
        if (op.name === 'cf.br' || op.name === 'cf.cond_br') {
          const taken = op.name === 'cf.br' ? 0 : truthy(operands[0]) ? 0 : 1;
          const succ = op.successors[taken]!;
          next = { block: region.blocks.find((b) => b.label === succ.label), args: succ.args.map((v) => env.get(v)!) };
          break;
        }
        const results = this.runOp(op, operands, env);
        if (results.length !== op.results.length)
          throw new RuntimeError(
            `${op.loc.file}:${op.loc.line}:${op.loc.col}: error: ${op.name} produced ${results.length} result(s), it declares ${op.results.length}`,
          );
        op.results.forEach((r, i) => env.set(r, results[i]!));
      }
      if (!next) return [];
      block = next.block;
      blockArgs = next.args;
    }
  }

  loadGlobal(name: string): RtValue {
    let v = this.globals.get(name);
    if (!v) {
      const g = this.module.globals.get(name);
      if (!g || g.type.kind !== 'tensor') throw new RuntimeError(`unknown global @${name}`);
      const fake: Op = {
        name: 'util.global',
        operands: [],
        results: [],
        attrs: {},
        regions: [],
        successors: [],
        loc: g.loc,
      };
      v = constantValue(g.value, g.type, fake);
      this.globals.set(name, v);
    }
    return v;
  }

  private runOp(op: Op, operands: RtValue[], env: Env): RtValue[] {
    const def = lookupOp(op.name);
    if (!def) throw error('E0201', { op: op.name }, op.loc);
    const ctx: OpEvalCtx = {
      runRegion: (r, a) => this.runRegion(r, a, env),
      callFunction: (n, a) => this.callFunction(n, a),
      loadGlobal: (n) => this.loadGlobal(n),
      runParallel: (programs, args, infeed) => runParallel(this, programs, args, infeed),
      process: this.process,
      session: this.session,
    };
    try {
      // Quantized operands/results: dequantize, compute in the expressed type, quantize (spec).
      if (!QUANT_NATIVE.has(op.name) && hasQuantTypes(op)) {
        const view = quantizedView(op);
        return requantizeResults(op, def.evaluate(dequantizeArgs(operands), opAttrs(def, view), view, ctx));
      }
      const results = def.evaluate(operands, opAttrs(def, op), op, ctx);
      // A result whose type differs from the declared one (a shape operand that contradicts the
      // result type, say) is an error here, as it is in the compiled program.
      results.forEach((r, i) => {
        const declared = op.results[i]?.type;
        if (
          r.kind === 'tensor' &&
          declared?.kind === 'tensor' &&
          declared.shape.every((d) => d >= 0) &&
          (r.type.elem !== declared.elem || !sameShape(r.type.shape, declared.shape)) &&
          typeToString(r.type) !== typeToString(declared)
        )
          throw new RuntimeError(`computes ${typeToString(r.type)} where it declares ${typeToString(declared)}`);
      });
      return results;
    } catch (e) {
      if (e instanceof RuntimeError && !(e as { located?: boolean }).located) {
        const loc = op.loc;
        const located = new RuntimeError(`${loc.file}:${loc.line}:${loc.col}: error: ${op.name}: ${e.message}`);
        (located as unknown as { located: boolean }).located = true;
        throw located;
      }
      throw e;
    }
  }
}

function truthy(v: RtValue | undefined): boolean {
  if (!v || v.kind !== 'tensor') throw new RuntimeError('branch condition must be a tensor<i1>');
  return (v.data as Uint8Array)[0] === 1;
}
