/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Direct mode: `fuse4fs [-o OPTIONS] [-f] [-d] DEVICE MOUNTPOINT`, a classic FUSE server for
 * administrators and debugging. We open DEVICE ourselves, the sandboxed server process opens and
 * checks the file system, and only then libfuse mounts (as root, or through fusermount3). Like mount(8) the mount is read-write, or read-only with -o ro or for a device
 * we may not write; always with default_permissions: the kernel enforces modes and ACLs.
 */
#define FUSE_USE_VERSION 314

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "device-lock.h"
#include "fs.h"
#include "log.h"
#include "modes.h"
#include "sandbox.h"
#include "session-io.h"
#include "util.h"

/* libext2fs sits behind one lock, which every request but FORGET takes: a second worker can
 * only wait for it, and handing requests between workers cost more than it saved (one worker:
 * create 7-14k -> 15-17k files/s, untar a third less server CPU, O_DIRECT randread qd16 29k-58k
 * -> 100k-154k IOPS on 2 vCPUs). */
#define DIRECT_MAX_THREADS 1

/* The server's exit status when the mount may still be there (it stopped on a signal, or failed
 * after the mount): the monitor must unmount. 0 and 1 mean the kernel ended the session (the
 * mount is gone and its path may already hold something else) or nothing was ever mounted (the
 * server refused the image before the monitor mounted). */
#define DIRECT_EXIT_MOUNTED 3

static void fuse_args_freep(struct fuse_args *args)
{
	fuse_opt_free_args(args);
}

static void fuse_session_destroyp(struct fuse_session **se)
{
	if (*se)
		fuse_session_destroy(*se);
}

static void svc_fs_closep(struct svc_fs **fs)
{
	if (*fs)
		svc_fs_close(*fs);
}

static int direct_usage(void)
{
	log_error("Usage: fuse4fs [-o OPTIONS] [-f] [-d] DEVICE MOUNTPOINT (see 'fuse4fs --help')");
	return 2;
}

/*
 * Appends the user's comma-separated -o list to *opts, one option at a time. Options that
 * would contradict what fuse4fs guarantees are refused here; everything else goes to libfuse,
 * which refuses what it does not know.
 */
/* What the user asked about writing: nothing (like mount(8): read-write if the device can be
 * written, else read-only), ro, or rw (fail rather than fall back). */
enum direct_rw { DIRECT_RW_DEFAULT, DIRECT_RW_RO, DIRECT_RW_RW };

/*
 * Option o if it is "NAME=N" (name given with its '='): 1 with *ret = N, a decimal from 0 to
 * max; -EINVAL, said to the user, for anything else after the '='. 0: o is another option.
 */
static int direct_uint_opt(const char *o, const char *name, unsigned int max, const char *what,
			   unsigned int *ret)
{
	size_t len = strlen(name);
	unsigned long n;
	char *end;

	if (strncmp(o, name, len) != 0)
		return 0;
	errno = 0;
	n = strtoul(o + len, &end, 10);
	if (errno || end == o + len || *end || o[len] == '-' || n > max) {
		log_error("Option '%s': give %s, 0 to %u", o, what, max);
		return -EINVAL;
	}
	*ret = (unsigned int)n;
	return 1;
}

static int direct_add_user_opts(const char *list, char **opts, enum direct_rw *rw,
				struct svc_fs_options *o_fs)
{
	_cleanup_free_ char *copy = strdup(list);
	char *save = NULL;
	unsigned int n;
	int r;

