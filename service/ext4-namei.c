/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Names: creating inodes and linking them into directories, unlinking, rename. libext2fs adds
 * entries (ext2fs_link handles htree directories in 1.47, and grows inline directories into
 * blocks through ext2fs_expand_dir); what it leaves to us is everything the kernel does around
 * that: permissions of the new inode, link counts (dir_nlink), times, '..' fixups, orphans.
 *
 * Order of writes: the new inode is complete on disk before a name points to it, and a name is
 * gone before its inode is freed, so a stop between two writes leaves at worst a leaked inode
 * for e2fsck, never a name pointing to garbage.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/sysmacros.h>

#include "ext4.h"
#include "log.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static int ext4_ftype(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return EXT2_FT_REG_FILE;
	case S_IFDIR:
		return EXT2_FT_DIR;
	case S_IFCHR:
		return EXT2_FT_CHRDEV;
	case S_IFBLK:
		return EXT2_FT_BLKDEV;
	case S_IFIFO:
		return EXT2_FT_FIFO;
	case S_IFSOCK:
		return EXT2_FT_SOCK;
	case S_IFLNK:
		return EXT2_FT_SYMLINK;
	default:
		return EXT2_FT_UNKNOWN;
	}
}

static int ext4_check_name(const char *name)
{
	size_t len = strlen(name);

	if (len == 0)
		return -ENOENT;
	if (len > EXT4_NAME_MAX)
		return -ENAMETOOLONG;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -EEXIST;
	return 0;
}

/* What every operation that adds `name` checks first: a writable filesystem, then a name that
 * can be stored (before anything is written, so a bad name leaves no trace on disk). */
static int ext4_check_new_name(struct svc_fs *sfs, const char *name)
{
	int r = ext4_check_rw(sfs);

	return r < 0 ? r : ext4_check_name(name);
}

/* A directory we may add names to: exists, is a directory, is not being deleted. */
static int ext4_dir_for_write(struct svc_fs *sfs, ext2_ino_t dir, struct ext2_inode_large *ret)
{
	int r = ext4_inode_read(sfs, dir, ret);

	if (r < 0)
		return r == -ESTALE ? -ENOENT : r;
	if (!LINUX_S_ISDIR(ret->i_mode))
		return -ENOTDIR;
	return 0;
}

/* mtime and ctime of a directory whose entries changed. */
static int ext4_dir_touch(struct svc_fs *sfs, ext2_ino_t dir, int nlink_delta)
{
	struct ext2_inode_large inode;
	struct timespec now;
	int r;

	ext4_dir_changed(sfs, dir);
	r = ext4_inode_read(sfs, dir, &inode);
	if (r < 0)
		return r;
	if (nlink_delta > 0) {
		/* Past the 16-bit count, 1 means "many" (dir_nlink), as the kernel does. */
		if (inode.i_links_count == 1 || inode.i_links_count >= EXT2_LINK_MAX - 1) {
			inode.i_links_count = 1;
			if (!ext2fs_has_feature_dir_nlink(sfs->fs->super)) {
				ext2fs_set_feature_dir_nlink(sfs->fs->super);
				ext2fs_mark_super_dirty(sfs->fs);
			}
		} else {
			inode.i_links_count++;
		}
	} else if (nlink_delta < 0) {
		if (inode.i_links_count > 2)
			inode.i_links_count--;
	}
	ext4_now(&now);
	ext4_inode_set_time(sfs, &inode, EXT4_MTIME, &now);
	ext4_inode_set_time(sfs, &inode, EXT4_CTIME, &now);
	return ext4_inode_write(sfs, dir, &inode);
}

/*
 * One more block at the end of directory dir. Not ext2fs_expand_dir(): in libext2fs 1.47.0 it
 * ignores a failure to map the block it took (an extent tree that must grow by a block the
 * full filesystem does not have), and keeps that block allocated and counted in the
 * directory's i_size and i_blocks though nothing maps it. Here the block is given back.
 */
static int ext4_expand_dir(struct svc_fs *sfs, ext2_ino_t dir)
{
	ext2_filsys fs = sfs->fs;
	struct ext2_inode_large inode;
	char *block = NULL;
	uint64_t lblk;
	blk64_t goal, blk = 0;
	errcode_t err;
	int r;

	r = ext4_inode_read(sfs, dir, &inode);
	if (r < 0)
		return r;
	/* An inline directory moves into a block: nothing like the above happens there. */
	if (inode.i_flags & EXT4_INLINE_DATA_FL)
		return ext4_errno(sfs, ext2fs_expand_dir(fs, dir), dir, "growing a directory");
	lblk = ext4_inode_size(sfs, &inode) / sfs->blocksize;
	goal = ext2fs_find_inode_goal(fs, dir, (struct ext2_inode *)&inode, lblk);
	err = ext2fs_new_block2(fs, goal, NULL, &blk);
	if (err)
		return err == EXT2_ET_BLOCK_ALLOC_FAIL ? -ENOSPC :
		       ext4_errno(sfs, err, dir, "allocating a directory block");
	err = ext2fs_new_dir_block(fs, 0, 0, &block);
	if (err)
		return ext4_errno(sfs, err, dir, "making a directory block");
	ext2fs_block_alloc_stats2(fs, blk, +1);
	/* The empty block first, then the mapping that makes it the directory's. */
	err = ext2fs_write_dir_block4(fs, blk, block, 0, dir);
	ext2fs_free_mem(&block);
	if (!err)
		err = ext2fs_bmap2(fs, dir, (struct ext2_inode *)&inode, NULL, BMAP_SET, lblk, NULL,
				   &blk);
	if (err) {
		ext2fs_block_alloc_stats2(fs, blk, -1);
		return err == EXT2_ET_BLOCK_ALLOC_FAIL ? -ENOSPC :
		       ext4_errno(sfs, err, dir, "mapping a directory block");
	}
	/* ext2fs_bmap2() wrote the inode if the extent tree changed. */
	r = ext4_inode_read(sfs, dir, &inode);
	if (r < 0)
		return r;
	r = ext4_inode_set_size(sfs, dir, &inode, (lblk + 1) * sfs->blocksize);
	if (r < 0)
		return r;
	err = ext2fs_iblk_add_blocks(fs, (struct ext2_inode *)&inode, 1);
	if (err)
		return ext4_errno(sfs, err, dir, "counting a directory block");
	return ext4_inode_write(sfs, dir, &inode);
}

