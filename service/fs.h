/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The boundary between the server's plumbing (main.c, service-mode.c, direct-mode.c) and the
 * ext4 implementation (ext4-*.c, ops.c). The plumbing obtains a device fd (received from the
 * helper, or opened itself in direct mode), opens the filesystem through this interface before
 * any FUSE traffic, and hands svc_fuse_ops() to fuse_session_new() with the struct svc_fs as
 * userdata.
 */
#ifndef FUSE4FS_SVC_FS_H
#define FUSE4FS_SVC_FS_H

#include <stdbool.h>
#include <stddef.h>

struct fuse_lowlevel_ops;
struct svc_fs;

/* When reads update the access time; relatime is the kernel's default. */
enum svc_atime {
	SVC_ATIME_RELATIME = 0,
	SVC_ATIME_NOATIME,
	SVC_ATIME_STRICTATIME,
};

/* The block cache's default size (-o cache_size=, docs/fuse4fs.8) and the most allowed, in
 * MiB. */
#define SVC_CACHE_DEFAULT_MIB 32
#define SVC_CACHE_MAX_MIB 4096

/* The read pool's threads (-o read_threads=, read-pool.h) by default and the most allowed.
 * 4: 4 KiB O_DIRECT reads at queue depth 16 from a virtual disk were as fast with 2, 4, 6 or
 * 8 (55k to 70k IOPS, within the noise of a shared 2-CPU machine), and the server with 4 stays
 * at half of its unit's TasksMax=16 (main, worker, watchdog, a test build's self-test). */
#define SVC_READ_THREADS_DEFAULT 4
#define SVC_READ_THREADS_MAX 64

struct svc_fs_options {
	bool read_only; /* false: mount read-write (the device fd must be writable) */
	bool debug;     /* trace every request */
	enum svc_atime atime;
	/* -o writeback_cache: buffered writes stay in the kernel's page cache and reach us in
	 * large batches at write-back, fsync or close. Faster, but a full filesystem is then
	 * reported by fsync() and close(), not by the write() itself (docs/fuse4fs.8). */
	bool writeback_cache;
	/* -o cache_size=MiB: the server's block cache (io-cache.c), the bound on how much its
	 * memory grows with the image; 0 means the default (SVC_CACHE_DEFAULT_MIB). no_cache
	 * (-o cache_size=0) reads every block from the device, through libext2fs's own cache. */
	unsigned int cache_mib;
	bool no_cache;
	/* -o busy_poll=USEC: how long the session's worker polls for the next request before it
	 * sleeps (session-io.c); 0 sleeps at once. main() sets SVC_BUSY_POLL_DEFAULT_US. */
	unsigned int busy_poll_us;
	/* -o read_threads=N: threads that read file data from the device without the
	 * filesystem lock (read-pool.h), so that parallel reads (O_DIRECT at a queue depth,
	 * several readers) wait for the device together; 0 reads under the lock. main() sets
	 * SVC_READ_THREADS_DEFAULT. */
	unsigned int read_threads;
	/* Test builds only (FUSE4FS_TEST_READ_DELAY_US): every read goes to the pool, whose
	 * threads wait this long before reading the device, so that a test can free and reuse
	 * blocks while reads of them are in flight. 0 in a release. */
	unsigned int test_read_delay_us;
	/* Added for svc_fs_open()'s messages ("'NAME' does not hold ..."); NULL: "the device". */
	const char *device_name;
};

/*
 * Open the ext2/3/4 filesystem on device_fd (a block device or a regular file; the fd stays
 * owned by the caller and must outlive the svc_fs). Reads and checks the superblock, the group
 * descriptors and the root inode. An image this server cannot serve safely is refused:
 * -EUCLEAN/-EINVAL for a filesystem that is not ext2/3/4 or is corrupt, -EOPNOTSUPP for an
 * unsupported feature, -EAGAIN for a journal that needs recovery. On failure, why[] holds one
 * sentence for the user that says what was wrong and what to do (it is sent to the helper and
 * printed there). On success *ret is the open filesystem.
 */
int svc_fs_open(int device_fd, const struct svc_fs_options *opts, struct svc_fs **ret,
		char *why, size_t why_size);

/* Flush and close; safe on NULL. Returns -errno if writing back failed. */
int svc_fs_close(struct svc_fs *fs);

/* The low-level operations; userdata for fuse_session_new() is the struct svc_fs. */
const struct fuse_lowlevel_ops *svc_fuse_ops(void);

/* Size of struct fuse_lowlevel_ops the table was built for (pass to fuse_session_new). */
size_t svc_fuse_ops_size(void);

/* The session serving fs, for notifications to the kernel (call right after
 * fuse_session_new()). */
struct fuse_session;
void svc_fs_set_session(struct svc_fs *fs, struct fuse_session *se);

#endif
