/* Batch packing of gathered CAN frame columns into vmw_can_frame records (see vmw_can_pack.h). */
#include "vmw_can_pack.h"

#include <math.h>
#include <string.h>

#define CAN_ID_MASK 0x1FFFFFFFu
#define MAX_TS_S 1.8e10 /* beyond this, seconds * 1e9 no longer fits in uint64 */

static uint8_t flag_bit(const uint8_t *column, size_t i, uint8_t bit)
{
    return (column != NULL && column[i]) ? bit : 0u;
}

size_t vmw_can_pack(vmw_can_frame *out, size_t n, const double *ts_s, const int64_t *ids, const char *data,
                    const int64_t *lens, const uint8_t *ext, const uint8_t *fd, const uint8_t *brs,
                    const uint8_t *esi, const uint8_t *rtr, const uint8_t *err, uint16_t bus_id, uint64_t seq0,
                    uint64_t now_ns, uint8_t *bad)
{
    size_t written = 0;
    size_t offset = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t len = lens[i];
        double ts = ts_s[i];
        size_t payload = offset;
        offset += len > 0 ? (size_t)len : 0u;
        int ok = len >= 0 && len <= 64 && isfinite(ts) && ts >= 0.0 && ts < MAX_TS_S;
        if (bad != NULL)
            bad[i] = (uint8_t)!ok;
        if (!ok)
            continue;
        vmw_can_frame *f = &out[written];
        f->timestamp_ns = ts == 0.0 ? now_ns : (uint64_t)(ts * 1e9);
        f->seq = seq0 + written;
        f->can_id = (uint32_t)((uint64_t)ids[i] & CAN_ID_MASK);
        f->bus_id = bus_id;
        f->len = (uint8_t)len;
        f->flags = (uint8_t)(flag_bit(ext, i, VMW_FRAME_EXTENDED) | flag_bit(fd, i, VMW_FRAME_FD) |
                             flag_bit(brs, i, VMW_FRAME_BRS) | flag_bit(esi, i, VMW_FRAME_ESI) |
                             flag_bit(rtr, i, VMW_FRAME_RTR) | flag_bit(err, i, VMW_FRAME_ERROR));
        memcpy(f->data, data + payload, (size_t)len);
        memset(f->data + len, 0, 64u - (size_t)len);
        written++;
    }
    return written;
}
