/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * jbd2 journal recovery: the on-disk format as documented in the kernel's
 * Documentation/filesystems/ext4/journal.rst, in three passes over the circular log:
 *   scan:   from s_start, follow descriptor/revoke/commit blocks whose sequence number is the
 *           one expected, verifying every checksum the journal's features enable, and find the
 *           end of the last complete transaction;
 *   revoke: collect the revoke records of the complete transactions (block -> newest
 *           transaction that revoked it);
 *   replay: for every data block tag of a complete transaction, unless a same-or-later
 *           transaction revoked it, remember "this block's contents are that journal block".
 * The journal is hostile input like the rest of the image: every block number is checked
 * against the journal or the filesystem, and every walk advances at least one block per step
 * and stops after the log's length, so a crafted journal can stop the replay but not loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal.h"
#include "log.h"

#define JBD2_MAGIC 0xc03b3998U

enum {
	JBD2_DESCRIPTOR_BLOCK = 1,
	JBD2_COMMIT_BLOCK = 2,
	JBD2_SUPERBLOCK_V1 = 3,
	JBD2_SUPERBLOCK_V2 = 4,
	JBD2_REVOKE_BLOCK = 5,
};

#define JBD2_COMPAT_CHECKSUM 0x1U
#define JBD2_INCOMPAT_REVOKE 0x1U
#define JBD2_INCOMPAT_64BIT 0x2U
#define JBD2_INCOMPAT_ASYNC_COMMIT 0x4U
#define JBD2_INCOMPAT_CSUM_V2 0x8U
#define JBD2_INCOMPAT_CSUM_V3 0x10U
#define JBD2_INCOMPAT_FAST_COMMIT 0x20U
#define JBD2_INCOMPAT_KNOWN                                                                    \
	(JBD2_INCOMPAT_REVOKE | JBD2_INCOMPAT_64BIT | JBD2_INCOMPAT_ASYNC_COMMIT |             \
	 JBD2_INCOMPAT_CSUM_V2 | JBD2_INCOMPAT_CSUM_V3)

#define JBD2_FLAG_ESCAPE 1U
#define JBD2_FLAG_SAME_UUID 2U
#define JBD2_FLAG_LAST_TAG 8U

#define JBD2_CRC32_CHKSUM 1
#define JBD2_CRC32C_CHKSUM 4

/* Journal superblock field offsets (big-endian fields). */
#define JSB_BLOCKSIZE 12
#define JSB_MAXLEN 16
#define JSB_FIRST 20
#define JSB_SEQUENCE 24
#define JSB_START 28
#define JSB_FEATURE_COMPAT 36
#define JSB_FEATURE_INCOMPAT 40
#define JSB_UUID 48
#define JSB_CHECKSUM_TYPE 80
#define JSB_NUM_FC_BLOCKS 84
#define JSB_CHECKSUM 252
#define JSB_SIZE 1024

/* Commit block: header (12), checksum type and size (1 + 1), padding (2), checksums. */
#define COMMIT_CHKSUM_TYPE 12
#define COMMIT_CHKSUM_SIZE 13
#define COMMIT_CHKSUM 16

/* More journal than this is not a journal mkfs or the kernel would make (2^22 blocks is 16 GiB
 * at 4 KiB), and the map of journal blocks must stay small. */
#define JOURNAL_MAX_BLOCKS (1U << 22)
/* Revoke records kept in memory (16 bytes each): 64 MiB at most. */
#define JOURNAL_MAX_REVOKES (1U << 22)

static uint32_t get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t get_be16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

struct revoke {
	uint64_t block;
	uint32_t seq;
};

struct journal {
	ext2_filsys fs;
	unsigned int bs;
	uint32_t maxlen, first, start, sequence;
	uint32_t compat, incompat;
	uint32_t csum_seed;
	uint64_t *phys; /* journal block -> filesystem block */
	unsigned char *buf, *buf2, *data;

	/* Scan result: transactions [sequence, end_seq) are complete. */
	uint32_t end_seq;

