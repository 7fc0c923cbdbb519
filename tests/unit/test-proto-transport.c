/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proto transport over a real socketpair(AF_UNIX, SOCK_SEQPACKET): fds arrive intact and
 * close-on-exec; fds nobody asked for are closed (counted in /proc/self/fd, so a leak fails the
 * test); truncation, timeouts, peer close and SO_PASSRIGHTS behave as documented; the fd type
 * checks tell /dev/fuse from look-alikes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "tap.h"

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own fd */
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("socketpair");
		exit(1);
	}
}

/* Send bytes with any number of fds, bypassing proto_send()'s own checks: this is what a
 * hostile or buggy peer does. */
static ssize_t send_raw(int sock, const void *data, size_t len, const int *fds, unsigned n)
{
	union {
		struct cmsghdr align;
		uint8_t buf[CMSG_SPACE(sizeof(int) * 8)];
	} control;
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (n > 0) {
		struct cmsghdr *c;

		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL);
}

static int tmpfile_fd(void)
{
	char path[] = "/tmp/test-proto-transport.XXXXXX";
	int fd = mkostemp(path, O_CLOEXEC);

	if (fd < 0) {
		perror("mkostemp");
		exit(1);
	}
	unlink(path);
	return fd;
}

static void build_context(struct proto_msg *m)
{
	proto_msg_init(m, PROTO_MSG_MOUNT_CONTEXT, 1);
	proto_set_string(m, PROTO_TAG_DEVICE_PATH, "/dev/sdb1");
	proto_set_string(m, PROTO_TAG_MOUNTPOINT, "/media/alice/stick");
	proto_set_u32(m, PROTO_TAG_UID, 1000);
	proto_set_u32(m, PROTO_TAG_GID, 1000);
	proto_set_u32(m, PROTO_TAG_MOUNT_FLAGS, PROTO_MOUNT_RDONLY);
}

static size_t encode(uint16_t type, uint8_t *buf)
{
	struct proto_msg m;
	size_t len = 0;

	if (type == PROTO_MSG_MOUNT_CONTEXT) {
		build_context(&m);
	} else {
		proto_msg_init(&m, type, 1);
		if (type == PROTO_MSG_HELLO) {
			proto_set_u16(&m, PROTO_TAG_VERSION_MIN, 1);
			proto_set_u16(&m, PROTO_TAG_VERSION_MAX, 1);
		}
	}
	if (proto_encode(&m, buf, PROTO_MSG_MAX, &len) < 0) {
		fprintf(stderr, "encode failed\n");
		exit(1);
	}
	return len;
}

