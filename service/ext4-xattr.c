/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Extended attributes, in-inode and in an xattr block (and in EA inodes), through libext2fs's
 * xattr handle. POSIX ACLs are stored in ext4's compact format on disk; libext2fs translates
 * them to the Linux xattr format userspace (and the kernel's FUSE ACL code) expects.
 * Only the namespaces the kernel's ext4 exposes are shown: not system.data (inline data) or
 * anything else libext2fs can name.
 */
#include <errno.h>
#include <stdlib.h>
#include <endian.h>
#include <string.h>
#include <sys/xattr.h>

#include "ext4.h"
#include "log.h"

static bool ext4_xattr_served(const char *name, bool privileged)
{
	if (strncmp(name, "user.", 5) == 0 || strncmp(name, "security.", 9) == 0)
		return true;
	/* The kernel lists trusted.* only to CAP_SYS_ADMIN; getxattr is checked by the VFS. */
	if (strncmp(name, "trusted.", 8) == 0)
		return privileged;
	return strcmp(name, "system.posix_acl_access") == 0 ||
	       strcmp(name, "system.posix_acl_default") == 0;
}

static void ext4_xattrs_closep(struct ext2_xattr_handle **h)
{
	if (*h)
		ext2fs_xattrs_close(h);
}

static int ext4_xattrs_load(struct svc_fs *sfs, ext2_ino_t ino, struct ext2_xattr_handle **ret)
{
	struct ext2_inode_large inode;
	struct ext2_xattr_handle *h = NULL;
	errcode_t err;
	int r;

	/* Checks the inode is in use before libext2fs parses its xattr area. */
	r = ext4_inode_read(sfs, ino, &inode);
	if (r < 0)
		return r;
	err = ext2fs_xattrs_open(sfs->fs, ino, &h);
	if (err)
		return ext4_errno(sfs, err, ino, "opening extended attributes");
	err = ext2fs_xattrs_read(h);
	if (err) {
		ext2fs_xattrs_close(&h);
		return ext4_errno(sfs, err, ino, "reading extended attributes");
	}
	*ret = h;
	return 0;
}

int ext4_getxattr(struct svc_fs *sfs, ext2_ino_t ino, const char *name, void *buf, size_t size,
		  size_t *ret_size)
{
	struct ext2_xattr_handle *h __attribute__((cleanup(ext4_xattrs_closep))) = NULL;
	void *value = NULL;
	size_t len = 0;
	errcode_t err;
	int r;

	if (!ext4_xattr_served(name, true))
		return -EOPNOTSUPP;
	r = ext4_xattrs_load(sfs, ino, &h);
	if (r < 0)
		return r;
	err = ext2fs_xattr_get(h, name, &value, &len);
	if (err == EXT2_ET_EA_KEY_NOT_FOUND)
		return -ENODATA;
	if (err)
		return ext4_errno(sfs, err, ino, "reading an extended attribute");
	if (size != 0) {
		if (len > size) {
			ext2fs_free_mem(&value);
			return -ERANGE;
		}
		memcpy(buf, value, len);
	}
	ext2fs_free_mem(&value);
	*ret_size = len;
	return 0;
}

struct ext4_list_ctx {
	bool privileged;
	char *buf;
	size_t size;
	size_t used;
};

static int ext4_list_cb(char *name, char *value, size_t value_len, void *data)
{
	struct ext4_list_ctx *c = data;
	size_t n;

	if (!ext4_xattr_served(name, c->privileged))
		return 0;
	n = strlen(name) + 1;
	if (c->size && c->used + n <= c->size)
		memcpy(c->buf + c->used, name, n);
	c->used += n;
	return 0;
}

int ext4_listxattr(struct svc_fs *sfs, ext2_ino_t ino, bool privileged, char *buf, size_t size,
		   size_t *ret_size)
{
	struct ext2_xattr_handle *h __attribute__((cleanup(ext4_xattrs_closep))) = NULL;
	struct ext4_list_ctx c = { .privileged = privileged, .buf = buf, .size = size };
	errcode_t err;
	int r;

	r = ext4_xattrs_load(sfs, ino, &h);
	if (r < 0)
		return r;
	err = ext2fs_xattrs_iterate(h, ext4_list_cb, &c);
	if (err)
		return ext4_errno(sfs, err, ino, "listing extended attributes");
	if (size != 0 && c.used > size)
		return -ERANGE;
	*ret_size = c.used;
	return 0;
}

/* Names a process may set through the kernel's ext4 (system.* only for the two ACLs). */
static bool ext4_xattr_settable(const char *name)
{
	return ext4_xattr_served(name, true);
}

static int ext4_xattr_set_raw(struct svc_fs *sfs, ext2_ino_t ino, const char *name,
			      const void *value, size_t size, int flags)
{
	struct ext2_xattr_handle *h __attribute__((cleanup(ext4_xattrs_closep))) = NULL;
	void *old = NULL;
	size_t old_len = 0;
	errcode_t err;
	int r;

	r = ext4_xattrs_load(sfs, ino, &h);
	if (r < 0)
		return r;
	err = ext2fs_xattr_get(h, name, &old, &old_len);
	if (err == 0)
		ext2fs_free_mem(&old);
	else if (err != EXT2_ET_EA_KEY_NOT_FOUND)
		return ext4_errno(sfs, err, ino, "reading an extended attribute");
	if ((flags & XATTR_CREATE) && err == 0)
		return -EEXIST;
	if ((flags & XATTR_REPLACE) && err == EXT2_ET_EA_KEY_NOT_FOUND)
		return -ENODATA;
	err = ext2fs_xattr_set(h, name, value, size);
	if (err == EXT2_ET_EA_NO_SPACE || err == EXT2_ET_BLOCK_ALLOC_FAIL)
		return -ENOSPC;
	if (err == EXT2_ET_INVALID_ARGUMENT || err == EXT2_ET_EA_BAD_VALUE_SIZE)
		return -EINVAL;
	if (err)
		return ext4_errno(sfs, err, ino, "writing an extended attribute");
	err = ext2fs_xattrs_close(&h);
	if (err)
		return ext4_errno(sfs, err, ino, "writing extended attributes");
	return 0;
}

/* The Linux xattr form of a POSIX ACL (what the kernel and libext2fs exchange). */
#define ACL_XATTR_VERSION 2
#define ACL_USER_OBJ 0x01
#define ACL_USER 0x02
#define ACL_GROUP_OBJ 0x04
#define ACL_GROUP 0x08
#define ACL_MASK 0x10
#define ACL_OTHER 0x20

struct acl_xattr_entry {
	uint16_t tag;
	uint16_t perm;
	uint32_t id;
};

/* ACL entries in the value, or -EINVAL when it is not a well-formed ACL. */
static int acl_count(const void *value, size_t size)
{
	if (size < 4 || (size - 4) % sizeof(struct acl_xattr_entry) != 0)
		return -EINVAL;
	uint32_t version;

	memcpy(&version, value, 4);
	if (le32toh(version) != ACL_XATTR_VERSION)
		return -EINVAL;
	return (int)((size - 4) / sizeof(struct acl_xattr_entry));
}

/* posix_acl_create(): the default ACL masked by the requested mode, and the mode that follows
 * from it. Returns 1 if an access ACL beyond the mode bits remains. */
static int acl_apply_mode(char *value, size_t size, mode_t *mode)
{
	struct acl_xattr_entry *group = NULL, *mask = NULL;
	mode_t m = *mode;
	int n = acl_count(value, size), extended = 0;

	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		struct acl_xattr_entry e;
		char *p = value + 4 + i * sizeof(e);

		memcpy(&e, p, sizeof(e));
		switch (le16toh(e.tag)) {
		case ACL_USER_OBJ:
			e.perm = htole16(le16toh(e.perm) & ((m >> 6) & 7));
			m &= (le16toh(e.perm) << 6) | ~0700;
			break;
		case ACL_USER:
		case ACL_GROUP:
			extended = 1;
			break;
		case ACL_GROUP_OBJ:
			group = (struct acl_xattr_entry *)p;
			break;
		case ACL_MASK:
			mask = (struct acl_xattr_entry *)p;
			extended = 1;
			break;
		case ACL_OTHER:
			e.perm = htole16(le16toh(e.perm) & (m & 7));
			m &= le16toh(e.perm) | ~0007;
			break;
		default:
			return -EINVAL;
		}
		memcpy(p, &e, sizeof(e));
	}
	struct acl_xattr_entry *g = mask ? mask : group;
	if (g) {
		struct acl_xattr_entry e;

		memcpy(&e, g, sizeof(e));
		e.perm = htole16(le16toh(e.perm) & ((m >> 3) & 7));
		m &= (le16toh(e.perm) << 3) | ~0070;
		memcpy(g, &e, sizeof(e));
	}
	*mode = m;
	return extended;
}

