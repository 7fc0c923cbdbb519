/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ext4 modules against small images made by mkfs.ext4 -d: opening and refusing, lookup
 * (linear and htree), attributes, symlinks, readdir and read. Skips when e2fsprogs' tools are
 * not installed.
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

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#define RENAME_EXCHANGE (1 << 1)
#endif

static char dir[] = "/tmp/test-ext4-fs.XXXXXX";

static struct svc_fs *open_image(const char *img, bool rw, int *ret_fd, int *ret_r, char *why,
				 size_t n)
{
	struct svc_fs_options o = { .read_only = !rw, .device_name = img };
	struct svc_fs *fs = NULL;

	*ret_fd = open(img, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	*ret_r = svc_fs_open(*ret_fd, &o, &fs, why, n);
	return fs;
}

/* open_image() for the cases that change the image: NULL, after a failed check, if it does not
 * open. */
static struct svc_fs *open_image_rw(const char *img, int *ret_fd)
{
	struct svc_fs *fs;
	char why[512];
	int r;

	fs = open_image(img, true, ret_fd, &r, why, sizeof(why));
	TAP_EQ_INT(r, 0);
	return r < 0 ? NULL : fs;
}

/*
 * A directory block is verified once and then served from the block cache while it is
 * unchanged (ext4_read_dir_block): a change to it, here one that bypasses the checksum as a
 * stray write would, must be verified again and caught, not served as the block that passed.
 */
static void dir_block_tags(const char *img)
{
	struct io_cache_stats st0, st1;
	struct ext2_inode_large dinode;
	struct svc_fs *fs = NULL;
	ext2_ino_t sub, ino, found;
	uint64_t lblk = 0;
	blk64_t pblk = 0;
	char *buf, *p;
	int fd;

	fs = open_image_rw(img, &fd);
	if (!fs)
		return;
	TAP_EQ_INT(ext4_dir_lookup(fs, EXT2_ROOT_INO, "sub", &sub), 0);
	TAP_EQ_INT(ext4_dir_lookup(fs, sub, "name150", &ino), 0);
	/* The second lookup reads the same root and leaf without verifying them again. */
	TAP_EQ_INT(io_cache_get_stats(fs->fs->io, &st0), 0);
	TAP_EQ_INT(ext4_dir_lookup(fs, sub, "name150", &found), 0);
	TAP_EQ_INT(found, ino);
	TAP_EQ_INT(io_cache_get_stats(fs->fs->io, &st1), 0);
	TAP_EQ_INT(st1.tagged_hits - st0.tagged_hits >= 2, 1);

	TAP_EQ_INT(ext4_dir_locate(fs, sub, "name150", &found, &lblk), 0);
	TAP_EQ_INT(ext4_inode_read(fs, sub, &dinode), 0);
	TAP_EQ_INT(ext2fs_bmap2(fs->fs, sub, (struct ext2_inode *)&dinode, NULL, 0, lblk, NULL,
				&pblk),
		   0);
	buf = malloc(fs->blocksize);
	TAP_EQ_INT(io_channel_read_blk64(fs->fs->io, pblk, 1, buf), 0);
	p = memmem(buf, fs->blocksize, "name150", 7);
	TAP_EQ_INT(p != NULL, 1);
	if (p) {
		/* Same length, stale checksum: only a fresh verification can tell. */
		p[0] = 'N';
		TAP_EQ_INT(io_channel_write_blk64(fs->fs->io, pblk, 1, buf), 0);
		/* Served unverified, the block would just lack the name (-ENOENT). */
		TAP_EQ_INT(ext4_dir_lookup(fs, sub, "name150", &found), -EUCLEAN);
		/* Put back: verified again, and good again. */
		p[0] = 'n';
		TAP_EQ_INT(io_channel_write_blk64(fs->fs->io, pblk, 1, buf), 0);
		TAP_EQ_INT(ext4_dir_lookup(fs, sub, "name150", &found), 0);
	}
	free(buf);
	/* The corruption marked the filesystem as having errors; nothing else was changed. */
	fs->fs->super->s_state &= ~EXT2_ERROR_FS;
	TAP_EQ_INT(svc_fs_close(fs), 0);
}

/*
 * New names in an htree directory go straight into their leaf while it has room
 * (ext4_dx_insert), and through libext2fs's split when it has none. Short names fit the
 * 12-byte checksum tail, which must never be taken for a free entry: e2fsck afterwards says
 * whether the leaves, their tails and the index are still right.
 */
static void dx_inserts(const char *img)
{
	struct ext4_cred cred = { .uid = 0, .gid = 0, .umask = 022 };
	struct svc_fs *fs = NULL;
	ext2_ino_t sub, ino, found, tino[40];
	struct ext4_dir_hint hints[40];
	unsigned int bad = 0;
	uint64_t lblk;
	char name[32];
	int fd, r;

	fs = open_image_rw(img, &fd);
	if (!fs)
		return;
	TAP_EQ_INT(ext4_dir_lookup(fs, EXT2_ROOT_INO, "sub", &sub), 0);
	TAP_EQ_INT(ext4_dir_home_leaf(fs, sub, "name7", &lblk), -EEXIST);
	TAP_EQ_INT(ext4_dx_insert(fs, sub, "name7", 12, EXT2_FT_REG_FILE, NULL), -EEXIST);
	TAP_EQ_INT(ext4_dir_home_leaf(fs, EXT2_ROOT_INO, "x", &lblk), -EAGAIN);
	/* Where 40 names would go now: the inserts below split the leaves, and a hint from
	 * before a change must not be followed (the names would land where no lookup looks). */
	for (unsigned int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "t%u", i);
		if (ext4_mknod(fs, EXT2_ROOT_INO, name, S_IFREG | 0644, 0, &cred, &tino[i]) != 0)
			bad++;
		snprintf(name, sizeof(name), "hinted%u", i);
		if (ext4_dir_search(fs, sub, name, &found, &hints[i]) != -ENOENT ||
		    hints[i].lblk == UINT64_MAX)
			bad++;
	}
	TAP_EQ_INT(bad, 0);
	for (unsigned int i = 0; i < 900; i++) {
		snprintf(name, sizeof(name), "%.*s%u", (int)(i % 4), "abc", i);
		if (ext4_mknod(fs, sub, name, S_IFREG | 0644, 0, &cred, &ino) != 0 ||
		    ext4_dir_lookup(fs, sub, name, &found) != 0 || found != ino)
			bad++;
	}
	TAP_EQ_INT(bad, 0);
	for (unsigned int i = 0; i < 900; i += 7) {
		snprintf(name, sizeof(name), "%.*s%u", (int)(i % 4), "abc", i);
		if (ext4_dir_lookup(fs, sub, name, &found) != 0)
			bad++;
	}
	TAP_EQ_INT(bad, 0);
	TAP_EQ_INT(ext4_dir_lookup(fs, sub, "name300", &found), 0);
	for (unsigned int i = 0; i < 40; i++) {
		struct ext2_inode_large t;

		snprintf(name, sizeof(name), "hinted%u", i);
		/* A second name for t<i>, counted, so that e2fsck agrees. */
		if (ext4_inode_read(fs, tino[i], &t) != 0)
			bad++;
		t.i_links_count++;
		if (ext4_inode_write(fs, tino[i], &t) != 0)
			bad++;
		/* 1: the leaf is full, and the name goes through libext2fs's split as in
		 * ext4_add_entry(). */
		r = ext4_dx_insert(fs, sub, name, tino[i], EXT2_FT_REG_FILE, &hints[i]);
		if (r == 1)
			r = ext2fs_link(fs->fs, sub, name, tino[i], EXT2_FT_REG_FILE) ? -EIO : 0;
		if (r != 0 || ext4_dir_lookup(fs, sub, name, &found) != 0 || found != tino[i])
			bad++;
	}
	TAP_EQ_INT(bad, 0);

	/* A name found absent is remembered as absent only until something changes: after
	 * a link adds it (htree and linear directory), the next lookup finds it. */
	TAP_EQ_INT(ext4_dir_lookup(fs, sub, "late", &found), -ENOENT);
	TAP_EQ_INT(ext4_dir_lookup(fs, sub, "late", &found), -ENOENT);
	TAP_EQ_INT(ext4_link(fs, tino[0], sub, "late"), 0);
	TAP_EQ_INT(ext4_dir_lookup(fs, sub, "late", &found), 0);
	TAP_EQ_INT(found, tino[0]);
	TAP_EQ_INT(ext4_dir_lookup(fs, EXT2_ROOT_INO, "late2", &found), -ENOENT);
	TAP_EQ_INT(ext4_rename(fs, sub, "late", EXT2_ROOT_INO, "late2", 0), 0);
	TAP_EQ_INT(ext4_dir_lookup(fs, EXT2_ROOT_INO, "late2", &found), 0);
	TAP_EQ_INT(ext4_dir_lookup(fs, sub, "late", &found), -ENOENT);

	/* The in-inode extent lookup answers what libext2fs answers, past the end too. */
	{
		struct ext2_inode_large dinode;
		unsigned int differ = 0, nblocks;

		TAP_EQ_INT(ext4_inode_read(fs, sub, &dinode), 0);
		nblocks = (unsigned int)(ext4_inode_size(fs, &dinode) / fs->blocksize);
		TAP_EQ_INT(nblocks > 3, 1);
		for (uint64_t l = 0; l < nblocks + 3; l++) {
			blk64_t a = 1, b = 2;

			if (ext4_dir_bmap(fs, sub, &dinode, l, &a) != 0 ||
			    ext2fs_bmap2(fs->fs, sub, (struct ext2_inode *)&dinode, NULL, 0, l, NULL,
					 &b) != 0 ||
			    a != b)
				differ++;
		}
		TAP_EQ_INT(differ, 0);
	}
	TAP_EQ_INT(svc_fs_close(fs), 0);
}

