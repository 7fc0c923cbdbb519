/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * /etc/fuse4fs/fuservicemount.conf: the administrator's policy (fuservicemount.conf(5)).
 *
 * The file widens or narrows what ordinary users may mount, so whoever can write it owns the
 * policy: it must be a regular file owned by root, not writable by group or others, in a
 * directory with the same properties. It is parsed strictly: an unknown key, a repeated key,
 * a malformed line or a value out of range is a refusal to mount, never "use the default",
 * because a typo in a restriction must not silently lift it. Only a missing file means the
 * built-in defaults (which are what the file documents).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helper.h"

#define CONFIG_SIZE_MAX 16384

void helper_config_defaults(struct helper_config *ret)
{
	*ret = (struct helper_config){
		.mount_max = HELPER_USER_MOUNTS_MAX,
		.socket_devices = true,
		.seat_devices = true,
		.direct_fallback = false,
		.contained_fallback = false,
		.contained_uid_min = HELPER_CONTAINED_UID_MIN,
		.contained_uid_max = HELPER_CONTAINED_UID_MAX,
	};
}

static int parse_bool(const char *v, bool *ret)
{
	/* Two spellings only: "1", "on", "true" and friends invite "ture". */
	if (strcmp(v, "yes") == 0)
		*ret = true;
	else if (strcmp(v, "no") == 0)
		*ret = false;
	else
		return -EINVAL;
	return 0;
}

static int parse_count(const char *v, unsigned min, unsigned max, unsigned *ret)
{
	unsigned long n = 0;

	/* Plain decimal, no sign, no leading zero, no overflow (strtoul takes " -1"). */
	if (!*v || (v[0] == '0' && v[1]) || strlen(v) > 6)
		return -EINVAL;
	for (const char *c = v; *c; c++) {
		if (*c < '0' || *c > '9')
			return -EINVAL;
		n = n * 10 + (unsigned long)(*c - '0');
	}
	if (n < min || n > max)
		return -ERANGE;
	*ret = (unsigned)n;
	return 0;
}

/* "MIN-MAX", plain decimal uids. The range is where contained servers get their uids from, so
 * it must not reach root, nobody (65534), the 16-bit -1 (65535) or the 32-bit -1, and it is
 * bounded (65536 uids) so that a typo cannot hand out half of the uid space. */
static int parse_uid_range(const char *v, uid_t *ret_min, uid_t *ret_max)
{
	unsigned long long n[2] = { 0, 0 };
	const char *c = v;

	for (int i = 0; i < 2; i++) {
		const char *start = c;

		if ((c[0] == '0' && c[1] >= '0' && c[1] <= '9') || !(*c >= '0' && *c <= '9'))
			return -EINVAL;
		for (; *c >= '0' && *c <= '9'; c++) {
			if (c - start >= 10)
				return -EINVAL;
			n[i] = n[i] * 10 + (unsigned long long)(*c - '0');
		}
		if (i == 0 && *c++ != '-')
			return -EINVAL;
	}
	if (*c)
		return -EINVAL;
	if (n[0] == 0 || n[0] > n[1] || n[1] >= 0xffffffffULL || n[1] - n[0] > 0xffff)
		return -ERANGE;
	if ((n[0] <= 65534 && n[1] >= 65534) || (n[0] <= 65535 && n[1] >= 65535))
		return -ERANGE;
	*ret_min = (uid_t)n[0];
	*ret_max = (uid_t)n[1];
	return 0;
}

