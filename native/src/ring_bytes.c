/* Variable-length SPSC byte ring. A record is an 8-byte header (u32 length,
 * u32 reserved) and its payload padded to 8 bytes, so payloads stay 8-aligned
 * and contiguous: a record that would straddle the end of the buffer is
 * preceded by a wrap marker and written at offset 0. head/tail are monotonic
 * byte counters published like the slot ring's (see ring_slot.c), including
 * the overwrite-oldest CAS protocol.
 *
 * Damage: head and tail are multiples of 8 with 0 <= head - tail <= cap, and
 * every record between them is valid: a length of at most max_rec whose padded
 * record lies inside the buffer and before head, or a wrap marker (never at
 * offset 0) followed by a record. Walks check each header before reading the
 * payload and each step moves forward by at least 8 bytes, so a walk is bounded
 * by the span. Bytes in [tail, head) never change while tail stays put (an
 * overwrite moves tail before it writes), so an invalid record is damage unless
 * tail moved meanwhile -- which a no-op CAS on tail tells apart. */
#include <stdlib.h>
#include <string.h>

#include "vmw_ring.h"
#include "vmw_ring_check.h"
#include "vmw_shm.h"
#include "vmw_wait.h"

#define REC_HDR 8u
#define WRAP_MARK 0xffffffffu

struct vmw_byte_ring {
    vmw_shm shm;
    vmw_ring_header *h;
    unsigned char *data;
    uint64_t cap, mask, max_rec;
    int overwrite;
    uint64_t res_head; /* reserve: where the record (or its wrap marker) starts */
    uint64_t res_pad;  /* reserve: bytes skipped by a wrap marker */
    uint32_t res_len;  /* reserve: the length reserved; commit may not exceed it */
    int res_open;      /* a reserve() awaits its commit() */
    uint64_t peek_tail, peek_next;
    int peek_open; /* a peek() returned a record that release() may pass */
    vmw_fault fault;
};

static uint64_t pad8(uint64_t v) { return (v + 7u) & ~(uint64_t)7u; }

static uint32_t len_at(const vmw_byte_ring *r, uint64_t pos) {
    uint32_t v;
    memcpy(&v, r->data + (pos & r->mask), sizeof v);
    return v;
}

/* Indices no legitimate state has: misaligned, or more than cap apart. */
static int bad_span(const vmw_byte_ring *r, uint64_t head, uint64_t tail) {
    return head - tail > r->cap || ((head | tail) & 7u);
}

/* bad_span() seen: a fault unless a concurrent move explains it (then 0). */
static int span_fault(vmw_byte_ring *r) {
    uint64_t tail, head;
    if (vmw_span_consistent(&r->h->tail, &r->h->head, r->cap, &tail, &head) && !((head | tail) & 7u)) return 0;
    vmw_fault_set(&r->fault, VMW_RING_ECORRUPT,
                  "indices head=%llu tail=%llu: must be multiples of 8 with head - tail in 0..%llu",
                  (unsigned long long)head, (unsigned long long)tail, (unsigned long long)r->cap);
    return 1;
}

enum { REC_BAD = -1, REC_DATA = 0, REC_WRAP = 1 };

/* The record header at pos, which lies before head: REC_DATA (*len, *next = the record after),
 * REC_WRAP (*next = offset 0 of the next lap) or REC_BAD. */
static int record_at(const vmw_byte_ring *r, uint64_t pos, uint64_t head, uint32_t *len, uint64_t *next) {
    uint64_t idx = pos & r->mask;
    uint32_t l = len_at(r, pos);
    if (l == WRAP_MARK) {
        uint64_t n = pos + (r->cap - idx);
        if (idx == 0 || (int64_t)(head - n) <= 0) return REC_BAD; /* a record always follows a marker */
        *next = n;
        return REC_WRAP;
    }
    uint64_t end = pos + REC_HDR + pad8(l);
    if (l > r->max_rec || idx + REC_HDR + pad8(l) > r->cap || (int64_t)(head - end) < 0) return REC_BAD;
    *len = l;
    *next = end;
    return REC_DATA;
}

