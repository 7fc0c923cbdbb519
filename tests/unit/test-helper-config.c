/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * helper/config.c (fuservicemount.conf(5), parsed strictly, ownership checked) and the pure
 * device decision of helper/policy.c. A configuration mistake must refuse, never fall back to
 * a default that may be more permissive than what the admin wrote.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helper.h"
#include "tap.h"

static int parse(const char *text, struct helper_config *c)
{
	char buf[4096];
	unsigned line = 0;
	const char *why = NULL;

	snprintf(buf, sizeof(buf), "%s", text);
	return helper_config_parse(buf, c, &line, &why);
}

/* Field by field: padding bytes of a struct are unspecified. */
static bool config_eq(const struct helper_config *a, const struct helper_config *b)
{
	return a->mount_max == b->mount_max && a->socket_devices == b->socket_devices &&
	       a->seat_devices == b->seat_devices && a->direct_fallback == b->direct_fallback &&
	       a->contained_fallback == b->contained_fallback &&
	       a->contained_uid_min == b->contained_uid_min &&
	       a->contained_uid_max == b->contained_uid_max;
}

static char tmpdir[] = "/tmp/test-helper-config-XXXXXX";

static const char *write_conf(const char *content, mode_t mode, uid_t uid)
{
	static char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/fuservicemount.conf", tmpdir);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, content, strlen(content)) != (ssize_t)strlen(content))
		abort();
	close(fd);
	if (chmod(path, mode) < 0 || chown(path, uid, 0) < 0)
		abort();
	return path;
}

