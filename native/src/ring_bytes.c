/* Variable-length SPSC byte ring. A record is an 8-byte header (u32 length,
 * u32 reserved) and its payload padded to 8 bytes, so payloads stay 8-aligned
 * and contiguous: a record that would straddle the end of the buffer is
 * preceded by a wrap marker and written at offset 0. head/tail are monotonic
 * byte counters published like the slot ring's (see ring_slot.c), including
 * the overwrite-oldest CAS protocol. */
#include <stdlib.h>
#include <string.h>

#include "vmw_ring.h"
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
    uint64_t peek_tail, peek_next;
};

static uint64_t pad8(uint64_t v) { return (v + 7u) & ~(uint64_t)7u; }

static uint32_t len_at(const vmw_byte_ring *r, uint64_t pos) {
    uint32_t v;
    memcpy(&v, r->data + (pos & r->mask), sizeof v);
    return v;
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
    r->cap = r->h->capacity;
    r->mask = r->cap - 1;
    r->max_rec = r->cap / 2 - REC_HDR;
    r->overwrite = r->h->overflow == VMW_OVERFLOW_OVERWRITE_OLDEST;
    *out = r;
    return VMW_RING_OK;
}

int vmw_byte_ring_create(const char *name, uint64_t capacity, uint32_t overflow, vmw_byte_ring **out) {
    if (capacity < 64 || capacity > (1ull << 36)) return VMW_RING_EINVAL;
    uint64_t cap = 64;
    while (cap < capacity) cap <<= 1;
    vmw_shm shm;
    int rc = vmw_shm_create(name, VMW_RING_KIND_BYTES, cap, 0, overflow, (size_t)cap, &shm);
    if (rc) return rc;
    return open_handle(&shm, out);
}

