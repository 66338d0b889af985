/* The network, as src/scratchnet/network.py: the architecture's check, activations and their
 * derivatives, the losses and the output error, the batch, the forward pass, backpropagation and
 * sn_predict. The matrix products are kernels.c's.
 *
 * Elementwise steps round exactly as NumPy's do (the same operations in the same order; -std=c11
 * keeps the compiler from fusing a multiply and an add), except exp and log1p where kernels.c takes
 * them from libmvec; sums along a row follow np.sum's pairwise order. Matrix products cannot follow
 * OpenBLAS's order, which depends on its kernels: they differ from NumPy's by rounding only.
 */
#include <stdlib.h>
#include <string.h>

#include <math.h>

#include "internal.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* clang would fuse a * b + c within a statement; NumPy rounds both */
#endif

#ifdef SN_FLOAT32
#define LOG logf
#define TANH tanhf
#define LN2 0.693147180559945309417232121458176568f
#else
#define LOG log
#define TANH tanh
#define LN2 0.693147180559945309417232121458176568
#endif


/* --------------------------------------------------------------------------------------------- */
/* check_architecture */

static const char *activation_name(int a) {
    static const char *names[] = {"sigmoid", "tanh", "relu", "softmax"};
    return a >= 0 && a <= SN_SOFTMAX ? names[a] : "unknown";
}

int sn_check_net(const sn_net *net, int loss) {
    if (!net) return sn_fail("no network given");
    if (net->n_layers < 1 || net->n_layers > SN_MAX_LAYERS)
        return sn_fail("%d layers: a network has 1 to %d layers of neurons", net->n_layers, SN_MAX_LAYERS);
    for (int l = 0; l <= net->n_layers; l++)
        if (net->sizes[l] < 1 || net->sizes[l] > (1 << 24))
            return sn_fail("layer size %d (sizes[%d]) must be from 1 to %d", net->sizes[l], l, 1 << 24);
    for (int l = 0; l < net->n_layers; l++) {
        if ((int64_t)net->sizes[l] * net->sizes[l + 1] > ((int64_t)1 << 34))
            return sn_fail("layer %d: %d x %d weights are too many", l + 1, net->sizes[l], net->sizes[l + 1]);
        if (!net->weights[l] || !net->biases[l])
            return sn_fail("layer %d: no weights or biases given", l + 1);
    }
    if (net->hidden != SN_SIGMOID && net->hidden != SN_TANH && net->hidden != SN_RELU)
        return sn_fail("hidden activation %d (%s): choose sigmoid, tanh or relu", net->hidden,
                       activation_name(net->hidden));
    if (net->output != SN_SIGMOID && net->output != SN_SOFTMAX)
        return sn_fail("output activation %d (%s): choose sigmoid or softmax", net->output,
                       activation_name(net->output));
    if (loss < 0) return 0;
    if (loss > SN_MSE) return sn_fail("unknown loss %d: choose bce (0), cross_entropy (1) or mse (2)", loss);
    int natural = net->output == SN_SIGMOID ? SN_BCE : SN_CROSS_ENTROPY;
    if (loss != SN_MSE && loss != natural)
        return sn_fail("loss %s does not fit a %s output: use %s or mse", loss == SN_BCE ? "bce" : "cross_entropy",
                       activation_name(net->output), natural == SN_BCE ? "bce" : "cross_entropy");
    return 0;
}

/* --------------------------------------------------------------------------------------------- */
/* activations, losses and the output error */

