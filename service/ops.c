/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The FUSE low-level operations. Each handler is thin: a do_*() takes the filesystem lock,
 * talks to the ext4 modules and returns -errno; the handler replies exactly once.
 *
 * Node ids are inode numbers, except that FUSE_ROOT_ID (1) is ext4's root inode (2); inode 1
 * (bad blocks) is reserved and never reachable, so the mapping is one-to-one. Nothing is kept
 * per node, so forget has nothing to do. Every change to the filesystem comes through the
 * kernel that mounted it (we are the only writer, and the kernel updates or drops what it
 * cached for each change it sends), so entries, attributes, pages and listings may be cached
 * for long.
 *
 * The writeback cache (-o writeback_cache) is off by default: with it the kernel owns a
 * regular file's size, mtime and ctime while it holds dirty pages, sends them back with
 * SETATTR (times at write-back, fsync and close; sizes on truncate), writes dirty pages back
 * through any handle open for writing (as root: the opener's right to reserved blocks is
 * kept per handle), and may READ through a handle opened O_WRONLY to fill a partial page
 * (it opens such handles O_RDWR). What it costs: a write() into the page cache cannot fail
 * with ENOSPC, so a full filesystem shows at write-back, as an error of fsync() and close().
 */
#define FUSE_USE_VERSION 314

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ext4.h"
#include "log.h"
#include "ops-internal.h"
#include "read-pool.h"
#include "session-io.h"

#define SVC_CACHE_TIMEOUT 3600.0

