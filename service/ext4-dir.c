/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Directories: listing (block and inline-data directories) and name lookup, through the htree
 * index when the directory has one so that a lookup in a huge directory reads a few blocks,
 * not all of them.
 *
 * Readdir offsets are byte positions in the directory (logical block * block size + offset in
 * the block): stable across calls and valid to resume from as long as the directory does not
 * change, which on a read-only mount it cannot. Inline directories store no "." and "..": they
 * get positions 0 and 1, and real entries keep their byte offset in the inline data (>= 4).
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ext4.h"
#include "log.h"

/* With largedir the index has up to three levels (root + two), else two. */
#define DX_MAX_LEVELS 3

struct ext4_dir {
	ext2_ino_t ino;
	struct ext2_inode_large inode;
	uint64_t size;
	uint64_t nblocks;
};

struct ext4_dirent {
	unsigned int rec_len;
	unsigned int name_len;
	ext2_ino_t ino;
	unsigned int type; /* EXT2_FT_*, 0 without the filetype feature */
	const char *name;
};

static int ext4_dir_open(struct svc_fs *sfs, ext2_ino_t ino, struct ext4_dir *ret)
{
	struct ext4_dir d = { .ino = ino };
	int r;

	r = ext4_inode_read(sfs, ino, &d.inode);
	if (r < 0)
		return r;
	if (!LINUX_S_ISDIR(d.inode.i_mode))
		return -ENOTDIR;
	d.size = ext4_inode_size(sfs, &d.inode);
	d.nblocks = (d.size + sfs->blocksize - 1) / sfs->blocksize;
	*ret = d;
	return 0;
}

static bool ext4_dir_is_inline(const struct ext4_dir *d)
{
	return d->inode.i_flags & EXT4_INLINE_DATA_FL;
}

int ext4_dir_bmap(struct svc_fs *sfs, ext2_ino_t dir, struct ext2_inode_large *inode,
		  uint64_t lblk, blk64_t *ret_pblk)
{
	const struct ext3_extent_header *eh = (const struct ext3_extent_header *)inode->i_block;
	unsigned int n = ext2fs_le16_to_cpu(eh->eh_entries);
	blk64_t pblk = 0;
	errcode_t err;

	/*
	 * ext2fs_bmap2() opens an extent handle (two allocations) and walks it for every
	 * block, and a rename reads a dozen directory blocks. A directory of up to four
	 * extents keeps them in the inode itself: read them there. Anything else (a deeper
	 * tree, a hole, an unwritten extent, block maps) is left to libext2fs.
	 */
	if ((inode->i_flags & EXT4_EXTENTS_FL) && !(inode->i_flags & EXT4_INLINE_DATA_FL) &&
	    ext2fs_le16_to_cpu(eh->eh_magic) == EXT3_EXT_MAGIC && eh->eh_depth == 0 &&
	    n <= ext2fs_le16_to_cpu(eh->eh_max) && n <= 4) {
		const struct ext3_extent *ex = (const struct ext3_extent *)(eh + 1);

		for (unsigned int i = 0; i < n; i++) {
			uint64_t first = ext2fs_le32_to_cpu(ex[i].ee_block);
			unsigned int len = ext2fs_le16_to_cpu(ex[i].ee_len);

			if (len > EXT_INIT_MAX_LEN || lblk < first || lblk - first >= len)
				continue;
			*ret_pblk = ((blk64_t)ext2fs_le16_to_cpu(ex[i].ee_start_hi) << 32 |
				     ext2fs_le32_to_cpu(ex[i].ee_start)) +
				    (lblk - first);
			return 0;
		}
	}
	err = ext2fs_bmap2(sfs->fs, dir, (struct ext2_inode *)inode, NULL, 0, lblk, NULL, &pblk);
	if (err)
		return ext4_errno(sfs, err, dir, "mapping a directory block");
	*ret_pblk = pblk;
	return 0;
}

