/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * jbd2 journal recovery for the internal journal of an ext3/ext4 filesystem.
 *
 * journal_scan() reads the journal of a filesystem opened in its pre-recovery state and works
 * out the recovered state as a map "filesystem block -> journal block that holds its newest
 * committed copy". The map is small (16 bytes per block) whatever the journal size, because it
 * points into the journal instead of copying it. Two ways to use it:
 *   - read-only: journal_overlay_manager() is an io_manager that serves the mapped blocks from
 *     the journal, so libext2fs sees the recovered filesystem and nothing is written;
 *   - read-write: journal_replay_device() copies the blocks in place, resets the journal and
 *     clears needs_recovery, the way the kernel recovers at mount.
 */
#ifndef FUSE4FS_SVC_JOURNAL_H
#define FUSE4FS_SVC_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ext2fs/ext2fs.h>

struct journal_map_entry {
	uint64_t target;   /* filesystem block */
	uint64_t source;   /* filesystem block inside the journal holding its new contents */
	bool escaped;      /* the first 4 bytes were the jbd2 magic and were zeroed in the log */
};

struct journal_overlay {
	unsigned int blocksize;
	size_t count;
	struct journal_map_entry *map; /* sorted by target, one entry per target */
	/* Where the journal superblock lives and what to write there after an in-place replay. */
	uint64_t jsb_block;
	uint32_t next_sequence;
	unsigned int transactions; /* committed transactions found */
	uint32_t first_sequence;
};

/*
 * Scan the journal of fs (open read-only, pre-recovery) and build the overlay. A journal that
 * does not need anything (s_start 0) gives an empty overlay. A journal we cannot replay safely
 * (unknown features, fast-commit blocks, a superblock that contradicts the filesystem) is
 * refused: -EOPNOTSUPP or -EUCLEAN with a sentence in why[]. A damaged log is not refused: the
 * replay stops before the first transaction that is incomplete or fails a checksum, which is
 * what the kernel does too.
 */
int journal_scan(ext2_filsys fs, struct journal_overlay **ret, char *why, size_t why_size);

void journal_overlay_free(struct journal_overlay *ov);
static inline void journal_overlay_freep(struct journal_overlay **ov)
{
	journal_overlay_free(*ov);
}

/* Lookup; NULL when the block is not in the overlay. */
const struct journal_map_entry *journal_overlay_find(const struct journal_overlay *ov,
						     uint64_t target);

/*
 * Write the overlay onto the device (fd open read-write), then mark the journal empty and
 * clear needs_recovery in the primary superblock, with an fsync between the steps so that a
 * crash in the middle leaves a journal that still replays.
 */
int journal_replay_device(int fd, const struct journal_overlay *ov, char *why, size_t why_size);

/*
 * svc_fs_open()'s recovery step for a filesystem whose superblock says needs_recovery, before
 * the real open: scan the journal of the filesystem on fd; read_only: *ret_overlay is the
 * overlay to open it through; otherwise the replay is written to the device and
 * *ret_overlay is NULL. dev names the device in why[] and in the log.
 */
int journal_recover(int fd, bool read_only, const char *dev, struct journal_overlay **ret_overlay,
		    char *why, size_t why_size);

/*
 * io_manager for ext2fs_open2() whose name is a file descriptor number, like
 * unixfd_io_manager, and whose reads see the overlay. Set the overlay with
 * journal_overlay_use() in the same thread right before ext2fs_open2(); the channel then
 * borrows it (it must outlive the ext2_filsys).
 */
extern io_manager journal_overlay_manager;
void journal_overlay_use(const struct journal_overlay *ov);

#endif