int main(void)
{
	struct helper_config c, d;
	struct helper_device_facts f;
	const char *path;

	tap_plan_start();

	/* Defaults, and an empty or comment-only file means them. */
	helper_config_defaults(&d);
	TAP_EQ_INT(d.mount_max, 16);
	TAP_OK(d.socket_devices && d.seat_devices && !d.direct_fallback);
	TAP_EQ_INT(parse("", &c), 0);
	TAP_OK(config_eq(&c, &d));
	TAP_EQ_INT(parse("# comment\n\n   \t\n", &c), 0);

	/* Every key. */
	TAP_EQ_INT(parse("mount_max = 3\nsocket_devices=no\n seat_devices = no \n"
			 "direct_fallback = yes\n", &c), 0);
	TAP_EQ_INT(c.mount_max, 3);
	TAP_OK(!c.socket_devices && !c.seat_devices && c.direct_fallback);
	TAP_EQ_INT(parse("mount_max = 0", &c), 0);
	TAP_EQ_INT(c.mount_max, 0);

	/* Strictness: each of these is a refusal, not a default. */
	TAP_EQ_INT(parse("mount_maxx = 3\n", &c), -EINVAL);        /* unknown key */
	TAP_EQ_INT(parse("Mount_Max = 3\n", &c), -EINVAL);         /* keys are exact */
	TAP_EQ_INT(parse("mount_max = 3\nmount_max = 4\n", &c), -EINVAL); /* repeated */
	TAP_EQ_INT(parse("mount_max\n", &c), -EINVAL);             /* no '=' */
	TAP_EQ_INT(parse("mount_max =\n", &c), -EINVAL);           /* empty value */
	TAP_EQ_INT(parse("mount_max = -1\n", &c), -EINVAL);
	TAP_EQ_INT(parse("mount_max = 4097\n", &c), -EINVAL);
	TAP_EQ_INT(parse("mount_max = 99999999999999999999\n", &c), -EINVAL);
	TAP_EQ_INT(parse("mount_max = 012\n", &c), -EINVAL);
	TAP_EQ_INT(parse("mount_max = 3 # comment\n", &c), -EINVAL);
	TAP_EQ_INT(parse("seat_devices = true\n", &c), -EINVAL);   /* yes/no only */
	TAP_EQ_INT(parse("seat_devices = ye\n", &c), -EINVAL);
	TAP_EQ_INT(parse("seat_devices = no\x1b[2J\n", &c), -EINVAL);
	TAP_EQ_INT(parse("seat_devices = n\xc3\xb6\n", &c), -EINVAL);
	TAP_EQ_INT(parse("[section]\n", &c), -EINVAL);

	/* Contained mode: off unless asked for; the uid range is bounded and never reaches root,
	 * nobody, 65535 or (uid_t)-1, whatever was written. */
	TAP_OK(!d.contained_fallback);
	TAP_EQ_INT(d.contained_uid_min, HELPER_CONTAINED_UID_MIN);
	TAP_EQ_INT(d.contained_uid_max, HELPER_CONTAINED_UID_MAX);
	TAP_EQ_INT(parse("contained_fallback = yes\ncontained_uids = 70000-70099\n", &c), 0);
	TAP_OK(c.contained_fallback);
	TAP_EQ_INT(c.contained_uid_min, 70000);
	TAP_EQ_INT(c.contained_uid_max, 70099);
	TAP_EQ_INT(parse("contained_uids = 4294901759-4294967294\n", &c), 0);
	TAP_OK(c.contained_uid_max == 4294967294u);
	TAP_EQ_INT(parse("contained_fallback = 1\n", &c), -EINVAL);
	TAP_EQ_INT(parse("contained_uids = 0-10\n", &c), -EINVAL);          /* root */
	TAP_EQ_INT(parse("contained_uids = 65000-65600\n", &c), -EINVAL);   /* nobody */
	TAP_EQ_INT(parse("contained_uids = 65535-65535\n", &c), -EINVAL);   /* 16-bit -1 */
	TAP_EQ_INT(parse("contained_uids = 4294967290-4294967295\n", &c), -EINVAL); /* -1 */
	TAP_EQ_INT(parse("contained_uids = 70000-135536\n", &c), -EINVAL);  /* 65537 uids */
	TAP_EQ_INT(parse("contained_uids = 70100-70000\n", &c), -EINVAL);   /* reversed */
	TAP_EQ_INT(parse("contained_uids = 70000\n", &c), -EINVAL);
	TAP_EQ_INT(parse("contained_uids = 70000-\n", &c), -EINVAL);
	TAP_EQ_INT(parse("contained_uids = -70000\n", &c), -EINVAL);
	TAP_EQ_INT(parse("contained_uids = 070000-70001\n", &c), -EINVAL);
	TAP_EQ_INT(parse("contained_uids = 70000 - 70001\n", &c), -EINVAL);
	TAP_EQ_INT(parse("contained_uids = 70000-70001x\n", &c), -EINVAL);
	TAP_EQ_INT(parse("contained_uids = 4294967296-4294967297\n", &c), -EINVAL); /* > 32 bits */
	TAP_EQ_INT(parse("contained_uids = 99999999999-99999999999\n", &c), -EINVAL);

	/* Loading: ownership and mode of the file, missing file. */
	if (!mkdtemp(tmpdir))
		abort();
	chmod(tmpdir, 0755);
	{
		char missing[300];

		snprintf(missing, sizeof(missing), "%s/none.conf", tmpdir);
		TAP_EQ_INT(helper_config_load(tmpdir, missing, &c), 0);
		TAP_OK(config_eq(&c, &d));
	}
	path = write_conf("mount_max = 2\n", 0644, 0);
	TAP_EQ_INT(helper_config_load(tmpdir, path, &c), 0);
	TAP_EQ_INT(c.mount_max, 2);
	path = write_conf("mount_max = 2\n", 0600, 0);
	TAP_EQ_INT(helper_config_load(tmpdir, path, &c), 0);
	path = write_conf("mount_max = 2\n", 0664, 0);
	TAP_EQ_INT(helper_config_load(tmpdir, path, &c), -EPERM); /* group-writable */
	path = write_conf("mount_max = 2\n", 0646, 0);
	TAP_EQ_INT(helper_config_load(tmpdir, path, &c), -EPERM); /* other-writable */
	if (geteuid() == 0) {
		path = write_conf("mount_max = 2\n", 0644, 65534);
		TAP_EQ_INT(helper_config_load(tmpdir, path, &c), -EPERM); /* not root's */
		path = write_conf("mount_max = 2\n", 0644, 0);
		chmod(tmpdir, 0777);
		TAP_EQ_INT(helper_config_load(tmpdir, path, &c), -EPERM); /* dir writable */
		chmod(tmpdir, 0755);
	}
	path = write_conf("bogus = 1\n", 0644, 0);
	TAP_EQ_INT(helper_config_load(tmpdir, path, &c), -EINVAL);
	{
		char link[300];

		snprintf(link, sizeof(link), "%s/link.conf", tmpdir);
		TAP_EQ_INT(symlink(path, link), 0);
		TAP_EQ_INT(helper_config_load(tmpdir, link, &c), -ELOOP); /* no symlinks */
		unlink(link);
		TAP_EQ_INT(mkfifo(link, 0644), 0);
		TAP_EQ_INT(helper_config_load(tmpdir, link, &c), -EINVAL); /* not a file */
		unlink(link);
	}
	unlink(path);
	rmdir(tmpdir);

	/* The decision. */
	helper_config_defaults(&c);
	f = (struct helper_device_facts){ .is_block = false, .socket_opt_in = true,
					  .removable = true, .at_active_seat = true };
	TAP_EQ_INT(helper_policy_decide(&c, &f), HELPER_GRANT_NONE); /* images: never */
	f = (struct helper_device_facts){ .is_block = true };
	TAP_EQ_INT(helper_policy_decide(&c, &f), HELPER_GRANT_NONE); /* system disk */
	f.removable = true;
	TAP_EQ_INT(helper_policy_decide(&c, &f), HELPER_GRANT_NONE); /* not at the seat */
	f.removable = false;
	f.at_active_seat = true;
	TAP_EQ_INT(helper_policy_decide(&c, &f), HELPER_GRANT_NONE); /* at seat, fixed disk */
	f.removable = true;
	TAP_EQ_INT(helper_policy_decide(&c, &f), HELPER_GRANT_SEAT);
	c.seat_devices = false;
	TAP_EQ_INT(helper_policy_decide(&c, &f), HELPER_GRANT_NONE);
	f = (struct helper_device_facts){ .is_block = true, .socket_opt_in = true };
	TAP_EQ_INT(helper_policy_decide(&c, &f), HELPER_GRANT_SOCKET);
	c.socket_devices = false;
	TAP_EQ_INT(helper_policy_decide(&c, &f), HELPER_GRANT_NONE);

	return tap_plan_end();
}
