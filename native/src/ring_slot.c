/* Fixed-slot SPSC ring. head (producer) and tail (consumer) are monotonic slot
 * counters; a slot is published by the release-store of head after its bytes
 * are written, so a process killed at any point leaves either the old or the
 * new head -- never a half record.
 *
 * Overwrite-oldest: the producer moves tail itself with a CAS before it
 * overwrites; the consumer copies, then CASes tail from the value it read. A
 * failed CAS means the producer overwrote those slots meanwhile: the copy is
 * discarded and retried, so a torn record is never returned.
 *
 * Damage: at every instant 0 <= head - tail <= cap. An operation that reads
 * indices outside that (and vmw_span_consistent() confirms no concurrent move
 * explains them) records a fault and returns 0; memory is only touched at
 * offsets derived from indices that passed the check. */
#include <stdlib.h>
#include <string.h>

#include "vmw_ring.h"
#include "vmw_ring_check.h"
#include "vmw_shm.h"
#include "vmw_wait.h"

struct vmw_slot_ring {
    vmw_shm shm;
    vmw_ring_header *h;
    unsigned char *data;
    uint64_t cap, mask;
    uint32_t slot;
    int overwrite;
    uint64_t peek_tail;
    size_t peek_n;
    vmw_fault fault;
};

/* head - tail read outside 0..cap: a fault unless a concurrent move explains it (then 0). */
static int span_fault(vmw_slot_ring *r) {
    uint64_t tail, head;
    if (vmw_span_consistent(&r->h->tail, &r->h->head, r->cap, &tail, &head)) return 0;
    vmw_fault_set(&r->fault, VMW_RING_ECORRUPT, "indices head=%llu tail=%llu: head - tail must be 0..%llu",
                  (unsigned long long)head, (unsigned long long)tail, (unsigned long long)r->cap);
    return 1;
}

static uint64_t round_pow2(uint64_t v) {
    uint64_t p = 2;
    while (p < v) p <<= 1;
    return p;
}

static int open_handle(vmw_shm *shm, vmw_slot_ring **out) {
    vmw_slot_ring *r = calloc(1, sizeof *r);
    if (!r) {
        vmw_shm_close(shm);
        return VMW_RING_ESYS;
    }
    r->shm = *shm;
    r->h = shm->hdr;
    r->data = shm->data;
    r->cap = shm->capacity;
    r->mask = r->cap - 1;
    r->slot = shm->slot_size;
    r->overwrite = shm->overflow == VMW_OVERFLOW_OVERWRITE_OLDEST;
    *out = r;
    return VMW_RING_OK;
}

int vmw_slot_ring_create(const char *name, uint32_t slot_size, uint64_t capacity, uint32_t overflow,
                         vmw_slot_ring **out) {
    if (slot_size == 0 || slot_size > VMW_SLOT_SIZE_MAX || capacity == 0 || capacity > VMW_SLOTS_MAX)
        return VMW_RING_EINVAL;
    uint64_t cap = round_pow2(capacity);
    if (cap * slot_size > VMW_DATA_MAX) return VMW_RING_EINVAL;
    vmw_shm shm;
    int rc = vmw_shm_create(name, VMW_RING_KIND_SLOT, cap, slot_size, overflow, (size_t)(cap * slot_size), &shm);
    if (rc) return rc;
    vmw_shm_publish(&shm);
    return open_handle(&shm, out);
}

int vmw_slot_ring_attach(const char *name, vmw_slot_ring **out) {
    vmw_shm shm;
    int rc = vmw_shm_attach(name, VMW_RING_KIND_SLOT, &shm);
    if (rc) return rc;
    vmw_ring_header *h = shm.hdr;
    uint64_t tail, head;
    /* counters (popped, dropped) are statistics a kill -9 or a consumer restart can skew: only
     * the indices decide what memory is touched, so only they are checked */
    if (!vmw_span_consistent(&h->tail, &h->head, shm.capacity, &tail, &head))
        rc = vmw_fault_set(vmw_attach_fault(), VMW_RING_ECORRUPT,
                           "header fields head=%llu tail=%llu: head - tail must be 0..capacity=%llu",
                           (unsigned long long)head, (unsigned long long)tail, (unsigned long long)shm.capacity);
    if (rc) {
        vmw_shm_close(&shm);
        return rc;
    }
    return open_handle(&shm, out);
}

void vmw_slot_ring_close(vmw_slot_ring *r) {
    if (!r) return;
    vmw_shm_close(&r->shm);
    free(r);
}

