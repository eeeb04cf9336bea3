/* runtime-lite thread pool for models compiled with --threads N (hosted targets, POSIX threads).
 * No allocation: the pool lives in the caller's arena; PREFIX_init starts N-1 workers and
 * PREFIX_fini joins them. rl_pool_run splits [0, n) into N contiguous chunks, runs chunk 0 on the
 * calling thread and returns when every chunk is done. Each chunk writes disjoint outputs, so the
 * results are bitwise identical to a single-threaded run.
 *
 * A model calls rl_pool_run once per kernel (or block), microseconds apart: waking a sleeping
 * thread costs tens of microseconds, so both sides first spin on the shared counters for a while
 * (RL_POOL_SPINS polls) and only then sleep on the condition variables. The counters are read and
 * written with GCC/Clang atomic builtins; everything else a chunk reads is published by the
 * release store of `generation`. */
#ifndef RL_THREADS_H
#define RL_THREADS_H

#include <pthread.h>
#include <stdint.h>

#define RL_MAX_THREADS 64
#ifndef RL_POOL_SPINS
#define RL_POOL_SPINS 20000
#endif

static inline void rl_pool_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  __asm__ __volatile__("yield");
#endif
}

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
  for (;;) {
    for (int spin = 0; spin < RL_POOL_SPINS && __atomic_load_n(&p->generation, __ATOMIC_ACQUIRE) == seen && !__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE); spin++) rl_pool_relax();
    pthread_mutex_lock(&p->mutex);
    while (__atomic_load_n(&p->generation, __ATOMIC_ACQUIRE) == seen && !__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) pthread_cond_wait(&p->work, &p->mutex);
    pthread_mutex_unlock(&p->mutex);
    if (__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) break;
    seen = __atomic_load_n(&p->generation, __ATOMIC_ACQUIRE);
    rl_pool_chunk(p, w->index);
    if (__atomic_sub_fetch(&p->pending, 1, __ATOMIC_ACQ_REL) == 0) {
      pthread_mutex_lock(&p->mutex); /* the caller may be asleep on `done` */
      pthread_cond_signal(&p->done);
      pthread_mutex_unlock(&p->mutex);
    }
  }
  return NULL;
}

static inline int rl_pool_start(rl_pool_t* p, int threads) {
  if (threads < 1 || threads > RL_MAX_THREADS) return 1;
  p->threads = threads;
  __atomic_store_n(&p->stop, 0, __ATOMIC_RELAXED);
  __atomic_store_n(&p->pending, 0, __ATOMIC_RELAXED);
  __atomic_store_n(&p->generation, 0, __ATOMIC_RELAXED);
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
  p->fn = fn; /* read by workers only after they see the new generation (release below) */
  p->ctx = ctx;
  p->n = n;
  __atomic_store_n(&p->pending, p->threads - 1, __ATOMIC_RELAXED);
  pthread_mutex_lock(&p->mutex);
  __atomic_add_fetch(&p->generation, 1, __ATOMIC_RELEASE);
  pthread_cond_broadcast(&p->work);
  pthread_mutex_unlock(&p->mutex);
  rl_pool_chunk(p, 0);
  for (int spin = 0; spin < RL_POOL_SPINS && __atomic_load_n(&p->pending, __ATOMIC_ACQUIRE) > 0; spin++) rl_pool_relax();
  pthread_mutex_lock(&p->mutex);
  while (__atomic_load_n(&p->pending, __ATOMIC_ACQUIRE) > 0) pthread_cond_wait(&p->done, &p->mutex);
  pthread_mutex_unlock(&p->mutex);
}

static inline void rl_pool_stop(rl_pool_t* p) {
  pthread_mutex_lock(&p->mutex);
  __atomic_store_n(&p->stop, 1, __ATOMIC_RELEASE);
  pthread_cond_broadcast(&p->work);
  pthread_mutex_unlock(&p->mutex);
  for (int i = 1; i < p->threads; i++) pthread_join(p->tid[i], NULL);
  pthread_cond_destroy(&p->work);
  pthread_cond_destroy(&p->done);
  pthread_mutex_destroy(&p->mutex);
}

#endif /* RL_THREADS_H */
