/**
 * @fileoverview The optional `--firmware` test harness of bare-metal targets: a main() that runs
 * the model once on embedded inputs and prints the outputs over semihosting, our startup file, and
 * a linker script for the target's QEMU board; plus running it under qemu-system-arm and reading
 * the outputs back.
 */
import { createWriteStream, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { render, RUNTIME_DIR } from '../emit-common/templates.js';
import { type Tensor } from '../ir/tensor.js';
import type { TensorType } from '../ir/types.js';
import type { Board, Target } from '../target/targets.js';
import { BlobBuilder } from '../emit-common/blob.js';
import { checkFound } from './build.js';
import { fromStorageBytes, storageBytes, toStorageBytes } from '../emit-common/ctypes.js';
import { VERSION, type EmitResult } from '../emit-common/program.js';
import { UNWRITTEN_BYTE } from '../flat/faults.js';
import { RuntimeError } from '../diag/diagnostics.js';

export const FIRMWARE_ELF = 'firmware.elf';

export function boardOf(t: Target): Board {
  if (t.runner.kind !== 'qemu-system')
    throw new RuntimeError(
      `--firmware is for bare-metal targets; '${t.name}' is ${t.os} (build and run the library with the harness of 'xla-aot run' instead)`,
    );
  return t.runner.board;
}

const hex = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;

/** Sources of the firmware (besides the model's): harness main, embedded inputs, startup, linker
 * script. `countInstructions`: the harness also measures the run in SysTick ticks and calibrates
 * them (run it with `icount`: countFirmware). */
export function firmwareFiles(
  r: EmitResult,
  prefix: string,
  inputs: readonly Tensor[],
  countInstructions = false,
): Map<string, string | Uint8Array> {
  const board = boardOf(r.target);
  if (inputs.length !== r.inputs.length)
    throw new RuntimeError(`the firmware needs ${r.inputs.length} input(s), got ${inputs.length}`);
  const ramNeeded = r.plan.arenaBytes + r.outputs.reduce((n, t) => n + storageBytes(t), 0) + board.stackBytes;
  if (ramNeeded > board.ram.bytes) {
    throw new RuntimeError(
      `the model does not fit the RAM of ${r.target.name}'s test board ${board.qemuMachine}: arena ${r.plan.arenaBytes} + outputs ${ramNeeded - r.plan.arenaBytes - board.stackBytes} + stack ${board.stackBytes} bytes > ${board.ram.bytes} bytes`,
    );
  }
  const blob = new BlobBuilder();
  const offsets = inputs.map((t) => blob.add(toStorageBytes(t)));
  const symbol = `${prefix}_firmware_inputs`;
  const { bin, asm } = blob.files(VERSION, symbol, 'firmware_inputs.bin', 'Test inputs of the firmware');
  const files = new Map<string, string | Uint8Array>();
  files.set('firmware_inputs.bin', bin);
  files.set('firmware_inputs.S', asm);
  files.set(
    'firmware.c',
    render('c/firmware.c.hbs', {
      version: VERSION,
      poison: UNWRITTEN_BYTE,
      prefix,
      PREFIX: prefix.toUpperCase(),
      target: r.target.name,
      inputsSymbol: symbol,
      countInstructions,
      inputOffsets: offsets,
      numInputs: r.inputs.length,
      numOutputs: r.outputs.length,
      outputs: r.outputs.map((t, index) => ({
        index,
        bytes: storageBytes(t),
        bytesOrOne: Math.max(1, storageBytes(t)),
      })),
    }),
  );
  files.set('startup.c', readFileSync(join(RUNTIME_DIR, 'firmware', 'startup.c'), 'utf8'));
  const region = (m: { origin: number; bytes: number }) => ({ origin: hex(m.origin), bytes: m.bytes });
  files.set(
    'link.ld',
    render('firmware/link.ld.hbs', {
      version: VERSION,
      target: r.target.name,
      machine: board.qemuMachine,
      code: region(board.code),
      rodata: board.rodata ? region(board.rodata) : undefined,
      rodataRegion: board.rodata ? 'ROM' : 'CODE',
      ram: region(board.ram),
      stackBytes: board.stackBytes,
    }),
  );
  return files;
}

export const FIRMWARE_LINK_FLAGS = ['-T', 'link.ld'];

/** The QEMU command line of firmware `elf`; `icount`: one nanosecond of virtual time per
 * instruction (deterministic, and what the counting harness's SysTick measures). */
export function qemuCommand(t: Target, elf: string, icount = false): string[] {
  return [
    'qemu-system-arm',
    ...(icount ? ['-icount', 'shift=0'] : []),
    '-M',
    boardOf(t).qemuMachine,
    '-nographic',
    '-monitor',
    'none',
    '-semihosting-config',
    'enable=on,target=native',
    '-kernel',
    elf,
  ];
}

/** Runs firmware under QEMU and parses the outputs it prints. */
export async function runFirmware(
  t: Target,
  elf: string,
  outputs: readonly TensorType[],
  timeoutMs = 300_000,
): Promise<Tensor[]> {
  return parseFirmwareOutput(await firmwareLog(t, elf, timeoutMs, false), outputs);
}

/** Runs counting firmware (firmwareFiles with countInstructions) under QEMU with -icount: its
 * outputs, and the instructions the model's run took (to within a SysTick period, 40 or fewer). */
export async function countFirmware(
  t: Target,
  elf: string,
  outputs: readonly TensorType[],
  timeoutMs = 300_000,
): Promise<{ outputs: Tensor[]; instructions: number }> {
  const text = await firmwareLog(t, elf, timeoutMs, true);
  const m = /^XLA-AOT TICKS run (\d+) calibration (\d+) for (\d+) instructions$/m.exec(text);
  if (!m || Number(m[2]) === 0)
    throw new RuntimeError(`firmware on ${t.name} printed no instruction count:\n${text.slice(-2000)}`);
  const instructions = Math.round((Number(m[1]) * Number(m[3])) / Number(m[2]));
  return { outputs: parseFirmwareOutput(text, outputs), instructions };
}

/** What firmware printed over semihosting (it must exit with status 0). */
async function firmwareLog(t: Target, elf: string, timeoutMs: number, icount: boolean): Promise<string> {
  const [cmd, ...args] = qemuCommand(t, elf, icount);
  // QEMU makes its stdout non-blocking and drops semihosting writes that would block on a full
  // pipe, so its stdout is a regular file (an open file stream, which execa hands to the child as is; a {file} option would be piped).
  const log = join(dirname(elf), 'firmware.out');
  const file = createWriteStream(log);
  await once(file, 'open');
  const res = await execa(cmd!, args, {
    reject: false,
    stdin: 'ignore',
    stdout: file,
    stderr: 'pipe',
    timeout: timeoutMs,
  }).finally(() => file.close());
  checkFound(res, cmd!, t);
  const text = readFileSync(log, 'utf8');
  if (res.timedOut) throw new RuntimeError(`firmware on ${t.name} timed out after ${timeoutMs / 1000}s`);
  if (res.exitCode !== 0)
    throw new RuntimeError(
      `firmware on ${t.name} exited with ${res.exitCode}:\n${text.slice(-2000)}${res.stderr ?? ''}`,
    );
  return text;
}

/** Reads `XLA-AOT OUTPUT i bytes` sections of hex lines back into tensors. */
function parseFirmwareOutput(text: string, outputs: readonly TensorType[]): Tensor[] {
  const lines = text.split(/\r?\n/);
  const begin = lines.findIndex((l) => l.startsWith('XLA-AOT BEGIN '));
  if (begin < 0 || !lines.includes('XLA-AOT END'))
    throw new RuntimeError(`firmware output has no XLA-AOT BEGIN/END markers:\n${text.slice(-2000)}`);
  const status = /status (-?\d+)/.exec(lines[begin]!)?.[1];
  if (status !== '0') throw new RuntimeError(`model run on the firmware returned status ${status}`);
  const result: Tensor[] = [];
  let i = begin + 1;
  for (const [index, type] of outputs.entries()) {
    const m = /^XLA-AOT OUTPUT (\d+) (\d+)$/.exec(lines[i] ?? '');
    if (!m || Number(m[1]) !== index)
      throw new RuntimeError(`firmware output: expected the header of output ${index}, got '${lines[i]}'`);
    const bytes = Number(m[2]);
    let digits = '';
    for (i++; digits.length < 2 * bytes && i < lines.length && /^[0-9a-f]+$/.test(lines[i]!); i++) digits += lines[i];
    if (digits.length !== 2 * bytes)
      throw new RuntimeError(`firmware output ${index}: expected ${bytes} bytes, got ${digits.length / 2}`);
    result.push(fromStorageBytes(Uint8Array.from(Buffer.from(digits, 'hex')), type));
  }
  return result;
}
