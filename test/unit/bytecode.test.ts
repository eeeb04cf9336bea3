/**
 * The portable-artifact reader (src/import/bytecode) against the StableHLO project's own oracle
 * (../shared/bytecode/README.md): for every `stablehlo_legalize_to_vhlo.X_Y_Z.mlir.bc`, versions
 * 0.9.0 to 1.20.0, the program read from the bytecode equals the program parsed from the paired
 * `.mlir`, function by function, op for op, attribute for attribute. Plus: a future artifact is
 * refused, seeded mutants (truncations, byte flips, overlong varints) end in located errors or in
 * a program, never in an exception, and the CLI reads artifacts wherever it reads text.
 */
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { CompileError } from '../../src/diag/diagnostics.js';
import { SourceFile } from '../../src/diag/source.js';
import { parseSource, verifyImported } from '../../src/import/index.js';
import { readArtifact } from '../../src/import/bytecode/index.js';
import { printModule } from '../../src/ir/print.js';
import { tensorFromDense } from '../../src/ir/tensor.js';
import { toStorageBytes } from '../../src/emit-common/ctypes.js';
import type { Attr, Attrs } from '../../src/ir/attrs.js';
import type { Module, Op, Region } from '../../src/ir/core.js';
import { CLI, HAVE_SHARED, SHARED } from '../helpers/paths.js';

const DIR = join(SHARED, 'bytecode');
const skip = HAVE_SHARED ? false : 'needs ../shared/bytecode';

/**
 * Attributes holding the value StableHLO gives them when absent: the deserializer leaves them out
 * (VHLO spells every attribute), a hand-written `.mlir` may spell them. Equal programs either way.
 */
const DEFAULTS: Readonly<Record<string, Readonly<Record<string, (a: Attr) => boolean>>>> = {
  'stablehlo.custom_call': {
    api_version: (a) => a.kind === 'int' && a.value === 1n,
    result_layouts: (a) => a.kind === 'array' && a.elems.length === 0,
    operand_layouts: (a) => a.kind === 'array' && a.elems.length === 0,
  },
};
const isDefaultAccuracy = (a: Attr): boolean =>
  a.kind === 'struct' &&
  Object.entries(a.fields).every(([k, v]) =>
    k === 'mode'
      ? v.kind === 'enum' && v.value === 'DEFAULT'
      : (v.kind === 'float' || v.kind === 'int') && !Number(v.value),
  );

/** One canonical form for comparing: attributes sorted, dense literals as storage bytes, defaults dropped. */
function canonicalAttr(a: Attr): Attr {
  if (a.kind === 'dense' && a.type && a.type.shape.every((d) => d >= 0))
    return { ...a, literal: { hexBytes: toStorageBytes(tensorFromDense(a.literal, a.type)) } };
  if (a.kind === 'dict' || a.kind === 'struct') return { ...a, fields: canonicalAttrs(a.fields) };
  if (a.kind === 'array') return { ...a, elems: a.elems.map(canonicalAttr) };
  return a;
}
function canonicalAttrs(attrs: Attrs, op?: string): Attrs {
  const defaults = (op && DEFAULTS[op]) || {};
  return Object.fromEntries(
    Object.keys(attrs)
      .sort()
      .filter((k) => !defaults[k]?.(attrs[k]!) && !(k === 'result_accuracy' && isDefaultAccuracy(attrs[k]!)))
      .map((k) => [k, canonicalAttr(attrs[k]!)]),
  );
}
const canonicalRegion = (r: Region): Region => ({
  blocks: r.blocks.map((b) => ({ ...b, ops: b.ops.map(canonicalOp) })),
});
const canonicalOp = (op: Op): Op => ({
  ...op,
  attrs: canonicalAttrs(op.attrs, op.name),
  regions: op.regions.map(canonicalRegion),
});
function canonical(m: Module): string {
  const funcs = new Map(
    [...m.funcs].map(([k, f]) => [k, { ...f, ...(f.body ? { body: canonicalRegion(f.body) } : {}) }]),
  );
  return printModule({ ...m, funcs });
}

