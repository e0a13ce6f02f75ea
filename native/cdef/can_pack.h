struct vmw_can_frame;
size_t vmw_can_pack(struct vmw_can_frame *out, size_t n, const double *ts_s, const int64_t *ids, const char *data,
                    const int64_t *lens, const uint8_t *ext, const uint8_t *fd, const uint8_t *brs,
                    const uint8_t *esi, const uint8_t *rtr, const uint8_t *err, uint16_t bus_id, uint64_t seq0,
                    uint64_t now_ns, uint8_t *bad);