static struct svc_fs *req_fs(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static ext2_ino_t node_to_ino(fuse_ino_t node)
{
	if (node == FUSE_ROOT_ID)
		return EXT2_ROOT_INO;
	/* 0 is never a valid inode: ext4_inode_read() refuses it. */
	return node > UINT32_MAX ? 0 : (ext2_ino_t)node;
}

static fuse_ino_t ino_to_node(ext2_ino_t ino)
{
	return ino == EXT2_ROOT_INO ? FUSE_ROOT_ID : ino;
}

static void fs_lock(struct svc_fs *sfs)
{
	pthread_mutex_lock(&sfs->lock);
}

static void fs_unlock(struct svc_fs **sfs)
{
	if (*sfs)
		pthread_mutex_unlock(&(*sfs)->lock);
}

/* Holds the filesystem lock until the end of the enclosing block. */
#define FS_LOCKED(sfs)                                                                         \
	struct svc_fs *_locked_ __attribute__((cleanup(fs_unlock))) = (fs_lock(sfs), (sfs))

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	unsigned int want = FUSE_CAP_ASYNC_READ | FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO |
			    FUSE_CAP_EXPORT_SUPPORT | FUSE_CAP_POSIX_ACL | FUSE_CAP_CACHE_SYMLINKS |
			    FUSE_CAP_PARALLEL_DIROPS;

	struct svc_fs *sfs = userdata;

	/* With POSIX ACLs the kernel leaves the umask to us (we apply it only where no default
	 * ACL is inherited, like ext4). */
	if (sfs->rw)
		want |= FUSE_CAP_DONT_MASK;
	/* Asking for what the kernel lacks makes libfuse abort the session. */
	conn->want |= want & conn->capable;
	if (sfs->rw && sfs->opts.writeback_cache && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	else
		conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/* O_TRUNC then reaches us as a setattr of the size with mtime, like ext4's truncate. */
	conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
	/* Nothing can change under the cache: no need to re-check pages on every open. */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	/* Timestamps carry nanoseconds. */
	conn->time_gran = 1;
	log_debug("FUSE %u.%u, capable 0x%x, want 0x%x, max_read %u, max_readahead %u",
		  conn->proto_major, conn->proto_minor, conn->capable, conn->want, conn->max_read,
		  conn->max_readahead);
	/* Here, not at open: only a session has requests to answer from other threads. */
	if (sfs->opts.read_threads > 0) {
		int r = read_pool_new(sfs->device_fd, sfs->opts.read_threads,
				      sfs->opts.test_read_delay_us, &sfs->read_pool);

		if (r < 0)
			log_warning_errno(r,
					  "Could not start %u read threads; reading under the lock",
					  sfs->opts.read_threads);
	}
}

/* The session's end (unmount, or fuse_session_destroy()): every queued read is answered
 * before the session and the svc_fs go away. */
static void op_destroy(void *userdata)
{
	struct svc_fs *sfs = userdata;
	struct read_pool *p;

	{
		FS_LOCKED(sfs);
		p = sfs->read_pool;
		sfs->read_pool = NULL;
	}
	read_pool_free(p);
}

static int do_entry(struct svc_fs *sfs, ext2_ino_t ino, struct fuse_entry_param *ret)
{
	struct ext2_inode_large inode;
	struct fuse_entry_param e;
	int r;

	r = ext4_inode_read(sfs, ino, &inode);
	if (r < 0)
		return r;
	memset(&e, 0, sizeof(e));
	e.ino = ino_to_node(ino);
	e.generation = inode.i_generation;
	ext4_inode_stat(sfs, ino, &inode, &e.attr);
	e.attr_timeout = SVC_CACHE_TIMEOUT;
	e.entry_timeout = SVC_CACHE_TIMEOUT;
	*ret = e;
	return 0;
}

int do_lookup(struct svc_fs *sfs, fuse_ino_t parent, const char *name,
	      struct fuse_entry_param *ret)
{
	FS_LOCKED(sfs);
	ext2_ino_t ino;
	int r;

	/* With export support the kernel resolves a file handle by looking up "." in the
	 * node itself, which need not be a directory; a freed inode is then just stale. */
	if (strcmp(name, ".") == 0)
		return do_entry(sfs, node_to_ino(parent), ret);
	r = ext4_dir_lookup(sfs, node_to_ino(parent), name, &ino);
	if (r < 0)
		return r;
	r = do_entry(sfs, ino, ret);
	/* A name that leads to a free inode is a broken directory, not a stale handle. */
	if (r == -ESTALE)
		return ext4_corrupt(sfs, ino, "directory entry names a deleted inode");
	return r;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	int r;

	r = do_lookup(req_fs(req), parent, name, &e);
	if (r == -ENOENT) {
		/* Cache the miss too: nothing can create the name later. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = SVC_CACHE_TIMEOUT;
		fuse_reply_entry(req, &e);
	} else if (r < 0) {
		fuse_reply_err(req, -r);
	} else {
		fuse_reply_entry(req, &e);
	}
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	fuse_reply_none(req);
}

int do_getattr(struct svc_fs *sfs, fuse_ino_t node, struct stat *ret)
{
	FS_LOCKED(sfs);
	struct ext2_inode_large inode;
	ext2_ino_t ino = node_to_ino(node);
	int r;

	r = ext4_inode_read(sfs, ino, &inode);
	if (r < 0)
		return r;
	ext4_inode_stat(sfs, ino, &inode, ret);
	return 0;
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	int r;

	r = do_getattr(req_fs(req), ino, &st);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, SVC_CACHE_TIMEOUT);
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct stat st;
	int r;

	/* default_permissions has the kernel check modes and ACLs; only refuse writing to a
	 * read-only mount. */
	r = do_getattr(req_fs(req), ino, &st);
	if (r == 0 && (mask & W_OK) && !req_fs(req)->rw)
		r = -EROFS;
	fuse_reply_err(req, -r);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct svc_fs *sfs = req_fs(req);
	_cleanup_free_ char *target = NULL;
	int r;

	{
		FS_LOCKED(sfs);
		r = ext4_readlink(sfs, node_to_ino(ino), &target);
	}
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_readlink(req, target);
}

int do_opendir(struct svc_fs *sfs, fuse_ino_t node)
{
	struct stat st;
	int r;

	r = do_getattr(sfs, node, &st);
	if (r < 0)
		return r;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct svc_fs *sfs = req_fs(req);
	int r;

	r = do_opendir(sfs, ino);
	if (r == 0) {
		/* Counted like files: an open directory that is removed lives until released. */
		FS_LOCKED(sfs);
		r = ext4_open_get(sfs, node_to_ino(ino));
	}
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	/* Listings cannot change: let the kernel keep them. */
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		FS_LOCKED(sfs);
		ext4_open_put(sfs, node_to_ino(ino));
	}
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct svc_fs *sfs = req_fs(req);

	{
		FS_LOCKED(sfs);
		ext4_open_put(sfs, node_to_ino(ino));
	}
	fuse_reply_err(req, 0);
}

struct readdir_ctx {
	struct svc_fs *sfs;
	fuse_req_t req;
	bool plus;
	char *buf;
	size_t size;
	size_t used;
};

static int readdir_fill(void *userdata, const char *name, size_t name_len, ext2_ino_t ino,
			unsigned int d_type, uint64_t next_off)
{
	struct readdir_ctx *c = userdata;
	char cname[EXT4_NAME_MAX + 1];
	size_t n;

	memcpy(cname, name, name_len);
	cname[name_len] = '\0';

	if (c->plus) {
		struct fuse_entry_param e;
		bool dots = strcmp(cname, ".") == 0 || strcmp(cname, "..") == 0;

		/* The kernel counts a lookup for each entry with a node id, so "." and ".."
		 * (which it skips) go without one; so do entries a lookup would refuse (reserved
		 * or unreadable inodes), leaving the error to that lookup. */
		if (dots || !ext4_ino_valid(c->sfs, ino) || do_entry(c->sfs, ino, &e) < 0) {
			memset(&e, 0, sizeof(e));
			e.attr.st_ino = ino;
			e.attr.st_mode = d_type << 12;
		}
		n = fuse_add_direntry_plus(c->req, c->buf + c->used, c->size - c->used, cname, &e,
					   (off_t)next_off);
	} else {
		struct stat st = { .st_ino = ino, .st_mode = d_type << 12 };

		n = fuse_add_direntry(c->req, c->buf + c->used, c->size - c->used, cname, &st,
				      (off_t)next_off);
	}
	if (n > c->size - c->used)
		return 1;
	c->used += n;
	return 0;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct svc_fs *sfs = req_fs(req);
	_cleanup_free_ char *buf = NULL;
	struct readdir_ctx c = { .sfs = sfs, .req = req, .plus = plus, .size = size };
	int r;

	buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	c.buf = buf;
	{
		FS_LOCKED(sfs);
		r = off < 0 ? -EINVAL : ext4_dir_iterate(sfs, node_to_ino(ino), (uint64_t)off,
							readdir_fill, &c);
		if (r >= 0 && off == 0)
			ext4_inode_accessed(sfs, node_to_ino(ino));
	}
	/* What was listed before a damaged block is still worth returning. */
	if (r < 0 && c.used == 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_buf(req, buf, c.used);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, true);
}

/* May use the reserved blocks, as the kernel's ext4_has_free_clusters(): root, or the
 * superblock's s_def_resuid/s_def_resgid. */
static bool req_privileged(fuse_req_t req, struct svc_fs *sfs)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	return ctx->uid == 0 || ctx->uid == sfs->fs->super->s_def_resuid ||
	       ctx->gid == sfs->fs->super->s_def_resgid;
}

