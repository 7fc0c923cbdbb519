/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Opening and closing the filesystem: superblock and feature checks that decide whether we can
 * serve an image at all, the errcode_t -> errno conversion, and statfs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ext4.h"
#include "read-pool.h"
#include "journal.h"
#include "log.h"

/* Enough corruption reports to diagnose an image without flooding the journal. */
#define EXT4_CORRUPTION_LOG_MAX 64

/*
 * What the kernel's ext4 does on an error, minus the panic: record it in the superblock (on a
 * read-write mount it reaches the disk with the next superblock write, so that e2fsck checks
 * it; a read-only mount writes nothing and keeps it in memory), then apply the errors= policy:
 * remount-ro and panic both stop all changes, continue carries on.
 */
static void ext4_mark_errors(struct svc_fs *sfs)
{
	ext2_filsys fs = sfs->fs;

	if (!fs)
		return;
	if (!(fs->super->s_state & EXT2_ERROR_FS)) {
		fs->super->s_state |= EXT2_ERROR_FS;
		if (fs->flags & EXT2_FLAG_RW)
			ext2fs_mark_super_dirty(fs);
	}
	if (!sfs->errors_ro && !sfs->opts.read_only &&
	    (fs->super->s_errors == EXT2_ERRORS_RO || fs->super->s_errors == EXT2_ERRORS_PANIC)) {
		sfs->errors_ro = true;
		log_error("The filesystem's error behaviour is %s: no more changes are accepted until it is unmounted and checked",
			  fs->super->s_errors == EXT2_ERRORS_RO ? "remount-ro" :
								   "panic (done as remount-ro)");
	}
}

/* Seen before: the same inode with the same message among the last few reports. */
static bool ext4_corruption_seen(struct svc_fs *sfs, ext2_ino_t ino, const char *what)
{
	uint64_t key = (uint64_t)ino << 32, h = 5381;

	for (const char *p = what; *p; p++)
		h = h * 33 + (unsigned char)*p;
	key |= h & 0xffffffffU;
	for (size_t i = 0; i < ELEMENTSOF(sfs->corruption_seen); i++)
		if (sfs->corruption_seen[i] == key)
			return true;
	sfs->corruption_seen[sfs->corruption_seen_next++ % ELEMENTSOF(sfs->corruption_seen)] = key;
	return false;
}

int ext4_corrupt(struct svc_fs *sfs, ext2_ino_t ino, const char *what)
{
	ext4_mark_errors(sfs);
	if (ext4_corruption_seen(sfs, ino, what))
		return -EUCLEAN;
	if (sfs->corruption_logged < EXT4_CORRUPTION_LOG_MAX) {
		sfs->corruption_logged++;
		if (ino)
			log_error("Filesystem corruption in inode %u: %s; run e2fsck on the device",
				  ino, what);
		else
			log_error("Filesystem corruption: %s; run e2fsck on the device", what);
	}
	return -EUCLEAN;
}

