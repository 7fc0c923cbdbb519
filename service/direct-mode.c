/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Direct mode: `fuse4fs [-o OPTIONS] [-f] [-d] DEVICE MOUNTPOINT`, a classic FUSE server for
 * administrators and debugging. We open DEVICE ourselves and libfuse mounts (as root, or through
 * fusermount3). Like mount(8) the mount is read-write, or read-only with -o ro or for a device
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
#include <sys/stat.h>

#include "fs.h"
#include "log.h"
#include "modes.h"
#include "util.h"

/* libext2fs sits behind one lock; a few workers still let cached replies and interrupts
 * through while one request reads. */
#define DIRECT_MAX_THREADS 4

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

static int direct_add_user_opts(const char *list, char **opts, enum direct_rw *rw,
				enum svc_atime *atime)
{
	_cleanup_free_ char *copy = strdup(list);
	char *save = NULL;

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
		if (strcmp(o, "noatime") == 0 || strcmp(o, "relatime") == 0 ||
		    strcmp(o, "strictatime") == 0) {
			*atime = o[0] == 'n' ? SVC_ATIME_NOATIME :
				 o[0] == 'r' ? SVC_ATIME_RELATIME : SVC_ATIME_STRICTATIME;
			continue;
		}
		if (strncmp(o, "fsname=", 7) == 0 || strncmp(o, "subtype=", 8) == 0) {
			log_error("Option '%s' is not allowed: fuse4fs sets it", o);
			return -EINVAL;
		}
		if (fuse_opt_add_opt(opts, o) < 0)
			return -ENOMEM;
	}
	return 0;
}

int direct_mode_run(int argc, char **argv, const struct svc_fs_options *opts)
{
	struct fuse_args args __attribute__((cleanup(fuse_args_freep))) = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se __attribute__((cleanup(fuse_session_destroyp))) = NULL;
	struct svc_fs *fs __attribute__((cleanup(svc_fs_closep))) = NULL;
	_cleanup_free_ char *fuse_opts = NULL, *fsname = NULL, *mountpoint = NULL;
	_cleanup_close_ int fd = -1;
	const char *device = NULL, *mnt_arg = NULL;
	struct svc_fs_options o = *opts;
	struct fuse_loop_config *cfg;
	bool foreground = opts->debug;
	char why[512];
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
			if (direct_add_user_opts(argv[i], &fuse_opts, &rw, &o.atime) < 0)
				return 2;
		} else if (strncmp(a, "-o", 2) == 0) {
			if (direct_add_user_opts(a + 2, &fuse_opts, &rw, &o.atime) < 0)
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

	o.device_name = device;
	r = svc_fs_open(fd, &o, &fs, why, sizeof(why));
	if (r < 0) {
		if (why[0])
			log_error("%s", why);
		else
			log_error_errno(r, "Could not open the filesystem on '%s'", device);
		return 1;
	}

	if (fuse_opt_add_opt(&fuse_opts, o.read_only ? "ro" : "rw") < 0)
		return log_error_errno(-ENOMEM, "Out of memory"), 1;
	if (fuse_opt_add_arg(&args, argv[0]) < 0 ||
	    (o.debug && fuse_opt_add_arg(&args, "-d") < 0) || fuse_opt_add_arg(&args, "-o") < 0 ||
	    fuse_opt_add_arg(&args, fuse_opts) < 0)
		return log_error_errno(-ENOMEM, "Out of memory"), 1;

	/* libfuse prints what it rejects (unknown options) itself. */
	se = fuse_session_new(&args, svc_fuse_ops(), svc_fuse_ops_size(), fs);
	if (!se) {
		log_error("Could not start the FUSE session: check the -o options");
		return 2;
	}
	if (fuse_set_signal_handlers(se) < 0) {
		log_error("Could not install signal handlers");
		return 1;
	}
	if (fuse_session_mount(se, mountpoint) < 0) {
		log_error("Could not mount on '%s': run as root, or check that fusermount3 is installed and the mount point is yours",
			  mountpoint);
		fuse_remove_signal_handlers(se);
		return 1;
	}
	log_debug("Serving '%s' on '%s'", device, mountpoint);
	if (fuse_daemonize(foreground) < 0) {
		log_error("Could not go to the background");
		fuse_session_unmount(se);
		fuse_remove_signal_handlers(se);
		return 1;
	}

	cfg = fuse_loop_cfg_create();
	if (!cfg) {
		fuse_session_unmount(se);
		fuse_remove_signal_handlers(se);
		return log_error_errno(-ENOMEM, "Out of memory"), 1;
	}
	fuse_loop_cfg_set_max_threads(cfg, DIRECT_MAX_THREADS);
	r = fuse_session_loop_mt(se, cfg);
	fuse_loop_cfg_destroy(cfg);

	fuse_session_unmount(se);
	fuse_remove_signal_handlers(se);
	fuse_session_destroy(TAKE_PTR(se));
	r = svc_fs_close(TAKE_PTR(fs)) < 0 ? 1 : (r != 0 ? 1 : 0);
	return r;
}
