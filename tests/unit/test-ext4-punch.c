/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Freeing the blocks of a file that owns the filesystem's last block (ext4-punch.c): libext2fs
 * 1.47.0's ext2fs_punch() cannot, and delete, truncate and hole punching then failed halfway
 * and left the blocks and the inode allocated with no owner. Each case makes a file that owns
 * the last block on a fresh image, frees it one way, and asks e2fsck.
 */
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../service/ext4.h"
#include "tap.h"

static char dir[] = "/tmp/test-ext4-punch.XXXXXX";

enum how { DELETE, TRUNCATE_ZERO, TRUNCATE_HALF, PUNCH_ALL, PUNCH_TAIL };
static const char *const how_name[] = {"delete", "truncate to 0", "truncate to half",
				       "punch the whole file", "punch the tail"};

static int shell(const char *fmt, const char *img)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), fmt, img);
	return system(cmd);
}

/*
 * 64 KiB written in a scattered order (several extents), then one more block mapped to the
 * filesystem's last block, as a file gets it when the filesystem fills up. Returns the size.
 */
static uint64_t make_file(struct svc_fs *fs, ext2_ino_t ino, struct ext4_file *f)
{
	static char buf[1024];
	ext2_filsys e = fs->fs;
	blk64_t last = ext2fs_blocks_count(e->super) - 1;
	struct ext2_inode_large inode;
	unsigned int bad = 0;

	memset(buf, 'x', sizeof(buf));
	for (uint64_t i = 0; i < 64; i++) {
		uint64_t off = ((i * 37) % 64) * sizeof(buf);
		size_t len = 0;
		bool alloc;

		if (ext4_file_write(fs, f, off, sizeof(buf), buf, EXT4_WRITE_PRIVILEGED, 0, &len,
				    &alloc) < 0 ||
		    len < sizeof(buf))
			bad++;
	}
	TAP_EQ_INT(bad, 0);
	TAP_EQ_INT(ext2fs_bmap2(e, ino, NULL, NULL, BMAP_SET, 64, NULL, &last), 0);
	ext2fs_block_alloc_stats2(e, last, +1);
	TAP_EQ_INT(ext4_inode_read(fs, ino, &inode), 0);
	TAP_EQ_INT(ext2fs_iblk_add_blocks(e, (struct ext2_inode *)&inode, 1), 0);
	TAP_EQ_INT(ext2fs_inode_size_set(e, (struct ext2_inode *)&inode, 65 * 1024), 0);
	TAP_EQ_INT(ext4_inode_write(fs, ino, &inode), 0);
	return 65 * 1024;
}

static void free_one_way(enum how how)
{
	struct ext4_cred cred = {.uid = 0, .gid = 0, .umask = 022};
	struct svc_fs_options o = {.device_name = "img"};
	struct ext4_file *f = NULL;
	struct svc_fs *fs = NULL;
	char img[512], why[512];
	uint64_t free0, size, last;
	ext2_ino_t ino;
	int fd, r;

	snprintf(img, sizeof(img), "%s/img", dir);
	TAP_EQ_INT(shell("mkfs.ext4 -q -F -b 1024 %s 4M >/dev/null", img), 0);
	fd = open(img, O_RDWR | O_CLOEXEC);
	r = svc_fs_open(fd, &o, &fs, why, sizeof(why));
	TAP_EQ_INT(r, 0);
	if (r < 0)
		return;
	free0 = ext2fs_free_blocks_count(fs->fs->super);
	last = ext2fs_blocks_count(fs->fs->super) - 1;
	TAP_EQ_INT(ext2fs_test_block_bitmap2(fs->fs->block_map, last), 0);
	TAP_EQ_INT(ext4_mknod(fs, EXT2_ROOT_INO, "f", S_IFREG | 0644, 0, &cred, &ino), 0);
	TAP_EQ_INT(ext4_file_open(fs, ino, &f), 0);
	size = make_file(fs, ino, f);
	TAP_EQ_INT(!!ext2fs_test_block_bitmap2(fs->fs->block_map, last), 1);
	switch (how) {
	case DELETE:
		ext4_file_close(fs, f);
		f = NULL;
		r = ext4_unlink(fs, EXT2_ROOT_INO, "f");
		break;
	case TRUNCATE_ZERO:
	case TRUNCATE_HALF: {
		struct ext4_setattr sa = {.valid = EXT4_SET_SIZE};

		sa.size = how == TRUNCATE_ZERO ? 0 : size / 2;
		r = ext4_setattr(fs, ino, &sa);
		break;
	}
	case PUNCH_ALL:
	case PUNCH_TAIL: {
		uint64_t off = how == PUNCH_ALL ? 0 : size / 2;

		r = ext4_fallocate(fs, ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off,
				   size - off, true);
		break;
	}
	}
	tap_diag(how_name[how]);
	TAP_EQ_INT(r, 0);
	if (f)
		ext4_file_close(fs, f);
	if (how == DELETE || how == TRUNCATE_ZERO || how == PUNCH_ALL)
		TAP_EQ_INT(ext2fs_free_blocks_count(fs->fs->super), free0);
	TAP_EQ_INT(svc_fs_close(fs), 0);
	close(fd);
	if (!TAP_OK(shell("e2fsck -fn %s >/dev/null 2>&1", img) == 0))
		(void)shell("e2fsck -fn %s 2>&1 | head -5 | sed 's/^/#   /'", img);
}

int main(void)
{
	tap_plan_start();
	if (system("command -v mkfs.ext4 >/dev/null && command -v e2fsck >/dev/null") != 0)
		tap_skip_all("mkfs.ext4/e2fsck not installed");
	if (!mkdtemp(dir))
		tap_skip_all("mkdtemp failed");
	for (enum how how = DELETE; how <= PUNCH_TAIL; how++)
		free_one_way(how);
	(void)shell("rm -rf %s", dir);
	return tap_plan_end();
}
