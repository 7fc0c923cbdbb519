/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuservicemount -u MOUNTPOINT: unmount a fuse4fs mount of the caller's.
 *
 * The threat: a user unmounting something that is not theirs (CVE-2021-3995/3996 in
 * util-linux: a prefix match on user_id, and a path that resolved differently at check and
 * at unmount; libfuse issue 1504: unmounting by path is racy for stacked mounts). We
 *   1. resolve MOUNTPOINT as the caller and split it into parent and name;
 *   2. pin the parent (O_PATH, no symlinks) and chdir into it via that fd, then confirm with
 *      getcwd() that we are where the path said: from now on the name is looked up in a
 *      directory that cannot be swapped under us;
 *   3. pin <parent>/<name> itself (O_PATH, no symlinks) and judge the mount that pin is on,
 *      by its mount id (name_to_handle_at(), no FUSE request) in /proc/self/mountinfo: a
 *      fuse.fuse4fs mount, mounted exactly at the canonical path, whose user_id= is exactly
 *      the caller's (root: any);
 *   4. look at what lies below it at the same path, down to the parent's mount (the stack
 *      a name-based unmount would fall through to if the judged mount went away first), and
 *   5. unmount:
 *      - if the judged mount sits directly on the parent directory, or only on other
 *        fuse4fs mounts of the caller's: umount2(name, UMOUNT_NOFOLLOW) relative to the
 *        pinned parent. A plain (not lazy) unmount keeps EBUSY for a mount in use, which a
 *        user pulling a USB stick after -u relies on; it needs a name, because any pin on
 *        the mount itself holds a reference and makes it busy (measured on 6.18:
 *        umount2("/proc/self/fd/N", 0) on an O_PATH pin is always EBUSY). If the judged
 *        mount disappears in between (only its owner or root can do that), the name
 *        reaches the parent's plain directory (EINVAL) or another mount of the caller's.
 *      - if it is stacked on a mount that is not the caller's (say, over a home directory
 *        that root bind-mounted): a name could fall through to root's mount if the
 *        caller's own went away in between (a second "-u" at the same time does that).
 *        There we detach exactly the judged mount through the pin,
 *        umount2("/proc/self/fd/N", MNT_DETACH): the kernel resolves the magic link to the
 *        pinned (mount, root dentry), refuses anything but a mount root, and the pin's
 *        reference is no obstacle to a lazy detach. The price: no EBUSY, the server
 *        finishes when the last file on it is closed (documented in fuservicemount(8)).
 * Residual: between 4 and the name-based unmount, a mount that root (not the caller)
 * places at that exact path is what the name reaches.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "helper.h"

