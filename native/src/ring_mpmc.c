/* Bounded MPMC ring of fixed slots (Vyukov): every cell carries a sequence
 * number; a producer may fill cell p when seq == p and publishes with
 * seq = p + 1, a consumer may take it when seq == p + 1 and frees it with
 * seq = p + capacity. Positions are claimed in batches with one CAS on
 * head (producers) or tail (consumers).
 *
 * Kill -9: a participant that dies between claiming positions and finishing
 * them would block everyone behind it. Each handle therefore owns an entry in
 * the header (pid + start time + "intent" = first position of the range it is
 * claiming, set before the claiming CAS and cleared after the last cell is
 * done). vmw_mpmc_ring_recover() finds cells stuck half-way whose claimer is
 * dead and finishes them: an unpublished cell is published empty (flagged
 * ABANDONED, skipped by consumers, counted dropped); an untaken cell is freed
 * (its record was lost with the dead consumer, counted dropped). The claimer
 * of position p is found as the entry with the greatest intent <= p: claimed
 * ranges are contiguous and every intent is the start of a real range.
 *
 * Damage: a cell for position p only ever holds p, p + 1 (| ABANDONED) or
 * p + cap, so a claimer at pos that finds neither its value nor one of the two
 * "not yet" values of the previous lap (producer: pos - cap, pos - cap + 1;
 * consumer: pos, pos - cap + 1) is looking at damage; a cell ahead of pos means
 * the counter moved on, so a counter that stays at pos is damage too. Claims
 * never exceed cap and every loop is bounded. Attach checks head/tail, every
 * cell and every participant intent the same way. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmw_ring.h"
#include "vmw_ring_check.h"
#include "vmw_shm.h"
#include "vmw_wait.h"

#define ABANDONED (1ull << 63)
#define NPART VMW_MPMC_MAX_PARTICIPANTS
#define STUCK_SLICE_NS 20000000 /* how often a waiter looks for dead claimers */

_Static_assert(NPART == 32, "header holds 32 participant entries");

struct vmw_mpmc_ring {
    vmw_shm shm;
    vmw_ring_header *h;
    unsigned char *data;
    uint64_t cap, mask, stride;
    uint32_t slot;
    int overwrite;
    int prod, cons; /* participant entry indexes, -1 until first use */
    pid_t pid;
    uint64_t start_ticks;
    int last_error;
    uint64_t stuck_tail; /* wait(): the cell seen claimed-but-unpublished, and since when */
    int64_t stuck_since;
    uint64_t stuck_head; /* wait_space(): the same for a cell taken but never freed */
    int64_t stuck_head_since;
    unsigned fork_gen; /* a forked child must register its own participant entries */
    vmw_fault fault;
};

static _Atomic unsigned fork_generation;
static pthread_once_t fork_hook_once = PTHREAD_ONCE_INIT;
static void after_fork_in_child(void) { atomic_fetch_add_explicit(&fork_generation, 1, memory_order_relaxed); }
static void install_fork_hook(void) { pthread_atfork(NULL, NULL, after_fork_in_child); }

/* In a forked child the inherited entries belong to the parent: take new ones. */
static void check_fork(vmw_mpmc_ring *r) {
    unsigned gen = atomic_load_explicit(&fork_generation, memory_order_relaxed);
    if (gen == r->fork_gen) return;
    r->fork_gen = gen;
    r->pid = getpid();
    r->start_ticks = vmw_proc_start_ticks(r->pid);
    r->prod = r->cons = -1;
}

static _Atomic uint64_t *cell_seq(const vmw_mpmc_ring *r, uint64_t pos) {
    return (_Atomic uint64_t *)(r->data + (pos & r->mask) * r->stride);
}
static unsigned char *cell_data(const vmw_mpmc_ring *r, uint64_t pos) {
    return r->data + (pos & r->mask) * r->stride + 8;
}

static int open_handle(vmw_shm *shm, vmw_mpmc_ring **out) {
    vmw_mpmc_ring *r = calloc(1, sizeof *r);
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
    r->stride = vmw_mpmc_stride(r->slot);
    r->overwrite = shm->overflow == VMW_OVERFLOW_OVERWRITE_OLDEST;
    r->prod = r->cons = -1;
    pthread_once(&fork_hook_once, install_fork_hook);
    r->fork_gen = atomic_load_explicit(&fork_generation, memory_order_relaxed);
    r->pid = getpid();
    r->start_ticks = vmw_proc_start_ticks(r->pid);
    *out = r;
    return VMW_RING_OK;
}

