/**
 * @fileoverview Simulated process grid for `interpreter.run_parallel`: num_replicas x
 * num_partitions processes run one after another on the same interpreter. A process that reaches
 * a collective whose partners have not arrived yet throws `Blocked`; the scheduler re-runs it
 * from the start later (programs are deterministic, so a replay reproduces the same
 * contributions, which are stored idempotently by per-process sequence number).
 */
import type { ProcessInfo } from '../ops/def.js';
import type { Module } from '../ir/core.js';
import { type RtValue } from '../ir/tensor.js';
import { RuntimeError } from '../diag/diagnostics.js';

/** Thrown by a process that waits for partners; the scheduler replays it later. */
export class Blocked extends Error {}

/** What the scheduler needs of the interpreter (eval.ts's Interpreter). */
export interface ProcessRunner {
  readonly module: Module;
  callFunction(name: string, args: readonly RtValue[]): RtValue[];
  forProcess(info: ProcessInfo): ProcessRunner;
}

export function runParallel(
  interp: ProcessRunner,
  programs: readonly (readonly string[])[],
  args: readonly RtValue[],
  infeed: readonly string[],
): RtValue[] {
  const numReplicas = programs.length;
  const numPartitions = programs[0]?.length ?? 0;
  const contributions = new Map<string, Map<number, RtValue>>();
  const mailboxes = new Map<string, RtValue[]>();
  let stored = 0;
  const procs = programs.flatMap((row, r) => row.map((fn, p) => ({ fn, r, p, pid: r * numPartitions + p })));
  // Split the flat argument list by each program's parameter count.
  let next = 0;
  const procArgs = procs.map((pr) => {
    const f = interp.module.funcs.get(pr.fn);
    if (!f) throw new RuntimeError(`run_parallel: unknown program @${pr.fn}`);
    const a = args.slice(next, next + f.params.length);
    next += f.params.length;
    return a;
  });
  const results = new Map<number, RtValue[]>();
  for (let round = 0; results.size < procs.length; round++) {
    let progress = false;
    for (const pr of procs) {
      if (results.has(pr.pid)) continue;
      let seq = 0;
      const sendSeq = new Map<number, number>();
      const recvSeq = new Map<number, number>();
      let infeedSeq = 0;
      const info: ProcessInfo = {
        replicaId: pr.r,
        partitionId: pr.p,
        numReplicas,
        numPartitions,
        exchange(key, group, value) {
          const k = `${seq++}:${key}`;
          let m = contributions.get(k);
          if (!m) contributions.set(k, (m = new Map()));
          if (!m.has(pr.pid)) {
            m.set(pr.pid, value);
            stored++;
          }
          if (group.every((g) => m!.has(g))) return group.map((g) => m!.get(g)!);
          throw new Blocked();
        },
        send(channel, values) {
          const n = sendSeq.get(channel) ?? 0;
          sendSeq.set(channel, n + 1);
          const k = `${channel}:${n}`;
          if (!mailboxes.has(k)) {
            mailboxes.set(k, values);
            stored++;
          }
        },
        recv(channel) {
          const n = recvSeq.get(channel) ?? 0;
          recvSeq.set(channel, n + 1);
          const v = mailboxes.get(`${channel}:${n}`);
          if (!v) throw new Blocked();
          return v;
        },
        infeed() {
          const fn = infeed[infeedSeq++];
          if (!fn) throw new RuntimeError('infeed: no more infeed functions');
          return interp.callFunction(fn, []);
        },
        outfeed() {},
      };
      const before = stored;
      try {
        results.set(pr.pid, interp.forProcess(info).callFunction(pr.fn, procArgs[procs.indexOf(pr)]!));
        progress = true;
      } catch (e) {
        if (!(e instanceof Blocked)) throw e;
        if (stored > before) progress = true;
      }
    }
    if (!progress) throw new RuntimeError('run_parallel: deadlock (a collective or recv never gets all its partners)');
    if (round > 10000) throw new RuntimeError('run_parallel: too many scheduling rounds');
  }
  return procs.flatMap((pr) => results.get(pr.pid)!);
}
