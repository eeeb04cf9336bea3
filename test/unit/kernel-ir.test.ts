/**
 * The kernel IR's passes on hand-built kernels: vectorization (kernel/vectorize.ts) takes only
 * loops whose every read is along the loop or invariant and whose ops the target spells, keeps
 * the scalar remainder, and leaves window loops inside scalar; the analysis finds unread
 * parameters; the printer and the C renderer print the nodes (vectors, scratch arrays, swaps,
 * breaks) as the emitted code needs them.
 */
import t from 'tap';
import { SourceFile } from '../../src/diag/source.js';
import { importModule } from '../../src/import/index.js';
import { floatElem, intElem, type ElemType } from '../../src/ir/types.js';
import { add, int, mul, v } from '../../src/ir/index-expr.js';
import type { Buf, KernelIR, Stmt, Val } from '../../src/kernel/ir.js';
import { canVectorize, vectorize, type VectorUnit } from '../../src/kernel/vectorize.js';
import { unusedParams } from '../../src/kernel/analysis.js';
import { printKernel } from '../../src/kernel/print.js';
import { cByteVectorUnit, cIntVectorUnit, CRenderer } from '../../src/emit-c/c-renderer.js';

const F32 = floatElem('f32')!;
const I32 = intElem(32, true);
const owner = importModule(
  new SourceFile(
    'k.mlir',
    'func.func @main(%a: tensor<4xf32>) -> tensor<4xf32> {\n  func.return %a : tensor<4xf32>\n}\n',
  ),
).funcs.get('main')!.body!.blocks[0]!.ops[0]!;
const buf = (name: string, elements: number, output = false, elem: ElemType = F32): Buf => ({
  name,
  elem,
  elements,
  output,
});
const [x, y, out] = [buf('in0', 40), buf('in1', 1), buf('out0', 40, true)];
const unit: VectorUnit = { elem: F32, lanes: 16, ops: new Set(['add', 'multiply']) };
const op = (name: string, args: Val[]): Val => ({ k: 'op', name, args, elem: F32, result: F32, owner });
const load = (b: Buf, at = v('i')): Val => ({ k: 'load', buf: b, at });
const loop = (body: Stmt[], to = 40): Stmt => ({
  k: 'loop',
  var: 'i',
  from: int(0),
  to: int(to),
  parallel: true,
  vector: true,
  body,
});
const store = (value: Val, at = v('i')): Stmt => ({ k: 'store', buf: out, at, value });

t.test('a vector loop becomes whole vector steps and the scalar remainder', async (t) => {
  const element = [store(op('add', [load(x), load(y, int(0))]))];
  const body = [loop(element)];
  const [vectors, rest, ...more] = vectorize(body, [unit]);
  t.equal(more.length, 0);
  t.match(vectors, { k: 'loop', from: { value: 0 }, to: { value: 32 }, step: 16 });
  const vstore = (vectors as Extract<Stmt, { k: 'loop' }>).body[0]!;
  t.match(
    vstore,
    { k: 'vstore', value: { k: 'vop', name: 'add', args: [{ k: 'vload' }, { k: 'broadcast' }] } },
    'along: vload; invariant: broadcast',
  );
  t.same(
    rest,
    { k: 'loop', var: 'i', from: int(32), to: int(40), parallel: true, body: element },
    'the remainder: the scalar body',
  );
  t.same(vectorize(body, []), body, 'no vector unit: unchanged');
  t.same(vectorize([loop(element, 8)], [unit]), [loop(element, 8)], 'shorter than a vector: unchanged');
});

