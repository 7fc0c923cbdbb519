/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A bounded block cache of our own in front of the device channel.
 *
 * libext2fs's unix io manager caches 8 blocks, so every inode, directory, extent and bitmap
 * block read is a pread on the device fd, each through the seccomp filter. This io_manager
 * wraps the real channel (unixfd_io_manager, or journal_overlay_manager on a read-only mount
 * with a journal to replay) with a hash + LRU cache of a fixed number of blocks.
 *
 * Correctness rests on one invariant: the inner channel always gives the current contents of
 * every block, and a cached block always equals what it gives. So:
 * - writes are write-through: to the inner channel first, exactly as without this cache,
 *   then the cached copy is updated, or dropped if the write failed;
 * - anything written around the block interface (write_byte, discard, zeroout, byte-sized
 *   writes) drops the cached blocks it touches;
 * - file data (ext4-file.c brackets it with io_cache_data()) is neither looked up nor
 *   inserted, so a big file read does not push the metadata out; its reads go to the inner
 *   channel, which is current, and its writes update any cached copy of the same block. A
 *   block freed as metadata and reused for data, or the reverse, is never served stale.
 * The inner channel keeps its own small cache, which holds up to 8 written blocks until
 * it needs the slot or a flush: what reaches the device, and when, is what it was without
 * this cache, so flush, fsync and the state after a crash do not change. (With that cache
 * off every metadata write went out at once while the superblock waits for a sync, which
 * leaves a crash broken states the old order did not produce, such as an orphan chain whose
 * head is already deleted.)
 *
 * Memory: the block buffers are one allocation of cache_size bytes whose pages are touched
 * only as blocks are filled, plus about 24 bytes per slot of index: the server's RSS grows by
 * at most that much, however big the image.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ext4.h"

#define CACHE_NONE UINT32_MAX
/* Multi-block reads bigger than this are not worth caching: they are rare bulk reads (the
 * journal, the bitmaps on some layouts) that would push out the hot metadata. */
#define CACHE_MAX_FILL 32
/*
 * Blocks written to the inner channel since its last flush: it may still hold them dirty in
 * its own cache (unix_io keeps writes of a few blocks there), so a pread() of the device fd,
 * which the read pool does (read-pool.c), could miss them. Remembered as ranges; more than
 * this many and every block counts as pending until the next flush.
 */
#define CACHE_PENDING_MAX 64

/*
 * No readahead: a stat of 20000 new files on a fresh mount made 1393 preads through the cache
 * (5453 without), most of them first reads of inode-table blocks; reading those 8 at a time
 * would save about a thousand syscalls of a few microseconds in a run of 1.5 s, well below
 * what this machine's noise lets us see.
 */

struct cache_slot {
	uint64_t block;
	uint32_t hnext; /* hash chain, or free list */
	uint32_t prev;	/* LRU list: head is the most recently used */
	uint32_t next;
	/* Nonzero: what a caller found when it checked these contents (io_cache_set_tag); any
	 * change of the contents clears it. */
	uint32_t tag;
};

struct cache_channel {
	io_channel inner;
	size_t bytes; /* the bound on the block buffers */
	unsigned int bs;
	uint32_t nslots;
	uint32_t used; /* slots ever handed out; below nslots no eviction yet */
	uint32_t nbuckets;
	uint32_t *buckets;
	struct cache_slot *slots;
	unsigned char *data;
	uint32_t lru_head, lru_tail, free_head;
	bool data_io;
	struct io_cache_stats stats;
	struct {
		uint64_t block;
		uint64_t count;
	} pending[CACHE_PENDING_MAX];
	uint32_t npending;
	bool pending_all;
};

static __thread struct {
	io_manager inner;
	size_t bytes;
} cache_pending;

void io_cache_use(io_manager inner, size_t bytes)
{
	cache_pending.inner = inner;
	cache_pending.bytes = bytes;
}

static struct cache_channel *cache_of(io_channel io)
{
	return io && io->manager == io_cache_manager ? io->private_data : NULL;
}

static uint32_t cache_hash(const struct cache_channel *cc, uint64_t block)
{
	return (uint32_t)((block * 0x9e3779b97f4a7c15ULL) >> 32) & (cc->nbuckets - 1);
}