	struct revoke *revokes;
	size_t nrevokes, revokes_alloc;

	struct journal_map_entry *map;
	size_t nmap, map_alloc;
};

static bool j_csum_v23(const struct journal *j)
{
	return j->incompat & (JBD2_INCOMPAT_CSUM_V2 | JBD2_INCOMPAT_CSUM_V3);
}

static unsigned int j_tag_bytes(const struct journal *j)
{
	unsigned int sz;

	if (j->incompat & JBD2_INCOMPAT_CSUM_V3)
		return 16;
	sz = 12;
	if (j->incompat & JBD2_INCOMPAT_CSUM_V2)
		sz += 2;
	return (j->incompat & JBD2_INCOMPAT_64BIT) ? sz : sz - 4;
}

static int j_read(struct journal *j, uint32_t jblock, unsigned char *buf)
{
	errcode_t err;

	if (jblock >= j->maxlen)
		return -EUCLEAN;
	err = io_channel_read_blk64(j->fs->io, j->phys[jblock], 1, buf);
	if (err)
		return (err > 0 && err < 4096) ? -(int)err : -EIO;
	return 0;
}

/* The circular log is [first, maxlen): the block after the last one is `first`. */
static uint32_t j_next(const struct journal *j, uint32_t jblock)
{
	return jblock + 1 >= j->maxlen ? j->first : jblock + 1;
}

/* Descriptor and revoke blocks end with a crc32c of the block (with the field zeroed). */
static bool j_tail_csum_ok(struct journal *j, const unsigned char *block)
{
	uint32_t want, got;

	if (!j_csum_v23(j))
		return true;
	want = get_be32(block + j->bs - 4);
	memcpy(j->buf2, block, j->bs);
	memset(j->buf2 + j->bs - 4, 0, 4);
	got = ext2fs_crc32c_le(j->csum_seed, j->buf2, j->bs);
	return want == got;
}

static bool j_commit_csum_ok(struct journal *j, const unsigned char *block, uint32_t v1_sum)
{
	if (j_csum_v23(j)) {
		uint32_t want = get_be32(block + COMMIT_CHKSUM);

		memcpy(j->buf2, block, j->bs);
		memset(j->buf2 + COMMIT_CHKSUM, 0, 4);
		return want == ext2fs_crc32c_le(j->csum_seed, j->buf2, j->bs);
	}
	if (j->compat & JBD2_COMPAT_CHECKSUM) {
		/* v1: crc32_be over the transaction's descriptor and data blocks; a commit
		 * block written without one says so with type and size 0. */
		uint8_t type = block[COMMIT_CHKSUM_TYPE], size = block[COMMIT_CHKSUM_SIZE];
		uint32_t found = get_be32(block + COMMIT_CHKSUM);

		if (type == 0 && size == 0 && found == 0)
			return true;
		return type == JBD2_CRC32_CHKSUM && size == 4 && found == v1_sum;
	}
	return true;
}

static bool j_tag_csum_ok(struct journal *j, const unsigned char *tag, uint32_t seq,
			  const unsigned char *data)
{
	unsigned char seqbe[4];
	uint32_t csum;

	if (!j_csum_v23(j))
		return true;
	put_be32(seqbe, seq);
	csum = ext2fs_crc32c_le(j->csum_seed, seqbe, 4);
	csum = ext2fs_crc32c_le(csum, data, j->bs);
	if (j->incompat & JBD2_INCOMPAT_CSUM_V3)
		return get_be32(tag + 12) == csum;
	return get_be16(tag + 4) == (csum & 0xffff);
}

