/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Corruption met at run time (docs/robustness.md): the request fails with EUCLEAN, the
 * filesystem is marked as having errors (in memory only on a read-only mount, on disk on a
 * read-write one), the superblock's errors= policy stops changes for remount-ro and panic and
 * not for continue, and the server goes on answering everything else. And the other kind of
 * error, a full filesystem: whatever an operation allocated before it failed is given back.
 * Skips without e2fsprogs.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../service/ext4.h"
#include "tap.h"

static char dir[] = "/tmp/test-ext4-errors.XXXXXX";

static int sh(const char *fmt, const char *a, const char *b)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), fmt, a, b);
	return system(cmd);
}

static int fill_nothing(void *userdata, const char *name, size_t name_len, ext2_ino_t ino,
			unsigned int d_type, uint64_t next_off)
{
	return 0;
}

static int file_crc(const char *path, unsigned long *ret)
{
	unsigned char buf[65536];
	unsigned long h = 5381;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			h = h * 33 + buf[i];
	close(fd);
	*ret = h;
	return 0;
}

/* Opens img, finds the damaged directory 'bad' and the healthy 'good', lists both. */
static void one_round(const char *img, bool rw, const char *policy, bool expect_ro)
{
	struct svc_fs_options o = { .read_only = !rw, .device_name = img };
	struct svc_fs *fs = NULL;
	ext2_ino_t bad = 0, good = 0;
	unsigned long before = 0, after = 0;
	char why[512], cmd[64];
	int fd, r;

	snprintf(cmd, sizeof(cmd), "ssv errors %s", policy);
	TAP_EQ_INT(sh("debugfs -w -R '%s' %s >/dev/null 2>&1", cmd, img), 0);
	TAP_EQ_INT(sh("dumpe2fs -h %s 2>/dev/null | grep -q '^Errors behavior:.*%s'", img,
		      policy[0] == '1' ? "Continue" : policy[0] == '2' ? "Remount read-only" : "Panic"),
		   0);
	TAP_EQ_INT(file_crc(img, &before), 0);
	fd = open(img, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	r = svc_fs_open(dup(fd), &o, &fs, why, sizeof(why));
	TAP_EQ_INT(r, 0);
	if (r < 0) {
		tap_diag(why);
		close(fd);
		return;
	}
	TAP_EQ_INT(ext4_dir_lookup(fs, EXT2_ROOT_INO, "bad", &bad), 0);
	TAP_EQ_INT(ext4_dir_lookup(fs, EXT2_ROOT_INO, "good", &good), 0);
	if (rw)
		TAP_EQ_INT(ext4_check_rw(fs), 0);
	TAP_EQ_INT((fs->fs->super->s_state & EXT2_ERROR_FS) != 0, 0);

	/* The damaged directory: an error for this request only. */
	TAP_EQ_INT(ext4_dir_iterate(fs, bad, 0, fill_nothing, NULL), -EUCLEAN);
	TAP_EQ_INT((fs->fs->super->s_state & EXT2_ERROR_FS) != 0, 1);
	TAP_EQ_INT(ext4_dir_iterate(fs, good, 0, fill_nothing, NULL), 0);
	if (rw)
		TAP_EQ_INT(ext4_check_rw(fs), expect_ro ? -EROFS : 0);
	TAP_EQ_INT(svc_fs_close(fs), 0);

	TAP_EQ_INT(file_crc(img, &after), 0);
	if (!rw) {
		/* Read-only: the error is in memory only; not a byte changes. */
		TAP_EQ_INT(after == before, 1);
	} else {
		/* Read-write: e2fsck will know to check it. */
		TAP_EQ_INT(sh("dumpe2fs -h %s 2>/dev/null | grep -q '^Filesystem state:.*with errors'%s",
			      img, ""),
			   0);
		TAP_EQ_INT(sh("debugfs -w -R 'ssv state 1' %s >/dev/null 2>&1%s", img, ""), 0);
	}
	close(fd);
}

/* Prints what `cmd` writes to stdout into ret (one line, newline dropped). */
static int sh_out(const char *cmd, char *ret, size_t size)
{
	FILE *p = popen(cmd, "r");
	int ok;

	if (!p)
		return -1;
	ok = fgets(ret, (int)size, p) != NULL;
	pclose(p);
	ret[strcspn(ret, "\n")] = 0;
	return ok ? 0 : -1;
}

/* The inode number of path in img, as debugfs prints it, into ret. */
static int inode_of(const char *img, const char *path, char *ret, size_t size)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		 "debugfs -R 'stat %s' %s 2>/dev/null | sed -n 's/^Inode: \\([0-9]*\\).*/\\1/p'",
		 path, img);
	return sh_out(cmd, ret, size);
}

