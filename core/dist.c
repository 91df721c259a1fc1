/*
** MPI data parallelism (see dist.h).  Large buffers move in chunks (MPI
** counts are ints).  The sum gathers each chunk on rank 0, adds the other
** ranks' pieces to its own one rank after the other, and broadcasts the
** result: a fixed order whatever MPI's own reduction algorithms would do.
*/
#include "dist.h"

#include "err.h"

#include <mpi.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK ((size_t)1 << 22) /* elements per message */

static int world_rank, world_size = 1;

int dist_init(int *argc, char ***argv, char *err) {
    if (!getenv("OMPI_COMM_WORLD_SIZE")) return 0; /* not under mpirun */
    int provided;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return err_set(err, "MPI: initialisation failed");
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    /* processes on one machine share its cores */
    const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    const int nlocal = local ? atoi(local) : 1;
    if (!getenv("OMP_NUM_THREADS") && nlocal > 1) {
        const int t = omp_get_num_procs() / nlocal;
        omp_set_num_threads(t > 1 ? t : 1);
    }
    return 0;
}

void dist_finalize(void) {
    int on = 0, off = 0;
    MPI_Initialized(&on);
    if (on) MPI_Finalized(&off);
    if (on && !off) MPI_Finalize();
}

int dist_rank(void) {
    return world_rank;
}

int dist_size(void) {
    return world_size;
}

void dist_abort(int code) {
    if (world_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

static int check(int rc, const char *what, char *err) {
    if (rc == MPI_SUCCESS) return 0;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return err_set(err, "MPI %s: %.*s", what, len, msg);
}

int dist_bcast(void *buf, size_t bytes, char *err) {
    for (size_t o = 0; world_size > 1 && o < bytes; o += CHUNK) {
        const int n = (int)(bytes - o < CHUNK ? bytes - o : CHUNK);
        if (check(MPI_Bcast((char *)buf + o, n, MPI_BYTE, 0, MPI_COMM_WORLD), "broadcast", err))
            return -1;
    }
    return 0;
}

/* The sum of one element type; T the C type, M its MPI datatype. */
#define DIST_SUM(NAME, T, M)                                                                       \
    int NAME(T *buf, size_t n, char *err) {                                                        \
        if (world_size == 1) return 0;                                                             \
        T *in = world_rank == 0 ? malloc(sizeof(T) * (n < CHUNK ? n : CHUNK)) : NULL;              \
        if (world_rank == 0 && n && !in) return err_set(err, "MPI sum: out of memory");            \
        int bad = 0;                                                                               \
        for (size_t o = 0; !bad && o < n; o += CHUNK) {                                            \
            const int c = (int)(n - o < CHUNK ? n - o : CHUNK);                                    \
            T *p = buf + o;                                                                        \
            if (world_rank) {                                                                      \
                bad = check(MPI_Send(p, c, M, 0, 0, MPI_COMM_WORLD), "sum", err);                  \
            } else {                                                                               \
                for (int r = 1; !bad && r < world_size; r++) {                                     \
                    bad = check(MPI_Recv(in, c, M, r, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE),       \
                                "sum", err);                                                       \
                    if (!bad)                                                                      \
                        for (int i = 0; i < c; i++)                                                \
                            p[i] += in[i];                                                         \
                }                                                                                  \
            }                                                                                      \
            if (!bad) bad = check(MPI_Bcast(p, c, M, 0, MPI_COMM_WORLD), "sum", err);              \
        }                                                                                          \
        free(in);                                                                                  \
        return bad ? -1 : 0;                                                                       \
    }
DIST_SUM(dist_sum_f32, float, MPI_FLOAT)
DIST_SUM(dist_sum_f64, double, MPI_DOUBLE)

int dist_max_int(int *v, char *err) {
    if (world_size == 1) return 0;
    return check(MPI_Allreduce(MPI_IN_PLACE, v, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD), "max", err);
}

int dist_send(int dest, int tag, const void *buf, size_t n, char *err) {
    if (n > INT32_MAX) return err_set(err, "MPI send: message of %zu bytes", n);
    return check(MPI_Send(buf, (int)n, MPI_BYTE, dest, tag, MPI_COMM_WORLD), "send", err);
}

int dist_recv(int block, int *got, void **buf, size_t *n, int *src, int *tag, char *err) {
    MPI_Status st;
    int flag = 1, count;
    *got = 0;
    if (block ? check(MPI_Probe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &st), "probe", err)
              : check(MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st), "probe",
                      err))
        return -1;
    if (!flag) return 0;
    MPI_Get_count(&st, MPI_BYTE, &count);
    *buf = malloc((size_t)count + 1);
    if (!*buf) return err_set(err, "MPI receive: out of memory");
    if (check(MPI_Recv(*buf, count, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD,
                       MPI_STATUS_IGNORE),
              "receive", err)) {
        free(*buf);
        return -1;
    }
    *n = (size_t)count;
    *src = st.MPI_SOURCE;
    *tag = st.MPI_TAG;
    *got = 1;
    return 0;
}
