/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Who may mount which device when they cannot open it themselves (fuservicemount.conf(5)).
 *
 * Debian gives ordinary users no access to block devices (no uaccess rule for disks), so
 * "the caller can open it" alone would mean only root mounts USB sticks. Like udisks, we
 * also let a user mount
 *   - a block device the administrator opted in by starting its per-device socket
 *     (fuse4fs@dev-sdb1.socket): only root can create a root-owned socket in the socket
 *     directory, so its existence is the admin's statement (socket_devices = yes);
 *   - a removable or USB block device while the user sits at an active local session on the
 *     device's seat, as logind sees it (seat_devices = yes).
 * Everything else that the caller cannot open (a system disk, another user's image) needs
 * root. These grants are read-only. The device is pinned as the caller (O_PATH: their search permission on the way, no
 * symlinks) and reopened as root through that pin, so the node we judged is the node we open.
 *
 * Faked sessions (CVE-2025-6018: pam_env let an ssh login claim XDG_SEAT/XDG_VTNR and look
 * "active at seat0" to polkit): we ask logind only, and require the session to be of class
 * "user", not remote, without a remote host, on the device's seat, and to be the seat's
 * active session right now.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <systemd/sd-login.h>
#include <unistd.h>

#include "config.h"
#include "helper.h"

enum helper_grant helper_policy_decide(const struct helper_config *c,
				       const struct helper_device_facts *f)
{
	/* Only block devices: a regular file the caller cannot read is someone else's image,
	 * and no admin setting hands those out. */
	if (!f->is_block)
		return HELPER_GRANT_NONE;
	if (c->socket_devices && f->socket_opt_in)
		return HELPER_GRANT_SOCKET;
	if (c->seat_devices && f->removable && f->at_active_seat)
		return HELPER_GRANT_SEAT;
	return HELPER_GRANT_NONE;
}

/* First line of a small sysfs attribute. */
static int read_attr(const char *path, char *buf, size_t size)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* Removable media (the disk's "removable" attribute, as for card readers and most sticks) or
 * a disk on USB/FireWire (many USB disks report removable=0), from sysfs, which only the
 * kernel writes. For a partition the attribute is on its parent disk. */
static bool device_is_removable(dev_t rdev)
{
	char link[64], path[PATH_MAX], attr[PATH_MAX + 32], val[16];
	struct stat st;

	snprintf(link, sizeof(link), "/sys/dev/block/%u:%u", major(rdev), minor(rdev));
	if (!realpath(link, path))
		return false;
	if (strstr(path, "/usb") || strstr(path, "/firewire/") || strstr(path, "/ieee1394"))
		return true;
	snprintf(attr, sizeof(attr), "%s/partition", path);
	if (stat(attr, &st) == 0) {
		char *slash = strrchr(path, '/');

		if (!slash || slash == path)
			return false;
		*slash = '\0';
	}
	snprintf(attr, sizeof(attr), "%s/removable", path);
	return read_attr(attr, val, sizeof(val)) == 0 && strcmp(val, "1") == 0;
}

/* The seat udev assigned (ID_SEAT in udev's database, written by root's udevd); seat0 when
 * unset, as logind does. */
static void device_seat(dev_t rdev, char *ret, size_t size)
{
	_cleanup_(helper_fclosep) FILE *f = NULL;
	char path[64], line[512];

	snprintf(ret, size, "seat0");
	snprintf(path, sizeof(path), "/run/udev/data/b%u:%u", major(rdev), minor(rdev));
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "E:ID_SEAT=", 10) == 0 && line[10] &&
		    strlen(line + 10) < size && !strpbrk(line + 10, "/ "))
			snprintf(ret, size, "%s", line + 10);
	}
}

static bool session_qualifies(const char *session, uid_t uid, const char *seat)
{
	_cleanup_free_ char *s_seat = NULL, *class = NULL, *rhost = NULL, *active = NULL;
	uid_t s_uid, a_uid;

	if (sd_session_get_uid(session, &s_uid) < 0 || s_uid != uid)
		return false;
	if (sd_session_is_active(session) <= 0)
		return false;
	if (sd_session_is_remote(session) != 0)
		return false;
	if (sd_session_get_remote_host(session, &rhost) >= 0 && rhost && rhost[0])
		return false;
	if (sd_session_get_class(session, &class) < 0 || strcmp(class, "user") != 0)
		return false;
	if (sd_session_get_seat(session, &s_seat) < 0 || strcmp(s_seat, seat) != 0)
		return false;
	/* The seat's foreground session right now, not merely one that was once active. */
	if (sd_seat_get_active(seat, &active, &a_uid) < 0 || strcmp(active, session) != 0 ||
	    a_uid != uid)
		return false;
	return true;
}

