/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The server confines itself (docs/sandbox.md): no capabilities, no_new_privs, the seccomp
 * allowlist, and the systemd watchdog. */
#ifndef FUSE4FS_SVC_SANDBOX_H
#define FUSE4FS_SVC_SANDBOX_H

/*
 * Call once every fd the server will use is open and before any file system metadata is read.
 * Drops every capability (bounding set included) if we hold any, connects the sd_notify socket
 * when systemd asked for watchdog pings, installs the seccomp filter on all threads and starts
 * the watchdog thread. Logs why it failed; returns 0 or -errno (the caller must not go on).
 */
int svc_sandbox_enter(void);

#endif