/*
 * The blocks an htree directory's growth could take on an almost full filesystem, noted before
 * ext2fs_link() so that a failed one can give back what it took: libext2fs 1.47.0 grows the
 * tree through ext2fs_fallocate() (dx_grow_tree), which keeps the block it took when the extent
 * tree then needs one more than the filesystem has. A growth takes one data block and, at
 * worst, a new node at each level of the extent tree and a new level; one ext2fs_link() grows
 * at most twice (an index node, then a leaf). With more free blocks than that, it cannot fail
 * for want of one, and nothing is noted.
 */
#define EXT4_GROW_NOTE_MAX 16

struct ext4_grow_note {
	unsigned int n;
	blk64_t blk[EXT4_GROW_NOTE_MAX];
};

static void ext4_grow_note(struct svc_fs *sfs, const struct ext2_inode_large *dinode,
			   struct ext4_grow_note *ret)
{
	ext2_filsys fs = sfs->fs;
	const struct ext3_extent_header *eh = (const struct ext3_extent_header *)dinode->i_block;
	blk64_t b = fs->super->s_first_data_block, end = ext2fs_blocks_count(fs->super) - 1;

	ret->n = 0;
	if (!(dinode->i_flags & EXT2_INDEX_FL) || !(dinode->i_flags & EXT4_EXTENTS_FL) ||
	    ext2fs_free_blocks_count(fs->super) > 2 * (ext2fs_le16_to_cpu(eh->eh_depth) + 3u))
		return;
	while (ret->n < EXT4_GROW_NOTE_MAX && b <= end &&
	       ext2fs_find_first_zero_block_bitmap2(fs->block_map, b, end, &b) == 0)
		ret->blk[ret->n++] = b++;
}

/* Whether blk is one of dir's blocks: data, or a node of its extent tree. */
static bool ext4_dir_owns(struct svc_fs *sfs, ext2_ino_t dir, blk64_t blk)
{
	ext2_extent_handle_t handle = NULL;
	struct ext2fs_extent ext;
	bool owns = false;
	errcode_t err;

	if (ext2fs_extent_open(sfs->fs, dir, &handle))
		return true; /* unsure: keep it, a leak is the lesser harm */
	for (err = ext2fs_extent_get(handle, EXT2_EXTENT_ROOT, &ext); err == 0 && !owns;
	     err = ext2fs_extent_get(handle, EXT2_EXTENT_NEXT, &ext)) {
		if (ext.e_flags & EXT2_EXTENT_FLAGS_SECOND_VISIT)
			continue;
		if (ext.e_flags & EXT2_EXTENT_FLAGS_LEAF)
			owns = blk >= ext.e_pblk && blk < ext.e_pblk + ext.e_len;
		else
			owns = blk == ext.e_pblk;
	}
	if (err && err != EXT2_ET_EXTENT_NO_NEXT && err != EXT2_ET_NO_CURRENT_NODE)
		owns = true;
	ext2fs_extent_free(handle);
	return owns;
}

/* After a failed ext2fs_link(): the noted blocks taken since and not dir's go back. */
static void ext4_grow_undo(struct svc_fs *sfs, ext2_ino_t dir, const struct ext4_grow_note *note)
{
	for (unsigned int i = 0; i < note->n; i++)
		if (ext2fs_test_block_bitmap2(sfs->fs->block_map, note->blk[i]) &&
		    !ext4_dir_owns(sfs, dir, note->blk[i]))
			ext2fs_block_alloc_stats2(sfs->fs, note->blk[i], -1);
}

/* ext2fs_link(), without keeping a block a failed growth took. */
static errcode_t ext4_link_entry(struct svc_fs *sfs, ext2_ino_t dir, const char *name,
				 ext2_ino_t ino, int ftype)
{
	struct ext2_inode_large dinode;
	struct ext4_grow_note note = { .n = 0 };
	errcode_t err;

	if (ext4_inode_read(sfs, dir, &dinode) == 0)
		ext4_grow_note(sfs, &dinode, &note);
	err = ext2fs_link(sfs->fs, dir, name, ino, ftype);
	if (err)
		ext4_grow_undo(sfs, dir, &note);
	return err;
}

/* Adds name -> ino to dir, growing the directory when it is full. */
static int ext4_add_entry(struct svc_fs *sfs, ext2_ino_t dir, const char *name, ext2_ino_t ino,
			  int ftype, const struct ext4_dir_hint *hint)
{
	errcode_t err;
	int r;

	/* Before ext4_dir_changed(), which makes the hint stale. */
	r = ext4_dx_insert(sfs, dir, name, ino, ftype, hint);
	ext4_dir_changed(sfs, dir);
	if (r <= 0)
		return r;
	err = ext4_link_entry(sfs, dir, name, ino, ftype);
	if (err == EXT2_ET_DIR_NO_SPACE) {
		/* Like the kernel: a one-block directory that fills up becomes an htree. */
		r = ext4_dir_make_indexed(sfs, dir);

		if (r < 0)
			return r;
		if (r > 0) {
			r = ext4_expand_dir(sfs, dir);
			if (r < 0)
				return r;
		}
		err = ext4_link_entry(sfs, dir, name, ino, ftype);
	}
	if (err == EXT2_ET_BLOCK_ALLOC_FAIL || err == EXT2_ET_DIR_NO_SPACE)
		return -ENOSPC;
	return ext4_errno(sfs, err, dir, "adding a directory entry");
}

