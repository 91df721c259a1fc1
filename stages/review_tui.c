/*
** The interactive reviewer: one pending output at a time on the terminal
** (raw termios, ANSI colours), the prompt highlighted apart from the
** continuation.  Keys: a approve, r reject, e edit ($EDITOR on a temp file;
** the edit is stored beside the original), n note, s skip, b back, q quit.
** The queue is every pending output this reviewer has not yet judged; the
** position is saved in review_cursor so the next session resumes there.
*/
#include "review_tui.h"

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

/* Draw output id: header, provenance, then the text with the prompt
** highlighted; *version gets the text version shown (what 'a' approves). */
static int draw(store *st, int64_t id, size_t pos, size_t n, const char *reviewer, const char *msg,
                int *version, char *err) {
    reviews_output o;
    if (reviews_get(st, id, &o, err)) return -1;
    *version = o.version;
    printf("\033[H\033[2J");
    printf(BOLD "quill review" RESET "  output %lld  (%zu of %zu)  reviewer ", (long long)id,
           pos + 1, n);
    cli_put_clean(stdout, reviewer);
    printf("  %s %d/%d  text version %d\n", o.status, o.approvals, o.needed, o.version);
    printf(DIM "recipe:" RESET " ");
    cli_put_clean(stdout, o.recipe ? o.recipe : "-");
    printf("   " DIM "model:" RESET " ");
    cli_put_clean(stdout, o.model);
    if (o.checkpoint_id) printf(" (checkpoint %lld)", (long long)o.checkpoint_id);
    printf("   " DIM "seed:" RESET " %lld\n", (long long)o.seed);
    printf(DIM "params:" RESET " ");
    cli_put_clean(stdout, o.params_json);
    printf("\n\n");
    if (o.breaks) {
        printf(RED "WARNING: the edited text breaks the output's constraints: it has the ");
        cli_put_clean(stdout, o.breaks);
        printf(RESET "\n");
    }
    if (o.edited) {
        printf(DIM "(edited; original below)" RESET "\n");
        cli_put_clean(stdout, o.text);
        printf("\n\n" DIM "original:" RESET "\n");
    }
    printf(PROMPT_STYLE);
    cli_put_clean(stdout, o.prompt);
    printf(RESET);
    cli_put_clean(stdout, o.continuation);
    printf("\n\n");
    if (msg && *msg) printf("%s\n", msg);
    printf(BOLD "[a]" RESET "pprove  " BOLD "[r]" RESET "eject  " BOLD "[e]" RESET "dit  " BOLD
                "[n]" RESET "ote  " BOLD "[s]" RESET "kip  " BOLD "[b]" RESET "ack  " BOLD
                "[q]" RESET "uit\n");
    fflush(stdout);
    reviews_output_free(&o);
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

/* What a key records: approve, reject, note or edit. */
typedef struct action {
    char key;
    int version;             /* the version shown */
    const char *note, *text; /* for n and e */
} action;

/* Record one action of reviewer on output id in its own transaction. */
static int record(store *st, int64_t id, const char *reviewer, action *a, char *err) {
    if (store_begin(st, err)) return -1;
    int rc = a->key == 'a'   ? reviews_approve(st, id, reviewer, &a->version, NULL, err)
             : a->key == 'r' ? reviews_reject(st, id, reviewer, a->version, NULL, err)
             : a->key == 'n'
                 ? reviews_note(st, id, reviewer, a->note, err)
                 : reviews_edit(st, id, reviewer, a->text, NULL, 0, &a->version, NULL, 0, err);
    if (rc) {
        store_rollback(st);
        return -1;
    }
    return store_commit(st, err);
}

/* The e key: edit output id's stored text in $EDITOR and record it; the
** outcome goes to msg. */
static void key_edit(store *st, int64_t id, const char *reviewer, char *msg, size_t cap) {
    char err[ERR_LEN];
    reviews_output o;
    char *edited = NULL;
    int bad = reviews_get(st, id, &o, err);
    raw_mode(0);
    /* edit what is stored now; record() refuses it if it changed meanwhile */
    if (!bad) bad = edit_text(o.text, &edited, err);
    raw_mode(1);
    action a = {'e', bad ? 0 : o.version, NULL, edited};
    if (!bad && edited) bad = record(st, id, reviewer, &a, err);
    snprintf(msg, cap, "%s%s" RESET, bad ? RED : GREEN,
             bad      ? err
             : edited ? "edit saved beside the original"
                      : "no change");
    reviews_output_free(&o);
    free(edited);
}

/* The n key: read a note line and record it on output id (version shown);
** the outcome goes to msg. */
static void key_note(store *st, int64_t id, const char *reviewer, int shown, char *msg,
                     size_t cap) {
    char err[ERR_LEN], line[2048];
    raw_mode(0);
    printf("note: ");
    fflush(stdout);
    int got = fgets(line, sizeof line, stdin) != NULL;
    raw_mode(1);
    if (!got) return;
    line[strcspn(line, "\n")] = 0;
    if (!*line) return;
    action a = {'n', shown, line, NULL};
    if (record(st, id, reviewer, &a, err))
        snprintf(msg, cap, RED "%s" RESET, err);
    else
        snprintf(msg, cap, GREEN "note saved" RESET);
}

int review_interactive(store *st, const char *reviewer) {
    char err[ERR_LEN];
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
        return cli_error("review: the interactive reviewer needs a terminal; use quill review "
                         "list/show/approve/reject instead");
    struct {
        int64_t *ids;
        size_t n;
    } q;
    if (reviews_queue(st, reviewer, &q.ids, &q.n, err)) return cli_error("review: %s", err);
    if (!q.n) {
        free(q.ids);
        printf("No pending outputs for ");
        cli_put_clean(stdout, reviewer);
        printf(".\n");
        return 0;
    }
    int64_t cursor = reviews_cursor_get(st, reviewer);
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
        reviews_cursor_set(st, reviewer, id);
        int shown;
        if (draw(st, id, pos, q.n, reviewer, msg, &shown, err)) {
            rc = cli_error("review: %s", err);
            break;
        }
        msg[0] = 0;
        int ch = getchar();
        if (ch == EOF || ch == 'q') break;
        if (ch == 'a' || ch == 'r') {
            action a = {(char)ch, shown, NULL, NULL};
            if (record(st, id, reviewer, &a, err))
                snprintf(msg, sizeof msg, RED "%s" RESET, err);
            else
                pos++;
        } else if (ch == 's') {
            pos++;
        } else if (ch == 'b') {
            if (pos) pos--;
        } else if (ch == 'e') {
            key_edit(st, id, reviewer, msg, sizeof msg);
        } else if (ch == 'n') {
            key_note(st, id, reviewer, shown, msg, sizeof msg);
        } else {
            snprintf(msg, sizeof msg, "unknown key; use a r e n s b q");
        }
    }
    if (pos >= q.n) {
        reviews_cursor_set(st, reviewer, q.ids[q.n - 1] + 1);
        printf("\033[H\033[2JNo more pending outputs for ");
        cli_put_clean(stdout, reviewer);
        printf(".\n");
    } else {
        printf("\nStopped at output %lld; `quill review` resumes here.\n", (long long)q.ids[pos]);
    }
    raw_mode(0);
    free(q.ids);
    return rc;
}
