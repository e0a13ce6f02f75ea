/* Ring-to-ring decoding: frame records from one slot ring, samples into another, all in C.
 *
 * cffi: public -- the declarations below are what Python sees (native/build_ffi.py reads them).
 */
#ifndef VMW_DECODE_RING_H
#define VMW_DECODE_RING_H

#include <stddef.h>
#include <stdint.h>

#include "vmw_decode.h"
#include "vmw_ring.h"

/* Decodes up to max_frames frames from `frames` (88-byte slots) into `samples`
 * (32-byte slots). Frames are consumed only while the sample ring has room for
 * all their samples, so a full sample ring holds frames back (backpressure)
 * instead of losing samples. Returns 0, -EINVAL when the slot sizes are not
 * the record sizes, or VMW_RING_ECORRUPT when either ring's segment is damaged
 * (see vmw_slot_ring_error_detail()). *frames_done / *samples_done say what moved. */
int vmw_decode_ring(vmw_decoder *d, vmw_slot_ring *frames, vmw_slot_ring *samples, size_t max_frames,
                    size_t *frames_done, size_t *samples_done);

/* Decoding thread body: until *stop becomes non-zero, wait (up to poll_ns) for
 * frames, decode them ring to ring, and wait for room when the sample ring is
 * full. Runs entirely in C (call it with the GIL released). Returns 0, or the
 * error of vmw_decode_ring. Set *stop and vmw_slot_ring_wake(frames) to end it. */
int vmw_decode_loop(vmw_decoder *d, vmw_slot_ring *frames, vmw_slot_ring *samples, int *stop, int64_t poll_ns);

#endif
