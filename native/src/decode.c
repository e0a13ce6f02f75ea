/* Batch CAN signal decoder (see vmw_decode.h for the contract).
 *
 * Bit extraction mirrors cantools/bitstruct: little-endian signals are bits
 * [start, start+length) of the payload read as one little-endian integer;
 * big-endian signals start at their MSB in network order
 * (8*(start/8) + 7 - start%8) and run towards later bytes. Scaling is
 * raw * scale + offset in double precision as Python computes it (two
 * roundings: x86-64 baseline has no FMA, so nothing gets contracted).
 */
#include "vmw_decode.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define UNKNOWN_CAP 4096u /* distinct unknown ids counted individually */
#define KEY_EXT (1ull << 31)
#define KEY_J1939 (1ull << 30)

struct vmw_decoder {
    vmw_dec_message *messages;
    size_t n_messages;
    vmw_dec_signal *signals;
    size_t n_signals;
    int64_t *mux_ids;
    size_t n_mux_ids;
    uint64_t *short_counts; /* per message */
    /* id -> message index + 1, open addressing */
    uint64_t *keys;
    uint32_t *vals;
    size_t mask;
    int has_j1939;
    /* unknown id counters, open addressing */
    uint64_t *unk_keys; /* key + 1 (0 = empty) */
    uint64_t *unk_counts;
    size_t n_unknown_ids;
    size_t max_signals;
    /* per-frame scratch, sized to the largest message */
    uint8_t *present;
    int64_t *muxnum;
    /* zero-padded copy of a reassembled payload (vmw_decode_message), max_len + 9 bytes */
    uint8_t *long_buf;
    size_t max_len;
    vmw_decode_stats stats;
};

static uint64_t mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

static uint64_t message_key(const vmw_dec_message *m)
{
    uint64_t key = ((uint64_t)m->bus_id << 32) | m->can_id;
    if (m->flags & VMW_DEC_MSG_EXTENDED)
        key |= KEY_EXT;
    if (m->flags & VMW_DEC_MSG_J1939)
        key = ((uint64_t)m->bus_id << 32) | KEY_EXT | KEY_J1939 | vmw_j1939_pgn_bits(m->can_id);
    return key;
}

static uint32_t lookup(const vmw_decoder *d, uint64_t key)
{
    size_t i = mix(key) & d->mask;
    for (;;) {
        uint32_t v = d->vals[i];
        if (v == 0)
            return 0;
        if (d->keys[i] == key)
            return v;
        i = (i + 1) & d->mask;
    }
}

static int insert(vmw_decoder *d, uint64_t key, uint32_t value)
{
    size_t i = mix(key) & d->mask;
    while (d->vals[i] != 0) {
        if (d->keys[i] == key)
            return -1; /* duplicate id on the same bus */
        i = (i + 1) & d->mask;
    }
    d->keys[i] = key;
    d->vals[i] = value;
    return 0;
}

static void count_unknown(vmw_decoder *d, uint64_t key)
{
    size_t i = mix(key) & (UNKNOWN_CAP * 2 - 1);
    for (;;) {
        if (d->unk_keys[i] == key + 1) {
            d->unk_counts[i]++;
            return;
        }
        if (d->unk_keys[i] == 0) {
            if (d->n_unknown_ids >= UNKNOWN_CAP) {
                __atomic_store_n(&d->stats.unknown_ids_dropped, d->stats.unknown_ids_dropped + 1,
                                 __ATOMIC_RELAXED);
                return;
            }
            d->unk_keys[i] = key + 1;
            d->unk_counts[i] = 1;
            d->n_unknown_ids++;
            return;
        }
        i = (i + 1) & (UNKNOWN_CAP * 2 - 1);
    }
}

void vmw_decoder_free(vmw_decoder *d)
{
    if (!d)
        return;
    free(d->messages);
    free(d->signals);
    free(d->mux_ids);
    free(d->short_counts);
    free(d->keys);
    free(d->vals);
    free(d->unk_keys);
    free(d->unk_counts);
    free(d->present);
    free(d->muxnum);
    free(d->long_buf);
    free(d);
}

