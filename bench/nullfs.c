// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * nullfs: the FUSE floor of bench/run.sh (system `floor`): a FUSE server that does no filesystem
 * work (names, attributes, sizes and symlink targets in memory; written bytes are discarded and
 * reads return zeros; no disk), so its rows are the best any FUSE server can do on the machine.
 * That holds only if the kernel sends it exactly the requests it sends fuse4fs: it copies every
 * kernel-visible choice of service/ops.c (op_init()'s capabilities, SVC_CACHE_TIMEOUT for
 * entries, attributes and misses, keep_cache and noflush on open, cache_readdir, "." lookups,
 * the errors of op_fallocate() and op_lseek(), ENODATA for extended attributes) and of
 * direct-mode.c (default_permissions, rw, one worker, our request loop of service/session-io.c
 * with its busy-poll default). Hard links are not served: the bench's trees have none.
 *
 *   nullfs [-d] [-o OPTIONS] [--owner UID:GID] [--busy-poll USEC] MOUNTPOINT
 *
 * Mounts with libfuse (as root, like `fuse4fs -f`), serves until unmounted. A measuring
 * instrument: never built by default, not installed, not tested (bench/meson.build).
 */
#define FUSE_USE_VERSION 314

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

#include "log.h"
#include "session-io.h"

#define TIMEOUT 3600.0 /* service/ops.c: SVC_CACHE_TIMEOUT */
#define FIRST_COOKIE 3 /* readdir offsets: 1 after ".", 2 after "..", then the children's */
/* Fixed: chains stay short up to a few 100,000 names, far more than the bench makes. */
#define NBUCKETS (1u << 17)
/* ext4's limit for an extent-mapped file with 4 KiB blocks: 2^32 blocks, less one. */
#define MAX_SIZE ((((off_t)1 << 32) - 1) * 4096)
/* READ replies point every iovec at these zeros: the floor stores no data. */
#define ZEROS_SIZE (64u << 10)

struct node {
	struct node *hnext;	   /* chain of the (parent, name) hash */
	struct node *parent;	   /* NULL once the name is gone */
	struct node *prev, *next;  /* siblings, in the order of their cookies */
	struct node *first, *last; /* children of a directory */
	uint64_t cookie;	   /* the readdir offset after this entry, never reused */
	uint64_t next_cookie;
	uint64_t nlookup; /* the kernel's references: freed at 0 once unlinked */
	char *name;	  /* apart from the node: the node's address is its node id */
	char *target;	  /* a symlink's */
	struct stat st;	  /* a regular file's st_size is what was written, its bytes are not kept */
};

static struct node root, *buckets[NBUCKETS];
static const char zeros[ZEROS_SIZE];
static size_t nnodes;
static ino_t next_ino = 1;

static struct node *N(fuse_ino_t id)
{
	return id == FUSE_ROOT_ID ? &root : (struct node *)(uintptr_t)id;
}

static struct timespec now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

static struct node **bucket(const struct node *parent, const char *name)
{
	uint64_t h = 14695981039346656037ull ^ (uintptr_t)parent; /* FNV-1a */

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 1099511628211ull;
	return &buckets[(h ^ (h >> 29)) & (NBUCKETS - 1)];
}

static struct node *find(const struct node *parent, const char *name)
{
	for (struct node *n = *bucket(parent, name); n; n = n->hnext)
		if (n->parent == parent && strcmp(n->name, name) == 0)
			return n;
	return NULL;
}

/* The name goes to the end of the directory's listing, with a cookie no other entry had. */
static void link_node(struct node *p, struct node *n)
{
	struct node **b = bucket(p, n->name);

	n->hnext = *b;
	*b = n;
	n->parent = p;
	n->cookie = p->next_cookie++;
	n->prev = p->last;
	n->next = NULL;
	*(p->last ? &p->last->next : &p->first) = n;
	p->last = n;
	p->st.st_nlink += S_ISDIR(n->st.st_mode);
	p->st.st_mtim = p->st.st_ctim = now();
	nnodes++;
}

static void unlink_node(struct node *n)
{
	struct node *p = n->parent, **pp = bucket(p, n->name);

	while (*pp != n)
		pp = &(*pp)->hnext;
	*pp = n->hnext;
	*(n->prev ? &n->prev->next : &p->first) = n->next;
	*(n->next ? &n->next->prev : &p->last) = n->prev;
	p->st.st_nlink -= S_ISDIR(n->st.st_mode);
	p->st.st_mtim = p->st.st_ctim = n->st.st_ctim = now();
	n->parent = NULL;
	nnodes--;
}

