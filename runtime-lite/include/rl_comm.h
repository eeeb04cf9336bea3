/* runtime-lite communicator: what the SPMD programs of `xla-aot --devices N` call for StableHLO's
 * collectives. One interface, implementations chosen at build time (one .c file each, linked with
 * the model): rl_comm_threads.c (N devices as N threads of one process, POSIX threads) and
 * rl_comm_mpi.c (one MPI process per device: `mpirun -np N`). An NCCL one would be one more file.
 *
 * Devices are numbered 0..N-1 as StableHLO flattens its process grid: device = replica *
 * num_partitions + partition. A collective's participants are passed as this device's group: its
 * members' device ids in group order (the compiler resolves replica_groups, channel ids and
 * use_global_device_ids into these lists at compile time, per device). Every device calls every
 * collective of the program, in program order (SPMD), whether or not it is in a group; send and
 * recv involve their two devices only (devices may then run different programs: MPMD).
 *
 * Buffers: `send` is read, `recv` written; they never overlap (the memory plan keeps them apart).
 * Layouts are the simplest ones: gathers and all-to-all exchange contiguous chunks in group order
 * (the compiler transposes a collective along another dimension into this form first). Every call
 * returns RL_OK, or an error the generated code passes on as its run's result. */
#ifndef RL_COMM_H
#define RL_COMM_H

#include "rl.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The devices' shared state, defined by the implementation; generated code only passes it on. */
typedef struct rl_comm rl_comm_t;

/** A device's group for one collective: `size` device ids in group order (`size` 0: in no group). */
typedef struct {
  const int32_t* members;
  int32_t size;
} rl_group_t;

/** The reducers StableHLO programs write as a region of one binary op. */
typedef enum { RL_REDUCE_ADD, RL_REDUCE_MUL, RL_REDUCE_MIN, RL_REDUCE_MAX, RL_REDUCE_AND, RL_REDUCE_OR, RL_REDUCE_XOR } rl_reduce_t;

/** This device's id, and the number of devices. */
int rl_comm_device(const rl_comm_t* c);
int rl_comm_devices(const rl_comm_t* c);

/** recv[i] = send[i] of member 0 (op) send[i] of member 1 (op) ..., folded left in group order. */
rl_status_t rl_comm_all_reduce(rl_comm_t* c, rl_group_t g, rl_reduce_t op, rl_dtype_t t, const void* send, void* recv,
                               size_t count);
/** send holds g.size chunks of `count` elements; recv = chunk k of the all-reduce, k this device's
 * place in the group. */
rl_status_t rl_comm_reduce_scatter(rl_comm_t* c, rl_group_t g, rl_reduce_t op, rl_dtype_t t, const void* send,
                                   void* recv, size_t count);
/** recv = the members' `bytes`-byte send buffers one after another, in group order. */
rl_status_t rl_comm_all_gather(rl_comm_t* c, rl_group_t g, const void* send, void* recv, size_t bytes);
/** send and recv hold g.size chunks of `bytes`: chunk j of send goes to member j; chunk i of recv
 * comes from member i. */
rl_status_t rl_comm_all_to_all(rl_comm_t* c, rl_group_t g, const void* send, void* recv, size_t bytes);
/** recv = send of device `source` (zeros when source < 0); this device's send goes to `target`
 * (nowhere when target < 0). */
rl_status_t rl_comm_permute(rl_comm_t* c, int32_t source, int32_t target, const void* send, void* recv, size_t bytes);
/** recv = send of member `root` of the group (zeros for a device in no group). */
rl_status_t rl_comm_broadcast(rl_comm_t* c, rl_group_t g, int32_t root, const void* send, void* recv, size_t bytes);

/** Point to point (StableHLO send / recv): only the two devices take part. A send copies its
 * `bytes` bytes out and returns (it never waits for the receive); a recv waits for the next
 * message from device `peer` on `channel`, which must have `bytes` bytes. Messages of one channel
 * between two devices arrive in the order they were sent. */
rl_status_t rl_comm_send(rl_comm_t* c, int32_t channel, int32_t peer, const void* data, size_t bytes);
rl_status_t rl_comm_recv(rl_comm_t* c, int32_t channel, int32_t peer, void* data, size_t bytes);

/** Runs device_main once per device, each with its communicator, and returns the first non-zero
 * result (0 when all succeed). threads: `devices` threads in this process. MPI: this process is
 * one device (its rank); `devices` must equal the number of ranks; MPI_Init/MPI_Finalize here. */
typedef int (*rl_device_main_t)(rl_comm_t* c, void* arg);
int rl_comm_launch(int devices, rl_device_main_t device_main, void* arg, int* argc, char*** argv);

/* ---- for the implementations: acc[i] = acc[i] (op) x[i], in the element type's own arithmetic ---- */

