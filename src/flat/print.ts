/**
 * @fileoverview The flat program as text (`--dump-after` of flatten, canonicalize, fusion and
 * memory): one line per kernel op or control step, in program order, values named `%sN` by symbol.
 * A fusion group prints as one kernel with its members indented under it.
 */
import { shortLoc } from '../diag/source.js';
import { printAttr } from '../ir/print.js';
import { typeToString } from '../ir/types.js';
import type { Control, Edge, FlatOp, FlatProgram, Sym } from './program.js';
import { effectOf } from './flatten.js';

/** Per-op annotations a later phase adds (a GEMM plan, a buffer offset). */
export type OpNote = (f: FlatOp) => string | undefined;

export const symName = (s: Sym): string => (s.id < 0 ? `%scratch${-s.id}` : `%s${s.id}`);

export function printFlat(prog: FlatProgram, ops: readonly FlatOp[] = prog.ops, note?: OpNote): string {
  const lines = [
    `// @${prog.entry.name}: ${prog.inputs.length} input(s), ${prog.outputs.length} output(s), ${prog.constants.size} constant(s)`,
  ];
  prog.inputs.forEach((s, i) => lines.push(`${symName(s)} = input ${i} : ${typeToString(s.type)}`));
  for (const [s, op] of prog.constants) {
    const v = op.attrs['value'];
    const literal = v?.kind === 'dense' || v?.kind === 'denseResource' ? { ...v, type: undefined } : v; // the type follows
    lines.push(
      `${symName(s)} = constant ${literal ? printAttr(literal, { elideElements: 8 }) : '?'} : ${typeToString(s.type)}`,
    );
  }
  for (const f of ops) {
    const c = prog.control.get(f);
    if (c) lines.push(c.kind === 'effect' ? `${printOp(f)}  [${effectOf(f.op.name)}]` : printControl(c));
    else lines.push(...printKernelOp(f, note?.(f)));
  }
  prog.outputs.forEach((s, i) => lines.push(`output ${i} = ${symName(s)}`));
  return lines.join('\n') + '\n';
}

function printKernelOp(f: FlatOp, note: string | undefined): string[] {
  const suffix = note ? `  // ${note}` : '';
  if (!f.group) return [`${printOp(f)}${suffix}`];
  const g = f.group;
  const members = [...(g.head ? [g.head] : []), ...g.members, ...(g.reduce ? [g.reduce] : [])];
  return [
    `${f.outs.map(symName).join(', ')} = fused(${f.ins.map(symName).join(', ')}) {${suffix}`,
    ...members.map((m) => `  ${printOp(m)}`),
    '}',
  ];
}

function printOp(f: FlatOp): string {
  const attrs = Object.entries(f.op.attrs).filter(([k]) => k !== 'value');
  const dict = attrs.length
    ? ` {${attrs.map(([k, v]) => `${k} = ${printAttr(v, { elideElements: 8 })}`).join(', ')}}`
    : '';
  const regions = f.op.regions.length ? ` (${f.op.regions.length} region${f.op.regions.length > 1 ? 's' : ''})` : '';
  const types = f.outs.map((s) => typeToString(s.type)).join(', ');
  const loc = shortLoc(f.op.loc);
  return `${f.outs.map(symName).join(', ')} = ${f.op.name}(${f.ins.map(symName).join(', ')})${dict}${regions} : ${types}  // ${loc}`;
}

function printEdge(e: Edge): string {
  const copies = e.copies.map(([from, to]) => `${symName(to)} <- ${symName(from)}`).join(', ');
  return `${e.target}${copies ? ` [${copies}]` : ''}`;
}

function printControl(c: Exclude<Control, { kind: 'effect' }>): string {
  switch (c.kind) {
    case 'label':
      return `${c.name}:`;
    case 'copy':
      return `copy ${c.copies.map(([from, to]) => `${symName(to)} <- ${symName(from)}`).join(', ')}`;
    case 'goto':
      return `goto ${printEdge(c.edge)}`;
    case 'branch':
      return `if ${symName(c.cond)} goto ${printEdge(c.onTrue)} else goto ${printEdge(c.onFalse)}`;
    case 'switch':
      return `switch ${symName(c.index)} [${c.targets.join(', ')}]`;
  }
}