int vmw_byte_ring_attach(const char *name, vmw_byte_ring **out) {
    vmw_shm shm;
    int rc = vmw_shm_attach(name, VMW_RING_KIND_BYTES, &shm);
    if (rc) return rc;
    vmw_ring_header *h = shm.hdr;
    if (h->capacity < 64 || (h->capacity & (h->capacity - 1)) || h->total_size < h->data_offset + h->capacity) {
        vmw_shm_close(&shm);
        return VMW_RING_ESIZE;
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

/* Overwrite-oldest: move tail past whole records until `need` bytes are free. */
static void make_room(vmw_byte_ring *r, uint64_t head, uint64_t need) {
    vmw_ring_header *h = r->h;
    uint64_t t = atomic_load_explicit(&h->tail, memory_order_acquire);
    uint64_t dropped = 0;
    while (r->cap - (head - t) < need) {
        uint64_t idx = t & r->mask;
        uint32_t len = len_at(r, t); /* our own bytes: the consumer never writes */
        int wrap = len == WRAP_MARK;
        uint64_t next = t + (wrap ? r->cap - idx : REC_HDR + pad8(len));
        if (atomic_compare_exchange_weak_explicit(&h->tail, &t, next, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            dropped += !wrap;
            t = next;
        }
    }
    if (dropped)
        atomic_store_explicit(&h->dropped, atomic_load_explicit(&h->dropped, memory_order_relaxed) + dropped,
                              memory_order_relaxed);
}

/* Room for a len-byte record at head (private cursor); NULL when full or too big. */
static void *reserve_at(vmw_byte_ring *r, uint64_t head, uint32_t len) {
    if (len > r->max_rec) return NULL;
    uint64_t idx = head & r->mask;
    uint64_t rec = REC_HDR + pad8(len);
    uint64_t contig = r->cap - idx;
    uint64_t pad = contig < rec ? contig : 0;
    uint64_t tail = atomic_load_explicit(&r->h->tail, memory_order_acquire);
    if (r->cap - (head - tail) < pad + rec) {
        if (!r->overwrite) return NULL;
        make_room(r, head, pad + rec);
    }
    r->res_head = head;
    r->res_pad = pad;
    return r->data + ((head + pad) & r->mask) + REC_HDR;
}

void *vmw_byte_ring_reserve(vmw_byte_ring *r, uint32_t len) {
    return reserve_at(r, atomic_load_explicit(&r->h->head, memory_order_relaxed), len);
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
    publish(r, seal(r, len), 1);
    vmw_wake_if_waiting(&r->h->data_word, &r->h->data_waiting);
}

size_t vmw_byte_ring_push_n(vmw_byte_ring *r, const void *src, const uint32_t *lens, size_t n) {
    const unsigned char *s = src;
    uint64_t head = atomic_load_explicit(&r->h->head, memory_order_relaxed);
    size_t i = 0;
    for (; i < n; i++) {
        void *dst = reserve_at(r, head, lens[i]);
        if (!dst) break;
        memcpy(dst, s, lens[i]);
        s += lens[i];
        head = seal(r, lens[i]);
    }
    if (i) publish(r, head, i);
    if (i < n && !r->overwrite && lens[i] <= r->max_rec)
        atomic_store_explicit(&r->h->dropped, atomic_load_explicit(&r->h->dropped, memory_order_relaxed) + (n - i),
                              memory_order_relaxed);
    if (i) vmw_wake_if_waiting(&r->h->data_word, &r->h->data_waiting);
    return i;
}

/* Walk records from tail: copy up to max_n into dst (if dst) and return the new tail. */
size_t vmw_byte_ring_pop_n(vmw_byte_ring *r, void *dst, size_t dst_cap, uint32_t *lens, size_t max_n) {
    vmw_ring_header *h = r->h;
    unsigned char *d = dst;
    if (max_n == 0) return 0;
    uint64_t tail = atomic_load_explicit(&h->tail, r->overwrite ? memory_order_acquire : memory_order_relaxed);
    for (;;) {
        uint64_t head = atomic_load_explicit(&h->head, memory_order_acquire);
        uint64_t pos = tail;
        size_t count = 0, out = 0;
        /* wrap markers are passed even after the last record taken, so tail never rests on one */
        while ((int64_t)(head - pos) > 0) {
            uint64_t idx = pos & r->mask;
            uint32_t len = len_at(r, pos);
            if (len == WRAP_MARK) {
                pos += r->cap - idx;
                continue;
            }
            if (count == max_n) break;
            if (len > r->max_rec || idx + REC_HDR + len > r->cap) break; /* torn by an overwrite: CAS fails */
            if (out + len > dst_cap) break;
            memcpy(d + out, r->data + idx + REC_HDR, len);
            lens[count++] = len;
            out += len;
            pos += REC_HDR + pad8(len);
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
}

int vmw_byte_ring_peek(vmw_byte_ring *r, const void **ptr, uint32_t *len) {
    vmw_ring_header *h = r->h;
    uint64_t tail = atomic_load_explicit(&h->tail, memory_order_acquire);
    uint64_t head = atomic_load_explicit(&h->head, memory_order_acquire);
    r->peek_tail = tail;
    if ((int64_t)(head - tail) <= 0 || head - tail > r->cap) return 0;
    uint64_t pos = tail;
    uint32_t l = len_at(r, pos);
    if (l == WRAP_MARK) {
        pos += r->cap - (pos & r->mask);
        if ((int64_t)(head - pos) <= 0) return 0;
        l = len_at(r, pos);
    }
    uint64_t idx = pos & r->mask;
    if (l > r->max_rec || idx + REC_HDR + l > r->cap) return 0;
    *ptr = r->data + idx + REC_HDR;
    *len = l;
    uint64_t next = pos + REC_HDR + pad8(l);
    if ((int64_t)(head - next) > 0 && len_at(r, next) == WRAP_MARK) next += r->cap - (next & r->mask);
    r->peek_next = next;
    return 1;
}

int vmw_byte_ring_release(vmw_byte_ring *r) {
    vmw_ring_header *h = r->h;
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
    return pushed > gone ? pushed - gone : 0;
}

static int bytes_ready(void *arg) {
    vmw_byte_ring *r = arg;
    uint64_t tail = atomic_load_explicit(&r->h->tail, memory_order_acquire);
    return atomic_load_explicit(&r->h->head, memory_order_acquire) != tail;
}

int vmw_byte_ring_wait(vmw_byte_ring *r, int64_t timeout_ns) {
    return vmw_wait_ready(&r->h->data_word, &r->h->data_waiting, bytes_ready, r, timeout_ns, 0);
}

/* Room for one record of max_record bytes wherever head is (wrap included). */
static int bytes_have_room(void *arg) {
    vmw_byte_ring *r = arg;
    uint64_t head = atomic_load_explicit(&r->h->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&r->h->tail, memory_order_acquire);
    return r->cap - (head - tail) >= r->cap / 2;
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
