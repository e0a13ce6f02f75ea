/* Unit tests of the rings (run plain and under ASan+UBSan): wrap-around, full,
 * empty, both overflow policies, zero-copy peek/reserve, layout refusal, waits,
 * MPMC recovery of a dead participant, and a threaded overwrite-oldest check
 * that no torn record is ever returned. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/wait.h>

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

static char name_buf[64];
static const char *tname(const char *base) {
    snprintf(name_buf, sizeof name_buf, "vmw_test_%s_%d", base, (int)getpid());
    return name_buf;
}

static void test_slot_basic(void) {
    const char *name = tname("slot");
    vmw_slot_ring *r = NULL;
    CHECK(vmw_slot_ring_create(name, 8, 5, VMW_OVERFLOW_REJECT_NEWEST, &r) == VMW_RING_OK);
    CHECK(vmw_slot_ring_capacity(r) == 8);
    uint64_t in[20], out[20];
    for (int i = 0; i < 20; i++) in[i] = 1000 + i;
    uint64_t next_out = 1000;
    size_t next_in = 0;
    /* push 5, pop 3 repeatedly: head and tail wrap many times */
    for (int round = 0; next_in + 5 <= 20; round++) {
        CHECK(vmw_slot_ring_push_n(r, in + next_in, 5) == 5);
        next_in += 5;
        size_t got = vmw_slot_ring_pop_n(r, out, 3);
        CHECK(got == 3);
        for (size_t i = 0; i < got; i++) CHECK(out[i] == next_out++);
        if (round % 2) { /* leave 2 behind every other round so the indexes drift */
            got = vmw_slot_ring_pop_n(r, out, 20);
            for (size_t i = 0; i < got; i++) CHECK(out[i] == next_out++);
        }
    }
    size_t got = vmw_slot_ring_pop_n(r, out, 20);
    for (size_t i = 0; i < got; i++) CHECK(out[i] == next_out++);
    CHECK(next_out == 1020);
    CHECK(vmw_slot_ring_pop_n(r, out, 20) == 0);
    /* full: reject-newest accepts only the room */
    CHECK(vmw_slot_ring_push_n(r, in, 20) == 8);
    CHECK(vmw_slot_ring_size(r) == 8);
    vmw_ring_stats st;
    vmw_slot_ring_stats(r, &st);
    CHECK(st.dropped == 12 && st.high_water == 8 && st.capacity == 8);
    /* zero-copy peek is contiguous up to the end of the buffer */
    const void *p;
    size_t n = vmw_slot_ring_peek(r, &p, 100);
    CHECK(n >= 1 && n <= 8);
    CHECK(((const uint64_t *)p)[0] == 1000);
    CHECK(vmw_slot_ring_release(r, n) == 1);
    CHECK(vmw_slot_ring_size(r) == 8 - n);
    CHECK(vmw_slot_ring_wait(r, 0) == 1);
    vmw_slot_ring_pop_n(r, out, 20);
    CHECK(vmw_slot_ring_wait(r, 1000000) == 0); /* 1 ms timeout, empty */
    vmw_slot_ring_close(r);
    CHECK(vmw_ring_unlink(name) == VMW_RING_OK);
}

static void test_slot_overwrite(void) {
    const char *name = tname("slotow");
    vmw_slot_ring *r = NULL;
    CHECK(vmw_slot_ring_create(name, 8, 4, VMW_OVERFLOW_OVERWRITE_OLDEST, &r) == VMW_RING_OK);
    uint64_t in[10], out[10];
    for (int i = 0; i < 10; i++) in[i] = (uint64_t)i;
    CHECK(vmw_slot_ring_push_n(r, in, 3) == 3);
    CHECK(vmw_slot_ring_push_n(r, in + 3, 3) == 3); /* drops 0, 1 */
    CHECK(vmw_slot_ring_pop_n(r, out, 10) == 4);
    CHECK(out[0] == 2 && out[3] == 5);
    CHECK(vmw_slot_ring_push_n(r, in, 10) == 10); /* only 6..9 survive */
    CHECK(vmw_slot_ring_pop_n(r, out, 10) == 4);
    CHECK(out[0] == 6 && out[3] == 9);
    vmw_ring_stats st;
    vmw_slot_ring_stats(r, &st);
    CHECK(st.dropped == 2 + 6);
    /* a peek overwritten before release reports it */
    CHECK(vmw_slot_ring_push_n(r, in, 2) == 2);
    const void *p;
    CHECK(vmw_slot_ring_peek(r, &p, 2) == 2);
    CHECK(vmw_slot_ring_push_n(r, in, 4) == 4);
    CHECK(vmw_slot_ring_release(r, 2) == 0);
    vmw_slot_ring_close(r);
    vmw_ring_unlink(name);
}

