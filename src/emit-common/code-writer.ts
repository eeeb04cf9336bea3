/**
 * @fileoverview Indentation-aware line writer used by the renderers (no string-concatenated
 * indentation macros).
 */
export class CodeWriter {
  private readonly lines: string[] = [];
  private depth = 0;

  line(text = ''): void {
    this.lines.push(text ? '  '.repeat(this.depth) + text : '');
  }

  /** Writes `open`, runs `body` one level deeper, then writes `close`; `continued`: `open` was
   * already written as the previous block's close (`} else {`). */
  block(open: string, body: () => void, close = '}', continued = false): void {
    if (!continued) this.line(open);
    this.depth++;
    body();
    this.depth--;
    this.line(close);
  }

  toString(): string {
    return this.lines.join('\n');
  }
}