static void maybe_free(struct node *n)
{
	if (n != &root && !n->parent && n->nlookup == 0) {
		free(n->name);
		free(n->target);
		free(n);
	}
}

static void init_node(struct node *n, mode_t mode, uid_t uid, gid_t gid)
{
	n->next_cookie = FIRST_COOKIE;
	n->st = (struct stat){.st_ino = next_ino++, .st_mode = mode, .st_uid = uid, .st_gid = gid};
	n->st.st_nlink = S_ISDIR(mode) ? 2 : 1;
	n->st.st_blksize = 4096;
	n->st.st_atim = n->st.st_mtim = n->st.st_ctim = now();
}

/* As if every byte were allocated: fio's file is written in full, tar's files too. */
static void set_size(struct node *n, off_t size)
{
	n->st.st_size = size;
	n->st.st_blocks = (size + 4095) / 4096 * 8;
}

static struct fuse_entry_param entry_of(struct node *n)
{
	return (struct fuse_entry_param){.ino = n == &root ? FUSE_ROOT_ID : (uintptr_t)n,
					 .generation = n->st.st_ino, /* never reused */
					 .attr = n->st,
					 .attr_timeout = TIMEOUT,
					 .entry_timeout = TIMEOUT};
}

/* Each entry handed out is a lookup the kernel will forget; one it did not receive is not. */
static void reply_node(fuse_req_t req, struct node *n, struct fuse_file_info *fi)
{
	struct fuse_entry_param e = entry_of(n);

	n->nlookup++;
	if ((fi ? fuse_reply_create(req, &e, fi) : fuse_reply_entry(req, &e)) == -ENOENT)
		n->nlookup--;
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	/* service/ops.c op_init() for a read-write mount without -o writeback_cache. */
	unsigned int want = FUSE_CAP_ASYNC_READ | FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO |
			    FUSE_CAP_EXPORT_SUPPORT | FUSE_CAP_POSIX_ACL | FUSE_CAP_CACHE_SYMLINKS |
			    FUSE_CAP_PARALLEL_DIROPS | FUSE_CAP_DONT_MASK;

	conn->want |= want & conn->capable;
	conn->want &=
	    ~(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_ATOMIC_O_TRUNC | FUSE_CAP_AUTO_INVAL_DATA);
	conn->time_gran = 1;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct node *p = N(parent), *n;
	struct fuse_entry_param miss = {.entry_timeout = TIMEOUT}; /* cached, as fuse4fs's */

	if (strcmp(name, ".") == 0) /* export support resolves a file handle by "." */
		n = p;
	else if (strcmp(name, "..") == 0)
		n = p == &root ? p : p->parent;
	else
		n = find(p, name);
	if (n)
		reply_node(req, n, NULL);
	else
		fuse_reply_entry(req, &miss);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++) {
		struct node *n = N(forgets[i].ino);

		n->nlookup -= forgets[i].nlookup;
		maybe_free(n);
	}
	fuse_reply_none(req);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fuse_forget_data f = {.ino = ino, .nlookup = nlookup};

	op_forget_multi(req, 1, &f);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_attr(req, &N(ino)->st, TIMEOUT);
}

/* Modes, owners, times and a regular file's size (truncate, and O_TRUNC: fuse4fs does not take
 * FUSE_CAP_ATOMIC_O_TRUNC, so the kernel sends a size of 0 here after the open). */
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct node *n = N(ino);
	struct stat *st = &n->st;
	struct timespec t = now();

	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (attr->st_size < 0 || attr->st_size > MAX_SIZE) {
			fuse_reply_err(req, attr->st_size < 0 ? EINVAL : EFBIG);
			return;
		}
		set_size(n, attr->st_size);
	}
	if (to_set & FUSE_SET_ATTR_MODE)
		st->st_mode = (st->st_mode & S_IFMT) | (attr->st_mode & 07777);
	if (to_set & FUSE_SET_ATTR_UID)
		st->st_uid = attr->st_uid;
	if (to_set & FUSE_SET_ATTR_GID)
		st->st_gid = attr->st_gid;
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW))
		st->st_atim = to_set & FUSE_SET_ATTR_ATIME_NOW ? t : attr->st_atim;
	if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW))
		st->st_mtim = to_set & FUSE_SET_ATTR_MTIME_NOW ? t : attr->st_mtim;
	st->st_ctim = to_set & FUSE_SET_ATTR_CTIME ? attr->st_ctim : t;
	fuse_reply_attr(req, st, TIMEOUT);
}

