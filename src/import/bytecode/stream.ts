/**
 * @fileoverview The primitives of the MLIR bytecode format (mlir/docs/BytecodeFormat.md): a
 * cursor over a byte range with prefix varints, zigzag signed varints, null-terminated strings and
 * sections. Every failure is a BytecodeError naming the absolute byte offset and what was expected,
 * so a truncated or corrupted artifact ends in a located diagnostic, never an exception from the
 * runtime.
 */

/** A malformed artifact: where (absolute byte offset in the file) and what was expected there. */
export class BytecodeError extends Error {
  constructor(
    readonly offset: number,
    readonly detail: string,
  ) {
    super(`byte offset ${offset}: ${detail}`);
  }
}

/** Section ids of the container. */
export const SECTION = {
  string: 0,
  dialect: 1,
  attrType: 2,
  attrTypeOffset: 3,
  ir: 4,
  resource: 5,
  resourceOffset: 6,
  dialectVersions: 7,
  properties: 8,
} as const;
export const NUM_SECTIONS = 9;

/** Padding bytes before aligned data are always this value. */
const ALIGNMENT_BYTE = 0xcb;

/** A cursor over `bytes[start, end)`; offsets in errors are absolute (`base` is the file offset of bytes[0]). */
export class ByteStream {
  private pos: number;

  constructor(
    readonly bytes: Uint8Array,
    readonly start = 0,
    readonly end = bytes.length,
  ) {
    this.pos = start;
  }

  /** Absolute offset of the next byte. */
  get offset(): number {
    return this.pos;
  }
  get remaining(): number {
    return this.end - this.pos;
  }
  get empty(): boolean {
    return this.pos >= this.end;
  }

  fail(detail: string, at = this.pos): never {
    throw new BytecodeError(at, detail);
  }

  byte(what = 'a byte'): number {
    if (this.pos >= this.end) this.fail(`expected ${what}, found the end of the data`);
    return this.bytes[this.pos++]!;
  }

  /** `n` bytes as a view into the file (no copy). */
  bytesView(n: number, what = 'data'): Uint8Array {
    if (!Number.isSafeInteger(n) || n < 0 || n > this.remaining)
      this.fail(`expected ${n} bytes of ${what}, only ${this.remaining} remain`);
    const v = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /** A sub-stream over the next `n` bytes. */
  sub(n: number, what: string): ByteStream {
    const at = this.pos;
    this.bytesView(n, what);
    return new ByteStream(this.bytes, at, at + n);
  }

  /**
   * A prefix varint as a bigint: the count of trailing zero bits of the first byte is the number
   * of extra bytes (0 in the first byte: 8 extra bytes, a full 64-bit value).
   */
  varBig(what = 'a varint'): bigint {
    const at = this.pos;
    const first = this.byte(what);
    if (first & 1) return BigInt(first >> 1);
    let extra = 0;
    while (extra < 8 && ((first >> extra) & 1) === 0) extra++;
    if (this.remaining < extra) this.fail(`${what} needs ${extra} more byte(s), only ${this.remaining} remain`, at);
    let v = 0n;
    for (let i = extra - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.bytes[this.pos + i]!);
    this.pos += extra;
    if (extra === 8) return v;
    // The first byte's bits above the marker are the low bits of the value.
    return (v << BigInt(7 - extra)) | BigInt(first >> (extra + 1));
  }

  /** A varint that must fit a safe JS number (counts, indexes, sizes). */
  varint(what = 'a varint'): number {
    const at = this.pos;
    const v = this.varBig(what);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} ${v} is out of range`, at);
    return Number(v);
  }

  /** A count of items that each take at least one byte: cannot exceed what is left. */
  count(what: string): number {
    const at = this.pos;
    const n = this.varint(what);
    if (n > this.remaining) this.fail(`${what} ${n} exceeds the ${this.remaining} bytes left`, at);
    return n;
  }

  /** Zigzag-encoded signed varint, as a 64-bit two's complement bigint. */
  signedBig(what = 'a signed varint'): bigint {
    const u = this.varBig(what);
    return BigInt.asIntN(64, (u >> 1n) ^ -(u & 1n));
  }

  signed(what = 'a signed varint'): number {
    const at = this.pos;
    const v = this.signedBig(what);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER))
      this.fail(`${what} ${v} is out of range`, at);
    return Number(v);
  }

  /** A varint whose low bit is a flag: `(value << 1) | flag`. */
  varintFlag(what: string): { value: number; flag: boolean } {
    const v = this.varint(what);
    return { value: Math.floor(v / 2), flag: v % 2 === 1 };
  }

  nullTerminated(what: string): string {
    const at = this.pos;
    let i = this.pos;
    while (i < this.end && this.bytes[i] !== 0) i++;
    if (i >= this.end) this.fail(`${what}: no terminating NUL byte`, at);
    const s = new TextDecoder().decode(this.bytes.subarray(this.pos, i));
    this.pos = i + 1;
    return s;
  }

  /** Skips padding (0xCB) up to an absolute file alignment. */
  alignTo(alignment: number): void {
    if (alignment < 1 || alignment > 2 ** 30 || (alignment & (alignment - 1)) !== 0)
      this.fail(`alignment ${alignment} is not a power of two`);
    while (this.pos % alignment !== 0) {
      const at = this.pos;
      if (this.byte('alignment padding') !== ALIGNMENT_BYTE) this.fail('expected alignment padding byte 0xCB', at);
    }
  }

  /** A section: id byte (high bit: aligned), length, optional alignment and padding, data. */
  section(): { id: number; at: number; data: ByteStream } {
    const at = this.pos;
    const idAndAlign = this.byte('a section id');
    const id = idAndAlign & 0x7f;
    if (id >= NUM_SECTIONS) this.fail(`unknown section id ${id}`, at);
    const length = this.varint('a section length');
    if (idAndAlign & 0x80) this.alignTo(this.varint('a section alignment'));
    return { id, at, data: this.sub(length, `section ${id}`) };
  }
}
