/**
 * @fileoverview Read-only binary blobs linked with `.incbin` (weights, embedded firmware test
 * inputs): parts are packed at 64-byte aligned offsets so every tensor in them is SIMD-aligned.
 */
import { render } from './templates.js';

const BLOB_ALIGNMENT = 64;

export class BlobBuilder {
  private readonly parts: Uint8Array[] = [];
  private size = 0;

  /** Appends `bytes`; returns their offset in the blob. */
  add(bytes: Uint8Array): number {
    const pad = (BLOB_ALIGNMENT - (this.size % BLOB_ALIGNMENT)) % BLOB_ALIGNMENT;
    if (pad) this.parts.push(new Uint8Array(pad));
    const offset = this.size + pad;
    this.parts.push(bytes);
    this.size = offset + bytes.length;
    return offset;
  }

  get bytes(): number {
    return this.size;
  }

  /** The blob's contents and the assembler file that links them in under `symbol`. */
  files(version: string, symbol: string, blobFile: string, description: string): { bin: Uint8Array; asm: string } {
    const bin = new Uint8Array(this.size);
    let off = 0;
    for (const p of this.parts) {
      bin.set(p, off);
      off += p.length;
    }
    return { bin, asm: render('c/blob.S.hbs', { version, description, blobBytes: this.size, symbol, blobFile }) };
  }
}
