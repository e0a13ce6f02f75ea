/* Thread-to-thread limit of the vehicle_mw rings in C (built and run by bench_rings.py):
 * one producer thread, one consumer thread, the same shared-memory SlotRing Python uses.
 * With "proc" the producer is a forked process that attaches by name (C-to-C across processes).
 * usage: ring_c_bench <record_bytes> <batch> <count> [threads|proc]  -> prints "<msgs_per_s>" */
#include <pthread.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmw_ring.h"

static vmw_slot_ring *ring;
static size_t rec_size, batch, count;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *producer(void *arg) {
    unsigned char *buf = calloc(batch, rec_size);
    size_t sent = 0;
    while (sent < count) {
        size_t n = count - sent < batch ? count - sent : batch;
        size_t k = vmw_slot_ring_push_n(ring, buf, n);
        if (!k) vmw_slot_ring_wait_space(ring, 100000000);
        sent += k;
    }
    free(buf);
    return arg;
}

int main(int argc, char **argv) {
    if (argc != 4 && argc != 5) return 2;
    int proc = argc == 5 && strcmp(argv[4], "proc") == 0;
    rec_size = strtoul(argv[1], NULL, 10);
    batch = strtoul(argv[2], NULL, 10);
    count = strtoul(argv[3], NULL, 10);
    char name[64];
    snprintf(name, sizeof name, "vmw_cbench_%d", (int)getpid());
    if (vmw_slot_ring_create(name, (uint32_t)rec_size, 65536, VMW_OVERFLOW_REJECT_NEWEST, &ring)) return 1;
    unsigned char *buf = calloc(batch, rec_size);
    pthread_t t;
    pid_t child = -1;
    double t0 = now_s();
    if (proc) {
        child = fork();
        if (child == 0) {
            vmw_slot_ring *mine;
            if (vmw_slot_ring_attach(name, &mine)) _exit(1);
            ring = mine;
            producer(NULL);
            _exit(0);
        }
    } else {
        pthread_create(&t, NULL, producer, NULL);
    }
    size_t got = 0;
    while (got < count) {
        size_t k = vmw_slot_ring_pop_n(ring, buf, batch);
        if (!k) vmw_slot_ring_wait(ring, 100000000);
        got += k;
    }
    double dt = now_s() - t0;
    if (proc)
        waitpid(child, NULL, 0);
    else
        pthread_join(t, NULL);
    printf("%.0f\n", count / dt);
    vmw_slot_ring_close(ring);
    vmw_ring_unlink(name);
    free(buf);
    return 0;
}
