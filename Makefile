# xla-aot: build, test and run targets. Every target installs what it needs (npm ci) first.
SHELL := /bin/bash
NODE_MODULES := node_modules/.package-lock.json
CONFORMANCE ?= ../shared/conformance
MODELS ?= ../shared/models
CLI := node dist/src/cli/main.js

.PHONY: all build test run bench bench-embedded bench-gpu clean conformance toolchains fuzz layers style test-gpu gpu-bundle gpu-judge

all: build

$(NODE_MODULES): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

dist/.built: $(NODE_MODULES) tsconfig.json $(shell find src test -name '*.ts')
	npx tsc -p tsconfig.json
	chmod +x dist/src/cli/main.js
	@touch $@

build: dist/.built

# Compiles the bundled example model (IREE fully-connected net) to C, runs it on the inputs of its
# upstream test, prints the outputs and their diff against the reference interpreter.
run: build
	$(CLI) run $(MODELS)/iree_e2e_fullyconnected.mlir --backend c \
	  --input=1x5xf32=1,-2,-3,4,-5 \
	  --input=1x5x3x1xf32=15,14,13,12,11,10,9,8,7,6,5,4,3,2,1 \
	  --output-dir out/run

# gcc comes with the machine; from Debian's packages: g++ (builds the CUDA backend's emulated
# tests), clang (the other host compiler), the cross
# compilers of the targets (src/target/targets.ts; a test checks this list covers them) and QEMU.
# --no-install-recommends would drop the cross libc headers, so they are listed explicitly.
TOOLCHAIN_PACKAGES := g++ clang libopenmpi-dev openmpi-bin gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
toolchains:
	@missing=$$(for p in $(TOOLCHAIN_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing toolchains:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# The import rules between src/ folders (.dependency-cruiser.cjs: the compiler never imports the
# interpreter, lower layers never import higher ones, no cycles).
layers: $(NODE_MODULES)
	npx depcruise src --config .dependency-cruiser.cjs --output-type err

# Source formatting (prettier, .prettierrc.json: 120 columns); `npx prettier --write src test` fixes it.
style: $(NODE_MODULES)
	npx prettier --check 'src/**/*.ts' 'test/**/*.ts'

# One more test file at a time than cores: two at a time on two cores left one core idle for much
# of the run (the interpreter phases are single-threaded, QEMU and mpirun wait).
test: build toolchains layers style
	npx tap --disable-coverage --allow-incomplete-coverage --reporter=tap --timeout=600 --jobs=$$(( $$(nproc) + 1 )) 'dist/test/**/*.test.js'

# The CUDA checks on a GPU: with nvidia-smi finding one, the model tests (test/helpers/models.ts
# checkCuda) and the conformance test also run the nvcc builds on the device and diff them against
# the interpreter (make test runs them emulated on the CPU and compiles them with nvcc).
test-gpu: build
	@nvidia-smi -L >/dev/null 2>&1 || { echo "make test-gpu: no GPU on this machine (nvidia-smi -L failed)"; exit 1; }
	npx tap --disable-coverage --allow-incomplete-coverage --reporter=tap --timeout=600 dist/test/e2e/cuda.test.js 'dist/test/e2e/models-*.test.js' dist/test/e2e/conformance-cuda.test.js

# Speed on microcontrollers, deterministic: the bench models and GEMMs as Cortex-M4/M7/M55 firmware
# under QEMU -icount, instructions per inference and per multiply-accumulate (src/bench/embedded.ts).
bench-embedded: build toolchains
	node dist/src/bench/embedded.js

# The CUDA backend's speed on this machine's GPU (src/bench/gpu.ts): GEMM TFLOP/s against the
# peak and cuBLAS, elementwise and reduction GB/s against memory bandwidth. Needs a GPU.
bench-gpu: build
	node dist/src/bench/gpu.js

# For a GPU machine without node: gpu-bundle builds here, with nvcc for GPU_ARCH, what test-gpu and
# bench-gpu run (out/gpu-bundle/bundle.tar.xz); there, `tar xf bundle.tar.xz && ./run.sh results`;
# with those results back in out/gpu-bundle/results, gpu-judge checks them as test-gpu would and
# prints bench-gpu's report (test/gpu/bundle.ts).
GPU_ARCH ?= sm_90a
GPU_MAX_MODEL_MB ?= 0
gpu-bundle: build
	node dist/test/gpu/pack.js out/gpu-bundle $(GPU_ARCH) $(GPU_MAX_MODEL_MB)

gpu-judge: build
	GPU_BUNDLE=out/gpu-bundle npx tap --disable-coverage --allow-incomplete-coverage --reporter=tap --timeout=1800 dist/test/gpu/judge.js

conformance: build
	$(CLI) conformance $(CONFORMANCE) --json --jobs 2

# Long mutation-fuzzing run (make test runs a bounded one): mutants of the models, the exports and
# the conformance files must end in a located diagnostic or compile, run clean under ASan+UBSan
# and match the interpreter. FUZZ_SECONDS and FUZZ_SEED to vary it.
FUZZ_SECONDS ?= 1800
FUZZ_SEED ?= 1
fuzz: build
	$(CLI) fuzz $(MODELS) ../shared/exports $(CONFORMANCE)/interpret test/fixtures/ops test/fixtures/spmd --seconds $(FUZZ_SECONDS) --seed $(FUZZ_SEED) --sanitize

# The references of the benchmark: OpenBLAS from Debian, ONNX Runtime from npm in bench/ (its own
# package: 288 MB that tests do not need). ONNXRUNTIME_NODE_INSTALL=skip: the CPU build is bundled;
# the install script would only try to download GPU providers.
BENCH_MODULES := bench/node_modules/.package-lock.json
$(BENCH_MODULES): bench/package.json bench/package-lock.json
	cd bench && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
	@touch $@

bench: build $(BENCH_MODULES)
	@dpkg-query -W -f='$${Status}' libopenblas-dev 2>/dev/null | grep -q 'ok installed' || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libopenblas-dev libopenblas0-pthread >/dev/null; }
	node dist/src/bench/main.js

clean:
	rm -rf dist out .tap bench/node_modules