void sn_activate(int activation, const real *z, real *a, int64_t rows, int n) {
    const int64_t count = rows * n;
    switch (activation) {
    case SN_SIGMOID:  /* 1 / (1 + e^-z): e^-z overflows to inf for very negative z, giving 0 */
        for (int64_t i = 0; i < count; i++) a[i] = -z[i];
        sn_exp(a, count);
        for (int64_t i = 0; i < count; i++) a[i] = (real)1 / ((real)1 + a[i]);
        break;
    case SN_TANH:
        for (int64_t i = 0; i < count; i++) a[i] = TANH(z[i]);
        break;
    case SN_RELU:  /* np.maximum(z, 0): keeps NaN and -0 */
        for (int64_t i = 0; i < count; i++) a[i] = z[i] < 0 ? (real)0 : z[i];
        break;
    default:  /* softmax, shifted by the row's maximum so that exp never overflows */
        for (int64_t r = 0; r < rows; r++) {
            const real *zr = z + r * n;
            real *ar = a + r * n;
            real top = zr[0];
            for (int j = 1; j < n; j++)
                if (zr[j] > top || zr[j] != zr[j]) top = zr[j];
            for (int j = 0; j < n; j++) ar[j] = zr[j] - top;
            sn_exp(ar, n);
            real total = sn_sum(ar, n);
            for (int j = 0; j < n; j++) ar[j] = ar[j] / total;
        }
    }
}

void sn_times_derivative(int activation, real *restrict delta, const real *restrict a, int64_t count) {
    switch (activation) {
    case SN_SIGMOID:
        for (int64_t i = 0; i < count; i++) delta[i] = delta[i] * (a[i] * ((real)1 - a[i]));
        break;
    case SN_TANH:
        for (int64_t i = 0; i < count; i++) delta[i] = delta[i] * ((real)1 - a[i] * a[i]);
        break;
    default:  /* relu: (a > 0) as 0.0 or 1.0 */
        for (int64_t i = 0; i < count; i++) delta[i] = delta[i] * (a[i] > 0 ? (real)1 : (real)0);
    }
}

void sn_output_delta(int loss, int output, const real *outputs, const uint8_t *labels, int64_t rows, int n,
                     real *delta) {
    const int natural = (output == SN_SIGMOID && loss == SN_BCE) || (output == SN_SOFTMAX && loss == SN_CROSS_ENTROPY);
    for (int64_t r = 0; r < rows; r++) {
        const real *o = outputs + r * n;
        real *d = delta + r * n;
        const int label = labels[r];
        if (natural) {  /* o - y */
            for (int j = 0; j < n; j++) d[j] = o[j] - (real)(j == label);
        } else if (output == SN_SIGMOID) {  /* mse: error * o * (1 - o) */
            for (int j = 0; j < n; j++) d[j] = (o[j] - (real)(j == label)) * o[j] * ((real)1 - o[j]);
        } else {  /* mse through the softmax Jacobian: o * (error - sum(error * o)) */
            for (int j = 0; j < n; j++) d[j] = (o[j] - (real)(j == label)) * o[j];
            const real dot = sn_sum(d, n);
            for (int j = 0; j < n; j++) d[j] = o[j] * ((o[j] - (real)(j == label)) - dot);
        }
    }
}

/* np.logaddexp(0, z) of `count` logits: log(1 + e^-|z|), + z where z > 0; log 2 at 0, as npy_logaddexp */
static void log_one_plus_exp(const real *z, real *soft, int64_t count) {
    for (int64_t i = 0; i < count; i++) soft[i] = z[i] < 0 ? z[i] : -z[i];
    sn_exp(soft, count);
    sn_log1p(soft, count);
    for (int64_t i = 0; i < count; i++) soft[i] = z[i] == 0 ? LN2 : z[i] > 0 ? z[i] + soft[i] : soft[i];
}