/* What every new file handle gets: the opener's right to the reserved blocks, the kernel's
 * cached pages kept (nothing else changes the file), and no FLUSH on close (there is nothing
 * to do for one; with the writeback cache the kernel writes back on close regardless). */
static void file_handle_setup(fuse_req_t req, struct svc_fs *sfs, struct ext4_file *f,
			      struct fuse_file_info *fi)
{
	ext4_file_set_privileged(f, req_privileged(req, sfs));
	fi->fh = (uintptr_t)f;
	fi->keep_cache = 1;
	fi->noflush = 1;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct svc_fs *sfs = req_fs(req);
	struct ext4_file *f = NULL;
	int r;

	if (!sfs->rw && ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))) {
		fuse_reply_err(req, EROFS);
		return;
	}
	{
		FS_LOCKED(sfs);
		r = ext4_file_open(sfs, node_to_ino(ino), &f);
	}
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	file_handle_setup(req, sfs, f, fi);
	if (fuse_reply_open(req, fi) == -ENOENT) {
		/* The open was interrupted: no release will come for it. */
		FS_LOCKED(sfs);
		ext4_file_close(sfs, f);
	}
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct svc_fs *sfs = req_fs(req);
	struct ext4_file *f = (struct ext4_file *)(uintptr_t)fi->fh;
	_cleanup_free_ struct read_job *job = NULL;
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	/* Room for whole blocks: the read pool reads the block that holds EOF whole. */
	buf = malloc(size ? (size + sfs->blocksize - 1) / sfs->blocksize * sfs->blocksize : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (sfs->read_pool)
		job = calloc(1, sizeof(*job));
	{
		FS_LOCKED(sfs);
		r = 1;
		if (job) {
			job->req = req;
			job->buf = buf;
			r = ext4_file_map_read(sfs, f, (uint64_t)off, size, job);
			if (r == 0 && !read_pool_read_cached(sfs->read_pool, job)) {
				/* Under the lock, so that a block freed after this waits for it. */
				TAKE_PTR(buf);
				read_pool_submit(sfs->read_pool, TAKE_PTR(job));
				return;
			}
			if (r == 0)
				len = job->len; /* all of it was in memory: answered here */
		}
		if (r != 0)
			r = ext4_file_read(sfs, f, (uint64_t)off, size, buf, &len);
	}
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_buf(req, buf, len);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct svc_fs *sfs = req_fs(req);

	{
		FS_LOCKED(sfs);
		ext4_file_close(sfs, (struct ext4_file *)(uintptr_t)fi->fh);
	}
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct svc_fs *sfs = req_fs(req);
	struct statvfs st;
	int r;

	{
		FS_LOCKED(sfs);
		r = ext4_statfs(sfs, &st);
	}
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_statfs(req, &st);
}

