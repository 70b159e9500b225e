/*
 * An open-loop HTTP load generator for bench/v1-latency: requests arrive as a Poisson process at
 * RATE per second, and each is timed from its SCHEDULED start, not from when a connection was free
 * to send it, so that a server that falls behind is charged for the queue it causes (no
 * "coordinated omission", which wrk's closed loop has). Not part of askd.
 *
 *     poisson-load PORT PATH BODY_FILE RATE SECONDS CONNECTIONS AUTHORIZATION SEED
 *
 * It opens CONNECTIONS kept-alive HTTP/1.1 connections to 127.0.0.1:PORT and POSTs BODY_FILE (as
 * application/json, with `Authorization: AUTHORIZATION` unless it is empty) to PATH, one request
 * at a time per connection; a request whose time has come while every connection is busy waits
 * for the first free one, its wait counted. One thread, epoll, and a timerfd armed for the next
 * arrival (the loop never spins). At the end it prints one JSON line: the count, the non-200
 * answers (a connection the server closed under a request counts as one), and the latency
 * percentiles in microseconds.
 *
 * Build (bench/v1-latency does): gcc -O2 -o poisson-load poisson-load.c -lm
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int fd;
    int busy;
    int64_t scheduled; /* ns, of the request in flight */
    char buffer[65536];
    size_t filled;
} Connection;

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int compare(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static int open_connection(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* The length of a whole response at the start of `buffer`, or 0 while it is incomplete. */
static size_t complete_response(const char *buffer, size_t filled, int *status) {
    const char *end = memmem(buffer, filled, "\r\n\r\n", 4);
    if (end == NULL) return 0;
    size_t head = (size_t)(end - buffer) + 4;
    *status = atoi(buffer + 9);
    long length = 0;
    for (const char *line = buffer; line < end; line = strstr(line, "\r\n") + 2) {
        if (strncasecmp(line, "Content-Length:", 15) == 0) length = atol(line + 15);
    }
    return filled >= head + (size_t)length ? head + (size_t)length : 0;
}

int main(int argc, char **argv) {
    if (argc != 9) {
        fprintf(stderr, "usage: poisson-load PORT PATH BODY_FILE RATE SECONDS CONNECTIONS AUTHORIZATION SEED\n");
        return 2;
    }
    int port = atoi(argv[1]);
    const char *path = argv[2];
    double rate = atof(argv[4]), seconds = atof(argv[5]);
    int count = atoi(argv[6]);
    const char *authorization = argv[7];
    srand48(atol(argv[8]));

    FILE *file = fopen(argv[3], "rb");
    if (file == NULL) die("body file");
    static char body[1 << 20];
    size_t body_length = fread(body, 1, sizeof body, file);
    fclose(file);
    static char request[(1 << 20) + 4096];
    int head = snprintf(request, 4096,
                        "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n%s%s%sContent-Length: %zu\r\n\r\n",
                        path, authorization[0] ? "Authorization: " : "", authorization, authorization[0] ? "\r\n" : "", body_length);
    memcpy(request + head, body, body_length);
    size_t request_length = (size_t)head + body_length;

    /* The arrivals: exponential gaps at `rate`. */
    size_t planned = (size_t)(rate * seconds * 1.5) + 16, total = 0;
    int64_t *arrivals = malloc(planned * sizeof *arrivals);
    int64_t *latencies = malloc(planned * sizeof *latencies);
    double at = 0;
    while (total < planned) {
        at += -log(1.0 - drand48()) / rate;
        if (at >= seconds) break;
        arrivals[total++] = (int64_t)(at * 1e9);
    }

    int epoll = epoll_create1(EPOLL_CLOEXEC);
    Connection *connections = calloc((size_t)count, sizeof *connections);
    for (int i = 0; i < count; i++) {
        connections[i].fd = open_connection(port);
        struct epoll_event event = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(epoll, EPOLL_CTL_ADD, connections[i].fd, &event);
    }
    int timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct epoll_event timer_event = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
    epoll_ctl(epoll, EPOLL_CTL_ADD, timer, &timer_event);

    int64_t start = now_ns() + 20000000;
    size_t sent = 0, done = 0, failed = 0;
    struct epoll_event events[256];
    while (done < total) {
        /* Send every request whose time has come, while a connection is free. */
        int64_t now = now_ns();
        for (int k = 0; k < count && sent < total && start + arrivals[sent] <= now; k++) {
            /* Round robin, so that every connection carries its share. */
            int i = (int)((sent + (size_t)k) % (size_t)count);
            if (connections[i].busy) continue;
            connections[i].busy = 1;
            connections[i].scheduled = start + arrivals[sent++];
            connections[i].filled = 0;
            if (send(connections[i].fd, request, request_length, MSG_NOSIGNAL) != (ssize_t)request_length) die("send");
        }
        /* Wake for the next arrival, unless every connection is busy: then the next answer wakes. */
        int idle = 0;
        for (int i = 0; i < count && !idle; i++) idle = !connections[i].busy;
        struct itimerspec due = {0};
        if (sent < total && idle) {
            int64_t when = start + arrivals[sent];
            due.it_value.tv_sec = when / 1000000000;
            due.it_value.tv_nsec = when % 1000000000;
        }
        timerfd_settime(timer, TFD_TIMER_ABSTIME, &due, NULL);
        int ready = epoll_wait(epoll, events, 256, 1000);
        if (ready < 0 && errno != EINTR) die("epoll_wait");
        for (int e = 0; e < ready; e++) {
            if (events[e].data.u32 == UINT32_MAX) {
                uint64_t expirations;
                (void)!read(timer, &expirations, sizeof expirations);
                continue;
            }
            Connection *c = &connections[events[e].data.u32];
            ssize_t got = recv(c->fd, c->buffer + c->filled, sizeof c->buffer - c->filled, 0);
            if (got <= 0) {
                if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                /* nginx closes a kept-alive connection after keepalive_requests (1,000): open
                   another. A request in flight on it fails. */
                epoll_ctl(epoll, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                c->fd = open_connection(port);
                struct epoll_event event = {.events = EPOLLIN, .data.u32 = events[e].data.u32};
                epoll_ctl(epoll, EPOLL_CTL_ADD, c->fd, &event);
                if (c->busy) {
                    latencies[done++] = now_ns() - c->scheduled;
                    failed++;
                    c->busy = 0;
                }
                continue;
            }
            c->filled += (size_t)got;
            int status = 0;
            size_t length = complete_response(c->buffer, c->filled, &status);
            if (length == 0 || !c->busy) continue;
            latencies[done++] = now_ns() - c->scheduled;
            if (status != 200) failed++;
            c->busy = 0;
            c->filled = 0;
        }
    }
    qsort(latencies, done, sizeof *latencies, compare);
#define PCT(p) (latencies[(size_t)((double)(done - 1) * (p))] / 1000.0)
    printf("{\"requests\": %zu, \"non_200\": %zu, \"rate\": %.0f, \"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, "
           "\"p999_us\": %.1f, \"max_us\": %.1f}\n",
           done, failed, rate, PCT(0.50), PCT(0.90), PCT(0.99), PCT(0.999), latencies[done - 1] / 1000.0);
    return 0;
}
