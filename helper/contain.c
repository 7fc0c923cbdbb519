/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Contained mode: no service socket (no systemd, a container, a Kubernetes node) and the
 * administrator wrote `contained_fallback = yes`, so we start the server ourselves, in a
 * sandbox as strong as fuse4fs@.service's (docs/sandbox.md, "Contained mode"):
 *
 *   helper ── fork ─> setsid, unshare(mnt net ipc uts pid cgroup) ── fork ─> [pid 1 of the
 *     │                (exits at once: the server is nobody's child     new pid namespace]
 *     │                 in the caller's session)                         private mounts,
 *     │                                                                  tmpfs root + /usr,
 *     └── socketpair end: HELLO ... READY, as with systemd               pivot_root, rlimits,
 *                                                                        reserved uid, no caps,
 *                                                                        execve(fuse4fs
 *                                                                        --contained)
 *
 * This is the one place the helper executes a program, and only ever FUSE4FS_SBINDIR/fuse4fs,
 * compiled in, with an empty environment and nothing of the caller's (argv, fds, cwd, signal
 * mask). The server is as untrusted as under systemd: it gets the same protocol, and the
 * helper checks everything it asks for (mount.c). What protects the caller and everyone else
 * from a server an image took over is what this file sets up before the exec plus what the
 * server adds itself (capabilities again, no_new_privs, the seccomp allowlist).
 *
 * The uid: every server needs one nobody else has (so that it cannot signal, ptrace or own
 * files of anyone else, nor another server), and it must stay reserved exactly as long as the
 * server lives. So each uid of the range has a lock file in HELPER_CONTAINED_DIR; we take an
 * unheld flock() and the server inherits that open file as its fd 4: the kernel releases the
 * lock when the last process holding it ends, however it ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "helper.h"
#include "proto.h"

#define CONTAIN_SERVER FUSE4FS_SBINDIR "/fuse4fs"
/* The fds the server finds (fuse4fs --contained): the connection, and the uid lock it keeps. */
#define CONTAIN_FD_SOCKET 3
#define CONTAIN_FD_UID_LOCK 4
/* How long the child may take to reach execve(); it only makes a few system calls. */
#define CONTAIN_START_TIMEOUT_MS (5 * 1000)

/* What the child reports through the pipe when a step fails: which step, and errno. */
struct contain_failure {
	int step;
	int error;
};

enum {
	STEP_UNSHARE,
	STEP_SIGNALS,
	STEP_PRIVATE,
	STEP_TMPFS,
	STEP_ROOT,
	STEP_PIVOT,
	STEP_READONLY,
	STEP_HOSTNAME,
	STEP_RLIMITS,
	STEP_BOUNDING,
	STEP_UID,
	STEP_CAPS,
	STEP_FDS,
	STEP_EXEC,
};
static const char *const contain_steps[] = {
    [STEP_UNSHARE] = "create the namespaces",
    [STEP_SIGNALS] = "reset signals",
    [STEP_PRIVATE] = "make the mounts private",
    [STEP_TMPFS] = "mount the root tmpfs",
    [STEP_ROOT] = "bind /usr, /lib, /lib64 into the root",
    [STEP_PIVOT] = "pivot_root",
    [STEP_READONLY] = "make the root read-only",
    [STEP_HOSTNAME] = "set the hostname",
    [STEP_RLIMITS] = "set resource limits",
    [STEP_BOUNDING] = "drop the capability bounding set",
    [STEP_UID] = "change to the server's uid",
    [STEP_CAPS] = "clear capabilities",
    [STEP_FDS] = "set up the server's fds",
    [STEP_EXEC] = "execute " CONTAIN_SERVER,
};

/* The directory of the lock files: root's, not writable by anyone else, or someone could
 * pre-create or swap a lock file and make two servers share a uid. */
static int open_lock_dir(int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	if (mkdir(HELPER_CONTAINED_DIR, 0755) < 0 && errno != EEXIST)
		return log_error_errno(-errno, "cannot create '%s': %m", HELPER_CONTAINED_DIR);
	fd = open(HELPER_CONTAINED_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return log_error_errno(-errno, "cannot open '%s': %m", HELPER_CONTAINED_DIR);
	if (fstat(fd, &st) < 0)
		return log_error_errno(-errno, "cannot stat '%s': %m", HELPER_CONTAINED_DIR);
	if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))
		return log_error_errno(-EPERM,
				       "'%s' must be a directory owned by root and not "
				       "writable by group or others; refusing to use it",
				       HELPER_CONTAINED_DIR);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* The first uid of the range whose lock nobody holds. The lock file is opened read-only: the
 * server keeps it open, and must not be able to grow a file in /run with it. */
static int take_uid(const struct helper_config *c, const struct helper_privs *p, uid_t *ret_uid,
		    int *ret_lock)
{
	_cleanup_close_ int dir = -1;
	int r;

	r = open_lock_dir(&dir);
	if (r < 0)
		return r;
	for (unsigned long long u = c->contained_uid_min; u <= c->contained_uid_max; u++) {
		_cleanup_close_ int fd = -1;
		char name[32];
		struct stat st;

		/* A range that (by mistake) holds the caller's uid or gid would make the server
		 * the caller's: able to signal, trace and read it. Root is excluded by the parser.
		 */
		if (u == p->uid || u == p->gid)
			continue;
		snprintf(name, sizeof(name), "uid-%llu.lock", u);
		fd =
		    openat(dir, name, O_RDONLY | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0644);
		if (fd < 0)
			return log_error_errno(-errno, "cannot open '%s/%s': %m",
					       HELPER_CONTAINED_DIR, name);
		if (fstat(fd, &st) < 0)
			return log_error_errno(-errno, "cannot stat '%s/%s': %m",
					       HELPER_CONTAINED_DIR, name);
		if (!S_ISREG(st.st_mode) || st.st_uid != 0)
			return log_error_errno(-EPERM,
					       "'%s/%s' is not a root-owned file; refusing "
					       "to use it",
					       HELPER_CONTAINED_DIR, name);
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			*ret_uid = (uid_t)u;
			*ret_lock = TAKE_FD(fd);
			return 0;
		}
		if (errno != EWOULDBLOCK)
			return log_error_errno(-errno, "cannot lock '%s/%s': %m",
					       HELPER_CONTAINED_DIR, name);
	}
	return log_error_errno(-EUSERS,
			       "no uid of contained_uids (%u-%u) is free: each is a running "
			       "server's, or the caller's; unmount some, or widen the range",
			       (unsigned)c->contained_uid_min, (unsigned)c->contained_uid_max);
}