static unsigned char *slot_data(struct cache_channel *cc, uint32_t i)
{
	return cc->data + (size_t)i * cc->bs;
}

static void cache_free_index(struct cache_channel *cc)
{
	free(cc->buckets);
	free(cc->slots);
	free(cc->data);
	cc->buckets = NULL;
	cc->slots = NULL;
	cc->data = NULL;
	cc->nslots = cc->used = cc->nbuckets = 0;
	cc->lru_head = cc->lru_tail = cc->free_head = CACHE_NONE;
}

/* Sized for the block size; the buffers are allocated here but paged in only when used. */
static errcode_t cache_setup(struct cache_channel *cc, unsigned int bs)
{
	uint32_t n, nb = 1;

	cache_free_index(cc);
	cc->bs = bs;
	n = bs && cc->bytes / bs < UINT32_MAX / 2 ? (uint32_t)(cc->bytes / bs) : 0;
	if (n == 0)
		return 0;
	while (nb < n)
		nb <<= 1;
	cc->buckets = malloc(sizeof(*cc->buckets) * nb);
	cc->slots = malloc(sizeof(*cc->slots) * n);
	/* calloc: a large one is fresh mmap()ed pages, resident only once written (malloc
	 * would write them all under MALLOC_PERTURB_). */
	cc->data = calloc(n, bs);
	if (!cc->buckets || !cc->slots || !cc->data) {
		cache_free_index(cc);
		return EXT2_ET_NO_MEMORY;
	}
	memset(cc->buckets, 0xff, sizeof(*cc->buckets) * nb);
	cc->nslots = n;
	cc->nbuckets = nb;
	return 0;
}

static uint32_t cache_find(struct cache_channel *cc, uint64_t block)
{
	if (!cc->nslots)
		return CACHE_NONE;
	for (uint32_t i = cc->buckets[cache_hash(cc, block)]; i != CACHE_NONE;
	     i = cc->slots[i].hnext)
		if (cc->slots[i].block == block)
			return i;
	return CACHE_NONE;
}

static void lru_unlink(struct cache_channel *cc, uint32_t i)
{
	struct cache_slot *s = &cc->slots[i];

	if (s->prev != CACHE_NONE)
		cc->slots[s->prev].next = s->next;
	else
		cc->lru_head = s->next;
	if (s->next != CACHE_NONE)
		cc->slots[s->next].prev = s->prev;
	else
		cc->lru_tail = s->prev;
}

static void lru_push(struct cache_channel *cc, uint32_t i)
{
	struct cache_slot *s = &cc->slots[i];

	s->prev = CACHE_NONE;
	s->next = cc->lru_head;
	if (cc->lru_head != CACHE_NONE)
		cc->slots[cc->lru_head].prev = i;
	cc->lru_head = i;
	if (cc->lru_tail == CACHE_NONE)
		cc->lru_tail = i;
}

static void lru_touch(struct cache_channel *cc, uint32_t i)
{
	if (cc->lru_head == i)
		return;
	lru_unlink(cc, i);
	lru_push(cc, i);
}

static void hash_unlink(struct cache_channel *cc, uint32_t i)
{
	uint32_t *p = &cc->buckets[cache_hash(cc, cc->slots[i].block)];

	while (*p != i)
		p = &cc->slots[*p].hnext;
	*p = cc->slots[i].hnext;
}

static void cache_drop_slot(struct cache_channel *cc, uint32_t i)
{
	hash_unlink(cc, i);
	lru_unlink(cc, i);
	cc->slots[i].hnext = cc->free_head;
	cc->free_head = i;
	cc->stats.cached--;
}

/* Put a copy of block in the cache (replacing an older copy), evicting the least recently
 * used block when full. */
static void cache_insert(struct cache_channel *cc, uint64_t block, const void *buf)
{
	uint32_t i = cache_find(cc, block), h;

	if (!cc->nslots)
		return;
	if (i != CACHE_NONE) {
		memcpy(slot_data(cc, i), buf, cc->bs);
		cc->slots[i].tag = 0;
		lru_touch(cc, i);
		return;
	}
	if (cc->free_head != CACHE_NONE) {
		i = cc->free_head;
		cc->free_head = cc->slots[i].hnext;
	} else if (cc->used < cc->nslots) {
		i = cc->used++;
	} else {
		i = cc->lru_tail;
		hash_unlink(cc, i);
		lru_unlink(cc, i);
		cc->stats.cached--;
		cc->stats.evictions++;
	}
	h = cache_hash(cc, block);
	cc->slots[i].block = block;
	cc->slots[i].tag = 0;
	cc->slots[i].hnext = cc->buckets[h];
	cc->buckets[h] = i;
	lru_push(cc, i);
	memcpy(slot_data(cc, i), buf, cc->bs);
	cc->stats.cached++;
}

