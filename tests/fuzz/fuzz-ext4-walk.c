/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Opens an ext2/3/4 image given as bytes (a memfd, so the server's own unixfd path is used)
 * with svc_fs_open() and walks all of it through the ext4 modules the FUSE handlers call:
 * every directory listed and every name looked up again, every inode stat'ed, every file read,
 * every link target and extended attribute read. Lookup, stat and opendir are ops.c's own
 * request bodies (ops-internal.h); the rest are the ext4-*.c calls its handlers make. The
 * outcome must be "refused" or "walked";
 * anything else (a crash, a sanitizer report, a hang caught by libFuzzer's -timeout or the
 * corpus runner's timeout) is a bug.
 *
 * Built twice: as the libFuzzer harness (and its corpus replay driver), and with
 * EXT4_WALK_MAIN as ext4-walk, the corpus runner's in-process walker (tests/corpus).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ext4.h"
#include "journal.h"
#include "log.h"
#include "ops-internal.h"

/* Bounds that keep one input's walk short; a real mount has none of these, the kernel's
 * requests are what bounds it there. */
#define WALK_MAX_DIRS 4096
#define WALK_MAX_ENTRIES 65536
#define WALK_MAX_READ (8u << 20)
#define WALK_CHUNK (128u << 10)

struct walk {
	struct svc_fs *sfs;
	ext2_ino_t *queue;
	size_t nqueue, head;
	ext2_ino_t *seen; /* directories queued, to stop at loops */
	size_t nseen;
	unsigned long entries, inodes, errors;
	uint64_t bytes;
	char *buf;
	ext2_ino_t cur_dir;
};

static bool walk_seen(struct walk *w, ext2_ino_t ino)
{
	for (size_t i = 0; i < w->nseen; i++)
		if (w->seen[i] == ino)
			return true;
	return false;
}

static void walk_xattrs(struct walk *w, ext2_ino_t ino)
{
	char list[4096], value[4096];
	size_t size = 0;

	if (ext4_listxattr(w->sfs, ino, true, list, sizeof(list), &size) < 0) {
		w->errors++;
		return;
	}
	for (size_t off = 0; off < size && off < sizeof(list);) {
		size_t len = strnlen(list + off, sizeof(list) - off), vsize = 0;

		if (off + len >= sizeof(list))
			break;
		if (ext4_getxattr(w->sfs, ino, list + off, value, sizeof(value), &vsize) < 0)
			w->errors++;
		off += len + 1;
	}
}

static fuse_ino_t walk_node(ext2_ino_t ino)
{
	return ino == EXT2_ROOT_INO ? FUSE_ROOT_ID : ino;
}

/* st: what the lookup (or getattr, for the root) answered, as the kernel would see it. */
static void walk_inode(struct walk *w, ext2_ino_t ino, const struct stat *st)
{
	w->inodes++;
	walk_xattrs(w, ino);

	if (S_ISDIR(st->st_mode)) {
		if (do_opendir(w->sfs, walk_node(ino)) < 0) {
			w->errors++;
			return;
		}
		if (w->nqueue < WALK_MAX_DIRS && !walk_seen(w, ino)) {
			w->queue[w->nqueue++] = ino;
			w->seen[w->nseen++] = ino;
		}
	} else if (S_ISLNK(st->st_mode)) {
		char *target = NULL;

		if (ext4_readlink(w->sfs, ino, &target) < 0)
			w->errors++;
		free(target);
	} else if (S_ISREG(st->st_mode)) {
		struct ext4_file *f = NULL;
		uint64_t off = 0;

		if (ext4_file_open(w->sfs, ino, &f) < 0) {
			w->errors++;
			return;
		}
		while (w->bytes < WALK_MAX_READ) {
			size_t got = 0;

			if (ext4_file_read(w->sfs, f, off, WALK_CHUNK, w->buf, &got) < 0) {
				w->errors++;
				break;
			}
			if (got == 0)
				break;
			off += got;
			w->bytes += got;
		}
		ext4_file_close(w->sfs, f);
	}
}

static int walk_fill(void *userdata, const char *name, size_t name_len, ext2_ino_t ino,
		     unsigned int d_type, uint64_t next_off)
{
	struct walk *w = userdata;
	char cname[EXT4_NAME_MAX + 1];
	struct fuse_entry_param e;

	if (++w->entries > WALK_MAX_ENTRIES)
		return 1;
	if (name_len > EXT4_NAME_MAX)
		return -EUCLEAN;
	memcpy(cname, name, name_len);
	cname[name_len] = '\0';
	if (strcmp(cname, ".") == 0 || strcmp(cname, "..") == 0)
		return 0;
	/* The kernel looks every listed name up: the same lookup (htree or linear) and stat as
	 * the FUSE handler. The walk then follows what the lookup found. */
	if (do_lookup(w->sfs, walk_node(w->cur_dir), cname, &e) < 0) {
		w->errors++;
		return 0;
	}
	if (e.ino != walk_node(ino))
		w->errors++; /* the index and the listing disagree: damaged, not fatal */
	walk_inode(w, e.ino == FUSE_ROOT_ID ? EXT2_ROOT_INO : (ext2_ino_t)e.ino, &e.attr);
	return 0;
}

static void walk_fs(struct walk *w)
{
	struct statvfs sv;
	struct stat st;

	ext4_statfs(w->sfs, &sv);
	if (do_getattr(w->sfs, FUSE_ROOT_ID, &st) < 0) {
		w->errors++;
		return;
	}
	walk_inode(w, EXT2_ROOT_INO, &st);
	while (w->head < w->nqueue && w->entries <= WALK_MAX_ENTRIES) {
		w->cur_dir = w->queue[w->head++];
		if (ext4_dir_iterate(w->sfs, w->cur_dir, 0, walk_fill, w) < 0)
			w->errors++;
	}
}

/*
 * Opens the filesystem on fd (the fd is the caller's) and walks it. Returns 0 when walked, 1
 * when refused; with report, says which on stdout.
 */
static int walk_image(int fd, bool rw, bool report)
{
	struct svc_fs_options opts = { .read_only = !rw, .device_name = "image" };
	struct walk w = { 0 };
	char why[512];
	int dfd, r;

	/* libext2fs's unixfd channel closes the fd it was given: give it a copy. */
	dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (dfd < 0)
		abort();
	r = svc_fs_open(dfd, &opts, &w.sfs, why, sizeof(why));
	if (r < 0) {
		if (report)
			printf("refused: %s\n", why[0] ? why : strerror(-r));
		/* A refusal must say why: the helper prints it to the user. */
		if (!why[0])
			abort();
		if (fcntl(dfd, F_GETFD) >= 0)
			close(dfd);
		return 1;
	}
	w.queue = calloc(WALK_MAX_DIRS, sizeof(*w.queue));
	w.seen = calloc(WALK_MAX_DIRS, sizeof(*w.seen));
	w.buf = malloc(WALK_CHUNK);
	if (!w.queue || !w.seen || !w.buf)
		abort();
	walk_fs(&w);
	if (report)
		printf("walked: %lu inodes, %lu entries, %llu bytes, %lu errors\n", w.inodes,
		       w.entries, (unsigned long long)w.bytes, w.errors);
	svc_fs_close(w.sfs);
	free(w.queue);
	free(w.seen);
	free(w.buf);
	return 0;
}

#ifdef EXT4_WALK_MAIN
/*
 * ext4-walk [--rw | --replay-only] IMAGE...: the same walk on image files, for the corpus
 * runner and the journal tests (--rw opens as a read-write mount does, replaying a dirty
 * journal onto the file first; --replay-only does only that replay).
 * Exit 0 when every image was refused or walked; a crash is the failure.
 */
int main(int argc, char **argv)
{
	bool rw = false, replay_only = false;

	for (int i = 1; i < argc; i++) {
		int fd;

		if (strcmp(argv[i], "--rw") == 0) {
			rw = true;
			continue;
		}
		/* Only the journal replay a read-write mount does first, nothing of the mount
		 * itself: what the journal tests compare with e2fsck's replay byte for byte. */
		if (strcmp(argv[i], "--replay-only") == 0) {
			rw = replay_only = true;
			continue;
		}
		fd = open(argv[i], (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "ext4-walk: cannot open '%s': %m\n", argv[i]);
			return 2;
		}
		printf("%s: ", argv[i]);
		fflush(stdout);
		if (replay_only) {
			struct journal_overlay *ov = NULL;
			char why[512] = "";

			if (journal_recover(fd, false, "image", &ov, why, sizeof(why)) < 0)
				printf("refused: %s\n", why);
			else
				printf("replayed\n");
			journal_overlay_free(ov);
			close(fd);
			continue;
		}
		walk_image(fd, rw, true);
		fflush(stdout);
		close(fd);
	}
	return 0;
}
#else
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd;

	/* The server logs the corruption it meets on stderr; run libFuzzer with
	 * -close_fd_mask=2 to silence it (and replay a crasher to see its report). */
	fd = memfd_create("fuzz-image", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	for (size_t done = 0; done < size;) {
		ssize_t n = write(fd, data + done, size - done);

		if (n <= 0)
			abort();
		done += (size_t)n;
	}
	/* Read-only and read-write recovery both, on the same bytes: the rw replay writes
	 * into the memfd, which is private to this input. */
	walk_image(fd, false, false);
	walk_image(fd, true, false);
	close(fd);
	return 0;
}
#endif
