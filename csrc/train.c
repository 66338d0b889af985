/* Training, as src/scratchnet/train.py: the two steps (sgd_sample_step and batch_step), the rule
 * that picks one (uses_sample_step), and an epoch.
 *
 * Every elementwise step is NumPy's operation for operation (the scalars rounded to `real` first,
 * as NumPy does with a Python float against a float32 array), so the only differences from the
 * NumPy engine are the rounding of matrix products and of exp/log.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <math.h>

#include "internal.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* clang would fuse a * b + c within a statement; NumPy rounds both */
#endif

int sn_uses_sample_step(int batch_size, const sn_optimizer_state *opt) {
    return batch_size == 1 && (!opt || (opt->kind == SN_SGD && opt->weight_decay == 0));
}

/* Plain SGD on one sample in the order of the original per-sample loop: each layer is updated as
   soon as its error is known (change = lr * delta; b -= change, W -= a change^T), and the error is
   then sent back through the updated weights. */
void sn_sgd_sample_step(sn_net *net, sn_work *w, const uint8_t *image, uint8_t label, double lr, int loss) {
    const int layers = net->n_layers;
    real *z = layers == 1 ? w->logits : w->act[1];
    sn_pixel_mask(image, net->sizes[0], w->mask);
    sn_pixels_forward(net->sizes[0], net->sizes[1], net->weights[0], w->mask, image, net->biases[0], z);
    sn_activate(layers == 1 ? net->output : net->hidden, z, w->act[1], 1, net->sizes[1]);
    w->count = 1;
    sn_forward_from(net, w, 1);
    const real rate = (real)lr;
    real *delta = w->delta, *below = w->below, *restrict change = w->change;
    sn_output_delta(loss, net->output, w->act[layers], &label, 1, net->sizes[layers], delta);
    for (int l = layers - 1; l >= 0; l--) {
        const int n_in = net->sizes[l], n_out = net->sizes[l + 1];
        real *restrict bias = net->biases[l];
        for (int j = 0; j < n_out; j++) change[j] = rate * delta[j];
        for (int j = 0; j < n_out; j++) bias[j] = bias[j] - change[j];
        if (l == 0) {  /* optimisation: a zero pixel's row has no change, so only the others' are touched */
            sn_pixels_update(n_in, n_out, net->weights[0], w->mask, image, change);
        } else {  /* W[i] -= a[i] change, then below[i] = W[i] . delta with the new W[i] */
            sn_dense_rows_update(n_in, n_out, net->weights[l], w->act[l], change, delta, below);
            sn_times_derivative(net->hidden, below, w->act[l], n_in);  /* (W delta) * f'(a) */
            real *t = delta;
            delta = below;
            below = t;
        }
    }
}

void sn_batch_step(sn_net *net, sn_optimizer_state *opt, sn_work *w, const uint8_t *labels, double lr, int loss) {
    sn_forward(net, w);
    const int n_out = net->sizes[net->n_layers];
    sn_output_delta(loss, net->output, w->act[net->n_layers], labels, w->count, n_out, w->delta);
    sn_backward(net, w, &w->grads);
    sn_update(net, opt, &w->grads, lr);
}

/* the epoch's t-th image: images[order[t]], or images[t] with no order */
static const uint8_t *image_at(const uint8_t *images, const int64_t *order, int64_t t, int n_in) {
    return images + (order ? order[t] : t) * (int64_t)n_in;
}

