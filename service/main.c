/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuse4fs: serves an ext2/3/4 filesystem over FUSE. `--service` speaks the fuservice protocol
 * on the connection systemd passed (service-mode.c); otherwise it is a classic FUSE server
 * (direct-mode.c). Only main() decides the exit status: 0 success, 1 failure, 2 usage.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "config.h"
#include "fs.h"
#include "log.h"
#include "modes.h"
#include "session-io.h"

static void help(void)
{
	printf("Usage: fuse4fs [-o OPTIONS] [-f] [-d] DEVICE MOUNTPOINT\n"
	       "       fuse4fs --service [-d]\n"
	       "       fuse4fs --contained [-d]\n"
	       "\n"
	       "Serves the ext2/ext3/ext4 filesystem on DEVICE (a block device or an image\n"
	       "file) read-only over FUSE.\n"
	       "\n"
	       "  -h, --help       show this help\n"
	       "  -V, --version    show the version\n"
	       "  -d, --debug      trace every request (stays in the foreground)\n"
	       "  --service        serve one mount for fuservicemount (started by systemd)\n"
	       "  --contained      the same, started by fuservicemount in its own sandbox\n"
	       "  -f               stay in the foreground (direct mode)\n"
	       "  -o OPTIONS       mount options (direct mode): ro, rw (default: rw if DEVICE is\n"
	       "                   writable), noatime, relatime, strictatime, and FUSE options\n"
	       "                   such as allow_other; always default_permissions\n");
}

int main(int argc, char **argv)
{
	struct svc_fs_options opts = { .read_only = true,
				       .busy_poll_us = SVC_BUSY_POLL_DEFAULT_US,
				       .read_threads = SVC_READ_THREADS_DEFAULT };
	bool service = false, contained = false;
	char **rest;
	int nrest = 0;

#ifdef F4_TEST_HOOKS
	/* Test builds only (meson -Dtest_hooks=true, never a release): the read pool's race
	 * window made wide for tests/integration/test-read-parallel.sh. */
	if (getenv("FUSE4FS_TEST_READ_DELAY_US"))
		opts.test_read_delay_us =
		    (unsigned int)strtoul(getenv("FUSE4FS_TEST_READ_DELAY_US"), NULL, 10);
#endif
	/* Our switches may appear anywhere; everything else is direct mode's, in order. */
	rest = calloc((size_t)argc + 1, sizeof(*rest));
	if (!rest)
		return 1;
	rest[nrest++] = argv[0];
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			help();
			free(rest);
			return 0;
		} else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
			printf("fuse4fs %s\n", FUSE4FS_VERSION);
			free(rest);
			return 0;
		} else if (strcmp(a, "-d") == 0 || strcmp(a, "--debug") == 0) {
			opts.debug = true;
		} else if (strcmp(a, "--service") == 0) {
			service = true;
		} else if (strcmp(a, "--contained") == 0) {
			contained = true;
		} else if (strcmp(a, "-o") == 0 && i + 1 < argc) {
			/* Keep the option list with its switch, even if it starts with '-'. */
			rest[nrest++] = argv[i++];
			rest[nrest++] = argv[i];
		} else {
			rest[nrest++] = argv[i];
		}
	}
	rest[nrest] = NULL;
	log_setup(opts.debug);

	int status;
	if (service || contained) {
		if (nrest > 1 || (service && contained)) {
			log_error("--service and --contained take no other arguments (got '%s')",
				  nrest > 1 ? rest[1] : "--service --contained");
			status = 2;
		} else if (contained && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
			/* Our uid is ours alone, but a core dump or /proc/<pid>/mem of a server
			 * holding a user's data is still nobody's business but root's. */
			log_error("Could not mark the process non-dumpable: %m");
			status = 1;
		} else {
			status = service_mode_run(&opts, contained);
		}
	} else {
		status = direct_mode_run(nrest, rest, &opts);
	}
	free(rest);
	return status;
}
