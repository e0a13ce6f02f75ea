/* Multi-threaded stress of the three rings (plain and under ThreadSanitizer):
 * sequence numbers and a checksum per record prove no loss, duplication,
 * reordering (per producer) or corruption. Waiting uses the futex path. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmw_ring.h"

#define N_SPSC 400000u
#define N_MPMC_EACH 100000u
#define PRODUCERS 4
#define CONSUMERS 2

static int failures;
#define CHECK(c)                                                                                    \
    do {                                                                                            \
        if (!(c)) {                                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c);                   \
            failures++;                                                                             \
        }                                                                                           \
    } while (0)

typedef struct rec {
    uint32_t producer;
    uint32_t check;
    uint64_t seq;
} rec;

static uint32_t checksum(uint32_t p, uint64_t s) { return (uint32_t)(s * 2654435761u) ^ (p * 40503u) ^ 0xa5a5a5a5u; }

static char names[3][64];

/* ---- SPSC slot ---- */
static vmw_slot_ring *slot;
static void *slot_producer(void *arg) {
    rec batch[37];
    uint64_t seq = 0;
    while (seq < N_SPSC) {
        size_t n = 0;
        for (; n < 37 && seq + n < N_SPSC; n++) batch[n] = (rec){0, checksum(0, seq + n), seq + n};
        size_t done = 0;
        while (done < n) {
            size_t k = vmw_slot_ring_push_n(slot, batch + done, n - done);
            done += k;
            if (!k) vmw_slot_ring_wait_space(slot, 100000000);
        }
        seq += n;
    }
    return arg;
}

static void stress_slot(void) {
    CHECK(vmw_slot_ring_create(names[0], sizeof(rec), 256, VMW_OVERFLOW_REJECT_NEWEST, &slot) == 0);
    pthread_t t;
    pthread_create(&t, NULL, slot_producer, NULL);
    rec buf[64];
    uint64_t expect = 0;
    int bad = 0;
    while (expect < N_SPSC) {
        size_t n = vmw_slot_ring_pop_n(slot, buf, 64);
        if (!n) {
            vmw_slot_ring_wait(slot, 100000000);
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            bad |= buf[i].seq != expect || buf[i].check != checksum(0, expect);
            expect++;
        }
    }
    pthread_join(t, NULL);
    CHECK(!bad);
    vmw_ring_stats st;
    vmw_slot_ring_stats(slot, &st);
    CHECK(st.pushed == N_SPSC && st.popped == N_SPSC && st.dropped > 0 && st.size == 0);
    vmw_slot_ring_close(slot);
    vmw_ring_unlink(names[0]);
}

/* ---- SPSC bytes ---- */
static vmw_byte_ring *bytes;
static void *bytes_producer(void *arg) {
    unsigned char rec[300];
    for (uint64_t seq = 0; seq < N_SPSC / 4; seq++) {
        uint32_t len = 8 + (uint32_t)(seq % 290);
        memcpy(rec, &seq, 8);
        for (uint32_t i = 8; i < len; i++) rec[i] = (unsigned char)(seq + i);
        while (vmw_byte_ring_push_n(bytes, rec, &len, 1) == 0) vmw_byte_ring_wait_space(bytes, 100000000);
    }
    return arg;
}

static void stress_bytes(void) {
    CHECK(vmw_byte_ring_create(names[1], 4096, VMW_OVERFLOW_REJECT_NEWEST, &bytes) == 0);
    pthread_t t;
    pthread_create(&t, NULL, bytes_producer, NULL);
    unsigned char out[4096];
    uint32_t lens[32];
    uint64_t expect = 0;
    int bad = 0;
    while (expect < N_SPSC / 4) {
        size_t n = vmw_byte_ring_pop_n(bytes, out, sizeof out, lens, 32);
        if (!n) {
            vmw_byte_ring_wait(bytes, 100000000);
            continue;
        }
        size_t off = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t seq;
            memcpy(&seq, out + off, 8);
            bad |= seq != expect || lens[i] != 8 + seq % 290;
            for (uint32_t j = 8; j < lens[i]; j++) bad |= out[off + j] != (unsigned char)(seq + j);
            off += lens[i];
            expect++;
        }
    }
    pthread_join(t, NULL);
    CHECK(!bad);
    vmw_byte_ring_close(bytes);
    vmw_ring_unlink(names[1]);
}