int ext4_write_dir_leaf(struct svc_fs *sfs, ext2_ino_t dir, uint32_t generation, blk64_t pblk,
			void *buf)
{
	ext2_filsys fs = sfs->fs;
	struct ext2_dir_entry_tail *t =
		(struct ext2_dir_entry_tail *)((char *)buf + sfs->blocksize - sizeof(*t));
	errcode_t err;

	/*
	 * ext2fs_write_dir_block4() finds the checksum tail by walking every entry from the
	 * start of the block (through a function pointer per entry), then reads the inode for
	 * its generation: a tenth of a rename. The caller changed a leaf that was verified, so
	 * its entries still chain to the tail at the end of the block; the checksum is the one
	 * ext2fs_dirent_csum() computes. Anything unexpected goes through libext2fs.
	 */
	if (__BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__ ||
	    !ext2fs_has_feature_metadata_csum(fs->super) || t->det_reserved_zero1 != 0 ||
	    t->det_rec_len != sizeof(*t) || t->det_reserved_name_len != EXT2_DIR_NAME_LEN_CSUM) {
		err = ext2fs_write_dir_block4(fs, pblk, buf, 0, dir);
	} else {
		uint32_t le_ino = ext2fs_cpu_to_le32(dir), le_gen = ext2fs_cpu_to_le32(generation);
		uint32_t crc;

		crc = ext2fs_crc32c_le(fs->csum_seed, (unsigned char *)&le_ino, sizeof(le_ino));
		crc = ext2fs_crc32c_le(crc, (unsigned char *)&le_gen, sizeof(le_gen));
		crc = ext2fs_crc32c_le(crc, buf, (char *)t - (char *)buf);
		t->det_checksum = ext2fs_cpu_to_le32(crc);
		err = io_channel_write_blk64(fs->io, pblk, 1, buf);
	}
	if (err)
		return ext4_errno(sfs, err, dir, "writing a directory block");
	/* Written with a fresh checksum: the cached copy is good as it stands. */
	io_cache_set_tag(fs->io, pblk, dir);
	return 0;
}

int ext4_read_dir_block(struct svc_fs *sfs, blk64_t pblk, void *buf, ext2_ino_t dir)
{
	ext2_filsys fs = sfs->fs;
	errcode_t err;

	/* Verifying costs a crc32c of the block and a walk of all its entries to find the tail,
	 * and a rename reads the same two or three blocks a dozen times. The tag says this
	 * cached copy passed for this directory and has not changed since; the checksum also
	 * covers the directory's generation, which changes only when a new directory is made, and
	 * then its blocks are written (ext4_redo_dir_csum), which clears the tag. */
	if (io_cache_get_tagged(fs->io, pblk, dir, buf) > 0)
		return 0;
	err = ext2fs_read_dir_block4(fs, pblk, buf, 0, dir);
	if (err)
		return ext4_errno(sfs, err, dir, "reading a directory block");
	io_cache_set_tag(fs->io, pblk, dir);
	return 0;
}

int ext4_dir_read_leaf(struct svc_fs *sfs, ext2_ino_t dir, struct ext2_inode_large *inode,
		       uint64_t lblk, blk64_t *ret_pblk, char **ret_buf)
{
	_cleanup_free_ char *buf = NULL;
	blk64_t pblk = 0;
	int r;

	r = ext4_dir_bmap(sfs, dir, inode, lblk, &pblk);
	if (r < 0)
		return r;
	if (pblk == 0)
		return 1;
	buf = malloc(sfs->blocksize);
	if (!buf)
		return -ENOMEM;
	r = ext4_read_dir_block(sfs, pblk, buf, dir);
	if (r < 0)
		return r;
	*ret_pblk = pblk;
	*ret_buf = TAKE_PTR(buf);
	return 0;
}

/* Reads logical block lblk of the directory (checksum verified). Returns 1 for a hole. */
static int ext4_dir_read_block(struct svc_fs *sfs, struct ext4_dir *d, uint64_t lblk, void *buf)
{
	ext2_filsys fs = sfs->fs;
	blk64_t pblk = 0;
	int r;

	r = ext4_dir_bmap(sfs, d->ino, &d->inode, lblk, &pblk);
	if (r < 0)
		return r;
	if (pblk == 0)
		return 1;
	if (pblk < fs->super->s_first_data_block || pblk >= ext2fs_blocks_count(fs->super))
		return ext4_corrupt(sfs, d->ino, "directory block beyond the end of the filesystem");
	return ext4_read_dir_block(sfs, pblk, buf, d->ino);
}

/* ext2fs_get_rec_len() without the call into the library: every lookup decodes each entry of a
 * leaf, a few hundred per block. Only 64 KiB blocks encode lengths past 65535. The entry is in
 * CPU order, as ext2fs_read_dir_block4() leaves it. */
