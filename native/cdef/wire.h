size_t vmw_wire_columns_bound(size_t n);
size_t vmw_wire_columns(const vmw_sample *samples, size_t n, uint8_t *out, size_t cap);
#define VMW_WIRE_BATCH_HEAD 64
size_t vmw_wire_batch_bound(size_t n);
size_t vmw_wire_batch(const vmw_sample *samples, size_t n, uint64_t seq, uint64_t created_ns,
                      uint64_t evicted_before, uint64_t evicted_batches_before, uint8_t *out, size_t cap,
                      size_t *start);
