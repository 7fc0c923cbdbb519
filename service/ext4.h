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

struct journal_overlay;
struct read_job;
struct read_pool;

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
	/* The blocks an htree lookup walks (DX_MAX_LEVELS index levels and a leaf), allocated
	 * once: a rename does five lookups, and 4 KiB buffers are past malloc's fast bins. */
	char *dx_buf;
	/* Counts changes to any directory (ext4_dir_changed): an ext4_dir_hint from before a
	 * change is not used. */
	uint64_t dir_changes;
	/* The last name a lookup found absent, and where it would go: the kernel sends a
	 * LOOKUP of the name right before every CREATE, MKDIR or RENAME to it, and the server
	 * then checks again that the name is absent. Valid while dir_changes is unchanged. */
	struct {
		bool valid;
		ext2_ino_t dir;
		uint64_t changes;
		uint64_t lblk;
		size_t len;
		char name[EXT4_NAME_MAX + 1];
	} absent;
	/* Each kind of index trouble is worth one log line, not one per lookup. */
	bool warned_htree;
	unsigned int corruption_logged;
	/* What was already reported (inode, hash of the message): a damaged inode that every
	 * lookup meets is logged once, not once per request. */
	uint64_t corruption_seen[32];
	unsigned int corruption_seen_next;
	/* Read-only mount of a filesystem whose journal needed recovery: the replayed blocks,
	 * read through journal_overlay_manager (journal.h). NULL otherwise. */
	struct journal_overlay *overlay;
	/* Corruption was found and the superblock's errors= policy is remount-ro (or panic,
	 * which we never do): refuse every change from now on with -EROFS. */
	bool errors_ro;

	/* The FUSE session, for telling the kernel what it cached is stale (ops.c). */
	struct fuse_session *se;
	/* The threads that read file data without the lock (read-pool.h), from op_init to
	 * op_destroy; NULL: every read is done under the lock. A block freed while they read
	 * waits for them first (ext4-fs.c's allocation hooks). */
	struct read_pool *read_pool;

	/* Read-write state. */
	int device_fd;
	bool rw;
	/* The superblock said clean at mount: set it clean again at a clean unmount. */
	bool was_valid;
	/* Open file handles per inode: an unlinked inode lives on (as an orphan) until its
	 * last handle is released. */
	struct ext4_open_ref *opens;
	size_t nopens;
	size_t opens_cap;
};

struct ext4_open_ref {
	ext2_ino_t ino;
	unsigned int count;
};

