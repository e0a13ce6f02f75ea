/* Batch CAN signal decoder: compiled message layouts -> vmw_sample records.
 *
 * Python (vehicle_mw.signals) compiles each database message into one
 * vmw_dec_message plus a run of vmw_dec_signal entries; vmw_decoder_new copies
 * them into an id-indexed hash table. Decoding then walks frames in C and
 * writes one vmw_sample per present signal -- no Python object per frame.
 * Values follow cantools' decode_message(decode_choices=False, scaling=True).
 *
 * cffi: public -- the declarations below are what Python sees (native/build_ffi.py reads them).
 */
#ifndef VMW_DECODE_H
#define VMW_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "vmw_records.h"

/* vmw_dec_signal.flags */
#define VMW_DEC_BIG_ENDIAN 0x01u /* Motorola byte order (start = MSB, sawtooth numbering) */
#define VMW_DEC_SIGNED 0x02u     /* two's complement raw value */
#define VMW_DEC_FLOAT 0x04u      /* IEEE raw value (length 16, 32 or 64) */
#define VMW_DEC_INT_CONV 0x08u   /* integer scale/offset: result stays an integer */
#define VMW_DEC_IDENTITY 0x10u   /* scale 1, offset 0: result is the raw value */
#define VMW_DEC_CHOICE 0x20u     /* enumerated signal: sample gets VMW_SAMPLE_CHOICE */
#define VMW_DEC_BOOL 0x40u       /* 1-bit unsigned identity: sample kind VMW_VALUE_BOOL */
#define VMW_DEC_FROM_ID 0x80u    /* raw value is bits [start, start+length) of the CAN id, not of the payload
                                  * (the J1939 destination address of a PDU1 message: start 8, length 8) */

/* vmw_dec_message.flags */
#define VMW_DEC_MSG_EXTENDED 0x01u /* 29-bit identifier */
#define VMW_DEC_MSG_J1939 0x02u    /* match by PGN (J1939-21): priority and source address masked, and
                                    * for PDU1 (PF < 240) the destination address too */
#define VMW_DEC_MSG_DIVERT 0x04u   /* transport-protocol frames (J1939 TP.CM/TP.DT, ISO-TP ids): never decoded
                                    * as frames; vmw_decode_frames_ex hands them back for reassembly */

#define VMW_DEC_NO_PARENT 0xFFFFu
#define VMW_J1939_MASK 0x03FFFF00u      /* PDU2 (PF >= 240): EDP, DP, PF, PS */
#define VMW_J1939_PDU1_MASK 0x03FF0000u /* PDU1 (PF < 240): EDP, DP, PF; PS is the destination address */
#define VMW_DEC_MAX_MESSAGE 4095u       /* longest message (ISO-TP classic; J1939 TP carries 1785) */

/* The PGN bits of a 29-bit id, in place (id & mask): what J1939 messages are matched by. */
static inline uint32_t vmw_j1939_pgn_bits(uint32_t can_id)
{
    return ((can_id >> 16) & 0xFFu) < 240u ? (can_id & VMW_J1939_PDU1_MASK) : (can_id & VMW_J1939_MASK);
}

typedef struct vmw_dec_signal {
    uint32_t signal_id;  /* catalog id written to vmw_sample.signal_id */
    uint16_t start;      /* cantools start bit */
    uint8_t length;      /* bits, 1..64 */
    uint8_t flags;       /* VMW_DEC_* */
    double scale;
    double offset;
    int64_t iscale;      /* scale/offset when VMW_DEC_INT_CONV */
    int64_t ioffset;
    uint16_t mux_parent; /* index (within the message) of the selecting multiplexer, or VMW_DEC_NO_PARENT */
    uint16_t mux_count;  /* number of multiplexer ids selecting this signal */
    uint32_t mux_first;  /* first of them in the decoder's mux id table */
} vmw_dec_signal;

