/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private interface between the ext4 modules (ext4-*.c) and the FUSE glue (ops.c). Everything
 * here runs with svc_fs.lock held: libext2fs keeps caches and shared buffers in the
 * ext2_filsys and is not thread-safe, while the session loop is multi-threaded.
 */
#ifndef FUSE4FS_SVC_EXT4_H
#define FUSE4FS_SVC_EXT4_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <ext2fs/ext2fs.h>

#include "fs.h"

/* The longest name a directory entry can hold (name_len is one byte). */
#define EXT4_NAME_MAX 255

struct svc_fs {
	ext2_filsys fs;
	pthread_mutex_t lock;
	struct svc_fs_options opts;
	unsigned int blocksize;
	/* Directory hashing parameters from the superblock, for htree lookups. */
	uint32_t hash_seed[4];
	bool unsigned_hash;
	/* The blocks of the last unindexed directory searched linearly: a stat of every name
	 * in a big directory would otherwise re-read the whole directory per name. Nothing
	 * can change on a read-only mount, so it never goes stale. */
	ext2_ino_t lin_ino;
	uint64_t lin_nblocks;
	char *lin_buf;
	/* Each kind of index trouble is worth one log line, not one per lookup. */
	bool warned_htree;
	unsigned int corruption_logged;
};

/* ext4-fs.c */

/*
 * The one place where libext2fs error codes become -errno. Corruption codes log what was being
 * done to which inode (ino 0: not about one inode) and become -EUCLEAN.
 */
int ext4_errno(struct svc_fs *sfs, errcode_t err, ext2_ino_t ino, const char *what);
/* Log a corruption this code found itself; returns -EUCLEAN. */
int ext4_corrupt(struct svc_fs *sfs, ext2_ino_t ino, const char *what);
int ext4_statfs(struct svc_fs *sfs, struct statvfs *ret);

/* ext4-inode.c */

/* Inode numbers a directory entry may name: the root, or a non-reserved inode. */
bool ext4_ino_valid(struct svc_fs *sfs, ext2_ino_t ino);
/* Reads and sanity-checks an in-use inode (checksum verified by libext2fs). */
int ext4_inode_read(struct svc_fs *sfs, ext2_ino_t ino, struct ext2_inode_large *ret);
/* i_size the way the kernel reads it (i_size_high only for files, or with largedir). */
uint64_t ext4_inode_size(struct svc_fs *sfs, const struct ext2_inode_large *inode);
void ext4_inode_stat(struct svc_fs *sfs, ext2_ino_t ino, const struct ext2_inode_large *inode,
		     struct stat *ret);

/* ext4-dir.c */

/*
 * Called for each directory entry: next_off is the offset to resume after this entry. Return 0
 * to go on, 1 to stop before consuming this entry (reply buffer full), -errno to fail.
 */
typedef int (*ext4_dir_fill_t)(void *userdata, const char *name, size_t name_len,
			       ext2_ino_t ino, unsigned int d_type, uint64_t next_off);
int ext4_dir_iterate(struct svc_fs *sfs, ext2_ino_t dir, uint64_t off, ext4_dir_fill_t fill,
		     void *userdata);
int ext4_dir_lookup(struct svc_fs *sfs, ext2_ino_t dir, const char *name, ext2_ino_t *ret_ino);

/* ext4-file.c */

struct ext4_file;
int ext4_file_open(struct svc_fs *sfs, ext2_ino_t ino, struct ext4_file **ret);
int ext4_file_read(struct svc_fs *sfs, struct ext4_file *f, uint64_t off, size_t size, char *buf,
		   size_t *ret_len);
void ext4_file_close(struct svc_fs *sfs, struct ext4_file *f);

/* ext4-symlink.c */

/* *ret is a malloc'ed NUL-terminated target. */
int ext4_readlink(struct svc_fs *sfs, ext2_ino_t ino, char **ret);

/* ext4-xattr.c */

/* size 0: *ret_size is the size needed. -ERANGE when size is too small. */
int ext4_getxattr(struct svc_fs *sfs, ext2_ino_t ino, const char *name, void *buf, size_t size,
		  size_t *ret_size);
/* privileged: the caller may see trusted.* names. */
int ext4_listxattr(struct svc_fs *sfs, ext2_ino_t ino, bool privileged, char *buf, size_t size,
		   size_t *ret_size);

#endif