/* Who asks for a new inode: owner and group, and the umask the kernel left to us. */
struct ext4_cred {
	uint32_t uid;
	uint32_t gid;
	mode_t umask;
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
/* Writes back everything libext2fs holds dirty, then makes the device stable (fsync). */
int ext4_sync(struct svc_fs *sfs);
/* -EROFS unless the filesystem is mounted read-write. */
int ext4_check_rw(struct svc_fs *sfs);
/* The largest file size the kernel allows on this filesystem (s_maxbytes). */
uint64_t ext4_max_file_size(struct svc_fs *sfs, const struct ext2_inode_large *inode);

/* io-crc32c.c: ext2fs_crc32c_le() for libext2fs, with the CPU's crc32 instruction. */

/* Whether the CPU's instruction is used (else libext2fs's own table-driven code). */
bool ext4_crc32c_hw(void);
/* libext2fs's own ext2fs_crc32c_le(), which ours replaces: for comparing the two. */
uint32_t ext4_crc32c_lib(uint32_t crc, unsigned char const *p, size_t len);

/* io-cache.c: a bounded, write-through block cache in front of the device channel. */

/* Counters for the tests and the debug log. */
struct io_cache_stats {
	uint64_t hits;
	uint64_t misses;
	uint64_t evictions;
	uint64_t invalidations;
	uint64_t tagged_hits; /* io_cache_get_tagged() answers, also counted in hits */
	uint32_t cached; /* blocks held now */
	uint32_t slots;  /* blocks it may hold at the current block size */
};

/* The next open through io_cache_manager (on this thread) wraps inner with a cache of at most
 * bytes of block buffers. */
void io_cache_use(io_manager inner, size_t bytes);
extern io_manager io_cache_manager;
/* The I/O that follows is file data (ext4-file.c): not looked up or kept in the cache, only
 * kept coherent with it. Returns the previous setting; false and no effect on another io
 * manager's channel. */
bool io_cache_data(io_channel io, bool on);
int io_cache_get_stats(io_channel io, struct io_cache_stats *ret);
/* Whether any of the blocks [block, block + count) was written since the last flush, so that
 * the inner channel may still hold it unwritten (or io is not a cache channel: unknown, true).
 * A read of the device fd itself must not be used for such blocks. */
bool io_cache_pending(io_channel io, uint64_t block, uint64_t count);
/* 1 and the cached copy of block in buf (one block), 0 if not cached. */
int io_cache_peek(io_channel io, uint64_t block, void *buf);
/*
 * A tag remembers a check that depends only on a block's contents (a directory block whose
 * checksum was verified for directory `tag`), so that the check is not repeated on every read:
 * io_cache_set_tag() tags the cached copy, any change of it (a write, a refill) clears the tag,
 * and io_cache_get_tagged() gives 1 and the copy only while it still carries that tag (never
 * for tag 0), else 0 and the caller reads and checks as usual.
 */
int io_cache_get_tagged(io_channel io, uint64_t block, uint32_t tag, void *buf);
void io_cache_set_tag(io_channel io, uint64_t block, uint32_t tag);

/* ext4-inode.c */

/* Inode numbers a directory entry may name: the root, or a non-reserved inode. */
bool ext4_ino_valid(struct svc_fs *sfs, ext2_ino_t ino);
/* Reads and sanity-checks an in-use inode (checksum verified by libext2fs). */
int ext4_inode_read(struct svc_fs *sfs, ext2_ino_t ino, struct ext2_inode_large *ret);
/* The on-disk inode as it is, in use or not, without ext4_inode_read()'s checks; the fields
 * past what the inode holds read as zero. libext2fs's error code, for the caller to judge. */
errcode_t ext4_inode_read_raw(struct svc_fs *sfs, ext2_ino_t ino, struct ext2_inode_large *ret);
/* i_size the way the kernel reads it (i_size_high only for files, or with largedir). */
uint64_t ext4_inode_size(struct svc_fs *sfs, const struct ext2_inode_large *inode);
void ext4_inode_stat(struct svc_fs *sfs, ext2_ino_t ino, const struct ext2_inode_large *inode,
		     struct stat *ret);
/* Writes the whole inode (checksum by libext2fs). */
int ext4_inode_write(struct svc_fs *sfs, ext2_ino_t ino, struct ext2_inode_large *inode);
int ext4_touch_ctime(struct svc_fs *sfs, ext2_ino_t ino);
enum ext4_time_field { EXT4_ATIME, EXT4_MTIME, EXT4_CTIME, EXT4_CRTIME };
void ext4_inode_set_time(struct svc_fs *sfs, struct ext2_inode_large *inode,
			 enum ext4_time_field which, const struct timespec *ts);
struct timespec ext4_inode_get_time(struct svc_fs *sfs, const struct ext2_inode_large *inode,
				    enum ext4_time_field which);
void ext4_now(struct timespec *ret);
void ext4_inode_set_uid(struct ext2_inode_large *inode, uint32_t uid);
void ext4_inode_set_gid(struct ext2_inode_large *inode, uint32_t gid);
uint32_t ext4_inode_uid(const struct ext2_inode_large *inode);
uint32_t ext4_inode_gid(const struct ext2_inode_large *inode);
/* Sets i_size (and i_size_high) the way libext2fs does, turning on large_file if needed. */
int ext4_inode_set_size(struct svc_fs *sfs, ext2_ino_t ino, struct ext2_inode_large *inode,
			uint64_t size);
/* Unmaps and frees the blocks [start, end] of ino (ext2fs_punch(), end ~0: all); *inode is
 * updated and written. */
int ext4_punch(struct svc_fs *sfs, ext2_ino_t ino, struct ext2_inode_large *inode, uint64_t start,
	       uint64_t end);
/* The part of ext4_punch() that works around libext2fs 1.47.0: the last block of the
 * filesystem, if ino maps it in [start, end], is freed. For callers whose libext2fs function
 * punches internally (ext2fs_file_set_size2()). */
int ext4_unmap_last_block(struct svc_fs *sfs, ext2_ino_t ino, struct ext2_inode_large *inode,
			  uint64_t start, uint64_t end);
/* Frees the blocks, extended attributes and the inode itself of an inode with no links. */
int ext4_inode_delete(struct svc_fs *sfs, ext2_ino_t ino);
/* The relatime/strictatime/noatime decision after a read of the inode. */
void ext4_inode_accessed(struct svc_fs *sfs, ext2_ino_t ino);

/* Attribute changes asked for by setattr. */
struct ext4_setattr {
	unsigned int valid; /* EXT4_SET_* */
	mode_t mode;
	uint32_t uid;
	uint32_t gid;
	uint64_t size;
	struct timespec atime;
	struct timespec mtime;
	struct timespec ctime;
	uint32_t caller_gid; /* with EXT4_SET_KILL_SUIDGID */
};
#define EXT4_SET_MODE (1u << 0)
#define EXT4_SET_UID (1u << 1)
#define EXT4_SET_GID (1u << 2)
#define EXT4_SET_SIZE (1u << 3)
#define EXT4_SET_ATIME (1u << 4)
#define EXT4_SET_MTIME (1u << 5)
#define EXT4_SET_CTIME (1u << 6)
/* The kernel's FATTR_KILL_SUIDGID (session-io.c): a truncate by a caller without CAP_FSETID,
 * or a chown, takes ext4_mode_kill_suidgid() away, unless the mode is set explicitly (a
 * chown's always is: the kernel computes it). */
#define EXT4_SET_KILL_SUIDGID (1u << 7)

/*
 * A regular file's mode after a write or truncate by a caller without CAP_FSETID: no setuid;
 * no setgid where group execute is set, nor where the writer is not in the file's group
 * (setgid without group execute can still give the group to those who run it, as the
 * kernel's setattr_should_drop_sgid() knows). in_group: the caller's gid is the file's; the
 * kernel also counts supplementary groups, which the server cannot see (in service mode
 * /proc shows it no other user's process), so such a writer loses a bit ext4 would keep:
 * the safe way to differ.
 */
static inline uint16_t ext4_mode_kill_suidgid(uint16_t mode, bool in_group)
{
	if (!LINUX_S_ISREG(mode))
		return mode;
	mode &= (uint16_t)~LINUX_S_ISUID;
	if ((mode & LINUX_S_IXGRP) || !in_group)
		mode &= (uint16_t)~LINUX_S_ISGID;
	return mode;
}
int ext4_setattr(struct svc_fs *sfs, ext2_ino_t ino, const struct ext4_setattr *sa);

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
/* Where a lookup in an htree directory ended, so that the change that follows it (adding the
 * absent name, removing the found one) does not walk the index again: lblk is the leaf that
 * holds the name, or where it belongs when absent; UINT64_MAX when unknown. Valid while
 * dir_changes is unchanged. */
struct ext4_dir_hint {
	uint64_t lblk;
	uint64_t changes;
};
/* ext4_dir_lookup(), also filling *ret_hint (if not NULL) when it returns 0 or -ENOENT. */
int ext4_dir_search(struct svc_fs *sfs, ext2_ino_t dir, const char *name, ext2_ino_t *ret_ino,
		    struct ext4_dir_hint *ret_hint);
/* Writes a leaf block of directory dir (generation: the directory's i_generation) that was
 * read with ext4_read_dir_block() and changed without breaking its chain of entries, with its
 * checksum; it stays verified in the cache. */
int ext4_write_dir_leaf(struct svc_fs *sfs, ext2_ino_t dir, uint32_t generation, blk64_t pblk,
			void *buf);
/* The device block of directory block lblk (0: a hole), as ext2fs_bmap2() gives it. */
int ext4_dir_bmap(struct svc_fs *sfs, ext2_ino_t dir, struct ext2_inode_large *inode,
		  uint64_t lblk, blk64_t *ret_pblk);
/* ext2fs_read_dir_block4() (checksum verified) of directory dir's block pblk, without
 * verifying again a cached block that passed and has not changed since. */
int ext4_read_dir_block(struct svc_fs *sfs, blk64_t pblk, void *buf, ext2_ino_t dir);
/* Directory block lblk of dir, read as above into a new buffer (*ret_buf, the caller frees it)
 * with its device block (*ret_pblk): a leaf to change and write back with
 * ext4_write_dir_leaf(). 1: a hole, nothing read. */
int ext4_dir_read_leaf(struct svc_fs *sfs, ext2_ino_t dir, struct ext2_inode_large *inode,
		       uint64_t lblk, blk64_t *ret_pblk, char **ret_buf);
/* ext4-htree.c: a full one-block directory becomes an htree (0), or is not one that can
 * (1: grow it linearly). */
int ext4_dir_make_indexed(struct svc_fs *sfs, ext2_ino_t dir);
/* Which logical block of an htree directory holds name: -EAGAIN when the directory has no
 * usable index (search it linearly). */
int ext4_dir_locate(struct svc_fs *sfs, ext2_ino_t dir, const char *name, ext2_ino_t *ret_ino,
		    uint64_t *ret_lblk);
/* The logical block of an htree directory where a new entry name belongs (the leaf the index
 * leads to): -EEXIST if name is there, -EAGAIN when the directory has no usable index. */
int ext4_dir_home_leaf(struct svc_fs *sfs, ext2_ino_t dir, const char *name, uint64_t *ret_lblk);
/* Adds name -> ino to its leaf of an htree directory when the leaf has room, as the kernel
 * does. 1: it has none, or the directory has no usable index (use ext2fs_link()). */
int ext4_dx_insert(struct svc_fs *sfs, ext2_ino_t dir, const char *name, ext2_ino_t ino,
		   int ftype, const struct ext4_dir_hint *hint);
/* Drops what ext4-dir.c remembers about directory dir; call after changing it. */
void ext4_dir_changed(struct svc_fs *sfs, ext2_ino_t dir);

/* ext4-file.c */

struct ext4_file;
int ext4_file_open(struct svc_fs *sfs, ext2_ino_t ino, struct ext4_file **ret);
/* Whether the opener may use the reserved blocks: with the writeback cache the kernel writes
 * dirty pages back as root, so the opener's right is what a write-back may use. */
void ext4_file_set_privileged(struct ext4_file *f, bool privileged);
bool ext4_file_privileged(const struct ext4_file *f);
int ext4_file_read(struct svc_fs *sfs, struct ext4_file *f, uint64_t off, size_t size, char *buf,
		   size_t *ret_len);
/*
 * Maps a read to the device, for the read pool (read-pool.h): 0 and job's runs, len and buf
 * (which must have room for size rounded up to whole blocks) filled when [off, off + size)
 * up to the end of the file is whole blocks covered by initialized extents whose current
 * contents are on the device; the access time is updated as ext4_file_read() does. 1: read
 * it with ext4_file_read() (a hole, inline data, the journal overlay, EOF, ...). The caller
 * must submit the job before releasing the lock.
 */
int ext4_file_map_read(struct svc_fs *sfs, struct ext4_file *f, uint64_t off, size_t size,
		       struct read_job *job);
void ext4_file_close(struct svc_fs *sfs, struct ext4_file *f);
/* Writes buf at off (append: at the end of the file); *ret_len is what was written.
 * *ret_allocated: whether the file's block count changed (st_blocks); set on an error too.
 * flags: EXT4_WRITE_*. */
int ext4_file_write(struct svc_fs *sfs, struct ext4_file *f, uint64_t off, size_t size,
		    const char *buf, unsigned int flags, uint32_t caller_gid, size_t *ret_len,
		    bool *ret_allocated);
/* May use the reserved blocks (root, s_def_resuid, s_def_resgid). */
#define EXT4_WRITE_PRIVILEGED (1u << 0)
/* A short write is an error (EFBIG past the largest size, else ENOSPC), after what fits is
 * written: a write-back of the kernel's pages, which cannot take a short write. */
#define EXT4_WRITE_WHOLE (1u << 1)
/* The kernel's FUSE_WRITE_KILL_SUIDGID: ext4_mode_kill_suidgid() with the new mtime, the
 * writer's group being caller_gid. */
#define EXT4_WRITE_KILL_SUIDGID (1u << 2)
/* Changes the size of inode ino: blocks past the new end are freed. */
int ext4_truncate(struct svc_fs *sfs, ext2_ino_t ino, struct ext2_inode_large *inode,
		  uint64_t size);
/* All or nothing: ENOSPC is found before anything changes. privileged as ext4_file_write(). */
int ext4_fallocate(struct svc_fs *sfs, ext2_ino_t ino, int mode, uint64_t off, uint64_t len,
		   bool privileged);
int ext4_lseek(struct svc_fs *sfs, ext2_ino_t ino, uint64_t off, int whence, uint64_t *ret);
/* Counts handles per inode; dropping the last one of an unlinked inode deletes it. */
int ext4_open_get(struct svc_fs *sfs, ext2_ino_t ino);
void ext4_open_put(struct svc_fs *sfs, ext2_ino_t ino);
/* At unmount: drops every handle still counted. */
void ext4_open_put_all(struct svc_fs *sfs);
bool ext4_is_open(struct svc_fs *sfs, ext2_ino_t ino);

/* ext4-namei.c */

int ext4_mknod(struct svc_fs *sfs, ext2_ino_t dir, const char *name, mode_t mode, dev_t rdev,
	       const struct ext4_cred *cred, ext2_ino_t *ret_ino);
int ext4_mkdir(struct svc_fs *sfs, ext2_ino_t dir, const char *name, mode_t mode,
	       const struct ext4_cred *cred, ext2_ino_t *ret_ino);
int ext4_symlink(struct svc_fs *sfs, ext2_ino_t dir, const char *name, const char *target,
		 const struct ext4_cred *cred, ext2_ino_t *ret_ino);
int ext4_link(struct svc_fs *sfs, ext2_ino_t ino, ext2_ino_t dir, const char *name);
int ext4_unlink(struct svc_fs *sfs, ext2_ino_t dir, const char *name);
int ext4_rmdir(struct svc_fs *sfs, ext2_ino_t dir, const char *name);
int ext4_rename(struct svc_fs *sfs, ext2_ino_t dir, const char *name, ext2_ino_t newdir,
		const char *newname, unsigned int flags);

/* ext4-orphan.c */

/* Records an unlinked but still open inode in the superblock's orphan chain. */
int ext4_orphan_add(struct svc_fs *sfs, ext2_ino_t ino);
int ext4_orphan_del(struct svc_fs *sfs, ext2_ino_t ino);
/* At a read-write mount: finish what an unclean stop left in the orphan chain. */
int ext4_orphan_cleanup(struct svc_fs *sfs);

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
/* flags: XATTR_CREATE / XATTR_REPLACE. */
int ext4_setxattr(struct svc_fs *sfs, ext2_ino_t ino, const char *name, const void *value,
		  size_t size, int flags);
int ext4_removexattr(struct svc_fs *sfs, ext2_ino_t ino, const char *name);
/* chmod of an inode with an access ACL: owner, mask and other entries follow the mode. */
int ext4_acl_chmod(struct svc_fs *sfs, ext2_ino_t ino, mode_t mode);
/* New inode ino in directory dir: inherit dir's default ACL, or apply the umask. *mode is
 * the mode to store. Called before the inode exists (apply=false) and after (apply=true). */
int ext4_acl_inherit(struct svc_fs *sfs, ext2_ino_t dir, ext2_ino_t ino, bool is_dir,
		     mode_t *mode, mode_t umask, bool apply);

#endif