static bool ext4_err_is_corruption(errcode_t err)
{
	switch (err) {
	case EXT2_ET_BAD_MAGIC:
	case EXT2_ET_DIR_CORRUPTED:
	case EXT2_ET_BAD_INODE_NUM:
	case EXT2_ET_BAD_BLOCK_NUM:
	case EXT2_ET_BAD_IND_BLOCK:
	case EXT2_ET_BAD_DIND_BLOCK:
	case EXT2_ET_BAD_TIND_BLOCK:
	case EXT2_ET_MISSING_INODE_TABLE:
	case EXT2_ET_CORRUPT_SUPERBLOCK:
	case EXT2_ET_GDESC_BAD_BLOCK_MAP:
	case EXT2_ET_GDESC_BAD_INODE_MAP:
	case EXT2_ET_GDESC_BAD_INODE_TABLE:
	case EXT2_ET_BAD_EA_BLOCK_NUM:
	case EXT2_ET_BAD_EA_HEADER:
	case EXT2_ET_BAD_EA_HASH:
	case EXT2_ET_EA_BAD_NAME_LEN:
	case EXT2_ET_EA_BAD_VALUE_SIZE:
	case EXT2_ET_EA_BAD_VALUE_OFFSET:
	case EXT2_ET_EA_INODE_CORRUPTED:
	case EXT2_ET_EXTENT_HEADER_BAD:
	case EXT2_ET_EXTENT_INDEX_BAD:
	case EXT2_ET_EXTENT_LEAF_BAD:
	case EXT2_ET_EXTENT_CYCLE:
	case EXT2_ET_EXTENT_INVALID_LENGTH:
	case EXT2_ET_INODE_CSUM_INVALID:
	case EXT2_ET_EXTENT_CSUM_INVALID:
	case EXT2_ET_DIR_CSUM_INVALID:
	case EXT2_ET_EXT_ATTR_CSUM_INVALID:
	case EXT2_ET_SB_CSUM_INVALID:
	case EXT2_ET_INODE_BITMAP_CSUM_INVALID:
	case EXT2_ET_BLOCK_BITMAP_CSUM_INVALID:
	case EXT2_ET_UNKNOWN_CSUM:
	case EXT2_ET_INODE_IS_GARBAGE:
	case EXT2_ET_INODE_CORRUPTED:
	case EXT2_ET_FILESYSTEM_CORRUPTED:
	case EXT2_ET_BAD_CRC:
	case EXT2_ET_NO_INLINE_DATA:
	case EXT2_ET_INLINE_DATA_NO_BLOCK:
	case EXT2_ET_INLINE_DATA_CANT_ITERATE:
	case EXT2_ET_SYMLINK_LOOP:
	case EXT2_ET_NO_GDESC:
	case EXT2_ET_BAD_DESC_SIZE:
	case EXT2_ET_RESIZE_INODE_CORRUPT:
	case EXT2_ET_DIRHASH_UNSUPP:
		return true;
	default:
		return false;
	}
}

int ext4_errno(struct svc_fs *sfs, errcode_t err, ext2_ino_t ino, const char *what)
{
	char text[256];

	if (err == 0)
		return 0;
	/* libext2fs passes errno values from the I/O layer through unchanged. */
	if (err > 0 && err < 4096)
		return -(int)err;
	if (err == EXT2_ET_NO_MEMORY)
		return -ENOMEM;
	if (err == EXT2_ET_FILE_NOT_FOUND)
		return -ENOENT;
	if (err == EXT2_ET_EA_KEY_NOT_FOUND)
		return -ENODATA;
	if (err == EXT2_ET_RO_FILSYS || err == EXT2_ET_FILE_RO)
		return -EROFS;
	if (err == EXT2_ET_FILE_TOO_BIG)
		return -EFBIG;
	if (ext4_err_is_corruption(err)) {
		snprintf(text, sizeof(text), "%s: %s", what, error_message(err));
		return ext4_corrupt(sfs, ino, text);
	}
	if (ino)
		log_error("Inode %u: %s: %s", ino, what, error_message(err));
	else
		log_error("%s: %s", what, error_message(err));
	return -EIO;
}

struct ext4_feature_name {
	uint32_t mask;
	const char *name;
};

/* Names as mke2fs -O and tune2fs spell them, so the user can look them up. */
static const struct ext4_feature_name ext4_incompat_names[] = {
	{ EXT2_FEATURE_INCOMPAT_COMPRESSION, "compression" },
	{ EXT2_FEATURE_INCOMPAT_FILETYPE, "filetype" },
	{ EXT3_FEATURE_INCOMPAT_RECOVER, "needs_recovery" },
	{ EXT3_FEATURE_INCOMPAT_JOURNAL_DEV, "journal_dev" },
	{ EXT2_FEATURE_INCOMPAT_META_BG, "meta_bg" },
	{ EXT3_FEATURE_INCOMPAT_EXTENTS, "extent" },
	{ EXT4_FEATURE_INCOMPAT_64BIT, "64bit" },
	{ EXT4_FEATURE_INCOMPAT_MMP, "mmp" },
	{ EXT4_FEATURE_INCOMPAT_FLEX_BG, "flex_bg" },
	{ EXT4_FEATURE_INCOMPAT_EA_INODE, "ea_inode" },
	{ EXT4_FEATURE_INCOMPAT_DIRDATA, "dirdata" },
	{ EXT4_FEATURE_INCOMPAT_CSUM_SEED, "metadata_csum_seed" },
	{ EXT4_FEATURE_INCOMPAT_LARGEDIR, "large_dir" },
	{ EXT4_FEATURE_INCOMPAT_INLINE_DATA, "inline_data" },
	{ EXT4_FEATURE_INCOMPAT_ENCRYPT, "encrypt" },
	{ EXT4_FEATURE_INCOMPAT_CASEFOLD, "casefold" },
};

