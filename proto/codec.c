/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Encoder and decoder of the fuservice wire format (fuservice-proto.h, docs/protocol.md).
 *
 * The decoder is the first code in the setuid helper and in the server that touches bytes the
 * other side controls, so it is pure (bytes in, struct out: no fds, no allocation, no syscalls)
 * and strict: everything that is not exactly a message this version writes is rejected with
 * a precise static reason, except unknown records without the CRITICAL flag, which a newer
 * peer may add. The encoder runs the same checks, so we never emit what we would reject.
 *
 * Byte order is fixed (big-endian) and converted only by the pack/unpack helpers below, a byte
 * at a time: no casts of buffers to structs, no alignment or host byte order assumptions.
 */
#include <errno.h>
#include <string.h>

#include "proto.h"

#define BIT(tag) (1u << (tag))

/* Errno values fit in 12 bits on Linux (MAX_ERRNO 4095); anything larger is garbage that a
 * receiver might use as an index (strerror tables, udisks CVE-2025-8067-like bugs). */
#define PROTO_ERRNO_MAX 4095u

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)(((uint16_t)p[0] << 8) | p[1]);
}

static uint32_t get_u32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static size_t align4(size_t n)
{
	return (n + (PROTO_ALIGN - 1)) & ~(size_t)(PROTO_ALIGN - 1);
}

enum tag_kind {
	KIND_NONE = 0, /* not a tag this version knows */
	KIND_U16,
	KIND_U32,
	KIND_STRING,
};

struct tag_info {
	const char *name;
	enum tag_kind kind;
	uint16_t max;	     /* strings: byte limit without terminator */
	bool critical;	     /* the encoder sets PROTO_TLV_CRITICAL on this record */
	const char *missing; /* reason when a required record is absent */
};

/* Every v1 record changes what the receiver does, so it goes out CRITICAL: an older peer that
 * did not know, say, FUSE_OPTIONS must refuse rather than mount without allow_other checks.
 * MESSAGE is only text for humans, so a peer that does not know it may drop it. */
static const struct tag_info tag_table[PROTO_TAG_MAX + 1] = {
	[PROTO_TAG_VERSION_MIN] = { "VERSION_MIN", KIND_U16, 0, true,
				    "required record VERSION_MIN missing" },
	[PROTO_TAG_VERSION_MAX] = { "VERSION_MAX", KIND_U16, 0, true,
				    "required record VERSION_MAX missing" },
	[PROTO_TAG_VERSION] = { "VERSION", KIND_U16, 0, true, "required record VERSION missing" },
	[PROTO_TAG_DEVICE_PATH] = { "DEVICE_PATH", KIND_STRING, PROTO_STRING_MAX, true,
				    "required record DEVICE_PATH missing" },
	[PROTO_TAG_MOUNTPOINT] = { "MOUNTPOINT", KIND_STRING, PROTO_STRING_MAX, true,
				   "required record MOUNTPOINT missing" },
	[PROTO_TAG_UID] = { "UID", KIND_U32, 0, true, "required record UID missing" },
	[PROTO_TAG_GID] = { "GID", KIND_U32, 0, true, "required record GID missing" },
	[PROTO_TAG_MOUNT_FLAGS] = { "MOUNT_FLAGS", KIND_U32, 0, true,
				    "required record MOUNT_FLAGS missing" },
	[PROTO_TAG_OPTIONS] = { "OPTIONS", KIND_STRING, PROTO_STRING_MAX, true,
				"required record OPTIONS missing" },
	[PROTO_TAG_SOURCE] = { "SOURCE", KIND_STRING, PROTO_STRING_MAX, true,
			       "required record SOURCE missing" },
	[PROTO_TAG_SUBTYPE] = { "SUBTYPE", KIND_STRING, PROTO_STRING_MAX, true,
				"required record SUBTYPE missing" },
	[PROTO_TAG_FUSE_OPTIONS] = { "FUSE_OPTIONS", KIND_STRING, PROTO_STRING_MAX, true,
				     "required record FUSE_OPTIONS missing" },
	[PROTO_TAG_ERRNO] = { "ERRNO", KIND_U32, 0, true, "required record ERRNO missing" },
	[PROTO_TAG_MESSAGE] = { "MESSAGE", KIND_STRING, PROTO_MESSAGE_MAX, false,
				"required record MESSAGE missing" },
};

