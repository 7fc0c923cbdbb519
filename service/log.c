/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static bool debug_on;
static bool journal_prefix;

void log_setup(bool debug)
{
	debug_on = debug;
	/* systemd connects stderr to the journal and says so in JOURNAL_STREAM; only then
	 * do the "<N>" priority prefixes mean something to the reader. */
	journal_prefix = getenv("JOURNAL_STREAM") != NULL;
}

bool log_debug_enabled(void)
{
	return debug_on;
}

static void log_va(int level, const char *suffix, const char *fmt, va_list ap)
{
	char line[2048];
	int n = vsnprintf(line, sizeof(line), fmt, ap);

	if (n < 0)
		return;
	/* One fprintf per line so that lines from several threads do not interleave. */
	if (journal_prefix)
		fprintf(stderr, "<%d>%s%s\n", level, line, suffix ? suffix : "");
	else
		fprintf(stderr, "fuse4fs: %s%s\n", line, suffix ? suffix : "");
}

void log_full(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_va(level, NULL, fmt, ap);
	va_end(ap);
}

int log_full_errno(int level, int r, const char *fmt, ...)
{
	char suffix[128];
	va_list ap;

	snprintf(suffix, sizeof(suffix), ": %s", strerror(r < 0 ? -r : r));
	va_start(ap, fmt);
	log_va(level, suffix, fmt, ap);
	va_end(ap);
	return r < 0 ? r : -r;
}