int vmw_mpmc_ring_create(const char *name, uint32_t slot_size, uint64_t capacity, uint32_t overflow,
                         vmw_mpmc_ring **out) {
    if (slot_size == 0 || slot_size > VMW_SLOT_SIZE_MAX || capacity == 0 || capacity > VMW_SLOTS_MAX)
        return VMW_RING_EINVAL;
    uint64_t cap = 2;
    while (cap < capacity) cap <<= 1;
    uint64_t stride = vmw_mpmc_stride(slot_size);
    if (cap * stride > VMW_DATA_MAX) return VMW_RING_EINVAL;
    vmw_shm shm;
    int rc = vmw_shm_create(name, VMW_RING_KIND_MPMC, cap, slot_size, overflow, (size_t)(cap * stride), &shm);
    if (rc) return rc;
    for (uint64_t i = 0; i < cap; i++)
        atomic_store_explicit((_Atomic uint64_t *)(shm.data + i * stride), i, memory_order_relaxed);
    vmw_shm_publish(&shm); /* release: an attacher sees initialised cells */
    return open_handle(&shm, out);
}

/* Cells and participant intents of a freshly attached segment (see the top comment); peers may
 * be running, so the window is [tail read before, head read after]. 0 or VMW_RING_ECORRUPT. */
static int check_attached(const vmw_shm *shm) {
    vmw_ring_header *h = shm->hdr;
    uint64_t cap = shm->capacity, mask = cap - 1, stride = vmw_mpmc_stride(shm->slot_size);
    vmw_fault *f = vmw_attach_fault();
    uint64_t tail, head;
    if (!vmw_span_consistent(&h->tail, &h->head, cap, &tail, &head))
        return vmw_fault_set(f, VMW_RING_ECORRUPT,
                             "header fields head=%llu tail=%llu: head - tail must be 0..capacity=%llu",
                             (unsigned long long)head, (unsigned long long)tail, (unsigned long long)cap);
    for (uint64_t j = 0; j < cap; j++) {
        uint64_t raw = atomic_load_explicit((_Atomic uint64_t *)(shm->data + j * stride), memory_order_acquire);
        uint64_t seq = raw & ~ABANDONED;
        uint64_t lap = (seq - j) & mask; /* 0: free or claimed, 1: published */
        /* the cell's position in [tail, tail + cap): the lap before it was at least taken */
        uint64_t p0 = tail + ((j - tail) & mask);
        int64_t from_oldest = (int64_t)(seq - (p0 - cap + 1));
        int64_t past_head = (int64_t)(seq - atomic_load_explicit(&h->head, memory_order_acquire));
        if (lap > 1 || ((raw & ABANDONED) && lap != 1) || from_oldest < 0 || past_head > (int64_t)cap)
            return vmw_fault_set(f, VMW_RING_ECORRUPT,
                                 "cell %llu: sequence %llu%s is impossible with tail=%llu head=%llu capacity=%llu",
                                 (unsigned long long)j, (unsigned long long)seq, raw & ABANDONED ? " (abandoned)" : "",
                                 (unsigned long long)tail, (unsigned long long)head, (unsigned long long)cap);
    }
    for (int c = 0; c < 2; c++) {
        vmw_participant *table = c ? h->consumers : h->producers;
        _Atomic uint64_t *counter = c ? &h->tail : &h->head;
        for (int i = 0; i < NPART; i++) {
            int32_t pid = atomic_load_explicit(&table[i].pid, memory_order_acquire);
            uint64_t in = atomic_load_explicit(&table[i].intent, memory_order_seq_cst);
            /* an intent is a value the counter had before (read after it): never ahead of it */
            uint64_t now = atomic_load_explicit(counter, memory_order_seq_cst);
            if (pid < 0 || (in != VMW_POS_IDLE && (int64_t)(now - in) < 0))
                return vmw_fault_set(f, VMW_RING_ECORRUPT,
                                     "%s[%d]: pid=%d (never negative) intent=%llu (never ahead of %s=%llu)",
                                     c ? "consumers" : "producers", i, (int)pid, (unsigned long long)in,
                                     c ? "tail" : "head", (unsigned long long)now);
        }
    }
    return VMW_RING_OK;
}

