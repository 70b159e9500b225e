#ifndef ASKD_CLINUX_H
#define ASKD_CLINUX_H

// Linux interfaces that Swift's Glibc module does not expose: epoll, eventfd, pipe2, accept4, thread
// names, POLLRDHUP, mallopt, the usable CPUs and sem_clockwait.

#include <fcntl.h>
#include <stdint.h>
#include <malloc.h>
#include <pthread.h>
#include <semaphore.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

int askd_pipe2(int fds[2], int flags);
/// accept4(2) with SOCK_CLOEXEC: the next connection on `fd`, its peer's address in `address`.
int askd_accept_cloexec(int fd, struct sockaddr *address, socklen_t *length);
int askd_set_thread_name(pthread_t thread, const char *name);
/// 1 if the peer of socket `fd` has closed or shut down its side, 0 if not (checked without waiting).
int askd_peer_hung_up(int fd);

/// How many CPUs this thread may run on: its affinity mask (or the online CPUs if that is unknown),
/// within the CPU quota of its cgroup and their parents (cgroup v2 `cpu.max`).
int askd_usable_cpus(void);
/// `sem_wait` until `deadline` on CLOCK_MONOTONIC: 0, or -1 with errno (ETIMEDOUT, EINTR).
int askd_sem_wait_until(sem_t *sem, const struct timespec *deadline);

/// What the request a thread is answering has spent waiting for others, in seconds: for the
/// model, and for the client. Each thread has its own (thread-local storage).
struct askd_request_waits {
    double upstream;
    double client;
};
/// The calling thread's `askd_request_waits`.
struct askd_request_waits *askd_thread_request_waits(void);

/// The 8 bytes at `address` (8-byte aligned), read in one load that the compiler keeps: for a
/// number another process may rewrite in a shared mapping.
uint64_t askd_load_shared_u64(const void *address);

#endif
