/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuservicemount: mount an ext4 device or image for an ordinary user, through the sandboxed
 * fuse4fs service. Setuid root. This file parses the command line, runs the steps in order
 * and is the only place that picks an exit code (docs/fuservicemount.8).
 *
 *   fuservicemount [-o OPTIONS] DEVICE MOUNTPOINT
 *   fuservicemount -u MOUNTPOINT
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "helper.h"

static void help(void)
{
	printf("Usage: %1$s [-o OPTIONS] DEVICE MOUNTPOINT\n"
	       "       %1$s -u MOUNTPOINT\n"
	       "\n"
	       "Mount an ext2/3/4 block device or image, read-only, through the sandboxed fuse4fs\n"
	       "service, or unmount such a mount of yours.\n"
	       "\n"
	       "  -o OPTIONS     comma-separated: ro, nosuid, nodev, noexec, noatime,\n"
	       "                 nodiratime, relatime, allow_other; root only: suid, dev\n"
	       "  -u             unmount MOUNTPOINT\n"
	       "  -h, --help     show this help\n"
	       "  -V, --version  show the version\n"
	       "\n"
	       "See fuservicemount(8).\n",
	       HELPER_NAME);
}

/* Failures about the arguments themselves: a permission problem is a policy refusal, the
 * rest (missing path, wrong file type, malformed option) a usage error. */
static int exit_for_argument(int r)
{
	if (r == -EACCES || r == -EPERM || r == -EOPNOTSUPP || r == -EROFS)
		return HELPER_EXIT_DENIED;
	/* Out of memory or fds (a caller can shrink RLIMIT_NOFILE/RLIMIT_AS): a system
	 * error, not a bad argument. */
	if (r == -ENOMEM || r == -EMFILE || r == -ENFILE)
		return HELPER_EXIT_SYSTEM;
	return HELPER_EXIT_USAGE;
}

static int exit_for_mount(int r, bool kernel_failed)
{
	if (kernel_failed)
		return HELPER_EXIT_SYSTEM;
	if (r == -ETIMEDOUT)
		return HELPER_EXIT_TIMEOUT;
	if (r == -EREMOTEIO || r == -EPROTO || r == -ECONNRESET)
		return HELPER_EXIT_SERVER;
	return HELPER_EXIT_SYSTEM;
}

static int block_termination_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGPIPE);
	sigaddset(&set, SIGTSTP);
	sigaddset(&set, SIGTTIN);
	sigaddset(&set, SIGTTOU);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return log_error_errno(-errno, "cannot block signals: %m");
	return 0;
}

static int exit_for_umount(int r)
{
	/* The kernel refused (busy mount, ...): not a usage problem. */
	if (r == -EBUSY)
		return HELPER_EXIT_SYSTEM;
	return exit_for_argument(r);
}

static int do_mount_command(const struct helper_privs *privs, const char *options_arg,
			    const char *device_arg, const char *mountpoint_arg, const char *selftest)
{
	struct helper_options opts = {};
	struct helper_config config;
	_cleanup_free_ char *device_path = NULL, *mountpoint_path = NULL;
	_cleanup_close_ int device_fd = -1, fuse_fd = -1, mountpoint_fd = -1, sock = -1;
	bool is_block = false, kernel_failed = false;
	struct helper_mount hm;
	int r;

	/* The admin's policy first: a broken configuration refuses everything, before we
	 * touch a path of the caller's. */
	r = helper_config_load(HELPER_CONFIG_DIR, HELPER_CONFIG_PATH, &config);
	if (r < 0)
		return HELPER_EXIT_DENIED;

	if (options_arg) {
		r = helper_options_parse(options_arg, privs->is_root, &opts);
		if (r < 0)
			return exit_for_argument(r);
	}
	if (opts.allow_other && !privs->is_root) {
		bool allowed;

		/* Exposing a user's mount to every local user is the admin's call. */
		r = helper_fuse_conf_user_allow_other("/etc/fuse.conf", &allowed);
		if (r < 0)
			return HELPER_EXIT_DENIED;
		if (!allowed) {
			log_error("option 'allow_other' is only allowed if /etc/fuse.conf contains "
				  "'user_allow_other'; ask the administrator, or mount without it");
			return HELPER_EXIT_DENIED;
		}
	}

	r = helper_check_proc();
	if (r < 0)
		return HELPER_EXIT_SYSTEM;
	r = helper_check_user_mount_count(privs, config.mount_max);
	if (r == -EUSERS)
		return HELPER_EXIT_DENIED;
	if (r < 0)
		return HELPER_EXIT_SYSTEM;

	r = helper_device_open(privs, &config, device_arg, &opts, &device_path, &device_fd,
			       &is_block);
	if (r < 0)
		return exit_for_argument(r);
	r = helper_mountpoint_open(privs, mountpoint_arg, &mountpoint_path, &mountpoint_fd);
	if (r < 0)
		return exit_for_argument(r);
	r = helper_fuse_open(&fuse_fd);
	if (r < 0)
		return HELPER_EXIT_SYSTEM;

	/* Nothing below depends on the caller's cwd; do not keep a root process in it. */
	if (chdir("/") < 0) {
		log_error_errno(-errno, "cannot change to '/': %m");
		return HELPER_EXIT_SYSTEM;
	}

	/* From the connection on, every step ends in "mounted and served" or "nothing
	 * mounted"; a Ctrl-C between move_mount() and the server's READY would leave a mount
	 * nobody serves. Every wait below is bounded (5 + 10 + 30 + 10 s, 5 s per send), so
	 * deferring the caller's termination signals until we exit costs little. SIGKILL cannot be blocked;
	 * its leftover is a dead mount the caller can remove with -u. */
	r = block_termination_signals();
	if (r < 0)
		return HELPER_EXIT_SYSTEM;

	r = helper_connect(device_path, is_block, config.contained_fallback, &sock);
	if (r == -ENOENT && config.contained_fallback) {
		/* No systemd socket, and the admin lets us start the server ourselves. A
		 * socket that exists but is not trustworthy never gets here (-EPERM). */
		r = helper_contain_start(&config, privs, selftest, &sock);
		if (r < 0)
			return r == -EUSERS ? HELPER_EXIT_DENIED : HELPER_EXIT_NO_SERVICE;
	} else if (r < 0) {
		return r == -ETIMEDOUT ? HELPER_EXIT_TIMEOUT : HELPER_EXIT_NO_SERVICE;
	}

	hm = (struct helper_mount){
		.privs = privs,
		.opts = &opts,
		.device_path = device_path,
		.mountpoint_path = mountpoint_path,
		.device_fd = device_fd,
		.fuse_fd = fuse_fd,
		.mountpoint_fd = mountpoint_fd,
	};
	r = helper_mount_run(&hm, sock, &kernel_failed);
	if (r < 0)
		return exit_for_mount(r, kernel_failed);
	return HELPER_EXIT_OK;
}

