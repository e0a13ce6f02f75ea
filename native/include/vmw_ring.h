/* Lock-free rings in named POSIX shared memory.
 *
 * Three kinds, one segment layout (vmw_shm.h):
 *   vmw_slot_ring  single producer / single consumer, fixed-size slots (CAN frames, samples)
 *   vmw_byte_ring  single producer / single consumer, variable-length records, zero-copy
 *   vmw_mpmc_ring  many producers / many consumers, fixed-size slots (Vyukov cell sequences)
 *
 * A handle (vmw_*_ring *) is process-local: create or attach one per process
 * (for MPMC: one per thread that pushes or pops). Every function that moves
 * records is lock-free, never blocks, and wakes a blocked peer only when the
 * peer has flagged that it waits (one atomic exchange on the hot path).
 *
 * Functions returning int return VMW_RING_OK (0) or a negative VMW_RING_E*
 * code; vmw_ring_strerror() names it.
 *
 * Corrupt segments: attach validates every header field (magic, version, kind,
 * capacity, slot size, overflow, sizes against the file's real size) and the
 * indices (head/tail in range and consistent, MPMC cell sequences and
 * participant intents plausible); a damaged segment is refused with
 * VMW_RING_ECORRUPT (or VMW_RING_ESIZE when the file's size disagrees with its
 * header) and vmw_ring_error_detail() names the field. At run time every
 * operation re-checks the shared indices, record lengths and cell sequences it
 * uses before touching memory, and every loop is bounded: a segment damaged
 * after attach makes the operation return 0 / NULL, and the handle's
 * *_last_error() becomes VMW_RING_ECORRUPT for good (*_error_detail() says
 * why). Wait functions report "ready" on such a handle so the caller's next
 * operation sees the error instead of sleeping forever.
 *
 * cffi: public -- the declarations below are what Python sees (native/build_ffi.py reads them).
 */
#ifndef VMW_RING_H
#define VMW_RING_H

#include <stddef.h>
#include <stdint.h>

/* ring kinds, stored in the segment header */
#define VMW_RING_KIND_SLOT 1
#define VMW_RING_KIND_BYTES 2
#define VMW_RING_KIND_MPMC 3

/* overflow policies */
#define VMW_OVERFLOW_REJECT_NEWEST 0
#define VMW_OVERFLOW_OVERWRITE_OLDEST 1

/* error codes */
#define VMW_RING_OK 0
#define VMW_RING_ENOENT (-1)   /* no segment of that name */
#define VMW_RING_EMAGIC (-2)   /* not a vehicle_mw ring (or never finished initialising) */
#define VMW_RING_EVERSION (-3) /* written by another layout version */
#define VMW_RING_EKIND (-4)    /* a ring of another kind */
#define VMW_RING_ESIZE (-5)    /* segment size does not match its header */
#define VMW_RING_EEXIST (-6)   /* segment exists and its creator is alive */
#define VMW_RING_EINVAL (-7)   /* bad argument (capacity, slot size, name) */
#define VMW_RING_ESYS (-8)     /* a system call failed; errno is kept */
#define VMW_RING_ESLOTS (-9)   /* MPMC: all participant entries are taken by live processes */
#define VMW_RING_ECORRUPT (-10) /* header fields, indices or records are inconsistent: a damaged segment */

typedef struct vmw_slot_ring vmw_slot_ring;
typedef struct vmw_byte_ring vmw_byte_ring;
typedef struct vmw_mpmc_ring vmw_mpmc_ring;

/* Counters any attached process can read. pushed/popped count records;
 * dropped counts records rejected (reject-newest) or overwritten
 * (overwrite-oldest); high_water is the most records ever held at once. */
typedef struct vmw_ring_stats {
    uint64_t pushed;
    uint64_t popped;
    uint64_t dropped;
    uint64_t high_water;
    uint64_t capacity; /* slots, or bytes for a byte ring */
    uint64_t size;     /* records held now */
} vmw_ring_stats;

