import t from 'tap';
import { HAVE_GPU, HAVE_NVCC, judgeCuda, NO_GPU, NO_NVCC } from '../helpers/cuda.js';
import { HAVE_SHARED } from '../helpers/paths.js';

// The CUDA backend over all the conformance data (helpers/cuda.ts judgeCuda), emulated on this
// CPU after nvcc built every batch for sm_80 and sm_90, and on a GPU where this machine has one.

t.test(
  'CUDA (nvcc-built, emulated) passes the conformance cases the C backend passes',
  { skip: HAVE_SHARED ? false : 'no ../shared/conformance' },
  async (t) => {
    if (!HAVE_NVCC) t.comment(NO_NVCC);
    // The cases are small: g++ -O0 builds them faster than -O1 and computes the same IEEE values.
    await judgeCuda(t, {
      jobs: 2,
      backend: 'cuda',
      flags: ['-O0'],
      ...(HAVE_NVCC ? { gpuArchs: ['sm_80', 'sm_90'] } : {}),
    });
  },
);

t.test(
  'CUDA on the GPU passes the conformance cases the C backend passes',
  { skip: !HAVE_SHARED ? 'no ../shared/conformance' : HAVE_GPU ? false : NO_GPU },
  (t) => judgeCuda(t, { jobs: 2, backend: 'cuda', device: true }),
);
