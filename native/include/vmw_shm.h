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

typedef struct vmw_shm {
    vmw_ring_header *hdr;
    unsigned char *data;
    size_t map_size;
} vmw_shm;

/* Create (or reclaim a stale) segment with the given data size; fills the header. */
int vmw_shm_create(const char *name, uint32_t kind, uint64_t capacity, uint32_t slot_size, uint32_t overflow,
                   size_t data_size, vmw_shm *out);
/* Attach and validate magic, version, kind and size. */
int vmw_shm_attach(const char *name, uint32_t kind, vmw_shm *out);
void vmw_shm_close(vmw_shm *s);

/* Start time of a process (clock ticks since boot), 0 when it does not exist. */
uint64_t vmw_proc_start_ticks(pid_t pid);
/* 1 when pid runs and started at start_ticks (0 = do not compare), 0 when dead/zombie. */
int vmw_proc_alive(pid_t pid, uint64_t start_ticks);

#endif