	if (!copy)
		return -ENOMEM;
	for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		if (strcmp(o, "default_permissions") == 0)
			continue; /* always on */
		/* ro/rw and the atime policy are ours to apply: added below or kept in the
		 * filesystem options (FUSE inodes never update atime in the kernel). */
		if (strcmp(o, "ro") == 0 || strcmp(o, "rw") == 0) {
			*rw = o[0] == 'r' && o[1] == 'o' ? DIRECT_RW_RO : DIRECT_RW_RW;
			continue;
		}
		/* libfuse 3.14 knows noatime, which goes on so that /proc/mounts shows it;
		 * relatime is every mount's default, strictatime is set after mounting. */
		if (strcmp(o, "noatime") == 0 || strcmp(o, "relatime") == 0 ||
		    strcmp(o, "strictatime") == 0) {
			o_fs->atime = o[0] == 'n' ? SVC_ATIME_NOATIME :
				      o[0] == 'r' ? SVC_ATIME_RELATIME : SVC_ATIME_STRICTATIME;
			if (o[0] != 'n')
				continue;
		}
		/* Ours (ops.c), not libfuse's. */
		if (strcmp(o, "writeback_cache") == 0) {
			o_fs->writeback_cache = true;
			continue;
		}
		/* Ours: the block cache (io-cache.c), how the session waits for requests
		 * (session-io.c), the read pool (read-pool.h). */
		r = direct_uint_opt(o, "cache_size=", SVC_CACHE_MAX_MIB, "the cache size in MiB",
				    &n);
		if (r > 0) {
			o_fs->cache_mib = n;
			o_fs->no_cache = n == 0;
		}
		if (r == 0) {
			r = direct_uint_opt(o, "busy_poll=", SVC_BUSY_POLL_MAX_US,
					    "the busy-poll time in microseconds", &n);
			if (r > 0)
				o_fs->busy_poll_us = n;
		}
		if (r == 0) {
			r = direct_uint_opt(o, "read_threads=", SVC_READ_THREADS_MAX,
					    "the number of read threads", &n);
			if (r > 0)
				o_fs->read_threads = n;
		}
		if (r < 0)
			return r;
		if (r > 0)
			continue;
		if (strncmp(o, "fsname=", 7) == 0 || strncmp(o, "subtype=", 8) == 0) {
			log_error("Option '%s' is not allowed: fuse4fs sets it", o);
			return -EINVAL;
		}
		if (fuse_opt_add_opt(opts, o) < 0)
			return -ENOMEM;
	}
	return 0;
}

/*
 * The fuse fd comes from the monitor once it has mounted: one byte and the fd, nothing else.
 * Returns the fd, or -errno (-ECONNRESET: the monitor gave up without mounting, and said why).
 */
static int direct_receive_fuse_fd(int chan)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	char byte;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
	struct cmsghdr *c;
	ssize_t n;
	int fd;

	do
		n = recvmsg(chan, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ECONNRESET;
	c = CMSG_FIRSTHDR(&mh);
	if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || !c || c->cmsg_level != SOL_SOCKET ||
	    c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
		return -EPROTO;
	memcpy(&fd, CMSG_DATA(c), sizeof(fd));
	return fd;
}

/*
 * The server process: confine itself, open and check the file system, and only then, once the
 * monitor has mounted and passed the /dev/fuse fd over `chan`, serve. A refused image is
 * therefore never mounted. Only what the sandbox allows happens after svc_sandbox_enter(): no
 * unmounting, no fork, no open. `ready_fd` (background mode) tells the waiting foreground
 * process that we serve.
 */
