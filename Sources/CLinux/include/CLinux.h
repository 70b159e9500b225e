#ifndef ASKD_CLINUX_H
#define ASKD_CLINUX_H

// Linux interfaces that Swift's Glibc module does not expose: epoll, eventfd, pipe2, thread
// names, POLLRDHUP and mallopt.

#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

int askd_pipe2(int fds[2], int flags);
int askd_set_thread_name(pthread_t thread, const char *name);
/// 1 if the peer of socket `fd` has closed or shut down its side, 0 if not (checked without waiting).
int askd_peer_hung_up(int fd);

#endif