struct msg_info {
	const char *name;
	uint32_t allowed;    /* records this type may carry (required ones included) */
	uint32_t required;   /* records it must carry */
	uint32_t repeatable; /* records that may appear more than once: none in version 1 */
	unsigned n_fds;	     /* SCM_RIGHTS descriptors that must come with it */
};

static const struct msg_info msg_table[PROTO_MSG_TYPE_MAX + 1] = {
	[PROTO_MSG_HELLO] = {
		.name = "HELLO",
		.allowed = BIT(PROTO_TAG_VERSION_MIN) | BIT(PROTO_TAG_VERSION_MAX),
		.required = BIT(PROTO_TAG_VERSION_MIN) | BIT(PROTO_TAG_VERSION_MAX),
	},
	[PROTO_MSG_HELLO_REPLY] = {
		.name = "HELLO_REPLY",
		.allowed = BIT(PROTO_TAG_VERSION),
		.required = BIT(PROTO_TAG_VERSION),
	},
	[PROTO_MSG_MOUNT_CONTEXT] = {
		.name = "MOUNT_CONTEXT",
		.allowed = BIT(PROTO_TAG_DEVICE_PATH) | BIT(PROTO_TAG_MOUNTPOINT) |
			   BIT(PROTO_TAG_UID) | BIT(PROTO_TAG_GID) | BIT(PROTO_TAG_MOUNT_FLAGS) |
			   BIT(PROTO_TAG_OPTIONS),
		.required = BIT(PROTO_TAG_DEVICE_PATH) | BIT(PROTO_TAG_MOUNTPOINT) |
			    BIT(PROTO_TAG_UID) | BIT(PROTO_TAG_GID) | BIT(PROTO_TAG_MOUNT_FLAGS),
		.n_fds = PROTO_MOUNT_CONTEXT_FDS,
	},
	[PROTO_MSG_MOUNT_REQUEST] = {
		.name = "MOUNT_REQUEST",
		.allowed = BIT(PROTO_TAG_SOURCE) | BIT(PROTO_TAG_MOUNTPOINT) |
			   BIT(PROTO_TAG_SUBTYPE) | BIT(PROTO_TAG_MOUNT_FLAGS) |
			   BIT(PROTO_TAG_FUSE_OPTIONS),
		.required = BIT(PROTO_TAG_SOURCE) | BIT(PROTO_TAG_MOUNTPOINT) |
			    BIT(PROTO_TAG_SUBTYPE) | BIT(PROTO_TAG_MOUNT_FLAGS),
	},
	[PROTO_MSG_MOUNT_RESULT] = {
		.name = "MOUNT_RESULT",
		.allowed = BIT(PROTO_TAG_ERRNO),
		.required = BIT(PROTO_TAG_ERRNO),
	},
	[PROTO_MSG_READY] = {
		.name = "READY",
	},
	[PROTO_MSG_ERROR] = {
		.name = "ERROR",
		.allowed = BIT(PROTO_TAG_ERRNO) | BIT(PROTO_TAG_MESSAGE),
		.required = BIT(PROTO_TAG_ERRNO),
	},
};

static const struct msg_info *msg_info(uint16_t type)
{
	if (type == 0 || type > PROTO_MSG_TYPE_MAX)
		return NULL;
	return &msg_table[type];
}

static const struct tag_info *tag_info(uint16_t tag)
{
	if (tag == 0 || tag > PROTO_TAG_MAX)
		return NULL;
	return &tag_table[tag];
}

const char *proto_msg_type_name(uint16_t type)
{
	const struct msg_info *mi = msg_info(type);

	return mi ? mi->name : "unknown";
}

