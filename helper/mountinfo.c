/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * /proc/self/mountinfo parsing, for the unmount policy (whose mount is it?), the mount limit
 * and the mountpoint policy (which file system type is it, really?).
 *
 * Mountpoint paths in there are chosen by users (any directory they can write), so the
 * parser must not be confused by spaces, newlines or backslashes in them: the kernel escapes
 * space, tab, newline and backslash as \ooo octal, and we unescape exactly that. Anything that
 * does not look like the documented format is an error, never a guess (proc(5)):
 *
 *   36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
 *   (1)(2)(3)   (4)   (5)      (6)       (7)   (8) (9)   (10)         (11)
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "helper.h"

/* Next space-separated field; NULL at the end of the line. Fields never contain a raw space
 * (the kernel escapes it) and are separated by exactly one. */
static char *next_field(char **cursor)
{
	char *s = *cursor, *e;

	if (!s || !*s)
		return NULL;
	e = strchr(s, ' ');
	if (e) {
		*e = '\0';
		*cursor = e + 1;
	} else {
		*cursor = s + strlen(s);
	}
	return s;
}

/* In place: \ooo (three octal digits) -> the byte. A stray backslash, a short or out of
 * range escape, or an escape producing NUL is malformed. */
static int unescape_octal(char *s)
{
	char *o = s;

	for (char *i = s; *i; i++) {
		if (*i != '\\') {
			*o++ = *i;
			continue;
		}
		if (i[1] < '0' || i[1] > '3' || i[2] < '0' || i[2] > '7' || i[3] < '0' || i[3] > '7')
			return -EINVAL;
		int v = (i[1] - '0') * 64 + (i[2] - '0') * 8 + (i[3] - '0');
		if (v == 0)
			return -EINVAL;
		*o++ = (char)v;
		i += 3;
	}
	*o = '\0';
	return 0;
}

static int parse_int(const char *s, int *ret)
{
	char *e;
	long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtol(s, &e, 10);
	if (errno || *e || v < 0 || v > INT_MAX)
		return -EINVAL;
	*ret = (int)v;
	return 0;
}

static int parse_devnum(const char *s, unsigned *ret_major, unsigned *ret_minor)
{
	char buf[32], *colon;
	int ma, mi;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	colon = strchr(buf, ':');
	if (!colon)
		return -EINVAL;
	*colon = '\0';
	if (parse_int(buf, &ma) < 0 || parse_int(colon + 1, &mi) < 0)
		return -EINVAL;
	*ret_major = (unsigned)ma;
	*ret_minor = (unsigned)mi;
	return 0;
}

int helper_mountinfo_parse_line(char *line, struct helper_mountinfo_entry *ret)
{
	struct helper_mountinfo_entry e = {};
	char *cur = line, *f, *fields[6];
	size_t len = strlen(line);

	if (len > 0 && line[len - 1] == '\n')
		line[len - 1] = '\0';

	if (parse_int(next_field(&cur), &e.mount_id) < 0 ||
	    parse_int(next_field(&cur), &e.parent_id) < 0)
		return -EINVAL;
	f = next_field(&cur);
	if (!f || parse_devnum(f, &e.major, &e.minor) < 0)
		return -EINVAL;
	for (int i = 0; i < 3; i++) {
		fields[i] = next_field(&cur);
		if (!fields[i] || !*fields[i])
			return -EINVAL;
	}
	/* Optional fields (shared:N, master:N, ...) until a lone "-". */
	for (;;) {
		f = next_field(&cur);
		if (!f)
			return -EINVAL;
		if (strcmp(f, "-") == 0)
			break;
		if (!*f)
			return -EINVAL;
	}
	for (int i = 3; i < 6; i++) {
		fields[i] = next_field(&cur);
		if (!fields[i])
			return -EINVAL;
	}
	/* Exactly eleven-ish fields: trailing data means we misread the line. */
	if (*cur)
		return -EINVAL;
	if (!*fields[3] || !*fields[5])
		return -EINVAL; /* fstype and super options are never empty; source may be */

	for (int i = 0; i < 6; i++)
		if (unescape_octal(fields[i]) < 0)
			return -EINVAL;

	e.root = fields[0];
	e.mountpoint = fields[1];
	e.mount_options = fields[2];
	e.fstype = fields[3];
	e.source = fields[4];
	e.super_options = fields[5];
	*ret = e;
	return 0;
}

int helper_super_options_user_id(const char *opts, uid_t *ret)
{
	const char *p = opts;
	bool found = false;
	uid_t uid = 0;

	while (*p) {
		const char *end = strchrnul(p, ',');
		size_t n = (size_t)(end - p);

		if (n > 8 && strncmp(p, "user_id=", 8) == 0) {
			char buf[16];
			char *e;
			unsigned long v;

			/* The value is the kernel's "%u"; anything else is not from it. */
			if (found || n - 8 >= sizeof(buf))
				return -EINVAL;
			memcpy(buf, p + 8, n - 8);
			buf[n - 8] = '\0';
			if (buf[0] < '0' || buf[0] > '9' || (buf[0] == '0' && buf[1]))
				return -EINVAL;
			errno = 0;
			v = strtoul(buf, &e, 10);
			if (errno || *e || v > UINT32_MAX)
				return -EINVAL;
			uid = (uid_t)v;
			found = true;
		} else if (n == 8 && strncmp(p, "user_id=", 8) == 0) {
			return -EINVAL;
		}
		p = *end ? end + 1 : end;
	}
	if (!found)
		return -ENOENT;
	*ret = uid;
	return 0;
}