/* The orphan list at a read-write mount: a live orphan is deleted and the image is clean
 * after; a free inode on the list (already deleted before a crash) refuses the mount and
 * frees nothing twice. */
static void orphans(const char *tree)
{
	struct svc_fs_options o = {.read_only = false};
	char img[256], cmd[2048], ino[32], free_before[32], free_after[32], why[512];
	struct svc_fs *fs = NULL;
	int fd, r;

	snprintf(img, sizeof(img), "%s/orphan.img", dir);
	o.device_name = img;
	snprintf(cmd, sizeof(cmd),
		 "head -c 20000 /dev/urandom > %s/data && mkfs.ext4 -q -F -b 1024 -d %s "
		 "-O ^metadata_csum %s 4M >/dev/null",
		 tree, tree, img);
	TAP_EQ_INT(system(cmd), 0);
	/* No name, no links, on the list: what an unlinked open file leaves after a crash. */
	TAP_EQ_INT(inode_of(img, "/data", ino, sizeof(ino)), 0);
	snprintf(cmd, sizeof(cmd),
		 "debugfs -w -R 'sif /data links_count 0' %s >/dev/null 2>&1 && "
		 "debugfs -w -R 'unlink /data' %s >/dev/null 2>&1 && "
		 "debugfs -w -R 'ssv last_orphan %s' %s >/dev/null 2>&1",
		 img, img, ino, img);
	TAP_EQ_INT(system(cmd), 0);
	fd = open(img, O_RDWR | O_CLOEXEC);
	r = svc_fs_open(dup(fd), &o, &fs, why, sizeof(why));
	TAP_EQ_INT(r, 0);
	if (r == 0) {
		TAP_EQ_INT(fs->fs->super->s_last_orphan, 0);
		TAP_EQ_INT(ext2fs_test_inode_bitmap2(fs->fs->inode_map, (ext2_ino_t)atoi(ino)), 0);
		TAP_EQ_INT(svc_fs_close(fs), 0);
	}
	close(fd);
	TAP_EQ_INT(sh("e2fsck -fn %s >/dev/null 2>&1%s", img, ""), 0);

	/* A file deleted with its block map left in place, still on the list and ending it (as
	 * a delete that reached the disk before the list moved on): its blocks are free and may
	 * be reused, so deleting it again would free someone else's. */
	snprintf(cmd, sizeof(cmd),
		 "head -c 20000 /dev/urandom > %s/data2 && debugfs -w -R 'write %s/data2 data2' %s "
		 ">/dev/null 2>&1",
		 dir, dir, img);
	TAP_EQ_INT(system(cmd), 0);
	TAP_EQ_INT(inode_of(img, "/data2", ino, sizeof(ino)), 0);
	snprintf(cmd, sizeof(cmd),
		 "debugfs -w -R 'kill_file /data2' %s >/dev/null 2>&1 && "
		 "debugfs -w -R 'unlink /data2' %s >/dev/null 2>&1 && "
		 "debugfs -w -R 'sif <%s> links_count 0' %s >/dev/null 2>&1 && "
		 "debugfs -w -R 'sif <%s> dtime 0' %s >/dev/null 2>&1 && "
		 "debugfs -w -R 'ssv last_orphan %s' %s >/dev/null 2>&1",
		 img, img, ino, img, ino, img, ino, img);
	TAP_EQ_INT(system(cmd), 0);
	snprintf(cmd, sizeof(cmd),
		 "dumpe2fs -h %s 2>/dev/null | sed -n 's/^Free \\(blocks\\|inodes\\): *//p' | tr "
		 "'\\n' ' '",
		 img);
	TAP_EQ_INT(sh_out(cmd, free_before, sizeof(free_before)), 0);
	fd = open(img, O_RDWR | O_CLOEXEC);
	fs = NULL;
	r = svc_fs_open(dup(fd), &o, &fs, why, sizeof(why));
	TAP_EQ_INT(r, -EUCLEAN);
	if (r == 0)
		svc_fs_close(fs);
	else
		TAP_OK(strstr(why, "e2fsck") != NULL);
	close(fd);
	TAP_EQ_INT(sh_out(cmd, free_after, sizeof(free_after)), 0);
	TAP_OK(strcmp(free_before, free_after) == 0);
}