unsigned proto_msg_type_fds(uint16_t type)
{
	const struct msg_info *mi = msg_info(type);

	return mi ? mi->n_fds : 0;
}

static int fail(int r, const char *why, const char **ret_reason)
{
	if (ret_reason)
		*ret_reason = why;
	return r;
}

/*
 * Strings end up in logs, in mount(2) arguments, in /proc/self/mountinfo and in error messages
 * shown to users. NUL would silently cut them (the value checked is not the value used);
 * control characters (newline, escape sequences) forge log lines and terminal output, and no
 * canonical path the helper accepts contains them. Bytes >= 0x80 are allowed: UTF-8 names.
 * Shared by the decoder and by the setter/encoder.
 */
static int check_string(const struct tag_info *ti, const uint8_t *s, size_t len,
			const char **ret_reason)
{
	if (len == 0)
		return fail(-EBADMSG, "empty string", ret_reason);
	if (len > ti->max)
		return fail(-EMSGSIZE,
			    ti->max == PROTO_MESSAGE_MAX ? "MESSAGE over PROTO_MESSAGE_MAX"
							 : "string over PROTO_STRING_MAX",
			    ret_reason);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == 0)
			return fail(-EBADMSG, "string contains NUL", ret_reason);
		if (s[i] < 0x20 || s[i] == 0x7f)
			return fail(-EBADMSG, "string contains a control character", ret_reason);
	}
	return 0;
}

/* Value checks of single integer records: shared by the decoder and the encoder. */
static int check_int(uint16_t tag, uint32_t v, const char **ret_reason)
{
	switch (tag) {
	case PROTO_TAG_VERSION_MIN:
	case PROTO_TAG_VERSION_MAX:
	case PROTO_TAG_VERSION:
		/* Version 0 never existed; a 0 here is an uninitialised field. */
		if (v == 0)
			return fail(-EBADMSG, "version 0", ret_reason);
		return 0;
	case PROTO_TAG_MOUNT_FLAGS:
		/* A bit we do not know could mean "writable" or "suid" to a newer peer: refuse
		 * rather than mount with semantics nobody checked. */
		if (v & ~PROTO_MOUNT_FLAGS_KNOWN)
			return fail(-EBADMSG, "unknown mount flag", ret_reason);
		return 0;
	case PROTO_TAG_ERRNO:
		if (v > PROTO_ERRNO_MAX)
			return fail(-EBADMSG, "errno out of range", ret_reason);
		return 0;
	default:
		return 0;
	}
}

/* Checks across records, once all are known: shared by the decoder and the encoder. */
static int check_message(uint16_t type, uint32_t present, uint16_t vmin, uint16_t vmax,
			 uint32_t error, const char **ret_reason)
{
	const struct msg_info *mi = msg_info(type);
	uint32_t missing = mi->required & ~present;

	if (missing) {
		for (uint16_t t = 1; t <= PROTO_TAG_MAX; t++)
			if (missing & BIT(t))
				return fail(-EBADMSG, tag_table[t].missing, ret_reason);
	}
	if (type == PROTO_MSG_HELLO && vmin > vmax)
		return fail(-EBADMSG, "VERSION_MIN above VERSION_MAX", ret_reason);
	/* An ERROR that says "Success" would make the other side print nonsense or, worse,
	 * take a failure path with r == 0. */
	if (type == PROTO_MSG_ERROR && error == 0)
		return fail(-EBADMSG, "ERROR with errno 0", ret_reason);
	return 0;
}

void proto_msg_init(struct proto_msg *m, uint16_t type, uint16_t version)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->version = version;
	for (unsigned i = 0; i < PROTO_FDS_MAX; i++)
		m->fds[i] = -1;
	m->n_fds = 0;
}

static uint16_t *field_u16(struct proto_msg *m, uint16_t tag)
{
	switch (tag) {
	case PROTO_TAG_VERSION_MIN:
		return &m->version_min;
	case PROTO_TAG_VERSION_MAX:
		return &m->version_max;
	case PROTO_TAG_VERSION:
		return &m->version_chosen;
	default:
		return NULL;
	}
}

