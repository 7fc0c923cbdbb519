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
 *
 * The same hook negotiates what libfuse 3.14 does not know: FUSE_HANDLE_KILLPRIV_V2. Without it
 * the kernel never caches that a file carries no file capabilities (SB_NOSEC), so every write()
 * first asks us for security.capability: two round trips per buffered write instead of one,
 * and with the writeback cache one instead of none. With it the server clears setuid/setgid
 * itself when the kernel says so (FUSE_WRITE_KILL_SUIDGID in a WRITE, FATTR_KILL_SUIDGID in a
 * SETATTR: a truncate then carries no mode, the kernel leaves the clearing to us). libfuse
 * drops those flags before our handlers see them, so the read hook keeps them for the request
 * the thread is about to handle (svc_session_kill_suidgid()).
 */
#define FUSE_USE_VERSION 314

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "session-io.h"

/* One session per process, so one setting; written before the loop starts. */
static uint64_t busy_poll_ns;
static struct fuse_session *session;

/* The INIT request: its unique id, to find our reply to it, and whether the kernel offered
 * FUSE_HANDLE_KILLPRIV_V2. INIT is the first request and is answered before any other is
 * read, by the one thread that reads it. */
static uint64_t init_unique;
static bool init_offers_killpriv_v2;

/* Each worker thread reads a request, then handles it before it reads the next. */
static __thread bool req_kill_suidgid;

/* Where the flags are in the requests (<linux/fuse.h>; the layout is the protocol's). */
#define IN_HDR sizeof(struct fuse_in_header)
#define WRITE_FLAGS_AT (IN_HDR + offsetof(struct fuse_write_in, write_flags))
#define SETATTR_VALID_AT (IN_HDR + offsetof(struct fuse_setattr_in, valid))
#define INIT_FLAGS_AT (IN_HDR + offsetof(struct fuse_init_in, flags))

static uint32_t get_u32(const void *buf, size_t at)
{
	uint32_t v;

	memcpy(&v, (const char *)buf + at, sizeof(v));
	return v;
}

/* Notes what libfuse will not pass on from the request just read into buf. */
static void note_request(const void *buf, ssize_t n)
{
	struct fuse_in_header in;

	req_kill_suidgid = false;
	if (n < (ssize_t)IN_HDR)
		return;
	memcpy(&in, buf, sizeof(in));
	switch (in.opcode) {
	case FUSE_WRITE:
		if ((size_t)n >= WRITE_FLAGS_AT + 4)
			req_kill_suidgid = get_u32(buf, WRITE_FLAGS_AT) & FUSE_WRITE_KILL_SUIDGID;
		break;
	case FUSE_SETATTR:
		if ((size_t)n >= SETATTR_VALID_AT + 4)
			req_kill_suidgid = get_u32(buf, SETATTR_VALID_AT) & FATTR_KILL_SUIDGID;
		break;
	case FUSE_INIT:
		init_unique = in.unique;
		init_offers_killpriv_v2 = (size_t)n >= INIT_FLAGS_AT + 4 &&
					  (get_u32(buf, INIT_FLAGS_AT) & FUSE_HANDLE_KILLPRIV_V2);
		break;
	default:
		break;
	}
}

bool svc_session_kill_suidgid(void)
{
	return req_kill_suidgid;
}

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

		if (n >= 0) {
			note_request(buf, n);
			return n;
		}
		if (errno != EAGAIN)
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

/* busy_poll 0: libfuse's own blocking read(). */
static ssize_t plain_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t n = read(fd, buf, len);

	(void)userdata;
	if (n >= 0)
		note_request(buf, n);
	return n;
}

/*
 * libfuse's writev() of a reply. The INIT reply (libfuse sends header and struct fuse_init_out
 * as two iovecs) gets FUSE_HANDLE_KILLPRIV_V2 added when the kernel offered it; libfuse 3.14's
 * own flags are left as they are.
 */
static ssize_t reply_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct fuse_out_header out;
	struct fuse_init_out init;
	struct iovec patched[2];

	(void)userdata;
	if (init_unique == 0 || count != 2 || iov[0].iov_len != sizeof(out) ||
	    iov[1].iov_len < offsetof(struct fuse_init_out, flags) + sizeof(init.flags) ||
	    iov[1].iov_len > sizeof(init))
		return writev(fd, iov, count);
	memcpy(&out, iov[0].iov_base, sizeof(out));
	if (out.unique != init_unique)
		return writev(fd, iov, count);
	init_unique = 0; /* answered: no other reply is looked at again */
	if (out.error != 0 || !init_offers_killpriv_v2)
		return writev(fd, iov, count);
	memset(&init, 0, sizeof(init));
	memcpy(&init, iov[1].iov_base, iov[1].iov_len);
	init.flags |= FUSE_HANDLE_KILLPRIV_V2;
	patched[0] = iov[0];
	patched[1] = (struct iovec){.iov_base = &init, .iov_len = iov[1].iov_len};
	return writev(fd, patched, count);
}

int svc_session_attach(struct fuse_session *se, int fuse_fd, unsigned int busy_poll_us)
{
	static const struct fuse_custom_io polling_io = {
	    .read = busy_poll_read,
	    .writev = reply_writev,
	};
	static const struct fuse_custom_io blocking_io = {
	    .read = plain_read,
	    .writev = reply_writev,
	};
	int flags;

	if (busy_poll_us > 0) {
		flags = fcntl(fuse_fd, F_GETFL);
		if (flags < 0 || fcntl(fuse_fd, F_SETFL, flags | O_NONBLOCK) < 0) {
			int r = -errno;

			close(fuse_fd);
			return log_error_errno(r, "Could not make the /dev/fuse fd non-blocking");
		}
	}
	busy_poll_ns = (uint64_t)busy_poll_us * 1000u;
	session = se;
	if (fuse_session_custom_io(se, busy_poll_us > 0 ? &polling_io : &blocking_io, fuse_fd) <
	    0) {
		close(fuse_fd);
		return -EIO;
	}
	return 0;
}
