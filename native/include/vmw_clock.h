/* Monotonic clock and absolute-deadline sleep for the real-time executor.
 *
 * Periodic work drifts when it sleeps for "period minus elapsed": every wake-up
 * adds its own latency.  Sleeping until an absolute CLOCK_MONOTONIC deadline
 * keeps the schedule fixed however late one wake-up was.
 */
#ifndef VMW_CLOCK_H
#define VMW_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC now, in nanoseconds. */
uint64_t vmw_monotonic_ns(void);

/* Sleep until CLOCK_MONOTONIC reaches deadline_ns (absolute), resuming after
 * signals (EINTR).  Returns 0, or an errno value on failure.  A deadline in the
 * past returns at once. */
int vmw_sleep_until_ns(uint64_t deadline_ns);

/* Set this thread's timer slack (PR_SET_TIMERSLACK), e.g. 1 ns instead of the
 * default 50 us that the kernel may add to every timed sleep.  Returns 0 or errno. */
int vmw_set_timer_slack_ns(uint64_t slack_ns);

/* This thread's current timer slack in ns, or -1 on failure. */
int64_t vmw_get_timer_slack_ns(void);

#endif
