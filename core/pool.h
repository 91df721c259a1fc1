/*
** A small thread pool for the many short parallel loops of token-by-token
** generation.  OpenMP's worker threads spin for a long time after each
** parallel region (libgomp's default), which is fine when a program owns
** every core but, on a shared machine, burns the core the working thread
** needs: a decode step runs dozens of short regions and slowed down 5-7x
** under load unless OMP_WAIT_POLICY=passive was set.  These workers spin
** only briefly (tens of microseconds) and then sleep on a condition
** variable, so the default is fast both alone and under load.
**
** The number of threads follows omp_get_max_threads() (OMP_NUM_THREADS,
** omp_set_num_threads), the caller being one of them.  Tasks are handed out
** dynamically: each task must write its own outputs, so results do not
** depend on which thread ran it.
*/
#ifndef QUILL_POOL_H
#define QUILL_POOL_H

typedef void (*pool_fn)(void *ctx, int task);

/* Run fn(ctx, t) for every t in [0, ntask) and return when all are done.
** Runs on the calling thread alone when ntask or the thread count is 1,
** inside an OpenMP parallel region, or when the pool is busy with another
** caller's loop (so it is safe to call from any thread). */
void pool_for(int ntask, pool_fn fn, void *ctx);

#endif
