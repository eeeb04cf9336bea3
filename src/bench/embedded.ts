#!/usr/bin/env node
/**
 * @fileoverview `make bench-embedded`: speed on microcontrollers, measured deterministically. The
 * bench models and GEMMs of `make bench` (same weights) are compiled for Cortex-M4, M7 and M55 and
 * run as firmware under QEMU with -icount; the firmware counts the instructions of one model run
 * (SysTick, calibrated against a loop of known length: firmware.c.hbs) and its outputs are diffed
 * against the reference interpreter. Prints instructions per inference and per multiply-accumulate;
 * the last line is one JSON object. Instructions are not cycles (a multiply-add or a load from
 * flash may take several): they measure the code the compiler made, the same on every run. A line
 * whose outputs differ from the interpreter's is FAILED and the bench exits 1.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SourceFile } from '../diag/source.js';
import { importModule } from '../import/index.js';
import { compile } from '../pipeline.js';
import { compilerOf, lookupTarget } from '../target/targets.js';
import { buildExecutable, buildLibrary, writeFiles } from '../toolchain/build.js';
import { countFirmware, FIRMWARE_ELF, FIRMWARE_LINK_FLAGS, firmwareFiles } from '../toolchain/firmware.js';
import { randomInputs } from '../interpret/inputs.js';
import { Interpreter } from '../interpret/eval.js';
import { compareTensors, integerBound } from '../ir/compare.js';
import { flattenTuples, type Tensor } from '../ir/tensor.js';
import { cnn, gemmModule, mlp, quantizedCnn, quantizedDepthwise, quantizedMlp, randomFloats } from './models.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const WORK = join(ROOT, 'out', 'bench-embedded');
const TARGETS = ['cortex-m4', 'cortex-m7', 'cortex-m55'];

interface Workload {
  readonly name: string;
  readonly mlir: string;
  readonly macs: number;
  /** Also measured on the soft-float Cortex-M3 (int8 needs no FPU). */
  readonly int8?: boolean;
}

const gemm = (m: number, k: number, n: number): Workload => ({
  name: `gemm_${m}x${k}x${n}`,
  mlir: gemmModule(m, k, n, randomFloats(k * n, 1 / Math.sqrt(k), 11)),
  macs: m * k * n,
});

const fromBench = (b: { name: string; mlir: string; flops: number }): Workload => ({
  name: b.name,
  mlir: b.mlir,
  macs: b.flops / 2,
});

export const WORKLOADS: readonly Workload[] = [
  fromBench(mlp(1)),
  fromBench(cnn(1)),
  gemm(1, 784, 128),
  gemm(64, 64, 64),
  { ...quantizedMlp(), int8: true },
  { ...quantizedCnn(), int8: true },
  { ...quantizedDepthwise(), int8: true },
];

/** Compiles `w` for `targetName`, runs it as counting firmware, checks it against the interpreter. */
export async function countWorkload(
  w: Workload,
  targetName: string,
  work = WORK,
): Promise<{ instructions: number; ok: boolean; message: string }> {
  const target = lookupTarget(targetName);
  const dir = join(work, `${targetName}_${w.name}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const m = importModule(new SourceFile(`${w.name}.mlir`, w.mlir));
  const r = compile(m, {
    entry: 'main',
    prefix: 'model',
    sourceName: `${w.name}.mlir`,
    cc: compilerOf(target, undefined),
    target,
  });
  writeFiles(dir, r);
  await buildLibrary(dir, r, 'model');
  const f = m.funcs.get('main')!;
  const args = randomInputs(f, 1, m) as Tensor[];
  const elf = await buildExecutable(dir, r, undefined, firmwareFiles(r, 'model', args, true), FIRMWARE_ELF, {
    linkFlags: FIRMWARE_LINK_FLAGS,
  });
  const { outputs, instructions } = await countFirmware(target, elf, r.outputs);
  const expected = flattenTuples(new Interpreter(m).runFunc(f, args)) as Tensor[];
  const diffs = expected.map((want, i) => compareTensors(outputs[i]!, want, undefined, integerBound(m)));
  const bad = diffs.find((d) => !d.ok);
  return { instructions, ok: !bad, message: bad ? bad.message : 'outputs match the interpreter' };
}

async function main(): Promise<number> {
  console.log(
    `xla-aot bench-embedded: instructions per inference under QEMU -icount (deterministic), targets ${TARGETS.join(', ')} (and cortex-m3 for int8)`,
  );
  const json: Record<string, number> = {};
  let failed = 0;
  for (const targetName of [...TARGETS, 'cortex-m3'])
    for (const w of WORKLOADS.filter((x) => x.int8 || targetName !== 'cortex-m3')) {
      const label = `${targetName} ${w.name} (${(w.macs / 1e6).toFixed(2)} M MACs)`;
      try {
        const c = await countWorkload(w, targetName);
        const perMac = c.instructions / w.macs;
        if (!c.ok) {
          failed++;
          console.log(`${label}: FAILED: ${c.message}`);
          continue;
        }
        console.log(
          `${label}: ${(c.instructions / 1e6).toFixed(3)} M instructions, ${perMac.toFixed(3)} per MAC (${c.message})`,
        );
        json[`${targetName}.${w.name}.instructions`] = c.instructions;
        json[`${targetName}.${w.name}.per_mac`] = Number(perMac.toFixed(4));
      } catch (e) {
        failed++;
        console.log(`${label}: FAILED: ${(e as Error).message.split('\n')[0]}`);
      }
    }
  console.log(JSON.stringify(json));
  return failed ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  main().then((code) => process.exit(code));