int ext4_acl_inherit(struct svc_fs *sfs, ext2_ino_t dir, ext2_ino_t ino, bool is_dir,
		     mode_t *mode, mode_t umask, bool apply)
{
	_cleanup_free_ char *acl = NULL;
	size_t len = 0;
	mode_t m = *mode;
	int r;

	r = ext4_getxattr(sfs, dir, "system.posix_acl_default", NULL, 0, &len);
	if (r == -ENODATA || r == -EOPNOTSUPP || (r == 0 && len == 0)) {
		/* No default ACL: the umask, which the kernel left to us, applies. */
		if (!apply)
			*mode &= ~(umask & 0777);
		return 0;
	}
	if (r < 0)
		return r;
	acl = malloc(len);
	if (!acl)
		return -ENOMEM;
	r = ext4_getxattr(sfs, dir, "system.posix_acl_default", acl, len, &len);
	if (r < 0)
		return r;
	if (!apply) {
		_cleanup_free_ char *copy = malloc(len);

		if (!copy)
			return -ENOMEM;
		memcpy(copy, acl, len);
		r = acl_apply_mode(copy, len, &m);
		if (r < 0)
			return 0; /* a malformed default ACL is ignored, as the kernel would fail */
		*mode = (*mode & ~0777) | (m & 0777);
		return 0;
	}
	if (is_dir) {
		r = ext4_xattr_set_raw(sfs, ino, "system.posix_acl_default", acl, len, 0);
		if (r < 0)
			return r;
	}
	/* m is the requested mode before masking: recompute the access ACL from it. */
	m = *mode;
	r = acl_apply_mode(acl, len, &m);
	if (r <= 0)
		return 0;
	return ext4_xattr_set_raw(sfs, ino, "system.posix_acl_access", acl, len, 0);
}

