/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Turning a full one-block directory into an htree, as the kernel does when such a directory
 * needs a second block: libext2fs's ext2fs_link() maintains an existing index (and splits
 * leaves and grows levels) but never creates one, and a directory that grows linearly to
 * 100,000 entries makes every lookup and every insert scan all of it.
 *
 * The result: block 0 is the root ('.' and a '..' that covers the rest of the block, then the
 * dx_root_info and the index), blocks 1 and 2 are leaves holding the old entries split by
 * hash. Checksums (leaf tails, the dx tail) are set by ext2fs_write_dir_block4().
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ext4.h"
#include "log.h"

/* Offset of the root's dx_root_info: after "." (12 bytes) and the header of "..". */
#define DX_ROOT_INFO_OFF 24

struct htree_ent {
	uint32_t hash;
	unsigned int off; /* in the old block */
	unsigned int name_len;
};

static int htree_ent_cmp(const void *a, const void *b)
{
	const struct htree_ent *x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->off < y->off ? -1 : (x->off > y->off);
}

/* Lays entries [from, to) of old out as a leaf block in buf. */
static int htree_fill_leaf(struct svc_fs *sfs, const char *old, const struct htree_ent *ents,
			   size_t from, size_t to, char *buf)
{
	ext2_filsys fs = sfs->fs;
	unsigned int bs = sfs->blocksize, csum = 0, pos = 0;
	struct ext2_dir_entry *last = NULL;

	if (ext2fs_has_feature_metadata_csum(fs->super))
		csum = sizeof(struct ext2_dir_entry_tail);
	memset(buf, 0, bs);
	for (size_t i = from; i < to; i++) {
		unsigned int len = EXT2_DIR_REC_LEN(ents[i].name_len);
		struct ext2_dir_entry *de = (struct ext2_dir_entry *)(buf + pos);

		if (pos + len > bs - csum)
			return -ENOSPC;
		memcpy(de, old + ents[i].off, 8 + ents[i].name_len);
		if (ext2fs_set_rec_len(fs, len, de))
			return -EINVAL;
		last = de;
		pos += len;
	}
	if (!last) {
		/* An empty leaf: one unused entry covering it. */
		last = (struct ext2_dir_entry *)buf;
		last->inode = 0;
		pos = 0;
	}
	if (ext2fs_set_rec_len(fs, bs - csum - (unsigned int)((char *)last - buf), last))
		return -EINVAL;
	if (csum)
		ext2fs_initialize_dirent_tail(fs, (struct ext2_dir_entry_tail *)(buf + bs - csum));
	return 0;
}

