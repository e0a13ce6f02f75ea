/* Unit tests of the batch decoder (vmw_decode.h): bit extraction in both byte
 * orders, sign, float, integer and double scaling, multiplexing, J1939 PGN
 * matching, unknown / short frames, and whole-frame output capacity. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "vmw_decode.h"

#define CHECK(c)                                                                                             \
    do {                                                                                                     \
        if (!(c)) {                                                                                          \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                          \
            return 1;                                                                                        \
        }                                                                                                    \
    } while (0)

static vmw_dec_signal sig(uint32_t id, uint16_t start, uint8_t len, uint8_t flags)
{
    vmw_dec_signal s;
    memset(&s, 0, sizeof(s));
    s.signal_id = id;
    s.start = start;
    s.length = len;
    s.flags = flags;
    s.scale = 1.0;
    s.mux_parent = VMW_DEC_NO_PARENT;
    return s;
}

static vmw_can_frame frame(uint32_t id, uint8_t flags, const uint8_t *data, uint8_t len, uint64_t seq)
{
    vmw_can_frame f;
    memset(&f, 0, sizeof(f));
    f.can_id = id;
    f.flags = flags;
    f.len = len;
    f.seq = seq;
    f.timestamp_ns = 1000 + seq;
    memcpy(f.data, data, len);
    return f;
}

static const vmw_sample *find(const vmw_sample *out, size_t n, uint32_t id, uint64_t seq)
{
    for (size_t i = 0; i < n; i++)
        if (out[i].signal_id == id && out[i].source_seq == seq)
            return &out[i];
    return NULL;
}

static int test_layouts(void)
{
    /* message 0x100, 8 bytes:
     * 1: LE unsigned 12 bits at bit 4
     * 2: BE signed 16 bits, start 7 (MSB of byte 0)... placed at start 23 (byte 2 MSB)
     * 3: LE float32 at bit 32
     * 4: LE 8 bits at 0, integer scale 3 offset -5
     * 5: LE 8 bits at 0, double scale 0.5 offset 0.25
     * 6: 1-bit bool at bit 63 */
    vmw_dec_signal s[6];
    s[0] = sig(1, 4, 12, VMW_DEC_INT_CONV | VMW_DEC_IDENTITY);
    s[1] = sig(2, 23, 16, VMW_DEC_BIG_ENDIAN | VMW_DEC_SIGNED | VMW_DEC_INT_CONV | VMW_DEC_IDENTITY);
    s[2] = sig(3, 32, 32, VMW_DEC_FLOAT | VMW_DEC_IDENTITY);
    s[3] = sig(4, 0, 8, VMW_DEC_INT_CONV);
    s[3].iscale = 3;
    s[3].ioffset = -5;
    s[4] = sig(5, 0, 8, 0);
    s[4].scale = 0.5;
    s[4].offset = 0.25;
    s[5] = sig(6, 63, 1, VMW_DEC_INT_CONV | VMW_DEC_IDENTITY | VMW_DEC_BOOL);
    vmw_dec_message m = {.can_id = 0x100, .bus_id = 0, .flags = 0, .min_len = 8, .first_signal = 0, .n_signals = 6};
    vmw_decoder *d = vmw_decoder_new(&m, 1, s, 6, NULL, 0);
    CHECK(d);
    float fv = -2.5f;
    uint8_t data[8] = {0xAB, 0xCD, 0xFF, 0xFE, 0, 0, 0, 0x80};
    memcpy(&data[4], &fv, 4);
    data[7] |= 0x80; /* bool bit 63 = MSB of byte 7 (also the float's sign bit: already set) */
    vmw_can_frame f = frame(0x100, 0, data, 8, 7);
    vmw_sample out[16];
    size_t n = 0;
    CHECK(vmw_decode_frames(d, &f, 1, out, 16, &n) == 1 && n == 6);
    const vmw_sample *o = find(out, n, 1, 7);
    CHECK(o && o->kind == VMW_VALUE_I64 && o->value.i64 == ((0xCDAB >> 4) & 0xFFF));
    o = find(out, n, 2, 7);
    CHECK(o && o->kind == VMW_VALUE_I64 && o->value.i64 == (int16_t)0xFFFE);
    o = find(out, n, 3, 7);
    CHECK(o && o->kind == VMW_VALUE_F64 && o->value.f64 == -2.5);
    o = find(out, n, 4, 7);
    CHECK(o && o->kind == VMW_VALUE_I64 && o->value.i64 == 0xAB * 3 - 5);
    o = find(out, n, 5, 7);
    CHECK(o && o->kind == VMW_VALUE_F64 && o->value.f64 == 0xAB * 0.5 + 0.25);
    o = find(out, n, 6, 7);
    CHECK(o && o->kind == VMW_VALUE_BOOL && o->value.u64 == 1 && o->timestamp_ns == 1007);
    vmw_decoder_free(d);
    return 0;
}

