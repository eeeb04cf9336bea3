/* runtime-lite thread pool for models compiled with --threads N (hosted targets, POSIX threads).
 * No allocation: the pool lives in the caller's arena; PREFIX_init starts N-1 workers and
 * PREFIX_fini joins them. rl_pool_run splits [0, n) into up to RL_POOL_CHUNKS_PER_THREAD * N
 * contiguous chunks and returns when every chunk is done. The calling thread and the workers claim
 * chunks from a shared counter, so a worker the OS has not scheduled (another process busy on its
 * core) holds nothing back: the threads that run take its chunks, and a model is never much slower
 * than with one thread. Each chunk writes disjoint outputs and computes each item as one thread
 * would, so the results are bitwise those of a single-threaded run, whoever runs which chunk.
 *
 * Oversubscribed cores (more runnable threads than cores) are the other trap: a worker the OS
 * deschedules in the middle of its chunk makes the caller wait a whole time slice. rl_pool_run
 * therefore watches each run: when the workers ran none of its chunks, or the caller waited for
 * them longer than it worked itself, twice in a row, the pool runs the next `backoff` runs on the
 * calling thread alone, and the workers go to sleep (backoff
 * doubles, up to RL_POOL_MAX_BACKOFF, each time the workers are late again right after a retry),
 * so a model is never much slower than one thread.
 *
 * A model calls rl_pool_run once per kernel (or block), microseconds apart: waking a sleeping
 * thread costs tens of microseconds, so both sides first spin on the shared counters for a while
 * (RL_POOL_SPINS polls, about 2.7 ms on a Zen 4: longer than the single-threaded kernels between
 * two GEMMs, such as BERT's softmax and layer norms; at 0.5 ms the workers slept there, woke late
 * for the next GEMM, and the guard below sent the pool solo: 2 threads 1.07x one) and only then
 * sleep on the condition variables. The counters are read and
 * written with GCC/Clang atomic builtins. A chunk is claimed by a compare-and-swap on one word that
 * holds the run's generation and the next chunk index, so a worker that wakes after its run is
 * over claims nothing of the next one by mistake; what a chunk reads (fn, ctx, n) is published by
 * the release store of that word, and the caller changes it again only after every claimed chunk
 * is done. */
#ifndef RL_THREADS_H
#define RL_THREADS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define RL_MAX_THREADS 64
#ifndef RL_POOL_SPINS
#define RL_POOL_SPINS 100000
#endif
#ifndef RL_POOL_CHUNKS_PER_THREAD
#define RL_POOL_CHUNKS_PER_THREAD 4
#endif
#define RL_POOL_MIN_BACKOFF 64
#define RL_POOL_MAX_BACKOFF 8192

static inline void rl_pool_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  __asm__ __volatile__("yield");
#endif
}

typedef void (*rl_task_fn)(void* ctx, ptrdiff_t begin, ptrdiff_t end); /* rl_index_t */

struct rl_pool;
typedef struct {
  struct rl_pool* pool;
  int index;
} rl_worker_t;

typedef struct rl_pool {
  pthread_mutex_t mutex;
  pthread_cond_t work, done;
  int threads, stop;
  int64_t pending;     /* chunks of the current run not finished yet */
  uint64_t generation; /* bumped by every run: wakes the workers */
  uint64_t claim;      /* generation << 32 | index of the next chunk to claim (0xffffffff: not open) */
  rl_task_fn fn;
  void* ctx;
  int64_t n, chunks;
  /* Oversubscription guard, touched by the calling thread only. */
  int late, on_time; /* consecutive threaded runs whose workers were late / on time */
  int64_t solo, backoff; /* runs left on the calling thread alone; length of the next such spell */
  pthread_t tid[RL_MAX_THREADS];
  rl_worker_t workers[RL_MAX_THREADS];
} rl_pool_t;

/* Bytes a pool takes in the arena, rounded to the arena alignment. */
#define RL_POOL_BYTES ((sizeof(rl_pool_t) + 63u) / 64u * 64u)

