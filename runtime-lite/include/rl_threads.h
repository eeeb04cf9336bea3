/* runtime-lite thread pool for models compiled with --threads N (hosted targets, POSIX threads).
 * No allocation: the pool lives in the caller's arena; PREFIX_init starts N-1 workers and
 * PREFIX_fini joins them. rl_pool_run splits [0, n) into N contiguous chunks, runs chunk 0 on the
 * calling thread and returns when every chunk is done. Each chunk writes disjoint outputs, so the
 * results are bitwise identical to a single-threaded run. */
#ifndef RL_THREADS_H
#define RL_THREADS_H

#include <pthread.h>
#include <stdint.h>

#define RL_MAX_THREADS 64

typedef void (*rl_task_fn)(void* ctx, int64_t begin, int64_t end);

struct rl_pool;
typedef struct {
  struct rl_pool* pool;
  int index;
} rl_worker_t;

typedef struct rl_pool {
  pthread_mutex_t mutex;
  pthread_cond_t work, done;
  int threads, stop, pending;
  uint64_t generation;
  rl_task_fn fn;
  void* ctx;
  int64_t n;
  pthread_t tid[RL_MAX_THREADS];
  rl_worker_t workers[RL_MAX_THREADS];
} rl_pool_t;

/* Bytes a pool takes in the arena, rounded to the arena alignment. */
#define RL_POOL_BYTES ((sizeof(rl_pool_t) + 63u) / 64u * 64u)

static inline void rl_pool_chunk(rl_pool_t* p, int index) {
  const int64_t begin = p->n * index / p->threads, end = p->n * (index + 1) / p->threads;
  if (begin < end) p->fn(p->ctx, begin, end);
}

static inline void* rl_pool_worker(void* arg) {
  rl_worker_t* w = (rl_worker_t*)arg;
  rl_pool_t* p = w->pool;
  uint64_t seen = 0;
  pthread_mutex_lock(&p->mutex);
  for (;;) {
    while (p->generation == seen && !p->stop) pthread_cond_wait(&p->work, &p->mutex);
    if (p->stop) break;
    seen = p->generation;
    pthread_mutex_unlock(&p->mutex);
    rl_pool_chunk(p, w->index);
    pthread_mutex_lock(&p->mutex);
    if (--p->pending == 0) pthread_cond_signal(&p->done);
  }
  pthread_mutex_unlock(&p->mutex);
  return NULL;
}

static inline int rl_pool_start(rl_pool_t* p, int threads) {
  if (threads < 1 || threads > RL_MAX_THREADS) return 1;
  p->threads = threads;
  p->stop = 0;
  p->pending = 0;
  p->generation = 0;
  if (pthread_mutex_init(&p->mutex, NULL) || pthread_cond_init(&p->work, NULL) || pthread_cond_init(&p->done, NULL)) return 1;
  for (int i = 1; i < threads; i++) {
    p->workers[i].pool = p;
    p->workers[i].index = i;
    if (pthread_create(&p->tid[i], NULL, rl_pool_worker, &p->workers[i])) {
      p->threads = i; /* stop the ones already running */
      return 1;
    }
  }
  return 0;
}

static inline void rl_pool_run(rl_pool_t* p, int64_t n, rl_task_fn fn, void* ctx) {
  pthread_mutex_lock(&p->mutex);
  p->fn = fn;
  p->ctx = ctx;
  p->n = n;
  p->pending = p->threads - 1;
  p->generation++;
  pthread_cond_broadcast(&p->work);
  pthread_mutex_unlock(&p->mutex);
  rl_pool_chunk(p, 0);
  pthread_mutex_lock(&p->mutex);
  while (p->pending > 0) pthread_cond_wait(&p->done, &p->mutex);
  pthread_mutex_unlock(&p->mutex);
}

static inline void rl_pool_stop(rl_pool_t* p) {
  pthread_mutex_lock(&p->mutex);
  p->stop = 1;
  pthread_cond_broadcast(&p->work);
  pthread_mutex_unlock(&p->mutex);
  for (int i = 1; i < p->threads; i++) pthread_join(p->tid[i], NULL);
  pthread_cond_destroy(&p->work);
  pthread_cond_destroy(&p->done);
  pthread_mutex_destroy(&p->mutex);
}

#endif /* RL_THREADS_H */
