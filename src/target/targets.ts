/**
 * @fileoverview Compilation targets as data: ISA, SIMD width, compiler and flags, how a built
 * program is run (natively, under qemu-user, or as firmware on a QEMU board), and the memory map
 * of that board. Everything target-specific in the build, the runner and the report reads this
 * table; nothing else switches on a target's name.
 */
import { readFileSync } from 'node:fs';
import { RuntimeError } from '../diag/diagnostics.js';

export type Simd = 'none' | 'avx2' | 'avx512' | 'neon' | 'helium';

export interface MemoryRegion {
  readonly origin: number;
  readonly bytes: number;
}

/** A QEMU board for bare-metal firmware: where code, read-only data (weights) and RAM live. */
export interface Board {
  readonly qemuMachine: string;
  readonly code: MemoryRegion;
  /** Read-only data (weights, embedded test inputs); `code` when absent. */
  readonly rodata?: MemoryRegion;
  readonly ram: MemoryRegion;
  /** Stack reserved at the top of RAM by the firmware linker script. */
  readonly stackBytes: number;
}

export interface Target {
  readonly name: string;
  readonly description: string;
  readonly isa: string;
  readonly simd: Simd;
  /** Widest SIMD register in bits (0 = scalar only). */
  readonly vectorBits: number;
  /** Architectural SIMD registers (the GEMM register blocking must fit them); on targets without
   * SIMD, the floating-point registers the scalar micro-kernels block for (soft-float: the
   * general registers left for accumulators between the float routines' calls). */
  readonly vectorRegisters: number;
  /** General-purpose registers the compiler can allocate (pointers of the indirect GEMM must fit). */
  readonly generalRegisters: number;
  /** Arm's DSP extension (SMLAD, SXTB16: Cortex-M4/M7/M33/M55): the integer GEMM steps four k at a time. */
  readonly armDsp?: boolean;
  /** Armv8.2-A's dot product (SDOT: four int8 products per i32 lane): the integer GEMM's vector
   * tiles step four int8 k per word instead of two 16-bit ones. */
  readonly dotProduct?: boolean;
  /** Per-core data cache sizes the GEMM blocking aims at. */
  readonly cache: { readonly l1: number; readonly l2: number };
  /** Hardware floating point: none (soft-float), f32 only, or f32 and f64. */
  readonly fpu: 'none' | 'f32' | 'f32+f64';
  /** What f32, f16 and bf16 contractions accumulate in outside the SIMD micro-kernels. f64 where
   * double is cheap (the interpreter's own sum, rounded once); f32 on microcontrollers, whose FPU
   * is single precision or absent (a double multiply-add would be software routines, and their
   * code in flash). Targets without SIMD that accumulate in f32 also get register-blocked scalar
   * GEMM and direct-convolution micro-kernels (emit-c/gemm.ts, direct-conv.ts). */
  readonly floatAccumulator: 'f64' | 'f32';
  /** hosted: a libc with files (harness reads and writes files); bare-metal: no OS, no files. */
  readonly os: 'hosted' | 'bare-metal';
  /** Prefix of the binutils/gcc tools ('' for the machine's own). */
  readonly toolPrefix: string;
  /** Flags added to the common C flags. */
  readonly cflags: readonly string[];
  /** Extra flags when linking an executable (test harness, firmware). */
  readonly exeFlags: readonly string[];
  /** How test programs run here: natively, under a QEMU user-mode emulator, or on a QEMU board. */
  readonly runner:
    | { readonly kind: 'native' }
    | { readonly kind: 'qemu-user'; readonly command: string }
    | { readonly kind: 'qemu-system'; readonly board: Board };
  /** Debian packages that provide the compiler and the emulator. */
  readonly packages: readonly string[];
  /** The SIMD unit flushes subnormal inputs and results to zero (32-bit NEON; Helium, whose
   * floating point runs with the standard FPSCR): vector kernels (GEMM, vector loops) then differ
   * from IEEE arithmetic below the normal range. */
  readonly simdFlushesSubnormals?: boolean;
  /** CPU flag (/proc/cpuinfo) needed to run natively built code, if any. */
  readonly needsCpuFlag?: string;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const MCU_PACKAGES = ['gcc-arm-none-eabi', 'libnewlib-arm-none-eabi', 'qemu-system-arm'];
/** QEMU's MPS2 FPGA images (AN385/386/500): 4 MiB of SSRAM for code at 0, 4 MiB for data at 0x20000000. */
const MPS2 = (machine: string): Board => ({
  qemuMachine: machine,
  code: { origin: 0x00000000, bytes: 4 * MiB },
  ram: { origin: 0x20000000, bytes: 4 * MiB },
  stackBytes: 64 * KiB,
});
const cortexM = (
  cpu: string,
  fpu: Target['fpu'],
  floatFlags: readonly string[],
  board: Board,
  extra: Partial<Target> = {},
): Target => ({
  name: cpu,
  description: `Arm Cortex-${cpu.slice('cortex-'.length).toUpperCase()}, bare metal (${fpu === 'none' ? 'soft-float' : `${fpu} FPU`}), QEMU ${board.qemuMachine}`,
  isa: 'thumb',
  simd: 'none',
  vectorBits: 0,
  // FPv4/FPv5 have 32 single-precision registers; soft-float keeps accumulators in r4-r11.
  vectorRegisters: fpu === 'none' ? 6 : 32,
  generalRegisters: 13,
  // No data cache on most parts: blocks sized to keep GEMM scratch small in SRAM.
  cache: { l1: 8 * KiB, l2: 16 * KiB },
  fpu,
  floatAccumulator: 'f32',
  os: 'bare-metal',
  toolPrefix: 'arm-none-eabi-',
  // -O2 after the common -O3: flash is scarce, and -O3's unrolling buys little on an in-order core.
  cflags: [`-mcpu=${cpu}`, '-mthumb', ...floatFlags, '-O2'],
  // newlib with semihosting (librdimon); our own startup file replaces its crt0.
  exeFlags: ['--specs=rdimon.specs', '-nostartfiles', '-Wl,-z,noexecstack'],
  runner: { kind: 'qemu-system', board },
  packages: MCU_PACKAGES,
  ...extra,
});

/** Armv8-A Linux: the aarch64 target, and the base of its variants. */
const AARCH64: Target = {
  name: 'aarch64',
  description: 'Armv8-A 64-bit Linux (Cortex-A53 and later) with NEON, static binaries under qemu-aarch64',
  isa: 'armv8-a',
  simd: 'neon',
  vectorBits: 128,
  vectorRegisters: 32,
  generalRegisters: 31,
  cache: { l1: 32 * KiB, l2: 512 * KiB },
  fpu: 'f32+f64',
  floatAccumulator: 'f64',
  os: 'hosted',
  toolPrefix: 'aarch64-linux-gnu-',
  cflags: ['-march=armv8-a'],
  exeFlags: ['-static'],
  runner: { kind: 'qemu-user', command: 'qemu-aarch64' },
  packages: ['gcc-aarch64-linux-gnu', 'libc6-dev-arm64-cross', 'qemu-user'],
};

export const TARGETS: readonly Target[] = [
  {
    name: 'host',
    description: 'this machine (gcc -march=native)',
    isa: 'native',
    simd: 'none',
    vectorBits: 0,
    vectorRegisters: 16,
    generalRegisters: 16,
    cache: { l1: 32 * KiB, l2: 512 * KiB },
    fpu: 'f32+f64',
    floatAccumulator: 'f64',
    os: 'hosted',
    toolPrefix: '',
    cflags: ['-march=native'],
    exeFlags: [],
    runner: { kind: 'native' },
    packages: [],
  },
  {
    name: 'x86-64-v3',
    description: 'x86-64 with AVX2 and FMA (Haswell, Zen 1 and later)',
    isa: 'x86-64-v3',
    simd: 'avx2',
    vectorBits: 256,
    vectorRegisters: 16,
    generalRegisters: 16,
    cache: { l1: 32 * KiB, l2: 512 * KiB },
    fpu: 'f32+f64',
    floatAccumulator: 'f64',
    os: 'hosted',
    toolPrefix: '',
    cflags: ['-march=x86-64-v3'],
    exeFlags: [],
    runner: { kind: 'native' },
    packages: [],
    needsCpuFlag: 'avx2',
  },
  {
    name: 'x86-64-v4',
    description: 'x86-64 with AVX-512 F/BW/CD/DQ/VL (Skylake-X, Zen 4 and later)',
    isa: 'x86-64-v4',
    simd: 'avx512',
    vectorBits: 512,
    vectorRegisters: 32,
    generalRegisters: 16,
    cache: { l1: 32 * KiB, l2: 1 * MiB },
    fpu: 'f32+f64',
    floatAccumulator: 'f64',
    os: 'hosted',
    toolPrefix: '',
    cflags: ['-march=x86-64-v4'],
    exeFlags: [],
    runner: { kind: 'native' },
    packages: [],
    needsCpuFlag: 'avx512f',
  },
  {
    name: 'generic-c',
    description: 'portable C99, no ISA flags (any hosted C compiler)',
    isa: 'portable',
    simd: 'none',
    vectorBits: 0,
    vectorRegisters: 0,
    generalRegisters: 16,
    cache: { l1: 32 * KiB, l2: 256 * KiB },
    fpu: 'f32+f64',
    floatAccumulator: 'f64',
    os: 'hosted',
    toolPrefix: '',
    cflags: [],
    exeFlags: [],
    runner: { kind: 'native' },
    packages: [],
  },
  AARCH64,
  {
    ...AARCH64,
    name: 'aarch64-dotprod',
    description:
      'Armv8.2-A 64-bit Linux with NEON and the dot product extension (SDOT: Cortex-A55/A75 and later), static binaries under qemu-aarch64',
    isa: 'armv8.2-a+dotprod',
    dotProduct: true,
    cflags: ['-march=armv8.2-a+dotprod'],
  },
  {
    name: 'armv7a',
    description: 'Armv7-A 32-bit Linux hard-float with NEON (Cortex-A7/A9), static binaries under qemu-arm',
    isa: 'armv7-a',
    simd: 'neon',
    vectorBits: 128,
    vectorRegisters: 16,
    generalRegisters: 13,
    cache: { l1: 32 * KiB, l2: 256 * KiB },
    fpu: 'f32+f64',
    floatAccumulator: 'f64',
    os: 'hosted',
    toolPrefix: 'arm-linux-gnueabihf-',
    simdFlushesSubnormals: true,
    cflags: ['-march=armv7-a', '-mfpu=neon-vfpv4', '-mfloat-abi=hard'],
    exeFlags: ['-static'],
    runner: { kind: 'qemu-user', command: 'qemu-arm' },
    packages: ['gcc-arm-linux-gnueabihf', 'libc6-dev-armhf-cross', 'qemu-user'],
  },
  cortexM('cortex-m0', 'none', ['-mfloat-abi=soft'], {
    // BBC micro:bit (nRF51822): 256 KiB flash, 16 KiB RAM; only tiny models fit.
    qemuMachine: 'microbit',
    code: { origin: 0x00000000, bytes: 256 * KiB },
    ram: { origin: 0x20000000, bytes: 16 * KiB },
    stackBytes: 4 * KiB,
  }),
  cortexM('cortex-m3', 'none', ['-mfloat-abi=soft'], MPS2('mps2-an385')),
  cortexM('cortex-m4', 'f32', ['-mfloat-abi=hard', '-mfpu=fpv4-sp-d16'], MPS2('mps2-an386'), { armDsp: true }),
  cortexM('cortex-m7', 'f32+f64', ['-mfloat-abi=hard', '-mfpu=fpv5-d16'], MPS2('mps2-an500'), { armDsp: true }),
  cortexM(
    'cortex-m55',
    'f32+f64',
    ['-mfloat-abi=hard'],
    {
      // Corstone-300 (AN547): code in the 512 KiB ITCM, weights in the 8 MiB QSPI flash, data in the 512 KiB DTCM.
      qemuMachine: 'mps3-an547',
      code: { origin: 0x00000000, bytes: 512 * KiB },
      rodata: { origin: 0x28000000, bytes: 8 * MiB },
      ram: { origin: 0x20000000, bytes: 512 * KiB },
      stackBytes: 32 * KiB,
    },
    {
      isa: 'armv8.1-m.main+mve.fp',
      simd: 'helium',
      vectorBits: 128,
      vectorRegisters: 8,
      armDsp: true,
      simdFlushesSubnormals: true,
      description: 'Arm Cortex-M55 with Helium (MVE), bare metal, QEMU mps3-an547',
    },
  ),
];

/** Other names a user may type for a target. */
const TARGET_ALIASES: Readonly<Record<string, string>> = {
  'arm-cortex': 'cortex-m4',
  native: 'host',
  arm64: 'aarch64',
};

export function lookupTarget(name: string): Target {
  const t = TARGETS.find((x) => x.name === (TARGET_ALIASES[name] ?? name));
  if (t?.name === 'host') return withHostSimd(t);
  if (!t)
    throw new RuntimeError(
      `unknown target '${name}': expected one of ${TARGETS.map((x) => x.name).join(', ')} (or ${Object.keys(TARGET_ALIASES).join(', ')}); see --list-targets`,
    );
  return t;
}

/** CPU flags that XLA_AOT_HIDE_CPU_FLAGS (comma-separated, e.g. `avx512f`) asks to treat as absent:
 * `make test` on an AVX-512 machine then behaves as on one without it (host builds get
 * `-mno-FLAG`, tests of targets that need the flag are skipped). */
function hiddenCpuFlags(): string[] {
  return (process.env['XLA_AOT_HIDE_CPU_FLAGS'] ?? '')
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean);
}

