/**
 * @fileoverview Runs conformance files on N worker threads (round-robin split), or inline for N=1.
 */
import { Worker } from 'node:worker_threads';
import { runFile, type CaseResult } from './runner.js';

export async function runFiles(
  files: readonly string[],
  jobs: number,
  onFile?: (done: number) => void,
): Promise<CaseResult[]> {
  if (jobs <= 1 || files.length < 2)
    return files.flatMap((f, i) => {
      onFile?.(i);
      return runFile(f);
    });
  let done = 0;
  const chunks: string[][] = Array.from({ length: jobs }, () => []);
  files.forEach((f, i) => chunks[i % jobs]!.push(f));
  const url = new URL('./worker.js', import.meta.url);
  const parts = await Promise.all(
    chunks.map(
      (chunk) =>
        new Promise<CaseResult[]>((resolve, reject) => {
          const w = new Worker(url, { workerData: { files: chunk } });
          w.on('message', (m: { fileDone: true } | CaseResult[]) => {
            if (Array.isArray(m)) resolve(m);
            else onFile?.(++done);
          });
          w.once('error', reject);
        }),
    ),
  );
  // Restore the input order so output is deterministic whatever the job count.
  const byFile = new Map<string, CaseResult[]>();
  for (const r of parts.flat()) byFile.set(r.file, [...(byFile.get(r.file) ?? []), r]);
  return files.flatMap((f) => byFile.get(f) ?? []);
}
