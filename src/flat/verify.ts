/**
 * @fileoverview Well-formedness of a flat program, checked after the phases that rewrite it (the
 * pipeline tests run it after flatten, canonicalize and fusion): every value read is an input, a
 * constant, a kernel's result or a jump's copy target; each kernel result is defined once; jumps
 * name labels that exist; a fusion group reads exactly the leaves its members take from outside
 * and writes its root's result. Returns the problems found (empty: well formed).
 */
import { controlCopies } from './flatten.js';
import type { FlatOp, FlatProgram, Sym } from './program.js';
import { symName } from './print.js';

export function flatProblems(prog: FlatProgram, ops: readonly FlatOp[] = prog.ops): string[] {
  const problems: string[] = [];
  const defined = new Set<Sym>([...prog.inputs, ...prog.constants.keys()]);
  const labels = new Set<string>();
  for (const f of ops) {
    const c = prog.control.get(f);
    if (c) {
      if (c.kind === 'label') labels.add(c.name);
      for (const [, to] of controlCopies(c)) defined.add(to);
      for (const s of f.outs) defined.add(s); // a collective's results
      continue;
    }
    for (const s of f.outs) {
      if (defined.has(s) && s.id >= 0) problems.push(`${symName(s)} is defined twice (again by ${f.op.name})`);
      defined.add(s);
    }
    if (f.group) problems.push(...groupProblems(f));
  }
  const where = (f: FlatOp): string => (prog.control.has(f) ? `control step ${prog.control.get(f)!.kind}` : f.op.name);
  for (const f of ops) {
    for (const s of f.ins) if (!defined.has(s)) problems.push(`${where(f)} reads ${symName(s)}, which nothing defines`);
    const c = prog.control.get(f);
    if (!c) continue;
    for (const [from] of controlCopies(c))
      if (!defined.has(from)) problems.push(`a jump copies ${symName(from)}, which nothing defines`);
    const targets =
      c.kind === 'goto'
        ? [c.edge.target]
        : c.kind === 'branch'
          ? [c.onTrue.target, c.onFalse.target]
          : c.kind === 'switch'
            ? c.targets
            : [];
    for (const t of targets) if (!labels.has(t)) problems.push(`a jump to ${t}, which is not a label`);
  }
  for (const s of prog.outputs) if (!defined.has(s)) problems.push(`output ${symName(s)} is never defined`);
  return problems;
}

function groupProblems(f: FlatOp): string[] {
  const g = f.group!;
  const members = [...(g.head ? [g.head] : []), ...g.members, ...(g.reduce ? [g.reduce] : [])];
  const inside = new Set(members.flatMap((m) => m.outs));
  const leaves = new Set(members.flatMap((m) => m.ins).filter((s) => !inside.has(s)));
  const problems: string[] = [];
  for (const s of f.ins)
    if (!leaves.has(s))
      problems.push(`fused kernel ${symName(f.outs[0]!)} reads ${symName(s)}, which no member takes from outside`);
  const root = g.reduce ?? g.members[g.members.length - 1]!;
  if (root.outs[0] !== f.outs[0])
    problems.push(`fused kernel ${symName(f.outs[0]!)} does not write its root's result ${symName(root.outs[0]!)}`);
  return problems;
}