static int valid_tables(const vmw_dec_message *messages, size_t n_messages, const vmw_dec_signal *signals,
                        size_t n_signals, size_t n_mux_ids)
{
    for (size_t m = 0; m < n_messages; m++) {
        const vmw_dec_message *msg = &messages[m];
        if (msg->min_len > VMW_DEC_MAX_MESSAGE || msg->first_signal > n_signals || msg->n_signals > n_signals - msg->first_signal)
            return 0;
        for (uint32_t s = 0; s < msg->n_signals; s++) {
            const vmw_dec_signal *sig = &signals[msg->first_signal + s];
            if (sig->length < 1 || sig->length > 64)
                return 0;
            if ((sig->flags & VMW_DEC_FLOAT) && sig->length != 16 && sig->length != 32 && sig->length != 64)
                return 0;
            if (sig->mux_parent != VMW_DEC_NO_PARENT && sig->mux_parent >= s)
                return 0; /* parents must precede children */
            if (sig->mux_first > n_mux_ids || sig->mux_count > n_mux_ids - sig->mux_first)
                return 0;
            if (sig->flags & VMW_DEC_FROM_ID) { /* a field of the 29-bit id, never multiplexed */
                if ((unsigned)sig->start + sig->length > 29u || (sig->flags & VMW_DEC_FLOAT) ||
                    sig->mux_parent != VMW_DEC_NO_PARENT)
                    return 0;
                continue;
            }
            /* the signal must lie inside min_len bytes */
            unsigned last;
            if (sig->flags & VMW_DEC_BIG_ENDIAN) {
                unsigned msb = 8u * (sig->start / 8u) + 7u - sig->start % 8u;
                last = msb + sig->length - 1u;
            } else {
                last = (unsigned)sig->start + sig->length - 1u;
            }
            if (last / 8u >= msg->min_len)
                return 0;
        }
    }
    return 1;
}

vmw_decoder *vmw_decoder_new(const vmw_dec_message *messages, size_t n_messages, const vmw_dec_signal *signals,
                             size_t n_signals, const int64_t *mux_ids, size_t n_mux_ids)
{
    if (n_messages >= UINT32_MAX || !valid_tables(messages, n_messages, signals, n_signals, n_mux_ids)) {
        errno = EINVAL;
        return NULL;
    }
    vmw_decoder *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    size_t slots = 16;
    while (slots < n_messages * 2)
        slots <<= 1;
    d->mask = slots - 1;
    d->n_messages = n_messages;
    d->n_signals = n_signals;
    d->n_mux_ids = n_mux_ids;
    d->messages = calloc(n_messages ? n_messages : 1, sizeof(*messages));
    d->short_counts = calloc(n_messages ? n_messages : 1, sizeof(uint64_t));
    d->signals = calloc(n_signals ? n_signals : 1, sizeof(*signals));
    d->mux_ids = calloc(n_mux_ids ? n_mux_ids : 1, sizeof(*mux_ids));
    d->keys = calloc(slots, sizeof(uint64_t));
    d->vals = calloc(slots, sizeof(uint32_t));
    d->unk_keys = calloc(UNKNOWN_CAP * 2, sizeof(uint64_t));
    d->unk_counts = calloc(UNKNOWN_CAP * 2, sizeof(uint64_t));
    d->max_len = 64;
    for (size_t m = 0; m < n_messages; m++) {
        if (messages[m].n_signals > d->max_signals)
            d->max_signals = messages[m].n_signals;
        if (messages[m].min_len > d->max_len)
            d->max_len = messages[m].min_len;
    }
    d->present = calloc(d->max_signals ? d->max_signals : 1, 1);
    d->muxnum = calloc(d->max_signals ? d->max_signals : 1, sizeof(int64_t));
    d->long_buf = calloc(d->max_len + 9, 1);
    if (!d->messages || !d->short_counts || !d->signals || !d->mux_ids || !d->keys || !d->vals || !d->unk_keys ||
        !d->unk_counts || !d->present || !d->muxnum || !d->long_buf) {
        vmw_decoder_free(d);
        errno = ENOMEM;
        return NULL;
    }
    if (n_messages)
        memcpy(d->messages, messages, n_messages * sizeof(*messages));
    if (n_signals)
        memcpy(d->signals, signals, n_signals * sizeof(*signals));
    if (n_mux_ids)
        memcpy(d->mux_ids, mux_ids, n_mux_ids * sizeof(*mux_ids));
    for (size_t m = 0; m < n_messages; m++) {
        if (messages[m].flags & VMW_DEC_MSG_J1939)
            d->has_j1939 = 1;
        if (insert(d, message_key(&messages[m]), (uint32_t)m + 1) != 0) {
            vmw_decoder_free(d);
            errno = EEXIST;
            return NULL;
        }
    }
    return d;
}

size_t vmw_decoder_max_samples_per_frame(const vmw_decoder *d)
{
    return d->max_signals;
}

