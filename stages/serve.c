/*
** `quill serve`: options, the listening socket, TLS, signals (serve.h).
*/
#include "serve.h"

#include "cli.h"
#include "err.h"
#include "slurp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

serve_cfg serve_config;

/* Each server thread's store connection, closed when the thread ends (a
** pool thread when the daemon stops, a connection's thread when it
** closes). */
static pthread_key_t store_key;
static pthread_once_t store_key_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

static void close_thread_store(void *st) {
    store_close(st);
}

static void make_store_key(void) {
    if (pthread_key_create(&store_key, close_thread_store)) abort();
}

store *serve_store(char *err) {
    pthread_once(&store_key_once, make_store_key);
    store *st = pthread_getspecific(store_key);
    if (st) return st;
    if (store_open_mode(serve_config.db_path, STORE_WRITE, &st, err)) {
        err_prefix(err, "cannot open the store");
        return NULL;
    }
    if (pthread_setspecific(store_key, st)) {
        store_close(st);
        err_set(err, "cannot keep the store connection");
        return NULL;
    }
    return st;
}

void serve_write_lock(int take) {
    if (take)
        pthread_mutex_lock(&write_lock);
    else
        pthread_mutex_unlock(&write_lock);
}

/* The daemon flags and threads of QUILL_SERVE_MODE (hidden, for bench/desk):
** "threads" (the default: a thread per connection, poll), "pool" (an
** internal epoll loop in each of QUILL_SERVE_THREADS threads, default 4)
** or "epoll" (one such thread).  A thread per connection by default since a
** request may wait for the write lock, and in a pool the waiting thread
** holds up every other connection it serves, reads included (bench/desk's
** "read p99 while writing": 66-84 ms with a thread per connection against
** 133-218 ms in a pool of 4, 16 connections, on a loaded machine).
** Returns -1 when the mode is unknown. */
static int serve_mode(unsigned *flags, unsigned *threads) {
    const char *mode = getenv("QUILL_SERVE_MODE"), *n = getenv("QUILL_SERVE_THREADS");
    long long t = 4;
    if (n && cli_int(n, 1, 64, &t)) return -1;
    *threads = (unsigned)t;
    *flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC;
    if (!mode || !strcmp(mode, "threads")) {
        *flags |= MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
        *threads = 0;
    } else if (!strcmp(mode, "pool")) {
        *flags |= MHD_USE_EPOLL;
    } else if (!strcmp(mode, "epoll")) {
        *flags |= MHD_USE_EPOLL;
        *threads = 1;
    } else {
        return -1;
    }
    return 0;
}

static const char *usage =
    "usage: quill serve [--listen ADDR:PORT] [--tls-cert FILE --tls-key FILE]\n"
    "                   [--insecure-http]\n"
    "The review desk: a web page where reviewers (quill reviewer add) read,\n"
    "edit, approve and reject outputs.  Default --listen 127.0.0.1:8750; port 0\n"
    "picks a free one.  The first line on stdout is `listening on URL`.\n"
    "Any address but loopback needs --tls-cert and --tls-key (PEM), or\n"
    "--insecure-http (tokens and cookies then cross the network in clear).\n"
    "SIGINT or SIGTERM stops it; requests in flight finish.\n";

/* SIGINT and SIGTERM write their number here; cmd_serve waits on it. */
static int stop_pipe[2];

/* The stop signals' handler: async-signal-safe, it only writes a byte. */
static void on_stop(int sig) {
    unsigned char b = (unsigned char)sig;
    int saved = errno;
    if (write(stop_pipe[1], &b, 1) < 0) {
        /* the pipe is full: a stop is already pending */
    }
    errno = saved;
}