/** This machine's CPU flags (/proc/cpuinfo), less the hidden ones; empty when unreadable. */
function cpuFlags(): Set<string> {
  let text = '';
  try {
    text = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return new Set();
  }
  const line = /^(flags|Features)\s*:(.*)$/m.exec(text)?.[2] ?? '';
  const hidden = new Set(hiddenCpuFlags());
  return new Set(line.split(/\s+/).filter((f) => f && !hidden.has(f)));
}

/** Why `t`'s programs cannot run on this machine, or undefined when they can. */
export function cannotRunHere(t: Target): string | undefined {
  return t.needsCpuFlag && !cpuFlags().has(t.needsCpuFlag)
    ? `this CPU lacks ${t.needsCpuFlag}${hiddenCpuFlags().includes(t.needsCpuFlag) ? ' (hidden by XLA_AOT_HIDE_CPU_FLAGS)' : ''}`
    : undefined;
}

/** `host` compiles with -march=native: its SIMD is whatever this machine has. */
function withHostSimd(t: Target): Target {
  const flags = cpuFlags();
  if (flags.size === 0) return t;
  const simd: [Simd, number, number] = flags.has('avx512f')
    ? ['avx512', 512, 32]
    : flags.has('avx2') && flags.has('fma')
      ? ['avx2', 256, 16]
      : flags.has('asimd')
        ? ['neon', 128, 32]
        : ['none', 0, 0];
  const cflags = [...t.cflags, ...hiddenCpuFlags().map((f) => `-mno-${f}`)];
  return {
    ...t,
    cflags,
    // An Arm host with the dot product (-march=native enables it): the int8 tiles use SDOT.
    ...(simd[0] === 'neon' && flags.has('asimddp') ? { dotProduct: true } : {}),
    simd: simd[0],
    vectorBits: simd[1],
    vectorRegisters: simd[2],
    cache: { l1: cacheBytes('index0') ?? t.cache.l1, l2: cacheBytes('index2') ?? t.cache.l2 },
  };
}