/*
 * Changes the entry name -> ino in one block of an htree directory (found through the index,
 * so a 100,000-entry directory is not scanned): new_ino 0 removes it, merging its space into
 * the entry before it as the kernel does. 1: not in that block (search linearly).
 */
static int ext4_dx_edit(struct svc_fs *sfs, ext2_ino_t dir, const char *name, ext2_ino_t ino,
			ext2_ino_t new_ino, int ftype, const struct ext4_dir_hint *hint)
{
	ext2_filsys fs = sfs->fs;
	struct ext2_inode_large dinode;
	_cleanup_free_ char *buf = NULL;
	unsigned int bs = sfs->blocksize, pos, prev = 0, rec_len, prev_len = 0;
	size_t name_len = strlen(name);
	uint64_t lblk = 0;
	blk64_t pblk = 0;
	ext2_ino_t found;
	int r;

	/* The lookup that found the name said in which leaf; the block is searched for the
	 * entry below anyway, so a leaf that moved since only costs the full search. */
	if (hint && hint->lblk == UINT64_MAX)
		hint = NULL;
	if (hint) {
		lblk = hint->lblk;
	} else {
		r = ext4_dir_locate(sfs, dir, name, &found, &lblk);
		if (r == -EAGAIN || r == -ENOENT)
			return 1;
		if (r < 0)
			return r;
		if (found != ino)
			return 1;
	}
	r = ext4_inode_read(sfs, dir, &dinode);
	if (r < 0)
		return r;
	r = ext4_dir_read_leaf(sfs, dir, &dinode, lblk, &pblk, &buf);
	if (r != 0)
		return r;
	for (pos = 0; pos < bs; prev = pos, prev_len = rec_len, pos += rec_len) {
		struct ext2_dir_entry *de = (struct ext2_dir_entry *)(buf + pos);

		if (ext2fs_get_rec_len(fs, de, &rec_len) || rec_len < 8 || pos + rec_len > bs)
			return ext4_corrupt(sfs, dir, "invalid directory entry length");
		if (de->inode != ino || (size_t)ext2fs_dirent_name_len(de) != name_len ||
		    memcmp(de->name, name, name_len) != 0)
			continue;
		if (new_ino) {
			de->inode = new_ino;
			/* Without the filetype feature that byte must stay 0 (e2fsck clears it). */
			if (ext2fs_has_feature_filetype(fs->super))
				ext2fs_dirent_set_file_type(de, ftype);
		} else if (pos == 0) {
			de->inode = 0;
		} else {
			struct ext2_dir_entry *p = (struct ext2_dir_entry *)(buf + prev);

			if (ext2fs_set_rec_len(fs, prev_len + rec_len, p))
				return ext4_corrupt(sfs, dir, "invalid directory entry length");
		}
		return ext4_write_dir_leaf(sfs, dir, dinode.i_generation, pblk, buf);
	}
	/* Not where the hint said: search through the index. */
	return hint ? ext4_dx_edit(sfs, dir, name, ino, new_ino, ftype, NULL) : 1;
}

static int ext4_remove_entry(struct svc_fs *sfs, ext2_ino_t dir, const char *name, ext2_ino_t ino,
			     const struct ext4_dir_hint *hint)
{
	errcode_t err;
	int r;

	ext4_dir_changed(sfs, dir);
	r = ext4_dx_edit(sfs, dir, name, ino, 0, 0, hint);
	if (r <= 0)
		return r;
	err = ext2fs_unlink(sfs->fs, dir, name, ino, 0);
	if (err == EXT2_ET_DIR_NO_SPACE)
		return -ENOENT;
	return ext4_errno(sfs, err, dir, "removing a directory entry");
}

struct ext4_replace_ctx {
	const char *name;
	size_t name_len;
	ext2_ino_t old_ino;
	ext2_ino_t new_ino;
	int ftype; /* -1: the filesystem has no filetype feature, leave the byte 0 */
	bool done;
};

static int ext4_replace_cb(ext2_ino_t dir, int entry, struct ext2_dir_entry *de, int offset,
			   int blocksize, char *buf, void *priv)
{
	struct ext4_replace_ctx *c = priv;

	if (de->inode != c->old_ino || (size_t)ext2fs_dirent_name_len(de) != c->name_len ||
	    memcmp(de->name, c->name, c->name_len) != 0)
		return 0;
	de->inode = c->new_ino;
	if (c->ftype >= 0)
		ext2fs_dirent_set_file_type(de, c->ftype);
	c->done = true;
	return DIRENT_CHANGED | DIRENT_ABORT;
}

/* Points the entry name (now naming old_ino) of dir at new_ino, in place. */
static int ext4_replace_entry(struct svc_fs *sfs, ext2_ino_t dir, const char *name,
			      ext2_ino_t old_ino, ext2_ino_t new_ino, int ftype)
{
	struct ext4_replace_ctx c = { .name = name, .name_len = strlen(name), .old_ino = old_ino,
				      .new_ino = new_ino, .ftype = ftype };
	errcode_t err;
	int r;

	ext4_dir_changed(sfs, dir);
	r = ext4_dx_edit(sfs, dir, name, old_ino, new_ino, ftype, NULL);
	if (r <= 0)
		return r;
	if (!ext2fs_has_feature_filetype(sfs->fs->super))
		c.ftype = -1;
	err = ext2fs_dir_iterate2(sfs->fs, dir, DIRENT_FLAG_INCLUDE_EMPTY, NULL, ext4_replace_cb,
				  &c);
	if (err)
		return ext4_errno(sfs, err, dir, "changing a directory entry");
	if (!c.done)
		return ext4_corrupt(sfs, dir, "directory entry vanished while renaming");
	return 0;
}

struct ext4_empty_ctx {
	bool empty;
};

static int ext4_empty_cb(ext2_ino_t dir, int entry, struct ext2_dir_entry *de, int offset,
			 int blocksize, char *buf, void *priv)
{
	struct ext4_empty_ctx *c = priv;
	unsigned int len = ext2fs_dirent_name_len(de);

	if (de->inode == 0)
		return 0;
	if ((len == 1 && de->name[0] == '.') ||
	    (len == 2 && de->name[0] == '.' && de->name[1] == '.'))
		return 0;
	c->empty = false;
	return DIRENT_ABORT;
}