/*
 * mknod, mkdir and create. With FUSE_CAP_DONT_MASK the umask is ours to apply; owners as ext4
 * gives them (a setgid directory passes on its group). fi: create's file handle, set up as
 * service/ops.c file_handle_setup() does: pages kept, no FLUSH on close.
 */
static void make(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		 const char *target, struct fuse_file_info *fi)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct node *p = N(parent), *n;

	if (p != &root && !p->parent) {
		fuse_reply_err(req, ENOENT); /* a removed directory */
		return;
	}
	if (find(p, name)) {
		fuse_reply_err(req, EEXIST);
		return;
	}
	n = calloc(1, sizeof(*n));
	if (!n || !(n->name = strdup(name)) || (target && !(n->target = strdup(target)))) {
		if (n)
			free(n->name);
		free(n);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* A symlink is 0777 whatever the umask, as on ext4. */
	init_node(n,
		  (S_ISLNK(mode) ? mode : mode & ~(ctx->umask & 0777)) |
		      (S_ISDIR(mode) && (p->st.st_mode & S_ISGID) ? S_ISGID : 0),
		  ctx->uid, p->st.st_mode & S_ISGID ? p->st.st_gid : ctx->gid);
	if (target)
		set_size(n, (off_t)strlen(target));
	link_node(p, n);
	if (fi) {
		fi->keep_cache = 1;
		fi->noflush = 1;
	}
	reply_node(req, n, fi);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	if (S_ISDIR(mode))
		fuse_reply_err(req, EINVAL);
	else
		make(req, parent, name, mode, NULL, NULL);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	make(req, parent, name, (mode & 07777) | S_IFDIR, NULL, NULL);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	make(req, parent, name, (mode & 07777) | S_IFREG, NULL, fi);
}

static void op_symlink(fuse_req_t req, const char *target, fuse_ino_t parent, const char *name)
{
	make(req, parent, name, S_IFLNK | 0777, target, NULL);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct node *n = N(ino);

	if (n->target)
		fuse_reply_readlink(req, n->target);
	else
		fuse_reply_err(req, EINVAL);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fi->keep_cache = 1;
	fi->noflush = 1;
	fuse_reply_open(req, fi);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

/* Zeros up to the size, short at the end of the file; the same buffer in every iovec. */
static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	off_t end = N(ino)->st.st_size;
	/* 1 MiB: the kernel's max_pages_limit (256 pages) caps a request below it. */
	struct iovec iov[16];
	size_t len, n = 0;
	char *big;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	len = off >= end ? 0 : (uint64_t)(end - off) < size ? (size_t)(end - off) : size;
	if (len > sizeof(iov) / sizeof(iov[0]) * ZEROS_SIZE) { /* never on this kernel */
		big = calloc(1, len);
		if (big)
			fuse_reply_buf(req, big, len);
		else
			fuse_reply_err(req, ENOMEM);
		free(big);
		return;
	}
	for (size_t done = 0; done < len; done += iov[n++].iov_len)
		iov[n] =
		    (struct iovec){.iov_base = (void *)zeros,
				   .iov_len = len - done < ZEROS_SIZE ? len - done : ZEROS_SIZE};
	fuse_reply_iov(req, iov, (int)n);
}

/* The bytes go nowhere; the size and the times change as fuse4fs's ext4_file_write() changes
 * them (a write is a modification: mtime and ctime). */
static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct node *n = N(ino);

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (off > MAX_SIZE || size > (size_t)(MAX_SIZE - off)) {
		fuse_reply_err(req, EFBIG);
		return;
	}
	if (off + (off_t)size > n->st.st_size)
		set_size(n, off + (off_t)size);
	n->st.st_mtim = n->st.st_ctim = now();
	fuse_reply_write(req, size);
}

/* Nothing is ever unwritten: flush, fsync and fsyncdir have nothing to do. */
static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

/* The modes and errors of op_fallocate() and ext4_fallocate(), so that fio (and anything else)
 * gets the same answers, and so sends the same requests, as from fuse4fs. */
static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
			 struct fuse_file_info *fi)
{
	struct node *n = N(ino);
	int r = 0;