/* In the child: the root the server sees. A tmpfs holding nothing but what the dynamic loader
 * and the server's libraries need, read-only, like the unit's RootDirectory= on an empty tree
 * with BindReadOnlyPaths=/usr /lib /lib64 (a merged-/usr symlink like /lib -> usr/lib is bound
 * as the directory it names, as systemd does). No /proc, /dev, /etc: the server uses only the
 * fds it is given. Mounted over the lock directory, in our private mount namespace only, which
 * also hides the other servers' lock files from this one. */
static int build_root(const char *root, int *ret_step)
{
	static const char *const binds[] = {"usr", "lib", "lib64"};
	char host[16], dest[128];
	struct mount_attr ro = {
	    .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
	};

	*ret_step = STEP_TMPFS;
	if (mount("fuse4fs-root", root, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "mode=0755,size=64k,nr_inodes=32") < 0)
		return -errno;

	*ret_step = STEP_ROOT;
	for (size_t i = 0; i < ELEMENTSOF(binds); i++) {
		struct stat st;

		snprintf(host, sizeof(host), "/%s", binds[i]);
		snprintf(dest, sizeof(dest), "%s/%s", root, binds[i]);
		if (stat(host, &st) < 0) {
			if (errno == ENOENT && i > 0)
				continue; /* no /lib64 on this architecture */
			return -errno;
		}
		if (!S_ISDIR(st.st_mode))
			return -ENOTDIR;
		if (mkdir(dest, 0755) < 0)
			return -errno;
		if (mount(host, dest, NULL, MS_BIND | MS_REC, NULL) < 0)
			return -errno;
		/* Recursively: /usr/local or /usr/lib/modules may be mounts of their own. */
		if (mount_setattr(AT_FDCWD, dest, AT_RECURSIVE, &ro, sizeof(ro)) < 0)
			return -errno;
	}
	return 0;
}

static int drop_bounding_set(void)
{
	/* Up to the first capability this kernel does not know (EINVAL). */
	for (int cap = 0;; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0)
			continue;
		if (errno == EINVAL && cap > 0)
			break;
		return -errno;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

/* setresuid() away from 0 already cleared the permitted and effective sets (no keep-caps);
 * clear the inheritable set too and read all three back. */
static int clear_capabilities(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = {};

	if (syscall(SYS_capset, &h, d) < 0)
		return -errno;
	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	for (size_t i = 0; i < ELEMENTSOF(d); i++)
		if (d[i].effective || d[i].permitted || d[i].inheritable)
			return -EPERM;
	return 0;
}

static int become(uid_t uid)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	/* Groups first, while we may still change them; the gid is the uid's number, which no
	 * group of the host's should use either (the range is reserved for this). */
	if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0)
		return -errno;
	/* Verify: a half-done switch must not run the server. */
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
		return -errno;
	if (ru != uid || eu != uid || su != uid || rg != uid || eg != uid || sg != uid ||
	    getgroups(0, NULL) != 0 || setresuid(0, 0, 0) == 0)
		return -EPERM;
	return 0;
}

