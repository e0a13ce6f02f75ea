/* Layout facts of vmw_records.h, exported so Python can check it was built against the same layout. */
#include <stddef.h>

#include "vmw_records.h"

size_t vmw_can_frame_size(void) { return sizeof(vmw_can_frame); }
size_t vmw_sample_size(void) { return sizeof(vmw_sample); }