static inline unsigned int ext4_rec_len(const struct svc_fs *sfs, unsigned int len)
{
	if (sfs->blocksize < 65536)
		return len;
	if (len == 65535 || len == 0)
		return sfs->blocksize;
	return (len & 65532) | ((len & 3) << 16);
}

/* ext4_corrupt() in a way the compiler sees: the entry is never used after a failure. */
static inline int ext4_dirent_corrupt(struct svc_fs *sfs, ext2_ino_t dir, const char *what)
{
	(void)ext4_corrupt(sfs, dir, what);
	return -EUCLEAN;
}

/*
 * Decodes and checks the entry at off in buf[0..len). Everything the kernel's
 * ext4_check_dir_entry() rejects is corruption here too.
 */
static inline int ext4_dirent_at(struct svc_fs *sfs, ext2_ino_t dir, const char *buf,
				 unsigned int len, unsigned int off, struct ext4_dirent *ret)
{
	struct ext2_dir_entry de;
	unsigned int rec_len;

	if (off + 8 > len)
		return ext4_dirent_corrupt(sfs, dir, "directory entry header crosses the block end");
	memcpy(&de, buf + off, 8);
	rec_len = ext4_rec_len(sfs, de.rec_len);
	if (rec_len < 8 || rec_len % 4 || rec_len > len - off)
		return ext4_dirent_corrupt(sfs, dir, "invalid directory entry length");
	ret->rec_len = rec_len;
	ret->name_len = de.name_len & 0xff;
	ret->ino = de.inode;
	ret->type = ext2fs_has_feature_filetype(sfs->fs->super) ? (de.name_len >> 8) & 0xff : 0;
	ret->name = buf + off + 8;
	if (8 + ret->name_len > rec_len)
		return ext4_dirent_corrupt(sfs, dir, "directory entry name longer than the entry");
	if (ret->ino > sfs->fs->super->s_inodes_count)
		return ext4_dirent_corrupt(sfs, dir, "directory entry inode number out of range");
	if (ret->ino && ret->name_len == 0)
		return ext4_dirent_corrupt(sfs, dir, "directory entry with an empty name");
	return 0;
}

static unsigned int ext4_dtype(unsigned int ft)
{
	switch (ft) {
	case EXT2_FT_REG_FILE:
		return DT_REG;
	case EXT2_FT_DIR:
		return DT_DIR;
	case EXT2_FT_CHRDEV:
		return DT_CHR;
	case EXT2_FT_BLKDEV:
		return DT_BLK;
	case EXT2_FT_FIFO:
		return DT_FIFO;
	case EXT2_FT_SOCK:
		return DT_SOCK;
	case EXT2_FT_SYMLINK:
		return DT_LNK;
	default:
		return DT_UNKNOWN;
	}
}

/* All inline data: i_block (60 bytes) followed by the system.data xattr value. */
static int ext4_inline_get(struct svc_fs *sfs, struct ext4_dir *d, char **ret, size_t *ret_size)
{
	size_t size = 0;
	char *buf;
	errcode_t err;

	err = ext2fs_inline_data_size(sfs->fs, d->ino, &size);
	if (err)
		return ext4_errno(sfs, err, d->ino, "sizing inline directory data");
	if (size < EXT4_MIN_INLINE_DATA_SIZE)
		return ext4_corrupt(sfs, d->ino, "inline directory shorter than i_block");
	buf = calloc(1, size);
	if (!buf)
		return -ENOMEM;
	err = ext2fs_inline_data_get(sfs->fs, d->ino, (struct ext2_inode *)&d->inode, buf, &size);
	if (err) {
		free(buf);
		return ext4_errno(sfs, err, d->ino, "reading inline directory data");
	}
	*ret = buf;
	*ret_size = size;
	return 0;
}

/*
 * Walks the entries of an inline directory from byte 4 on. The i_block part (up to 60) and the
 * xattr part are separate regions: no entry may cross from one into the other. cb returns
 * 0 to go on, anything else to stop with that value.
 */
typedef int (*ext4_inline_cb_t)(struct svc_fs *sfs, const struct ext4_dirent *de,
				unsigned int pos, void *userdata);