/* Add and multiply wrap (two's complement), in the unsigned type U that T promotes to at least. */
#define RL_COMM_FOLD_INT(T, U)                                                       \
  {                                                                                  \
    T* a = (T*)acc;                                                                  \
    const T* b = (const T*)x;                                                        \
    for (size_t i = 0; i < count; i++) switch (op) {                                 \
        case RL_REDUCE_ADD: a[i] = (T)((U)a[i] + (U)b[i]); break;                    \
        case RL_REDUCE_MUL: a[i] = (T)((U)a[i] * (U)b[i]); break;                    \
        case RL_REDUCE_MIN: a[i] = b[i] < a[i] ? b[i] : a[i]; break;                 \
        case RL_REDUCE_MAX: a[i] = b[i] > a[i] ? b[i] : a[i]; break;                 \
        case RL_REDUCE_AND: a[i] = (T)(a[i] & b[i]); break;                          \
        case RL_REDUCE_OR: a[i] = (T)(a[i] | b[i]); break;                           \
        case RL_REDUCE_XOR: a[i] = (T)(a[i] ^ b[i]); break;                          \
      }                                                                              \
    return RL_OK;                                                                    \
  }

/* Float min/max propagate NaN, as StableHLO's do. */
#define RL_COMM_FOLD_FLOAT(T, LOAD, STORE)                                           \
  {                                                                                  \
    for (size_t i = 0; i < count; i++) {                                             \
      T p = LOAD(acc, i), q = LOAD(x, i), r;                                         \
      switch (op) {                                                                  \
        case RL_REDUCE_ADD: r = p + q; break;                                        \
        case RL_REDUCE_MUL: r = p * q; break;                                        \
        case RL_REDUCE_MIN: r = (p != p || q != q) ? p + q : (q < p ? q : p); break; \
        case RL_REDUCE_MAX: r = (p != p || q != q) ? p + q : (q > p ? q : p); break; \
        default: return RL_INVALID_ARGUMENT;                                         \
      }                                                                              \
      STORE(acc, i, r);                                                              \
    }                                                                                \
    return RL_OK;                                                                    \
  }

#define RL_COMM_LOAD_F32(p, i) (((const float*)(p))[i])
#define RL_COMM_STORE_F32(p, i, v) (((float*)(p))[i] = (v))
#define RL_COMM_LOAD_F64(p, i) (((const double*)(p))[i])
#define RL_COMM_STORE_F64(p, i, v) (((double*)(p))[i] = (v))
#define RL_COMM_LOAD_F16(p, i) rl_f16_to_f32(((const uint16_t*)(p))[i])
#define RL_COMM_STORE_F16(p, i, v) (((uint16_t*)(p))[i] = rl_f32_to_f16(v))
#define RL_COMM_LOAD_BF16(p, i) rl_bf16_to_f32(((const uint16_t*)(p))[i])
#define RL_COMM_STORE_BF16(p, i, v) (((uint16_t*)(p))[i] = rl_f32_to_bf16(v))

static inline rl_status_t rl_comm_fold(rl_reduce_t op, rl_dtype_t t, void* acc, const void* x, size_t count) {
  switch (t) {
    case RL_I1: /* booleans as 0/1 bytes: add is or, mul is and (XLA's PRED arithmetic) */
      if (op == RL_REDUCE_ADD || op == RL_REDUCE_MAX) op = RL_REDUCE_OR;
      if (op == RL_REDUCE_MUL || op == RL_REDUCE_MIN) op = RL_REDUCE_AND;
      RL_COMM_FOLD_INT(uint8_t, unsigned)
    case RL_I8: RL_COMM_FOLD_INT(int8_t, unsigned)
    case RL_I16: RL_COMM_FOLD_INT(int16_t, unsigned)
    case RL_I32: RL_COMM_FOLD_INT(int32_t, uint32_t)
    case RL_I64: RL_COMM_FOLD_INT(int64_t, uint64_t)
    case RL_U8: RL_COMM_FOLD_INT(uint8_t, unsigned)
    case RL_U16: RL_COMM_FOLD_INT(uint16_t, unsigned)
    case RL_U32: RL_COMM_FOLD_INT(uint32_t, uint32_t)
    case RL_U64: RL_COMM_FOLD_INT(uint64_t, uint64_t)
    case RL_F16: RL_COMM_FOLD_FLOAT(float, RL_COMM_LOAD_F16, RL_COMM_STORE_F16)
    case RL_BF16: RL_COMM_FOLD_FLOAT(float, RL_COMM_LOAD_BF16, RL_COMM_STORE_BF16)
    case RL_F32: RL_COMM_FOLD_FLOAT(float, RL_COMM_LOAD_F32, RL_COMM_STORE_F32)
    case RL_F64: RL_COMM_FOLD_FLOAT(double, RL_COMM_LOAD_F64, RL_COMM_STORE_F64)
    default: return RL_INVALID_ARGUMENT; /* complex: the compiler refuses these reducers */
  }
}

/** Bytes of one element of the types rl_comm_fold takes. */
static inline size_t rl_comm_elem_bytes(rl_dtype_t t) {
  switch (t) {
    case RL_I1: case RL_I8: case RL_U8: return 1;
    case RL_I16: case RL_U16: case RL_F16: case RL_BF16: return 2;
    case RL_I32: case RL_U32: case RL_F32: return 4;
    default: return 8;
  }
}

#ifdef __cplusplus
}
#endif

#endif /* RL_COMM_H */