/* Incompatible features whose on-disk format this server reads correctly. */
#define EXT4_INCOMPAT_SERVED                                                                   \
	(EXT2_FEATURE_INCOMPAT_FILETYPE | EXT2_FEATURE_INCOMPAT_META_BG |                      \
	 EXT3_FEATURE_INCOMPAT_EXTENTS | EXT4_FEATURE_INCOMPAT_64BIT |                         \
	 EXT4_FEATURE_INCOMPAT_FLEX_BG | EXT4_FEATURE_INCOMPAT_EA_INODE |                      \
	 EXT4_FEATURE_INCOMPAT_CSUM_SEED | EXT4_FEATURE_INCOMPAT_LARGEDIR |                    \
	 EXT4_FEATURE_INCOMPAT_INLINE_DATA | EXT3_FEATURE_INCOMPAT_RECOVER)

static void ext4_unsupported_name(uint32_t bits, char *buf, size_t size)
{
	for (size_t i = 0; i < ELEMENTSOF(ext4_incompat_names); i++) {
		if (bits & ext4_incompat_names[i].mask) {
			snprintf(buf, size, "feature '%s'", ext4_incompat_names[i].name);
			return;
		}
	}
	snprintf(buf, size, "feature bits 0x%x (unknown to fuse4fs)", bits);
}

/*
 * Look at the raw superblock before libext2fs does, so that the refusal can name the problem
 * and the remedy instead of a generic "unsupported feature".
 */
