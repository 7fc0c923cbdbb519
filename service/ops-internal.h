/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The few request bodies of ops.c that need no fuse_req_t, for the in-process walker and fuzz
 * harness (tests/fuzz/fuzz-ext4-walk.c): they then go through the same lookup, stat and
 * opendir logic as the FUSE handlers. Each takes svc_fs.lock itself; node ids as in ops.c
 * (FUSE_ROOT_ID is the root directory).
 */
#ifndef FUSE4FS_SVC_OPS_INTERNAL_H
#define FUSE4FS_SVC_OPS_INTERNAL_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 314
#endif
#include <fuse_lowlevel.h>

#include "ext4.h"

int do_lookup(struct svc_fs *sfs, fuse_ino_t parent, const char *name,
	      struct fuse_entry_param *ret);
int do_getattr(struct svc_fs *sfs, fuse_ino_t node, struct stat *ret);
int do_opendir(struct svc_fs *sfs, fuse_ino_t node);

#endif