	if (offset < 0 || length <= 0)
		r = EINVAL;
	else if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE) ||
		 ((mode & FALLOC_FL_PUNCH_HOLE) && !(mode & FALLOC_FL_KEEP_SIZE)) ||
		 ((mode & FALLOC_FL_PUNCH_HOLE) && (mode & FALLOC_FL_ZERO_RANGE)))
		r = EOPNOTSUPP;
	else if (S_ISDIR(n->st.st_mode))
		r = EISDIR;
	else if (!S_ISREG(n->st.st_mode))
		r = ENODEV;
	else if (offset > MAX_SIZE || length > MAX_SIZE - offset)
		r = EFBIG;
	if (r == 0 && !(mode & FALLOC_FL_KEEP_SIZE) && offset + length > n->st.st_size)
		set_size(n, offset + length);
	if (r == 0)
		n->st.st_mtim = n->st.st_ctim = now();
	fuse_reply_err(req, r);
}

/* Every byte is data (set_size()): the hole is at the end. */
static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	off_t size = N(ino)->st.st_size;

	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		fuse_reply_err(req, EINVAL);
	else if (off < 0 || off >= size)
		fuse_reply_err(req, ENXIO);
	else
		fuse_reply_lseek(req, whence == SEEK_DATA ? off : size);
}

/* Appends one entry, false when it does not fit. Dots go without a node id (the kernel counts
 * a lookup for each entry that has one), as in service/ops.c readdir_fill(). */
static bool add_entry(fuse_req_t req, char *buf, size_t size, size_t *used, bool plus,
		      const char *name, struct node *n, uint64_t off)
{
	bool dot = off < FIRST_COOKIE;
	struct fuse_entry_param e = {.attr = n->st};
	size_t len;

	if (plus)
		e = dot ? (struct fuse_entry_param){.attr = {.st_ino = n->st.st_ino,
							     .st_mode = S_IFDIR}}
			: entry_of(n);
	len = plus ? fuse_add_direntry_plus(req, buf + *used, size - *used, name, &e, (off_t)off)
		   : fuse_add_direntry(req, buf + *used, size - *used, name, &e.attr, (off_t)off);
	if (len > size - *used)
		return false;
	*used += len;
	n->nlookup += plus && !dot;
	return true;
}

/* Offsets are cookies: entries removed or added between two calls neither repeat nor hide the
 * others. The walk from the first child is cheap next to a round trip. */
static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct node *d = N(ino), *up = d->parent ? d->parent : d;
	char *buf = malloc(size ? size : 1);
	size_t used = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if ((off >= 1 || add_entry(req, buf, size, &used, plus, ".", d, 1)) &&
	    (off >= 2 || add_entry(req, buf, size, &used, plus, "..", up, 2)))
		for (struct node *c = d->first; c; c = c->next)
			if (c->cookie > (uint64_t)off &&
			    !add_entry(req, buf, size, &used, plus, c->name, c, c->cookie))
				break;
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, true);
}

/* The name goes at once; the node when the kernel forgets it (an open file holds it). */
static void remove_node(struct node *n)
{
	unlink_node(n);
	n->st.st_nlink = 0;
	maybe_free(n);
}

/* unlink, rmdir, and a rename's target: the errors of ext4, in its order. */
static int removable(struct node *n, bool dir)
{
	if (!n)
		return ENOENT;
	if (S_ISDIR(n->st.st_mode) != dir)
		return dir ? ENOTDIR : EISDIR;
	return n->first ? ENOTEMPTY : 0;
}

static void rm(fuse_req_t req, fuse_ino_t parent, const char *name, bool dir)
{
	struct node *n = find(N(parent), name);
	int r = removable(n, dir);

	if (r == 0)
		remove_node(n);
	fuse_reply_err(req, r);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	rm(req, parent, name, false);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	rm(req, parent, name, true);
}

/* The VFS has refused moving a directory below itself already; the rest is ours. */
static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct node *n = find(N(parent), name), *t = find(N(newparent), newname);
	char *copy = NULL;
	int r = flags & ~RENAME_NOREPLACE ? EINVAL : !n ? ENOENT : 0;

	if (r == 0 && t && t != n)
		r = flags & RENAME_NOREPLACE ? EEXIST : removable(t, S_ISDIR(n->st.st_mode));
	if (r == 0 && t != n && !(copy = strdup(newname)))
		r = ENOMEM;
	if (r == 0 && t != n) {
		if (t)
			remove_node(t);
		unlink_node(n);
		free(n->name);
		n->name = copy;
		link_node(N(newparent), n);
	}
	fuse_reply_err(req, r);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs s = {.f_bsize = 4096, .f_frsize = 4096, .f_namemax = 255};

	s.f_blocks = s.f_bfree = s.f_bavail = 1u << 20;
	s.f_files = 1u << 24;
	s.f_ffree = s.f_favail = s.f_files - nnodes;
	fuse_reply_statfs(req, &s);
}

