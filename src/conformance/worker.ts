/**
 * @fileoverview worker_threads entry for `conformance --jobs N`: runs the files it is given and
 * posts a note as each file is done, then their case results.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runFile, type CaseResult } from './runner.js';

const files = (workerData as { files: string[] }).files;
const results: CaseResult[] = [];
for (const f of files) {
  results.push(...runFile(f));
  parentPort?.postMessage({ fileDone: true }); // for the parent's progress line
}
parentPort?.postMessage(results);
