/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * service/io-cache.c, the server's block cache. Its one invariant: the device always holds the
 * current contents and every cached block equals it. Checked against a model of the device
 * over random reads and writes of every kind (one block, several, byte-sized, write_byte, file
 * data), plus: eviction at the bound, file data neither looked up nor kept but keeping the
 * cache coherent, and a filesystem whose blocks move between metadata and file data.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../service/ext4.h"
#include "tap.h"

#define BS 1024
#define NBLOCKS 256
#define SLOTS 16

static char dir[] = "/tmp/test-io-cache.XXXXXX";
static unsigned char model[NBLOCKS * BS];

static uint32_t rnd_state = 12345;

static uint32_t rnd(void)
{
	rnd_state = rnd_state * 1103515245U + 12345U;
	return rnd_state >> 8;
}

static void fill(unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)rnd();
}

/* Every cached block equals the model, and after a flush the device does. */
static unsigned int check_all(io_channel io, int fd)
{
	static unsigned char dev[NBLOCKS * BS];
	unsigned char blk[BS];
	unsigned int bad = 0;

	if (io_channel_flush(io) != 0 || pread(fd, dev, sizeof(dev), 0) != (ssize_t)sizeof(dev))
		return NBLOCKS + 1;
	for (unsigned int b = 0; b < NBLOCKS; b++) {
		if (memcmp(dev + b * BS, model + b * BS, BS) != 0)
			bad++;
		if (io_cache_peek(io, b, blk) == 1 && memcmp(blk, model + b * BS, BS) != 0)
			bad++;
	}
	return bad;
}

static io_channel open_channel(int fd, size_t bytes)
{
	char name[32];
	io_channel io = NULL;

	snprintf(name, sizeof(name), "%d", fd);
	io_cache_use(unixfd_io_manager, bytes);
	if (io_cache_manager->open(name, IO_FLAG_RW, &io) != 0)
		return NULL;
	/* libext2fs's own 8-block cache below ours keeps a clean copy of a block across a
	 * byte-sized write to it (its quirk, with or without ours): off, so that the model is
	 * the device and what is checked is this cache alone. */
	if (io_channel_set_blksize(io, BS) != 0 || io_channel_set_options(io, "cache=off") != 0) {
		io_channel_close(io);
		return NULL;
	}
	return io;
}

