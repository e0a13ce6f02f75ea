/* Python-visible part of vmw_ring.h (generated shape; keep in sync). */
typedef struct vmw_slot_ring vmw_slot_ring;
typedef struct vmw_byte_ring vmw_byte_ring;
typedef struct vmw_mpmc_ring vmw_mpmc_ring;

typedef struct vmw_ring_stats {
    uint64_t pushed;
    uint64_t popped;
    uint64_t dropped;
    uint64_t high_water;
    uint64_t capacity; /* slots, or bytes for a byte ring */
    uint64_t size;     /* records held now */
} vmw_ring_stats;
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

static const int VMW_RING_KIND_SLOT;
static const int VMW_RING_KIND_BYTES;
static const int VMW_RING_KIND_MPMC;
static const int VMW_OVERFLOW_REJECT_NEWEST;
static const int VMW_OVERFLOW_OVERWRITE_OLDEST;
static const int VMW_RING_OK;
static const int VMW_RING_ENOENT;
static const int VMW_RING_EMAGIC;
static const int VMW_RING_EVERSION;
static const int VMW_RING_EKIND;
static const int VMW_RING_ESIZE;
static const int VMW_RING_EEXIST;
static const int VMW_RING_EINVAL;
static const int VMW_RING_ESYS;
static const int VMW_RING_ESLOTS;
static const int VMW_MPMC_MAX_PARTICIPANTS;

const char *vmw_ring_strerror(int code);
int vmw_ring_info_read(const char *name, vmw_ring_info *out);
int vmw_ring_unlink(const char *name);
int vmw_slot_ring_create(const char *name, uint32_t slot_size, uint64_t capacity, uint32_t overflow, vmw_slot_ring **out);
int vmw_slot_ring_attach(const char *name, vmw_slot_ring **out);
void vmw_slot_ring_close(vmw_slot_ring *r);
uint32_t vmw_slot_ring_slot_size(const vmw_slot_ring *r);
uint64_t vmw_slot_ring_capacity(const vmw_slot_ring *r);
size_t vmw_slot_ring_push_n(vmw_slot_ring *r, const void *src, size_t n);
size_t vmw_slot_ring_pop_n(vmw_slot_ring *r, void *dst, size_t max_n);
size_t vmw_slot_ring_peek(vmw_slot_ring *r, const void **ptr, size_t max_n);
int vmw_slot_ring_release(vmw_slot_ring *r, size_t n);
uint64_t vmw_slot_ring_size(const vmw_slot_ring *r);
int vmw_slot_ring_wait(vmw_slot_ring *r, int64_t timeout_ns);
int vmw_slot_ring_wait_space(vmw_slot_ring *r, int64_t timeout_ns);
void vmw_slot_ring_stats(const vmw_slot_ring *r, vmw_ring_stats *out);
void vmw_slot_ring_wake(vmw_slot_ring *r);
int vmw_byte_ring_create(const char *name, uint64_t capacity, uint32_t overflow, vmw_byte_ring **out);
int vmw_byte_ring_attach(const char *name, vmw_byte_ring **out);
void vmw_byte_ring_close(vmw_byte_ring *r);
uint64_t vmw_byte_ring_capacity(const vmw_byte_ring *r);
uint64_t vmw_byte_ring_max_record(const vmw_byte_ring *r);
void *vmw_byte_ring_reserve(vmw_byte_ring *r, uint32_t len);
void vmw_byte_ring_commit(vmw_byte_ring *r, uint32_t len);
size_t vmw_byte_ring_push_n(vmw_byte_ring *r, const void *src, const uint32_t *lens, size_t n);
size_t vmw_byte_ring_pop_n(vmw_byte_ring *r, void *dst, size_t dst_cap, uint32_t *lens, size_t max_n);
int vmw_byte_ring_peek(vmw_byte_ring *r, const void **ptr, uint32_t *len);
int vmw_byte_ring_release(vmw_byte_ring *r);
uint64_t vmw_byte_ring_size(const vmw_byte_ring *r);
int vmw_byte_ring_wait(vmw_byte_ring *r, int64_t timeout_ns);
int vmw_byte_ring_wait_space(vmw_byte_ring *r, int64_t timeout_ns);
void vmw_byte_ring_stats(const vmw_byte_ring *r, vmw_ring_stats *out);
void vmw_byte_ring_wake(vmw_byte_ring *r);
int vmw_mpmc_ring_create(const char *name, uint32_t slot_size, uint64_t capacity, uint32_t overflow, vmw_mpmc_ring **out);
int vmw_mpmc_ring_attach(const char *name, vmw_mpmc_ring **out);
void vmw_mpmc_ring_close(vmw_mpmc_ring *r);
uint32_t vmw_mpmc_ring_slot_size(const vmw_mpmc_ring *r);
uint64_t vmw_mpmc_ring_capacity(const vmw_mpmc_ring *r);
size_t vmw_mpmc_ring_push_n(vmw_mpmc_ring *r, const void *src, size_t n);
size_t vmw_mpmc_ring_pop_n(vmw_mpmc_ring *r, void *dst, size_t max_n);
int vmw_mpmc_ring_last_error(const vmw_mpmc_ring *r);
uint64_t vmw_mpmc_ring_size(const vmw_mpmc_ring *r);
int vmw_mpmc_ring_wait(vmw_mpmc_ring *r, int64_t timeout_ns);
int vmw_mpmc_ring_wait_space(vmw_mpmc_ring *r, int64_t timeout_ns);
void vmw_mpmc_ring_stats(const vmw_mpmc_ring *r, vmw_ring_stats *out);
void vmw_mpmc_ring_wake(vmw_mpmc_ring *r);
size_t vmw_mpmc_ring_recover(vmw_mpmc_ring *r);