/* No extended attributes (so no ACLs), answered as fuse4fs answers for a file without any:
 * ENOSYS would make the kernel stop asking, and the floor would get fewer requests. */
static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	fuse_reply_err(req, ENODATA);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, 0);
	else
		fuse_reply_buf(req, NULL, 0);
}

static const struct fuse_lowlevel_ops nullfs_ops = {
    .init = op_init,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .create = op_create,
    .open = op_open,
    .read = op_read,
    .write = op_write,
    .flush = op_flush,
    .fsync = op_fsync,
    .fsyncdir = op_fsync,
    .fallocate = op_fallocate,
    .lseek = op_lseek,
    .release = op_release,
    .symlink = op_symlink,
    .readlink = op_readlink,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .releasedir = op_release,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .rename = op_rename,
    .statfs = op_statfs,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
};

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se = NULL;
	struct fuse_loop_config *cfg = NULL;
	const char *mountpoint = NULL;
	char *opts = NULL;
	unsigned int busy_poll = SVC_BUSY_POLL_DEFAULT_US, uid = 0, gid = 0;
	bool debug = false, bad = false;
	int r = 1;

	/* As direct-mode.c: the kernel checks permissions; a read-write mount. */
	if (fuse_opt_add_opt(&opts, "default_permissions,subtype=nullfs,fsname=nullfs,rw") < 0)
		return 1;
	for (int i = 1; i < argc && !bad; i++) {
		bool arg = i + 1 < argc;

		if (strcmp(argv[i], "-d") == 0)
			debug = true;
		else if (strcmp(argv[i], "-o") == 0 && arg)
			bad = fuse_opt_add_opt(&opts, argv[++i]) < 0;
		else if (strcmp(argv[i], "--owner") == 0 && arg)
			bad = sscanf(argv[++i], "%u:%u", &uid, &gid) != 2;
		else if (strcmp(argv[i], "--busy-poll") == 0 && arg)
			bad = (busy_poll = (unsigned int)atoi(argv[++i])) > SVC_BUSY_POLL_MAX_US;
		else
			bad = argv[i][0] == '-' || mountpoint || !(mountpoint = argv[i]);
	}
	if (bad || !mountpoint) {
		fprintf(stderr, "Usage: nullfs [-d] [-o OPTIONS] [--owner UID:GID] "
				"[--busy-poll USEC] MOUNTPOINT\n");
		free(opts);
		return 2;
	}
	log_setup(debug);
	init_node(&root, S_IFDIR | 0755, uid, gid);

	if (fuse_opt_add_arg(&args, argv[0]) < 0 || (debug && fuse_opt_add_arg(&args, "-d") < 0) ||
	    fuse_opt_add_arg(&args, "-o") < 0 || fuse_opt_add_arg(&args, opts) < 0)
		goto out;
	se = fuse_session_new(&args, &nullfs_ops, sizeof(nullfs_ops), NULL);
	if (!se || fuse_session_mount(se, mountpoint) < 0)
		goto out;
	/* Our request loop on the connection libfuse just mounted (the session keeps its fd). */
	cfg = fuse_loop_cfg_create();
	if (svc_session_attach(se, fuse_session_fd(se), busy_poll) < 0 ||
	    fuse_set_signal_handlers(se) < 0 || !cfg)
		goto unmount;
	/* One worker, no cloned fd: the loop of service-mode.c and direct-mode.c. */
	fuse_loop_cfg_set_clone_fd(cfg, 0);
	fuse_loop_cfg_set_max_threads(cfg, 1);
	r = fuse_session_loop_mt(se, cfg) < 0;
	fuse_remove_signal_handlers(se);
unmount:
	/* Nothing to do when the kernel already ended the connection (umount); after a signal
	 * the mount is still there. */
	fuse_session_unmount(se);
out:
	if (cfg)
		fuse_loop_cfg_destroy(cfg);
	if (se)
		fuse_session_destroy(se);
	fuse_opt_free_args(&args);
	free(opts);
	return r;
}
