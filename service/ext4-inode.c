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
#include <time.h>

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

errcode_t ext4_inode_read_raw(struct svc_fs *sfs, ext2_ino_t ino, struct ext2_inode_large *ret)
{
	unsigned int isize = EXT2_INODE_SIZE(sfs->fs->super);

	/* The fields past what the inode holds must read as zero, not as stack garbage. */
	memset(ret, 0, sizeof(*ret));
	return ext2fs_read_inode_full(sfs->fs, ino, (struct ext2_inode *)ret,
				      isize < sizeof(*ret) ? isize : sizeof(*ret));
}

int ext4_inode_read(struct svc_fs *sfs, ext2_ino_t ino, struct ext2_inode_large *ret)
{
	struct ext2_inode_large inode;
	unsigned int isize = EXT2_INODE_SIZE(sfs->fs->super);
	errcode_t err;

	if (ino == 0 || ino > sfs->fs->super->s_inodes_count)
		return -ESTALE;

	err = ext4_inode_read_raw(sfs, ino, &inode);
	if (err)
		return ext4_errno(sfs, err, ino, "reading the inode");

	/* Deleted or never used: a handle or entry that still names it is stale. An unlinked
	 * inode that is still open lives on until its last release. */
	if (inode.i_mode == 0 || (inode.i_links_count == 0 && !ext4_is_open(sfs, ino)))
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

int ext4_inode_write(struct svc_fs *sfs, ext2_ino_t ino, struct ext2_inode_large *inode)
{
	unsigned int isize = EXT2_INODE_SIZE(sfs->fs->super);
	errcode_t err;

	err = ext2fs_write_inode_full(sfs->fs, ino, (struct ext2_inode *)inode,
				      isize < sizeof(*inode) ? isize : sizeof(*inode));
	return ext4_errno(sfs, err, ino, "writing the inode");
}

void ext4_now(struct timespec *ret)
{
	clock_gettime(CLOCK_REALTIME, ret);
}

static void ext4_time_fields(struct ext2_inode_large *inode, enum ext4_time_field which,
			     uint32_t **ret_base, uint32_t **ret_extra)
{
	switch (which) {
	case EXT4_ATIME:
		*ret_base = &inode->i_atime;
		*ret_extra = &inode->i_atime_extra;
		break;
	case EXT4_MTIME:
		*ret_base = &inode->i_mtime;
		*ret_extra = &inode->i_mtime_extra;
		break;
	case EXT4_CTIME:
		*ret_base = &inode->i_ctime;
		*ret_extra = &inode->i_ctime_extra;
		break;
	default:
		*ret_base = &inode->i_crtime;
		*ret_extra = &inode->i_crtime_extra;
		break;
	}
}

/* Whether i_extra_isize covers field (which ends at byte end of the inode). */
static bool ext4_has_field(struct svc_fs *sfs, const struct ext2_inode_large *inode, size_t end)
{
	return EXT2_GOOD_OLD_INODE_SIZE + ext4_extra_isize(sfs, inode) >= end;
}

void ext4_inode_set_time(struct svc_fs *sfs, struct ext2_inode_large *inode,
			 enum ext4_time_field which, const struct timespec *ts)
{
	uint32_t *base, *extra;
	size_t end;
	int64_t sec = ts->tv_sec;

	ext4_time_fields(inode, which, &base, &extra);
	end = (size_t)((char *)extra - (char *)inode) + sizeof(*extra);
	if (which == EXT4_CRTIME && !ext4_has_field(sfs, inode, end))
		return;
	/* The kernel clamps to what the encoding can hold: 1901 .. 2446 with the extra field,
	 * the signed 32-bit range without it. */
	if (ext4_has_field(sfs, inode, end)) {
		if (sec < INT32_MIN)
			sec = INT32_MIN;
		if (sec > (int64_t)INT32_MAX + (3LL << 32))
			sec = (int64_t)INT32_MAX + (3LL << 32);
		*base = (uint32_t)(int32_t)(sec & 0xffffffff);
		*extra = (uint32_t)(((sec - (int32_t)*base) >> 32) & EXT4_EPOCH_MASK) |
			 ((uint32_t)ts->tv_nsec << EXT4_EPOCH_BITS);
	} else {
		if (sec < INT32_MIN)
			sec = INT32_MIN;
		if (sec > INT32_MAX)
			sec = INT32_MAX;
		*base = (uint32_t)(int32_t)sec;
	}
}

struct timespec ext4_inode_get_time(struct svc_fs *sfs, const struct ext2_inode_large *inode,
				    enum ext4_time_field which)
{
	uint32_t *base, *extra;

	ext4_time_fields((struct ext2_inode_large *)inode, which, &base, &extra);
	return ext4_time(inode, ext4_extra_isize(sfs, inode), *base, extra);
}

void ext4_inode_set_uid(struct ext2_inode_large *inode, uint32_t uid)
{
	inode->i_uid = uid & 0xffff;
	inode->osd2.linux2.l_i_uid_high = uid >> 16;
}

void ext4_inode_set_gid(struct ext2_inode_large *inode, uint32_t gid)
{
	inode->i_gid = gid & 0xffff;
	inode->osd2.linux2.l_i_gid_high = gid >> 16;
}

uint32_t ext4_inode_uid(const struct ext2_inode_large *inode)
{
	return inode->i_uid | (uint32_t)inode->osd2.linux2.l_i_uid_high << 16;
}

uint32_t ext4_inode_gid(const struct ext2_inode_large *inode)
{
	return inode->i_gid | (uint32_t)inode->osd2.linux2.l_i_gid_high << 16;
}

int ext4_inode_set_size(struct svc_fs *sfs, ext2_ino_t ino, struct ext2_inode_large *inode,
			uint64_t size)
{
	errcode_t err;

	err = ext2fs_inode_size_set(sfs->fs, (struct ext2_inode *)inode, size);
	return ext4_errno(sfs, err, ino, "setting the size");
}

/*
 * libext2fs 1.46.6 to 1.47.2 cannot free an extent that ends at the last block of the
 * filesystem: punch_extent_blocks() checks start + count >= blocks_count where it means >, and
 * checks only after the extent has left the tree. ext2fs_punch() then fails with
 * EXT2_ET_BAD_BLOCK_NUM and the extent's blocks stay in use, owned by nothing (fixed upstream
 * in July 2025, "libext2fs: fix off-by-one bug in punch_extent_blocks"; Debian 12 has 1.47.0).
 * On a nearly full filesystem a new file or directory easily gets that block, and removing it,
 * or abandoning it when its name did not fit, then leaked the block and the inode. So the one
 * block is unmapped and freed here, and the ext2fs_punch() after this never meets it.
 */
int ext4_unmap_last_block(struct svc_fs *sfs, ext2_ino_t ino, struct ext2_inode_large *inode,
			  uint64_t start, uint64_t end)
{
	ext2_filsys fs = sfs->fs;
	blk64_t last = ext2fs_blocks_count(fs->super) - 1;
	ext2_extent_handle_t handle = NULL;
	struct ext2fs_extent ext;
	uint64_t lblk;
	errcode_t err;

	if (!(inode->i_flags & EXT4_EXTENTS_FL) || (inode->i_flags & EXT4_INLINE_DATA_FL) ||
	    !ext2fs_test_block_bitmap2(fs->block_map, last))
		return 0;
	/* The handle works on *inode and writes it whenever the root of the tree changes. */
	err = ext2fs_extent_open2(fs, ino, (struct ext2_inode *)inode, &handle);
	if (err)
		return ext4_errno(sfs, err, ino, "reading the extent tree");
	for (err = ext2fs_extent_get(handle, EXT2_EXTENT_ROOT, &ext); err == 0;
	     err = ext2fs_extent_get(handle, EXT2_EXTENT_NEXT, &ext))
		if ((ext.e_flags & EXT2_EXTENT_FLAGS_LEAF) && ext.e_len > 0 &&
		    ext.e_pblk + ext.e_len - 1 == last)
			break;
	if (err) {
		ext2fs_extent_free(handle);
		if (err == EXT2_ET_EXTENT_NO_NEXT || err == EXT2_ET_NO_CURRENT_NODE)
			return 0;
		return ext4_errno(sfs, err, ino, "reading the extent tree");
	}
	/* No extent reaches past the last block, so the last block ends this one. */
	lblk = ext.e_lblk + ext.e_len - 1;
	if (lblk < start || lblk > end) {
		ext2fs_extent_free(handle);
		return 0;
	}
	if (ext.e_len == 1) {
		err = ext2fs_extent_delete(handle, 0);
		if (!err) {
			/* Nothing left to fix when the tree is now empty. */
			err = ext2fs_extent_fix_parents(handle);
			if (err == EXT2_ET_NO_CURRENT_NODE)
				err = 0;
		}
	} else {
		ext.e_len--;
		err = ext2fs_extent_replace(handle, 0, &ext);
		if (!err)
			err = ext2fs_extent_fix_parents(handle);
	}
	ext2fs_extent_free(handle);
	if (err)
		return ext4_errno(sfs, err, ino, "unmapping the last block of the filesystem");
	/* Unmapped before freed: a stop in between leaks a block for e2fsck, never shares one. */
	ext2fs_block_alloc_stats2(fs, last, -1);
	err = ext2fs_iblk_sub_blocks(fs, (struct ext2_inode *)inode, 1);
	if (err)
		return ext4_errno(sfs, err, ino, "counting the freed block");
	return ext4_inode_write(sfs, ino, inode);
}

int ext4_punch(struct svc_fs *sfs, ext2_ino_t ino, struct ext2_inode_large *inode, uint64_t start,
	       uint64_t end)
{
	errcode_t err;
	int r;

	r = ext4_unmap_last_block(sfs, ino, inode, start, end);
	if (r < 0)
		return r;
	err = ext2fs_punch(sfs->fs, ino, (struct ext2_inode *)inode, NULL, start, end);
	return ext4_errno(sfs, err, ino, "freeing blocks");
}

int ext4_inode_delete(struct svc_fs *sfs, ext2_ino_t ino)
{
	ext2_filsys fs = sfs->fs;
	struct ext2_inode_large inode;
	struct timespec now;
	errcode_t err;
	int r;

	err = ext4_inode_read_raw(sfs, ino, &inode);
	if (err)
		return ext4_errno(sfs, err, ino, "reading the inode to delete");
	if (inode.i_links_count != 0)
		return 0;

	/* A fast symlink keeps its target in i_block: nothing there to free. */
	if (ext2fs_inode_has_valid_blocks2(fs, (struct ext2_inode *)&inode) ||
	    (inode.i_flags & EXT4_INLINE_DATA_FL)) {
		r = ext4_punch(sfs, ino, &inode, 0, ~0ULL);
		if (r < 0)
			return r;
	}
	if (ext2fs_file_acl_block(fs, (struct ext2_inode *)&inode)) {
		err = ext2fs_free_ext_attr(fs, ino, &inode);
		if (err)
			return ext4_errno(sfs, err, ino, "freeing the xattrs of a deleted inode");
	}
	ext4_now(&now);
	inode.i_dtime = (uint32_t)now.tv_sec;
	ext2fs_inode_size_set(fs, (struct ext2_inode *)&inode, 0);
	r = ext4_inode_write(sfs, ino, &inode);
	if (r < 0)
		return r;
	ext2fs_inode_alloc_stats2(fs, ino, -1, LINUX_S_ISDIR(inode.i_mode));
	return 0;
}

void ext4_inode_accessed(struct svc_fs *sfs, ext2_ino_t ino)
{
	struct ext2_inode_large inode;
	struct timespec now, at, mt, ct;

	if (!sfs->rw || sfs->opts.atime == SVC_ATIME_NOATIME)
		return;
	if (ext4_inode_read(sfs, ino, &inode) < 0)
		return;
	ext4_now(&now);
	at = ext4_inode_get_time(sfs, &inode, EXT4_ATIME);
	if (sfs->opts.atime == SVC_ATIME_RELATIME) {
		mt = ext4_inode_get_time(sfs, &inode, EXT4_MTIME);
		ct = ext4_inode_get_time(sfs, &inode, EXT4_CTIME);
		/* relatime: only when atime is not newer than mtime/ctime, or a day old. */
		bool older = at.tv_sec < mt.tv_sec ||
			     (at.tv_sec == mt.tv_sec && at.tv_nsec <= mt.tv_nsec) ||
			     at.tv_sec < ct.tv_sec ||
			     (at.tv_sec == ct.tv_sec && at.tv_nsec <= ct.tv_nsec) ||
			     now.tv_sec - at.tv_sec >= 24 * 60 * 60;
		if (!older)
			return;
	}
	ext4_inode_set_time(sfs, &inode, EXT4_ATIME, &now);
	(void)ext4_inode_write(sfs, ino, &inode);
}

int ext4_setattr(struct svc_fs *sfs, ext2_ino_t ino, const struct ext4_setattr *sa)
{
	struct ext2_inode_large inode;
	struct timespec now;
	int r;

	r = ext4_check_rw(sfs);
	if (r < 0)
		return r;
	r = ext4_inode_read(sfs, ino, &inode);
	if (r < 0)
		return r;
	ext4_now(&now);

	if (sa->valid & EXT4_SET_SIZE) {
		if (LINUX_S_ISDIR(inode.i_mode))
			return -EISDIR;
		if (!LINUX_S_ISREG(inode.i_mode))
			return -EINVAL;
		if (sa->size > ext4_max_file_size(sfs, &inode))
			return -EFBIG;
		if (sa->size != ext4_inode_size(sfs, &inode)) {
			r = ext4_truncate(sfs, ino, &inode, sa->size);
			if (r < 0)
				return r;
		}
		/* ext4 stamps mtime on every truncate, even to the same size. */
		ext4_inode_set_time(sfs, &inode, EXT4_MTIME, &now);
	}
	if (sa->valid & EXT4_SET_MODE)
		inode.i_mode = (inode.i_mode & LINUX_S_IFMT) | (sa->mode & 07777);
	else if (sa->valid & EXT4_SET_KILL_SUIDGID)
		inode.i_mode = ext4_mode_kill_suidgid(inode.i_mode, /* no ACL entry changes */
						      !(sa->valid & EXT4_SET_SIZE) ||
							  sa->caller_gid == ext4_inode_gid(&inode));
	if (sa->valid & EXT4_SET_UID)
		ext4_inode_set_uid(&inode, sa->uid);
	if (sa->valid & EXT4_SET_GID)
		ext4_inode_set_gid(&inode, sa->gid);
	if (sa->valid & EXT4_SET_ATIME)
		ext4_inode_set_time(sfs, &inode, EXT4_ATIME, &sa->atime);
	if (sa->valid & EXT4_SET_MTIME)
		ext4_inode_set_time(sfs, &inode, EXT4_MTIME, &sa->mtime);
	ext4_inode_set_time(sfs, &inode, EXT4_CTIME,
			    (sa->valid & EXT4_SET_CTIME) ? &sa->ctime : &now);
	r = ext4_inode_write(sfs, ino, &inode);
	if (r < 0 || !(sa->valid & EXT4_SET_MODE) || LINUX_S_ISLNK(inode.i_mode))
		return r;
	return ext4_acl_chmod(sfs, ino, sa->mode);
}

/* A change that alters only the inode's metadata elsewhere (a link, a rename, an xattr) still
 * moves its ctime, as the kernel does. */
int ext4_touch_ctime(struct svc_fs *sfs, ext2_ino_t ino)
{
	struct ext2_inode_large inode;
	struct timespec now;
	int r;

	r = ext4_inode_read(sfs, ino, &inode);
	if (r < 0)
		return r;
	ext4_now(&now);
	ext4_inode_set_time(sfs, &inode, EXT4_CTIME, &now);
	return ext4_inode_write(sfs, ino, &inode);
}
