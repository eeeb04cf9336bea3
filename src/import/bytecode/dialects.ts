/**
 * @fileoverview Attribute and type encodings of the two dialects a StableHLO portable artifact
 * holds: builtin (mlir/IR/BuiltinDialectBytecode.td: a leading code per kind) and VHLO (the
 * versioned StableHLO dialect, stablehlo/dialect/VhloBytecode.cpp: its own codes). Both decode
 * to one dialect-neutral vocabulary, so the VHLO -> StableHLO step (vhlo.ts) does not care which
 * dialect spelled a tensor type or an integer.
 */
import type { DialectCodec, Entity, EntryReader } from './container.js';

/** Scalar element types by VHLO type code (code -> StableHLO spelling). */
const VHLO_SCALARS: Readonly<Record<number, string>> = {
  0: 'i1',
  2: 'bf16',
  3: 'f16',
  4: 'f32',
  5: 'f64',
  6: 'f8E4M3FN',
  7: 'f8E5M2',
  9: 'index',
  10: 'i4',
  11: 'i8',
  12: 'i16',
  13: 'i32',
  14: 'i64',
  15: 'ui4',
  16: 'ui8',
  17: 'ui16',
  18: 'ui32',
  19: 'ui64',
  26: 'witness',
  27: 'f8E4M3FNUZ',
  28: 'f8E5M2FNUZ',
  29: 'f8E4M3B11FNUZ',
  31: 'i2',
  32: 'ui2',
  33: 'none',
  34: 'tf32',
  35: 'f8E4M3',
  36: 'f8E3M4',
  37: 'f4E2M1FN',
  38: 'f6E2M3FN',
  39: 'f6E3M2FN',
  40: 'f8E8M0FNU',
};

/** Bit widths of the float types, for reading float attributes' bit patterns. */
const FLOAT_BITS: Readonly<Record<string, number>> = {
  bf16: 16,
  f16: 16,
  f32: 32,
  f64: 64,
  tf32: 19,
  f8E4M3FN: 8,
  f8E5M2: 8,
  f8E4M3FNUZ: 8,
  f8E5M2FNUZ: 8,
  f8E4M3B11FNUZ: 8,
  f8E4M3: 8,
  f8E3M4: 8,
  f8E8M0FNU: 8,
  f4E2M1FN: 4,
  f6E2M3FN: 6,
  f6E3M2FN: 6,
};

/** VHLO enums: attribute code -> (name in StableHLO, value names by number). */
const VHLO_ENUMS: Readonly<
  Record<number, { readonly name: string; readonly values: readonly (string | undefined)[] }>
> = {
  3: { name: 'comparison_direction', values: ['EQ', 'NE', 'GE', 'GT', 'LE', 'LT'] },
  4: { name: 'comparison_type', values: ['NOTYPE', 'FLOAT', 'TOTALORDER', 'SIGNED', 'UNSIGNED'] },
  5: {
    name: 'api_version',
    values: [
      'API_VERSION_UNSPECIFIED',
      'API_VERSION_ORIGINAL',
      'API_VERSION_STATUS_RETURNING',
      'API_VERSION_STATUS_RETURNING_UNIFIED',
      'API_VERSION_TYPED_FFI',
    ],
  },
  7: { name: 'fft_type', values: ['FFT', 'IFFT', 'RFFT', 'IRFFT'] },
  11: { name: 'precision', values: ['DEFAULT', 'HIGH', 'HIGHEST'] },
  12: { name: 'rng_algorithm', values: ['DEFAULT', 'THREE_FRY', 'PHILOX'] },
  13: { name: 'rng_distribution', values: [undefined, 'UNIFORM', 'NORMAL'] },
  16: { name: 'transpose', values: ['TRANSPOSE_INVALID', 'NO_TRANSPOSE', 'TRANSPOSE', 'ADJOINT'] },
  19: { name: 'result_accuracy_mode', values: ['DEFAULT', 'HIGHEST', 'TOLERANCE'] },
};

const INT64_MIN = -(2n ** 63n);