static void test_model(const char *img)
{
	static unsigned char buf[8 * BS];
	unsigned int read_bad = 0, check_bad = 0, over_bound = 0;
	struct io_cache_stats st;
	io_channel io;
	int fd;

	fill(model, sizeof(model));
	fd = open(img, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	TAP_OK(fd >= 0);
	TAP_EQ_INT(pwrite(fd, model, sizeof(model), 0), (ssize_t)sizeof(model));
	/* unixfd_io_manager closes the fd with the channel: give it a copy. */
	io = open_channel(dup(fd), SLOTS * BS);
	TAP_OK(io != NULL);
	if (!io)
		return;

	for (int op = 0; op < 20000; op++) {
		/* Half the time a hot set a little bigger than the cache, as metadata is. */
		unsigned int b = rnd() % 2 ? rnd() % (SLOTS + 8) : rnd() % NBLOCKS;
		unsigned int kind = rnd() % 10;
		int count = 1 + (int)(rnd() % 8);
		bool data = rnd() % 4 == 0;

		if (b + (unsigned int)count > NBLOCKS)
			count = (int)(NBLOCKS - b);
		io_cache_data(io, data);
		switch (kind) {
		case 0:
		case 1:
		case 2:
			if (io_channel_read_blk64(io, b, 1, buf) != 0 ||
			    memcmp(buf, model + b * BS, BS) != 0)
				read_bad++;
			break;
		case 3:
		case 4:
			if (io_channel_read_blk64(io, b, count, buf) != 0 ||
			    memcmp(buf, model + b * BS, (size_t)count * BS) != 0)
				read_bad++;
			break;
		case 5:
		case 6:
			fill(buf, BS);
			memcpy(model + b * BS, buf, BS);
			if (io_channel_write_blk64(io, b, 1, buf) != 0)
				read_bad++;
			break;
		case 7:
			fill(buf, (size_t)count * BS);
			memcpy(model + b * BS, buf, (size_t)count * BS);
			if (io_channel_write_blk64(io, b, count, buf) != 0)
				read_bad++;
			break;
		case 8: {
			/* Byte-sized, as libext2fs writes the superblock: not block aligned in
			 * length, so partial blocks change. */
			int len = 1 + (int)(rnd() % (2 * BS));

			if (b * BS + (unsigned int)len > sizeof(model))
				len = (int)(sizeof(model) - b * BS);
			fill(buf, (size_t)len);
			memcpy(model + b * BS, buf, (size_t)len);
			if (io_channel_write_blk64(io, b, -len, buf) != 0)
				read_bad++;
			break;
		}
		default: {
			unsigned long off = rnd() % (sizeof(model) - 100);
			int len = 1 + (int)(rnd() % 99);

			fill(buf, (size_t)len);
			memcpy(model + off, buf, (size_t)len);
			if (io_channel_write_byte(io, off, len, buf) != 0)
				read_bad++;
			break;
		}
		}
		io_cache_data(io, false);
		if (io_cache_get_stats(io, &st) != 0 || st.cached > SLOTS || st.slots != SLOTS)
			over_bound++;
		if (op % 500 == 0)
			check_bad += check_all(io, fd);
	}
	TAP_EQ_INT(read_bad, 0);
	TAP_EQ_INT(check_bad, 0);
	TAP_EQ_INT(check_all(io, fd), 0);
	TAP_EQ_INT(over_bound, 0);
	TAP_EQ_INT(io_cache_get_stats(io, &st), 0);
	printf("# %llu hits, %llu misses, %llu evictions, %llu invalidations\n",
	       (unsigned long long)st.hits, (unsigned long long)st.misses,
	       (unsigned long long)st.evictions, (unsigned long long)st.invalidations);
	TAP_OK(st.hits > 1000);
	TAP_OK(st.evictions > 1000);
	TAP_OK(st.invalidations > 100);

	/* Eviction at the bound: 100 distinct blocks through a 16-block cache leave the last
	 * 16 read, and none of the first. */
	for (unsigned int b = 100; b < 200; b++)
		TAP_OK(io_channel_read_blk64(io, b, 1, buf) == 0 || b == 0);
	TAP_EQ_INT(io_cache_get_stats(io, &st), 0);
	TAP_EQ_INT(st.cached, SLOTS);
	TAP_EQ_INT(io_cache_peek(io, 199, buf), 1);
	TAP_EQ_INT(io_cache_peek(io, 200 - SLOTS, buf), 1);
	TAP_EQ_INT(io_cache_peek(io, 199 - SLOTS, buf), 0);
	TAP_EQ_INT(io_cache_peek(io, 100, buf), 0);
	/* A hit makes a block the most recent: it survives the next SLOTS - 1 misses. */
	TAP_EQ_INT(io_channel_read_blk64(io, 200 - SLOTS, 1, buf), 0);
	for (unsigned int b = 0; b < SLOTS - 1; b++)
		TAP_EQ_INT(io_channel_read_blk64(io, b, 1, buf), 0);
	TAP_EQ_INT(io_cache_peek(io, 200 - SLOTS, buf), 1);
	TAP_EQ_INT(io_cache_peek(io, 201 - SLOTS, buf), 0);

	/* File data is not kept: a data read of an uncached block leaves it uncached. */
	io_cache_data(io, true);
	TAP_EQ_INT(io_channel_read_blk64(io, 150, 1, buf), 0);
	io_cache_data(io, false);
	TAP_EQ_INT(io_cache_peek(io, 150, buf), 0);

	/* A cached metadata block rewritten as file data (a freed block reused) reads back as
	 * the data, from the cache or the device. */
	TAP_EQ_INT(io_channel_read_blk64(io, 42, 1, buf), 0);
	TAP_EQ_INT(io_cache_peek(io, 42, buf), 1);
	fill(buf, BS);
	memcpy(model + 42 * BS, buf, BS);
	io_cache_data(io, true);
	TAP_EQ_INT(io_channel_write_blk64(io, 42, 1, buf), 0);
	io_cache_data(io, false);
	memset(buf, 0, BS);
	TAP_EQ_INT(io_channel_read_blk64(io, 42, 1, buf), 0);
	TAP_EQ_MEM(buf, model + 42 * BS, 16);
	TAP_OK(memcmp(buf, model + 42 * BS, BS) == 0);

	/* A write the cache cannot follow block by block (write_byte) drops the block. */
	TAP_EQ_INT(io_channel_read_blk64(io, 43, 1, buf), 0);
	TAP_EQ_INT(io_channel_write_byte(io, 43 * BS + 10, 3, "abc"), 0);
	memcpy(model + 43 * BS + 10, "abc", 3);
	TAP_EQ_INT(io_cache_peek(io, 43, buf), 0);
	TAP_EQ_INT(io_channel_read_blk64(io, 43, 1, buf), 0);
	TAP_EQ_MEM(buf + 10, "abc", 3);

	/* A new block size empties the cache and resizes it to the same byte bound. */
	TAP_EQ_INT(io_channel_set_blksize(io, 2 * BS), 0);
	TAP_EQ_INT(io_cache_get_stats(io, &st), 0);
	TAP_EQ_INT(st.cached, 0);
	TAP_EQ_INT(st.slots, SLOTS / 2);
	TAP_EQ_INT(io_channel_set_blksize(io, BS), 0);
	TAP_EQ_INT(check_all(io, fd), 0);

	TAP_EQ_INT(io_channel_close(io), 0);
	close(fd);
}

/*
 * Through the filesystem, with a cache far smaller than the image: directory blocks freed and
 * reused as file data and the reverse, over and over; every name is found, every byte reads
 * back, and e2fsck finds nothing wrong.
 */
static void test_reuse(const char *img)
{
	struct svc_fs_options o = {.device_name = img, .cache_mib = 1};
	const struct ext4_cred cred = {0, 0, 022};
	static char data[96 * 1024], back[sizeof(data)];
	unsigned int lookup_bad = 0, data_bad = 0, op_bad = 0;
	struct io_cache_stats st;
	struct svc_fs *fs = NULL;
	char why[512], cmd[1024], name[64];
	int fd, r;

	snprintf(cmd, sizeof(cmd), "mkfs.ext4 -q -F -b 1024 -O ^has_journal %s 3M", img);
	TAP_EQ_INT(system(cmd), 0);
	fd = open(img, O_RDWR | O_CLOEXEC);
	TAP_OK(fd >= 0);
	r = svc_fs_open(fd, &o, &fs, why, sizeof(why));
	TAP_EQ_INT(r, 0);
	if (r < 0) {
		printf("# %s\n", why);
		return;
	}

	for (int round = 0; round < 6; round++) {
		ext2_ino_t d, ino, f;
		struct ext4_file *h = NULL;
		size_t n = 0;
		bool alloc;

		/* Directory blocks: metadata, cached as they are written. */
		if (ext4_mkdir(fs, EXT2_ROOT_INO, "d", 0755, &cred, &d) < 0)
			op_bad++;
		for (int i = 0; i < 300; i++) {
			snprintf(name, sizeof(name), "round%d-entry-with-a-long-name-%04d", round,
				 i);
			if (ext4_mknod(fs, d, name, LINUX_S_IFREG | 0644, 0, &cred, &ino) < 0)
				op_bad++;
		}
		for (int i = 0; i < 300; i++) {
			snprintf(name, sizeof(name), "round%d-entry-with-a-long-name-%04d", round,
				 i);
			if (ext4_dir_lookup(fs, d, name, &ino) < 0)
				lookup_bad++;
			if (ext4_unlink(fs, d, name) < 0)
				op_bad++;
		}
		if (ext4_rmdir(fs, EXT2_ROOT_INO, "d") < 0)
			op_bad++;

		/* The freed blocks become file data, which must read back as written. */
		fill((unsigned char *)data, sizeof(data));
		if (ext4_mknod(fs, EXT2_ROOT_INO, "f", LINUX_S_IFREG | 0644, 0, &cred, &f) < 0 ||
		    ext4_file_open(fs, f, &h) < 0) {
			op_bad++;
			continue;
		}
		if (ext4_file_write(fs, h, 0, sizeof(data), data, EXT4_WRITE_PRIVILEGED, 0,
				    &n, &alloc) < 0 ||
		    n != sizeof(data))
			op_bad++;
		memset(back, 0, sizeof(back));
		if (ext4_file_read(fs, h, 0, sizeof(back), back, &n) < 0 || n != sizeof(back) ||
		    memcmp(back, data, sizeof(data)) != 0)
			data_bad++;
		ext4_file_close(fs, h);
		/* And back: the data blocks become directory blocks in the next round. */
		if (ext4_unlink(fs, EXT2_ROOT_INO, "f") < 0)
			op_bad++;
	}
	TAP_EQ_INT(op_bad, 0);
	TAP_EQ_INT(lookup_bad, 0);
	TAP_EQ_INT(data_bad, 0);
	TAP_EQ_INT(io_cache_get_stats(fs->fs->io, &st), 0);
	TAP_EQ_INT(st.slots, 1024);
	TAP_OK(st.hits > 0);
	TAP_EQ_INT(svc_fs_close(fs), 0);
	close(fd);
	snprintf(cmd, sizeof(cmd), "e2fsck -fn %s >/dev/null 2>&1", img);
	TAP_EQ_INT(system(cmd), 0);
}

/* io_cache_pending(): the blocks the read pool must not pread from the device because the
 * inner channel may still hold a newer copy of them. */
static void test_pending(const char *img)
{
	static unsigned char buf[8 * BS];
	io_channel io, plain = NULL;
	char name[32];
	int fd;

	fd = open(img, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	TAP_OK(fd >= 0);
	if (fd < 0)
		return;
	TAP_EQ_INT(ftruncate(fd, NBLOCKS * BS), 0);
	/* unixfd_io_manager closes the fd with the channel: give it a copy. */
	io = open_channel(dup(fd), SLOTS * BS);
	TAP_OK(io != NULL);
	if (!io) {
		close(fd);
		return;
	}
	fill(buf, sizeof(buf));
	TAP_OK(!io_cache_pending(io, 0, NBLOCKS));
	TAP_EQ_INT(io_channel_write_blk64(io, 10, 1, buf), 0);
	TAP_OK(io_cache_pending(io, 10, 1));
	TAP_OK(io_cache_pending(io, 5, 6));
	TAP_OK(!io_cache_pending(io, 0, 10));
	TAP_OK(!io_cache_pending(io, 11, 1));
	/* File data too, and several blocks at once. */
	io_cache_data(io, true);
	TAP_EQ_INT(io_channel_write_blk64(io, 100, 8, buf), 0);
	io_cache_data(io, false);
	TAP_OK(io_cache_pending(io, 107, 1));
	TAP_OK(!io_cache_pending(io, 108, 4));
	/* Bytes: the blocks they touch. */
	TAP_EQ_INT(io_channel_write_blk64(io, 50, -(BS + 1), buf), 0);
	TAP_OK(io_cache_pending(io, 51, 1));
	TAP_OK(!io_cache_pending(io, 52, 1));
	TAP_EQ_INT(io_channel_flush(io), 0);
	TAP_OK(!io_cache_pending(io, 0, NBLOCKS));
	/* More writes than it remembers: every block counts until the next flush. */
	for (unsigned int b = 0; b < 2 * 65; b += 2)
		TAP_EQ_INT(io_channel_write_blk64(io, b, 1, buf), 0);
	TAP_OK(io_cache_pending(io, 201, 1));
	TAP_EQ_INT(io_channel_flush(io), 0);
	TAP_OK(!io_cache_pending(io, 201, 1));
	TAP_OK(!io_cache_pending(io, 0, 1));
	io_channel_close(io);

	/* Not our channel: nothing is known, so everything may be pending. */
	snprintf(name, sizeof(name), "%d", fd);
	TAP_EQ_INT(unixfd_io_manager->open(name, IO_FLAG_RW, &plain), 0);
	if (plain) {
		TAP_OK(io_cache_pending(plain, 0, 1));
		io_channel_close(plain);
	} else {
		close(fd);
	}
}

static long status_kib(const char *field)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, strlen(field)) == 0)
			v = strtol(line + strlen(field), NULL, 10);
	fclose(f);
	return v;
}