/* What a failed operation must leave as it found: the free counts (the superblock's and,
 * summed, the group descriptors'), and no error mark. */
struct free_counts {
	blk64_t blocks, gd_blocks;
	ext2_ino_t inodes, gd_inodes;
};

static struct free_counts free_counts(struct svc_fs *fs)
{
	struct free_counts c = { .blocks = ext2fs_free_blocks_count(fs->fs->super),
				 .inodes = fs->fs->super->s_free_inodes_count };

	for (dgrp_t g = 0; g < fs->fs->group_desc_count; g++) {
		c.gd_blocks += ext2fs_bg_free_blocks_count(fs->fs, g);
		c.gd_inodes += ext2fs_bg_free_inodes_count(fs->fs, g);
	}
	return c;
}

static void same_counts(struct svc_fs *fs, const struct free_counts *before, const char *what)
{
	struct free_counts now = free_counts(fs);

	tap_diag(what);
	TAP_EQ_INT(now.blocks, before->blocks);
	TAP_EQ_INT(now.gd_blocks, before->blocks);
	TAP_EQ_INT(now.inodes, before->inodes);
	TAP_EQ_INT(now.gd_inodes, before->inodes);
	TAP_EQ_INT(fs->fs->super->s_state & EXT2_ERROR_FS, 0);
}

/* A new 8 MiB image dir/file (1 KiB blocks, no reserved blocks, mkfs_opts), opened read-write;
 * NULL, after a failed check, if it does not open. */
static struct svc_fs *new_image(const char *mkfs_opts, const char *file, char *ret_img, size_t size,
				int *ret_fd)
{
	struct svc_fs_options o = { .read_only = false, .device_name = ret_img };
	struct svc_fs *fs = NULL;
	char cmd[512], why[512];
	int r;

	snprintf(ret_img, size, "%s/%s", dir, file);
	snprintf(cmd, sizeof(cmd), "mkfs.ext4 -q -F -b 1024 -m 0 %s %s 8M >/dev/null", mkfs_opts,
		 ret_img);
	TAP_EQ_INT(system(cmd), 0);
	*ret_fd = open(ret_img, O_RDWR | O_CLOEXEC);
	r = svc_fs_open(dup(*ret_fd), &o, &fs, why, sizeof(why));
	TAP_EQ_INT(r, 0);
	if (r < 0) {
		tap_diag(why);
		close(*ret_fd);
		return NULL;
	}
	return fs;
}

/* Closes fs and its fd; e2fsck -fn must find img clean (what it says goes to the TAP log). */
static void close_and_check(struct svc_fs *fs, int fd, const char *img)
{
	int r;

	TAP_EQ_INT(svc_fs_close(fs), 0);
	close(fd);
	r = sh("e2fsck -fn %s >%s.fsck 2>&1", img, img);
	TAP_EQ_INT(r, 0);
	if (r != 0)
		(void)!sh("grep -v '^Pass' %s.fsck | head -20 | sed 's/^/# /'%s", img, "");
}

/*
 * Makes block lblk of the file ino the block pblk, as an allocation on an almost full
 * filesystem may (ext4_file_write() and ext4_fallocate() keep a margin of free blocks for the
 * extent tree, and choose the block themselves).
 */
static void map_block(struct svc_fs *fs, ext2_ino_t ino, uint64_t lblk, blk64_t pblk)
{
	struct ext2_inode_large inode;

	TAP_EQ_INT(ext2fs_test_block_bitmap2(fs->fs->block_map, pblk), 0);
	TAP_EQ_INT(ext4_inode_read(fs, ino, &inode), 0);
	TAP_EQ_INT(ext2fs_bmap2(fs->fs, ino, (struct ext2_inode *)&inode, NULL, BMAP_SET, lblk,
				NULL, &pblk),
		   0);
	ext2fs_block_alloc_stats2(fs->fs, pblk, +1);
	TAP_EQ_INT(ext2fs_iblk_add_blocks(fs->fs, (struct ext2_inode *)&inode, 1), 0);
	inode.i_size = (lblk + 1) * fs->blocksize;
	TAP_EQ_INT(ext4_inode_write(fs, ino, &inode), 0);
}