/* Raw bits of one signal from a zero-padded 72-byte copy of the payload. */
static inline uint64_t extract(const uint8_t *buf, const vmw_dec_signal *s)
{
    unsigned len = s->length;
    uint64_t w;

    if (s->flags & VMW_DEC_BIG_ENDIAN) {
        unsigned msb = 8u * (s->start / 8u) + 7u - s->start % 8u;
        unsigned byte0 = msb / 8u, o = msb % 8u;
        memcpy(&w, buf + byte0, 8);
        w = __builtin_bswap64(w) << o;
        if (o + len > 64u)
            w |= (uint64_t)buf[byte0 + 8] >> (8u - o);
        return w >> (64u - len);
    }
    unsigned byte0 = s->start / 8u, shift = s->start % 8u;
    memcpy(&w, buf + byte0, 8);
    w >>= shift;
    if (shift + len > 64u)
        w |= (uint64_t)buf[byte0 + 8] << (64u - shift);
    return len == 64u ? w : (w & ((1ull << len) - 1ull));
}

static double half_to_double(uint16_t h)
{
    unsigned sign = h >> 15, exp = (h >> 10) & 0x1fu, frac = h & 0x3ffu;
    double v;
    if (exp == 0)
        v = (double)frac * (1.0 / 16777216.0); /* subnormal: frac * 2^-24 */
    else if (exp == 31)
        v = frac ? __builtin_nan("") : __builtin_inf();
    else
        v = (double)(frac | 0x400u) * __builtin_ldexp(1.0, (int)exp - 25);
    return sign ? -v : v;
}

/* Fills sample value/kind/flags; returns the multiplexer number (cantools: int(value)). */
static inline int64_t convert(const vmw_dec_signal *s, uint64_t raw, vmw_sample *o)
{
    o->flags = (s->flags & VMW_DEC_CHOICE) ? VMW_SAMPLE_CHOICE : 0;
    if (s->flags & VMW_DEC_FLOAT) {
        double f;
        if (s->length == 64) {
            memcpy(&f, &raw, 8);
        } else if (s->length == 32) {
            uint32_t r32 = (uint32_t)raw;
            float f32;
            memcpy(&f32, &r32, 4);
            f = f32;
        } else {
            f = half_to_double((uint16_t)raw);
        }
        if (!(s->flags & VMW_DEC_IDENTITY)) {
            f = f * s->scale;
            f = f + s->offset;
        }
        o->kind = VMW_VALUE_F64;
        o->value.f64 = f;
        return (f == f && f < 9.2e18 && f > -9.2e18) ? (int64_t)f : 0;
    }
    int is_signed = (s->flags & VMW_DEC_SIGNED) != 0;
    int64_t sraw = 0;
    if (is_signed) {
        unsigned sh = 64u - s->length;
        sraw = (int64_t)(raw << sh) >> sh;
    }
    if (s->flags & VMW_DEC_INT_CONV) {
        if (s->flags & VMW_DEC_IDENTITY) {
            if (is_signed) {
                o->kind = VMW_VALUE_I64;
                o->value.i64 = sraw;
                return sraw;
            }
            o->kind = (s->flags & VMW_DEC_BOOL) ? VMW_VALUE_BOOL : (s->length == 64 ? VMW_VALUE_U64 : VMW_VALUE_I64);
            o->value.u64 = raw;
            return (int64_t)raw;
        }
        __int128 r = is_signed ? (__int128)sraw : (__int128)raw;
        r = r * s->iscale + s->ioffset;
        if (r >= INT64_MIN && r <= INT64_MAX) {
            o->kind = VMW_VALUE_I64;
            o->value.i64 = (int64_t)r;
        } else if (r > 0 && r <= (__int128)UINT64_MAX) {
            o->kind = VMW_VALUE_U64;
            o->value.u64 = (uint64_t)r;
        } else {
            o->kind = VMW_VALUE_F64;
            o->value.f64 = (double)r;
        }
        return (int64_t)r;
    }
    double f = is_signed ? (double)sraw : (double)raw;
    f = f * s->scale;
    f = f + s->offset;
    o->kind = VMW_VALUE_F64;
    o->value.f64 = f;
    return (f == f && f < 9.2e18 && f > -9.2e18) ? (int64_t)f : 0;
}

static int mux_selected(const vmw_decoder *d, const vmw_dec_signal *s, int64_t num)
{
    const int64_t *ids = d->mux_ids + s->mux_first;
    for (uint16_t i = 0; i < s->mux_count; i++)
        if (ids[i] == num)
            return 1;
    return 0;
}