static int same_file(int a, int b)
{
	struct stat sa, sb;

	if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
		return 0;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static struct proto_msg msg;
static uint8_t wire[PROTO_MSG_MAX + 8192];

static void test_round_trip(void)
{
	int sv[2], fds[2];
	const char *why = NULL;
	struct proto_msg m;

	pair(sv);
	fds[0] = tmpfile_fd();
	fds[1] = open("/dev/null", O_RDWR | O_CLOEXEC);
	build_context(&m);
	TAP_EQ_INT(proto_send(sv[0], &m, fds, 2), 0);
	TAP_EQ_INT(proto_recv(sv[1], 1000, 2, &msg, &why), 0);
	TAP_EQ_INT(msg.type, PROTO_MSG_MOUNT_CONTEXT);
	TAP_EQ_STR(msg.mountpoint, "/media/alice/stick");
	TAP_EQ_INT(msg.n_fds, 2);
	TAP_OK(msg.fds[0] >= 0 && msg.fds[0] != fds[0] && msg.fds[0] != fds[1]);
	TAP_OK(msg.fds[1] >= 0 && msg.fds[1] != fds[0] && msg.fds[1] != fds[1]);
	/* Same open files, in order. */
	TAP_OK(same_file(msg.fds[PROTO_FD_DEVICE], fds[0]));
	TAP_OK(same_file(msg.fds[PROTO_FD_FUSE], fds[1]));
	/* Close-on-exec from birth (MSG_CMSG_CLOEXEC). */
	TAP_OK(fcntl(msg.fds[0], F_GETFD) & FD_CLOEXEC);
	TAP_OK(fcntl(msg.fds[1], F_GETFD) & FD_CLOEXEC);

	{
		int a = msg.fds[0], b = msg.fds[1];

		proto_msg_close_fds(&msg);
		TAP_EQ_INT(msg.fds[0], -1);
		TAP_EQ_INT(msg.fds[1], -1);
		TAP_EQ_INT(msg.n_fds, 0);
		TAP_OK(fcntl(a, F_GETFD) < 0 && errno == EBADF);
		TAP_OK(fcntl(b, F_GETFD) < 0 && errno == EBADF);
		proto_msg_close_fds(&msg); /* idempotent */
	}

	/* A message without fds. */
	proto_msg_init(&m, PROTO_MSG_ERROR, 1);
	proto_set_u32(&m, PROTO_TAG_ERRNO, EUCLEAN);
	proto_set_string(&m, PROTO_TAG_MESSAGE, "Filesystem is corrupted");
	TAP_EQ_INT(proto_send(sv[1], &m, NULL, 0), 0);
	TAP_EQ_INT(proto_recv(sv[0], 1000, 0, &msg, &why), 0);
	TAP_EQ_INT(msg.type, PROTO_MSG_ERROR);
	TAP_EQ_INT(msg.error, EUCLEAN);
	TAP_EQ_STR(msg.message, "Filesystem is corrupted");
	TAP_EQ_INT(msg.n_fds, 0);

	/* proto_send() refuses fd counts the receiver would reject. */
	TAP_EQ_INT(proto_send(sv[1], &m, fds, 1), -EINVAL);
	build_context(&m);
	TAP_EQ_INT(proto_send(sv[0], &m, fds, 1), -EINVAL);
	TAP_EQ_INT(proto_send(sv[0], &m, fds, 3), -EINVAL);
	TAP_EQ_INT(proto_send(sv[0], &m, NULL, 2), -EINVAL);
	{
		int bad[2] = { fds[0], -1 };

		TAP_EQ_INT(proto_send(sv[0], &m, bad, 2), -EBADF);
	}
	/* ...and messages that do not encode. */
	proto_msg_init(&m, PROTO_MSG_HELLO, 1);
	TAP_EQ_INT(proto_send(sv[0], &m, NULL, 0), -EINVAL);
	TAP_EQ_INT(proto_recv(sv[1], 1000, 3, &msg, &why), -EINVAL);

	close(fds[0]);
	close(fds[1]);
	close(sv[0]);
	close(sv[1]);
}

/* Send `type` with n fds raw, receive with fds_expected; expect err and no fd left behind. */
#define BAD_FDS(type, n, expected, err)                                                        \
	do {                                                                                   \
		int _sv[2], _fds[8], _before, _after;                                          \
		size_t _len = encode((type), wire);                                            \
		pair(_sv);                                                                     \
		for (int _i = 0; _i < 8; _i++)                                                 \
			_fds[_i] = open("/dev/null", O_RDONLY | O_CLOEXEC);                    \
		TAP_EQ_INT(send_raw(_sv[0], wire, _len, _fds, (n)), (ssize_t)_len);            \
		for (int _i = 0; _i < 8; _i++)                                                 \
			close(_fds[_i]);                                                       \
		_before = count_fds();                                                         \
		TAP_EQ_INT(proto_recv(_sv[1], 1000, (expected), &msg, NULL), (err));           \
		if ((err) == 0)                                                                \
			proto_msg_close_fds(&msg);                                             \
		_after = count_fds();                                                          \
		TAP_EQ_INT(_after, _before);                                                   \
		close(_sv[0]);                                                                 \
		close(_sv[1]);                                                                 \
	} while (0)

static void test_unexpected_fds(void)
{
	/* The fds are in flight in the socket, so /proc/self/fd does not see them before
	 * proto_recv() installs them: equal counts mean every one was closed again. */
	BAD_FDS(PROTO_MSG_HELLO, 1, 0, -EBADMSG);	  /* none expected, one fits the buffer */
	BAD_FDS(PROTO_MSG_HELLO, 2, 0, -EBADMSG);	  /* none expected, MSG_CTRUNC */
	BAD_FDS(PROTO_MSG_HELLO, 8, 0, -EBADMSG);
	BAD_FDS(PROTO_MSG_HELLO, 1, 2, -EBADMSG);	  /* room, but HELLO carries none */
	BAD_FDS(PROTO_MSG_HELLO, 2, 2, -EBADMSG);
	BAD_FDS(PROTO_MSG_MOUNT_CONTEXT, 3, 2, -EBADMSG); /* too many: MSG_CTRUNC */
	BAD_FDS(PROTO_MSG_MOUNT_CONTEXT, 8, 2, -EBADMSG);
	BAD_FDS(PROTO_MSG_MOUNT_CONTEXT, 1, 2, -EBADMSG); /* too few */
	BAD_FDS(PROTO_MSG_MOUNT_CONTEXT, 0, 2, -EBADMSG);
	BAD_FDS(PROTO_MSG_MOUNT_CONTEXT, 2, 0, -EBADMSG); /* caller expected none */
	BAD_FDS(PROTO_MSG_MOUNT_CONTEXT, 2, 1, -EBADMSG);
	BAD_FDS(PROTO_MSG_HELLO, 0, 0, 0);		  /* control: this one is fine */
	BAD_FDS(PROTO_MSG_MOUNT_CONTEXT, 2, 2, 0);	  /* control: the right count */

	/* A malformed message with fds: decode error, fds closed, reason passed through. */
	{
		int sv[2], fd = open("/dev/null", O_RDONLY | O_CLOEXEC), before;
		const char *why = NULL;
		size_t len = encode(PROTO_MSG_MOUNT_CONTEXT, wire);
		int fds[2] = { fd, fd };

		pair(sv);
		wire[0] = 'X';
		TAP_EQ_INT(send_raw(sv[0], wire, len, fds, 2), (ssize_t)len);
		close(fd);
		before = count_fds();
		TAP_EQ_INT(proto_recv(sv[1], 1000, 2, &msg, &why), -EBADMSG);
		TAP_EQ_STR(why, "bad magic");
		TAP_EQ_INT(count_fds(), before);
		close(sv[0]);
		close(sv[1]);
	}

	/* Control data we never asked for (SO_PASSCRED: SCM_CREDENTIALS on every message). */
	{
		int sv[2], one = 1;
		size_t len = encode(PROTO_MSG_READY, wire);

		pair(sv);
		TAP_EQ_INT(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), 0);
		TAP_EQ_INT(send_raw(sv[0], wire, len, NULL, 0), (ssize_t)len);
		TAP_EQ_INT(proto_recv(sv[1], 1000, 2, &msg, NULL), -EBADMSG);
		close(sv[0]);
		close(sv[1]);
	}
}