/* Claims and runs chunks of run `gen` until none is left; returns how many it ran. */
static inline int64_t rl_pool_work(rl_pool_t* p, uint64_t gen) {
  int64_t ran = 0;
  for (;;) {
    uint64_t word = __atomic_load_n(&p->claim, __ATOMIC_ACQUIRE);
    const int64_t c = (int64_t)(word & 0xffffffffu);
    if (word >> 32 != (gen & 0xffffffffu) || c >= __atomic_load_n(&p->chunks, __ATOMIC_RELAXED)) return ran; /* a later run, all claimed, or not open yet */
    if (!__atomic_compare_exchange_n(&p->claim, &word, word + 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) continue;
    /* Read again after the claim: now ordered after the release that opened this run. */
    const int64_t chunks = __atomic_load_n(&p->chunks, __ATOMIC_RELAXED);
    if (c >= chunks) return ran;
    ran++;
    const int64_t begin = p->n * c / chunks, end = p->n * (c + 1) / chunks;
    if (begin < end) p->fn(p->ctx, begin, end);
    if (__atomic_sub_fetch(&p->pending, 1, __ATOMIC_ACQ_REL) == 0) {
      pthread_mutex_lock(&p->mutex); /* the caller may be asleep on `done` */
      pthread_cond_signal(&p->done);
      pthread_mutex_unlock(&p->mutex);
    }
  }
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
    rl_pool_work(p, seen);
  }
  return NULL;
}

static inline int rl_pool_start(rl_pool_t* p, int threads) {
  if (threads < 1 || threads > RL_MAX_THREADS) return 1;
  p->threads = threads;
  __atomic_store_n(&p->stop, 0, __ATOMIC_RELAXED);
  __atomic_store_n(&p->pending, 0, __ATOMIC_RELAXED);
  __atomic_store_n(&p->generation, 0, __ATOMIC_RELAXED);
  __atomic_store_n(&p->claim, 0xffffffffu, __ATOMIC_RELAXED);
  __atomic_store_n(&p->chunks, 0, __ATOMIC_RELAXED);
  p->late = p->on_time = 0;
  p->solo = 0;
  p->backoff = RL_POOL_MIN_BACKOFF;
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

static inline double rl_pool_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline void rl_pool_run(rl_pool_t* p, int64_t n, rl_task_fn fn, void* ctx) {
  const int64_t most = (int64_t)p->threads * RL_POOL_CHUNKS_PER_THREAD, chunks = n < most ? n : most;
  if (chunks <= 0) return;
  if (p->solo > 0 || p->threads == 1) {
    p->solo -= p->solo > 0;
    fn(ctx, 0, n); /* the same items computed the same way: bitwise the threaded results */
    return;
  }
  const double t0 = rl_pool_seconds();
  const uint64_t gen = __atomic_load_n(&p->generation, __ATOMIC_RELAXED) + 1, tag = (gen & 0xffffffffu) << 32;
  /* Closed first (index past any chunk): a late worker's claim on the last run now fails. */
  __atomic_store_n(&p->claim, tag | 0xffffffffu, __ATOMIC_RELEASE);
  p->fn = fn; /* read by a worker only after its claim succeeds (the release below) */
  p->ctx = ctx;
  p->n = n;
  __atomic_store_n(&p->chunks, chunks, __ATOMIC_RELAXED);
  __atomic_store_n(&p->pending, chunks, __ATOMIC_RELAXED);
  __atomic_store_n(&p->claim, tag, __ATOMIC_RELEASE);
  pthread_mutex_lock(&p->mutex);
  __atomic_store_n(&p->generation, gen, __ATOMIC_RELEASE);
  pthread_cond_broadcast(&p->work);
  pthread_mutex_unlock(&p->mutex);
  const int64_t ran = rl_pool_work(p, gen);
  const double t1 = rl_pool_seconds();
  for (int spin = 0; spin < RL_POOL_SPINS && __atomic_load_n(&p->pending, __ATOMIC_ACQUIRE) > 0; spin++) rl_pool_relax();
  pthread_mutex_lock(&p->mutex);
  while (__atomic_load_n(&p->pending, __ATOMIC_ACQUIRE) > 0) pthread_cond_wait(&p->done, &p->mutex);
  pthread_mutex_unlock(&p->mutex);
  /* Workers that did none of several chunks, or kept the caller waiting longer than it worked (plus
   * 20 us of wake-up), twice in a row: the cores are oversubscribed, and spinning workers only
   * take time from the caller. Run alone for a while, then retry. */
  const double worked = t1 - t0, waited = rl_pool_seconds() - t1;
  if ((chunks > p->threads && ran == chunks) || waited > worked + 20e-6) {
    p->on_time = 0;
    if (++p->late >= 2) {
      p->late = 0;
      p->solo = p->backoff;
      p->backoff = p->backoff * 2 > RL_POOL_MAX_BACKOFF ? RL_POOL_MAX_BACKOFF : p->backoff * 2;
    }
  } else {
    p->late = 0;
    if (++p->on_time >= 16) p->backoff = RL_POOL_MIN_BACKOFF;
  }
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
