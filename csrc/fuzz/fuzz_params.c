/* libFuzzer harness: any bytes through the text parameter reader must give a network or an
 * error, never a crash, a leak or a hang; a network read is written and read back the same.
 * See README.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scratchnet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sn_net net, back;
    int epochs, back_epochs;
    if (sn_parse_params((const char *)data, size, "fuzz", &net, &epochs) != 0) return 0;
    /* every parameter was read: finite, in the buffers the sizes describe */
    for (int l = 0; l < net.n_layers; l++) {
        size_t n_w = (size_t)net.sizes[l] * (size_t)net.sizes[l + 1];
        for (size_t k = 0; k < n_w; k++)
            if (!isfinite(net.weights[l][k])) abort();
        for (int j = 0; j < net.sizes[l + 1]; j++)
            if (!isfinite(net.biases[l][j])) abort();
    }
    /* and what is written reads back bit for bit */
    char path[64];  /* /dev/shm if there is one: the writer fsyncs, and tmpfs makes that free */
    snprintf(path, sizeof path, "%s/fuzz_params.%d.txt", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
             (int)getpid());
    if (sn_write_params(path, &net, epochs) != 0 || sn_read_params(path, &back, &back_epochs) != 0) abort();
    if (back.n_layers != net.n_layers || back_epochs != epochs || back.hidden != net.hidden ||
        back.output != net.output)
        abort();
    for (int l = 0; l < net.n_layers; l++) {
        size_t n_w = (size_t)net.sizes[l] * (size_t)net.sizes[l + 1];
        if (back.sizes[l + 1] != net.sizes[l + 1] ||
            memcmp(back.weights[l], net.weights[l], n_w * sizeof(real)) != 0 ||
            memcmp(back.biases[l], net.biases[l], (size_t)net.sizes[l + 1] * sizeof(real)) != 0)
            abort();
    }
    remove(path);
    sn_free_net(&back);
    sn_free_net(&net);
    return 0;
}
