/* SampleColumns protobuf encoding of vmw_sample records; see vmw_wire.h. */
#include "vmw_wire.h"

#include <string.h>

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2 };

static inline size_t varint_size(uint64_t v) {
    /* bits needed (at least 1), 7 per byte */
    return (size_t)(64 - __builtin_clzll(v | 1u) + 6) / 7u;
}

static inline uint8_t *put_varint(uint8_t *p, uint64_t v) {
    while (v >= 0x80u) {
        *p++ = (uint8_t)(v | 0x80u);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static inline uint8_t *put_u64le(uint8_t *p, uint64_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, &v, 8);
    return p + 8;
#else
    for (int i = 0; i < 8; i++) {
        *p++ = (uint8_t)(v >> (8 * i));
    }
    return p;
#endif
}

static uint64_t f64_bits(double d) {
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double readable(const vmw_sample *s) {
    switch (s->kind) {
    case VMW_VALUE_F64:
        return s->value.f64;
    case VMW_VALUE_U64:
        return (double)s->value.u64;
    default:
        return (double)s->value.i64;
    }
}

static uint64_t zigzag(const vmw_sample *s) {
    int64_t v = s->kind == VMW_VALUE_F64 ? 0 : s->value.i64;
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

/* Which 64-bit value a packed varint field takes from a sample. */
typedef uint64_t (*field_fn)(const vmw_sample *s);
static uint64_t f_signal(const vmw_sample *s) { return s->signal_id; }
static uint64_t f_source(const vmw_sample *s) { return s->source_id; }
static uint64_t f_seq(const vmw_sample *s) { return s->source_seq; }
static uint64_t f_kind(const vmw_sample *s) { return s->kind; }

/* always inlined so that fn is a constant and the per-sample call disappears */
static inline __attribute__((always_inline)) uint8_t *put_packed_varints(uint8_t *p, unsigned field, const vmw_sample *s, size_t n, field_fn fn,
                                   int use_zigzag) {
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        len += varint_size(use_zigzag ? zigzag(&s[i]) : fn(&s[i]));
    }
    p = put_varint(p, (uint64_t)(field << 3 | WT_LEN));
    p = put_varint(p, len);
    for (size_t i = 0; i < n; i++) {
        p = put_varint(p, use_zigzag ? zigzag(&s[i]) : fn(&s[i]));
    }
    return p;
}

size_t vmw_wire_columns_bound(size_t n) {
    /* per sample: 5 + 3 + 8 + 10 + 8 + 1 + 10 bytes; per field: tag + length varint */
    return n * 45u + 7u * 11u;
}

size_t vmw_wire_columns(const vmw_sample *samples, size_t n, uint8_t *out, size_t cap) {
    if (cap < vmw_wire_columns_bound(n)) {
        return 0;
    }
    uint8_t *p = out;
    if (n == 0) {
        return 0;
    }
    int typed = 0;
    for (size_t i = 0; i < n; i++) {
        if (samples[i].kind != VMW_VALUE_F64) {
            typed = 1;
            break;
        }
    }
    p = put_packed_varints(p, 1, samples, n, f_signal, 0);
    p = put_packed_varints(p, 2, samples, n, f_source, 0);
    p = put_varint(p, 3u << 3 | WT_LEN);
    p = put_varint(p, n * 8u);
    for (size_t i = 0; i < n; i++) {
        p = put_u64le(p, samples[i].timestamp_ns);
    }
    p = put_packed_varints(p, 4, samples, n, f_seq, 0);
    p = put_varint(p, 5u << 3 | WT_LEN);
    p = put_varint(p, n * 8u);
    for (size_t i = 0; i < n; i++) {
        p = put_u64le(p, f64_bits(typed ? readable(&samples[i]) : samples[i].value.f64));
    }
    if (typed) {
        p = put_packed_varints(p, 6, samples, n, f_kind, 0);
        p = put_packed_varints(p, 7, samples, n, f_signal, 1);
    }
    (void)WT_I64;
    return (size_t)(p - out);
}

size_t vmw_wire_batch_bound(size_t n) { return vmw_wire_columns_bound(n) + VMW_WIRE_BATCH_HEAD; }

size_t vmw_wire_batch(const vmw_sample *samples, size_t n, uint64_t seq, uint64_t created_ns,
                      uint64_t evicted_before, uint64_t evicted_batches_before, uint8_t *out, size_t cap,
                      size_t *start) {
    /* The columns go first, after room for the largest possible head; the head (whose length
     * varints depend on the columns' size) is then written right in front of them. */
    if (cap < vmw_wire_batch_bound(n)) {
        return 0;
    }
    uint8_t *cols = out + VMW_WIRE_BATCH_HEAD;
    size_t cols_len = vmw_wire_columns(samples, n, cols, cap - VMW_WIRE_BATCH_HEAD);
    uint8_t *tail = cols + cols_len;
    if (evicted_before) {
        tail = put_varint(tail, 6u << 3 | WT_VARINT);
        tail = put_varint(tail, evicted_before);
    }
    if (evicted_batches_before) {
        tail = put_varint(tail, 7u << 3 | WT_VARINT);
        tail = put_varint(tail, evicted_batches_before);
    }
    uint8_t head[VMW_WIRE_BATCH_HEAD];
    uint8_t *h = head;
    size_t batch_len = (size_t)(tail - cols);
    uint8_t inner[40];
    uint8_t *q = inner;
    if (seq) {
        q = put_varint(q, 1u << 3 | WT_VARINT);
        q = put_varint(q, seq);
    }
    q = put_varint(q, 2u << 3 | WT_I64);
    q = put_u64le(q, created_ns);
    q = put_varint(q, 4u << 3 | WT_LEN);
    q = put_varint(q, cols_len);
    size_t inner_len = (size_t)(q - inner);
    h = put_varint(h, 3u << 3 | WT_LEN); /* Uplink.batch */
    h = put_varint(h, inner_len + batch_len);
    memcpy(h, inner, inner_len);
    h += inner_len;
    size_t head_len = (size_t)(h - head);
    *start = VMW_WIRE_BATCH_HEAD - head_len;
    memcpy(out + *start, head, head_len);
    return head_len + batch_len;
}
