/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Regular file data. libext2fs's file layer already knows extents, block maps, inline data and
 * holes (which read as zeros) and stops at i_size, so reading past EOF comes back short.
 *
 * A libext2fs file handle caches the inode and one data block. Two handles on one inode would
 * each write back their own stale copy, so nothing is cached between requests: every request
 * opens a libext2fs handle on the current inode and closes (writes back) before returning.
 * What a FUSE file handle keeps is only the inode number.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ext4.h"
#include "log.h"
#include "read-pool.h"

struct ext4_file {
	ext2_ino_t ino;
	bool privileged;
};

void ext4_file_set_privileged(struct ext4_file *f, bool privileged)
{
	f->privileged = privileged;
}

bool ext4_file_privileged(const struct ext4_file *f)
{
	return f->privileged;
}

int ext4_file_open(struct svc_fs *sfs, ext2_ino_t ino, struct ext4_file **ret)
{
	struct ext2_inode_large inode;
	struct ext4_file *f;
	int r;

	r = ext4_inode_read(sfs, ino, &inode);
	if (r < 0)
		return r;
	if (LINUX_S_ISDIR(inode.i_mode))
		return -EISDIR;
	if (!LINUX_S_ISREG(inode.i_mode))
		return -EINVAL;

	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	r = ext4_open_get(sfs, ino);
	if (r < 0) {
		free(f);
		return r;
	}
	f->ino = ino;
	*ret = f;
	return 0;
}

static void ext4_efile_closep(ext2_file_t *file)
{
	if (*file)
		ext2fs_file_close(*file);
}

#define _cleanup_efile_ __attribute__((cleanup(ext4_efile_closep)))

/*
 * File data goes around the block cache (io-cache.c): a file read once would otherwise push
 * the metadata out. The cache stays coherent with the data written (the crux when a freed
 * metadata block is reused for data, or the reverse). The scope of a variable declared with
 * EXT4_DATA_IO is data I/O; the previous mode comes back when it ends.
 */
struct ext4_data_io {
	io_channel io;
	bool was;
};

static struct ext4_data_io ext4_data_io_begin(struct svc_fs *sfs)
{
	return (struct ext4_data_io){ sfs->fs->io, io_cache_data(sfs->fs->io, true) };
}

static void ext4_data_io_end(struct ext4_data_io *d)
{
	io_cache_data(d->io, d->was);
}

#define EXT4_DATA_IO(sfs)                                                                      \
	_cleanup_(ext4_data_io_end) struct ext4_data_io _data_io_ = ext4_data_io_begin(sfs)

/* A libext2fs handle on the inode as it is now; flags EXT2_FILE_WRITE to change it. */
static int ext4_efile_open(struct svc_fs *sfs, ext2_ino_t ino, struct ext2_inode_large *inode,
			   int flags, ext2_file_t *ret)
{
	errcode_t err;
	int r;

	r = ext4_inode_read(sfs, ino, inode);
	if (r < 0)
		return r;
	if (!LINUX_S_ISREG(inode->i_mode))
		return LINUX_S_ISDIR(inode->i_mode) ? -EISDIR : -EINVAL;
	err = ext2fs_file_open2(sfs->fs, ino, (struct ext2_inode *)inode, flags, ret);
	return ext4_errno(sfs, err, ino, "opening the file");
}

static int ext4_efile_close(struct svc_fs *sfs, ext2_ino_t ino, ext2_file_t *file)
{
	errcode_t err;

	{
		/* Writes back the handle's last data block. */
		EXT4_DATA_IO(sfs);

		err = ext2fs_file_close(*file);
	}

	*file = NULL;
	return ext4_errno(sfs, err, ino, "writing back the file");
}

/* Reads at least this large get a readahead hint for what follows them on the device. */
#define EXT4_READ_HINT_MIN (64u * 1024)
#define EXT4_READ_HINT_BYTES (1024 * 1024)

/*
 * Whole blocks [first, first + count) of an extent-mapped file read with one I/O per
 * physically contiguous run, instead of ext2fs_file_read()'s one block at a time (a 128 KiB
 * readahead request was 32 reads through libext2fs's 8-block cache). Only where initialized
 * extents cover the whole range: returns 1 at a hole, an unwritten extent or anything else
 * unusual, and the caller reads the range the slow way (which knows zeros and unwritten
 * extents); 0 when read, -errno on failure. Through the io channel, like ext2fs_file_read(),
 * so that the journal overlay of a read-only mount and the blocks libext2fs caches are seen.
 */
static int ext4_read_blocks_fast(struct svc_fs *sfs, ext2_ino_t ino,
				 struct ext2_inode_large *inode, uint64_t first, uint64_t count,
				 char *buf)
{
	ext2_filsys fs = sfs->fs;
	ext2_extent_handle_t handle = NULL;
	struct ext2fs_extent ext;
	uint64_t cur = first, end = first + count, next_pblk = 0;
	errcode_t err;
	int r = 0;

	if (!(inode->i_flags & EXT4_EXTENTS_FL) || (inode->i_flags & EXT4_INLINE_DATA_FL))
		return 1;
	err = ext2fs_extent_open2(fs, ino, (struct ext2_inode *)inode, &handle);
	if (err)
		return 1;
	err = ext2fs_extent_goto2(handle, 0, cur);
	if (!err)
		err = ext2fs_extent_get(handle, EXT2_EXTENT_CURRENT, &ext);
	while (!err && cur < end) {
		uint64_t n;

		if (!(ext.e_flags & EXT2_EXTENT_FLAGS_LEAF) ||
		    (ext.e_flags & EXT2_EXTENT_FLAGS_UNINIT) || ext.e_lblk > cur ||
		    ext.e_lblk + ext.e_len <= cur || ext.e_pblk == 0 ||
		    ext.e_pblk + ext.e_len > ext2fs_blocks_count(fs->super)) {
			r = 1;
			break;
		}
		n = ext.e_lblk + ext.e_len - cur;
		if (n > end - cur)
			n = end - cur;
		{
			EXT4_DATA_IO(sfs);

			err = io_channel_read_blk64(fs->io, ext.e_pblk + (cur - ext.e_lblk), (int)n,
						    buf + (cur - first) * sfs->blocksize);
		}
		if (err) {
			r = ext4_errno(sfs, err, ino, "reading the file");
			break;
		}
		cur += n;
		next_pblk = ext.e_pblk + (cur - ext.e_lblk);
		if (cur < end)
			err = ext2fs_extent_get(handle, EXT2_EXTENT_NEXT_LEAF, &ext);
	}
	ext2fs_extent_free(handle);
	if (r == 0 && cur < end)
		r = 1; /* a hole, or the tree ended: the slow path knows what reads as zeros */
	/* A large read is the kernel's readahead of a sequential reader, and we serve it one
	 * request at a time: ask the device to fetch what follows on disk meanwhile, so that the
	 * next request finds it in memory instead of waiting for the disk. A hint only. */
	if (r == 0 && count * sfs->blocksize >= EXT4_READ_HINT_MIN)
		(void)posix_fadvise(sfs->device_fd, (off_t)(next_pblk * sfs->blocksize),
				    EXT4_READ_HINT_BYTES, POSIX_FADV_WILLNEED);
	return r;
}

