#define _GNU_SOURCE
#include "CLinux.h"
#include <poll.h>
#include <sched.h>

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

int askd_usable_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}

int askd_sem_wait_until(sem_t *sem, const struct timespec *deadline) {
    return sem_clockwait(sem, CLOCK_MONOTONIC, deadline);
}
