/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The -o allowlist. Nothing the user writes after -o reaches the kernel as text: we map each
 * known word to a flag and later generate every fsconfig()/fsmount() argument ourselves. So
 * an option the kernel would understand but we do not list (user_id=0, fd=, rootmode=,
 * blksize=, a second source, ...) is refused, by name.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>

#include "helper.h"

enum opt_rule {
	OPT_ANYONE,
	OPT_ROOT_ONLY,
	OPT_UNSUPPORTED,
};

struct opt_def {
	const char *name;
	enum opt_rule rule;
	size_t offset; /* of the bool in struct helper_options */
};

#define OPT(n, r) { #n, r, offsetof(struct helper_options, n) }

/* Order here is the order of the normalised OPTIONS string. */
static const struct opt_def opt_defs[] = {
	OPT(ro, OPT_ANYONE),
	/* Read-write needs write access to DEVICE as the caller (helper_device_open). */
	OPT(rw, OPT_ANYONE),
	OPT(nosuid, OPT_ANYONE),
	OPT(nodev, OPT_ANYONE),
	OPT(noexec, OPT_ANYONE),
	OPT(noatime, OPT_ANYONE),
	OPT(nodiratime, OPT_ANYONE),
	OPT(relatime, OPT_ANYONE),
	OPT(strictatime, OPT_ANYONE),
	/* Checked later against /etc/fuse.conf: see helper_fuse_conf_user_allow_other(). */
	OPT(allow_other, OPT_ANYONE),
	/* A user-made image with a setuid-root binary or a device node must never become
	 * effective (CVE-2025-6019-style escalation): only root may ask for these. */
	OPT(suid, OPT_ROOT_ONLY),
	OPT(dev, OPT_ROOT_ONLY),
};

static bool *opt_field(struct helper_options *o, const struct opt_def *d)
{
	return (bool *)((char *)o + d->offset);
}

int helper_options_append(char *acc, size_t size, const char *more)
{
	size_t a = strlen(acc), m = strlen(more);
	size_t need = a + (a > 0 ? 1 : 0) + m;

	if (need > HELPER_OPTIONS_MAX || need + 1 > size)
		return log_error_errno(-EINVAL, "options too long (at most %d bytes in all)",
				       HELPER_OPTIONS_MAX);
	if (a > 0)
		acc[a++] = ',';
	memcpy(acc + a, more, m + 1);
	return 0;
}

