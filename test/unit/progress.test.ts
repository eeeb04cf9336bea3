import t from 'tap';
import { Progress, type ProgressStream } from '../../src/util/progress.js';

/** A stream that records what is written, a terminal or not. */
const recorder = (isTTY: boolean): ProgressStream & { text: string } => {
  const s = {
    isTTY,
    text: '',
    write(x: string) {
      s.text += x;
      return true;
    },
  };
  return s;
};

t.test('on a terminal: phase, count and time in place, then the line cleared', async (t) => {
  const out = recorder(true);
  const p = new Progress(out, 0, 0);
  p.update('conformance: files', 3, 10);
  t.match(out.text, /^\r\x1b\[Kconformance: files 3\/10 \(\d+\.\d s\)$/);
  p.update('fusion done');
  t.match(out.text, /\r\x1b\[Kfusion done \(\d+\.\d s\)$/);
  p.done();
  t.ok(out.text.endsWith('\r\x1b[K'), 'done clears the line');
});

t.test(
  'nothing in a pipe or a log, nothing before the delay, and done after nothing shown writes nothing',
  async (t) => {
    const pipe = recorder(false);
    const p = new Progress(pipe, 0, 0);
    p.update('phase', 1, 2);
    p.done();
    t.equal(pipe.text, '');
    const tty = recorder(true);
    const q = new Progress(tty, 60_000, 0);
    q.update('phase', 1, 2);
    q.done();
    t.equal(tty.text, '', 'a short job shows nothing');
  },
);
