/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The exchange with the server and the mount itself (docs/architecture.md, steps 3-8).
 *
 * The server is untrusted: it runs sandboxed and parses an image the user controls, so a
 * malicious image may own it. It gets to say "I can serve this" or "I cannot", and may ask for
 * a few FUSE options from an allowlist. It never chooses what is mounted where, with which
 * flags, or as whom: every fsconfig()/fsmount() argument is generated here from what the user
 * asked and the policy allowed, and the request is refused if it says anything else.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "helper.h"
#include "proto.h"

#define SERVER_SUBTYPE "fuse4fs"
/* max_read above the kernel's page limit (256 pages) is pointless; bound the number so a
 * huge or overflowing value never reaches the kernel parser. */
#define MAX_READ_LIMIT (1024u * 1024u)

static int send_error(int sock, int error, const char *message)
{
	struct proto_msg m;

	/* Best effort: tell the server why we are leaving so it can log it and exit. */
	proto_msg_init(&m, PROTO_MSG_ERROR, PROTO_VERSION_MIN);
	proto_set_u32(&m, PROTO_TAG_ERRNO, (uint32_t)error);
	if (message)
		(void)proto_set_string(&m, PROTO_TAG_MESSAGE, message);
	return proto_send(sock, &m, NULL, 0);
}

/* Receive one message of the expected type; an ERROR is reported with the server's text
 * (escaped: it is untrusted), anything else is a protocol error. */
static int recv_expect(int sock, int timeout_ms, uint16_t type, const char *waiting_for,
		       struct proto_msg *ret)
{
	const char *reason = NULL;
	char esc[PROTO_MESSAGE_MAX * 4 + 8];
	int r;

	r = proto_recv(sock, timeout_ms, 0, ret, &reason);
	if (r == -ETIMEDOUT)
		return log_error_errno(r, "the fuse4fs service did not send %s within %d s; it may "
					  "be stuck on this filesystem (see its journal: "
					  "'journalctl -u \"fuse4fs@*\"')",
				       waiting_for, timeout_ms / 1000);
	if (r == -ECONNRESET || r == -EPIPE)
		return log_error_errno(-ECONNRESET, "the fuse4fs service closed the connection "
						    "while we waited for %s; see its journal "
						    "('journalctl -u \"fuse4fs@*\"')",
				       waiting_for);
	if (r < 0)
		return log_error_errno(-EPROTO, "invalid message from the fuse4fs service while "
						"waiting for %s: %s",
				       waiting_for, reason ? reason : strerror(-r));

	if (ret->type == PROTO_MSG_ERROR) {
		const char *msg = PROTO_HAS(ret, PROTO_TAG_MESSAGE) ? ret->message : "";

		int error = (ret->error > 0 && ret->error < 4096) ? (int)ret->error : EIO;

		helper_escape_untrusted(msg, esc, sizeof(esc));
		return log_error_errno(-EREMOTEIO, "the fuse4fs service refused: %s%s%s", esc,
				       esc[0] ? ": " : "", strerror(error));
	}
	if (ret->type != type)
		return log_error_errno(-EPROTO, "the fuse4fs service sent %s while we waited for %s",
				       proto_msg_type_name(ret->type), waiting_for);
	return 0;
}

int helper_validate_fuse_options(const char *s, bool allow_other_allowed, bool *ret_allow_other,
				 unsigned *ret_max_read)
{
	bool allow_other = false;
	unsigned max_read = 0;
	const char *p = s;

	if (*s == '\0') {
		*ret_allow_other = false;
		*ret_max_read = 0;
		return 0;
	}
	for (;;) {
		const char *end = strchrnul(p, ',');
		size_t n = (size_t)(end - p);

		if (n == 0)
			return -EINVAL; /* empty item */
		if (n == strlen("default_permissions") && !strncmp(p, "default_permissions", n)) {
			/* We always set it anyway. */
		} else if (n == strlen("allow_other") && !strncmp(p, "allow_other", n)) {
			/* Only what the user asked and the policy allowed: a server must not open
			 * a user's mount to everyone on its own. */
			if (!allow_other_allowed)
				return -EPERM;
			allow_other = true;
		} else if (n > 9 && !strncmp(p, "max_read=", 9)) {
			unsigned long v = 0;

			/* Plain decimal, no sign, no leading zero, bounded: strtoul() would
			 * accept " -1" and wrap it. */
			if (p[9] == '0' || n - 9 > 7)
				return -EINVAL;
			for (size_t i = 9; i < n; i++) {
				if (p[i] < '0' || p[i] > '9')
					return -EINVAL;
				v = v * 10 + (unsigned long)(p[i] - '0');
			}
			if (v == 0 || v > MAX_READ_LIMIT || max_read)
				return -EINVAL;
			max_read = (unsigned)v;
		} else {
			return -EINVAL;
		}
		if (!*end)
			break;
		p = end + 1;
	}
	*ret_allow_other = allow_other;
	*ret_max_read = max_read;
	return 0;
}

