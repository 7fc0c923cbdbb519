/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * helper/mountpoint.c: the pure parts of the mountpoint policy for ordinary users. The
 * attacks are a user mounting over a shared sticky directory (/tmp itself, or someone else's
 * directory inside it) and over a special filesystem (/proc, /sys, cgroups, devpts, ...).
 */
#include <errno.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/stat.h>

#include "helper.h"
#include "tap.h"

static struct stat dir(mode_t mode, uid_t owner)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_mode = S_IFDIR | mode;
	st.st_uid = owner;
	return st;
}

int main(void)
{
	const uid_t me = 1000, other = 1001;
	struct stat root_dir = dir(0755, 0), tmp = dir(01777, 0);
	struct stat mine = dir(0755, me), theirs_open = dir(0777, other);
	struct stat shared_mine = dir(01777, me);
	const char *why = NULL;

	tap_plan_start();

	/* The ordinary case: my own directory, in /tmp or in my home. */
	TAP_EQ_INT(helper_mountpoint_check_owner(&mine, &tmp, me, &why), 0);
	TAP_EQ_INT(helper_mountpoint_check_owner(&mine, &root_dir, me, &why), 0);
	/* A sticky directory of my own (say ~/drop, 1777) is mine to mount over. */
	TAP_EQ_INT(helper_mountpoint_check_owner(&shared_mine, &root_dir, me, &why), 0);

	/* /tmp itself (root-owned, 1777, parent "/" not sticky): writable by everyone, so
	 * the write check alone lets it through; mounting there would hide every user's and
	 * root's /tmp. */
	why = NULL;
	TAP_EQ_INT(helper_mountpoint_check_owner(&tmp, &root_dir, me, &why), -EPERM);
	TAP_EQ_STR(why, "it is a shared sticky directory that you do not own");
	/* The same for another user's sticky directory. */
	struct stat theirs_sticky = dir(01777, other);
	TAP_EQ_INT(helper_mountpoint_check_owner(&theirs_sticky, &mine, me, &why), -EPERM);

	/* Someone else's directory that they left world-writable inside /tmp. */
	why = NULL;
	TAP_EQ_INT(helper_mountpoint_check_owner(&theirs_open, &tmp, me, &why), -EPERM);
	TAP_EQ_STR(why, "it is in a sticky directory and you do not own it");
	/* Outside a sticky directory, write access (checked elsewhere) is what counts. */
	TAP_EQ_INT(helper_mountpoint_check_owner(&theirs_open, &root_dir, me, &why), 0);

	/* Root as the caller goes through the same function only if someone changes
	 * helper_mountpoint_open(); still, uid 0 owning /tmp is "its own". */
	TAP_EQ_INT(helper_mountpoint_check_owner(&tmp, &root_dir, 0, &why), 0);

	/* File system types: ordinary ones yes ... */
	TAP_OK(helper_mountpoint_fs_allowed(EXT4_SUPER_MAGIC));
	TAP_OK(helper_mountpoint_fs_allowed(TMPFS_MAGIC));
	TAP_OK(helper_mountpoint_fs_allowed(BTRFS_SUPER_MAGIC));
	TAP_OK(helper_mountpoint_fs_allowed(XFS_SUPER_MAGIC));
	TAP_OK(helper_mountpoint_fs_allowed(0x65735546)); /* fuse */
	/* ... but never the kernel's own: /proc/self/..., /sys, cgroup directories delegated
	 * to the user, devpts, and the other pseudo file systems root relies on. */
	TAP_OK(!helper_mountpoint_fs_allowed(PROC_SUPER_MAGIC));
	TAP_OK(!helper_mountpoint_fs_allowed(SYSFS_MAGIC));
	TAP_OK(!helper_mountpoint_fs_allowed(CGROUP_SUPER_MAGIC));
	TAP_OK(!helper_mountpoint_fs_allowed(CGROUP2_SUPER_MAGIC));
	TAP_OK(!helper_mountpoint_fs_allowed(DEVPTS_SUPER_MAGIC));
	TAP_OK(!helper_mountpoint_fs_allowed(SECURITYFS_MAGIC));
	TAP_OK(!helper_mountpoint_fs_allowed(DEBUGFS_MAGIC));
	TAP_OK(!helper_mountpoint_fs_allowed(TRACEFS_MAGIC));
	TAP_OK(!helper_mountpoint_fs_allowed(BPF_FS_MAGIC));
	TAP_OK(!helper_mountpoint_fs_allowed(EFIVARFS_MAGIC));
	TAP_OK(!helper_mountpoint_fs_allowed(PSTOREFS_MAGIC));
	TAP_OK(!helper_mountpoint_fs_allowed(HUGETLBFS_MAGIC));
	TAP_OK(!helper_mountpoint_fs_allowed(NSFS_MAGIC));
	TAP_OK(!helper_mountpoint_fs_allowed(0x19800202)); /* mqueue */
	TAP_OK(!helper_mountpoint_fs_allowed(0x62656570)); /* configfs */
	TAP_OK(!helper_mountpoint_fs_allowed(0x65735543)); /* fusectl */
	TAP_OK(!helper_mountpoint_fs_allowed(0x42494e4d)); /* binfmt_misc */
	TAP_OK(!helper_mountpoint_fs_allowed(0));

	/* The magic with mountinfo's type name. devtmpfs reports tmpfs's magic (or ramfs's on
	 * a kernel without tmpfs): a writable directory in /dev must not pass as a tmpfs. */
	TAP_OK(helper_mountpoint_fstype_allowed(TMPFS_MAGIC, "tmpfs"));
	TAP_OK(!helper_mountpoint_fstype_allowed(TMPFS_MAGIC, "devtmpfs"));
	TAP_OK(helper_mountpoint_fstype_allowed(RAMFS_MAGIC, "ramfs"));
	TAP_OK(!helper_mountpoint_fstype_allowed(RAMFS_MAGIC, "devtmpfs"));
	/* Every name must come with its own magic, not another allowed one's. */
	TAP_OK(helper_mountpoint_fstype_allowed(EXT4_SUPER_MAGIC, "ext4"));
	TAP_OK(helper_mountpoint_fstype_allowed(EXT4_SUPER_MAGIC, "ext2"));
	TAP_OK(!helper_mountpoint_fstype_allowed(EXT4_SUPER_MAGIC, "tmpfs"));
	TAP_OK(!helper_mountpoint_fstype_allowed(TMPFS_MAGIC, "ext4"));
	TAP_OK(!helper_mountpoint_fstype_allowed(PROC_SUPER_MAGIC, "proc"));
	TAP_OK(!helper_mountpoint_fstype_allowed(PROC_SUPER_MAGIC, "tmpfs"));
	/* FUSE: the bare type and any subtype, not a name that merely starts with "fuse". */
	TAP_OK(helper_mountpoint_fstype_allowed(0x65735546, "fuse"));
	TAP_OK(helper_mountpoint_fstype_allowed(0x65735546, "fuse.fuse4fs"));
	TAP_OK(helper_mountpoint_fstype_allowed(0x65735546, "fuseblk.ntfs-3g"));
	TAP_OK(!helper_mountpoint_fstype_allowed(0x65735546, "fuse."));
	TAP_OK(!helper_mountpoint_fstype_allowed(0x65735546, "fusectl"));
	TAP_OK(!helper_mountpoint_fstype_allowed(0x65735543, "fusectl"));
	TAP_OK(!helper_mountpoint_fstype_allowed(0x65735546, "fusex"));
	TAP_OK(!helper_mountpoint_fstype_allowed(TMPFS_MAGIC, "tmpfs2"));
	TAP_OK(!helper_mountpoint_fstype_allowed(TMPFS_MAGIC, ""));
	/* Old smbfs is gone from the kernel and from the list. */
	TAP_OK(!helper_mountpoint_fs_allowed(0x517B));

	return tap_plan_end();
}