int ext4_file_read(struct svc_fs *sfs, struct ext4_file *f, uint64_t off, size_t size, char *buf,
		   size_t *ret_len)
{
	_cleanup_efile_ ext2_file_t file = NULL;
	struct ext2_inode_large inode;
	uint64_t bs = sfs->blocksize;
	size_t done = 0;
	errcode_t err;
	int r;

	r = ext4_efile_open(sfs, f->ino, &inode, 0, &file);
	if (r < 0)
		return r;
	/* The whole blocks of an aligned request (the kernel's readahead and large reads), up
	 * to the last whole block before EOF; the rest, and anything unusual, the slow way. */
	if (off % bs == 0 && off < EXT2_I_SIZE(&inode)) {
		uint64_t end = EXT2_I_SIZE(&inode) - off < size ? EXT2_I_SIZE(&inode) : off + size;
		uint64_t nblocks = (end - off) / bs;

		if (nblocks >= 2) {
			r = ext4_read_blocks_fast(sfs, f->ino, &inode, off / bs, nblocks, buf);
			if (r < 0)
				return r;
			if (r == 0)
				done = (size_t)(nblocks * bs);
		}
	}
	err = ext2fs_file_llseek(file, off + done, EXT2_SEEK_SET, NULL);
	if (err)
		return ext4_errno(sfs, err, f->ino, "seeking in the file");
	while (done < size) {
		unsigned int want = size - done > (1u << 30) ? (1u << 30) : (unsigned int)(size - done);
		unsigned int got = 0;
		EXT4_DATA_IO(sfs);

		err = ext2fs_file_read(file, buf + done, want, &got);
		if (err)
			return ext4_errno(sfs, err, f->ino, "reading the file");
		if (got == 0)
			break;
		done += got;
	}
	r = ext4_efile_close(sfs, f->ino, &file);
	if (r < 0)
		return r;
	ext4_inode_accessed(sfs, f->ino);
	*ret_len = done;
	return 0;
}

int ext4_file_map_read(struct svc_fs *sfs, struct ext4_file *f, uint64_t off, size_t size,
		       struct read_job *job)
{
	ext2_filsys fs = sfs->fs;
	ext2_extent_handle_t handle = NULL;
	struct ext2_inode_large inode;
	struct ext2fs_extent ext;
	uint64_t bs = sfs->blocksize, isize, end, first, cur, last;
	unsigned int nruns = 0;
	errcode_t err;
	int r;

	/* The replayed journal of a read-only mount is only seen through the io channel. */
	if (sfs->overlay || size == 0 || off % bs != 0)
		return 1;
	r = ext4_inode_read(sfs, f->ino, &inode);
	if (r < 0)
		return r;
	if (!LINUX_S_ISREG(inode.i_mode) || !(inode.i_flags & EXT4_EXTENTS_FL) ||
	    (inode.i_flags & EXT4_INLINE_DATA_FL))
		return 1;
	isize = EXT2_I_SIZE(&inode);
	if (off >= isize)
		return 1;
	end = isize - off < size ? isize : off + size;
	first = off / bs;
	last = (end + bs - 1) / bs; /* the block holding EOF is read whole, replied in part */

	err = ext2fs_extent_open2(fs, f->ino, (struct ext2_inode *)&inode, &handle);
	if (err)
		return 1;
	cur = first;
	err = ext2fs_extent_goto2(handle, 0, cur);
	if (!err)
		err = ext2fs_extent_get(handle, EXT2_EXTENT_CURRENT, &ext);
	while (!err && cur < last) {
		uint64_t n, pblk;

		if (!(ext.e_flags & EXT2_EXTENT_FLAGS_LEAF) ||
		    (ext.e_flags & EXT2_EXTENT_FLAGS_UNINIT) || ext.e_lblk > cur ||
		    ext.e_lblk + ext.e_len <= cur || ext.e_pblk == 0 ||
		    ext.e_pblk + ext.e_len > ext2fs_blocks_count(fs->super))
			break;
		n = ext.e_lblk + ext.e_len - cur;
		if (n > last - cur)
			n = last - cur;
		pblk = ext.e_pblk + (cur - ext.e_lblk);
		/* Written since the last flush: libext2fs may still hold it (io-cache.c). */
		if (io_cache_pending(fs->io, pblk, n))
			break;
		if (nruns > 0 &&
		    job->runs[nruns - 1].off + job->runs[nruns - 1].len == pblk * bs) {
			job->runs[nruns - 1].len += (size_t)(n * bs);
		} else {
			if (nruns == READ_JOB_MAX_RUNS)
				break;
			job->runs[nruns].off = pblk * bs;
			job->runs[nruns].len = (size_t)(n * bs);
			nruns++;
		}
		cur += n;
		if (cur < last)
			err = ext2fs_extent_get(handle, EXT2_EXTENT_NEXT_LEAF, &ext);
	}
	ext2fs_extent_free(handle);
	/* A hole, an unwritten extent, the tree's end, too many pieces: the synchronous path. */
	if (cur < last)
		return 1;
	job->nruns = nruns;
	job->len = (size_t)(end - off);
	/* As ext4_read_blocks_fast(): a sequential reader's next request finds its blocks in
	 * memory. */
	if ((last - first) * bs >= EXT4_READ_HINT_MIN)
		(void)posix_fadvise(sfs->device_fd,
				    (off_t)(job->runs[nruns - 1].off + job->runs[nruns - 1].len),
				    EXT4_READ_HINT_BYTES, POSIX_FADV_WILLNEED);
	ext4_inode_accessed(sfs, f->ino);
	return 0;
}