int ext4_dir_make_indexed(struct svc_fs *sfs, ext2_ino_t dir)
{
	ext2_filsys fs = sfs->fs;
	unsigned int bs = sfs->blocksize, csum_tail = 0, pos, dot_len, dotdot_len;
	_cleanup_free_ char *old = NULL, *root = NULL, *leaf = NULL;
	_cleanup_free_ struct htree_ent *ents = NULL;
	struct ext2_inode_large inode;
	struct ext2_dx_root_info info;
	struct ext2_dx_countlimit cl;
	struct ext2_dx_entry de2;
	size_t n = 0, cap, split;
	uint32_t used = 0, half = 0;
	blk64_t pblk0 = 0, pblk1 = 0, pblk2 = 0;
	int version, r;
	errcode_t err;

	if (!ext2fs_has_feature_dir_index(fs->super))
		return 1;
	r = ext4_inode_read(sfs, dir, &inode);
	if (r < 0)
		return r;
	if ((inode.i_flags & (EXT2_INDEX_FL | EXT4_INLINE_DATA_FL)) ||
	    ext4_inode_size(sfs, &inode) != bs)
		return 1;
	version = fs->super->s_def_hash_version;
	if (version > EXT2_HASH_TEA)
		return 1;
	if (ext2fs_has_feature_metadata_csum(fs->super))
		csum_tail = sizeof(struct ext2_dir_entry_tail);

	old = malloc(bs);
	root = calloc(1, bs);
	leaf = malloc(bs);
	cap = bs / 12 + 1;
	ents = calloc(cap, sizeof(*ents));
	if (!old || !root || !leaf || !ents)
		return -ENOMEM;
	err = ext2fs_bmap2(fs, dir, (struct ext2_inode *)&inode, NULL, 0, 0, NULL, &pblk0);
	if (err)
		return ext4_errno(sfs, err, dir, "mapping a directory block");
	if (pblk0 == 0)
		return 1;
	err = ext2fs_read_dir_block4(fs, pblk0, old, 0, dir);
	if (err)
		return ext4_errno(sfs, err, dir, "reading a directory block");

	/* "." and ".." first, as e2fsck and the kernel require of an htree root. */
	struct ext2_dir_entry *d0 = (struct ext2_dir_entry *)old;
	if (ext2fs_get_rec_len(fs, d0, &dot_len) || dot_len < 12 || dot_len > bs ||
	    ext2fs_dirent_name_len(d0) != 1 || d0->name[0] != '.')
		return 1;
	struct ext2_dir_entry *d1 = (struct ext2_dir_entry *)(old + dot_len);
	if (ext2fs_get_rec_len(fs, d1, &dotdot_len) || dotdot_len < 12 ||
	    dot_len + dotdot_len > bs || ext2fs_dirent_name_len(d1) != 2 ||
	    memcmp(d1->name, "..", 2) != 0)
		return 1;

	for (pos = dot_len + dotdot_len; pos < bs - csum_tail;) {
		struct ext2_dir_entry *e = (struct ext2_dir_entry *)(old + pos);
		unsigned int rec_len, nl;
		ext2_dirhash_t hash = 0, minor;

		if (ext2fs_get_rec_len(fs, e, &rec_len) || rec_len < 8 || pos + rec_len > bs)
			return ext4_corrupt(sfs, dir, "invalid directory entry length");
		nl = ext2fs_dirent_name_len(e);
		if (e->inode && nl > 0) {
			if (8 + nl > rec_len || n == cap)
				return ext4_corrupt(sfs, dir, "invalid directory entry");
			err = ext2fs_dirhash2(version + (sfs->unsigned_hash ? EXT2_HASH_LEGACY_UNSIGNED : 0),
					      e->name, (int)nl, NULL, 0, sfs->hash_seed, &hash, &minor);
			if (err)
				return 1;
			ents[n].hash = hash & ~1u;
			ents[n].off = pos;
			ents[n].name_len = nl;
			used += EXT2_DIR_REC_LEN(nl);
			n++;
		}
		pos += rec_len;
	}
	qsort(ents, n, sizeof(*ents), htree_ent_cmp);
	/* Split near half the bytes, at a hash boundary so that no hash spans both leaves
	 * (then no collision bit is needed). */
	for (split = 0; split < n && half + EXT2_DIR_REC_LEN(ents[split].name_len) <= used / 2; split++)
		half += EXT2_DIR_REC_LEN(ents[split].name_len);
	while (split > 0 && split < n && ents[split].hash == ents[split - 1].hash)
		split++;
	if (split == 0 || split >= n)
		return 1;

	/* The two leaves, then the root over them, then the inode that says it is indexed. */
	err = ext2fs_bmap2(fs, dir, (struct ext2_inode *)&inode, NULL, BMAP_ALLOC, 1, NULL, &pblk1);
	if (!err)
		err = ext2fs_bmap2(fs, dir, (struct ext2_inode *)&inode, NULL, BMAP_ALLOC, 2, NULL,
				   &pblk2);
	if (err) {
		r = -ENOSPC;
		if (err != EXT2_ET_BLOCK_ALLOC_FAIL)
			r = ext4_errno(sfs, err, dir, "allocating directory blocks");
		goto unmap;
	}
	r = htree_fill_leaf(sfs, old, ents, 0, split, leaf);
	if (r == 0) {
		err = ext2fs_write_dir_block4(fs, pblk1, leaf, 0, dir);
		r = ext4_errno(sfs, err, dir, "writing a directory block");
	}
	if (r == 0)
		r = htree_fill_leaf(sfs, old, ents, split, n, leaf);
	if (r == 0) {
		err = ext2fs_write_dir_block4(fs, pblk2, leaf, 0, dir);
		r = ext4_errno(sfs, err, dir, "writing a directory block");
	}
	if (r < 0)
		goto unmap;

	/* "." keeps 12 bytes; ".." spans the rest of the block and hides the index. */
	memcpy(root, old, 8 + 1);
	if (ext2fs_set_rec_len(fs, 12, (struct ext2_dir_entry *)root))
		return -EINVAL;
	memcpy(root + 12, old + dot_len, 8 + 2);
	if (ext2fs_set_rec_len(fs, bs - 12, (struct ext2_dir_entry *)(root + 12)))
		return -EINVAL;
	memset(&info, 0, sizeof(info));
	info.hash_version = (uint8_t)version;
	info.info_length = 8;
	memcpy(root + DX_ROOT_INFO_OFF, &info, sizeof(info));
	cl.limit = ext2fs_cpu_to_le16((bs - DX_ROOT_INFO_OFF - 8 -
				       (csum_tail ? sizeof(struct ext2_dx_tail) : 0)) /
				      sizeof(struct ext2_dx_entry));
	cl.count = ext2fs_cpu_to_le16(2);
	memcpy(root + DX_ROOT_INFO_OFF + 8, &cl, sizeof(cl));
	/* Entry 0: its hash field is the count/limit; its block is the first leaf. */
	uint32_t blk1 = ext2fs_cpu_to_le32(1);
	memcpy(root + DX_ROOT_INFO_OFF + 8 + 4, &blk1, 4);
	de2.hash = ext2fs_cpu_to_le32(ents[split].hash);
	de2.block = ext2fs_cpu_to_le32(2);
	memcpy(root + DX_ROOT_INFO_OFF + 8 + 8, &de2, sizeof(de2));
	err = ext2fs_write_dir_block4(fs, pblk0, root, 0, dir);
	if (err)
		return ext4_errno(sfs, err, dir, "writing the directory index");

	r = ext4_inode_read(sfs, dir, &inode);
	if (r < 0)
		return r;
	inode.i_flags |= EXT2_INDEX_FL;
	r = ext4_inode_set_size(sfs, dir, &inode, 3ULL * bs);
	if (r < 0)
		return r;
	ext4_dir_changed(sfs, dir);
	return ext4_inode_write(sfs, dir, &inode);

unmap:
	/* Back to the one-block directory it was: with one block free, the first leaf took it
	 * and the second found none; mapped past i_size, it would be nobody's to free. */
	(void)ext4_punch(sfs, dir, &inode, 1, ~0ULL);
	return r;
}

