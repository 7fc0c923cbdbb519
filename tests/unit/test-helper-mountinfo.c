/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * helper/mountinfo.c: the parser behind the unmount policy. Mountpoint paths are chosen by
 * users, so the hostile cases are paths made to look like other fields or other lines.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "helper.h"
#include "tap.h"

static struct helper_mountinfo_entry e;

static int parse(const char *line)
{
	static char buf[8192];

	snprintf(buf, sizeof(buf), "%s", line);
	return helper_mountinfo_parse_line(buf, &e);
}

static int find(const char *text, int id, struct helper_mount_owner *o)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int r;

	if (!f)
		return -ENOMEM;
	r = helper_mountinfo_find(f, id, o);
	fclose(f);
	return r;
}

static int count(const char *text, uid_t uid, unsigned *n)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int r;

	if (!f)
		return -ENOMEM;
	r = helper_mountinfo_count_user(f, "fuse.fuse4fs", uid, n);
	fclose(f);
	return r;
}

static int stack(const char *text, int id, int base, const char *path, uid_t uid)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int r;

	if (!f)
		return -ENOMEM;
	r = helper_mountinfo_stack_is_user(f, id, base, path, "fuse.fuse4fs", uid);
	fclose(f);
	return r;
}

int main(void)
{
	struct helper_mount_owner o;
	uid_t uid;

	tap_plan_start();

	/* The documented example and real lines. */
	TAP_EQ_INT(parse("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root "
			 "rw,errors=continue\n"), 0);
	TAP_EQ_INT(e.mount_id, 36);
	TAP_EQ_INT(e.parent_id, 35);
	TAP_EQ_INT(e.major, 98);
	TAP_EQ_INT(e.minor, 0);
	TAP_EQ_STR(e.root, "/mnt1");
	TAP_EQ_STR(e.mountpoint, "/mnt2");
	TAP_EQ_STR(e.mount_options, "rw,noatime");
	TAP_EQ_STR(e.fstype, "ext3");
	TAP_EQ_STR(e.source, "/dev/root");
	TAP_EQ_STR(e.super_options, "rw,errors=continue");

	TAP_EQ_INT(parse("22 27 0:21 / /proc rw,relatime - proc proc rw"), 0);
	TAP_EQ_STR(e.fstype, "proc");
	/* No optional fields, several optional fields. */
	TAP_EQ_INT(parse("1 0 0:1 / / rw shared:1 master:2 propagate_from:3 - tmpfs none rw"), 0);
	TAP_EQ_STR(e.source, "none");

	/* A fuse4fs mount with spaces, a tab, a newline and a backslash in the path. */
	TAP_EQ_INT(parse("300 27 0:77 / /home/u/my\\040disk\\011x\\012y\\134z rw,nosuid,nodev "
			 "shared:200 - fuse.fuse4fs /dev/sdb1 ro,user_id=1000,group_id=1000,"
			 "default_permissions"), 0);
	TAP_EQ_STR(e.mountpoint, "/home/u/my disk\tx\ny\\z");
	TAP_EQ_STR(e.fstype, "fuse.fuse4fs");
	TAP_EQ_STR(e.source, "/dev/sdb1");
	/* A path that spells out " - fuse.fuse4fs " is still one field. */
	TAP_EQ_INT(parse("301 27 0:78 / /tmp/a\\040-\\040fuse.fuse4fs\\040x rw - ext4 /dev/sda1 "
			 "rw"), 0);
	TAP_EQ_STR(e.mountpoint, "/tmp/a - fuse.fuse4fs x");
	TAP_EQ_STR(e.fstype, "ext4");

	/* Malformed: never a guess. */
	TAP_EQ_INT(parse(""), -EINVAL);
	TAP_EQ_INT(parse("\n"), -EINVAL);
	TAP_EQ_INT(parse("36 35 98:0 /mnt1 /mnt2 rw"), -EINVAL);                 /* no "-" */
	TAP_EQ_INT(parse("36 35 98:0 /mnt1 /mnt2 rw -"), -EINVAL);               /* nothing after */
	TAP_EQ_INT(parse("36 35 98:0 /mnt1 /mnt2 rw - ext3 /dev/root"), -EINVAL); /* short */
	TAP_EQ_INT(parse("36 35 98:0 /mnt1 /mnt2 rw - ext3 /dev/root rw extra"), -EINVAL);
	TAP_EQ_INT(parse("x 35 98:0 / /m rw - ext3 s rw"), -EINVAL);
	TAP_EQ_INT(parse("-1 35 98:0 / /m rw - ext3 s rw"), -EINVAL);
	TAP_EQ_INT(parse("99999999999 35 98:0 / /m rw - ext3 s rw"), -EINVAL);
	TAP_EQ_INT(parse("36 35 98 / /m rw - ext3 s rw"), -EINVAL);
	TAP_EQ_INT(parse("36 35 98:x / /m rw - ext3 s rw"), -EINVAL);
	TAP_EQ_INT(parse("36 35 98:0 / /m\\04 rw - ext3 s rw"), -EINVAL);     /* short escape */
	TAP_EQ_INT(parse("36 35 98:0 / /m\\ rw - ext3 s rw"), -EINVAL);        /* stray \ */
	TAP_EQ_INT(parse("36 35 98:0 / /m\\000 rw - ext3 s rw"), -EINVAL);     /* NUL */
	TAP_EQ_INT(parse("36 35 98:0 / /m\\400 rw - ext3 s rw"), -EINVAL);     /* > 255 */
	TAP_EQ_INT(parse("36 35 98:0 / /m\\08x rw - ext3 s rw"), -EINVAL);     /* not octal */
	TAP_EQ_INT(parse("36 35 98:0 /  /m rw - ext3 s rw"), -EINVAL);         /* double space */
	TAP_EQ_INT(parse("36 35 98:0 / /m rw - ext3 s "), -EINVAL);            /* empty opts */

	/* user_id= from the super options: exact, once, plain decimal. */
	TAP_EQ_INT(helper_super_options_user_id("ro,user_id=1000,group_id=100", &uid), 0);
	TAP_EQ_INT(uid, 1000);
	TAP_EQ_INT(helper_super_options_user_id("user_id=0", &uid), 0);
	TAP_EQ_INT(uid, 0);
	TAP_EQ_INT(helper_super_options_user_id("rw,group_id=1000", &uid), -ENOENT);
	TAP_EQ_INT(helper_super_options_user_id("", &uid), -ENOENT);
	TAP_EQ_INT(helper_super_options_user_id("xuser_id=1000", &uid), -ENOENT);
	TAP_EQ_INT(helper_super_options_user_id("user_id=1000,user_id=0", &uid), -EINVAL);
	TAP_EQ_INT(helper_super_options_user_id("user_id=", &uid), -EINVAL);
	TAP_EQ_INT(helper_super_options_user_id("user_id=01000", &uid), -EINVAL);
	TAP_EQ_INT(helper_super_options_user_id("user_id=-1", &uid), -EINVAL);
	TAP_EQ_INT(helper_super_options_user_id("user_id=1000x", &uid), -EINVAL);
	TAP_EQ_INT(helper_super_options_user_id("user_id=4294967296", &uid), -EINVAL);
	TAP_EQ_INT(helper_super_options_user_id("user_id=99999999999999999999", &uid), -EINVAL);
	/* CVE-2021-3995 compared a prefix: 1000 must not match 10000 or 100. */
	TAP_EQ_INT(helper_super_options_user_id("user_id=10000", &uid), 0);
	TAP_OK(uid != 1000);

	/* Finding a mount by id in a whole file. */
	{
		const char *text =
			"22 27 0:21 / /proc rw,relatime - proc proc rw\n"
			"300 27 0:77 / /home/u/my\\040disk rw,nosuid shared:2 - fuse.fuse4fs "
			"/dev/sdb1 ro,user_id=1000,group_id=1000\n"
			"301 300 0:78 / /home/u/my\\040disk/in rw - tmpfs tmpfs rw\n";

		TAP_EQ_INT(find(text, 300, &o), 0);
		TAP_EQ_STR(o.fstype, "fuse.fuse4fs");
		TAP_EQ_STR(o.mountpoint, "/home/u/my disk");
		TAP_OK(o.has_user_id && o.user_id == 1000);
		TAP_EQ_INT(find(text, 301, &o), 0);
		TAP_OK(!o.has_user_id);
		TAP_EQ_INT(find(text, 302, &o), -ENOENT);
	}
	/* A malformed line anywhere: refuse, do not skip (it might be the one we want). */
	TAP_EQ_INT(find("22 27 0:21 / /proc rw - proc proc rw\ngarbage\n"
			"300 27 0:77 / /m rw - fuse.fuse4fs s user_id=1000\n", 300, &o), -EINVAL);
	/* Two user_id= in one line is not the kernel's text: refuse. */
	TAP_EQ_INT(find("300 27 0:77 / /m rw - fuse.fuse4fs s user_id=1000,user_id=0\n", 300, &o),
		   -EINVAL);
	/* Embedded NUL. */
	{
		static const char nul[] = "300 27 0:77 / /m\0x rw - fuse.fuse4fs s user_id=1\n";
		FILE *f = fmemopen((void *)nul, sizeof(nul) - 1, "r");

		TAP_EQ_INT(helper_mountinfo_find(f, 300, &o), -EINVAL);
		fclose(f);
	}

	/* The per-user mount limit counts exactly the caller's fuse4fs mounts: not other
	 * users' (a prefix of the uid, user_id=10000 for 1000), not other FUSE file systems,
	 * not a path that spells out the type. */
	static const char table[] =
		"22 27 0:21 / /proc rw,relatime - proc proc rw\n"
		"40 27 0:60 / /home/u/a ro,nosuid,nodev - fuse.fuse4fs /i ro,user_id=1000,group_id=1000\n"
		"41 27 0:61 / /home/u/b ro,nosuid,nodev - fuse.fuse4fs /dev/sdb1 ro,user_id=1000,"
		"group_id=1000,default_permissions,allow_other\n"
		"42 27 0:62 / /home/v/c ro,nosuid,nodev - fuse.fuse4fs /i ro,user_id=10000,group_id=1\n"
		"43 27 0:63 / /home/u/d rw,nosuid,nodev - fuse.sshfs h: rw,user_id=1000,group_id=1000\n"
		"44 27 0:64 / /home/u/x\\040-\\040fuse.fuse4fs rw - ext4 /dev/sda1 rw,user_id=1000\n"
		"45 27 0:65 / /home/u/e ro - fuse.fuse4fs /i ro,user_id=100,group_id=1\n";
	unsigned n = 99;

	TAP_EQ_INT(count(table, 1000, &n), 0);
	TAP_EQ_INT(n, 2);
	TAP_EQ_INT(count(table, 10000, &n), 0);
	TAP_EQ_INT(n, 1);
	TAP_EQ_INT(count(table, 100, &n), 0);
	TAP_EQ_INT(n, 1);
	TAP_EQ_INT(count(table, 1001, &n), 0);
	TAP_EQ_INT(n, 0);
	TAP_EQ_INT(count("", 1000, &n), 0);
	TAP_EQ_INT(n, 0);
	/* A line we cannot read could be one of the caller's: refuse, never undercount. */
	TAP_EQ_INT(count("40 27 0:60 / /a ro - fuse.fuse4fs /i ro,user_id=1000\ngarbage\n", 1000,
			 &n), -EINVAL);

	/* fuservicemount -u: what lies below the judged mount at the same path, down to the
	 * mount of the parent directory (27 here). The judged one is 50, on top. */
	static const char stacked[] =
		"27 1 0:30 / /home rw - ext4 /dev/sda2 rw\n"
		"48 27 0:70 / /home/u rw - tmpfs f4-home rw,uid=1000\n"
		"49 48 0:71 / /home/u ro - fuse.fuse4fs /i ro,user_id=1000,group_id=1000\n"
		"50 49 0:72 / /home/u ro - fuse.fuse4fs /j ro,user_id=1000,group_id=1000\n"
		"51 27 0:73 / /home/v ro - fuse.fuse4fs /k ro,user_id=1000,group_id=1000\n"
		"52 51 0:74 / /home/v ro - fuse.fuse4fs /k ro,user_id=10000,group_id=1000\n"
		"60 61 0:75 / /home/w ro - fuse.fuse4fs /l ro,user_id=1000\n"
		"61 60 0:76 / /home/w ro - fuse.fuse4fs /l ro,user_id=1000\n"
		"70 27 0:77 / /home/x ro - fuse.fuse4fs /m ro,user_id=1000\n";
	/* Directly on the parent's mount: nothing below, a name is safe. */
	TAP_EQ_INT(stack(stacked, 27, 27, "/home/u", 1000), 1);
	/* Only the caller's own fuse4fs mount below (51 under 52 at /home/v, for uid 1000). */
	TAP_EQ_INT(stack(stacked, 51, 27, "/home/v", 1000), 1);
	/* Root's tmpfs below the caller's two mounts: not the caller's. */
	TAP_EQ_INT(stack(stacked, 49, 27, "/home/u", 1000), 0);
	TAP_EQ_INT(stack(stacked, 48, 27, "/home/u", 1000), 0);
	/* Another user's mount, or a uid that is only a prefix, is not the caller's. */
	TAP_EQ_INT(stack(stacked, 51, 27, "/home/v", 10000), 0);
	TAP_EQ_INT(stack(stacked, 51, 27, "/home/v", 100), 0);
	/* A mount of the chain that is gone, or mounted at another path: changed, refuse. */
	TAP_EQ_INT(stack(stacked, 99, 27, "/home/u", 1000), -ESTALE);
	TAP_EQ_INT(stack(stacked, 70, 27, "/home/u", 1000), -ESTALE);
	/* A cycle (never the kernel's, but bounded all the same). */
	TAP_EQ_INT(stack(stacked, 60, 27, "/home/w", 1000), -ELOOP);
	/* A malformed line: refuse. */
	TAP_EQ_INT(stack("garbage\n", 48, 27, "/home/u", 1000), -EINVAL);

	return tap_plan_end();
}
