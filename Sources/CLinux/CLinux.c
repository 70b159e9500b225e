#define _GNU_SOURCE
#include "CLinux.h"
#include <poll.h>

int askd_pipe2(int fds[2], int flags) {
    return pipe2(fds, flags);
}

int askd_set_thread_name(pthread_t thread, const char *name) {
    return pthread_setname_np(thread, name);
}

int askd_peer_hung_up(int fd) {
    struct pollfd probe = { .fd = fd, .events = POLLRDHUP, .revents = 0 };
    if (poll(&probe, 1, 0) != 1) return 0;
    return (probe.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}