/* Parse "ADDR:PORT" ("[v6]:PORT" for IPv6) into *sa; 0 or -1. */
static int parse_listen(const char *s, struct sockaddr_storage *sa, socklen_t *len, char *host,
                        size_t cap) {
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s) return -1;
    size_t hl = (size_t)(colon - s);
    if (s[0] == '[' && hl >= 2 && s[hl - 1] == ']') {
        s++;
        hl -= 2;
    }
    if (hl + 1 > cap || hl >= 64) return -1;
    memcpy(host, s, hl);
    host[hl] = 0;
    long long port;
    if (cli_int(colon + 1, 0, 65535, &port)) return -1;
    memset(sa, 0, sizeof *sa);
    struct sockaddr_in *v4 = (struct sockaddr_in *)sa;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)sa;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof *v4;
        serve_config.loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *len = sizeof *v6;
        serve_config.loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
    } else {
        return -1;
    }
    return 0;
}

/* Bind and listen on sa; returns the socket and the bound port, or -1. */
static int open_socket(const struct sockaddr_storage *sa, socklen_t len, int *port, char *err) {
    int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0) return err_set(err, "socket: %m");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (const struct sockaddr *)sa, len) || listen(fd, 128)) {
        err_set(err, "%m");
        close(fd);
        return -1;
    }
    struct sockaddr_storage got;
    socklen_t gl = sizeof got;
    getsockname(fd, (struct sockaddr *)&got, &gl);
    *port = ntohs(got.ss_family == AF_INET ? ((struct sockaddr_in *)&got)->sin_port
                                           : ((struct sockaddr_in6 *)&got)->sin6_port);
    return fd;
}

/* Read the PEM files cert and key into *cert_pem and *key_pem (malloc'd;
** both NULL on failure). */
static int load_tls(const char *cert, const char *key, char **cert_pem, char **key_pem, char *err) {
    size_t cn, kn;
    *cert_pem = *key_pem = NULL;
    if (!MHD_is_feature_supported(MHD_FEATURE_TLS))
        return err_set(err, "this libmicrohttpd has no TLS");
    if (!slurp(cert, cert_pem, &cn, err) && !slurp(key, key_pem, &kn, err)) return 0;
    free(*cert_pem);
    *cert_pem = NULL;
    return -1;
}

