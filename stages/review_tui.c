/*
** The interactive reviewer: one pending output at a time on the terminal
** (raw termios, ANSI colours), the prompt highlighted apart from the
** continuation.  Keys: a approve, r reject, e edit ($EDITOR on a temp file;
** the edit is stored beside the original), n note, s skip, b back, q quit.
** The queue is every pending output this reviewer has not yet judged; the
** position is saved in review_cursor so the next session resumes there.
*/
#include "review.h"

#include "cli.h"
#include "err.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define BOLD "\033[1m"
#define DIM "\033[2m"
#define PROMPT_STYLE "\033[1;30;43m" /* black on yellow */
#define GREEN "\033[32m"
#define RED "\033[31m"
#define RESET "\033[0m"

typedef struct queue {
    int64_t *ids;
    size_t n;
} queue;

/* The pending outputs reviewer has not yet approved or rejected, in id
** order, into q. */
static int load_queue(store *st, const char *reviewer, queue *q, char *err) {
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "SELECT id FROM outputs o WHERE status = 'pending' AND NOT EXISTS "
                      "(SELECT 1 FROM reviews WHERE output_id = o.id AND reviewer = ? AND "
                      "verdict IN ('approve', 'reject')) ORDER BY id",
                      &s, err))
        return -1;
    sqlite3_bind_text(s, 1, reviewer, -1, SQLITE_STATIC);
    size_t cap = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        if (q->n == cap) {
            cap = cap ? 2 * cap : 64;
            int64_t *ni = realloc(q->ids, cap * sizeof *ni);
            if (!ni) {
                sqlite3_finalize(s);
                return err_set(err, "out of memory");
            }
            q->ids = ni;
        }
        q->ids[q->n++] = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    return 0;
}

/* The output reviewer last looked at (0 when none): where to resume. */
static int64_t get_cursor(store *st, const char *reviewer) {
    char err[ERR_LEN];
    sqlite3_stmt *s;
    int64_t id = 0;
    if (store_prepare(st, "SELECT output_id FROM review_cursor WHERE reviewer = ?", &s, err))
        return 0;
    sqlite3_bind_text(s, 1, reviewer, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW) id = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return id;
}

/* Remember that reviewer is at output id (best effort: a failure only
** loses the resume point). */
static void save_cursor(store *st, const char *reviewer, int64_t id) {
    char err[ERR_LEN];
    sqlite3_stmt *s;
    if (store_prepare(st,
                      "INSERT INTO review_cursor (reviewer, output_id) VALUES (?, ?) "
                      "ON CONFLICT (reviewer) DO UPDATE SET output_id = excluded.output_id",
                      &s, err))
        return;
    sqlite3_bind_text(s, 1, reviewer, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, id);
    sqlite3_step(s);
    sqlite3_finalize(s);
}

static struct termios saved_tio;

/* Ctrl-C or a kill: give the terminal back as it was, then go.  Every
** review is already committed, so nothing is lost. */
static void on_signal(int sig) {
    tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
    _exit(128 + sig);
}

/* Switch the terminal to unbuffered, unechoed keys (on) or back to how it
** was (off). */
static void raw_mode(int on) {
    if (on) {
        struct termios t = saved_tio;
        t.c_lflag &= ~(ICANON | ECHO);
        t.c_cc[VMIN] = 1;
        t.c_cc[VTIME] = 0;
        tcsetattr(STDIN_FILENO, TCSANOW, &t);
    } else {
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
    }
}

/* Print s to stdout with control characters other than newline and tab in
** caret notation (^[ for ESC): a generated text or a name cannot send the
** terminal escape sequences. */
static void put_clean(const char *s) {
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch < 0x20 && ch != '\n' && ch != '\t') || ch == 0x7f)
            printf("^%c", ch == 0x7f ? '?' : ch + 64);
        else
            putchar(ch);
    }
}

/* Draw output id: header, provenance, then the text with the prompt
** highlighted. */
static int draw(store *st, int64_t id, size_t pos, size_t n, const char *reviewer, const char *msg,
                char *err) {
    sqlite3_stmt *s;
    if (review_fetch(st,
                     "SELECT COALESCE(recipe_name, '-'), model_source, COALESCE(checkpoint_id, 0),"
                     " prompt, continuation, params_json, seed FROM outputs WHERE id = ?",
                     id, &s, err))
        return -1;
    const char *status;
    int ok, need, edited;
    char *text = NULL;
    if (review_verdict(st, id, &status, &ok, &need, err) ||
        review_text(st, id, &text, &edited, err)) {
        sqlite3_finalize(s);
        return -1;
    }
    printf("\033[H\033[2J");
    printf(BOLD "quill review" RESET "  output %lld  (%zu of %zu)  reviewer %s  %s %d/%d\n",
           (long long)id, pos + 1, n, reviewer, status, ok, need);
    printf(DIM "recipe:" RESET " ");
    put_clean((const char *)sqlite3_column_text(s, 0));
    printf("   " DIM "model:" RESET " ");
    put_clean((const char *)sqlite3_column_text(s, 1));
    if (sqlite3_column_int64(s, 2)) printf(" (checkpoint %lld)", sqlite3_column_int64(s, 2));
    printf("   " DIM "seed:" RESET " %lld\n", (long long)sqlite3_column_int64(s, 6));
    printf(DIM "params:" RESET " ");
    put_clean((const char *)sqlite3_column_text(s, 5));
    printf("\n\n");
    if (edited) {
        printf(DIM "(edited; original below)" RESET "\n");
        put_clean(text);
        printf("\n\n" DIM "original:" RESET "\n");
    }
    printf(PROMPT_STYLE);
    put_clean((const char *)sqlite3_column_text(s, 3));
    printf(RESET);
    put_clean((const char *)sqlite3_column_text(s, 4));
    printf("\n\n");
    if (msg && *msg) printf("%s\n", msg);
    printf(BOLD "[a]" RESET "pprove  " BOLD "[r]" RESET "eject  " BOLD "[e]" RESET "dit  " BOLD
                "[n]" RESET "ote  " BOLD "[s]" RESET "kip  " BOLD "[b]" RESET "ack  " BOLD
                "[q]" RESET "uit\n");
    fflush(stdout);
    free(text);
    sqlite3_finalize(s);
    return 0;
}

