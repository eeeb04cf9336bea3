import t from 'tap';
import type { Op } from '../../src/ir/core.js';
import { tensorType, floatElem } from '../../src/ir/types.js';
import { liveRangesWithJumps, planMemory, planWithJumps, type PlanStep } from '../../src/memory/plan.js';
import type { FlatOp, Sym } from '../../src/flat/program.js';

// A random chain of ops over float buffers: checks the planner's invariants, not particular offsets.
const f32 = floatElem('f32')!;
const fakeOp = (name: string): Op => ({
  name,
  operands: [],
  results: [],
  attrs: {},
  regions: [],
  successors: [],
  loc: { file: 'x', line: 1, col: 1 },
});

function randomProgram(seed: number, n: number): { ops: FlatOp[]; input: Sym; outputs: Sym[] } {
  let s = seed;
  const rnd = (k: number): number => {
    s = (s * 1103515245 + 12345) >>> 0;
    return s % k;
  };
  let id = 0;
  const mk = (): Sym => ({ id: id++, type: tensorType([1 + rnd(64)], f32) });
  const input = mk();
  const syms: Sym[] = [input];
  const ops: FlatOp[] = [];
  for (let i = 0; i < n; i++) {
    const ins = [syms[rnd(syms.length)]!, syms[Math.max(0, syms.length - 1 - rnd(3))]!];
    const out = rnd(2) ? { id: id++, type: ins[0]!.type } : mk();
    ops.push({ op: fakeOp(rnd(2) ? 'stablehlo.add' : 'stablehlo.dot_general'), ins, outs: [out] });
    syms.push(out);
  }
  return { ops, input, outputs: [syms[syms.length - 1]!] };
}

t.test('planned buffers never overlap while both are live', async (t) => {
  for (let seed = 1; seed <= 30; seed++) {
    const { ops, input, outputs } = randomProgram(seed, 40);
    // Element sizes differ between buffers (1, 2 or 4 bytes), as with i1/f16/f32 tensors.
    const elemBytes = (x: Sym): number => [1, 2, 4][(x.type.kind === 'tensor' ? x.type.shape[0]! : 0) % 3]!;
    const plan = planMemory(ops, new Set([input]), outputs, elemBytes, (f) => f.op.name === 'stablehlo.add');
    const def = new Map<Sym, number>();
    const last = new Map<Sym, number>();
    ops.forEach((f, i) => {
      f.outs.forEach((o) => def.set(o, i));
      f.ins.forEach((x) => last.set(x, i));
    });
    outputs.forEach((o) => last.set(o, ops.length));
    const bytes = (x: Sym): number =>
      Math.ceil(((x.type.kind === 'tensor' ? x.type.shape[0]! : 0) * elemBytes(x)) / 64) * 64;
    for (const f of plan.inPlace) {
      const out = f.outs[0]!;
      const victim = f.ins.find((x) => plan.offsets.get(x) === plan.offsets.get(out))!;
      t.ok(
        victim && elemBytes(victim) === elemBytes(out) && bytes(victim) === bytes(out),
        'in place only over an input with the same element size and count',
      );
    }
    const syms = [...def.keys()];
    let bad = 0;
    for (const a of syms)
      for (const b of syms) {
        if (a.id >= b.id) continue;
        const [da, la, db, lb] = [def.get(a)!, last.get(a) ?? def.get(a)!, def.get(b)!, last.get(b) ?? def.get(b)!];
        // In place: b written by the op where a dies, in a's buffer.
        const inPlace =
          plan.inPlace.has(ops[db]!) &&
          ops[db]!.ins.includes(a) &&
          la === db &&
          plan.offsets.get(a) === plan.offsets.get(b);
        if (inPlace || la < db || lb < da) continue;
        const [oa, ob] = [plan.offsets.get(a)!, plan.offsets.get(b)!];
        if (oa < ob + bytes(b) && ob < oa + bytes(a)) bad++;
      }
    t.equal(bad, 0, `seed ${seed}: no overlap of live buffers`);
    t.ok(
      [...plan.offsets.values()].every((o) => o % plan.alignment === 0),
      'aligned',
    );
    t.ok(
      plan.arenaBytes >= plan.lowerBound && plan.arenaBytes <= plan.noReuseBytes,
      `lower bound ${plan.lowerBound} <= arena ${plan.arenaBytes} <= no reuse ${plan.noReuseBytes}`,
    );
  }
});

t.test('with jumps: a loop keeps alive what it reads from before it and what outlives it', async (t) => {
  const s = (id: number): Sym => ({ id, type: tensorType([16], f32) });
  const [before, carried, temp, after, unrelated] = [s(1), s(2), s(3), s(4), s(5)];
  // 0: before = ...; 1: carried = copy; 2: head:; 3: temp = f(carried, before); 4: carried = g(temp);
  // 5: goto head (back edge); 6: after = h(carried); 7: unrelated = ...; 8: use unrelated
  const steps: PlanStep[] = [
    { defs: [before], uses: [] },
    { defs: [carried], uses: [] },
    { defs: [], uses: [], label: 'head' },
    { defs: [temp], uses: [carried, before] },
    { defs: [carried], uses: [temp] },
    { defs: [], uses: [], jumpsTo: ['head'] },
    { defs: [after], uses: [carried] },
    { defs: [unrelated], uses: [] },
    { defs: [], uses: [unrelated] },
  ];
  const r = liveRangesWithJumps(steps, [after]);
  t.same(r.get(before), { start: 0, end: 5 }, 'read in the loop, defined before it: live to the back edge');
  t.same(r.get(carried), { start: 1, end: 6 }, 'carried across iterations and read after the loop');
  t.same(r.get(temp), { start: 3, end: 4 }, 'a temporary of one iteration stays short');
  t.same(r.get(after), { start: 6, end: 9 }, 'an output lives to the end');
  const plan = planWithJumps(steps, new Set(), [after], () => 4);
  const overlap = (a: Sym, b: Sym): boolean =>
    plan.offsets.get(a)! < plan.offsets.get(b)! + 64 && plan.offsets.get(b)! < plan.offsets.get(a)! + 64;
  t.notOk(
    overlap(before, temp) || overlap(before, carried) || overlap(carried, temp),
    'values live together in the loop never share memory',
  );
  t.ok(
    [before, carried, temp].some((x) => overlap(unrelated, x)),
    'after the loop its buffers are reused',
  );
  t.ok(plan.arenaBytes < plan.noReuseBytes, `arena ${plan.arenaBytes} < ${plan.noReuseBytes} without reuse`);
});