function shape(r: EntryReader): number[] {
  return r.list(() => {
    const at = r.stream.offset;
    const d = r.stream.signedBig('a dimension');
    if (d === INT64_MIN) return -1;
    if (d < 0n || d > BigInt(Number.MAX_SAFE_INTEGER)) r.stream.fail(`dimension ${d} is out of range`, at);
    return Number(d);
  }, 'the rank of a shape');
}

function blob(r: EntryReader, what: string): Uint8Array {
  return r.stream.bytesView(r.stream.varint(`the size of ${what}`), what);
}

/** Width of the integer an IntegerAttr of this type stores. */
function intWidth(r: EntryReader, type: Entity): number {
  if (type.k === 'scalar') {
    const name = type['name'] as string;
    if (name === 'index') return 64;
    const m = /^u?i(\d+)$/.exec(name);
    if (m) return Number(m[1]);
  }
  return r.stream.fail(`an integer attribute of non-integer type ${JSON.stringify(type)}`);
}

/**
 * An APInt of known width: one byte up to 8 bits, a signed varint up to 64, else a word count
 * and that many signed varints (least significant first). Returned as the raw bit pattern.
 */
function apInt(r: EntryReader, bits: number): bigint {
  if (bits <= 8) return BigInt(r.stream.byte('an integer value'));
  if (bits <= 64) return BigInt.asUintN(bits, r.stream.signedBig('an integer value'));
  const words = r.stream.count('the words of a wide integer');
  let v = 0n;
  for (let i = 0; i < words; i++) v |= BigInt.asUintN(64, r.stream.signedBig('an integer word')) << BigInt(64 * i);
  return BigInt.asUintN(bits, v);
}

function floatBits(r: EntryReader, type: Entity): number {
  const bits = type.k === 'scalar' ? FLOAT_BITS[type['name'] as string] : undefined;
  return bits ?? r.stream.fail(`a float attribute of non-float type ${JSON.stringify(type)}`);
}

function scalar(name: string): Entity {
  return { d: 'type', k: 'scalar', name };
}

/**
 * The encodings builtin and VHLO share (each dialect numbers them its own way): the same fields
 * in the same order, decoded to the same entity.
 */
const SHARED = {
  array: (r: EntryReader): Entity => ({
    d: 'attr',
    k: 'array',
    elems: r.list(() => r.attr(), 'the elements of an array'),
  }),
  typeAttr: (r: EntryReader): Entity => ({ d: 'attr', k: 'typeAttr', type: r.type() }),
  int: (r: EntryReader): Entity => {
    const type = r.type();
    return { d: 'attr', k: 'int', type, value: apInt(r, intWidth(r, type)) };
  },
  float: (r: EntryReader): Entity => {
    const type = r.type();
    return { d: 'attr', k: 'float', type, bits: apInt(r, floatBits(r, type)) };
  },
  tensorAttr: (r: EntryReader): Entity => ({
    d: 'attr',
    k: 'tensor',
    type: r.type(),
    data: blob(r, 'a tensor literal'),
  }),
  complex: (r: EntryReader): Entity => ({ d: 'type', k: 'complex', elem: r.type() }),
  function: (r: EntryReader): Entity => ({
    d: 'type',
    k: 'function',
    inputs: r.list(() => r.type(), 'function inputs'),
    outputs: r.list(() => r.type(), 'function results'),
  }),
  /** A ranked tensor type; with an encoding, that attribute comes first. */
  tensor: (r: EntryReader, withEncoding: boolean): Entity => {
    const encoding = withEncoding ? r.attr() : undefined;
    return { d: 'type', k: 'tensor', ...(encoding ? { encoding } : {}), shape: shape(r), elem: r.type() };
  },
  tuple: (r: EntryReader): Entity => ({ d: 'type', k: 'tuple', elems: r.list(() => r.type(), 'tuple elements') }),
  unranked: (r: EntryReader): Entity => ({ d: 'type', k: 'unranked', elem: r.type() }),
};

const BUILTIN_FLOATS: Readonly<Record<number, string>> = {
  3: 'bf16',
  4: 'f16',
  5: 'f32',
  6: 'f64',
  7: 'f80',
  8: 'f128',
};

