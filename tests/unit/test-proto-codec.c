/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proto codec: hand-built bytes in, fields out; encoder output byte for byte against the same
 * hand-built bytes (they are the worked example of docs/protocol.md, so the document cannot
 * drift from the code); and one malformed message per rejection, checking errno and reason.
 *
 * Every array here is written out by hand from the layout in fuservice-proto.h, never produced
 * by the encoder: a bug shared by encoder and decoder would otherwise go unseen.
 */
#include <errno.h>
#include <string.h>

#include "proto.h"
#include "tap.h"

/* ---- the worked exchange of docs/protocol.md ---------------------------------------------- */

static const uint8_t hello[] = {
	0x46, 0x34, 0x53, 0x56, 0x00, 0x01, 0x00, 0x01, /* magic "F4SV", version 1, HELLO */
	0x00, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x00, /* length 40, reserved */
	0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, /* VERSION_MIN, CRITICAL, len 2 */
	0x00, 0x01, 0x00, 0x00,                         /* 1, padding */
	0x00, 0x02, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, /* VERSION_MAX, CRITICAL, len 2 */
	0x00, 0x01, 0x00, 0x00,                         /* 1, padding */
};

static const uint8_t hello_reply[] = {
	0x46, 0x34, 0x53, 0x56, 0x00, 0x01, 0x00, 0x02, /* HELLO_REPLY */
	0x00, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x00, 0x00, /* length 28 */
	0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, /* VERSION */
	0x00, 0x01, 0x00, 0x00,
};

static const uint8_t mount_context[] = {
	0x46, 0x34, 0x53, 0x56, 0x00, 0x01, 0x00, 0x03, /* MOUNT_CONTEXT */
	0x00, 0x00, 0x00, 0x64, 0x00, 0x00, 0x00, 0x00, /* length 100 */
	0x00, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00, 0x09, /* DEVICE_PATH, len 9 */
	'/', 'd', 'e', 'v', '/', 's', 'd', 'b', '1', 0x00, 0x00, 0x00,
	0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00, 0x12, /* MOUNTPOINT, len 18 */
	'/', 'm', 'e', 'd', 'i', 'a', '/', 'a', 'l', 'i', 'c', 'e', '/', 's', 't', 'i',
	'c', 'k', 0x00, 0x00,
	0x00, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04, /* UID 1000 */
	0x00, 0x00, 0x03, 0xe8,
	0x00, 0x07, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04, /* GID 1000 */
	0x00, 0x00, 0x03, 0xe8,
	0x00, 0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04, /* MOUNT_FLAGS RDONLY */
	0x00, 0x00, 0x00, 0x01,
};

static const uint8_t mount_request[] = {
	0x46, 0x34, 0x53, 0x56, 0x00, 0x01, 0x00, 0x04, /* MOUNT_REQUEST */
	0x00, 0x00, 0x00, 0x78, 0x00, 0x00, 0x00, 0x00, /* length 120 */
	0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00, 0x12, /* MOUNTPOINT, len 18 */
	'/', 'm', 'e', 'd', 'i', 'a', '/', 'a', 'l', 'i', 'c', 'e', '/', 's', 't', 'i',
	'c', 'k', 0x00, 0x00,
	0x00, 0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04, /* MOUNT_FLAGS RDONLY */
	0x00, 0x00, 0x00, 0x01,
	0x00, 0x0a, 0x00, 0x01, 0x00, 0x00, 0x00, 0x09, /* SOURCE, len 9 */
	'/', 'd', 'e', 'v', '/', 's', 'd', 'b', '1', 0x00, 0x00, 0x00,
	0x00, 0x0b, 0x00, 0x01, 0x00, 0x00, 0x00, 0x07, /* SUBTYPE, len 7 */
	'f', 'u', 's', 'e', '4', 'f', 's', 0x00,
	0x00, 0x0c, 0x00, 0x01, 0x00, 0x00, 0x00, 0x13, /* FUSE_OPTIONS, len 19 */
	'd', 'e', 'f', 'a', 'u', 'l', 't', '_', 'p', 'e', 'r', 'm', 'i', 's', 's', 'i',
	'o', 'n', 's', 0x00,
};

static const uint8_t mount_result[] = {
	0x46, 0x34, 0x53, 0x56, 0x00, 0x01, 0x00, 0x05, /* MOUNT_RESULT */
	0x00, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x00, 0x00, /* length 28 */
	0x00, 0x0d, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04, /* ERRNO 0 */
	0x00, 0x00, 0x00, 0x00,
};

static const uint8_t ready[] = {
	0x46, 0x34, 0x53, 0x56, 0x00, 0x01, 0x00, 0x06, /* READY */
	0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, /* length 16, no records */
};

/* ERROR: ERRNO 5 (EIO), MESSAGE "bad superblock" (not critical). */
static const uint8_t error_msg[] = {
	0x46, 0x34, 0x53, 0x56, 0x00, 0x01, 0x00, 0x07, /* ERROR */
	0x00, 0x00, 0x00, 0x34, 0x00, 0x00, 0x00, 0x00, /* length 52 */
	0x00, 0x0d, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04, /* ERRNO 5 */
	0x00, 0x00, 0x00, 0x05,
	0x00, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0e, /* MESSAGE, not critical, len 14 */
	'b', 'a', 'd', ' ', 's', 'u', 'p', 'e', 'r', 'b', 'l', 'o', 'c', 'k', 0x00, 0x00,
};

