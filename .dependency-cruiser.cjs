/**
 * The layering of src/ (ARCHITECTURE.md, CONTRIBUTING.md), checked in `make test` by
 * dependency-cruiser. From the top:
 *   cli, conformance, bench, fuzz  (drivers: may use everything, the interpreter included)
 *   toolchain                      (build, run, firmware, size report)
 *   pipeline                       (the phase list)
 *   emit-c, emit-cuda              (backends; never each other)
 *   emit-common                    (the C-style renderer shared by backends)
 *   kernel                         (the loop-nest kernel IR)
 *   import, canonicalize, partition, flat, fusion, memory, target  (tensor-level phases)
 *   ops, ir, diag, util            (the op table and the IR)
 * and, beside the compiler, interpret, which uses only ops/ir/diag/util. A module may import
 * its own layer or lower ones.
 */
const dir = (names) => `^src/(${names.join('|')})/`;
const DRIVERS = ['cli', 'conformance', 'bench', 'fuzz'];
const BOTTOM = ['ops', 'ir', 'diag', 'util'];
const MIDDLE = ['import', 'canonicalize', 'partition', 'flat', 'fusion', 'memory', 'target'];
const BACKENDS = ['emit-c', 'emit-cuda'];
const PIPELINE = '^src/pipeline[.]ts$';

/** `from` may not import anything in `to`. */
const forbid = (name, comment, from, to) => ({ name, comment, severity: 'error', from: { path: from }, to: { path: to } });

module.exports = {
  forbidden: [
    forbid('compiler-not-interpreter', 'The compiler never imports the reference interpreter: they check each other.',
      `${dir([...BOTTOM, ...MIDDLE, 'kernel', 'emit-common', ...BACKENDS, 'toolchain'])}|${PIPELINE}`, dir(['interpret'])),
    forbid('interpreter-only-ops-ir', 'The interpreter depends on the op table and the IR only.',
      dir(['interpret']), `^src/(?!(interpret|${BOTTOM.join('|')})/)`),
    forbid('bottom-layer', 'ops/ir/diag/util are the foundation: nothing above them.',
      dir(BOTTOM), `^src/(?!(${BOTTOM.join('|')})/)`),
    forbid('middle-below-kernels', 'Tensor-level phases know nothing of kernels, backends or drivers.',
      dir(MIDDLE), `${dir(['kernel', 'emit-common', ...BACKENDS, 'toolchain', 'interpret', ...DRIVERS])}|${PIPELINE}`),
    forbid('kernel-ir-target-neutral', 'The kernel IR is built by lowerings, printed by renderers: it imports no backend.',
      dir(['kernel']), `${dir(['emit-common', ...BACKENDS, 'toolchain', ...DRIVERS])}|${PIPELINE}`),
    forbid('renderer-shared', 'The C-style renderer is shared: it imports no backend.',
      dir(['emit-common']), `${dir([...BACKENDS, 'toolchain', ...DRIVERS])}|${PIPELINE}`),
    forbid('c-not-cuda', 'Backends are siblings.', dir(['emit-c']), dir(['emit-cuda'])),
    forbid('cuda-not-c', 'Backends are siblings.', dir(['emit-cuda']), dir(['emit-c'])),
    forbid('backends-below-pipeline', 'Backends are run by the pipeline, not the other way round.',
      dir(BACKENDS), `${dir(['toolchain', ...DRIVERS])}|${PIPELINE}`),
    forbid('pipeline-below-toolchain', 'The pipeline produces files; building and running them is the toolchain\'s.',
      PIPELINE, dir(['toolchain', ...DRIVERS])),
    forbid('toolchain-below-drivers', 'The toolchain serves the drivers.', dir(['toolchain']), dir(DRIVERS)),
    { name: 'no-cycles', comment: 'Module cycles hide layering mistakes.', severity: 'error', from: { path: '^src/' }, to: { circular: true } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
  },
};