/* getxattr and listxattr answer alike: the needed size to a size-0 probe, else the bytes. */
static void reply_xattr(fuse_req_t req, int r, size_t size, const char *buf, size_t len)
{
	if (r < 0)
		fuse_reply_err(req, -r);
	else if (size == 0)
		fuse_reply_xattr(req, len);
	else
		fuse_reply_buf(req, buf, len);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct svc_fs *sfs = req_fs(req);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r;

	if (size) {
		buf = malloc(size);
		if (!buf) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
	}
	{
		FS_LOCKED(sfs);
		r = ext4_getxattr(sfs, node_to_ino(ino), name, buf, size, &len);
	}
	reply_xattr(req, r, size, buf, len);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct svc_fs *sfs = req_fs(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r;

	if (size) {
		buf = malloc(size);
		if (!buf) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
	}
	{
		FS_LOCKED(sfs);
		/* Approximates the kernel's CAP_SYS_ADMIN test for listing trusted.*. */
		r = ext4_listxattr(sfs, node_to_ino(ino), ctx->uid == 0, buf, size, &len);
	}
	reply_xattr(req, r, size, buf, len);
}

static struct ext4_cred req_cred(fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	return (struct ext4_cred){ .uid = ctx->uid, .gid = ctx->gid, .umask = ctx->umask };
}

static void reply_entry_or_err(fuse_req_t req, int r, const struct fuse_entry_param *e)
{
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_entry(req, e);
}

static int do_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev,
		    struct fuse_entry_param *ret)
{
	struct svc_fs *sfs = req_fs(req);
	struct ext4_cred cred = req_cred(req);
	FS_LOCKED(sfs);
	ext2_ino_t ino;
	int r;

	if (S_ISDIR(mode))
		r = ext4_mkdir(sfs, node_to_ino(parent), name, mode, &cred, &ino);
	else
		r = ext4_mknod(sfs, node_to_ino(parent), name, mode, rdev, &cred, &ino);
	if (r < 0)
		return r;
	return do_entry(sfs, ino, ret);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	struct fuse_entry_param e;
	int r;

	if (S_ISDIR(mode))
		r = -EINVAL;
	else
		r = do_mknod(req, parent, name, mode, rdev, &e);
	reply_entry_or_err(req, r, &e);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct fuse_entry_param e;
	int r;

	r = do_mknod(req, parent, name, (mode & 07777) | S_IFDIR, 0, &e);
	reply_entry_or_err(req, r, &e);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct svc_fs *sfs = req_fs(req);
	struct fuse_entry_param e;
	struct ext4_file *f = NULL;
	int r;

	r = do_mknod(req, parent, name, (mode & 07777) | S_IFREG, 0, &e);
	if (r == 0) {
		FS_LOCKED(sfs);
		r = ext4_file_open(sfs, node_to_ino(e.ino), &f);
	}
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	file_handle_setup(req, sfs, f, fi);
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		FS_LOCKED(sfs);
		ext4_file_close(sfs, f);
	}
}

static void op_symlink(fuse_req_t req, const char *target, fuse_ino_t parent, const char *name)
{
	struct svc_fs *sfs = req_fs(req);
	struct ext4_cred cred = req_cred(req);
	struct fuse_entry_param e;
	ext2_ino_t ino;
	int r;

	{
		FS_LOCKED(sfs);
		r = ext4_symlink(sfs, node_to_ino(parent), name, target, &cred, &ino);
		if (r == 0)
			r = do_entry(sfs, ino, &e);
	}
	reply_entry_or_err(req, r, &e);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct svc_fs *sfs = req_fs(req);
	struct fuse_entry_param e;
	int r;

	{
		FS_LOCKED(sfs);
		r = ext4_link(sfs, node_to_ino(ino), node_to_ino(newparent), newname);
		if (r == 0)
			r = do_entry(sfs, node_to_ino(ino), &e);
	}
	reply_entry_or_err(req, r, &e);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct svc_fs *sfs = req_fs(req);
	int r;

	{
		FS_LOCKED(sfs);
		r = ext4_unlink(sfs, node_to_ino(parent), name);
	}
	fuse_reply_err(req, -r);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct svc_fs *sfs = req_fs(req);
	int r;

	{
		FS_LOCKED(sfs);
		r = ext4_rmdir(sfs, node_to_ino(parent), name);
	}
	fuse_reply_err(req, -r);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct svc_fs *sfs = req_fs(req);
	int r;

	{
		FS_LOCKED(sfs);
		r = ext4_rename(sfs, node_to_ino(parent), name, node_to_ino(newparent), newname,
				flags);
	}
	fuse_reply_err(req, -r);
}