/* An invalid record at pos was read while tail was *tail: 1 (fault recorded) if tail has not
 * moved, so the bytes were not overwritten and the segment is damaged; 0 with *tail updated if
 * an overwrite moved it (the caller retries). */
static int record_fault(vmw_byte_ring *r, uint64_t *tail, uint64_t pos) {
    uint64_t t = *tail;
    if (r->overwrite && !atomic_compare_exchange_strong_explicit(&r->h->tail, &t, t, memory_order_acq_rel,
                                                                 memory_order_acquire)) {
        *tail = t;
        return 0;
    }
    vmw_fault_set(&r->fault, VMW_RING_ECORRUPT,
                  "record at offset %llu (tail=%llu): length field %u is neither a wrap marker nor a record of "
                  "at most %llu bytes that fits before the end of the buffer and before head",
                  (unsigned long long)(pos & r->mask), (unsigned long long)t, len_at(r, pos),
                  (unsigned long long)r->max_rec);
    return 1;
}

static int open_handle(vmw_shm *shm, vmw_byte_ring **out) {
    vmw_byte_ring *r = calloc(1, sizeof *r);
    if (!r) {
        vmw_shm_close(shm);
        return VMW_RING_ESYS;
    }
    r->shm = *shm;
    r->h = shm->hdr;
    r->data = shm->data;
    r->cap = shm->capacity;
    r->mask = r->cap - 1;
    r->max_rec = r->cap / 2 - REC_HDR;
    r->overwrite = shm->overflow == VMW_OVERFLOW_OVERWRITE_OLDEST;
    *out = r;
    return VMW_RING_OK;
}

int vmw_byte_ring_create(const char *name, uint64_t capacity, uint32_t overflow, vmw_byte_ring **out) {
    if (capacity < VMW_BYTES_MIN || capacity > VMW_DATA_MAX) return VMW_RING_EINVAL;
    uint64_t cap = VMW_BYTES_MIN;
    while (cap < capacity) cap <<= 1;
    vmw_shm shm;
    int rc = vmw_shm_create(name, VMW_RING_KIND_BYTES, cap, 0, overflow, (size_t)cap, &shm);
    if (rc) return rc;
    vmw_shm_publish(&shm);
    return open_handle(&shm, out);
}

int vmw_byte_ring_attach(const char *name, vmw_byte_ring **out) {
    vmw_shm shm;
    int rc = vmw_shm_attach(name, VMW_RING_KIND_BYTES, &shm);
    if (rc) return rc;
    uint64_t tail, head;
    if (!vmw_span_consistent(&shm.hdr->tail, &shm.hdr->head, shm.capacity, &tail, &head) || ((head | tail) & 7u)) {
        vmw_fault_set(vmw_attach_fault(), VMW_RING_ECORRUPT,
                      "header fields head=%llu tail=%llu: must be multiples of 8 with head - tail in "
                      "0..capacity=%llu",
                      (unsigned long long)head, (unsigned long long)tail, (unsigned long long)shm.capacity);
        vmw_shm_close(&shm);
        return VMW_RING_ECORRUPT;
    }
    return open_handle(&shm, out);
}

void vmw_byte_ring_close(vmw_byte_ring *r) {
    if (!r) return;
    vmw_shm_close(&r->shm);
    free(r);
}

uint64_t vmw_byte_ring_capacity(const vmw_byte_ring *r) { return r->cap; }
uint64_t vmw_byte_ring_max_record(const vmw_byte_ring *r) { return r->max_rec; }
int vmw_byte_ring_last_error(const vmw_byte_ring *r) { return r->fault.code; }
const char *vmw_byte_ring_error_detail(const vmw_byte_ring *r) { return r->fault.why; }

