/*
** A progress bar with rate and ETA on stderr, drawn only when stderr is a
** terminal (and QUILL_NO_PROGRESS is unset); otherwise every call is a no-op,
** so logs and tests see nothing of it.
*/
#ifndef QUILL_PROGRESS_H
#define QUILL_PROGRESS_H

#include <stdint.h>

typedef struct progress {
    const char *label;
    const char *unit; /* "MB", "tok", "step" ... */
    double total;     /* 0 when unknown: no bar, no ETA */
    double done;
    double start, last_draw;
    int enabled;
} progress;

void progress_begin(progress *p, const char *label, const char *unit, double total);
/* Add amount to done; redraws at most 10 times a second. */
void progress_add(progress *p, double amount);
/* Final redraw and newline. */
void progress_end(progress *p);

/* Monotonic seconds, for rates and timings. */
double progress_now(void);

#endif