/* SIGINT and SIGTERM write to stop_pipe (a handler, not sigwait: threads
** started before us, OpenMP's or MPI's, do not block the signals, and any
** of them may receive one); SIGPIPE is ignored.  0, or -1 with errno. */
static int catch_stop(void) {
    if (pipe2(stop_pipe, O_CLOEXEC)) return -1;
    struct sigaction sa_stop = {.sa_handler = on_stop};
    sigemptyset(&sa_stop.sa_mask);
    sigaction(SIGINT, &sa_stop, NULL);
    sigaction(SIGTERM, &sa_stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/* The daemon on the listening socket fd (threads > 1: a pool of them),
** with TLS when cert_pem; NULL when it cannot start. */
static struct MHD_Daemon *start_daemon(unsigned flags, unsigned threads, int fd,
                                       const char *cert_pem, const char *key_pem) {
    return MHD_start_daemon(flags, 0, NULL, NULL, serve_handle, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
                            threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE
                                        : MHD_OPTION_CONNECTION_TIMEOUT,
                            threads > 1 ? threads : 15u, MHD_OPTION_CONNECTION_TIMEOUT, 15u,
                            MHD_OPTION_CONNECTION_LIMIT, 256u, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                            128u, MHD_OPTION_NOTIFY_COMPLETED, serve_done, NULL,
                            cert_pem ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cert_pem,
                            MHD_OPTION_HTTPS_MEM_KEY, key_pem, MHD_OPTION_END);
}

/* Wait for SIGINT or SIGTERM, then stop d: no new connection is taken and
** the requests in flight finish. */
static void wait_and_stop(struct MHD_Daemon *d) {
    unsigned char sig = 0;
    while (read(stop_pipe[0], &sig, 1) < 0 && errno == EINTR)
        ;
    fprintf(stderr, "quill: serve: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    MHD_quiesce_daemon(d);
    MHD_stop_daemon(d); /* joins the threads (each closes its store) */
}

/* serve's options. */
typedef struct serve_args {
    const char *listen_at, *cert, *key;
    int insecure;
} serve_args;

/* Read serve's options into a.  Returns 0, 1 after --help (printed), or 2
** after a usage error (reported). */
static int serve_parse(int argc, char **argv, serve_args *a) {
    static const struct option opts[] = {
        {"listen", required_argument, 0, 'l'},  {"tls-cert", required_argument, 0, 'c'},
        {"tls-key", required_argument, 0, 'k'}, {"insecure-http", no_argument, 0, 'i'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    *a = (serve_args){"127.0.0.1:8750", NULL, NULL, 0};
    optind = 1;
    for (int o; (o = getopt_long(argc, argv, ":", opts, NULL)) != -1;) {
        if (o == 'l')
            a->listen_at = optarg;
        else if (o == 'c')
            a->cert = optarg;
        else if (o == 'k')
            a->key = optarg;
        else if (o == 'i')
            a->insecure = 1;
        else if (o == 'h')
            return fputs(usage, stdout), 1;
        else
            return cli_bad_option("serve", o, argv);
    }
    if (optind < argc) return cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
    return 0;
}

/* `quill serve`; returns the exit status. */
int cmd_serve(cli *c, int argc, char **argv) {
    serve_args a;
    int prc = serve_parse(argc, argv, &a);
    if (prc) return prc == 1 ? 0 : prc;
    const char *listen_at = a.listen_at, *cert = a.cert, *key = a.key;
    int insecure = a.insecure;
    unsigned flags, threads;
    if (serve_mode(&flags, &threads))
        return cli_error("serve: QUILL_SERVE_MODE must be pool, epoll or threads and "
                         "QUILL_SERVE_THREADS 1..64");
    struct sockaddr_storage sa;
    socklen_t salen;
    char host[80], err[ERR_LEN];
    if (parse_listen(listen_at, &sa, &salen, host, sizeof host))
        return cli_usage_error("serve", "--listen: '%s' is not ADDR:PORT (an IP address)",
                               listen_at);
    if (!cert != !key) return cli_usage_error("serve", "--tls-cert and --tls-key go together");
    if (!serve_config.loopback && !cert && !insecure)
        return cli_usage_error("serve",
                               "--listen %s is not loopback: give --tls-cert and --tls-key, or "
                               "--insecure-http to send tokens in clear",
                               listen_at);
    char *cert_pem = NULL, *key_pem = NULL;
    if (cert && load_tls(cert, key, &cert_pem, &key_pem, err)) return cli_error("serve: %s", err);
    if (!cert && !serve_config.loopback)
        fprintf(stderr,
                "quill: serve: warning: plain HTTP on %s: login tokens and session "
                "cookies cross the network in clear\n",
                listen_at);
    store_threaded(); /* before cli_store opens the first store */
    serve_config.db_path = c->db_path;
    serve_config.tls = cert != NULL;
    store *st = cli_store(c, STORE_WRITE); /* migrate once, before the threads */
    if (!st) {
        free(cert_pem), free(key_pem);
        return 1;
    }
    int port = 0, fd = open_socket(&sa, salen, &port, err);
    if (fd < 0) {
        free(cert_pem), free(key_pem);
        return cli_error("serve: --listen %s: %s", listen_at, err);
    }
    if (catch_stop()) {
        close(fd);
        free(cert_pem), free(key_pem);
        return cli_error("serve: pipe: %m");
    }
    struct MHD_Daemon *d =
        start_daemon(flags | (cert ? MHD_USE_TLS : 0), threads, fd, cert_pem, key_pem);
    if (!d) {
        close(fd);
        free(cert_pem), free(key_pem);
        return cli_error("serve: cannot start the server on %s (a bad certificate or key?)",
                         listen_at);
    }
    int v6 = sa.ss_family == AF_INET6;
    printf("listening on http%s://%s%s%s:%d/\n", cert ? "s" : "", v6 ? "[" : "", host,
           v6 ? "]" : "", port);
    fflush(stdout);
    wait_and_stop(d);
    close(fd);
    close(stop_pipe[0]);
    close(stop_pipe[1]);
    free(cert_pem), free(key_pem);
    return 0;
}
