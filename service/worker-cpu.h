/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Where the session's worker runs: the decision (worker-cpu.c says why); session-io.c acts. */
#ifndef FUSE4FS_SVC_WORKER_CPU_H
#define FUSE4FS_SVC_WORKER_CPU_H

#include <stdbool.h>
#include <stdint.h>

#define WORKER_CPU_WINDOW 64	     /* requests judged together while pinned */
#define WORKER_CPU_SLOW_NS 30000u    /* a later request: its caller was woken on another CPU */
#define WORKER_CPU_IDLE_NS 1000000u  /* a longer gap says nothing about where the caller is */
#define WORKER_CPU_BACKOFF_MIN 1024u /* requests served unpinned before the next try */
#define WORKER_CPU_BACKOFF_MAX 65536u

struct worker_cpu {
	bool pinned;
	unsigned int n, slow;	    /* this window, while pinned */
	unsigned int unpinned_left; /* requests to serve unpinned before trying again */
	unsigned int backoff;	    /* unpinned_left after the next failed try */
};

enum worker_cpu_action {
	WORKER_CPU_STAY,
	WORKER_CPU_PIN,	  /* pin to the CPU the worker is on now */
	WORKER_CPU_UNPIN, /* back to every CPU it may use */
};

void worker_cpu_init(struct worker_cpu *w);

/* A request came gap_ns after the worker had answered the one before. Returns what to do; the
 * state already assumes it was done (the caller turns following off if it cannot do it). */
enum worker_cpu_action worker_cpu_observe(struct worker_cpu *w, uint64_t gap_ns);

#endif