static int ext4_inline_walk(struct svc_fs *sfs, struct ext4_dir *d, const char *buf, size_t size,
			    ext4_inline_cb_t cb, void *userdata)
{
	unsigned int pos = EXT4_INLINE_DATA_DOTDOT_SIZE;

	while (pos < size) {
		unsigned int end = pos < EXT4_MIN_INLINE_DATA_SIZE ? EXT4_MIN_INLINE_DATA_SIZE
								   : (unsigned int)size;
		struct ext4_dirent de;
		int r;

		r = ext4_dirent_at(sfs, d->ino, buf, end, pos, &de);
		if (r < 0)
			return r;
		r = cb(sfs, &de, pos, userdata);
		if (r != 0)
			return r;
		pos += de.rec_len;
	}
	return 0;
}

struct ext4_readdir_ctx {
	ext4_dir_fill_t fill;
	void *userdata;
	uint64_t off;
};

static int ext4_inline_readdir_cb(struct svc_fs *sfs, const struct ext4_dirent *de,
				  unsigned int pos, void *userdata)
{
	struct ext4_readdir_ctx *c = userdata;

	if (pos < c->off || de->ino == 0)
		return 0;
	return c->fill(c->userdata, de->name, de->name_len, de->ino, ext4_dtype(de->type),
		       pos + de->rec_len);
}

static int ext4_inline_readdir(struct svc_fs *sfs, struct ext4_dir *d, uint64_t off,
			       ext4_dir_fill_t fill, void *userdata)
{
	_cleanup_free_ char *buf = NULL;
	struct ext4_readdir_ctx c = { .fill = fill, .userdata = userdata, .off = off };
	size_t size;
	ext2_ino_t parent;
	int r;

	r = ext4_inline_get(sfs, d, &buf, &size);
	if (r < 0)
		return r;
	memcpy(&parent, buf, sizeof(parent));
	parent = ext2fs_le32_to_cpu(parent);
	if (!ext4_ino_valid(sfs, parent))
		return ext4_corrupt(sfs, d->ino, "inline directory names an invalid parent");

	if (off == 0) {
		r = fill(userdata, ".", 1, d->ino, DT_DIR, 1);
		if (r != 0)
			return r < 0 ? r : 0;
		off = 1;
	}
	if (off == 1) {
		r = fill(userdata, "..", 2, parent, DT_DIR, EXT4_INLINE_DATA_DOTDOT_SIZE);
		if (r != 0)
			return r < 0 ? r : 0;
	}
	r = ext4_inline_walk(sfs, d, buf, size, ext4_inline_readdir_cb, &c);
	return r < 0 ? r : 0;
}

int ext4_dir_iterate(struct svc_fs *sfs, ext2_ino_t dir, uint64_t off, ext4_dir_fill_t fill,
		     void *userdata)
{
	unsigned int bs = sfs->blocksize;
	_cleanup_free_ char *buf = NULL;
	struct ext4_dir d;
	int r;

	r = ext4_dir_open(sfs, dir, &d);
	if (r < 0)
		return r;
	if (ext4_dir_is_inline(&d))
		return ext4_inline_readdir(sfs, &d, off, fill, userdata);

	buf = malloc(bs);
	if (!buf)
		return -ENOMEM;
	for (uint64_t lblk = off / bs; lblk < d.nblocks; lblk++) {
		unsigned int skip = lblk == off / bs ? off % bs : 0;

		r = ext4_dir_read_block(sfs, &d, lblk, buf);
		if (r < 0)
			return r;
		if (r > 0)
			continue;
		for (unsigned int pos = 0; pos < bs;) {
			struct ext4_dirent de;

			r = ext4_dirent_at(sfs, dir, buf, bs, pos, &de);
			if (r < 0)
				return r;
			if (pos >= skip && de.ino != 0) {
				r = fill(userdata, de.name, de.name_len, de.ino, ext4_dtype(de.type),
					 lblk * bs + pos + de.rec_len);
				if (r != 0)
					return r < 0 ? r : 0;
			}
			pos += de.rec_len;
		}
	}
	return 0;
}

/* Compared from the end, inline: a negative lookup compares the name with every entry of
 * its leaf, names in one directory tend to share a prefix (f00001, f00002, ...), and a call
 * to memcmp() per entry was a tenth of the work of a create. */
static inline bool ext4_name_eq(const char *a, const char *b, size_t n)
{
	while (n > 0) {
		n--;
		if (a[n] != b[n])
			return false;
	}
	return true;
}

