/* Monotonic clock and absolute-deadline sleep for the real-time executor.
 *
 * Periodic work drifts when it sleeps for "period minus elapsed": every wake-up
 * adds its own latency.  Sleeping until an absolute CLOCK_MONOTONIC deadline
 * keeps the schedule fixed however late one wake-up was.
 *
 * cffi: public -- the declarations below are what Python sees (native/build_ffi.py reads them).
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

/* The executor's wait for a release: sleep until deadline_ns (absolute, EINTR-safe) and return
 * CLOCK_MONOTONIC read right after the wake, so the caller can split lateness into the kernel's
 * wake-up and its own dispatch.  spin_ns > 0 sleeps only until deadline_ns - spin_ns and then
 * busy-waits (with the CPU's pause hint) until deadline_ns: it trades up to spin_ns of CPU per
 * release for not paying the idle-state exit and the timer interrupt's delivery at the deadline.
 * spin_ns is clamped to 10 ms so a bad value cannot turn the executor into a busy loop.
 * Returns the wake time (> 0), or -errno when the sleep failed. */
int64_t vmw_wait_release_ns(uint64_t deadline_ns, uint64_t spin_ns);

/* Set this thread's timer slack (PR_SET_TIMERSLACK), e.g. 1 ns instead of the
 * default 50 us that the kernel may add to every timed sleep.  Returns 0 or errno. */
int vmw_set_timer_slack_ns(uint64_t slack_ns);

/* This thread's current timer slack in ns, or -1 on failure. */
int64_t vmw_get_timer_slack_ns(void);

#endif
