/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging for the fuse4fs server. Under systemd stderr is a journal stream (JOURNAL_STREAM is
 * set), so each line carries a "<N>" syslog priority prefix the journal understands; by hand it
 * is plain "fuse4fs: ..." text. Log once, where the decision is made.
 */
#ifndef FUSE4FS_SVC_LOG_H
#define FUSE4FS_SVC_LOG_H

#include <stdbool.h>
#include <syslog.h>

#include "util.h"

/* Call once from main(): debug enables LOG_DEBUG lines (request tracing). */
void log_setup(bool debug);
bool log_debug_enabled(void);

/* Logs and returns nothing. */
void log_full(int level, const char *fmt, ...) _printf_(2, 3);
/* Logs with ": <strerror(-r)>" appended, returns r (a negative errno) so callers can
 * `return log_error_errno(r, "...")`. */
int log_full_errno(int level, int r, const char *fmt, ...) _printf_(3, 4);

#define log_debug(...)                                                                         \
	do {                                                                                   \
		if (log_debug_enabled())                                                       \
			log_full(LOG_DEBUG, __VA_ARGS__);                                       \
	} while (0)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)
#define log_error_errno(r, ...) log_full_errno(LOG_ERR, (r), __VA_ARGS__)
#define log_warning_errno(r, ...) log_full_errno(LOG_WARNING, (r), __VA_ARGS__)

#endif