/* Finds name in one block of entries; 1 and *ret_ino when found. */
static int ext4_block_find(struct svc_fs *sfs, ext2_ino_t dir, const char *buf, unsigned int len,
			   const char *name, size_t name_len, ext2_ino_t *ret_ino)
{
	for (unsigned int pos = 0; pos < len;) {
		struct ext4_dirent de;
		int r;

		r = ext4_dirent_at(sfs, dir, buf, len, pos, &de);
		if (r < 0)
			return r;
		if (de.ino && de.name_len == name_len && ext4_name_eq(de.name, name, name_len)) {
			*ret_ino = de.ino;
			return 1;
		}
		pos += de.rec_len;
	}
	return 0;
}

struct ext4_inline_find_ctx {
	const char *name;
	size_t name_len;
	ext2_ino_t ino;
};

static int ext4_inline_find_cb(struct svc_fs *sfs, const struct ext4_dirent *de, unsigned int pos,
			       void *userdata)
{
	struct ext4_inline_find_ctx *c = userdata;

	if (de->ino && de->name_len == c->name_len && memcmp(de->name, c->name, c->name_len) == 0) {
		c->ino = de->ino;
		return 1;
	}
	return 0;
}

static int ext4_inline_lookup(struct svc_fs *sfs, struct ext4_dir *d, const char *name,
			      size_t name_len, ext2_ino_t *ret_ino)
{
	_cleanup_free_ char *buf = NULL;
	struct ext4_inline_find_ctx c = { .name = name, .name_len = name_len };
	size_t size;
	int r;

	r = ext4_inline_get(sfs, d, &buf, &size);
	if (r < 0)
		return r;
	if (name_len == 2 && memcmp(name, "..", 2) == 0) {
		memcpy(&c.ino, buf, sizeof(c.ino));
		*ret_ino = ext2fs_le32_to_cpu(c.ino);
		return 0;
	}
	r = ext4_inline_walk(sfs, d, buf, size, ext4_inline_find_cb, &c);
	if (r < 0)
		return r;
	if (r == 0)
		return -ENOENT;
	*ret_ino = c.ino;
	return 0;
}

/* Directories up to this size are kept in memory for repeated linear lookups. */
#define EXT4_LINEAR_CACHE_MAX (8u << 20)

/* Loads all blocks of the directory into sfs->lin_buf; holes become one empty entry. */
static int ext4_linear_cache(struct svc_fs *sfs, struct ext4_dir *d)
{
	unsigned int bs = sfs->blocksize;
	char *buf;
	int r;

	if (sfs->lin_buf && sfs->lin_ino == d->ino && sfs->lin_nblocks == d->nblocks)
		return 0;
	buf = malloc(d->nblocks * bs);
	if (!buf)
		return -ENOMEM;
	for (uint64_t lblk = 0; lblk < d->nblocks; lblk++) {
		char *b = buf + lblk * bs;

		r = ext4_dir_read_block(sfs, d, lblk, b);
		if (r < 0) {
			free(buf);
			return r;
		}
		if (r > 0) {
			struct ext2_dir_entry *de = (struct ext2_dir_entry *)b;

			memset(b, 0, bs);
			(void)ext2fs_set_rec_len(sfs->fs, bs, de);
		}
	}
	free(sfs->lin_buf);
	sfs->lin_buf = buf;
	sfs->lin_ino = d->ino;
	sfs->lin_nblocks = d->nblocks;
	return 0;
}

static int ext4_linear_lookup(struct svc_fs *sfs, struct ext4_dir *d, uint64_t nblocks,
			      const char *name, size_t name_len, ext2_ino_t *ret_ino)
{
	unsigned int bs = sfs->blocksize;
	_cleanup_free_ char *buf = NULL;
	int r;

	if (nblocks > 2 && nblocks == d->nblocks && nblocks * bs <= EXT4_LINEAR_CACHE_MAX) {
		r = ext4_linear_cache(sfs, d);
		if (r < 0)
			return r;
		for (uint64_t lblk = 0; lblk < nblocks; lblk++) {
			r = ext4_block_find(sfs, d->ino, sfs->lin_buf + lblk * bs, bs, name,
					    name_len, ret_ino);
			if (r != 0)
				return r < 0 ? r : 0;
		}
		return -ENOENT;
	}

	buf = malloc(bs);
	if (!buf)
		return -ENOMEM;
	for (uint64_t lblk = 0; lblk < nblocks; lblk++) {
		r = ext4_dir_read_block(sfs, d, lblk, buf);
		if (r < 0)
			return r;
		if (r > 0)
			continue;
		r = ext4_block_find(sfs, d->ino, buf, bs, name, name_len, ret_ino);
		if (r != 0)
			return r < 0 ? r : 0;
	}
	return -ENOENT;
}