static int ext4_check_super(int fd, const char *dev, char *why, size_t why_size)
{
	struct ext2_super_block sb;
	uint32_t incompat, compat;
	char feature[96];
	ssize_t n;

	n = pread(fd, &sb, sizeof(sb), SUPERBLOCK_OFFSET);
	if (n < 0) {
		int r = -errno;

		snprintf(why, why_size, "Could not read the superblock of %s: %s", dev,
			 strerror(-r));
		return r;
	}
	if ((size_t)n < sizeof(sb) || ext2fs_le16_to_cpu(sb.s_magic) != EXT2_SUPER_MAGIC) {
		snprintf(why, why_size, "%s does not hold an ext2/3/4 filesystem", dev);
		return -EINVAL;
	}
	if (ext2fs_le32_to_cpu(sb.s_rev_level) > EXT2_DYNAMIC_REV) {
		snprintf(why, why_size,
			 "%s has ext2 revision %u, newer than fuse4fs understands: mount it with the kernel",
			 dev, ext2fs_le32_to_cpu(sb.s_rev_level));
		return -EOPNOTSUPP;
	}

	compat = ext2fs_le32_to_cpu(sb.s_feature_compat);
	incompat = ext2fs_le32_to_cpu(sb.s_feature_incompat);
	/* An old revision superblock has no feature fields worth trusting. */
	if (ext2fs_le32_to_cpu(sb.s_rev_level) == EXT2_GOOD_OLD_REV)
		compat = incompat = 0;

	if (incompat & EXT3_FEATURE_INCOMPAT_JOURNAL_DEV) {
		snprintf(why, why_size,
			 "%s is an external ext3/4 journal, not a filesystem: mount the filesystem that uses it",
			 dev);
		return -EINVAL;
	}
	if ((compat & EXT3_FEATURE_COMPAT_HAS_JOURNAL) && sb.s_journal_inum == 0) {
		snprintf(why, why_size,
			 "%s uses an external journal device, which fuse4fs cannot read: mount it with the kernel",
			 dev);
		return -EOPNOTSUPP;
	}
	/*
	 * Fast-commit blocks extend the last transaction with logical records that only the
	 * kernel and e2fsck replay; recovering without them would silently lose data that an
	 * fsync() had made durable.
	 */
	if ((incompat & EXT3_FEATURE_INCOMPAT_RECOVER) &&
	    (compat & EXT4_FEATURE_COMPAT_FAST_COMMIT)) {
		snprintf(why, why_size,
			 "The journal of %s needs recovery and uses fast commits, which fuse4fs cannot replay: run 'e2fsck -p' on it, or mount it once with the kernel",
			 dev);
		return -EOPNOTSUPP;
	}
	if (incompat & EXT4_FEATURE_INCOMPAT_ENCRYPT) {
		snprintf(why, why_size,
			 "%s has the 'encrypt' feature (fscrypt directories), which fuse4fs cannot serve: mount it with the kernel",
			 dev);
		return -EOPNOTSUPP;
	}
	if (incompat & EXT4_FEATURE_INCOMPAT_CASEFOLD) {
		snprintf(why, why_size,
			 "%s has the 'casefold' feature (case-insensitive directories), which fuse4fs cannot serve: mount it with the kernel",
			 dev);
		return -EOPNOTSUPP;
	}
	/* Another host may be writing it; only the kernel takes part in the MMP protocol. */
	if (incompat & EXT4_FEATURE_INCOMPAT_MMP) {
		snprintf(why, why_size,
			 "%s uses multi-mount protection ('mmp'), which fuse4fs does not take part in: mount it with the kernel",
			 dev);
		return -EOPNOTSUPP;
	}
	if (incompat & ~EXT4_INCOMPAT_SERVED) {
		ext4_unsupported_name(incompat & ~EXT4_INCOMPAT_SERVED, feature, sizeof(feature));
		snprintf(why, why_size,
			 "%s uses the incompatible %s, which fuse4fs does not support: mount it with the kernel",
			 dev, feature);
		return -EOPNOTSUPP;
	}
	/* Unknown ro_compat features are fine: by definition they do not change how a reader
	 * interprets the filesystem. They only matter once we write. */
	/* 1: serving the pre-replay state would show stale, possibly inconsistent metadata,
	 * so the journal is replayed first (journal.c). */
	return (incompat & EXT3_FEATURE_INCOMPAT_RECOVER) ? 1 : 0;
}

static int ext4_open_errno(errcode_t err, const char *dev, char *why, size_t why_size)
{
	switch (err) {
	case EXT2_ET_SB_CSUM_INVALID:
		snprintf(why, why_size,
			 "The superblock checksum of %s is wrong: run 'e2fsck' on it", dev);
		return -EUCLEAN;
	case EXT2_ET_BAD_MAGIC:
		snprintf(why, why_size, "%s does not hold an ext2/3/4 filesystem", dev);
		return -EINVAL;
	case EXT2_ET_UNSUPP_FEATURE:
	case EXT2_ET_RO_UNSUPP_FEATURE:
		snprintf(why, why_size,
			 "%s uses a feature fuse4fs's libext2fs does not support: mount it with the kernel",
			 dev);
		return -EOPNOTSUPP;
	case EXT2_ET_NO_MEMORY:
		snprintf(why, why_size, "Out of memory opening %s", dev);
		return -ENOMEM;
	default:
		if (err > 0 && err < 4096) {
			snprintf(why, why_size, "Could not read %s: %s", dev, strerror((int)err));
			return -(int)err;
		}
		snprintf(why, why_size, "%s holds a damaged ext2/3/4 filesystem (%s): run 'e2fsck' on it",
			 dev, error_message(err));
		return -EUCLEAN;
	}
}

