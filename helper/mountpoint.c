/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * MOUNTPOINT: canonicalise as the caller, pin, check.
 *
 * The classic setuid-mount bugs are time-of-check/time-of-use races on the mountpoint path
 * (a directory the user checked out swapped for a symlink to /etc before mount(2) follows
 * it: util-linux CVE-2026-53612/53613/27456, libfuse bad8b22c). We resolve the path once,
 * as the caller, open it as an O_PATH fd without following any symlink, run every check on
 * that fd, and later move the new mount onto the fd itself, never onto a path.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "helper.h"

#ifndef FUSE_SUPER_MAGIC
#define FUSE_SUPER_MAGIC 0x65735546
#endif

int helper_canonicalize_as_user(const struct helper_privs *p, const char *arg, char **ret_path)
{
	char *path;
	int r, saved;

	if (arg[0] == '\0')
		return -ENOENT;
	if (strlen(arg) >= PATH_MAX)
		return -ENAMETOOLONG;

	/* As the caller: resolving as root would let a user learn about, or name, paths
	 * below directories they cannot search. */
	r = helper_become_user(p);
	if (r < 0)
		return r;
	path = realpath(arg, NULL);
	saved = errno;
	r = helper_become_root(p);
	if (r < 0) {
		free(path);
		return r;
	}
	if (!path)
		return -saved;
	*ret_path = path;
	return 0;
}

int helper_check_proc(void)
{
	struct statfs sfs;

	/* /proc/self/fd and /proc/self/mountinfo are how we detach a failed mount and find
	 * the owner of a mount. If /proc is not procfs we would act on something else. */
	if (statfs("/proc", &sfs) < 0)
		return log_error_errno(-errno, "cannot check /proc: %m");
	if (sfs.f_type != PROC_SUPER_MAGIC)
		return log_error_errno(-ENODEV, "/proc is not a procfs mount; refusing to work");
	return 0;
}

int helper_open_mountinfo(FILE **ret)
{
	_cleanup_close_ int fd = -1;
	struct statfs sfs;
	FILE *f;

	/* Only root could mount over /proc/self/mountinfo, but the unmount policy and the
	 * mount limit both rest on this file; checking what we actually opened costs one
	 * call. */
	fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return log_error_errno(-errno, "cannot read /proc/self/mountinfo: %m");
	if (fstatfs(fd, &sfs) < 0)
		return log_error_errno(-errno, "cannot check /proc/self/mountinfo: %m");
	if (sfs.f_type != PROC_SUPER_MAGIC)
		return log_error_errno(-ENODEV, "/proc/self/mountinfo is not procfs's; refusing "
						"to work");
	f = fdopen(fd, "re");
	if (!f)
		return log_error_errno(-errno, "cannot read /proc/self/mountinfo: %m");
	TAKE_FD(fd);
	*ret = f;
	return 0;
}

int helper_check_user_mount_count(const struct helper_privs *p, unsigned max)
{
	_cleanup_(helper_fclosep) FILE *f = NULL;
	unsigned n;
	int r;

	if (p->is_root)
		return 0;
	r = helper_open_mountinfo(&f);
	if (r < 0)
		return r;
	r = helper_mountinfo_count_user(f, HELPER_FUSE4FS_FSTYPE, p->uid, &n);
	if (r < 0)
		return log_error_errno(r, "cannot parse /proc/self/mountinfo: %m");
	/* Two helpers racing past this check can overshoot by the number running at once,
	 * which the socket's MaxConnections bounds: fine for a resource limit. */
	if (max == 0)
		return log_error_errno(-EUSERS, "the administrator does not allow ordinary users "
						"to mount (mount_max = 0 in %s)", HELPER_CONFIG_PATH);
	if (n >= max)
		return log_error_errno(-EUSERS, "you already have %u fuse4fs mounts, the most "
						"one user may have (mount_max in %s); unmount one "
						"with 'fuservicemount -u'", n, HELPER_CONFIG_PATH);
	return 0;
}

/* File systems a user may mount over, as (statfs magic, mountinfo type name) pairs. Mounting
 * over /proc, /sys, a cgroup or a devpts directory could hide what root processes rely on; a
 * user can hardly write to those, but the list costs nothing (fusermount keeps one for the
 * same reason).
 *
 * Both must match. The magic alone cannot tell devtmpfs (/dev) from tmpfs: devtmpfs is a
 * shmem instance and reports TMPFS_MAGIC (RAMFS_MAGIC on kernels without tmpfs), so a
 * directory in /dev that a user could write (a udev rule, a driver's node directory) would
 * pass; mountinfo's type name is the file_system_type the kernel registered, which says
 * "devtmpfs". The name alone would do, but the magic costs nothing and catches a name we
 * misread. smbfs (0x517B) left the kernel in 2.6.37 and is not listed any more. */
