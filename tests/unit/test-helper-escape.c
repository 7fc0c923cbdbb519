/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * helper/escape.c and the untrusted-text escaping in helper/log.c. The expected values of the
 * systemd escaping were produced by running `systemd-escape --path` (systemd 252) on each
 * input; if they disagree, the helper would look for a per-device socket under a name that
 * systemd never creates.
 */
#include <errno.h>
#include <string.h>

#include "helper.h"
#include "tap.h"

static const char *esc(const char *in)
{
	static char buf[1024];

	if (helper_systemd_escape_path(in, buf, sizeof(buf)) < 0)
		return "(error)";
	return buf;
}

static const char *untrusted(const char *in, size_t size)
{
	static char buf[256];

	return helper_escape_untrusted(in, buf, size);
}

int main(void)
{
	char small[8];

	tap_plan_start();

	/* systemd-escape --path, verbatim outputs */
	TAP_EQ_STR(esc("/dev/sdb1"), "dev-sdb1");
	TAP_EQ_STR(esc("/dev/loop0"), "dev-loop0");
	TAP_EQ_STR(esc("/dev/disk/by-id/usb-Foo_Bar-0:0-part1"),
		   "dev-disk-by\\x2did-usb\\x2dFoo_Bar\\x2d0:0\\x2dpart1");
	TAP_EQ_STR(esc("/tmp/a b/.hidden"), "tmp-a\\x20b-.hidden");
	TAP_EQ_STR(esc("/a-b/c.d/.e"), "a\\x2db-c.d-.e");
	TAP_EQ_STR(esc("/mnt//x/"), "mnt-x");
	TAP_EQ_STR(esc("/"), "-");
	TAP_EQ_STR(esc("//"), "-");
	TAP_EQ_STR(esc("/dev/\xc3\xa9"), "dev-\\xc3\\xa9");
	TAP_EQ_STR(esc("/x\\y"), "x\\x5cy");
	TAP_EQ_STR(esc("/foo/./bar"), "foo-bar");
	TAP_EQ_STR(esc("/./a"), "a");
	TAP_EQ_STR(esc("/.foo"), "\\x2efoo");
	TAP_EQ_STR(esc("/..x"), "\\x2e.x");
	TAP_EQ_STR(esc("/a:b_c"), "a:b_c");
	TAP_EQ_STR(esc("/-"), "\\x2d");
	TAP_EQ_STR(esc("/dev/sd$1"), "dev-sd\\x241");
	TAP_EQ_STR(esc("//dev"), "dev");
	TAP_EQ_STR(esc("/a~b"), "a\\x7eb");
	TAP_EQ_STR(esc("/a\tb"), "a\\x09b");
	TAP_EQ_STR(esc("/\x7f"), "\\x7f");
	TAP_EQ_STR(esc("/dev/mapper/vg-lv"), "dev-mapper-vg\\x2dlv");

	/* Refused like systemd refuses them, plus what we never pass. */
	TAP_EQ_STR(esc("/a/../b"), "(error)");
	TAP_EQ_STR(esc("/.."), "(error)");
	TAP_EQ_STR(esc("relative/path"), "(error)");
	TAP_EQ_STR(esc(""), "(error)");
	TAP_EQ_INT(helper_systemd_escape_path(NULL, small, sizeof(small)), -EINVAL);

	/* Output bound: exactly fitting, one too small. "dev-sdb1" is 8 bytes + NUL. */
	{
		char nine[9], eight[8];

		TAP_EQ_INT(helper_systemd_escape_path("/dev/sdb1", nine, sizeof(nine)), 0);
		TAP_EQ_STR(nine, "dev-sdb1");
		memcpy(eight, "XXXXXXX", 8);
		TAP_EQ_INT(helper_systemd_escape_path("/dev/sdb1", eight, sizeof(eight)),
			   -ENAMETOOLONG);
		TAP_EQ_STR(eight, "XXXXXXX"); /* untouched on failure */
	}
	/* A hostile, huge path: refused, not overflowed. */
	{
		static char big[8192];
		char out[64];

		memset(big, 'a', sizeof(big) - 1);
		big[0] = '/';
		TAP_EQ_INT(helper_systemd_escape_path(big, out, sizeof(out)), -ENAMETOOLONG);
		memset(big, '-', 4000);
		big[0] = '/';
		big[4000] = '\0';
		TAP_EQ_INT(helper_systemd_escape_path(big, out, sizeof(out)), -ENAMETOOLONG);
	}

	/* Untrusted text from the server: terminal control never passes through. */
	TAP_EQ_STR(untrusted("plain text, ok.", 64), "plain text, ok.");
	TAP_EQ_STR(untrusted("\x1b[2Jcleared", 64), "\\x1b[2Jcleared");
	TAP_EQ_STR(untrusted("line\nfeed\rcr", 64), "line\\x0afeed\\x0dcr");
	TAP_EQ_STR(untrusted("back\\slash", 64), "back\\\\slash");
	TAP_EQ_STR(untrusted("\xc3\xa9\x7f", 64), "\\xc3\\xa9\\x7f");
	TAP_EQ_STR(untrusted("", 64), "");
	/* Truncation keeps a marker and the terminator inside the buffer. */
	TAP_EQ_STR(untrusted("abcdefghij", 8), "abcd...");
	TAP_EQ_STR(untrusted("\x1b\x1b\x1b", 8), "\\x1b...");
	TAP_EQ_STR(untrusted("abc", 8), "abc");
	memset(small, 'Z', sizeof(small));
	helper_escape_untrusted("abcdefghijklmnop", small, 4);
	TAP_EQ_STR(small, "...");
	TAP_EQ_INT(small[4], 'Z');

	return tap_plan_end();
}
