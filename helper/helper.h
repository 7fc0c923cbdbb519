/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuservicemount, the setuid-root mount helper: declarations shared by its modules.
 *
 * Trust model, in one paragraph: the caller (the real uid) is untrusted and controls argv,
 * the environment, inherited fds, signals, the paths it names and their contents. The server
 * (fuse4fs in its sandbox) is untrusted too: it parses an image the user wrote. Only this
 * program decides what gets mounted, where, and with which flags; everything the server sends
 * is checked against what this program sent and its own allowlist.
 */
#ifndef FUSE4FS_HELPER_H
#define FUSE4FS_HELPER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "util.h"

#define HELPER_NAME "fuservicemount"

static inline void helper_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

/* Exit codes; documented in docs/fuservicemount.8. Only main() picks one. */
enum helper_exit {
	HELPER_EXIT_OK = 0,
	HELPER_EXIT_USAGE = 1,      /* bad arguments or options, missing or unsuitable paths */
	HELPER_EXIT_DENIED = 2,     /* the policy refuses it: permissions, rw, allow_other, ... */
	HELPER_EXIT_NO_SERVICE = 3, /* no (trustworthy) service socket to talk to */
	HELPER_EXIT_SERVER = 4,     /* the server refused, failed, broke the protocol or left */
	HELPER_EXIT_TIMEOUT = 5,    /* the server did not answer in time */
	HELPER_EXIT_SYSTEM = 6,     /* the kernel refused the mount, or another system error */
};

/* Timeouts (docs/architecture.md). The server controls how long we wait, so every wait is
 * bounded: a stuck server must not pin a root process forever. */
#define HELPER_CONNECT_TIMEOUT_SEC 5
#define HELPER_REPLY_TIMEOUT_MS (10 * 1000)
#define HELPER_MOUNT_REQUEST_TIMEOUT_MS (30 * 1000)

/* fuse4fs mounts one ordinary user may hold at once, unless mount_max says otherwise. Every mount keeps a service instance
 * running, and the socket units cap instances for everyone (MaxConnections); without a
 * per-user cap one user could use them all up. Root is not limited. */
#define HELPER_USER_MOUNTS_MAX 16
#define HELPER_FUSE4FS_FSTYPE "fuse.fuse4fs"

struct helper_privs;

/* ---- config.c ---- */

/* /etc/fuse4fs/fuservicemount.conf, fuservicemount.conf(5). A fixed path, not under the build
 * prefix: a setuid program's policy must not move with where it was installed. */
#define HELPER_CONFIG_DIR "/etc/fuse4fs"
#define HELPER_CONFIG_PATH HELPER_CONFIG_DIR "/fuservicemount.conf"

struct helper_config {
	unsigned mount_max;   /* fuse4fs mounts per ordinary user (0: users may not mount) */
	bool socket_devices;  /* a started fuse4fs@<dev>.socket lets users mount <dev> */
	bool seat_devices;    /* removable/USB devices for the user at the device's seat */
	bool direct_fallback; /* mount.fuse.fuse4fs may run the uncontained server */
	bool contained_fallback; /* no service socket: start fuse4fs ourselves (contain.c) */
	uid_t contained_uid_min, contained_uid_max; /* where contained servers' uids come from */
};

void helper_config_defaults(struct helper_config *ret);
/* Parse the text of a configuration file (modified in place). -EINVAL with the line number
 * and a static reason on an unknown or repeated key, a malformed line or a bad value. */
int helper_config_parse(char *text, struct helper_config *ret, unsigned *ret_line,
			const char **ret_why);
/* Load path (in dir): missing -> defaults; not root-owned, group/other-writable (file or
 * dir), unreadable, too large or malformed -> -errno, logged. */
int helper_config_load(const char *dir, const char *path, struct helper_config *ret);

/* ---- policy.c ---- */

struct helper_device_facts {
	bool is_block;
	bool socket_opt_in;  /* a root-owned per-device socket exists */
	bool removable;      /* removable media, or on USB/FireWire */
	bool at_active_seat; /* the caller's active local session is the device seat's */
};
enum helper_grant {
	HELPER_GRANT_NONE,
	HELPER_GRANT_SOCKET,
	HELPER_GRANT_SEAT,
};
/* The pure decision, for the unit tests. */
enum helper_grant helper_policy_decide(const struct helper_config *c,
				       const struct helper_device_facts *f);
