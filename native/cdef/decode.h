#define VMW_DEC_BIG_ENDIAN 1
#define VMW_DEC_SIGNED 2
#define VMW_DEC_FLOAT 4
#define VMW_DEC_INT_CONV 8
#define VMW_DEC_IDENTITY 16
#define VMW_DEC_CHOICE 32
#define VMW_DEC_BOOL 64
#define VMW_DEC_FROM_ID 128
#define VMW_DEC_MSG_EXTENDED 1
#define VMW_DEC_MSG_J1939 2
#define VMW_DEC_MSG_DIVERT 4
#define VMW_DEC_MAX_MESSAGE 4095
#define VMW_DECODE_MSG_OK 1
#define VMW_DECODE_MSG_UNKNOWN 0
#define VMW_DECODE_MSG_SHORT -1
#define VMW_DECODE_MSG_NO_ROOM -2
#define VMW_DEC_NO_PARENT 65535

/* records.h sorts after this file: refer to the record structs by tag. */
struct vmw_can_frame;
struct vmw_sample;

typedef struct vmw_dec_signal {
    uint32_t signal_id;
    uint16_t start;
    uint8_t length;
    uint8_t flags;
    double scale;
    double offset;
    int64_t iscale;
    int64_t ioffset;
    uint16_t mux_parent;
    uint16_t mux_count;
    uint32_t mux_first;
} vmw_dec_signal;

typedef struct vmw_dec_message {
    uint32_t can_id;
    uint16_t bus_id;
    uint8_t flags;
    uint8_t reserved;
    uint32_t first_signal;
    uint32_t n_signals;
    uint32_t min_len;
} vmw_dec_message;

typedef struct vmw_decode_stats {
    uint64_t frames;
    uint64_t decoded;
    uint64_t samples;
    uint64_t unknown;
    uint64_t too_short;
    uint64_t error_frames;
    uint64_t remote;
    uint64_t unknown_ids_dropped;
    uint64_t diverted;
} vmw_decode_stats;

typedef struct vmw_decoder vmw_decoder;

vmw_decoder *vmw_decoder_new(const vmw_dec_message *messages, size_t n_messages,
                             const vmw_dec_signal *signals, size_t n_signals,
                             const int64_t *mux_ids, size_t n_mux_ids);
void vmw_decoder_free(vmw_decoder *d);

size_t vmw_decode_frames(vmw_decoder *d, const struct vmw_can_frame *frames, size_t n,
                         struct vmw_sample *out, size_t cap, size_t *n_out);

size_t vmw_decode_frames_ex(vmw_decoder *d, const struct vmw_can_frame *frames, size_t n,
                            struct vmw_sample *out, size_t cap, size_t *n_out,
                            uint32_t *divert, size_t divert_cap, size_t *n_divert);

int vmw_decode_message(vmw_decoder *d, uint16_t bus_id, int extended, uint32_t can_id, const uint8_t *data,
                       size_t len, uint64_t timestamp_ns, uint64_t seq, struct vmw_sample *out, size_t cap,
                       size_t *n_out);

size_t vmw_decoder_max_samples_per_frame(const vmw_decoder *d);

void vmw_decoder_stats(const vmw_decoder *d, vmw_decode_stats *out);

size_t vmw_decoder_unknown_ids(const vmw_decoder *d, uint64_t *keys, uint64_t *counts, size_t cap);
size_t vmw_decoder_short_ids(const vmw_decoder *d, uint64_t *keys, uint64_t *counts, size_t cap);
