// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * One server writing an image at a time.
 *
 * Two servers on one image corrupt it. libext2fs writes back only the bytes of the superblock
 * it changed, so two servers' write-backs interleave into a superblock whose checksum matches
 * neither (seen here: `umount DIR; fuse4fs IMG DIR` run back to back, the first server still
 * writing back as the second opened the image: "The superblock checksum of 'IMG' is wrong").
 * The kernel's ext4 is safe there because its unmount returns once everything is written; a
 * FUSE unmount returns at once, and the server writes back after it.
 *
 * So the server holds a lock on the open device for as long as it uses it: exclusive for a
 * read-write mount, shared for a read-only one, so any number of read-only mounts, or one
 * read-write mount alone. flock() locks belong to the open file: the copies of the fd that
 * fuservicemount or the direct-mode monitor keep share it, and the kernel drops it when the last
 * of them closes, also when the server is killed. A mount that finds the lock taken waits a
 * while for the previous server to finish, then gives up and says why. (A block device opened
 * read-write is also O_EXCL in fuservicemount, which keeps other programs off it as well; the
 * lock only orders fuse4fs servers among themselves.)
 */
#include <errno.h>
#include <stdio.h>
#include <sys/file.h>
#include <time.h>

#include "device-lock.h"
#include "log.h"

#define POLL_MS 20

int svc_device_lock(int fd, bool rw, const char *name, char *why, size_t why_size)
{
	const struct timespec pause = {.tv_nsec = POLL_MS * 1000000L};
	int op = (rw ? LOCK_EX : LOCK_SH) | LOCK_NB;

	if (!name)
		name = "the device";
	for (unsigned int waited = 0;; waited += POLL_MS) {
		if (flock(fd, op) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK) {
			/* A file system without locks (ENOLCK) keeps working as it did without. */
			log_warning_errno(-errno,
					  "Could not lock '%s' (%m); it is not protected "
					  "against a second mount",
					  name);
			return 0;
		}
		if (waited == 0)
			log_info("'%s' is in use by another fuse4fs server; waiting up to %u s for "
				 "it to finish",
				 name, SVC_DEVICE_LOCK_WAIT_MS / 1000);
		if (waited >= SVC_DEVICE_LOCK_WAIT_MS) {
			snprintf(why, why_size,
				 "'%s' is in use by another fuse4fs mount (or by the server of one "
				 "that was just unmounted, still writing it back); unmount it, or "
				 "try again when it has finished",
				 name);
			return -EBUSY;
		}
		nanosleep(&pause, NULL);
	}
}