/* The caller could not open path: does the policy let them mount it anyway? Pins path as the
 * caller, judges it, and reopens that inode as root with flags. A refusal is -EACCES with a
 * static reason in *ret_why, not logged (the caller may still fall back to read-only); other
 * errors (EROFS, EBUSY) are not logged either. */
int helper_device_open_by_policy(const struct helper_privs *p, const struct helper_config *c,
				 const char *path, int flags, int *ret_fd, const char **ret_why);

/* ---- log.c ---- */

/* Set the "what failed" part of every later message, e.g. "cannot mount '%s' on '%s'". */
void log_set_action(const char *fmt, ...) _printf_(1, 2);
/* Print "fuservicemount: <action>: <message>" to stderr. The _errno variant sets errno to -r first so
 * that %m names the error, and returns r (always negative) for `return log_error_errno(...)`. */
void log_error(const char *fmt, ...) _printf_(1, 2);
int log_error_errno(int r, const char *fmt, ...) _printf_(2, 3);

/* Escape a string that came from somewhere untrusted (the server, the kernel's log, a path)
 * so it cannot drive the user's terminal: printable ASCII stays, backslash becomes "\\",
 * everything else "\xHH". Always NUL-terminates; truncates with "..." when out is too small.
 * Returns out. size must be at least 4. */
char *helper_escape_untrusted(const char *in, char *out, size_t size);

/* ---- escape.c ---- */

/* What `systemd-escape --path PATH` prints, for an absolute PATH: duplicate slashes and "."
 * components dropped, ".." refused (-EINVAL), "/" -> "-", components joined with '-', every
 * byte outside [A-Za-z0-9:_.] (and a leading '.') as "\xhh". -ENAMETOOLONG when the result
 * (with its NUL) does not fit in size. */
int helper_systemd_escape_path(const char *path, char *ret_buf, size_t size);

/* ---- privs.c ---- */

struct helper_privs {
	/* Captured once at start, before anything else can change them; never re-derived from
	 * geteuid() later (bubblewrap CVE-2020-5291 trusted a re-read privilege state). */
	uid_t uid;
	gid_t gid;
	bool is_root; /* the caller itself is root: the policy does not restrict it */
};

/* argc==0, fds 0-2, inherited fds, environment, umask, no_new_privs, dumpable. Returns 0 or
 * -errno (already logged). Must run before anything else. */
int helper_sanitize_process(int argc);
/* Capture the real ids; fail if we are not running with euid 0. */
int helper_privs_init(struct helper_privs *ret);
/* Switch fsuid/fsgid to the caller (and back), verified by reading them back. */
int helper_become_user(const struct helper_privs *p);
int helper_become_root(const struct helper_privs *p);

/* ---- options.c ---- */

#define HELPER_OPTIONS_MAX 256 /* total -o bytes; nothing legitimate is longer */

struct helper_options {
	bool ro, rw, nosuid, nodev, noexec, noatime, nodiratime, relatime, strictatime, allow_other,
		suid, dev;
	/* The accepted options, normalised, as sent in MOUNT_CONTEXT's OPTIONS. */
	char accepted[HELPER_OPTIONS_MAX + 1];
};

/* Parse a comma-separated -o string against the allowlist (syntax and per-option policy that
 * needs only is_root). Logs the refusal naming the option. -EINVAL: malformed or unknown;
 * -EPERM: known but not allowed to this caller; -EOPNOTSUPP: rw. allow_other is only
 * recorded here: helper_options_check_allow_other() decides it. */
int helper_options_parse(const char *s, bool is_root, struct helper_options *ret);
/* Append another -o argument to acc (comma-joined), bounded by HELPER_OPTIONS_MAX. */
int helper_options_append(char *acc, size_t size, const char *more);
/* Does fuse.conf at `path` contain a line `user_allow_other`? 0 with *ret_allowed set, or
 * -errno when it exists but cannot be read (fail closed). A missing file means "no". */
