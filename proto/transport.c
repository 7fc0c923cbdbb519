/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fd-passing transport of the fuservice protocol: one message per SOCK_SEQPACKET datagram,
 * descriptors with SCM_RIGHTS.
 *
 * The receiving side is where fd passing bites: a peer can attach descriptors we did not ask
 * for (they would leak into a long-running or privileged process, or exhaust its fd table), can
 * make the kernel truncate the control data (MSG_CTRUNC: some fds silently installed, dbus
 * CVE-2020-12049), or can send a datagram larger than our buffer (MSG_TRUNC: we would decode a
 * prefix). Every one of these is an error here, and every fd that arrived is closed before we
 * return it.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "proto.h"
#include "util.h"

/* Linux 6.16 (77cbe1a6d873). The number differs on a few architectures' uapi headers. */
#ifndef SO_PASSRIGHTS
#if defined(__parisc__)
#define SO_PASSRIGHTS 0x4051
#elif defined(__sparc__)
#define SO_PASSRIGHTS 0x005c
#else
#define SO_PASSRIGHTS 83
#endif
#endif

/* Linux 6.5: with SO_PASSPIDFD the kernel attaches a pidfd; we never set it, but if someone
 * did, that fd must be closed too. */
#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04
#endif

/* /dev/fuse, Documentation/admin-guide/devices.txt: misc major 10, minor 229. */
#define FUSE_DEV_MAJOR 10
#define FUSE_DEV_MINOR 229

/* Control buffer big enough for the largest ever allowed fd set. Aligned for struct cmsghdr,
 * which CMSG_FIRSTHDR/CMSG_NXTHDR require. */
union proto_cmsg_buf {
	struct cmsghdr align;
	uint8_t buf[CMSG_SPACE(sizeof(int) * PROTO_FDS_MAX)];
};

int proto_send(int sock, const struct proto_msg *m, const int *fds, unsigned n_fds)
{
	_cleanup_free_ uint8_t *buf = NULL;
	union proto_cmsg_buf control;
	struct iovec iov;
	struct msghdr mh = { 0 };
	size_t len;
	ssize_t n;
	int r;

	/* The receiver insists on exactly this count; refuse before the peer does, so the
	 * bug shows up on the side that has it. */
	if (n_fds > PROTO_FDS_MAX || n_fds != proto_msg_type_fds(m->type) || (n_fds && !fds))
		return -EINVAL;
	for (unsigned i = 0; i < n_fds; i++)
		if (fds[i] < 0)
			return -EBADF;

	buf = malloc(PROTO_MSG_MAX);
	if (!buf)
		return -ENOMEM;
	r = proto_encode(m, buf, PROTO_MSG_MAX, &len);
	if (r < 0)
		return r;

	iov.iov_base = buf;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (n_fds > 0) {
		struct cmsghdr *c;

		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
	}

	/* MSG_NOSIGNAL: a peer that went away must give us EPIPE, not kill the helper with
	 * SIGPIPE before it can undo a half-done mount. */
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	/* SOCK_SEQPACKET sends a datagram whole or not at all; anything else is another
	 * socket type passed by mistake. */
	if ((size_t)n != len)
		return -EIO;
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until sock is readable: 1, or 0 on timeout. EINTR restarts with what is left, so a
 * signal storm cannot stretch the bound. */
static int wait_readable(int sock, int timeout_ms, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = sock, .events = POLLIN };
		int t = -1, r;

		if (timeout_ms >= 0) {
			int64_t left = deadline - now_ms();

			t = left > 0 ? (int)left : 0;
		}
		r = poll(&p, 1, t);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return 0;
		/* POLLHUP/POLLERR: let recvmsg() report it (0 bytes or the socket error). */
		return 1;
	}
}

static void close_all(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		fds[i] = safe_close(fds[i]);
}

/*
 * Take every fd out of the control data into fds[] (capacity cap) and check the control data
 * is exactly one SCM_RIGHTS message. Returns 0 or -EBADMSG; either way *ret_n fds are in fds[]
 * and the caller owns (and on error closes) them.
 */
static int collect_fds(struct msghdr *mh, int *fds, unsigned cap, unsigned *ret_n)
{
	unsigned n = 0, n_rights = 0;
	int r = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t payload, k;

		if (c->cmsg_len < CMSG_LEN(0)) {
			r = -EBADMSG;
			continue;
		}
		payload = c->cmsg_len - CMSG_LEN(0);
		if (c->cmsg_level == SOL_SOCKET &&
		    (c->cmsg_type == SCM_RIGHTS || c->cmsg_type == SCM_PIDFD)) {
			/* Close what arrived even if the message is wrong otherwise. */
			k = payload / sizeof(int);
			for (size_t i = 0; i < k; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (n < cap)
					fds[n++] = fd;
				else
					safe_close(fd); /* cannot happen: cap covers the buffer */
			}
			if (c->cmsg_type != SCM_RIGHTS || payload % sizeof(int) != 0 || k == 0 ||
			    ++n_rights > 1)
				r = -EBADMSG;
		} else {
			/* SCM_CREDENTIALS and friends: we never asked for them. */
			r = -EBADMSG;
		}
	}
	*ret_n = n;
	return r;
}