static void ext4_init_error_table(void)
{
	/* Makes error_message() name libext2fs codes instead of "Unknown code ext2 N". */
	initialize_ext2_error_table();
}

/*
 * Read-write: everything the kernel refuses to write, we refuse too; then mark the filesystem
 * in use (not clean) on disk the way a kernel mount does, so that a crash shows.
 */
static int ext4_open_rw(struct svc_fs *sfs, const char *dev, char *why, size_t why_size)
{
	ext2_filsys fs = sfs->fs;
	struct ext2_super_block *sb = fs->super;
	struct timespec now;
	errcode_t err;
	int r;

	if (ext2fs_has_feature_bigalloc(sb) || ext2fs_has_feature_quota(sb) ||
	    ext2fs_has_feature_verity(sb) || ext2fs_has_feature_orphan_present(sb) ||
	    ext2fs_has_feature_shared_blocks(sb) || ext2fs_has_feature_readonly(sb) ||
	    (sb->s_feature_ro_compat & ~EXT2_LIB_FEATURE_RO_COMPAT_SUPP)) {
		snprintf(why, why_size,
			 "%s uses a feature fuse4fs cannot write (bigalloc, quota, verity, orphan_present, shared_blocks or read-only): mount it with -o ro",
			 dev);
		return -EOPNOTSUPP;
	}
	if (sb->s_state & EXT2_ERROR_FS) {
		snprintf(why, why_size,
			 "%s has errors recorded in its superblock: run 'e2fsck' on it before mounting it read-write",
			 dev);
		return -EUCLEAN;
	}
	err = ext2fs_read_bitmaps(fs);
	if (err) {
		snprintf(why, why_size, "The allocation bitmaps of %s are damaged (%s): run 'e2fsck' on it",
			 dev, error_message(err));
		return -EUCLEAN;
	}
	sfs->rw = true;
	sfs->was_valid = sb->s_state & EXT2_VALID_FS;
	if (!sfs->was_valid)
		log_warning("%s was not cleanly unmounted; run 'e2fsck' on it", dev);
	sb->s_state &= ~EXT2_VALID_FS;
	ext4_now(&now);
	sb->s_mtime = (uint32_t)now.tv_sec;
	sb->s_mtime_hi = (uint8_t)(now.tv_sec >> 32);
	sb->s_mnt_count++;
	ext2fs_mark_super_dirty(fs);
	r = ext4_orphan_cleanup(sfs);
	if (r == 0)
		r = ext4_sync(sfs);
	if (r == -EUCLEAN) {
		snprintf(why, why_size,
			 "The orphan list of %s is damaged (an unclean stop?): run 'e2fsck' on it before mounting it read-write",
			 dev);
		return r;
	}
	if (r < 0) {
		snprintf(why, why_size, "Could not write to %s: %s", dev, strerror(-r));
		return r;
	}
	return 0;
}

int ext4_check_rw(struct svc_fs *sfs)
{
	return sfs->rw && !sfs->errors_ro ? 0 : -EROFS;
}

int ext4_sync(struct svc_fs *sfs)
{
	errcode_t err;

	if (!sfs->rw)
		return 0;
	/* Writes the superblock, group descriptors and bitmaps that are dirty and flushes
	 * libext2fs's block cache; then the device cache. */
	err = ext2fs_flush2(sfs->fs, 0);
	if (err)
		return ext4_errno(sfs, err, 0, "writing back the filesystem");
	if (fsync(sfs->device_fd) < 0)
		return log_error_errno(-errno, "Could not sync the device: %m");
	return 0;
}

