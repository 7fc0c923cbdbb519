/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fuservice wire format: message types, TLV tags, limits and the version range.
 * Nothing else lives here. docs/protocol.md describes the same bytes for a reader who never
 * opens the code; keep the two in step.
 *
 * Every integer on the wire is big-endian. A message is one SOCK_SEQPACKET datagram:
 *
 *   header (16 bytes)
 *     u32 magic     PROTO_MAGIC
 *     u16 version   the protocol version this message is written in
 *     u16 type      enum proto_msg_type
 *     u32 length    total length of the datagram, header included
 *     u32 reserved  must be zero
 *   records, back to back, until length:
 *     u16 tag       enum proto_tag
 *     u16 flags     PROTO_TLV_CRITICAL; every other bit must be zero
 *     u32 length    length of value (padding excluded)
 *     value         length bytes
 *     padding       zero bytes up to the next multiple of 4
 */
#ifndef FUSERVICE_PROTO_H
#define FUSERVICE_PROTO_H

#define PROTO_MAGIC 0x46345356u /* "F4SV" */

/* Versions this code speaks. HELLO carries the sender's range; the server picks the highest
 * common one and every later message is written in it. */
#define PROTO_VERSION_MIN 1
#define PROTO_VERSION_MAX 1

#define PROTO_HEADER_SIZE 16
#define PROTO_TLV_HEADER_SIZE 8
#define PROTO_ALIGN 4

/* Whole datagram, header included. A larger one is rejected (and MSG_TRUNC is an error). */
#define PROTO_MSG_MAX 65536
/* Records in one message, repeats included. */
#define PROTO_TLV_MAX 64
/* Bytes of one string value, without a terminator; strings carry no NUL on the wire. */
#define PROTO_STRING_MAX 4096
/* Bytes of the free-text MESSAGE value; longer ones are rejected, not truncated. */
#define PROTO_MESSAGE_MAX 1024
/* File descriptors in one message. Only MOUNT_CONTEXT carries any (exactly 2). */
#define PROTO_FDS_MAX 2

/* Record flag: a receiver that does not know this tag must reject the message. Unknown
 * records without it are skipped, so newer peers can add optional fields. */
#define PROTO_TLV_CRITICAL 0x0001u
#define PROTO_TLV_FLAGS_KNOWN PROTO_TLV_CRITICAL

enum proto_msg_type {
	/* helper -> server: VERSION_MIN, VERSION_MAX. */
	PROTO_MSG_HELLO = 1,
	/* server -> helper: VERSION (the chosen one). */
	PROTO_MSG_HELLO_REPLY = 2,
	/* helper -> server, with fds [device, /dev/fuse]: DEVICE_PATH, MOUNTPOINT, UID, GID,
	 * MOUNT_FLAGS, OPTIONS (optional). */
	PROTO_MSG_MOUNT_CONTEXT = 3,
	/* server -> helper: SOURCE, MOUNTPOINT, SUBTYPE, MOUNT_FLAGS, FUSE_OPTIONS (optional). */
	PROTO_MSG_MOUNT_REQUEST = 4,
	/* helper -> server: ERRNO (0: the mount exists, serve it). */
	PROTO_MSG_MOUNT_RESULT = 5,
	/* server -> helper: the session loop is running. No records. */
	PROTO_MSG_READY = 6,
	/* either way, then the sender closes: ERRNO, MESSAGE (optional). */
	PROTO_MSG_ERROR = 7,
};
#define PROTO_MSG_TYPE_MAX PROTO_MSG_ERROR

enum proto_tag {
	PROTO_TAG_VERSION_MIN = 1,  /* u16 */
	PROTO_TAG_VERSION_MAX = 2,  /* u16 */
	PROTO_TAG_VERSION = 3,      /* u16 */
	PROTO_TAG_DEVICE_PATH = 4,  /* string: the device or image path as the user named it, canonical */
	PROTO_TAG_MOUNTPOINT = 5,   /* string: absolute mountpoint path, canonical */
	PROTO_TAG_UID = 6,          /* u32: the calling user */
	PROTO_TAG_GID = 7,          /* u32: the calling user's primary group */
	PROTO_TAG_MOUNT_FLAGS = 8,  /* u32: PROTO_MOUNT_* bits */
	PROTO_TAG_OPTIONS = 9,      /* string: filesystem options the helper accepted, comma-separated */
	PROTO_TAG_SOURCE = 10,      /* string: mount source the server asks for */
	PROTO_TAG_SUBTYPE = 11,     /* string: FUSE subtype, "fuse4fs" */
	PROTO_TAG_FUSE_OPTIONS = 12, /* string: extra FUSE mount options, from an allowlist */
	PROTO_TAG_ERRNO = 13,       /* u32: positive errno, 0 for success */
	PROTO_TAG_MESSAGE = 14,     /* string: human-readable detail for an ERROR */
};
#define PROTO_TAG_MAX PROTO_TAG_MESSAGE

/* PROTO_TAG_MOUNT_FLAGS bits. Unknown bits are rejected. */
#define PROTO_MOUNT_RDONLY 0x00000001u
#define PROTO_MOUNT_FLAGS_KNOWN PROTO_MOUNT_RDONLY

/* Index of each fd in MOUNT_CONTEXT's SCM_RIGHTS array. */
#define PROTO_FD_DEVICE 0
#define PROTO_FD_FUSE 1
#define PROTO_MOUNT_CONTEXT_FDS 2

#endif
