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
#include <string.h>

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
