/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Finding and connecting to the service.
 *
 * We are about to hand a root-opened /dev/fuse and the user's device to whoever listens on
 * the socket, and later obey its mount request (after checking it). So the socket must be
 * one only root could have created, in a directory only root can change, and the process
 * that accepted the connection must be root (systemd). Connecting runs as root: the socket
 * is root's, not the user's.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include "config.h"
#include "helper.h"
#include "proto.h"

static int check_socket_dir(void)
{
	struct stat st;

	if (lstat(FUSE4FS_SOCKET_DIR, &st) < 0)
		return -errno;
	/* Root-owned and not writable by group or others: nobody but root can put a socket
	 * (or swap one) in here between our lstat() and connect(). */
	if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))
		return log_error_errno(-EPERM, "'%s' is not a root-owned directory that only root "
					       "can write; refusing to use the sockets in it",
				       FUSE4FS_SOCKET_DIR);
	return 0;
}

static int check_socket(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return -errno;
	if (!S_ISSOCK(st.st_mode) || st.st_uid != 0)
		return log_error_errno(-EPERM, "'%s' is not a root-owned socket; refusing to use it",
				       path);
	return 0;
}

static int connect_to(const char *path, int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = HELPER_CONNECT_TIMEOUT_SEC };
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);

	/* Errors before connect() are left to helper_connect() to report, once. */
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* connect() on a full backlog blocks for SO_SNDTIMEO; proto_send() later is bounded
	 * by it too. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		/* A timed-out blocking connect on AF_UNIX reports EAGAIN/EINPROGRESS. */
		if (r == -EAGAIN || r == -EINPROGRESS)
			r = -ETIMEDOUT;
		return r;
	}

	/* The accepting side must be root (systemd with Accept=yes, or root's own server). A
	 * process of the user that somehow got hold of a listening socket here would get a
	 * root-opened /dev/fuse from us. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return log_error_errno(-errno, "cannot identify the service on '%s': %m", path);
	if (cred.uid != 0)
		return log_error_errno(-EPERM, "the service on '%s' runs as uid %u, not root; "
					       "refusing to talk to it", path, (unsigned)cred.uid);

	/* We never expect fds from the server: have the kernel refuse them outright (6.16+);
	 * older kernels say ENOPROTOOPT and proto_recv() still rejects unexpected fds. */
	r = proto_disable_passrights(fd);
	if (r < 0 && r != -ENOPROTOOPT)
		return log_error_errno(r, "cannot disable fd passing on the socket: %m");

	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* How to get a server without systemd, for the "not running" messages. */
#define HINT_CONTAINED                                                                         \
	"; or let fuservicemount start it itself: 'contained_fallback = yes' in " HELPER_CONFIG_PATH

int helper_connect(const char *device_path, bool is_block, bool fallback, int *ret_fd)
{
	char instance[256], path[sizeof(((struct sockaddr_un *)0)->sun_path) + 256];
	bool per_device = false;
	int r;

	r = check_socket_dir();
	if (r == -ENOENT)
		goto not_running;
	if (r < 0)
		return r == -EPERM ? r : log_error_errno(r, "cannot check '%s': %m",
							 FUSE4FS_SOCKET_DIR);

	/* A per-device unit (fuse4fs@<escaped path>.socket) wins over the shared one: an admin
	 * can dedicate and tune a server to one disk. Only block devices have a stable name
	 * worth a unit; images always use the shared socket. */
	if (is_block && helper_systemd_escape_path(device_path, instance, sizeof(instance)) == 0 &&
	    (size_t)snprintf(path, sizeof(path), "%s/%s.sock", FUSE4FS_SOCKET_DIR, instance) <
		    sizeof(((struct sockaddr_un *)0)->sun_path)) {
		r = check_socket(path);
		if (r == 0)
			per_device = true;
		else if (r != -ENOENT)
			return r == -EPERM ? r
					   : log_error_errno(r, "cannot check '%s': %m", path);
	}
	if (!per_device) {
		snprintf(path, sizeof(path), "%s/fuse4fs.sock", FUSE4FS_SOCKET_DIR);
		r = check_socket(path);
		if (r == -ENOENT)
			goto not_running;
		if (r < 0)
			return r == -EPERM ? r : log_error_errno(r, "cannot check '%s': %m", path);
	}

	r = connect_to(path, ret_fd);
	if ((r == -ECONNREFUSED || r == -ENOENT) && fallback)
		return -ENOENT;
	if (r == -ECONNREFUSED || r == -ENOENT) {
		/* A socket file with nobody listening: systemd stopped, or a stale file. */
		if (per_device)
			return log_error_errno(r, "the fuse4fs service for this device is not "
						  "running (%m on '%s'); start it with "
						  "'systemctl start fuse4fs@%s.socket'" HINT_CONTAINED,
					       path, instance);
		return log_error_errno(r, "the fuse4fs service is not running (%m on '%s'); "
					  "start it with 'systemctl start fuse4fs.socket'" HINT_CONTAINED,
				       path);
	}
	if (r == -ETIMEDOUT)
		return log_error_errno(r, "the fuse4fs service on '%s' did not accept the "
					  "connection within %d s; it may be overloaded, try again",
				       path, HELPER_CONNECT_TIMEOUT_SEC);
	if (r < 0 && r != -EPERM)
		return log_error_errno(r, "cannot connect to '%s': %m", path);
	return r;

not_running:
	if (fallback)
		return -ENOENT;
	if (is_block && helper_systemd_escape_path(device_path, instance, sizeof(instance)) == 0)
		return log_error_errno(-ENOENT, "the fuse4fs service is not running (no socket "
						"in '%s'); start it with 'systemctl start "
						"fuse4fs.socket', or 'systemctl start "
						"fuse4fs@%s.socket' for this device only" HINT_CONTAINED,
				       FUSE4FS_SOCKET_DIR, instance);
	return log_error_errno(-ENOENT, "the fuse4fs service is not running (no socket in '%s'); "
					"start it with 'systemctl start fuse4fs.socket'" HINT_CONTAINED,
			       FUSE4FS_SOCKET_DIR);
}