/* MOUNT_CONTEXT with OPTIONS and records in reverse tag order: order is free on the wire. */
static const uint8_t mount_context_opts[] = {
	0x46, 0x34, 0x53, 0x56, 0x00, 0x01, 0x00, 0x03,
	0x00, 0x00, 0x00, 0x64, 0x00, 0x00, 0x00, 0x00, /* length 100 */
	0x00, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0x0b, /* OPTIONS, len 11 */
	'a', 'l', 'l', 'o', 'w', '_', 'o', 't', 'h', 'e', 'r', 0x00,
	0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, /* MOUNT_FLAGS 0, not critical */
	0x00, 0x00, 0x00, 0x00,
	0x00, 0x07, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04, /* GID 0xfffffffe */
	0xff, 0xff, 0xff, 0xfe,
	0x00, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04, /* UID 0x01020304 */
	0x01, 0x02, 0x03, 0x04,
	0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04, /* MOUNTPOINT "/mnt" */
	'/', 'm', 'n', 't',
	0x00, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00, 0x08, /* DEVICE_PATH "/img.raw" (UTF-8 ok) */
	'/', 0xc3, 0xa9, 'g', '.', 'r', 'a', 'w',
};

/* HELLO from a newer peer: range 1..7, plus an unknown non-critical record (tag 0x4242) that
 * must be skipped. Header still in version 1. */
static const uint8_t hello_newer[] = {
	0x46, 0x34, 0x53, 0x56, 0x00, 0x01, 0x00, 0x01,
	0x00, 0x00, 0x00, 0x38, 0x00, 0x00, 0x00, 0x00, /* length 56 */
	0x42, 0x42, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, /* unknown tag, not critical, len 5 */
	'h', 'e', 'l', 'l', 'o', 0x00, 0x00, 0x00,
	0x00, 0x02, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, /* VERSION_MAX 7 */
	0x00, 0x07, 0x00, 0x00,
	0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, /* VERSION_MIN 1 */
	0x00, 0x01, 0x00, 0x00,
};

static struct proto_msg msg, sentinel;
static uint8_t buf[PROTO_MSG_MAX + 64];
static uint8_t out[PROTO_MSG_MAX + 64];

static void set_be16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void set_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = (v >> 16) & 0xff;
	p[2] = (v >> 8) & 0xff;
	p[3] = v & 0xff;
}

/* Copy a base message into buf for mutation; returns its length. */
static size_t from(const uint8_t *base, size_t n)
{
	memcpy(buf, base, n);
	return n;
}

/* Reject with the exact errno and reason, and leave the output untouched. */
#define REJECT(b, n, err, why)                                                                 \
	do {                                                                                   \
		const char *_why = NULL;                                                       \
		memset(&msg, 0xa5, sizeof(msg));                                               \
		TAP_EQ_INT(proto_decode((b), (n), &msg, &_why), (err));                        \
		TAP_EQ_STR(_why, (why));                                                       \
		TAP_OK(memcmp(&msg, &sentinel, sizeof(msg)) == 0);                             \
	} while (0)

#define ACCEPT(b, n)                                                                           \
	do {                                                                                   \
		const char *_why = "untouched";                                                \
		TAP_EQ_INT(proto_decode((b), (n), &msg, &_why), 0);                            \
		TAP_EQ_STR(_why, "untouched");                                                 \
	} while (0)