static bool uid_at_active_seat(uid_t uid, const char *seat)
{
	char **sessions = NULL;
	bool ok = false;
	int n;

	n = sd_uid_get_sessions(uid, 1, &sessions);
	for (int i = 0; n > 0 && sessions && sessions[i]; i++)
		if (!ok && session_qualifies(sessions[i], uid, seat))
			ok = true;
	for (int i = 0; n > 0 && sessions && sessions[i]; i++)
		free(sessions[i]);
	free(sessions);
	return ok;
}

/* The admin's opt-in: a root-owned socket fuse4fs@<escaped path>.socket in the socket
 * directory, which is itself root-owned and not writable by others. */
static bool socket_opted_in(const char *path)
{
	char instance[256], sock[512];
	struct stat st;

	/* Device nodes live in /dev; a unit name for anything else is not a device opt-in. */
	if (strncmp(path, "/dev/", 5) != 0)
		return false;
	if (helper_systemd_escape_path(path, instance, sizeof(instance)) < 0)
		return false;
	if (lstat(FUSE4FS_SOCKET_DIR, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)))
		return false;
	if ((size_t)snprintf(sock, sizeof(sock), "%s/%s.sock", FUSE4FS_SOCKET_DIR, instance) >=
	    sizeof(sock))
		return false;
	return lstat(sock, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_uid == 0;
}

int helper_device_open_by_policy(const struct helper_privs *p, const struct helper_config *c,
				 const char *path, int flags, int *ret_fd, const char **ret_why)
{
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC,
		.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	_cleanup_close_ int pin = -1, fd = -1;
	struct helper_device_facts facts = {};
	struct stat st, st2;
	char seat[64], proc[64];
	int r;

	*ret_why = NULL;

	/* Pin the node as the caller: the path walk is theirs (no peeking into directories
	 * they cannot search), and no symlink may appear after realpath(). */
	r = helper_become_user(p);
	if (r < 0)
		return r;
	pin = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
	r = pin < 0 ? -errno : 0;
	if (helper_become_root(p) < 0)
		return -EPERM;
	if (r < 0)
		return r;
	if (fstat(pin, &st) < 0)
		return -errno;

	facts.is_block = S_ISBLK(st.st_mode);
	if (facts.is_block) {
		facts.socket_opt_in = socket_opted_in(path);
		facts.removable = device_is_removable(st.st_rdev);
		if (facts.removable) {
			device_seat(st.st_rdev, seat, sizeof(seat));
			facts.at_active_seat = uid_at_active_seat(p->uid, seat);
		}
	}
	if (helper_policy_decide(c, &facts) == HELPER_GRANT_NONE) {
		/* Not logged here: the caller may still fall back (read-only), and reports
		 * the refusal with this reason if nothing works. */
		static char why[256];

		/* An image: nothing here applies, the caller's own access is the message. */
		if (!facts.is_block)
			return -EACCES;
		if (facts.removable)
			snprintf(why, sizeof(why), "a removable device is yours to mount only from "
				 "the active local session at its seat (%s), or when the "
				 "administrator opts it in with 'systemctl start "
				 "fuse4fs@<device>.socket'", seat);
		else
			snprintf(why, sizeof(why), "it is a system device; only root may mount it, "
				 "unless the administrator opts it in with 'systemctl start "
				 "fuse4fs@<device>.socket' (see fuservicemount(8))");
		*ret_why = why;
		return -EACCES;
	}

	/* Read-only grants: the admin opted a device in (or the user sits at its seat) for
	 * reading what is on it; write access to a disk the user cannot open is a bigger
	 * step than any setting here expresses. The caller's default then falls back to a
	 * read-only mount; an explicit rw is refused with this reason. */
	if ((flags & O_ACCMODE) != O_RDONLY) {
		*ret_why = "the policy grants this device to you read-only; mount it with -o ro";
		return -EACCES;
	}

	/* Reopen the very inode we judged, as root, through our own pin. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pin);
	/* Errors (EROFS, EBUSY for O_EXCL) are the caller's to report or fall back from. */
	fd = open(proc, flags | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st2) < 0)
		return -errno;
	if (!S_ISBLK(st2.st_mode) || st2.st_rdev != st.st_rdev)
		return log_error_errno(-ESTALE, "device '%s' changed while it was being opened",
				       path);
	*ret_fd = TAKE_FD(fd);
	return 0;
}
