/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Regular file data. libext2fs's file layer already knows extents, block maps, inline data and
 * holes (which read as zeros) and stops at i_size, so reading past EOF comes back short.
 */
#include <errno.h>
#include <stdlib.h>

#include "ext4.h"
#include "log.h"

struct ext4_file {
	ext2_ino_t ino;
	ext2_file_t file;
};

int ext4_file_open(struct svc_fs *sfs, ext2_ino_t ino, struct ext4_file **ret)
{
	struct ext2_inode_large inode;
	struct ext4_file *f;
	errcode_t err;
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
	f->ino = ino;
	/* Read-only handle: libext2fs never writes back through it. */
	err = ext2fs_file_open2(sfs->fs, ino, (struct ext2_inode *)&inode, 0, &f->file);
	if (err) {
		free(f);
		return ext4_errno(sfs, err, ino, "opening the file");
	}
	*ret = f;
	return 0;
}

int ext4_file_read(struct svc_fs *sfs, struct ext4_file *f, uint64_t off, size_t size, char *buf,
		   size_t *ret_len)
{
	size_t done = 0;
	errcode_t err;

	err = ext2fs_file_llseek(f->file, off, EXT2_SEEK_SET, NULL);
	if (err)
		return ext4_errno(sfs, err, f->ino, "seeking in the file");
	while (done < size) {
		unsigned int want = size - done > (1u << 30) ? (1u << 30) : (unsigned int)(size - done);
		unsigned int got = 0;

		err = ext2fs_file_read(f->file, buf + done, want, &got);
		if (err)
			return ext4_errno(sfs, err, f->ino, "reading the file");
		if (got == 0)
			break;
		done += got;
	}
	*ret_len = done;
	return 0;
}

void ext4_file_close(struct svc_fs *sfs, struct ext4_file *f)
{
	errcode_t err;

	if (!f)
		return;
	err = ext2fs_file_close(f->file);
	if (err)
		(void)ext4_errno(sfs, err, f->ino, "closing the file");
	free(f);
}
