/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The read pool (read-pool.h). The threads sleep on a condition variable while the queue is
 * empty: they do not spin (the session's worker already busy-polls one CPU, session-io.c).
 * They reply with fuse_reply_buf() while the worker answers other requests: libfuse allows a
 * reply from any thread, and the session's writev (session-io.c) is one writev() of a whole
 * reply, which /dev/fuse takes atomically.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "read-pool.h"

struct read_pool {
	int fd;
	pthread_mutex_t lock;
	pthread_cond_t work; /* a job was queued, or the pool is stopping */
	pthread_cond_t idle; /* inflight dropped to 0 */
	struct read_job *head, *tail;
	/* Jobs queued and not yet read: what read_pool_wait_idle() waits for. */
	unsigned int inflight;
	bool stopping;
	/* preadv2(RWF_NOWAIT) is refused here (a device or kernel without it): no reads from
	 * memory in the worker, the pool does them all. Only the worker reads or sets it. */
	bool no_nowait;
	unsigned int test_delay_us;
	unsigned int nthreads;
	pthread_t threads[];
};

static void read_job_free(struct read_job *job)
{
	free(job->buf);
	free(job);
}

/*
 * Reads the runs from job->done on (flags: preadv2() flags). 0 when all is read; -EAGAIN when
 * RWF_NOWAIT stopped at data that is not in memory; -errno on failure: a device that ends
 * before the run is -EIO, as libext2fs reports a short read.
 */
static int read_job_run(int fd, struct read_job *job, int flags)
{
	size_t start = 0;

	for (unsigned int i = 0; i < job->nruns; i++) {
		const struct read_run *run = &job->runs[i];

		while (job->done < start + run->len) {
			size_t in = job->done - start;
			struct iovec iov = {
			    .iov_base = job->buf + job->done,
			    .iov_len = run->len - in,
			};
			ssize_t n = preadv2(fd, &iov, 1, (off_t)(run->off + in), flags);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return -errno;
			if (n == 0)
				return -EIO;
			job->done += (size_t)n;
			/* Short under RWF_NOWAIT: the rest is not in memory. */
			if (flags && job->done < start + run->len)
				return -EAGAIN;
		}
		start += run->len;
	}
	return 0;
}

static void *read_pool_thread(void *arg)
{
	struct read_pool *p = arg;

	for (;;) {
		struct read_job *job;
		int r;

		pthread_mutex_lock(&p->lock);
		while (!p->head && !p->stopping)
			pthread_cond_wait(&p->work, &p->lock);
		job = p->head;
		if (!job) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		p->head = job->next;
		if (!p->head)
			p->tail = NULL;
		pthread_mutex_unlock(&p->lock);

		if (p->test_delay_us)
			usleep(p->test_delay_us);
		r = read_job_run(p->fd, job, 0);

		/* The blocks are read: a block freed from now on cannot reach this reply. */
		pthread_mutex_lock(&p->lock);
		if (--p->inflight == 0)
			pthread_cond_broadcast(&p->idle);
		pthread_mutex_unlock(&p->lock);

		if (r < 0) {
			log_error_errno(r, "Reading file data from the device failed");
			fuse_reply_err(job->req, -r);
		} else {
			fuse_reply_buf(job->req, job->buf, job->len);
		}
		read_job_free(job);
	}
}

int read_pool_new(int fd, unsigned int nthreads, unsigned int test_delay_us, struct read_pool **ret)
{
	struct read_pool *p;
	sigset_t all, old;
	int r = 0;

	if (nthreads == 0 || nthreads > 1024)
		return -EINVAL;
	p = calloc(1, sizeof(*p) + nthreads * sizeof(p->threads[0]));
	if (!p)
		return -ENOMEM;
	p->fd = fd;
	p->test_delay_us = test_delay_us;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->idle, NULL);

	/* The threads block every signal: libfuse's SIGTERM/SIGINT/SIGHUP handlers end the
	 * session by setting a flag, and the worker sleeping in ppoll() (session-io.c) only
	 * notices when the signal interrupts it, not when a pool thread took it. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (; p->nthreads < nthreads; p->nthreads++) {
		r = -pthread_create(&p->threads[p->nthreads], NULL, read_pool_thread, p);
		if (r < 0)
			break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		read_pool_free(p);
		return r;
	}
	*ret = p;
	return 0;
}

bool read_pool_read_cached(struct read_pool *p, struct read_job *job)
{
	int r;

	if (p->no_nowait || p->test_delay_us)
		return false;
	r = read_job_run(p->fd, job, RWF_NOWAIT);
	if (r == -EOPNOTSUPP || r == -ENOSYS || r == -EINVAL) {
		p->no_nowait = true;
		return false;
	}
	/* Errors too are left to the pool thread, which reports them. */
	return r == 0;
}

void read_pool_submit(struct read_pool *p, struct read_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&p->lock);
	p->inflight++;
	if (p->tail)
		p->tail->next = job;
	else
		p->head = job;
	p->tail = job;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
}

void read_pool_wait_idle(struct read_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	while (p->inflight > 0)
		pthread_cond_wait(&p->idle, &p->lock);
	pthread_mutex_unlock(&p->lock);
}

void read_pool_free(struct read_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	/* Each thread empties the queue before it sees stopping: every job gets its reply. */
	for (unsigned int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->idle);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
