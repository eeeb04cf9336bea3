/* runtime-lite communicator, threads: N devices as N threads of one process (rl_comm.h). For
 * tests, for multi-core machines, and later for multi-core microcontrollers.
 *
 * Shared memory makes every collective two barriers: each device publishes its send pointer,
 * waits until all have, reads what it needs straight from the others' buffers into its own recv,
 * and waits again before anyone goes on (and may overwrite a buffer another still reads). All N
 * devices meet at every collective, group or not: an SPMD program calls each one on every device.
 * Reductions fold in group order on each device, so every device gets the same bits, and the
 * same as the reference interpreter. Point-to-point messages go through one mailbox: a send
 * copies its data into a message (malloc: the app's heap, as the threads are) and a recv takes
 * the first message for it on its channel from its peer. */
#define _POSIX_C_SOURCE 200112L /* pthread barriers */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "rl_comm.h"

#define RL_COMM_MAX_DEVICES 1024

typedef struct rl_comm_message {
  struct rl_comm_message* next;
  int32_t channel, source, target;
  size_t bytes;
  /* the data follows */
} rl_comm_message_t;

typedef struct {
  int devices;
  pthread_barrier_t barrier;
  const void* send[RL_COMM_MAX_DEVICES];
  pthread_mutex_t mail_lock;
  pthread_cond_t mail_arrived;
  rl_comm_message_t* mail; /* in the order sent */
} rl_comm_world_t;

struct rl_comm {
  rl_comm_world_t* world;
  int device;
  rl_device_main_t main;
  void* arg;
  int result;
};

int rl_comm_device(const rl_comm_t* c) { return c->device; }
int rl_comm_devices(const rl_comm_t* c) { return c->world->devices; }

/* Publishes this device's send buffer; returns when every device has. */
static void rl_comm_publish(rl_comm_t* c, const void* send) {
  c->world->send[c->device] = send;
  pthread_barrier_wait(&c->world->barrier);
}

/* Returns when every device is done reading the published buffers. */
static void rl_comm_done(rl_comm_t* c) { pthread_barrier_wait(&c->world->barrier); }

static int rl_comm_place(const rl_comm_t* c, rl_group_t g) {
  for (int32_t i = 0; i < g.size; i++)
    if (g.members[i] == c->device) return i;
  return -1;
}

static int rl_comm_valid(const rl_comm_t* c, rl_group_t g) {
  for (int32_t i = 0; i < g.size; i++)
    if (g.members[i] < 0 || g.members[i] >= c->world->devices) return 0;
  return g.size == 0 || rl_comm_place(c, g) >= 0;
}

/* recv = fold over the group of chunk `chunk` (count elements) of each member's send buffer. */
static rl_status_t rl_comm_reduce_chunk(rl_comm_t* c, rl_group_t g, rl_reduce_t op, rl_dtype_t t, void* recv,
                                        size_t count, size_t chunk) {
  size_t bytes = count * rl_comm_elem_bytes(t);
  rl_status_t st = RL_OK;
  for (int32_t i = 0; i < g.size && st == RL_OK; i++) {
    const uint8_t* src = (const uint8_t*)c->world->send[g.members[i]] + chunk * bytes;
    if (i == 0) memcpy(recv, src, bytes);
    else st = rl_comm_fold(op, t, recv, src, count);
  }
  return st;
}

/* Every device passes both barriers of every collective, even with arguments it refuses: a
 * device that returned early would leave the others waiting for good. */
#define RL_COMM_STEP(c, ok, send, work) \
  do {                                  \
    rl_status_t st_ = RL_OK;            \
    rl_comm_publish(c, send);           \
    if (ok) st_ = (work);               \
    rl_comm_done(c);                    \
    return (ok) ? st_ : RL_INVALID_ARGUMENT; \
  } while (0)

static rl_status_t rl_comm_gather_chunks(rl_comm_t* c, rl_group_t g, void* recv, size_t bytes, size_t chunk) {
  for (int32_t i = 0; i < g.size; i++)
    memcpy((uint8_t*)recv + (size_t)i * bytes, (const uint8_t*)c->world->send[g.members[i]] + chunk * bytes, bytes);
  return RL_OK;
}

static rl_status_t rl_comm_copy_or_zero(void* recv, const void* src, size_t bytes) {
  if (src) memcpy(recv, src, bytes);
  else memset(recv, 0, bytes);
  return RL_OK;
}

rl_status_t rl_comm_all_reduce(rl_comm_t* c, rl_group_t g, rl_reduce_t op, rl_dtype_t t, const void* send, void* recv,
                               size_t count) {
  RL_COMM_STEP(c, rl_comm_valid(c, g) && g.size > 0, send, rl_comm_reduce_chunk(c, g, op, t, recv, count, 0));
}

rl_status_t rl_comm_reduce_scatter(rl_comm_t* c, rl_group_t g, rl_reduce_t op, rl_dtype_t t, const void* send,
                                   void* recv, size_t count) {
  int ok = rl_comm_valid(c, g) && g.size > 0;
  RL_COMM_STEP(c, ok, send, rl_comm_reduce_chunk(c, g, op, t, recv, count, (size_t)rl_comm_place(c, g)));
}

/* chunk 0 of every member (all_gather): recv = their whole send buffers in group order. */
rl_status_t rl_comm_all_gather(rl_comm_t* c, rl_group_t g, const void* send, void* recv, size_t bytes) {
  RL_COMM_STEP(c, rl_comm_valid(c, g) && g.size > 0, send, rl_comm_gather_chunks(c, g, recv, bytes, 0));
}

