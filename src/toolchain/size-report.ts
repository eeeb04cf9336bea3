/**
 * @fileoverview `--report` figures read from the built objects with the target's binutils: flash
 * (code + read-only data + initialized data) and RAM (arena + data + bss + a static stack estimate
 * from -fstack-usage), code size per op kind, and which library functions the model calls (libm,
 * and proof that it allocates nothing and does no I/O).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { toolOf, type Target } from '../target/targets.js';
import { linkClosure, tool } from './build.js';
import type { EmitResult } from '../emit-common/program.js';

export interface SizeReport {
  readonly textBytes: number;
  readonly rodataBytes: number;
  readonly dataBytes: number;
  readonly bssBytes: number;
  readonly arenaBytes: number;
  /** Deepest frame chain of the model's own code: PREFIX_run's frame plus the largest kernel frame. */
  readonly stackBytes: number;
  /** Library and compiler-runtime code and data a bare-metal image links for the model (libm,
   * libc string functions, soft-float and division helpers); 0 on hosted targets (shared libraries). */
  readonly libraryBytes: number;
  readonly flashBytes: number;
  readonly ramBytes: number;
  /** Op kind (e.g. 'dot_general') -> bytes of code of its kernels; 'run' is the entry and its glue. */
  readonly codeByOpKind: ReadonlyMap<string, number>;
  /** Undefined symbols of the model objects, by what provides them. */
  readonly needs: {
    readonly libm: readonly string[];
    readonly libc: readonly string[];
    readonly compilerRuntime: readonly string[];
  };
}

/** Functions a model object must never call: allocation, files, stdio, exit. */
export const FORBIDDEN_CALLS =
  /^(malloc|calloc|realloc|free|aligned_alloc|posix_memalign|fopen|fclose|fread|fwrite|printf|fprintf|puts|putchar|exit|abort|_sbrk|sbrk)$/;
const LIBC_STRING = /^(memcpy|memmove|memset|memcmp)$/;
/** POSIX threads (--threads pools, the threads communicator of SPMD builds): libc's since glibc 2.34. */
const PTHREADS = /^pthread_/;
/** libgcc / compiler-rt helpers: soft-float (__aeabi_dadd, __adddf3, ...), 64-bit division, stack protector. */
const COMPILER_RUNTIME =
  /^(__aeabi_|__[a-z]+[sdt]f[0-9]|__(div|mod|udiv|umod)[sd]i3|__popcount|__clz|__ctz|__stack_chk|__gnu_)/;

function sectionSizes(sizeOutput: string): { text: number; rodata: number; data: number; bss: number } {
  const s = { text: 0, rodata: 0, data: 0, bss: 0 };
  for (const line of sizeOutput.split('\n')) {
    const m = /^(\.\S+)\s+(\d+)\s+\d+$/.exec(line.trim());
    if (!m) continue;
    const [name, bytes] = [m[1]!, Number(m[2])];
    if (/^\.(text|ARM\.ex|init|fini)/.test(name)) s.text += bytes;
    else if (/^\.rodata/.test(name)) s.rodata += bytes;
    else if (/^\.data/.test(name)) s.data += bytes;
    else if (/^\.bss/.test(name)) s.bss += bytes;
  }
  return s;
}