static int direct_server(int chan, int device_fd, const struct svc_fs_options *o, int ready_fd)
{
	struct fuse_session *se __attribute__((cleanup(fuse_session_destroyp))) = NULL;
	struct svc_fs *fs __attribute__((cleanup(svc_fs_closep))) = NULL;
	_cleanup_close_ int fuse_fd = -1, null_fd = -1;
	char *argv[] = {(char *)"fuse4fs", (char *)"-d", NULL};
	struct fuse_args args = FUSE_ARGS_INIT(o->debug ? 2 : 1, argv);
	struct fuse_loop_config *cfg;
	char why[512] = "";
	int r;

	if (ready_fd >= 0) {
		null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null_fd < 0)
			return log_error_errno(-errno, "Could not open /dev/null"), 1;
	}

	/* Every fd is here (/dev/fuse comes over chan); the next step parses the untrusted image. */
	if (svc_sandbox_enter() < 0)
		return 1;

	r = svc_device_lock(device_fd, !o->read_only, o->device_name, why, sizeof(why));
	if (r == 0)
		r = svc_fs_open(device_fd, o, &fs, why, sizeof(why));
	if (r < 0) {
		if (why[0])
			log_error("%s", why);
		else
			log_error_errno(r, "Could not open the filesystem on '%s'", o->device_name);
		return 1; /* nothing is mounted: the monitor mounts only after our "opened" */
	}
	if (write(chan, "o", 1) != 1)
		return log_error_errno(-errno, "Could not tell the monitor the file system is open"), 1;
	fuse_fd = direct_receive_fuse_fd(chan);
	if (fuse_fd == -ECONNRESET)
		return 1; /* the monitor could not mount and said why */
	if (fuse_fd < 0)
		return log_error_errno(fuse_fd, "Could not receive the /dev/fuse fd"), DIRECT_EXIT_MOUNTED;
	safe_close(chan);

	se = fuse_session_new(&args, svc_fuse_ops(), svc_fuse_ops_size(), fs);
	fuse_opt_free_args(&args);
	if (!se)
		return log_error_errno(-ENOMEM, "Could not create the FUSE session"), DIRECT_EXIT_MOUNTED;
	svc_fs_set_session(fs, se);
	if (svc_session_attach(se, TAKE_FD(fuse_fd), o->busy_poll_us) < 0)
		return log_error_errno(-EIO, "Could not attach the FUSE session"), DIRECT_EXIT_MOUNTED;
	/* The handlers are already installed; they now stop this session. */
	if (fuse_set_signal_handlers(se) < 0)
		return log_error_errno(-EIO, "Could not install signal handlers"), DIRECT_EXIT_MOUNTED;

	log_debug("Serving '%s'", o->device_name);
	if (ready_fd >= 0) {
		/* Background: the user's process may exit 0 now; we leave its terminal. */
		(void)!write(ready_fd, "0", 1);
		safe_close(ready_fd);
		/* Whoever started us may wait for EOF on our output (`$(mount ...)`). */
		for (int i = 0; i < 3; i++)
			if (dup2(null_fd, i) < 0)
				return log_error_errno(-errno, "Could not leave the terminal"),
				       DIRECT_EXIT_MOUNTED;
	}

	cfg = fuse_loop_cfg_create();
	if (!cfg)
		return log_error_errno(-ENOMEM, "Out of memory"), DIRECT_EXIT_MOUNTED;
	fuse_loop_cfg_set_clone_fd(cfg, 0); /* cloning opens /dev/fuse, which the filter forbids */
	fuse_loop_cfg_set_max_threads(cfg, DIRECT_MAX_THREADS);
	r = fuse_session_loop_mt(se, cfg);
	fuse_loop_cfg_destroy(cfg);
	if (r > 0)
		return DIRECT_EXIT_MOUNTED; /* stopped by a signal: the mount is still there */

	fuse_session_destroy(TAKE_PTR(se));
	if (svc_fs_close(TAKE_PTR(fs)) < 0 || r < 0)
		return 1;
	return 0;
}

/*
 * The monitor: keeps the privilege to unmount (root, or fusermount3 for a user) but never reads
 * a byte of the file system. It waits for the sandboxed server and unmounts when the server
 * ended without the kernel having unmounted: stopped on a signal, killed (by the seccomp filter
 * or an administrator), or refused the image. SIGTERM/SIGINT/SIGHUP are passed on.
 */
static int direct_monitor(struct fuse_session *se, pid_t server)
{
	bool forwarded = false;
	int status;

	/* Only the server may hold the connection: if it dies, requests must fail at once
	 * (ENOTCONN) rather than wait for us. */
	close(fuse_session_fd(se));
	for (;;) {
		if (waitpid(server, &status, 0) == server)
			break;
		if (errno != EINTR)
			return log_error_errno(-errno, "Lost the server process"), 1;
		if (fuse_session_exited(se) && !forwarded) {
			kill(server, SIGTERM);
			forwarded = true;
		}
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) != DIRECT_EXIT_MOUNTED)
		return WEXITSTATUS(status) == 0 ? 0 : 1;

	if (WIFSIGNALED(status))
		log_error("The server was killed by signal %d (%s)%s; unmounting", WTERMSIG(status),
			  strsignal(WTERMSIG(status)),
			  WTERMSIG(status) == SIGSYS ? ", a forbidden system call" : "");
	/* The fd is closed, so libfuse does not mistake the mount for gone and unmounts (lazily,
	 * as root; through fusermount3 -u -z as a user). */
	fuse_session_unmount(se);
	if (WIFEXITED(status) && forwarded)
		return 0;
	return 1;
}

/* Send the /dev/fuse fd to the server (one byte and the fd). */
static int direct_send_fuse_fd(int chan, int fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl = {0};
	struct iovec iov = {.iov_base = (char *)"f", .iov_len = 1};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(fd));
	if (sendmsg(chan, &mh, MSG_NOSIGNAL) != 1)
		return -errno;
	return 0;
}

