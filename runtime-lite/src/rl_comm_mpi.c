/* runtime-lite communicator, MPI: one process per device (rl_comm.h), so a program runs across
 * machines: build with mpicc, launch with `mpirun -np N ./app` (N = the program's devices).
 *
 * A collective's groups become MPI communicators of their members, ranked in group order
 * (MPI_Comm_split of the world, colored by the group's smallest member: the groups of one
 * collective are disjoint), made the first time the program reaches that collective and kept.
 * The cache is keyed by the collective's site (the address of this device's row of the program's
 * group table, given even to a device in no group): every device reaches the collectives in the
 * same order (SPMD), so every rank misses together and joins each split; a device in no group
 * splits with MPI_UNDEFINED.
 *
 * Sums and products of integers and f32/f64, and min/max/and/or/xor of integers, are MPI's own
 * reductions (MPI_Allreduce, MPI_Reduce_scatter_block: what MPI libraries make fast). Other
 * reducers and types (f16, bf16, booleans, float min/max, whose NaN rule MPI leaves open) gather
 * every member's buffer and fold in group order, as the threads implementation does.
 *
 * send / recv are MPI point-to-point messages on a duplicate of the world communicator (so their
 * tags, the channel ids, never meet collective_permute's), tagged with the channel. A send copies
 * its data and posts MPI_Isend, so it never waits for the receive; the copies are freed as the
 * sends complete, and every send is completed before MPI_Finalize. */
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rl_comm.h"

#define RL_COMM_MAX_GROUPS 4096
#define RL_COMM_MAX_PENDING 64

typedef struct {
  const int32_t* members; /* the site: a row of the program's static group table */
  int32_t size;
  MPI_Comm comm;
} rl_comm_group_t;

typedef struct {
  MPI_Request request;
  void* copy;
} rl_comm_pending_t;

struct rl_comm {
  int device;
  int devices;
  int groups;
  rl_comm_group_t group[RL_COMM_MAX_GROUPS];
  MPI_Comm p2p;
  int max_tag;
  int pending;
  rl_comm_pending_t sent[RL_COMM_MAX_PENDING]; /* sends not known to be complete */
};

int rl_comm_device(const rl_comm_t* c) { return c->device; }
int rl_comm_devices(const rl_comm_t* c) { return c->devices; }


/* This device's communicator for group g (MPI_COMM_NULL when g is empty); NULL on failure. */
static MPI_Comm* rl_comm_of(rl_comm_t* c, rl_group_t g) {
  for (int i = 0; i < c->groups; i++)
    if (c->group[i].members == g.members) return &c->group[i].comm;
  if (c->groups == RL_COMM_MAX_GROUPS) return NULL;
  int place = -1, color = MPI_UNDEFINED;
  for (int32_t i = 0; i < g.size; i++)
    if (g.members[i] == c->device) place = i;
  if (g.size > 0) {
    if (place < 0) return NULL;
    color = g.members[0];
    for (int32_t i = 1; i < g.size; i++)
      if (g.members[i] < color) color = g.members[i];
  }
  rl_comm_group_t* k = &c->group[c->groups];
  k->size = g.size;
  k->members = g.members;
  if (MPI_Comm_split(MPI_COMM_WORLD, color, place < 0 ? 0 : place, &k->comm) != MPI_SUCCESS) return NULL;
  c->groups++;
  return &k->comm;
}

/* MPI's own datatype and reduction for (t, op), when it has them with StableHLO's semantics. */
static int rl_comm_native(rl_dtype_t t, rl_reduce_t op, MPI_Datatype* type, MPI_Op* mop) {
  int is_float = t == RL_F32 || t == RL_F64;
  switch (t) {
    case RL_I8: *type = MPI_INT8_T; break;
    case RL_I16: *type = MPI_INT16_T; break;
    case RL_I32: *type = MPI_INT32_T; break;
    case RL_I64: *type = MPI_INT64_T; break;
    case RL_U8: *type = MPI_UINT8_T; break;
    case RL_U16: *type = MPI_UINT16_T; break;
    case RL_U32: *type = MPI_UINT32_T; break;
    case RL_U64: *type = MPI_UINT64_T; break;
    case RL_F32: *type = MPI_FLOAT; break;
    case RL_F64: *type = MPI_DOUBLE; break;
    default: return 0;
  }
  switch (op) {
    case RL_REDUCE_ADD: *mop = MPI_SUM; return 1;
    case RL_REDUCE_MUL: *mop = MPI_PROD; return 1;
    case RL_REDUCE_MIN: *mop = MPI_MIN; return !is_float;
    case RL_REDUCE_MAX: *mop = MPI_MAX; return !is_float;
    case RL_REDUCE_AND: *mop = MPI_BAND; return !is_float;
    case RL_REDUCE_OR: *mop = MPI_BOR; return !is_float;
    case RL_REDUCE_XOR: *mop = MPI_BXOR; return !is_float;
  }
  return 0;
}

