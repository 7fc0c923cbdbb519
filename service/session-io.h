/* SPDX-License-Identifier: GPL-2.0-or-later */
/* How the session reads requests from /dev/fuse: blocking, or busy-polling for a short while
 * after each request (session-io.c says why). */
#ifndef FUSE4FS_SVC_SESSION_IO_H
#define FUSE4FS_SVC_SESSION_IO_H

#include <stdbool.h>

struct fuse_session;

/* -o busy_poll=USEC (direct mode; docs/fuse4fs.8): how long the worker keeps asking for the next
 * request before it sleeps. The default is what every mount through fuservicemount gets. */
#define SVC_BUSY_POLL_DEFAULT_US 100
#define SVC_BUSY_POLL_MAX_US 1000

/*
 * Attach se to the /dev/fuse fd of a mount that already exists, instead of
 * fuse_session_mount(): the session owns fd afterwards (fuse_session_destroy() closes it), also
 * on failure. busy_poll_us 0 reads as libfuse would (sleeping in read()); otherwise the fd is made
 * non-blocking and each read polls for up to busy_poll_us before it sleeps in poll().
 * Returns 0 or -errno. Either way the INIT reply offers FUSE_HANDLE_KILLPRIV_V2 (session-io.c).
 */
int svc_session_attach(struct fuse_session *se, int fuse_fd, unsigned int busy_poll_us);

/*
 * Whether the request the calling thread is handling told us to clear setuid, and setgid
 * where group execute is set: a WRITE with FUSE_WRITE_KILL_SUIDGID or a SETATTR with
 * FATTR_KILL_SUIDGID (the kernel sets them when the caller lacks CAP_FSETID, and for every
 * chown). Only valid in a handler of that request.
 */
bool svc_session_kill_suidgid(void);

#endif