/* Move fd above the fds we are about to fill (3, 4), keeping it close-on-exec. */
static int move_high(int fd)
{
	int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 10);

	return nfd < 0 ? -errno : nfd;
}

static int set_rlimits(void)
{
	/* The unit's LimitNOFILE=32 and TasksMax=16 (RLIMIT_NPROC counts this uid's threads,
	 * and the uid is this server's alone); MemoryMax=512M as far as an rlimit can say it:
	 * the private writable memory. No core files of a process holding a user's data. */
	static const struct {
		int resource;
		rlim_t value;
	} limits[] = {
	    {RLIMIT_NOFILE, 32}, {RLIMIT_NPROC, 16},   {RLIMIT_DATA, 512u << 20}, {RLIMIT_CORE, 0},
	    {RLIMIT_MEMLOCK, 0}, {RLIMIT_MSGQUEUE, 0}, {RLIMIT_STACK, 8u << 20},
	};

	for (size_t i = 0; i < ELEMENTSOF(limits); i++) {
		struct rlimit rl = {limits[i].value, limits[i].value};

		if (setrlimit(limits[i].resource, &rl) < 0)
			return -errno;
	}
	return 0;
}

/* The new pid namespace's init, still root in every namespace but the pid one's view. Never
 * returns: execs the server or reports the failed step on report_fd and exits. */
