/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An io_manager that shows a read-only mount the recovered filesystem without writing to the
 * device: it wraps unixfd_io_manager and, after each read, patches in the blocks the journal
 * replay would have written, read from where they sit in the journal (journal.h). Writes are
 * refused: a mount that may write replays onto the device instead.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal.h"

struct overlay_channel {
	io_channel inner;
	const struct journal_overlay *ov;
	int fd;
	unsigned char *tmp;
};

static __thread const struct journal_overlay *overlay_pending;

void journal_overlay_use(const struct journal_overlay *ov)
{
	overlay_pending = ov;
}

static errcode_t ovl_open(const char *name, int flags, io_channel *ret)
{
	struct overlay_channel *oc = NULL;
	io_channel io = NULL, inner = NULL;
	const struct journal_overlay *ov = overlay_pending;
	errcode_t err;
	char *end;
	long fd;

	overlay_pending = NULL;
	if (!ov || (flags & IO_FLAG_RW))
		return EXT2_ET_OP_NOT_SUPPORTED;
	errno = 0;
	fd = strtol(name, &end, 10);
	if (errno || *end || fd < 0 || fd > INT32_MAX)
		return EXT2_ET_BAD_DEVICE_NAME;

	err = unixfd_io_manager->open(name, flags, &inner);
	if (err)
		return err;
	oc = calloc(1, sizeof(*oc));
	io = calloc(1, sizeof(*io));
	if (oc)
		oc->tmp = malloc(ov->blocksize);
	if (io)
		io->name = strdup(name);
	if (!oc || !oc->tmp || !io || !io->name) {
		if (oc)
			free(oc->tmp);
		free(oc);
		if (io)
			free(io->name);
		free(io);
		io_channel_close(inner);
		return EXT2_ET_NO_MEMORY;
	}
	oc->inner = inner;
	oc->ov = ov;
	oc->fd = (int)fd;
	io->magic = EXT2_ET_MAGIC_IO_CHANNEL;
	io->manager = journal_overlay_manager;
	io->block_size = inner->block_size;
	io->refcount = 1;
	io->flags = inner->flags;
	io->align = inner->align;
	io->private_data = oc;
	*ret = io;
	return 0;
}

static errcode_t ovl_close(io_channel io)
{
	struct overlay_channel *oc = io->private_data;
	errcode_t err;

	if (--io->refcount > 0)
		return 0;
	err = io_channel_close(oc->inner);
	free(oc->tmp);
	free(oc);
	free(io->name);
	free(io);
	return err;
}

static errcode_t ovl_set_blksize(io_channel io, int blksize)
{
	struct overlay_channel *oc = io->private_data;
	errcode_t err = io_channel_set_blksize(oc->inner, blksize);

	if (!err)
		io->block_size = blksize;
	return err;
}

static errcode_t ovl_read_blk64(io_channel io, unsigned long long block, int count, void *data)
{
	struct overlay_channel *oc = io->private_data;
	const struct journal_overlay *ov = oc->ov;
	uint64_t bs = ov->blocksize, start, end;
	size_t lo, hi;
	errcode_t err;

	err = io_channel_read_blk64(oc->inner, block, count, data);
	if (err || ov->count == 0)
		return err;

	start = block * (uint64_t)io->block_size;
	end = start + (count < 0 ? (uint64_t)-(int64_t)count : (uint64_t)count * io->block_size);
	if (end <= start)
		return 0;

	/* First overlay entry whose block ends after start. */
	lo = 0;
	hi = ov->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if ((ov->map[mid].target + 1) * bs <= start)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < ov->count && ov->map[i].target * bs < end; i++) {
		const struct journal_map_entry *e = &ov->map[i];
		uint64_t bstart = e->target * bs;
		uint64_t from = bstart > start ? bstart : start;
		uint64_t to = bstart + bs < end ? bstart + bs : end;
		ssize_t n;

		n = pread(oc->fd, oc->tmp, bs, (off_t)(e->source * bs));
		if (n < 0)
			return errno;
		if ((uint64_t)n != bs)
			return EXT2_ET_SHORT_READ;
		if (e->escaped) {
			/* The log zeroes a block's leading jbd2 magic; put it back. */
			oc->tmp[0] = 0xc0;
			oc->tmp[1] = 0x3b;
			oc->tmp[2] = 0x39;
			oc->tmp[3] = 0x98;
		}
		memcpy((unsigned char *)data + (from - start), oc->tmp + (from - bstart), to - from);
	}
	return 0;
}

static errcode_t ovl_read_blk(io_channel io, unsigned long block, int count, void *data)
{
	return ovl_read_blk64(io, block, count, data);
}

static errcode_t ovl_write_blk64(io_channel io, unsigned long long block, int count,
				 const void *data)
{
	return EROFS;
}

static errcode_t ovl_write_blk(io_channel io, unsigned long block, int count, const void *data)
{
	return EROFS;
}

static errcode_t ovl_write_byte(io_channel io, unsigned long offset, int size, const void *data)
{
	return EROFS;
}

static errcode_t ovl_flush(io_channel io)
{
	struct overlay_channel *oc = io->private_data;

	return io_channel_flush(oc->inner);
}

static errcode_t ovl_set_option(io_channel io, const char *option, const char *arg)
{
	struct overlay_channel *oc = io->private_data;

	if (!oc->inner->manager->set_option)
		return EXT2_ET_INVALID_ARGUMENT;
	return oc->inner->manager->set_option(oc->inner, option, arg);
}

static errcode_t ovl_get_stats(io_channel io, io_stats *stats)
{
	struct overlay_channel *oc = io->private_data;

	if (!oc->inner->manager->get_stats)
		return EXT2_ET_OP_NOT_SUPPORTED;
	return oc->inner->manager->get_stats(oc->inner, stats);
}

static struct struct_io_manager overlay_manager = {
	.magic = EXT2_ET_MAGIC_IO_MANAGER,
	.name = "fuse4fs journal overlay",
	.open = ovl_open,
	.close = ovl_close,
	.set_blksize = ovl_set_blksize,
	.read_blk = ovl_read_blk,
	.write_blk = ovl_write_blk,
	.flush = ovl_flush,
	.write_byte = ovl_write_byte,
	.set_option = ovl_set_option,
	.get_stats = ovl_get_stats,
	.read_blk64 = ovl_read_blk64,
	.write_blk64 = ovl_write_blk64,
};

io_manager journal_overlay_manager = &overlay_manager;