static void test_decode_valid(void)
{
	ACCEPT(hello, sizeof(hello));
	TAP_EQ_INT(msg.type, PROTO_MSG_HELLO);
	TAP_EQ_INT(msg.version, 1);
	TAP_EQ_INT(msg.present, (1u << PROTO_TAG_VERSION_MIN) | (1u << PROTO_TAG_VERSION_MAX));
	TAP_EQ_INT(msg.version_min, 1);
	TAP_EQ_INT(msg.version_max, 1);
	TAP_EQ_INT(msg.n_fds, 0);
	TAP_EQ_INT(msg.fds[0], -1);
	TAP_EQ_INT(msg.fds[1], -1);

	ACCEPT(hello_reply, sizeof(hello_reply));
	TAP_EQ_INT(msg.type, PROTO_MSG_HELLO_REPLY);
	TAP_EQ_INT(msg.present, 1u << PROTO_TAG_VERSION);
	TAP_EQ_INT(msg.version_chosen, 1);

	ACCEPT(mount_context, sizeof(mount_context));
	TAP_EQ_INT(msg.type, PROTO_MSG_MOUNT_CONTEXT);
	TAP_EQ_STR(msg.device_path, "/dev/sdb1");
	TAP_EQ_STR(msg.mountpoint, "/media/alice/stick");
	TAP_EQ_INT(msg.uid, 1000);
	TAP_EQ_INT(msg.gid, 1000);
	TAP_EQ_INT(msg.mount_flags, PROTO_MOUNT_RDONLY);
	TAP_OK(!PROTO_HAS(&msg, PROTO_TAG_OPTIONS));
	TAP_EQ_STR(msg.options, "");

	ACCEPT(mount_context_opts, sizeof(mount_context_opts));
	TAP_EQ_STR(msg.device_path, "/\xc3\xa9g.raw");
	TAP_EQ_STR(msg.mountpoint, "/mnt");
	TAP_EQ_INT(msg.uid, 0x01020304u);
	TAP_EQ_INT(msg.gid, 0xfffffffeu);
	TAP_EQ_INT(msg.mount_flags, 0);
	TAP_OK(PROTO_HAS(&msg, PROTO_TAG_OPTIONS));
	TAP_EQ_STR(msg.options, "allow_other");

	ACCEPT(mount_request, sizeof(mount_request));
	TAP_EQ_INT(msg.type, PROTO_MSG_MOUNT_REQUEST);
	TAP_EQ_STR(msg.source, "/dev/sdb1");
	TAP_EQ_STR(msg.mountpoint, "/media/alice/stick");
	TAP_EQ_STR(msg.subtype, "fuse4fs");
	TAP_EQ_INT(msg.mount_flags, PROTO_MOUNT_RDONLY);
	TAP_EQ_STR(msg.fuse_options, "default_permissions");

	ACCEPT(mount_result, sizeof(mount_result));
	TAP_EQ_INT(msg.type, PROTO_MSG_MOUNT_RESULT);
	TAP_OK(PROTO_HAS(&msg, PROTO_TAG_ERRNO));
	TAP_EQ_INT(msg.error, 0);

	ACCEPT(ready, sizeof(ready));
	TAP_EQ_INT(msg.type, PROTO_MSG_READY);
	TAP_EQ_INT(msg.present, 0);

	ACCEPT(error_msg, sizeof(error_msg));
	TAP_EQ_INT(msg.type, PROTO_MSG_ERROR);
	TAP_EQ_INT(msg.error, EIO);
	TAP_EQ_STR(msg.message, "bad superblock");

	ACCEPT(hello_newer, sizeof(hello_newer));
	TAP_EQ_INT(msg.version_min, 1);
	TAP_EQ_INT(msg.version_max, 7);
	TAP_EQ_INT(msg.present, (1u << PROTO_TAG_VERSION_MIN) | (1u << PROTO_TAG_VERSION_MAX));

	/* Validate-only mode. */
	TAP_EQ_INT(proto_decode(ready, sizeof(ready), NULL, NULL), 0);
	TAP_EQ_INT(proto_decode(ready, 3, NULL, NULL), -EBADMSG);
}

#define ENCODE_EQ(m, expect)                                                                   \
	do {                                                                                   \
		size_t _len = 0;                                                               \
		TAP_EQ_INT(proto_encode((m), out, sizeof(out), &_len), 0);                     \
		TAP_EQ_INT(_len, sizeof(expect));                                              \
		TAP_EQ_MEM(out, (expect), _len < sizeof(expect) ? _len : sizeof(expect));      \
	} while (0)

static void test_encode_exact(void)
{
	struct proto_msg m;

	proto_msg_init(&m, PROTO_MSG_HELLO, 1);
	proto_set_u16(&m, PROTO_TAG_VERSION_MIN, PROTO_VERSION_MIN);
	proto_set_u16(&m, PROTO_TAG_VERSION_MAX, PROTO_VERSION_MAX);
	ENCODE_EQ(&m, hello);

	proto_msg_init(&m, PROTO_MSG_HELLO_REPLY, 1);
	proto_set_u16(&m, PROTO_TAG_VERSION, 1);
	ENCODE_EQ(&m, hello_reply);

	/* Set in a scrambled order: the encoder writes tag order regardless. */
	proto_msg_init(&m, PROTO_MSG_MOUNT_CONTEXT, 1);
	proto_set_u32(&m, PROTO_TAG_MOUNT_FLAGS, PROTO_MOUNT_RDONLY);
	TAP_EQ_INT(proto_set_string(&m, PROTO_TAG_MOUNTPOINT, "/media/alice/stick"), 0);
	proto_set_u32(&m, PROTO_TAG_GID, 1000);
	TAP_EQ_INT(proto_set_string(&m, PROTO_TAG_DEVICE_PATH, "/dev/sdb1"), 0);
	proto_set_u32(&m, PROTO_TAG_UID, 1000);
	ENCODE_EQ(&m, mount_context);

	proto_msg_init(&m, PROTO_MSG_MOUNT_REQUEST, 1);
	TAP_EQ_INT(proto_set_string(&m, PROTO_TAG_SOURCE, "/dev/sdb1"), 0);
	TAP_EQ_INT(proto_set_string(&m, PROTO_TAG_MOUNTPOINT, "/media/alice/stick"), 0);
	TAP_EQ_INT(proto_set_string(&m, PROTO_TAG_SUBTYPE, "fuse4fs"), 0);
	proto_set_u32(&m, PROTO_TAG_MOUNT_FLAGS, PROTO_MOUNT_RDONLY);
	TAP_EQ_INT(proto_set_string(&m, PROTO_TAG_FUSE_OPTIONS, "default_permissions"), 0);
	ENCODE_EQ(&m, mount_request);

	proto_msg_init(&m, PROTO_MSG_MOUNT_RESULT, 1);
	proto_set_u32(&m, PROTO_TAG_ERRNO, 0);
	ENCODE_EQ(&m, mount_result);

	proto_msg_init(&m, PROTO_MSG_READY, 1);
	ENCODE_EQ(&m, ready);

	proto_msg_init(&m, PROTO_MSG_ERROR, 1);
	proto_set_u32(&m, PROTO_TAG_ERRNO, EIO);
	TAP_EQ_INT(proto_set_string(&m, PROTO_TAG_MESSAGE, "bad superblock"), 0);
	ENCODE_EQ(&m, error_msg);
}