static int test_mux_j1939_unknown_short_capacity(void)
{
    /* message A (0x200): mux at bits 0..3; signal 11 for mux 1, signal 12 for mux 2 or 3 */
    vmw_dec_signal s[4];
    s[0] = sig(10, 0, 4, VMW_DEC_INT_CONV | VMW_DEC_IDENTITY);
    s[1] = sig(11, 8, 8, VMW_DEC_INT_CONV | VMW_DEC_IDENTITY);
    s[1].mux_parent = 0;
    s[1].mux_first = 0;
    s[1].mux_count = 1;
    s[2] = sig(12, 8, 8, VMW_DEC_INT_CONV | VMW_DEC_IDENTITY | VMW_DEC_SIGNED);
    s[2].mux_parent = 0;
    s[2].mux_first = 1;
    s[2].mux_count = 2;
    /* message B: J1939 PGN 0xFEF1 */
    s[3] = sig(20, 0, 16, VMW_DEC_INT_CONV | VMW_DEC_IDENTITY);
    int64_t mux_ids[3] = {1, 2, 3};
    vmw_dec_message m[2] = {
        {.can_id = 0x200, .bus_id = 1, .flags = 0, .min_len = 2, .first_signal = 0, .n_signals = 3},
        {.can_id = 0x18FEF100, .bus_id = 1, .flags = VMW_DEC_MSG_EXTENDED | VMW_DEC_MSG_J1939, .min_len = 2,
         .first_signal = 3, .n_signals = 1},
    };
    vmw_decoder *d = vmw_decoder_new(m, 2, s, 4, mux_ids, 3);
    CHECK(d && vmw_decoder_max_samples_per_frame(d) == 3);
    uint8_t a1[2] = {0x01, 0x7F}, a3[2] = {0x03, 0xFF}, a9[2] = {0x09, 0x01}, b[2] = {0x34, 0x12};
    vmw_can_frame f[7];
    f[0] = frame(0x200, 0, a1, 2, 0);
    f[0].bus_id = 1;
    f[1] = frame(0x200, 0, a3, 2, 1);
    f[1].bus_id = 1;
    f[2] = frame(0x200, 0, a9, 2, 2); /* mux 9: only the multiplexer itself */
    f[2].bus_id = 1;
    f[3] = frame(0x0CFEF1AA, VMW_FRAME_EXTENDED, b, 2, 3); /* other priority and source address */
    f[3].bus_id = 1;
    f[4] = frame(0x200, 0, a1, 2, 4); /* bus 0: unknown there */
    f[5] = frame(0x200, 0, a1, 1, 5); /* too short */
    f[5].bus_id = 1;
    f[6] = frame(0x200, VMW_FRAME_ERROR, a1, 2, 6);
    f[6].bus_id = 1;
    vmw_sample out[32];
    size_t n = 0;
    CHECK(vmw_decode_frames(d, f, 7, out, 32, &n) == 7);
    CHECK(n == 2 + 2 + 1 + 1);
    CHECK(find(out, n, 11, 0) && find(out, n, 11, 0)->value.i64 == 0x7F && !find(out, n, 12, 0));
    CHECK(find(out, n, 12, 1) && find(out, n, 12, 1)->value.i64 == -1 && !find(out, n, 11, 1));
    CHECK(find(out, n, 10, 2) && !find(out, n, 11, 2) && !find(out, n, 12, 2));
    CHECK(find(out, n, 20, 3) && find(out, n, 20, 3)->value.i64 == 0x1234 && find(out, n, 20, 3)->source_id == 1);
    vmw_decode_stats st;
    vmw_decoder_stats(d, &st);
    CHECK(st.frames == 7 && st.decoded == 4 && st.unknown == 1 && st.too_short == 1 && st.error_frames == 1);
    uint64_t keys[4], counts[4];
    CHECK(vmw_decoder_unknown_ids(d, keys, counts, 4) == 1 && keys[0] == 0x200 && counts[0] == 1);
    CHECK(vmw_decoder_short_ids(d, keys, counts, 4) == 1 && keys[0] == ((1ull << 32) | 0x200));

    /* capacity: 2 samples fit, the frame needing 3 (worst case) waits */
    size_t used = vmw_decode_frames(d, f, 2, out, 2, &n);
    CHECK(used == 0 && n == 0);
    used = vmw_decode_frames(d, f, 2, out, 4, &n);
    CHECK(used == 1 && n == 2);
    vmw_decoder_free(d);
    return 0;
}

static int test_rejects_bad_tables(void)
{
    vmw_dec_signal s = sig(1, 60, 8, VMW_DEC_INT_CONV | VMW_DEC_IDENTITY); /* bits 60..67: past 8 bytes */
    vmw_dec_message m = {.can_id = 1, .min_len = 8, .first_signal = 0, .n_signals = 1};
    CHECK(vmw_decoder_new(&m, 1, &s, 1, NULL, 0) == NULL);
    s = sig(1, 0, 24, VMW_DEC_FLOAT);
    CHECK(vmw_decoder_new(&m, 1, &s, 1, NULL, 0) == NULL);
    vmw_dec_message dup[2] = {{.can_id = 5, .min_len = 1}, {.can_id = 5, .min_len = 1}};
    CHECK(vmw_decoder_new(dup, 2, NULL, 0, NULL, 0) == NULL);
    return 0;
}

