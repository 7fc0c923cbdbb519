/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * helper/privs.c: "acting as the caller" must mean the caller's fsuid/fsgid *and* no
 * effective capabilities (a non-root fsuid alone keeps CAP_SYS_PTRACE, CAP_SYS_ADMIN, ...),
 * and going back must restore both. Needs root (as the setuid helper has); skipped otherwise.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "helper.h"
#include "tap.h"

/* One "Name:\t..." line of /proc/self/status, the first field as text. */
static const char *status(const char *name)
{
	static char val[128];
	char line[256];
	size_t n = strlen(name);
	FILE *f = fopen("/proc/self/status", "re");

	val[0] = '\0';
	if (!f)
		return val;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, n) && line[n] == ':') {
			sscanf(line + n + 1, "%127s", val);
			break;
		}
	fclose(f);
	return val;
}

/* Uid:/Gid: lines are "real effective saved fs"; return the fs one. */
static unsigned fs_id(const char *name)
{
	char line[256];
	size_t n = strlen(name);
	unsigned r = ~0u, e, s, fs;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return r;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, n) && line[n] == ':' &&
		    sscanf(line + n + 1, "%u %u %u %u", &r, &e, &s, &fs) == 4) {
			r = fs;
			break;
		}
	fclose(f);
	return r;
}

int main(void)
{
	struct helper_privs user = { .uid = 65534, .gid = 65534, .is_root = false };
	struct helper_privs root = { .uid = 0, .gid = 0, .is_root = true };
	char prm[128];

	if (geteuid() != 0)
		tap_skip_all("needs root, like the setuid helper");
	tap_plan_start();
	snprintf(prm, sizeof(prm), "%s", status("CapPrm"));
	TAP_OK(strcmp(prm, "0000000000000000") != 0);

	TAP_EQ_INT(helper_become_user(&user), 0);
	TAP_EQ_INT(fs_id("Uid"), 65534);
	TAP_EQ_INT(fs_id("Gid"), 65534);
	/* No capability at all while acting as the caller ... */
	TAP_EQ_STR(status("CapEff"), "0000000000000000");
	/* ... the permitted set kept, so we can come back ... */
	TAP_EQ_STR(status("CapPrm"), prm);
	/* ... and still not dumpable after the credential change. */
	TAP_EQ_INT(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);

	TAP_EQ_INT(helper_become_root(&user), 0);
	TAP_EQ_INT(fs_id("Uid"), 0);
	TAP_EQ_INT(fs_id("Gid"), 0);
	TAP_EQ_STR(status("CapEff"), prm);

	/* A root caller keeps its capabilities: root's own access includes them. */
	TAP_EQ_INT(helper_become_user(&root), 0);
	TAP_EQ_STR(status("CapEff"), prm);
	TAP_EQ_INT(helper_become_root(&root), 0);

	return tap_plan_end();
}