int sn_train_samples(sn_net *net, sn_optimizer_state *opt, int loss, const uint8_t *images, const uint8_t *labels,
                   const int64_t *order, int64_t n, int batch_size, double lr, double *mean_loss, double *accuracy,
                   volatile int *stop, int64_t *samples_done) {
    if (mean_loss) *mean_loss = 0;
    if (accuracy) *accuracy = 0;
    if (samples_done) *samples_done = 0;
    if (sn_check_net(net, loss) || sn_check_optimizer(opt, net)) return -1;
    if (n < 0) return sn_fail("%lld samples: the count cannot be negative", (long long)n);
    if (batch_size < 1) return sn_fail("batch size must be at least 1, got %d", batch_size);
    if (!isfinite(lr) || lr < 0) return sn_fail("learning rate must be a finite number >= 0, got %g", lr);
    if (n == 0) return 0;
    if (!images || !labels) return sn_fail("no images or labels given");
    const int n_out = net->sizes[net->n_layers];
    for (int64_t t = 0; t < n; t++) {
        const int64_t s = order ? order[t] : t;
        if (s < 0) return sn_fail("order[%lld] is %lld: indices cannot be negative", (long long)t, (long long)s);
        if (labels[s] >= n_out)
            return sn_fail("label %d (image %lld) needs more than the network's %d outputs", labels[s], (long long)s,
                           n_out);
    }

    const int64_t capacity = batch_size < n ? batch_size : n;
    const int sample_step = sn_uses_sample_step(batch_size, opt);
    /* The loss and accuracy of the forward pass each step began with. The per-sample step's are taken
       KEPT samples at a time, its logits and outputs kept until then: sn_loss_per_sample is faster on many. */
    enum { KEPT = 256 };
    const int64_t kept_rows = sample_step ? (n < KEPT ? n : KEPT) : capacity;
    sn_work w;
    if (sn_work_init(&w, net, capacity, 1)) return -1;
    uint8_t *batch_labels = malloc((size_t)kept_rows);
    real *losses = malloc((size_t)kept_rows * sizeof *losses);
    real *kept_logits = sample_step ? malloc((size_t)(kept_rows * n_out) * sizeof *kept_logits) : NULL;
    real *kept_outputs = sample_step ? malloc((size_t)(kept_rows * n_out) * sizeof *kept_outputs) : NULL;
    if (!batch_labels || !losses || (sample_step && (!kept_logits || !kept_outputs))) {
        sn_work_free(&w);
        free(batch_labels);
        free(losses);
        free(kept_logits);
        free(kept_outputs);
        return sn_fail("out of memory");
    }
    /* The per-sample step reads and writes whole rows of the first layer a vector at a time; a caller's
       array (NumPy's, malloc's) is 16-byte aligned, and then half of those vectors straddle two cache
       lines, each such access slower. The epoch works on a 64-byte aligned copy (if memory allows). */
    real *const callers_first_layer = net->weights[0];
    const size_t first_layer_bytes = (size_t)net->sizes[0] * (size_t)net->sizes[1] * sizeof(real);
    real *aligned_first_layer =
        sample_step && (uintptr_t)callers_first_layer % 64 ? aligned_alloc(64, (first_layer_bytes + 63) / 64 * 64)
                                                          : NULL;
    if (aligned_first_layer) {
        memcpy(aligned_first_layer, callers_first_layer, first_layer_bytes);
        net->weights[0] = aligned_first_layer;
    }
    double loss_sum = 0;
    int64_t correct = 0, done = 0, kept = 0;
    for (int64_t start = 0; start < n; start += batch_size) {
        const int64_t count = n - start < batch_size ? n - start : batch_size;
        if (!sample_step)
            sn_load_batch(&w, net, order ? images : image_at(images, NULL, start, net->sizes[0]),
                          order ? order + start : NULL, count);
        uint8_t *step_labels = sample_step ? batch_labels + kept : batch_labels;
        for (int64_t s = 0; s < count; s++) step_labels[s] = labels[order ? order[start + s] : start + s];
        if (start + count < n)  /* the next batch's first image comes from memory while this step computes */
            sn_prefetch_image(image_at(images, order, start + count, net->sizes[0]), net->sizes[0]);
        const real *logits = w.logits, *outputs = w.act[net->n_layers];
        int64_t rows = count;
        if (sample_step) {
            sn_sgd_sample_step(net, &w, image_at(images, order, start, net->sizes[0]), step_labels[0], lr, loss);
            memcpy(kept_logits + kept * n_out, w.logits, (size_t)n_out * sizeof *kept_logits);
            memcpy(kept_outputs + kept * n_out, w.act[net->n_layers], (size_t)n_out * sizeof *kept_outputs);
            logits = kept_logits;
            outputs = kept_outputs;
            rows = ++kept;
        } else {
            sn_batch_step(net, opt, &w, batch_labels, lr, loss);
        }
        done += count;
        const int last = done == n || (stop && *stop);
        if (!sample_step || kept == kept_rows || last) {
            sn_loss_per_sample(loss, logits, outputs, batch_labels, rows, n_out, losses);
            for (int64_t s = 0; s < rows; s++) {
                loss_sum += (double)losses[s];
                correct += sn_argmax(logits + s * n_out, n_out) == batch_labels[s];
            }
            kept = 0;
        }
        if (stop && *stop) break;
    }
    if (aligned_first_layer) {
        memcpy(callers_first_layer, aligned_first_layer, first_layer_bytes);
        net->weights[0] = callers_first_layer;
        free(aligned_first_layer);
    }
    sn_work_free(&w);
    free(batch_labels);
    free(losses);
    free(kept_logits);
    free(kept_outputs);
    if (mean_loss) *mean_loss = loss_sum / (double)done;
    if (accuracy) *accuracy = (double)correct / (double)done;
    if (samples_done) *samples_done = done;
    return 0;
}