static const struct {
	long magic;
	const char *name;
	bool prefix; /* name is a prefix ending in '.': "fuse." matches fuse.sshfs */
} allowed_fs[] = {
	{ EXT4_SUPER_MAGIC, "ext4" },
	{ EXT4_SUPER_MAGIC, "ext3" },
	{ EXT4_SUPER_MAGIC, "ext2" },
	{ BTRFS_SUPER_MAGIC, "btrfs" },
	{ XFS_SUPER_MAGIC, "xfs" },
	{ TMPFS_MAGIC, "tmpfs" }, /* not "devtmpfs", which has the same magic */
	{ RAMFS_MAGIC, "ramfs" }, /* nor devtmpfs on a kernel without tmpfs */
	{ FUSE_SUPER_MAGIC, "fuse" },
	{ FUSE_SUPER_MAGIC, "fuse.", true },
	{ FUSE_SUPER_MAGIC, "fuseblk" },
	{ FUSE_SUPER_MAGIC, "fuseblk.", true },
	{ OVERLAYFS_SUPER_MAGIC, "overlay" },
	{ MSDOS_SUPER_MAGIC, "vfat" },
	{ MSDOS_SUPER_MAGIC, "msdos" },
	{ F2FS_SUPER_MAGIC, "f2fs" },
	{ NFS_SUPER_MAGIC, "nfs" },
	{ NFS_SUPER_MAGIC, "nfs4" },
	{ 0xFF534D42, "cifs" },
	{ 0xFF534D42, "smb3" },
	{ 0xFE534D42, "cifs" }, /* SMB2_SUPER_MAGIC */
	{ 0xFE534D42, "smb3" },
	{ 0x2011BAB0, "exfat" },
	{ 0x5346544e, "ntfs" },
	{ 0x5346544e, "ntfs3" },
	{ 0x2fc12fc1, "zfs" },
	{ 0xca451a4e, "bcachefs" },
	{ REISERFS_SUPER_MAGIC, "reiserfs" },
	{ 0x3153464a, "jfs" },
	{ 0x482b, "hfsplus" },
	{ ECRYPTFS_SUPER_MAGIC, "ecryptfs" },
	{ 0x00c36400, "ceph" },
	{ 0x15013346, "udf" },
};

bool helper_mountpoint_fs_allowed(long type)
{
	for (size_t i = 0; i < ELEMENTSOF(allowed_fs); i++)
		if ((unsigned long)type == (unsigned long)allowed_fs[i].magic)
			return true;
	return false;
}

bool helper_mountpoint_fstype_allowed(long type, const char *fstype)
{
	for (size_t i = 0; i < ELEMENTSOF(allowed_fs); i++) {
		const char *n = allowed_fs[i].name;

		if ((unsigned long)type != (unsigned long)allowed_fs[i].magic)
			continue;
		if (allowed_fs[i].prefix ? strncmp(fstype, n, strlen(n)) == 0 &&
						   fstype[strlen(n)] != '\0'
					 : strcmp(fstype, n) == 0)
			return true;
	}
	return false;
}

/* The type name of the mount the pinned fd is on, from mountinfo by mount id. Logs. */
static int mount_fstype(int fd, const char *path, char *ret, size_t size)
{
	_cleanup_(helper_fclosep) FILE *f = NULL;
	struct helper_mount_owner m;
	int id, r;

	r = helper_open_mountinfo(&f);
	if (r < 0)
		return r;
	/* A mount missing from our mountinfo (it cannot be: we just opened it by path) or a
	 * line we cannot read is a refusal, not a pass. */
	r = helper_mount_id_at(fd, "", &id);
	if (r >= 0)
		r = helper_mountinfo_find(f, id, &m);
	if (r >= 0 && strlen(m.fstype) >= size)
		r = -ENAMETOOLONG;
	if (r < 0)
		return log_error_errno(r, "cannot find the file system type of '%s' in "
					  "/proc/self/mountinfo: %m", path);
	strcpy(ret, m.fstype);
	return 0;
}

