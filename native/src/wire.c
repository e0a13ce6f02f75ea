/* SampleColumns protobuf encoding of vmw_sample records; see vmw_wire.h. */
#include "vmw_wire.h"

#include <string.h>

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2 };

static size_t varint_size(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80u) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v) {
    while (v >= 0x80u) {
        *p++ = (uint8_t)(v | 0x80u);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static uint8_t *put_u64le(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) {
        *p++ = (uint8_t)(v >> (8 * i));
    }
    return p;
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

static uint8_t *put_packed_varints(uint8_t *p, unsigned field, const vmw_sample *s, size_t n, field_fn fn,
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
