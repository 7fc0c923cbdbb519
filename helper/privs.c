/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Process hygiene and privilege handling.
 *
 * We are setuid root: the caller chose our argv, environment, open fds, umask, rlimits and
 * signal dispositions, and can send us signals. Before anything else we throw away what we
 * can (fds, environment, umask) and stop execve() from ever granting privilege again
 * (no_new_privs). We stay euid 0 for the whole run but do every file-system access that the
 * caller names with fsuid/fsgid set to the caller, so the kernel's permission check is the
 * caller's own (CAP_DAC_OVERRIDE and friends drop out of the effective set while fsuid != 0).
 * The supplementary groups are inherited from the caller and left alone on purpose: they are
 * part of "the user's own access".
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "helper.h"

static int set_nondumpable(void)
{
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

/* The caller's rlimits are a lever on where we fail: a 16 KiB stack made us die of SIGSEGV
 * in the middle of a printf, a tiny RLIMIT_NOFILE or RLIMIT_AS makes a chosen call fail. Each
 * failure is fail-closed, but a signal death after move_mount() would leave an unserved
 * mount. As root we may raise them: limits that are lower than what we need are lifted to a
 * floor (never lowered), or at least to the hard limit without CAP_SYS_RESOURCE. RLIMIT_CPU
 * stays: the caller can stop or kill us anyway. */
static int reset_rlimits(void)
{
	static const struct {
		int resource;
		rlim_t floor;
	} floors[] = {
		{ RLIMIT_STACK, 8u << 20 },
		{ RLIMIT_NOFILE, 1024 },
		{ RLIMIT_AS, RLIM_INFINITY },
		{ RLIMIT_DATA, RLIM_INFINITY },
		{ RLIMIT_FSIZE, RLIM_INFINITY },
		{ RLIMIT_CORE, 0 },
	};

	for (size_t i = 0; i < ELEMENTSOF(floors); i++) {
		struct rlimit rl;

		if (getrlimit(floors[i].resource, &rl) < 0)
			return -errno;
		if (floors[i].resource == RLIMIT_CORE) {
			/* Never a core file of a root process holding our fds and messages. */
			rl.rlim_cur = rl.rlim_max = 0;
		} else {
			if (rl.rlim_cur != RLIM_INFINITY &&
			    (floors[i].floor == RLIM_INFINITY || rl.rlim_cur < floors[i].floor))
				rl.rlim_cur = floors[i].floor;
			if (rl.rlim_max != RLIM_INFINITY &&
			    (rl.rlim_cur == RLIM_INFINITY || rl.rlim_max < rl.rlim_cur))
				rl.rlim_max = rl.rlim_cur;
		}
		if (setrlimit(floors[i].resource, &rl) == 0)
			continue;
		if (errno != EPERM)
			return -errno;
		/* No CAP_SYS_RESOURCE (a container's bounding set): raising the hard limit is
		 * refused, but the soft one may always go up to it. */
		if (getrlimit(floors[i].resource, &rl) < 0)
			return -errno;
		if (floors[i].resource == RLIMIT_CORE)
			rl.rlim_cur = 0;
		else
			rl.rlim_cur = rl.rlim_max;
		if (setrlimit(floors[i].resource, &rl) < 0)
			return -errno;
	}
	return 0;
}

int helper_sanitize_process(int argc)
{
	int r;

	/* argc == 0 leaves argv[0] NULL and argv[1] aliasing envp (CVE-2021-4034, pkexec). */
	if (argc < 1)
		return -EINVAL; /* nothing to log to yet that we trust; main exits quietly */

	/* Closed 0-2 would let the next open() land on them, and a later "print to stderr"
	 * would write into, say, the device. Point them at /dev/null instead. */
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		if (errno != EBADF)
			return -errno;
		int nfd = open("/dev/null", O_RDWR | O_NOCTTY);
		if (nfd < 0)
			return -errno;
		if (nfd != fd) {
			/* open() returns the lowest free fd, so this cannot happen unless
			 * something else is wrong: refuse rather than continue confused. */
			close(nfd);
			return -EBADF;
		}
	}

	/* Every other inherited fd goes: the caller must not be able to hand us, say, an
	 * O_PATH to somewhere that a bug could then use with root's rights, and we must not
	 * leak anything of ours into it either. */
	if (close_range(3, ~0U, 0) < 0) {
		r = -errno;
		log_error_errno(r, "cannot close inherited file descriptors: %m");
		return r;
	}

	/* We read nothing from the environment (no locale, no TMPDIR, no LD_*, no
	 * FUSE4FS_*): drop it all, so no library we call can be steered by it either. */
	if (clearenv() != 0) {
		log_error("cannot clear the environment");
		return -ENOMEM;
	}

	/* The caller's umask must not decide anything we create (we create nothing on disk
	 * today, but the rule is cheap). */
	umask(022);

	/* Nothing we do ever executes a program; make sure that even a bug cannot turn into
	 * a privileged execve(). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		r = -errno;
		log_error_errno(r, "cannot set no_new_privs: %m");
		return r;
	}

	/* Setuid processes are already non-dumpable; say it explicitly so that no core file
	 * or ptrace attach by the caller can read our memory (fds, server messages). The
	 * kernel resets this to the fs.suid_dumpable sysctl on every fsuid/fsgid change, so
	 * set_fsids() says it again after each switch. */
	r = set_nondumpable();
	if (r < 0)
		return log_error_errno(r, "cannot mark the process non-dumpable: %m");

	/* The caller chooses our rlimits. RLIMIT_FSIZE on a stderr redirected to a file would
	 * turn an error message into SIGXFSZ and kill us between move_mount() and the
	 * cleanup that detaches a failed mount; with the signal ignored the write just fails.
	 * (Tiny RLIMIT_NOFILE/RLIMIT_AS make calls fail, and every failure is fail-closed;
	 * RLIMIT_CPU, like SIGKILL from the caller, can only stop us, which the caller can do
	 * anyway.) */
	signal(SIGXFSZ, SIG_IGN);

	r = reset_rlimits();
	if (r < 0)
		return log_error_errno(r, "cannot reset resource limits: %m");

	return 0;
}

