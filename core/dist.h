/*
** Data-parallel training and bulk generation over MPI (Open MPI): which
** process this is, the few collective operations `quill train` needs, and
** the messages `quill generate` sends (outputs to process 0).  Started without
** mpirun (no Open MPI launcher in the environment) MPI is never
** initialised: one process, rank 0 of 1, and every collective returns at
** once, so nothing changes for the single-machine user.
**
** Sums are taken in rank order, rank 0 first, on every element: W
** processes that each hold one micro-batch's weighted gradient get the
** bits a single process gets accumulating the same W micro-batches.
*/
#ifndef QUILL_DIST_H
#define QUILL_DIST_H

#include <stddef.h>

/* Initialise MPI when launched by mpirun; then give each process its share
** of the machine's cores for OpenMP (unless OMP_NUM_THREADS says).
** Returns 0, or -1 with err set. */
int dist_init(int *argc, char ***argv, char *err);
void dist_finalize(void);

int dist_rank(void); /* 0 .. dist_size()-1; 0 without MPI */
int dist_size(void); /* 1 without MPI */

/* End every process of the job at once with this exit code (an error on
** one would leave the others waiting in a collective).  Returns only
** without MPI. */
void dist_abort(int code);

/* Copy bytes at buf on rank 0 to buf on every rank. */
int dist_bcast(void *buf, size_t bytes, char *err);

/* Replace buf on every rank by the sum over ranks, in rank order. */
int dist_sum_f32(float *buf, size_t n, char *err);
int dist_sum_f64(double *buf, size_t n, char *err);

/* Replace *v on every rank by the largest over ranks. */
int dist_max_int(int *v, char *err);

/* Send n bytes at buf to rank dest with tag (>= 0); blocks until buf may be
** reused. */
int dist_send(int dest, int tag, const void *buf, size_t n, char *err);

/* Receive the next message from any rank with any tag: with block 0 only
** when one is waiting (*got 0 when none), else waiting for one.  *buf
** malloc'd (*n bytes), its sender in *src and tag in *tag. */
int dist_recv(int block, int *got, void **buf, size_t *n, int *src, int *tag, char *err);

#endif
