/**
 * @fileoverview Reading StableHLO portable artifacts: MLIR bytecode of the VHLO dialect (what
 * `jax.export`, TF's XlaCallModule and `stablehlo-translate --serialize` write), detected by its
 * magic number, turned into StableHLO text for the text importer. Every malformed, truncated or
 * too-new artifact ends in a CompileError naming the byte offset and what was expected there.
 */
import { CompileError, error } from '../../diag/diagnostics.js';
import { readContainer, isBytecode, type DialectCodec } from './container.js';
import { BUILTIN, VHLO } from './dialects.js';
import { BytecodeError } from './stream.js';
import { NEWEST_VHLO } from './opset.js';
import { StablehloPrinter } from './vhlo.js';

export { isBytecode };

const CODECS: ReadonlyMap<string, DialectCodec> = new Map([
  ['builtin', BUILTIN],
  ['vhlo', VHLO],
]);

/** The StableHLO version in the producer string (`StableHLO_v1.9.3`), when there is one. */
function producerVersion(producer: string): [number, number, number] | undefined {
  const m = /^StableHLO_v(\d+)\.(\d+)\.(\d+)/.exec(producer);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

function newer(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < 3; i++) if (a[i]! !== b[i]!) return a[i]! > b[i]!;
  return false;
}

export interface Artifact {
  readonly producer: string;
  readonly formatVersion: number;
  /** The program as StableHLO text (generic op form); tensors of 64 bytes or more appear as
   * `dense_resource<KEY>`, their data in `blobs` (views into the artifact: no copy). */
  readonly text: string;
  readonly blobs: ReadonlyMap<string, Uint8Array>;
}

/** Decodes a portable artifact; throws CompileError E0110 (file, byte offset, what was expected). */
export function readArtifact(bytes: Uint8Array, file: string): Artifact {
  try {
    const m = readContainer(bytes, CODECS);
    const v = producerVersion(m.producer);
    if (v && newer([v[0], v[1], 0], NEWEST_VHLO))
      throw new BytecodeError(
        4,
        `artifact produced by ${m.producer}: StableHLO ${v.join('.')} is newer than the newest opset this reader knows (${NEWEST_VHLO.join('.')})`,
      );
    const printer = new StablehloPrinter().collectTypes(m.ops);
    const text = printer.print(m.ops);
    return { producer: m.producer, formatVersion: m.formatVersion, text, blobs: printer.blobs };
  } catch (e) {
    if (e instanceof BytecodeError) throw error('E0110', { file, offset: e.offset, detail: e.detail });
    if (e instanceof CompileError) throw e;
    throw e;
  }
}