export const BUILTIN: DialectCodec = {
  readAttr(r) {
    const at = r.stream.offset;
    const code = r.stream.varint('a builtin attribute code');
    const str = (): string => {
      const a = r.attr();
      return a.k === 'string' ? (a['value'] as string) : r.stream.fail('expected a string attribute');
    };
    switch (code) {
      case 0:
        return SHARED.array(r);
      case 1:
        return {
          d: 'attr',
          k: 'dict',
          entries: r.list(() => [str(), r.attr()] as const, 'the entries of a dictionary'),
        };
      case 2:
        return { d: 'attr', k: 'string', value: r.string() };
      case 3:
        return { d: 'attr', k: 'string', value: r.string(), type: r.type() };
      case 4:
        return { d: 'attr', k: 'symbol', name: str() };
      case 5:
        return { d: 'attr', k: 'symbol', name: str(), nested: r.list(() => r.attr(), 'nested references') };
      case 6:
        return SHARED.typeAttr(r);
      case 7:
        return { d: 'attr', k: 'unit' };
      case 8:
        return SHARED.int(r);
      case 9:
        return SHARED.float(r);
      case 10:
        return { d: 'attr', k: 'loc', callee: r.attr(), caller: r.attr() };
      case 11:
        return { d: 'attr', k: 'loc', file: str(), line: r.stream.varint('a line'), col: r.stream.varint('a column') };
      case 12:
        return { d: 'attr', k: 'loc', fused: r.list(() => r.attr(), 'fused locations') };
      case 13:
        return { d: 'attr', k: 'loc', fused: r.list(() => r.attr(), 'fused locations'), metadata: r.attr() };
      case 14:
        return { d: 'attr', k: 'loc', name: str(), child: r.attr() };
      case 15:
        return { d: 'attr', k: 'loc' };
      case 16: {
        const type = r.type();
        const res = r.resource();
        return { d: 'attr', k: 'resource', type, key: res.key, data: res.data };
      }
      case 17: {
        const elem = r.type();
        const count = r.stream.varint('the size of a dense array');
        return { d: 'attr', k: 'denseArray', elem, count, data: blob(r, 'a dense array') };
      }
      case 18:
        return SHARED.tensorAttr(r);
      default:
        return r.stream.fail(`builtin attribute code ${code} is not one a StableHLO artifact uses`, at);
    }
  },

  readType(r) {
    const at = r.stream.offset;
    const code = r.stream.varint('a builtin type code');
    if (BUILTIN_FLOATS[code]) return scalar(BUILTIN_FLOATS[code]);
    switch (code) {
      case 0: {
        const v = r.stream.varint('an integer type');
        const width = Math.floor(v / 4);
        const signedness = v % 4;
        if (width < 1 || width > 128 || signedness === 3) r.stream.fail(`bad integer type (${v})`, at);
        return scalar(`${['i', 'si', 'ui'][signedness]}${width}`);
      }
      case 1:
        return scalar('index');
      case 2:
        return SHARED.function(r);
      case 9:
        return SHARED.complex(r);
      case 12:
        return scalar('none');
      case 13:
        return SHARED.tensor(r, false);
      case 14:
        return SHARED.tensor(r, true);
      case 15:
        return SHARED.tuple(r);
      case 18:
        return SHARED.unranked(r);
      default:
        return r.stream.fail(`builtin type code ${code} is not one a StableHLO artifact uses`, at);
    }
  },
};