static int ext4_dir_is_empty(struct svc_fs *sfs, ext2_ino_t dir)
{
	struct ext4_empty_ctx c = { .empty = true };
	errcode_t err;

	err = ext2fs_dir_iterate2(sfs->fs, dir, 0, NULL, ext4_empty_cb, &c);
	if (err)
		return ext4_errno(sfs, err, dir, "reading a directory");
	return c.empty ? 1 : 0;
}

/* The name must not exist yet; *ret_hint says where to add it. */
static int ext4_check_absent(struct svc_fs *sfs, ext2_ino_t dir, const char *name,
			     struct ext4_dir_hint *ret_hint)
{
	ext2_ino_t ino;
	int r;

	r = ext4_dir_search(sfs, dir, name, &ino, ret_hint);
	if (r == 0)
		return -EEXIST;
	return r == -ENOENT ? 0 : r;
}

/* Everything a new inode of any kind starts with. */
static void ext4_init_inode(struct svc_fs *sfs, struct ext2_inode_large *inode, mode_t mode,
			    uint32_t uid, uint32_t gid)
{
	struct timespec now;

	inode->i_mode = mode;
	ext4_inode_set_uid(inode, uid);
	ext4_inode_set_gid(inode, gid);
	ext4_now(&now);
	ext4_inode_set_time(sfs, inode, EXT4_ATIME, &now);
	ext4_inode_set_time(sfs, inode, EXT4_MTIME, &now);
	ext4_inode_set_time(sfs, inode, EXT4_CTIME, &now);
	ext4_inode_set_time(sfs, inode, EXT4_CRTIME, &now);
}

/* Owner, group and mode of a new inode in dir: the setgid directory rules. */
static void ext4_new_owner(const struct ext2_inode_large *dinode, const struct ext4_cred *cred,
			   mode_t *mode, uint32_t *uid, uint32_t *gid)
{
	*uid = cred->uid;
	*gid = cred->gid;
	if (dinode->i_mode & LINUX_S_ISGID) {
		*gid = ext4_inode_gid(dinode);
		if (S_ISDIR(*mode))
			*mode |= S_ISGID;
	}
}

/*
 * A generation differs from the previous user's of the inode number, so that a file handle of
 * a deleted file gives ESTALE instead of opening whatever reuses the number. Random like the
 * kernel's (libext2fs 1.47 leaves it to the caller).
 */
static uint32_t ext4_new_generation(uint32_t old)
{
	uint32_t g = old;

	while (g == old) {
		if (getrandom(&g, sizeof(g), 0) != sizeof(g))
			g = old + 1;
	}
	return g;
}

/* Reads back an inode libext2fs created and gives it our owner, mode and times. */
static int ext4_finish_new(struct svc_fs *sfs, ext2_ino_t ino, mode_t mode, uint32_t uid,
			   uint32_t gid)
{
	struct ext2_inode_large inode;
	errcode_t err;

	err = ext4_inode_read_raw(sfs, ino, &inode);
	if (err)
		return ext4_errno(sfs, err, ino, "reading the new inode");
	ext4_init_inode(sfs, &inode, mode, uid, gid);
	inode.i_generation = ext4_new_generation(inode.i_generation);
	return ext4_inode_write(sfs, ino, &inode);
}

/*
 * The checksum of a directory block covers the inode's generation, which ext4_finish_new()
 * changed after ext2fs_mkdir() wrote the first block: compute it again.
 */
static int ext4_redo_dir_csum(struct svc_fs *sfs, ext2_ino_t ino)
{
	ext2_filsys fs = sfs->fs;
	struct ext2_inode_large inode;
	_cleanup_free_ char *buf = NULL;
	blk64_t pblk = 0;
	errcode_t err;
	int r;

	if (!ext2fs_has_feature_metadata_csum(fs->super))
		return 0;
	r = ext4_inode_read(sfs, ino, &inode);
	if (r < 0)
		return r;
	if (inode.i_flags & EXT4_INLINE_DATA_FL)
		return 0;
	err = ext2fs_bmap2(fs, ino, (struct ext2_inode *)&inode, NULL, 0, 0, NULL, &pblk);
	if (err)
		return ext4_errno(sfs, err, ino, "mapping a directory block");
	buf = malloc(sfs->blocksize);
	if (!buf)
		return -ENOMEM;
	/* Raw: the block's checksum is the stale one we are replacing. */
	err = io_channel_read_blk64(fs->io, pblk, 1, buf);
	if (!err)
		err = ext2fs_dir_block_csum_set(fs, ino, (struct ext2_dir_entry *)buf);
	if (!err)
		err = io_channel_write_blk64(fs->io, pblk, 1, buf);
	return ext4_errno(sfs, err, ino, "writing a directory block");
}

/* Undoes a new inode that never got its name. */
static void ext4_abandon(struct svc_fs *sfs, ext2_ino_t ino)
{
	struct ext2_inode_large inode;

	if (ext4_inode_read(sfs, ino, &inode) == 0) {
		inode.i_links_count = 0;
		if (ext4_inode_write(sfs, ino, &inode) == 0)
			(void)ext4_inode_delete(sfs, ino);
	}
}

