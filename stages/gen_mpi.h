/*
** A generate job across processes (`mpirun -np N quill generate ...`):
** process 0 reads the prompts (generate.c sends them on), owns the store
** and the writer (gen_writer.h); every process, 0 included, generates the
** outputs of the prompts i with i % N == its rank (each output with its own
** seed, so which process makes it changes nothing), and the others send
** each output to process 0 as it finishes.  Process 0's writer stores them
** in the request's order, so the store ends byte for byte as a single
** process leaves it, whatever N.  A process that dies ends the job (mpirun
** reports it, non-zero exit); what was committed stays, and the job run
** again resumes.
*/
#ifndef QUILL_GEN_MPI_H
#define QUILL_GEN_MPI_H

#include "gen.h"
#include "gen_writer.h"

/* Run request q (its skip: the outputs the store holds, known on process 0
** only) on every process with model m and tokenizer t; on process 0 every
** output goes to writer w (already started), elsewhere w is unused.
** stats: this process's own engine figures plus the others' tokens. */
int gmpi_run(gpt_model *m, const tok *t, const gen_request *q, gen_writer *w, gen_stats *stats,
             char *err);

#endif