/*
 * How much of [off, off + *size) can be written with the free blocks there are: the blocks
 * not mapped yet, plus a margin for the extent tree. Reserved blocks only for privileged
 * writers (root, s_def_resuid/resgid), as the kernel's ext4_has_free_clusters().
 */
static int ext4_write_fits(struct svc_fs *sfs, ext2_ino_t ino, struct ext2_inode_large *inode,
			   uint64_t off, size_t *size, bool privileged)
{
	ext2_filsys fs = sfs->fs;
	uint64_t bs = sfs->blocksize, free_blocks, resv, need = 0;
	uint64_t first = off / bs, last = (off + *size + bs - 1) / bs;
	const uint64_t margin = 8;

	if (*size == 0)
		return 0;
	free_blocks = ext2fs_free_blocks_count(fs->super);
	resv = privileged ? 0 : ext2fs_r_blocks_count(fs->super);
	free_blocks = free_blocks > resv + margin ? free_blocks - resv - margin : 0;
	/* Fits even if nothing is mapped: no need to look (a block mapping per block). */
	if (last - first <= free_blocks)
		return 0;
	for (uint64_t b = first; b < last; b++) {
		blk64_t pblk = 0;
		errcode_t err;

		if (inode->i_flags & EXT4_INLINE_DATA_FL)
			pblk = 0;
		else if ((err = ext2fs_bmap2(fs, ino, (struct ext2_inode *)inode, NULL, 0, b, NULL,
					     &pblk)))
			return ext4_errno(sfs, err, ino, "mapping a block");
		if (pblk)
			continue;
		if (need + 1 > free_blocks) {
			/* What fits: up to the start of this block, or nothing. */
			if (b * bs <= off)
				return -ENOSPC;
			*size = b * bs - off;
			return 0;
		}
		need++;
	}
	return 0;
}

/*
 * Writes [off, off + size) through libext2fs's file layer, which goes block by block: one
 * mapping (an extent tree walk, checksums verified) and one I/O per block. *done grows by
 * what went in, also on error.
 */
static int ext4_write_blocks_slow(struct svc_fs *sfs, ext2_ino_t ino, uint64_t off, size_t size,
				  const char *buf, size_t *done)
{
	_cleanup_efile_ ext2_file_t file = NULL;
	struct ext2_inode_large inode;
	size_t n = 0;
	errcode_t err;
	int r;

	if (size == 0)
		return 0;
	r = ext4_efile_open(sfs, ino, &inode, EXT2_FILE_WRITE, &file);
	if (r < 0)
		return r;
	err = ext2fs_file_llseek(file, off, EXT2_SEEK_SET, NULL);
	if (err)
		return ext4_errno(sfs, err, ino, "seeking in the file");
	while (n < size) {
		unsigned int want = size - n > (1u << 30) ? (1u << 30) : (unsigned int)(size - n);
		unsigned int got = 0;
		EXT4_DATA_IO(sfs);

		err = ext2fs_file_write(file, buf + n, want, &got);
		if (err) {
			(void)ext4_efile_close(sfs, ino, &file);
			*done += n;
			if (err == EXT2_ET_BLOCK_ALLOC_FAIL || err == EXT2_ET_INODE_ALLOC_FAIL)
				return -ENOSPC;
			return ext4_errno(sfs, err, ino, "writing the file");
		}
		if (got == 0)
			break;
		n += got;
	}
	r = ext4_efile_close(sfs, ino, &file);
	if (r < 0)
		return r;
	*done += n;
	return 0;
}

/*
 * ext2fs_fallocate() gives each call's blocks an extent of their own, even when they follow
 * the previous extent on disk: a file written sequentially in requests would end up with an
 * extent per request (and extent blocks the kernel's ext4 would not need). Merges the extent
 * starting at logical block first into its left neighbour when they are contiguous on disk,
 * both initialized, and fit in one extent. Best effort: an error leaves the tree as it was
 * (valid, only less compact), except for what the extent code itself reports.
 */
static int ext4_extent_merge_left(struct svc_fs *sfs, ext2_ino_t ino, uint64_t first)
{
	ext2_extent_handle_t handle = NULL;
	struct ext2_inode_large inode;
	struct ext2fs_extent left, right;
	errcode_t err;
	int r;

	if (first == 0)
		return 0;
	r = ext4_inode_read(sfs, ino, &inode);
	if (r < 0)
		return r;
	err = ext2fs_extent_open2(sfs->fs, ino, (struct ext2_inode *)&inode, &handle);
	if (err)
		return ext4_errno(sfs, err, ino, "opening the extent tree");
	err = ext2fs_extent_goto2(handle, 0, first - 1);
	if (!err)
		err = ext2fs_extent_get(handle, EXT2_EXTENT_CURRENT, &left);
	if (!err)
		err = ext2fs_extent_get(handle, EXT2_EXTENT_NEXT_LEAF, &right);
	if (err || (left.e_flags | right.e_flags) & EXT2_EXTENT_FLAGS_UNINIT ||
	    left.e_lblk + left.e_len != first || right.e_lblk != first ||
	    left.e_pblk + left.e_len != right.e_pblk ||
	    left.e_len + right.e_len > EXT_INIT_MAX_LEN) {
		ext2fs_extent_free(handle);
		return 0;
	}
	/* The handle is on right: remove it, then let left cover its blocks. */
	err = ext2fs_extent_delete(handle, 0);
	if (!err)
		err = ext2fs_extent_goto2(handle, 0, first - 1);
	if (!err) {
		left.e_len += right.e_len;
		err = ext2fs_extent_replace(handle, 0, &left);
	}
	if (!err)
		err = ext2fs_extent_fix_parents(handle);
	ext2fs_extent_free(handle);
	if (err)
		return ext4_errno(sfs, err, ino, "merging extents");
	/* A leaf block the deletion emptied was freed from this inode's count. */
	return ext4_inode_write(sfs, ino, &inode);
}

