/* Checks shared by the three ring kinds against a damaged segment: the fault a
 * handle keeps once it met one, and the head/tail consistency test that tells a
 * concurrent move from corruption. Internal to native/ (see vmw_ring.h for the contract). */
#ifndef VMW_RING_CHECK_H
#define VMW_RING_CHECK_H

#include <stdatomic.h>
#include <stdint.h>

/* Upper bound of every retry loop that waits on another participant's progress
 * (a CAS raced, an overwrite moved tail): far above anything a live peer causes,
 * low enough that a value a corrupter keeps changing cannot hold a call for long. */
#define VMW_RETRY_MAX 100000u

/* Why a handle stopped trusting its segment: code 0 = healthy, else a VMW_RING_E* code
 * (VMW_RING_ECORRUPT for a handle; any refusal for the attach fault). */
typedef struct vmw_fault {
    int code;
    char why[200];
} vmw_fault;

/* Record the first fault (later ones keep the first description); returns code. */
int vmw_fault_set(vmw_fault *f, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The fault of the last failed create/attach in this thread (what vmw_ring_error_detail() shows);
 * cleared when a create/attach starts. */
vmw_fault *vmw_attach_fault(void);
void vmw_attach_fault_clear(void);

/* Two monotonic counters with lo <= hi <= lo + cap at every instant (tail/head): 1 when the
 * values read are consistent with that (tolerating moves between the loads: hi is read before
 * and after lo), 0 when no interleaving of legitimate moves explains them (corruption).
 * *lo_seen / *hi_seen get the values of the last attempt. */
int vmw_span_consistent(_Atomic uint64_t *lo, _Atomic uint64_t *hi, uint64_t cap, uint64_t *lo_seen,
                        uint64_t *hi_seen);

#endif
