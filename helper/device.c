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

/* Why the policy refused the last attempt, for the final message. */
static const char *policy_why;

/* Opens path as the caller, then (refused) through the admin's policy. */
static int device_open_as_user(const struct helper_privs *p, const struct helper_config *c,
			       const char *path, int flags, int *ret_fd)
{
	int fd, r;

	r = helper_become_user(p);
	if (r < 0)
		return r;
	/* O_NONBLOCK so that a FIFO (or a tty) named as DEVICE cannot block a root process;
	 * the type check below refuses those anyway. O_NOCTTY: never acquire a terminal. */
	fd = open_nofollow(path, flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	r = helper_become_root(p);
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		return r;
	}
	/* Not the caller's to open: the admin's policy may still grant it (policy.c). */
	if ((fd == -EACCES || fd == -EPERM) && !p->is_root) {
		r = helper_device_open_by_policy(p, c, path, flags | O_NONBLOCK, &fd, &policy_why);
		if (r < 0)
			fd = r; /* reported (or fallen back from) like the caller's own open */
	}
	*ret_fd = fd;
	return 0;
}

int helper_device_open(const struct helper_privs *p, const struct helper_config *c,
		       const char *arg, struct helper_options *o, char **ret_path, int *ret_fd,
		       bool *ret_is_block)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r, flags;

	r = helper_canonicalize_as_user(p, arg, &path);
	if (r < 0)
		return log_error_errno(r, "cannot use device '%s': %m", arg);

	/* A read-only mount gets a read-only fd: the server then cannot write at all. A
	 * read-write one needs the caller's write access, and O_EXCL claims a block device
	 * (EBUSY while it is mounted or in use elsewhere; ignored for image files). */
	if (o->ro) {
		r = device_open_as_user(p, c, path, O_RDONLY, &fd);
	} else {
		r = device_open_as_user(p, c, path, O_RDWR | O_EXCL, &fd);
		if (r == 0 && !o->rw && (fd == -EACCES || fd == -EPERM || fd == -EROFS)) {
			/* Like mount(8): what the caller may only read is mounted read-only. */
			r = device_open_as_user(p, c, path, O_RDONLY, &fd);
			if (r == 0 && fd >= 0) {
				log_error("warning: '%s' is write-protected for you, mounting "
					  "read-only", path);
				o->ro = true;
			}
		}
	}
	if (r < 0)
		return r;
	if (fd < 0) {
		if ((fd == -EACCES || fd == -EPERM) && policy_why)
			return log_error_errno(fd, "cannot open device '%s': %m; %s", path,
					       policy_why);
		if (fd == -EACCES || fd == -EPERM)
			return log_error_errno(fd, "cannot open device '%s': %m; you need %s "
						   "access to it yourself", path,
					       o->ro ? "read" : "read and write");
		if (fd == -EROFS)
			return log_error_errno(fd, "cannot open device '%s' for writing: %m; "
						   "mount it with -o ro", path);
		if (fd == -EBUSY)
			return log_error_errno(fd, "cannot open device '%s' for writing: it is "
						   "mounted or in use elsewhere", path);
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
