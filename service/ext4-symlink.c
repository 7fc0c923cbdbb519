/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Symlink targets live in one of three places: i_block itself (fast symlinks, under 60 bytes),
 * inline data, or one data block. Which one is decided the way the kernel decides it (by
 * i_blocks, not by the size), and every length is bounded by both i_size and the space the
 * target can occupy, so a damaged inode yields -EUCLEAN and never an over-read.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ext4.h"
#include "log.h"

/* The kernel's ext4_inode_is_fast_symlink(): no blocks besides a possible xattr block. */
static bool ext4_is_fast_symlink(struct svc_fs *sfs, const struct ext2_inode_large *inode)
{
	uint64_t blocks = inode->i_blocks, ea_blocks = 0;

	if (inode->i_flags & EXT4_EA_INODE_FL)
		return inode->i_size && inode->i_size < sizeof(inode->i_block);
	if (inode->i_flags & EXT4_INLINE_DATA_FL)
		return false;
	if (ext2fs_has_feature_huge_file(sfs->fs->super))
		blocks |= (uint64_t)inode->osd2.linux2.l_i_blocks_hi << 32;
	if (inode->i_file_acl || inode->osd2.linux2.l_i_file_acl_high)
		ea_blocks = EXT2_CLUSTER_SIZE(sfs->fs->super) >> 9;
	return blocks == ea_blocks;
}

static int ext4_symlink_copy(const char *src, size_t len, char **ret)
{
	char *s = malloc(len + 1);

	if (!s)
		return -ENOMEM;
	memcpy(s, src, len);
	s[len] = '\0';
	*ret = s;
	return 0;
}

static int ext4_inline_symlink(struct svc_fs *sfs, ext2_ino_t ino,
			       struct ext2_inode_large *inode, uint64_t size, char **ret)
{
	_cleanup_free_ char *buf = NULL;
	size_t have = 0;
	errcode_t err;

	err = ext2fs_inline_data_size(sfs->fs, ino, &have);
	if (err)
		return ext4_errno(sfs, err, ino, "sizing inline symlink data");
	if (size > have)
		return ext4_corrupt(sfs, ino, "symlink longer than its inline data");
	buf = calloc(1, have + 1);
	if (!buf)
		return -ENOMEM;
	err = ext2fs_inline_data_get(sfs->fs, ino, (struct ext2_inode *)inode, buf, &have);
	if (err)
		return ext4_errno(sfs, err, ino, "reading inline symlink data");
	if (size > have)
		return ext4_corrupt(sfs, ino, "symlink longer than its inline data");
	return ext4_symlink_copy(buf, strnlen(buf, size), ret);
}

static int ext4_block_symlink(struct svc_fs *sfs, ext2_ino_t ino, struct ext2_inode_large *inode,
			      uint64_t size, char **ret)
{
	ext2_filsys fs = sfs->fs;
	_cleanup_free_ char *buf = NULL;
	blk64_t pblk = 0;
	errcode_t err;

	/* The target and its terminating NUL must fit in the one block. */
	if (size >= sfs->blocksize)
		return ext4_corrupt(sfs, ino, "symlink longer than a block");
	err = ext2fs_bmap2(fs, ino, (struct ext2_inode *)inode, NULL, 0, 0, NULL, &pblk);
	if (err)
		return ext4_errno(sfs, err, ino, "mapping the symlink block");
	if (pblk < fs->super->s_first_data_block || pblk >= ext2fs_blocks_count(fs->super))
		return ext4_corrupt(sfs, ino, "symlink block missing or out of range");
	buf = malloc(sfs->blocksize);
	if (!buf)
		return -ENOMEM;
	err = io_channel_read_blk64(fs->io, pblk, 1, buf);
	if (err)
		return ext4_errno(sfs, err, ino, "reading the symlink block");
	return ext4_symlink_copy(buf, strnlen(buf, size), ret);
}

int ext4_readlink(struct svc_fs *sfs, ext2_ino_t ino, char **ret)
{
	struct ext2_inode_large inode;
	uint64_t size;
	int r;

	r = ext4_inode_read(sfs, ino, &inode);
	if (r < 0)
		return r;
	if (!LINUX_S_ISLNK(inode.i_mode))
		return -EINVAL;
	size = ext4_inode_size(sfs, &inode);
	if (size == 0)
		return ext4_corrupt(sfs, ino, "empty symlink");

	if (inode.i_flags & EXT4_INLINE_DATA_FL)
		return ext4_inline_symlink(sfs, ino, &inode, size, ret);
	if (ext4_is_fast_symlink(sfs, &inode)) {
		const char *target = (const char *)inode.i_block;

		/* Like the kernel: the target fills exactly i_size bytes of i_block, no NUL. */
		if (size >= sizeof(inode.i_block) || strnlen(target, size) != size)
			return ext4_corrupt(sfs, ino, "invalid fast symlink length");
		return ext4_symlink_copy(target, size, ret);
	}
	return ext4_block_symlink(sfs, ino, &inode, size, ret);
}
