/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The two ways the server runs; main.c parses the common switches and picks one. */
#ifndef FUSE4FS_SVC_MODES_H
#define FUSE4FS_SVC_MODES_H

#include <stdbool.h>

#include "fs.h"

/* Service mode: systemd passed the accepted helper connection (sd_listen_fds() == 1), or, with
 * contained, fuservicemount started us in its own sandbox with the connection as fd 3 (and the
 * lock that reserves our uid as fd 4, which we only keep open). Speaks the fuservice protocol,
 * serves the mount until it goes away. Returns the exit status. */
#define SVC_CONTAINED_FD 3
int service_mode_run(const struct svc_fs_options *opts, bool contained);

/* Direct mode: `fuse4fs [options] DEVICE MOUNTPOINT`, argv without the switches main.c
 * consumed. Returns the exit status. */
int direct_mode_run(int argc, char **argv, const struct svc_fs_options *opts);

#endif