/* chunk `place` of every member: what each addressed to this device. */
rl_status_t rl_comm_all_to_all(rl_comm_t* c, rl_group_t g, const void* send, void* recv, size_t bytes) {
  int ok = rl_comm_valid(c, g) && g.size > 0;
  RL_COMM_STEP(c, ok, send, rl_comm_gather_chunks(c, g, recv, bytes, (size_t)rl_comm_place(c, g)));
}

/* The receiving side reads its source's buffer: a target needs nothing from its source here. */
rl_status_t rl_comm_permute(rl_comm_t* c, int32_t source, int32_t target, const void* send, void* recv, size_t bytes) {
  int ok = source < c->world->devices && target < c->world->devices;
  RL_COMM_STEP(c, ok, send, rl_comm_copy_or_zero(recv, source < 0 ? NULL : c->world->send[source], bytes));
}

rl_status_t rl_comm_broadcast(rl_comm_t* c, rl_group_t g, int32_t root, const void* send, void* recv, size_t bytes) {
  int ok = rl_comm_valid(c, g) && (g.size == 0 || (root >= 0 && root < g.size));
  RL_COMM_STEP(c, ok, send, rl_comm_copy_or_zero(recv, g.size ? c->world->send[g.members[root]] : NULL, bytes));
}

rl_status_t rl_comm_send(rl_comm_t* c, int32_t channel, int32_t peer, const void* data, size_t bytes) {
  rl_comm_world_t* w = c->world;
  if (peer < 0 || peer >= w->devices) return RL_INVALID_ARGUMENT;
  rl_comm_message_t* m = (rl_comm_message_t*)malloc(sizeof(rl_comm_message_t) + bytes);
  if (!m) return RL_INTERNAL;
  *m = (rl_comm_message_t){NULL, channel, c->device, peer, bytes};
  if (bytes) memcpy(m + 1, data, bytes);
  pthread_mutex_lock(&w->mail_lock);
  rl_comm_message_t** end = &w->mail;
  while (*end) end = &(*end)->next;
  *end = m;
  pthread_cond_broadcast(&w->mail_arrived);
  pthread_mutex_unlock(&w->mail_lock);
  return RL_OK;
}

rl_status_t rl_comm_recv(rl_comm_t* c, int32_t channel, int32_t peer, void* data, size_t bytes) {
  rl_comm_world_t* w = c->world;
  if (peer < 0 || peer >= w->devices) return RL_INVALID_ARGUMENT;
  pthread_mutex_lock(&w->mail_lock);
  rl_comm_message_t** at;
  for (;;) {
    for (at = &w->mail; *at; at = &(*at)->next)
      if ((*at)->channel == channel && (*at)->source == peer && (*at)->target == c->device) break;
    if (*at) break;
    pthread_cond_wait(&w->mail_arrived, &w->mail_lock);
  }
  rl_comm_message_t* m = *at;
  *at = m->next;
  pthread_mutex_unlock(&w->mail_lock);
  rl_status_t st = m->bytes == bytes ? RL_OK : RL_INVALID_ARGUMENT;
  if (st == RL_OK && bytes) memcpy(data, m + 1, bytes);
  free(m);
  return st;
}

static void* rl_comm_thread(void* p) {
  rl_comm_t* c = (rl_comm_t*)p;
  c->result = c->main(c, c->arg);
  return NULL;
}

int rl_comm_launch(int devices, rl_device_main_t device_main, void* arg, int* argc, char*** argv) {
  (void)argc;
  (void)argv;
  if (devices < 1 || devices > RL_COMM_MAX_DEVICES) return 1;
  rl_comm_world_t* world = (rl_comm_world_t*)calloc(1, sizeof(rl_comm_world_t));
  rl_comm_t* comms = (rl_comm_t*)calloc((size_t)devices, sizeof(rl_comm_t));
  pthread_t* threads = (pthread_t*)calloc((size_t)devices, sizeof(pthread_t));
  int result = 1;
  if (world && comms && threads && pthread_barrier_init(&world->barrier, NULL, (unsigned)devices) == 0 &&
      pthread_mutex_init(&world->mail_lock, NULL) == 0 && pthread_cond_init(&world->mail_arrived, NULL) == 0) {
    world->devices = devices;
    for (int d = 0; d < devices; d++) comms[d] = (rl_comm_t){world, d, device_main, arg, 0};
    /* Device 0 runs on the calling thread. A thread that cannot start leaves those started
     * waiting at their first collective for good: report it, and leave their state alone. */
    for (int d = 1; d < devices; d++)
      if (pthread_create(&threads[d], NULL, rl_comm_thread, &comms[d]) != 0) return 1;
    rl_comm_thread(&comms[0]);
    result = 0;
    for (int d = 1; d < devices; d++) pthread_join(threads[d], NULL);
    for (int d = 0; d < devices && result == 0; d++) result = comms[d].result;
    pthread_barrier_destroy(&world->barrier);
    pthread_mutex_destroy(&world->mail_lock);
    pthread_cond_destroy(&world->mail_arrived);
    while (world->mail) { /* sent, never received */
      rl_comm_message_t* m = world->mail;
      world->mail = m->next;
      free(m);
    }
  }
  free(threads);
  free(comms);
  free(world);
  return result;
}