/* Blocks [first, first + count) changed below us in a way we did not see. */
static void cache_drop_range(struct cache_channel *cc, uint64_t first, uint64_t count)
{
	if (!cc->nslots || count == 0)
		return;
	if (count > cc->stats.cached) {
		/* Cheaper to walk what is cached than the range. */
		for (uint32_t i = cc->lru_head, next; i != CACHE_NONE; i = next) {
			next = cc->slots[i].next;
			if (cc->slots[i].block >= first && cc->slots[i].block - first < count) {
				cache_drop_slot(cc, i);
				cc->stats.invalidations++;
			}
		}
		return;
	}
	for (uint64_t b = first; b < first + count; b++) {
		uint32_t i = cache_find(cc, b);

		if (i != CACHE_NONE) {
			cache_drop_slot(cc, i);
			cc->stats.invalidations++;
		}
	}
}

/* The blocks a byte range overlaps. */
static void cache_drop_bytes(struct cache_channel *cc, uint64_t off, uint64_t len)
{
	if (!cc->bs || len == 0)
		return;
	cache_drop_range(cc, off / cc->bs, (off + len - 1) / cc->bs - off / cc->bs + 1);
}

static errcode_t cache_open(const char *name, int flags, io_channel *ret)
{
	struct cache_channel *cc = NULL;
	io_channel io = NULL, inner = NULL;
	io_manager mgr = cache_pending.inner;
	size_t bytes = cache_pending.bytes;
	errcode_t err;

	cache_pending.inner = NULL;
	if (!mgr)
		return EXT2_ET_OP_NOT_SUPPORTED;
	err = mgr->open(name, flags, &inner);
	if (err)
		return err;
	cc = calloc(1, sizeof(*cc));
	io = calloc(1, sizeof(*io));
	if (io)
		io->name = strdup(name);
	if (!cc || !io || !io->name) {
		free(cc);
		if (io)
			free(io->name);
		free(io);
		io_channel_close(inner);
		return EXT2_ET_NO_MEMORY;
	}
	cc->inner = inner;
	cc->bytes = bytes;
	cc->lru_head = cc->lru_tail = cc->free_head = CACHE_NONE;
	cc->bs = inner->block_size;
	io->magic = EXT2_ET_MAGIC_IO_CHANNEL;
	io->manager = io_cache_manager;
	io->block_size = inner->block_size;
	io->refcount = 1;
	io->flags = inner->flags;
	io->align = inner->align;
	io->private_data = cc;
	err = cache_setup(cc, inner->block_size);
	if (err) {
		free(cc);
		free(io->name);
		free(io);
		io_channel_close(inner);
		return err;
	}
	*ret = io;
	return 0;
}

static errcode_t cache_close(io_channel io)
{
	struct cache_channel *cc = io->private_data;
	errcode_t err;

	if (--io->refcount > 0)
		return 0;
	err = io_channel_close(cc->inner);
	cache_free_index(cc);
	free(cc);
	free(io->name);
	free(io);
	return err;
}

static errcode_t cache_set_blksize(io_channel io, int blksize)
{
	struct cache_channel *cc = io->private_data;
	errcode_t err = io_channel_set_blksize(cc->inner, blksize);

	if (err)
		return err;
	io->block_size = blksize;
	if ((unsigned int)blksize != cc->bs) {
		cc->stats.cached = 0;
		err = cache_setup(cc, (unsigned int)blksize);
	}
	return err;
}

