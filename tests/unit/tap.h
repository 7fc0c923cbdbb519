/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A minimal TAP producer for the unit tests. Every assertion is one numbered TAP line, so
 * `meson test` counts them; a failing one prints the expression and both operands.
 *
 *   int main(void) {
 *           tap_plan_start();
 *           TAP_EQ_INT(proto_decode(buf, len, &m, &why), -EBADMSG);
 *           TAP_EQ_STR(why, "record padding not zero");
 *           return tap_plan_end();
 *   }
 * Exit status: 0 if every assertion passed, 1 otherwise; call tap_skip_all() for exit 77.
 */
#ifndef FUSE4FS_TAP_H
#define FUSE4FS_TAP_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned tap_count;
static unsigned tap_failed;

static inline void tap_plan_start(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
}

static inline int tap_plan_end(void)
{
	printf("1..%u\n", tap_count);
	return tap_failed ? 1 : 0;
}

static inline void tap_skip_all(const char *why)
{
	printf("1..0 # SKIP %s\n", why);
	exit(77);
}

static inline void tap_diag(const char *msg)
{
	printf("# %s\n", msg);
}

static inline int tap_result(int ok, const char *file, int line, const char *expr)
{
	tap_count++;
	if (!ok)
		tap_failed++;
	printf("%s %u - %s:%d: %s\n", ok ? "ok" : "not ok", tap_count, file, line, expr);
	return ok;
}

#define TAP_OK(cond) tap_result(!!(cond), __FILE__, __LINE__, #cond)

#define TAP_EQ_INT(a, b)                                                                       \
	do {                                                                                   \
		long long _a = (long long)(a), _b = (long long)(b);                             \
		if (!tap_result(_a == _b, __FILE__, __LINE__, #a " == " #b))                   \
			printf("#   left:  %lld\n#   right: %lld\n", _a, _b);                     \
	} while (0)

#define TAP_EQ_STR(a, b)                                                                       \
	do {                                                                                   \
		const char *_a = (a), *_b = (b);                                               \
		int _ok = _a && _b && strcmp(_a, _b) == 0;                                     \
		if (!tap_result(_ok, __FILE__, __LINE__, #a " == " #b))                        \
			printf("#   left:  \"%s\"\n#   right: \"%s\"\n", _a ? _a : "(null)",     \
			       _b ? _b : "(null)");                                            \
	} while (0)

#define TAP_EQ_MEM(a, b, n)                                                                    \
	do {                                                                                   \
		const uint8_t *_a = (const uint8_t *)(a), *_b = (const uint8_t *)(b);          \
		size_t _n = (n);                                                               \
		if (!tap_result(memcmp(_a, _b, _n) == 0, __FILE__, __LINE__,                   \
				#a " == " #b)) {                                               \
			printf("#   left: ");                                                  \
			for (size_t _i = 0; _i < _n; _i++)                                     \
				printf(" %02x", _a[_i]);                                       \
			printf("\n#   right:");                                                \
			for (size_t _i = 0; _i < _n; _i++)                                     \
				printf(" %02x", _b[_i]);                                       \
			printf("\n");                                                          \
		}                                                                              \
	} while (0)

#endif
