/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fuse4fs system call allowlist (docs/sandbox.md). A static library with no logging and no
 * policy of its own: the server decides when to install it, the tests build it to look at it.
 */
#ifndef FUSE4FS_SECCOMP_FILTER_H
#define FUSE4FS_SECCOMP_FILTER_H

#include <seccomp.h>
#include <sys/types.h>

#include "util.h"

static inline void seccomp_releasep(scmp_filter_ctx *ctx)
{
	if (*ctx)
		seccomp_release(*ctx);
}
#define _cleanup_seccomp_ _cleanup_(seccomp_releasep)

/* Flags for f4_filter_build(). */
enum {
	/* Test builds: allow rt_sigtimedwait() so the self-test thread can wait for its trigger
	 * (service/sandbox.c). */
	F4_FILTER_SELFTEST = 1 << 0,
};

/*
 * Build the allowlist for this process (`self_pid` is the only target signals may go to).
 * Returns 0 and the filter in *ret_ctx (not loaded), or -errno.
 */
int f4_filter_build(unsigned flags, pid_t self_pid, scmp_filter_ctx *ret_ctx);

/*
 * Build and load: sets no_new_privs and installs the filter on every thread of the process.
 * Irreversible. Returns 0 or -errno.
 */
int f4_filter_install(unsigned flags);

#endif