/*
 * libext2fs 1.47.0 corrupts the extent tree when its file layer writes into the middle of an
 * unwritten extent often enough: ext2fs_extent_set_bmap() splits it and can leave an extent
 * reaching past the range its parent index gives the leaf (e2fsck: "end of extent exceeds
 * allowed value"); 20,000 random 4 KiB writes into a posix_fallocate()d 64 MiB file do it.
 * So writes never split an unwritten extent: each one inside i_size that blocks [first, last)
 * touch is zeroed on disk and then marked written as a whole, one replace that leaves the
 * tree's shape as it was. Its blocks then read as the zeros they read as before. An extent
 * reaching past i_size stays unwritten (e2fsck wants no written blocks there), as does
 * everything on a file without extents. The cost: up to 128 MiB of zeros on the first write
 * into an extent that fallocate made, once.
 */
static int ext4_write_unwritten(struct svc_fs *sfs, ext2_ino_t ino, uint64_t first, uint64_t last)
{
	const unsigned int chunk = 64; /* blocks of zeros per I/O */
	ext2_filsys fs = sfs->fs;
	ext2_extent_handle_t handle = NULL;
	_cleanup_free_ char *zero = NULL;
	struct ext2_extent_info info;
	struct ext2_inode_large inode;
	struct ext2fs_extent ext;
	uint64_t eof_block;
	errcode_t err;
	int r;

	r = ext4_inode_read(sfs, ino, &inode);
	if (r < 0)
		return r;
	if (!(inode.i_flags & EXT4_EXTENTS_FL) || (inode.i_flags & EXT4_INLINE_DATA_FL))
		return 0;
	eof_block = (ext4_inode_size(sfs, &inode) + sfs->blocksize - 1) / sfs->blocksize;
	err = ext2fs_extent_open2(fs, ino, (struct ext2_inode *)&inode, &handle);
	if (err)
		return ext4_errno(sfs, err, ino, "opening the extent tree");
	err = ext2fs_extent_get_info(handle, &info);
	if (err || (info.max_depth == 0 && info.num_entries == 0)) {
		ext2fs_extent_free(handle);
		return ext4_errno(sfs, err, ino, "reading the extent tree");
	}
	/* On the extent holding first, or else on the one before it. */
	err = ext2fs_extent_goto2(handle, 0, first);
	if (err == EXT2_ET_EXTENT_NOT_FOUND)
		err = 0;
	if (!err)
		err = ext2fs_extent_get(handle, EXT2_EXTENT_CURRENT, &ext);
	if (!err && ext.e_lblk + ext.e_len <= first)
		err = ext2fs_extent_get(handle, EXT2_EXTENT_NEXT_LEAF, &ext);
	r = 0;
	while (!err && ext.e_lblk < last) {
		if ((ext.e_flags & EXT2_EXTENT_FLAGS_LEAF) &&
		    (ext.e_flags & EXT2_EXTENT_FLAGS_UNINIT) && ext.e_lblk + ext.e_len > first &&
		    ext.e_lblk + ext.e_len <= eof_block) {
			if (!zero) {
				zero = calloc(chunk, sfs->blocksize);
				if (!zero) {
					r = -ENOMEM;
					break;
				}
			}
			for (uint64_t b = 0; !err && b < ext.e_len; b += chunk) {
				uint64_t n = ext.e_len - b < chunk ? ext.e_len - b : chunk;
				EXT4_DATA_IO(sfs);

				err = io_channel_write_blk64(fs->io, ext.e_pblk + b, (int)n, zero);
			}
			if (err)
				break;
			ext.e_flags &= ~EXT2_EXTENT_FLAGS_UNINIT;
			err = ext2fs_extent_replace(handle, 0, &ext);
			if (err)
				break;
		}
		err = ext2fs_extent_get(handle, EXT2_EXTENT_NEXT_LEAF, &ext);
	}
	ext2fs_extent_free(handle);
	if (r < 0)
		return r;
	/* Past the last extent (or none at all): nothing more to look at. */
	if (err == EXT2_ET_EXTENT_NO_NEXT || err == EXT2_ET_EXTENT_NO_DOWN ||
	    err == EXT2_ET_EXTENT_NOT_FOUND)
		err = 0;
	return ext4_errno(sfs, err, ino, "marking unwritten blocks written");
}

/*
 * What the fast path can do with [first, end): 0 if every block is mapped by initialized
 * extents (an overwrite), 2 if nothing is mapped at or after first (an append: nothing to
 * the right for the allocation to meet), 1 for anything else (holes between extents,
 * unwritten extents), which the file layer handles.
 */
static int ext4_write_range_kind(struct svc_fs *sfs, ext2_ino_t ino, ext2_extent_handle_t handle,
				 uint64_t first, uint64_t end)
{
	struct ext2_extent_info info;
	struct ext2fs_extent ext;
	uint64_t cur = first;
	errcode_t err;

	err = ext2fs_extent_goto2(handle, 0, first);
	if (err == EXT2_ET_EXTENT_NOT_FOUND) {
		err = ext2fs_extent_get_info(handle, &info);
		if (err)
			return ext4_errno(sfs, err, ino, "reading the extent tree");
		if (info.max_depth == 0 && info.num_entries == 0)
			return 2;
		err = ext2fs_extent_get(handle, EXT2_EXTENT_LAST_LEAF, &ext);
		if (err)
			return 1;
		return ext.e_lblk + ext.e_len <= first ? 2 : 1;
	}
	if (err)
		return 1;
	err = ext2fs_extent_get(handle, EXT2_EXTENT_CURRENT, &ext);
	while (!err) {
		if (!(ext.e_flags & EXT2_EXTENT_FLAGS_LEAF) ||
		    (ext.e_flags & EXT2_EXTENT_FLAGS_UNINIT) || ext.e_lblk > cur ||
		    ext.e_lblk + ext.e_len <= cur)
			return 1;
		cur = ext.e_lblk + ext.e_len;
		if (cur >= end)
			return 0;
		err = ext2fs_extent_get(handle, EXT2_EXTENT_NEXT_LEAF, &ext);
	}
	return 1;
}