int helper_umount(const struct helper_privs *p, const char *arg)
{
	_cleanup_free_ char *path = NULL, *dir_copy = NULL, *base_copy = NULL;
	_cleanup_close_ int dirfd = -1, pin = -1;
	_cleanup_(helper_fclosep) FILE *f = NULL;
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	struct helper_mount_owner owner;
	char cwd[PATH_MAX], proc[64];
	const char *dir, *name;
	int parent_id, mnt_id, r;
	bool by_pin = false;

	r = helper_canonicalize_as_user(p, arg, &path);
	if (r < 0)
		return log_error_errno(r, "cannot resolve the path: %m");
	if (strcmp(path, "/") == 0)
		return log_error_errno(-EINVAL, "'/' is not a fuse4fs mount");

	dir_copy = strdup(path);
	base_copy = strdup(path);
	if (!dir_copy || !base_copy)
		return log_error_errno(-ENOMEM, "out of memory");
	dir = dirname(dir_copy);
	name = basename(base_copy);

	/* Both pins as the caller: their search permission on the way, no symlink anywhere
	 * (the path is canonical; a symlink now is a swap after realpath()). */
	r = helper_become_user(p);
	if (r < 0)
		return r;
	dirfd = (int)syscall(SYS_openat2, AT_FDCWD, dir, &how, sizeof(how));
	r = dirfd < 0 ? -errno : 0;
	if (r == 0 && fchdir(dirfd) < 0)
		r = -errno;
	if (r == 0) {
		/* O_PATH: no open() of the FUSE root, so no request a hung server could
		 * block and no permission check a FUSE mount refuses to euid 0. */
		pin = (int)syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
		if (pin < 0)
			r = -errno;
	}
	if (helper_become_root(p) < 0)
		return -EPERM;
	if (r == -ELOOP)
		return log_error_errno(r, "'%s' changed while it was being opened (a symlink "
					  "appeared); try again", path);
	if (r == -ENOTDIR)
		return log_error_errno(-EINVAL, "'%s' is not a mountpoint", path);
	if (r < 0)
		return log_error_errno(r, "cannot open '%s': %m", path);

	/* fusermount-style belt and braces: the directory we are in is the one named. */
	if (!getcwd(cwd, sizeof(cwd)))
		return log_error_errno(-errno, "cannot read the current directory: %m");
	if (strcmp(cwd, dir) != 0)
		return log_error_errno(-ESTALE, "'%s' changed while it was being checked; try again",
				       dir);

	r = helper_mount_id_at(dirfd, "", &parent_id);
	if (r >= 0)
		r = helper_mount_id_at(pin, "", &mnt_id);
	if (r < 0)
		return log_error_errno(r, "cannot identify the mount: %m");
	if (mnt_id == parent_id)
		return log_error_errno(-EINVAL, "'%s' is not a mountpoint", path);

	r = helper_open_mountinfo(&f);
	if (r < 0)
		return r;
	r = helper_mountinfo_find(f, mnt_id, &owner);
	if (r == -ENOENT)
		return log_error_errno(r, "'%s' is not a mountpoint", path);
	if (r < 0)
		return log_error_errno(r, "cannot parse /proc/self/mountinfo: %m");

	/* The pin is on the topmost mount at <parent>/<name>; mountinfo must agree that this
	 * mount is mounted exactly there (not a mount whose inside we reached some other
	 * way). The kernel checks again that the pin is that mount's root when it unmounts
	 * through it. */
	if (strcmp(owner.mountpoint, path) != 0)
		return log_error_errno(-EINVAL, "'%s' is not a mountpoint", path);
	if (strcmp(owner.fstype, HELPER_FUSE4FS_FSTYPE) != 0)
		return log_error_errno(-EPERM, "'%s' is not a fuse4fs mount (it is %s); use "
					       "umount(8) for it", path, owner.fstype);
	/* Exact match on the number (CVE-2021-3995 compared a prefix). */
	if (!p->is_root && (!owner.has_user_id || owner.user_id != p->uid))
		return log_error_errno(-EPERM, "'%s' was not mounted by you", path);

	/* Root may unmount whatever the name reaches anyway; for a user, a name that could
	 * fall through to someone else's mount is not used. */
	if (!p->is_root) {
		r = helper_mountinfo_stack_is_user(f, owner.parent_id, parent_id, path,
						   HELPER_FUSE4FS_FSTYPE, p->uid);
		if (r < 0)
			return log_error_errno(r, "'%s' changed while it was "
						  "being checked; try again", path);
		by_pin = r == 0;
	}

	if (by_pin) {
		/* Exactly the judged mount; lazily, the only way through a pin (see top). */
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pin);
		if (umount2(proc, MNT_DETACH) < 0) {
			r = -errno;
			/* The pinned mount is no longer attached: someone unmounted it first. */
			if (r == -EINVAL)
				return log_error_errno(r, "'%s' was unmounted meanwhile", path);
			return log_error_errno(r, "%m");
		}
		return 0;
	}

	/* Our pin would make the mount busy for a plain unmount: let go of it first. */
	close(TAKE_FD(pin));
	if (umount2(name, UMOUNT_NOFOLLOW) < 0) {
		r = -errno;
		if (r == -EBUSY)
			return log_error_errno(r, "'%s' is busy; close the files and leave the "
						  "directories in it, then try again", path);
		return log_error_errno(r, "%m");
	}
	return 0;
}
