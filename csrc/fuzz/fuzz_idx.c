/* libFuzzer harness: any bytes through the IDX reader (and so through zlib's inflate, for gzip) must
 * give a result or an error, never a crash, a leak or a hang. See README.md. */
#include <stdlib.h>

#include "scratchnet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t checked; /* keeps the reads above from being optimised away */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *pixels;
    int ndim;
    int64_t dims[3];
    if (sn_parse_idx(data, size, "fuzz", &pixels, &ndim, dims) == 0) {
        int64_t n = 1;  /* the sizes must describe the buffer: AddressSanitizer checks its end */
        for (int d = 0; d < ndim; d++) n *= dims[d];
        if (n > 0 && pixels[n - 1] == 0 && pixels[0] == 0) checked++;
        sn_free(pixels);
    }
    return 0;
}