/*
 * The mode bits an access ACL stands for (the kernel's posix_acl_equiv_mode): owner, mask (or
 * group) and other. Returns 1 if the ACL says no more than the mode, 0 if it has named
 * entries, -EINVAL if malformed.
 */
static int acl_equiv_mode(const void *value, size_t size, mode_t *mode)
{
	int n = acl_count(value, size), equiv = 1;
	mode_t m = 0, group = 0, mask = 0;
	bool have_mask = false;

	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		struct acl_xattr_entry e;

		memcpy(&e, (const char *)value + 4 + i * sizeof(e), sizeof(e));
		mode_t perm = le16toh(e.perm) & 7;

		switch (le16toh(e.tag)) {
		case ACL_USER_OBJ:
			m |= perm << 6;
			break;
		case ACL_GROUP_OBJ:
			group = perm;
			break;
		case ACL_MASK:
			mask = perm;
			have_mask = true;
			equiv = 0;
			break;
		case ACL_OTHER:
			m |= perm;
			break;
		case ACL_USER:
		case ACL_GROUP:
			equiv = 0;
			break;
		default:
			return -EINVAL;
		}
	}
	*mode = m | (have_mask ? mask : group) << 3;
	return equiv;
}

int ext4_acl_chmod(struct svc_fs *sfs, ext2_ino_t ino, mode_t mode)
{
	_cleanup_free_ char *acl = NULL;
	size_t len = 0;
	int n, r;

	r = ext4_getxattr(sfs, ino, "system.posix_acl_access", NULL, 0, &len);
	if (r == -ENODATA || (r == 0 && len == 0))
		return 0;
	if (r < 0)
		return r;
	acl = malloc(len);
	if (!acl)
		return -ENOMEM;
	r = ext4_getxattr(sfs, ino, "system.posix_acl_access", acl, len, &len);
	if (r < 0)
		return r;
	n = acl_count(acl, len);
	if (n < 0)
		return 0;
	bool have_mask = false;
	for (int i = 0; i < n; i++) {
		struct acl_xattr_entry e;

		memcpy(&e, acl + 4 + i * sizeof(e), sizeof(e));
		if (le16toh(e.tag) == ACL_MASK)
			have_mask = true;
	}
	/* posix_acl_chmod: owner, mask (the group class) and other follow the new mode. */
	for (int i = 0; i < n; i++) {
		struct acl_xattr_entry e;

		memcpy(&e, acl + 4 + i * sizeof(e), sizeof(e));
		switch (le16toh(e.tag)) {
		case ACL_USER_OBJ:
			e.perm = htole16((mode >> 6) & 7);
			break;
		case ACL_GROUP_OBJ:
			if (!have_mask)
				e.perm = htole16((mode >> 3) & 7);
			break;
		case ACL_MASK:
			e.perm = htole16((mode >> 3) & 7);
			break;
		case ACL_OTHER:
			e.perm = htole16(mode & 7);
			break;
		}
		memcpy(acl + 4 + i * sizeof(e), &e, sizeof(e));
	}
	return ext4_xattr_set_raw(sfs, ino, "system.posix_acl_access", acl, len, 0);
}