/*
 * Whole blocks [first, first + count) of an extent-mapped file, written with one I/O per
 * physically contiguous run. Blocks already mapped are overwritten in place; blocks past the
 * last extent are allocated initialized in one go (ext2fs_fallocate: whole extents, not one
 * block at a time, merged with the extent before), and every one of them is written here, so
 * no stale data shows through. The I/O goes through the io channel, so that the blocks
 * libext2fs caches stay coherent. Returns 1 if the range is not one this can do (the caller
 * then takes the slow path), 0 when written, -errno on failure.
 */
static int ext4_write_blocks_fast(struct svc_fs *sfs, ext2_ino_t ino, uint64_t first,
				  uint64_t count, const char *buf)
{
	ext2_filsys fs = sfs->fs;
	ext2_extent_handle_t handle = NULL;
	struct ext2_inode_large inode;
	struct ext2fs_extent ext;
	uint64_t cur = first, end = first + count;
	errcode_t err;
	int r;

	r = ext4_inode_read(sfs, ino, &inode);
	if (r < 0)
		return r;
	if (!(inode.i_flags & EXT4_EXTENTS_FL) || (inode.i_flags & EXT4_INLINE_DATA_FL))
		return 1;
	err = ext2fs_extent_open2(fs, ino, (struct ext2_inode *)&inode, &handle);
	if (err)
		return ext4_errno(sfs, err, ino, "opening the extent tree");
	r = ext4_write_range_kind(sfs, ino, handle, first, end);
	ext2fs_extent_free(handle);
	handle = NULL;
	if (r < 0 || r == 1)
		return r;
	if (r == 2) {
		err =
		    ext2fs_fallocate(fs, EXT2_FALLOCATE_FORCE_INIT | EXT2_FALLOCATE_INIT_BEYOND_EOF,
				     ino, (struct ext2_inode *)&inode, ~0ULL, first, count);
		if (err == EXT2_ET_BLOCK_ALLOC_FAIL)
			return -ENOSPC;
		if (err)
			return ext4_errno(sfs, err, ino, "allocating blocks");
		/* ext2fs_fallocate() writes a caller's inode only when the extent tree's
		 * root changes: the block count it added is ours to write. */
		r = ext4_inode_write(sfs, ino, &inode);
		if (r == 0)
			r = ext4_extent_merge_left(sfs, ino, first);
		if (r == 0)
			r = ext4_inode_read(sfs, ino, &inode);
		if (r < 0)
			return r;
	}
	err = ext2fs_extent_open2(fs, ino, (struct ext2_inode *)&inode, &handle);
	if (err)
		return ext4_errno(sfs, err, ino, "opening the extent tree");
	err = ext2fs_extent_goto2(handle, 0, cur);
	if (!err)
		err = ext2fs_extent_get(handle, EXT2_EXTENT_CURRENT, &ext);
	r = 0;
	while (!err && cur < end) {
		uint64_t n;

		/* Checked or allocated above, under the same lock. */
		if (!(ext.e_flags & EXT2_EXTENT_FLAGS_LEAF) ||
		    (ext.e_flags & EXT2_EXTENT_FLAGS_UNINIT) || ext.e_lblk > cur ||
		    ext.e_lblk + ext.e_len <= cur) {
			r = ext4_corrupt(sfs, ino, "extent tree not as allocated for a write");
			break;
		}
		n = ext.e_lblk + ext.e_len - cur;
		if (n > end - cur)
			n = end - cur;
		{
			EXT4_DATA_IO(sfs);

			err = io_channel_write_blk64(fs->io, ext.e_pblk + (cur - ext.e_lblk),
						     (int)n, buf + (cur - first) * sfs->blocksize);
		}
		if (err)
			break;
		cur += n;
		if (cur < end)
			err = ext2fs_extent_get(handle, EXT2_EXTENT_NEXT_LEAF, &ext);
	}
	ext2fs_extent_free(handle);
	if (r)
		return r;
	if (err)
		return ext4_errno(sfs, err, ino, "writing the file");
	return 0;
}

