/**
 * @fileoverview A source text with a line index, turning byte offsets into 1-based line/column
 * positions. Pure: no "last queried line" state.
 */

export interface Loc {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  /** The MLIR `loc(...)` attached to the op, e.g. `"model.py":3:10`, when the source has one. */
  readonly origin?: string;
}

/** `name.mlir:line:col`, as generated code and listings cite a source op (the file's own name only). */
export const shortLoc = (loc: Loc): string => `${loc.file.split('/').pop()}:${loc.line}:${loc.col}`;

export class SourceFile {
  private readonly lineStarts: number[];

  constructor(
    readonly name: string,
    readonly text: string,
    /** Element data that `dense_resource<KEY>` in the text stands for (a portable artifact's
     * tensors, kept as views into the file rather than spelled out in hex). */
    readonly blobs?: ReadonlyMap<string, Uint8Array>,
  ) {
    this.lineStarts = [0];
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) this.lineStarts.push(i + 1);
  }

  /** 1-based line and column of a character offset. */
  locAt(offset: number): Loc {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { file: this.name, line: lo + 1, col: offset - this.lineStarts[lo]! + 1 };
  }

  /** The text of a 1-based line, without its newline. */
  lineText(line: number): string {
    const start = this.lineStarts[line - 1];
    if (start === undefined) return '';
    const end = this.lineStarts[line] ?? this.text.length + 1;
    return this.text.slice(start, end - 1).replace(/\r$/, '');
  }
}