static void map_last_block(struct svc_fs *fs, ext2_ino_t ino)
{
	map_block(fs, ino, 0, ext2fs_blocks_count(fs->fs->super) - 1);
}

/* Every free block into a new file 'fill' in the root, then names into a new directory 'd'
 * (200-character names from 'first' on) until it cannot grow. ret_name: the name that did not
 * fit. */
static void fill_up(struct svc_fs *fs, unsigned int first, ext2_ino_t *ret_fill, ext2_ino_t *ret_d,
		    char *ret_name, size_t size)
{
	struct ext4_cred cred = { .uid = 0, .gid = 0, .umask = 022 };
	uint64_t off = 0, chunk = 1024;
	ext2_ino_t fill = 0, d = 0, ino;
	int r;

	TAP_EQ_INT(ext4_mknod(fs, EXT2_ROOT_INO, "fill", S_IFREG | 0644, 0, &cred, &fill), 0);
	TAP_EQ_INT(ext4_mkdir(fs, EXT2_ROOT_INO, "d", 0755, &cred, &d), 0);
	*ret_fill = fill;
	*ret_d = d;
	while (chunk > 0) {
		r = ext4_fallocate(fs, fill, 0, off, chunk * fs->blocksize, true);
		if (r == 0)
			off += chunk * fs->blocksize;
		else if (r == -ENOSPC)
			chunk /= 2;
		else
			break;
	}
	TAP_EQ_INT(r, -ENOSPC);
	for (unsigned int i = first; i < first + 10000; i++) {
		snprintf(ret_name, size, "%0200u", i);
		r = ext4_mknod(fs, d, ret_name, S_IFREG | 0644, 0, &cred, &ino);
		if (r < 0)
			break;
	}
	TAP_EQ_INT(r, -ENOSPC);
	TAP_EQ_INT(ext2fs_free_blocks_count(fs->fs->super), 0);
}

/*
 * A full filesystem. The last block of the filesystem is the one libext2fs 1.47.0 cannot free
 * (ext4_unmap_last_block()): a file holds it while everything else fills up, then gives it
 * back, so that it is the one free block the next allocation gets: a new directory's first
 * block, a symlink's target block. Each operation that then fails for want of a second block
 * (for its name in a full directory) must give back its inode and that block. With no block
 * free at all, nothing may be taken either. e2fsck -fn says whether anything else was left.
 */
