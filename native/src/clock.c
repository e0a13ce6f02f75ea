/* Monotonic clock, absolute-deadline sleep and timer slack (see vmw_clock.h). */
#include "vmw_clock.h"

#include <errno.h>
#include <sys/prctl.h>
#include <time.h>

uint64_t vmw_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int vmw_sleep_until_ns(uint64_t deadline_ns)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(deadline_ns / 1000000000ull);
    ts.tv_nsec = (long)(deadline_ns % 1000000000ull);
    for (;;) {
        /* clock_nanosleep returns the error number rather than setting errno. */
        int rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        if (rc != EINTR)
            return rc;
        /* Interrupted by a signal: the deadline is absolute, so simply sleep again. */
    }
}

#if defined(__x86_64__) || defined(__i386__)
#define VMW_CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define VMW_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define VMW_CPU_RELAX() ((void)0)
#endif

#define VMW_MAX_SPIN_NS 10000000ull

int64_t vmw_wait_release_ns(uint64_t deadline_ns, uint64_t spin_ns)
{
    if (spin_ns > VMW_MAX_SPIN_NS)
        spin_ns = VMW_MAX_SPIN_NS;
    uint64_t sleep_to = spin_ns && deadline_ns > spin_ns ? deadline_ns - spin_ns : deadline_ns;
    int rc = vmw_sleep_until_ns(sleep_to);
    if (rc != 0)
        return -(int64_t)rc;
    uint64_t now = vmw_monotonic_ns();
    while (now < deadline_ns) { /* only when spinning (or a wake before the deadline) */
        VMW_CPU_RELAX();
        now = vmw_monotonic_ns();
    }
    return (int64_t)now;
}

int vmw_set_timer_slack_ns(uint64_t slack_ns)
{
    if (slack_ns == 0)
        return EINVAL; /* 0 means "reset to the default" to the kernel, never what callers want */
    if (prctl(PR_SET_TIMERSLACK, (unsigned long)slack_ns, 0, 0, 0) != 0)
        return errno;
    return 0;
}

int64_t vmw_get_timer_slack_ns(void)
{
    int rc = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
    return rc < 0 ? -1 : (int64_t)rc;
}