uint64_t ext4_max_file_size(struct svc_fs *sfs, const struct ext2_inode_large *inode)
{
	unsigned int bits = EXT2_BLOCK_SIZE_BITS(sfs->fs->super);
	bool huge = ext2fs_has_feature_huge_file(sfs->fs->super);
	uint64_t blocks;

	if (inode->i_flags & EXT4_EXTENTS_FL) {
		/* 32-bit logical block numbers; without huge_file also i_blocks in 32 bits of
		 * 512-byte sectors (the kernel's ext4_max_size). */
		blocks = (1ULL << 32) - 1;
		if (!huge && blocks > (((1ULL << 32) - 1) >> (bits - 9)))
			blocks = ((1ULL << 32) - 1) >> (bits - 9);
		return blocks << bits;
	}
	/* Block map: 12 direct, then single, double and triple indirect blocks. */
	uint64_t per = 1ULL << (bits - 2);
	blocks = 12 + per + per * per + per * per * per;
	if (!huge && blocks > (((1ULL << 32) - 1) >> (bits - 9)))
		blocks = ((1ULL << 32) - 1) >> (bits - 9);
	if (blocks > (1ULL << 32) - 1)
		blocks = (1ULL << 32) - 1;
	return blocks << bits;
}

/*
 * libext2fs calls these for every block it marks free or in use (ext2fs_block_alloc_stats2()
 * and _range(): truncate, punch, the deletion of an inode, extent tree and xattr blocks). A
 * block freed while the read pool reads it could be allocated to another file and written,
 * and the reader would get that file's data: so a free waits until the reads queued so far
 * are done. The lock is held here; pool threads never take it, so the wait ends.
 */
static void ext4_block_alloc_stats(ext2_filsys fs, blk64_t blk, int inuse)
{
	struct svc_fs *sfs = fs->priv_data;

	if (inuse < 0 && sfs)
		read_pool_wait_idle(sfs->read_pool);
}

static void ext4_block_alloc_stats_range(ext2_filsys fs, blk64_t blk, blk_t num, int inuse)
{
	ext4_block_alloc_stats(fs, blk, inuse);
}

int svc_fs_open(int device_fd, const struct svc_fs_options *opts, struct svc_fs **ret,
		char *why, size_t why_size)
{
	_cleanup_free_ struct svc_fs *sfs = NULL;
	struct ext2_inode_large root;
	_cleanup_(journal_overlay_freep) struct journal_overlay *overlay = NULL;
	io_manager io = unixfd_io_manager;
	ext2_filsys fs = NULL;
	char name[32], dev[300];
	errcode_t err;
	int flags, r;

	static pthread_once_t error_table_once = PTHREAD_ONCE_INIT;

	pthread_once(&error_table_once, ext4_init_error_table);
	if (why_size)
		why[0] = '\0';
	if (opts->device_name)
		snprintf(dev, sizeof(dev), "'%s'", opts->device_name);
	else
		snprintf(dev, sizeof(dev), "the device");

	r = ext4_check_super(device_fd, dev, why, why_size);
	if (r < 0)
		return r;
	if (r > 0) {
		r = journal_recover(device_fd, opts->read_only, dev, &overlay, why, why_size);
		if (r < 0)
			return r;
	}

	sfs = calloc(1, sizeof(*sfs));
	if (!sfs)
		return -ENOMEM;
	sfs->opts = *opts;
	sfs->opts.device_name = NULL; /* not ours to keep */

	/*
	 * unixfd_io_manager takes the fd number as the "name" and uses that fd as is (it must be
	 * open for writing for a read-write mount). Checksum errors are NOT ignored: a block that fails
	 * its checksum is served as an error, never as data.
	 */
	snprintf(name, sizeof(name), "%d", device_fd);
	flags = EXT2_FLAG_64BITS;
	if (!opts->read_only)
		flags |= EXT2_FLAG_RW;
	if (overlay) {
		/* Read-only with a journal to replay: see the recovered state, write nothing. */
		io = journal_overlay_manager;
		journal_overlay_use(overlay);
	}
	if (!opts->no_cache) {
		/* Our cache goes in front of whichever channel reads the device. */
		io_cache_use(io, (size_t)(opts->cache_mib ? opts->cache_mib : SVC_CACHE_DEFAULT_MIB)
					 << 20);
		io = io_cache_manager;
	}
	err = ext2fs_open2(name, NULL, flags, 0, 0, io, &fs);
	if (err)
		return ext4_open_errno(err, dev, why, why_size);

	sfs->fs = fs;
	sfs->blocksize = fs->blocksize;
	/* Before anything can free a block (the orphan cleanup of a read-write open). libext2fs
	 * sets no hooks of its own: there is nothing to chain to. */
	fs->priv_data = sfs;
	ext2fs_set_block_alloc_stats_callback(fs, ext4_block_alloc_stats, NULL);
	ext2fs_set_block_alloc_stats_range_callback(fs, ext4_block_alloc_stats_range, NULL);
	for (int i = 0; i < 4; i++)
		sfs->hash_seed[i] = fs->super->s_hash_seed[i];
	sfs->unsigned_hash = fs->super->s_flags & EXT2_FLAGS_UNSIGNED_HASH;

	if (fs->super->s_state & EXT2_ERROR_FS)
		log_warning("%s has errors recorded in its superblock; run 'e2fsck' on it",
			    dev);

	err = ext2fs_read_inode_full(fs, EXT2_ROOT_INO, (struct ext2_inode *)&root, sizeof(root));
	if (err || !LINUX_S_ISDIR(root.i_mode) || root.i_links_count == 0) {
		snprintf(why, why_size,
			 "The root directory of %s is damaged%s%s: run 'e2fsck' on it", dev,
			 err ? ": " : "", err ? error_message(err) : "");
		ext2fs_close_free(&fs);
		return -EUCLEAN;
	}

	sfs->device_fd = device_fd;
	if (!opts->read_only) {
		r = ext4_open_rw(sfs, dev, why, why_size);
		if (r < 0) {
			ext2fs_close_free(&fs);
			return r;
		}
	}

	r = pthread_mutex_init(&sfs->lock, NULL);
	if (r != 0) {
		ext2fs_close_free(&fs);
		return -r;
	}
	log_debug("Opened %s: block size %u, %u inodes, features 0x%x/0x%x/0x%x, CRC32C %s", dev,
		  fs->blocksize, fs->super->s_inodes_count, fs->super->s_feature_compat,
		  fs->super->s_feature_incompat, fs->super->s_feature_ro_compat,
		  ext4_crc32c_hw() ? "SSE4.2" : "libext2fs");
	sfs->overlay = TAKE_PTR(overlay);
	*ret = TAKE_PTR(sfs);
	return 0;
}