/* one sample's loss, summed over its n outputs; for bce, `soft` may hold its logaddexp(0, z) */
static real sample_loss(int loss, const real *logits, const real *outputs, const real *soft, int label, int n) {
    real terms[64];
    real total = 0;
    if (loss == SN_CROSS_ENTROPY) {  /* logsumexp(z) - y.z */
        real top = logits[0];
        for (int j = 1; j < n; j++)
            if (logits[j] > top || logits[j] != logits[j]) top = logits[j];
        real norm = 0, dot = 0;
        for (int j0 = 0; j0 < n; j0 += 64) {  /* one block when n <= 64, as with every MNIST net */
            int m = n - j0 < 64 ? n - j0 : 64;
            for (int j = 0; j < m; j++) terms[j] = logits[j0 + j] - top;
            sn_exp(terms, m);
            norm += sn_sum(terms, m);
            for (int j = 0; j < m; j++) terms[j] = (real)(j0 + j == label) * logits[j0 + j];
            dot += sn_sum(terms, m);
        }
        return (top + LOG(norm)) - dot;
    }
    for (int j0 = 0; j0 < n; j0 += 64) {
        int m = n - j0 < 64 ? n - j0 : 64;
        if (loss == SN_BCE) {  /* log(1 + e^z) - y z, finite for any z */
            if (soft)
                memcpy(terms, soft + j0, (size_t)m * sizeof *terms);
            else
                log_one_plus_exp(logits + j0, terms, m);
            for (int j = 0; j < m; j++) terms[j] = terms[j] - (real)(j0 + j == label) * logits[j0 + j];
        } else {  /* mse: 0.5 * sum (o - y)^2 */
            for (int j = 0; j < m; j++) {
                real e = outputs[j0 + j] - (real)(j0 + j == label);
                terms[j] = e * e;
            }
        }
        total += sn_sum(terms, m);
    }
    return loss == SN_MSE ? (real)0.5 * total : total;
}

void sn_loss_per_sample(int loss, const real *logits, const real *outputs, const uint8_t *labels, int64_t rows,
                        int n, real *losses) {
    /* bce's logaddexp of up to SOFT logits at a time, many samples' together: the vector calls of
       sn_exp and sn_log1p are then full (a sample of 10 outputs alone would leave a third of them empty) */
    enum { SOFT = 1024 };
    real soft[SOFT];
    const int together = loss == SN_BCE && n <= SOFT;
    const int64_t group = together ? SOFT / n : rows;
    for (int64_t r0 = 0; r0 < rows; r0 += group) {
        const int64_t count = rows - r0 < group ? rows - r0 : group;
        if (together) log_one_plus_exp(logits + r0 * n, soft, count * n);
        for (int64_t r = r0; r < r0 + count; r++)
            losses[r] = sample_loss(loss, logits + r * n, outputs + r * n, together ? soft + (r - r0) * n : NULL,
                                    labels[r], n);
    }
}

int sn_argmax(const real *v, int n) {  /* np.argmax: the first maximum, or the first NaN */
    int best = 0;
    for (int j = 0; j < n; j++) {
        if (v[j] != v[j]) return j;
        if (v[j] > v[best]) best = j;
    }
    return best;
}

/* --------------------------------------------------------------------------------------------- */
/* the batch and its scratch */

static void *alloc_array(int64_t count, size_t size, int *failed) {
    if (*failed) return NULL;
    if (count < 1) count = 1;
    if ((uint64_t)count > SIZE_MAX / 4 / size) { *failed = 1; return NULL; }
    size_t bytes = ((size_t)count * size + 63) / 64 * 64;  /* aligned_alloc wants a multiple */
    void *p = aligned_alloc(64, bytes);
    if (!p) *failed = 1;
    return p;
}

