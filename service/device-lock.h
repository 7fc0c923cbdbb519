/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One server writing an image at a time (device-lock.c says why). */
#ifndef FUSE4FS_SVC_DEVICE_LOCK_H
#define FUSE4FS_SVC_DEVICE_LOCK_H

#include <stdbool.h>
#include <stddef.h>

/* How long a mount waits for the server of a previous mount of the same device to finish. */
#define SVC_DEVICE_LOCK_WAIT_MS 10000

/*
 * Lock the open device (an image file or a block device) for as long as fd stays open:
 * exclusively for a read-write mount, shared for a read-only one. Waits up to
 * SVC_DEVICE_LOCK_WAIT_MS for another fuse4fs server to let go. Returns 0, or -EBUSY with one
 * sentence for the user in why[] (name: the device as the user named it; NULL: "the device").
 */
int svc_device_lock(int fd, bool rw, const char *name, char *why, size_t why_size);

#endif
