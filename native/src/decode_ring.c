/* Ring-to-ring decoding (vmw_decode_ring.h): zero-copy peek of frame slots,
 * batch decode into a local buffer, one push of the samples, release of the
 * frames that were decoded. */
#include "vmw_decode_ring.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#define PEEK_BATCH 256u
#define LOCAL_SAMPLES 2048u

int vmw_decode_ring(vmw_decoder *d, vmw_slot_ring *frames, vmw_slot_ring *samples, size_t max_frames,
                    size_t *frames_done, size_t *samples_done)
{
    size_t fdone = 0, sdone = 0;
    *frames_done = 0;
    *samples_done = 0;
    if (vmw_slot_ring_slot_size(frames) != sizeof(vmw_can_frame) ||
        vmw_slot_ring_slot_size(samples) != sizeof(vmw_sample))
        return -EINVAL;
    size_t per_frame = vmw_decoder_max_samples_per_frame(d);
    vmw_sample local[LOCAL_SAMPLES];
    vmw_sample *buf = local;
    size_t buf_cap = LOCAL_SAMPLES;
    if (per_frame > LOCAL_SAMPLES) {
        buf = malloc(per_frame * sizeof(vmw_sample));
        if (!buf)
            return -ENOMEM;
        buf_cap = per_frame;
    }
    uint64_t out_cap = vmw_slot_ring_capacity(samples);
    while (fdone < max_frames) {
        uint64_t held = vmw_slot_ring_size(samples);
        size_t room = held >= out_cap ? 0 : (size_t)(out_cap - held);
        if (room > buf_cap)
            room = buf_cap;
        if (room < per_frame && room < buf_cap)
            break; /* sample ring too full for a worst-case frame: let the consumer catch up */
        const void *ptr;
        size_t want = max_frames - fdone < PEEK_BATCH ? max_frames - fdone : PEEK_BATCH;
        size_t n = vmw_slot_ring_peek(frames, &ptr, want);
        if (n == 0)
            break;
        size_t written = 0;
        size_t used = vmw_decode_frames(d, (const vmw_can_frame *)ptr, n, buf, room, &written);
        if (written)
            sdone += vmw_slot_ring_push_n(samples, buf, written);
        vmw_slot_ring_release(frames, used);
        fdone += used;
        if (used < n && used == 0)
            break;
    }
    if (buf != local)
        free(buf);
    *frames_done = fdone;
    *samples_done = sdone;
    /* a damaged segment: stop instead of spinning on a ring that never moves */
    if (vmw_slot_ring_last_error(frames) || vmw_slot_ring_last_error(samples))
        return VMW_RING_ECORRUPT;
    return 0;
}

int vmw_decode_loop(vmw_decoder *d, vmw_slot_ring *frames, vmw_slot_ring *samples, int *stop, int64_t poll_ns)
{
    if (vmw_slot_ring_slot_size(frames) != sizeof(vmw_can_frame) ||
        vmw_slot_ring_slot_size(samples) != sizeof(vmw_sample))
        return -EINVAL;
    while (!__atomic_load_n(stop, __ATOMIC_ACQUIRE)) {
        if (vmw_slot_ring_size(frames) == 0 && !vmw_slot_ring_wait(frames, poll_ns))
            continue;
        size_t moved, pushed;
        int rc = vmw_decode_ring(d, frames, samples, 4096, &moved, &pushed);
        if (rc != 0)
            return rc;
        if (moved == 0 && vmw_slot_ring_size(frames) != 0) {
            /* sample ring too full for a frame: wait for room, then give the consumer a moment
             * (wait_space returns at one free slot; a frame may need more) instead of spinning */
            vmw_slot_ring_wait_space(samples, poll_ns);
            struct timespec pause = {0, 100000};
            nanosleep(&pause, NULL);
        }
    }
    return 0;
}