static void test_encode_refuses(void)
{
	struct proto_msg m;
	static char big[PROTO_STRING_MAX + 2];
	size_t len = 12345;

	proto_msg_init(&m, PROTO_MSG_HELLO, 1);
	TAP_EQ_INT(m.fds[0], -1);
	TAP_EQ_INT(m.fds[1], -1);
	proto_set_u16(&m, PROTO_TAG_VERSION_MIN, 1);
	/* Required VERSION_MAX missing. */
	TAP_EQ_INT(proto_encode(&m, out, sizeof(out), &len), -EINVAL);
	TAP_EQ_INT(len, 12345);
	/* Wrong-typed setter sets nothing. */
	proto_set_u32(&m, PROTO_TAG_VERSION_MAX, 1);
	TAP_OK(!PROTO_HAS(&m, PROTO_TAG_VERSION_MAX));
	proto_set_u16(&m, PROTO_TAG_UID, 1);
	TAP_OK(!PROTO_HAS(&m, PROTO_TAG_UID));
	proto_set_u16(&m, PROTO_TAG_VERSION_MAX, 1);
	TAP_EQ_INT(proto_encode(&m, out, sizeof(out), &len), 0);
	TAP_EQ_INT(len, 40);
	/* Too small a buffer. */
	TAP_EQ_INT(proto_encode(&m, out, 39, &len), -EMSGSIZE);
	/* Record not allowed in HELLO. */
	proto_set_u32(&m, PROTO_TAG_ERRNO, 0);
	TAP_EQ_INT(proto_encode(&m, out, sizeof(out), &len), -EINVAL);
	/* min > max, version 0. */
	proto_msg_init(&m, PROTO_MSG_HELLO, 1);
	proto_set_u16(&m, PROTO_TAG_VERSION_MIN, 2);
	proto_set_u16(&m, PROTO_TAG_VERSION_MAX, 1);
	TAP_EQ_INT(proto_encode(&m, out, sizeof(out), &len), -EINVAL);
	proto_set_u16(&m, PROTO_TAG_VERSION_MIN, 0);
	TAP_EQ_INT(proto_encode(&m, out, sizeof(out), &len), -EINVAL);
	/* Unknown type, header versions out of range. */
	proto_msg_init(&m, 8, 1);
	TAP_EQ_INT(proto_encode(&m, out, sizeof(out), &len), -EINVAL);
	proto_msg_init(&m, PROTO_MSG_READY, 0);
	TAP_EQ_INT(proto_encode(&m, out, sizeof(out), &len), -EINVAL);
	proto_msg_init(&m, PROTO_MSG_READY, PROTO_VERSION_MAX + 1);
	TAP_EQ_INT(proto_encode(&m, out, sizeof(out), &len), -EINVAL);
	/* Present bits of no tag. */
	proto_msg_init(&m, PROTO_MSG_READY, 1);
	m.present = 1u << 20;
	TAP_EQ_INT(proto_encode(&m, out, sizeof(out), &len), -EINVAL);
	/* Unknown mount flag, errno out of range, ERROR with errno 0. */
	proto_msg_init(&m, PROTO_MSG_MOUNT_REQUEST, 1);
	proto_set_string(&m, PROTO_TAG_SOURCE, "/dev/sdb1");
	proto_set_string(&m, PROTO_TAG_MOUNTPOINT, "/mnt");
	proto_set_string(&m, PROTO_TAG_SUBTYPE, "fuse4fs");
	proto_set_u32(&m, PROTO_TAG_MOUNT_FLAGS, 2);
	TAP_EQ_INT(proto_encode(&m, out, sizeof(out), &len), -EINVAL);
	proto_msg_init(&m, PROTO_MSG_MOUNT_RESULT, 1);
	proto_set_u32(&m, PROTO_TAG_ERRNO, 4096);
	TAP_EQ_INT(proto_encode(&m, out, sizeof(out), &len), -EINVAL);
	proto_msg_init(&m, PROTO_MSG_ERROR, 1);
	proto_set_u32(&m, PROTO_TAG_ERRNO, 0);
	TAP_EQ_INT(proto_encode(&m, out, sizeof(out), &len), -EINVAL);

	/* String setters. */
	proto_msg_init(&m, PROTO_MSG_ERROR, 1);
	memset(big, 'a', sizeof(big) - 1);
	TAP_EQ_INT(proto_set_string(&m, PROTO_TAG_MESSAGE, big), -ENAMETOOLONG);
	big[PROTO_MESSAGE_MAX] = 0;
	TAP_EQ_INT(proto_set_string(&m, PROTO_TAG_MESSAGE, big), 0);
	TAP_EQ_INT(strlen(m.message), PROTO_MESSAGE_MAX);
	memset(big, 'a', sizeof(big) - 1);
	TAP_EQ_INT(proto_set_string(&m, PROTO_TAG_DEVICE_PATH, big), -ENAMETOOLONG);
	big[PROTO_STRING_MAX] = 0;
	TAP_EQ_INT(proto_set_string(&m, PROTO_TAG_DEVICE_PATH, big), 0);
	TAP_EQ_INT(proto_set_string(&m, PROTO_TAG_UID, "x"), -EINVAL);
	TAP_EQ_INT(proto_set_string(&m, PROTO_TAG_MESSAGE, ""), -EINVAL);
	TAP_EQ_INT(proto_set_string(&m, PROTO_TAG_MESSAGE, "two\nlines"), -EINVAL);
	TAP_EQ_INT(proto_set_string(&m, PROTO_TAG_MESSAGE, "\x1b[2J"), -EINVAL);
	/* A string corrupted behind the setter's back is still refused by the encoder. */
	proto_msg_init(&m, PROTO_MSG_ERROR, 1);
	proto_set_u32(&m, PROTO_TAG_ERRNO, EIO);
	proto_set_string(&m, PROTO_TAG_MESSAGE, "ok");
	m.message[0] = '\t';
	TAP_EQ_INT(proto_encode(&m, out, sizeof(out), &len), -EINVAL);
	memset(m.message, 'b', sizeof(m.message)); /* no terminator at all */
	TAP_EQ_INT(proto_encode(&m, out, sizeof(out), &len), -EINVAL);
	m.message[0] = 0;
	TAP_EQ_INT(proto_encode(&m, out, sizeof(out), &len), -EINVAL);

	/* Largest legal message round-trips. */
	proto_msg_init(&m, PROTO_MSG_MOUNT_REQUEST, 1);
	memset(big, 'p', PROTO_STRING_MAX);
	big[0] = '/';
	big[PROTO_STRING_MAX] = 0;
	TAP_EQ_INT(proto_set_string(&m, PROTO_TAG_SOURCE, big), 0);
	TAP_EQ_INT(proto_set_string(&m, PROTO_TAG_MOUNTPOINT, big), 0);
	TAP_EQ_INT(proto_set_string(&m, PROTO_TAG_SUBTYPE, big), 0);
	TAP_EQ_INT(proto_set_string(&m, PROTO_TAG_FUSE_OPTIONS, big), 0);
	proto_set_u32(&m, PROTO_TAG_MOUNT_FLAGS, 0);
	TAP_EQ_INT(proto_encode(&m, out, sizeof(out), &len), 0);
	TAP_EQ_INT(len, 16 + 4 * (8 + PROTO_STRING_MAX) + 12);
	ACCEPT(out, len);
	TAP_EQ_INT(strlen(msg.fuse_options), PROTO_STRING_MAX);
	TAP_OK(memcmp(msg.source, big, PROTO_STRING_MAX + 1) == 0);
}