int vmw_mpmc_ring_attach(const char *name, vmw_mpmc_ring **out) {
    vmw_shm shm;
    int rc = vmw_shm_attach(name, VMW_RING_KIND_MPMC, &shm);
    if (rc) return rc;
    rc = check_attached(&shm);
    if (rc) {
        vmw_shm_close(&shm);
        return rc;
    }
    return open_handle(&shm, out);
}

static void leave(vmw_participant *table, int idx) {
    if (idx < 0) return;
    atomic_store_explicit(&table[idx].intent, VMW_POS_IDLE, memory_order_seq_cst);
    atomic_store_explicit(&table[idx].pid, 0, memory_order_seq_cst);
}

void vmw_mpmc_ring_close(vmw_mpmc_ring *r) {
    if (!r) return;
    if (r->pid == getpid()) { /* a forked child must not free its parent's entries */
        leave(r->h->producers, r->prod);
        leave(r->h->consumers, r->cons);
    }
    vmw_shm_close(&r->shm);
    free(r);
}

uint32_t vmw_mpmc_ring_slot_size(const vmw_mpmc_ring *r) { return r->slot; }
uint64_t vmw_mpmc_ring_capacity(const vmw_mpmc_ring *r) { return r->cap; }
int vmw_mpmc_ring_last_error(const vmw_mpmc_ring *r) { return r->fault.code ? r->fault.code : r->last_error; }
const char *vmw_mpmc_ring_error_detail(const vmw_mpmc_ring *r) { return r->fault.why; }

/* head - tail read outside 0..cap: a fault unless a concurrent move explains it (then 0). */
static int span_fault(vmw_mpmc_ring *r) {
    uint64_t tail, head;
    if (vmw_span_consistent(&r->h->tail, &r->h->head, r->cap, &tail, &head)) return 0;
    vmw_fault_set(&r->fault, VMW_RING_ECORRUPT, "indices head=%llu tail=%llu: head - tail must be 0..%llu",
                  (unsigned long long)head, (unsigned long long)tail, (unsigned long long)r->cap);
    return 1;
}

/* The cell at pos does not show pos + offset (offset 0: a producer at head, 1: a consumer at
 * tail); seq is its value without the ABANDONED bit. 0 = not ready (the previous lap is still
 * being finished), 1 = the counter moved on (reload it), -1 = damage (fault recorded). */
static int cell_behind_or_ahead(vmw_mpmc_ring *r, _Atomic uint64_t *counter, uint64_t pos, uint64_t offset,
                                uint64_t seq) {
    int64_t d = (int64_t)(seq - (pos + offset));
    int64_t cap = (int64_t)r->cap;
    if (d < 0) {
        /* producer: pos - cap claimed (d = -cap) or published (1 - cap); consumer: pos free or
         * claimed by a producer (d = -1), or pos - cap taken but not freed yet (d = -cap) */
        if (offset == 0 ? (d == -cap || d == 1 - cap) : (d == -1 || d == -cap)) return 0;
    } else if (atomic_load_explicit(counter, memory_order_acquire) != pos) {
        return 1; /* whoever moved the cell on moved the counter first */
    }
    vmw_fault_set(&r->fault, VMW_RING_ECORRUPT,
                  "cell %llu: sequence %llu is impossible at %s=%llu (capacity %llu)",
                  (unsigned long long)(pos & r->mask), (unsigned long long)seq, offset ? "tail" : "head",
                  (unsigned long long)pos, (unsigned long long)r->cap);
    return -1;
}

static int entry_dead(const vmw_participant *e) {
    int32_t pid = atomic_load_explicit(&e->pid, memory_order_acquire);
    return pid == 0 || !vmw_proc_alive(pid, atomic_load_explicit(&e->start_ticks, memory_order_relaxed));
}

/* Take a free entry, else (after repairing what it left) one of a dead process. */
static int join(vmw_mpmc_ring *r, vmw_participant *table, int *idx) {
    if (*idx >= 0) return 1;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) vmw_mpmc_ring_recover(r);
        for (int i = 0; i < NPART; i++) {
            vmw_participant *e = &table[i];
            int32_t pid = atomic_load_explicit(&e->pid, memory_order_acquire);
            /* pass 1: recover() has just settled what dead entries left half-done */
            if (pid != 0 && (pass == 0 || !entry_dead(e))) continue;
            if (atomic_compare_exchange_strong_explicit(&e->pid, &pid, (int32_t)r->pid, memory_order_acq_rel,
                                                        memory_order_relaxed)) {
                atomic_store_explicit(&e->start_ticks, r->start_ticks, memory_order_relaxed);
                atomic_store_explicit(&e->intent, VMW_POS_IDLE, memory_order_seq_cst);
                *idx = i;
                r->last_error = 0;
                return 1;
            }
        }
    }
    r->last_error = VMW_RING_ESLOTS;
    return 0;
}