int ext4_mknod(struct svc_fs *sfs, ext2_ino_t dir, const char *name, mode_t mode, dev_t rdev,
	       const struct ext4_cred *cred, ext2_ino_t *ret_ino)
{
	struct ext4_dir_hint hint;
	ext2_filsys fs = sfs->fs;
	struct ext2_inode_large dinode, inode;
	uint32_t uid, gid;
	ext2_ino_t ino;
	errcode_t err;
	int r;

	r = ext4_check_new_name(sfs, name);
	if (r < 0)
		return r;
	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
	case S_IFSOCK:
		break;
	default:
		return -EINVAL;
	}
	r = ext4_dir_for_write(sfs, dir, &dinode);
	if (r < 0)
		return r;
	r = ext4_check_absent(sfs, dir, name, &hint);
	if (r < 0)
		return r;
	ext4_new_owner(&dinode, cred, &mode, &uid, &gid);
	r = ext4_acl_inherit(sfs, dir, 0, false, &mode, cred->umask, false);
	if (r < 0)
		return r;

	err = ext2fs_new_inode(fs, dir, mode, NULL, &ino);
	if (err)
		return err == EXT2_ET_INODE_ALLOC_FAIL ? -ENOSPC :
		       ext4_errno(sfs, err, dir, "allocating an inode");

	memset(&inode, 0, sizeof(inode));
	inode.i_links_count = 1;
	if (S_ISREG(mode) && ext2fs_has_feature_extents(fs->super)) {
		struct ext3_extent_header *eh = (struct ext3_extent_header *)inode.i_block;

		/* An empty extent tree in i_block: four slots, depth 0. */
		inode.i_flags |= EXT4_EXTENTS_FL;
		eh->eh_magic = ext2fs_cpu_to_le16(EXT3_EXT_MAGIC);
		eh->eh_max = ext2fs_cpu_to_le16((sizeof(inode.i_block) - sizeof(*eh)) /
						sizeof(struct ext3_extent));
	}
	if (S_ISCHR(mode) || S_ISBLK(mode)) {
		unsigned int ma = major(rdev), mi = minor(rdev);

		/* The kernel's encoding: old 8:8 in i_block[0] when it fits, else new. */
		if (ma < 256 && mi < 256)
			inode.i_block[0] = ma << 8 | mi;
		else
			inode.i_block[1] = (mi & 0xff) | (ma << 8) | ((mi & ~0xffu) << 12);
	}
	inode.i_mode = mode;
	/* write_new_inode zeroes the rest of a large inode; ext4_finish_new() sets the rest. */
	err = ext2fs_write_new_inode(fs, ino, (struct ext2_inode *)&inode);
	if (err)
		return ext4_errno(sfs, err, ino, "writing the new inode");
	ext2fs_inode_alloc_stats2(fs, ino, +1, 0);
	r = ext4_finish_new(sfs, ino, mode, uid, gid);
	if (r == 0)
		r = ext4_acl_inherit(sfs, dir, ino, false, &mode, cred->umask, true);
	if (r == 0)
		r = ext4_add_entry(sfs, dir, name, ino, ext4_ftype(mode), &hint);
	if (r < 0) {
		ext4_abandon(sfs, ino);
		return r;
	}
	r = ext4_dir_touch(sfs, dir, 0);
	if (r < 0)
		return r;
	*ret_ino = ino;
	return 0;
}

int ext4_mkdir(struct svc_fs *sfs, ext2_ino_t dir, const char *name, mode_t mode,
	       const struct ext4_cred *cred, ext2_ino_t *ret_ino)
{
	struct ext4_dir_hint hint;
	ext2_filsys fs = sfs->fs;
	struct ext2_inode_large dinode;
	uint32_t uid, gid;
	uint16_t dir_links;
	ext2_ino_t ino;
	errcode_t err;
	int r;

	r = ext4_check_new_name(sfs, name);
	if (r < 0)
		return r;
	r = ext4_dir_for_write(sfs, dir, &dinode);
	if (r < 0)
		return r;
	r = ext4_check_absent(sfs, dir, name, &hint);
	if (r < 0)
		return r;
	if (dinode.i_links_count >= EXT2_LINK_MAX && !ext2fs_has_feature_dir_nlink(fs->super))
		return -EMLINK;
	mode = (mode & 07777) | S_IFDIR;
	ext4_new_owner(&dinode, cred, &mode, &uid, &gid);
	r = ext4_acl_inherit(sfs, dir, 0, true, &mode, cred->umask, false);
	if (r < 0)
		return r;
	dir_links = dinode.i_links_count;

	err = ext2fs_new_inode(fs, dir, LINUX_S_IFDIR, NULL, &ino);
	if (err)
		return err == EXT2_ET_INODE_ALLOC_FAIL ? -ENOSPC :
		       ext4_errno(sfs, err, dir, "allocating an inode");
	/* No name: libext2fs would look it up linearly and not grow a full directory. It does
	 * write '.', '..' and raise the parent's link count. */
	err = ext2fs_mkdir(fs, dir, ino, NULL);
	if (err)
		return err == EXT2_ET_BLOCK_ALLOC_FAIL ? -ENOSPC :
		       ext4_errno(sfs, err, dir, "creating a directory");
	r = ext4_finish_new(sfs, ino, mode, uid, gid);
	if (r == 0)
		r = ext4_redo_dir_csum(sfs, ino);
	if (r == 0)
		r = ext4_acl_inherit(sfs, dir, ino, true, &mode, cred->umask, true);
	if (r == 0)
		r = ext4_add_entry(sfs, dir, name, ino, EXT2_FT_DIR, &hint);
	if (r == 0) {
		/* Put the parent's count back and raise it our way (dir_nlink aware). */
		r = ext4_inode_read(sfs, dir, &dinode);
		if (r == 0) {
			dinode.i_links_count = dir_links;
			r = ext4_inode_write(sfs, dir, &dinode);
		}
	}
	if (r < 0) {
		ext4_abandon(sfs, ino);
		if (ext4_inode_read(sfs, dir, &dinode) == 0) {
			dinode.i_links_count = dir_links;
			(void)ext4_inode_write(sfs, dir, &dinode);
		}
		return r;
	}
	r = ext4_dir_touch(sfs, dir, +1);
	if (r < 0)
		return r;
	*ret_ino = ino;
	return 0;
}

/*
 * The symlink inode as the kernel makes it: the target in i_block when it is shorter than 60
 * bytes, else in one data block (never inline data, which ext2fs_symlink() would use on an
 * inline_data filesystem and which would show as a symlink without blocks).
 */
