#ifndef ASKD_CPOSTGRES_SHIM_H
#define ASKD_CPOSTGRES_SHIM_H

#include <libpq-fe.h>

// PG_DIAG_SQLSTATE and PG_DIAG_MESSAGE_PRIMARY are character macros that Swift cannot import.
static inline int askd_pg_diag_sqlstate(void) {
    return PG_DIAG_SQLSTATE;
}

static inline int askd_pg_diag_message_primary(void) {
    return PG_DIAG_MESSAGE_PRIMARY;
}

// A notice processor that drops notices: libpq's default prints them to stderr, including the
// "terminating connection" notice of a server shutting down while a connection is idle.
static void askd_pg_ignore_notice(void *arg, const char *message) {
    (void)arg;
    (void)message;
}

static inline void askd_pg_silence_notices(PGconn *conn) {
    PQsetNoticeProcessor(conn, askd_pg_ignore_notice, NULL);
}

#endif
