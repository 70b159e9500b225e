#define _GNU_SOURCE
#include "CLinux.h"

int askd_pipe2(int fds[2], int flags) {
    return pipe2(fds, flags);
}

int askd_set_thread_name(pthread_t thread, const char *name) {
    return pthread_setname_np(thread, name);
}
