/**
 * @fileoverview The kernel IR as pseudo-code (`--dump-after=lower`): typed parameters, loops with
 * their extent and `parallel` mark, loads and stores with their computed indexes, scalar ops by
 * their op-table names.
 */
import { elemToString, type ElemType } from '../ir/types.js';
import type { Cond, KernelIR, Stmt, Val } from './ir.js';
import { indexText, type Idx } from '../ir/index-expr.js';
import { describeUkernel } from './ukernel.js';

export function printKernel(k: KernelIR): string {
  const lines = [
    `kernel ${k.name}(${k.params.map((p) => `${p.output ? 'out' : 'in'} ${p.name}: ${elemToString(p.elem)}[${p.elements}]`).join(', ')})  // ${k.comment.replace(/^\/\* | \*\/$/g, '')}`,
  ];
  const body = (ss: readonly Stmt[], depth: number): void => ss.forEach((s) => stmt(s, depth));
  const out = (depth: number, text: string): void => void lines.push(`${'  '.repeat(depth)}${text}`);
  const stmt = (s: Stmt, d: number): void => {
    switch (s.k) {
      case 'loop':
        out(
          d,
          `${s.parallel ? 'parallel ' : ''}${s.vector ? 'vector ' : ''}for ${s.var} in [${idx(s.from)}, ${idx(s.to)})${s.step && s.step !== 1 ? ` step ${s.step}` : ''}:`,
        );
        return body(s.body, d + 1);
      case 'store':
        return out(d, `${s.buf.name}[${idx(s.at)}] = ${s.raw ? 'raw ' : ''}${val(s.value)}`);
      case 'move':
        return out(d, `${s.buf.name}[${idx(s.at)}] = ${s.src.name}[${idx(s.from)}]`);
      case 'copy':
        return out(d, `${s.buf.name} = copy of ${s.src.name}`);
      case 'index':
        return out(d, `let ${s.name} = ${idx(s.value)}`);
      case 'var':
        return out(d, `var ${s.name} = ${idx(s.value)}`);
      case 'setIndex':
        return out(d, `${s.name} = ${idx(s.value)}`);
      case 'local':
        return out(d, `var ${s.name}: ${typeText(s.elem, s.lanes)}${s.wide ? ' (wide)' : ''} = ${val(s.init)}`);
      case 'let':
        return out(d, `let ${s.name}: ${typeText(s.elem, s.lanes)} = ${val(s.value)}${s.note ? `  // ${s.note}` : ''}`);
      case 'vstore':
        return out(d, `${s.buf.name}[${idx(s.at)} : +${s.type.lanes}] = ${val(s.value)}`);
      case 'set':
        return out(d, `${s.name} = ${val(s.value)}`);
      case 'region':
        return out(d, `${s.results.join(', ')} = body of ${s.owner.name}(${s.args.map(val).join(', ')})`);
      case 'if':
        out(d, `if ${cond(s.cond)}:`);
        body(s.then, d + 1);
        if (s.otherwise) {
          out(d, 'else:');
          body(s.otherwise, d + 1);
        }
        return;
      case 'break':
        return out(d, 'break');
      case 'swap':
        return out(d, `swap ${s.buf.name}[${idx(s.a)}], ${s.buf.name}[${idx(s.b)}]`);
      case 'array':
        return out(d, `array ${s.buf.name}: ${elemToString(s.buf.elem)}[${s.buf.elements}]`);
      case 'ukernel':
        out(d, `ukernel ${describeUkernel(s.plan)}`);
        if (s.epilogue)
          out(d + 1, `epilogue: ${s.epilogue.members.map((m) => m.op.name.replace(/^[a-z]+\./, '')).join(', ')}`);
        return;
      case 'comment':
        return out(d, `// ${s.text}`);
    }
  };
  body(k.body, 1);
  return lines.join('\n') + '\n';
}

const idx = (x: Idx): string =>
  indexText(x, { clamp: (y, lo, hi) => `clamp(${y}, ${lo}, ${hi})`, read: (buf, at) => `${buf}[${at}]` });

function val(x: Val): string {
  switch (x.k) {
    case 'load':
      return `${x.buf.name}[${idx(x.at)}]`;
    case 'cond':
      return `(${cond(x.cond)} ? ${val(x.then)} : ${val(x.otherwise)})`;
    case 'op':
      return `${x.name}.${elemToString(x.elem)}(${x.args.map(val).join(', ')})`;
    case 'index':
      return `${elemToString(x.elem)}(${idx(x.x)})`;
    case 'local':
      return x.name;
    case 'splat':
      return `splat ${elemToString(x.elem)}`;
    case 'const':
      return `${elemToString(x.elem)}(${x.value})`;
    case 'uniform01':
      return `uniform01(key ${x.key}, ${idx(x.at)}, draw ${x.pair})`;
    case 'vload':
      return `${x.buf.name}[${idx(x.at)} : +${x.type.lanes}]`;
    case 'broadcast':
      return `broadcast ${typeText(x.type.elem, x.type.lanes)}(${val(x.value)})`;
    case 'vop':
      return `${x.name}.${typeText(x.type.elem, x.type.lanes)}(${x.args.map(val).join(', ')})`;
  }
}

/** `f32`, or `f32x16` for a vector. */
const typeText = (elem: ElemType, lanes?: number): string => `${elemToString(elem)}${lanes ? `x${lanes}` : ''}`;

function cond(c: Cond): string {
  if (c.k === 'and') return c.all.map(cond).join(' and ');
  if (c.k === 'truth') return `${c.negate ? 'not ' : ''}${val(c.value)}`;
  return `${idx(c.a)} ${c.rel} ${idx(c.b)}`;
}