/* Entry nde (its rec_len already set) names ino. */
static void dx_set_entry(ext2_filsys fs, struct ext2_dir_entry *nde, const char *name,
			 size_t name_len, ext2_ino_t ino, int ftype)
{
	nde->inode = ino;
	nde->name_len = 0;
	ext2fs_dirent_set_name_len(nde, (int)name_len);
	if (ext2fs_has_feature_filetype(fs->super))
		ext2fs_dirent_set_file_type(nde, ftype);
	memcpy(nde->name, name, name_len);
}

/*
 * The entries of leaf buf packed to its front in their order, each as long as its name
 * needs, and name -> ino after them in the rest of [0, end). The caller checked that the
 * entries are sound and that the name fits.
 */
static int dx_pack_insert(struct svc_fs *sfs, ext2_ino_t dir, char *buf, unsigned int end,
			  const char *name, size_t name_len, ext2_ino_t ino, int ftype)
{
	ext2_filsys fs = sfs->fs;
	_cleanup_free_ char *packed = calloc(1, end);
	unsigned int pos, out = 0, rec_len;
	struct ext2_dir_entry *nde;

	if (!packed)
		return -ENOMEM;
	for (pos = 0; pos < end; pos += rec_len) {
		struct ext2_dir_entry *de = (struct ext2_dir_entry *)(buf + pos);
		unsigned int used;

		if (ext2fs_get_rec_len(fs, de, &rec_len))
			return ext4_corrupt(sfs, dir, "invalid directory entry length");
		if (!de->inode)
			continue;
		used = EXT2_DIR_REC_LEN(ext2fs_dirent_name_len(de));
		memcpy(packed + out, de, used);
		if (ext2fs_set_rec_len(fs, used, (struct ext2_dir_entry *)(packed + out)))
			return ext4_corrupt(sfs, dir, "invalid directory entry length");
		out += used;
	}
	nde = (struct ext2_dir_entry *)(packed + out);
	if (ext2fs_set_rec_len(fs, end - out, nde))
		return ext4_corrupt(sfs, dir, "invalid directory entry length");
	dx_set_entry(fs, nde, name, name_len, ino, ftype);
	memcpy(buf, packed, end);
	return 0;
}