/* ---- MPMC ---- */
static _Atomic uint64_t mpmc_received;
static _Atomic int mpmc_bad;
static uint64_t last_seen[CONSUMERS][PRODUCERS];

static void *mpmc_producer(void *arg) {
    uint32_t p = (uint32_t)(uintptr_t)arg;
    vmw_mpmc_ring *r;
    if (vmw_mpmc_ring_attach(names[2], &r)) return NULL;
    rec batch[16];
    uint64_t seq = 0;
    while (seq < N_MPMC_EACH) {
        size_t n = 0;
        for (; n < 1 + seq % 16 && seq + n < N_MPMC_EACH; n++)
            batch[n] = (rec){p, checksum(p, seq + n), seq + n};
        size_t done = 0;
        while (done < n) {
            size_t k = vmw_mpmc_ring_push_n(r, batch + done, n - done);
            done += k;
            if (!k) vmw_mpmc_ring_wait_space(r, 10000000);
        }
        seq += n;
    }
    vmw_mpmc_ring_close(r);
    return NULL;
}

static void *mpmc_consumer(void *arg) {
    int c = (int)(uintptr_t)arg;
    vmw_mpmc_ring *r;
    if (vmw_mpmc_ring_attach(names[2], &r)) return NULL;
    rec buf[32];
    for (int p = 0; p < PRODUCERS; p++) last_seen[c][p] = UINT64_MAX;
    while (atomic_load(&mpmc_received) < (uint64_t)N_MPMC_EACH * PRODUCERS) {
        size_t n = vmw_mpmc_ring_pop_n(r, buf, 32);
        if (!n) {
            vmw_mpmc_ring_wait(r, 10000000);
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            uint32_t p = buf[i].producer;
            if (p >= PRODUCERS || buf[i].check != checksum(p, buf[i].seq)) {
                atomic_store(&mpmc_bad, 1);
                continue;
            }
            /* one consumer sees each producer's records in increasing order */
            if (last_seen[c][p] != UINT64_MAX && buf[i].seq <= last_seen[c][p]) atomic_store(&mpmc_bad, 2);
            last_seen[c][p] = buf[i].seq;
        }
        atomic_fetch_add(&mpmc_received, n);
    }
    vmw_mpmc_ring_wake(r);
    vmw_mpmc_ring_close(r);
    return NULL;
}

static void stress_mpmc(void) {
    vmw_mpmc_ring *owner;
    CHECK(vmw_mpmc_ring_create(names[2], sizeof(rec), 128, VMW_OVERFLOW_REJECT_NEWEST, &owner) == 0);
    pthread_t prod[PRODUCERS], cons[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++) pthread_create(&cons[i], NULL, mpmc_consumer, (void *)(uintptr_t)i);
    for (int i = 0; i < PRODUCERS; i++) pthread_create(&prod[i], NULL, mpmc_producer, (void *)(uintptr_t)i);
    for (int i = 0; i < PRODUCERS; i++) pthread_join(prod[i], NULL);
    for (int i = 0; i < CONSUMERS; i++) pthread_join(cons[i], NULL);
    CHECK(atomic_load(&mpmc_bad) == 0);
    CHECK(atomic_load(&mpmc_received) == (uint64_t)N_MPMC_EACH * PRODUCERS);
    vmw_ring_stats st;
    vmw_mpmc_ring_stats(owner, &st);
    CHECK(st.pushed == (uint64_t)N_MPMC_EACH * PRODUCERS && st.popped == st.pushed && st.size == 0);
    vmw_mpmc_ring_close(owner);
    vmw_ring_unlink(names[2]);
}

int main(void) {
    for (int i = 0; i < 3; i++) snprintf(names[i], sizeof names[i], "vmw_stress_%d_%d", i, (int)getpid());
    stress_slot();
    stress_bytes();
    stress_mpmc();
    if (failures) {
        fprintf(stderr, "stress_ring: %d failure(s)\n", failures);
        return 1;
    }
    printf("stress_ring: ok\n");
    return 0;
}