#define RL_MPI(call) ((call) == MPI_SUCCESS ? RL_OK : RL_INTERNAL)

/* recv = fold in group order of chunk `chunk` (count elements) of every member's send buffer. */
static rl_status_t rl_comm_gather_fold(MPI_Comm comm, int members, rl_reduce_t op, rl_dtype_t t, const void* send,
                                       void* recv, size_t count, size_t chunks, size_t chunk) {
  size_t bytes = count * rl_comm_elem_bytes(t), all = bytes * chunks;
  uint8_t* gathered = (uint8_t*)malloc(all * (size_t)members + 1);
  if (!gathered) return RL_INTERNAL;
  rl_status_t st = RL_MPI(MPI_Allgather(send, (int)all, MPI_BYTE, gathered, (int)all, MPI_BYTE, comm));
  if (st == RL_OK) memcpy(recv, gathered + chunk * bytes, bytes);
  for (int i = 1; i < members && st == RL_OK; i++)
    st = rl_comm_fold(op, t, recv, gathered + (size_t)i * all + chunk * bytes, count);
  free(gathered);
  return st;
}

rl_status_t rl_comm_all_reduce(rl_comm_t* c, rl_group_t g, rl_reduce_t op, rl_dtype_t t, const void* send, void* recv,
                               size_t count) {
  MPI_Comm* comm = rl_comm_of(c, g);
  if (!comm || g.size == 0) return RL_INVALID_ARGUMENT;
  MPI_Datatype type;
  MPI_Op mop;
  if (rl_comm_native(t, op, &type, &mop)) return RL_MPI(MPI_Allreduce(send, recv, (int)count, type, mop, *comm));
  return rl_comm_gather_fold(*comm, g.size, op, t, send, recv, count, 1, 0);
}

rl_status_t rl_comm_reduce_scatter(rl_comm_t* c, rl_group_t g, rl_reduce_t op, rl_dtype_t t, const void* send,
                                   void* recv, size_t count) {
  MPI_Comm* comm = rl_comm_of(c, g);
  if (!comm || g.size == 0) return RL_INVALID_ARGUMENT;
  MPI_Datatype type;
  MPI_Op mop;
  if (rl_comm_native(t, op, &type, &mop))
    return RL_MPI(MPI_Reduce_scatter_block(send, recv, (int)count, type, mop, *comm));
  int place;
  MPI_Comm_rank(*comm, &place);
  return rl_comm_gather_fold(*comm, g.size, op, t, send, recv, count, (size_t)g.size, (size_t)place);
}

rl_status_t rl_comm_all_gather(rl_comm_t* c, rl_group_t g, const void* send, void* recv, size_t bytes) {
  MPI_Comm* comm = rl_comm_of(c, g);
  if (!comm || g.size == 0) return RL_INVALID_ARGUMENT;
  return RL_MPI(MPI_Allgather(send, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE, *comm));
}

rl_status_t rl_comm_all_to_all(rl_comm_t* c, rl_group_t g, const void* send, void* recv, size_t bytes) {
  MPI_Comm* comm = rl_comm_of(c, g);
  if (!comm || g.size == 0) return RL_INVALID_ARGUMENT;
  return RL_MPI(MPI_Alltoall(send, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE, *comm));
}

rl_status_t rl_comm_permute(rl_comm_t* c, int32_t source, int32_t target, const void* send, void* recv, size_t bytes) {
  if (source >= c->devices || target >= c->devices) return RL_INVALID_ARGUMENT;
  if (source < 0) memset(recv, 0, bytes);
  MPI_Request req[2];
  int n = 0;
  if (source >= 0 && MPI_Irecv(recv, (int)bytes, MPI_BYTE, source, 0, MPI_COMM_WORLD, &req[n++]) != MPI_SUCCESS)
    return RL_INTERNAL;
  if (target >= 0 && MPI_Isend(send, (int)bytes, MPI_BYTE, target, 0, MPI_COMM_WORLD, &req[n++]) != MPI_SUCCESS)
    return RL_INTERNAL;
  return RL_MPI(MPI_Waitall(n, req, MPI_STATUSES_IGNORE));
}

rl_status_t rl_comm_broadcast(rl_comm_t* c, rl_group_t g, int32_t root, const void* send, void* recv, size_t bytes) {
  MPI_Comm* comm = rl_comm_of(c, g);
  if (!comm || (g.size > 0 && (root < 0 || root >= g.size))) return RL_INVALID_ARGUMENT;
  if (g.size == 0) {
    memset(recv, 0, bytes);
    return RL_OK;
  }
  if (g.members[root] == c->device) memcpy(recv, send, bytes);
  return RL_MPI(MPI_Bcast(recv, (int)bytes, MPI_BYTE, root, *comm));
}

