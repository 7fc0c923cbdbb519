/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Freeing a file's blocks: delete, truncate and hole punching all end in libext2fs's
 * ext2fs_punch(), which has an off-by-one in 1.47.0 (Debian 12): it refuses to free a run of
 * blocks that ends at the last block of the filesystem (punch_extent_blocks() tests
 * free_start + free_count >= blocks_count). The extent is already gone from the tree by then,
 * so the file stays half-freed: rm and truncate fail with EUCLEAN, and the blocks and the
 * inode stay allocated with no owner (e2fsck: "Deleted inode N has zero dtime", bitmap
 * differences). A filesystem that was ever full has its last block in some file, so this
 * hits exactly the users who fill a stick and then delete things.
 *
 * The way around: before ext2fs_punch() sees the range, the one extent that maps the last
 * block (only one can) gives that block up here, where freeing it is in range; ext2fs_punch()
 * then frees the rest of the run, which now ends one block earlier. Indirect-mapped files go
 * through another path of ext2fs_punch() without the test.
 */
#include <errno.h>

#include "ext4.h"

/*
 * If the last block of the filesystem is mapped by an initialized or unwritten extent of
 * inode whose last logical block lies in [start, end] (the part ext2fs_punch() would free
 * together with it), take it out of the extent and free it; *ret_changed then says that
 * inode (i_blocks, perhaps the tree root in i_block) must be written.
 */
static errcode_t ext4_punch_last_block(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode *inode,
				       blk64_t start, blk64_t end, bool *ret_changed)
{
	blk64_t last = ext2fs_blocks_count(fs->super) - 1;
	ext2_extent_handle_t handle = NULL;
	struct ext2fs_extent ext;
	errcode_t err;
	bool found = false;

	if (!(inode->i_flags & EXT4_EXTENTS_FL) || (inode->i_flags & EXT4_INLINE_DATA_FL))
		return 0;
	/* Free: no extent can map it (unless the image is corrupt, and then e2fsck's turn). */
	if (!ext2fs_test_block_bitmap2(fs->block_map, last))
		return 0;
	err = ext2fs_extent_open2(fs, ino, inode, &handle);
	if (err)
		return err;
	/* Positions at the extent holding start, or the one before it if start is a hole. */
	(void)ext2fs_extent_goto2(handle, 0, start);
	err = ext2fs_extent_get(handle, EXT2_EXTENT_CURRENT, &ext);
	while (!err) {
		blk64_t lend = ext.e_lblk + ext.e_len - 1;

		if (ext.e_lblk > end)
			break;
		if ((ext.e_flags & EXT2_EXTENT_FLAGS_LEAF) && ext.e_len > 0 && lend >= start &&
		    lend <= end && ext.e_pblk + ext.e_len - 1 == last) {
			found = true;
			break;
		}
		err = ext2fs_extent_get(handle, EXT2_EXTENT_NEXT_LEAF, &ext);
	}
	if (err == EXT2_ET_EXTENT_NO_NEXT || err == EXT2_ET_NO_CURRENT_NODE)
		err = 0;
	if (!err && found) {
		if (ext.e_len > 1) {
			ext.e_len--;
			err = ext2fs_extent_replace(handle, 0, &ext);
		} else {
			err = ext2fs_extent_delete(handle, 0);
		}
		if (!err) {
			err = ext2fs_extent_fix_parents(handle);
			if (err == EXT2_ET_NO_CURRENT_NODE) /* the tree is empty now */
				err = 0;
		}
		if (!err) {
			ext2fs_block_alloc_stats2(fs, last, -1);
			err = ext2fs_iblk_sub_blocks(fs, inode, 1);
			*ret_changed = true;
		}
	}
	ext2fs_extent_free(handle);
	return err;
}

errcode_t ext4_punch(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode *inode, blk64_t start,
		     blk64_t end)
{
	bool changed = false;
	errcode_t err;

	if (start > end)
		return EINVAL;
	err = ext4_punch_last_block(fs, ino, inode, start, end, &changed);
	if (err)
		return err;
	/* ext2fs_punch() writes inode in the end, with what changed here. */
	return ext2fs_punch(fs, ino, inode, NULL, start, end);
}

errcode_t ext4_punch_prepare(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode *inode,
			     blk64_t start)
{
	bool changed = false;
	errcode_t err = ext4_punch_last_block(fs, ino, inode, start, ~0ULL, &changed);

	if (err || !changed)
		return err;
	return ext2fs_write_inode(fs, ino, inode);
}
