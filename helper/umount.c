/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuservicemount -u MOUNTPOINT: unmount a fuse4fs mount of the caller's.
 *
 * The threat: a user unmounting something that is not theirs (CVE-2021-3995/3996 in
 * util-linux: a prefix match on user_id, and a path that resolved differently at check and
 * at unmount). We therefore
 *   1. resolve MOUNTPOINT as the caller and split it into parent and name;
 *   2. pin the parent (O_PATH, no symlinks) and chdir into it via that fd, then confirm with
 *      getcwd() that we are where the path said: from now on the name is looked up in a
 *      directory that cannot be swapped under us;
 *   3. identify the mount on <parent>/<name> by its mount id (name_to_handle_at(), not
 *      following a symlink) and find that id in /proc/self/mountinfo: it must be a
 *      fuse.fuse4fs mount, mounted exactly at the canonical path, and its user_id= must be
 *      exactly the caller's (root: any);
 *   4. umount2(name, UMOUNT_NOFOLLOW), relative to the pinned parent.
 * A plain (not lazy) unmount needs a path: unmounting through an fd to the mount would always
 * be EBUSY because the fd itself holds the mount. Residual race, documented in the man page:
 * between 3 and 4 the topmost mount on <name> could change only by someone unmounting or
 * mounting there; the user can mount only via a FUSE helper (whose mounts are the user's own)
 * and unmount only their own, so at worst they unmount a mount they could have unmounted.
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

static int mount_id_at(int dirfd, const char *name, int *ret_id)
{
	struct {
		struct file_handle fh;
		unsigned char bytes[MAX_HANDLE_SZ];
	} h = { .fh.handle_bytes = MAX_HANDLE_SZ };
	struct statx stx;
	int id;

	/* name_to_handle_at() reports the mount id without calling the filesystem's getattr:
	 * a FUSE mount without allow_other refuses getattr (EACCES) to any process whose
	 * uid/euid/suid are not all the owner's, which is always true of us (euid 0), and a
	 * hung server would block it. Flags 0: do not follow a final symlink. */
	if (name_to_handle_at(dirfd, name, &h.fh, &id, name[0] ? 0 : AT_EMPTY_PATH) == 0) {
		if (id < 0)
			return -ERANGE;
		*ret_id = id;
		return 0;
	}
	if (errno != EOPNOTSUPP)
		return -errno;

	/* A filesystem that cannot encode handles: ask the VFS through statx(). */
	if (statx(dirfd, name,
		  AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC | (name[0] ? 0 : AT_EMPTY_PATH),
		  STATX_MNT_ID, &stx) < 0)
		return -errno;
	if (!(stx.stx_mask & STATX_MNT_ID))
		return -EOPNOTSUPP;
	if (stx.stx_mnt_id > INT_MAX)
		return -ERANGE;
	*ret_id = (int)stx.stx_mnt_id;
	return 0;
}

int helper_umount(const struct helper_privs *p, const char *arg)
{
	_cleanup_free_ char *path = NULL, *dir_copy = NULL, *base_copy = NULL;
	_cleanup_close_ int dirfd = -1;
	_cleanup_(helper_fclosep) FILE *f = NULL;
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	struct helper_mount_owner owner;
	char cwd[PATH_MAX];
	const char *dir, *name;
	int parent_id, mnt_id, r;

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

	r = helper_become_user(p);
	if (r < 0)
		return r;
	dirfd = (int)syscall(SYS_openat2, AT_FDCWD, dir, &how, sizeof(how));
	r = dirfd < 0 ? -errno : 0;
	if (r == 0 && fchdir(dirfd) < 0)
		r = -errno;
	if (helper_become_root(p) < 0)
		return -EPERM;
	if (r < 0)
		return log_error_errno(r, "cannot enter '%s': %m", dir);

	/* fusermount-style belt and braces: the directory we are in is the one named. */
	if (!getcwd(cwd, sizeof(cwd)))
		return log_error_errno(-errno, "cannot read the current directory: %m");
	if (strcmp(cwd, dir) != 0)
		return log_error_errno(-ESTALE, "'%s' changed while it was being checked; try again",
				       dir);

	r = mount_id_at(dirfd, "", &parent_id);
	if (r >= 0)
		r = mount_id_at(dirfd, name, &mnt_id);
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

	/* statx() gave the topmost mount on <parent>/<name>; mountinfo must agree that it is
	 * mounted exactly there (not, say, a mount whose root we reached some other way). */
	if (strcmp(owner.mountpoint, path) != 0)
		return log_error_errno(-EINVAL, "'%s' is not a mountpoint", path);
	if (strcmp(owner.fstype, HELPER_FUSE4FS_FSTYPE) != 0)
		return log_error_errno(-EPERM, "'%s' is not a fuse4fs mount (it is %s); use "
					       "umount(8) for it", path, owner.fstype);
	/* Exact match on the number (CVE-2021-3995 compared a prefix). */
	if (!p->is_root && (!owner.has_user_id || owner.user_id != p->uid))
		return log_error_errno(-EPERM, "'%s' was not mounted by you", path);

	if (umount2(name, UMOUNT_NOFOLLOW) < 0) {
		r = -errno;
		if (r == -EBUSY)
			return log_error_errno(r, "'%s' is busy; close the files and leave the "
						  "directories in it, then try again", path);
		return log_error_errno(r, "%m");
	}
	return 0;
}
