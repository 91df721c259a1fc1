/*
** Thread pool with a short spin then a sleep (see pool.h).
**
** One job at a time: the caller publishes it (fn, ctx, ntask) and then, in
** one atomic word, a new generation and how many workers take part;
** workers that see the new word claim tasks from an atomic counter; the
** last one to finish signals the caller.  A worker reads the generation
** and its part from the same word, so a job with fewer workers cannot be
** mistaken for the next one.  A caller that finds the pool busy runs its
** loop alone.
*/
#include "pool.h"

#include <immintrin.h>
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>

#define POOL_MAX 64    /* workers at most */
#define POOL_SPIN 4000 /* pause loops before sleeping: tens of microseconds */

typedef unsigned long long job_word; /* generation << 32 | workers taking part */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    int nworkers; /* started so far */
    atomic_flag busy;
    _Atomic job_word job;
    atomic_int next;   /* next task to claim */
    atomic_int active; /* workers still in the current job */
    int ntask;
    pool_fn fn;
    void *ctx;
} P = {.mu = PTHREAD_MUTEX_INITIALIZER,
       .work = PTHREAD_COND_INITIALIZER,
       .done = PTHREAD_COND_INITIALIZER,
       .busy = ATOMIC_FLAG_INIT};

static void run_tasks(void) {
    for (int t; (t = atomic_fetch_add(&P.next, 1)) < P.ntask;)
        P.fn(P.ctx, t);
}

/* The job word when worker i was started (it waits for a newer one). */
static job_word start_word[POOL_MAX];

static void *worker(void *arg) {
    const int id = (int)(long)arg;
    job_word seen = start_word[id];
    for (;;) {
        int spin = 0;
        while (atomic_load(&P.job) == seen && spin++ < POOL_SPIN)
            _mm_pause();
        if (atomic_load(&P.job) == seen) {
            pthread_mutex_lock(&P.mu);
            while (atomic_load(&P.job) == seen)
                pthread_cond_wait(&P.work, &P.mu);
            pthread_mutex_unlock(&P.mu);
        }
        seen = atomic_load(&P.job);
        if (id >= (int)(seen & 0xffffffffu)) continue; /* not part of this job */
        run_tasks();
        if (atomic_fetch_sub(&P.active, 1) == 1) {
            pthread_mutex_lock(&P.mu);
            pthread_cond_signal(&P.done);
            pthread_mutex_unlock(&P.mu);
        }
    }
    return NULL;
}

/* Start workers until there are n (or as many as could be started). */
static int grow(int n) {
    if (n > POOL_MAX) n = POOL_MAX;
    while (P.nworkers < n) {
        pthread_t th;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        start_word[P.nworkers] = atomic_load(&P.job);
        int rc = pthread_create(&th, &at, worker, (void *)(long)P.nworkers);
        pthread_attr_destroy(&at);
        if (rc) break;
        P.nworkers++;
    }
    return P.nworkers < n ? P.nworkers : n;
}

void pool_for(int ntask, pool_fn fn, void *ctx) {
    int nth = omp_get_max_threads();
    if (nth > ntask) nth = ntask;
    if (nth <= 1 || omp_in_parallel() || atomic_flag_test_and_set(&P.busy)) {
        for (int t = 0; t < ntask; t++)
            fn(ctx, t);
        return;
    }
    /* every worker of the previous job has finished it */
    const int want = grow(nth - 1);
    P.fn = fn;
    P.ctx = ctx;
    P.ntask = ntask;
    atomic_store(&P.next, 0);
    atomic_store(&P.active, want);
    pthread_mutex_lock(&P.mu);
    job_word gen = (atomic_load(&P.job) >> 32) + 1;
    atomic_store(&P.job, gen << 32 | (job_word)want);
    pthread_cond_broadcast(&P.work);
    pthread_mutex_unlock(&P.mu);
    run_tasks();
    int spin = 0;
    while (atomic_load(&P.active) > 0 && spin++ < POOL_SPIN)
        _mm_pause();
    if (atomic_load(&P.active) > 0) {
        pthread_mutex_lock(&P.mu);
        while (atomic_load(&P.active) > 0)
            pthread_cond_wait(&P.done, &P.mu);
        pthread_mutex_unlock(&P.mu);
    }
    atomic_flag_clear(&P.busy);
}