int svc_fs_close(struct svc_fs *sfs)
{
	struct io_cache_stats cs;
	errcode_t err;
	int r = 0;

	if (!sfs)
		return 0;
	/* op_destroy() ended it already, unless the session never did: no pool thread may
	 * outlive the device fd. */
	read_pool_free(sfs->read_pool);
	sfs->read_pool = NULL;
	if (sfs->rw) {
		ext4_open_put_all(sfs);
		/* No orphans left now; clean again as it was at mount. */
		if (sfs->was_valid && !(sfs->fs->super->s_state & EXT2_ERROR_FS))
			sfs->fs->super->s_state |= EXT2_VALID_FS;
		ext2fs_mark_super_dirty(sfs->fs);
		/* Before the close: unixfd_io_manager closes the fd with the channel. */
		r = ext4_sync(sfs);
	}
	if (io_cache_get_stats(sfs->fs->io, &cs) == 0)
		log_debug("Block cache: %" PRIu64 " hits, %" PRIu64 " misses, %" PRIu64
			  " evictions, %" PRIu64 " invalidations, %u of %u blocks held",
			  cs.hits, cs.misses, cs.evictions, cs.invalidations, cs.cached, cs.slots);
	err = ext2fs_close_free(&sfs->fs);
	if (err && r == 0)
		r = ext4_errno(sfs, err, 0, "Closing the filesystem");
	free(sfs->opens);
	pthread_mutex_destroy(&sfs->lock);
	/* After the close: the io channel reads through it until then. */
	journal_overlay_free(sfs->overlay);
	free(sfs->lin_buf);
	free(sfs->dx_buf);
	free(sfs);
	return r;
}

/* Superblock copy, descriptor and reserved GDT blocks at the start of group g, counted the way
 * the kernel's ext4_num_base_meta_blocks() does. */