/* Frees the copies of completed sends; with `all`, first waits for every send to complete. */
static rl_status_t rl_comm_complete_sends(rl_comm_t* c, int all) {
  int kept = 0;
  rl_status_t st = RL_OK;
  for (int i = 0; i < c->pending; i++) {
    int done = 1;
    if (all) st = MPI_Wait(&c->sent[i].request, MPI_STATUS_IGNORE) == MPI_SUCCESS ? st : RL_INTERNAL;
    else if (MPI_Test(&c->sent[i].request, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) st = RL_INTERNAL;
    if (done) free(c->sent[i].copy);
    else c->sent[kept++] = c->sent[i];
  }
  c->pending = kept;
  return st;
}

rl_status_t rl_comm_send(rl_comm_t* c, int32_t channel, int32_t peer, const void* data, size_t bytes) {
  if (peer < 0 || peer >= c->devices) return RL_INVALID_ARGUMENT;
  if (channel < 0 || channel > c->max_tag || bytes > (size_t)INT_MAX) return RL_OUT_OF_RANGE;
  rl_status_t st = rl_comm_complete_sends(c, 0);
  if (st == RL_OK && c->pending == RL_COMM_MAX_PENDING) st = rl_comm_complete_sends(c, 1);
  if (st != RL_OK) return st;
  rl_comm_pending_t* p = &c->sent[c->pending];
  p->copy = malloc(bytes ? bytes : 1);
  if (!p->copy) return RL_INTERNAL;
  if (bytes) memcpy(p->copy, data, bytes);
  if (MPI_Isend(p->copy, (int)bytes, MPI_BYTE, peer, channel, c->p2p, &p->request) != MPI_SUCCESS) {
    free(p->copy);
    return RL_INTERNAL;
  }
  c->pending++;
  return RL_OK;
}

rl_status_t rl_comm_recv(rl_comm_t* c, int32_t channel, int32_t peer, void* data, size_t bytes) {
  if (peer < 0 || peer >= c->devices) return RL_INVALID_ARGUMENT;
  if (channel < 0 || channel > c->max_tag || bytes > (size_t)INT_MAX) return RL_OUT_OF_RANGE;
  /* Probe first: a message of another size is an error here, not MPI's truncation abort. */
  MPI_Status status;
  int got;
  if (MPI_Probe(peer, channel, c->p2p, &status) != MPI_SUCCESS || MPI_Get_count(&status, MPI_BYTE, &got) != MPI_SUCCESS)
    return RL_INTERNAL;
  if ((size_t)got != bytes) return RL_INVALID_ARGUMENT;
  return RL_MPI(MPI_Recv(data, (int)bytes, MPI_BYTE, peer, channel, c->p2p, MPI_STATUS_IGNORE));
}

int rl_comm_launch(int devices, rl_device_main_t device_main, void* arg, int* argc, char*** argv) {
  if (MPI_Init(argc, argv) != MPI_SUCCESS) return 1;
  rl_comm_t* c = (rl_comm_t*)calloc(1, sizeof(rl_comm_t));
  int result = 1;
  if (c) {
    MPI_Comm_rank(MPI_COMM_WORLD, &c->device);
    MPI_Comm_size(MPI_COMM_WORLD, &c->devices);
    int* tag_ub = NULL;
    int has_tag_ub = 0;
    MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &tag_ub, &has_tag_ub);
    c->max_tag = has_tag_ub && tag_ub ? *tag_ub : 32767; /* the least MPI promises */
    if (MPI_Comm_dup(MPI_COMM_WORLD, &c->p2p) != MPI_SUCCESS) c->p2p = MPI_COMM_NULL;
    if (c->p2p == MPI_COMM_NULL)
      fprintf(stderr, "rl_comm: device %d cannot duplicate MPI_COMM_WORLD\n", c->device);
    else if (c->devices == devices) {
      result = device_main(c, arg);
      if (rl_comm_complete_sends(c, result == 0) != RL_OK && result == 0) result = 1;
    } else if (c->device == 0)
      fprintf(stderr, "rl_comm: this program runs on %d devices; launch it with mpirun -np %d (got %d)\n", devices,
              devices, c->devices);
    for (int i = 0; i < c->groups; i++)
      if (c->group[i].comm != MPI_COMM_NULL) MPI_Comm_free(&c->group[i].comm);
    if (c->p2p != MPI_COMM_NULL) MPI_Comm_free(&c->p2p);
  }
  free(c);
  /* One device's failure is the program's: the others may be waiting in a collective for it. */
  if (result != 0) MPI_Abort(MPI_COMM_WORLD, result);
  MPI_Finalize();
  return result;
}
