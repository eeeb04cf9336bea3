/**
 * @fileoverview The C of a program's host-feed steps: StableHLO's infeed and outfeed become one
 * call each of the feeds the app binds to the arena (runtime-lite rl.h rl_feeds_t), with the
 * op's data buffers (its tensor results for an infeed, its tensor operands for an outfeed; the
 * tokens carry no data). Without bound feeds the run returns RL_UNAVAILABLE before it starts.
 */
import { shortLoc } from '../diag/source.js';
import type { FlatOp, Sym } from '../flat/program.js';

/** Whether the program has host-feed steps (its arena then keeps the feeds' pointer). */
export const usesFeeds = (ops: readonly FlatOp[]): boolean =>
  ops.some((f) => f.op.name === 'stablehlo.infeed' || f.op.name === 'stablehlo.outfeed');

/** The statements of one infeed or outfeed step. */
export function feedCall(f: FlatOp, bufRef: (s: Sym) => string, bytes: (s: Sym) => number): string {
  const infeed = f.op.name === 'stablehlo.infeed';
  const data = (infeed ? f.outs : f.ins).filter((s) => s.type.kind !== 'token');
  const hook = infeed ? 'infeed' : 'outfeed';
  const pointer = infeed ? 'void* const' : 'const void* const';
  const list = (xs: readonly string[]): string => xs.join(', ') || '0';
  return [
    `{ /* ${f.op.name} at ${shortLoc(f.op.loc)}: ${data.length} value(s) ${infeed ? 'from' : 'to'} the app */`,
    `    ${pointer} feed_buffers[${Math.max(1, data.length)}] = {${list(data.map(bufRef))}};`,
    `    const size_t feed_bytes[${Math.max(1, data.length)}] = {${list(data.map((s) => `${bytes(s)}u`))}};`,
    `    if (feeds->${hook} == NULL) return RL_UNAVAILABLE;`,
    `    if ((feed_status = feeds->${hook}(feeds->user, ${data.length}u, feed_buffers, feed_bytes)) != RL_OK) return feed_status;`,
    `  }`,
  ].join('\n');
}