static blk64_t ext4_group_base_meta(ext2_filsys fs, dgrp_t g)
{
	unsigned long per_block = EXT2_DESC_PER_BLOCK(fs->super);
	bool meta_bg = ext2fs_has_feature_meta_bg(fs->super);
	blk64_t n = ext2fs_bg_has_super(fs, g) ? 1 : 0;

	if (!meta_bg || g / per_block < fs->super->s_first_meta_bg) {
		if (n)
			n += (meta_bg ? fs->super->s_first_meta_bg : fs->desc_blocks) +
			     fs->super->s_reserved_gdt_blocks;
		return n;
	}
	dgrp_t first = g / per_block * per_block;
	if (g == first || g == first + 1 || g == first + per_block - 1)
		n++;
	return n;
}

/*
 * The kernel reports f_blocks minus the metadata overhead: everything before the first data
 * block, per group the superblock copy, descriptors, two bitmaps and the inode table, and the
 * internal journal. With bigalloc it uses the (then trusted) superblock value.
 */
static blk64_t ext4_overhead(struct svc_fs *sfs)
{
	ext2_filsys fs = sfs->fs;
	blk64_t overhead, itb;

	if (ext2fs_has_feature_bigalloc(fs->super) && fs->super->s_overhead_clusters &&
	    fs->super->s_overhead_clusters <= ext2fs_blocks_count(fs->super))
		return EXT2FS_C2B(fs, (blk64_t)fs->super->s_overhead_clusters);

	itb = fs->inode_blocks_per_group;
	overhead = EXT2FS_B2C(fs, fs->super->s_first_data_block);
	for (dgrp_t g = 0; g < fs->group_desc_count; g++)
		overhead += ext4_group_base_meta(fs, g) + itb + 2;

	if (ext2fs_has_feature_journal(fs->super) && fs->super->s_journal_inum) {
		struct ext2_inode_large j;

		if (ext2fs_read_inode_full(fs, fs->super->s_journal_inum, (struct ext2_inode *)&j,
					   sizeof(j)) == 0)
			overhead += EXT2FS_NUM_B2C(fs, EXT2_I_SIZE(&j) >> EXT2_BLOCK_SIZE_BITS(fs->super));
	}
	return EXT2FS_C2B(fs, overhead);
}

int ext4_statfs(struct svc_fs *sfs, struct statvfs *ret)
{
	ext2_filsys fs = sfs->fs;
	uint64_t free_clusters = 0, free_inodes = 0, blocks, overhead, bfree, reserved, resv;
	struct statvfs st = { 0 };

	/* The kernel's free counters start from the group descriptors, not the superblock
	 * totals (which are only updated at unmount). */
	for (dgrp_t g = 0; g < fs->group_desc_count; g++) {
		free_clusters += ext2fs_bg_free_blocks_count(fs, g);
		free_inodes += ext2fs_bg_free_inodes_count(fs, g);
	}
	blocks = ext2fs_blocks_count(fs->super);
	overhead = ext4_overhead(sfs);
	bfree = EXT2FS_C2B(fs, free_clusters);

	/* Like the kernel, hold back 2% or 4096 clusters (the smaller) when extents are on. */
	resv = 0;
	if (ext2fs_has_feature_extents(fs->super)) {
		resv = (blocks >> fs->cluster_ratio_bits) / 50;
		if (resv > 4096)
			resv = 4096;
	}
	reserved = ext2fs_r_blocks_count(fs->super) + EXT2FS_C2B(fs, resv);

	st.f_bsize = fs->blocksize;
	st.f_frsize = fs->blocksize;
	st.f_blocks = overhead < blocks ? blocks - overhead : 0;
	st.f_bfree = bfree;
	st.f_bavail = bfree > reserved ? bfree - reserved : 0;
	st.f_files = fs->super->s_inodes_count;
	st.f_ffree = free_inodes;
	st.f_favail = free_inodes;
	st.f_namemax = EXT4_NAME_MAX;
	*ret = st;
	return 0;
}
