/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Service mode: the server side of a fuservice mount (docs/architecture.md, "A mount, step by
 * step"). systemd accepted a connection from the setuid helper on fuse4fs.socket or
 * fuse4fs@.socket and started us with it as the only fd. The helper sends the device and
 * /dev/fuse as fds; we open the filesystem on the first, attach a FUSE session to the second
 * without mounting anything, ask the helper to mount, and serve once it says the mount exists.
 *
 * Everything here runs inside the sandbox of fuse4fs@.service: we never open a path, we only
 * use what the helper passed. The helper owns all policy; we refuse what we cannot serve.
 */
#define FUSE_USE_VERSION 314

#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include "device-lock.h"
#include "fs.h"
#include "log.h"
#include "modes.h"
#include "proto.h"
#include "sandbox.h"
#include "session-io.h"
#include "util.h"

/* Each message from the helper must arrive within this; a helper that stalls must not pin a
 * service instance (and its share of MaxConnections) forever. */
#define SVC_RECV_TIMEOUT_MS (10 * 1000)

/* libext2fs sits behind one lock, which every request but FORGET takes: more workers only
 * wait for it, and handing requests between them cost more than it saved (direct-mode.c). */
#define SVC_MAX_THREADS 1

#define SVC_FUSE_SUBTYPE "fuse4fs"

struct svc_conn {
	int sock;	  /* the accepted connection; -1 once closed */
	uint16_t version; /* negotiated; PROTO_VERSION_MIN until HELLO_REPLY is sent */
	bool error_sent;  /* an ERROR went out (or the peer is gone): send no other */
};

static void svc_conn_close(struct svc_conn *c)
{
	c->sock = safe_close(c->sock);
}

/* Best effort: the helper may already be gone, and we are failing anyway. */
static void svc_send_error(struct svc_conn *c, int err, const char *message)
{
	struct proto_msg m;
	int r;

	if (c->sock < 0 || c->error_sent)
		return;
	c->error_sent = true;

	proto_msg_init(&m, PROTO_MSG_ERROR, c->version);
	proto_set_u32(&m, PROTO_TAG_ERRNO, (uint32_t)(err < 0 ? -err : err));
	if (message && message[0]) {
		/* A message over the wire limit would make the whole ERROR unencodable; the
		 * errno alone still tells the helper what happened. */
		r = proto_set_string(&m, PROTO_TAG_MESSAGE, message);
		if (r < 0)
			log_debug("Not sending an over-long error message: %s", strerror(-r));
	}
	r = proto_send(c->sock, &m, NULL, 0);
	if (r < 0)
		log_debug("Could not send ERROR to the helper: %s", strerror(-r));
}

/* Log why we give up (once, here) and tell the helper the same words. Returns -err. */
static int svc_refuse(struct svc_conn *c, int err, const char *fmt, ...) _printf_(3, 4);
static int svc_refuse(struct svc_conn *c, int err, const char *fmt, ...)
{
	char text[PROTO_MESSAGE_MAX + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);

	log_error("%s", text);
	svc_send_error(c, err, text);
	return err < 0 ? err : -err;
}

/*
 * Receive the next message and make sure it is `type`. Turns every way the exchange can go
 * wrong into one log line (and an ERROR when the helper can still read it).
 */
static int svc_recv(struct svc_conn *c, uint16_t type, unsigned fds_expected, struct proto_msg *ret)
{
	const char *reason = NULL;
	int r;

	r = proto_recv(c->sock, SVC_RECV_TIMEOUT_MS, fds_expected, ret, &reason);
	switch (r) {
	case 0:
		break;
	case -ETIMEDOUT:
		return svc_refuse(c, ETIMEDOUT, "No %s from the helper within %d s, giving up",
				  proto_msg_type_name(type), SVC_RECV_TIMEOUT_MS / 1000);
	case -ECONNRESET:
	case -EPIPE:
		/* Nobody left to tell. */
		c->error_sent = true;
		return log_error_errno(r, "The helper closed the connection while we waited for %s",
				       proto_msg_type_name(type));
	case -EPROTONOSUPPORT:
		return svc_refuse(
		    c, EPROTONOSUPPORT,
		    "Message written in an unsupported protocol version (we speak %d..%d)",
		    PROTO_VERSION_MIN, PROTO_VERSION_MAX);
	default:
		return svc_refuse(c, -r, "Bad message while waiting for %s: %s",
				  proto_msg_type_name(type), reason ? reason : strerror(-r));
	}

	if (ret->type == PROTO_MSG_ERROR) {
		/* The helper gave up and closes; it printed the reason for the user already. */
		c->error_sent = true;
		proto_msg_close_fds(ret);
		return log_error_errno(-(int)(ret->error ? ret->error : EPROTO),
				       "The helper sent ERROR instead of %s%s%s",
				       proto_msg_type_name(type),
				       PROTO_HAS(ret, PROTO_TAG_MESSAGE) ? ": " : "",
				       PROTO_HAS(ret, PROTO_TAG_MESSAGE) ? ret->message : "");
	}
	if (ret->type != type) {
		proto_msg_close_fds(ret);
		return svc_refuse(c, EPROTO, "Expected %s from the helper, got %s",
				  proto_msg_type_name(type), proto_msg_type_name(ret->type));
	}
	/* After HELLO every message is written in the version we chose. */
	if (type != PROTO_MSG_HELLO && ret->version != c->version) {
		proto_msg_close_fds(ret);
		return svc_refuse(c, EPROTO, "%s written in protocol version %u, we agreed on %u",
				  proto_msg_type_name(type), ret->version, c->version);
	}
	return 0;
}

static int svc_send(struct svc_conn *c, const struct proto_msg *m)
{
	int r;

	r = proto_send(c->sock, m, NULL, 0);
	if (r == -EPIPE || r == -ECONNRESET) {
		c->error_sent = true;
		return log_error_errno(r, "The helper went away before we could send %s",
				       proto_msg_type_name(m->type));
	}
	if (r < 0)
		return svc_refuse(c, -r, "Could not send %s: %s", proto_msg_type_name(m->type),
				  strerror(-r));
	return 0;
}

/* HELLO -> HELLO_REPLY: pick the highest version both sides speak. */
static int svc_handshake(struct svc_conn *c)
{
	struct proto_msg m;
	unsigned lo, hi;
	int r;

	r = svc_recv(c, PROTO_MSG_HELLO, 0, &m);
	if (r < 0)
		return r;

	lo = m.version_min > PROTO_VERSION_MIN ? m.version_min : PROTO_VERSION_MIN;
	hi = m.version_max < PROTO_VERSION_MAX ? m.version_max : PROTO_VERSION_MAX;
	if (m.version_min > m.version_max || lo > hi)
		return svc_refuse(c, EPROTONOSUPPORT,
				  "The helper speaks protocol versions %u..%u, this server %d..%d; "
				  "install matching fuse4fs and fuservicemount",
				  m.version_min, m.version_max, PROTO_VERSION_MIN,
				  PROTO_VERSION_MAX);
	c->version = (uint16_t)hi;

	proto_msg_init(&m, PROTO_MSG_HELLO_REPLY, c->version);
	proto_set_u16(&m, PROTO_TAG_VERSION, c->version);
	r = svc_send(c, &m);
	if (r < 0)
		return r;
	log_debug("Speaking protocol version %u", c->version);
	return 0;
}

/* Is `word` one of the comma-separated items of `list`? Exact match only, so that
 * "allow_other_x" or "noallow_other" never count. */
static bool option_list_has(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p = list;

	while (*p) {
		const char *end = strchrnul(p, ',');

		if ((size_t)(end - p) == n && memcmp(p, word, n) == 0)
			return true;
		p = *end ? end + 1 : end;
	}
	return false;
}

struct svc_mount {
	struct proto_msg ctx; /* MOUNT_CONTEXT: paths, flags, options and the two fds */
	bool allow_other;
	bool read_only;
	enum svc_atime atime;
};

static void svc_mount_done(struct svc_mount *mnt)
{
	proto_msg_close_fds(&mnt->ctx);
}

/* MOUNT_CONTEXT: take the fds and check they are what they claim before anything reads them. */
static int svc_receive_context(struct svc_conn *c, struct svc_mount *mnt)
{
	struct proto_msg *m = &mnt->ctx, received;
	bool is_block;
	int r;

	/* Into a scratch message first: mnt->ctx (and the fds it will own) is only written once
	 * a whole MOUNT_CONTEXT arrived, so cleanup never sees half-received fds. */
	r = svc_recv(c, PROTO_MSG_MOUNT_CONTEXT, PROTO_MOUNT_CONTEXT_FDS, &received);
	if (r < 0)
		return r;
	*m = received;

	/* The helper will not send fds again; where the kernel can enforce that (6.16+), let it
	 * refuse them instead of relying on proto_recv alone. */
	r = proto_disable_passrights(c->sock);
	if (r < 0 && r != -ENOPROTOOPT)
		log_debug("Could not turn off SO_PASSRIGHTS: %s", strerror(-r));

	r = proto_check_device_fd(m->fds[PROTO_FD_DEVICE], &is_block);
	if (r < 0)
		return svc_refuse(c, ENODEV, "'%s' is neither a block device nor a regular file",
				  m->device_path);
	r = proto_check_fuse_fd(m->fds[PROTO_FD_FUSE]);
	if (r < 0)
		return svc_refuse(c, ENODEV, "The second fd is not /dev/fuse");

	/* Read-write unless the helper asked for read-only; the helper opened the device
	 * accordingly (a read-only fd makes libext2fs fail the open for writing). */
	mnt->read_only = m->mount_flags & PROTO_MOUNT_RDONLY;

	/* OPTIONS holds what the helper accepted; the mount flags among them (nosuid, ...) are
	 * the helper's business, we only pick out what changes our request. */
	mnt->allow_other =
	    PROTO_HAS(m, PROTO_TAG_OPTIONS) && option_list_has(m->options, "allow_other");
	/* FUSE inodes never update atime in the kernel: the policy is ours to apply. */
	if (PROTO_HAS(m, PROTO_TAG_OPTIONS) && option_list_has(m->options, "noatime"))
		mnt->atime = SVC_ATIME_NOATIME;
	else if (PROTO_HAS(m, PROTO_TAG_OPTIONS) && option_list_has(m->options, "strictatime"))
		mnt->atime = SVC_ATIME_STRICTATIME;

	log_info("Mount request for '%s' on '%s' from uid %u (%s%s)", m->device_path, m->mountpoint,
		 m->uid, is_block ? "block device" : "image file",
		 mnt->allow_other ? ", allow_other" : "");
	return 0;
}

static int svc_open_fs(struct svc_conn *c, struct svc_mount *mnt, const struct svc_fs_options *opts,
		       struct svc_fs **ret)
{
	struct svc_fs_options o = *opts;
	char why[512] = "";
	int r;

	o.read_only = mnt->read_only;
	o.atime = mnt->atime;
	/* Refusals name the device as the user wrote it, which is what the helper prints. */
	o.device_name = mnt->ctx.device_path;
	r = svc_device_lock(mnt->ctx.fds[PROTO_FD_DEVICE], !o.read_only, o.device_name, why,
			    sizeof(why));
	if (r < 0)
		return svc_refuse(c, -r, "%s", why);
	r = svc_fs_open(mnt->ctx.fds[PROTO_FD_DEVICE], &o, ret, why, sizeof(why));
	if (r < 0) {
		if (why[0])
			return svc_refuse(c, -r, "%s", why);
		return svc_refuse(c, -r, "Cannot open the filesystem on '%s': %s",
				  mnt->ctx.device_path, strerror(-r));
	}
	return 0;
}

/*
 * A low-level session on the received /dev/fuse fd. "/dev/fd/N" as the mountpoint makes
 * libfuse 3.14 adopt fd N and mount nothing (the helper mounts); the session then owns the fd
 * and fuse_session_destroy() closes it.
 */
static int svc_new_session(struct svc_conn *c, struct svc_mount *mnt, struct svc_fs *fs,
			   const struct svc_fs_options *opts, struct fuse_session **ret)
{
	char *argv[] = {(char *)"fuse4fs", (char *)"-d", NULL};
	struct fuse_args args = FUSE_ARGS_INIT(opts->debug ? 2 : 1, argv);
	struct fuse_session *se;
	int fuse_fd;

	se = fuse_session_new(&args, svc_fuse_ops(), svc_fuse_ops_size(), fs);
	fuse_opt_free_args(&args);
	if (!se)
		return svc_refuse(c, ENOMEM, "Could not create the FUSE session");
	svc_fs_set_session(fs, se);

	/* The session's from here on, also if attaching fails. */
	fuse_fd = TAKE_FD(mnt->ctx.fds[PROTO_FD_FUSE]);
	if (svc_session_attach(se, fuse_fd, opts->busy_poll_us) < 0) {
		fuse_session_destroy(se);
		return svc_refuse(c, EIO, "Could not attach the FUSE session to the /dev/fuse fd");
	}

	*ret = se;
	return 0;
}

/* MOUNT_REQUEST -> MOUNT_RESULT. Returns 0 once the helper says the mount exists. */
static int svc_request_mount(struct svc_conn *c, struct svc_mount *mnt)
{
	struct proto_msg m;
	int r;

	proto_msg_init(&m, PROTO_MSG_MOUNT_REQUEST, c->version);
	/* Echo the helper's paths: it compares them with what it sent, and we have no business
	 * choosing any path. */
	if (proto_set_string(&m, PROTO_TAG_SOURCE, mnt->ctx.device_path) < 0 ||
	    proto_set_string(&m, PROTO_TAG_MOUNTPOINT, mnt->ctx.mountpoint) < 0)
		return svc_refuse(c, ENAMETOOLONG, "Path too long for MOUNT_REQUEST");
	(void)proto_set_string(&m, PROTO_TAG_SUBTYPE, SVC_FUSE_SUBTYPE);
	proto_set_u32(&m, PROTO_TAG_MOUNT_FLAGS, mnt->read_only ? PROTO_MOUNT_RDONLY : 0);
	/* default_permissions: the kernel checks mode bits and ownership, so ops.c never has to
	 * make access decisions. */
	(void)proto_set_string(&m, PROTO_TAG_FUSE_OPTIONS,
			       mnt->allow_other ? "default_permissions,allow_other"
						: "default_permissions");
	r = svc_send(c, &m);
	if (r < 0)
		return r;

	r = svc_recv(c, PROTO_MSG_MOUNT_RESULT, 0, &m);
	if (r < 0)
		return r;
	if (m.error != 0) {
		/* The helper reports this to the user itself; no ERROR back. */
		c->error_sent = true;
		return log_error_errno(-(int)m.error, "The helper could not mount '%s' on '%s'",
				       mnt->ctx.device_path, mnt->ctx.mountpoint);
	}
	return 0;
}

static int svc_serve(struct fuse_session *se)
{
	struct fuse_loop_config *cfg;
	int r;

	if (fuse_set_signal_handlers(se) < 0)
		return log_error_errno(-EIO, "Could not install signal handlers");

	cfg = fuse_loop_cfg_create();
	if (!cfg) {
		r = fuse_session_loop(se);
	} else {
		fuse_loop_cfg_set_clone_fd(cfg, 0); /* cloning opens /dev/fuse: not in our root */
		fuse_loop_cfg_set_max_threads(cfg, SVC_MAX_THREADS);
		r = fuse_session_loop_mt(se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	fuse_remove_signal_handlers(se);

	/* 0: the filesystem was unmounted. A positive value is the signal that stopped us
	 * (systemctl stop, shutdown): an ordinary end, although the mount is now dead. */
	if (r > 0) {
		log_notice("Stopped by signal %d; the mount is no longer served", r);
		return 0;
	}
	if (r < 0)
		return log_error_errno(r, "The FUSE session failed");
	return 0;
}

/* sd_listen_fds(): exactly one fd, an accepted AF_UNIX SOCK_SEQPACKET connection. Contained
 * mode (fuservicemount started us, helper/contain.c): fd 3 is our end of its socketpair. */
static int svc_get_connection(bool contained, int *ret)
{
	int n, r;

	if (contained) {
		r = sd_is_socket(SVC_CONTAINED_FD, AF_UNIX, SOCK_SEQPACKET, 0);
		if (r <= 0) {
			log_error("fuse4fs --contained is started by fuservicemount only "
				  "(fd %d is not an AF_UNIX SOCK_SEQPACKET socket)",
				  SVC_CONTAINED_FD);
			return r < 0 ? r : -ENOTSOCK;
		}
		*ret = SVC_CONTAINED_FD;
		return 0;
	}
	n = sd_listen_fds(1);
	if (n < 0)
		return log_error_errno(n, "fuse4fs --service must be started by fuse4fs.socket");
	if (n != 1) {
		log_error("fuse4fs --service must be started by fuse4fs.socket "
			  "(got %d sockets from the service manager, expected 1)",
			  n);
		return -EBADF;
	}
	/* A listening socket means Accept=no: every helper would share one server. */
	r = sd_is_socket(SD_LISTEN_FDS_START, AF_UNIX, SOCK_SEQPACKET, 0);
	if (r <= 0) {
		log_error("fuse4fs --service must be started by fuse4fs.socket "
			  "(fd %d is not an accepted AF_UNIX SOCK_SEQPACKET connection)",
			  SD_LISTEN_FDS_START);
		return r < 0 ? r : -ENOTSOCK;
	}
	*ret = SD_LISTEN_FDS_START;
	return 0;
}

int service_mode_run(const struct svc_fs_options *opts, bool contained)
{
	struct svc_conn conn = {.sock = -1, .version = PROTO_VERSION_MIN};
	struct svc_mount mnt = {0};
	struct fuse_session *se = NULL;
	struct svc_fs *fs = NULL;
	int r, ret = 1;

	proto_msg_init(&mnt.ctx, PROTO_MSG_MOUNT_CONTEXT, PROTO_VERSION_MIN);

	r = svc_get_connection(contained, &conn.sock);
	if (r < 0)
		return 1;

	r = svc_handshake(&conn);
	if (r < 0)
		goto out_conn;
	r = svc_receive_context(&conn, &mnt);
	if (r < 0)
		goto out_mount;
	/* Every fd we will ever use is here; the next step parses the untrusted image. */
	r = svc_sandbox_enter();
	if (r < 0) {
		svc_refuse(&conn, -r, "The server could not confine itself: %s", strerror(-r));
		goto out_mount;
	}
	r = svc_open_fs(&conn, &mnt, opts, &fs);
	if (r < 0)
		goto out_mount;
	r = svc_new_session(&conn, &mnt, fs, opts, &se);
	if (r < 0)
		goto out_fs;
	/* Nothing reads /dev/fuse before the helper confirms the mount: before it exists the
	 * kernel answers reads with EPERM and the loop would end at once. */
	r = svc_request_mount(&conn, &mnt);
	if (r < 0)
		goto out_session;

	{
		struct proto_msg m;

		proto_msg_init(&m, PROTO_MSG_READY, conn.version);
		/* The mount exists either way; if the helper died just now it has also detached
		 * it, and the loop ends as soon as the kernel drops the connection. */
		if (proto_send(conn.sock, &m, NULL, 0) < 0)
			log_warning("Could not tell the helper we are ready; serving anyway");
	}
	/* The helper has nothing more to say; holding the socket would only keep it alive. */
	svc_conn_close(&conn);
	log_info("Serving '%s' on '%s'", mnt.ctx.device_path, mnt.ctx.mountpoint);

	r = svc_serve(se);
	ret = r < 0 ? 1 : 0;

out_session:
	/* No fuse_session_unmount(): with a /dev/fd/N mountpoint libfuse recorded no
	 * mountpoint and there is nothing of ours to unmount; the helper or the user owns it. */
	fuse_session_destroy(se);
out_fs:
	r = svc_fs_close(fs);
	if (r < 0) {
		log_error_errno(r, "Could not close the filesystem on '%s' cleanly",
				mnt.ctx.device_path);
		ret = 1;
	}
out_mount:
	svc_mount_done(&mnt);
out_conn:
	svc_send_error(&conn, EIO, NULL); /* no-op unless a path above forgot to */
	svc_conn_close(&conn);
	return ret;
}