int ext4_dx_insert(struct svc_fs *sfs, ext2_ino_t dir, const char *name, ext2_ino_t ino,
		   int ftype, const struct ext4_dir_hint *hint)
{
	ext2_filsys fs = sfs->fs;
	unsigned int bs = sfs->blocksize, need, end = bs, pos, rec_len, in_use = 0;
	size_t name_len = strlen(name);
	struct ext2_inode_large inode;
	_cleanup_free_ char *buf = NULL;
	uint64_t lblk;
	blk64_t pblk = 0;
	int r;

	/*
	 * ext2fs_link() finds the same leaf through its own index walk, then reads the leaf
	 * twice, verifying its checksum each time, and walks it through a callback per entry:
	 * about a third of the work of a create. The leaf's blocks are already in hand from
	 * the lookup that proved the name absent. Splitting a full leaf stays with libext2fs.
	 */
	if (name_len == 0 || name_len > EXT4_NAME_MAX)
		return 1;
	r = ext4_inode_read(sfs, dir, &inode);
	if (r < 0)
		return r;
	/* The lookup that found the name absent said where it belongs, and no directory has
	 * changed since: the same walk would end in the same leaf. */
	if (hint && hint->lblk != UINT64_MAX && hint->changes == sfs->dir_changes &&
	    (inode.i_flags & EXT2_INDEX_FL) &&
	    !(inode.i_flags & (EXT4_CASEFOLD_FL | EXT4_ENCRYPT_FL | EXT4_INLINE_DATA_FL))) {
		lblk = hint->lblk;
	} else {
		r = ext4_dir_home_leaf(sfs, dir, name, &lblk);
		if (r == -EAGAIN)
			return 1;
		if (r < 0)
			return r;
	}
	r = ext4_dir_read_leaf(sfs, dir, &inode, lblk, &pblk, &buf);
	if (r != 0)
		return r;

	/* The checksum tail looks like an empty 12-byte entry: never a place for a name. */
	if (ext2fs_has_feature_metadata_csum(fs->super))
		end -= sizeof(struct ext2_dir_entry_tail);
	need = EXT2_DIR_REC_LEN(name_len);
	for (pos = 0; pos < end; pos += rec_len) {
		struct ext2_dir_entry *de = (struct ext2_dir_entry *)(buf + pos), *nde;
		unsigned int used, nl;

		if (pos + 8 > end || ext2fs_get_rec_len(fs, de, &rec_len) || rec_len < 8 ||
		    rec_len % 4 || rec_len > end - pos)
			return ext4_corrupt(sfs, dir, "invalid directory entry length");
		nl = ext2fs_dirent_name_len(de);
		/* From the end, as ext4_block_find(): names often share a prefix. */
		if (de->inode && nl == name_len &&
		    de->name[nl - 1] == name[nl - 1] && memcmp(de->name, name, name_len) == 0)
			return -EEXIST;
		/* First fit, like the kernel: a free entry, or the slack after a used one. */
		used = de->inode ? EXT2_DIR_REC_LEN(nl) : 0;
		if (used > rec_len)
			return ext4_corrupt(sfs, dir, "directory entry name longer than the entry");
		in_use += used;
		if (rec_len - used < need)
			continue;
		if (used) {
			if (ext2fs_set_rec_len(fs, used, de))
				return ext4_corrupt(sfs, dir, "invalid directory entry length");
			nde = (struct ext2_dir_entry *)(buf + pos + used);
			if (ext2fs_set_rec_len(fs, rec_len - used, nde))
				return ext4_corrupt(sfs, dir, "invalid directory entry length");
		} else {
			nde = de;
		}
		dx_set_entry(fs, nde, name, name_len, ino, ftype);
		return ext4_write_dir_leaf(sfs, dir, inode.i_generation, pblk, buf);
	}
	/*
	 * No one gap holds the name, but the leaf's free space together does: pack the entries
	 * and put the name after them (the kernel packs the halves when it splits). Such a leaf
	 * must not reach libext2fs 1.47.0's split: dx_split_leaf() weighs each entry by its
	 * rec_len, slack and all, and when that moves every entry to the new block, the old one
	 * keeps a copy of the first, stretched over the block. That name then sits in two
	 * leaves (e2fsck: "ref count is 1, should be 2"), and a rename of it removes one copy
	 * and leaves the other as a second name. A leaf that split would empty always has room
	 * for the name once packed: more than a name's worth of it is slack or free entries.
	 */
	if (end - in_use < need)
		return 1;
	r = dx_pack_insert(sfs, dir, buf, end, name, name_len, ino, ftype);
	if (r < 0)
		return r;
	return ext4_write_dir_leaf(sfs, dir, inode.i_generation, pblk, buf);
}
