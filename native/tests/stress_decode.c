/* Threaded stress of ring-to-ring decoding (plain and under ThreadSanitizer):
 * a producer pushes frames into a frame ring, vmw_decode_loop decodes them in
 * its own thread into a small sample ring, a consumer pops samples and checks
 * that every frame's sample arrives once, in order, with the right value,
 * while a fourth thread reads the decoder's stats. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vmw_decode_ring.h"

#define N_FRAMES 200000u

static vmw_slot_ring *frames, *samples;
static vmw_decoder *dec;
static int stop_flag;
static int failures;
static int consumer_done;

static void *producer(void *arg)
{
    vmw_can_frame batch[64];
    memset(batch, 0, sizeof(batch));
    uint64_t seq = 0;
    while (seq < N_FRAMES) {
        size_t n = 0;
        for (; n < 64 && seq + n < N_FRAMES; n++) {
            batch[n].can_id = 0x123;
            batch[n].len = 8;
            batch[n].seq = seq + n;
            uint32_t v = (uint32_t)(seq + n);
            memcpy(batch[n].data, &v, 4); /* little-endian 32-bit signal at bit 0 */
        }
        size_t done = 0;
        while (done < n) {
            done += vmw_slot_ring_push_n(frames, batch + done, n - done);
            if (done < n)
                vmw_slot_ring_wait_space(frames, 10000000);
        }
        seq += n;
    }
    return NULL;
}

static void *consumer(void *arg)
{
    vmw_sample buf[256];
    uint64_t expect = 0;
    while (expect < N_FRAMES) {
        size_t n = vmw_slot_ring_pop_n(samples, buf, 256);
        if (n == 0) {
            vmw_slot_ring_wait(samples, 10000000);
            continue;
        }
        for (size_t i = 0; i < n; i++, expect++) {
            if (buf[i].source_seq != expect || buf[i].value.i64 != (int64_t)(uint32_t)expect ||
                buf[i].signal_id != 7) {
                fprintf(stderr, "sample %llu wrong (seq %llu value %lld)\n", (unsigned long long)expect,
                        (unsigned long long)buf[i].source_seq, (long long)buf[i].value.i64);
                __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
                return NULL;
            }
        }
    }
    __atomic_store_n(&consumer_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void *looper(void *arg)
{
    if (vmw_decode_loop(dec, frames, samples, &stop_flag, 5000000) != 0)
        __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
    return NULL;
}

int main(void)
{
    char fname[64], sname[64];
    snprintf(fname, sizeof(fname), "/vmw_stress_dec_f_%d", (int)getpid());
    snprintf(sname, sizeof(sname), "/vmw_stress_dec_s_%d", (int)getpid());
    if (vmw_slot_ring_create(fname, sizeof(vmw_can_frame), 1024, VMW_OVERFLOW_REJECT_NEWEST, &frames) ||
        vmw_slot_ring_create(sname, sizeof(vmw_sample), 128, VMW_OVERFLOW_REJECT_NEWEST, &samples)) {
        fprintf(stderr, "cannot create rings\n");
        return 1;
    }
    vmw_dec_signal s;
    memset(&s, 0, sizeof(s));
    s.signal_id = 7;
    s.length = 32;
    s.flags = VMW_DEC_INT_CONV | VMW_DEC_IDENTITY;
    s.scale = 1.0;
    s.mux_parent = VMW_DEC_NO_PARENT;
    vmw_dec_message m = {.can_id = 0x123, .min_len = 8, .first_signal = 0, .n_signals = 1};
    dec = vmw_decoder_new(&m, 1, &s, 1, NULL, 0);
    pthread_t tp, tc, tl;
    pthread_create(&tl, NULL, looper, NULL);
    pthread_create(&tc, NULL, consumer, NULL);
    pthread_create(&tp, NULL, producer, NULL);
    vmw_decode_stats st;
    do { /* read the stats while decoding runs */
        vmw_decoder_stats(dec, &st);
        usleep(1000);
    } while (!__atomic_load_n(&consumer_done, __ATOMIC_ACQUIRE) && !__atomic_load_n(&failures, __ATOMIC_RELAXED) &&
             st.frames < N_FRAMES);
    pthread_join(tp, NULL);
    pthread_join(tc, NULL);
    __atomic_store_n(&stop_flag, 1, __ATOMIC_RELEASE);
    vmw_slot_ring_wake(frames);
    pthread_join(tl, NULL);
    vmw_decoder_stats(dec, &st);
    if (st.frames != N_FRAMES || st.samples != N_FRAMES)
        failures++;
    vmw_decoder_free(dec);
    vmw_slot_ring_close(frames);
    vmw_slot_ring_close(samples);
    vmw_ring_unlink(fname);
    vmw_ring_unlink(sname);
    if (failures) {
        fprintf(stderr, "stress_decode: %d failure(s)\n", failures);
        return 1;
    }
    puts("stress_decode: ok");
    return 0;
}