static int ext4_symlink_inode(struct svc_fs *sfs, ext2_ino_t ino, const char *target)
{
	ext2_filsys fs = sfs->fs;
	size_t len = strlen(target);
	struct ext2_inode_large inode;
	_cleanup_free_ char *buf = NULL;
	blk64_t blk = 0;
	errcode_t err;
	int r;

	memset(&inode, 0, sizeof(inode));
	inode.i_mode = LINUX_S_IFLNK | 0777;
	inode.i_links_count = 1;
	inode.i_size = (uint32_t)len;
	if (len < sizeof(inode.i_block)) {
		memcpy(inode.i_block, target, len);
		err = ext2fs_write_new_inode(fs, ino, (struct ext2_inode *)&inode);
		if (err)
			return ext4_errno(sfs, err, ino, "writing the new inode");
		ext2fs_inode_alloc_stats2(fs, ino, +1, 0);
		return 0;
	}
	if (ext2fs_has_feature_extents(fs->super)) {
		struct ext3_extent_header *eh = (struct ext3_extent_header *)inode.i_block;

		inode.i_flags |= EXT4_EXTENTS_FL;
		eh->eh_magic = ext2fs_cpu_to_le16(EXT3_EXT_MAGIC);
		eh->eh_max = ext2fs_cpu_to_le16((sizeof(inode.i_block) - sizeof(*eh)) /
						sizeof(struct ext3_extent));
	}
	buf = calloc(1, sfs->blocksize);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, target, len);
	/* The block is found before the inode is taken: on a full filesystem nothing is. */
	err = ext2fs_new_block2(fs, ext2fs_find_inode_goal(fs, ino, (struct ext2_inode *)&inode, 0),
				NULL, &blk);
	if (err)
		return err == EXT2_ET_BLOCK_ALLOC_FAIL ? -ENOSPC :
		       ext4_errno(sfs, err, ino, "allocating a symlink block");
	err = ext2fs_write_new_inode(fs, ino, (struct ext2_inode *)&inode);
	if (err)
		return ext4_errno(sfs, err, ino, "writing the new inode");
	ext2fs_inode_alloc_stats2(fs, ino, +1, 0);
	ext2fs_block_alloc_stats2(fs, blk, +1);
	/* The target first, then the mapping that makes it the inode's. */
	err = io_channel_write_blk64(fs->io, blk, 1, buf);
	if (!err)
		err = ext2fs_bmap2(fs, ino, (struct ext2_inode *)&inode, NULL, BMAP_SET, 0, NULL,
				   &blk);
	if (err) {
		ext2fs_block_alloc_stats2(fs, blk, -1);
		return ext4_errno(sfs, err, ino, "writing the symlink block");
	}
	r = ext4_inode_read(sfs, ino, &inode);
	if (r < 0)
		return r;
	err = ext2fs_iblk_set(fs, (struct ext2_inode *)&inode, 1);
	if (err)
		return ext4_errno(sfs, err, ino, "counting the symlink block");
	return ext4_inode_write(sfs, ino, &inode);
}

int ext4_symlink(struct svc_fs *sfs, ext2_ino_t dir, const char *name, const char *target,
		 const struct ext4_cred *cred, ext2_ino_t *ret_ino)
{
	struct ext4_dir_hint hint;
	ext2_filsys fs = sfs->fs;
	struct ext2_inode_large dinode;
	mode_t mode = S_IFLNK | 0777;
	uint32_t uid, gid;
	ext2_ino_t ino;
	errcode_t err;
	int r;

	r = ext4_check_new_name(sfs, name);
	if (r < 0)
		return r;
	/* The kernel's limit: the target and its NUL in one block. */
	if (strlen(target) >= sfs->blocksize)
		return -ENAMETOOLONG;
	if (target[0] == '\0')
		return -ENOENT;
	r = ext4_dir_for_write(sfs, dir, &dinode);
	if (r < 0)
		return r;
	r = ext4_check_absent(sfs, dir, name, &hint);
	if (r < 0)
		return r;
	ext4_new_owner(&dinode, cred, &mode, &uid, &gid);

	err = ext2fs_new_inode(fs, dir, LINUX_S_IFLNK, NULL, &ino);
	if (err)
		return err == EXT2_ET_INODE_ALLOC_FAIL ? -ENOSPC :
		       ext4_errno(sfs, err, dir, "allocating an inode");
	r = ext4_symlink_inode(sfs, ino, target);
	if (r == 0)
		r = ext4_finish_new(sfs, ino, mode, uid, gid);
	if (r == 0)
		r = ext4_add_entry(sfs, dir, name, ino, EXT2_FT_SYMLINK, &hint);
	if (r < 0) {
		/* Unless ext4_symlink_inode() failed before it took the inode. */
		if (ext2fs_test_inode_bitmap2(fs->inode_map, ino))
			ext4_abandon(sfs, ino);
		return r;
	}
	r = ext4_dir_touch(sfs, dir, 0);
	if (r < 0)
		return r;
	*ret_ino = ino;
	return 0;
}

int ext4_link(struct svc_fs *sfs, ext2_ino_t ino, ext2_ino_t dir, const char *name)
{
	struct ext4_dir_hint hint;
	struct ext2_inode_large dinode, inode;
	struct timespec now;
	int r;

	r = ext4_check_new_name(sfs, name);
	if (r < 0)
		return r;
	r = ext4_dir_for_write(sfs, dir, &dinode);
	if (r < 0)
		return r;
	r = ext4_inode_read(sfs, ino, &inode);
	if (r < 0)
		return r == -ESTALE ? -ENOENT : r;
	if (LINUX_S_ISDIR(inode.i_mode))
		return -EPERM;
	if (inode.i_links_count >= EXT2_LINK_MAX)
		return -EMLINK;
	r = ext4_check_absent(sfs, dir, name, &hint);
	if (r < 0)
		return r;
	/* The count first: a stop in between leaves one too many, which e2fsck fixes
	 * without losing anything. */
	inode.i_links_count++;
	ext4_now(&now);
	ext4_inode_set_time(sfs, &inode, EXT4_CTIME, &now);
	r = ext4_inode_write(sfs, ino, &inode);
	if (r < 0)
		return r;
	r = ext4_add_entry(sfs, dir, name, ino, ext4_ftype(inode.i_mode), &hint);
	if (r < 0) {
		if (ext4_inode_read(sfs, ino, &inode) == 0) {
			inode.i_links_count--;
			(void)ext4_inode_write(sfs, ino, &inode);
		}
		return r;
	}
	return ext4_dir_touch(sfs, dir, 0);
}

