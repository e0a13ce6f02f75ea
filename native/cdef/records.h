typedef struct vmw_can_frame {
    uint64_t timestamp_ns;
    uint64_t seq;
    uint32_t can_id;
    uint16_t bus_id;
    uint8_t len;
    uint8_t flags;
    uint8_t data[64];
} vmw_can_frame;

typedef struct vmw_sample {
    uint64_t timestamp_ns;
    uint64_t source_seq;
    uint32_t signal_id;
    uint16_t source_id;
    uint8_t kind;
    uint8_t flags;
    union {
        double f64;
        int64_t i64;
        uint64_t u64;
    } value;
} vmw_sample;

#define VMW_RECORDS_VERSION 1

size_t vmw_can_frame_size(void);
size_t vmw_sample_size(void);
