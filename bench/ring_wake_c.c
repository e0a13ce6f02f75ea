/* Ring-triggered wake-up, C on both sides (built and run by bench_executor.py).
 *
 *   ring_wake_c create <name> <period_us> <count>    producer: creates the SlotRing, then every
 *                                                     period pushes one 16-byte record holding
 *                                                     CLOCK_MONOTONIC read just before the push
 *   ring_wake_c consume <name> <core> <prio> <count> consumer: waits on the ring, and for each
 *                                                     record prints now - stamp in ns
 *
 * A consumer with prio > 0 runs SCHED_FIFO, mlockall'd, holding /dev/cpu_dma_latency at 0 µs.
 * The consumer is the C limit for the executor's ring-triggered task: the same ring, the same
 * futex wait, the same producer, but no Python between the wake and the "task body". */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "vmw_ring.h"

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int produce(const char *name, long period_us, long count) {
    vmw_slot_ring *ring;
    vmw_ring_unlink(name);
    if (vmw_slot_ring_create(name, 16, 1024, VMW_OVERFLOW_REJECT_NEWEST, &ring)) return 1;
    printf("ready\n");
    fflush(stdout);
    /* wait for the consumer's go (one line on stdin) so no record is pushed before it waits */
    char line[16];
    if (!fgets(line, sizeof line, stdin)) return 1;
    int64_t next = now_ns() + 10000000;
    for (long i = 0; i < count; i++) {
        next += period_us * 1000;
        struct timespec ts = {next / 1000000000, next % 1000000000};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        int64_t rec[2] = {now_ns(), i};
        vmw_slot_ring_push_n(ring, rec, 1);
    }
    vmw_slot_ring_close(ring);
    return 0;
}

static int consume(const char *name, int core, int prio, long count) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(core, &set);
    sched_setaffinity(0, sizeof set, &set);
    if (prio > 0) { /* what cyclictest and a real-time vmw executor do */
        struct sched_param sp = {.sched_priority = prio};
        sched_setscheduler(0, SCHED_FIFO, &sp);
        mlockall(MCL_CURRENT | MCL_FUTURE);
        int fd = open("/dev/cpu_dma_latency", O_WRONLY); /* held until exit */
        int32_t zero = 0;
        if (fd >= 0 && write(fd, &zero, sizeof zero) != sizeof zero) close(fd);
    }
    vmw_slot_ring *ring;
    if (vmw_slot_ring_attach(name, &ring)) return 1;
    printf("waiting\n");
    fflush(stdout);
    int64_t rec[2];
    for (long got = 0; got < count;) {
        if (vmw_slot_ring_pop_n(ring, rec, 1) == 1) {
            printf("%lld\n", (long long)(now_ns() - rec[0]));
            got++;
            continue;
        }
        vmw_slot_ring_wait(ring, 200000000);
    }
    vmw_slot_ring_close(ring);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "create") == 0) return produce(argv[2], atol(argv[3]), atol(argv[4]));
    if (argc == 6 && strcmp(argv[1], "consume") == 0)
        return consume(argv[2], atoi(argv[3]), atoi(argv[4]), atol(argv[5]));
    fprintf(stderr, "usage: ring_wake_c create <name> <period_us> <count> | consume <name> <core> <prio> <count>\n");
    return 2;
}
