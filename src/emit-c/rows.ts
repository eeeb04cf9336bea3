/**
 * @fileoverview Kernels whose work is a loop over independent rows [0, rows) (output rows of a
 * convolution, the outermost dim of a fused loop or pooling): the body is written once for a range
 * [row_begin, row_end) in a function of its own, which the kernel calls for all rows, or, with
 * --threads, which rl_pool_run calls for each thread's contiguous share. Every row is computed by
 * one thread in the same order, so results are bitwise those of one thread.
 */
import { CodeWriter } from '../emit-common/code-writer.js';
import { kernelOpening, type KernelParam } from '../emit-common/kernel.js';

/** Rows below this many elements of work stay on one thread: a pool round trip costs microseconds. */
export const PARALLEL_MIN_ELEMENTS = 32768;

/** The C of `name`: a job struct with the pointer parameters, `name_rows(job, row_begin, row_end)`
 * with `body`, and the kernel calling it (through the pool when `parallel`; params then include `pool`). */
export function emitRowsKernel(
  name: string,
  params: readonly KernelParam[],
  rows: number,
  parallel: boolean,
  body: (w: CodeWriter) => void,
): string {
  const w = new CodeWriter();
  const fields = params.filter((x) => x.name !== 'scratch' && x.name !== 'pool');
  // Fields keep the parameters' qualifiers (a restrict-qualified member is plain C99).
  w.line(`typedef struct { ${fields.map((x) => `${x.cType} ${x.name};`).join(' ')} } ${name}_job_t;`);
  w.block(`static void ${name}_rows(void* job_, rl_index_t row_begin, rl_index_t row_end) {`, () => {
    w.line(`const ${name}_job_t* job = (const ${name}_job_t*)job_;`);
    // A field the body never reads (KernelParam.unread) is not unpacked: -Werror rejects unused locals.
    for (const x of fields) w.line(x.unread ? `(void)job->${x.name};` : `${x.cType} ${x.name} = job->${x.name};`);
    body(w);
  });
  w.line('');
  w.block(kernelOpening(name, params), () => {
    w.line(`${name}_job_t job = {${fields.map((x) => x.name).join(', ')}};`);
    if (params.some((x) => x.name === 'scratch')) w.line('(void)scratch;');
    if (parallel) w.line(`rl_pool_run(pool, ${rows}, ${name}_rows, &job); /* rows split across the pool's threads */`);
    else w.line(`${name}_rows(&job, 0, ${rows});`);
  });
  return w.toString();
}