/** Size of one of cpu0's caches from sysfs (index0: L1d, index2: L2), if readable. */
function cacheBytes(index: string): number | undefined {
  try {
    const m = /^(\d+)K$/.exec(readFileSync(`/sys/devices/system/cpu/cpu0/cache/${index}/size`, 'utf8').trim());
    return m ? Number(m[1]) * KiB : undefined;
  } catch {
    return undefined;
  }
}

/** The C compiler of a target: `--cc` applies to the machine's own targets; cross targets use their toolchain's gcc. */
export function compilerOf(t: Target, cc: string | undefined): string {
  if (t.toolPrefix) return `${t.toolPrefix}gcc`;
  return cc ?? 'gcc';
}

export const toolOf = (t: Target, tool: 'ar' | 'size' | 'nm'): string => `${t.toolPrefix}${tool}`;

/** `--list-targets`: one block per target with its compiler and flags. */
export function describeTargets(commonFlags: string): string {
  const lines: string[] = [];
  for (const t of TARGETS.map((x) => lookupTarget(x.name))) {
    const aliases = Object.entries(TARGET_ALIASES)
      .filter(([, v]) => v === t.name)
      .map(([k]) => k);
    lines.push(`${t.name}${aliases.length ? ` (alias: ${aliases.join(', ')})` : ''}`);
    lines.push(`    ${t.description}`);
    lines.push(`    isa ${t.isa}, simd ${t.simd}${t.vectorBits ? ` ${t.vectorBits}-bit` : ''}, fpu ${t.fpu}, ${t.os}`);
    lines.push(`    cc: ${compilerOf(t, undefined)} ${commonFlags} ${t.cflags.join(' ')}`.trimEnd());
    const run =
      t.runner.kind === 'native'
        ? 'natively'
        : t.runner.kind === 'qemu-user'
          ? `under ${t.runner.command}`
          : `as firmware on qemu-system-arm -M ${t.runner.board.qemuMachine}`;
    lines.push(`    tests run ${run}${t.packages.length ? `; Debian packages: ${t.packages.join(' ')}` : ''}`);
  }
  return lines.join('\n');
}