/* Facts about a segment without attaching to it as a ring (for stale checks). */
typedef struct vmw_ring_info {
    uint32_t kind;
    uint32_t layout_version;
    uint64_t capacity;
    uint32_t slot_size;
    uint32_t overflow;
    int32_t creator_pid;
    int32_t creator_alive;
    uint64_t total_size;
} vmw_ring_info;

const char *vmw_ring_strerror(int code);
/* What the last failed create/attach/info call of this thread found ("" if nothing specific),
 * e.g. "header field capacity=4611686018427387904 is not a power of two in 2..4294967296". */
const char *vmw_ring_error_detail(void);
int vmw_ring_info_read(const char *name, vmw_ring_info *out);
int vmw_ring_unlink(const char *name);

/* ---- fixed-slot SPSC ---- */
/* capacity is rounded up to a power of two. An existing segment whose creator
 * is dead is reclaimed; one whose creator lives gives VMW_RING_EEXIST. */
int vmw_slot_ring_create(const char *name, uint32_t slot_size, uint64_t capacity, uint32_t overflow,
                         vmw_slot_ring **out);
int vmw_slot_ring_attach(const char *name, vmw_slot_ring **out);
void vmw_slot_ring_close(vmw_slot_ring *r);
uint32_t vmw_slot_ring_slot_size(const vmw_slot_ring *r);
uint64_t vmw_slot_ring_capacity(const vmw_slot_ring *r);
/* Producer: copy up to n slots from src (n * slot_size bytes); returns slots accepted
 * (all n under overwrite-oldest, at most the free space under reject-newest). */
size_t vmw_slot_ring_push_n(vmw_slot_ring *r, const void *src, size_t n);
/* The same with a char pointer: lets Python pass bytes objects without a buffer wrapper. */
size_t vmw_slot_ring_push_bytes(vmw_slot_ring *r, const char *src, size_t n);
/* Consumer: copy up to max_n slots into dst; returns slots copied. */
size_t vmw_slot_ring_pop_n(vmw_slot_ring *r, void *dst, size_t max_n);
/* Consumer, zero-copy: *ptr = first readable slot; returns how many contiguous slots
 * (<= max_n) start there. Release them with vmw_slot_ring_release(). */
size_t vmw_slot_ring_peek(vmw_slot_ring *r, const void **ptr, size_t max_n);
/* Returns 1 if the peeked slots were intact, 0 if the producer overwrote them meanwhile
 * (overwrite-oldest only; the release is then a no-op). n is at most what peek returned. */
int vmw_slot_ring_release(vmw_slot_ring *r, size_t n);
uint64_t vmw_slot_ring_size(const vmw_slot_ring *r);
/* Block until a record is readable or timeout_ns passes (< 0: forever). 1 = readable;
 * 0 = timed out, or woken by *_wake() / another consumer without a record (wait again). */
int vmw_slot_ring_wait(vmw_slot_ring *r, int64_t timeout_ns);
/* Producer: block until at least one slot is free, or timeout. 1 = room. */
int vmw_slot_ring_wait_space(vmw_slot_ring *r, int64_t timeout_ns);
void vmw_slot_ring_stats(const vmw_slot_ring *r, vmw_ring_stats *out);
/* Wake every waiter (e.g. to cancel a blocked wait); their wait returns 0 if nothing is readable. */
void vmw_slot_ring_wake(vmw_slot_ring *r);
/* 0, or VMW_RING_ECORRUPT once an operation found the segment damaged (sticky; re-attach). */
int vmw_slot_ring_last_error(const vmw_slot_ring *r);
const char *vmw_slot_ring_error_detail(const vmw_slot_ring *r);

/* ---- variable-length SPSC byte ring ---- */
/* capacity in bytes, rounded up to a power of two; a record holds at most capacity/2 - 8 bytes. */
int vmw_byte_ring_create(const char *name, uint64_t capacity, uint32_t overflow, vmw_byte_ring **out);
int vmw_byte_ring_attach(const char *name, vmw_byte_ring **out);
void vmw_byte_ring_close(vmw_byte_ring *r);
uint64_t vmw_byte_ring_capacity(const vmw_byte_ring *r);
uint64_t vmw_byte_ring_max_record(const vmw_byte_ring *r);
/* Producer, zero-copy: contiguous room for len bytes, or NULL (full / too big). */
void *vmw_byte_ring_reserve(vmw_byte_ring *r, uint32_t len);
/* Publish the reserved record with its final length (<= the reserved length; a commit
 * without a reservation, or longer than it, is ignored). */
