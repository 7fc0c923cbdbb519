/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Small header-only helpers every component uses: cleanup attributes and ownership transfer.
 * Nothing here logs or decides policy.
 */
#ifndef FUSE4FS_UTIL_H
#define FUSE4FS_UTIL_H

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _unused_ __attribute__((unused))
#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

/* close() that keeps errno, so it can run in cleanup paths after a failing call. */
static inline int safe_close(int fd)
{
	if (fd >= 0) {
		int saved = errno;
		close(fd);
		errno = saved;
	}
	return -1;
}

static inline void closep(int *fd)
{
	safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

/* Hand ownership of a pointer or fd to someone else: returns it and disarms the cleanup. */
#define TAKE_PTR(p)                                                                            \
	({                                                                                     \
		__typeof__(p) _p_ = (p);                                                       \
		(p) = NULL;                                                                    \
		_p_;                                                                           \
	})
#define TAKE_FD(fd)                                                                            \
	({                                                                                     \
		int _fd_ = (fd);                                                               \
		(fd) = -1;                                                                     \
		_fd_;                                                                          \
	})

#endif