/* Stats are counted in a local copy and published with relaxed atomic stores,
 * so another thread may read them (vmw_decoder_stats) while this one decodes. */
static void publish_stats(vmw_decoder *d, const vmw_decode_stats *st)
{
    __atomic_store_n(&d->stats.frames, st->frames, __ATOMIC_RELAXED);
    __atomic_store_n(&d->stats.decoded, st->decoded, __ATOMIC_RELAXED);
    __atomic_store_n(&d->stats.samples, st->samples, __ATOMIC_RELAXED);
    __atomic_store_n(&d->stats.unknown, st->unknown, __ATOMIC_RELAXED);
    __atomic_store_n(&d->stats.too_short, st->too_short, __ATOMIC_RELAXED);
    __atomic_store_n(&d->stats.error_frames, st->error_frames, __ATOMIC_RELAXED);
    __atomic_store_n(&d->stats.remote, st->remote, __ATOMIC_RELAXED);
    __atomic_store_n(&d->stats.unknown_ids_dropped, st->unknown_ids_dropped, __ATOMIC_RELAXED);
    __atomic_store_n(&d->stats.diverted, st->diverted, __ATOMIC_RELAXED);
}

/* The samples of one message from a zero-padded payload copy (buf); returns samples written. */
static inline size_t emit(vmw_decoder *d, const vmw_dec_message *m, const uint8_t *buf, uint32_t can_id,
                          uint16_t bus_id, uint64_t ts, uint64_t seq, vmw_sample *out)
{
    size_t written = 0;
    const vmw_dec_signal *sigs = d->signals + m->first_signal;
    for (uint32_t s = 0; s < m->n_signals; s++) {
        const vmw_dec_signal *sig = &sigs[s];
        if (sig->mux_parent != VMW_DEC_NO_PARENT &&
            (!d->present[sig->mux_parent] || !mux_selected(d, sig, d->muxnum[sig->mux_parent]))) {
            d->present[s] = 0;
            continue;
        }
        vmw_sample *o = &out[written++];
        o->timestamp_ns = ts;
        o->source_seq = seq;
        o->signal_id = sig->signal_id;
        o->source_id = bus_id;
        uint64_t raw = (sig->flags & VMW_DEC_FROM_ID) ? ((uint64_t)can_id >> sig->start) & ((1ull << sig->length) - 1ull)
                                                      : extract(buf, sig);
        d->muxnum[s] = convert(sig, raw, o);
        d->present[s] = 1;
    }
    return written;
}

static inline uint32_t find_message(const vmw_decoder *d, uint16_t bus_id, int ext, uint32_t can_id, uint64_t *key)
{
    *key = ((uint64_t)bus_id << 32) | (ext ? KEY_EXT : 0) | can_id;
    uint32_t v = lookup(d, *key);
    if (v == 0 && ext && d->has_j1939)
        v = lookup(d, ((uint64_t)bus_id << 32) | KEY_EXT | KEY_J1939 | vmw_j1939_pgn_bits(can_id));
    return v;
}

static inline size_t decode_frames(vmw_decoder *d, const vmw_can_frame *frames, size_t n, vmw_sample *out,
                                   size_t cap, size_t *n_out, uint32_t *divert, size_t divert_cap,
                                   size_t *n_divert)
{
    size_t diverted = 0;
    size_t written = 0, i;
    vmw_decode_stats st = d->stats; /* only this thread writes d->stats */
    uint8_t buf[72];
    memset(buf + 64, 0, 8);
    for (i = 0; i < n; i++) {
        const vmw_can_frame *f = &frames[i];
        if (f->flags & (VMW_FRAME_ERROR | VMW_FRAME_RTR)) {
            st.frames++;
            if (f->flags & VMW_FRAME_ERROR)
                st.error_frames++;
            else
                st.remote++;
            continue;
        }
        uint64_t key;
        uint32_t v = find_message(d, f->bus_id, (f->flags & VMW_FRAME_EXTENDED) != 0, f->can_id, &key);
        if (v != 0 && (d->messages[v - 1].flags & VMW_DEC_MSG_DIVERT)) {
            if (divert) {
                if (diverted == divert_cap)
                    break;
                divert[diverted++] = (uint32_t)i;
                st.frames++;
                st.diverted++;
                continue;
            }
            v = 0; /* without a reassembler, a transport frame is an unknown id */
        }
        if (v == 0) {
            st.frames++;
            st.unknown++;
            count_unknown(d, key);
            continue;
        }
        const vmw_dec_message *m = &d->messages[v - 1];
        if (f->len < m->min_len) {
            st.frames++;
            st.too_short++;
            d->short_counts[v - 1]++;
            continue;
        }
        if (cap - written < m->n_signals)
            break;
        st.frames++;
        st.decoded++;
        memcpy(buf, f->data, 64);
        written += emit(d, m, buf, f->can_id, f->bus_id, f->timestamp_ns, f->seq, out + written);
    }
    st.samples += written;
    st.unknown_ids_dropped = d->stats.unknown_ids_dropped;
    publish_stats(d, &st);
    *n_out = written;
    if (n_divert)
        *n_divert = diverted;
    return i;
}