/** The program of one function as the text importer reads it, or its diagnostic (without location). */
function readFunction(text: string, blobs?: ReadonlyMap<string, Uint8Array>): { ok: boolean; text: string } {
  try {
    return { ok: true, text: canonical(parseSource(new SourceFile('f.mlir', `module {\n${text}\n}\n`, blobs))) };
  } catch (e) {
    if (e instanceof CompileError) return { ok: false, text: e.diagnostic.message };
    throw e;
  }
}

/** Top-level functions of MLIR text by name (a header may span lines; a declaration has no body). */
function functions(text: string, indent: string): Map<string, string> {
  const out = new Map<string, string>();
  const start = new RegExp(`^${indent}func\\.func`);
  let cur: { name: string; lines: string[]; open: boolean } | undefined;
  const save = (): void => {
    if (cur) out.set(cur.name, cur.lines.join('\n'));
    cur = undefined;
  };
  for (const l of text.split('\n')) {
    if (start.test(l)) {
      save();
      cur = { name: /@([\w.$-]+|"[^"]*")/.exec(l)![1]!, lines: [l], open: /\{\s*$/.test(l) };
    } else if (cur && !cur.open) {
      if (/^\s+[^\s/]/.test(l)) {
        cur.lines.push(l);
        cur.open = /\{\s*$/.test(l);
      } else save();
    } else if (cur) {
      cur.lines.push(l);
      if (l === `${indent}}`) save();
    }
  }
  save();
  return out;
}

const artifacts = HAVE_SHARED
  ? readdirSync(DIR)
      .filter((f) => /^stablehlo_legalize_to_vhlo\.\d+_\d+_\d+\.mlir\.bc$/.test(f))
      .sort()
  : [];

t.test('every artifact, 0.9.0 to 1.20.0, reads as the program of its .mlir', { skip }, async (t) => {
  t.ok(artifacts.length >= 28, `${artifacts.length} artifacts`);
  let compared = 0;
  let rejectedAlike = 0;
  const rejected = new Set<string>();
  for (const file of artifacts) {
    const art = readArtifact(new Uint8Array(readFileSync(join(DIR, file))), file);
    const fromText = functions(readFileSync(join(DIR, file.replace(/\.bc$/, '')), 'utf8'), '');
    const fromBytecode = functions(art.text, '  ');
    t.equal(fromBytecode.size, fromText.size, `${file}: as many functions as the .mlir`);
    let mismatches = 0;
    for (const [name, text] of fromText) {
      const want = readFunction(text);
      const got = fromBytecode.has(name)
        ? readFunction(fromBytecode.get(name)!, art.blobs)
        : { ok: false, text: 'missing' };
      if (!want.ok) {
        // The text importer refuses it (a type or attribute the compiler does not model): the
        // artifact must be refused too (a located diagnostic, not a different program).
        rejected.add(`@${name}: ${want.text}`);
        if (got.ok) {
          mismatches++;
          t.fail(
            `${file} @${name}: the .mlir is refused (${want.text}) but the artifact reads as ${got.text.slice(0, 200)}`,
          );
        } else rejectedAlike++;
        continue;
      }
      if (got.text !== want.text) {
        mismatches++;
        t.equal(got.text, want.text, `${file} @${name}`);
      } else compared++;
    }
    t.equal(
      mismatches,
      0,
      `${file} (${art.producer}, bytecode format ${art.formatVersion}): ${fromText.size} functions`,
    );
  }
  t.comment(
    `${compared} functions equal op for op${rejectedAlike ? `; ${rejectedAlike} refused alike: ${[...rejected].join('; ')}` : ''}`,
  );
  t.equal(rejected.size, 0, 'the text importer reads every function of the .mlir files');
});

t.test('an artifact of a future StableHLO is refused with a clear error', { skip }, async (t) => {
  const bytes = new Uint8Array(readFileSync(join(DIR, 'invalid_vhlo_future.mlir.bc')));
  t.throws(() => readArtifact(bytes, 'future.mlir.bc'), {
    message: /future\.mlir\.bc: byte offset \d+: .*StableHLO 2\.0\.0 is newer than the newest opset this reader knows/,
  });
});

t.test('the largest artifact reads well under a second', { skip }, async (t) => {
  const sizes = artifacts.map((f) => [f, readFileSync(join(DIR, f)).length] as const).sort((a, b) => b[1] - a[1]);
  const [file, size] = sizes[0]!;
  const bytes = new Uint8Array(readFileSync(join(DIR, file)));
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    readArtifact(bytes, file);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const art = readArtifact(bytes, file);
  t.ok(art.blobs.size > 0, 'its larger tensors stay in the file');
  for (const blob of art.blobs.values())
    t.equal(blob.buffer, bytes.buffer, 'a tensor is a view into the artifact, not a copy');
  t.comment(`${file} (${size} bytes): median ${times[2]!.toFixed(1)} ms to StableHLO text`);
  t.ok(times[2]! < 1000, 'under a second');
});

/** A seeded generator (LCG), so a failing mutant is reproducible. */
function rng(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

t.test('mutated artifacts end in a located error or a program, never an exception', { skip }, async (t) => {
  const outcomes = { read: 0, located: 0, refusedByImporter: 0 };
  const check = (bytes: Uint8Array, what: string): void => {
    let art: ReturnType<typeof readArtifact>;
    try {
      art = readArtifact(bytes, 'm.mlir.bc');
    } catch (e) {
      if (e instanceof CompileError && /^m\.mlir\.bc: byte offset \d+: /.test(e.message)) outcomes.located++;
      else t.fail(`${what}: ${e instanceof Error ? e.stack : String(e)}`);
      return;
    }
    outcomes.read++;
    try {
      verifyImported(parseSource(new SourceFile('m.mlir.bc', art.text, art.blobs)));
    } catch (e) {
      if (e instanceof CompileError) outcomes.refusedByImporter++;
      else t.fail(`${what}: the importer threw ${e instanceof Error ? e.stack : String(e)}`);
    }
  };
  const small = new Uint8Array(readFileSync(join(DIR, 'vhlo_emit_version_api.1_1_0.mlir.bc')));
  for (let n = 0; n < small.length; n++) check(small.subarray(0, n), `truncated to ${n} bytes`);
  const random = rng(20261126);
  const files = [artifacts[0]!, artifacts[artifacts.length - 1]!, 'vhlo_emit_version_api.1_1_0.mlir.bc'];
  for (const file of files) {
    const original = new Uint8Array(readFileSync(join(DIR, file)));
    for (let i = 0; i < 300; i++) {
      const kind = random(3);
      let m: Uint8Array;
      if (kind === 0) m = original.subarray(0, random(original.length));
      else if (kind === 1) {
        m = original.slice();
        for (let j = 1 + random(4); j > 0; j--) m[random(m.length)] = random(256);
      } else {
        // An overlong varint: a 0x00 marker (eight value bytes follow) of all-ones.
        const at = 4 + random(original.length - 4);
        m = new Uint8Array([
          ...original.subarray(0, at),
          0,
          ...new Array<number>(8).fill(0xff),
          ...original.subarray(at),
        ]);
      }
      check(m, `${file} mutant ${i} (kind ${kind})`);
    }
  }
  t.comment(
    `${outcomes.located} located errors, ${outcomes.read} read (${outcomes.refusedByImporter} of them refused by the importer with a located diagnostic)`,
  );
  t.ok(outcomes.located > 0 && outcomes.read > 0, 'both outcomes seen');
});

t.test('the CLI reads an artifact wherever it reads text (detected by magic, not extension)', { skip }, async (t) => {
  const file = join(DIR, 'vhlo_emit_version_api.1_1_0.mlir.bc');
  const imported = await execa('node', [CLI, file, '--compile-to', 'import']);
  t.match(imported.stdout, /"stablehlo\.add"\(%arg0, %arg0\)/, '--compile-to import prints the StableHLO');
  const interp = await execa('node', [CLI, 'interpret', file, '--input', 'f32=1.25']);
  t.match(interp.stdout, /result\[0\]: tensor<f32> \{2\.5/, 'interpret');
  const run = await execa('node', [CLI, 'run', file, '--input', 'f32=1.25']);
  t.match(run.stdout, /vs interpreter: match/, 'compiled C matches the interpreter');
  const future = await execa('node', [CLI, join(DIR, 'invalid_vhlo_future.mlir.bc')], { reject: false });
  t.equal(future.exitCode, 1);
  t.match(future.stderr, /E0110: .*invalid_vhlo_future\.mlir\.bc: byte offset \d+: .*newer/);
  t.notMatch(future.stderr, /at .*\.js:\d+/, 'no stack trace');
});
