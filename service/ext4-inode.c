/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Inodes: reading and checking them, and turning them into struct stat exactly the way the
 * kernel's ext4 reports them, so that a tree looks the same through fuse4fs as through a kernel
 * mount of the same image.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "ext4.h"
#include "log.h"

bool ext4_ino_valid(struct svc_fs *sfs, ext2_ino_t ino)
{
	return ino == EXT2_ROOT_INO ||
	       (ino >= EXT2_FIRST_INO(sfs->fs->super) && ino <= sfs->fs->super->s_inodes_count);
}

static bool ext4_mode_valid(uint16_t mode)
{
	switch (mode & LINUX_S_IFMT) {
	case LINUX_S_IFREG:
	case LINUX_S_IFDIR:
	case LINUX_S_IFLNK:
	case LINUX_S_IFCHR:
	case LINUX_S_IFBLK:
	case LINUX_S_IFIFO:
	case LINUX_S_IFSOCK:
		return true;
	default:
		return false;
	}
}

/* How many bytes of the large-inode area the kernel would trust: 0 for 128-byte inodes. */
static unsigned int ext4_extra_isize(struct svc_fs *sfs, const struct ext2_inode_large *inode)
{
	if (EXT2_INODE_SIZE(sfs->fs->super) <= EXT2_GOOD_OLD_INODE_SIZE)
		return 0;
	return inode->i_extra_isize;
}

int ext4_inode_read(struct svc_fs *sfs, ext2_ino_t ino, struct ext2_inode_large *ret)
{
	struct ext2_inode_large inode;
	unsigned int isize = EXT2_INODE_SIZE(sfs->fs->super);
	errcode_t err;

	if (ino == 0 || ino > sfs->fs->super->s_inodes_count)
		return -ESTALE;

	/* The fields past what the inode holds must read as zero, not as stack garbage. */
	memset(&inode, 0, sizeof(inode));
	err = ext2fs_read_inode_full(sfs->fs, ino, (struct ext2_inode *)&inode,
				     isize < sizeof(inode) ? isize : sizeof(inode));
	if (err)
		return ext4_errno(sfs, err, ino, "reading the inode");

	/* Deleted or never used: a handle or entry that still names it is stale. */
	if (inode.i_links_count == 0 || inode.i_mode == 0)
		return -ESTALE;
	if (!ext4_mode_valid(inode.i_mode))
		return ext4_corrupt(sfs, ino, "invalid file type in i_mode");
	if (isize > EXT2_GOOD_OLD_INODE_SIZE &&
	    (inode.i_extra_isize & 3 ||
	     (unsigned int)inode.i_extra_isize > isize - EXT2_GOOD_OLD_INODE_SIZE))
		return ext4_corrupt(sfs, ino, "invalid i_extra_isize");
	/* i_size is a signed 64-bit quantity to the kernel; negative is corruption. */
	if (inode.i_size_high & 0x80000000u &&
	    (LINUX_S_ISREG(inode.i_mode) || ext2fs_has_feature_largedir(sfs->fs->super)))
		return ext4_corrupt(sfs, ino, "negative i_size");
	*ret = inode;
	return 0;
}

uint64_t ext4_inode_size(struct svc_fs *sfs, const struct ext2_inode_large *inode)
{
	if (LINUX_S_ISREG(inode->i_mode) || ext2fs_has_feature_largedir(sfs->fs->super))
		return inode->i_size | (uint64_t)inode->i_size_high << 32;
	return inode->i_size;
}

/*
 * The seconds field is signed 32-bit; the two low bits of the *_extra field extend it beyond
 * 2038 and the other 30 hold nanoseconds. The extra field only counts if i_extra_isize covers
 * it.
 */
static struct timespec ext4_time(const struct ext2_inode_large *inode, unsigned int extra_isize,
				 uint32_t base, const uint32_t *extra)
{
	size_t end = (size_t)((const char *)extra - (const char *)inode) + sizeof(*extra);
	struct timespec ts = { .tv_sec = (int32_t)base, .tv_nsec = 0 };

	if (EXT2_GOOD_OLD_INODE_SIZE + extra_isize >= end) {
		uint32_t x = *extra;

		ts.tv_sec += (int64_t)(x & EXT4_EPOCH_MASK) << 32;
		ts.tv_nsec = (x & EXT4_NSEC_MASK) >> EXT4_EPOCH_BITS;
	}
	return ts;
}

static uint64_t ext4_inode_blocks(struct svc_fs *sfs, const struct ext2_inode_large *inode)
{
	uint64_t blocks = inode->i_blocks;

	if (ext2fs_has_feature_huge_file(sfs->fs->super)) {
		blocks |= (uint64_t)inode->osd2.linux2.l_i_blocks_hi << 32;
		/* With this flag i_blocks counts filesystem blocks, not 512-byte sectors. */
		if (inode->i_flags & EXT4_HUGE_FILE_FL)
			blocks <<= EXT2_BLOCK_SIZE_BITS(sfs->fs->super) - 9;
	}
	return blocks;
}

void ext4_inode_stat(struct svc_fs *sfs, ext2_ino_t ino, const struct ext2_inode_large *inode,
		     struct stat *ret)
{
	unsigned int extra_isize = ext4_extra_isize(sfs, inode);
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_ino = ino;
	st.st_mode = inode->i_mode;
	st.st_nlink = inode->i_links_count;
	st.st_uid = inode->i_uid | (uint32_t)inode->osd2.linux2.l_i_uid_high << 16;
	st.st_gid = inode->i_gid | (uint32_t)inode->osd2.linux2.l_i_gid_high << 16;
	st.st_size = (off_t)ext4_inode_size(sfs, inode);
	st.st_blksize = sfs->blocksize;
	st.st_blocks = (blkcnt_t)ext4_inode_blocks(sfs, inode);
	/* Inline files own no data blocks; like the kernel, report at least the sectors their
	 * data would fill so tar and rsync do not take them for sparse. */
	if (LINUX_S_ISREG(inode->i_mode) && (inode->i_flags & EXT4_INLINE_DATA_FL))
		st.st_blocks += (st.st_size + 511) >> 9;

	if (LINUX_S_ISCHR(inode->i_mode) || LINUX_S_ISBLK(inode->i_mode)) {
		uint32_t old = inode->i_block[0], new = inode->i_block[1];

		/* Old 8:8 encoding in i_block[0] when it is non-zero, else the 12:20 one in
		 * i_block[1] (the kernel's old_decode_dev/new_decode_dev). */
		if (old)
			st.st_rdev = makedev((old >> 8) & 0xff, old & 0xff);
		else
			st.st_rdev = makedev((new & 0xfff00) >> 8,
					     (new & 0xff) | ((new >> 12) & 0xfff00));
	}

	st.st_atim = ext4_time(inode, extra_isize, inode->i_atime, &inode->i_atime_extra);
	st.st_mtim = ext4_time(inode, extra_isize, inode->i_mtime, &inode->i_mtime_extra);
	st.st_ctim = ext4_time(inode, extra_isize, inode->i_ctime, &inode->i_ctime_extra);
	*ret = st;
}