/* J1939-21: PDU1 matched by EDP/DP/PF (any destination), the destination from the id (VMW_DEC_FROM_ID);
 * PDU2 keeps PS in the PGN; divert entries are handed back; long messages via vmw_decode_message. */
static int test_pdu1_divert_long_messages(void)
{
    vmw_dec_signal s[4] = {sig(1, 0, 8, VMW_DEC_INT_CONV | VMW_DEC_IDENTITY),
                           sig(2, 8, 8, VMW_DEC_INT_CONV | VMW_DEC_IDENTITY | VMW_DEC_FROM_ID),
                           sig(3, 8, 8, VMW_DEC_INT_CONV | VMW_DEC_IDENTITY),
                           sig(4, 1000 * 8, 16, VMW_DEC_INT_CONV | VMW_DEC_IDENTITY)};
    uint8_t J = VMW_DEC_MSG_EXTENDED | VMW_DEC_MSG_J1939;
    vmw_dec_message m[4] = {
        {.can_id = 0x0CEF0000, .flags = J, .min_len = 1, .first_signal = 0, .n_signals = 2}, /* PDU1 0xEF00 */
        {.can_id = 0x18F00400, .flags = J, .min_len = 2, .first_signal = 2, .n_signals = 1}, /* PDU2 0xF004 */
        {.can_id = 0x00EB0000, .flags = J | VMW_DEC_MSG_DIVERT},                             /* TP.DT */
        {.can_id = 0x18FECA00, .flags = J, .min_len = 1002, .first_signal = 3, .n_signals = 1}, /* 1002 B */
    };
    vmw_decoder *d = vmw_decoder_new(m, 4, s, 4, NULL, 0);
    CHECK(d != NULL);
    uint8_t p[8] = {7, 9, 0, 0, 0, 0, 0, 0};
    vmw_can_frame f[5] = {frame(0x18EF17F1, VMW_FRAME_EXTENDED, p, 8, 0), frame(0x0CF00421, VMW_FRAME_EXTENDED, p, 8, 1),
                          frame(0x0CF00521, VMW_FRAME_EXTENDED, p, 8, 2), frame(0x1CEBFF00, VMW_FRAME_EXTENDED, p, 8, 3),
                          frame(0x1CFECA00, VMW_FRAME_EXTENDED, p, 8, 4)};
    vmw_sample out[8];
    size_t n_out = 0, n_div = 0;
    uint32_t div[4];
    CHECK(vmw_decode_frames_ex(d, f, 5, out, 8, &n_out, div, 4, &n_div) == 5);
    CHECK(n_out == 3 && out[0].value.i64 == 7 && out[1].signal_id == 2 && out[1].value.i64 == 0x17);
    CHECK(out[2].signal_id == 3 && out[2].value.i64 == 9);
    CHECK(n_div == 1 && div[0] == 3);
    vmw_decode_stats st;
    vmw_decoder_stats(d, &st);
    CHECK(st.diverted == 1 && st.unknown == 1 && st.too_short == 1 && st.decoded == 2);
    /* no divert buffer: a TP frame is an unknown id; with a full one the batch stops before it */
    CHECK(vmw_decode_frames(d, f + 3, 1, out, 8, &n_out) == 1);
    CHECK(vmw_decode_frames_ex(d, f + 3, 1, out, 8, &n_out, div, 0, &n_div) == 0 && n_div == 0);
    static uint8_t big[1100];
    big[1000] = 0x34;
    big[1001] = 0x12;
    CHECK(vmw_decode_message(d, 0, 1, 0x18FECA00, big, 1001, 5, 6, out, 8, &n_out) == VMW_DECODE_MSG_SHORT);
    CHECK(vmw_decode_message(d, 0, 1, 0x18FECA00, big, 1100, 5, 6, out, 8, &n_out) == VMW_DECODE_MSG_OK);
    CHECK(n_out == 1 && out[0].value.i64 == 0x1234 && out[0].source_seq == 6 && out[0].timestamp_ns == 5);
    CHECK(vmw_decode_message(d, 0, 1, 0x18FECA00, big, 1100, 5, 6, out, 0, &n_out) == VMW_DECODE_MSG_NO_ROOM);
    CHECK(vmw_decode_message(d, 1, 1, 0x18FECA00, big, 1100, 5, 6, out, 8, &n_out) == VMW_DECODE_MSG_UNKNOWN);
    vmw_decoder_free(d);
    /* an id field must fit the 29-bit id */
    vmw_dec_signal bad = sig(1, 24, 8, VMW_DEC_INT_CONV | VMW_DEC_IDENTITY | VMW_DEC_FROM_ID);
    vmw_dec_message one = {.can_id = 0x0CEF0000, .flags = J, .min_len = 0, .first_signal = 0, .n_signals = 1};
    CHECK(vmw_decoder_new(&one, 1, &bad, 1, NULL, 0) == NULL);
    return 0;
}

int main(void)
{
    if (test_layouts() || test_mux_j1939_unknown_short_capacity() || test_rejects_bad_tables() ||
        test_pdu1_divert_long_messages())
        return 1;
    puts("test_decode: ok");
    return 0;
}
