/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Orphans: inodes with no name left that are still open. The kernel's classic on-disk list
 * is a chain through the superblock's s_last_orphan and each inode's i_dtime; an unclean stop
 * then leaves the chain for the next read-write mount (or e2fsck) to finish deleting, instead
 * of leaking the inodes' blocks.
 */
#include <errno.h>
#include <string.h>

#include "ext4.h"
#include "log.h"

static int ext4_raw_inode(struct svc_fs *sfs, ext2_ino_t ino, struct ext2_inode_large *ret)
{
	return ext4_errno(sfs, ext4_inode_read_raw(sfs, ino, ret), ino, "reading an orphan inode");
}

/* The chain must be on disk before anything relies on it: flush the superblock now. */
static int ext4_orphan_commit(struct svc_fs *sfs)
{
	ext2fs_mark_super_dirty(sfs->fs);
	return ext4_sync(sfs);
}

int ext4_orphan_add(struct svc_fs *sfs, ext2_ino_t ino)
{
	struct ext2_inode_large inode;
	int r;

	r = ext4_raw_inode(sfs, ino, &inode);
	if (r < 0)
		return r;
	inode.i_dtime = sfs->fs->super->s_last_orphan;
	r = ext4_inode_write(sfs, ino, &inode);
	if (r < 0)
		return r;
	sfs->fs->super->s_last_orphan = ino;
	return ext4_orphan_commit(sfs);
}

int ext4_orphan_del(struct svc_fs *sfs, ext2_ino_t ino)
{
	struct ext2_super_block *sb = sfs->fs->super;
	struct ext2_inode_large inode, prev_inode;
	ext2_ino_t prev = 0, cur = sb->s_last_orphan;
	unsigned int n = 0;
	int r;

	while (cur && cur != ino) {
		if (!ext4_ino_valid(sfs, cur) || ++n > sb->s_inodes_count)
			return ext4_corrupt(sfs, cur, "broken orphan list");
		r = ext4_raw_inode(sfs, cur, &prev_inode);
		if (r < 0)
			return r;
		prev = cur;
		cur = prev_inode.i_dtime;
	}
	if (!cur)
		return 0;
	r = ext4_raw_inode(sfs, ino, &inode);
	if (r < 0)
		return r;
	if (prev) {
		prev_inode.i_dtime = inode.i_dtime;
		r = ext4_inode_write(sfs, prev, &prev_inode);
		if (r < 0)
			return r;
	} else {
		sb->s_last_orphan = inode.i_dtime;
		ext2fs_mark_super_dirty(sfs->fs);
	}
	inode.i_dtime = 0;
	return ext4_inode_write(sfs, ino, &inode);
}

int ext4_orphan_cleanup(struct svc_fs *sfs)
{
	struct ext2_super_block *sb = sfs->fs->super;
	unsigned int n = 0, deleted = 0, truncated = 0;
	int r;

	while (sb->s_last_orphan) {
		ext2_ino_t ino = sb->s_last_orphan;
		struct ext2_inode_large inode;

		if (!ext4_ino_valid(sfs, ino) || ++n > sb->s_inodes_count)
			return ext4_corrupt(sfs, ino, "broken orphan list");
		/* A free inode on the list was already deleted: deleting it again would free
		 * blocks that may belong to someone else by now. */
		if (!ext2fs_test_inode_bitmap2(sfs->fs->inode_map, ino))
			return ext4_corrupt(sfs, ino, "the orphan list holds a free inode");
		r = ext4_raw_inode(sfs, ino, &inode);
		if (r < 0)
			return r;
		sb->s_last_orphan = inode.i_dtime;
		ext2fs_mark_super_dirty(sfs->fs);
		inode.i_dtime = 0;
		r = ext4_inode_write(sfs, ino, &inode);
		if (r < 0)
			return r;
		if (inode.i_links_count == 0) {
			r = ext4_inode_delete(sfs, ino);
			deleted++;
		} else if (LINUX_S_ISREG(inode.i_mode)) {
			/* An interrupted truncate: finish it. */
			r = ext4_truncate(sfs, ino, &inode, ext4_inode_size(sfs, &inode));
			truncated++;
		}
		if (r < 0)
			return r;
	}
	if (deleted || truncated)
		log_info("Cleaned up after an unclean stop: %u orphan inodes deleted, %u truncated",
			 deleted, truncated);
	return 0;
}