/* One level of the index walk: a block of dx entries and the one we followed. */
struct dx_frame {
	char *buf;
	unsigned int base; /* offset of the count/limit header = entry 0 */
	unsigned int count;
	unsigned int at;
};

static uint32_t dx_hash(const struct dx_frame *f, unsigned int i)
{
	uint32_t v;

	memcpy(&v, f->buf + f->base + 8 * i, 4);
	return ext2fs_le32_to_cpu(v);
}

static uint32_t dx_block(const struct dx_frame *f, unsigned int i)
{
	uint32_t v;

	memcpy(&v, f->buf + f->base + 8 * i + 4, 4);
	return ext2fs_le32_to_cpu(v) & EXT4_DX_BLOCK_MASK;
}

/* Checks the count/limit header of an index block; limit must be exactly what fits. */
static bool dx_frame_init(struct svc_fs *sfs, struct dx_frame *f, unsigned int base)
{
	struct ext2_dx_countlimit cl;
	unsigned int limit = (sfs->blocksize - base) / sizeof(struct ext2_dx_entry);

	if (ext2fs_has_feature_metadata_csum(sfs->fs->super))
		limit -= sizeof(struct ext2_dx_tail) / sizeof(struct ext2_dx_entry);
	memcpy(&cl, f->buf + base, sizeof(cl));
	cl.limit = ext2fs_le16_to_cpu(cl.limit);
	cl.count = ext2fs_le16_to_cpu(cl.count);
	if (cl.limit != limit || cl.count == 0 || cl.count > cl.limit)
		return false;
	f->base = base;
	f->count = cl.count;
	return true;
}

/* The last entry whose hash is <= hash (entry 0 covers everything below entry 1). */
static void dx_frame_search(struct dx_frame *f, uint32_t hash)
{
	unsigned int lo = 1, hi = f->count - 1, at = 0;

	while (lo <= hi && hi < f->count) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (dx_hash(f, mid) > hash) {
			hi = mid - 1;
		} else {
			at = mid;
			lo = mid + 1;
		}
	}
	f->at = at;
}

/* Reads the interior index node at dir block lblk into f. -EAGAIN: index unusable. */
static int dx_read_node(struct svc_fs *sfs, struct ext4_dir *d, uint32_t lblk, struct dx_frame *f)
{
	struct ext2_dir_entry fake;
	unsigned int rec_len;
	int r;

	if (lblk >= d->nblocks)
		return -EAGAIN;
	r = ext4_dir_read_block(sfs, d, lblk, f->buf);
	if (r < 0)
		return r;
	if (r > 0)
		return -EAGAIN;
	/* An index node hides behind one empty entry spanning the block. */
	memcpy(&fake, f->buf, 8);
	if (fake.inode != 0 || ext2fs_get_rec_len(sfs->fs, &fake, &rec_len) ||
	    rec_len != sfs->blocksize)
		return -EAGAIN;
	if (!dx_frame_init(sfs, f, 8))
		return -EAGAIN;
	return 0;
}

/*
 * htree lookup as the kernel does it: hash the name, walk root -> leaf picking the last entry
 * whose hash is <= ours, search the leaf, and continue into following leaves only while they
 * carry our hash with the collision bit set. -EAGAIN means the index itself is unusable; the
 * caller then searches linearly (like the kernel's ERR_BAD_DX_DIR fallback).
 */