/* A 250-byte name, distinct for each i, that needs a 260-byte entry (261 with extra). */
static void long_name(char *buf, char tag, unsigned int i, unsigned int extra)
{
	snprintf(buf, 256, "%c%04u%.*s", tag, i, 245 + extra,
		 "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
		 "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
		 "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
		 "zzzzzzzzzzzzzzzzzzzz");
}

static uint32_t name_hash(struct svc_fs *fs, const char *name)
{
	int version = fs->fs->super->s_def_hash_version;
	ext2_dirhash_t h = 0, minor;

	if (fs->unsigned_hash)
		version += EXT2_HASH_LEGACY_UNSIGNED;
	(void)ext2fs_dirhash2(version, name, (int)strlen(name), NULL, 0, fs->hash_seed, &h, &minor);
	return h;
}

/*
 * A leaf whose free space is in pieces, none big enough for the new name, all together
 * enough: [a free entry of 248][A: 260 used + 244 slack][B: 260], 1 KiB blocks with checksum
 * tails, A's hash below B's. libext2fs 1.47.0's split weighs A at 504 bytes and B at 260 and
 * moves both to the new block, leaving a stretched copy of A in the old one: A in two
 * leaves, which e2fsck (run by the caller) reports. ext4_dx_insert() packs the leaf instead:
 * the name goes in, the directory does not grow, and every name is found.
 */