static void full_fs(const char *mkfs_opts)
{
	struct ext4_cred cred = { .uid = 0, .gid = 0, .umask = 022 };
	char img[256], name[256], oname[256], target[200], value[900];
	struct ext2_inode_large inode;
	struct free_counts before;
	struct svc_fs *fs = NULL;
	ext2_ino_t d, x, y, fill, one, ino, found;
	blk64_t last;
	unsigned int bs, i;
	size_t vsize;
	int fd;

	tap_diag(mkfs_opts);
	fs = new_image(mkfs_opts, "full.img", img, sizeof(img), &fd);
	if (!fs)
		return;
	bs = fs->blocksize;
	last = ext2fs_blocks_count(fs->fs->super) - 1;
	TAP_EQ_INT(ext4_mknod(fs, EXT2_ROOT_INO, "x", S_IFREG | 0644, 0, &cred, &x), 0);
	TAP_EQ_INT(ext4_mknod(fs, EXT2_ROOT_INO, "y", S_IFREG | 0644, 0, &cred, &y), 0);
	/* A one-block directory that four 200-character names fill: the fifth turns it into
	 * an htree, which takes two more blocks. */
	TAP_EQ_INT(ext4_mkdir(fs, EXT2_ROOT_INO, "one", 0755, &cred, &one), 0);
	for (i = 50000; i < 50004; i++) {
		snprintf(oname, sizeof(oname), "%0200u", i);
		TAP_EQ_INT(ext4_mknod(fs, one, oname, S_IFREG | 0644, 0, &cred, &ino), 0);
	}
	TAP_EQ_INT(ext4_inode_read(fs, one, &inode), 0);
	TAP_EQ_INT(inode.i_size, bs);

	/* The last block into 'y', all others into 'fill' and 'd'. */
	map_last_block(fs, y);
	fill_up(fs, 0, &fill, &d, name, sizeof(name));
	TAP_EQ_INT(ext4_inode_read(fs, y, &inode), 0);
	TAP_EQ_INT(ext4_truncate(fs, y, &inode, 0), 0);
	TAP_EQ_INT(ext2fs_test_block_bitmap2(fs->fs->block_map, last), 0);
	before = free_counts(fs);
	TAP_EQ_INT(before.blocks, 1);
	TAP_EQ_INT(fs->fs->super->s_state & EXT2_ERROR_FS, 0);

	/* The new inode got the last block, its name then found no room: the name that did not
	 * fit above, as 'd' is an htree by now and other names may hash to a leaf with room. */
	TAP_EQ_INT(ext4_mkdir(fs, d, name, 0755, &cred, &ino), -ENOSPC);
	same_counts(fs, &before, "mkdir into a full directory");
	memset(target, 't', sizeof(target) - 1);
	target[sizeof(target) - 1] = 0;
	TAP_EQ_INT(ext4_symlink(fs, d, name, target, &cred, &ino), -ENOSPC);
	same_counts(fs, &before, "symlink (block target) into a full directory");
	snprintf(oname, sizeof(oname), "%0200u", 50004);
	TAP_EQ_INT(ext4_mknod(fs, one, oname, S_IFREG | 0644, 0, &cred, &ino), -ENOSPC);
	same_counts(fs, &before,
		    "create into a full one-block directory (one block for the htree)");
	TAP_EQ_INT(ext4_inode_read(fs, one, &inode), 0);
	TAP_EQ_INT(inode.i_size, bs);
	TAP_EQ_INT(inode.i_flags & EXT2_INDEX_FL, 0);

	/* Whatever holds the last block must be able to give it back. */
	TAP_EQ_INT(ext4_mkdir(fs, EXT2_ROOT_INO, "holder", 0755, &cred, &ino), 0);
	TAP_EQ_INT(ext2fs_free_blocks_count(fs->fs->super), 0);
	/* No block left at all: what needs none but the name's (the inode alone must come
	 * back), and what needs one of its own. */
	before = free_counts(fs);
	TAP_EQ_INT(ext4_symlink(fs, d, name, "short", &cred, &ino), -ENOSPC);
	same_counts(fs, &before, "symlink (inline target) into a full directory");
	TAP_EQ_INT(ext4_mknod(fs, d, name, S_IFREG | 0644, 0, &cred, &ino), -ENOSPC);
	same_counts(fs, &before, "create into a full directory");
	TAP_EQ_INT(ext4_mknod(fs, d, name, S_IFIFO | 0644, 0, &cred, &ino), -ENOSPC);
	same_counts(fs, &before, "mknod into a full directory");
	TAP_EQ_INT(ext4_link(fs, fill, d, name), -ENOSPC);
	same_counts(fs, &before, "link into a full directory");
	TAP_EQ_INT(ext4_inode_read(fs, fill, &inode), 0);
	TAP_EQ_INT(inode.i_links_count, 1);
	TAP_EQ_INT(ext4_rename(fs, EXT2_ROOT_INO, "x", d, name, 0), -ENOSPC);
	same_counts(fs, &before, "rename into a full directory");
	TAP_EQ_INT(ext4_dir_lookup(fs, EXT2_ROOT_INO, "x", &found), 0);
	TAP_EQ_INT(found, x);
	TAP_EQ_INT(ext4_dir_lookup(fs, d, name, &found), -ENOENT);
	memset(value, 'v', sizeof(value));
	TAP_EQ_INT(ext4_setxattr(fs, x, "user.big", value, sizeof(value), 0), -ENOSPC);
	same_counts(fs, &before, "xattr set on a full filesystem");
	TAP_EQ_INT(ext4_getxattr(fs, x, "user.big", NULL, 0, &vsize), -ENODATA);
	TAP_EQ_INT(ext4_symlink(fs, EXT2_ROOT_INO, "s", target, &cred, &ino), -ENOSPC);
	same_counts(fs, &before, "symlink (block target) on a full filesystem");
	TAP_EQ_INT(ext4_mkdir(fs, EXT2_ROOT_INO, "e", 0755, &cred, &ino), -ENOSPC);
	same_counts(fs, &before, "mkdir on a full filesystem");
	TAP_EQ_INT(ext4_rmdir(fs, EXT2_ROOT_INO, "holder"), 0);
	TAP_EQ_INT(ext2fs_free_blocks_count(fs->fs->super), 1);
	TAP_EQ_INT(ext2fs_test_block_bitmap2(fs->fs->block_map, last), 0);

	/* A file's data on the last block (truncated above): punched, deleted. */
	map_last_block(fs, y);
	TAP_EQ_INT(ext4_fallocate(fs, y, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, bs, true),
		   0);
	TAP_EQ_INT(ext2fs_test_block_bitmap2(fs->fs->block_map, last), 0);
	map_last_block(fs, y);
	TAP_EQ_INT(ext4_unlink(fs, EXT2_ROOT_INO, "y"), 0);
	TAP_EQ_INT(ext2fs_test_block_bitmap2(fs->fs->block_map, last), 0);
	TAP_EQ_INT(ext2fs_free_blocks_count(fs->fs->super), 1);
	TAP_EQ_INT(fs->fs->super->s_state & EXT2_ERROR_FS, 0);

	close_and_check(fs, fd, img);
}

