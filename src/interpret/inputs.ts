/**
 * @fileoverview Function inputs for `interpret`/`run`: iree-run-module style literals
 * (`2x3xf32=1,2,3,4,5,6`, `f32=1.5`, `@file.npy`), .npy files, and seeded random tensors for
 * models whose weights are arguments.
 */
import { readFileSync } from 'node:fs';
import type { Func } from '../ir/core.js';
import { storageElem, typeToString, type TensorType } from '../ir/types.js';
import { decodeNpy } from '../util/npy.js';
import { makeTensor, RuntimeError, setElem, size, type RtValue, type Tensor } from './tensor.js';

function parseLiteral(spec: string, type: TensorType, what: string): Tensor {
  const eq = spec.indexOf('=');
  const head = spec.slice(0, eq);
  const body = spec.slice(eq + 1);
  const declared = typeToString(type).replace(/^tensor<|>$/g, '');
  if (head !== declared) throw new RuntimeError(`${what}: input '${head}' does not match the parameter type ${typeToString(type)} (write ${declared}=...)`);
  const tokens = body.split(/[\s,[\]]+/).filter((s) => s.length > 0);
  const t = makeTensor(type);
  const n = size(t);
  if (tokens.length !== n && tokens.length !== 1) throw new RuntimeError(`${what}: ${tokens.length} value(s) given, ${typeToString(type)} needs ${n}`);
  const e = storageElem(type.elem);
  for (let i = 0; i < n; i++) {
    const tok = tokens[tokens.length === 1 ? 0 : i]!;
    const num = Number(tok);
    if (e.kind === 'bool') setElem(t, i, tok === 'true' || num === 1 ? 1 : 0);
    else if (Number.isNaN(num) && !/^[-+]?(nan|inf)/i.test(tok)) throw new RuntimeError(`${what}: '${tok}' is not a number`);
    else if (e.kind === 'int') setElem(t, i, BigInt(tok));
    else if (e.kind === 'complex') setElem(t, i, [num, 0]);
    else setElem(t, i, /^-inf/i.test(tok) ? -Infinity : /^\+?inf/i.test(tok) ? Infinity : num);
  }
  return t;
}

/** Parses one `--input` value (or a bare .npy path) for parameter `index` of `f`. */
export function parseInput(spec: string, f: Func, index: number): RtValue {
  const p = f.params[index];
  if (!p) throw new RuntimeError(`@${f.name} takes ${f.params.length} argument(s); too many inputs given`);
  if (p.type.kind !== 'tensor') throw new RuntimeError(`parameter ${index} of @${f.name} is not a tensor`);
  const what = `input ${index}`;
  const path = spec.startsWith('@') ? spec.slice(1) : spec.endsWith('.npy') ? spec : undefined;
  if (path !== undefined) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch {
      throw new RuntimeError(`${what}: cannot read ${path}`);
    }
    return decodeNpy(bytes, p.type, `${what} (${path})`);
  }
  if (!spec.includes('=')) throw new RuntimeError(`${what}: expected SHAPExTYPE=values (e.g. 2x3xf32=1,2,3,4,5,6), @file.npy or file.npy`);
  return parseLiteral(spec, p.type, what);
}

/** Deterministic pseudo-random tensor (xorshift32): floats in [-1, 1), ints in [0, 8). */
export function randomTensor(type: TensorType, seed: number): Tensor {
  const t = makeTensor(type);
  let s = seed >>> 0 || 0x9e3779b9;
  const next = (): number => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
  const e = storageElem(type.elem);
  for (let i = 0; i < size(t); i++) {
    const u = next();
    if (e.kind === 'int') setElem(t, i, BigInt(Math.floor(u * 8)));
    else if (e.kind === 'bool') setElem(t, i, u < 0.5 ? 1 : 0);
    else if (e.kind === 'complex') setElem(t, i, [2 * u - 1, 2 * next() - 1]);
    else setElem(t, i, 2 * u - 1);
  }
  return t;
}

export function randomInputs(f: Func, seed: number): RtValue[] {
  return f.params.map((p, i) => {
    if (p.type.kind === 'token') return { kind: 'token' };
    if (p.type.kind !== 'tensor') throw new RuntimeError(`parameter ${i} of @${f.name} has type ${typeToString(p.type)}; random inputs need tensors`);
    return randomTensor(p.type, seed * 1000003 + i);
  });
}