/* Overwrite-oldest: move tail past whole records until `need` bytes are free; 0 on damage. */
static int make_room(vmw_byte_ring *r, uint64_t head, uint64_t need) {
    vmw_ring_header *h = r->h;
    uint64_t t = atomic_load_explicit(&h->tail, memory_order_acquire);
    uint64_t dropped = 0;
    int ok = 1;
    for (unsigned spins = 0; r->cap - (head - t) < need; spins++) {
        uint32_t len;
        uint64_t next;
        if (spins > VMW_RETRY_MAX) { /* the consumer keeps winning the CAS: give up this record */
            ok = 0;
            break;
        }
        if (bad_span(r, head, t)) {
            if (span_fault(r)) {
                ok = 0;
                break;
            }
            t = atomic_load_explicit(&h->tail, memory_order_acquire);
            continue;
        }
        /* our own bytes (the consumer never writes), checked as the consumer does */
        int kind = record_at(r, t, head, &len, &next);
        if (kind == REC_BAD) {
            if (record_fault(r, &t, t)) {
                ok = 0;
                break;
            }
            continue;
        }
        if (atomic_compare_exchange_weak_explicit(&h->tail, &t, next, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            dropped += kind == REC_DATA;
            t = next;
        }
    }
    if (dropped)
        atomic_store_explicit(&h->dropped, atomic_load_explicit(&h->dropped, memory_order_relaxed) + dropped,
                              memory_order_relaxed);
    return ok;
}

/* Room for a len-byte record at head (private cursor); NULL when full or too big. */
static void *reserve_at(vmw_byte_ring *r, uint64_t head, uint32_t len) {
    if (len > r->max_rec || r->fault.code) return NULL;
    uint64_t idx = head & r->mask;
    uint64_t rec = REC_HDR + pad8(len);
    uint64_t contig = r->cap - idx;
    uint64_t pad = contig < rec ? contig : 0;
    uint64_t tail = atomic_load_explicit(&r->h->tail, memory_order_acquire);
    /* the producer owns head and the consumer never passes it: no race explains a bad span */
    if (bad_span(r, head, tail)) {
        span_fault(r);
        return NULL;
    }
    if (r->cap - (head - tail) < pad + rec) {
        if (!r->overwrite || !make_room(r, head, pad + rec)) return NULL;
    }
    r->res_head = head;
    r->res_pad = pad;
    return r->data + ((head + pad) & r->mask) + REC_HDR;
}

void *vmw_byte_ring_reserve(vmw_byte_ring *r, uint32_t len) {
    void *p = reserve_at(r, atomic_load_explicit(&r->h->head, memory_order_relaxed), len);
    r->res_open = p != NULL;
    r->res_len = len;
    return p;
}

static void publish(vmw_byte_ring *r, uint64_t new_head, uint64_t records) {
    vmw_ring_header *h = r->h;
    atomic_store_explicit(&h->head, new_head, memory_order_release);
    atomic_store_explicit(&h->pushed, atomic_load_explicit(&h->pushed, memory_order_relaxed) + records,
                          memory_order_relaxed);
    uint64_t used = new_head - atomic_load_explicit(&h->tail, memory_order_relaxed);
    if (used <= r->cap && used > atomic_load_explicit(&h->high_water, memory_order_relaxed))
        atomic_store_explicit(&h->high_water, used, memory_order_relaxed);
}

/* Write the headers of a reserved record; returns the head after it. */
static uint64_t seal(vmw_byte_ring *r, uint32_t len) {
    uint64_t head = r->res_head;
    if (r->res_pad) {
        uint32_t mark = WRAP_MARK;
        memcpy(r->data + (head & r->mask), &mark, sizeof mark);
        head += r->res_pad;
    }
    uint32_t hdr[2] = {len, 0};
    memcpy(r->data + (head & r->mask), hdr, sizeof hdr);
    return head + REC_HDR + pad8(len);
}

void vmw_byte_ring_commit(vmw_byte_ring *r, uint32_t len) {
    if (!r->res_open || len > r->res_len) return; /* would publish bytes nobody reserved */
    r->res_open = 0;
    publish(r, seal(r, len), 1);
    vmw_wake_if_waiting(&r->h->data_word, &r->h->data_waiting);
}

size_t vmw_byte_ring_push_n(vmw_byte_ring *r, const void *src, const uint32_t *lens, size_t n) {
    const unsigned char *s = src;
    uint64_t head = atomic_load_explicit(&r->h->head, memory_order_relaxed);
    size_t i = 0;
    r->res_open = 0;
    for (; i < n; i++) {
        void *dst = reserve_at(r, head, lens[i]);
        if (!dst) break;
        memcpy(dst, s, lens[i]);
        s += lens[i];
        head = seal(r, lens[i]);
    }
    if (i) publish(r, head, i);
    if (i < n && !r->overwrite && lens[i] <= r->max_rec && !r->fault.code)
        atomic_store_explicit(&r->h->dropped, atomic_load_explicit(&r->h->dropped, memory_order_relaxed) + (n - i),
                              memory_order_relaxed);
    if (i) vmw_wake_if_waiting(&r->h->data_word, &r->h->data_waiting);
    return i;
}

/* Walk records from tail: copy up to max_n into dst, then move tail past them. */
size_t vmw_byte_ring_pop_n(vmw_byte_ring *r, void *dst, size_t dst_cap, uint32_t *lens, size_t max_n) {
    vmw_ring_header *h = r->h;
    unsigned char *d = dst;
    if (max_n == 0 || r->fault.code) return 0;
    uint64_t tail = atomic_load_explicit(&h->tail, r->overwrite ? memory_order_acquire : memory_order_relaxed);
    for (unsigned tries = 0; tries < VMW_RETRY_MAX; tries++) {
        uint64_t head = atomic_load_explicit(&h->head, memory_order_acquire);
        if (bad_span(r, head, tail)) { /* overwrite raced us (tail moved on), or damaged */
            if (span_fault(r)) return 0;
            tail = atomic_load_explicit(&h->tail, memory_order_acquire);
            continue;
        }
        uint64_t pos = tail;
        size_t count = 0, out = 0;
        int bad = 0;
        /* wrap markers are passed even after the last record taken, so tail never rests on one */
        while ((int64_t)(head - pos) > 0) {
            uint32_t len = 0;
            uint64_t next;
            int kind = record_at(r, pos, head, &len, &next);
            if (kind == REC_BAD) {
                bad = 1;
                break;
            }
            if (kind == REC_WRAP) {
                pos = next;
                continue;
            }
            if (count == max_n || out + len > dst_cap) break;
            memcpy(d + out, r->data + (pos & r->mask) + REC_HDR, len);
            lens[count++] = len;
            out += len;
            pos = next;
        }
        if (bad && pos == tail) { /* the first record is invalid: torn by an overwrite, or damage */
            if (record_fault(r, &tail, pos)) return 0;
            continue;
        }
        if (pos == tail) return 0;
        if (!r->overwrite) {
            atomic_store_explicit(&h->tail, pos, memory_order_release);
        } else if (!atomic_compare_exchange_strong_explicit(&h->tail, &tail, pos, memory_order_acq_rel,
                                                            memory_order_acquire)) {
            continue;
        }
        tail = pos;
        atomic_store_explicit(&h->popped, atomic_load_explicit(&h->popped, memory_order_relaxed) + count,
                              memory_order_relaxed);
        /* a producer blocked in wait_space sleeps until someone frees room: that is us */
        vmw_wake_if_waiting(&h->space_word, &h->space_waiting);
        if (count == 0) continue; /* skipped only a wrap marker */
        return count;
    }
    return 0; /* raced by overwrites every time: nothing now, the caller pops again */
}

int vmw_byte_ring_peek(vmw_byte_ring *r, const void **ptr, uint32_t *len) {
    vmw_ring_header *h = r->h;
    r->peek_open = 0;
    if (r->fault.code) return 0;
    uint64_t tail = atomic_load_explicit(&h->tail, memory_order_acquire);
    for (unsigned tries = 0; tries < VMW_RETRY_MAX; tries++) {
        uint64_t head = atomic_load_explicit(&h->head, memory_order_acquire);
        if (head == tail) return 0;
        if (bad_span(r, head, tail)) {
            if (span_fault(r)) return 0;
            tail = atomic_load_explicit(&h->tail, memory_order_acquire);
            continue;
        }
        uint64_t pos = tail, next;
        uint32_t l = 0;
        int kind = record_at(r, pos, head, &l, &next);
        if (kind == REC_WRAP) {
            pos = next;
            kind = record_at(r, pos, head, &l, &next);
        }
        if (kind != REC_DATA) { /* a second marker in a row is as invalid as a bad length */
            if (record_fault(r, &tail, pos)) return 0;
            continue;
        }
        uint64_t after;
        uint32_t ignored;
        /* pass a wrap marker right after the record, so tail never rests on one */
        if ((int64_t)(head - next) > 0 && record_at(r, next, head, &ignored, &after) == REC_WRAP) next = after;
        *ptr = r->data + (pos & r->mask) + REC_HDR;
        *len = l;
        r->peek_tail = tail;
        r->peek_next = next;
        r->peek_open = 1;
        return 1;
    }
    return 0;
}

int vmw_byte_ring_release(vmw_byte_ring *r) {
    vmw_ring_header *h = r->h;
    if (!r->peek_open) return 0; /* nothing peeked (or released already): tail must not move */
    r->peek_open = 0;
    if (!r->overwrite) {
        atomic_store_explicit(&h->tail, r->peek_next, memory_order_release);
    } else {
        uint64_t t = r->peek_tail;
        if (!atomic_compare_exchange_strong_explicit(&h->tail, &t, r->peek_next, memory_order_acq_rel,
                                                     memory_order_relaxed))
            return 0;
    }
    atomic_store_explicit(&h->popped, atomic_load_explicit(&h->popped, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    vmw_wake_if_waiting(&h->space_word, &h->space_waiting);
    return 1;
}

/* Records held now. */
uint64_t vmw_byte_ring_size(const vmw_byte_ring *r) {
    vmw_ring_header *h = r->h;
    uint64_t pushed = atomic_load_explicit(&h->pushed, memory_order_acquire);
    uint64_t popped = atomic_load_explicit(&h->popped, memory_order_acquire);
    uint64_t gone = popped + (r->overwrite ? atomic_load_explicit(&h->dropped, memory_order_acquire) : 0);
    uint64_t n = pushed > gone ? pushed - gone : 0;
    return n > r->cap / REC_HDR ? r->cap / REC_HDR : n; /* counters are statistics: never more than fit */
}

/* A damaged handle reads as ready, so the caller's pop reports the fault instead of sleeping. */
static int bytes_ready(void *arg) {
    vmw_byte_ring *r = arg;
    uint64_t tail = atomic_load_explicit(&r->h->tail, memory_order_acquire);
    return atomic_load_explicit(&r->h->head, memory_order_acquire) != tail || r->fault.code;
}

int vmw_byte_ring_wait(vmw_byte_ring *r, int64_t timeout_ns) {
    return vmw_wait_ready(&r->h->data_word, &r->h->data_waiting, bytes_ready, r, timeout_ns, 0);
}

/* Room for one record of max_record bytes wherever head is (wrap included). */
static int bytes_have_room(void *arg) {
    vmw_byte_ring *r = arg;
    uint64_t head = atomic_load_explicit(&r->h->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&r->h->tail, memory_order_acquire);
    return bad_span(r, head, tail) || r->cap - (head - tail) >= r->cap / 2 || r->fault.code; /* push reports */
}

int vmw_byte_ring_wait_space(vmw_byte_ring *r, int64_t timeout_ns) {
    return vmw_wait_ready(&r->h->space_word, &r->h->space_waiting, bytes_have_room, r, timeout_ns, 0);
}

void vmw_byte_ring_wake(vmw_byte_ring *r) {
    vmw_futex_wake_all(&r->h->data_word);
    vmw_futex_wake_all(&r->h->space_word);
}

void vmw_byte_ring_stats(const vmw_byte_ring *r, vmw_ring_stats *out) {
    vmw_ring_header *h = r->h;
    out->pushed = atomic_load_explicit(&h->pushed, memory_order_relaxed);
    out->popped = atomic_load_explicit(&h->popped, memory_order_relaxed);
    out->dropped = atomic_load_explicit(&h->dropped, memory_order_relaxed);
    out->high_water = atomic_load_explicit(&h->high_water, memory_order_relaxed);
    out->capacity = r->cap;
    out->size = vmw_byte_ring_size(r);
}
