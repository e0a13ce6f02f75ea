/* Unit tests of vmw_clock: monotonic time, absolute sleep (incl. EINTR), timer slack. */
#include "vmw_clock.h"

#include <assert.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>

static void on_alarm(int sig) { (void)sig; }

static void *signal_sender(void *arg)
{
    pthread_t target = *(pthread_t *)arg;
    /* Interrupt the sleeper a few times while it waits. */
    for (int i = 0; i < 5; i++) {
        uint64_t t = vmw_monotonic_ns() + 5000000ull;
        vmw_sleep_until_ns(t);
        pthread_kill(target, SIGUSR1);
    }
    return NULL;
}

int main(void)
{
    uint64_t a = vmw_monotonic_ns();
    uint64_t b = vmw_monotonic_ns();
    assert(b >= a);

    /* A deadline in the past returns at once without error. */
    assert(vmw_sleep_until_ns(a) == 0);

    /* Sleep 20 ms: must not return before the deadline. */
    uint64_t deadline = vmw_monotonic_ns() + 20000000ull;
    assert(vmw_sleep_until_ns(deadline) == 0);
    assert(vmw_monotonic_ns() >= deadline);

    /* Signals (handler without SA_RESTART) must not cut the sleep short. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t self = pthread_self(), sender;
    deadline = vmw_monotonic_ns() + 60000000ull;
    pthread_create(&sender, NULL, signal_sender, &self);
    assert(vmw_sleep_until_ns(deadline) == 0);
    assert(vmw_monotonic_ns() >= deadline);
    pthread_join(sender, NULL);

    /* The release wait returns the wake time, never before the deadline, with and without spin. */
    deadline = vmw_monotonic_ns() + 5000000ull;
    int64_t woke = vmw_wait_release_ns(deadline, 0);
    assert(woke >= (int64_t)deadline);
    deadline = vmw_monotonic_ns() + 5000000ull;
    woke = vmw_wait_release_ns(deadline, 200000ull);
    assert(woke >= (int64_t)deadline && (uint64_t)woke <= vmw_monotonic_ns());
    /* A spin longer than the wait and a huge spin (clamped) still end at the deadline. */
    deadline = vmw_monotonic_ns() + 1000000ull;
    assert(vmw_wait_release_ns(deadline, 5000000ull) >= (int64_t)deadline);
    deadline = vmw_monotonic_ns() + 1000000ull;
    assert(vmw_wait_release_ns(deadline, UINT64_MAX) >= (int64_t)deadline);
    /* A past deadline returns at once. */
    assert(vmw_wait_release_ns(1, 1000) > 0);

    /* Timer slack: 1 ns sticks, 0 is refused. */
    assert(vmw_set_timer_slack_ns(1) == 0);
    assert(vmw_get_timer_slack_ns() == 1);
    assert(vmw_set_timer_slack_ns(0) == EINVAL);
    assert(vmw_get_timer_slack_ns() == 1);

    puts("test_clock: ok");
    return 0;
}