void vmw_byte_ring_commit(vmw_byte_ring *r, uint32_t len);
/* Producer batch: n records packed back to back in src, lengths in lens; returns records accepted. */
size_t vmw_byte_ring_push_n(vmw_byte_ring *r, const void *src, const uint32_t *lens, size_t n);
/* Consumer batch: up to max_n records packed into dst (dst_cap bytes), lengths into lens. */
size_t vmw_byte_ring_pop_n(vmw_byte_ring *r, void *dst, size_t dst_cap, uint32_t *lens, size_t max_n);
/* Consumer, zero-copy: the next record (length in *len), or 0 when empty. */
int vmw_byte_ring_peek(vmw_byte_ring *r, const void **ptr, uint32_t *len);
/* Release the peeked record; 1 if it was intact (see vmw_slot_ring_release). */
int vmw_byte_ring_release(vmw_byte_ring *r);
uint64_t vmw_byte_ring_size(const vmw_byte_ring *r);
int vmw_byte_ring_wait(vmw_byte_ring *r, int64_t timeout_ns);
/* Producer: block until a record of max_record bytes fits, or timeout. */
int vmw_byte_ring_wait_space(vmw_byte_ring *r, int64_t timeout_ns);
void vmw_byte_ring_stats(const vmw_byte_ring *r, vmw_ring_stats *out);
void vmw_byte_ring_wake(vmw_byte_ring *r);
int vmw_byte_ring_last_error(const vmw_byte_ring *r); /* see vmw_slot_ring_last_error */
const char *vmw_byte_ring_error_detail(const vmw_byte_ring *r);

/* ---- fixed-slot MPMC ---- */
#define VMW_MPMC_MAX_PARTICIPANTS 32 /* live producer (and consumer) handles at once */
int vmw_mpmc_ring_create(const char *name, uint32_t slot_size, uint64_t capacity, uint32_t overflow,
                         vmw_mpmc_ring **out);
int vmw_mpmc_ring_attach(const char *name, vmw_mpmc_ring **out);
void vmw_mpmc_ring_close(vmw_mpmc_ring *r);
uint32_t vmw_mpmc_ring_slot_size(const vmw_mpmc_ring *r);
uint64_t vmw_mpmc_ring_capacity(const vmw_mpmc_ring *r);
/* Returns slots accepted. A handle that cannot register as a participant (all 32 entries
 * held by live processes) returns 0 and vmw_mpmc_ring_last_error() says VMW_RING_ESLOTS. */
size_t vmw_mpmc_ring_push_n(vmw_mpmc_ring *r, const void *src, size_t n);
size_t vmw_mpmc_ring_push_bytes(vmw_mpmc_ring *r, const char *src, size_t n);
size_t vmw_mpmc_ring_pop_n(vmw_mpmc_ring *r, void *dst, size_t max_n);
/* VMW_RING_ECORRUPT (sticky), else VMW_RING_ESLOTS while no participant entry could be taken, else 0. */
int vmw_mpmc_ring_last_error(const vmw_mpmc_ring *r);
const char *vmw_mpmc_ring_error_detail(const vmw_mpmc_ring *r);
uint64_t vmw_mpmc_ring_size(const vmw_mpmc_ring *r);
int vmw_mpmc_ring_wait(vmw_mpmc_ring *r, int64_t timeout_ns);
int vmw_mpmc_ring_wait_space(vmw_mpmc_ring *r, int64_t timeout_ns);
void vmw_mpmc_ring_stats(const vmw_mpmc_ring *r, vmw_ring_stats *out);
void vmw_mpmc_ring_wake(vmw_mpmc_ring *r);
/* Repair cells left half-done by participants that died (kill -9); returns cells repaired.
 * wait() calls it when the next cell stays claimed but unpublished across a 20 ms slice. */
size_t vmw_mpmc_ring_recover(vmw_mpmc_ring *r);

#endif
