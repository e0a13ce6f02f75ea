/* Packing received CAN frames into vmw_can_frame records, a whole batch per call.
 *
 * Python gathers each batch column by column (timestamps, ids, payload lengths,
 * flag columns, payloads joined into one buffer) and this fills the records in
 * one pass, so the per-frame cost on the ingest hot path stays in C.
 *
 * cffi: public -- the declarations below are what Python sees (native/build_ffi.py reads them).
 */
#ifndef VMW_CAN_PACK_H
#define VMW_CAN_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "vmw_records.h"

/* Fill out[0..] from n gathered frames. Column i of each array is frame i:
 * ts_s   receive time in seconds (0 means "unknown": now_ns is used instead),
 * ids    arbitration id (masked to 29 bits),
 * lens   payload length; payloads are concatenated in `data` in frame order,
 * ext..err  flag columns (0/1); a NULL column means "no frame has this flag".
 * Frames that cannot be records (length > 64, negative or non-finite time) are
 * skipped and marked in bad[i] (bad may be NULL); the others get consecutive
 * sequence numbers from seq0. Returns the number of records written. */
size_t vmw_can_pack(vmw_can_frame *out, size_t n, const double *ts_s, const int64_t *ids, const char *data,
                    const int64_t *lens, const uint8_t *ext, const uint8_t *fd, const uint8_t *brs,
                    const uint8_t *esi, const uint8_t *rtr, const uint8_t *err, uint16_t bus_id, uint64_t seq0,
                    uint64_t now_ns, uint8_t *bad);

#endif