int ext4_file_write(struct svc_fs *sfs, struct ext4_file *f, uint64_t off, size_t size,
		    const char *buf, unsigned int flags, uint32_t caller_gid, size_t *ret_len,
		    bool *ret_allocated)
{
	bool privileged = flags & EXT4_WRITE_PRIVILEGED, whole = flags & EXT4_WRITE_WHOLE;
	struct ext2_inode_large inode;
	struct timespec now;
	uint64_t max, blocks, bs = sfs->blocksize, first, last, end;
	size_t done = 0, asked = size;
	int short_err = -ENOSPC;
	int r;

	r = ext4_check_rw(sfs);
	if (r < 0)
		return r;
	r = ext4_inode_read(sfs, f->ino, &inode);
	if (r < 0)
		return r;
	if (!LINUX_S_ISREG(inode.i_mode))
		return LINUX_S_ISDIR(inode.i_mode) ? -EISDIR : -EINVAL;
	blocks = ext2fs_get_stat_i_blocks(sfs->fs, (struct ext2_inode *)&inode);
	/* Like the kernel: nothing at or past the limit, a short write up to it. */
	max = ext4_max_file_size(sfs, &inode);
	if (off >= max)
		return size ? -EFBIG : 0;
	if (size > max - off) {
		size = max - off;
		short_err = -EFBIG;
	}
	/* libext2fs allocates only when it writes a block back, too late to say ENOSPC for
	 * the bytes already accepted: reserve first, like the kernel's delayed allocation. */
	r = ext4_write_fits(sfs, f->ino, &inode, off, &size, privileged);
	if (r < 0)
		return r;
	if (size > 0) {
		r = ext4_write_unwritten(sfs, f->ino, off / bs, (off + size + bs - 1) / bs);
		if (r < 0)
			return r;
	}

	/* The whole blocks inside the range (at least two: for one, the file layer measured as
	 * quick) go the fast way; the partial blocks at either end through the file layer,
	 * which reads and merges them. In file order, so that a failure leaves a written
	 * prefix. */
	end = off + size;
	first = (off + bs - 1) / bs;
	last = end / bs;
	r = 1;
	if (last >= first + 2) {
		r = ext4_write_blocks_slow(sfs, f->ino, off, first * bs - off, buf, &done);
		if (r == 0)
			r = ext4_write_blocks_fast(sfs, f->ino, first, last - first, buf + done);
		if (r == 0) {
			done += (last - first) * bs;
			r = ext4_inode_read(sfs, f->ino, &inode);
			/* The file layer extends i_size itself; the fast path does not. */
			if (r == 0 && last * bs > ext4_inode_size(sfs, &inode)) {
				r = ext4_inode_set_size(sfs, f->ino, &inode, last * bs);
				if (r == 0)
					r = ext4_inode_write(sfs, f->ino, &inode);
			}
			if (r == 0)
				r = ext4_write_blocks_slow(sfs, f->ino, last * bs, end - last * bs,
							   buf + done, &done);
		}
	}
	if (r == 1)
		r = ext4_write_blocks_slow(sfs, f->ino, off + done, size - done, buf + done, &done);
	/* What went in before the disk filled up counts. */
	if (r < 0 && !(r == -ENOSPC && done > 0))
		return r;

	/* A write is a modification: mtime and ctime, and a setuid file written by someone
	 * without CAP_FSETID is one no more (the kernel leaves that to us, session-io.c). */
	r = ext4_inode_read(sfs, f->ino, &inode);
	if (r < 0)
		return r;
	ext4_now(&now);
	ext4_inode_set_time(sfs, &inode, EXT4_MTIME, &now);
	ext4_inode_set_time(sfs, &inode, EXT4_CTIME, &now);
	if (flags & EXT4_WRITE_KILL_SUIDGID)
		inode.i_mode = ext4_mode_kill_suidgid(inode.i_mode,
						      caller_gid == ext4_inode_gid(&inode));
	r = ext4_inode_write(sfs, f->ino, &inode);
	if (r < 0)
		return r;
	*ret_allocated = ext2fs_get_stat_i_blocks(sfs->fs, (struct ext2_inode *)&inode) != blocks;
	/* What fitted is written either way; a caller that cannot take a short write gets
	 * the reason for the rest. */
	if (whole && done < asked)
		return done < size ? -ENOSPC : short_err;
	*ret_len = done;
	return 0;
}

int ext4_truncate(struct svc_fs *sfs, ext2_ino_t ino, struct ext2_inode_large *inode,
		  uint64_t size)
{
	_cleanup_efile_ ext2_file_t file = NULL;
	uint64_t bs = sfs->blocksize;
	errcode_t err;
	int r;

	/* When the file loses a block, ext2fs_file_set_size2() frees it with ext2fs_punch(): see
	 * ext4_unmap_last_block(). */
	if ((size + bs - 1) / bs < (ext4_inode_size(sfs, inode) + bs - 1) / bs) {
		r = ext4_unmap_last_block(sfs, ino, inode, (size + bs - 1) / bs, ~0ULL);
		if (r < 0)
			return r;
	}
	r = ext4_efile_open(sfs, ino, inode, EXT2_FILE_WRITE, &file);
	if (r < 0)
		return r;
	/* Frees the blocks past the end and zeroes the tail of the last block, so a later
	 * extension reads zeros, not old data. */
	err = ext2fs_file_set_size2(file, size);
	if (err) {
		(void)ext4_efile_close(sfs, ino, &file);
		return ext4_errno(sfs, err, ino, "changing the file size");
	}
	r = ext4_efile_close(sfs, ino, &file);
	if (r < 0)
		return r;
	return ext4_inode_read(sfs, ino, inode);
}

void ext4_file_close(struct svc_fs *sfs, struct ext4_file *f)
{
	if (!f)
		return;
	ext4_open_put(sfs, f->ino);
	free(f);
}

/* Open handle counting, for unlinked-but-open inodes. */

static struct ext4_open_ref *ext4_open_find(struct svc_fs *sfs, ext2_ino_t ino)
{
	for (size_t i = 0; i < sfs->nopens; i++)
		if (sfs->opens[i].ino == ino)
			return &sfs->opens[i];
	return NULL;
}

