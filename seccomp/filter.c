/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The allowlist. Installed once the server holds every fd it will ever use (the device,
 * /dev/fuse, the helper connection, the watchdog socket) and before it reads the first byte of
 * file system metadata: from then on a bug in the ext4 parser can only read and write those fds,
 * allocate memory, run threads and tell the time.
 *
 * Three outcomes:
 *  - allowed: the groups below, each with who needs it;
 *  - SCMP_ACT_KILL_PROCESS: calls that only an exploit would make and that widen what a
 *    compromised server can reach (execve, ptrace, mounts, namespaces, kernel modules, bpf,
 *    keyrings, network sockets, ...). Killing makes the attempt visible (SIGSYS, the mount turns
 *    into ENOTCONN) instead of letting the exploit probe;
 *  - everything else fails with EPERM, so a library's optional call (glibc probing a file,
 *    libfuse opening /dev/null) degrades instead of killing a healthy server.
 * clone3() fails with ENOSYS instead: glibc then falls back to clone(), whose flags a filter can
 * check (clone3 passes them in memory, which seccomp cannot read).
 *
 * Foreign architectures (x32, i386 entry points) kill: libseccomp's default for a bad arch.
 */
#include <errno.h>
#include <linux/fs.h>
#include <linux/sched.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "filter.h"

/* What glibc 2.36's pthread_create() passes to clone(); anything else (fork, vfork, new
 * namespaces) is a new process, which the server never makes. */
#define F4_THREAD_CLONE_FLAGS                                                                  \
	(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SYSVSEM | CLONE_SIGHAND | CLONE_THREAD |    \
	 CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID)

/* Allowed without looking at arguments. */
static const int f4_allow[] = {
	/* The device, /dev/fuse and stderr: the whole job. libext2fs's unix I/O uses pread/pwrite
	 * (and fsync/fdatasync/fallocate/sync_file_range when writing), libfuse reads requests
	 * with read() and answers with writev(), the log writes stderr. */
	SCMP_SYS(read),
	SCMP_SYS(write),
	SCMP_SYS(readv),
	SCMP_SYS(writev),
	SCMP_SYS(pread64),
	SCMP_SYS(pwrite64),
	SCMP_SYS(preadv),
	SCMP_SYS(pwritev),
	SCMP_SYS(preadv2),
	SCMP_SYS(pwritev2),
	SCMP_SYS(lseek),
	SCMP_SYS(fsync),
	SCMP_SYS(fdatasync),
	SCMP_SYS(sync_file_range),
	SCMP_SYS(fallocate),
	/* Readahead hints on the device for sequential file reads (ext4-file.c). */
	SCMP_SYS(fadvise64),
	/* The lock on the device that keeps a second server off it (service/device-lock.c). */
	SCMP_SYS(flock),
	SCMP_SYS(close),
	/* libext2fs fstat()s the device (block device or image), glibc's fstat() is newfstatat()
	 * with AT_EMPTY_PATH; fcntl() for libfuse's fd checks and O_CLOEXEC handling. */
	SCMP_SYS(fstat),
	SCMP_SYS(newfstatat),
	SCMP_SYS(statx),
	SCMP_SYS(fstatfs),
	SCMP_SYS(fcntl),
	/* The helper connection (MOUNT_REQUEST/MOUNT_RESULT/READY after the filter, proto/) and the
	 * pre-connected sd_notify socket (watchdog pings). No socket can be created or connected,
	 * so these only reach sockets we already hold. */
	SCMP_SYS(sendmsg),
	SCMP_SYS(recvmsg),
	SCMP_SYS(sendto),
	SCMP_SYS(recvfrom),
	SCMP_SYS(poll),
	SCMP_SYS(ppoll),
	/* Memory: malloc (brk, mmap, mremap for large realloc), thread stacks (mmap, mprotect for
	 * the guard page, madvise when freeing). mmap/mprotect are allowed below only without
	 * PROT_EXEC. */
	SCMP_SYS(brk),
	SCMP_SYS(munmap),
	SCMP_SYS(mremap),
	SCMP_SYS(madvise),
	/* Threads: libfuse's worker pool (fuse_session_loop_mt) and our watchdog thread. */
	SCMP_SYS(futex),
	SCMP_SYS(set_robust_list),
	SCMP_SYS(get_robust_list),
	SCMP_SYS(rseq),
	SCMP_SYS(set_tid_address),
	SCMP_SYS(sched_yield),
	SCMP_SYS(sched_getaffinity), /* glibc's malloc sizes its arenas by the CPU count */
	SCMP_SYS(gettid),
	SCMP_SYS(getpid),
	SCMP_SYS(exit),
	SCMP_SYS(exit_group),
	SCMP_SYS(restart_syscall),
	/* Signals: libfuse's SIGTERM/SIGINT/SIGHUP handlers, glibc's SIGCANCEL for pthread_cancel
	 * (libfuse cancels its workers when the loop ends) and abort(). tgkill is limited to this
	 * process below. */
	SCMP_SYS(rt_sigaction),
	SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(rt_sigreturn),
	SCMP_SYS(sigaltstack),
	/* Time: timestamps in logs and the watchdog's sleep (mostly the vDSO, these are the
	 * fallbacks). */
	SCMP_SYS(clock_gettime),
	SCMP_SYS(clock_getres),
	SCMP_SYS(gettimeofday),
	SCMP_SYS(time),
	SCMP_SYS(nanosleep),
	SCMP_SYS(clock_nanosleep),
	/* Harmless queries glibc and libext2fs make: our own ids, kernel version, randomness
	 * (UUIDs and hash seeds when writing). */
	SCMP_SYS(getuid),
	SCMP_SYS(geteuid),
	SCMP_SYS(getgid),
	SCMP_SYS(getegid),
	SCMP_SYS(uname),
	SCMP_SYS(getrandom),
	SCMP_SYS(getrlimit),
};