/* Run $EDITOR (default vi) on a temp file holding text; *out gets the
** result, NULL when unchanged. */
static int edit_text(const char *text, char **out, char *err) {
    *out = NULL;
    char path[] = "/tmp/quill-edit.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return err_set(err, "cannot create a temp file in /tmp: %s", strerror(errno));
    size_t n = strlen(text);
    if (write(fd, text, n) != (ssize_t)n) {
        close(fd);
        unlink(path);
        return err_set(err, "%s: write failed", path);
    }
    close(fd);
    const char *editor = getenv("VISUAL");
    if (!editor || !*editor) editor = getenv("EDITOR");
    if (!editor || !*editor) editor = "vi";
    /* sh -c splits the editor command ("code --wait", "sed -i ...") */
    setenv("QUILL_EDITOR", editor, 1);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", "$QUILL_EDITOR \"$1\"", "sh", path, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
        unlink(path);
        return err_set(err, "the editor failed; nothing changed");
    }
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0;
    if (f) {
        FILE *m = open_memstream(&buf, &len);
        char chunk[4096];
        size_t got;
        while ((got = fread(chunk, 1, sizeof chunk, f)))
            fwrite(chunk, 1, got, m);
        fclose(m);
        fclose(f);
    }
    unlink(path);
    if (!buf) return err_set(err, "cannot read the edited text back");
    /* editors add a final newline; keep the text's own ending */
    if (len && buf[len - 1] == '\n' && (!n || text[n - 1] != '\n')) buf[--len] = 0;
    if (!strcmp(buf, text)) {
        free(buf);
        return 0;
    }
    *out = buf;
    return 0;
}

/* Record one verdict/note/edit of reviewer on output id in its own
** transaction. */
static int record(store *st, int64_t id, const char *reviewer, const char *verdict,
                  const char *note, const char *text, char *err) {
    if (store_begin(st, err)) return -1;
    if (review_add(st, id, reviewer, verdict, note, text, err)) {
        store_rollback(st);
        return -1;
    }
    return store_commit(st, err);
}

int review_interactive(store *st, const char *reviewer) {
    char err[ERR_LEN];
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
        return cli_error("review: the interactive reviewer needs a terminal; use quill review "
                         "list/show/approve/reject instead");
    queue q = {0};
    if (load_queue(st, reviewer, &q, err)) return cli_error("review: %s", err);
    if (!q.n) {
        printf("No pending outputs for %s.\n", reviewer);
        return 0;
    }
    int64_t cursor = get_cursor(st, reviewer);
    size_t pos = 0;
    while (pos < q.n && q.ids[pos] < cursor)
        pos++;
    if (pos == q.n) pos = 0;
    tcgetattr(STDIN_FILENO, &saved_tio);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    raw_mode(1);
    char msg[ERR_LEN] = "";
    int rc = 0;
    while (pos < q.n) {
        int64_t id = q.ids[pos];
        save_cursor(st, reviewer, id);
        if (draw(st, id, pos, q.n, reviewer, msg, err)) {
            rc = cli_error("review: %s", err);
            break;
        }
        msg[0] = 0;
        int ch = getchar();
        if (ch == EOF || ch == 'q') break;
        if (ch == 'a' || ch == 'r') {
            if (record(st, id, reviewer, ch == 'a' ? "approve" : "reject", NULL, NULL, err))
                snprintf(msg, sizeof msg, RED "%s" RESET, err);
            else
                pos++;
        } else if (ch == 's') {
            pos++;
        } else if (ch == 'b') {
            if (pos) pos--;
        } else if (ch == 'e') {
            char *text = NULL, *edited = NULL;
            raw_mode(0);
            int bad = review_text(st, id, &text, NULL, err) || edit_text(text, &edited, err);
            raw_mode(1);
            if (!bad && edited) bad = record(st, id, reviewer, "edit", NULL, edited, err);
            snprintf(msg, sizeof msg, "%s%s" RESET, bad ? RED : GREEN,
                     bad      ? err
                     : edited ? "edit saved beside the original"
                              : "no change");
            free(text);
            free(edited);
        } else if (ch == 'n') {
            raw_mode(0);
            printf("note: ");
            fflush(stdout);
            char line[2048];
            int got = fgets(line, sizeof line, stdin) != NULL;
            raw_mode(1);
            line[strcspn(line, "\n")] = 0;
            if (got && *line) {
                if (record(st, id, reviewer, "note", line, NULL, err))
                    snprintf(msg, sizeof msg, RED "%s" RESET, err);
                else
                    snprintf(msg, sizeof msg, GREEN "note saved" RESET);
            }
        } else {
            snprintf(msg, sizeof msg, "unknown key; use a r e n s b q");
        }
    }
    if (pos >= q.n) {
        save_cursor(st, reviewer, q.ids[q.n - 1] + 1);
        printf("\033[H\033[2JNo more pending outputs for %s.\n", reviewer);
    } else {
        printf("\nStopped at output %lld; `quill review` resumes here.\n", (long long)q.ids[pos]);
    }
    raw_mode(0);
    free(q.ids);
    return rc;
}
