#define _GNU_SOURCE
#include "CLinux.h"
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int askd_pipe2(int fds[2], int flags) {
    return pipe2(fds, flags);
}

int askd_accept_cloexec(int fd, struct sockaddr *address, socklen_t *length) {
    return accept4(fd, address, length, SOCK_CLOEXEC);
}

int askd_set_thread_name(pthread_t thread, const char *name) {
    return pthread_setname_np(thread, name);
}

int askd_peer_hung_up(int fd) {
    struct pollfd probe = { .fd = fd, .events = POLLRDHUP, .revents = 0 };
    if (poll(&probe, 1, 0) != 1) return 0;
    return (probe.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

/// The CPUs a cgroup v2 quota (`cpu.max`, as systemd's CPUQuota= sets it) allows this process
/// and its parent cgroups, rounded up; 0 if there is none or it cannot be read.
static int cgroup_cpu_quota(void) {
    char path[4096] = "";
    FILE *file = fopen("/proc/self/cgroup", "r");
    if (!file) return 0;
    char line[4096];
    while (fgets(line, sizeof line, file)) {
        if (strncmp(line, "0::", 3) == 0) {
            snprintf(path, sizeof path, "%s", line + 3);
            path[strcspn(path, "\n")] = 0;
            break;
        }
    }
    fclose(file);
    int cpus = 0;
    while (path[0] == '/') {
        char name[4200];
        snprintf(name, sizeof name, "/sys/fs/cgroup%s/cpu.max", path);
        FILE *limit = fopen(name, "r");
        if (limit) {
            char quota[32];
            long period = 0;
            if (fscanf(limit, "%31s %ld", quota, &period) == 2 && strcmp(quota, "max") != 0 && period > 0) {
                long microseconds = atol(quota);
                int allowed = microseconds > 0 ? (int)((microseconds + period - 1) / period) : 0;
                if (allowed > 0 && (cpus == 0 || allowed < cpus)) cpus = allowed;
            }
            fclose(limit);
        }
        char *slash = strrchr(path, '/');
        if (slash == path) break;
        *slash = 0;
    }
    return cpus;
}

int askd_usable_cpus(void) {
    int cpus = 0;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) cpus = CPU_COUNT(&set);
    if (cpus <= 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        cpus = online > 0 ? (int)online : 1;
    }
    int quota = cgroup_cpu_quota();
    return quota > 0 && quota < cpus ? quota : cpus;
}

int askd_sem_wait_until(sem_t *sem, const struct timespec *deadline) {
    return sem_clockwait(sem, CLOCK_MONOTONIC, deadline);
}

static __thread struct askd_request_waits request_waits;

struct askd_request_waits *askd_thread_request_waits(void) {
    return &request_waits;
}

uint64_t askd_load_shared_u64(const void *address) {
    return __atomic_load_n((const uint64_t *)address, __ATOMIC_ACQUIRE);
}