static char *strip(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

int helper_config_parse(char *text, struct helper_config *ret, unsigned *ret_line,
			const char **ret_why)
{
	struct helper_config c;
	unsigned seen = 0, lineno = 0;
	char *line, *next;

	helper_config_defaults(&c);
	for (line = text; line; line = next) {
		static const char *const keys[] = { "mount_max",       "socket_devices",
						    "seat_devices",    "direct_fallback",
						    "contained_fallback", "contained_uids" };
		char *eq, *key, *value;
		unsigned k;
		int r = 0;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		*ret_line = lineno;

		for (const unsigned char *u = (const unsigned char *)line; *u; u++)
			if ((*u < 0x20 && *u != '\t') || *u >= 0x7f) {
				*ret_why = "control or non-ASCII character";
				return -EINVAL;
			}
		line = strip(line);
		if (!*line || *line == '#')
			continue;
		eq = strchr(line, '=');
		if (!eq) {
			*ret_why = "expected 'key = value'";
			return -EINVAL;
		}
		*eq = '\0';
		key = strip(line);
		value = strip(eq + 1);

		for (k = 0; k < ELEMENTSOF(keys); k++)
			if (strcmp(key, keys[k]) == 0)
				break;
		if (k == ELEMENTSOF(keys)) {
			*ret_why = "unknown key";
			return -EINVAL;
		}
		/* A second line for a key is a merge mistake; which one wins would be a guess. */
		if (seen & (1u << k)) {
			*ret_why = "key given twice";
			return -EINVAL;
		}
		seen |= 1u << k;

		switch (k) {
		case 0:
			r = parse_count(value, 0, 4096, &c.mount_max);
			break;
		case 1:
			r = parse_bool(value, &c.socket_devices);
			break;
		case 2:
			r = parse_bool(value, &c.seat_devices);
			break;
		case 3:
			r = parse_bool(value, &c.direct_fallback);
			break;
		case 4:
			r = parse_bool(value, &c.contained_fallback);
			break;
		case 5:
			r = parse_uid_range(value, &c.contained_uid_min, &c.contained_uid_max);
			break;
		}
		if (r < 0) {
			*ret_why = k == 0   ? "mount_max must be a number from 0 to 4096"
				   : k == 5 ? "contained_uids must be 'MIN-MAX', at most 65536 uids, "
					      "not including 0, 65534, 65535 or 4294967295"
					    : "value must be 'yes' or 'no'";
			return -EINVAL;
		}
	}
	*ret = c;
	return 0;
}

/* Root-owned, not writable by group or others: only root decides the policy. */
static int check_owner(const struct stat *st, const char *what, const char *path)
{
	if (st->st_uid != 0 || (st->st_mode & (S_IWGRP | S_IWOTH)))
		return log_error_errno(-EPERM, "%s '%s' must be owned by root and not writable by "
					       "group or others; refusing to use it",
				       what, path);
	return 0;
}

int helper_config_load(const char *dir, const char *path, struct helper_config *ret)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int fd = -1;
	const char *why = NULL;
	struct stat st;
	size_t len = 0;
	unsigned line = 0;
	int r;

	/* Read as root: the file may be 0600. O_NOFOLLOW: an admin's symlink is fine in
	 * principle, but then the ownership we check would be the link's target's only;
	 * refusing is simpler and documented. O_NONBLOCK: a FIFO must not block us. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT) {
			helper_config_defaults(ret);
			return 0;
		}
		return log_error_errno(-errno, "cannot read the configuration '%s': %m; refusing "
					       "to mount until it is fixed", path);
	}
	if (fstat(fd, &st) < 0)
		return log_error_errno(-errno, "cannot stat '%s': %m", path);
	if (!S_ISREG(st.st_mode))
		return log_error_errno(-EINVAL, "configuration '%s' is not a regular file", path);
	r = check_owner(&st, "configuration", path);
	if (r < 0)
		return r;
	/* The directory too: whoever can write it can replace the file. */
	if (lstat(dir, &st) < 0)
		return log_error_errno(-errno, "cannot stat '%s': %m", dir);
	if (!S_ISDIR(st.st_mode))
		return log_error_errno(-EINVAL, "'%s' is not a directory", dir);
	r = check_owner(&st, "directory", dir);
	if (r < 0)
		return r;

	buf = malloc(CONFIG_SIZE_MAX + 1);
	if (!buf)
		return log_error_errno(-ENOMEM, "out of memory");
	for (;;) {
		ssize_t n = read(fd, buf + len, CONFIG_SIZE_MAX + 1 - len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return log_error_errno(-errno, "cannot read '%s': %m", path);
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > CONFIG_SIZE_MAX)
			return log_error_errno(-EFBIG, "configuration '%s' is larger than %d bytes",
					       path, CONFIG_SIZE_MAX);
	}
	if (memchr(buf, '\0', len))
		return log_error_errno(-EINVAL, "configuration '%s' contains a NUL byte", path);
	buf[len] = '\0';

	r = helper_config_parse(buf, ret, &line, &why);
	if (r < 0)
		return log_error_errno(r, "configuration '%s', line %u: %s; refusing to mount "
					  "until it is fixed (see fuservicemount.conf(5))",
				       path, line, why);
	return 0;
}