/* READY followed by n empty unknown non-critical records (tag 0x7777), built in buf. */
static size_t ready_with_records(unsigned n)
{
	size_t len = 16 + 8 * (size_t)n;

	memcpy(buf, ready, sizeof(ready));
	set_be32(buf + 8, (uint32_t)len);
	for (unsigned i = 0; i < n; i++) {
		uint8_t *r = buf + 16 + 8 * i;

		set_be16(r, 0x7777);
		set_be16(r + 2, 0);
		set_be32(r + 4, 0);
	}
	return len;
}

/* ERROR with ERRNO 5 then a MESSAGE of vlen bytes of c, padded, built in buf. */
static size_t error_with_message(uint16_t tag, size_t vlen, uint8_t c)
{
	size_t padded = (vlen + 3) & ~(size_t)3;
	size_t len = 16 + 12 + 8 + padded;

	memcpy(buf, error_msg, 28);
	set_be32(buf + 8, (uint32_t)len);
	set_be16(buf + 28, tag);
	set_be16(buf + 30, 0);
	set_be32(buf + 32, (uint32_t)vlen);
	memset(buf + 36, c, vlen);
	memset(buf + 36 + vlen, 0, padded - vlen);
	return len;
}

static void test_decode_rejects(void)
{
	size_t n;

	/* Header. */
	REJECT(hello, 0, -EBADMSG, "short header");
	REJECT(hello, 15, -EBADMSG, "short header");
	n = from(ready, sizeof(ready));
	set_be32(buf + 8, PROTO_MSG_MAX + 4);
	memset(buf + 16, 0, PROTO_MSG_MAX + 4 - 16);
	REJECT(buf, PROTO_MSG_MAX + 4, -EMSGSIZE, "message over PROTO_MSG_MAX");
	n = from(hello, sizeof(hello));
	buf[0] = 0x47;
	REJECT(buf, n, -EBADMSG, "bad magic");
	n = from(hello, sizeof(hello));
	buf[3] = 0x57;
	REJECT(buf, n, -EBADMSG, "bad magic");
	n = from(hello, sizeof(hello));
	buf[5] = 0x00;
	REJECT(buf, n, -EPROTONOSUPPORT, "unsupported protocol version");
	buf[5] = 0x02;
	REJECT(buf, n, -EPROTONOSUPPORT, "unsupported protocol version");
	buf[4] = 0x01;
	buf[5] = 0x01;
	REJECT(buf, n, -EPROTONOSUPPORT, "unsupported protocol version");
	n = from(ready, sizeof(ready));
	buf[7] = 0x00;
	REJECT(buf, n, -EBADMSG, "unknown message type");
	buf[7] = 0x08;
	REJECT(buf, n, -EBADMSG, "unknown message type");
	buf[6] = 0x01;
	buf[7] = 0x06;
	REJECT(buf, n, -EBADMSG, "unknown message type");
	n = from(hello, sizeof(hello));
	buf[11] = 0x2c; /* says 44, datagram is 40 */
	REJECT(buf, n, -EBADMSG, "header length does not match datagram length");
	buf[11] = 0x24; /* says 36 */
	REJECT(buf, n, -EBADMSG, "header length does not match datagram length");
	n = from(hello, sizeof(hello));
	memset(buf + n, 0, 4); /* 4 trailing bytes the header does not count */
	REJECT(buf, n + 4, -EBADMSG, "header length does not match datagram length");
	n = from(hello, sizeof(hello));
	buf[15] = 0x01;
	REJECT(buf, n, -EBADMSG, "reserved header field not zero");
	n = from(hello, sizeof(hello));
	buf[12] = 0x80;
	REJECT(buf, n, -EBADMSG, "reserved header field not zero");

	/* Record framing. */
	{
		static const uint8_t trunc_hdr[] = {
			0x46, 0x34, 0x53, 0x56, 0x00, 0x01, 0x00, 0x06,
			0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, /* length 20 */
			0x77, 0x77, 0x00, 0x00,                         /* half a record header */
		};
		static const uint8_t trunc_val[] = {
			0x46, 0x34, 0x53, 0x56, 0x00, 0x01, 0x00, 0x02,
			0x00, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x00, 0x00, /* length 28 */
			0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x08, /* VERSION, len 8 */
			0x00, 0x01, 0x00, 0x00,                         /* only 4 left */
		};
		static const uint8_t huge_val[] = {
			0x46, 0x34, 0x53, 0x56, 0x00, 0x01, 0x00, 0x02,
			0x00, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x00, 0x00,
			0x00, 0x03, 0x00, 0x01, 0xff, 0xff, 0xff, 0xfd, /* len 2^32-3: wraps */
			0x00, 0x01, 0x00, 0x00,
		};
		REJECT(trunc_hdr, sizeof(trunc_hdr), -EBADMSG, "truncated record header");
		REJECT(trunc_val, sizeof(trunc_val), -EBADMSG, "truncated record value");
		REJECT(huge_val, sizeof(huge_val), -EBADMSG, "truncated record value");
	}
	n = from(hello, sizeof(hello));
	buf[26] = 0x01; /* first padding byte of VERSION_MIN */
	REJECT(buf, n, -EBADMSG, "record padding not zero");
	n = from(hello, sizeof(hello));
	buf[39] = 0x80; /* last byte of the message: padding of VERSION_MAX */
	REJECT(buf, n, -EBADMSG, "record padding not zero");
	/* ERROR whose MESSAGE (14 bytes) ends the datagram without its 2 padding bytes. */
	n = from(error_msg, sizeof(error_msg) - 2);
	buf[11] = 0x32;
	REJECT(buf, n, -EBADMSG, "missing record padding");
	n = from(hello, sizeof(hello));
	buf[19] = 0x03; /* CRITICAL | 0x2 */
	REJECT(buf, n, -EBADMSG, "unknown record flag");
	n = from(hello, sizeof(hello));
	buf[18] = 0x80;
	buf[19] = 0x00;
	REJECT(buf, n, -EBADMSG, "unknown record flag");

	/* Value sizes. */
	n = from(hello, sizeof(hello));
	buf[23] = 0x04; /* VERSION_MIN with 4 bytes: 00 01 00 00 */
	REJECT(buf, n, -EBADMSG, "u16 record not 2 bytes");
	n = from(hello, sizeof(hello));
	buf[23] = 0x01; /* VERSION_MIN with 1 byte: 00 + padding 01 00 00 */
	buf[24] = 0x00;
	buf[25] = 0x00;
	REJECT(buf, n, -EBADMSG, "u16 record not 2 bytes");
	{
		static const uint8_t errno2[] = {
			0x46, 0x34, 0x53, 0x56, 0x00, 0x01, 0x00, 0x05,
			0x00, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x00, 0x00,
			0x00, 0x0d, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, /* ERRNO, len 2 */
			0x00, 0x05, 0x00, 0x00,
		};
		static const uint8_t errno8[] = {
			0x46, 0x34, 0x53, 0x56, 0x00, 0x01, 0x00, 0x05,
			0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00,
			0x00, 0x0d, 0x00, 0x01, 0x00, 0x00, 0x00, 0x08, /* ERRNO, len 8 */
			0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,
		};
		REJECT(errno2, sizeof(errno2), -EBADMSG, "u32 record not 4 bytes");
		REJECT(errno8, sizeof(errno8), -EBADMSG, "u32 record not 4 bytes");
	}

	/* Strings. */
	{
		static const uint8_t empty_msg[] = {
			0x46, 0x34, 0x53, 0x56, 0x00, 0x01, 0x00, 0x07,
			0x00, 0x00, 0x00, 0x24, 0x00, 0x00, 0x00, 0x00, /* length 36 */
			0x00, 0x0d, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04,
			0x00, 0x00, 0x00, 0x05,
			0x00, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* MESSAGE, len 0 */
		};
		REJECT(empty_msg, sizeof(empty_msg), -EBADMSG, "empty string");
	}
	n = from(error_msg, sizeof(error_msg));
	buf[39] = 0x00; /* "bad\0superblock" */
	REJECT(buf, n, -EBADMSG, "string contains NUL");
	n = from(error_msg, sizeof(error_msg));
	buf[49] = 0x00; /* trailing NUL counted in the length */
	REJECT(buf, n, -EBADMSG, "string contains NUL");
	n = from(error_msg, sizeof(error_msg));
	buf[39] = '\n';
	REJECT(buf, n, -EBADMSG, "string contains a control character");
	buf[39] = 0x1b;
	REJECT(buf, n, -EBADMSG, "string contains a control character");
	buf[39] = 0x7f;
	REJECT(buf, n, -EBADMSG, "string contains a control character");
	buf[39] = 0x80; /* high bytes are fine (UTF-8) */
	ACCEPT(buf, n);
	n = from(mount_context, sizeof(mount_context));
	buf[28] = 0x01; /* control char in DEVICE_PATH */
	REJECT(buf, n, -EBADMSG, "string contains a control character");

	n = error_with_message(PROTO_TAG_MESSAGE, PROTO_MESSAGE_MAX, 'm');
	ACCEPT(buf, n);
	TAP_EQ_INT(strlen(msg.message), PROTO_MESSAGE_MAX);
	n = error_with_message(PROTO_TAG_MESSAGE, PROTO_MESSAGE_MAX + 1, 'm');
	REJECT(buf, n, -EMSGSIZE, "MESSAGE over PROTO_MESSAGE_MAX");
	{
		/* MOUNT_REQUEST whose SOURCE is one byte over PROTO_STRING_MAX. */
		size_t vlen = PROTO_STRING_MAX + 1, padded = (vlen + 3) & ~(size_t)3;

		n = from(mount_request, 16);
		buf[16] = 0x00;
		buf[17] = 0x0a; /* SOURCE */
		buf[18] = 0x00;
		buf[19] = 0x01;
		set_be32(buf + 20, (uint32_t)vlen);
		memset(buf + 24, 's', vlen);
		memset(buf + 24 + vlen, 0, padded - vlen);
		n = 24 + padded;
		set_be32(buf + 8, (uint32_t)n);
		REJECT(buf, n, -EMSGSIZE, "string over PROTO_STRING_MAX");
	}

	/* Record sets. */
	{
		static const uint8_t dup[] = {
			0x46, 0x34, 0x53, 0x56, 0x00, 0x01, 0x00, 0x02,
			0x00, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x00,
			0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00,
			0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00,
		};
		static const uint8_t unknown_crit[] = {
			0x46, 0x34, 0x53, 0x56, 0x00, 0x01, 0x00, 0x06,
			0x00, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x00, 0x00,
			0x00, 0x63, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04, /* tag 99, CRITICAL */
			0xde, 0xad, 0xbe, 0xef,
		};
		static const uint8_t unknown_skip[] = {
			0x46, 0x34, 0x53, 0x56, 0x00, 0x01, 0x00, 0x06,
			0x00, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x00, 0x00,
			0x00, 0x63, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, /* tag 99 */
			0xde, 0xad, 0xbe, 0xef,
		};
		static const uint8_t tag0_crit[] = {
			0x46, 0x34, 0x53, 0x56, 0x00, 0x01, 0x00, 0x06,
			0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00, 0x00,
			0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, /* tag 0, CRITICAL */
		};
		static const uint8_t not_allowed[] = {
			0x46, 0x34, 0x53, 0x56, 0x00, 0x01, 0x00, 0x02,
			0x00, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x00,
			0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00,
			0x00, 0x0d, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00,
		};
		static const uint8_t ready_with_msg[] = {
			0x46, 0x34, 0x53, 0x56, 0x00, 0x01, 0x00, 0x06,
			0x00, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x00, 0x00,
			0x00, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 'h', 'i', 0x00, 0x00,
		};
		static const uint8_t hello_no_max[] = {
			0x46, 0x34, 0x53, 0x56, 0x00, 0x01, 0x00, 0x01,
			0x00, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x00, 0x00,
			0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00,
		};
		static const uint8_t reply_empty[] = {
			0x46, 0x34, 0x53, 0x56, 0x00, 0x01, 0x00, 0x02,
			0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00,
		};
		REJECT(dup, sizeof(dup), -EBADMSG, "duplicate record");
		REJECT(unknown_crit, sizeof(unknown_crit), -EBADMSG, "unknown critical record");
		REJECT(tag0_crit, sizeof(tag0_crit), -EBADMSG, "unknown critical record");
		ACCEPT(unknown_skip, sizeof(unknown_skip));
		TAP_EQ_INT(msg.type, PROTO_MSG_READY);
		TAP_EQ_INT(msg.present, 0);
		REJECT(not_allowed, sizeof(not_allowed), -EBADMSG,
		       "record not allowed in this message type");
		REJECT(ready_with_msg, sizeof(ready_with_msg), -EBADMSG,
		       "record not allowed in this message type");
		REJECT(hello_no_max, sizeof(hello_no_max), -EBADMSG,
		       "required record VERSION_MAX missing");
		REJECT(reply_empty, sizeof(reply_empty), -EBADMSG,
		       "required record VERSION missing");
	}
	/* MOUNT_CONTEXT without MOUNTPOINT: cut the record out (bytes 36..63). */
	memcpy(buf, mount_context, 36);
	memcpy(buf + 36, mount_context + 64, sizeof(mount_context) - 64);
	n = sizeof(mount_context) - 28;
	buf[11] = (uint8_t)n;
	REJECT(buf, n, -EBADMSG, "required record MOUNTPOINT missing");
	/* MOUNT_REQUEST without SUBTYPE (bytes 76..91). */
	memcpy(buf, mount_request, 76);
	memcpy(buf + 76, mount_request + 92, sizeof(mount_request) - 92);
	n = sizeof(mount_request) - 16;
	buf[11] = (uint8_t)n;
	REJECT(buf, n, -EBADMSG, "required record SUBTYPE missing");
	/* MOUNT_RESULT / ERROR without ERRNO. */
	n = from(ready, sizeof(ready));
	buf[7] = PROTO_MSG_MOUNT_RESULT;
	REJECT(buf, n, -EBADMSG, "required record ERRNO missing");
	buf[7] = PROTO_MSG_ERROR;
	REJECT(buf, n, -EBADMSG, "required record ERRNO missing");

	n = ready_with_records(PROTO_TLV_MAX);
	ACCEPT(buf, n);
	n = ready_with_records(PROTO_TLV_MAX + 1);
	REJECT(buf, n, -EBADMSG, "more than PROTO_TLV_MAX records");
	n = ready_with_records(PROTO_MSG_MAX / 8 - 2);
	REJECT(buf, n, -EBADMSG, "more than PROTO_TLV_MAX records");

	/* Values. */
	n = from(mount_context, sizeof(mount_context));
	buf[99] = 0x03;
	REJECT(buf, n, -EBADMSG, "unknown mount flag");
	buf[99] = 0x01;
	buf[96] = 0x80;
	REJECT(buf, n, -EBADMSG, "unknown mount flag");
	n = from(hello, sizeof(hello));
	buf[25] = 0x00;
	REJECT(buf, n, -EBADMSG, "version 0");
	n = from(hello, sizeof(hello));
	buf[25] = 0x02; /* min 2 > max 1 */
	REJECT(buf, n, -EBADMSG, "VERSION_MIN above VERSION_MAX");
	n = from(hello_reply, sizeof(hello_reply));
	buf[25] = 0x00;
	REJECT(buf, n, -EBADMSG, "version 0");
	n = from(mount_result, sizeof(mount_result));
	buf[26] = 0x10; /* 4096 */
	REJECT(buf, n, -EBADMSG, "errno out of range");
	buf[26] = 0x0f;
	buf[27] = 0xff; /* 4095 */
	ACCEPT(buf, n);
	TAP_EQ_INT(msg.error, 4095);
	n = from(mount_result, sizeof(mount_result));
	buf[24] = 0xff; /* -1 as u32 */
	REJECT(buf, n, -EBADMSG, "errno out of range");
	n = from(error_msg, sizeof(error_msg));
	buf[27] = 0x00;
	REJECT(buf, n, -EBADMSG, "ERROR with errno 0");

	/* A NULL reason pointer is fine. */
	TAP_EQ_INT(proto_decode(hello, 15, NULL, NULL), -EBADMSG);
}