export const VHLO: DialectCodec = {
  readAttr(r) {
    const at = r.stream.offset;
    const code = r.stream.varint('a VHLO attribute code');
    const en = VHLO_ENUMS[code];
    if (en) {
      const vat = r.stream.offset;
      const v = r.stream.varint(`a ${en.name} value`);
      const value = en.values[v];
      if (value === undefined) r.stream.fail(`${v} is not a ${en.name}`, vat);
      return { d: 'attr', k: 'enum', enum: en.name, value };
    }
    const signedList = (what: string): number[] => r.list(() => r.stream.signed(what), what);
    switch (code) {
      case 1:
        return SHARED.array(r);
      case 2: {
        const vat = r.stream.offset;
        const v = r.stream.varint('a boolean');
        if (v > 1) r.stream.fail(`boolean value ${v}`, vat);
        return { d: 'attr', k: 'bool', value: v === 1 };
      }
      case 6:
        return {
          d: 'attr',
          k: 'dict',
          entries: r.list(() => {
            const key = r.attr();
            if (key.k !== 'string') r.stream.fail('a dictionary key must be a string');
            return [key['value'] as string, r.attr()] as const;
          }, 'the entries of a dictionary'),
        };
      case 8:
        return SHARED.float(r);
      case 9:
        return SHARED.int(r);
      case 10:
        return {
          d: 'attr',
          k: 'outputOperandAlias',
          outputTupleIndices: signedList('output tuple indices'),
          operandIndex: r.stream.signed('an operand index'),
          operandTupleIndices: signedList('operand tuple indices'),
        };
      case 14:
        return { d: 'attr', k: 'string', value: r.string() };
      case 15:
        return SHARED.tensorAttr(r);
      case 17:
        return SHARED.typeAttr(r);
      case 18:
        return { d: 'attr', k: 'typeExtensions', bounds: shape(r) };
      case 20: {
        const atol = apInt(r, 64);
        const rtol = apInt(r, 64);
        const ulps = r.stream.signed('ulps');
        return { d: 'attr', k: 'resultAccuracy', atol, rtol, ulps, mode: r.attr() };
      }
      case 21:
        return { d: 'attr', k: 'subAxisInfo', preSize: r.stream.signed('a pre-size'), size: r.stream.signed('a size') };
      case 22:
        return { d: 'attr', k: 'axisRef', name: r.attr(), subAxisInfo: r.list(() => r.attr(), 'sub-axis info') };
      case 23:
        return { d: 'attr', k: 'meshAxes', mesh: r.attr(), axes: r.attr() };
      default:
        return r.stream.fail(`unknown VHLO attribute code ${code}`, at);
    }
  },

  readType(r) {
    const at = r.stream.offset;
    const code = r.stream.varint('a VHLO type code');
    const name = VHLO_SCALARS[code];
    if (name) return scalar(name);
    switch (code) {
      case 1:
        return SHARED.complex(r);
      case 8:
        return SHARED.function(r);
      case 20:
        return SHARED.tensor(r, false);
      case 21:
        return SHARED.tensor(r, true);
      case 22:
        return { d: 'type', k: 'token' };
      case 23:
        return SHARED.tuple(r);
      case 24: {
        const flags = r.stream.varint('quantization flags');
        const storage = r.type();
        const expressed = r.type();
        const scale = apInt(r, 64);
        const zeroPoint = r.stream.signed('a zero point');
        const min = r.stream.signedBig('a storage minimum');
        const max = r.stream.signedBig('a storage maximum');
        return { d: 'type', k: 'quant', flags, storage, expressed, scales: [scale], zeroPoints: [zeroPoint], min, max };
      }
      case 25:
        return SHARED.unranked(r);
      case 30: {
        const flags = r.stream.varint('quantization flags');
        const storage = r.type();
        const expressed = r.type();
        const axis = r.stream.varint('a quantized dimension');
        const min = r.stream.signedBig('a storage minimum');
        const max = r.stream.signedBig('a storage maximum');
        const scales = r.list(() => apInt(r, 64), 'scales');
        const zeroPoints = r.list(() => r.stream.signed('a zero point'), 'zero points');
        return { d: 'type', k: 'quant', flags, storage, expressed, axis, scales, zeroPoints, min, max };
      }
      case 41:
        return { d: 'type', k: 'buffer', shape: shape(r), elem: r.type() };
      case 42:
        return { d: 'type', k: 'future', types: r.list(() => r.type(), 'future types') };
      default:
        return r.stream.fail(`unknown VHLO type code ${code}`, at);
    }
  },

  readProperties(r) {
    // A registered VHLO op's properties: each of its attributes, in the alphabetical order of
    // their names (all VHLO attributes are required). vhlo.ts names them.
    const values: Entity[] = [];
    while (!r.stream.empty) values.push(r.attr());
    return { d: 'attr', k: 'props', values };
  },
};