/* The claimer of position p: do all entries whose intent is the greatest <= p belong to the dead? */
static int claimer_dead(const vmw_participant *table, uint64_t p) {
    uint64_t best = VMW_POS_IDLE;
    for (int i = 0; i < NPART; i++) {
        uint64_t in = atomic_load_explicit(&table[i].intent, memory_order_seq_cst);
        if (in != VMW_POS_IDLE && in <= p && (best == VMW_POS_IDLE || in > best)) best = in;
    }
    if (best == VMW_POS_IDLE) return 0; /* nobody claims it any more: it was finished meanwhile */
    for (int i = 0; i < NPART; i++)
        if (atomic_load_explicit(&table[i].intent, memory_order_seq_cst) == best && !entry_dead(&table[i]))
            return 0;
    return 1;
}

size_t vmw_mpmc_ring_recover(vmw_mpmc_ring *r) {
    vmw_ring_header *h = r->h;
    size_t fixed = 0;
    if (r->fault.code) return 0;
    uint64_t tail = atomic_load_explicit(&h->tail, memory_order_seq_cst);
    uint64_t head = atomic_load_explicit(&h->head, memory_order_seq_cst);
    if (head - tail > r->cap) { /* damaged, or moved while we read: nothing to do now either way */
        span_fault(r);
        return 0;
    }
    /* producers that died after claiming, before publishing */
    for (uint64_t p = tail; (int64_t)(head - p) > 0 && p - tail < r->cap; p++) {
        _Atomic uint64_t *sq = cell_seq(r, p);
        uint64_t seq = atomic_load_explicit(sq, memory_order_acquire);
        if (seq != p || !claimer_dead(h->producers, p)) continue;
        if (atomic_compare_exchange_strong_explicit(sq, &seq, (p + 1) | ABANDONED, memory_order_acq_rel,
                                                    memory_order_relaxed)) {
            atomic_fetch_add_explicit(&h->dropped, 1, memory_order_relaxed);
            fixed++;
        }
    }
    /* consumers that died after taking, before freeing */
    for (uint64_t p = tail > r->cap ? tail - r->cap : 0; p < tail; p++) {
        _Atomic uint64_t *sq = cell_seq(r, p);
        uint64_t seq = atomic_load_explicit(sq, memory_order_acquire);
        if ((seq & ~ABANDONED) != p + 1 || !claimer_dead(h->consumers, p)) continue;
        if (atomic_compare_exchange_strong_explicit(sq, &seq, p + r->cap, memory_order_acq_rel,
                                                    memory_order_relaxed)) {
            if (!(seq & ABANDONED)) atomic_fetch_add_explicit(&h->dropped_by_consumer, 1, memory_order_relaxed);
            fixed++;
        }
    }
    if (fixed) {
        vmw_futex_wake_all(&h->data_word);
        vmw_futex_wake_all(&h->space_word);
    }
    return fixed;
}

/* Claim up to want consecutive positions on `counter` whose cells show seq == pos + offset.
 * Returns how many (0: none ready, or damage -- see r->fault), with the first position in *first. */
static size_t claim(vmw_mpmc_ring *r, _Atomic uint64_t *counter, vmw_participant *me, uint64_t offset,
                    size_t want, uint64_t *first) {
    if (want > r->cap) want = (size_t)r->cap;
    uint64_t pos = atomic_load_explicit(counter, memory_order_relaxed);
    int announced = 0;
    for (unsigned tries = 0; tries < VMW_RETRY_MAX; tries++) {
        size_t k = 0;
        while (k < want &&
               (atomic_load_explicit(cell_seq(r, pos + k), memory_order_acquire) & ~ABANDONED) == pos + k + offset)
            k++;
        if (k == 0) {
            uint64_t seq = atomic_load_explicit(cell_seq(r, pos), memory_order_acquire) & ~ABANDONED;
            if (seq == pos + offset) continue; /* became ready meanwhile */
            int moved = cell_behind_or_ahead(r, counter, pos, offset, seq);
            if (moved <= 0) break; /* full (producer) / empty (consumer), or damage */
            pos = atomic_load_explicit(counter, memory_order_relaxed); /* someone else got it */
            continue;
        }
        atomic_store_explicit(&me->intent, pos, memory_order_seq_cst);
        announced = 1;
        if (atomic_compare_exchange_weak_explicit(counter, &pos, pos + k, memory_order_seq_cst,
                                                  memory_order_relaxed)) {
            *first = pos;
            return k;
        }
    }
    /* nothing claimed (or outrun every time): an intent left behind would shield a dead claimer */
    if (announced) atomic_store_explicit(&me->intent, VMW_POS_IDLE, memory_order_release);
    return 0;
}