/* Every field of MOUNT_REQUEST, against what we sent and what we allow. */
static int validate_request(const struct helper_mount *hm, int sock, const struct proto_msg *m,
			    bool *ret_allow_other, unsigned *ret_max_read)
{
	const char *what = NULL;
	int r;

	if (!PROTO_HAS(m, PROTO_TAG_SOURCE) || strcmp(m->source, hm->device_path) != 0)
		what = "a mount source other than the device";
	else if (!PROTO_HAS(m, PROTO_TAG_MOUNTPOINT) ||
		 strcmp(m->mountpoint, hm->mountpoint_path) != 0)
		what = "a mountpoint other than the one given";
	else if (!PROTO_HAS(m, PROTO_TAG_SUBTYPE) || strcmp(m->subtype, SERVER_SUBTYPE) != 0)
		what = "a FUSE subtype other than fuse4fs";
	else if (!PROTO_HAS(m, PROTO_TAG_MOUNT_FLAGS) ||
		 m->mount_flags != (hm->opts->ro ? PROTO_MOUNT_RDONLY : 0))
		what = "mount flags other than the ones sent";
	if (!what) {
		const char *fo = PROTO_HAS(m, PROTO_TAG_FUSE_OPTIONS) ? m->fuse_options : "";

		r = helper_validate_fuse_options(fo, hm->opts->allow_other, ret_allow_other,
						 ret_max_read);
		if (r < 0)
			what = "FUSE options outside the allowlist";
	}
	if (what) {
		(void)send_error(sock, EPERM, "mount request refused by fuservicemount");
		return log_error_errno(-EPROTO, "the fuse4fs service asked for %s; refusing "
						"(this is a bug or a compromised server)",
				       what);
	}
	return 0;
}

/* The kernel explains fsconfig()/fsmount() failures in a log readable from the fs fd. Its
 * text is partly ours and partly the kernel's; escape it anyway, it is cheap. */
static void log_kernel_messages(int fsfd)
{
	char buf[1024], esc[4096 + 8];

	for (int i = 0; i < 16; i++) {
		ssize_t n = read(fsfd, buf, sizeof(buf) - 1);

		if (n <= 0)
			break;
		buf[n] = '\0';
		if (n > 0 && buf[n - 1] == '\n')
			buf[n - 1] = '\0';
		helper_escape_untrusted(buf, esc, sizeof(esc));
		log_error("kernel: %s", esc);
	}
}

static int fsconfig_string(int fsfd, const char *key, const char *value)
{
	if (fsconfig(fsfd, FSCONFIG_SET_STRING, key, value, 0) < 0) {
		int r = -errno;

		log_kernel_messages(fsfd);
		return log_error_errno(r, "the kernel refused FUSE option %s=%s: %m", key, value);
	}
	return 0;
}

static int fsconfig_flag(int fsfd, const char *key)
{
	if (fsconfig(fsfd, FSCONFIG_SET_FLAG, key, NULL, 0) < 0) {
		int r = -errno;

		log_kernel_messages(fsfd);
		return log_error_errno(r, "the kernel refused FUSE option %s: %m", key);
	}
	return 0;
}