typedef struct vmw_dec_message {
    uint32_t can_id;       /* frame id (for J1939: any id of the PGN; masked on build) */
    uint16_t bus_id;
    uint8_t flags;         /* VMW_DEC_MSG_* */
    uint8_t reserved;      /* 0 */
    uint32_t first_signal; /* index into the signal table; parents precede children */
    uint32_t n_signals;
    uint32_t min_len;      /* shorter payloads are counted, not decoded; up to VMW_DEC_MAX_MESSAGE
                            * (over 64 only reassembled messages reach it: vmw_decode_message) */
} vmw_dec_message;

typedef struct vmw_decode_stats {
    uint64_t frames;       /* frames looked at */
    uint64_t decoded;      /* frames that produced samples for a known message */
    uint64_t samples;      /* samples written */
    uint64_t unknown;      /* frames whose id no database knows */
    uint64_t too_short;    /* frames shorter than their message */
    uint64_t error_frames; /* VMW_FRAME_ERROR frames (never decoded) */
    uint64_t remote;       /* RTR frames (never decoded) */
    uint64_t unknown_ids_dropped; /* unknown ids beyond the per-id table's capacity */
    uint64_t diverted;     /* transport-protocol frames handed back by vmw_decode_frames_ex */
} vmw_decode_stats;

typedef struct vmw_decoder vmw_decoder;

/* Copies the tables; returns NULL on bad input (errno EINVAL) or no memory. */
vmw_decoder *vmw_decoder_new(const vmw_dec_message *messages, size_t n_messages,
                             const vmw_dec_signal *signals, size_t n_signals,
                             const int64_t *mux_ids, size_t n_mux_ids);
void vmw_decoder_free(vmw_decoder *d);

/* Decodes whole frames while their samples fit in out[cap]; returns frames consumed
 * and sets *n_out to samples written. A frame is consumed only with all its samples. */
size_t vmw_decode_frames(vmw_decoder *d, const vmw_can_frame *frames, size_t n,
                         vmw_sample *out, size_t cap, size_t *n_out);

/* vmw_decode_frames, and frames of VMW_DEC_MSG_DIVERT entries are not decoded but their indexes written
 * to divert[] (counted in `diverted`); stops before a frame to divert when divert[] is full. Without
 * divert (NULL) such frames count as unknown ids, as in vmw_decode_frames. */
size_t vmw_decode_frames_ex(vmw_decoder *d, const vmw_can_frame *frames, size_t n, vmw_sample *out, size_t cap,
                            size_t *n_out, uint32_t *divert, size_t divert_cap, size_t *n_divert);

/* Decodes one (reassembled) message of any length: matched like a frame (bus, extended, id; J1939 by PGN),
 * samples stamped with timestamp_ns / seq. Returns VMW_DECODE_MSG_* and sets *n_out. Not counted in stats. */
#define VMW_DECODE_MSG_OK 1       /* decoded (*n_out samples) */
#define VMW_DECODE_MSG_UNKNOWN 0  /* no message has this id */
#define VMW_DECODE_MSG_SHORT (-1) /* payload shorter than the message */
#define VMW_DECODE_MSG_NO_ROOM (-2) /* cap smaller than the message's signal count; nothing written */
int vmw_decode_message(vmw_decoder *d, uint16_t bus_id, int extended, uint32_t can_id, const uint8_t *data,
                       size_t len, uint64_t timestamp_ns, uint64_t seq, vmw_sample *out, size_t cap, size_t *n_out);

/* Largest number of samples one frame can produce (size `out` at least this). */
size_t vmw_decoder_max_samples_per_frame(const vmw_decoder *d);

void vmw_decoder_stats(const vmw_decoder *d, vmw_decode_stats *out);

/* Per-id counters of unknown ids / too-short frames: fills up to cap entries,
 * returns how many exist. key = bus_id << 32 | extended << 31 | can_id. */
size_t vmw_decoder_unknown_ids(const vmw_decoder *d, uint64_t *keys, uint64_t *counts, size_t cap);
size_t vmw_decoder_short_ids(const vmw_decoder *d, uint64_t *keys, uint64_t *counts, size_t cap);

#endif