int main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{}
	};
	char options[HELPER_OPTIONS_MAX + 1] = "";
	char esc1[1024], esc2[1024];
	bool have_options = false, unmount = false;
	struct helper_privs privs;
	const char *selftest = NULL;
	int c, r;

#ifdef F4_TEST_HOOKS
	/* Test builds only (meson -Dtest_hooks=true, never a release): hand FUSE4FS_SELFTEST on to
	 * a contained server, the one value we take from the environment, read before it is
	 * cleared and kept only if it is nothing but probe names (docs/sandbox.md). */
	static char selftest_buf[256];
	const char *st = getenv("FUSE4FS_SELFTEST");

	if (st && st[0] && strlen(st) < sizeof(selftest_buf) &&
	    strspn(st, "abcdefghijklmnopqrstuvwxyz-,") == strlen(st)) {
		strcpy(selftest_buf, st);
		selftest = selftest_buf;
	}
#endif

	/* Hygiene first, before we parse or print anything. */
	r = helper_sanitize_process(argc);
	if (r < 0)
		return HELPER_EXIT_USAGE;

	/* Never let getopt permute or read POSIXLY_CORRECT (the environment is gone anyway):
	 * "+" stops at the first non-option. */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+ho:uV", longopts, NULL)) >= 0) {
		switch (c) {
		case 'h':
			/* Answered before touching privilege: no ids read or changed yet. */
			help();
			return HELPER_EXIT_OK;
		case 'V':
			printf("%s %s\n", HELPER_NAME, FUSE4FS_VERSION);
			return HELPER_EXIT_OK;
		case 'o':
			if (helper_options_append(options, sizeof(options), optarg) < 0)
				return HELPER_EXIT_USAGE;
			have_options = true;
			break;
		case 'u':
			unmount = true;
			break;
		case '?':
		default:
			if (optopt)
				log_error("unknown option '-%c'; see '%s --help'", optopt, HELPER_NAME);
			else
				log_error("unknown option; see '%s --help'", HELPER_NAME);
			return HELPER_EXIT_USAGE;
		}
	}

	if (unmount) {
		if (have_options || argc - optind != 1) {
			log_error("usage: %s -u MOUNTPOINT", HELPER_NAME);
			return HELPER_EXIT_USAGE;
		}
	} else if (argc - optind != 2) {
		log_error("usage: %s [-o OPTIONS] DEVICE MOUNTPOINT (see '%s --help')", HELPER_NAME,
			  HELPER_NAME);
		return HELPER_EXIT_USAGE;
	}

	r = helper_privs_init(&privs);
	if (r < 0)
		return HELPER_EXIT_SYSTEM;

	if (unmount) {
		log_set_action("cannot unmount '%s'",
			       helper_escape_untrusted(argv[optind], esc1, sizeof(esc1)));
		r = helper_check_proc();
		if (r < 0)
			return HELPER_EXIT_SYSTEM;
		r = helper_umount(&privs, argv[optind]);
		return r < 0 ? exit_for_umount(r) : HELPER_EXIT_OK;
	}

	log_set_action("cannot mount '%s' on '%s'",
		       helper_escape_untrusted(argv[optind], esc1, sizeof(esc1)),
		       helper_escape_untrusted(argv[optind + 1], esc2, sizeof(esc2)));
	return do_mount_command(&privs, have_options ? options : NULL, argv[optind],
				argv[optind + 1], selftest);
}