/* How many extents the root of ino's extent tree holds: -1 if it is not all in the inode. */
static int root_extents(struct svc_fs *fs, ext2_ino_t ino)
{
	struct ext2_inode_large inode;
	struct ext3_extent_header *eh = (struct ext3_extent_header *)inode.i_block;

	if (ext4_inode_read(fs, ino, &inode) < 0 || ext2fs_le16_to_cpu(eh->eh_depth) != 0)
		return -1;
	return ext2fs_le16_to_cpu(eh->eh_entries);
}

/*
 * A directory in four extents, the most the inode holds: one more block that does not follow
 * the last needs a new extent block as well. With one block free, the directory may not keep
 * the first and fail for want of the second. Linear (libext2fs's ext2fs_expand_dir() kept the
 * block) and htree (ext2fs_link()'s dx_grow_tree() did).
 */
static void fragmented_dir(const char *mkfs_opts)
{
	struct ext4_cred cred = { .uid = 0, .gid = 0, .umask = 022 };
	struct ext2_inode_large inode;
	struct free_counts before;
	char img[256], name[256];
	struct svc_fs *fs = NULL;
	ext2_ino_t f, g, y, ino;
	unsigned int i = 0, k = 0;
	blk64_t pblk;
	int fd, r;

	tap_diag(mkfs_opts);
	fs = new_image(mkfs_opts, "frag.img", img, sizeof(img), &fd);
	if (!fs)
		return;
	TAP_EQ_INT(ext4_mkdir(fs, EXT2_ROOT_INO, "f", 0755, &cred, &f), 0);
	TAP_EQ_INT(ext4_mknod(fs, EXT2_ROOT_INO, "g", S_IFREG | 0644, 0, &cred, &g), 0);
	TAP_EQ_INT(ext4_mknod(fs, EXT2_ROOT_INO, "y", S_IFREG | 0644, 0, &cred, &y), 0);
	map_last_block(fs, y);
	/* Before each growth of 'f', the block after its last one goes to 'g'. */
	for (;;) {
		TAP_EQ_INT(ext4_inode_read(fs, f, &inode), 0);
		uint64_t nblocks = inode.i_size / fs->blocksize;

		TAP_EQ_INT(ext2fs_bmap2(fs->fs, f, (struct ext2_inode *)&inode, NULL, 0,
					nblocks - 1, NULL, &pblk),
			   0);
		if (!ext2fs_test_block_bitmap2(fs->fs->block_map, pblk + 1))
			map_block(fs, g, k++, pblk + 1);
		if (root_extents(fs, f) != 1 && root_extents(fs, f) != 2 && root_extents(fs, f) != 3)
			break;
		while (inode.i_size / fs->blocksize == nblocks) {
			snprintf(name, sizeof(name), "%0200u", i++);
			TAP_EQ_INT(ext4_mknod(fs, f, name, S_IFREG | 0644, 0, &cred, &ino), 0);
			TAP_EQ_INT(ext4_inode_read(fs, f, &inode), 0);
		}
	}
	TAP_EQ_INT(root_extents(fs, f), 4);
	fill_up(fs, 100000, &g, &ino, name, sizeof(name));
	TAP_EQ_INT(ext4_inode_read(fs, y, &inode), 0);
	TAP_EQ_INT(ext4_truncate(fs, y, &inode, 0), 0);
	before = free_counts(fs);
	TAP_EQ_INT(before.blocks, 1);
	for (r = 0; r == 0;) {
		snprintf(name, sizeof(name), "%0200u", i++);
		r = ext4_mknod(fs, f, name, S_IFREG | 0644, 0, &cred, &ino);
		if (r == 0)
			before = free_counts(fs);
	}
	TAP_EQ_INT(r, -ENOSPC);
	same_counts(fs, &before, "a name into a directory of four extents");
	close_and_check(fs, fd, img);
}

