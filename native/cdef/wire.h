size_t vmw_wire_columns_bound(size_t n);
size_t vmw_wire_columns(const vmw_sample *samples, size_t n, uint8_t *out, size_t cap);
