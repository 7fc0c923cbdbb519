// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * How the session reads requests from /dev/fuse.
 *
 * A FUSE request is a round trip between two processes: the caller queues it and sleeps, the
 * kernel wakes our worker, the worker answers and the kernel wakes the caller. Each wake-up of a
 * process whose CPU went idle costs the CPU's way back from idle. On a virtual machine whose
 * idle CPUs halt at once (cpuidle haltpoll with guest_halt_poll_ns=0, as on the machines this was
 * measured on) that is an exit to the hypervisor: a `statfs()` round trip took 67 to 73 µs there,
 * against 1.2 µs for the kernel's ext4 (docs/performance.md). A worker that has just answered
 * usually gets the next request within microseconds (an untar, a `find`, a loop of creates), so
 * it keeps asking for a short while (busy_poll_us) before it sleeps: the request then finds it
 * awake, and one of the two wake-ups of each round trip is gone (73 → 24 µs per `statfs()`).
 *
 * libfuse 3.14 has no such mode; its custom I/O hook (fuse_session_custom_io()) lets us replace
 * the read() of its own loop, so the loop, its threads and its signal handling stay libfuse's.
 * The cost is CPU: after each request the worker spins for up to busy_poll_us (100 µs by
 * default: the caller itself needs 20 to 40 µs there to wake up and send its next request, and
 * 20 µs caught too few of them), and an idle mount sleeps in poll() as before.
 */
#define FUSE_USE_VERSION 314

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "session-io.h"

/* One session per process, so one setting; written before the loop starts. */
static uint64_t busy_poll_ns;
static struct fuse_session *session;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/*
 * Sleep until a request or the end of the connection (POLLERR: the next read() says ENODEV,
 * which ends libfuse's loop). libfuse's handlers for SIGHUP, SIGINT and SIGTERM end the session
 * by setting a flag its loop checks after each read; a signal that came while we were spinning
 * has set it already, and one that came between our check and poll() would leave us asleep with
 * the session over. So those signals wait, blocked, until ppoll() lets them in atomically; then
 * the read fails with EINTR and libfuse's loop sees the flag.
 */
static int sleep_until_request(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	sigset_t stop, old;
	int r, e;

	sigemptyset(&stop);
	sigaddset(&stop, SIGHUP);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, &old);
	if (fuse_session_exited(session)) {
		r = -1;
		errno = EINTR;
	} else {
		r = ppoll(&p, 1, NULL, &old);
	}
	e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return r;
}

/*
 * libfuse's read(): returns what read() would, with errno set. The fd is non-blocking, so an
 * empty queue is EAGAIN: retried until the busy-poll time is up, then we sleep.
 */
static ssize_t busy_poll_read(int fd, void *buf, size_t len, void *userdata)
{
	uint64_t deadline = 0;

	(void)userdata;
	for (;;) {
		ssize_t n = read(fd, buf, len);
		uint64_t now;

		if (n >= 0 || errno != EAGAIN)
			return n;
		now = now_ns();
		if (!deadline)
			deadline = now + busy_poll_ns;
		if (now < deadline) {
			cpu_relax();
			continue;
		}
		if (sleep_until_request(fd) < 0)
			return -1;
		deadline = 0; /* woken: if someone else took the request, poll again first */
	}
}

static ssize_t plain_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	(void)userdata;
	return writev(fd, iov, count);
}

int svc_session_attach(struct fuse_session *se, int fuse_fd, unsigned int busy_poll_us)
{
	static const struct fuse_custom_io io = {
	    .read = busy_poll_read,
	    .writev = plain_writev,
	};
	int flags;

	if (busy_poll_us == 0) {
		char fdpath[32];

		/* "/dev/fd/N": libfuse adopts the fd and mounts nothing. */
		snprintf(fdpath, sizeof(fdpath), "/dev/fd/%d", fuse_fd);
		if (fuse_session_mount(se, fdpath) < 0) {
			close(fuse_fd);
			return -EIO;
		}
		return 0;
	}
	flags = fcntl(fuse_fd, F_GETFL);
	if (flags < 0 || fcntl(fuse_fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		int r = -errno;

		close(fuse_fd);
		return log_error_errno(r, "Could not make the /dev/fuse fd non-blocking");
	}
	busy_poll_ns = (uint64_t)busy_poll_us * 1000u;
	session = se;
	if (fuse_session_custom_io(se, &io, fuse_fd) < 0) {
		close(fuse_fd);
		return -EIO;
	}
	return 0;
}
