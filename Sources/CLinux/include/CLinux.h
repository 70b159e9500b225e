#ifndef ASKD_CLINUX_H
#define ASKD_CLINUX_H

// Linux interfaces that Swift's Glibc module does not expose: epoll, pipe2 and thread names.

#include <fcntl.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <unistd.h>

int askd_pipe2(int fds[2], int flags);
int askd_set_thread_name(pthread_t thread, const char *name);

#endif