static _Noreturn void contain_child(int sock, int lock, int report_fd, uid_t uid,
				    const char *selftest)
{
	struct contain_failure f = {.step = STEP_SIGNALS};
	char env_selftest[300];
	char *argv[] = {(char *)"fuse4fs", (char *)"--contained", NULL};
	char *envp[2] = {NULL, NULL};
	_cleanup_close_ int null_fd = -1;
	sigset_t none;
	int r;

	/* The caller's signal mask and our own blocking (main.c) would be inherited through
	 * execve(), and so would ignored dispositions (SIGXFSZ): start from the defaults. */
	sigemptyset(&none);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		goto fail_errno;

	/* Nothing we mount may leak back into the caller's namespace. */
	f.step = STEP_PRIVATE;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		goto fail_errno;

	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (null_fd < 0) {
		f.step = STEP_FDS;
		goto fail_errno;
	}
	r = build_root(HELPER_CONTAINED_DIR, &f.step);
	if (r < 0) {
		f.error = -r;
		goto fail;
	}
	/* pivot_root(".", "."): the old root ends up on top of the new one, and detaching it
	 * leaves nothing of the host's tree reachable (no fd of ours points into it but the
	 * ones the server is meant to have). */
	f.step = STEP_PIVOT;
	if (chdir(HELPER_CONTAINED_DIR) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
	    umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		goto fail_errno;
	f.step = STEP_READONLY;
	if (mount(NULL, "/", NULL,
		  MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		goto fail_errno;
	f.step = STEP_HOSTNAME;
	if (sethostname("fuse4fs", 7) < 0)
		goto fail_errno;

	f.step = STEP_RLIMITS;
	r = set_rlimits();
	if (r < 0) {
		f.error = -r;
		goto fail;
	}
	/* The bounding set needs CAP_SETPCAP: before the uid change. */
	f.step = STEP_BOUNDING;
	r = drop_bounding_set();
	if (r < 0) {
		f.error = -r;
		goto fail;
	}
	f.step = STEP_UID;
	r = become(uid);
	if (r < 0) {
		f.error = -r;
		goto fail;
	}
	f.step = STEP_CAPS;
	r = clear_capabilities();
	if (r < 0) {
		f.error = -r;
		goto fail;
	}
	/* Inherited from main.c already; said again so this function stands on its own. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		goto fail_errno;

	/* fds: 0-2 /dev/null, 3 the connection, 4 the uid lock; everything else (the device
	 * and /dev/fuse, which go through the protocol like with systemd, the mountpoint,
	 * report_fd) closes on execve. dup2() clears close-on-exec on its target. */
	f.step = STEP_FDS;
	/* Every fd we still need goes above 4 first, so that filling 0-4 cannot overwrite one of
	 * them (which fd numbers they have depends on what the helper opened before). */
	r = move_high(report_fd);
	if (r < 0)
		goto fail_errno;
	report_fd = r;
	sock = move_high(sock);
	lock = move_high(lock);
	null_fd = move_high(null_fd);
	if (sock < 0 || lock < 0 || null_fd < 0)
		goto fail_errno;
	if (dup2(null_fd, 0) < 0 || dup2(null_fd, 1) < 0 || dup2(sock, CONTAIN_FD_SOCKET) < 0 ||
	    dup2(lock, CONTAIN_FD_UID_LOCK) < 0)
		goto fail_errno;
#ifdef F4_TEST_HOOKS
	/* Test builds: with the self-test armed, the server logs its probes to the caller's
	 * stderr, which is the only place a test can read them (there is no journal). */
	if (!selftest && dup2(null_fd, 2) < 0)
		goto fail_errno;
	if (selftest) {
		snprintf(env_selftest, sizeof(env_selftest), "FUSE4FS_SELFTEST=%s", selftest);
		envp[0] = env_selftest;
	}
#else
	(void)selftest;
	(void)env_selftest;
	if (dup2(null_fd, 2) < 0)
		goto fail_errno;
#endif
	if (close_range(CONTAIN_FD_UID_LOCK + 1, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		goto fail_errno;

	f.step = STEP_EXEC;
	execve(CONTAIN_SERVER, argv, envp);

fail_errno:
	f.error = errno;
fail:
	(void)!write(report_fd, &f, sizeof(f));
	_exit(127);
}

/* Did the child reach execve()? The report pipe closes on exec (EOF) or carries a failure. */
static int wait_for_exec(int report_fd)
{
	struct pollfd p = {.fd = report_fd, .events = POLLIN};
	struct contain_failure f;
	ssize_t n;
	int r;

	r = poll(&p, 1, CONTAIN_START_TIMEOUT_MS);
	if (r < 0)
		return log_error_errno(-errno, "cannot wait for the contained server to start: %m");
	if (r == 0)
		return log_error_errno(-ETIMEDOUT, "the contained server did not start within %d s",
				       CONTAIN_START_TIMEOUT_MS / 1000);
	n = read(report_fd, &f, sizeof(f));
	if (n == 0)
		return 0;
	if (n != (ssize_t)sizeof(f) || f.step < 0 || (size_t)f.step >= ELEMENTSOF(contain_steps))
		return log_error_errno(-EIO, "the contained server failed to start");
	return log_error_errno(-f.error, "cannot start the contained server: %s: %m",
			       contain_steps[f.step]);
}

int helper_contain_start(const struct helper_config *c, const struct helper_privs *p,
			 const char *selftest, int *ret_sock)
{
	_cleanup_close_ int lock = -1, mine = -1, theirs = -1, report_r = -1, report_w = -1;
	struct timeval tv = {.tv_sec = HELPER_CONNECT_TIMEOUT_SEC};
	int sv[2], report[2], status, r;
	uid_t uid = 0;
	pid_t pid;

	r = take_uid(c, p, &uid, &lock);
	if (r < 0)
		return r;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return log_error_errno(-errno, "cannot create a socket pair: %m");
	mine = sv[0];
	theirs = sv[1];
	if (pipe2(report, O_CLOEXEC) < 0)
		return log_error_errno(-errno, "cannot create a pipe: %m");
	report_r = report[0];
	report_w = report[1];

	pid = fork();
	if (pid < 0)
		return log_error_errno(-errno, "cannot fork: %m");
	if (pid == 0) {
		pid_t init;

		/* A session of its own: no controlling terminal, not in the caller's process
		 * group, so job control and the terminal's signals never reach the server. */
		if (setsid() < 0)
			_exit(126);
		if (unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |
			    CLONE_NEWPID | CLONE_NEWCGROUP) < 0) {
			struct contain_failure f = {.step = STEP_UNSHARE, .error = errno};

			(void)!write(report_w, &f, sizeof(f));
			_exit(126);
		}
		/* Our first child is the new pid namespace's init; we leave at once, so it is
		 * reparented away from the helper and outlives it. */
		init = fork();
		if (init == 0)
			contain_child(theirs, lock, report_w, uid, selftest);
		_exit(init < 0 ? 126 : 0);
	}

	theirs = safe_close(theirs);
	lock = safe_close(lock);
	report_w = safe_close(report_w);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return log_error_errno(-errno, "cannot wait for the contained server: %m");
	r = wait_for_exec(report_r);
	if (r < 0)
		return r;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return log_error_errno(-ECHILD, "cannot start the contained server (status %d)",
				       status);

	/* Like a systemd connection (connect.c): sends are bounded, and the server never
	 * sends us fds. */
	if (setsockopt(mine, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return log_error_errno(-errno, "cannot set a send timeout: %m");
	r = proto_disable_passrights(mine);
	if (r < 0 && r != -ENOPROTOOPT)
		return log_error_errno(r, "cannot disable fd passing on the socket: %m");
	*ret_sock = TAKE_FD(mine);
	return 0;
}
