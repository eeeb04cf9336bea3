/**
 * @fileoverview Facts a renderer needs about a kernel, read from its IR (never from generated
 * text): which parameters it reads and writes, which index variables and locals it reads.
 */
import type { Buf, KernelIR, Stmt, Val } from './ir.js';
import { subIndexes, type Idx } from '../ir/index-expr.js';

/** Names the statements mention: buffers (read or written), index variables, locals read or set. */
function namesUsed(
  body: readonly Stmt[],
  params: readonly Buf[],
): { buffers: Set<string>; vars: Set<string>; locals: Set<string> } {
  const used = new Set<string>();
  const vars = new Set<string>();
  const locals = new Set<string>();
  const idx = (x: Idx): void => {
    if (x.k === 'var') vars.add(x.name);
    if (x.k === 'read') used.add(x.buf.name);
    subIndexes(x).forEach(idx);
  };
  const val = (x: Val): void => {
    switch (x.k) {
      case 'load':
        used.add(x.buf.name);
        return idx(x.at);
      case 'op':
        return x.args.forEach(val);
      case 'cond':
        cond(x.cond);
        val(x.then);
        return val(x.otherwise);
      case 'index':
        return idx(x.x);
      case 'uniform01':
        return idx(x.at);
      case 'vload':
        used.add(x.buf.name);
        return idx(x.at);
      case 'broadcast':
        return val(x.value);
      case 'vop':
        return x.args.forEach(val);
      case 'local':
        locals.add(x.name);
        return;
      case 'splat':
      case 'const':
        return;
    }
  };
  const stmt = (s: Stmt): void => {
    switch (s.k) {
      case 'loop':
        idx(s.from);
        idx(s.to);
        return s.body.forEach(stmt);
      case 'store':
      case 'vstore':
        used.add(s.buf.name);
        idx(s.at);
        return val(s.value);
      case 'move':
        used.add(s.buf.name).add(s.src.name);
        idx(s.at);
        return idx(s.from);
      case 'copy':
        used.add(s.buf.name).add(s.src.name);
        return;
      case 'index':
      case 'var':
      case 'setIndex':
        return idx(s.value);
      case 'local':
        return val(s.init);
      case 'let':
        return val(s.value);
      case 'set':
        locals.add(s.name);
        return val(s.value);
      case 'region': {
        // An argument the body never reads is not rendered, so it uses nothing.
        const block = s.region?.blocks[0];
        const read = new Set(block?.ops.flatMap((op) => op.operands) ?? []);
        return s.args.forEach((a, i) => (!block || read.has(block.args[i]!)) && val(a));
      }
      case 'if':
        cond(s.cond);
        s.then.forEach(stmt);
        return s.otherwise?.forEach(stmt);
      case 'swap':
        used.add(s.buf.name);
        idx(s.a);
        return idx(s.b);
      case 'ukernel':
        // The micro-kernel reads every operand and writes every result (and its scratch).
        for (const p of params) used.add(p.name);
        return;
      case 'comment':
      case 'break':
      case 'array':
        return;
    }
  };
  const cond = (c: Extract<Stmt, { k: 'if' }>['cond']): void => {
    if (c.k === 'and') c.all.forEach(cond);
    else if (c.k === 'truth') val(c.value);
    else {
      idx(c.a);
      idx(c.b);
    }
  };
  body.forEach(stmt);
  return { buffers: used, vars, locals };
}

/** Index variables the statements read (a renderer declares only those it must). */
export const indexVarsUsed = (body: readonly Stmt[]): Set<string> => namesUsed(body, []).vars;

/** Locals (scalars) the statements read or set. */
export const localsUsed = (body: readonly Stmt[]): Set<string> => namesUsed(body, []).locals;

/** Parameters the body never mentions (a splat operand spelled as a literal, a shape operand of a
 * static result): renderers mark them used for the C compiler's warnings. */
export function unusedParams(k: KernelIR): Buf[] {
  const used = namesUsed(k.body, k.params).buffers;
  return k.params.filter((p) => !used.has(p.name));
}
