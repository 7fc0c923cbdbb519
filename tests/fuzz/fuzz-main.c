/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Replay driver: runs LLVMFuzzerTestOneInput() once on each file named on the command line, so
 * the corpus (and every crasher ever found) is an ordinary test with any compiler, no libFuzzer.
 * A harness that finds a problem aborts; here that fails the test.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs bigger than any message are still fed whole: the harness must cope with them. */
#define REPLAY_MAX (16u * 1024 * 1024)

static int read_file(const char *path, uint8_t **ret_data, size_t *ret_size)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ uint8_t *data = NULL;
	struct stat st;
	size_t done = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EISDIR;
	if ((unsigned long long)st.st_size > REPLAY_MAX)
		return -EFBIG;
	/* +1: malloc(0) may return NULL; the harness gets size 0 anyway. */
	data = malloc((size_t)st.st_size + 1);
	if (!data)
		return -ENOMEM;
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, data + done, (size_t)st.st_size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	*ret_data = TAKE_PTR(data);
	*ret_size = done;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE...\n", argv[0] ? argv[0] : "fuzz-replay");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		_cleanup_free_ uint8_t *data = NULL;
		size_t size = 0;
		int r = read_file(argv[i], &data, &size);

		if (r < 0) {
			fprintf(stderr, "%s: cannot read '%s': %s\n", argv[0], argv[i],
				strerror(-r));
			return 1;
		}
		printf("%s (%zu bytes)... ", argv[i], size);
		fflush(stdout);
		LLVMFuzzerTestOneInput(data, size);
		printf("ok\n");
	}
	return 0;
}