static int j_add_revoke(struct journal *j, uint64_t block, uint32_t seq)
{
	/* A crafted log could fill every block with revoke records; a real one revokes at most
	 * the metadata blocks its transactions freed. */
	if (j->nrevokes >= JOURNAL_MAX_REVOKES)
		return -E2BIG;
	if (j->nrevokes == j->revokes_alloc) {
		size_t n = j->revokes_alloc ? j->revokes_alloc * 2 : 64;
		struct revoke *p = reallocarray(j->revokes, n, sizeof(*p));

		if (!p)
			return -ENOMEM;
		j->revokes = p;
		j->revokes_alloc = n;
	}
	j->revokes[j->nrevokes++] = (struct revoke){ .block = block, .seq = seq };
	return 0;
}

static int j_add_map(struct journal *j, uint64_t target, uint64_t source, bool escaped)
{
	if (j->nmap == j->map_alloc) {
		size_t n = j->map_alloc ? j->map_alloc * 2 : 64;
		struct journal_map_entry *p = reallocarray(j->map, n, sizeof(*p));

		if (!p)
			return -ENOMEM;
		j->map = p;
		j->map_alloc = n;
	}
	j->map[j->nmap++] = (struct journal_map_entry){
		.target = target, .source = source, .escaped = escaped
	};
	return 0;
}

static int revoke_cmp(const void *a, const void *b)
{
	const struct revoke *x = a, *y = b;

	if (x->block != y->block)
		return x->block < y->block ? -1 : 1;
	/* Newest transaction last: sequence numbers compare modulo 2^32, like the kernel's
	 * tid_gt(), which is fine inside one log (far less than 2^31 transactions). */
	if (x->seq == y->seq)
		return 0;
	return (int32_t)(x->seq - y->seq) < 0 ? -1 : 1;
}

/* Revoked: a transaction at or after seq revoked the block. */
static bool j_revoked(const struct journal *j, uint64_t block, uint32_t seq)
{
	size_t lo = 0, hi = j->nrevokes;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (j->revokes[mid].block < block)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* lo: first record for block; the last one for it is the newest. */
	for (size_t i = lo; i < j->nrevokes && j->revokes[i].block == block; i++)
		if ((int32_t)(j->revokes[i].seq - seq) >= 0)
			return true;
	return false;
}

enum pass { PASS_SCAN, PASS_REVOKE, PASS_REPLAY };