static uint32_t *field_u32(struct proto_msg *m, uint16_t tag)
{
	switch (tag) {
	case PROTO_TAG_UID:
		return &m->uid;
	case PROTO_TAG_GID:
		return &m->gid;
	case PROTO_TAG_MOUNT_FLAGS:
		return &m->mount_flags;
	case PROTO_TAG_ERRNO:
		return &m->error;
	default:
		return NULL;
	}
}

static char *field_string(struct proto_msg *m, uint16_t tag)
{
	switch (tag) {
	case PROTO_TAG_DEVICE_PATH:
		return m->device_path;
	case PROTO_TAG_MOUNTPOINT:
		return m->mountpoint;
	case PROTO_TAG_OPTIONS:
		return m->options;
	case PROTO_TAG_SOURCE:
		return m->source;
	case PROTO_TAG_SUBTYPE:
		return m->subtype;
	case PROTO_TAG_FUSE_OPTIONS:
		return m->fuse_options;
	case PROTO_TAG_MESSAGE:
		return m->message;
	default:
		return NULL;
	}
}

/* The setters cannot report a wrong tag (their signature is fixed); they then set nothing, so
 * proto_encode() fails with -EINVAL on the missing record instead of sending a wrong one. */
void proto_set_u16(struct proto_msg *m, enum proto_tag tag, uint16_t v)
{
	uint16_t *f = field_u16(m, tag);

	if (!f)
		return;
	*f = v;
	m->present |= BIT(tag);
}

void proto_set_u32(struct proto_msg *m, enum proto_tag tag, uint32_t v)
{
	uint32_t *f = field_u32(m, tag);

	if (!f)
		return;
	*f = v;
	m->present |= BIT(tag);
}

int proto_set_string(struct proto_msg *m, enum proto_tag tag, const char *s)
{
	char *f = field_string(m, tag);
	const struct tag_info *ti;
	size_t len;
	int r;

	if (!f || !s)
		return -EINVAL;
	ti = tag_info(tag);
	/* strnlen: never read further than one byte past what could be valid. */
	len = strnlen(s, (size_t)ti->max + 1);
	if (len > ti->max)
		return -ENAMETOOLONG;
	r = check_string(ti, (const uint8_t *)s, len, NULL);
	if (r < 0)
		return -EINVAL;
	memcpy(f, s, len);
	f[len] = 0;
	m->present |= BIT(tag);
	return 0;
}

