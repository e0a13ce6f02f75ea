/* Unit tests of vmw_can_pack: columns to records, flags, time fallback, bad frames skipped. */
#include "vmw_can_pack.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    vmw_can_frame out[4];
    memset(out, 0xEE, sizeof out);
    const double ts[4] = {1.5, 0.0, -1.0, NAN};
    const int64_t ids[4] = {0x123, -1, 5, 6};
    const int64_t lens[4] = {3, 4, 65, 0};
    char data[3 + 4 + 65];
    memset(data, 0, sizeof data);
    memcpy(data, "abcdefg", 7);
    const uint8_t ext[4] = {0, 1, 0, 0};
    const uint8_t err[4] = {1, 0, 0, 0};
    uint8_t bad[4];

    size_t n = vmw_can_pack(out, 4, ts, ids, data, lens, ext, NULL, NULL, NULL, NULL, err, 7, 10, 99, bad);
    assert(n == 2);
    assert(bad[0] == 0 && bad[1] == 0 && bad[2] == 1 && bad[3] == 1); /* too long; not a time */

    assert(out[0].timestamp_ns == 1500000000ull && out[0].seq == 10 && out[0].can_id == 0x123);
    assert(out[0].bus_id == 7 && out[0].len == 3 && out[0].flags == VMW_FRAME_ERROR);
    assert(memcmp(out[0].data, "abc", 3) == 0 && out[0].data[3] == 0 && out[0].data[63] == 0);

    assert(out[1].timestamp_ns == 99 && out[1].seq == 11); /* no timestamp: now */
    assert(out[1].can_id == 0x1FFFFFFFu && out[1].flags == VMW_FRAME_EXTENDED);
    assert(memcmp(out[1].data, "defg", 4) == 0 && out[1].data[4] == 0);

    assert(vmw_can_pack(out, 0, ts, ids, data, lens, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, NULL) == 0);
    puts("test_can_pack: ok");
    return 0;
}
