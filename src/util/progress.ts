/**
 * @fileoverview One line of progress on a terminal for long work (a large model's compile,
 * `conformance`, `bench`): the phase, a count where there is one, and the time so far, rewritten in
 * place. It shows only when the stream is a TTY and the work has taken at least `delayMs` (a
 * compile of a small model prints nothing), is redrawn at most every `intervalMs`, and clears its
 * line when done, so nothing of it is left in the output; in a pipe or a log it writes nothing.
 */
export interface ProgressStream {
  readonly isTTY?: boolean;
  write(text: string): boolean;
}

export class Progress {
  private readonly started = Date.now();
  private lastDraw = 0;
  private shown = false;

  constructor(
    private readonly stream: ProgressStream = process.stderr,
    private readonly delayMs = 1000,
    private readonly intervalMs = 100,
  ) {}

  /** Reports the current phase (with `done` of `total` items where counted). */
  update(phase: string, done?: number, total?: number): void {
    if (!this.stream.isTTY) return;
    const now = Date.now();
    if (now - this.started < this.delayMs || now - this.lastDraw < this.intervalMs) return;
    this.lastDraw = now;
    const count = done === undefined ? '' : total === undefined ? ` ${done}` : ` ${done}/${total}`;
    this.stream.write(`\r\x1b[K${phase}${count} (${((now - this.started) / 1000).toFixed(1)} s)`);
    this.shown = true;
  }

  /** Clears the line (before the work's own output is printed). */
  done(): void {
    if (this.shown) this.stream.write('\r\x1b[K');
    this.shown = false;
  }
}