/* With the writeback cache the kernel writes an inode's times back when it flushes the inode,
 * which can be after the file was unlinked and deleted here (`rm -rf dir; sync -f`): syncfs()
 * would then fail with ESTALE. Nobody can see those times any more, so they count as written,
 * and the answer is what the deleted inode last was, with no links: the kernel marks an inode
 * bad if a reply changes its type. Still ESTALE if not even the type is left. */
static int deleted_times_stat(struct svc_fs *sfs, ext2_ino_t ino, struct stat *ret)
{
	struct ext2_inode_large inode;

	if (ino == 0 || ino > sfs->fs->super->s_inodes_count)
		return -ESTALE;
	if (ext4_inode_read_raw(sfs, ino, &inode) != 0 || (inode.i_mode & LINUX_S_IFMT) == 0)
		return -ESTALE;
	ext4_inode_stat(sfs, ino, &inode, ret);
	ret->st_nlink = 0;
	return 0;
}

static int do_setattr(struct svc_fs *sfs, fuse_ino_t node, const struct stat *attr, int to_set,
		      uint32_t caller_gid, struct stat *ret)
{
	struct ext4_setattr sa = {0};
	struct timespec now;

	ext4_now(&now);
	if (to_set & FUSE_SET_ATTR_MODE) {
		sa.valid |= EXT4_SET_MODE;
		sa.mode = attr->st_mode;
	}
	if (to_set & FUSE_SET_ATTR_UID) {
		sa.valid |= EXT4_SET_UID;
		sa.uid = attr->st_uid;
	}
	if (to_set & FUSE_SET_ATTR_GID) {
		sa.valid |= EXT4_SET_GID;
		sa.gid = attr->st_gid;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (attr->st_size < 0)
			return -EINVAL;
		sa.valid |= EXT4_SET_SIZE;
		sa.size = (uint64_t)attr->st_size;
	}
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW)) {
		sa.valid |= EXT4_SET_ATIME;
		sa.atime = (to_set & FUSE_SET_ATTR_ATIME_NOW) ? now : attr->st_atim;
	}
	if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) {
		sa.valid |= EXT4_SET_MTIME;
		sa.mtime = (to_set & FUSE_SET_ATTR_MTIME_NOW) ? now : attr->st_mtim;
	}
	if (to_set & FUSE_SET_ATTR_CTIME) {
		sa.valid |= EXT4_SET_CTIME;
		sa.ctime = attr->st_ctim;
	}

	/* A truncate by someone without CAP_FSETID comes without a mode: clearing setuid/setgid
	 * is left to us (session-io.c). A chown carries the flag too, with the mode the kernel
	 * computed, which then stands (ext4_setattr()). */
	if (svc_session_kill_suidgid() && (sa.valid & (EXT4_SET_SIZE | EXT4_SET_UID | EXT4_SET_GID)))
		sa.valid |= EXT4_SET_KILL_SUIDGID;
	sa.caller_gid = caller_gid;

	FS_LOCKED(sfs);
	struct ext2_inode_large inode;
	ext2_ino_t ino = node_to_ino(node);
	int r;

	r = ext4_setattr(sfs, ino, &sa);
	if (r == -ESTALE && !(sa.valid & ~(EXT4_SET_ATIME | EXT4_SET_MTIME | EXT4_SET_CTIME)))
		return deleted_times_stat(sfs, ino, ret);
	if (r < 0)
		return r;
	r = ext4_inode_read(sfs, ino, &inode);
	if (r < 0)
		return r;
	ext4_inode_stat(sfs, ino, &inode, ret);
	return 0;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct stat st;
	int r;

	r = do_setattr(req_fs(req), ino, attr, to_set, (uint32_t)fuse_req_ctx(req)->gid, &st);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, SVC_CACHE_TIMEOUT);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct svc_fs *sfs = req_fs(req);
	struct ext4_file *f = (struct ext4_file *)(uintptr_t)fi->fh;
	size_t len = 0;
	bool allocated = false;
	int r;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	{
		FS_LOCKED(sfs);
		/* A write-back comes from the kernel's flusher (root): the opener's right
		 * counts, not the sender's. */
		bool privileged = fi->writepage ? ext4_file_privileged(f) :
						  req_privileged(req, sfs);
		unsigned int flags = privileged ? EXT4_WRITE_PRIVILEGED : 0;

		/* The kernel takes a short write-back for done and drops the rest of its
		 * pages: only an error makes fsync() and close() report the loss. */
		if (fi->writepage)
			flags |= EXT4_WRITE_WHOLE;
		if (svc_session_kill_suidgid())
			flags |= EXT4_WRITE_KILL_SUIDGID;
		r = ext4_file_write(sfs, f, (uint64_t)off, size, buf, flags,
				    (uint32_t)fuse_req_ctx(req)->gid, &len, &allocated);
	}
	/* The kernel refreshes a file's attributes after a write(), which with the writeback
	 * cache comes before the blocks exist, and not after the write-back that allocates them:
	 * without this, st_blocks would stay stale for the attribute timeout. Before the reply,
	 * so that a stat after fsync() cannot find the old attributes still valid. Only the
	 * attributes (offset < 0): no page lock is taken, so this cannot deadlock with the
	 * write-back in progress. */
	if (allocated && fi->writepage && sfs->se)
		(void)fuse_lowlevel_notify_inval_inode(sfs->se, ino, -1, 0);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_write(req, len);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct svc_fs *sfs = req_fs(req);
	int r;

	/* The file's data and everything it depends on (inode, bitmaps, descriptors,
	 * directory blocks) are written by one flush of the whole filesystem. */
	{
		FS_LOCKED(sfs);
		r = ext4_sync(sfs);
	}
	fuse_reply_err(req, -r);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	op_fsync(req, ino, datasync, fi);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
			 struct fuse_file_info *fi)
{
	struct svc_fs *sfs = req_fs(req);
	int r;

