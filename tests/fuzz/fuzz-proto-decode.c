/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer harness for proto_decode(), the first code in the setuid helper and in the server
 * that reads bytes the other side controls. Besides memory errors it checks two properties:
 *   - whatever the decoder accepts, the encoder can write again (encoder and decoder agree on
 *     what is valid), and decoding that gives the very same struct;
 *   - a rejection always comes with a reason and leaves the output untouched.
 */
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct proto_msg a, b, sentinel;
static uint8_t out[PROTO_MSG_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *why = NULL;
	size_t len = 0;
	int r;

	if (sentinel.type == 0)
		memset(&sentinel, 0x5a, sizeof(sentinel));
	memcpy(&a, &sentinel, sizeof(a));
	r = proto_decode(data, size, &a, &why);
	if (r < 0) {
		if (!why || memcmp(&a, &sentinel, sizeof(a)) != 0)
			abort();
		return 0;
	}

	if (proto_encode(&a, out, sizeof(out), &len) < 0)
		abort();
	if (len > size) /* re-encoding drops unknown records, never adds bytes */
		abort();
	if (proto_decode(out, len, &b, &why) < 0)
		abort();
	if (memcmp(&a, &b, sizeof(a)) != 0)
		abort();
	return 0;
}