int proto_encode(const struct proto_msg *m, uint8_t *buf, size_t size, size_t *ret_len)
{
	/* The field accessors take a non-const message; they are only read here. */
	struct proto_msg *mm = (struct proto_msg *)m;
	const struct msg_info *mi = msg_info(m->type);
	size_t len = PROTO_HEADER_SIZE, off;
	size_t slen[PROTO_TAG_MAX + 1] = { 0 };
	unsigned n_records = 0;
	int r;

	if (!mi)
		return -EINVAL;
	if (m->version < PROTO_VERSION_MIN || m->version > PROTO_VERSION_MAX)
		return -EINVAL;
	if (m->present & ~mi->allowed)
		return -EINVAL;

	/* Validate everything and size the message before writing a byte. */
	for (uint16_t t = 1; t <= PROTO_TAG_MAX; t++) {
		const struct tag_info *ti = &tag_table[t];

		if (!(m->present & BIT(t)))
			continue;
		n_records++;
		switch (ti->kind) {
		case KIND_U16:
			r = check_int(t, *field_u16(mm, t), NULL);
			len += PROTO_TLV_HEADER_SIZE + align4(2);
			break;
		case KIND_U32:
			r = check_int(t, *field_u32(mm, t), NULL);
			len += PROTO_TLV_HEADER_SIZE + 4;
			break;
		case KIND_STRING: {
			const char *s = field_string(mm, t);

			slen[t] = strnlen(s, (size_t)ti->max + 1);
			r = check_string(ti, (const uint8_t *)s, slen[t], NULL);
			len += PROTO_TLV_HEADER_SIZE + align4(slen[t]);
			break;
		}
		default:
			r = -EINVAL;
		}
		if (r < 0)
			return -EINVAL;
	}
	if (n_records > PROTO_TLV_MAX)
		return -EINVAL;
	if (check_message(m->type, m->present, m->version_min, m->version_max, m->error, NULL) <
	    0)
		return -EINVAL;
	if (len > PROTO_MSG_MAX)
		return -EINVAL;
	if (len > size)
		return -EMSGSIZE;

	memset(buf, 0, len); /* header reserved field and all padding */
	put_u32(buf + 0, PROTO_MAGIC);
	put_u16(buf + 4, m->version);
	put_u16(buf + 6, m->type);
	put_u32(buf + 8, (uint32_t)len);
	off = PROTO_HEADER_SIZE;

	for (uint16_t t = 1; t <= PROTO_TAG_MAX; t++) {
		const struct tag_info *ti = &tag_table[t];
		uint32_t vlen;

		if (!(m->present & BIT(t)))
			continue;
		vlen = ti->kind == KIND_U16 ? 2 : ti->kind == KIND_U32 ? 4 : (uint32_t)slen[t];
		put_u16(buf + off, t);
		put_u16(buf + off + 2, ti->critical ? PROTO_TLV_CRITICAL : 0);
		put_u32(buf + off + 4, vlen);
		off += PROTO_TLV_HEADER_SIZE;
		if (ti->kind == KIND_U16)
			put_u16(buf + off, *field_u16(mm, t));
		else if (ti->kind == KIND_U32)
			put_u32(buf + off, *field_u32(mm, t));
		else
			memcpy(buf + off, field_string(mm, t), vlen);
		off += align4(vlen);
	}

	*ret_len = len;
	return 0;
}

/*
 * Two passes: the first validates every byte and remembers where each known record's value
 * is; only when the whole message is acceptable does the second one write *ret. A caller
 * therefore never sees half a message, and ret may be NULL to validate only.
 */