t.test('vectorization refuses what vectors cannot compute', async (t) => {
  t.ok(canVectorize([store(op('multiply', [load(x), load(x)]))], 'i', unit));
  t.notOk(canVectorize([store(load(x, mul(v('i'), 2)))], 'i', unit), 'a strided read');
  t.notOk(canVectorize([store(load(x), mul(v('i'), 2))], 'i', unit), 'a strided store');
  t.notOk(canVectorize([store(op('divide', [load(x), load(x)]))], 'i', unit), 'an op the unit does not have');
  t.notOk(
    canVectorize(
      [{ k: 'store', buf: buf('o', 40, true, I32), at: v('i'), value: { k: 'index', x: v('i'), elem: I32 } }],
      'i',
      unit,
    ),
    'another element type',
  );
  t.notOk(
    canVectorize([{ k: 'if', cond: { k: 'cmp', a: v('i'), rel: '<', b: int(3) }, then: [store(load(x))] }], 'i', unit),
    'a condition on the lane',
  );
  const [scalar] = vectorize([loop([store(load(x, mul(v('i'), 2)))])], [unit]);
  t.same(scalar, loop([store(load(x, mul(v('i'), 2)))]), 'refused: the loop is left as it was');
});

t.test('a pooling window inside a vector loop stays scalar around vector accumulators', async (t) => {
  const window: Stmt = {
    k: 'loop',
    var: 'w',
    from: int(0),
    to: int(3),
    parallel: false,
    body: [
      { k: 'set', name: 'acc', value: op('add', [{ k: 'local', name: 'acc' }, load(x, add(mul(v('w'), 16), v('i')))]) },
    ],
  };
  const body = [
    loop(
      [
        { k: 'local', name: 'acc', elem: F32, wide: false, init: load(y, int(0)) },
        window,
        store({ k: 'local', name: 'acc' }),
      ],
      16,
    ),
  ];
  const [vectors] = vectorize(body, [unit]);
  const text = printKernel({ name: 'k', comment: '/* pooling */', params: [x, y, out], body: [vectors!] });
  t.match(text, /for i in \[0, 16\) step 16:/);
  t.match(text, /var acc: f32x16 = broadcast f32x16\(in1\[0\]\)/);
  t.match(text, /for w in \[0, 3\):\n\s+acc = add\.f32x16\(acc, in0\[w \* 16 \+ i : \+16\]\)/);
  const c = new CRenderer(16).render(
    { name: 'k', comment: '/* pooling */', params: [x, y, out], body: [vectors!] },
    owner,
    false,
  );
  t.match(c, /rl_vf acc = rl_vf_splat\(in1\[0\]\);/);
  t.match(c, /acc = rl_vf_add\(acc, rl_vf_load\(in0 \+ w \* 16 \+ i\)\);/);
  t.match(c, /rl_vf_store\(out0 \+ i, acc\);/);
  t.throws(
    () => new CRenderer(8).render({ name: 'k', comment: '', params: [x, y, out], body: [vectors!] }, owner, false),
    /no vector of 16 x f32/,
    'vectors of another width than the target has',
  );
});