int ext4_open_get(struct svc_fs *sfs, ext2_ino_t ino)
{
	struct ext4_open_ref *o = ext4_open_find(sfs, ino);

	if (o) {
		o->count++;
		return 0;
	}
	if (sfs->nopens == sfs->opens_cap) {
		size_t cap = sfs->opens_cap ? sfs->opens_cap * 2 : 64;
		struct ext4_open_ref *n = realloc(sfs->opens, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		sfs->opens = n;
		sfs->opens_cap = cap;
	}
	sfs->opens[sfs->nopens++] = (struct ext4_open_ref){ .ino = ino, .count = 1 };
	return 0;
}

void ext4_open_put_all(struct svc_fs *sfs)
{
	/* Releases the kernel never sent (it sends them asynchronously, and the session may
	 * end first): the inodes they kept are finished here, not left to e2fsck. */
	while (sfs->nopens > 0) {
		sfs->opens[0].count = 1;
		ext4_open_put(sfs, sfs->opens[0].ino);
	}
}

bool ext4_is_open(struct svc_fs *sfs, ext2_ino_t ino)
{
	return ext4_open_find(sfs, ino) != NULL;
}

void ext4_open_put(struct svc_fs *sfs, ext2_ino_t ino)
{
	struct ext4_open_ref *o = ext4_open_find(sfs, ino);
	struct ext2_inode_large inode;

	if (!o)
		return;
	if (--o->count > 0)
		return;
	*o = sfs->opens[--sfs->nopens];
	if (!sfs->rw)
		return;
	/* The last handle of an unlinked inode: now it goes. */
	if (ext4_inode_read_raw(sfs, ino, &inode) != 0)
		return;
	/* (i_dtime is the orphan chain's link here, not a deletion time.) */
	if (inode.i_links_count == 0 && inode.i_mode != 0 &&
	    ext2fs_test_inode_bitmap2(sfs->fs->inode_map, ino)) {
		(void)ext4_orphan_del(sfs, ino);
		(void)ext4_inode_delete(sfs, ino);
	}
}

/* fallocate */

static int ext4_zero_range(struct svc_fs *sfs, ext2_ino_t ino, uint64_t off, uint64_t len)
{
	_cleanup_efile_ ext2_file_t file = NULL;
	_cleanup_free_ char *zero = NULL;
	struct ext2_inode_large inode;
	errcode_t err;
	int r;

	zero = calloc(1, sfs->blocksize);
	if (!zero)
		return -ENOMEM;
	r = ext4_efile_open(sfs, ino, &inode, EXT2_FILE_WRITE, &file);
	if (r < 0)
		return r;
	err = ext2fs_file_llseek(file, off, EXT2_SEEK_SET, NULL);
	while (!err && len > 0) {
		unsigned int want = len > sfs->blocksize ? sfs->blocksize : (unsigned int)len;
		unsigned int got = 0;
		EXT4_DATA_IO(sfs);

		err = ext2fs_file_write(file, zero, want, &got);
		if (!err && got == 0)
			err = EXT2_ET_SHORT_WRITE;
		len -= got;
	}
	if (err) {
		(void)ext4_efile_close(sfs, ino, &file);
		if (err == EXT2_ET_BLOCK_ALLOC_FAIL)
			return -ENOSPC;
		return ext4_errno(sfs, err, ino, "zeroing part of the file");
	}
	return ext4_efile_close(sfs, ino, &file);
}

/*
 * Whether the blocks of [first, last) not mapped yet can all be allocated, checked before
 * anything changes: ext2fs_fallocate() and the file layer give up with some blocks already
 * taken, which would leave a failed fallocate with a bigger file or fewer free blocks. The
 * margin is for the extent tree in the worst case (free space in one-block pieces, one extent
 * each), so the allocation cannot run out half way. Reserved blocks only for privileged
 * callers, as ext4_write_fits().
 */
static int ext4_alloc_fits(struct svc_fs *sfs, ext2_ino_t ino, struct ext2_inode_large *inode,
			   uint64_t first, uint64_t last, bool privileged)
{
	ext2_filsys fs = sfs->fs;
	uint64_t free_blocks, resv, need = 0, per_leaf;

	/* Only a punch gets here with inline data (no unwritten extents otherwise), and it
	 * zeroes inside i_size, which stays inline: no block. */
	if (inode->i_flags & EXT4_INLINE_DATA_FL)
		return 0;

	per_leaf = (sfs->blocksize - sizeof(struct ext3_extent_header)) /
		   sizeof(struct ext3_extent);
	free_blocks = ext2fs_free_blocks_count(fs->super);
	resv = privileged ? 0 : ext2fs_r_blocks_count(fs->super);
	free_blocks = free_blocks > resv ? free_blocks - resv : 0;
	/* Fits even if nothing is mapped: no need to look. */
	if (last - first + (last - first) / per_leaf + 8 <= free_blocks)
		return 0;
	/* Stops as soon as it cannot fit: a huge range costs at most the free blocks. */
	for (uint64_t b = first; b < last; b++) {
		blk64_t pblk = 0;
		errcode_t err;

		err = ext2fs_bmap2(fs, ino, (struct ext2_inode *)inode, NULL, 0, b, NULL, &pblk);
		if (err)
			return ext4_errno(sfs, err, ino, "mapping a block");
		if (pblk)
			continue;
		need++;
		if (need + need / per_leaf + 8 > free_blocks)
			return -ENOSPC;
	}
	return 0;
}

/*
 * After ext2fs_fallocate() on a caller's inode: it writes that inode itself only when the
 * extent tree's root changes, so the blocks it added to i_blocks (data and extent blocks) are
 * written here, also after a failure part of the way (e2fsck found i_blocks short by the
 * blocks of every extent block added below the root).
 */
static int ext4_fallocate_done(struct svc_fs *sfs, ext2_ino_t ino, struct ext2_inode_large *inode,
			       errcode_t err)
{
	int r = ext4_inode_write(sfs, ino, inode);

	if (err)
		return err == EXT2_ET_BLOCK_ALLOC_FAIL ? -ENOSPC :
		       ext4_errno(sfs, err, ino, "allocating blocks");
	return r;
}

int ext4_fallocate(struct svc_fs *sfs, ext2_ino_t ino, int mode, uint64_t off, uint64_t len,
		   bool privileged)
{
	ext2_filsys fs = sfs->fs;
	struct ext2_inode_large inode;
	uint64_t size, end, bs = sfs->blocksize;
	struct timespec now;
	bool keep = mode & FALLOC_FL_KEEP_SIZE;
	errcode_t err;
	int r;

	r = ext4_check_rw(sfs);
	if (r < 0)
		return r;
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))
		return -EOPNOTSUPP;
	if ((mode & FALLOC_FL_PUNCH_HOLE) && !(mode & FALLOC_FL_KEEP_SIZE))
		return -EOPNOTSUPP;
	if ((mode & FALLOC_FL_PUNCH_HOLE) && (mode & FALLOC_FL_ZERO_RANGE))
		return -EOPNOTSUPP;
	if (len == 0)
		return -EINVAL;
	r = ext4_inode_read(sfs, ino, &inode);
	if (r < 0)
		return r;
	if (LINUX_S_ISDIR(inode.i_mode))
		return -EISDIR;
	if (!LINUX_S_ISREG(inode.i_mode))
		return -ENODEV;
	/* Block-mapped files have no unwritten extents to allocate. */
	if (!(inode.i_flags & EXT4_EXTENTS_FL) && !(mode & FALLOC_FL_PUNCH_HOLE))
		return -EOPNOTSUPP;
	if (off + len < off || off + len > ext4_max_file_size(sfs, &inode))
		return -EFBIG;
	end = off + len;
	size = ext4_inode_size(sfs, &inode);

	if (mode & FALLOC_FL_PUNCH_HOLE) {
		uint64_t pend = end < size ? end : size;
		uint64_t first = (off + bs - 1) / bs, last = pend / bs;

		if (off >= size)
			goto touch;
		/* Zeroing a partial block that is a hole allocates it: both ends are checked
		 * before the first is written, so ENOSPC changes nothing. */
		r = 0;
		if (off % bs)
			r = ext4_alloc_fits(sfs, ino, &inode, off / bs, off / bs + 1, privileged);
		if (r == 0 && pend % bs && (pend - 1) / bs != off / bs)
			r = ext4_alloc_fits(sfs, ino, &inode, (pend - 1) / bs, (pend - 1) / bs + 1,
					    privileged);
		if (r < 0)
			return r;
		/* Partial blocks at either end read as zeros afterwards. */
		if (first > last || first * bs > pend) {
			r = ext4_zero_range(sfs, ino, off, pend - off);
		} else {
			r = 0;
			if (off < first * bs)
				r = ext4_zero_range(sfs, ino, off, first * bs - off);
			if (r == 0 && last * bs < pend)
				r = ext4_zero_range(sfs, ino, last * bs, pend - last * bs);
			if (r == 0 && last > first) {
				r = ext4_inode_read(sfs, ino, &inode);
				if (r == 0)
					r = ext4_punch(sfs, ino, &inode, first, last - 1);
			}
		}
		if (r < 0)
			return r;
		goto touch;
	}

	/* Holes inside i_size are written with zeros, the rest allocated unwritten: either
	 * way every unmapped block of the range needs one, all of them or nothing. */
	r = ext4_alloc_fits(sfs, ino, &inode, off / bs, (end + bs - 1) / bs, privileged);
	if (r < 0)
		return r;
	if (mode & FALLOC_FL_ZERO_RANGE) {
		/* Zeros written in place: slower than unwritten extents, but what reads back is
		 * what the kernel's ZERO_RANGE gives. Beyond i_size nothing needs zeroing. */
		uint64_t zend = end < size ? end : size;

		if (off < zend) {
			r = ext4_zero_range(sfs, ino, off, zend - off);
			if (r < 0)
				return r;
		}
		if (end > size) {
			r = ext4_inode_read(sfs, ino, &inode);
			if (r < 0)
				return r;
			err = ext2fs_fallocate(fs, EXT2_FALLOCATE_FORCE_UNINIT, ino,
					       (struct ext2_inode *)&inode, ~0ULL,
					       (off > size ? off : size) / bs,
					       (end + bs - 1) / bs - (off > size ? off : size) / bs);
			r = ext4_fallocate_done(sfs, ino, &inode, err);
			if (r < 0)
				return r;
		}
	} else {
		err = ext2fs_fallocate(fs, EXT2_FALLOCATE_FORCE_UNINIT, ino,
				       (struct ext2_inode *)&inode, ~0ULL, off / bs,
				       (end + bs - 1) / bs - off / bs);
		r = ext4_fallocate_done(sfs, ino, &inode, err);
		if (r < 0)
			return r;
	}
	r = ext4_inode_read(sfs, ino, &inode);
	if (r < 0)
		return r;
	if (!keep && end > ext4_inode_size(sfs, &inode)) {
		r = ext4_inode_set_size(sfs, ino, &inode, end);
		if (r < 0)
			return r;
	}
	ext4_now(&now);
	ext4_inode_set_time(sfs, &inode, EXT4_CTIME, &now);
	if (!keep)
		ext4_inode_set_time(sfs, &inode, EXT4_MTIME, &now);
	return ext4_inode_write(sfs, ino, &inode);