int helper_fuse_conf_user_allow_other(const char *path, bool *ret_allowed);
/* MOUNT_ATTR_* for fsmount(): RDONLY for a read-only mount (o->ro, final after
 * helper_device_open()); NOSUID and NODEV unless root asked suid/dev. */
unsigned helper_options_mount_attrs(const struct helper_options *o, bool is_root);

/* ---- device.c ---- */

/* Canonicalise and open DEVICE as the caller (so the access check is exactly the caller's);
 * block device or regular file only. Like mount(8): with o->ro read-only; with o->rw
 * read-write or fail; with neither read-write if the caller may write it, else read-only
 * (o->ro is then set). Read-write opens a block device exclusively (O_EXCL), so that nothing
 * else has it mounted or claimed while we write. */
int helper_device_open(const struct helper_privs *p, const struct helper_config *c,
		       const char *arg, struct helper_options *o, char **ret_path, int *ret_fd,
		       bool *ret_is_block);
/* Open /dev/fuse as root and check it is the real thing. */
int helper_fuse_open(int *ret_fd);

/* ---- mountpoint.c ---- */

/* Canonicalise MOUNTPOINT as the caller, pin it as an O_PATH fd without following symlinks,
 * and check the caller may mount on it (write access; ownership in a sticky directory;
 * filesystem type). */
int helper_mountpoint_open(const struct helper_privs *p, const char *arg, char **ret_path,
			   int *ret_fd);
/* Canonicalise a path as the caller (realpath under the caller's fsuid). */
int helper_canonicalize_as_user(const struct helper_privs *p, const char *arg, char **ret_path);
/* The pure parts of the mountpoint policy for a non-root caller, for the unit tests:
 * may a user mount over a directory on a file system of this statfs f_type? */
bool helper_mountpoint_fs_allowed(long type);
/* ... and with mountinfo's type name for that mount as well (both must match: devtmpfs has
 * tmpfs's magic). */
bool helper_mountpoint_fstype_allowed(long type, const char *fstype);
/* Sticky-directory rules on the pinned mountpoint (st) and its parent: 0, or -EPERM with a
 * static reason in *ret_why. */
struct stat;
int helper_mountpoint_check_owner(const struct stat *st, const struct stat *parent, uid_t uid,
				  const char **ret_why);
/* Is /proc a real procfs? We rely on /proc/self/{fd,mountinfo}. */
int helper_check_proc(void);
/* Open /proc/self/mountinfo and check that what we opened is procfs's own file, not
 * something mounted over it. Logs. */
int helper_open_mountinfo(FILE **ret);
/* Refuse (-EUSERS, logged) when the caller already has max mounts (mount_max). */
int helper_check_user_mount_count(const struct helper_privs *p, unsigned max);

/* ---- connect.c ---- */

/* Find and connect to the service socket for this device; check who owns it and who
 * answers. Logs. -ETIMEDOUT when the connection did not complete in time; any other error
 * means there is no service we may talk to. With fallback (contained_fallback = yes), a
 * service that is simply not there (no socket, or nobody listening) is -ENOENT, not logged. */
int helper_connect(const char *device_path, bool is_block, bool fallback, int *ret_fd);

/* ---- contain.c ---- */

/* Contained mode (docs/sandbox.md): the uids, unused by anyone else, that contained servers
 * run as (0x7FF00000 + 4096: systemd's table leaves this part of the 32-bit space unused), and
 * the root-owned directory of the lock files that keep one uid per living server. */
#define HELPER_CONTAINED_UID_MIN 2146435072u
#define HELPER_CONTAINED_UID_MAX 2146439167u
#define HELPER_CONTAINED_DIR "/run/fuse4fs-contained"

/* Start FUSE4FS_SBINDIR/fuse4fs --contained in new mount, network, IPC, UTS, PID and cgroup
 * namespaces, an empty read-only root with /usr (and /lib, /lib64) bound read-only, as a uid
 * of c's range that no other living server holds and that is not the caller's uid or gid (a
 * misconfigured range must not hand the caller its own server), without capabilities or
 * groups, with no_new_privs and an empty environment; the server's end of a socketpair is its
 * fd 3. *ret_sock is ours, ready for helper_mount_run(). selftest: test builds only, the
 * validated FUSE4FS_SELFTEST to hand on (NULL: none). Logs; -EUSERS when no uid is free. */