/* Setting an access ACL sets the mode it implies; one that says no more than a mode is
 * stored as that mode alone (the kernel's posix_acl_update_mode). */
static int ext4_set_access_acl(struct svc_fs *sfs, ext2_ino_t ino, const void *value, size_t size,
			       int flags)
{
	struct ext2_inode_large inode;
	mode_t mode;
	int r, equiv;

	equiv = acl_equiv_mode(value, size, &mode);
	if (equiv < 0)
		return equiv;
	if (equiv) {
		r = ext4_removexattr(sfs, ino, "system.posix_acl_access");
		if (r < 0 && r != -ENODATA)
			return r;
		if (r == -ENODATA && (flags & XATTR_REPLACE))
			return -ENODATA;
	} else {
		r = ext4_xattr_set_raw(sfs, ino, "system.posix_acl_access", value, size, flags);
		if (r < 0)
			return r;
	}
	r = ext4_inode_read(sfs, ino, &inode);
	if (r < 0)
		return r;
	inode.i_mode = (inode.i_mode & ~0777) | (mode & 0777);
	return ext4_inode_write(sfs, ino, &inode);
}

int ext4_setxattr(struct svc_fs *sfs, ext2_ino_t ino, const char *name, const void *value,
		  size_t size, int flags)
{
	int r;

	r = ext4_check_rw(sfs);
	if (r < 0)
		return r;
	if (!ext4_xattr_settable(name))
		return -EOPNOTSUPP;
	/* A prefix with nothing after it names no attribute. */
	if (strchr(name, '.')[1] == '\0')
		return -EINVAL;
	if (strlen(name) > 255)
		return -ERANGE;
	if (size > 65536)
		return -E2BIG;
	if (strncmp(name, "system.posix_acl_", 17) == 0 && acl_count(value, size) < 0)
		return -EINVAL;
	if (strcmp(name, "system.posix_acl_access") == 0)
		r = ext4_set_access_acl(sfs, ino, value, size, flags);
	else
		r = ext4_xattr_set_raw(sfs, ino, name, value, size, flags);
	if (r < 0)
		return r;
	return ext4_touch_ctime(sfs, ino);
}

int ext4_removexattr(struct svc_fs *sfs, ext2_ino_t ino, const char *name)
{
	struct ext2_xattr_handle *h __attribute__((cleanup(ext4_xattrs_closep))) = NULL;
	errcode_t err;
	int r;

	r = ext4_check_rw(sfs);
	if (r < 0)
		return r;
	if (!ext4_xattr_settable(name))
		return -EOPNOTSUPP;
	r = ext4_xattrs_load(sfs, ino, &h);
	if (r < 0)
		return r;
	/* libext2fs reports success for a name that is not there. */
	void *old = NULL;
	size_t old_len = 0;
	err = ext2fs_xattr_get(h, name, &old, &old_len);
	if (err == EXT2_ET_EA_KEY_NOT_FOUND)
		return -ENODATA;
	if (err)
		return ext4_errno(sfs, err, ino, "reading an extended attribute");
	ext2fs_free_mem(&old);
	err = ext2fs_xattr_remove(h, name);
	if (err == EXT2_ET_EA_KEY_NOT_FOUND)
		return -ENODATA;
	if (err)
		return ext4_errno(sfs, err, ino, "removing an extended attribute");
	err = ext2fs_xattrs_close(&h);
	if (err)
		return ext4_errno(sfs, err, ino, "writing extended attributes");
	return ext4_touch_ctime(sfs, ino);
}