/* The monitor's wait for the server's "the file system is open": 0, or -errno when the server
 * refused the image (it said why) or died, or we were asked to stop (passed on to it). */
static int direct_wait_opened(struct fuse_session *se, int chan, pid_t server)
{
	char c;

	for (;;) {
		ssize_t n = read(chan, &c, 1);

		if (n == 1)
			return 0;
		if (n == 0)
			return -ECONNRESET;
		if (errno != EINTR)
			return -errno;
		if (fuse_session_exited(se)) {
			kill(server, SIGTERM);
			return -EINTR;
		}
	}
}

/* Split into the monitor (this process) and the sandboxed server; the server opens the file
 * system, then the monitor mounts and hands it the connection. In the background the user's
 * process waits until the server serves (or failed, having said why on its terminal). */
static int direct_run(struct fuse_session *se, int *device_fd, const struct svc_fs_options *o,
		      bool foreground, const char *mountpoint)
{
	int ready[2] = {-1, -1}, chan[2] = {-1, -1}, status, r;
	pid_t pid, monitor;

	if (!foreground) {
		char c = 0;

		if (pipe2(ready, O_CLOEXEC) < 0)
			return log_error_errno(-errno, "Could not go to the background"), 1;
		pid = fork();
		if (pid < 0)
			return log_error_errno(-errno, "Could not go to the background"), 1;
		if (pid > 0) {
			/* The user's process: succeed only once the server serves. The mount
			 * belongs to the monitor, which removes it on failure. */
			close(ready[1]);
			if (read(ready[0], &c, 1) != 1)
				c = 0;
			close(ready[0]);
			fuse_session_destroy(se);
			_exit(c == '0' ? 0 : 1);
		}
		close(ready[0]);
		ready[0] = -1;
		(void)setsid();
	}
	if (chdir("/") < 0)
		log_debug("Could not change to '/': %s", strerror(errno));
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, chan) < 0)
		return log_error_errno(-errno, "Could not create the server's channel"), 1;

	fflush(NULL);
	monitor = getpid();
	pid = fork();
	if (pid < 0) {
		log_error_errno(-errno, "Could not start the server process");
		return 1;
	}
	if (pid == 0) {
		/* The monitor is the process people and scripts know (`fuse4fs -f ... &` gives
		 * its pid): SIGKILL to it must still kill the server, as when they were one. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != monitor)
			_exit(1);
		close(chan[0]);
		_exit(direct_server(chan[1], *device_fd, o, ready[1]));
	}
	close(chan[1]);
	safe_close(ready[1]);
	/* The monitor never reads the file system: only the server keeps the device open. */
	*device_fd = safe_close(*device_fd);

	r = direct_wait_opened(se, chan[0], pid);
	if (r >= 0) {
		if (fuse_session_mount(se, mountpoint) < 0) {
			log_error("Could not mount on '%s': run as root, or check that fusermount3 is installed and the mount point is yours",
				  mountpoint);
			r = -EPERM;
		}
	}
	if (r < 0) {
		/* Nothing is mounted. The server said why it refused; closing the channel ends
		 * it if it is still waiting for the fd. */
		close(chan[0]);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (r == -ECONNRESET && WIFSIGNALED(status))
			log_error("The server was killed by signal %d (%s) while opening the file system",
				  WTERMSIG(status), strsignal(WTERMSIG(status)));
		return 1;
	}
	log_debug("Mounted '%s' on '%s'", o->device_name, mountpoint);
	if (o->atime == SVC_ATIME_STRICTATIME) {
		struct mount_attr attr = {.attr_set = MOUNT_ATTR_STRICTATIME,
					  .attr_clr = MOUNT_ATTR__ATIME};

		/* Only what /proc/mounts says: the server applies the policy either way. */
		if (mount_setattr(AT_FDCWD, mountpoint, 0, &attr, sizeof(attr)) < 0)
			log_debug("Could not mark the mount strictatime: %m");
	}
	r = direct_send_fuse_fd(chan[0], fuse_session_fd(se));
	close(chan[0]);
	if (r < 0) {
		/* The server died between opening and now: direct_monitor() reports it and
		 * unmounts. */
		log_debug("Could not pass the /dev/fuse fd to the server: %s", strerror(-r));
	}
	if (!foreground) {
		int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (null_fd >= 0) {
			for (int i = 0; i < 3; i++)
				dup2(null_fd, i);
			close(null_fd);
		}
	}
	return direct_monitor(se, pid);
}

