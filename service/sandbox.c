/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The server's own confinement, the same in service and direct mode (docs/sandbox.md). Whatever
 * systemd's unit already took away, the process takes it away again itself, so that a server
 * started by hand, in a container without systemd, or by a future spawner is no stronger:
 *
 *   1. capabilities: all of them, bounding set included (libcap-ng), when we hold any (direct
 *      mode as root, after libfuse mounted);
 *   2. the watchdog socket: systemd's notify socket is connected now, because after the filter
 *      no socket can be created or connected;
 *   3. no_new_privs and the seccomp allowlist (seccomp/filter.c), on every thread;
 *   4. the watchdog thread, which pings systemd for as long as the process is scheduled: a
 *      stopped or frozen server misses its pings and systemd kills it, and its mount then fails
 *      with ENOTCONN instead of hanging its callers.
 *
 * Test builds (meson -Dtest_hooks=true) add a self-test thread: FUSE4FS_SELFTEST=probe,... in the
 * environment names calls to try from inside the sandbox; SIGUSR1 runs them and each result is
 * logged as "selftest: NAME: ...". A call the filter kills for ends the process with SIGSYS
 * before it can log; "selftest: NAME: calling" comes first so the test knows what killed it.
 */
#include <cap-ng.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "filter.h"
#include "log.h"
#include "sandbox.h"
#include "util.h"

#ifdef F4_TEST_HOOKS
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#endif

static int svc_watchdog_fd = -1;
static uint64_t svc_watchdog_usec;

/* Drop every capability, the bounding set too, if this process has any. An ordinary user's
 * direct-mode server has none and cannot touch its bounding set (no CAP_SETPCAP): that set only
 * limits what execve() could grant, and execve() is killed by the filter anyway. */
static int svc_drop_capabilities(void)
{
	if (capng_get_caps_process() < 0)
		return log_error_errno(-EIO, "Could not read our capabilities");
	if (capng_have_capabilities(CAPNG_SELECT_CAPS) == CAPNG_NONE)
		return 0;

	capng_clear(CAPNG_SELECT_BOTH);
	if (capng_apply(CAPNG_SELECT_BOTH) < 0)
		return log_error_errno(-EPERM, "Could not drop our capabilities");
	/* Trust, but verify: the kernel's view, not libcap-ng's cache. */
	if (capng_get_caps_process() < 0 || capng_have_capabilities(CAPNG_SELECT_CAPS) != CAPNG_NONE)
		return log_error_errno(-EPERM, "Capabilities are still set after dropping them");
	log_debug("Dropped every capability");
	return 0;
}

/* sd_notify() opens a socket per call, which the filter forbids: connect once, now. */
static int svc_watchdog_connect(void)
{
	_cleanup_close_ int fd = -1;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *path;
	uint64_t usec = 0;
	socklen_t len;
	size_t n;
	int r;

	r = sd_watchdog_enabled(0, &usec);
	if (r < 0)
		return log_error_errno(r, "Bad WATCHDOG_USEC/WATCHDOG_PID from the service manager");
	if (r == 0)
		return 0;
	path = getenv("NOTIFY_SOCKET");
	if (!path || !path[0])
		return log_error_errno(-EINVAL, "systemd asked for watchdog pings but set no NOTIFY_SOCKET");
	n = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || n >= sizeof(sa.sun_path))
		return log_error_errno(-EINVAL, "Unusable NOTIFY_SOCKET '%s'", path);
	memcpy(sa.sun_path, path, n);
	if (path[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return log_error_errno(-errno, "Could not create the watchdog socket");
	if (connect(fd, (struct sockaddr *)&sa, len) < 0)
		return log_error_errno(-errno,
				       "Could not connect to NOTIFY_SOCKET '%s' (is it bound into the root?)",
				       path);
	svc_watchdog_fd = TAKE_FD(fd);
	svc_watchdog_usec = usec;
	return 0;
}

static void *svc_watchdog_thread(void *arg)
{
	/* Half the timeout, as sd_watchdog_enabled(3) advises. */
	struct timespec ts = {
		.tv_sec = (time_t)(svc_watchdog_usec / 2 / 1000000),
		.tv_nsec = (long)(svc_watchdog_usec / 2 % 1000000 * 1000),
	};

	for (;;) {
		static const char ping[] = "WATCHDOG=1";

		if (send(svc_watchdog_fd, ping, sizeof(ping) - 1, MSG_NOSIGNAL) < 0)
			log_debug("Watchdog ping failed: %s", strerror(errno));
		while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL) == EINTR)
			;
	}
	return NULL;
}