static void dx_fragmented_leaf(const char *img)
{
	struct ext4_cred cred = { .uid = 0, .gid = 0, .umask = 022 };
	char names[24][256], a[256], b[256], n[256];
	struct ext2_inode_large dinode;
	struct svc_fs *fs = NULL;
	ext2_ino_t d, ino, found, ino_a = 0, ino_b = 0, ino_n = 0;
	uint64_t leaf = UINT64_MAX, lblk, size_before;
	char *buf = NULL;
	unsigned int bad = 0, in_leaf = 0;
	blk64_t pblk = 0;
	int fd;

	fs = open_image_rw(img, &fd);
	if (!fs)
		return;
	TAP_EQ_INT(ext4_mkdir(fs, EXT2_ROOT_INO, "frag", 0755, &cred, &d), 0);
	for (unsigned int i = 0; i < 24; i++) {
		long_name(names[i], 'p', i, 0);
		if (ext4_mknod(fs, d, names[i], S_IFREG | 0644, 0, &cred, &ino) != 0)
			bad++;
	}
	TAP_EQ_INT(bad, 0);
	TAP_EQ_INT(ext4_inode_read(fs, d, &dinode), 0);
	TAP_EQ_INT(!!(dinode.i_flags & EXT2_INDEX_FL), 1);
	/* A leaf of two or more of the names keeps two of them; the others in it go. */
	for (unsigned int i = 0; i < 24 && leaf == UINT64_MAX; i++) {
		uint64_t li;
		unsigned int same = 0;

		if (ext4_dir_locate(fs, d, names[i], &found, &li) != 0)
			continue;
		for (unsigned int j = 0; j < 24; j++)
			if (ext4_dir_locate(fs, d, names[j], &found, &lblk) == 0 && lblk == li)
				same++;
		if (same >= 2)
			leaf = li;
	}
	for (unsigned int i = 0; i < 24; i++) {
		if (ext4_dir_locate(fs, d, names[i], &found, &lblk) != 0 || lblk != leaf)
			continue;
		if (in_leaf == 0) {
			memcpy(a, names[i], sizeof(a));
			ino_a = found;
		} else if (in_leaf == 1) {
			memcpy(b, names[i], sizeof(b));
			ino_b = found;
		} else if (ext4_unlink(fs, d, names[i]) != 0) {
			bad++;
		}
		in_leaf++;
	}
	TAP_EQ_INT(bad, 0);
	TAP_EQ_INT(in_leaf >= 2, 1);
	if (in_leaf < 2)
		goto out;
	if (name_hash(fs, a) > name_hash(fs, b)) {
		char t[256];
		ext2_ino_t ti = ino_a;

		memcpy(t, a, sizeof(t));
		memcpy(a, b, sizeof(a));
		memcpy(b, t, sizeof(b));
		ino_a = ino_b;
		ino_b = ti;
	}
	/* A new name of 251 bytes (a 260-byte entry) whose home is that leaf. */
	for (unsigned int i = 0; i < 100000; i++) {
		long_name(n, 'n', i, 1);
		if (ext4_dir_home_leaf(fs, d, n, &lblk) == 0 && lblk == leaf)
			break;
		n[0] = '\0';
	}
	TAP_EQ_INT(n[0] != '\0', 1);
	if (n[0] == '\0')
		goto out;

	TAP_EQ_INT(ext4_inode_read(fs, d, &dinode), 0);
	size_before = ext4_inode_size(fs, &dinode);
	TAP_EQ_INT(ext4_dir_read_leaf(fs, d, &dinode, leaf, &pblk, &buf), 0);
	if (!buf)
		goto out;
	{
		struct ext2_dir_entry *de;
		const struct {
			const char *name;
			ext2_ino_t ino;
			unsigned int off, rec_len;
		} lay[] = { { NULL, 0, 0, 248 }, { a, ino_a, 248, 504 }, { b, ino_b, 752, 260 } };

		memset(buf, 0, 1012);
		for (unsigned int i = 0; i < 3; i++) {
			de = (struct ext2_dir_entry *)(buf + lay[i].off);
			de->inode = lay[i].ino;
			(void)ext2fs_set_rec_len(fs->fs, lay[i].rec_len, de);
			if (lay[i].name) {
				ext2fs_dirent_set_name_len(de, (int)strlen(lay[i].name));
				ext2fs_dirent_set_file_type(de, EXT2_FT_REG_FILE);
				memcpy(de->name, lay[i].name, strlen(lay[i].name));
			}
		}
		TAP_EQ_INT(ext2fs_write_dir_block4(fs->fs, pblk, buf, 0, d), 0);
		ext4_dir_changed(fs, d);
	}
	TAP_EQ_INT(ext4_mknod(fs, d, n, S_IFREG | 0644, 0, &cred, &ino_n), 0);
	TAP_EQ_INT(ext4_dir_lookup(fs, d, a, &found), 0);
	TAP_EQ_INT(found, ino_a);
	TAP_EQ_INT(ext4_dir_lookup(fs, d, b, &found), 0);
	TAP_EQ_INT(found, ino_b);
	TAP_EQ_INT(ext4_dir_locate(fs, d, n, &found, &lblk), 0);
	TAP_EQ_INT(found, ino_n);
	TAP_EQ_INT(lblk, leaf);
	TAP_EQ_INT(ext4_inode_read(fs, d, &dinode), 0);
	TAP_EQ_INT(ext4_inode_size(fs, &dinode), size_before);
	/* And the rename that turned the copy into a second name: A leaves, A-r arrives. */
	memcpy(n, a, strlen(a));
	memcpy(n + strlen(a), "r", 2);
	TAP_EQ_INT(ext4_rename(fs, d, a, d, n, 0), 0);
	TAP_EQ_INT(ext4_dir_lookup(fs, d, a, &found), -ENOENT);
out:
	free(buf);
	TAP_EQ_INT(svc_fs_close(fs), 0);
	close(fd);
}

