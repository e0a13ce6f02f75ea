/* Fault bookkeeping and the head/tail consistency test (vmw_ring_check.h). */
#include <stdarg.h>
#include <stdio.h>

#include "vmw_ring.h"
#include "vmw_ring_check.h"

static _Thread_local vmw_fault attach_fault;

vmw_fault *vmw_attach_fault(void) { return &attach_fault; }

const char *vmw_ring_error_detail(void) { return attach_fault.why; }

void vmw_attach_fault_clear(void) {
    attach_fault.code = 0;
    attach_fault.why[0] = 0;
}

int vmw_fault_set(vmw_fault *f, int code, const char *fmt, ...) {
    if (f->code) return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->why, sizeof f->why, fmt, ap);
    va_end(ap);
    f->code = code;
    return code;
}

int vmw_span_consistent(_Atomic uint64_t *lo, _Atomic uint64_t *hi, uint64_t cap, uint64_t *lo_seen,
                        uint64_t *hi_seen) {
    /* At the instant lo is read: lo <= hi(then) <= lo + cap, and hi1 <= hi(then) <= hi2.
     * A few attempts so a freak interleaving is never mistaken for damage. */
    for (int attempt = 0; attempt < 4; attempt++) {
        uint64_t hi1 = atomic_load_explicit(hi, memory_order_seq_cst);
        uint64_t l = atomic_load_explicit(lo, memory_order_seq_cst);
        uint64_t hi2 = atomic_load_explicit(hi, memory_order_seq_cst);
        *lo_seen = l;
        *hi_seen = hi2;
        if ((int64_t)(hi2 - l) >= 0 && (int64_t)(hi1 - l) <= (int64_t)cap) return 1;
    }
    return 0;
}