/* fsopen .. fsmount .. move_mount. On success *ret_mnt_fd is the new mount (attached). */
static int do_mount(const struct helper_mount *hm, bool allow_other, unsigned max_read,
		    int *ret_mnt_fd)
{
	_cleanup_close_ int fsfd = -1, mntfd = -1;
	char num[32];
	unsigned attrs;
	int r;

	fsfd = fsopen("fuse", FSOPEN_CLOEXEC);
	if (fsfd < 0)
		return log_error_errno(-errno, "fsopen(\"fuse\") failed: %m");

	/* All generated here. "fd" is our own /dev/fuse fd (the server holds a duplicate of
	 * the same open file); user_id/group_id are the caller's real ids, never the server's
	 * idea of them, so unmount policy and FUSE access checks see the right owner. */
	snprintf(num, sizeof(num), "%d", hm->fuse_fd);
	r = fsconfig_string(fsfd, "fd", num);
	if (r < 0)
		return r;
	r = fsconfig_string(fsfd, "rootmode", "40000");
	if (r < 0)
		return r;
	snprintf(num, sizeof(num), "%u", (unsigned)hm->privs->uid);
	r = fsconfig_string(fsfd, "user_id", num);
	if (r < 0)
		return r;
	snprintf(num, sizeof(num), "%u", (unsigned)hm->privs->gid);
	r = fsconfig_string(fsfd, "group_id", num);
	if (r < 0)
		return r;
	r = fsconfig_string(fsfd, "source", hm->device_path);
	if (r < 0)
		return r;
	r = fsconfig_string(fsfd, "subtype", SERVER_SUBTYPE);
	if (r < 0)
		return r;
	/* Always: the kernel checks permissions from the inode modes, instead of trusting
	 * the server to do it. */
	r = fsconfig_flag(fsfd, "default_permissions");
	if (r < 0)
		return r;
	if (allow_other) {
		r = fsconfig_flag(fsfd, "allow_other");
		if (r < 0)
			return r;
	}
	if (max_read > 0) {
		snprintf(num, sizeof(num), "%u", max_read);
		r = fsconfig_string(fsfd, "max_read", num);
		if (r < 0)
			return r;
	}
	if (hm->opts->ro) {
		r = fsconfig_flag(fsfd, "ro");
		if (r < 0)
			return r;
	}
	if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		r = -errno;
		log_kernel_messages(fsfd);
		return log_error_errno(r, "the kernel could not create the FUSE filesystem: %m");
	}

	/* nosuid/nodev/ro are part of the mount from its birth (CVE-2026-53614). */
	attrs = helper_options_mount_attrs(hm->opts, hm->privs->is_root);
	mntfd = fsmount(fsfd, FSMOUNT_CLOEXEC, attrs);
	if (mntfd < 0) {
		r = -errno;
		log_kernel_messages(fsfd);
		return log_error_errno(r, "fsmount() failed: %m");
	}

	/* Onto the fd we pinned and checked, never onto a path that could have been swapped
	 * for a symlink since. */
	if (move_mount(mntfd, "", hm->mountpoint_fd, "",
		       MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return log_error_errno(-errno, "cannot attach the mount: %m");

	*ret_mnt_fd = TAKE_FD(mntfd);
	return 0;
}

/* Undo an attached mount that nobody will serve. Through our own fd to it, so we detach
 * exactly that mount, whatever has happened to the path since. MNT_DETACH because our fd
 * (and maybe a user's process already in there) keeps it busy. */
static void detach_mount(int mnt_fd)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", mnt_fd);
	if (umount2(path, MNT_DETACH) < 0)
		log_error_errno(-errno, "cannot detach the failed mount: %m; unmount it with "
					"'fuservicemount -u'");
}

