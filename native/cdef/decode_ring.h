struct vmw_slot_ring;

int vmw_decode_ring(vmw_decoder *d, struct vmw_slot_ring *frames, struct vmw_slot_ring *samples,
                    size_t max_frames, size_t *frames_done, size_t *samples_done);
int vmw_decode_loop(vmw_decoder *d, struct vmw_slot_ring *frames, struct vmw_slot_ring *samples, int *stop,
                    int64_t poll_ns);