int proto_decode(const uint8_t *buf, size_t len, struct proto_msg *ret, const char **ret_reason)
{
	const struct msg_info *mi;
	size_t val_off[PROTO_TAG_MAX + 1] = { 0 };
	uint32_t val_len[PROTO_TAG_MAX + 1] = { 0 };
	uint16_t version, type, vmin = 0, vmax = 0;
	uint32_t present = 0, error = 0;
	unsigned n_records = 0;
	size_t off;
	int r;

	/* Header. Order matters only for which reason a multiply-broken message gets. */
	if (len < PROTO_HEADER_SIZE)
		return fail(-EBADMSG, "short header", ret_reason);
	if (len > PROTO_MSG_MAX)
		return fail(-EMSGSIZE, "message over PROTO_MSG_MAX", ret_reason);
	if (get_u32(buf) != PROTO_MAGIC)
		return fail(-EBADMSG, "bad magic", ret_reason);
	version = get_u16(buf + 4);
	if (version < PROTO_VERSION_MIN || version > PROTO_VERSION_MAX)
		return fail(-EPROTONOSUPPORT, "unsupported protocol version", ret_reason);
	type = get_u16(buf + 6);
	mi = msg_info(type);
	if (!mi)
		return fail(-EBADMSG, "unknown message type", ret_reason);
	/* A length field that disagrees with the datagram means the two sides frame
	 * differently: trailing data would be silently ignored by one of them. */
	if (get_u32(buf + 8) != len)
		return fail(-EBADMSG, "header length does not match datagram length", ret_reason);
	if (get_u32(buf + 12) != 0)
		return fail(-EBADMSG, "reserved header field not zero", ret_reason);

	off = PROTO_HEADER_SIZE;
	while (off < len) {
		size_t rest = len - off, padded;
		uint16_t tag, flags;
		uint32_t vlen;
		const struct tag_info *ti;
		const uint8_t *v;

		/* Bounded so a peer cannot make us walk thousands of empty records. */
		if (n_records >= PROTO_TLV_MAX)
			return fail(-EBADMSG, "more than PROTO_TLV_MAX records", ret_reason);
		n_records++;
		if (rest < PROTO_TLV_HEADER_SIZE)
			return fail(-EBADMSG, "truncated record header", ret_reason);
		tag = get_u16(buf + off);
		flags = get_u16(buf + off + 2);
		vlen = get_u32(buf + off + 4);
		off += PROTO_TLV_HEADER_SIZE;
		rest -= PROTO_TLV_HEADER_SIZE;
		/* Unknown flag bits may change meaning in a later version ("repeatable",
		 * "secret"); we cannot honour them, so we refuse. */
		if (flags & ~PROTO_TLV_FLAGS_KNOWN)
			return fail(-EBADMSG, "unknown record flag", ret_reason);
		/* Compare against what is left, never compute off + vlen first: vlen is the
		 * peer's number and up to 4 GiB. */
		if (vlen > rest)
			return fail(-EBADMSG, "truncated record value", ret_reason);
		padded = align4(vlen);
		if (padded > rest)
			return fail(-EBADMSG, "missing record padding", ret_reason);
		v = buf + off;
		/* Nonzero padding is a covert channel and a sign the two sides disagree on the
		 * framing. */
		for (size_t i = vlen; i < padded; i++)
			if (v[i] != 0)
				return fail(-EBADMSG, "record padding not zero", ret_reason);
		off += padded;

		ti = tag_info(tag);
		if (!ti) {
			if (flags & PROTO_TLV_CRITICAL)
				return fail(-EBADMSG, "unknown critical record", ret_reason);
			continue; /* an optional addition of a newer peer */
		}
		if (!(mi->allowed & BIT(tag)))
			return fail(-EBADMSG, "record not allowed in this message type",
				    ret_reason);
		/* With two values the checker and the user of a field could pick different
		 * ones. */
		if ((present & BIT(tag)) && !(mi->repeatable & BIT(tag)))
			return fail(-EBADMSG, "duplicate record", ret_reason);

		switch (ti->kind) {
		case KIND_U16:
			if (vlen != 2)
				return fail(-EBADMSG, "u16 record not 2 bytes", ret_reason);
			r = check_int(tag, get_u16(v), ret_reason);
			if (r < 0)
				return r;
			if (tag == PROTO_TAG_VERSION_MIN)
				vmin = get_u16(v);
			else if (tag == PROTO_TAG_VERSION_MAX)
				vmax = get_u16(v);
			break;
		case KIND_U32:
			if (vlen != 4)
				return fail(-EBADMSG, "u32 record not 4 bytes", ret_reason);
			r = check_int(tag, get_u32(v), ret_reason);
			if (r < 0)
				return r;
			if (tag == PROTO_TAG_ERRNO)
				error = get_u32(v);
			break;
		case KIND_STRING:
			r = check_string(ti, v, vlen, ret_reason);
			if (r < 0)
				return r;
			break;
		default:
			return fail(-EBADMSG, "unknown message type", ret_reason); /* not reached */
		}
		present |= BIT(tag);
		val_off[tag] = (size_t)(v - buf);
		val_len[tag] = vlen;
	}

	r = check_message(type, present, vmin, vmax, error, ret_reason);
	if (r < 0)
		return r;

	if (!ret)
		return 0;

	proto_msg_init(ret, type, version);
	ret->present = present;
	for (uint16_t t = 1; t <= PROTO_TAG_MAX; t++) {
		const uint8_t *v = buf + val_off[t];

		if (!(present & BIT(t)))
			continue;
		switch (tag_table[t].kind) {
		case KIND_U16:
			*field_u16(ret, t) = get_u16(v);
			break;
		case KIND_U32:
			*field_u32(ret, t) = get_u32(v);
			break;
		case KIND_STRING: {
			char *f = field_string(ret, t);

			memcpy(f, v, val_len[t]);
			f[val_len[t]] = 0;
			break;
		}
		default:
			break;
		}
	}
	return 0;
}