#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif

/* SO_PASSPIDFD (Linux 6.5): the kernel attaches an SCM_PIDFD control message that fits the
 * one-fd control buffer, so it reaches the level/type check instead of MSG_CTRUNC. The pidfd it
 * carries is an fd too and must be closed. */
static void test_foreign_cmsg_with_fd(void)
{
	int sv[2], one = 1, before, r;
	size_t len = encode(PROTO_MSG_READY, wire);

	pair(sv);
	r = setsockopt(sv[1], SOL_SOCKET, SO_PASSPIDFD, &one, sizeof(one));
	if (r < 0) {
		tap_diag("no SO_PASSPIDFD, SCM_PIDFD check skipped");
	} else {
		TAP_EQ_INT(send_raw(sv[0], wire, len, NULL, 0), (ssize_t)len);
		before = count_fds();
		TAP_EQ_INT(proto_recv(sv[1], 1000, 0, &msg, NULL), -EBADMSG);
		TAP_EQ_INT(count_fds(), before);
	}
	close(sv[0]);
	close(sv[1]);
}

static void test_oversized(void)
{
	int sv[2], fd = open("/dev/null", O_RDONLY | O_CLOEXEC), before;
	int sndbuf = 4 * PROTO_MSG_MAX;
	size_t len;

	pair(sv);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	/* A valid header claiming the whole size, so only the size is wrong. */
	len = encode(PROTO_MSG_READY, wire);
	memset(wire + len, 0, sizeof(wire) - len);
	TAP_EQ_INT(send_raw(sv[0], wire, PROTO_MSG_MAX + 4, &fd, 1), PROTO_MSG_MAX + 4);
	close(fd);
	before = count_fds();
	TAP_EQ_INT(proto_recv(sv[1], 1000, 0, &msg, NULL), -EMSGSIZE);
	TAP_EQ_INT(count_fds(), before);
	/* The next datagram starts clean: the rest of the big one was discarded. */
	len = encode(PROTO_MSG_READY, wire);
	TAP_EQ_INT(send_raw(sv[0], wire, len, NULL, 0), (ssize_t)len);
	TAP_EQ_INT(proto_recv(sv[1], 1000, 0, &msg, NULL), 0);
	TAP_EQ_INT(msg.type, PROTO_MSG_READY);
	close(sv[0]);
	close(sv[1]);
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	alarms++;
}

