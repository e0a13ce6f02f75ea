/* Protobuf encoding of vmw_sample records as vehicle_mw.v1.SampleColumns (proto/vehicle_mw/v1/link.proto).
 *
 * Packed repeated fields are plain byte runs, so a whole batch is encoded in one pass over the
 * records, without a Python object per sample. The bytes equal what protobuf itself produces.
 *
 * cffi: public -- the declarations below are what Python sees (native/build_ffi.py reads them).
 */
#ifndef VMW_WIRE_H
#define VMW_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "vmw_records.h"

/* Upper bound of vmw_wire_columns' output for n samples. */
size_t vmw_wire_columns_bound(size_t n);

/* Serialized SampleColumns of samples[0..n) into out; returns the length, or 0 if cap is too small. */
size_t vmw_wire_columns(const vmw_sample *samples, size_t n, uint8_t *out, size_t cap);

/* Room reserved in front of the columns for the Uplink/SampleBatch head (tags, lengths, seq, ts). */
#define VMW_WIRE_BATCH_HEAD 64

/* Upper bound of vmw_wire_batch's output buffer for n samples. */
size_t vmw_wire_batch_bound(size_t n);

/* Serialized Uplink{batch: SampleBatch{seq, created_ns, columns, evicted_before,
 * evicted_batches_before}} (zero fields omitted) built in out without copying the columns; the
 * message is out[*start .. *start + return). Returns 0 if cap is too small. */
size_t vmw_wire_batch(const vmw_sample *samples, size_t n, uint64_t seq, uint64_t created_ns,
                      uint64_t evicted_before, uint64_t evicted_batches_before, uint8_t *out, size_t cap,
                      size_t *start);

#endif