int helper_mountpoint_check_owner(const struct stat *st, const struct stat *parent, uid_t uid,
				  const char **ret_why)
{
	/* A sticky directory that is not the caller's is a shared one (/tmp, /var/tmp,
	 * /dev/shm, /run/lock): everyone may write it, which passes the write-access check,
	 * but mounting over it would replace every other user's (and root's) files there
	 * with the caller's image. Without allow_other everyone else, root included, then
	 * gets EACCES on the whole directory; with it, root services would read
	 * caller-chosen files in /tmp. fusermount refuses this case too. */
	if ((st->st_mode & S_ISVTX) && st->st_uid != uid) {
		*ret_why = "it is a shared sticky directory that you do not own";
		return -EPERM;
	}
	/* In a sticky directory another user's directory is writable to us only if they
	 * made it so; mounting over it would hide their files from them. */
	if ((parent->st_mode & S_ISVTX) && st->st_uid != uid) {
		*ret_why = "it is in a sticky directory and you do not own it";
		return -EPERM;
	}
	return 0;
}

int helper_mountpoint_open(const struct helper_privs *p, const char *arg, char **ret_path,
			   int *ret_fd)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -1;
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	struct stat st, parent;
	struct statfs sfs;
	char fstype[64];
	const char *why;
	int r;

	r = helper_canonicalize_as_user(p, arg, &path);
	if (r < 0)
		return log_error_errno(r, "cannot use mountpoint '%s': %m", arg);

	/* Pin it, as the caller (search permission on the way is the caller's). A symlink
	 * anywhere in the canonical path means it changed since realpath(): refuse. */
	r = helper_become_user(p);
	if (r < 0)
		return r;
	fd = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
	r = fd < 0 ? -errno : 0;
	if (helper_become_root(p) < 0)
		return -EPERM;
	if (r == -ELOOP)
		return log_error_errno(r, "mountpoint '%s' changed while it was being opened "
					  "(a symlink appeared)", path);
	if (r == -ENOTDIR)
		return log_error_errno(r, "mountpoint '%s' is not a directory", path);
	if (r < 0)
		return log_error_errno(r, "cannot open mountpoint '%s': %m", path);

	if (fstat(fd, &st) < 0)
		return log_error_errno(-errno, "cannot stat mountpoint '%s': %m", path);

	if (!p->is_root) {
		/* Write access, checked by the kernel with the real uid/gid and the caller's
		 * groups on the pinned inode (faccessat2 without AT_EACCESS uses the real ids;
		 * AT_EMPTY_PATH means the fd itself, no path walk that could be raced). glibc's
		 * faccessat() may emulate flags, so call the system call. */
		if (syscall(SYS_faccessat2, fd, "", W_OK, AT_EMPTY_PATH) < 0) {
			r = -errno;
			if (r == -EACCES || r == -EPERM || r == -EROFS)
				return log_error_errno(r, "you may not mount on '%s': %m; you need "
							  "write access to the directory", path);
			return log_error_errno(r, "cannot check access to '%s': %m", path);
		}

		/* Sticky directories, the mountpoint's own bit and its parent's. The parent is
		 * found from the pinned fd, not from the path. */
		if (fstatat(fd, "..", &parent, AT_SYMLINK_NOFOLLOW) < 0)
			return log_error_errno(-errno, "cannot stat the parent of '%s': %m", path);
		r = helper_mountpoint_check_owner(&st, &parent, p->uid, &why);
		if (r < 0)
			return log_error_errno(r, "you may not mount on '%s': %s", path, why);

		if (fstatfs(fd, &sfs) < 0)
			return log_error_errno(-errno, "cannot check the file system of '%s': %m",
					       path);
		if (!helper_mountpoint_fs_allowed((long)sfs.f_type))
			return log_error_errno(-EPERM, "you may not mount on '%s': mounting over a "
						       "file system of type 0x%lx is only allowed "
						       "to root", path, (unsigned long)sfs.f_type);
		/* The mount the pinned directory is on, not whatever the path names now. */
		r = mount_fstype(fd, path, fstype, sizeof(fstype));
		if (r < 0)
			return r;
		if (!helper_mountpoint_fstype_allowed((long)sfs.f_type, fstype))
			return log_error_errno(-EPERM, "you may not mount on '%s': mounting over a "
						       "file system of type %s is only allowed to "
						       "root", path, fstype);
	}

	*ret_path = TAKE_PTR(path);
	*ret_fd = TAKE_FD(fd);
	return 0;
}
