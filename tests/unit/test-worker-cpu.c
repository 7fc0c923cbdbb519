/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * service/worker-cpu.c: when the session worker pins itself to a CPU, when it lets go, and that
 * it retries with a growing back-off. A worker that never let go would leave a caller that
 * cannot follow it at the price of sleeping round trips; one that never pinned would give up
 * the cheap same-CPU round trips.
 */
#include "tap.h"
#include "worker-cpu.h"

#define FAST 5000u    /* a caller on our CPU */
#define SLOW 60000u   /* a caller woken elsewhere */
#define IDLE 5000000u /* after an idle spell */

/* Feed n gaps; returns how many times each action came back. */
static void feed(struct worker_cpu *w, unsigned int n, uint64_t gap, unsigned int counts[3])
{
	for (unsigned int i = 0; i < n; i++)
		counts[worker_cpu_observe(w, gap)]++;
}

int main(void)
{
	struct worker_cpu w;
	unsigned int c[3] = {0};

	tap_plan_start();

	/* The first request of a burst pins; one after an idle spell does not count. */
	worker_cpu_init(&w);
	TAP_EQ_INT(worker_cpu_observe(&w, IDLE), WORKER_CPU_STAY);
	TAP_OK(!w.pinned);
	TAP_EQ_INT(worker_cpu_observe(&w, FAST), WORKER_CPU_PIN);
	TAP_OK(w.pinned);

	/* A caller that follows: it stays pinned, window after window. */
	feed(&w, 10 * WORKER_CPU_WINDOW, FAST, c);
	TAP_EQ_INT(c[WORKER_CPU_STAY], 10 * WORKER_CPU_WINDOW);
	TAP_OK(w.pinned);

	/* Idle gaps while pinned are not counted: 1000 of them change nothing. */
	feed(&w, 1000, IDLE, c);
	TAP_OK(w.pinned);
	TAP_EQ_INT(w.n, 0);

	/* Exactly half slow is not "most": it stays. */
	feed(&w, WORKER_CPU_WINDOW / 2, SLOW, c);
	feed(&w, WORKER_CPU_WINDOW / 2, FAST, c);
	TAP_OK(w.pinned);

	/* A caller that does not follow: let go at the end of the window, not before. */
	feed(&w, WORKER_CPU_WINDOW - 1, SLOW, c);
	TAP_OK(w.pinned);
	TAP_EQ_INT(worker_cpu_observe(&w, SLOW), WORKER_CPU_UNPIN);
	TAP_OK(!w.pinned);
	TAP_EQ_INT(w.unpinned_left, WORKER_CPU_BACKOFF_MIN);

	/* Unpinned for the back-off, whatever the gaps, then it tries again. */
	c[0] = c[1] = c[2] = 0;
	feed(&w, WORKER_CPU_BACKOFF_MIN, FAST, c);
	TAP_EQ_INT(c[WORKER_CPU_STAY], WORKER_CPU_BACKOFF_MIN);
	TAP_OK(!w.pinned);
	TAP_EQ_INT(worker_cpu_observe(&w, SLOW), WORKER_CPU_PIN);

	/* Failing again doubles the back-off; up to the cap, no further. */
	for (unsigned int expect = 2 * WORKER_CPU_BACKOFF_MIN;; expect *= 2) {
		if (expect > WORKER_CPU_BACKOFF_MAX)
			expect = WORKER_CPU_BACKOFF_MAX;
		feed(&w, WORKER_CPU_WINDOW, SLOW, c);
		TAP_OK(!w.pinned);
		TAP_EQ_INT(w.unpinned_left, expect);
		feed(&w, w.unpinned_left, SLOW, c);
		TAP_EQ_INT(worker_cpu_observe(&w, SLOW), WORKER_CPU_PIN);
		if (expect == WORKER_CPU_BACKOFF_MAX && w.backoff == WORKER_CPU_BACKOFF_MAX)
			break;
	}

	/* A try that works resets the back-off. */
	feed(&w, WORKER_CPU_WINDOW, FAST, c);
	TAP_OK(w.pinned);
	TAP_EQ_INT(w.backoff, WORKER_CPU_BACKOFF_MIN);

	return tap_plan_end();
}