int sn_work_init(sn_work *w, const sn_net *net, int64_t capacity, int for_training) {
    memset(w, 0, sizeof *w);
    const int layers = net->n_layers, n_in = net->sizes[0];
    if (capacity < 1) capacity = 1;
    int widest = 1;
    for (int l = 1; l <= layers; l++)
        if (net->sizes[l] > widest) widest = net->sizes[l];
    int failed = capacity > ((int64_t)1 << 40) / n_in;
    const int64_t pixels = capacity * n_in;
    w->capacity = capacity;
    w->nz_index = alloc_array(pixels + SN_PIXELS_SLACK, sizeof(int32_t), &failed);
    w->nz_value = alloc_array(pixels + SN_PIXELS_SLACK, sizeof(real), &failed);
    w->nz_start = alloc_array(capacity + 1, sizeof(int64_t), &failed);
    for (int l = 1; l <= layers; l++) w->act[l] = alloc_array(capacity * net->sizes[l], sizeof(real), &failed);
    w->logits = alloc_array(capacity * net->sizes[layers], sizeof(real), &failed);
    if (for_training && capacity > 1 && net->sizes[1] * (int)sizeof(real) > SN_NARROW_BYTES) {
        w->col_sample = alloc_array(pixels, sizeof(int32_t), &failed);
        w->col_value = alloc_array(pixels, sizeof(real), &failed);
        w->col_start = alloc_array(n_in + 1, sizeof(int64_t), &failed);
        w->cursor = alloc_array(n_in, sizeof(int64_t), &failed);
    }
    if (for_training) {
        w->delta = alloc_array(capacity * widest, sizeof(real), &failed);
        w->below = alloc_array(capacity * widest, sizeof(real), &failed);
        w->change = alloc_array(widest, sizeof(real), &failed);
        w->mask = alloc_array((n_in + 63) / 64, sizeof(uint64_t), &failed);
        for (int l = 0; l < layers; l++) {
            w->grads.weights[l] = alloc_array((int64_t)net->sizes[l] * net->sizes[l + 1], sizeof(real), &failed);
            w->grads.biases[l] = alloc_array(net->sizes[l + 1], sizeof(real), &failed);
        }
    }
    if (failed) {
        sn_work_free(w);
        return sn_fail("out of memory for a batch of %lld samples of a %d-input network", (long long)capacity, n_in);
    }
    return 0;
}

void sn_work_free(sn_work *w) {
    free(w->nz_index);
    free(w->nz_value);
    free(w->nz_start);
    free(w->col_sample);
    free(w->col_value);
    free(w->col_start);
    free(w->cursor);
    for (int l = 0; l <= SN_MAX_LAYERS; l++) free(w->act[l]);
    free(w->logits);
    free(w->delta);
    free(w->below);
    free(w->change);
    free(w->mask);
    for (int l = 0; l < SN_MAX_LAYERS; l++) {
        free(w->grads.weights[l]);
        free(w->grads.biases[l]);
    }
    memset(w, 0, sizeof *w);
}

void sn_load_batch(sn_work *w, const sn_net *net, const uint8_t *images, const int64_t *order, int64_t count) {
    const int n_in = net->sizes[0];
    int32_t *restrict index = w->nz_index;
    real *restrict value = w->nz_value;
    int64_t e = 0;
    for (int64_t s = 0; s < count; s++) {
        if (s + 1 < count) sn_prefetch_image(images + (order ? order[s + 1] : s + 1) * (int64_t)n_in, n_in);
        w->nz_start[s] = e;
        e += sn_nonzero_pixels(images + (order ? order[s] : s) * (int64_t)n_in, n_in, index + e, value + e);
    }
    w->nz_start[count] = e;
    w->count = count;
    if (!w->col_start) return;
    /* the same entries by pixel, samples in order (a counting sort), for the gradient of wide first layers */
    int64_t *start = w->col_start, *cursor = w->cursor;
    memset(start, 0, (size_t)(n_in + 1) * sizeof *start);
    for (int64_t k = 0; k < e; k++) start[index[k] + 1]++;
    for (int i = 0; i < n_in; i++) start[i + 1] += start[i];
    memcpy(cursor, start, (size_t)n_in * sizeof *cursor);
    for (int64_t s = 0; s < count; s++)
        for (int64_t k = w->nz_start[s]; k < w->nz_start[s + 1]; k++) {
            int64_t to = cursor[index[k]]++;
            w->col_sample[to] = (int32_t)s;
            w->col_value[to] = value[k];
        }
}

/* --------------------------------------------------------------------------------------------- */
/* the forward pass, backpropagation and sn_predict */