/* Killed on sight: nothing in fuse4fs makes these after setup, and each one is a step an
 * exploit takes to get out (run a program, reach another process, change the mount table or
 * the kernel, open a way off the machine). */
static const int f4_kill[] = {
	SCMP_SYS(execve),
	SCMP_SYS(execveat),
	SCMP_SYS(ptrace),
	SCMP_SYS(process_vm_readv),
	SCMP_SYS(process_vm_writev),
	SCMP_SYS(pidfd_getfd),
	SCMP_SYS(kcmp),
	SCMP_SYS(mount),
	SCMP_SYS(umount2),
	SCMP_SYS(pivot_root),
	SCMP_SYS(chroot),
	SCMP_SYS(open_tree),
	SCMP_SYS(move_mount),
	SCMP_SYS(fsopen),
	SCMP_SYS(fsconfig),
	SCMP_SYS(fsmount),
	SCMP_SYS(fspick),
	SCMP_SYS(mount_setattr),
	SCMP_SYS(unshare),
	SCMP_SYS(setns),
	SCMP_SYS(bpf),
	SCMP_SYS(perf_event_open),
	SCMP_SYS(userfaultfd),
	SCMP_SYS(io_uring_setup),
	SCMP_SYS(kexec_load),
	SCMP_SYS(kexec_file_load),
	SCMP_SYS(init_module),
	SCMP_SYS(finit_module),
	SCMP_SYS(delete_module),
	SCMP_SYS(keyctl),
	SCMP_SYS(add_key),
	SCMP_SYS(request_key),
	SCMP_SYS(personality),
	SCMP_SYS(open_by_handle_at), /* "shocker": opens any inode on a file system we can name */
	SCMP_SYS(name_to_handle_at),
	SCMP_SYS(iopl),
	SCMP_SYS(ioperm),
	SCMP_SYS(swapon),
	SCMP_SYS(swapoff),
	SCMP_SYS(reboot),
	SCMP_SYS(syslog),
};