	if (offset < 0 || length <= 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	{
		FS_LOCKED(sfs);
		bool privileged = req_privileged(req, sfs);

		r = ext4_fallocate(sfs, node_to_ino(ino), mode, (uint64_t)offset, (uint64_t)length,
				   privileged);
	}
	fuse_reply_err(req, -r);
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	struct svc_fs *sfs = req_fs(req);
	uint64_t pos = 0;
	int r;

	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (off < 0) {
		fuse_reply_err(req, ENXIO);
		return;
	}
	{
		FS_LOCKED(sfs);
		r = ext4_lseek(sfs, node_to_ino(ino), (uint64_t)off, whence, &pos);
	}
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_lseek(req, (off_t)pos);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	struct svc_fs *sfs = req_fs(req);
	int r;

	{
		FS_LOCKED(sfs);
		r = ext4_setxattr(sfs, node_to_ino(ino), name, value, size, flags);
	}
	fuse_reply_err(req, -r);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct svc_fs *sfs = req_fs(req);
	int r;

	{
		FS_LOCKED(sfs);
		r = ext4_removexattr(sfs, node_to_ino(ino), name);
	}
	fuse_reply_err(req, -r);
}

static const struct fuse_lowlevel_ops svc_ops = {
	.init = op_init,
	.destroy = op_destroy,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.access = op_access,
	.readlink = op_readlink,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.statfs = op_statfs,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.create = op_create,
	.symlink = op_symlink,
	.link = op_link,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.rename = op_rename,
	.setattr = op_setattr,
	.write = op_write,
	/* No .flush: every write is in libext2fs when it is answered, and close() promises
	 * nothing more. libfuse answers FLUSH with ENOSYS, and the kernel stops sending it:
	 * with the writeback cache (where noflush does not apply) that is one round trip less
	 * per close(); the kernel still writes the dirty pages back first and reports their
	 * errors from close(). */
	.fsync = op_fsync,
	.fsyncdir = op_fsyncdir,
	.fallocate = op_fallocate,
	.lseek = op_lseek,
	.setxattr = op_setxattr,
	.removexattr = op_removexattr,
};

const struct fuse_lowlevel_ops *svc_fuse_ops(void)
{
	return &svc_ops;
}

void svc_fs_set_session(struct svc_fs *sfs, struct fuse_session *se)
{
	sfs->se = se;
}

size_t svc_fuse_ops_size(void)
{
	return sizeof(svc_ops);
}
