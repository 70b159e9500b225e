// An open-loop HTTP/1.1 load generator: requests arrive as a Poisson process (exponential gaps)
// at a set rate, over kept-alive connections, and each is timed from its scheduled start, so
// that a server that falls behind shows in the figures instead of slowing the load down
// (coordinated omission). Responses must carry Content-Length.
//
// Usage: openloop PORT PATH RATE SECONDS CONNECTIONS BODY [HEADER...]
//   BODY is the POST body ("" for a GET). Prints one line:
//   requests=N errors=E p50_ms= p90_ms= p99_ms= p999_ms= max_ms= late=L
//   (late: requests that found no free connection at their time and waited for one).
// Build: cc -O2 -o openloop bench/openloop.c -lm
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int fd;
    int busy;
    double scheduled;
    char buf[65536];
    size_t len;
} conn_t;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int dial(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); exit(1); }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

// The length of a complete response at the start of buf, or 0 if it is not all there yet.
static size_t complete(const char *buf, size_t len, int *status) {
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t head = end - buf + 4;
    *status = atoi(buf + 9);
    const char *cl = memmem(buf, head, "Content-Length:", 15);
    if (!cl) cl = memmem(buf, head, "content-length:", 15);
    size_t body = cl ? strtoul(cl + 15, NULL, 10) : 0;
    return len >= head + body ? head + body : 0;
}

int main(int argc, char **argv) {
    if (argc < 7) { fprintf(stderr, "usage: openloop PORT PATH RATE SECONDS CONNECTIONS BODY [HEADER...]\n"); return 2; }
    int port = atoi(argv[1]);
    const char *path = argv[2];
    double rate = atof(argv[3]), seconds = atof(argv[4]);
    int nconn = atoi(argv[5]);
    const char *body = argv[6];
    char request[8192];
    int n = snprintf(request, sizeof request, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n", *body ? "POST" : "GET", path);
    for (int i = 7; i < argc; i++) n += snprintf(request + n, sizeof request - n, "%s\r\n", argv[i]);
    if (*body) n += snprintf(request + n, sizeof request - n, "Content-Type: application/json\r\nContent-Length: %zu\r\n", strlen(body));
    n += snprintf(request + n, sizeof request - n, "\r\n%s", body);

    conn_t *conns = calloc(nconn, sizeof *conns);
    int ep = epoll_create1(0);
    for (int i = 0; i < nconn; i++) {
        conns[i].fd = dial(port);
        struct epoll_event e = {.events = EPOLLIN, .data.u32 = i};
        epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &e);
    }
    size_t cap = (size_t)(rate * seconds * 1.5) + 1000, count = 0, errors = 0, late = 0;
    double *lat = malloc(cap * sizeof *lat);
    double *queue = malloc(cap * sizeof *queue);
    size_t qhead = 0, qtail = 0;
    srand48(getpid());
    double start = now(), next = start, stop = start + seconds;
    size_t inflight = 0;
    while (now() < stop || inflight > 0 || qhead < qtail) {
        double t = now();
        while (next <= t && next < stop) {
            queue[qtail++] = next;
            next += -log(1.0 - drand48()) / rate;
        }
        for (int i = 0; i < nconn && qhead < qtail; i++) {
            if (conns[i].busy) continue;
            if (queue[qhead] < t - 0.0005) late++;
            conns[i].busy = 1;
            conns[i].scheduled = queue[qhead++];
            conns[i].len = 0;
            if (write(conns[i].fd, request, n) != n) { perror("write"); return 1; }
            inflight++;
        }
        double wait = (next < stop ? next : stop) - now();
        int timeout = qhead < qtail ? 0 : (wait > 0 ? (int)(wait * 1000) : 0);
        if (now() >= stop) timeout = 100;
        struct epoll_event events[64];
        int k = epoll_wait(ep, events, 64, timeout);
        for (int j = 0; j < k; j++) {
            conn_t *c = &conns[events[j].data.u32];
            ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
            if (r <= 0) {
                // nginx closes a kept-alive connection after keepalive_requests: open another,
                // and send again a request that was cut (it keeps its scheduled time).
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                c->fd = dial(port);
                c->len = 0;
                struct epoll_event e = {.events = EPOLLIN, .data.u32 = events[j].data.u32};
                epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e);
                if (c->busy && write(c->fd, request, n) != n) { perror("write"); return 1; }
                continue;
            }
            c->len += r;
            int status = 0;
            size_t whole = complete(c->buf, c->len, &status);
            if (!whole || !c->busy) continue;
            if (status != 200) errors++;
            if (count < cap) lat[count++] = now() - c->scheduled;
            c->busy = 0;
            inflight--;
        }
        if (now() > stop + 30) { fprintf(stderr, "openloop: answers still missing 30 s after the end\n"); break; }
    }
    qsort(lat, count, sizeof *lat, cmp);
#define P(q) (count ? lat[(size_t)((count - 1) * (q))] * 1000 : 0)
    printf("requests=%zu errors=%zu p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f late=%zu\n",
           count, errors, P(0.5), P(0.9), P(0.99), P(0.999), count ? lat[count - 1] * 1000 : 0, late);
    return 0;
}