static errcode_t cache_read_blk64(io_channel io, unsigned long long block, int count, void *data)
{
	struct cache_channel *cc = io->private_data;
	unsigned char *buf = data;
	uint64_t lo = UINT64_MAX, hi = 0;
	errcode_t err;
	uint32_t i;

	/* Byte-sized reads (the superblock), data and bulk reads: the inner channel is current. */
	if (count <= 0 || cc->data_io || !cc->nslots || count > CACHE_MAX_FILL)
		return io_channel_read_blk64(cc->inner, block, count, data);

	for (int k = 0; k < count; k++) {
		if (cache_find(cc, block + k) == CACHE_NONE) {
			if (lo == UINT64_MAX)
				lo = (uint64_t)k;
			hi = (uint64_t)k;
		}
	}
	/* Hits first: inserting the misses may evict them. */
	for (int k = 0; k < count; k++) {
		if ((uint64_t)k >= lo && (uint64_t)k <= hi)
			continue;
		i = cache_find(cc, block + k);
		memcpy(buf + (size_t)k * cc->bs, slot_data(cc, i), cc->bs);
		lru_touch(cc, i);
		cc->stats.hits++;
	}
	if (lo == UINT64_MAX)
		return 0;
	/* One read for the span of misses, cached blocks inside it included. */
	cc->stats.misses += hi - lo + 1;
	err = io_channel_read_blk64(cc->inner, block + lo, (int)(hi - lo + 1), buf + lo * cc->bs);
	if (err)
		return err;
	for (uint64_t k = lo; k <= hi; k++)
		cache_insert(cc, block + k, buf + k * cc->bs);
	return 0;
}

static errcode_t cache_read_blk(io_channel io, unsigned long block, int count, void *data)
{
	return cache_read_blk64(io, block, count, data);
}

/* Whatever the inner channel did with the write, even a failed one, counts until a flush. */
static void pending_add(struct cache_channel *cc, uint64_t block, uint64_t count)
{
	for (uint32_t i = 0; i < cc->npending; i++) {
		/* The same blocks written again (an inode table block, a bitmap). */
		if (cc->pending[i].block <= block &&
		    block + count <= cc->pending[i].block + cc->pending[i].count)
			return;
	}
	if (cc->npending == CACHE_PENDING_MAX) {
		cc->pending_all = true;
		return;
	}
	cc->pending[cc->npending].block = block;
	cc->pending[cc->npending].count = count;
	cc->npending++;
}

static errcode_t cache_write_blk64(io_channel io, unsigned long long block, int count,
				   const void *data)
{
	struct cache_channel *cc = io->private_data;
	const unsigned char *buf = data;
	errcode_t err;

	err = io_channel_write_blk64(cc->inner, block, count, data);
	if (count < 0) /* bytes: round out to the blocks they touch */
		pending_add(cc, block, (((uint64_t) - (int64_t)count) + cc->bs - 1) / cc->bs);
	else
		pending_add(cc, block, (uint64_t)count);
	if (count < 0) {
		cache_drop_bytes(cc, block * (uint64_t)cc->bs, (uint64_t) - (int64_t)count);
		return err;
	}
	if (err) {
		cache_drop_range(cc, block, (uint64_t)count);
		return err;
	}
	/* Metadata written now is read again soon (inode tables, directories): keep it. File
	 * data and bulk writes (zeroing) only refresh what is already cached. */
	if (count == 1 && !cc->data_io) {
		cache_insert(cc, block, buf);
		return 0;
	}
	for (int k = 0; k < count && cc->stats.cached; k++) {
		uint32_t i = cache_find(cc, block + k);

		if (i != CACHE_NONE) {
			memcpy(slot_data(cc, i), buf + (size_t)k * cc->bs, cc->bs);
			cc->slots[i].tag = 0;
		}
	}
	return 0;
}

static errcode_t cache_write_blk(io_channel io, unsigned long block, int count, const void *data)
{
	return cache_write_blk64(io, block, count, data);
}

static errcode_t cache_write_byte(io_channel io, unsigned long offset, int size, const void *data)
{
	struct cache_channel *cc = io->private_data;
	errcode_t err;

	if (!cc->inner->manager->write_byte)
		return EXT2_ET_UNIMPLEMENTED;
	err = cc->inner->manager->write_byte(cc->inner, offset, size, data);
	if (size > 0)
		cache_drop_bytes(cc, offset, (uint64_t)size);
	return err;
}