static size_t take(vmw_mpmc_ring *r, void *dst, size_t max_n, int discard);

size_t vmw_mpmc_ring_push_n(vmw_mpmc_ring *r, const void *src, size_t n) {
    vmw_ring_header *h = r->h;
    if (r->fault.code) return 0;
    check_fork(r);
    if (!join(r, h->producers, &r->prod)) return 0;
    vmw_participant *me = &h->producers[r->prod];
    const unsigned char *s = src;
    size_t done = 0;
    unsigned busy = 0;
    for (uint64_t rounds = 0; done < n && rounds < (uint64_t)n + VMW_RETRY_MAX; rounds++) {
        uint64_t pos;
        size_t k = claim(r, &h->head, me, 0, n - done, &pos);
        if (r->fault.code) break;
        if (k == 0) {
            if (r->overwrite) {
                size_t want = n - done < r->cap ? n - done : r->cap;
                if (take(r, NULL, want, 1) || vmw_mpmc_ring_recover(r)) continue;
                if (r->last_error || r->fault.code) break;
                /* the oldest cell is being written by a live producer: retry a while, then drop ours */
                if (++busy < 100000) continue;
            }
            atomic_fetch_add_explicit(&h->dropped, n - done, memory_order_relaxed);
            break;
        }
        for (size_t i = 0; i < k; i++) {
            memcpy(cell_data(r, pos + i), s + (done + i) * r->slot, r->slot);
            atomic_store_explicit(cell_seq(r, pos + i), pos + i + 1, memory_order_release);
        }
        atomic_store_explicit(&me->intent, VMW_POS_IDLE, memory_order_release);
        done += k;
    }
    if (done) {
        atomic_fetch_add_explicit(&h->pushed, done, memory_order_relaxed);
        uint64_t used = atomic_load_explicit(&h->head, memory_order_relaxed) -
                        atomic_load_explicit(&h->tail, memory_order_relaxed);
        uint64_t hw = atomic_load_explicit(&h->high_water, memory_order_relaxed);
        while (used <= r->cap && used > hw &&
               !atomic_compare_exchange_weak_explicit(&h->high_water, &hw, used, memory_order_relaxed,
                                                      memory_order_relaxed)) {
        }
        vmw_wake_if_waiting(&h->data_word, &h->data_waiting);
    }
    return r->overwrite && !r->last_error && !r->fault.code ? n : done;
}

size_t vmw_mpmc_ring_push_bytes(vmw_mpmc_ring *r, const char *src, size_t n) {
    return vmw_mpmc_ring_push_n(r, src, n);
}

static size_t take(vmw_mpmc_ring *r, void *dst, size_t max_n, int discard) {
    vmw_ring_header *h = r->h;
    check_fork(r);
    if (!join(r, h->consumers, &r->cons)) return 0;
    vmw_participant *me = &h->consumers[r->cons];
    unsigned char *d = dst;
    for (unsigned tries = 0; tries < VMW_RETRY_MAX; tries++) { /* each round takes >= 1 cell */
        uint64_t pos;
        size_t k = claim(r, &h->tail, me, 1, max_n, &pos);
        if (k == 0) return 0;
        size_t out = 0;
        for (size_t i = 0; i < k; i++) {
            _Atomic uint64_t *sq = cell_seq(r, pos + i);
            uint64_t seq = atomic_load_explicit(sq, memory_order_acquire);
            if (!(seq & ABANDONED)) {
                if (!discard) memcpy(d + out * r->slot, cell_data(r, pos + i), r->slot);
                out++;
            }
            atomic_store_explicit(sq, pos + i + r->cap, memory_order_release);
        }
        atomic_store_explicit(&me->intent, VMW_POS_IDLE, memory_order_release);
        atomic_fetch_add_explicit(discard ? &h->dropped : &h->popped, out, memory_order_relaxed);
        vmw_wake_if_waiting(&h->space_word, &h->space_waiting);
        if (out || discard) return out ? out : k;
    }
    return 0;
}