static void test_bytes(void) {
    const char *name = tname("bytes");
    vmw_byte_ring *r = NULL;
    CHECK(vmw_byte_ring_create(name, 100, VMW_OVERFLOW_REJECT_NEWEST, &r) == VMW_RING_OK);
    CHECK(vmw_byte_ring_capacity(r) == 128);
    CHECK(vmw_byte_ring_max_record(r) == 56);
    CHECK(vmw_byte_ring_reserve(r, 57) == NULL);
    char buf[256], out[256];
    uint32_t lens[16];
    for (int i = 0; i < 256; i++) buf[i] = (char)i;
    /* records of 0..20 bytes pushed and popped one by one wrap the buffer many times */
    for (uint32_t i = 0; i < 200; i++) {
        uint32_t len = i % 21;
        CHECK(vmw_byte_ring_push_n(r, buf + (i % 7), &len, 1) == 1);
        CHECK(vmw_byte_ring_pop_n(r, out, sizeof out, lens, 4) == 1);
        CHECK(lens[0] == len && memcmp(out, buf + (i % 7), len) == 0);
    }
    /* zero-copy reserve/commit and peek/release */
    char *w = vmw_byte_ring_reserve(r, 40);
    CHECK(w != NULL);
    memcpy(w, "hello", 5);
    vmw_byte_ring_commit(r, 5);
    const void *p;
    uint32_t len = 0;
    CHECK(vmw_byte_ring_peek(r, &p, &len) == 1 && len == 5 && memcmp(p, "hello", 5) == 0);
    CHECK(vmw_byte_ring_release(r) == 1);
    CHECK(vmw_byte_ring_peek(r, &p, &len) == 0);
    /* full under reject-newest */
    uint32_t l50[4] = {50, 50, 50, 50};
    CHECK(vmw_byte_ring_push_n(r, buf, l50, 4) == 2);
    vmw_ring_stats st;
    vmw_byte_ring_stats(r, &st);
    CHECK(st.dropped == 2 && st.size == 2);
    vmw_byte_ring_close(r);
    vmw_ring_unlink(name);

    CHECK(vmw_byte_ring_create(name, 128, VMW_OVERFLOW_OVERWRITE_OLDEST, &r) == VMW_RING_OK);
    for (uint32_t i = 0; i < 10; i++) {
        uint32_t l = 30;
        buf[0] = (char)i;
        CHECK(vmw_byte_ring_push_n(r, buf, &l, 1) == 1);
    }
    size_t n = vmw_byte_ring_pop_n(r, out, sizeof out, lens, 16);
    CHECK(n >= 2 && n <= 3);
    CHECK(out[(n - 1) * 30] == 9); /* the newest survives */
    vmw_byte_ring_close(r);
    vmw_ring_unlink(name);
}