// An integer unit (rl_vn on Helium): i32 lanes that also hold 8- and 16-bit integers exactly.
// A requantization's loop: i8 in, widened; i32 arithmetic; a convert back to i8; an i8 store.
t.test('integer lanes: narrow loads widen, converts wrap, narrow stores keep the low bits', async (t) => {
  const I8 = intElem(8, true);
  const intUnit = cIntVectorUnit(4)!;
  const [a8, m32, o8] = [buf('in0', 8, false, I8), buf('in1', 8, false, I32), buf('out0', 8, true, I8)];
  const iop = (name: string, args: Val[], elem: ElemType, result = elem): Val => ({
    k: 'op',
    name,
    args,
    elem,
    result,
    owner,
  });
  const stored = (x: Val, e: ElemType): Val => iop('as_stored', [x], e);
  const wide = stored(iop('convert', [load(a8)], I8, I32), I32);
  const requant = stored(iop('mulhi', [wide, load(m32, int(0))], I32), I32);
  const narrowed = stored(iop('convert', [requant], I32, I8), I8);
  const element: Stmt[] = [{ k: 'store', buf: o8, at: v('i'), value: narrowed }];
  t.ok(canVectorize(element, 'i', intUnit), 'the requantization loop runs in integer lanes');
  t.notOk(canVectorize(element, 'i', unit), 'not in f32 lanes');
  t.notOk(
    canVectorize([{ k: 'store', buf: o8, at: v('i'), value: iop('add', [load(a8), load(a8)], I8) }], 'i', intUnit),
    'an 8-bit add (it would not wrap in i32 lanes)',
  );
  t.notOk(
    canVectorize(
      [{ k: 'store', buf: buf('o16', 8, true, intElem(32, false)), at: v('i'), value: load(a8) }],
      'i',
      intUnit,
    ),
    'a u32 store (not held exactly in signed lanes)',
  );
  // The first unit that can run a loop takes it: f32 loops stay on rl_vf.
  const [vectors] = vectorize([loop(element, 8)], [unit, intUnit]);
  const c = new CRenderer(4, 'f64', 'rl_vn').render(
    { name: 'k', comment: '', params: [a8, m32, o8], body: [vectors!] },
    owner,
    false,
  );
  t.match(c, /for \(rl_index_t i = 0; i < 8; i \+= 4\)/);
  t.match(c, /rl_vn_mulhi\(rl_vn_load_s8\(in0 \+ i\), rl_vn_splat\(\(int32_t\)\(in1\[0\]\)\)\)/);
  t.match(c, /rl_vn_store_s8\(out0 \+ i, rl_vn_wrap_s8\(/);
  // A loop of 8-bit values only (a pooling) is left to the C compiler, which vectorizes it at its
  // width (16 lanes on Helium, not 4 held in i32 lanes).
  const pool = loop([{ k: 'store', buf: o8, at: v('i'), value: iop('maximum', [load(a8), load(a8)], I8) }], 8);
  t.ok(canVectorize((pool as Extract<Stmt, { k: 'loop' }>).body, 'i', intUnit), 'an i8 maximum runs in the lanes');
  t.same(vectorize([pool], [intUnit]), [pool], 'but alone it is not vectorized');
  // Byte vectors (rl_vb, the DSP extension's SIMD32): that int8 maximum, four in a word.
  const [bytes] = vectorize([pool], [cByteVectorUnit()]);
  const cb = new CRenderer(undefined, 'f32', 'rl_vb').render(
    { name: 'k', comment: '', params: [a8, o8], body: [bytes!] },
    owner,
    false,
  );
  t.match(cb, /rl_vb_store\(out0 \+ i, rl_vb_max\(rl_vb_load\(in0 \+ i\), rl_vb_load\(in0 \+ i\)\)\);/);
  t.notOk(canVectorize(element, 'i', cByteVectorUnit()), 'no i32 arithmetic in byte vectors');
  const [f32] = vectorize([loop([store(op('add', [load(x), load(x)]))])], [unit, intUnit]);
  t.match(f32, { k: 'loop', step: 16 }, 'an f32 loop on the f32 unit');
});

t.test('scratch arrays, swaps and breaks render; unread parameters are found from the IR', async (t) => {
  const scratch = buf('X', 8, true, floatElem('f64')!);
  const k: KernelIR = {
    name: 'k',
    comment: '/* k */',
    params: [x, y, out],
    body: [
      { k: 'array', buf: scratch },
      {
        k: 'loop',
        var: 'j',
        from: int(1),
        to: int(8),
        parallel: false,
        body: [{ k: 'swap', buf: out, a: v('j'), b: int(0) }, { k: 'break' }],
      },
      { k: 'store', buf: scratch, at: int(0), value: { k: 'const', elem: floatElem('f64')!, value: 0.5 } },
    ],
  };
  t.same(
    unusedParams(k).map((p) => p.name),
    ['in0', 'in1'],
    'in0 and in1 are never read',
  );
  const c = new CRenderer().render(k, owner, false);
  t.match(c, /\(void\)in0;\n\s+\(void\)in1;/);
  t.match(c, /double X\[8\];/);
  t.match(c, /\{ const float t = out0\[j\]; out0\[j\] = out0\[0\]; out0\[0\] = t; \}/);
  t.match(c, /break;/);
  t.match(c, /X\[0\] = \(double\)\(0\.5\);|X\[0\] = 0\.5;/);
  const withUkernel = { ...k, body: [...k.body, { k: 'ukernel' } as unknown as Stmt] };
  t.same(unusedParams(withUkernel), [], 'a ukernel reads every parameter');
});