void sn_forward(const sn_net *net, sn_work *w) { sn_forward_from(net, w, 0); }

void sn_forward_from(const sn_net *net, sn_work *w, int first) {
    const int layers = net->n_layers;
    const int64_t count = w->count;
    for (int l = first; l < layers; l++) {
        const int n_in = net->sizes[l], n_out = net->sizes[l + 1];
        real *z = l == layers - 1 ? w->logits : w->act[l + 1];  /* count x n_out */
        if (l == 0) {  /* x @ W + b, x sparse: only the rows of the non-zero pixels are read */
            sn_spmm(count, w->nz_start, w->nz_index, w->nz_value, net->weights[0], n_out, net->biases[0], z);
        } else {  /* a @ W + b: (count x n_in) (n_in x n_out) */
            sn_gemm(0, 0, count, n_out, n_in, w->act[l], n_in, net->weights[l], n_out, z, n_out, 0);
            const real *restrict bias = net->biases[l];
            for (int64_t s = 0; s < count; s++)
                for (int j = 0; j < n_out; j++) z[s * n_out + j] = z[s * n_out + j] + bias[j];
        }
        sn_activate(l == layers - 1 ? net->output : net->hidden, z, w->act[l + 1], count, n_out);
    }
}

void sn_backward(const sn_net *net, sn_work *w, sn_grads *grads) {
    const int64_t count = w->count;
    real *delta = w->delta, *below = w->below;
    if (count > 1) {  /* of the batch-mean loss */
        const real divisor = (real)count;
        for (int64_t i = 0; i < count * net->sizes[net->n_layers]; i++) delta[i] = delta[i] / divisor;
    }
    for (int l = net->n_layers - 1; l >= 0; l--) {
        const int n_in = net->sizes[l], n_out = net->sizes[l + 1];
        real *restrict grad_w = grads->weights[l], *restrict grad_b = grads->biases[l];
        if (l == 0)  /* x^T delta, x sparse */
            sn_sparse_input_gradient(w, n_in, delta, n_out, grad_w);
        else  /* a^T delta: (n_in x count) (count x n_out) */
            sn_gemm(1, 0, n_in, n_out, count, w->act[l], n_in, delta, n_out, grad_w, n_out, 0);
        for (int j = 0; j < n_out; j++) grad_b[j] = delta[j];  /* delta.sum(axis=0): rows in order */
        for (int64_t s = 1; s < count; s++)
            for (int j = 0; j < n_out; j++) grad_b[j] = grad_b[j] + delta[s * n_out + j];
        if (l > 0) {  /* the error of the layer below: (delta W^T) * f'(a), (count x n_in) */
            sn_gemm(0, 1, count, n_in, n_out, delta, n_out, net->weights[l], n_out, below, n_in, 0);
            sn_times_derivative(net->hidden, below, w->act[l], count * n_in);
            real *t = delta;
            delta = below;
            below = t;
        }
    }
}

int sn_predict(const sn_net *net, const uint8_t *images, int64_t n, real *outputs) {
    if (sn_check_net(net, -1)) return -1;
    if (n < 0) return sn_fail("%lld images: the count cannot be negative", (long long)n);
    if (n == 0) return 0;
    if (!images || !outputs) return sn_fail("no images or no room for the outputs given");
    sn_work w;
    if (sn_work_init(&w, net, n < 1024 ? n : 1024, 0)) return -1;
    const int n_out = net->sizes[net->n_layers];
    for (int64_t start = 0; start < n; start += w.capacity) {
        const int64_t count = n - start < w.capacity ? n - start : w.capacity;
        sn_load_batch(&w, net, images + start * net->sizes[0], NULL, count);
        sn_forward(net, &w);
        memcpy(outputs + start * n_out, w.act[net->n_layers], (size_t)(count * n_out) * sizeof *outputs);
    }
    sn_work_free(&w);
    return 0;
}
