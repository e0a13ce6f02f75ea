/* Named POSIX shared-memory segments that hold a ring: create (reclaiming a
 * segment whose creator died), attach with validation, process liveness. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmw_ring.h"
#include "vmw_ring_check.h"
#include "vmw_shm.h"

_Static_assert(sizeof(vmw_ring_header) % VMW_CACHELINE == 0, "header must end on a cache line");

/* POSIX wants "/name"; accept names with or without the slash, nothing else. */
static int shm_path(const char *name, char *buf, size_t cap) {
    if (!name || !*name) return VMW_RING_EINVAL;
    const char *n = name[0] == '/' ? name + 1 : name;
    if (!*n || strchr(n, '/') || strlen(n) + 2 > cap || strlen(n) > 250) return VMW_RING_EINVAL;
    snprintf(buf, cap, "/%s", n);
    return VMW_RING_OK;
}

static size_t header_span(void) {
    return (sizeof(vmw_ring_header) + 4095u) & ~(size_t)4095u;
}

uint64_t vmw_proc_start_ticks(pid_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    if (!p || p[1] != ' ') return 0;
    p += 2;
    char state = *p;
    if (state == 'Z' || state == 'X' || state == 'x') return 0;
    /* after ')' come fields 3..; starttime is field 22 */
    int field = 3;
    while (*p && field < 22) {
        if (*p == ' ') field++;
        p++;
    }
    unsigned long long ticks = 0;
    if (sscanf(p, "%llu", &ticks) != 1) return 0;
    return ticks ? (uint64_t)ticks : 1;
}

int vmw_proc_alive(pid_t pid, uint64_t start_ticks) {
    if (pid <= 0) return 0;
    uint64_t now = vmw_proc_start_ticks(pid);
    if (now == 0) return 0;
    return start_ticks == 0 || now == start_ticks;
}

/* One mapping per segment per process, shared by every handle of it: a page mapped twice counts
 * twice in RSS, and a process whose producer and consumer threads each open a ring (the runtime's
 * threads mode) would hold each ring 2-3 times. Keyed by the file's (device, inode), so a segment
 * unlinked and created again under the same name gets a mapping of its own. */
typedef struct shared_map {
    dev_t dev;
    ino_t ino;
    void *base;
    size_t size;
    unsigned refs;
    struct shared_map *next;
} shared_map;

static shared_map *shared_maps;
static pthread_mutex_t shared_maps_lock = PTHREAD_MUTEX_INITIALIZER;

