/*
 * The benchmark's reference point: about the smallest FastCGI responder libfcgi allows, for
 * bench/run to compare askd's /healthz with. Not part of askd.
 *
 *     reference-responder SOCKET_PATH [THREADS]      (THREADS: default 4)
 *
 * It listens on a Unix socket (FCGX_OpenSocket, backlog 1024), makes the socket usable by
 * nginx's workers (chmod 0666), and runs THREADS threads, each looping FCGX_Accept_r, one fixed
 * answer ({"status":"ok"}, 200, application/json), FCGX_Finish_r. There is no accept mutex: the
 * threads block in accept(2) on the same socket and the kernel hands each connection to one.
 * libfcgi honours FCGI_KEEP_CONN: a thread whose request asked to keep the connection reads the
 * next request from that connection in its next FCGX_Accept_r, so with nginx's connection reuse
 * each thread serves one connection at a time until nginx closes it.
 *
 * Build (bench/run does, with gcc or else clang): gcc -O2 -o reference-responder reference-responder.c -lfcgi -lpthread
 * SIGTERM or SIGINT unlink the socket and exit.
 */
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int listen_fd = -1;
static const char *socket_path;

static const char response[] =
    "Status: 200 OK\r\n"
    "Content-Type: application/json\r\n"
    "\r\n"
    "{\"status\":\"ok\"}";

static void *serve(void *arg)
{
    (void)arg;
    FCGX_Request request;
    if (FCGX_InitRequest(&request, listen_fd, 0) != 0) {
        fprintf(stderr, "reference-responder: FCGX_InitRequest failed\n");
        return NULL;
    }
    for (;;) {
        if (FCGX_Accept_r(&request) < 0) {
            continue; /* a failed accept or a broken connection: take the next one */
        }
        FCGX_PutStr(response, (int)sizeof response - 1, request.out);
        FCGX_Finish_r(&request);
    }
    return NULL;
}

static void on_signal(int sig)
{
    (void)sig;
    unlink(socket_path);
    _exit(0);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s SOCKET_PATH [THREADS]\n", argv[0]);
        return 2;
    }
    socket_path = argv[1];
    int threads = argc == 3 ? atoi(argv[2]) : 4;
    if (threads < 1 || threads > 4096) {
        fprintf(stderr, "reference-responder: bad thread count %s\n", argv[2]);
        return 2;
    }
    if (FCGX_Init() != 0) {
        fprintf(stderr, "reference-responder: FCGX_Init failed\n");
        return 1;
    }
    unlink(socket_path);
    listen_fd = FCGX_OpenSocket(socket_path, 1024);
    if (listen_fd < 0) {
        fprintf(stderr, "reference-responder: cannot listen on %s\n", socket_path);
        return 1;
    }
    if (chmod(socket_path, 0666) != 0) {
        perror("reference-responder: chmod");
        return 1;
    }
    /* A peer that goes away mid-write must not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    pthread_t *ids = calloc((size_t)threads, sizeof *ids);
    for (int i = 0; i < threads; i++) {
        int rc = pthread_create(&ids[i], NULL, serve, NULL);
        if (rc != 0) {
            fprintf(stderr, "reference-responder: pthread_create: %s\n", strerror(rc));
            return 1;
        }
    }
    fprintf(stderr, "reference-responder: %d threads on %s\n", threads, socket_path);
    for (int i = 0; i < threads; i++) {
        pthread_join(ids[i], NULL);
    }
    return 0;
}