/** Reads sizes from the objects buildLibrary left in `dir` (with their -fstack-usage .su files). */
export async function sizeReport(dir: string, r: EmitResult, prefix: string): Promise<SizeReport> {
  const t = r.target;
  const sizes = sectionSizes(await tool(toolOf(t, 'size'), ['-A', ...r.objects], dir, t));
  const codeByOpKind = new Map<string, number>();
  const seenAddresses = new Set<string>();
  // The code objects: PREFIX.o and, for a large model, its kernel files (not the weight blob).
  const code = r.objects.filter((o) => r.files.has(o.replace(/\.o$/, '.c')));
  const symbols = await tool(toolOf(t, 'nm'), ['-S', '--size-sort', ...code], dir, t);
  let object = code[0];
  for (const line of symbols.split('\n')) {
    // With several objects nm heads each one's symbols with `NAME.o:`; addresses are per object.
    object = /^(\S+\.o):$/.exec(line.trim())?.[1] ?? object;
    const m = /^([0-9a-f]+) ([0-9a-f]+) [tT] (\S+)$/.exec(line.trim());
    if (!m) continue;
    // The compiler folds identical kernels into one body (-fipa-icf): count each address once.
    if (seenAddresses.has(`${object}:${m[1]!}`)) continue;
    seenAddresses.add(`${object}:${m[1]!}`);
    // gcc clones specialized kernels as NAME.constprop.0, NAME.isra.0, ...
    // Kernels in split files carry the model's prefix (PREFIX_k12_convolution).
    const name = m[3]!
      .replace(/(\.(constprop|isra|part|cold)\.\d+)+$/, '')
      .replace(new RegExp(`^${prefix}_(?=k\\d+_)`), '');
    const kind =
      /^k\d+_(.+)$/.exec(name)?.[1] ??
      (name.startsWith(`${prefix}_`) ? 'run' : name.startsWith('rl_comm_') ? 'communicator' : 'helpers');
    codeByOpKind.set(kind, (codeByOpKind.get(kind) ?? 0) + parseInt(m[2]!, 16));
  }
  const symbolsOf = async (args: readonly string[], pattern: RegExp): Promise<Set<string>> =>
    new Set(
      (await tool(toolOf(t, 'nm'), [...args, ...r.objects], dir, t))
        .split('\n')
        .map((l) => pattern.exec(l)?.[1])
        .filter((s): s is string => !!s),
    );
  // Undefined in one object but defined in another (the weight blob) is not a library need.
  const defined = await symbolsOf(['--defined-only'], /^[0-9a-f]+\s+\S\s+(\S+)$/);
  // _GLOBAL_OFFSET_TABLE_ (position-independent code) comes from the linker.
  const unique = [...(await symbolsOf(['-u'], /^\s*U\s+(\S+)$/))]
    .filter((s) => !defined.has(s) && s !== '_GLOBAL_OFFSET_TABLE_')
    .sort();
  const needs = {
    libc: unique.filter((s) => LIBC_STRING.test(s) || FORBIDDEN_CALLS.test(s) || PTHREADS.test(s)),
    compilerRuntime: unique.filter((s) => COMPILER_RUNTIME.test(s)),
    libm: unique.filter(
      (s) => !LIBC_STRING.test(s) && !FORBIDDEN_CALLS.test(s) && !COMPILER_RUNTIME.test(s) && !PTHREADS.test(s),
    ),
  };
  const stackBytes = stackEstimate(
    code.map((o) => join(dir, o.replace(/\.o$/, '.su'))),
    prefix,
  );
  const arenaBytes = r.plan.arenaBytes;
  const own = sizes.text + sizes.rodata + sizes.data;
  const libraryBytes = t.os === 'bare-metal' ? await linkedLibraryBytes(dir, r, prefix, own) : 0;
  return {
    textBytes: sizes.text,
    rodataBytes: sizes.rodata,
    dataBytes: sizes.data,
    bssBytes: sizes.bss,
    arenaBytes,
    stackBytes,
    libraryBytes,
    flashBytes: own + libraryBytes,
    ramBytes: arenaBytes + sizes.data + sizes.bss + stackBytes,
    codeByOpKind,
    needs,
  };
}

/** The linked closure's flash (code, read-only data, initialized data, unwind tables) less the
 * model objects' own: what the routines it calls from libm, libc and libgcc add. */
async function linkedLibraryBytes(dir: string, r: EmitResult, prefix: string, own: number): Promise<number> {
  const t = r.target;
  const elf = `${prefix}_closure.elf`;
  await linkClosure(dir, r, prefix, elf);
  const s = sectionSizes(await tool(toolOf(t, 'size'), ['-A', elf], dir, t));
  return Math.max(0, s.text + s.rodata + s.data - own);
}

/** run's frame plus the largest kernel frame: kernels are leaves called only from run (libm calls excluded). */
function stackEstimate(suFiles: readonly string[], prefix: string): number {
  let run = 0;
  let deepestKernel = 0;
  const lines = suFiles.filter((f) => existsSync(f)).flatMap((f) => readFileSync(f, 'utf8').split('\n'));
  for (const line of lines) {
    const m = /:([A-Za-z_]\w*)\s+(\d+)\s+\S+$/.exec(line);
    if (!m) continue;
    const bytes = Number(m[2]);
    if (m[1] === `${prefix}_run`) run = bytes;
    else deepestKernel = Math.max(deepestKernel, bytes);
  }
  return run + deepestKernel;
}

export function formatSizeReport(s: SizeReport, t: Target): string[] {
  const kib = (n: number): string => `${n} bytes (${(n / 1024).toFixed(1)} KiB)`;
  const targetName = t.name;
  const lines = [
    t.os === 'bare-metal'
      ? `flash (${targetName}): ${kib(s.flashBytes)} = code ${s.textBytes} + read-only data/weights ${s.rodataBytes} + initialized data ${s.dataBytes} + library and compiler-runtime routines ${s.libraryBytes} (linked)`
      : `read-only image (${targetName}): ${kib(s.flashBytes)} = code ${s.textBytes} + read-only data/weights ${s.rodataBytes} + initialized data ${s.dataBytes}`,
    `RAM (${targetName}): ${kib(s.ramBytes)} = arena ${s.arenaBytes} + data ${s.dataBytes} + bss ${s.bssBytes} + stack estimate ${s.stackBytes} (from -fstack-usage; library calls not counted)`,
    `code by op kind: ${[...s.codeByOpKind]
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k} ${n}`)
      .join(', ')}`,
    s.needs.libm.length ? `libm: needed for ${s.needs.libm.join(', ')}` : 'libm: not needed',
    `libc: ${s.needs.libc.length ? s.needs.libc.join(', ') : 'nothing'}; compiler runtime: ${s.needs.compilerRuntime.length ? s.needs.compilerRuntime.join(', ') : 'nothing'}`,
  ];
  return lines;
}
