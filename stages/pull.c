/*
** `quill pull MODEL [--dir DIR]`: download a model's files from the
** Hugging Face hub (or $HF_ENDPOINT) with libcurl.
**
** Files: config.json, model.safetensors, vocab.json, merges.txt (required)
** and tokenizer.json (skipped on 404).  URL: ENDPOINT/MODEL/resolve/main/F,
** with "Authorization: Bearer $HF_TOKEN" when set.  Each file downloads to
** F.part; a later pull resumes it with a Range request.  What arrived is
** checked before it is renamed into place: the hub sends X-Linked-Etag
** (LFS files: the sha256 of the content) or ETag (other files: the git
** blob id, sha1 of "blob SIZE\0" + content); a mismatch deletes the part
** file and fails.  A file already in DIR whose hash matches the hub's is
** not downloaded again.
*/
#include "cli.h"
#include "err.h"
#include "fsutil.h"
#include "progress.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct dl {
    FILE *f;
    long status;       /* of the last response */
    int range_ignored; /* asked to resume, the server sent everything */
    char linked[80];   /* X-Linked-Etag, from any response */
    char etag[80];     /* ETag of the first response that had one */
    progress prog;
} dl;

/* Keep the hash-bearing headers; the status line resets per response. */
static size_t on_header(char *buf, size_t size, size_t n, void *arg) {
    dl *d = arg;
    size_t len = size * n;
    char line[256];
    size_t k = len < sizeof line - 1 ? len : sizeof line - 1;
    memcpy(line, buf, k);
    line[k] = 0;
    line[strcspn(line, "\r\n")] = 0;
    char *colon = strchr(line, ':');
    if (!colon) return len;
    *colon = 0;
    char *v = colon + 1;
    while (*v == ' ')
        v++;
    if (!strncmp(v, "W/", 2)) v += 2;
    if (*v == '"') v++;
    v[strcspn(v, "\"")] = 0;
    if (!strcasecmp(line, "x-linked-etag"))
        snprintf(d->linked, sizeof d->linked, "%s", v);
    else if (!strcasecmp(line, "etag") && !d->etag[0])
        snprintf(d->etag, sizeof d->etag, "%s", v);
    return len;
}

/* libcurl write callback: append the bytes to the download's file and
** advance its progress bar. */
static size_t on_body(char *buf, size_t size, size_t n, void *arg) {
    dl *d = arg;
    size_t w = fwrite(buf, size, n, d->f);
    progress_add(&d->prog, (double)(size * w) / 1e6);
    return size * w;
}

/* 1 when s is exactly n hex digits. */
static int is_hex(const char *s, size_t n) {
    if (strlen(s) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i])) return 0;
    return 1;
}

/* The hex digest of path: sha256 of the bytes, or (git) sha1 of
** "blob SIZE\0" + bytes. */
static int file_digest(const char *path, int git_sha1, char *hex, char *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(err, "%s: %s", path, strerror(errno));
    struct stat sb;
    fstat(fileno(f), &sb);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, git_sha1 ? EVP_sha1() : EVP_sha256(), NULL);
    if (git_sha1) {
        char head[64];
        int k = snprintf(head, sizeof head, "blob %lld", (long long)sb.st_size);
        EVP_DigestUpdate(ctx, head, (size_t)k + 1);
    }
    static unsigned char buf[1 << 16];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)))
        EVP_DigestUpdate(ctx, buf, got);
    int bad = ferror(f);
    fclose(f);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    if (bad) return err_set(err, "%s: read error", path);
    for (unsigned i = 0; i < mdlen; i++)
        sprintf(hex + 2 * i, "%02x", md[i]);
    return 0;
}

/* Check the file at path (named label in messages) against the hub's hash;
** *verified says whether there was one to check. */
static int verify(const char *path, const char *label, const dl *d, int *verified, char *err) {
    const char *want = d->linked[0] ? d->linked : d->etag;
    int sha256 = is_hex(want, 64), sha1 = is_hex(want, 40);
    *verified = sha256 || sha1;
    if (!*verified) return 0;
    char got[2 * EVP_MAX_MD_SIZE + 1];
    if (file_digest(path, sha1, got, err)) return -1;
    if (strcasecmp(got, want))
        return err_set(err, "%s: checksum mismatch: the hub says %s %s, the download has %s", label,
                       sha256 ? "sha256" : "git sha1", want, got);
    return 0;
}

typedef struct hub {
    CURL *curl;
    struct curl_slist *headers;
    const char *endpoint;
} hub;

