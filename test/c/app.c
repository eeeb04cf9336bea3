/* An application that uses a compiled model through model.h alone, as a user would:
 * caller-owned arena and I/O buffers, no knowledge of the generated internals.
 * Reads two raw f32 inputs given as argv[1], argv[2]; prints the output values. */
#include <stdio.h>
#include <stdlib.h>
#include "model.h"

static float input0[MODEL_INPUT0_BYTES / sizeof(float)];
static float input1[MODEL_INPUT1_BYTES / sizeof(float)];
static float output0[MODEL_OUTPUT0_BYTES / sizeof(float)];
/* The arena as a static buffer with the required alignment (C99: via a union). */
static union { long double align; unsigned char bytes[MODEL_ARENA_BYTES + MODEL_ARENA_ALIGNMENT]; } arena_storage;

static int load(const char* path, void* dst, size_t bytes) {
  FILE* f = fopen(path, "rb");
  if (!f) return 1;
  size_t n = fread(dst, 1, bytes, f);
  fclose(f);
  return n != bytes;
}

int main(int argc, char** argv) {
  if (argc != 3 || load(argv[1], input0, sizeof input0) || load(argv[2], input1, sizeof input1)) return 2;
  unsigned char* a = arena_storage.bytes;
  a += (MODEL_ARENA_ALIGNMENT - (uintptr_t)a % MODEL_ARENA_ALIGNMENT) % MODEL_ARENA_ALIGNMENT;
  const void* ins[MODEL_NUM_INPUTS] = {input0, input1};
  void* outs[MODEL_NUM_OUTPUTS] = {output0};
  if (model_init(a) != RL_OK) return 3;
  if (model_run(ins, outs, a) != RL_OK) return 3;
  /* A misaligned arena must be refused, not crash. */
  if (model_run(ins, outs, a + 1) != RL_INVALID_ARGUMENT || model_init(a + 1) != RL_INVALID_ARGUMENT) return 4;
  if (model_model.num_inputs != MODEL_NUM_INPUTS || model_model.abi_version != RL_ABI_VERSION) return 5;
  for (size_t i = 0; i < sizeof output0 / sizeof output0[0]; i++) printf("%.9g\n", (double)output0[i]);
  return 0;
}