/* One link of ino is gone: count down, and delete or keep as an orphan at zero. */
static int ext4_drop_link(struct svc_fs *sfs, ext2_ino_t ino, bool whole_dir)
{
	struct ext2_inode_large inode;
	struct timespec now;
	int r;

	r = ext4_inode_read(sfs, ino, &inode);
	if (r < 0)
		return r;
	if (whole_dir)
		inode.i_links_count = 0;
	else if (inode.i_links_count > 0)
		inode.i_links_count--;
	ext4_now(&now);
	ext4_inode_set_time(sfs, &inode, EXT4_CTIME, &now);
	if (inode.i_links_count > 0)
		return ext4_inode_write(sfs, ino, &inode);
	r = ext4_inode_write(sfs, ino, &inode);
	if (r < 0)
		return r;
	if (ext4_is_open(sfs, ino))
		return ext4_orphan_add(sfs, ino);
	return ext4_inode_delete(sfs, ino);
}

static int ext4_name_ino(struct svc_fs *sfs, ext2_ino_t dir, const char *name,
			 struct ext2_inode_large *dinode, ext2_ino_t *ret_ino,
			 struct ext2_inode_large *ret_inode, struct ext4_dir_hint *ret_hint)
{
	int r;

	if (strlen(name) > EXT4_NAME_MAX)
		return -ENAMETOOLONG;
	r = ext4_dir_for_write(sfs, dir, dinode);
	if (r < 0)
		return r;
	r = ext4_dir_search(sfs, dir, name, ret_ino, ret_hint);
	if (r < 0)
		return r;
	r = ext4_inode_read(sfs, *ret_ino, ret_inode);
	if (r == -ESTALE)
		return ext4_corrupt(sfs, *ret_ino, "directory entry names a deleted inode");
	return r;
}

int ext4_unlink(struct svc_fs *sfs, ext2_ino_t dir, const char *name)
{
	struct ext4_dir_hint hint;
	struct ext2_inode_large dinode, inode;
	ext2_ino_t ino;
	int r;

	r = ext4_check_rw(sfs);
	if (r < 0)
		return r;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -EISDIR;
	r = ext4_name_ino(sfs, dir, name, &dinode, &ino, &inode, &hint);
	if (r < 0)
		return r;
	if (LINUX_S_ISDIR(inode.i_mode))
		return -EISDIR;
	r = ext4_remove_entry(sfs, dir, name, ino, &hint);
	if (r < 0)
		return r;
	r = ext4_dir_touch(sfs, dir, 0);
	if (r < 0)
		return r;
	return ext4_drop_link(sfs, ino, false);
}

int ext4_rmdir(struct svc_fs *sfs, ext2_ino_t dir, const char *name)
{
	struct ext4_dir_hint hint;
	struct ext2_inode_large dinode, inode;
	ext2_ino_t ino;
	int r;

	r = ext4_check_rw(sfs);
	if (r < 0)
		return r;
	if (strcmp(name, ".") == 0)
		return -EINVAL;
	if (strcmp(name, "..") == 0)
		return -ENOTEMPTY;
	r = ext4_name_ino(sfs, dir, name, &dinode, &ino, &inode, &hint);
	if (r < 0)
		return r;
	if (!LINUX_S_ISDIR(inode.i_mode))
		return -ENOTDIR;
	if (ino == EXT2_ROOT_INO)
		return -EBUSY;
	r = ext4_dir_is_empty(sfs, ino);
	if (r < 0)
		return r;
	if (r == 0)
		return -ENOTEMPTY;
	r = ext4_remove_entry(sfs, dir, name, ino, &hint);
	if (r < 0)
		return r;
	r = ext4_dir_touch(sfs, dir, -1);
	if (r < 0)
		return r;
	ext4_dir_changed(sfs, ino);
	return ext4_drop_link(sfs, ino, true);
}

/* Whether dir is ino or lies below it: a directory must not move into itself. */
static int ext4_is_ancestor(struct svc_fs *sfs, ext2_ino_t ino, ext2_ino_t dir)
{
	for (unsigned int depth = 0; depth < 65536; depth++) {
		ext2_ino_t parent;
		int r;

		if (dir == ino)
			return 1;
		if (dir == EXT2_ROOT_INO)
			return 0;
		r = ext4_dir_lookup(sfs, dir, "..", &parent);
		if (r < 0)
			return r;
		dir = parent;
	}
	return ext4_corrupt(sfs, dir, "directory loop through '..'");
}

/* A directory that changed parent: its '..' entry and both parents' link counts. */
static int ext4_reparent(struct svc_fs *sfs, ext2_ino_t ino, ext2_ino_t from, ext2_ino_t to)
{
	int r;

	r = ext4_replace_entry(sfs, ino, "..", from, to, EXT2_FT_DIR);
	if (r < 0)
		return r;
	r = ext4_dir_touch(sfs, from, -1);
	if (r < 0)
		return r;
	return ext4_dir_touch(sfs, to, +1);
}