int proto_recv(int sock, int timeout_ms, unsigned fds_expected, struct proto_msg *ret,
	       const char **ret_reason)
{
	_cleanup_free_ uint8_t *buf = NULL;
	union proto_cmsg_buf control;
	int fds[CMSG_SPACE(sizeof(int) * PROTO_FDS_MAX) / sizeof(int)];
	unsigned n_fds = 0, room;
	int64_t deadline = 0;
	struct iovec iov;
	struct msghdr mh;
	uint16_t type;
	ssize_t n;
	int r;

	if (sock < 0)
		return -EBADF; /* poll() would ignore it and report a timeout */
	if (fds_expected > PROTO_FDS_MAX || !ret)
		return -EINVAL;
	if (ret_reason)
		*ret_reason = NULL;

	buf = malloc(PROTO_MSG_MAX);
	if (!buf)
		return -ENOMEM;
	if (timeout_ms >= 0)
		deadline = now_ms() + timeout_ms;

	/* Room for exactly the fds expected, so a peer sending more gets MSG_CTRUNC. With none
	 * expected, still room for one: an fd that arrives anyway is then seen (and closed)
	 * here, not only flagged by MSG_CTRUNC. */
	room = fds_expected > 0 ? fds_expected : 1;

	for (;;) {
		r = wait_readable(sock, timeout_ms, deadline);
		if (r < 0)
			return r;
		if (r == 0)
			return -ETIMEDOUT;

		memset(&control, 0, sizeof(control));
		iov.iov_base = buf;
		iov.iov_len = PROTO_MSG_MAX;
		mh = (struct msghdr){
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = control.buf,
			.msg_controllen = CMSG_SPACE(sizeof(int) * room),
		};
		/* MSG_CMSG_CLOEXEC: the fds must not leak into anything we exec, not even for
		 * the instant between recvmsg() and an fcntl(). MSG_DONTWAIT: poll() said
		 * readable, but if someone else took the datagram we go back to poll() with
		 * the time left rather than block forever. */
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n < 0)
			return -errno;
		break;
	}

	r = collect_fds(&mh, fds, ELEMENTSOF(fds), &n_fds);
	if (r < 0)
		goto fail;
	if (mh.msg_flags & MSG_CTRUNC) {
		r = -EBADMSG;
		goto fail;
	}
	if (mh.msg_flags & MSG_TRUNC) {
		r = -EMSGSIZE;
		goto fail;
	}
	if (n == 0) {
		r = -ECONNRESET;
		goto fail;
	}

	r = proto_decode(buf, (size_t)n, NULL, ret_reason);
	if (r < 0)
		goto fail;
	/* Exact count: a MOUNT_CONTEXT with one fd would leave PROTO_FD_FUSE absent, a reply
	 * with fds would plant descriptors in the helper. */
	type = (uint16_t)((buf[6] << 8) | buf[7]);
	if (n_fds != proto_msg_type_fds(type) || n_fds > fds_expected) {
		r = -EBADMSG;
		goto fail;
	}

	r = proto_decode(buf, (size_t)n, ret, ret_reason);
	if (r < 0)
		goto fail; /* not reached: validated above */
	for (unsigned i = 0; i < n_fds; i++)
		ret->fds[i] = fds[i];
	ret->n_fds = n_fds;
	return 0;

fail:
	close_all(fds, n_fds);
	return r;
}

void proto_msg_close_fds(struct proto_msg *m)
{
	for (unsigned i = 0; i < PROTO_FDS_MAX; i++)
		m->fds[i] = safe_close(m->fds[i]);
	m->n_fds = 0;
}

int proto_check_fuse_fd(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	/* A server handed some other character device (or a FUSE-looking file) would serve
	 * or scribble on it; only the real misc device 10:229 will do. */
	if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != FUSE_DEV_MAJOR ||
	    minor(st.st_rdev) != FUSE_DEV_MINOR)
		return -ENODEV;
	return 0;
}

int proto_check_device_fd(int fd, bool *ret_is_block)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	/* Sockets, pipes, directories and character devices are not filesystems; libext2fs
	 * on them would at best fail oddly, at worst block or talk to hardware. */
	if (S_ISBLK(st.st_mode)) {
		if (ret_is_block)
			*ret_is_block = true;
		return 0;
	}
	if (S_ISREG(st.st_mode)) {
		if (ret_is_block)
			*ret_is_block = false;
		return 0;
	}
	return -ENODEV;
}

int proto_disable_passrights(int sock)
{
	int zero = 0;

	/* With this off the kernel refuses (EPERM, at the sender) any datagram carrying fds to
	 * this socket, so a hostile peer cannot even make them sit in our receive queue. */
	if (setsockopt(sock, SOL_SOCKET, SO_PASSRIGHTS, &zero, sizeof(zero)) < 0) {
		if (errno == ENOPROTOOPT || errno == EINVAL)
			return -ENOPROTOOPT;
		return -errno;
	}
	return 0;
}