static int run(const char *fmt, const char *arg)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), fmt, arg, arg);
	return system(cmd);
}

struct count_ctx {
	unsigned int n;
	bool saw_dot, saw_dotdot;
	uint64_t last_off;
};

static int count_fill(void *userdata, const char *name, size_t name_len, ext2_ino_t ino,
		      unsigned int d_type, uint64_t next_off)
{
	struct count_ctx *c = userdata;

	/* Refuse the 7th entry, as a full reply buffer would, to check resuming. */
	if (c->n == 6)
		return 1;
	if (name_len == 1 && name[0] == '.')
		c->saw_dot = true;
	if (name_len == 2 && memcmp(name, "..", 2) == 0)
		c->saw_dotdot = true;
	c->n++;
	c->last_off = next_off;
	return 0;
}

/* Names whose htree hashes collide (the same hash for this image's seed), found by brute
 * force: a leaf split among them sets the collision bit in the index, and a name then lives
 * in the leaf the hash picks or in the next ones. */
struct coll_ent {
	uint32_t hash;
	uint32_t i;
};

static int coll_cmp(const void *a, const void *b)
{
	const struct coll_ent *x = a, *y = b;

	return x->hash < y->hash ? -1 : x->hash > y->hash;
}

static void coll_name(char *buf, size_t n, uint32_t i)
{
	snprintf(buf, n, "c%07x%.*s", i, 32, "--------------------------------");
}