int helper_mount_id_at(int dirfd, const char *name, int *ret_id)
{
	struct {
		struct file_handle fh;
		unsigned char bytes[MAX_HANDLE_SZ];
	} h = { .fh.handle_bytes = MAX_HANDLE_SZ };
	struct statx stx;
	int id;

	/* name_to_handle_at() reports the mount id without calling the filesystem's getattr:
	 * a FUSE mount without allow_other refuses getattr (EACCES) to any process whose
	 * uid/euid/suid are not all the owner's, which is always true of us (euid 0), and a
	 * hung server would block it. Flags 0: do not follow a final symlink. */
	if (name_to_handle_at(dirfd, name, &h.fh, &id, name[0] ? 0 : AT_EMPTY_PATH) == 0) {
		if (id < 0)
			return -ERANGE;
		*ret_id = id;
		return 0;
	}
	/* EOVERFLOW: the filesystem declined to encode this one (FILEID_INVALID). */
	if (errno != EOPNOTSUPP && errno != EOVERFLOW)
		return -errno;

	/* A filesystem that cannot encode handles (overlayfs without nfs_export, procfs,
	 * sysfs): ask the VFS through statx(). Root may getattr on those; FUSE, the one that
	 * refuses us, encodes handles. */
	if (statx(dirfd, name,
		  AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC | (name[0] ? 0 : AT_EMPTY_PATH),
		  STATX_MNT_ID, &stx) < 0)
		return -errno;
	if (!(stx.stx_mask & STATX_MNT_ID))
		return -EOPNOTSUPP;
	if (stx.stx_mnt_id > INT_MAX)
		return -ERANGE;
	*ret_id = (int)stx.stx_mnt_id;
	return 0;
}

int helper_mountinfo_find(FILE *f, int mount_id, struct helper_mount_owner *ret)
{
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;

	for (;;) {
		struct helper_mountinfo_entry e;
		struct helper_mount_owner o = {};
		ssize_t n;
		uid_t uid;
		int r;

		errno = 0;
		n = getline(&line, &cap, f);
		if (n < 0)
			return errno ? -errno : -ENOENT;
		if ((size_t)n != strlen(line))
			return -EINVAL; /* embedded NUL: not the kernel's text */
		if (helper_mountinfo_parse_line(line, &e) < 0)
			return -EINVAL; /* the kernel's file does not fail to parse; if it does,
					 * refuse rather than skip a line that might be ours */
		if (e.mount_id != mount_id)
			continue;

		if (strlen(e.fstype) >= sizeof(o.fstype) ||
		    strlen(e.mountpoint) >= sizeof(o.mountpoint))
			return -ENAMETOOLONG;
		o.parent_id = e.parent_id;
		strcpy(o.fstype, e.fstype);
		strcpy(o.mountpoint, e.mountpoint);
		r = helper_super_options_user_id(e.super_options, &uid);
		if (r == 0) {
			o.has_user_id = true;
			o.user_id = uid;
		} else if (r != -ENOENT) {
			return r;
		}
		*ret = o;
		return 0;
	}
}

int helper_mountinfo_count_user(FILE *f, const char *fstype, uid_t uid, unsigned *ret_count)
{
	_cleanup_free_ char *line = NULL;
	unsigned count = 0;
	size_t cap = 0;

	for (;;) {
		struct helper_mountinfo_entry e;
		ssize_t n;
		uid_t owner;

		errno = 0;
		n = getline(&line, &cap, f);
		if (n < 0) {
			if (errno)
				return -errno;
			break;
		}
		/* Same strictness as helper_mountinfo_find(): a line we cannot read might be
		 * one of the caller's mounts, and undercounting is how a limit is bypassed. */
		if ((size_t)n != strlen(line) || helper_mountinfo_parse_line(line, &e) < 0)
			return -EINVAL;
		if (strcmp(e.fstype, fstype) != 0)
			continue;
		if (helper_super_options_user_id(e.super_options, &owner) < 0 || owner != uid)
			continue;
		count++;
	}
	*ret_count = count;
	return 0;
}

/* Up to this many mounts stacked on one path are looked at; more is refused, not guessed. */
#define STACK_MAX 64

int helper_mountinfo_stack_is_user(FILE *f, int id, int base_id, const char *path,
				   const char *fstype, uid_t uid)
{
	struct helper_mount_owner m;
	int r, own = 1;

	for (int n = 0; id != base_id; n++) {
		if (n >= STACK_MAX)
			return -ELOOP;
		rewind(f);
		r = helper_mountinfo_find(f, id, &m);
		if (r < 0)
			return r == -ENOENT ? -ESTALE : r;
		/* A mount elsewhere in the chain means the name did not lead from the parent
		 * directory straight down this stack: the tree changed under us. */
		if (strcmp(m.mountpoint, path) != 0)
			return -ESTALE;
		if (strcmp(m.fstype, fstype) != 0 || !m.has_user_id || m.user_id != uid)
			own = 0;
		id = m.parent_id;
	}
	return own;
}