uint32_t vmw_slot_ring_slot_size(const vmw_slot_ring *r) { return r->slot; }
uint64_t vmw_slot_ring_capacity(const vmw_slot_ring *r) { return r->cap; }
int vmw_slot_ring_last_error(const vmw_slot_ring *r) { return r->fault.code; }
const char *vmw_slot_ring_error_detail(const vmw_slot_ring *r) { return r->fault.why; }

size_t vmw_slot_ring_push_n(vmw_slot_ring *r, const void *src, size_t n) {
    vmw_ring_header *h = r->h;
    const unsigned char *s = src;
    size_t accepted = n;
    if (r->fault.code) return 0;
    uint64_t head = atomic_load_explicit(&h->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&h->tail, memory_order_acquire);
    /* the producer owns head and the consumer never passes it: no race explains more */
    if (head - tail > r->cap) {
        span_fault(r);
        return 0;
    }
    uint64_t room = r->cap - (head - tail);
    uint64_t dropped = 0;
    if (!r->overwrite) {
        if (n > room) {
            dropped = n - room;
            n = accepted = (size_t)room;
        }
    } else {
        if (n > r->cap) { /* only the newest cap records can survive */
            dropped = n - r->cap;
            s += dropped * r->slot;
            n = (size_t)r->cap;
        }
        if (n > room) {
            uint64_t need_tail = head + n - r->cap;
            unsigned spins = 0;
            while ((int64_t)(need_tail - tail) > 0) {
                if (atomic_compare_exchange_weak_explicit(&h->tail, &tail, need_tail, memory_order_acq_rel,
                                                          memory_order_acquire)) {
                    dropped += need_tail - tail;
                    break;
                }
                /* the consumer moved tail; it cannot pass head, so this ends unless tail is damaged */
                if (head - tail > r->cap || ++spins > VMW_RETRY_MAX) {
                    if (head - tail > r->cap) span_fault(r);
                    return 0;
                }
            }
        }
    }
    if (dropped)
        atomic_store_explicit(&h->dropped, atomic_load_explicit(&h->dropped, memory_order_relaxed) + dropped,
                              memory_order_relaxed);
    if (n == 0) return 0;
    uint64_t idx = head & r->mask;
    size_t first = (size_t)(r->cap - idx) < n ? (size_t)(r->cap - idx) : n;
    memcpy(r->data + idx * r->slot, s, first * r->slot);
    if (n > first) memcpy(r->data, s + first * r->slot, (n - first) * r->slot);
    atomic_store_explicit(&h->head, head + n, memory_order_release);
    uint64_t used = head + n - atomic_load_explicit(&h->tail, memory_order_relaxed);
    if (used > r->cap) used = r->cap;
    if (used > atomic_load_explicit(&h->high_water, memory_order_relaxed))
        atomic_store_explicit(&h->high_water, used, memory_order_relaxed);
    vmw_wake_if_waiting(&h->data_word, &h->data_waiting);
    return accepted;
}

static void count_popped(vmw_ring_header *h, uint64_t n) {
    atomic_store_explicit(&h->popped, atomic_load_explicit(&h->popped, memory_order_relaxed) + n,
                          memory_order_relaxed);
    vmw_wake_if_waiting(&h->space_word, &h->space_waiting);
}

size_t vmw_slot_ring_push_bytes(vmw_slot_ring *r, const char *src, size_t n) {
    return vmw_slot_ring_push_n(r, src, n);
}

size_t vmw_slot_ring_pop_n(vmw_slot_ring *r, void *dst, size_t max_n) {
    vmw_ring_header *h = r->h;
    unsigned char *d = dst;
    if (r->fault.code) return 0;
    uint64_t tail = atomic_load_explicit(&h->tail, r->overwrite ? memory_order_acquire : memory_order_relaxed);
    for (unsigned tries = 0; tries < VMW_RETRY_MAX; tries++) {
        uint64_t head = atomic_load_explicit(&h->head, memory_order_acquire);
        uint64_t avail = head - tail;
        if (avail > r->cap) { /* overwrite raced us (tail moved on), or the indices are damaged */
            if (span_fault(r)) return 0;
            tail = atomic_load_explicit(&h->tail, memory_order_acquire);
            continue;
        }
        size_t n = avail < max_n ? (size_t)avail : max_n;
        if (n == 0) return 0;
        uint64_t idx = tail & r->mask;
        size_t first = (size_t)(r->cap - idx) < n ? (size_t)(r->cap - idx) : n;
        memcpy(d, r->data + idx * r->slot, first * r->slot);
        if (n > first) memcpy(d + first * r->slot, r->data, (n - first) * r->slot);
        if (!r->overwrite) {
            atomic_store_explicit(&h->tail, tail + n, memory_order_release);
        } else if (!atomic_compare_exchange_strong_explicit(&h->tail, &tail, tail + n, memory_order_acq_rel,
                                                            memory_order_acquire)) {
            continue; /* overwritten while copying: discard and retry from the new tail */
        }
        count_popped(h, n);
        return n;
    }
    return 0; /* raced by overwrites every time: nothing now, the caller pops again */
}