touch:
	r = ext4_inode_read(sfs, ino, &inode);
	if (r < 0)
		return r;
	ext4_now(&now);
	ext4_inode_set_time(sfs, &inode, EXT4_CTIME, &now);
	ext4_inode_set_time(sfs, &inode, EXT4_MTIME, &now);
	return ext4_inode_write(sfs, ino, &inode);
}

/* SEEK_DATA / SEEK_HOLE by block mapping. */
int ext4_lseek(struct svc_fs *sfs, ext2_ino_t ino, uint64_t off, int whence, uint64_t *ret)
{
	ext2_filsys fs = sfs->fs;
	struct ext2_inode_large inode;
	uint64_t size, bs = sfs->blocksize, blk;
	int r;

	r = ext4_inode_read(sfs, ino, &inode);
	if (r < 0)
		return r;
	size = ext4_inode_size(sfs, &inode);
	if (off >= size)
		return -ENXIO;
	if (inode.i_flags & EXT4_INLINE_DATA_FL) {
		*ret = whence == SEEK_DATA ? off : size;
		return 0;
	}
	for (blk = off / bs; blk * bs < size; blk++) {
		blk64_t pblk = 0;
		errcode_t err;

		int flags = 0;

		err = ext2fs_bmap2(fs, ino, (struct ext2_inode *)&inode, NULL, 0, blk, &flags, &pblk);
		if (err)
			return ext4_errno(sfs, err, ino, "mapping a block");
		/* Unwritten extents read as zeros: holes, as the kernel reports them when no
		 * page is cached (we write through, so none is dirty). */
		if (flags & BMAP_RET_UNINIT)
			pblk = 0;
		if ((pblk != 0) == (whence == SEEK_DATA)) {
			uint64_t pos = blk * bs;

			*ret = pos > off ? pos : off;
			return 0;
		}
	}
	if (whence == SEEK_DATA)
		return -ENXIO;
	*ret = size;
	return 0;
}