static void test_round_trip(void)
{
	const struct {
		const uint8_t *b;
		size_t n;
	} all[] = {
		{ hello, sizeof(hello) },
		{ hello_reply, sizeof(hello_reply) },
		{ mount_context, sizeof(mount_context) },
		{ mount_context_opts, sizeof(mount_context_opts) },
		{ mount_request, sizeof(mount_request) },
		{ mount_result, sizeof(mount_result) },
		{ ready, sizeof(ready) },
		{ error_msg, sizeof(error_msg) },
		{ hello_newer, sizeof(hello_newer) },
	};
	static struct proto_msg a, b;

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		size_t len;

		TAP_EQ_INT(proto_decode(all[i].b, all[i].n, &a, NULL), 0);
		TAP_EQ_INT(proto_encode(&a, out, sizeof(out), &len), 0);
		TAP_EQ_INT(proto_decode(out, len, &b, NULL), 0);
		TAP_OK(memcmp(&a, &b, sizeof(a)) == 0);
	}
}

static void test_names(void)
{
	TAP_EQ_STR(proto_msg_type_name(PROTO_MSG_HELLO), "HELLO");
	TAP_EQ_STR(proto_msg_type_name(PROTO_MSG_HELLO_REPLY), "HELLO_REPLY");
	TAP_EQ_STR(proto_msg_type_name(PROTO_MSG_MOUNT_CONTEXT), "MOUNT_CONTEXT");
	TAP_EQ_STR(proto_msg_type_name(PROTO_MSG_MOUNT_REQUEST), "MOUNT_REQUEST");
	TAP_EQ_STR(proto_msg_type_name(PROTO_MSG_MOUNT_RESULT), "MOUNT_RESULT");
	TAP_EQ_STR(proto_msg_type_name(PROTO_MSG_READY), "READY");
	TAP_EQ_STR(proto_msg_type_name(PROTO_MSG_ERROR), "ERROR");
	TAP_EQ_STR(proto_msg_type_name(0), "unknown");
	TAP_EQ_STR(proto_msg_type_name(8), "unknown");
	TAP_EQ_STR(proto_msg_type_name(0xffff), "unknown");
	TAP_EQ_INT(proto_msg_type_fds(PROTO_MSG_MOUNT_CONTEXT), 2);
	TAP_EQ_INT(proto_msg_type_fds(PROTO_MSG_HELLO), 0);
	TAP_EQ_INT(proto_msg_type_fds(0xffff), 0);
}

int main(void)
{
	tap_plan_start();
	memset(&sentinel, 0xa5, sizeof(sentinel));
	test_decode_valid();
	test_encode_exact();
	test_encode_refuses();
	test_decode_rejects();
	test_round_trip();
	test_names();
	return tap_plan_end();
}