size_t vmw_slot_ring_peek(vmw_slot_ring *r, const void **ptr, size_t max_n) {
    vmw_ring_header *h = r->h;
    uint64_t tail = atomic_load_explicit(&h->tail, memory_order_acquire);
    uint64_t head = atomic_load_explicit(&h->head, memory_order_acquire);
    uint64_t avail = head - tail;
    if (avail > r->cap || r->fault.code) {
        avail = 0; /* raced an overwrite (the caller peeks again), or damaged */
        if (!r->fault.code) span_fault(r);
    }
    uint64_t idx = tail & r->mask;
    uint64_t contig = r->cap - idx;
    size_t n = (size_t)(avail < contig ? avail : contig);
    if (n > max_n) n = max_n;
    r->peek_tail = tail;
    r->peek_n = n;
    *ptr = r->data + idx * r->slot;
    return n;
}

int vmw_slot_ring_release(vmw_slot_ring *r, size_t n) {
    vmw_ring_header *h = r->h;
    if (n > r->peek_n) n = r->peek_n; /* never release what was not peeked, nor twice */
    r->peek_n = 0;
    if (n == 0) return 1;
    if (!r->overwrite) {
        atomic_store_explicit(&h->tail, r->peek_tail + n, memory_order_release);
    } else {
        uint64_t t = r->peek_tail;
        if (!atomic_compare_exchange_strong_explicit(&h->tail, &t, t + n, memory_order_acq_rel,
                                                     memory_order_relaxed))
            return 0;
    }
    count_popped(h, n);
    return 1;
}

uint64_t vmw_slot_ring_size(const vmw_slot_ring *r) {
    uint64_t tail = atomic_load_explicit(&r->h->tail, memory_order_acquire);
    uint64_t head = atomic_load_explicit(&r->h->head, memory_order_acquire);
    uint64_t n = head - tail;
    return n > r->cap ? r->cap : n;
}

/* size() caps damaged indices at cap, so a damaged ring reads as ready and pop reports it. */
static int slot_ready(void *arg) { return vmw_slot_ring_size(arg) > 0 || ((vmw_slot_ring *)arg)->fault.code; }

int vmw_slot_ring_wait(vmw_slot_ring *r, int64_t timeout_ns) {
    return vmw_wait_ready(&r->h->data_word, &r->h->data_waiting, slot_ready, r, timeout_ns, 0);
}

/* Damaged indices count as room: the producer's next push reports them instead of sleeping. */
static int slot_has_room(void *arg) {
    vmw_slot_ring *r = arg;
    uint64_t head = atomic_load_explicit(&r->h->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&r->h->tail, memory_order_acquire);
    return head - tail != r->cap || r->fault.code;
}

int vmw_slot_ring_wait_space(vmw_slot_ring *r, int64_t timeout_ns) {
    return vmw_wait_ready(&r->h->space_word, &r->h->space_waiting, slot_has_room, r, timeout_ns, 0);
}

void vmw_slot_ring_wake(vmw_slot_ring *r) {
    vmw_futex_wake_all(&r->h->data_word);
    vmw_futex_wake_all(&r->h->space_word);
}

void vmw_slot_ring_stats(const vmw_slot_ring *r, vmw_ring_stats *out) {
    vmw_ring_header *h = r->h;
    out->pushed = atomic_load_explicit(&h->head, memory_order_acquire);
    out->popped = atomic_load_explicit(&h->popped, memory_order_relaxed);
    out->dropped = atomic_load_explicit(&h->dropped, memory_order_relaxed);
    out->high_water = atomic_load_explicit(&h->high_water, memory_order_relaxed);
    out->capacity = r->cap;
    out->size = vmw_slot_ring_size(r);
}