/* One request for url into d (body to d->f when not NULL); HEAD when
** head.  Returns 0 with d->status set, -1 on a transport error. */
static int request(hub *h, const char *url, dl *d, long resume_from, int head, char *err) {
    CURL *c = h->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->headers);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "quill/" QUILL_VERSION);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, d);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L); /* no error page in the file */
    if (head) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, d);
        if (resume_from > 0)
            curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)resume_from);
    }
    char ebuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &d->status);
    if (rc == CURLE_HTTP_RETURNED_ERROR) return 0; /* d->status says which */
    if (rc == CURLE_RANGE_ERROR && resume_from > 0) {
        d->range_ignored = 1;
        return 0;
    }
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
        rc == CURLE_OPERATION_TIMEDOUT)
        return err_set(err, "cannot reach %s (%s); offline? HF_ENDPOINT can name a mirror",
                       h->endpoint, *ebuf ? ebuf : curl_easy_strerror(rc));
    if (rc != CURLE_OK) return err_set(err, "%s: %s", url, *ebuf ? ebuf : curl_easy_strerror(rc));
    return 0;
}

/* 1 when path is already here and matches the hub's hash for url (said on
** stdout), 0 when it must be downloaded; -1 with err when the hub cannot
** be asked.  d is left cleared for the download. */
static int up_to_date(hub *h, const char *url, const char *path, const char *name, dl *d,
                      char *err) {
    struct stat sb;
    if (stat(path, &sb)) return 0;
    if (request(h, url, d, 0, 1, err)) return -1;
    int verified;
    char e2[ERR_LEN];
    if (d->status == 200 && !verify(path, path, d, &verified, e2) && verified) {
        printf("%s: up to date\n", name);
        return 1;
    }
    memset(d, 0, sizeof *d);
    return 0;
}

/* Download url into part, resuming the *have bytes already there; starts
** over (*have = 0) when the server cannot resume or does not recognise the
** part.  -1 with err on a transfer or write error (part kept). */
static int download(hub *h, const char *url, const char *part, const char *name, dl *d, long *have,
                    char *err) {
    for (int attempt = 0; attempt < 2; attempt++) {
        d->f = fopen(part, *have ? "ab" : "wb");
        if (!d->f) return err_set(err, "%s: %s", part, strerror(errno));
        d->linked[0] = d->etag[0] = 0;
        progress_begin(&d->prog, name, "MB", 0);
        int bad = request(h, url, d, *have, 0, err);
        progress_end(&d->prog);
        if (fclose(d->f)) bad = err_set(err, "%s: write error", part);
        if (bad) return -1; /* the part file stays for the next pull to resume */
        if (d->status == 416 && *have) {
            /* the part is no prefix the server recognises: start over */
            unlink(part);
            *have = 0;
            continue;
        }
        if (d->range_ignored) {
            /* the server cannot resume: start over */
            d->range_ignored = 0;
            unlink(part);
            *have = 0;
            continue;
        }
        break;
    }
    return 0;
}

/* What the download's HTTP status means: 0 a file to keep, 1 an optional
** file the model does not have (said on stdout), -1 with err otherwise;
** part is removed unless the status leaves something to resume. */
static int check_status(const dl *d, const char *url, const char *model, const char *name,
                        const char *part, int optional, char *err) {
    if (d->status == 404 || d->status == 401 || d->status == 403) unlink(part);
    if (d->status == 404 && optional) {
        printf("%s: not in %s, skipped\n", name, model);
        return 1;
    }
    if (d->status == 401 || d->status == 403)
        return err_set(err, "%s: access denied (HTTP %ld)%s", url, d->status,
                       getenv("HF_TOKEN") ? "; check HF_TOKEN" : "; set HF_TOKEN for gated models");
    if (d->status == 404)
        return err_set(err, "%s: not found (HTTP 404); is '%s' a model on the hub?", url, model);
    if (d->status != 200 && d->status != 206) return err_set(err, "%s: HTTP %ld", url, d->status);
    return 0;
}

