// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Where the session's worker runs.
 *
 * What a FUSE round trip costs is mostly the two wake-ups (session-io.c): the caller wakes the
 * worker, the worker wakes the caller. Waking a process on a CPU that is idle is the expensive
 * kind, above all in a virtual machine whose idle CPUs halt; waking one on the CPU that is
 * running is cheap. When the worker stays on one CPU, the scheduler tends to wake the caller
 * that talks to it on that CPU too, and from then on neither wake-up leaves it. Measured on the
 * 2-vCPU VM of docs/performance.md, µs per statfs() round trip: worker pinned to one CPU 4.7 to
 * 7.8, busy-polling across CPUs 20 to 24, sleeping across CPUs 67 to 83.
 *
 * So the worker pins itself to the CPU it is on when a request comes, and does not busy-poll
 * while pinned (the caller needs that CPU). If the callers do not follow (one pinned to another
 * CPU, or kept off ours by other load), requests keep coming late: when more than half of a
 * window of requests came later than WORKER_CPU_SLOW_NS after our answer, the worker lets go and
 * busy-polls across CPUs as before, and tries again after WORKER_CPU_BACKOFF_MIN requests,
 * twice as many after each try that failed again. Requests after an idle spell say nothing about
 * where their caller runs and are not counted.
 */
#include "worker-cpu.h"

void worker_cpu_init(struct worker_cpu *w)
{
	*w = (struct worker_cpu){.backoff = WORKER_CPU_BACKOFF_MIN};
}

enum worker_cpu_action worker_cpu_observe(struct worker_cpu *w, uint64_t gap_ns)
{
	if (gap_ns > WORKER_CPU_IDLE_NS)
		return WORKER_CPU_STAY;
	if (!w->pinned) {
		if (w->unpinned_left) {
			w->unpinned_left--;
			return WORKER_CPU_STAY;
		}
		w->pinned = true;
		w->n = w->slow = 0;
		return WORKER_CPU_PIN;
	}
	w->n++;
	if (gap_ns > WORKER_CPU_SLOW_NS)
		w->slow++;
	if (w->n < WORKER_CPU_WINDOW)
		return WORKER_CPU_STAY;
	if (w->slow * 2 > w->n) {
		w->pinned = false;
		w->unpinned_left = w->backoff;
		if (w->backoff < WORKER_CPU_BACKOFF_MAX)
			w->backoff *= 2;
		return WORKER_CPU_UNPIN;
	}
	w->backoff = WORKER_CPU_BACKOFF_MIN; /* it works here */
	w->n = w->slow = 0;
	return WORKER_CPU_STAY;
}