static int j_revoke_block(struct journal *j, const unsigned char *block, uint32_t seq)
{
	unsigned int rsize = (j->incompat & JBD2_INCOMPAT_64BIT) ? 8 : 4;
	unsigned int limit = j->bs - (j_csum_v23(j) ? 4 : 0);
	uint32_t count = get_be32(block + 12); /* bytes used, header included */
	int r;

	if (count < 16 || count > limit)
		return -EUCLEAN;
	for (uint32_t off = 16; off + rsize <= count; off += rsize) {
		uint64_t b = get_be32(block + off);

		if (rsize == 8)
			b = b << 32 | get_be32(block + off + 4);
		r = j_add_revoke(j, b, seq);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * One pass over the log. PASS_SCAN sets j->end_seq; the later passes walk exactly the
 * transactions the scan accepted, so their checks can be lighter.
 */
static int j_pass(struct journal *j, enum pass pass)
{
	uint32_t blk = j->start, seq = j->sequence, logsize = j->maxlen - j->first;
	uint32_t v1_sum = ~0U;
	uint64_t steps = 0;
	unsigned int tag_bytes = j_tag_bytes(j);
	unsigned char *b = j->buf;
	int r;

	if (pass == PASS_SCAN)
		j->end_seq = seq;

	for (;;) {
		uint32_t magic, type, bseq;

		if (pass != PASS_SCAN && seq == j->end_seq)
			return 0;
		/* The log cannot hold more blocks than it has. */
		if (steps++ >= logsize)
			break;
		r = j_read(j, blk, b);
		if (r < 0)
			return r;
		magic = get_be32(b);
		type = get_be32(b + 4);
		bseq = get_be32(b + 8);
		if (magic != JBD2_MAGIC || bseq != seq)
			break;

		if (type == JBD2_DESCRIPTOR_BLOCK) {
			unsigned int limit = j->bs - (j_csum_v23(j) ? 4 : 0);
			uint32_t dblk = blk;
			bool bad = false;

			if (pass == PASS_SCAN) {
				if (!j_tail_csum_ok(j, b))
					break;
				if (j->compat & JBD2_COMPAT_CHECKSUM)
					v1_sum = ext2fs_crc32_be(v1_sum, b, j->bs);
			}
			/* The descriptor stays in j->buf while its tags are read; data blocks go
			 * to j->data (checksums only) and buf2 is the checksum scratch. */
			for (unsigned int off = 12; off + tag_bytes <= limit;) {
				const unsigned char *tag = b + off;
				uint32_t flags;
				uint64_t target;

				if (j->incompat & JBD2_INCOMPAT_CSUM_V3)
					flags = get_be32(tag + 4);
				else
					flags = get_be16(tag + 6);
				target = get_be32(tag);
				if (j->incompat & JBD2_INCOMPAT_64BIT)
					target |= (uint64_t)get_be32(tag + 8) << 32;
				off += tag_bytes;
				if (!(flags & JBD2_FLAG_SAME_UUID))
					off += 16;

				dblk = j_next(j, dblk);
				if (steps++ >= logsize) {
					bad = true;
					break;
				}
				if (pass == PASS_SCAN && (j_csum_v23(j) || (j->compat & JBD2_COMPAT_CHECKSUM))) {
					/* Tag checksums are over the block as logged (escaped). */
					unsigned char *data = j->data;

					r = j_read(j, dblk, data);
					if (r < 0)
						return r;
					if (!j_tag_csum_ok(j, tag, seq, data)) {
						bad = true;
						break;
					}
					if (j->compat & JBD2_COMPAT_CHECKSUM)
						v1_sum = ext2fs_crc32_be(v1_sum, data, j->bs);
				}
				if (pass == PASS_SCAN && target >= ext2fs_blocks_count(j->fs->super)) {
					bad = true;
					break;
				}
				if (pass == PASS_REPLAY && !j_revoked(j, target, seq)) {
					r = j_add_map(j, target, j->phys[dblk], flags & JBD2_FLAG_ESCAPE);
					if (r < 0)
						return r;
				}
				if (flags & JBD2_FLAG_LAST_TAG)
					break;
			}
			if (bad)
				break;
			blk = j_next(j, dblk);
		} else if (type == JBD2_COMMIT_BLOCK) {
			if (pass == PASS_SCAN) {
				if (!j_commit_csum_ok(j, b, v1_sum))
					break;
				v1_sum = ~0U;
				j->end_seq = seq + 1;
			}
			seq++;
			blk = j_next(j, blk);
		} else if (type == JBD2_REVOKE_BLOCK) {
			if (pass == PASS_SCAN && !j_tail_csum_ok(j, b))
				break;
			if (pass == PASS_REVOKE && (j->incompat & JBD2_INCOMPAT_REVOKE)) {
				r = j_revoke_block(j, b, seq);
				if (r < 0)
					return r;
			}
			blk = j_next(j, blk);
		} else {
			break;
		}
	}
	/* The scan ends at the first block that does not continue the log; that is the
	 * normal end of a log too. The other passes must reach end_seq. */
	return pass == PASS_SCAN ? 0 : -EUCLEAN;
}

/* (target, position in the log): sorting by both keeps the log order among equal targets. */
struct map_idx {
	uint64_t target;
	size_t i;
};

static int map_idx_cmp(const void *a, const void *b)
{
	const struct map_idx *x = a, *y = b;

	if (x->target != y->target)
		return x->target < y->target ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

static int map_cmp(const void *a, const void *b)
{
	const struct journal_map_entry *x = a, *y = b;

	if (x->target != y->target)
		return x->target < y->target ? -1 : 1;
	return 0;
}

const struct journal_map_entry *journal_overlay_find(const struct journal_overlay *ov,
						     uint64_t target)
{
	struct journal_map_entry key = { .target = target };

	if (!ov || ov->count == 0)
		return NULL;
	return bsearch(&key, ov->map, ov->count, sizeof(*ov->map), map_cmp);
}

void journal_overlay_free(struct journal_overlay *ov)
{
	if (!ov)
		return;
	free(ov->map);
	free(ov);
}

/* Map every journal block to its filesystem block; the journal must be fully allocated and
 * lie inside the filesystem. */
static int j_map_blocks(struct journal *j, ext2_ino_t jino, struct ext2_inode *inode)
{
	blk64_t nblocks = ext2fs_blocks_count(j->fs->super);

	j->phys = calloc(j->maxlen, sizeof(*j->phys));
	if (!j->phys)
		return -ENOMEM;
	for (uint32_t i = 0; i < j->maxlen; i++) {
		blk64_t p = 0;

		if (ext2fs_bmap2(j->fs, jino, inode, NULL, 0, i, NULL, &p) || p == 0 ||
		    p >= nblocks)
			return -EUCLEAN;
		j->phys[i] = p;
	}
	return 0;
}

static void j_free(struct journal *j)
{
	free(j->phys);
	free(j->buf);
	free(j->buf2);
	free(j->data);
	free(j->revokes);
	free(j->map);
}

int journal_scan(ext2_filsys fs, struct journal_overlay **ret, char *why, size_t why_size)
{
	struct journal j = { .fs = fs, .bs = fs->blocksize };
	_cleanup_free_ struct journal_overlay *ov = NULL;
	ext2_ino_t jino = fs->super->s_journal_inum;
	struct ext2_inode inode;
	uint64_t isize;
	uint32_t type;
	int r;

	ov = calloc(1, sizeof(*ov));
	j.buf = malloc(j.bs);
	j.buf2 = malloc(j.bs);
	j.data = malloc(j.bs);
	if (!ov || !j.buf || !j.buf2 || !j.data) {
		r = -ENOMEM;
		snprintf(why, why_size, "Out of memory reading the journal");
		goto out;
	}
	ov->blocksize = j.bs;

	if (!ext2fs_has_feature_journal(fs->super) || jino == 0) {
		r = -EUCLEAN;
		snprintf(why, why_size, "needs_recovery is set but there is no internal journal");
		goto out;
	}
	if (jino >= EXT2_FIRST_INODE(fs->super) && jino != EXT2_JOURNAL_INO) {
		/* Old ext3 could put it anywhere; fine, but it must be a real inode. */
		if (jino > fs->super->s_inodes_count) {
			r = -EUCLEAN;
			snprintf(why, why_size, "the journal inode number %u is out of range", jino);
			goto out;
		}
	}
	if (ext2fs_read_inode(fs, jino, &inode)) {
		r = -EUCLEAN;
		snprintf(why, why_size, "the journal inode %u cannot be read", jino);
		goto out;
	}
	isize = EXT2_I_SIZE(&inode);
	if (!LINUX_S_ISREG(inode.i_mode) || isize / j.bs < 2) {
		r = -EUCLEAN;
		snprintf(why, why_size, "the journal inode %u is not a journal", jino);
		goto out;
	}

	/* Block 0 of the journal is its superblock. */
	{
		blk64_t p = 0;

		if (ext2fs_bmap2(fs, jino, &inode, NULL, 0, 0, NULL, &p) || p == 0 ||
		    p >= ext2fs_blocks_count(fs->super) ||
		    io_channel_read_blk64(fs->io, p, 1, j.buf)) {
			r = -EUCLEAN;
			snprintf(why, why_size, "the journal superblock cannot be read");
			goto out;
		}
		ov->jsb_block = p;
	}
	type = get_be32(j.buf + 4);
	if (get_be32(j.buf) != JBD2_MAGIC ||
	    (type != JBD2_SUPERBLOCK_V1 && type != JBD2_SUPERBLOCK_V2)) {
		r = -EUCLEAN;
		snprintf(why, why_size, "the journal superblock is damaged (bad magic)");
		goto out;
	}
	if (get_be32(j.buf + JSB_BLOCKSIZE) != j.bs) {
		r = -EUCLEAN;
		snprintf(why, why_size, "the journal block size %u is not the filesystem's",
			 get_be32(j.buf + JSB_BLOCKSIZE));
		goto out;
	}
	j.maxlen = get_be32(j.buf + JSB_MAXLEN);
	j.first = get_be32(j.buf + JSB_FIRST);
	j.sequence = get_be32(j.buf + JSB_SEQUENCE);
	j.start = get_be32(j.buf + JSB_START);
	if (type == JBD2_SUPERBLOCK_V2) {
		j.compat = get_be32(j.buf + JSB_FEATURE_COMPAT);
		j.incompat = get_be32(j.buf + JSB_FEATURE_INCOMPAT);
	}
	if (j.maxlen > isize / j.bs || j.maxlen > JOURNAL_MAX_BLOCKS || j.first == 0 ||
	    j.first >= j.maxlen || (j.start && (j.start < j.first || j.start >= j.maxlen))) {
		r = -EUCLEAN;
		snprintf(why, why_size,
			 "the journal superblock is damaged (length %u, first block %u, start %u)",
			 j.maxlen, j.first, j.start);
		goto out;
	}
	if (j.incompat & JBD2_INCOMPAT_FAST_COMMIT) {
		r = -EOPNOTSUPP;
		snprintf(why, why_size,
			 "the journal has fast-commit blocks, which fuse4fs cannot replay");
		goto out;
	}
	if (j.incompat & ~JBD2_INCOMPAT_KNOWN) {
		r = -EOPNOTSUPP;
		snprintf(why, why_size, "the journal uses unknown features (0x%x)",
			 j.incompat & ~JBD2_INCOMPAT_KNOWN);
		goto out;
	}
	if (j_csum_v23(&j)) {
		uint32_t want = get_be32(j.buf + JSB_CHECKSUM);

		if (j.buf[JSB_CHECKSUM_TYPE] != JBD2_CRC32C_CHKSUM) {
			r = -EUCLEAN;
			snprintf(why, why_size, "the journal superblock names an unknown checksum type %u",
				 j.buf[JSB_CHECKSUM_TYPE]);
			goto out;
		}
		memset(j.buf + JSB_CHECKSUM, 0, 4);
		if (ext2fs_crc32c_le(~0U, j.buf, JSB_SIZE) != want) {
			r = -EUCLEAN;
			snprintf(why, why_size, "the journal superblock checksum is wrong");
			goto out;
		}
		j.csum_seed = ext2fs_crc32c_le(~0U, j.buf + JSB_UUID, 16);
	}

	ov->first_sequence = j.sequence;
	ov->next_sequence = j.sequence;
	if (j.start == 0) {
		/* Clean journal: the flag was left behind, nothing to replay. */
		r = 0;
		goto done;
	}

	r = j_map_blocks(&j, jino, &inode);
	if (r < 0) {
		snprintf(why, why_size, "the journal inode %u has holes or blocks outside the filesystem",
			 jino);
		goto out;
	}

	r = j_pass(&j, PASS_SCAN);
	if (r == 0)
		r = j_pass(&j, PASS_REVOKE);
	if (r == 0) {
		if (j.nrevokes)
			qsort(j.revokes, j.nrevokes, sizeof(*j.revokes), revoke_cmp);
		r = j_pass(&j, PASS_REPLAY);
	}
	if (r < 0) {
		if (r == -E2BIG)
			snprintf(why, why_size, "the journal holds over %u revoke records",
				 JOURNAL_MAX_REVOKES);
		else
			snprintf(why, why_size, "the journal cannot be read: %s", strerror(-r));
		goto out;
	}

	/* Later transactions win: keep the last entry for each target. */
	if (j.nmap) {
		_cleanup_free_ struct map_idx *ix = calloc(j.nmap, sizeof(*ix));
		_cleanup_free_ struct journal_map_entry *out = calloc(j.nmap, sizeof(*out));
		size_t n = 0;

		if (!ix || !out) {
			r = -ENOMEM;
			snprintf(why, why_size, "Out of memory reading the journal");
			goto out;
		}
		for (size_t i = 0; i < j.nmap; i++)
			ix[i] = (struct map_idx){ .target = j.map[i].target, .i = i };
		qsort(ix, j.nmap, sizeof(*ix), map_idx_cmp);
		for (size_t i = 0; i < j.nmap; i++) {
			if (i + 1 < j.nmap && ix[i + 1].target == ix[i].target)
				continue;
			out[n++] = j.map[ix[i].i];
		}
		ov->map = TAKE_PTR(out);
		ov->count = n;
	}
	ov->transactions = j.end_seq - j.sequence;
	ov->next_sequence = j.end_seq + 1;
done:
	*ret = TAKE_PTR(ov);
	r = 0;
out:
	j_free(&j);
	return r;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int pread_full(int fd, void *buf, size_t size, uint64_t off)
{
	ssize_t n = pread(fd, buf, size, (off_t)off);

	if (n < 0)
		return -errno;
	return (size_t)n == size ? 0 : -EIO;
}

static int pwrite_full(int fd, const void *buf, size_t size, uint64_t off)
{
	ssize_t n = pwrite(fd, buf, size, (off_t)off);

	if (n < 0)
		return -errno;
	return (size_t)n == size ? 0 : -EIO;
}

int journal_replay_device(int fd, const struct journal_overlay *ov, char *why, size_t why_size)
{
	unsigned int bs = ov->blocksize;
	_cleanup_free_ unsigned char *buf = malloc(bs);
	_cleanup_free_ uint64_t *sources = NULL;
	struct ext2_super_block sb;
	uint32_t incompat;
	int r;

	if (!buf)
		return -ENOMEM;

	/*
	 * A block written in place must not be one we still have to read: the kernel never
	 * logs the journal's own blocks, so a log that does is crafted, and copying it in order
	 * would feed replayed data back into the replay.
	 */
	if (ov->count) {
		sources = calloc(ov->count, sizeof(*sources));
		if (!sources)
			return -ENOMEM;
		for (size_t i = 0; i < ov->count; i++)
			sources[i] = ov->map[i].source;
		qsort(sources, ov->count, sizeof(*sources), u64_cmp);
		for (size_t i = 0; i < ov->count; i++) {
			if (ov->map[i].target == ov->jsb_block ||
			    bsearch(&ov->map[i].target, sources, ov->count, sizeof(*sources), u64_cmp)) {
				snprintf(why, why_size,
					 "the journal logs a block of the journal itself (block %llu)",
					 (unsigned long long)ov->map[i].target);
				return -EUCLEAN;
			}
		}
	}

	for (size_t i = 0; i < ov->count; i++) {
		const struct journal_map_entry *e = &ov->map[i];

		r = pread_full(fd, buf, bs, e->source * bs);
		if (r < 0)
			goto io_error;
		if (e->escaped)
			put_be32(buf, JBD2_MAGIC);
		r = pwrite_full(fd, buf, bs, e->target * bs);
		if (r < 0)
			goto io_error;
	}
	/* The replayed blocks must be stable before the journal forgets them. */
	if (fsync(fd) < 0) {
		r = -errno;
		goto io_error;
	}

	r = pread_full(fd, buf, bs, ov->jsb_block * bs);
	if (r < 0)
		goto io_error;
	put_be32(buf + JSB_START, 0);
	put_be32(buf + JSB_SEQUENCE, ov->next_sequence);
	if (get_be32(buf + 4) == JBD2_SUPERBLOCK_V2 &&
	    (get_be32(buf + JSB_FEATURE_INCOMPAT) & (JBD2_INCOMPAT_CSUM_V2 | JBD2_INCOMPAT_CSUM_V3))) {
		memset(buf + JSB_CHECKSUM, 0, 4);
		put_be32(buf + JSB_CHECKSUM, ext2fs_crc32c_le(~0U, buf, JSB_SIZE));
	}
	r = pwrite_full(fd, buf, bs, ov->jsb_block * bs);
	if (r < 0)
		goto io_error;
	if (fsync(fd) < 0) {
		r = -errno;
		goto io_error;
	}

	/* Only now may the filesystem stop asking for recovery. */
	r = pread_full(fd, &sb, sizeof(sb), SUPERBLOCK_OFFSET);
	if (r < 0)
		goto io_error;
	incompat = ext2fs_le32_to_cpu(sb.s_feature_incompat);
	sb.s_feature_incompat = ext2fs_cpu_to_le32(incompat & ~EXT3_FEATURE_INCOMPAT_RECOVER);
	if (ext2fs_le32_to_cpu(sb.s_feature_ro_compat) & EXT4_FEATURE_RO_COMPAT_METADATA_CSUM)
		sb.s_checksum = ext2fs_cpu_to_le32(ext2fs_crc32c_le(
			~0U, (unsigned char *)&sb, offsetof(struct ext2_super_block, s_checksum)));
	r = pwrite_full(fd, &sb, sizeof(sb), SUPERBLOCK_OFFSET);
	if (r < 0)
		goto io_error;
	if (fsync(fd) < 0) {
		r = -errno;
		goto io_error;
	}
	return 0;

io_error:
	snprintf(why, why_size, "Writing the journal replay failed: %s", strerror(-r));
	return r;
}

int journal_recover(int fd, bool read_only, const char *dev, struct journal_overlay **ret_overlay,
		    char *why, size_t why_size)
{
	struct journal_overlay *ov = NULL;
	ext2_filsys fs = NULL;
	char name[32], reason[200];
	errcode_t err;
	int r, dfd;

	/* The journal inode itself is never journaled: the pre-recovery filesystem is good
	 * enough to find it. unixfd_io_manager closes its fd at the end: give it a copy. */
	dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (dfd < 0) {
		r = -errno;
		snprintf(why, why_size, "Could not duplicate the descriptor of %s: %s", dev,
			 strerror(-r));
		return r;
	}
	snprintf(name, sizeof(name), "%d", dfd);
	err = ext2fs_open2(name, NULL, EXT2_FLAG_64BITS, 0, 0, unixfd_io_manager, &fs);
	if (err) {
		close(dfd);
		snprintf(why, why_size,
			 "The journal of %s needs recovery, but the filesystem cannot be opened to find it (%s): run 'e2fsck -p' on it",
			 dev, error_message(err));
		return -EUCLEAN;
	}
	r = journal_scan(fs, &ov, reason, sizeof(reason));
	ext2fs_close_free(&fs);
	if (r < 0) {
		snprintf(why, why_size,
			 "The journal of %s needs recovery, but %s: run 'e2fsck -p' on it, or mount it once with the kernel",
			 dev, reason);
		return r;
	}

	if (read_only) {
		log_info("Recovered the journal of %s in memory (read-only mount, nothing written): %u transaction%s from sequence %u, %zu block%s",
			 dev, ov->transactions, ov->transactions == 1 ? "" : "s", ov->first_sequence,
			 ov->count, ov->count == 1 ? "" : "s");
		*ret_overlay = ov;
		return 0;
	}
	r = journal_replay_device(fd, ov, reason, sizeof(reason));
	if (r < 0) {
		snprintf(why, why_size, "The journal of %s could not be replayed: %s", dev, reason);
		journal_overlay_free(ov);
		return r;
	}
	log_info("Replayed the journal of %s: %u transaction%s from sequence %u, %zu block%s written",
		 dev, ov->transactions, ov->transactions == 1 ? "" : "s", ov->first_sequence,
		 ov->count, ov->count == 1 ? "" : "s");
	journal_overlay_free(ov);
	*ret_overlay = NULL;
	return 0;
}