/* ioctls on the device fd: libext2fs asks a block device for its size and sector sizes, and
 * flushes or discards through it when writing. Nothing else: TIOCSTI and friends fail. */
static const unsigned long f4_ioctls[] = {
	BLKGETSIZE64, BLKGETSIZE, BLKSSZGET,  BLKPBSZGET, BLKIOMIN,         BLKIOOPT, BLKALIGNOFF,
	BLKROGET,     BLKFLSBUF,  BLKDISCARD, BLKZEROOUT, BLKDISCARDZEROES, FIGETBSZ,
};

int f4_filter_build(unsigned flags, pid_t self_pid, scmp_filter_ctx *ret_ctx)
{
	_cleanup_seccomp_ scmp_filter_ctx ctx = NULL;
	int r;

	ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	if (!ctx)
		return -ENOMEM;
	/* The process may already run threads (libfuse's, in the future): filter them all. */
	r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (r < 0)
		return r;

	for (size_t i = 0; i < ELEMENTSOF(f4_allow); i++) {
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, f4_allow[i], 0);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < ELEMENTSOF(f4_kill); i++) {
		r = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, f4_kill[i], 0);
		if (r < 0)
			return r;
	}

	/* W^X like MemoryDenyWriteExecute=: no new executable memory at all, so injected bytes
	 * can never run. Every library is mapped before the filter (glibc's libgcc_s, which
	 * pthread_cancel needs, is preloaded by the caller). */
	r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
			     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (r < 0)
		return r;
	r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
			     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (r < 0)
		return r;

	/* Threads only: glibc's exact flag set. fork() and namespace flags fail with EPERM. */
	r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
			     SCMP_A0(SCMP_CMP_EQ, F4_THREAD_CLONE_FLAGS));
	if (r < 0)
		return r;
	r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (r < 0)
		return r;

	/* Signals to ourselves only (pthread_cancel, abort, raise). */
	r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
			     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)self_pid));
	if (r < 0)
		return r;

	/* Direct mode in the background moves its stdio to /dev/null once it serves (it kept
	 * the terminal until then to report a refused image): dup2/dup3 onto fds 0-2 only. */
	r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(dup2), 1, SCMP_A1(SCMP_CMP_LE, 2));
	if (r < 0)
		return r;
	r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(dup3), 1, SCMP_A1(SCMP_CMP_LE, 2));
	if (r < 0)
		return r;

	/* Reading limits is fine (glibc reads RLIMIT_STACK for thread stacks), setting is not. */
	r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 2, SCMP_A0(SCMP_CMP_EQ, 0),
			     SCMP_A2(SCMP_CMP_EQ, 0));
	if (r < 0)
		return r;

	for (size_t i = 0; i < ELEMENTSOF(f4_ioctls); i++) {
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				     SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, f4_ioctls[i]));
		if (r < 0)
			return r;
	}

	/* A socket of any family but AF_UNIX can only be a way out: kill. AF_UNIX fails with
	 * EPERM (the default) like socketpair(). */
	r = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(socket), 1,
			     SCMP_A0(SCMP_CMP_NE, AF_UNIX));
	if (r < 0)
		return r;

	if (flags & F4_FILTER_SELFTEST) {
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(rt_sigtimedwait), 0);
		if (r < 0)
			return r;
	}

	*ret_ctx = TAKE_PTR(ctx);
	return 0;
}

int f4_filter_install(unsigned flags)
{
	_cleanup_seccomp_ scmp_filter_ctx ctx = NULL;
	int r;

	r = f4_filter_build(flags, getpid(), &ctx);
	if (r < 0)
		return r;
	/* seccomp_load() would set it too (SCMP_FLTATR_CTL_NNP); say it where it matters: with
	 * no_new_privs no execve (were it allowed) could ever regain privilege. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return seccomp_load(ctx);
}
