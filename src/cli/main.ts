#!/usr/bin/env node
/**
 * @fileoverview Command-line entry (yargs). The only module that reads argv/env. Commands:
 * `interpret` (reference interpreter), `conformance` (StableHLO test data), and the default
 * compile command (C backend: not implemented yet, reported as such).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { CompileError, renderDiagnostic } from '../diag/diagnostics.js';
import { SourceFile } from '../diag/source.js';
import { collectFiles, summarize } from '../conformance/runner.js';
import { runFiles } from '../conformance/parallel.js';
import { importModule } from '../import/index.js';
import { Interpreter } from '../interpret/eval.js';
import { parseInput, randomInputs } from '../interpret/inputs.js';
import { RuntimeError, type RtValue } from '../interpret/tensor.js';
import { printTensor } from '../ops/control.js';
import { encodeNpy } from '../util/npy.js';

function readSource(path: string): SourceFile {
  try {
    return new SourceFile(path, readFileSync(path, 'utf8'));
  } catch {
    throw new RuntimeError(`cannot read ${path}`);
  }
}

function printValue(v: RtValue): string {
  if (v.kind === 'tensor') return printTensor(v);
  if (v.kind === 'tuple') return `tuple(${v.elems.map(printValue).join(', ')})`;
  return v.kind === 'token' ? '!stablehlo.token' : `@${v.name}`;
}

interface InterpretArgs {
  file: string;
  entry: string;
  input: string[];
  outputDir?: string;
  randomSeed?: number;
}

function interpretCommand(a: InterpretArgs): number {
  const source = readSource(a.file);
  const m = importModule(source);
  const f = m.funcs.get(a.entry);
  if (!f) throw new RuntimeError(`no function @${a.entry} in ${a.file} (functions: ${[...m.funcs.keys()].map((n) => '@' + n).join(', ')})`);
  let args: RtValue[];
  if (a.randomSeed !== undefined) args = randomInputs(f, a.randomSeed);
  else {
    if (a.input.length !== f.params.length) throw new RuntimeError(`@${f.name} takes ${f.params.length} input(s), ${a.input.length} given (use --input or --random-seed)`);
    args = a.input.map((s, i) => parseInput(s, f, i));
  }
  const interp = new Interpreter(m);
  const results = interp.runFunc(f, args);
  for (const line of interp.session.printed) console.log(line);
  results.forEach((r, i) => console.log(`result[${i}]: ${printValue(r)}`));
  if (a.outputDir) {
    mkdirSync(a.outputDir, { recursive: true });
    results.forEach((r, i) => {
      if (r.kind === 'tensor') writeFileSync(join(a.outputDir!, `result${i}.npy`), encodeNpy(r));
    });
    if (a.randomSeed !== undefined) args.forEach((x, i) => x.kind === 'tensor' && writeFileSync(join(a.outputDir!, `input${i}.npy`), encodeNpy(x)));
  }
  const failed = interp.session.checks.filter((c) => !c.ok);
  for (const c of failed) console.error(`${c.op.loc.file}:${c.op.loc.line}:${c.op.loc.col}: error E0302: check failed: ${c.op.name}: ${c.message}`);
  if (interp.session.checks.length) console.error(`${interp.session.checks.length - failed.length} of ${interp.session.checks.length} check(s) passed`);
  return failed.length ? 1 : 0;
}

interface ConformanceArgs {
  paths: string[];
  backend: string;
  json: boolean;
  jobs: number;
  verbose: boolean;
}

async function conformanceCommand(a: ConformanceArgs): Promise<number> {
  if (a.backend !== 'interp') throw new RuntimeError(`backend '${a.backend}' is not available yet (only 'interp')`);
  const t0 = Date.now();
  const files = collectFiles(a.paths);
  if (files.length === 0) throw new RuntimeError(`no .mlir files under ${a.paths.join(', ')}`);
  const results = await runFiles(files, a.jobs);
  for (const r of results) {
    const where = `${r.file}${r.index > 1 ? `#${r.index}` : ''}`;
    if (r.outcome === 'failed') console.log(`FAIL ${where}: ${r.reason}`);
    else if (r.outcome === 'skipped') console.log(`SKIP ${where}: ${r.reason}`);
    else if (a.verbose) console.log(`${r.outcome.toUpperCase()} ${where}: ${r.reason}`);
  }
  const s = summarize(results);
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  console.log(`(${s.disabled} upstream-disabled and ${s.parse_only} parse-only files not counted; ${s.total} cases in ${secs}s)`);
  console.log(`conformance: ${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped`);
  if (a.json) console.log(JSON.stringify(s));
  return s.failed > 0 ? 1 : 0;
}

function report(e: unknown): number {
  if (e instanceof CompileError) {
    const d = e.diagnostic;
    let source: SourceFile | undefined;
    try {
      if (d.loc) source = new SourceFile(d.loc.file, readFileSync(d.loc.file, 'utf8'));
    } catch {
      source = undefined;
    }
    console.error(renderDiagnostic(d, source));
    return 1;
  }
  if (e instanceof RuntimeError) {
    console.error(e.message.includes('error:') ? e.message : `xla-aot: error: ${e.message}`);
    return 1;
  }
  console.error(`xla-aot: internal error (please report): ${e instanceof Error ? e.stack : String(e)}`);
  return 70;
}

async function main(argv: string[]): Promise<number> {
  let code = 0;
  const run = async (fn: () => number | Promise<number>): Promise<void> => {
    try {
      code = await fn();
    } catch (e) {
      code = report(e);
    }
  };
  await yargs(argv)
    .scriptName('xla-aot')
    .usage('$0 <command> [options]\n\nAhead-of-time compiler from StableHLO (MLIR text) to standalone C/CUDA, with a reference interpreter.')
    .command(
      'interpret <file>',
      'Run a function of a StableHLO module in the reference interpreter; print results; exit 1 if any check op fails',
      (y) =>
        y
          .positional('file', { type: 'string', demandOption: true, describe: 'MLIR file' })
          .option('entry', { type: 'string', default: 'main', describe: 'function to run' })
          .option('input', { type: 'string', array: true, default: [] as string[], describe: 'one per parameter: 2x3xf32=1,2,3,4,5,6 | @in.npy | in.npy' })
          .option('output-dir', { type: 'string', describe: 'write each result as DIR/result<i>.npy' })
          .option('random-seed', { type: 'number', describe: 'use seeded random inputs for every parameter (written as DIR/input<i>.npy)' }),
      (a) => run(() => interpretCommand({ file: a.file, entry: a.entry, input: a.input.map(String), ...(a.outputDir ? { outputDir: a.outputDir } : {}), ...(a.randomSeed !== undefined ? { randomSeed: a.randomSeed } : {}) })),
    )
    .command(
      'conformance <paths..>',
      'Run StableHLO conformance files (split on // -----) and judge their check ops with upstream tolerances',
      (y) =>
        y
          .positional('paths', { type: 'string', array: true, demandOption: true })
          .option('backend', { type: 'string', default: 'interp', choices: ['interp', 'c'], describe: 'what executes the programs' })
          .option('json', { type: 'boolean', default: false, describe: 'print a JSON summary as the last line' })
          .option('jobs', { type: 'number', default: 1, describe: 'worker threads' })
          .option('verbose', { type: 'boolean', default: false, describe: 'print passing cases too' }),
      (a) => run(() => conformanceCommand({ paths: (a.paths ?? []).map(String), backend: a.backend, json: a.json, jobs: Math.max(1, Math.floor(a.jobs)), verbose: a.verbose })),
    )
    .command(
      '$0 <file>',
      'Compile a model to C (not implemented yet: the C backend is issue #3)',
      (y) => y.positional('file', { type: 'string', demandOption: true }).option('o', { type: 'string', describe: 'output directory' }).option('target', { type: 'string' }),
      (a) =>
        run(() => {
          importModule(readSource(a.file));
          throw new RuntimeError('compilation to C is not implemented yet; the model parses and verifies. Use `xla-aot interpret` to run it.');
        }),
    )
    .strict()
    .demandCommand(1)
    .help()
    .fail((msg, err) => {
      if (err) throw err;
      console.error(`xla-aot: error: ${msg}\nRun 'xla-aot --help' for usage.`);
      code = 2;
    })
    .parseAsync();
  return code;
}

process.exitCode = await main(hideBin(process.argv));