static void test_timeout_and_close(void)
{
	int sv[2];
	int64_t t0, dt;
	struct sigaction sa = { .sa_handler = on_alarm };
	struct itimerval it = { .it_interval = { 0, 20000 }, .it_value = { 0, 20000 } };
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	struct proto_msg m;

	pair(sv);
	t0 = now_ms();
	TAP_EQ_INT(proto_recv(sv[1], 200, 0, &msg, NULL), -ETIMEDOUT);
	dt = now_ms() - t0;
	TAP_OK(dt >= 190 && dt < 1000);

	TAP_EQ_INT(proto_recv(sv[1], 0, 0, &msg, NULL), -ETIMEDOUT);

	/* Signals every 20 ms: EINTR must resume with the time left, neither returning early
	 * nor restarting the full timeout. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	t0 = now_ms();
	TAP_EQ_INT(proto_recv(sv[1], 300, 0, &msg, NULL), -ETIMEDOUT);
	dt = now_ms() - t0;
	setitimer(ITIMER_REAL, &off, NULL);
	TAP_OK(alarms >= 5);
	TAP_OK(dt >= 290 && dt < 1000);

	/* A message already waiting is received with a zero timeout. */
	proto_msg_init(&m, PROTO_MSG_READY, 1);
	TAP_EQ_INT(proto_send(sv[0], &m, NULL, 0), 0);
	TAP_EQ_INT(proto_recv(sv[1], 0, 0, &msg, NULL), 0);

	/* Peer gone. */
	close(sv[0]);
	t0 = now_ms();
	TAP_EQ_INT(proto_recv(sv[1], 5000, 0, &msg, NULL), -ECONNRESET);
	TAP_OK(now_ms() - t0 < 1000);
	TAP_EQ_INT(proto_recv(sv[1], -1, 0, &msg, NULL), -ECONNRESET);
	/* Sending to it: EPIPE, and no SIGPIPE (which would kill this test). */
	TAP_EQ_INT(proto_send(sv[1], &m, NULL, 0), -EPIPE);
	close(sv[1]);

	/* A zero-length datagram is treated like the peer closing. */
	pair(sv);
	TAP_EQ_INT(send_raw(sv[0], wire, 0, NULL, 0), 0);
	TAP_EQ_INT(proto_recv(sv[1], 1000, 0, &msg, NULL), -ECONNRESET);
	close(sv[0]);
	close(sv[1]);

	/* No socket at all: poll() would just ignore a negative fd and time out. */
	TAP_EQ_INT(proto_recv(-1, 100, 0, &msg, NULL), -EBADF);
}