int helper_privs_init(struct helper_privs *ret)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;

	if (getresuid(&ruid, &euid, &suid) < 0 || getresgid(&rgid, &egid, &sgid) < 0)
		return log_error_errno(-errno, "cannot read the process credentials: %m");

	/* The only time we look at the effective uid: to refuse running without the privilege
	 * we were installed with, instead of failing half-way in confusing ways. */
	if (euid != 0)
		return log_error_errno(-EPERM, "not running as root; the program must be installed "
					       "setuid root (chown root, chmod 4755)");

	ret->uid = ruid;
	ret->gid = rgid;
	ret->is_root = ruid == 0;
	return 0;
}

/* setfsuid()/setfsgid() return the previous value and report no errors; calling them a
 * second time returns the current one, which is how we verify the switch took effect. */
static int set_fsids(uid_t uid, gid_t gid, bool gid_first)
{
	if (gid_first) {
		setfsgid(gid);
		if ((gid_t)setfsgid(gid) != gid)
			return -EPERM;
	}
	setfsuid(uid);
	if ((uid_t)setfsuid(uid) != uid)
		return -EPERM;
	if (!gid_first) {
		setfsgid(gid);
		if ((gid_t)setfsgid(gid) != gid)
			return -EPERM;
	}
	/* commit_creds() just made us dumpable again if fs.suid_dumpable is 1 (a debugging
	 * setting): the caller could then SIGQUIT us into a core file holding our memory. */
	return set_nondumpable();
}

/* A non-root fsuid only drops the filesystem capabilities (DAC_OVERRIDE, FOWNER, ...);
 * CAP_SYS_PTRACE, CAP_SYS_ADMIN and the rest stay effective, and some path lookups and opens
 * consult them (ptrace_may_access() on /proc/<pid>/fd, maps, cwd; driver open() hooks). So
 * while acting as the caller the effective set is emptied too, and then refilled from the
 * permitted set, which never changes. Verified by reading it back, like the fsids. */
static int set_effective_caps(bool on)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	for (size_t i = 0; i < ELEMENTSOF(d); i++)
		d[i].effective = on ? d[i].permitted : 0;
	if (syscall(SYS_capset, &h, d) < 0)
		return -errno;
	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	for (size_t i = 0; i < ELEMENTSOF(d); i++)
		if (d[i].effective != (on ? d[i].permitted : 0))
			return -EPERM;
	return 0;
}

int helper_become_user(const struct helper_privs *p)
{
	int r = set_fsids(p->uid, p->gid, true);
	/* Root's own access includes its capabilities. */
	if (r >= 0 && !p->is_root)
		r = set_effective_caps(false);
	if (r < 0) {
		/* Never continue half-switched: an access "as the user" would be root's. */
		(void)set_effective_caps(true);
		(void)set_fsids(0, 0, false);
		return log_error_errno(r, "cannot switch file system ids to uid %u gid %u: %m",
				       (unsigned)p->uid, (unsigned)p->gid);
	}
	return 0;
}

int helper_become_root(const struct helper_privs *p)
{
	/* Capabilities first: setfsgid(0) needs CAP_SETGID, our egid is the caller's. */
	int r = set_effective_caps(true);
	if (r >= 0)
		r = set_fsids(0, 0, false);
	if (r < 0)
		return log_error_errno(r, "cannot switch file system ids back to root: %m");
	return 0;
}
