/* Damaged segments (run plain and under ASan+UBSan): every header field corrupted
 * on its own is refused at attach with the right code and a detail naming the
 * field; indices, record lengths and cell sequences damaged after attach make the
 * operations return 0 with a sticky VMW_RING_ECORRUPT -- no out-of-bounds access
 * (ASan), no endless loop (every call here returns, `make test` has a timeout). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmw_ring.h"
#include "vmw_shm.h"

static int failures;
#define CHECK(c)                                                                                    \
    do {                                                                                            \
        if (!(c)) {                                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c);                   \
            failures++;                                                                             \
        }                                                                                           \
    } while (0)

#define WRAP_MARK 0xffffffffu
#define ABANDONED (1ull << 63)

static char name_buf[64];
static const char *tname(const char *base) {
    snprintf(name_buf, sizeof name_buf, "vmw_ctest_%s_%d", base, (int)getpid());
    return name_buf;
}

/* The whole segment mapped read-write, as a corrupting process would see it. */
typedef struct mapped {
    vmw_ring_header *h;
    unsigned char *data;
    size_t size;
} mapped;

static mapped map_segment(const char *name) {
    char path[96];
    snprintf(path, sizeof path, "/%s", name);
    int fd = shm_open(path, O_RDWR, 0);
    struct stat st;
    mapped m = {0};
    if (fd < 0 || fstat(fd, &st) != 0) return m;
    m.size = (size_t)st.st_size;
    m.h = mmap(NULL, m.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (m.h == MAP_FAILED) {
        m.h = NULL;
        return m;
    }
    m.data = (unsigned char *)m.h + m.h->data_offset;
    return m;
}

static void unmap(mapped *m) {
    if (m->h) munmap(m->h, m->size);
    m->h = NULL;
}

static int attach_kind(uint32_t kind, const char *name) {
    int rc;
    if (kind == VMW_RING_KIND_SLOT) {
        vmw_slot_ring *r = NULL;
        rc = vmw_slot_ring_attach(name, &r);
        vmw_slot_ring_close(r);
    } else if (kind == VMW_RING_KIND_BYTES) {
        vmw_byte_ring *r = NULL;
        rc = vmw_byte_ring_attach(name, &r);
        vmw_byte_ring_close(r);
    } else {
        vmw_mpmc_ring *r = NULL;
        rc = vmw_mpmc_ring_attach(name, &r);
        vmw_mpmc_ring_close(r);
    }
    return rc;
}

/* A ring of `kind` with some records moved through it (indices off zero, data wrapped). */
static void make_ring(uint32_t kind, const char *name) {
    char buf[64 * 40] = {0};
    uint32_t lens[8] = {20, 3, 0, 17, 40, 9, 1, 30};
    char out[4096];
    uint32_t olens[16];
    if (kind == VMW_RING_KIND_SLOT) {
        vmw_slot_ring *r = NULL;
        CHECK(vmw_slot_ring_create(name, 16, 8, VMW_OVERFLOW_REJECT_NEWEST, &r) == VMW_RING_OK);
        CHECK(vmw_slot_ring_push_n(r, buf, 6) == 6);
        CHECK(vmw_slot_ring_pop_n(r, out, 5) == 5);
        CHECK(vmw_slot_ring_push_n(r, buf, 5) == 5); /* wraps; 6 held */
        vmw_slot_ring_close(r);
    } else if (kind == VMW_RING_KIND_BYTES) {
        vmw_byte_ring *r = NULL;
        CHECK(vmw_byte_ring_create(name, 256, VMW_OVERFLOW_REJECT_NEWEST, &r) == VMW_RING_OK);
        for (int round = 0; round < 3; round++) {
            CHECK(vmw_byte_ring_push_n(r, buf, lens, 4) == 4);
            CHECK(vmw_byte_ring_pop_n(r, out, sizeof out, olens, 3) == 3);
        }
        CHECK(vmw_byte_ring_push_n(r, buf, lens + 4, 2) == 2); /* 3 records held */
        vmw_byte_ring_close(r);
    } else {
        vmw_mpmc_ring *r = NULL;
        CHECK(vmw_mpmc_ring_create(name, 16, 8, VMW_OVERFLOW_REJECT_NEWEST, &r) == VMW_RING_OK);
        CHECK(vmw_mpmc_ring_push_n(r, buf, 6) == 6);
        CHECK(vmw_mpmc_ring_pop_n(r, out, 5) == 5);
        CHECK(vmw_mpmc_ring_push_n(r, buf, 5) == 5);
        vmw_mpmc_ring_close(r);
    }
}

typedef enum field {
    F_MAGIC,
    F_VERSION,
    F_KIND_BAD,
    F_KIND_OTHER,
    F_OVERFLOW,
    F_CAP_HUGE,
    F_CAP_ODD,
    F_CAP_OTHER,
    F_SLOT_ZERO,
    F_SLOT_HUGE,
    F_SLOT_OTHER,
    F_DATA_OFFSET,
    F_TOTAL_SIZE,
    F_FILE_GROWN,
    F_HIGH_WATER,
    F_HEAD_AHEAD,
    F_TAIL_AHEAD,
    F_NFIELDS
} field;

static const char *field_names[F_NFIELDS] = {
    "magic", "layout_version", "kind", "kind", "overflow", "capacity", "capacity", "total_size", "slot_size",
    "slot_size", "slot_size", "data_offset", "total_size", "segment's size", "high_water", "head=", "head=",
};

/* Corrupt one field of a fresh ring's header; returns the code attach must give. */
static int corrupt_field(uint32_t kind, const char *name, field f) {
    mapped m = map_segment(name);
    CHECK(m.h != NULL);
    if (!m.h) return 0;
    vmw_ring_header *h = m.h;
    int want = VMW_RING_ECORRUPT;
    switch (f) {
    case F_MAGIC: atomic_store(&h->magic, 0x1234); want = VMW_RING_EMAGIC; break;
    case F_VERSION: h->layout_version = 77; want = VMW_RING_EVERSION; break;
    case F_KIND_BAD: h->kind = 9; break;
    case F_KIND_OTHER: h->kind = kind == VMW_RING_KIND_SLOT ? VMW_RING_KIND_MPMC : VMW_RING_KIND_SLOT;
        want = VMW_RING_EKIND; break;
    case F_OVERFLOW: h->overflow = 5; break;
    case F_CAP_HUGE: h->capacity = 1ull << 62; break; /* the case */
    case F_CAP_ODD: h->capacity = 96; break;
    case F_CAP_OTHER: h->capacity *= 2; break;
    case F_SLOT_ZERO: h->slot_size = kind == VMW_RING_KIND_BYTES ? 8 : 0; break;
    case F_SLOT_HUGE: h->slot_size = (1u << 20) + 1; break;
    case F_SLOT_OTHER: h->slot_size = kind == VMW_RING_KIND_BYTES ? 16 : h->slot_size + 8; break;
    case F_DATA_OFFSET: h->data_offset = 64; break;
    case F_TOTAL_SIZE: h->total_size += 4096; break;
    case F_FILE_GROWN: {
        char path[96];
        snprintf(path, sizeof path, "/%s", name);
        int fd = shm_open(path, O_RDWR, 0);
        CHECK(fd >= 0 && ftruncate(fd, (off_t)(m.size + 4096)) == 0);
        close(fd);
        want = VMW_RING_ESIZE;
        break;
    }
    case F_HIGH_WATER: atomic_store(&h->high_water, h->capacity + 1); break;
    case F_HEAD_AHEAD: atomic_store(&h->head, atomic_load(&h->tail) + h->capacity + 8); break;
    case F_TAIL_AHEAD: atomic_store(&h->tail, atomic_load(&h->head) + 8); break;
    default: break;
    }
    unmap(&m);
    return want;
}

static void test_each_header_field(void) {
    uint32_t kinds[3] = {VMW_RING_KIND_SLOT, VMW_RING_KIND_BYTES, VMW_RING_KIND_MPMC};
    for (int k = 0; k < 3; k++) {
        for (int f = 0; f < F_NFIELDS; f++) {
            const char *name = tname("field");
            make_ring(kinds[k], name);
            CHECK(attach_kind(kinds[k], name) == VMW_RING_OK);
            int want = corrupt_field(kinds[k], name, (field)f);
            int rc = attach_kind(kinds[k], name);
            const char *detail = vmw_ring_error_detail();
            if (rc != want || !strstr(detail, field_names[f])) {
                fprintf(stderr, "kind %u field %d: attach gave %d (%s), wanted %d naming %s\n", kinds[k], f, rc,
                        detail, want, field_names[f]);
                failures++;
            }
            vmw_ring_info info;
            CHECK(vmw_ring_info_read(name, &info) != VMW_RING_OK || f == F_HEAD_AHEAD || f == F_TAIL_AHEAD ||
                  f == F_KIND_OTHER);
            vmw_ring_unlink(name);
        }
    }
}

/* The kind-specific attach checks: misaligned byte indices, MPMC cells
 * and participant entries. */
static void test_kind_specific_fields(void) {
    const char *name = tname("kindf");
    make_ring(VMW_RING_KIND_BYTES, name);
    mapped m = map_segment(name);
    atomic_fetch_add(&m.h->head, 4);
    unmap(&m);
    CHECK(attach_kind(VMW_RING_KIND_BYTES, name) == VMW_RING_ECORRUPT);
    CHECK(strstr(vmw_ring_error_detail(), "multiples of 8") != NULL);
    vmw_ring_unlink(name);

    make_ring(VMW_RING_KIND_SLOT, name); /* counters are statistics: a skewed one is no damage */
    m = map_segment(name);
    atomic_store(&m.h->popped, atomic_load(&m.h->tail) + 1);
    unmap(&m);
    CHECK(attach_kind(VMW_RING_KIND_SLOT, name) == VMW_RING_OK);
    vmw_ring_unlink(name);

    uint64_t bad_seqs[4] = {12345, 2, 1ull << 62, 0 | ABANDONED};
    for (int i = 0; i < 4; i++) {
        make_ring(VMW_RING_KIND_MPMC, name);
        m = map_segment(name);
        uint64_t stride = vmw_mpmc_stride(m.h->slot_size);
        /* tail 5, head 11: cell 2 holds position 10 (published), so 11; 3 (position 2 taken, not
         * freed) or 10 (free) would be possible, the values below are not */
        atomic_store((_Atomic uint64_t *)(m.data + 2 * stride), bad_seqs[i]);
        unmap(&m);
        CHECK(attach_kind(VMW_RING_KIND_MPMC, name) == VMW_RING_ECORRUPT);
        CHECK(strstr(vmw_ring_error_detail(), "cell 2: sequence") != NULL);
        vmw_ring_unlink(name);
    }

    make_ring(VMW_RING_KIND_MPMC, name);
    m = map_segment(name);
    atomic_store(&m.h->producers[3].intent, atomic_load(&m.h->head) + 1);
    unmap(&m);
    CHECK(attach_kind(VMW_RING_KIND_MPMC, name) == VMW_RING_ECORRUPT);
    CHECK(strstr(vmw_ring_error_detail(), "producers[3]") != NULL);
    m = map_segment(name);
    atomic_store(&m.h->producers[3].intent, VMW_POS_IDLE);
    atomic_store(&m.h->consumers[5].pid, -4);
    unmap(&m);
    CHECK(attach_kind(VMW_RING_KIND_MPMC, name) == VMW_RING_ECORRUPT);
    CHECK(strstr(vmw_ring_error_detail(), "consumers[5]: pid=-4") != NULL);
    vmw_ring_unlink(name);
}

/* Indices damaged after attach: each operation refuses, the fault sticks, waits return. */
static void test_slot_runtime(void) {
    const char *name = tname("slotrt");
    make_ring(VMW_RING_KIND_SLOT, name);
    vmw_slot_ring *p = NULL, *c = NULL, *w = NULL;
    CHECK(vmw_slot_ring_attach(name, &p) == VMW_RING_OK);
    CHECK(vmw_slot_ring_attach(name, &c) == VMW_RING_OK);
    CHECK(vmw_slot_ring_attach(name, &w) == VMW_RING_OK);
    mapped m = map_segment(name);
    uint64_t head = atomic_load(&m.h->head);
    atomic_store(&m.h->head, head + (1ull << 62));
    char buf[16 * 64];
    const void *ptr;
    CHECK(vmw_slot_ring_push_n(p, buf, 64) == 0);
    CHECK(vmw_slot_ring_last_error(p) == VMW_RING_ECORRUPT);
    CHECK(strstr(vmw_slot_ring_error_detail(p), "head - tail") != NULL);
    CHECK(vmw_slot_ring_pop_n(c, buf, 64) == 0);
    CHECK(vmw_slot_ring_last_error(c) == VMW_RING_ECORRUPT);
    CHECK(vmw_slot_ring_wait(w, -1) == 1);       /* reads as ready: never sleeps forever */
    CHECK(vmw_slot_ring_wait_space(w, -1) == 1); /* the same for room */
    CHECK(vmw_slot_ring_peek(w, &ptr, 64) == 0 && vmw_slot_ring_last_error(w) == VMW_RING_ECORRUPT);
    CHECK(vmw_slot_ring_release(w, 64) == 1); /* nothing peeked: tail untouched */
    atomic_store(&m.h->head, head);            /* repaired: the handles stay refused (sticky) */
    CHECK(vmw_slot_ring_pop_n(c, buf, 64) == 0 && vmw_slot_ring_last_error(c) == VMW_RING_ECORRUPT);
    CHECK(atomic_load(&m.h->tail) + 6 == head);
    vmw_slot_ring_close(p);
    vmw_slot_ring_close(c);
    vmw_slot_ring_close(w);
    CHECK(vmw_slot_ring_attach(name, &c) == VMW_RING_OK && vmw_slot_ring_pop_n(c, buf, 64) == 6);
    vmw_slot_ring_close(c);
    unmap(&m);
    vmw_ring_unlink(name);

    /* overwrite-oldest: tail beyond head is no race either */
    vmw_slot_ring *r = NULL;
    CHECK(vmw_slot_ring_create(name, 8, 4, VMW_OVERFLOW_OVERWRITE_OLDEST, &r) == VMW_RING_OK);
    CHECK(vmw_slot_ring_push_n(r, buf, 3) == 3);
    m = map_segment(name);
    atomic_store(&m.h->tail, 1000);
    CHECK(vmw_slot_ring_pop_n(r, buf, 4) == 0 && vmw_slot_ring_last_error(r) == VMW_RING_ECORRUPT);
    CHECK(vmw_slot_ring_push_n(r, buf, 4) == 0);
    unmap(&m);
    vmw_slot_ring_close(r);
    vmw_ring_unlink(name);
}

static void test_bytes_runtime(void) {
    const char *name = tname("bytesrt");
    char buf[256] = {0}, out[1024];
    uint32_t lens[16], l20 = 20;
    for (int policy = 0; policy < 2; policy++) {
        /* a record length beyond max_record, at tail */
        vmw_byte_ring *r = NULL;
        CHECK(vmw_byte_ring_create(name, 128, (uint32_t)policy, &r) == VMW_RING_OK);
        CHECK(vmw_byte_ring_push_n(r, buf, &l20, 1) == 1);
        CHECK(vmw_byte_ring_push_n(r, buf, &l20, 1) == 1);
        mapped m = map_segment(name);
        uint32_t huge = 0x7fffffffu;
        memcpy(m.data + (atomic_load(&m.h->tail) & 127), &huge, 4);
        const void *ptr;
        uint32_t len;
        CHECK(vmw_byte_ring_peek(r, &ptr, &len) == 0 && vmw_byte_ring_last_error(r) == VMW_RING_ECORRUPT);
        CHECK(strstr(vmw_byte_ring_error_detail(r), "length field 2147483647") != NULL);
        CHECK(vmw_byte_ring_release(r) == 0);
        vmw_byte_ring_close(r);
        CHECK(vmw_byte_ring_attach(name, &r) == VMW_RING_OK); /* header fine; the record is found on use */
        CHECK(vmw_byte_ring_pop_n(r, out, sizeof out, lens, 16) == 0);
        CHECK(vmw_byte_ring_last_error(r) == VMW_RING_ECORRUPT);
        CHECK(vmw_byte_ring_wait(r, -1) == 1);
        vmw_byte_ring_close(r);
        /* the producer walks the same records to overwrite them: it refuses too */
        CHECK(vmw_byte_ring_attach(name, &r) == VMW_RING_OK);
        uint32_t l50[3] = {50, 50, 50};
        /* the first fits; making room for the second means passing the damaged record */
        CHECK(vmw_byte_ring_push_n(r, buf, l50, 3) == 1);
        CHECK(vmw_byte_ring_last_error(r) == (policy ? VMW_RING_ECORRUPT : 0));
        vmw_byte_ring_close(r);
        /* a record that ends beyond head */
        memcpy(m.data + (atomic_load(&m.h->tail) & 127), &l20, 4);
        uint64_t tail = atomic_load(&m.h->tail);
        atomic_store(&m.h->head, tail + 16);
        CHECK(vmw_byte_ring_attach(name, &r) == VMW_RING_OK);
        CHECK(vmw_byte_ring_pop_n(r, out, sizeof out, lens, 16) == 0);
        CHECK(vmw_byte_ring_last_error(r) == VMW_RING_ECORRUPT);
        vmw_byte_ring_close(r);
        /* a wrap marker at offset 0 (it would jump a whole lap) and a misaligned head */
        atomic_store(&m.h->tail, 128);
        atomic_store(&m.h->head, 160);
        uint32_t mark = WRAP_MARK;
        memcpy(m.data, &mark, 4);
        CHECK(vmw_byte_ring_attach(name, &r) == VMW_RING_OK);
        CHECK(vmw_byte_ring_pop_n(r, out, sizeof out, lens, 16) == 0);
        CHECK(vmw_byte_ring_last_error(r) == VMW_RING_ECORRUPT);
        vmw_byte_ring_close(r);
        CHECK(vmw_byte_ring_attach(name, &r) == VMW_RING_OK);
        atomic_store(&m.h->head, 164);
        CHECK(vmw_byte_ring_reserve(r, 8) == NULL && vmw_byte_ring_last_error(r) == VMW_RING_ECORRUPT);
        vmw_byte_ring_commit(r, 8); /* no reservation: ignored */
        CHECK(atomic_load(&m.h->head) == 164);
        vmw_byte_ring_close(r);
        unmap(&m);
        vmw_ring_unlink(name);
    }
}

static void test_mpmc_runtime(void) {
    const char *name = tname("mpmcrt");
    char buf[16 * 16];
    for (int where = 0; where < 4; where++) {
        make_ring(VMW_RING_KIND_MPMC, name); /* tail 5, head 11, capacity 8 */
        vmw_mpmc_ring *r = NULL;
        CHECK(vmw_mpmc_ring_attach(name, &r) == VMW_RING_OK);
        mapped m = map_segment(name);
        uint64_t stride = vmw_mpmc_stride(m.h->slot_size);
        uint64_t tail = atomic_load(&m.h->tail), head = atomic_load(&m.h->head);
        _Atomic uint64_t *at_tail = (_Atomic uint64_t *)(m.data + (tail & 7) * stride);
        _Atomic uint64_t *at_head = (_Atomic uint64_t *)(m.data + (head & 7) * stride);
        size_t got;
        switch (where) {
        case 0: /* behind at tail by an impossible amount: consumers refuse */
            atomic_store(at_tail, tail - 3);
            got = vmw_mpmc_ring_pop_n(r, buf, 16);
            CHECK(got == 0 && vmw_mpmc_ring_last_error(r) == VMW_RING_ECORRUPT);
            break;
        case 1: /* ahead at tail while tail stays: the claim loop would spin forever */
            atomic_store(at_tail, tail + 5 * 8);
            got = vmw_mpmc_ring_pop_n(r, buf, 16);
            CHECK(got == 0 && vmw_mpmc_ring_last_error(r) == VMW_RING_ECORRUPT);
            CHECK(vmw_mpmc_ring_wait(r, -1) == 1);
            break;
        case 2: /* impossible cell at head: producers refuse, and wait_space does not sleep */
            atomic_store(at_head, head - 5);
            CHECK(vmw_mpmc_ring_wait_space(r, -1) == 1);
            CHECK(vmw_mpmc_ring_push_n(r, buf, 1) == 0 && vmw_mpmc_ring_last_error(r) == VMW_RING_ECORRUPT);
            CHECK(strstr(vmw_mpmc_ring_error_detail(r), "sequence") != NULL);
            break;
        case 3: /* head far ahead: recover() and everything else refuse without scanning 2^62 cells */
            atomic_store(&m.h->head, head + (1ull << 62));
            CHECK(vmw_mpmc_ring_recover(r) == 0 && vmw_mpmc_ring_last_error(r) == VMW_RING_ECORRUPT);
            CHECK(vmw_mpmc_ring_push_n(r, buf, 4) == 0);
            break;
        }
        vmw_mpmc_ring_close(r);
        unmap(&m);
        vmw_ring_unlink(name);
    }
}

int main(void) {
    test_each_header_field();
    test_kind_specific_fields();
    test_slot_runtime();
    test_bytes_runtime();
    test_mpmc_runtime();
    if (failures) {
        fprintf(stderr, "test_ring_corrupt: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_ring_corrupt: ok\n");
    return 0;
}