static void test_fd_checks(void)
{
	int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	int file_fd = tmpfile_fd();
	int pipe_fd[2];
	int fuse_fd;
	bool is_block = true;
	DIR *d;
	struct dirent *de;
	int blk = -1;

	TAP_OK(pipe2(pipe_fd, O_CLOEXEC) == 0);

	/* /dev/null: a character device, but 1:3. */
	TAP_EQ_INT(proto_check_fuse_fd(null_fd), -ENODEV);
	TAP_EQ_INT(proto_check_device_fd(null_fd, &is_block), -ENODEV);
	TAP_EQ_INT(proto_check_fuse_fd(file_fd), -ENODEV);
	TAP_EQ_INT(proto_check_device_fd(file_fd, &is_block), 0);
	TAP_OK(!is_block);
	TAP_EQ_INT(proto_check_fuse_fd(pipe_fd[0]), -ENODEV);
	TAP_EQ_INT(proto_check_device_fd(pipe_fd[0], &is_block), -ENODEV);
	TAP_EQ_INT(proto_check_fuse_fd(-1), -EBADF);
	TAP_EQ_INT(proto_check_device_fd(-1, &is_block), -EBADF);
	{
		int dir_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		TAP_EQ_INT(proto_check_device_fd(dir_fd, &is_block), -ENODEV);
		close(dir_fd);
	}

	fuse_fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fuse_fd >= 0) {
		TAP_EQ_INT(proto_check_fuse_fd(fuse_fd), 0);
		TAP_EQ_INT(proto_check_device_fd(fuse_fd, &is_block), -ENODEV);
		close(fuse_fd);
	} else {
		tap_diag("/dev/fuse not openable, its positive check skipped");
	}

	/* Any block device: O_PATH, so nothing is actually opened for I/O. */
	d = opendir("/dev");
	while (d && blk < 0 && (de = readdir(d))) {
		struct stat st;

		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISBLK(st.st_mode))
			blk = openat(dirfd(d), de->d_name, O_PATH | O_CLOEXEC);
	}
	if (d)
		closedir(d);
	if (blk >= 0) {
		is_block = false;
		TAP_EQ_INT(proto_check_device_fd(blk, &is_block), 0);
		TAP_OK(is_block);
		TAP_EQ_INT(proto_check_fuse_fd(blk), -ENODEV);
		close(blk);
	} else {
		tap_diag("no block device in /dev, its positive check skipped");
	}

	close(null_fd);
	close(file_fd);
	close(pipe_fd[0]);
	close(pipe_fd[1]);
}

static void test_passrights(void)
{
	int sv[2], fds[2], r, before;
	struct proto_msg m;

	pair(sv);
	r = proto_disable_passrights(sv[1]);
	TAP_OK(r == 0 || r == -ENOPROTOOPT);
	if (r == -ENOPROTOOPT) {
		tap_diag("kernel without SO_PASSRIGHTS (< 6.16)");
	} else {
		fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		fds[1] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		build_context(&m);
		before = count_fds();
		/* The kernel refuses at the sender: the fds never reach our queue. */
		TAP_EQ_INT(proto_send(sv[0], &m, fds, 2), -EPERM);
		{
			ssize_t n = send_raw(sv[0], wire, encode(PROTO_MSG_HELLO, wire), fds, 1);
			int e = errno;

			TAP_EQ_INT(n, -1);
			TAP_EQ_INT(e, EPERM);
		}
		TAP_EQ_INT(proto_recv(sv[1], 100, 2, &msg, NULL), -ETIMEDOUT);
		TAP_EQ_INT(count_fds(), before);
		/* Messages without fds still flow. */
		proto_msg_init(&m, PROTO_MSG_READY, 1);
		TAP_EQ_INT(proto_send(sv[0], &m, NULL, 0), 0);
		TAP_EQ_INT(proto_recv(sv[1], 1000, 0, &msg, NULL), 0);
		TAP_EQ_INT(msg.type, PROTO_MSG_READY);
		/* The other direction is unaffected. */
		TAP_EQ_INT(proto_send(sv[1], &m, NULL, 0), 0);
		TAP_EQ_INT(proto_recv(sv[0], 1000, 0, &msg, NULL), 0);
		close(fds[0]);
		close(fds[1]);
	}
	close(sv[0]);
	close(sv[1]);

	{
		int p[2];

		TAP_OK(pipe2(p, O_CLOEXEC) == 0);
		TAP_EQ_INT(proto_disable_passrights(p[0]), -ENOTSOCK);
		close(p[0]);
		close(p[1]);
	}
	TAP_EQ_INT(proto_disable_passrights(-1), -EBADF);
}

int main(void)
{
	int start;

	tap_plan_start();
	signal(SIGPIPE, SIG_DFL);
	start = count_fds();
	test_round_trip();
	test_unexpected_fds();
	test_foreign_cmsg_with_fd();
	test_oversized();
	test_timeout_and_close();
	test_fd_checks();
	test_passrights();
	/* The whole run leaves nothing open. */
	TAP_EQ_INT(count_fds(), start);
	return tap_plan_end();
}