/* mmap(fd) for `size` bytes, or the process's existing mapping of the same file and size. */
static void *map_shared(int fd, size_t size) {
    struct stat st;
    if (fstat(fd, &st) != 0) return MAP_FAILED;
    pthread_mutex_lock(&shared_maps_lock);
    for (shared_map *m = shared_maps; m; m = m->next) {
        if (m->dev == st.st_dev && m->ino == st.st_ino && m->size == size) {
            m->refs++;
            pthread_mutex_unlock(&shared_maps_lock);
            return m->base;
        }
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    shared_map *m = p == MAP_FAILED ? NULL : malloc(sizeof *m);
    if (m) {
        *m = (shared_map){st.st_dev, st.st_ino, p, size, 1, shared_maps};
        shared_maps = m;
    } else if (p != MAP_FAILED) {
        munmap(p, size);
        p = MAP_FAILED;
        errno = ENOMEM;
    }
    pthread_mutex_unlock(&shared_maps_lock);
    return p;
}

/* Drop one reference; the last one unmaps. */
static void unmap_shared(void *base, size_t size) {
    pthread_mutex_lock(&shared_maps_lock);
    for (shared_map **at = &shared_maps; *at; at = &(*at)->next) {
        shared_map *m = *at;
        if (m->base != base) continue;
        if (--m->refs == 0) {
            *at = m->next;
            munmap(m->base, m->size);
            free(m);
        }
        pthread_mutex_unlock(&shared_maps_lock);
        return;
    }
    pthread_mutex_unlock(&shared_maps_lock);
    munmap(base, size); /* not ours (cannot happen): still release it */
}

static int map_fd(int fd, size_t size, vmw_shm *out) {
    void *p = map_shared(fd, size);
    if (p == MAP_FAILED) return VMW_RING_ESYS;
    out->hdr = p;
    out->map_size = size;
    out->data = (unsigned char *)p + header_span(); /* not the header's data_offset: it is shared */
    return VMW_RING_OK;
}

static int is_pow2(uint64_t v) { return v && !(v & (v - 1)); }

#define REFUSE(...) vmw_fault_set(vmw_attach_fault(), VMW_RING_ECORRUPT, __VA_ARGS__)

/* Every field of a header copy against the kind's limits and the file's size. */
static int check_header(const vmw_ring_header *h, uint64_t magic, uint32_t kind, uint64_t file_size) {
    vmw_fault *f = vmw_attach_fault();
    if (magic != VMW_RING_MAGIC)
        return vmw_fault_set(f, VMW_RING_EMAGIC, "header field magic=0x%016llx, a ring has 0x%016llx",
                             (unsigned long long)magic, (unsigned long long)VMW_RING_MAGIC);
    if (h->layout_version != VMW_RING_LAYOUT_VERSION)
        return vmw_fault_set(f, VMW_RING_EVERSION, "header field layout_version=%u, this build reads %u",
                             h->layout_version, VMW_RING_LAYOUT_VERSION);
    if (h->kind < VMW_RING_KIND_SLOT || h->kind > VMW_RING_KIND_MPMC)
        return REFUSE("header field kind=%u is not a ring kind (1 slot, 2 bytes, 3 mpmc)", h->kind);
    if (kind && h->kind != kind)
        return vmw_fault_set(f, VMW_RING_EKIND, "header field kind=%u, wanted %u", h->kind, kind);
    if (h->overflow > VMW_OVERFLOW_OVERWRITE_OLDEST)
        return REFUSE("header field overflow=%u is not a policy (0 reject-newest, 1 overwrite-oldest)",
                      h->overflow);
    uint64_t cap = h->capacity, data;
    if (h->kind == VMW_RING_KIND_BYTES) {
        if (h->slot_size != 0) return REFUSE("header field slot_size=%u, a byte ring has 0", h->slot_size);
        if (!is_pow2(cap) || cap < VMW_BYTES_MIN || cap > VMW_DATA_MAX)
            return REFUSE("header field capacity=%llu is not a power of two in %llu..%llu",
                          (unsigned long long)cap, VMW_BYTES_MIN, VMW_DATA_MAX);
        data = cap;
    } else {
        if (h->slot_size == 0 || h->slot_size > VMW_SLOT_SIZE_MAX)
            return REFUSE("header field slot_size=%u outside 1..%u", h->slot_size, VMW_SLOT_SIZE_MAX);
        if (!is_pow2(cap) || cap < 2 || cap > VMW_SLOTS_MAX)
            return REFUSE("header field capacity=%llu is not a power of two in 2..%llu", (unsigned long long)cap,
                          VMW_SLOTS_MAX);
        data = cap * (h->kind == VMW_RING_KIND_MPMC ? vmw_mpmc_stride(h->slot_size) : h->slot_size);
        if (data > VMW_DATA_MAX)
            return REFUSE("header fields capacity=%llu x slot_size=%u exceed the %llu-byte data limit",
                          (unsigned long long)cap, h->slot_size, VMW_DATA_MAX);
    }
    if (h->data_offset != header_span())
        return REFUSE("header field data_offset=%llu, the header takes %zu bytes", (unsigned long long)h->data_offset,
                      header_span());
    uint64_t want = header_span() + data;
    if (h->total_size != want)
        return REFUSE("header field total_size=%llu does not match capacity=%llu x slot_size=%u + %zu-byte "
                      "header = %llu",
                      (unsigned long long)h->total_size, (unsigned long long)cap, h->slot_size, header_span(),
                      (unsigned long long)want);
    if (want != file_size)
        return vmw_fault_set(f, VMW_RING_ESIZE,
                             "header fields capacity=%llu x slot_size=%u + %zu-byte header = %llu bytes do not "
                             "match the segment's size %llu",
                             (unsigned long long)cap, h->slot_size, header_span(), (unsigned long long)want,
                             (unsigned long long)file_size);
    uint64_t hw = atomic_load_explicit(&h->high_water, memory_order_relaxed);
    if (hw > cap)
        return REFUSE("header field high_water=%llu exceeds capacity=%llu", (unsigned long long)hw,
                      (unsigned long long)cap);
    return VMW_RING_OK;
}

/* Is the existing segment `path` left by a dead creator? */
static int segment_is_stale(const char *path) {
    int fd = shm_open(path, O_RDONLY, 0);
    if (fd < 0) return errno == ENOENT; /* vanished: retry the create */
    struct stat st;
    int stale = 0;
    if (fstat(fd, &st) == 0 && (size_t)st.st_size >= sizeof(vmw_ring_header)) {
        vmw_ring_header *h = mmap(NULL, sizeof *h, PROT_READ, MAP_SHARED, fd, 0);
        if (h != MAP_FAILED) {
            /* creator_pid is written first, before anything can go wrong in create */
            if (h->creator_pid > 0) stale = !vmw_proc_alive(h->creator_pid, h->creator_start);
            munmap(h, sizeof *h);
        }
    }
    close(fd);
    return stale;
}

int vmw_shm_create(const char *name, uint32_t kind, uint64_t capacity, uint32_t slot_size, uint32_t overflow,
                   size_t data_size, vmw_shm *out) {
    char path[256];
    vmw_attach_fault_clear();
    int rc = shm_path(name, path, sizeof path);
    if (rc) return rc;
    if (overflow > VMW_OVERFLOW_OVERWRITE_OLDEST) return VMW_RING_EINVAL;
    size_t total = header_span() + data_size;
    int fd = -1;
    for (int attempt = 0; attempt < 3 && fd < 0; attempt++) {
        fd = shm_open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
        if (fd >= 0) break;
        if (errno != EEXIST) return VMW_RING_ESYS;
        if (!segment_is_stale(path)) return VMW_RING_EEXIST;
        shm_unlink(path); /* reclaim the dead run's segment */
    }
    if (fd < 0) return VMW_RING_EEXIST;
    if (ftruncate(fd, (off_t)total) != 0) {
        int e = errno;
        close(fd);
        shm_unlink(path);
        errno = e;
        return VMW_RING_ESYS;
    }
    void *p = map_shared(fd, total);
    close(fd);
    if (p == MAP_FAILED) {
        int e = errno;
        shm_unlink(path);
        errno = e;
        return VMW_RING_ESYS;
    }
    vmw_ring_header *h = p;
    h->creator_pid = (int32_t)getpid();
    h->creator_start = vmw_proc_start_ticks(getpid());
    h->layout_version = VMW_RING_LAYOUT_VERSION;
    h->kind = kind;
    h->capacity = capacity;
    h->slot_size = slot_size;
    h->overflow = overflow;
    h->total_size = total;
    h->data_offset = header_span();
    for (int i = 0; i < 32; i++) {
        atomic_store_explicit(&h->producers[i].intent, VMW_POS_IDLE, memory_order_relaxed);
        atomic_store_explicit(&h->consumers[i].intent, VMW_POS_IDLE, memory_order_relaxed);
    }
    out->hdr = h;
    out->map_size = total;
    out->data = (unsigned char *)p + header_span();
    out->capacity = capacity;
    out->slot_size = slot_size;
    out->overflow = overflow;
    return VMW_RING_OK;
}

void vmw_shm_publish(vmw_shm *s) { atomic_store_explicit(&s->hdr->magic, VMW_RING_MAGIC, memory_order_release); }

int vmw_shm_attach(const char *name, uint32_t kind, vmw_shm *out) {
    char path[256];
    vmw_attach_fault_clear();
    int rc = shm_path(name, path, sizeof path);
    if (rc) return rc;
    int fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) return errno == ENOENT ? VMW_RING_ENOENT : VMW_RING_ESYS;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return VMW_RING_ESYS;
    }
    if ((size_t)st.st_size < header_span()) {
        close(fd);
        if (st.st_size < (off_t)sizeof(uint64_t)) return VMW_RING_EMAGIC;
        return vmw_fault_set(vmw_attach_fault(), VMW_RING_ESIZE,
                             "the segment's size %lld is smaller than the %zu-byte header", (long long)st.st_size,
                             header_span());
    }
    vmw_ring_header *h = mmap(NULL, sizeof *h, PROT_READ, MAP_SHARED, fd, 0);
    if (h == MAP_FAILED) {
        close(fd);
        return VMW_RING_ESYS;
    }
    /* validate a private copy: another process may change the shared header while we look */
    vmw_ring_header copy;
    uint64_t magic = atomic_load_explicit(&h->magic, memory_order_acquire);
    memcpy(&copy, h, sizeof copy);
    munmap(h, sizeof *h);
    rc = check_header(&copy, magic, kind, (uint64_t)st.st_size);
    if (rc == VMW_RING_OK) rc = map_fd(fd, (size_t)st.st_size, out);
    close(fd);
    if (rc == VMW_RING_OK) {
        /* the geometry the kinds rely on is the one just checked, whatever the shared copy says later */
        out->capacity = copy.capacity;
        out->slot_size = copy.slot_size;
        out->overflow = copy.overflow;
    }
    return rc;
}

