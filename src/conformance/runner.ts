/**
 * @fileoverview Conformance runner: runs StableHLO test files (testdata/ and interpret/ styles)
 * through a backend and judges their check ops with the upstream tolerances. A case passes only
 * when it ran to the end and every check op in it ran and passed. Cases without check ops
 * (`no_check`), upstream-disabled files and parse-only `dynamic/` files are counted separately and
 * never as passed; so are C cases whose generated code has no kernel (`no_kernel`: the checked
 * values are constants the C only copies, so it proves nothing about code generation).
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CompileError, renderDiagnostic, RuntimeError } from '../diag/diagnostics.js';
import { SourceFile } from '../diag/source.js';
import type { Func, Module, Op } from '../ir/core.js';
import { importModule, readSourceFile } from '../import/index.js';
import { isCheckOp } from '../ops/control.js';
import { Interpreter } from '../interpret/eval.js';

export type Outcome = 'passed' | 'failed' | 'skipped' | 'disabled' | 'parse_only' | 'no_check' | 'no_kernel';

export interface CaseResult {
  readonly file: string;
  /** 1-based index of the `// -----` section. */
  readonly index: number;
  readonly outcome: Outcome;
  readonly reason: string;
  /** For failures: a check op compared and found a difference ('check'), or the case did not run
   * to its checks (an error, a crash, a check that never ran: 'error'). */
  readonly failure?: 'check' | 'error';
}

export interface Summary {
  total: number;
  passed: number;
  failed: number;
  skipped: number;
  disabled: number;
  parse_only: number;
  no_check: number;
  no_kernel: number;
}

export function collectFiles(paths: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (p: string, named: boolean): void => {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(p);
    } catch {
      throw new RuntimeError(`cannot read ${p}`);
    }
    if (st!.isDirectory()) for (const f of readdirSync(p).sort()) walk(join(p, f), false);
    else if (named || /\.(mlir|mlirbc|mlir\.bc)$/.test(p)) out.push(p);
  };
  for (const p of paths) walk(p, true);
  return out;
}

/** Splits at `// -----` lines, keeping line numbers (earlier sections become blank lines). */
export function splitCases(text: string): { text: string; firstLine: number }[] {
  const lines = text.split('\n');
  const out: { text: string; firstLine: number }[] = [];
  let start = 0;
  const flush = (end: number): void => {
    const body = [...new Array<string>(start).fill(''), ...lines.slice(start, end)].join('\n');
    out.push({ text: body, firstLine: start + 1 });
  };
  lines.forEach((l, i) => {
    if (/^\/\/\s*-----/.test(l)) {
      flush(i);
      start = i + 1;
    }
  });
  flush(lines.length);
  return out;
}

/** Functions a test case runs: `main` if present, else zero-argument functions nobody calls. */
export function entryFunctions(m: Module): Func[] {
  const main = m.funcs.get('main');
  if (main) return [main];
  const called = new Set<string>();
  const visit = (ops: readonly import('../ir/core.js').Op[]): void => {
    for (const op of ops) {
      for (const a of Object.values(op.attrs)) {
        if (a.kind === 'symbol') called.add(a.name);
        if (a.kind === 'array')
          for (const e of a.elems)
            if (e.kind === 'array') for (const s of e.elems) if (s.kind === 'symbol') called.add(s.name);
        if (a.kind === 'array') for (const e of a.elems) if (e.kind === 'symbol') called.add(e.name);
      }
      for (const r of op.regions) for (const b of r.blocks) visit(b.ops);
    }
  };
  for (const f of m.funcs.values()) if (f.body) for (const b of f.body.blocks) visit(b.ops);
  return [...m.funcs.values()].filter((f) => f.body && f.params.length === 0 && !called.has(f.name));
}

/** Every check op of the module's functions (including nested regions). */
function checkOpsOf(m: Module): Set<Op> {
  const found = new Set<Op>();
  const visit = (ops: readonly Op[]): void => {
    for (const op of ops) {
      if (isCheckOp(op)) found.add(op);
      for (const r of op.regions) for (const b of r.blocks) visit(b.ops);
    }
  };
  for (const f of m.funcs.values()) if (f.body) for (const b of f.body.blocks) visit(b.ops);
  return found;
}

