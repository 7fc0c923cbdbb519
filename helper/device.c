/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Opening DEVICE and /dev/fuse.
 *
 * DEVICE is opened with the caller's fsuid/fsgid (and inherited supplementary groups), so the
 * helper can never read a disk or an image that the caller could not read directly: the
 * server only ever gets an fd the user could have opened. The server never names a path we
 * open; it only receives our fds.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "helper.h"
#include "proto.h"

static int open_nofollow(const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)flags,
		/* The path is canonical already; a symlink appearing now is someone swapping
		 * a component after realpath(), and we would then send a SOURCE that names
		 * something other than what we opened. */
		.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));

	return fd < 0 ? -errno : fd;
}

int helper_device_open(const struct helper_privs *p, const struct helper_config *c,
		       const char *arg, char **ret_path, int *ret_fd, bool *ret_is_block)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r, flags;

	r = helper_canonicalize_as_user(p, arg, &path);
	if (r < 0)
		return log_error_errno(r, "cannot use device '%s': %m", arg);

	r = helper_become_user(p);
	if (r < 0)
		return r;
	/* Read-only mounts only, so O_RDONLY: the server gets no write access at all.
	 * O_NONBLOCK so that a FIFO (or a tty) named as DEVICE cannot block a root process;
	 * the type check below refuses those anyway. O_NOCTTY: never acquire a terminal. */
	fd = open_nofollow(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	r = helper_become_root(p);
	if (r < 0)
		return r;
	/* Not the caller's to open: the admin's policy may still grant it (policy.c). */
	if ((fd == -EACCES || fd == -EPERM) && !p->is_root) {
		r = helper_device_open_by_policy(p, c, path, O_RDONLY | O_NONBLOCK, &fd);
		if (r < 0)
			return r;
	}
	if (fd < 0) {
		if (fd == -EACCES || fd == -EPERM)
			return log_error_errno(fd, "cannot open device '%s': %m; you need read "
						   "access to it yourself", path);
		if (fd == -ELOOP)
			return log_error_errno(fd, "cannot open device '%s': the path changed "
						   "while it was being opened", path);
		return log_error_errno(fd, "cannot open device '%s': %m", path);
	}

	if (fstat(fd, &st) < 0)
		return log_error_errno(-errno, "cannot stat device '%s': %m", path);
	if (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode))
		return log_error_errno(-ENODEV, "'%s' is neither a block device nor a regular "
						"file (an ext4 image)", path);

	/* Back to blocking I/O for the server (libext2fs expects plain reads). */
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
		return log_error_errno(-errno, "cannot set up device '%s': %m", path);

	*ret_is_block = S_ISBLK(st.st_mode);
	*ret_path = TAKE_PTR(path);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int helper_fuse_open(int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	int r;

	/* As root: /dev/fuse is 0600 on machines without udev rules, and opening it is the
	 * one thing the caller could not do alone. */
	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return log_error_errno(-errno, "cannot open /dev/fuse: %m; is FUSE available "
					       "(modprobe fuse)?");
	/* A /dev/fuse that is not char 10:229 (a bind mount, a strange /dev) is not what we
	 * want to hand to the server or to fsconfig(). */
	r = proto_check_fuse_fd(fd);
	if (r < 0)
		return log_error_errno(r, "/dev/fuse is not the FUSE device (char 10:229)");
	*ret_fd = TAKE_FD(fd);
	return 0;
}