int helper_contain_start(const struct helper_config *c, const struct helper_privs *p,
			 const char *selftest, int *ret_sock);

/* ---- mountinfo.c ---- */

struct helper_mountinfo_entry {
	int mount_id;
	int parent_id;
	unsigned major, minor;
	/* Unescaped (\040 and friends); they point into the line passed to the parser. */
	const char *root;
	const char *mountpoint;
	const char *mount_options;
	const char *fstype;
	const char *source;
	const char *super_options;
};

/* Parse one line of /proc/self/mountinfo in place (it is modified). -EINVAL when malformed. */
int helper_mountinfo_parse_line(char *line, struct helper_mountinfo_entry *ret);
/* Find the entry with this mount id in f; copies the fields the unmount policy needs.
 * Reads on from f's current position (rewind() it to look up another id). */
struct helper_mount_owner {
	int parent_id;
	char fstype[64];
	char mountpoint[4097];
	bool has_user_id;
	uid_t user_id;
};
int helper_mountinfo_find(FILE *f, int mount_id, struct helper_mount_owner *ret);
/* How many mounts of type fstype (e.g. "fuse.fuse4fs") with user_id= exactly uid does f list?
 * -EINVAL when any line is malformed (never undercount). */
int helper_mountinfo_count_user(FILE *f, const char *fstype, uid_t uid, unsigned *ret_count);
/* The mounts stacked at path below a judged one, from its parent `id` down to (not including)
 * `base_id`, the mount of the directory that holds path: 1 when each is an fstype mount with
 * user_id= exactly uid (or there is none), 0 when one is not, -ESTALE when mountinfo shows no
 * such stack (a mount of the chain is gone or mounted elsewhere), -ELOOP past 64 mounts.
 * Rewinds f for every lookup. */
int helper_mountinfo_stack_is_user(FILE *f, int id, int base_id, const char *path,
				   const char *fstype, uid_t uid);
/* The id of the mount that <dirfd>/<name> (name "": dirfd itself) is on, as mountinfo's first
 * field, without following a final symlink and without asking the filesystem (no FUSE getattr:
 * a hung or unwilling server cannot block or refuse it). */
int helper_mount_id_at(int dirfd, const char *name, int *ret_id);
/* Value of user_id= in a super-options string: -ENOENT if absent, -EINVAL if malformed or
 * repeated (a repeated key is never ours, refuse rather than pick one). */
int helper_super_options_user_id(const char *opts, uid_t *ret);

/* ---- mount.c ---- */

struct helper_mount {
	const struct helper_privs *privs;
	const struct helper_options *opts;
	const char *device_path;
	const char *mountpoint_path;
	int device_fd;
	int fuse_fd;
	int mountpoint_fd;
};

/* The whole exchange with the server and the mount itself. Logs every failure. Returns 0
 * (mounted, server ready) or -errno: -ETIMEDOUT (server too slow), -EREMOTEIO (server sent
 * ERROR), -EPROTO (server broke the protocol or asked for something not allowed),
 * -ECONNRESET (server left), or the kernel's errno when a mount system call failed
 * (*ret_kernel_failed set true in that case only). Nothing stays mounted on failure. */
int helper_mount_run(const struct helper_mount *hm, int sock, bool *ret_kernel_failed);
/* Validate FUSE_OPTIONS from MOUNT_REQUEST against the allowlist. Pure. On success fills
 * *ret_max_read (0: not given). */
int helper_validate_fuse_options(const char *s, bool allow_other_allowed, bool *ret_allow_other,
				 unsigned *ret_max_read);

/* ---- umount.c ---- */

/* fuservicemount -u: unmount MOUNTPOINT if it is a fuse.fuse4fs mount of the caller's. */
int helper_umount(const struct helper_privs *p, const char *arg);

#endif
