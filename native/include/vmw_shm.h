/* The shared-memory segment every ring lives in: header layout, create/attach
 * with validation, and process liveness (for stale segments and dead participants).
 * Internal to native/ (the public ring API is vmw_ring.h). */
#ifndef VMW_SHM_H
#define VMW_SHM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define VMW_RING_MAGIC 0x31474e4952574d56ULL /* "VMWRING1" little-endian */
#define VMW_RING_LAYOUT_VERSION 1u
#define VMW_CACHELINE 64
#define VMW_POS_IDLE UINT64_MAX

/* Geometry limits create enforces and attach re-checks in a header it reads. */
#define VMW_SLOT_SIZE_MAX (1u << 20)     /* bytes per fixed slot */
#define VMW_SLOTS_MAX (1ull << 32)       /* slots of a slot / MPMC ring */
#define VMW_BYTES_MIN 64ull              /* byte ring capacity, bytes */
#define VMW_DATA_MAX (1ull << 36)        /* data bytes of any ring */

/* Bytes per MPMC cell: the 8-byte sequence number and the slot padded to 8. */
static inline uint64_t vmw_mpmc_stride(uint32_t slot_size) { return 8 + (((uint64_t)slot_size + 7u) & ~7ull); }

/* One participant of an MPMC ring: who it is and which position it is claiming. */
typedef struct vmw_participant {
    _Atomic int32_t pid; /* 0 = free */
    uint32_t _pad;
    _Atomic uint64_t start_ticks; /* process start time, tells a reused pid apart */
    _Atomic uint64_t intent;      /* first position of the range being claimed, or VMW_POS_IDLE */
    uint64_t _pad2;
} vmw_participant;

typedef struct vmw_ring_header {
    /* line 0: written once by the creator; magic last (release) */
    _Atomic uint64_t magic;
    uint32_t layout_version;
    uint32_t kind;
    uint64_t capacity;
    uint32_t slot_size;
    uint32_t overflow;
    uint64_t total_size;
    uint64_t data_offset;
    int32_t creator_pid;
    uint32_t _pad0;
    uint64_t creator_start;
    /* line 1: producer side */
    _Alignas(VMW_CACHELINE) _Atomic uint64_t head;
    _Atomic uint64_t pushed;
    _Atomic uint64_t high_water;
    _Atomic uint64_t dropped;
    /* line 2: consumer side */
    _Alignas(VMW_CACHELINE) _Atomic uint64_t tail;
    _Atomic uint64_t popped;
    _Atomic uint64_t dropped_by_consumer; /* MPMC: records lost with a dead consumer */
    /* line 3: blocking wait (futex words) */
    _Alignas(VMW_CACHELINE) _Atomic uint32_t data_word;
    _Atomic uint32_t data_waiting;
    _Atomic uint32_t space_word; /* producers blocked on a full ring */
    _Atomic uint32_t space_waiting;
    /* lines 4..: MPMC participants */
    _Alignas(VMW_CACHELINE) vmw_participant producers[32];
    vmw_participant consumers[32];
} vmw_ring_header;

/* A mapped segment, with the geometry validated at create/attach (a process-local copy:
 * the kinds never re-read capacity, slot size or policy from the shared header). */
typedef struct vmw_shm {
    vmw_ring_header *hdr;
    unsigned char *data;
    size_t map_size;
    uint64_t capacity;
    uint32_t slot_size;
    uint32_t overflow;
} vmw_shm;

/* Create (or reclaim a stale) segment with the given data size; fills the header except the
 * magic, so nobody attaches before the caller has initialised the data: vmw_shm_publish() then. */
int vmw_shm_create(const char *name, uint32_t kind, uint64_t capacity, uint32_t slot_size, uint32_t overflow,
                   size_t data_size, vmw_shm *out);
void vmw_shm_publish(vmw_shm *s);
/* Attach (kind 0: any kind) and validate every header field: magic, version, kind, overflow,
 * capacity and slot size within the kind's limits, data_offset, and total_size against both
 * the geometry and the file's real size; counters that cannot exceed the capacity. Failures
 * set vmw_attach_fault() with the field. Indices are checked by each kind's attach. */
int vmw_shm_attach(const char *name, uint32_t kind, vmw_shm *out);
/* Create and attach share one mapping per segment file within a process (reference-counted,
 * thread-safe): every handle of a ring sees the same addresses, and RSS counts its pages once.
 * Close drops this handle's reference; the last one unmaps. */
void vmw_shm_close(vmw_shm *s);

/* Start time of a process (clock ticks since boot), 0 when it does not exist. */
uint64_t vmw_proc_start_ticks(pid_t pid);
/* 1 when pid runs and started at start_ticks (0 = do not compare), 0 when dead/zombie. */
int vmw_proc_alive(pid_t pid, uint64_t start_ticks);

#endif