void vmw_shm_close(vmw_shm *s) {
    if (s->hdr) unmap_shared(s->hdr, s->map_size);
    s->hdr = NULL;
    s->data = NULL;
}

int vmw_ring_unlink(const char *name) {
    char path[256];
    int rc = shm_path(name, path, sizeof path);
    if (rc) return rc;
    if (shm_unlink(path) != 0) return errno == ENOENT ? VMW_RING_ENOENT : VMW_RING_ESYS;
    return VMW_RING_OK;
}

int vmw_ring_info_read(const char *name, vmw_ring_info *out) {
    vmw_shm s;
    int rc = vmw_shm_attach(name, 0, &s);
    if (rc) return rc;
    vmw_ring_header *h = s.hdr;
    out->kind = h->kind;
    out->layout_version = h->layout_version;
    out->capacity = s.capacity;
    out->slot_size = s.slot_size;
    out->overflow = s.overflow;
    out->creator_pid = h->creator_pid;
    out->creator_alive = vmw_proc_alive(h->creator_pid, h->creator_start);
    out->total_size = s.map_size;
    vmw_shm_close(&s);
    return VMW_RING_OK;
}

const char *vmw_ring_strerror(int code) {
    switch (code) {
    case VMW_RING_OK: return "ok";
    case VMW_RING_ENOENT: return "no such shared-memory segment";
    case VMW_RING_EMAGIC: return "not a vehicle_mw ring (bad magic, or its creator died while creating it)";
    case VMW_RING_EVERSION: return "ring written by another layout version";
    case VMW_RING_EKIND: return "ring is of another kind";
    case VMW_RING_ESIZE: return "segment size does not match its ring header";
    case VMW_RING_EEXIST: return "segment exists and its creator is still running";
    case VMW_RING_EINVAL: return "invalid argument (name, capacity, slot size or overflow policy)";
    case VMW_RING_ESYS: return "system call failed";
    case VMW_RING_ESLOTS: return "all MPMC participant entries are taken by live processes";
    case VMW_RING_ECORRUPT: return "corrupt segment";
    default: return "unknown ring error";
    }
}