function describe(e: unknown, source: SourceFile): string {
  if (e instanceof CompileError) return renderDiagnostic(e.diagnostic, source).split('\n')[0]!;
  if (e instanceof RuntimeError) return e.message;
  if (e instanceof RangeError) return `runtime: ${e.message}`;
  return `internal error: ${e instanceof Error ? (e.stack ?? e.message).split('\n').slice(0, 3).join(' | ') : String(e)}`;
}

/** Runs one case with the reference interpreter. */
function runCaseInterp(file: string, text: string, index: number): CaseResult {
  const source = new SourceFile(file, text);
  try {
    const m = importModule(source);
    const staticChecks = checkOpsOf(m);
    const entries = entryFunctions(m);
    if (entries.length === 0)
      return {
        file,
        index,
        outcome: staticChecks.size ? 'failed' : 'no_check',
        reason: 'no entry function (main or an uncalled zero-argument function)',
      };
    const interp = new Interpreter(m);
    for (const f of entries) interp.runFunc(f, []);
    const checks = interp.session.checks;
    const failedChecks = checks.filter((c) => !c.ok);
    if (failedChecks.length) {
      const c = failedChecks[0]!;
      return {
        file,
        index,
        outcome: 'failed',
        failure: 'check',
        reason: `${c.op.loc.file}:${c.op.loc.line}:${c.op.loc.col}: ${c.op.name}: ${c.message}`,
      };
    }
    if (staticChecks.size === 0)
      return {
        file,
        index,
        outcome: 'no_check',
        reason: 'ran to completion, but the case has no check op: nothing was compared',
      };
    const ran = new Set(checks.map((c) => c.op));
    const notRun = [...staticChecks].filter((op) => !ran.has(op));
    if (notRun.length) {
      const op = notRun[0]!;
      return {
        file,
        index,
        outcome: 'failed',
        reason: `${notRun.length} of ${staticChecks.size} check op(s) never ran, first ${op.loc.file}:${op.loc.line}:${op.loc.col}`,
      };
    }
    return { file, index, outcome: 'passed', reason: `${checks.length} check(s) passed` };
  } catch (e) {
    return { file, index, outcome: 'failed', reason: describe(e, source) };
  }
}

/** Classifies and runs every case of one file. */
export function runFile(file: string): CaseResult[] {
  const text = readSourceFile(file).text;
  const head = text.slice(0, 2000);
  const disabled = /^\/\/ RUN-DISABLED(\([^)]*\))?/m.exec(head);
  if (disabled) return [{ file, index: 1, outcome: 'disabled', reason: `upstream RUN-DISABLED${disabled[1] ?? ''}` }];
  const hasChecks = /check\./.test(text);
  const isDynamic = /[/\\]dynamic[/\\]/.test(file);
  if (isDynamic && !hasChecks) {
    try {
      importModule(new SourceFile(file, text));
      return [{ file, index: 1, outcome: 'parse_only', reason: 'parses and verifies (no checks upstream)' }];
    } catch (e) {
      return [
        {
          file,
          index: 1,
          outcome: 'failed',
          reason: `parse-only file failed to import: ${describe(e, new SourceFile(file, text))}`,
        },
      ];
    }
  }
  if (/\/\/ CHECK/.test(text) && !hasChecks)
    return [
      {
        file,
        index: 1,
        outcome: 'skipped',
        reason: 'expected output is given as FileCheck lines, which this runner does not match',
      },
    ];
  return splitCases(text).map((c, i) => runCaseInterp(file, c.text, i + 1));
}

export function summarize(results: readonly CaseResult[]): Summary {
  const s: Summary = {
    total: 0,
    passed: 0,
    failed: 0,
    skipped: 0,
    disabled: 0,
    parse_only: 0,
    no_check: 0,
    no_kernel: 0,
  };
  for (const r of results) {
    s[r.outcome]++;
    if (r.outcome === 'passed' || r.outcome === 'failed' || r.outcome === 'skipped') s.total++;
  }
  return s;
}