static int ext4_dx_lookup(struct svc_fs *sfs, struct ext4_dir *d, const char *name,
			  size_t name_len, ext2_ino_t *ret_ino, uint64_t *ret_lblk,
			  uint64_t *ret_home)
{
	struct dx_frame frames[DX_MAX_LEVELS] = { 0 };
	struct ext2_dx_root_info info;
	char *leaf;
	ext2_dirhash_t hash = 0, minor;
	unsigned int levels, max_levels, visited = 0;
	int version, r;

	/* Not reentrant: nothing below calls back into a lookup, and the lock is held. */
	if (!sfs->dx_buf) {
		sfs->dx_buf = malloc((size_t)(DX_MAX_LEVELS + 1) * sfs->blocksize);
		if (!sfs->dx_buf)
			return -ENOMEM;
	}
	for (int i = 0; i < DX_MAX_LEVELS; i++)
		frames[i].buf = sfs->dx_buf + (size_t)i * sfs->blocksize;
	leaf = sfs->dx_buf + (size_t)DX_MAX_LEVELS * sfs->blocksize;

	r = ext4_dir_read_block(sfs, d, 0, frames[0].buf);
	if (r < 0)
		return r;
	if (r > 0)
		return -EAGAIN;
	/* The root: "." (12 bytes), ".." (the rest of the block), then dx_root_info. */
	memcpy(&info, frames[0].buf + 24, sizeof(info));
	max_levels = ext2fs_has_feature_largedir(sfs->fs->super) ? 3 : 2;
	if (info.reserved_zero != 0 || info.info_length != 8 || info.indirect_levels >= max_levels)
		return -EAGAIN;
	version = info.hash_version;
	if (version > EXT2_HASH_TEA)
		return -EAGAIN;
	if (sfs->unsigned_hash)
		version += EXT2_HASH_LEGACY_UNSIGNED;
	if (!dx_frame_init(sfs, &frames[0], 24 + info.info_length))
		return -EAGAIN;
	levels = info.indirect_levels + 1;

	if (ext2fs_dirhash2(version, name, (int)name_len, NULL, 0, sfs->hash_seed, &hash, &minor))
		return -EAGAIN;
	hash &= ~1u;

	dx_frame_search(&frames[0], hash);
	for (unsigned int l = 1; l < levels; l++) {
		r = dx_read_node(sfs, d, dx_block(&frames[l - 1], frames[l - 1].at), &frames[l]);
		if (r < 0)
			return r;
		dx_frame_search(&frames[l], hash);
	}

	for (;;) {
		uint32_t lblk = dx_block(&frames[levels - 1], frames[levels - 1].at);
		int l;

		/* Each leaf at most once: a looping index must not spin forever. */
		if (lblk >= d->nblocks || ++visited > d->nblocks)
			return -EAGAIN;
		/* The leaf a new entry with this hash goes to, as the kernel's dx_probe picks. */
		if (visited == 1 && ret_home)
			*ret_home = lblk;
		r = ext4_dir_read_block(sfs, d, lblk, leaf);
		if (r < 0)
			return r;
		if (r == 0) {
			r = ext4_block_find(sfs, d->ino, leaf, sfs->blocksize, name, name_len,
					    ret_ino);
			if (r > 0 && ret_lblk)
				*ret_lblk = lblk;
			if (r != 0)
				return r < 0 ? r : 0;
		}

		/* Step to the next leaf, climbing as far as needed. */
		for (l = (int)levels - 1; l >= 0 && frames[l].at + 1 >= frames[l].count; l--)
			;
		if (l < 0)
			return -ENOENT;
		frames[l].at++;
		if ((dx_hash(&frames[l], frames[l].at) & ~1u) != hash)
			return -ENOENT;
		for (unsigned int k = (unsigned int)l + 1; k < levels; k++) {
			r = dx_read_node(sfs, d, dx_block(&frames[k - 1], frames[k - 1].at),
					 &frames[k]);
			if (r < 0)
				return r;
			frames[k].at = 0;
		}
	}
}

int ext4_dir_lookup(struct svc_fs *sfs, ext2_ino_t dir, const char *name, ext2_ino_t *ret_ino)
{
	return ext4_dir_search(sfs, dir, name, ret_ino, NULL);
}

int ext4_dir_search(struct svc_fs *sfs, ext2_ino_t dir, const char *name, ext2_ino_t *ret_ino,
		    struct ext4_dir_hint *ret_hint)
{
	struct ext4_dir_hint hint = { .lblk = UINT64_MAX, .changes = sfs->dir_changes };
	uint64_t found_lblk = UINT64_MAX, home = UINT64_MAX;
	size_t name_len = strlen(name);
	bool dots = strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
	struct ext4_dir d;
	ext2_ino_t ino = 0;
	int r;

