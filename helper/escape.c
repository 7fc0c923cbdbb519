/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * systemd's path escaping (`systemd-escape --path`), so that the helper finds the socket of a
 * per-device unit: fuse4fs@dev-sdb1.socket listens on FUSE4FS_SOCKET_DIR/dev-sdb1.sock.
 * Getting this wrong only means falling back to the shared socket, but getting it *different*
 * from systemd for some path could make two devices share a name, so we follow systemd's rules
 * exactly and test against its own output (tests/unit/test-helper-escape.c).
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "helper.h"

static bool escape_char_valid(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == ':' || c == '_' || c == '.';
}

int helper_systemd_escape_path(const char *path, char *ret_buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[4096 * 4 + 2];
	size_t o = 0;
	const char *p = path;

	if (!path || path[0] != '/')
		return -EINVAL;
	if (strlen(path) > 4096)
		return -ENAMETOOLONG;

	while (*p) {
		const char *start, *end;
		size_t len;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		start = p;
		end = strchrnul(p, '/');
		len = (size_t)(end - start);
		p = end;

		/* "." components vanish (path_simplify); ".." cannot be simplified without the
		 * file system, and systemd refuses it as "not normalized", so do we. */
		if (len == 1 && start[0] == '.')
			continue;
		if (len == 2 && start[0] == '.' && start[1] == '.')
			return -EINVAL;

		if (o > 0)
			tmp[o++] = '-';
		for (size_t i = 0; i < len; i++) {
			char c = start[i];

			/* A leading '.' would make a hidden file name; systemd escapes it, but
			 * only at the very start of the whole string. */
			if (escape_char_valid(c) && !(o == 0 && c == '.')) {
				tmp[o++] = c;
			} else {
				unsigned char u = (unsigned char)c;

				tmp[o++] = '\\';
				tmp[o++] = 'x';
				tmp[o++] = hex[u >> 4];
				tmp[o++] = hex[u & 0xf];
			}
		}
	}
	/* The root directory escapes to "-". */
	if (o == 0)
		tmp[o++] = '-';

	if (o + 1 > size)
		return -ENAMETOOLONG;
	memcpy(ret_buf, tmp, o);
	ret_buf[o] = '\0';
	return 0;
}