static void test_layout_errors(void) {
    const char *name = tname("layout");
    vmw_slot_ring *s = NULL;
    vmw_mpmc_ring *m = NULL;
    CHECK(vmw_slot_ring_attach(name, &s) == VMW_RING_ENOENT);
    CHECK(vmw_slot_ring_create("bad/name", 8, 8, 0, &s) == VMW_RING_EINVAL);
    CHECK(vmw_slot_ring_create(name, 0, 8, 0, &s) == VMW_RING_EINVAL);
    CHECK(vmw_slot_ring_create(name, 8, 8, 7, &s) == VMW_RING_EINVAL);
    CHECK(vmw_slot_ring_create(name, 8, 8, 0, &s) == VMW_RING_OK);
    CHECK(vmw_mpmc_ring_attach(name, &m) == VMW_RING_EKIND);
    vmw_slot_ring *again = NULL;
    CHECK(vmw_slot_ring_create(name, 8, 8, 0, &again) == VMW_RING_EEXIST);
    vmw_slot_ring_close(s);
    /* corrupt: wrong version, then wrong size, then garbage */
    char path[80];
    snprintf(path, sizeof path, "/%s", name);
    int fd = shm_open(path, O_RDWR, 0);
    CHECK(fd >= 0);
    vmw_ring_header *h = mmap(NULL, sizeof *h, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    h->layout_version = 99;
    CHECK(vmw_slot_ring_attach(name, &s) == VMW_RING_EVERSION);
    h->layout_version = VMW_RING_LAYOUT_VERSION;
    CHECK(ftruncate(fd, (off_t)h->total_size + 4096) == 0);
    CHECK(vmw_slot_ring_attach(name, &s) == VMW_RING_ESIZE);
    atomic_store(&h->magic, 12345);
    CHECK(vmw_slot_ring_attach(name, &s) == VMW_RING_EMAGIC);
    munmap(h, sizeof *h);
    close(fd);
    vmw_ring_unlink(name);
}

static void test_stale_reclaim(void) {
    const char *name = tname("stale");
    pid_t child = fork();
    if (child == 0) {
        vmw_slot_ring *r = NULL;
        _exit(vmw_slot_ring_create(name, 8, 8, 0, &r) == VMW_RING_OK ? 0 : 1);
    }
    int status = 0;
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    vmw_ring_info info;
    CHECK(vmw_ring_info_read(name, &info) == VMW_RING_OK);
    CHECK(info.creator_pid == child && info.creator_alive == 0);
    vmw_slot_ring *r = NULL;
    CHECK(vmw_slot_ring_create(name, 16, 8, 0, &r) == VMW_RING_OK); /* reclaimed */
    CHECK(vmw_slot_ring_slot_size(r) == 16);
    vmw_slot_ring_close(r);
    vmw_ring_unlink(name);
}

static void test_mpmc_basic_and_recover(void) {
    const char *name = tname("mpmc");
    vmw_mpmc_ring *r = NULL;
    CHECK(vmw_mpmc_ring_create(name, 16, 8, VMW_OVERFLOW_REJECT_NEWEST, &r) == VMW_RING_OK);
    char in[16 * 12], out[16 * 12];
    for (int i = 0; i < 12; i++) memset(in + 16 * i, 'a' + i, 16);
    CHECK(vmw_mpmc_ring_push_n(r, in, 12) == 8);
    CHECK(vmw_mpmc_ring_pop_n(r, out, 5) == 5);
    CHECK(memcmp(out, in, 16 * 5) == 0);
    CHECK(vmw_mpmc_ring_push_n(r, in + 16 * 8, 4) == 4);
    CHECK(vmw_mpmc_ring_pop_n(r, out, 12) == 7);
    CHECK(out[0] == 'f' && out[16 * 6] == 'l');
    /* a child claims a cell and dies before publishing: recover() abandons it */
    pid_t child = fork();
    if (child == 0) {
        vmw_mpmc_ring *c = NULL;
        if (vmw_mpmc_ring_attach(name, &c)) _exit(1);
        vmw_ring_header *h = *(vmw_ring_header **)c; /* handle starts with its vmw_shm */
        vmw_mpmc_ring_push_n(c, in, 1);              /* registers producer entry */
        uint64_t pos = atomic_load(&h->head);
        for (int i = 0; i < 32; i++)
            if (atomic_load(&h->producers[i].pid) == getpid()) atomic_store(&h->producers[i].intent, pos);
        atomic_store(&h->head, pos + 1); /* claimed, never published */
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(vmw_mpmc_ring_push_n(r, in + 16 * 2, 1) == 1);
    CHECK(vmw_mpmc_ring_pop_n(r, out, 12) == 1); /* the child's published record */
    CHECK(vmw_mpmc_ring_pop_n(r, out, 12) == 0); /* stuck behind the dead claim */
    CHECK(vmw_mpmc_ring_recover(r) == 1);
    CHECK(vmw_mpmc_ring_pop_n(r, out, 12) == 1); /* ours, after the abandoned cell */
    CHECK(out[0] == 'c');
    vmw_ring_stats st;
    vmw_mpmc_ring_stats(r, &st);
    CHECK(st.dropped == 4 + 1);
    vmw_mpmc_ring_close(r);
    vmw_ring_unlink(name);
}

/* a child takes a cell as consumer and dies before freeing it: producers would block on it */
static void test_mpmc_dead_consumer(void) {
    const char *name = tname("mpmcdc");
    vmw_mpmc_ring *r = NULL;
    CHECK(vmw_mpmc_ring_create(name, 8, 4, VMW_OVERFLOW_REJECT_NEWEST, &r) == VMW_RING_OK);
    uint64_t in[4] = {1, 2, 3, 4}, out[4];
    CHECK(vmw_mpmc_ring_push_n(r, in, 4) == 4);
    pid_t child = fork();
    if (child == 0) {
        vmw_mpmc_ring *c = NULL;
        if (vmw_mpmc_ring_attach(name, &c)) _exit(1);
        vmw_ring_header *h = *(vmw_ring_header **)c;
        uint64_t tmp;
        vmw_mpmc_ring_pop_n(c, &tmp, 1); /* registers the consumer entry, takes record 1 */
        uint64_t pos = atomic_load(&h->tail);
        for (int i = 0; i < 32; i++)
            if (atomic_load(&h->consumers[i].pid) == getpid()) atomic_store(&h->consumers[i].intent, pos);
        atomic_store(&h->tail, pos + 1); /* took record 2, never frees its cell */
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(vmw_mpmc_ring_pop_n(r, out, 4) == 2 && out[0] == 3 && out[1] == 4);
    CHECK(vmw_mpmc_ring_push_n(r, in, 4) == 1);     /* the dead consumer's cell blocks the rest */
    CHECK(vmw_mpmc_ring_recover(r) == 1);
    CHECK(vmw_mpmc_ring_push_n(r, in + 1, 3) == 3); /* free again */
    CHECK(vmw_mpmc_ring_pop_n(r, out, 4) == 4 && out[0] == 1 && out[3] == 4);
    vmw_ring_stats st;
    vmw_mpmc_ring_stats(r, &st);
    CHECK(st.dropped == 1 + 3); /* record 2, lost with the consumer; 3 refused pushes */
    vmw_mpmc_ring_close(r);
    vmw_ring_unlink(name);
}

/* a handle used across fork: the child registers its own entry, the parent's stays */
static void test_mpmc_fork_registers_anew(void) {
    const char *name = tname("mpmcfork");
    vmw_mpmc_ring *r = NULL;
    CHECK(vmw_mpmc_ring_create(name, 8, 8, VMW_OVERFLOW_REJECT_NEWEST, &r) == VMW_RING_OK);
    uint64_t v = 7;
    CHECK(vmw_mpmc_ring_push_n(r, &v, 1) == 1);
    vmw_ring_header *h = *(vmw_ring_header **)r;
    pid_t parent = getpid();
    pid_t child = fork();
    if (child == 0) {
        int ok = vmw_mpmc_ring_push_n(r, &v, 1) == 1;
        int mine = 0, parents = 0;
        for (int i = 0; i < 32; i++) {
            mine += atomic_load(&h->producers[i].pid) == getpid();
            parents += atomic_load(&h->producers[i].pid) == parent;
        }
        _exit(ok && mine == 1 && parents == 1 ? 0 : 1);
    }
    int status;
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(vmw_mpmc_ring_size(r) == 2);
    vmw_mpmc_ring_close(r);
    vmw_ring_unlink(name);
}

/* overwrite-oldest with a concurrent consumer: every record popped is whole and in order */
static vmw_slot_ring *ow_ring;
static _Atomic int ow_done;
static void *ow_producer(void *arg) {
    uint64_t rec[4];
    for (uint64_t i = 1; i <= 300000; i++) {
        for (int k = 0; k < 4; k++) rec[k] = i * 4 + (uint64_t)k;
        vmw_slot_ring_push_n(ow_ring, rec, 1);
    }
    atomic_store(&ow_done, 1);
    return arg;
}

static void test_overwrite_threads(void) {
    const char *name = tname("owthr");
    CHECK(vmw_slot_ring_create(name, 32, 16, VMW_OVERFLOW_OVERWRITE_OLDEST, &ow_ring) == VMW_RING_OK);
    pthread_t t;
    pthread_create(&t, NULL, ow_producer, NULL);
    uint64_t buf[4 * 8], last = 0, got = 0;
    int bad = 0;
    for (;;) {
        int done = atomic_load(&ow_done);
        size_t n = vmw_slot_ring_pop_n(ow_ring, buf, 8);
        for (size_t j = 0; j < n; j++) {
            uint64_t *rec = buf + 4 * j;
            uint64_t i = rec[0] / 4;
            for (int k = 0; k < 4; k++) bad |= rec[k] != i * 4 + (uint64_t)k;
            bad |= i <= last;
            last = i;
        }
        got += n;
        if (done && n == 0) break;
    }
    pthread_join(t, NULL);
    CHECK(!bad);
    vmw_ring_stats st;
    vmw_slot_ring_stats(ow_ring, &st);
    CHECK(st.popped == got && st.pushed == 300000 && got + st.dropped == 300000);
    vmw_slot_ring_close(ow_ring);
    vmw_ring_unlink(name);
}

int main(void) {
    test_slot_basic();
    test_slot_overwrite();
    test_bytes();
    test_layout_errors();
    test_stale_reclaim();
    test_mpmc_basic_and_recover();
    test_mpmc_dead_consumer();
    test_mpmc_fork_registers_anew();
    test_overwrite_threads();
    if (failures) {
        fprintf(stderr, "test_ring: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_ring: ok\n");
    return 0;
}