	if (name_len > EXT4_NAME_MAX)
		return -ENAMETOOLONG;
	if (name_len == 0)
		return -ENOENT;
	/* Nothing that could add the name (or remove the directory) happened since the last
	 * lookup found it absent. */
	if (sfs->absent.valid && sfs->absent.dir == dir && sfs->absent.changes == sfs->dir_changes &&
	    sfs->absent.len == name_len && memcmp(sfs->absent.name, name, name_len) == 0) {
		if (ret_hint)
			*ret_hint = (struct ext4_dir_hint){ .lblk = sfs->absent.lblk,
							    .changes = sfs->dir_changes };
		return -ENOENT;
	}
	r = ext4_dir_open(sfs, dir, &d);
	if (r < 0)
		return r;

	if (strcmp(name, ".") == 0) {
		ino = dir;
	} else if (ext4_dir_is_inline(&d)) {
		r = ext4_inline_lookup(sfs, &d, name, name_len, &ino);
	} else if (dots) {
		/* "." and ".." are the first two entries of block 0, never in the index. */
		r = ext4_linear_lookup(sfs, &d, d.nblocks ? 1 : 0, name, name_len, &ino);
	} else {
		r = -EAGAIN;
		if (ext2fs_has_feature_dir_index(sfs->fs->super) &&
		    (d.inode.i_flags & EXT2_INDEX_FL)) {
			r = ext4_dx_lookup(sfs, &d, name, name_len, &ino, &found_lblk, &home);
			hint.lblk = r == 0 ? found_lblk : r == -ENOENT ? home : UINT64_MAX;
			if (r == -EAGAIN && !sfs->warned_htree) {
				sfs->warned_htree = true;
				log_warning("Directory %u has a damaged htree index; searching it linearly (run e2fsck -fD)",
					    dir);
			}
		}
		if (r == -EAGAIN)
			r = ext4_linear_lookup(sfs, &d, d.nblocks, name, name_len, &ino);
	}
	if (ret_hint && (r == 0 || r == -ENOENT))
		*ret_hint = hint;
	if (r == -ENOENT) {
		sfs->absent.valid = true;
		sfs->absent.dir = dir;
		sfs->absent.changes = hint.changes;
		sfs->absent.lblk = hint.lblk;
		sfs->absent.len = name_len;
		memcpy(sfs->absent.name, name, name_len);
	}
	if (r < 0)
		return r;
	if (!ext4_ino_valid(sfs, ino))
		return ext4_corrupt(sfs, dir, "directory entry names a reserved inode");
	*ret_ino = ino;
	return 0;
}

void ext4_dir_changed(struct svc_fs *sfs, ext2_ino_t dir)
{
	sfs->dir_changes++;
	if (sfs->lin_buf && sfs->lin_ino == dir) {
		free(sfs->lin_buf);
		sfs->lin_buf = NULL;
		sfs->lin_ino = 0;
		sfs->lin_nblocks = 0;
	}
}

int ext4_dir_locate(struct svc_fs *sfs, ext2_ino_t dir, const char *name, ext2_ino_t *ret_ino,
		    uint64_t *ret_lblk)
{
	struct ext4_dir d;
	int r;

	r = ext4_dir_open(sfs, dir, &d);
	if (r < 0)
		return r;
	if (ext4_dir_is_inline(&d) || !ext2fs_has_feature_dir_index(sfs->fs->super) ||
	    !(d.inode.i_flags & EXT2_INDEX_FL) || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return -EAGAIN;
	return ext4_dx_lookup(sfs, &d, name, strlen(name), ret_ino, ret_lblk, NULL);
}

int ext4_dir_home_leaf(struct svc_fs *sfs, ext2_ino_t dir, const char *name, uint64_t *ret_lblk)
{
	struct ext4_dir d;
	uint64_t home = UINT64_MAX;
	ext2_ino_t ino;
	int r;

	r = ext4_dir_open(sfs, dir, &d);
	if (r < 0)
		return r;
	/* Casefolded and encrypted names hash differently from what ext4_dx_lookup() does. */
	if (ext4_dir_is_inline(&d) || !ext2fs_has_feature_dir_index(sfs->fs->super) ||
	    !(d.inode.i_flags & EXT2_INDEX_FL) ||
	    (d.inode.i_flags & (EXT4_CASEFOLD_FL | EXT4_ENCRYPT_FL)) || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return -EAGAIN;
	r = ext4_dx_lookup(sfs, &d, name, strlen(name), &ino, NULL, &home);
	if (r == 0)
		return -EEXIST;
	if (r != -ENOENT)
		return r;
	if (home == UINT64_MAX)
		return -EAGAIN;
	*ret_lblk = home;
	return 0;
}