#define COLL_NAMES 1200
#define COLL_TRY (1u << 21)

static unsigned int colliding_names(struct svc_fs *fs, char (*names)[48])
{
	int version = fs->fs->super->s_def_hash_version;
	struct coll_ent *v = calloc(COLL_TRY, sizeof(*v));
	unsigned int n = 0;
	char name[48];

	if (!v)
		return 0;
	if (fs->unsigned_hash)
		version += EXT2_HASH_LEGACY_UNSIGNED;
	for (uint32_t i = 0; i < COLL_TRY; i++) {
		ext2_dirhash_t h = 0, minor;

		coll_name(name, sizeof(name), i);
		(void)ext2fs_dirhash2(version, name, (int)strlen(name), NULL, 0, fs->hash_seed, &h,
				      &minor);
		v[i] = (struct coll_ent){ .hash = h & ~1u, .i = i };
	}
	qsort(v, COLL_TRY, sizeof(*v), coll_cmp);
	for (uint32_t i = 0, j; i < COLL_TRY && n < COLL_NAMES; i = j) {
		for (j = i + 1; j < COLL_TRY && v[j].hash == v[i].hash; j++)
			;
		for (uint32_t k = i; j - i > 1 && k < j && n < COLL_NAMES; k++)
			coll_name(names[n++], sizeof(names[0]), v[k].i);
	}
	free(v);
	return n;
}

/*
 * A seeded random run of creates (each after a lookup that finds the name absent, as the
 * kernel sends one), links, unlinks and renames (plain, over a target, NOREPLACE, EXCHANGE)
 * over two htree directories of colliding names, checked against a model after every
 * operation and by looking up every name: the hinted inserts and removals, the absent-name
 * memory and the cached leaves must agree with what the directories hold, and e2fsck with
 * the index (run by the caller).
 */
