/*
** Terminal progress bar (see progress.h).
*/
#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

double progress_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Start a bar labelled label counting unit up to total (0: unknown); it is
** drawn only when stderr is a terminal and QUILL_NO_PROGRESS is unset. */
void progress_begin(progress *p, const char *label, const char *unit, double total) {
    p->label = label;
    p->unit = unit;
    p->total = total;
    p->done = 0;
    p->start = p->last_draw = progress_now();
    p->enabled = isatty(2) && !getenv("QUILL_NO_PROGRESS");
}

/* Redraw the line on stderr: done, rate and, when total is known, a
** 30-column bar and the ETA. */
static void progress_draw(progress *p, double now) {
    double elapsed = now - p->start;
    double rate = elapsed > 0 ? p->done / elapsed : 0;
    if (p->total > 0) {
        double frac = p->done / p->total;
        if (frac > 1) frac = 1;
        int filled = (int)(frac * 30);
        char bar[31];
        for (int i = 0; i < 30; i++)
            bar[i] = i < filled ? '#' : '.';
        bar[30] = 0;
        double eta = rate > 0 ? (p->total - p->done) / rate : 0;
        fprintf(stderr, "\r%s [%s] %3.0f%% %.1f %s/s ETA %dm%02ds ", p->label, bar, frac * 100,
                rate, p->unit, (int)eta / 60, (int)eta % 60);
    } else {
        fprintf(stderr, "\r%s %.0f %s %.1f %s/s ", p->label, p->done, p->unit, rate, p->unit);
    }
    fflush(stderr);
}

void progress_add(progress *p, double amount) {
    p->done += amount;
    if (!p->enabled) return;
    double now = progress_now();
    if (now - p->last_draw < 0.1) return;
    p->last_draw = now;
    progress_draw(p, now);
}

void progress_end(progress *p) {
    if (!p->enabled) return;
    progress_draw(p, progress_now());
    fputc('\n', stderr);
}