/*
 * The bound: every inode of an image with 16 MiB of inode tables read through a 2 MiB cache
 * grows this process's peak RSS by 2 MiB and change, not 16. Fails if the cache keeps more
 * than it should.
 */
static void test_bound(const char *img)
{
	struct svc_fs_options o = { .read_only = true, .device_name = img, .cache_mib = 2 };
	struct ext2_inode_large inode;
	struct io_cache_stats st;
	struct svc_fs *fs = NULL;
	char why[512], cmd[1024];
	long before, after;
	unsigned int bad = 0;
	int fd, r;

	snprintf(cmd, sizeof(cmd),
		 "mkfs.ext4 -q -F -b 4096 -I 256 -N 65536 -E lazy_itable_init=0 -O ^has_journal %s 96M",
		 img);
	TAP_EQ_INT(system(cmd), 0);
	fd = open(img, O_RDONLY | O_CLOEXEC);
	TAP_OK(fd >= 0);
	/* The bound is on what opening and reading add: from the resident size now (not the
	 * peak so far, which could hide growth below it) to the peak after. */
	before = status_kib("VmRSS:");
	r = svc_fs_open(fd, &o, &fs, why, sizeof(why));
	TAP_EQ_INT(r, 0);
	if (r < 0)
		return;
	for (ext2_ino_t ino = 1; ino <= fs->fs->super->s_inodes_count; ino++)
		if (ext2fs_read_inode_full(fs->fs, ino, (struct ext2_inode *)&inode,
					   sizeof(inode)) != 0)
			bad++;
	after = status_kib("VmHWM:");
	TAP_EQ_INT(bad, 0);
	TAP_EQ_INT(io_cache_get_stats(fs->fs->io, &st), 0);
	/* 16 MiB of inode tables went through it. */
	TAP_OK(st.misses >= 4096);
	TAP_EQ_INT(st.cached, st.slots);
	printf("# RSS %ld KiB before, peak %ld KiB after reading %llu blocks\n", before, after,
	       (unsigned long long)st.misses);
	TAP_OK(before > 0 && after - before <= 2048 + 1024);
	TAP_EQ_INT(svc_fs_close(fs), 0);
	close(fd);
}

int main(void)
{
	char img[512];

	tap_plan_start();
	if (!mkdtemp(dir))
		tap_skip_all("mkdtemp failed");
	snprintf(img, sizeof(img), "%s/dev", dir);
	test_model(img);
	test_pending(img);
	if (system("command -v mkfs.ext4 >/dev/null && command -v e2fsck >/dev/null") == 0) {
		test_reuse(img);
		test_bound(img);
	} else {
		tap_diag("mkfs.ext4/e2fsck not installed: filesystem part skipped");
	}
	unlink(img);
	rmdir(dir);
	return tap_plan_end();
}