static void dx_collisions(const char *img)
{
	struct ext4_cred cred = { .uid = 0, .gid = 0, .umask = 022 };
	static char names[COLL_NAMES][48];
	static ext2_ino_t model[2][COLL_NAMES];
	struct svc_fs *fs = NULL;
	ext2_ino_t dirs[2], found, ino;
	unsigned int n, wrong = 0, lost = 0, seed = 20261121;
	int fd, r;

	fs = open_image_rw(img, &fd);
	if (!fs)
		return;
	n = colliding_names(fs, names);
	TAP_EQ_INT(n, COLL_NAMES);
	TAP_EQ_INT(ext4_mkdir(fs, EXT2_ROOT_INO, "coll0", 0755, &cred, &dirs[0]), 0);
	TAP_EQ_INT(ext4_mkdir(fs, EXT2_ROOT_INO, "coll1", 0755, &cred, &dirs[1]), 0);
	memset(model, 0, sizeof(model));

	for (unsigned int op = 0; op < 12000; op++) {
		unsigned int d = (unsigned int)rand_r(&seed) % 2;
		unsigned int a = (unsigned int)rand_r(&seed) % n;
		unsigned int d2 = (unsigned int)rand_r(&seed) % 2;
		unsigned int b = (unsigned int)rand_r(&seed) % n;
		unsigned int kind = (unsigned int)rand_r(&seed) % 10, flags = 0;
		int want;

		/* The kernel looks a name up before it adds it. */
		r = ext4_dir_lookup(fs, dirs[d], names[a], &found);
		if (r != (model[d][a] ? 0 : -ENOENT) || (r == 0 && found != model[d][a]))
			wrong++;
		if (kind < 4 || (kind < 6 && op < 3000)) {
			want = model[d][a] ? -EEXIST : 0;
			r = ext4_mknod(fs, dirs[d], names[a], S_IFREG | 0644, 0, &cred, &ino);
			if (r == 0)
				model[d][a] = ino;
		} else if (kind < 6) {
			want = model[d][a] ? 0 : -ENOENT;
			r = ext4_unlink(fs, dirs[d], names[a]);
			if (r == 0)
				model[d][a] = 0;
		} else if (kind < 7) {
			/* A second name for an existing inode. */
			(void)ext4_dir_lookup(fs, dirs[d2], names[b], &found);
			want = !model[d2][b] ? -ENOENT : model[d][a] ? -EEXIST : 0;
			r = model[d2][b] ? ext4_link(fs, model[d2][b], dirs[d], names[a]) : -ENOENT;
			if (r == 0)
				model[d][a] = model[d2][b];
		} else {
			flags = kind == 7 ? RENAME_NOREPLACE : kind == 8 ? RENAME_EXCHANGE : 0;
			(void)ext4_dir_lookup(fs, dirs[d2], names[b], &found);
			if (!model[d][a])
				want = -ENOENT;
			else if (flags == RENAME_EXCHANGE && !model[d2][b])
				want = -ENOENT;
			else if (flags == RENAME_NOREPLACE && model[d2][b])
				want = -EEXIST;
			else
				want = 0;
			r = ext4_rename(fs, dirs[d], names[a], dirs[d2], names[b], flags);
			if (r == 0 && flags == RENAME_EXCHANGE) {
				ino = model[d2][b];
				model[d2][b] = model[d][a];
				model[d][a] = ino;
			} else if (r == 0 && model[d][a] != model[d2][b]) {
				/* Two names of one inode: POSIX says nothing happens. */
				model[d2][b] = model[d][a];
				model[d][a] = 0;
			}
		}
		if (r != want)
			wrong++;
		if (op % 2000 == 1999 || op == 11999) {
			for (unsigned int k = 0; k < 2 * n; k++) {
				r = ext4_dir_lookup(fs, dirs[k / n], names[k % n], &found);
				if (r != (model[k / n][k % n] ? 0 : -ENOENT) ||
				    (r == 0 && found != model[k / n][k % n]))
					lost++;
			}
		}
	}
	TAP_EQ_INT(wrong, 0);
	TAP_EQ_INT(lost, 0);
	TAP_EQ_INT(svc_fs_close(fs), 0);
	close(fd);
}

/*
 * Without the filetype feature the byte after a name's length must stay 0: e2fsck clears a
 * type found there. A rename over a target (in an htree leaf, and in a linear directory) and
 * a directory moved to another parent (its '..') change entries in place.
 */
static void filetype_off(const char *img)
{
	struct ext4_cred cred = { .uid = 0, .gid = 0, .umask = 022 };
	struct svc_fs *fs = NULL;
	ext2_ino_t a, b, ino, found;
	struct ext2_inode_large dinode;
	unsigned int bad = 0;
	char name[64];
	int fd;

	fs = open_image_rw(img, &fd);
	if (!fs)
		return;
	TAP_EQ_INT(ext2fs_has_feature_filetype(fs->fs->super), 0);
	TAP_EQ_INT(ext4_mkdir(fs, EXT2_ROOT_INO, "a", 0755, &cred, &a), 0);
	TAP_EQ_INT(ext4_mkdir(fs, EXT2_ROOT_INO, "b", 0755, &cred, &b), 0);
	TAP_EQ_INT(ext4_mkdir(fs, a, "sub", 0755, &cred, &ino), 0);
	TAP_EQ_INT(ext4_rename(fs, a, "sub", b, "sub", 0), 0);
	/* 100 names of 40 bytes outgrow a 1 KiB block: the directory gets an index. */
	for (unsigned int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "file%036u", i);
		if (ext4_mknod(fs, a, name, S_IFREG | 0644, 0, &cred, &ino) != 0)
			bad++;
	}
	TAP_EQ_INT(bad, 0);
	TAP_EQ_INT(ext4_inode_read(fs, a, &dinode), 0);
	TAP_EQ_INT(!!(dinode.i_flags & EXT2_INDEX_FL), 1);
	TAP_EQ_INT(ext4_rename(fs, a, "file000000000000000000000000000000000007", a,
			       "file000000000000000000000000000000000042", 0),
		   0);
	TAP_EQ_INT(ext4_mknod(fs, b, "x", S_IFREG | 0644, 0, &cred, &ino), 0);
	TAP_EQ_INT(ext4_mknod(fs, b, "y", S_IFREG | 0644, 0, &cred, &found), 0);
	TAP_EQ_INT(ext4_rename(fs, b, "x", b, "y", 0), 0);
	TAP_EQ_INT(ext4_dir_lookup(fs, b, "y", &found), 0);
	TAP_EQ_INT(found, ino);
	TAP_EQ_INT(svc_fs_close(fs), 0);
	close(fd);
}

