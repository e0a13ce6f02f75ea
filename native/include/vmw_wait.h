/* Blocking without spinning: a futex on a 32-bit word in shared memory.
 * Waiter: flag = 1, re-check the condition, futex_wait(word). Waker: after
 * publishing, if exchange(flag, 0) then word++ and futex_wake(all). A waiter
 * killed while waiting leaves at most one spare wake-up behind, never a stuck flag. */
#ifndef VMW_WAIT_H
#define VMW_WAIT_H

#include <stdatomic.h>
#include <stdint.h>

/* Sleep while *word == expected, at most timeout_ns (< 0: forever). */
void vmw_futex_wait(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns);
void vmw_futex_wake_all(_Atomic uint32_t *word);
/* Wake waiters only if one flagged itself: the producer's cheap hot-path check. */
void vmw_wake_if_waiting(_Atomic uint32_t *word, _Atomic uint32_t *waiting);
/* Monotonic clock in ns. */
int64_t vmw_wait_now_ns(void);



/* Block until ready(arg) is true or timeout_ns passes (< 0: forever); returns 1 when ready.
 * slice_ns > 0 re-checks ready() at least that often (for conditions no waker announces).
 * Returns 0 early when woken (futex word bumped) without the condition holding. */
int vmw_wait_ready(_Atomic uint32_t *word, _Atomic uint32_t *waiting, int (*ready)(void *), void *arg,
                   int64_t timeout_ns, int64_t slice_ns);

#endif
