/* Futex wait/wake on a word in shared memory (not FUTEX_PRIVATE: other processes wait too). */
#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "vmw_wait.h"

void vmw_futex_wait(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns) {
    struct timespec ts, *tsp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000;
        ts.tv_nsec = timeout_ns % 1000000000;
        tsp = &ts;
    }
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, expected, tsp, NULL, 0);
}

void vmw_futex_wake_all(_Atomic uint32_t *word) {
    atomic_fetch_add_explicit(word, 1, memory_order_seq_cst);
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, 0x7fffffff, NULL, NULL, 0);
}

void vmw_wake_if_waiting(_Atomic uint32_t *word, _Atomic uint32_t *waiting) {
    /* Pairs with the waiter's flag store + re-check: either the waiter sees our
     * data, or we see its flag. */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(waiting, memory_order_relaxed) &&
        atomic_exchange_explicit(waiting, 0, memory_order_seq_cst))
        vmw_futex_wake_all(word);
}

int64_t vmw_wait_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int vmw_wait_ready(_Atomic uint32_t *word, _Atomic uint32_t *waiting, int (*ready)(void *), void *arg,
                   int64_t timeout_ns, int64_t slice_ns) {
    int64_t deadline = timeout_ns >= 0 ? vmw_wait_now_ns() + timeout_ns : 0;
    for (;;) {
        if (ready(arg)) return 1;
        uint32_t seen = atomic_load_explicit(word, memory_order_seq_cst);
        atomic_store_explicit(waiting, 1, memory_order_seq_cst);
        atomic_thread_fence(memory_order_seq_cst);
        if (ready(arg)) return 1;
        int64_t sleep_ns = -1;
        if (timeout_ns >= 0) {
            sleep_ns = deadline - vmw_wait_now_ns();
            if (sleep_ns <= 0) return 0;
        }
        if (slice_ns > 0 && (sleep_ns < 0 || sleep_ns > slice_ns)) sleep_ns = slice_ns;
        vmw_futex_wait(word, seen, sleep_ns);
        /* woken by a wake() with nothing for us (cancel, or another consumer was faster):
         * report it, the caller decides whether to wait again */
        if (!ready(arg) && atomic_load_explicit(word, memory_order_acquire) != seen) return 0;
    }
}