int main(void)
{
	char path[1024], img[512], why[512], buf[64];
	struct ext2_inode_large inode;
	struct svc_fs *fs;
	struct stat st;
	ext2_ino_t ino, sub;
	char *target = NULL;
	size_t len;
	int fd, r;

	tap_plan_start();
	if (system("command -v mkfs.ext4 >/dev/null && command -v debugfs >/dev/null") != 0)
		tap_skip_all("mkfs.ext4/debugfs not installed");
	if (!mkdtemp(dir))
		tap_skip_all("mkdtemp failed");

	snprintf(path, sizeof(path), "%s/tree", dir);
	snprintf(img, sizeof(img), "%s/img", dir);
	TAP_EQ_INT(run("mkdir -p %s/sub && printf hello > %s/hello", path), 0);
	TAP_EQ_INT(run("ln -s hello %s/fast && ln -s $(printf 'x%%.0s' $(seq 200)) %s/slow", path), 0);
	TAP_EQ_INT(run("cd %s/sub && for i in $(seq 300); do : > name$i; done", path), 0);
	{
		char cmd[2600];

		/* e2fsck -D gives the 300-entry directory an htree index. */
		snprintf(cmd, sizeof(cmd),
			 "mkfs.ext4 -q -F -b 1024 -d %s %s 8M >/dev/null && { e2fsck -fyD %s >/dev/null 2>&1; [ $? -le 1 ]; }",
			 path, img, img);
		TAP_EQ_INT(system(cmd), 0);
	}

	fs = open_image(img, false, &fd, &r, why, sizeof(why));
	TAP_EQ_INT(r, 0);
	if (!fs)
		return tap_plan_end();

	TAP_EQ_INT(ext4_dir_lookup(fs, EXT2_ROOT_INO, "hello", &ino), 0);
	TAP_EQ_INT(ext4_inode_read(fs, ino, &inode), 0);
	ext4_inode_stat(fs, ino, &inode, &st);
	TAP_EQ_INT(st.st_size, 5);
	TAP_EQ_INT(st.st_ino, ino);
	TAP_EQ_INT(S_ISREG(st.st_mode), 1);

	{
		struct ext4_file *f = NULL;

		TAP_EQ_INT(ext4_file_open(fs, ino, &f), 0);
		TAP_EQ_INT(ext4_file_read(fs, f, 1, sizeof(buf), buf, &len), 0);
		TAP_EQ_INT(len, 4); /* short at EOF */
		TAP_EQ_INT(memcmp(buf, "ello", 4), 0);
		ext4_file_close(fs, f);
	}

	TAP_EQ_INT(ext4_dir_lookup(fs, EXT2_ROOT_INO, "fast", &ino), 0);
	TAP_EQ_INT(ext4_readlink(fs, ino, &target), 0);
	TAP_EQ_STR(target, "hello");
	free(target);
	TAP_EQ_INT(ext4_dir_lookup(fs, EXT2_ROOT_INO, "slow", &ino), 0);
	TAP_EQ_INT(ext4_readlink(fs, ino, &target), 0);
	TAP_EQ_INT(strlen(target), 200);
	free(target);

	TAP_EQ_INT(ext4_dir_lookup(fs, EXT2_ROOT_INO, "sub", &sub), 0);
	TAP_EQ_INT(ext4_dir_lookup(fs, sub, "name1", &ino), 0);
	TAP_EQ_INT(ext4_dir_lookup(fs, sub, "name300", &ino), 0);
	TAP_EQ_INT(ext4_dir_lookup(fs, sub, "name301", &ino), -ENOENT);
	TAP_EQ_INT(ext4_dir_lookup(fs, sub, "..", &ino), 0);
	TAP_EQ_INT(ino, EXT2_ROOT_INO);
	TAP_EQ_INT(ext4_dir_lookup(fs, ino, "hello/x", &ino), -ENOENT);
	memset(path, 'a', 256);
	path[256] = '\0';
	TAP_EQ_INT(ext4_dir_lookup(fs, sub, path, &ino), -ENAMETOOLONG);
	TAP_EQ_INT(ext4_dir_lookup(fs, EXT2_ROOT_INO, "hello", &ino), 0);
	TAP_EQ_INT(ext4_dir_lookup(fs, ino, "x", &ino), -ENOTDIR);

	{
		struct count_ctx c = { 0 };
		uint64_t off;

		TAP_EQ_INT(ext4_dir_iterate(fs, sub, 0, count_fill, &c), 0);
		TAP_EQ_INT(c.n, 6);
		TAP_EQ_INT(c.saw_dot && c.saw_dotdot, 1);
		/* Resume where the sixth entry said the next one starts. */
		off = c.last_off;
		c.n = 100;
		TAP_EQ_INT(ext4_dir_iterate(fs, sub, off, count_fill, &c), 0);
		/* 300 names plus "." and "..", minus the 6 already listed. */
		TAP_EQ_INT(c.n - 100, 296);
	}

	TAP_EQ_INT(svc_fs_close(fs), 0);
	close(fd);

	dir_block_tags(img);
	TAP_EQ_INT(run("e2fsck -fn %s >/dev/null 2>&1 #%s", img), 0);
	dx_inserts(img);
	TAP_EQ_INT(run("e2fsck -fn %s >/dev/null 2>&1 #%s", img), 0);
	/* A fixed seed: the same colliding names every run. */
	snprintf(path, sizeof(path), "%s.coll", img);
	TAP_EQ_INT(run("mkfs.ext4 -q -F -b 1024 -N 4096 "
		       "-E hash_seed=0123abcd-1111-2222-3333-444455556666 %s 16M >/dev/null #%s",
		       path),
		   0);
	dx_collisions(path);
	TAP_EQ_INT(run("e2fsck -fn %s >/dev/null 2>&1 #%s", path), 0);
	/* The attack took place: a leaf of coll0 starts inside a run of one hash. */
	TAP_EQ_INT(run("debugfs -R 'htree /coll0' %s 2>/dev/null | "
		       "grep -Eq 'Hash 0x[0-9a-f]*[13579bdf],' #%s",
		       path),
		   0);
	snprintf(path, sizeof(path), "%s.frag", img);
	TAP_EQ_INT(run("mkfs.ext4 -q -F -b 1024 -O metadata_csum "
		       "-E hash_seed=0123abcd-1111-2222-3333-444455556666 %s 8M >/dev/null #%s",
		       path),
		   0);
	dx_fragmented_leaf(path);
	TAP_EQ_INT(run("e2fsck -fn %s >/dev/null 2>&1 #%s", path), 0);
	snprintf(path, sizeof(path), "%s.nofiletype", img);
	TAP_EQ_INT(run("mkfs.ext4 -q -F -b 1024 -O ^filetype %s 8M >/dev/null #%s", path), 0);
	filetype_off(path);
	TAP_EQ_INT(run("e2fsck -fn %s >/dev/null 2>&1 #%s", path), 0);

	/* Refusals, with the sentence for the user. */
	TAP_EQ_INT(run("head -c 1048576 /dev/zero > %s.zero", img), 0);
	snprintf(path, sizeof(path), "%s.zero", img);
	fs = open_image(path, false, &fd, &r, why, sizeof(why));
	TAP_EQ_INT(r, -EINVAL);
	TAP_EQ_INT(strstr(why, "does not hold an ext2/3/4 filesystem") != NULL, 1);
	close(fd);

	/* needs_recovery with an empty journal (s_start 0): nothing to replay, it opens. The
	 * replay itself is tested against the kernel (tests/integration/test-journal-*.sh). */
	TAP_EQ_INT(run("debugfs -w -R 'feature needs_recovery' %s >/dev/null 2>&1", img), 0);
	fs = open_image(img, false, &fd, &r, why, sizeof(why));
	TAP_EQ_INT(r, 0);
	TAP_EQ_INT(svc_fs_close(fs), 0);
	close(fd);

	/* A journal to recover with fast commits is refused: only the kernel replays those. */
	TAP_EQ_INT(run("debugfs -w -R 'feature fast_commit' %s >/dev/null 2>&1", img), 0);
	fs = open_image(img, false, &fd, &r, why, sizeof(why));
	TAP_EQ_INT(r, -EOPNOTSUPP);
	TAP_EQ_INT(strstr(why, "e2fsck -p") != NULL, 1);
	close(fd);

	snprintf(path, sizeof(path), "rm -rf %s", dir);
	(void)!system(path);
	return tap_plan_end();
}