static errcode_t cache_discard(io_channel io, unsigned long long block, unsigned long long count)
{
	struct cache_channel *cc = io->private_data;

	if (!cc->inner->manager->discard)
		return EXT2_ET_UNIMPLEMENTED;
	/* What a discarded block reads back as is the device's business. */
	cache_drop_range(cc, block, count);
	return io_channel_discard(cc->inner, block, count);
}

static errcode_t cache_zeroout(io_channel io, unsigned long long block, unsigned long long count)
{
	struct cache_channel *cc = io->private_data;

	if (!cc->inner->manager->zeroout)
		return EXT2_ET_UNIMPLEMENTED;
	cache_drop_range(cc, block, count);
	return io_channel_zeroout(cc->inner, block, count);
}

static errcode_t cache_flush(io_channel io)
{
	struct cache_channel *cc = io->private_data;
	errcode_t err;

	err = io_channel_flush(cc->inner);
	if (!err) {
		cc->npending = 0;
		cc->pending_all = false;
	}
	return err;
}

static errcode_t cache_set_option(io_channel io, const char *option, const char *arg)
{
	struct cache_channel *cc = io->private_data;

	if (!cc->inner->manager->set_option)
		return EXT2_ET_INVALID_ARGUMENT;
	return cc->inner->manager->set_option(cc->inner, option, arg);
}

static errcode_t cache_get_stats(io_channel io, io_stats *stats)
{
	struct cache_channel *cc = io->private_data;

	if (!cc->inner->manager->get_stats)
		return EXT2_ET_OP_NOT_SUPPORTED;
	return cc->inner->manager->get_stats(cc->inner, stats);
}

static struct struct_io_manager cache_manager = {
	.magic = EXT2_ET_MAGIC_IO_MANAGER,
	.name = "fuse4fs block cache",
	.open = cache_open,
	.close = cache_close,
	.set_blksize = cache_set_blksize,
	.read_blk = cache_read_blk,
	.write_blk = cache_write_blk,
	.flush = cache_flush,
	.write_byte = cache_write_byte,
	.set_option = cache_set_option,
	.get_stats = cache_get_stats,
	.read_blk64 = cache_read_blk64,
	.write_blk64 = cache_write_blk64,
	.discard = cache_discard,
	.zeroout = cache_zeroout,
};

io_manager io_cache_manager = &cache_manager;

bool io_cache_data(io_channel io, bool on)
{
	struct cache_channel *cc = cache_of(io);
	bool was;

	if (!cc)
		return false;
	was = cc->data_io;
	cc->data_io = on;
	return was;
}

bool io_cache_pending(io_channel io, uint64_t block, uint64_t count)
{
	struct cache_channel *cc = cache_of(io);

	if (!cc || cc->pending_all)
		return true;
	for (uint32_t i = 0; i < cc->npending; i++)
		if (block < cc->pending[i].block + cc->pending[i].count &&
		    cc->pending[i].block < block + count)
			return true;
	return false;
}

int io_cache_get_stats(io_channel io, struct io_cache_stats *ret)
{
	struct cache_channel *cc = cache_of(io);

	if (!cc)
		return -EINVAL;
	*ret = cc->stats;
	ret->slots = cc->nslots;
	return 0;
}

int io_cache_peek(io_channel io, uint64_t block, void *buf)
{
	struct cache_channel *cc = cache_of(io);
	uint32_t i;

	if (!cc)
		return -EINVAL;
	i = cache_find(cc, block);
	if (i == CACHE_NONE)
		return 0;
	memcpy(buf, slot_data(cc, i), cc->bs);
	return 1;
}

int io_cache_get_tagged(io_channel io, uint64_t block, uint32_t tag, void *buf)
{
	struct cache_channel *cc = cache_of(io);
	uint32_t i;

	if (!cc || tag == 0 || cc->data_io)
		return 0;
	i = cache_find(cc, block);
	if (i == CACHE_NONE || cc->slots[i].tag != tag)
		return 0;
	memcpy(buf, slot_data(cc, i), cc->bs);
	lru_touch(cc, i);
	cc->stats.hits++;
	cc->stats.tagged_hits++;
	return 1;
}

void io_cache_set_tag(io_channel io, uint64_t block, uint32_t tag)
{
	struct cache_channel *cc = cache_of(io);
	uint32_t i;

	if (!cc)
		return;
	i = cache_find(cc, block);
	if (i != CACHE_NONE)
		cc->slots[i].tag = tag;
}