/* Download one file; *skipped when optional and absent. */
static int fetch(hub *h, const char *model, const char *dir, const char *name, int optional,
                 int *skipped, char *err) {
    *skipped = 0;
    dl d = {0};
    size_t n = strlen(h->endpoint) + strlen(model) + strlen(name) + 32;
    char *url = malloc(n), *path = malloc(strlen(dir) + strlen(name) + 8),
         *part = malloc(strlen(dir) + strlen(name) + 8);
    int rc = -1, st = -1, verified = 0;
    struct stat sb;
    long have = 0;
    if (!url || !path || !part) {
        err_set(err, "out of memory");
        goto done;
    }
    snprintf(url, n, "%s/%s/resolve/main/%s", h->endpoint, model, name);
    sprintf(path, "%s/%s", dir, name);
    sprintf(part, "%s.part", path);
    if ((rc = up_to_date(h, url, path, name, &d, err))) {
        rc = rc > 0 ? 0 : -1;
        goto done;
    }
    rc = -1;
    have = stat(part, &sb) ? 0 : (long)sb.st_size;
    if (download(h, url, part, name, &d, &have, err) ||
        (st = check_status(&d, url, model, name, part, optional, err)) < 0)
        goto done;
    if (st > 0) {
        *skipped = 1;
        rc = 0;
        goto done;
    }
    if (verify(part, path, &d, &verified, err)) {
        unlink(part);
        goto done;
    }
    if (rename(part, path)) {
        err_set(err, "%s: %s", path, strerror(errno));
        goto done;
    }
    stat(path, &sb);
    printf("%s: %lld bytes%s%s\n", name, (long long)sb.st_size, have ? " (resumed)" : "",
           verified ? ", checksum ok" : ", no checksum from the server");
    rc = 0;
done:
    /* a part file with bytes is kept for the next pull to resume; an empty
    ** one is nothing to resume */
    if (rc && part && !stat(part, &sb) && sb.st_size == 0) unlink(part);
    free(url);
    free(path);
    free(part);
    return rc;
}

static const char *usage = "usage: quill pull MODEL [--dir DIR]\n"
                           "Downloads config.json, model.safetensors, vocab.json, merges.txt and\n"
                           "tokenizer.json (when present) of MODEL (e.g. distilgpt2) from\n"
                           "$HF_ENDPOINT (default https://huggingface.co) into DIR (default\n"
                           "models/MODEL), with $HF_TOKEN as a bearer token when set.  Partial\n"
                           "downloads resume; each file's checksum is verified.\n";

/* `quill pull MODEL [--dir DIR]`. */
int cmd_pull(cli *c, int argc, char **argv) {
    static const struct option opts[] = {
        {"dir", required_argument, 0, 'd'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *dir = NULL;
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (opt == 'd')
            dir = optarg;
        else if (opt == 'h')
            return fputs(usage, stdout), 0;
        else
            return cli_bad_option("pull", opt, argv);
    }
    if (optind + 1 != argc)
        return cli_usage_error("pull", optind == argc ? "no MODEL given" : "one MODEL at a time");
    const char *model = argv[optind];
    if (!*model || strstr(model, "..") || model[0] == '/' || strpbrk(model, " ?#%"))
        return cli_error("pull: '%s' is not a model name (like distilgpt2 or org/name)", model);
    char defdir[1024];
    if (!dir) {
        snprintf(defdir, sizeof defdir, "models/%s", model);
        dir = defdir;
    }
    char err[ERR_LEN], endpoint[1024];
    const char *ep = getenv("HF_ENDPOINT");
    snprintf(endpoint, sizeof endpoint, "%s", ep && *ep ? ep : "https://huggingface.co");
    for (size_t k = strlen(endpoint); k && endpoint[k - 1] == '/';)
        endpoint[--k] = 0;
    struct stat sb;
    int made_dir = stat(dir, &sb) != 0;
    if (fs_mkdirs(dir, err)) return cli_error("pull: %s", err);
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) return cli_error("pull: cannot start libcurl");
    hub h = {curl_easy_init(), NULL, endpoint};
    const char *token = getenv("HF_TOKEN");
    if (token && *token) {
        char *auth = malloc(strlen(token) + 32);
        sprintf(auth, "Authorization: Bearer %s", token);
        h.headers = curl_slist_append(NULL, auth);
        free(auth);
    }
    static const struct {
        const char *name;
        int optional;
    } files[] = {{"config.json", 0},
                 {"vocab.json", 0},
                 {"merges.txt", 0},
                 {"tokenizer.json", 1},
                 {"model.safetensors", 0}};
    int rc = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0] && !rc; i++) {
        int skipped;
        if (fetch(&h, model, dir, files[i].name, files[i].optional, &skipped, err))
            rc = cli_error("pull %s: %s", model, err);
    }
    if (!rc) printf("pulled %s into %s\n", model, dir);
    if (rc && made_dir) rmdir(dir); /* a failed pull leaves no empty folder behind */
    curl_slist_free_all(h.headers);
    curl_easy_cleanup(h.curl);
    curl_global_cleanup();
    (void)c;
    return rc;
}
