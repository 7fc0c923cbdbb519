/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A few threads that read file data from the device and answer READ requests, so that the
 * session's one worker does not wait for the device with the filesystem lock held. The worker
 * maps a request to device blocks under the lock (ext4_file_map_read()), queues the job here
 * and goes on with the next request; a pool thread preads the blocks and replies.
 *
 * Pool threads never take the filesystem lock and never call libext2fs: they only pread the
 * device fd and reply. What keeps the blocks they read from becoming another file's data is
 * read_pool_wait_idle(): whoever frees a block while reads are in flight waits there first
 * (ext4-fs.c calls it from libext2fs's block allocation hooks, with the lock held).
 */
#ifndef FUSE4FS_SVC_READ_POOL_H
#define FUSE4FS_SVC_READ_POOL_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 314
#endif
#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A request mapped to more physically separate runs than this is read the synchronous way. */
#define READ_JOB_MAX_RUNS 16

/* One physically contiguous piece of the request, in device bytes. */
struct read_run {
	uint64_t off;
	size_t len;
};

struct read_job {
	struct read_job *next;
	fuse_req_t req;
	/* The runs are read one after the other into buf (room for all of them); the reply is
	 * the first len bytes (less than the runs cover when the file ends inside the last
	 * block). */
	char *buf;
	size_t len;
	/* Bytes at the start of the runs already in buf (read_pool_read_cached()). */
	size_t done;
	unsigned int nruns;
	struct read_run runs[READ_JOB_MAX_RUNS];
};

struct read_pool;

/* nthreads threads reading from fd (which must outlive the pool). test_delay_us: see
 * svc_fs_options.test_read_delay_us (0 but in tests). */
int read_pool_new(int fd, unsigned int nthreads, unsigned int test_delay_us,
		  struct read_pool **ret);
/*
 * Reads what the page cache holds of job's runs without waiting for the device (RWF_NOWAIT):
 * true when all of it was there. A read served from memory is then answered at once by the
 * worker, without the two thread switches that a pool thread costs (a 4 KiB O_DIRECT read at
 * queue depth 1 from a cached image fell from 100k to 23k IOPS when every read went through
 * the pool). false: job->done says how far it got, and read_pool_submit() does the rest.
 */
bool read_pool_read_cached(struct read_pool *p, struct read_job *job);
/* Queues job; a pool thread replies to job->req and frees job and job->buf. Call with the
 * filesystem lock held, after mapping the job under that same lock: from then until the
 * thread has read the blocks, read_pool_wait_idle() waits for it. */
void read_pool_submit(struct read_pool *p, struct read_job *job);
/* Returns once every job queued so far has finished reading (the replies may still be on
 * their way). Safe on NULL. */
void read_pool_wait_idle(struct read_pool *p);
/* Lets the queued jobs finish (read and reply), then ends the threads. Safe on NULL. */
void read_pool_free(struct read_pool *p);

#endif
