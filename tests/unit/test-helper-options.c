/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * helper/options.c (the -o allowlist, /etc/fuse.conf, mount attributes) and the validation
 * of the server's FUSE_OPTIONS in helper/mount.c. Hostile inputs first-class: every way a
 * string has smuggled an option past a FUSE helper before.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helper.h"
#include "tap.h"

static int parse(const char *s, bool root, struct helper_options *o)
{
	return helper_options_parse(s, root, o);
}

static char tmpdir[] = "/tmp/test-helper-options-XXXXXX";

static const char *write_conf(const char *name, const char *content, mode_t mode)
{
	static char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, content, strlen(content)) != (ssize_t)strlen(content))
		abort();
	close(fd);
	chmod(path, mode);
	return path;
}

int main(void)
{
	struct helper_options o;
	char acc[HELPER_OPTIONS_MAX + 1];
	char big[HELPER_OPTIONS_MAX + 16];
	bool b, ao;
	unsigned mr;

	tap_plan_start();

	/* Accepted, normalised in table order, each once. */
	TAP_EQ_INT(parse("ro", false, &o), 0);
	TAP_EQ_STR(o.accepted, "ro");
	TAP_EQ_INT(parse("noexec,ro,nosuid,noexec", false, &o), 0);
	TAP_EQ_STR(o.accepted, "ro,nosuid,noexec");
	TAP_OK(o.noexec && o.ro && o.nosuid && !o.nodev);
	TAP_EQ_INT(parse("nodev,noatime,nodiratime,allow_other", false, &o), 0);
	TAP_EQ_STR(o.accepted, "nodev,noatime,nodiratime,allow_other");
	TAP_OK(o.allow_other);
	TAP_EQ_INT(parse("relatime", false, &o), 0);
	TAP_EQ_STR(o.accepted, "relatime");

	/* rw: anyone may ask (the device's write access decides); not with ro. suid/dev: root
	 * only. */
	TAP_EQ_INT(parse("rw", false, &o), 0);
	TAP_EQ_STR(o.accepted, "rw");
	TAP_OK(o.rw && !o.ro);
	TAP_EQ_INT(parse("nosuid,rw,strictatime", false, &o), 0);
	TAP_EQ_STR(o.accepted, "rw,nosuid,strictatime");
	TAP_EQ_INT(parse("ro,rw", true, &o), -EINVAL);
	TAP_EQ_INT(parse("rw,ro", false, &o), -EINVAL);
	TAP_EQ_INT(parse("suid", false, &o), -EPERM);
	TAP_EQ_INT(parse("dev", false, &o), -EPERM);
	TAP_EQ_INT(parse("nosuid,dev", false, &o), -EPERM);
	TAP_EQ_INT(parse("suid,dev", true, &o), 0);
	TAP_EQ_STR(o.accepted, "suid,dev");

	/* Contradictions. */
	TAP_EQ_INT(parse("suid,nosuid", true, &o), -EINVAL);
	TAP_EQ_INT(parse("dev,nodev", true, &o), -EINVAL);
	TAP_EQ_INT(parse("noatime,relatime", false, &o), -EINVAL);
	TAP_EQ_INT(parse("noatime,strictatime", false, &o), -EINVAL);
	TAP_EQ_INT(parse("relatime,strictatime", false, &o), -EINVAL);

	/* Unknown, and options the kernel knows but the user must never set. */
	TAP_EQ_INT(parse("user_id=0", false, &o), -EINVAL);
	TAP_EQ_INT(parse("group_id=0", false, &o), -EINVAL);
	TAP_EQ_INT(parse("fd=3", false, &o), -EINVAL);
	TAP_EQ_INT(parse("rootmode=40000", false, &o), -EINVAL);
	TAP_EQ_INT(parse("default_permissions", false, &o), -EINVAL);
	TAP_EQ_INT(parse("blksize=4096", false, &o), -EINVAL);
	TAP_EQ_INT(parse("ro,subtype=x", false, &o), -EINVAL);
	TAP_EQ_INT(parse("RO", false, &o), -EINVAL);
	TAP_EQ_INT(parse("ro=1", false, &o), -EINVAL);
	TAP_EQ_INT(parse("allow_root", false, &o), -EINVAL);

	/* Empty items, escapes, odd bytes (CVE-2018-10906: "\," hid allow_other). */
	TAP_EQ_INT(parse("", false, &o), -EINVAL);
	TAP_EQ_INT(parse(",", false, &o), -EINVAL);
	TAP_EQ_INT(parse("ro,", false, &o), -EINVAL);
	TAP_EQ_INT(parse(",ro", false, &o), -EINVAL);
	TAP_EQ_INT(parse("ro,,nosuid", false, &o), -EINVAL);
	TAP_EQ_INT(parse("ro\\,allow_other", false, &o), -EINVAL);
	TAP_EQ_INT(parse("nosuid\\", false, &o), -EINVAL);
	TAP_EQ_INT(parse("ro allow_other", false, &o), -EINVAL);
	TAP_EQ_INT(parse("ro\nallow_other", false, &o), -EINVAL);
	TAP_EQ_INT(parse("ro\x1b", false, &o), -EINVAL);
	TAP_EQ_INT(parse("r\xc3\xb6", false, &o), -EINVAL);

	/* Length bound: at the limit (valid items) accepted, one over refused. */
	big[0] = '\0';
	while (strlen(big) + 3 <= HELPER_OPTIONS_MAX)
		strcat(big, strlen(big) ? ",ro" : "ro");
	while (strlen(big) < HELPER_OPTIONS_MAX)
		strcat(big, "o"); /* makes the last item unknown, but still within the bound */
	TAP_EQ_INT(strlen(big), HELPER_OPTIONS_MAX);
	TAP_EQ_INT(parse(big, false, &o), -EINVAL); /* unknown item, not "too long" */
	memset(big, 'a', HELPER_OPTIONS_MAX + 1);
	big[HELPER_OPTIONS_MAX + 1] = '\0';
	TAP_EQ_INT(parse(big, false, &o), -EINVAL);
	{
		char fine[HELPER_OPTIONS_MAX + 1] = "";

		while (strlen(fine) + 3 <= HELPER_OPTIONS_MAX)
			strcat(fine, strlen(fine) ? ",ro" : "ro");
		TAP_EQ_INT(parse(fine, false, &o), 0);
		TAP_EQ_STR(o.accepted, "ro");
	}

	/* Joining several -o. */
	acc[0] = '\0';
	TAP_EQ_INT(helper_options_append(acc, sizeof(acc), "ro"), 0);
	TAP_EQ_INT(helper_options_append(acc, sizeof(acc), "nosuid,noexec"), 0);
	TAP_EQ_STR(acc, "ro,nosuid,noexec");
	memset(big, 'x', HELPER_OPTIONS_MAX);
	big[HELPER_OPTIONS_MAX] = '\0';
	TAP_EQ_INT(helper_options_append(acc, sizeof(acc), big), -EINVAL);
	TAP_EQ_STR(acc, "ro,nosuid,noexec");

	/* Mount attributes: nosuid,nodev always for users, whatever they asked; read-only
	 * exactly when o.ro (helper_device_open() sets it when it falls back). */
	TAP_EQ_INT(parse("ro", false, &o), 0);
	TAP_EQ_INT(helper_options_mount_attrs(&o, false),
		   MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
	TAP_EQ_INT(parse("rw", false, &o), 0);
	TAP_EQ_INT(helper_options_mount_attrs(&o, false), MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
	o.ro = true;
	TAP_EQ_INT(helper_options_mount_attrs(&o, false),
		   MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
	TAP_EQ_INT(parse("noexec,noatime,nodiratime", false, &o), 0);
	TAP_EQ_INT(helper_options_mount_attrs(&o, false),
		   MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC | MOUNT_ATTR_NOATIME |
			   MOUNT_ATTR_NODIRATIME);
	TAP_EQ_INT(parse("strictatime,ro", false, &o), 0);
	TAP_EQ_INT(helper_options_mount_attrs(&o, false),
		   MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_STRICTATIME);
	TAP_EQ_INT(parse("suid,dev,ro", true, &o), 0);
	TAP_EQ_INT(helper_options_mount_attrs(&o, true), MOUNT_ATTR_RDONLY);
	/* Belt and braces: flags set by some other path still do not help a non-root caller. */
	TAP_EQ_INT(helper_options_mount_attrs(&o, false),
		   MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
	TAP_EQ_INT(parse("suid", true, &o), 0);
	TAP_EQ_INT(helper_options_mount_attrs(&o, true), MOUNT_ATTR_NODEV);

	/* /etc/fuse.conf */
	if (!mkdtemp(tmpdir))
		abort();
	b = true;
	TAP_EQ_INT(helper_fuse_conf_user_allow_other("/nonexistent/fuse.conf", &b), 0);
	TAP_OK(!b);
	TAP_EQ_INT(helper_fuse_conf_user_allow_other(
			   write_conf("a", "# user_allow_other\nmount_max = 1000\n", 0644), &b), 0);
	TAP_OK(!b);
	TAP_EQ_INT(helper_fuse_conf_user_allow_other(
			   write_conf("b", "mount_max = 1000\n  user_allow_other  \n", 0644), &b), 0);
	TAP_OK(b);
	TAP_EQ_INT(helper_fuse_conf_user_allow_other(write_conf("c", "user_allow_other", 0644), &b),
		   0);
	TAP_OK(b);
	TAP_EQ_INT(helper_fuse_conf_user_allow_other(
			   write_conf("d", "user_allow_otherwise\nxuser_allow_other\n", 0644), &b), 0);
	TAP_OK(!b);
	/* Exists but unreadable: fail closed (only meaningful when not root). */
	if (geteuid() != 0) {
		TAP_OK(helper_fuse_conf_user_allow_other(write_conf("e", "user_allow_other\n", 0),
							 &b) < 0);
	} else {
		/* A directory is "exists but cannot be read as a file" for root too. */
		char dir[300];

		snprintf(dir, sizeof(dir), "%s/dir", tmpdir);
		mkdir(dir, 0700);
		TAP_OK(helper_fuse_conf_user_allow_other(dir, &b) < 0);
		rmdir(dir);
	}

	/* The server's FUSE_OPTIONS. */
	TAP_EQ_INT(helper_validate_fuse_options("", false, &ao, &mr), 0);
	TAP_OK(!ao && mr == 0);
	TAP_EQ_INT(helper_validate_fuse_options("default_permissions", false, &ao, &mr), 0);
	TAP_EQ_INT(helper_validate_fuse_options("default_permissions,allow_other", true, &ao, &mr),
		   0);
	TAP_OK(ao);
	TAP_EQ_INT(helper_validate_fuse_options("allow_other", false, &ao, &mr), -EPERM);
	TAP_EQ_INT(helper_validate_fuse_options("max_read=131072", false, &ao, &mr), 0);
	TAP_EQ_INT(mr, 131072);
	TAP_EQ_INT(helper_validate_fuse_options("max_read=1048577", false, &ao, &mr), -EINVAL);
	TAP_EQ_INT(helper_validate_fuse_options("max_read=0", false, &ao, &mr), -EINVAL);
	TAP_EQ_INT(helper_validate_fuse_options("max_read=010", false, &ao, &mr), -EINVAL);
	TAP_EQ_INT(helper_validate_fuse_options("max_read=-1", false, &ao, &mr), -EINVAL);
	TAP_EQ_INT(helper_validate_fuse_options("max_read= 1", false, &ao, &mr), -EINVAL);
	TAP_EQ_INT(helper_validate_fuse_options("max_read=4294967297", false, &ao, &mr), -EINVAL);
	TAP_EQ_INT(helper_validate_fuse_options("max_read=", false, &ao, &mr), -EINVAL);
	TAP_EQ_INT(helper_validate_fuse_options("max_read=4096,max_read=8192", false, &ao, &mr),
		   -EINVAL);
	TAP_EQ_INT(helper_validate_fuse_options("user_id=0", false, &ao, &mr), -EINVAL);
	TAP_EQ_INT(helper_validate_fuse_options("fd=0", false, &ao, &mr), -EINVAL);
	TAP_EQ_INT(helper_validate_fuse_options("suid", false, &ao, &mr), -EINVAL);
	TAP_EQ_INT(helper_validate_fuse_options("default_permissions,", false, &ao, &mr), -EINVAL);
	TAP_EQ_INT(helper_validate_fuse_options(",default_permissions", false, &ao, &mr), -EINVAL);
	TAP_EQ_INT(helper_validate_fuse_options("default_permissions\\,allow_other", true, &ao,
						&mr), -EINVAL);
	TAP_EQ_INT(helper_validate_fuse_options("allow_otherx", true, &ao, &mr), -EINVAL);

	{
		char cmd[320];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			tap_diag("could not remove the temporary directory");
	}
	return tap_plan_end();
}
