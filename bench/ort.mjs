// ONNX Runtime side of `make bench`: median latency of session.run for one model, THREADS intra-op
// threads (default 1), sequential execution, all graph optimizations. Usage:
//   node ort.mjs MODEL.onnx INPUT.bin DIMS_JSON OUTPUT.bin SAMPLES MIN_SECONDS WARMUP [THREADS]
// Prints one JSON object {"ort_s": seconds per run}; writes the output tensor of the first run to
// OUTPUT.bin. WARMUP untimed runs follow it, as on the xla-aot side. With SAMPLES `lockstep` the
// driver paces the samples as for model_bench.c --lockstep: "ready", then one sample (its seconds
// per run, a line) per line read from stdin, until end of input.
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import ort from 'onnxruntime-node';

const [model, inputPath, dimsJson, outputPath, samplesArg, minSecondsArg, warmupArg, threadsArg] = process.argv.slice(2);
const session = await ort.InferenceSession.create(model, {
  intraOpNumThreads: Number(threadsArg ?? 1),
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
  executionProviders: ['cpu'],
});
const raw = readFileSync(inputPath);
const data = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));
const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, JSON.parse(dimsJson)) };
const outName = session.outputNames[0];
const result = await session.run(feeds);
const out = result[outName].data;
writeFileSync(outputPath, Buffer.from(out.buffer, out.byteOffset, out.byteLength));
for (let i = 0; i < Number(warmupArg); i++) await session.run(feeds);
async function sample() {
  let reps = 0;
  const t0 = process.hrtime.bigint();
  let t;
  do {
    await session.run(feeds);
    reps++;
    t = process.hrtime.bigint();
  } while (Number(t - t0) * 1e-9 < Number(minSecondsArg));
  return (Number(t - t0) * 1e-9) / reps;
}
if (samplesArg === 'lockstep') {
  console.log('ready');
  for await (const _ of createInterface({ input: process.stdin })) console.log(String(await sample()));
} else {
  const times = [];
  for (let s = 0; s < Number(samplesArg); s++) times.push(await sample());
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({ ort_s: times[Math.floor(times.length / 2)] }));
}