/* Threads of ours take no signals: libfuse's handlers and the self-test's SIGUSR1 are for the
 * threads that wait for them. */
static int svc_start_thread(void *(*fn)(void *), const char *what)
{
	sigset_t all, old;
	pthread_t t;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&t, NULL, fn, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
		return log_error_errno(-r, "Could not start the %s thread", what);
	pthread_detach(t);
	return 0;
}

#ifdef F4_TEST_HOOKS
static const char *svc_selftest_list;

/* One probe: returns the call's result (>= 0 means it worked, which is a sandbox failure). */
static long svc_selftest_probe(const char *name)
{
	if (strcmp(name, "open") == 0)
		return open("/etc/passwd", O_RDONLY | O_CLOEXEC);
	if (strcmp(name, "socket-unix") == 0)
		return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (strcmp(name, "fork") == 0) {
		pid_t p = fork();
		if (p == 0)
			_exit(0);
		if (p > 0)
			waitpid(p, NULL, 0);
		return p;
	}
	if (strcmp(name, "mmap-exec") == 0) {
		void *m = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		return m == MAP_FAILED ? -1 : 0;
	}
	if (strcmp(name, "socket-inet") == 0)
		return socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (strcmp(name, "mount") == 0)
		return mount("none", "/tmp", "tmpfs", 0, NULL);
	if (strcmp(name, "ptrace") == 0)
		return ptrace(PTRACE_ATTACH, getppid(), NULL, NULL);
	if (strcmp(name, "execve") == 0) {
		char *argv[] = {(char *)"true", NULL}, *envp[] = {NULL};
		return execve("/bin/true", argv, envp);
	}
	errno = EINVAL;
	return -2;
}

static void *svc_selftest_thread(void *arg)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	for (;;) {
		_cleanup_free_ char *list = NULL;
		char *save = NULL;

		if (sigwait(&set, &sig) != 0)
			continue;
		list = strdup(svc_selftest_list);
		if (!list)
			continue;
		for (char *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
			long r;

			log_notice("selftest: %s: calling", p);
			errno = 0;
			r = svc_selftest_probe(p);
			if (r == -2)
				log_notice("selftest: %s: unknown probe", p);
			else if (r >= 0)
				log_notice("selftest: %s: SUCCEEDED", p);
			else
				log_notice("selftest: %s: failed: %s (errno %d)", p, strerror(errno),
					   errno);
		}
		log_notice("selftest: done");
	}
	return NULL;
}

/* Before the filter and before any other thread: SIGUSR1 must stay blocked everywhere but in
 * the self-test thread, or it would end the process. */
static unsigned svc_selftest_prepare(void)
{
	sigset_t set;

	svc_selftest_list = getenv("FUSE4FS_SELFTEST");
	if (!svc_selftest_list || !svc_selftest_list[0])
		return 0;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	log_warning("Test build: self-test hook armed (SIGUSR1 runs: %s)", svc_selftest_list);
	return F4_FILTER_SELFTEST;
}

static int svc_selftest_start(void)
{
	if (!svc_selftest_list || !svc_selftest_list[0])
		return 0;
	return svc_start_thread(svc_selftest_thread, "self-test");
}
#else
static unsigned svc_selftest_prepare(void)
{
	return 0;
}

static int svc_selftest_start(void)
{
	return 0;
}
#endif

int svc_sandbox_enter(void)
{
	unsigned flags;
	int r;

	/* glibc's pthread_cancel() (libfuse cancels its workers when the loop ends) dlopen()s
	 * libgcc_s for unwinding; after the filter it could neither open nor map it executable.
	 * Loaded now, glibc finds it already there. Not fatal: a static or unusual libc may not
	 * need it. */
	if (!dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_NODELETE))
		log_debug("Could not preload libgcc_s.so.1: %s", dlerror());

	r = svc_drop_capabilities();
	if (r < 0)
		return r;
	r = svc_watchdog_connect();
	if (r < 0)
		return r;
	flags = svc_selftest_prepare();

	r = f4_filter_install(flags);
	if (r < 0)
		return log_error_errno(r, "Could not install the seccomp filter");
	log_debug("Sandbox: no capabilities, no_new_privs, seccomp allowlist installed");

	if (svc_watchdog_fd >= 0) {
		r = svc_start_thread(svc_watchdog_thread, "watchdog");
		if (r < 0)
			return r;
		log_debug("Pinging the watchdog every %llu ms",
			  (unsigned long long)(svc_watchdog_usec / 2000));
	}
	return svc_selftest_start();
}
