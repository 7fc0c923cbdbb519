/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Error output of fuservicemount. Everything goes to stderr with the program name first, so a
 * user (or a script) can tell our messages from the kernel's or the server's.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "helper.h"

/* "cannot mount '/dev/sdb1' on '/media/x'": set once the arguments are known, so every
 * message says what failed before saying why. */
static char log_action[2 * 4096 + 64];

void log_set_action(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(log_action, sizeof(log_action), fmt, ap);
	va_end(ap);
}

static void log_prefix(void)
{
	fputs(HELPER_NAME ": ", stderr);
	if (log_action[0]) {
		fputs(log_action, stderr);
		fputs(": ", stderr);
	}
}

void log_error(const char *fmt, ...)
{
	va_list ap;

	log_prefix();
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int log_error_errno(int r, const char *fmt, ...)
{
	va_list ap;

	if (r >= 0)
		r = -EIO; /* a caller bug; never report success from an error path */
	log_prefix();
	errno = -r; /* for %m */
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return r;
}

char *helper_escape_untrusted(const char *in, char *out, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	/* Room for the longest escape (4) plus "..." and the NUL is kept in reserve, so the
	 * truncation marker always fits. */
	if (size < 4) {
		if (size > 0)
			out[0] = '\0';
		return out;
	}
	for (const unsigned char *c = (const unsigned char *)in; *c; c++) {
		char tmp[5];
		size_t n;

		if (*c == '\\') {
			memcpy(tmp, "\\\\", 2);
			n = 2;
		} else if (*c >= 0x20 && *c < 0x7f) {
			tmp[0] = (char)*c;
			n = 1;
		} else {
			/* Control characters (ESC sequences, \r, \b) and non-ASCII bytes: an
			 * untrusted peer must not be able to rewrite what the user sees. */
			tmp[0] = '\\';
			tmp[1] = 'x';
			tmp[2] = hex[*c >> 4];
			tmp[3] = hex[*c & 0xf];
			n = 4;
		}
		if (o + n + 4 > size) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(out + o, tmp, n);
		o += n;
	}
	out[o] = '\0';
	return out;
}