int helper_options_parse(const char *s, bool is_root, struct helper_options *ret)
{
	struct helper_options o = {};
	char buf[HELPER_OPTIONS_MAX + 1];
	size_t len = strlen(s);
	char *item, *save = NULL;

	/* A bound on the whole string: the kernel has truncated long option values before
	 * (group_id=1000 read as 1), and nothing legitimate is long. */
	if (len > HELPER_OPTIONS_MAX)
		return log_error_errno(-EINVAL, "options too long (at most %d bytes in all)",
				       HELPER_OPTIONS_MAX);

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		/* libfuse once let "\," hide an allow_other inside another option
		 * (CVE-2018-10906). We have no option that takes a value, so no escaping at
		 * all is accepted, nor any character that could mean something to a parser. */
		if (c == '\\')
			return log_error_errno(-EINVAL, "invalid options: escaped characters are "
							"not accepted");
		if (c < 0x21 || c >= 0x7f)
			return log_error_errno(-EINVAL, "invalid options: control, space or "
							"non-ASCII character at offset %zu", i);
	}

	/* Empty items (",,", a leading or trailing comma, or -o '') are refused instead of
	 * skipped: they are what a quoting mistake or an injection attempt looks like. */
	if (len == 0 || s[0] == ',' || s[len - 1] == ',' || strstr(s, ",,"))
		return log_error_errno(-EINVAL, "invalid options '%s': empty option", s);

	memcpy(buf, s, len + 1);
	for (item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		const struct opt_def *d = NULL;

		for (size_t i = 0; i < ELEMENTSOF(opt_defs); i++)
			if (strcmp(item, opt_defs[i].name) == 0) {
				d = &opt_defs[i];
				break;
			}
		if (!d)
			return log_error_errno(-EINVAL, "unknown or unsupported option '%s'; "
							"allowed: ro, rw, nosuid, nodev, noexec, "
							"noatime, nodiratime, relatime, strictatime, "
							"allow_other (and for root: suid, dev)", item);
		if (d->rule == OPT_UNSUPPORTED)
			return log_error_errno(-EOPNOTSUPP, "option '%s' is not supported", item);
		if (d->rule == OPT_ROOT_ONLY && !is_root)
			return log_error_errno(-EPERM, "option '%s' is only allowed to root; "
						       "user mounts are always nosuid,nodev", item);
		*opt_field(&o, d) = true;
	}

	/* Contradictions are refused rather than resolved by order: the user should get what
	 * they read on their command line. */
	if (o.suid && o.nosuid)
		return log_error_errno(-EINVAL, "options 'suid' and 'nosuid' contradict each other");
	if (o.dev && o.nodev)
		return log_error_errno(-EINVAL, "options 'dev' and 'nodev' contradict each other");
	if (o.ro && o.rw)
		return log_error_errno(-EINVAL, "options 'ro' and 'rw' contradict each other");
	if ((o.noatime ? 1 : 0) + (o.relatime ? 1 : 0) + (o.strictatime ? 1 : 0) > 1)
		return log_error_errno(-EINVAL, "options 'noatime', 'relatime' and 'strictatime' "
						"contradict each other");

	/* Normalised list, in table order, each once: this is what we tell the server. */
	o.accepted[0] = '\0';
	for (size_t i = 0; i < ELEMENTSOF(opt_defs); i++) {
		if (opt_defs[i].rule == OPT_UNSUPPORTED || !*opt_field(&o, &opt_defs[i]))
			continue;
		/* Cannot overflow: every name appears at most once and all of them together
		 * are far below HELPER_OPTIONS_MAX. */
		if (o.accepted[0])
			strcat(o.accepted, ",");
		strcat(o.accepted, opt_defs[i].name);
	}

	*ret = o;
	return 0;
}

int helper_fuse_conf_user_allow_other(const char *path, bool *ret_allowed)
{
	_cleanup_close_ int fd = -1;
	char buf[16384];
	size_t len = 0;
	bool allowed = false;
	char *line, *save = NULL;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT) {
			*ret_allowed = false;
			return 0;
		}
		/* Exists but unreadable: fail closed, the admin's intent is unknown. */
		return log_error_errno(-errno, "cannot read '%s': %m", path);
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return log_error_errno(-errno, "cannot read '%s': %m", path);
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == sizeof(buf) - 1)
			/* A real fuse.conf is a few lines; refusing beats a partial reading. */
			return log_error_errno(-EFBIG, "'%s' is too large to be a fuse.conf", path);
	}
	buf[len] = '\0';

	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *e;

		while (*line == ' ' || *line == '\t')
			line++;
		if (*line == '#')
			continue;
		e = line + strlen(line);
		while (e > line && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			*--e = '\0';
		if (strcmp(line, "user_allow_other") == 0)
			allowed = true;
	}
	*ret_allowed = allowed;
	return 0;
}

unsigned helper_options_mount_attrs(const struct helper_options *o, bool is_root)
{
	/* Applied in fsmount() itself, so the mount never exists without them, not even for
	 * a moment before a remount (CVE-2026-53614). */
	unsigned attrs = o->ro ? MOUNT_ATTR_RDONLY : 0;

	if (!(is_root && o->suid))
		attrs |= MOUNT_ATTR_NOSUID;
	if (!(is_root && o->dev))
		attrs |= MOUNT_ATTR_NODEV;
	if (o->noexec)
		attrs |= MOUNT_ATTR_NOEXEC;
	if (o->noatime)
		attrs |= MOUNT_ATTR_NOATIME;
	else if (o->strictatime)
		attrs |= MOUNT_ATTR_STRICTATIME;
	else if (o->relatime)
		attrs |= MOUNT_ATTR_RELATIME;
	if (o->nodiratime)
		attrs |= MOUNT_ATTR_NODIRATIME;
	return attrs;
}