size_t vmw_decode_frames(vmw_decoder *d, const vmw_can_frame *frames, size_t n, vmw_sample *out, size_t cap,
                         size_t *n_out)
{
    return decode_frames(d, frames, n, out, cap, n_out, NULL, 0, NULL);
}

size_t vmw_decode_frames_ex(vmw_decoder *d, const vmw_can_frame *frames, size_t n, vmw_sample *out, size_t cap,
                            size_t *n_out, uint32_t *divert, size_t divert_cap, size_t *n_divert)
{
    return decode_frames(d, frames, n, out, cap, n_out, divert, divert_cap, n_divert);
}

int vmw_decode_message(vmw_decoder *d, uint16_t bus_id, int extended, uint32_t can_id, const uint8_t *data,
                       size_t len, uint64_t timestamp_ns, uint64_t seq, vmw_sample *out, size_t cap, size_t *n_out)
{
    uint64_t key;
    *n_out = 0;
    uint32_t v = find_message(d, bus_id, extended != 0, can_id & 0x1FFFFFFFu, &key);
    if (v == 0)
        return VMW_DECODE_MSG_UNKNOWN;
    const vmw_dec_message *m = &d->messages[v - 1];
    if (len < m->min_len)
        return VMW_DECODE_MSG_SHORT;
    if (cap < m->n_signals)
        return VMW_DECODE_MSG_NO_ROOM;
    size_t keep = len < d->max_len ? len : d->max_len;
    if (keep)
        memcpy(d->long_buf, data, keep);
    memset(d->long_buf + keep, 0, d->max_len + 9 - keep);
    *n_out = emit(d, m, d->long_buf, can_id & 0x1FFFFFFFu, bus_id, timestamp_ns, seq, out);
    return VMW_DECODE_MSG_OK;
}

void vmw_decoder_stats(const vmw_decoder *d, vmw_decode_stats *out)
{
    out->frames = __atomic_load_n(&d->stats.frames, __ATOMIC_RELAXED);
    out->decoded = __atomic_load_n(&d->stats.decoded, __ATOMIC_RELAXED);
    out->samples = __atomic_load_n(&d->stats.samples, __ATOMIC_RELAXED);
    out->unknown = __atomic_load_n(&d->stats.unknown, __ATOMIC_RELAXED);
    out->too_short = __atomic_load_n(&d->stats.too_short, __ATOMIC_RELAXED);
    out->error_frames = __atomic_load_n(&d->stats.error_frames, __ATOMIC_RELAXED);
    out->remote = __atomic_load_n(&d->stats.remote, __ATOMIC_RELAXED);
    out->unknown_ids_dropped = __atomic_load_n(&d->stats.unknown_ids_dropped, __ATOMIC_RELAXED);
    out->diverted = __atomic_load_n(&d->stats.diverted, __ATOMIC_RELAXED);
}

size_t vmw_decoder_unknown_ids(const vmw_decoder *d, uint64_t *keys, uint64_t *counts, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < UNKNOWN_CAP * 2; i++) {
        if (d->unk_keys[i] == 0)
            continue;
        if (k < cap) {
            keys[k] = d->unk_keys[i] - 1;
            counts[k] = d->unk_counts[i];
        }
        k++;
    }
    return k;
}

size_t vmw_decoder_short_ids(const vmw_decoder *d, uint64_t *keys, uint64_t *counts, size_t cap)
{
    size_t k = 0;
    for (size_t m = 0; m < d->n_messages; m++) {
        if (d->short_counts[m] == 0)
            continue;
        if (k < cap) {
            const vmw_dec_message *msg = &d->messages[m];
            keys[k] = ((uint64_t)msg->bus_id << 32) | ((msg->flags & VMW_DEC_MSG_EXTENDED) ? KEY_EXT : 0) | msg->can_id;
            counts[k] = d->short_counts[m];
        }
        k++;
    }
    return k;
}
