/* Fixed binary layouts of the records that travel through rings.
 *
 * These are the contract between stages (CAN ingest -> decode -> campaign ->
 * outbox -> channel) and between processes, so they never change silently:
 * a layout change bumps VMW_RECORDS_VERSION and the static asserts below.
 * All fields are little-endian host order (every supported ECU is LE).
 *
 * cffi: public -- the declarations below are what Python sees (native/build_ffi.py reads them).
 */
#ifndef VMW_RECORDS_H
#define VMW_RECORDS_H

#include <stdint.h>

#define VMW_RECORDS_VERSION 1

/* vmw_can_frame.flags */
#define VMW_FRAME_EXTENDED 0x01u /* 29-bit identifier */
#define VMW_FRAME_FD 0x02u       /* CAN FD frame */
#define VMW_FRAME_BRS 0x04u      /* FD bit-rate switch */
#define VMW_FRAME_ESI 0x08u      /* FD error state indicator */
#define VMW_FRAME_RTR 0x10u      /* remote frame */
#define VMW_FRAME_ERROR 0x20u    /* error frame */

/* One CAN / CAN FD frame as received, 88 bytes. */
typedef struct vmw_can_frame {
    uint64_t timestamp_ns; /* bus receive time, CLOCK_REALTIME, ns */
    uint64_t seq;          /* per-bus sequence number, from 0, no gaps at ingest */
    uint32_t can_id;       /* identifier without flag bits */
    uint16_t bus_id;       /* index of the bus in the machine manifest */
    uint8_t len;           /* payload length in bytes, 0..64 */
    uint8_t flags;         /* VMW_FRAME_* */
    uint8_t data[64];
} vmw_can_frame;

/* vmw_sample.kind */
#define VMW_VALUE_F64 0u
#define VMW_VALUE_I64 1u
#define VMW_VALUE_U64 2u
#define VMW_VALUE_BOOL 3u

/* vmw_sample.flags */
#define VMW_SAMPLE_CHOICE 0x01u /* raw value of an enumerated signal; label is in the catalog */

/* One decoded signal value, 32 bytes. */
typedef struct vmw_sample {
    uint64_t timestamp_ns; /* source timestamp (bus receive time of the frame / SOME/IP event) */
    uint64_t source_seq;   /* per-source sequence number (e.g. the frame's seq) */
    uint32_t signal_id;    /* stable id from the signal catalog */
    uint16_t source_id;    /* bus id, or SOME/IP source index */
    uint8_t kind;          /* VMW_VALUE_* */
    uint8_t flags;         /* VMW_SAMPLE_* */
    union {
        double f64;
        int64_t i64;
        uint64_t u64;
    } value;
} vmw_sample;

_Static_assert(sizeof(vmw_can_frame) == 88, "vmw_can_frame layout changed");
_Static_assert(sizeof(vmw_sample) == 32, "vmw_sample layout changed");

#include <stddef.h>
size_t vmw_can_frame_size(void);
size_t vmw_sample_size(void);

#endif
