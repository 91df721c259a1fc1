/*
** A generate job across processes; see gen_mpi.h.
*/
#include "gen_mpi.h"

#include "dist.h"
#include "err.h"

#include <stdlib.h>
#include <string.h>

enum { TAG_OUTPUT = 1, TAG_DONE = 2 };

/* The finish reasons an output may carry (sample.h, form.h), by number. */
static const char *const REASONS[] = {"length",     "eos",  "stop_string",
                                      "all_masked", "form", "dead_end"};
#define N_REASONS (sizeof REASONS / sizeof *REASONS)

/* An output on the wire: this header, then the ids, then the text. */
typedef struct wire {
    uint64_t k, seed, tokens; /* tokens: a TAG_DONE's count */
    uint32_t n_ids, cont_len, reason;
} wire;

/* The job's state on one process. */
typedef struct job {
    gen_writer *w;        /* process 0 */
    const size_t *prompt; /* per output: its prompt */
    const int *seq;       /* per output: its index among its prompt's */
    int done;             /* processes that finished (process 0 counts them) */
    long tokens;          /* the others' tokens */
} job;

/* Worker's sink: send output k to process 0. */
static int send_output(void *ctx, size_t k, const gen_output *o, char *err) {
    wire h = {
        .k = k, .seed = o->seed, .n_ids = (uint32_t)o->n_ids, .cont_len = (uint32_t)o->cont_len};
    while (h.reason < N_REASONS && strcmp(REASONS[h.reason], o->finish))
        h.reason++;
    if (h.reason == N_REASONS) return err_set(err, "generate: unknown finish reason %s", o->finish);
    size_t n = sizeof h + o->n_ids * sizeof *o->ids + o->cont_len;
    char *buf = malloc(n);
    if (!buf) return err_set(err, "generate: out of memory");
    memcpy(buf, &h, sizeof h);
    memcpy(buf + sizeof h, o->ids, o->n_ids * sizeof *o->ids);
    memcpy(buf + sizeof h + o->n_ids * sizeof *o->ids, o->continuation, o->cont_len);
    int rc = dist_send(0, TAG_OUTPUT, buf, n, err);
    free(buf);
    return rc;
}

/* Process 0: one message from another process, to the writer. */
static int take_message(job *j, char *buf, size_t n, int tag, char *err) {
    wire h;
    if (n < sizeof h) return err_set(err, "generate: a short message from another process");
    memcpy(&h, buf, sizeof h);
    if (tag == TAG_DONE) {
        j->done++;
        j->tokens += (long)h.tokens;
        return 0;
    }
    if (h.k >= j->w->n || h.reason >= N_REASONS ||
        n != sizeof h + h.n_ids * sizeof(int32_t) + h.cont_len)
        return err_set(err, "generate: a bad output from another process");
    gen_output o = {.prompt_index = j->prompt[h.k],
                    .seq_index = j->seq[h.k],
                    .n_ids = h.n_ids,
                    .cont_len = h.cont_len,
                    .seed = h.seed,
                    .finish = REASONS[h.reason]};
    o.ids = (int32_t *)(buf + sizeof h); /* gwr_output copies them */
    o.continuation = malloc(h.cont_len + 1);
    if (!o.continuation) return err_set(err, "generate: out of memory");
    memcpy(o.continuation, buf + sizeof h + h.n_ids * sizeof(int32_t), h.cont_len);
    o.continuation[h.cont_len] = 0;
    int32_t *ids = malloc((h.n_ids + 1) * sizeof *ids); /* aligned */
    int rc = ids ? 0 : err_set(err, "generate: out of memory");
    if (ids) memcpy(ids, o.ids, h.n_ids * sizeof *ids);
    o.ids = ids;
    if (!rc) rc = gwr_output(j->w, (size_t)h.k, &o, err);
    free(ids);
    free(o.continuation);
    return rc;
}

/* Process 0: the messages waiting (block: until every other process is
** done). */
static int poll_others(job *j, int block, char *err) {
    for (;;) {
        if (block && j->done == dist_size() - 1) return 0;
        int got, src, tag;
        void *buf;
        size_t n;
        if (dist_recv(block, &got, &buf, &n, &src, &tag, err)) return -1;
        if (!got) return 0;
        int rc = take_message(j, buf, n, tag, err);
        free(buf);
        if (rc) return -1;
    }
}

/* Process 0's sink. */
static int own_output(void *ctx, size_t k, const gen_output *o, char *err) {
    return gwr_output(((job *)ctx)->w, k, o, err);
}
static int own_step(void *ctx, char *err) {
    job *j = ctx;
    return poll_others(j, 0, err) || gwr_step(j->w, err) ? -1 : 0;
}

/* Every output's prompt and index among its prompt's; the skip flags of
** process 0 (known) on every process; this process's own skip flags
** (mine: known, or another process's). */
static int plan(const gen_request *q, size_t n, size_t *prompt, int *seq, uint8_t *known,
                uint8_t *mine, size_t *todo, char *err) {
    if (!dist_rank() && q->skip) memcpy(known, q->skip, n);
    if (dist_bcast(known, n, err)) return -1;
    size_t k = 0;
    *todo = 0;
    for (size_t i = 0; i < q->n_prompts; i++) {
        gen_request r;
        gen_row_request(q, i, &r);
        for (int s = 0; s < r.num_return_sequences; s++, k++) {
            prompt[k] = i, seq[k] = s;
            mine[k] = known[k] || (int)(i % (size_t)dist_size()) != dist_rank();
            *todo += !mine[k];
        }
    }
    return 0;
}

int gmpi_run(gpt_model *m, const tok *t, const gen_request *q, gen_writer *w, gen_stats *stats,
             char *err) {
    const size_t n = gen_n_outputs(q);
    size_t *prompt = malloc((n + 1) * sizeof *prompt), todo = 0;
    int *seq = malloc((n + 1) * sizeof *seq);
    uint8_t *known = calloc(n + 1, 1), *mine = calloc(n + 1, 1);
    int rc = prompt && seq && known && mine ? 0 : err_set(err, "generate: out of memory");
    job j = {.w = w, .prompt = prompt, .seq = seq};
    gen_sink sink = {own_output, own_step, &j};
    if (dist_rank()) sink = (gen_sink){send_output, NULL, &j};
    gen_request e = *q;
    e.skip = mine;
    e.sink = &sink;
    if (!rc) rc = plan(q, n, prompt, seq, known, mine, &todo, err);
    gen_output *o;
    size_t no;
    if (!rc && todo) rc = gen_run(m, t, &e, &o, &no, stats, err);
    if (!rc && dist_rank()) {
        wire h = {.tokens = (uint64_t)stats->tokens};
        rc = dist_send(0, TAG_DONE, &h, sizeof h, err);
    }
    if (!rc && !dist_rank()) rc = poll_others(&j, 1, err);
    if (!rc) stats->tokens += j.tokens;
    free(prompt), free(seq), free(known), free(mine);
    return rc;
}