/*
 * The last block of the filesystem at the end of a file whose extent tree has a level below
 * the inode (ext4_unmap_last_block() edits a leaf block, not the root): truncated off, then
 * deleted.
 */
static void deep_last_block(void)
{
	struct ext4_cred cred = { .uid = 0, .gid = 0, .umask = 022 };
	struct ext2_inode_large inode;
	struct ext3_extent_header *eh = (struct ext3_extent_header *)inode.i_block;
	blk64_t b, last;
	char img[256];
	struct svc_fs *fs;
	ext2_ino_t z;
	int fd;

	fs = new_image("", "deep.img", img, sizeof(img), &fd);
	if (!fs)
		return;
	last = ext2fs_blocks_count(fs->fs->super) - 1;
	TAP_EQ_INT(ext4_mknod(fs, EXT2_ROOT_INO, "z", S_IFREG | 0644, 0, &cred, &z), 0);
	/* Every other logical block: one extent each, more than the inode holds. */
	b = last / 2;
	for (uint64_t l = 0; l < 12; l += 2, b += 3)
		map_block(fs, z, l, b);
	map_block(fs, z, 12, last);
	TAP_EQ_INT(ext4_inode_read(fs, z, &inode), 0);
	TAP_EQ_INT(ext2fs_le16_to_cpu(eh->eh_depth), 1);
	TAP_EQ_INT(ext4_truncate(fs, z, &inode, 11 * fs->blocksize), 0);
	TAP_EQ_INT(ext2fs_test_block_bitmap2(fs->fs->block_map, last), 0);
	map_block(fs, z, 12, last);
	TAP_EQ_INT(ext4_unlink(fs, EXT2_ROOT_INO, "z"), 0);
	TAP_EQ_INT(ext2fs_test_block_bitmap2(fs->fs->block_map, last), 0);
	TAP_EQ_INT(fs->fs->super->s_state & EXT2_ERROR_FS, 0);
	close_and_check(fs, fd, img);
}

int main(void)
{
	char img[256], tree[256];

	tap_plan_start();
	if (system("command -v mkfs.ext4 >/dev/null && command -v debugfs >/dev/null") != 0)
		tap_skip_all("mkfs.ext4/debugfs not installed");
	if (!mkdtemp(dir))
		tap_skip_all("mkdtemp failed");
	snprintf(tree, sizeof(tree), "%s/tree", dir);
	snprintf(img, sizeof(img), "%s/img", dir);
	TAP_EQ_INT(sh("mkdir -p %s/bad %s/good", tree, tree), 0);
	TAP_EQ_INT(sh("mkfs.ext4 -q -F -b 1024 -O ^metadata_csum -d %s %s 4M >/dev/null", tree, img), 0);
	/* Zero the extent header in the inode of 'bad'. */
	TAP_EQ_INT(sh("debugfs -w -R 'sif /bad block[0] 0' %s >/dev/null 2>&1%s", img, ""), 0);

	/* s_errors: 1 continue, 2 remount-ro, 3 panic (debugfs takes the number). */
	one_round(img, false, "2", false);
	one_round(img, true, "1", false);
	one_round(img, true, "2", true);
	one_round(img, true, "3", true);

	snprintf(tree, sizeof(tree), "%s/otree", dir);
	TAP_EQ_INT(sh("mkdir -p %s%s", tree, ""), 0);
	orphans(tree);

	full_fs("-O ^metadata_csum");
	full_fs("");
	fragmented_dir("-O ^dir_index,^metadata_csum");
	fragmented_dir("-O ^metadata_csum");
	fragmented_dir("");
	deep_last_block();

	snprintf(tree, sizeof(tree), "rm -rf %s", dir);
	(void)!system(tree);
	return tap_plan_end();
}