int direct_mode_run(int argc, char **argv, const struct svc_fs_options *opts)
{
	struct fuse_args args __attribute__((cleanup(fuse_args_freep))) = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se __attribute__((cleanup(fuse_session_destroyp))) = NULL;
	_cleanup_free_ char *fuse_opts = NULL, *fsname = NULL, *mountpoint = NULL;
	_cleanup_close_ int fd = -1;
	const char *device = NULL, *mnt_arg = NULL;
	struct svc_fs_options o = *opts;
	bool foreground = opts->debug;
	struct stat st;
	int r;

	enum direct_rw rw = DIRECT_RW_DEFAULT;

	if (fuse_opt_add_opt(&fuse_opts, "default_permissions") < 0 ||
	    fuse_opt_add_opt(&fuse_opts, "subtype=fuse4fs") < 0)
		return log_error_errno(-ENOMEM, "Out of memory"), 1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-o") == 0) {
			if (++i >= argc)
				return direct_usage();
			if (direct_add_user_opts(argv[i], &fuse_opts, &rw, &o) < 0)
				return 2;
		} else if (strncmp(a, "-o", 2) == 0) {
			if (direct_add_user_opts(a + 2, &fuse_opts, &rw, &o) < 0)
				return 2;
		} else if (strcmp(a, "-f") == 0) {
			foreground = true;
		} else if (strcmp(a, "-d") == 0) {
			o.debug = true;
			foreground = true;
		} else if (a[0] == '-' && a[1] != '\0') {
			log_error("Unknown option '%s'", a);
			return direct_usage();
		} else if (!device) {
			device = a;
		} else if (!mnt_arg) {
			mnt_arg = a;
		} else {
			log_error("Unexpected argument '%s'", a);
			return direct_usage();
		}
	}
	if (!device || !mnt_arg)
		return direct_usage();

	/* fsname is how mount(8) and df show the source; escape commas in odd paths. */
	if (asprintf(&fsname, "fsname=%s", device) < 0 ||
	    fuse_opt_add_opt_escaped(&fuse_opts, fsname) < 0)
		return log_error_errno(-ENOMEM, "Out of memory"), 1;

	/* Absolute, because fuse_daemonize() changes to "/" and the unmount at exit uses it. */
	mountpoint = realpath(mnt_arg, NULL);
	if (!mountpoint) {
		log_error_errno(-errno, "Mount point '%s' is not usable", mnt_arg);
		return 1;
	}

	/* Like mount(8): a device we may not write is mounted read-only unless rw was asked. */
	o.read_only = rw == DIRECT_RW_RO;
	fd = open(device, (o.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && rw == DIRECT_RW_DEFAULT && (errno == EACCES || errno == EROFS || errno == EPERM)) {
		log_info("'%s' is write-protected, mounting read-only", device);
		o.read_only = true;
		fd = open(device, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	}
	if (fd < 0) {
		log_error_errno(-errno, "Could not open '%s'", device);
		return 1;
	}
	if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
		log_error("'%s' is neither a block device nor an image file", device);
		return 1;
	}

	if (fuse_opt_add_opt(&fuse_opts, o.read_only ? "ro" : "rw") < 0)
		return log_error_errno(-ENOMEM, "Out of memory"), 1;
	if (fuse_opt_add_arg(&args, argv[0]) < 0 ||
	    (o.debug && fuse_opt_add_arg(&args, "-d") < 0) || fuse_opt_add_arg(&args, "-o") < 0 ||
	    fuse_opt_add_arg(&args, fuse_opts) < 0)
		return log_error_errno(-ENOMEM, "Out of memory"), 1;

	/* This session only mounts: the serving one is made in the server process once the file
	 * system is open (it is the session's userdata). libfuse prints what it rejects (unknown
	 * options) itself. */
	se = fuse_session_new(&args, svc_fuse_ops(), svc_fuse_ops_size(), NULL);
	if (!se) {
		log_error("Could not start the FUSE session: check the -o options");
		return 2;
	}
	if (fuse_set_signal_handlers(se) < 0) {
		log_error("Could not install signal handlers");
		return 1;
	}
	/* Not mounted yet: the server opens and checks the file system first (direct_run). */
	o.device_name = device;
	r = direct_run(se, &fd, &o, foreground, mountpoint);
	fuse_remove_signal_handlers(se);
	return r;
}
