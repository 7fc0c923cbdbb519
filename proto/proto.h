/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libproto: encoder, decoder and fd-passing transport of the fuservice protocol, shared by the
 * helper, the service, the tests and the fuzzers. Library code: it returns -errno and never
 * logs; the caller decides what to tell the user.
 */
#ifndef FUSE4FS_PROTO_H
#define FUSE4FS_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fuservice-proto.h"

/* One message, decoded or to be encoded. Records present are flagged in `present` as
 * (1u << tag); a field is meaningful only when its bit is set. Strings are NUL-terminated
 * here and carried without the NUL on the wire. */
struct proto_msg {
	uint16_t version; /* header version: the one this message is (to be) written in */
	uint16_t type;    /* enum proto_msg_type */
	uint32_t present;

	uint16_t version_min;
	uint16_t version_max;
	uint16_t version_chosen; /* PROTO_TAG_VERSION */
	uint32_t uid;
	uint32_t gid;
	uint32_t mount_flags;
	uint32_t error; /* PROTO_TAG_ERRNO, positive errno */

	char device_path[PROTO_STRING_MAX + 1];
	char mountpoint[PROTO_STRING_MAX + 1];
	char options[PROTO_STRING_MAX + 1];
	char source[PROTO_STRING_MAX + 1];
	char subtype[PROTO_STRING_MAX + 1];
	char fuse_options[PROTO_STRING_MAX + 1];
	char message[PROTO_MESSAGE_MAX + 1];

	/* Filled by proto_recv() only; -1 where absent. Owned by the caller once returned. */
	int fds[PROTO_FDS_MAX];
	unsigned n_fds;
};

#define PROTO_HAS(m, tag) (((m)->present & (1u << (tag))) != 0)

/* Zero the message, set its type and version, mark every fd absent. */
void proto_msg_init(struct proto_msg *m, uint16_t type, uint16_t version);

/* Setters mark the record present. proto_set_string() returns -ENAMETOOLONG for a string over
 * its wire limit (PROTO_MESSAGE_MAX for MESSAGE, PROTO_STRING_MAX otherwise) and -EINVAL for a
 * tag that is not a string, or for a string the decoder would reject: empty, or containing a
 * control character (0x01-0x1f, 0x7f). proto_set_u16()/proto_set_u32() with a tag of another
 * type set nothing, so the following proto_encode() fails with -EINVAL. */
void proto_set_u16(struct proto_msg *m, enum proto_tag tag, uint16_t v);
void proto_set_u32(struct proto_msg *m, enum proto_tag tag, uint32_t v);
int proto_set_string(struct proto_msg *m, enum proto_tag tag, const char *s);

/* Bytes out. Checks that the records present are exactly those the type allows and that
 * every required one is there and that every value passes the decoder's checks (-EINVAL
 * otherwise), writes *ret_len on success. -EMSGSIZE when buf is too small. Records go out in
 * tag order. */
int proto_encode(const struct proto_msg *m, uint8_t *buf, size_t size, size_t *ret_len);

/* Bytes in, struct out; pure (no fds, no syscalls, no allocation). ret may be NULL to only
 * validate. On failure returns -errno and, when ret_reason is not NULL, a static string that
 * names exactly what was wrong (docs/protocol.md lists them all):
 *   -EBADMSG   malformed: bad magic, short header, length mismatch, truncated record, nonzero
 *              reserved field or padding, unknown flag bit, wrong value size, embedded NUL,
 *              duplicate record, unknown critical record, record not allowed for this type,
 *              required record missing, unknown message type, too many records, empty
 *              string or one with a control character, unknown MOUNT_FLAGS bit, version 0,
 *              VERSION_MIN > VERSION_MAX, ERRNO over 4095, ERROR with ERRNO 0
 *   -EMSGSIZE  datagram or string over its limit
 *   -EPROTONOSUPPORT  header version outside PROTO_VERSION_MIN..MAX
 * The output is written only on success. */
int proto_decode(const uint8_t *buf, size_t len, struct proto_msg *ret, const char **ret_reason);

/* Encode and send one datagram with MSG_NOSIGNAL, passing n_fds descriptors with SCM_RIGHTS.
 * -EPIPE/-ECONNRESET when the peer is gone, -EPERM when the peer refuses fds (SO_PASSRIGHTS=0),
 * -EINVAL when the message does not encode or n_fds is not what its type carries
 * (proto_msg_type_fds()): the receiver would reject it anyway. */
int proto_send(int sock, const struct proto_msg *m, const int *fds, unsigned n_fds);

/* Wait at most timeout_ms (-1: forever; only for callers with another bound) for one datagram,
 * receive it with MSG_CMSG_CLOEXEC into a control buffer sized for exactly `fds_expected`
 * descriptors, and decode it. The message must carry exactly PROTO_MOUNT_CONTEXT_FDS fds if
 * it is a MOUNT_CONTEXT and none otherwise, and fds_expected must allow that.
 * Errors (every fd that arrived is closed first):
 *   -ETIMEDOUT   nothing within timeout_ms
 *   -ECONNRESET  peer closed (zero-length read or reset)
 *   -EMSGSIZE    MSG_TRUNC (datagram over PROTO_MSG_MAX)
 *   -EBADMSG     MSG_CTRUNC, a control message of the wrong level/type/length, wrong fd count,
 *                or anything proto_decode() rejects (its reason in *ret_reason)
 * On success the fds are in ret->fds / ret->n_fds and belong to the caller. */
int proto_recv(int sock, int timeout_ms, unsigned fds_expected, struct proto_msg *ret,
	       const char **ret_reason);

/* Close every fd a received message holds and mark them absent. */
void proto_msg_close_fds(struct proto_msg *m);

/* fd type checks done by the receiver of MOUNT_CONTEXT. */
/* /dev/fuse: a character device 10:229. -ENODEV otherwise. */
int proto_check_fuse_fd(int fd);
/* A block device or a regular file. -ENODEV otherwise. *ret_is_block is set on success. */
int proto_check_device_fd(int fd, bool *ret_is_block);

/* Ask the kernel not to let this socket receive fds at all (SO_PASSRIGHTS=0, Linux 6.16+).
 * Returns 0, or -ENOPROTOOPT on kernels without it (callers treat that as fine: proto_recv
 * still rejects fds it did not expect). */
int proto_disable_passrights(int sock);

/* Names for logs and docs: "HELLO", "MOUNT_REQUEST", ... or "unknown". */
const char *proto_msg_type_name(uint16_t type);

/* How many fds must travel with a message of this type (PROTO_MOUNT_CONTEXT_FDS for
 * MOUNT_CONTEXT, 0 for the others and for unknown types). */
unsigned proto_msg_type_fds(uint16_t type);

#endif