int helper_mount_run(const struct helper_mount *hm, int sock, bool *ret_kernel_failed)
{
	struct proto_msg *m = NULL;
	_cleanup_free_ struct proto_msg *mp = NULL;
	_cleanup_close_ int mnt_fd = -1;
	bool allow_other = false;
	unsigned max_read = 0;
	uint16_t version;
	int fds[PROTO_MOUNT_CONTEXT_FDS];
	int r;

	/* ~30 KiB of fixed-size strings: heap, not stack. */
	mp = calloc(1, sizeof(*mp));
	if (!mp)
		return log_error_errno(-ENOMEM, "out of memory");
	m = mp;

	/* HELLO -> HELLO_REPLY */
	proto_msg_init(m, PROTO_MSG_HELLO, PROTO_VERSION_MIN);
	proto_set_u16(m, PROTO_TAG_VERSION_MIN, PROTO_VERSION_MIN);
	proto_set_u16(m, PROTO_TAG_VERSION_MAX, PROTO_VERSION_MAX);
	r = proto_send(sock, m, NULL, 0);
	if (r < 0)
		goto send_failed;
	r = recv_expect(sock, HELPER_REPLY_TIMEOUT_MS, PROTO_MSG_HELLO_REPLY, "HELLO_REPLY", m);
	if (r < 0)
		return r;
	if (!PROTO_HAS(m, PROTO_TAG_VERSION) || m->version_chosen < PROTO_VERSION_MIN ||
	    m->version_chosen > PROTO_VERSION_MAX)
		return log_error_errno(-EPROTO, "the fuse4fs service chose protocol version %u, "
						"which this fuservicemount does not speak",
				       (unsigned)m->version_chosen);
	version = m->version_chosen;

	/* MOUNT_CONTEXT with [device, /dev/fuse] */
	proto_msg_init(m, PROTO_MSG_MOUNT_CONTEXT, version);
	if (proto_set_string(m, PROTO_TAG_DEVICE_PATH, hm->device_path) < 0 ||
	    proto_set_string(m, PROTO_TAG_MOUNTPOINT, hm->mountpoint_path) < 0)
		return log_error_errno(-ENAMETOOLONG, "path too long for the protocol");
	proto_set_u32(m, PROTO_TAG_UID, (uint32_t)hm->privs->uid);
	proto_set_u32(m, PROTO_TAG_GID, (uint32_t)hm->privs->gid);
	proto_set_u32(m, PROTO_TAG_MOUNT_FLAGS, hm->opts->ro ? PROTO_MOUNT_RDONLY : 0);
	if (hm->opts->accepted[0] && proto_set_string(m, PROTO_TAG_OPTIONS, hm->opts->accepted) < 0)
		return log_error_errno(-ENAMETOOLONG, "options too long for the protocol");
	fds[PROTO_FD_DEVICE] = hm->device_fd;
	fds[PROTO_FD_FUSE] = hm->fuse_fd;
	r = proto_send(sock, m, fds, PROTO_MOUNT_CONTEXT_FDS);
	if (r < 0)
		goto send_failed;

	/* MOUNT_REQUEST (opening a big filesystem may take a while) */
	r = recv_expect(sock, HELPER_MOUNT_REQUEST_TIMEOUT_MS, PROTO_MSG_MOUNT_REQUEST,
			"MOUNT_REQUEST", m);
	if (r < 0)
		return r;
	r = validate_request(hm, sock, m, &allow_other, &max_read);
	if (r < 0)
		return r;

	r = do_mount(hm, allow_other, max_read, &mnt_fd);
	if (r < 0) {
		/* Tell the server, so it exits instead of waiting for a mount that never comes. */
		proto_msg_init(m, PROTO_MSG_MOUNT_RESULT, version);
		proto_set_u32(m, PROTO_TAG_ERRNO, (uint32_t)-r);
		(void)proto_send(sock, m, NULL, 0);
		*ret_kernel_failed = true;
		return r;
	}

	/* From here on a failure must not leave the mount behind. */
	proto_msg_init(m, PROTO_MSG_MOUNT_RESULT, version);
	proto_set_u32(m, PROTO_TAG_ERRNO, 0);
	r = proto_send(sock, m, NULL, 0);
	if (r < 0) {
		detach_mount(mnt_fd);
		goto send_failed;
	}
	r = recv_expect(sock, HELPER_REPLY_TIMEOUT_MS, PROTO_MSG_READY, "READY", m);
	if (r < 0) {
		detach_mount(mnt_fd);
		return r;
	}
	return 0;

send_failed:
	if (r == -EPIPE || r == -ECONNRESET)
		return log_error_errno(-ECONNRESET, "the fuse4fs service closed the connection; "
						    "see its journal ('journalctl -u \"fuse4fs@*\"')");
	if (r == -EAGAIN || r == -ETIMEDOUT)
		return log_error_errno(-ETIMEDOUT, "sending to the fuse4fs service timed out");
	return log_error_errno(r, "cannot send to the fuse4fs service: %m");
}