static int ext4_exchange(struct svc_fs *sfs, ext2_ino_t dir, const char *name, ext2_ino_t ino,
			 const struct ext2_inode_large *inode, ext2_ino_t newdir,
			 const char *newname, ext2_ino_t target,
			 const struct ext2_inode_large *tinode)
{
	bool d1 = LINUX_S_ISDIR(inode->i_mode), d2 = LINUX_S_ISDIR(tinode->i_mode);
	int r;

	if (dir != newdir) {
		if (d1) {
			r = ext4_is_ancestor(sfs, ino, newdir);
			if (r != 0)
				return r < 0 ? r : -EINVAL;
		}
		if (d2) {
			r = ext4_is_ancestor(sfs, target, dir);
			if (r != 0)
				return r < 0 ? r : -EINVAL;
		}
	}
	r = ext4_replace_entry(sfs, dir, name, ino, target, ext4_ftype(tinode->i_mode));
	if (r < 0)
		return r;
	r = ext4_replace_entry(sfs, newdir, newname, target, ino, ext4_ftype(inode->i_mode));
	if (r < 0)
		return r;
	if (dir != newdir && d1 != d2) {
		/* One directory moved each way: only the side that gained one gains a link. */
		if (d1)
			r = ext4_reparent(sfs, ino, dir, newdir);
		else
			r = ext4_reparent(sfs, target, newdir, dir);
	} else if (dir != newdir && d1) {
		r = ext4_replace_entry(sfs, ino, "..", dir, newdir, EXT2_FT_DIR);
		if (r == 0)
			r = ext4_replace_entry(sfs, target, "..", newdir, dir, EXT2_FT_DIR);
	}
	if (r < 0)
		return r;
	r = ext4_dir_touch(sfs, dir, 0);
	if (r == 0 && newdir != dir)
		r = ext4_dir_touch(sfs, newdir, 0);
	if (r == 0)
		r = ext4_touch_ctime(sfs, ino);
	if (r == 0)
		r = ext4_touch_ctime(sfs, target);
	return r;
}

int ext4_rename(struct svc_fs *sfs, ext2_ino_t dir, const char *name, ext2_ino_t newdir,
		const char *newname, unsigned int flags)
{
	struct ext4_dir_hint hint, nhint = { .lblk = UINT64_MAX };
	struct ext2_inode_large dinode, ndinode, inode, tinode;
	ext2_ino_t ino, target = 0;
	bool is_dir;
	int r;

	r = ext4_check_rw(sfs);
	if (r < 0)
		return r;
	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE))
		return -EINVAL;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strcmp(newname, ".") == 0 ||
	    strcmp(newname, "..") == 0)
		return -EBUSY;
	r = ext4_check_name(newname);
	if (r < 0)
		return r;
	r = ext4_name_ino(sfs, dir, name, &dinode, &ino, &inode, &hint);
	if (r < 0)
		return r;
	r = ext4_dir_for_write(sfs, newdir, &ndinode);
	if (r < 0)
		return r;
	r = ext4_dir_search(sfs, newdir, newname, &target, &nhint);
	if (r == -ENOENT)
		target = 0;
	else if (r < 0)
		return r;
	is_dir = LINUX_S_ISDIR(inode.i_mode);

	if (flags & RENAME_EXCHANGE) {
		if (!target)
			return -ENOENT;
		if (target == ino)
			return 0;
		r = ext4_inode_read(sfs, target, &tinode);
		if (r < 0)
			return r;
		return ext4_exchange(sfs, dir, name, ino, &inode, newdir, newname, target, &tinode);
	}
	if (target && (flags & RENAME_NOREPLACE))
		return -EEXIST;
	/* Two names of one inode: POSIX says do nothing. */
	if (target == ino)
		return 0;
	if (is_dir && dir != newdir) {
		r = ext4_is_ancestor(sfs, ino, newdir);
		if (r != 0)
			return r < 0 ? r : -EINVAL;
	}
	if (target) {
		r = ext4_inode_read(sfs, target, &tinode);
		if (r < 0)
			return r;
		if (is_dir && !LINUX_S_ISDIR(tinode.i_mode))
			return -ENOTDIR;
		if (!is_dir && LINUX_S_ISDIR(tinode.i_mode))
			return -EISDIR;
		if (LINUX_S_ISDIR(tinode.i_mode)) {
			r = ext4_dir_is_empty(sfs, target);
			if (r < 0)
				return r;
			if (r == 0)
				return -ENOTEMPTY;
		}
	} else if (is_dir && dir != newdir && ndinode.i_links_count >= EXT2_LINK_MAX &&
		   !ext2fs_has_feature_dir_nlink(sfs->fs->super)) {
		return -EMLINK;
	}

	/* The new name first: a stop in between leaves two names (an extra link e2fsck
	 * fixes), never none. */
	if (target)
		r = ext4_replace_entry(sfs, newdir, newname, target, ino, ext4_ftype(inode.i_mode));
	else
		r = ext4_add_entry(sfs, newdir, newname, ino, ext4_ftype(inode.i_mode), &nhint);
	if (r < 0)
		return r;
	r = ext4_remove_entry(sfs, dir, name, ino, &hint);
	if (r < 0)
		return r;
	if (is_dir && dir != newdir) {
		r = ext4_replace_entry(sfs, ino, "..", dir, newdir, EXT2_FT_DIR);
		if (r < 0)
			return r;
	}
	/* Link counts of the parents: the moved directory's '..' leaves dir and joins newdir;
	 * a replaced directory's '..' leaves newdir. */
	r = ext4_dir_touch(sfs, dir, is_dir && dir != newdir ? -1 : 0);
	if (r < 0)
		return r;
	if (newdir != dir || (target && LINUX_S_ISDIR(tinode.i_mode))) {
		int delta = (is_dir && dir != newdir ? 1 : 0) -
			    (target && LINUX_S_ISDIR(tinode.i_mode) ? 1 : 0);

		r = ext4_dir_touch(sfs, newdir, delta);
		if (r < 0)
			return r;
	}
	r = ext4_touch_ctime(sfs, ino);
	if (r < 0)
		return r;
	if (target) {
		if (LINUX_S_ISDIR(tinode.i_mode))
			ext4_dir_changed(sfs, target);
		return ext4_drop_link(sfs, target, LINUX_S_ISDIR(tinode.i_mode));
	}
	return 0;
}