size_t vmw_mpmc_ring_pop_n(vmw_mpmc_ring *r, void *dst, size_t max_n) {
    if (max_n == 0 || r->fault.code) return 0;
    return take(r, dst, max_n, 0);
}

uint64_t vmw_mpmc_ring_size(const vmw_mpmc_ring *r) {
    uint64_t tail = atomic_load_explicit(&r->h->tail, memory_order_acquire);
    uint64_t head = atomic_load_explicit(&r->h->head, memory_order_acquire);
    uint64_t n = head - tail;
    return (int64_t)n < 0 ? 0 : (n > r->cap ? r->cap : n);
}

/* A cell stays half-done: a participant is mid-copy, or died there. Look for the dead
 * only when the same position stays stuck for half a wait slice. */
static int stuck_long_enough(uint64_t *pos_seen, int64_t *since, uint64_t pos) {
    int64_t now = vmw_wait_now_ns();
    if (*pos_seen != pos || *since == 0) {
        *pos_seen = pos;
        *since = now;
        return 0;
    }
    if (now - *since < STUCK_SLICE_NS / 2) return 0;
    *since = 0;
    return 1;
}

/* Damage found here reads as ready (and room, below): the caller's next pop/push reports it. */
static int mpmc_ready(void *arg) {
    vmw_mpmc_ring *r = arg;
    if (r->fault.code) return 1;
    uint64_t tail = atomic_load_explicit(&r->h->tail, memory_order_acquire);
    uint64_t seq = atomic_load_explicit(cell_seq(r, tail), memory_order_acquire);
    if ((seq & ~ABANDONED) == tail + 1) return 1;
    if (seq != tail) return cell_behind_or_ahead(r, &r->h->tail, tail, 1, seq & ~ABANDONED) < 0;
    if (atomic_load_explicit(&r->h->head, memory_order_acquire) == tail) return 0;
    /* claimed by a producer but unpublished */
    return stuck_long_enough(&r->stuck_tail, &r->stuck_since, tail) && vmw_mpmc_ring_recover(r) > 0;
}

int vmw_mpmc_ring_wait(vmw_mpmc_ring *r, int64_t timeout_ns) {
    return vmw_wait_ready(&r->h->data_word, &r->h->data_waiting, mpmc_ready, r, timeout_ns, STUCK_SLICE_NS);
}

static int mpmc_has_room(void *arg) {
    vmw_mpmc_ring *r = arg;
    if (r->fault.code) return 1;
    uint64_t head = atomic_load_explicit(&r->h->head, memory_order_acquire);
    uint64_t seq = atomic_load_explicit(cell_seq(r, head), memory_order_acquire) & ~ABANDONED;
    if ((int64_t)(seq - head) >= 0) return 1;
    if (cell_behind_or_ahead(r, &r->h->head, head, 0, seq) < 0) return 1;
    /* full; if the oldest cell was taken by a consumer that never freed it, it may be dead */
    uint64_t tail = atomic_load_explicit(&r->h->tail, memory_order_acquire);
    if ((int64_t)(tail - (head - r->cap)) <= 0) return 0;
    return stuck_long_enough(&r->stuck_head, &r->stuck_head_since, head) && vmw_mpmc_ring_recover(r) > 0;
}

int vmw_mpmc_ring_wait_space(vmw_mpmc_ring *r, int64_t timeout_ns) {
    return vmw_wait_ready(&r->h->space_word, &r->h->space_waiting, mpmc_has_room, r, timeout_ns, STUCK_SLICE_NS);
}

void vmw_mpmc_ring_wake(vmw_mpmc_ring *r) {
    vmw_futex_wake_all(&r->h->data_word);
    vmw_futex_wake_all(&r->h->space_word);
}

void vmw_mpmc_ring_stats(const vmw_mpmc_ring *r, vmw_ring_stats *out) {
    vmw_ring_header *h = r->h;
    out->pushed = atomic_load_explicit(&h->pushed, memory_order_relaxed);
    out->popped = atomic_load_explicit(&h->popped, memory_order_relaxed);
    out->dropped = atomic_load_explicit(&h->dropped, memory_order_relaxed) +
                   atomic_load_explicit(&h->dropped_by_consumer, memory_order_relaxed);
    out->high_water = atomic_load_explicit(&h->high_water, memory_order_relaxed);
    out->capacity = r->cap;
    out->size = vmw_mpmc_ring_size(r);
}
