import t from 'tap';
import { decodeFloat, encodeFloat, FLOAT_FORMATS, maxFinite, roundToFormat } from '../../src/ir/float-format.js';

const F = (n: string) => FLOAT_FORMATS[n]!;

t.test('largest finite values match the formats’ definitions', async (t) => {
  // Values from the OCP 8-bit float spec / IEEE 754 (computed by hand from the bit layouts).
  t.equal(maxFinite(F('f16')), 65504);
  t.equal(maxFinite(F('bf16')), 3.3895313892515355e38);
  t.equal(maxFinite(F('f8E4M3FN')), 448);
  t.equal(maxFinite(F('f8E5M2')), 57344);
  t.equal(maxFinite(F('f8E4M3FNUZ')), 240);
  t.equal(maxFinite(F('f4E2M1FN')), 6);
  t.equal(maxFinite(F('f6E2M3FN')), 7.5);
  t.equal(maxFinite(F('f6E3M2FN')), 28);
});

t.test('every bit pattern of the 8-bit formats round-trips', async (t) => {
  for (const name of ['f8E4M3FN', 'f8E5M2', 'f8E4M3FNUZ', 'f8E5M2FNUZ', 'f8E4M3B11FNUZ', 'f8E3M4', 'f8E4M3']) {
    const f = F(name);
    let bad = 0;
    for (let b = 0; b < 256; b++) {
      const v = decodeFloat(f, b);
      if (Number.isNaN(v)) continue;
      const back = Number(encodeFloat(f, v));
      if (back !== b && !(v === 0 && decodeFloat(f, back) === 0)) bad++;
    }
    t.equal(bad, 0, `${name} round-trips`);
  }
});

t.test('f16 rounding is to nearest, ties to even', async (t) => {
  t.equal(roundToFormat(F('f16'), 1 + 2 ** -11), 1, 'tie rounds down to even mantissa');
  t.equal(roundToFormat(F('f16'), 1 + 3 * 2 ** -11), 1 + 2 ** -9, 'tie rounds up to even mantissa');
  t.equal(roundToFormat(F('f16'), 65520), Infinity, 'halfway past max overflows');
  t.equal(roundToFormat(F('f16'), 65519), 65504);
  t.equal(roundToFormat(F('f16'), 2 ** -25), 0, 'half of the smallest subnormal rounds to even (zero)');
  t.equal(roundToFormat(F('bf16'), 1.00390625), 1, 'bf16 tie to even');
  t.equal(Number(encodeFloat(F('bf16'), -Infinity)), 0xff80);
  t.ok(Number.isNaN(roundToFormat(F('f8E4M3FN'), 1000)), 'FN types overflow to NaN');
  t.equal(Number(encodeFloat(F('f8E4M3FNUZ'), -0)), 0, 'FNUZ has no negative zero');
});

t.test('the double-arithmetic rounding of IEEE-style formats equals encode/decode', async (t) => {
  // roundToFormat rounds f16, bf16 and the IEEE-style f8 types without packing bits (ieeeRounder);
  // encodeFloat/decodeFloat are the bit-level definition. Every value of each format, the midpoints
  // between neighbours (ties), a step either side of them, and a seeded sweep over magnitudes.
  let seed = 7;
  const random = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (const name of ['f16', 'bf16', 'f8E5M2', 'f8E4M3', 'f8E3M4']) {
    const f = F(name);
    const xs = [0, -0, NaN, Infinity, -Infinity, 1e300, -1e-300, 5e-324, maxFinite(f) * 1.5];
    for (let b = 0; b < 2 ** Math.min(f.bits, 16) - 1; b++) {
      const [v, w] = [decodeFloat(f, b), decodeFloat(f, b + 1)];
      xs.push(v);
      if (Number.isFinite(v) && Number.isFinite(w)) {
        const mid = (v + w) / 2;
        xs.push(mid, mid * (1 + 2 ** -40), mid * (1 - 2 ** -40));
      }
    }
    for (let i = 0; i < 20000; i++) xs.push((random() * 2 - 1) * 2 ** Math.floor(random() * 300 - 150));
    const bad = xs.filter((x) => {
      const [fast, exact] = [roundToFormat(f, x), decodeFloat(f, encodeFloat(f, x))];
      return !Object.is(fast, exact) && !(Number.isNaN(fast) && Number.isNaN(exact));
    });
    t.same(bad.slice(0, 5), [], `${name}: ${xs.length} values, rounded alike`);
  }
});
