/* The network's arithmetic, as src/scratchnet/network.py: activations, their derivatives, the
 * losses and the output error, the forward pass (the first layer reading only the non-zero
 * pixels), matrix products, and sn_predict.
 *
 * Elementwise steps round exactly as NumPy's do (the same operations in the same order; -std=c11
 * keeps the compiler from fusing a multiply and an add), and sums along a row follow np.sum's
 * pairwise order. Matrix products cannot follow OpenBLAS's order, which depends on its kernels:
 * they differ from NumPy's by rounding only.
 */
#include <stdlib.h>
#include <string.h>

#include <math.h>

#include "internal.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* clang would fuse a * b + c within a statement; NumPy rounds both */
#endif

#ifdef SN_FLOAT32
#define EXP expf
#define LOG logf
#define LOG1P log1pf
#define TANH tanhf
#define LN2 0.693147180559945309417232121458176568f
#else
#define EXP exp
#define LOG log
#define LOG1P log1p
#define TANH tanh
#define LN2 0.693147180559945309417232121458176568
#endif


/* --------------------------------------------------------------------------------------------- */
/* checks */

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
/* elementwise */

/* np.add.reduce along a contiguous axis: blocks of at most 128 summed with 8 accumulators. */
real sn_sum(const real *a, int64_t n) {
    if (n < 8) {
        real s = (real)0;  /* NumPy starts from its identity, not from a[0] */
        for (int64_t i = 0; i < n; i++) s += a[i];
        return s;
    }
    if (n <= 128) {
        real r[8];
        for (int j = 0; j < 8; j++) r[j] = a[j];
        int64_t i;
        for (i = 8; i < n - n % 8; i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        real s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) s += a[i];
        return s;
    }
    int64_t half = n / 2;
    half -= half % 8;
    return sn_sum(a, half) + sn_sum(a + half, n - half);
}

void sn_activate(int activation, const real *z, real *a, int64_t rows, int n) {
    const int64_t count = rows * n;
    switch (activation) {
    case SN_SIGMOID:  /* 1 / (1 + e^-z): e^-z overflows to inf for very negative z, giving 0 */
        for (int64_t i = 0; i < count; i++) a[i] = (real)1 / ((real)1 + EXP(-z[i]));
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
            for (int j = 0; j < n; j++) ar[j] = EXP(zr[j] - top);
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
        if (natural) {  /* the seed's o - y */
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

/* np.logaddexp(0, z), as npy_logaddexp computes it */
static real log_one_plus_exp(real z) {
    if (z == 0) return LN2;
    real t = -z;
    if (t > 0) return LOG1P(EXP(-t));
    if (t <= 0) return z + LOG1P(EXP(t));
    return t;  /* NaN */
}

real sn_sample_loss(int loss, const real *logits, const real *outputs, int label, int n) {
    real terms[64];
    real total = 0;
    if (loss == SN_CROSS_ENTROPY) {  /* logsumexp(z) - y.z */
        real top = logits[0];
        for (int j = 1; j < n; j++)
            if (logits[j] > top || logits[j] != logits[j]) top = logits[j];
        real norm = 0, dot = 0;
        for (int j0 = 0; j0 < n; j0 += 64) {  /* one block when n <= 64, as with every MNIST net */
            int m = n - j0 < 64 ? n - j0 : 64;
            for (int j = 0; j < m; j++) terms[j] = EXP(logits[j0 + j] - top);
            norm += sn_sum(terms, m);
            for (int j = 0; j < m; j++) terms[j] = (real)(j0 + j == label) * logits[j0 + j];
            dot += sn_sum(terms, m);
        }
        return (top + LOG(norm)) - dot;
    }
    for (int j0 = 0; j0 < n; j0 += 64) {
        int m = n - j0 < 64 ? n - j0 : 64;
        if (loss == SN_BCE) {  /* log(1 + e^z) - y z, finite for any z */
            for (int j = 0; j < m; j++)
                terms[j] = log_one_plus_exp(logits[j0 + j]) - (real)(j0 + j == label) * logits[j0 + j];
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
    int64_t largest = 1;
    for (int l = 1; l <= layers; l++) {
        if (net->sizes[l] > widest) widest = net->sizes[l];
        if ((int64_t)net->sizes[l - 1] * net->sizes[l] > largest) largest = (int64_t)net->sizes[l - 1] * net->sizes[l];
    }
    int failed = capacity > ((int64_t)1 << 40) / n_in;
    const int64_t pixels = capacity * n_in;
    w->capacity = capacity;
    w->nz_index = alloc_array(pixels, sizeof(int32_t), &failed);
    w->nz_value = alloc_array(pixels, sizeof(real), &failed);
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
        w->grad_w = alloc_array(largest, sizeof(real), &failed);
        w->grad_b = alloc_array(widest, sizeof(real), &failed);
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
    free(w->grad_w);
    free(w->grad_b);
    memset(w, 0, sizeof *w);
}

void sn_load_batch(sn_work *w, const sn_net *net, const uint8_t *images, const int64_t *order, int64_t count,
                   int columns) {
    const int n_in = net->sizes[0];
    const real scale = (real)(1.0 / 255.0);  /* data.inputs: pixels times 1/255 rounded to the dtype */
    int32_t *restrict index = w->nz_index;
    real *restrict value = w->nz_value;
    int64_t e = 0;
    for (int64_t s = 0; s < count; s++) {
        const uint8_t *px = images + (order ? order[s] : s) * (int64_t)n_in;
        w->nz_start[s] = e;
        int i = 0;
        for (; i + 8 <= n_in; i += 8) {  /* most of an MNIST image is zero: skip 8 pixels at a time */
            uint64_t word;
            memcpy(&word, px + i, 8);
            if (!word) continue;
            for (int b = 0; b < 8; b++) {  /* branch-free: always write, advance past non-zeros */
                index[e] = i + b;
                value[e] = (real)px[i + b] * scale;
                e += px[i + b] != 0;
            }
        }
        for (; i < n_in; i++) {
            index[e] = i;
            value[e] = (real)px[i] * scale;
            e += px[i] != 0;
        }
    }
    w->nz_start[count] = e;
    w->count = count;
    if (!columns || !w->col_start) return;
    /* the same entries by pixel, samples in order: a counting sort */
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
/* matrix products

   With GCC or clang they are written with vector types, so that the partial sums stay in
   registers, and with multiply-adds fused (these functions only: every elementwise step elsewhere
   rounds as NumPy's). Other compilers, or -DSN_NO_VECTORS, get the same loops on scalars. */
#if defined(__GNUC__) && !defined(SN_NO_VECTORS) && (defined(__AVX__) || defined(__SSE2__) || defined(__ARM_NEON))
#define VECTORS 1
#if defined(__AVX__)
typedef real vec __attribute__((vector_size(32)));  /* for rows of sparse products */
#else
typedef real vec __attribute__((vector_size(16)));
#endif
#if defined(__AVX512F__)
typedef real wide __attribute__((vector_size(64)));  /* for the dense kernel: 32 registers */
#define MR 4
#define NV 4
#else
typedef vec wide;
#define MR 4
#define NV 2
#endif
#if defined(__clang__)
#define CONTRACT
#define CONTRACT_HERE _Pragma("clang fp contract(fast)")
#else
#define CONTRACT __attribute__((optimize("fp-contract=fast")))
#define CONTRACT_HERE
#endif
#define LANES ((int)(sizeof(vec) / sizeof(real)))
#define WIDE_LANES ((int)(sizeof(wide) / sizeof(real)))
static inline vec load_vec(const real *p) { vec v; memcpy(&v, p, sizeof v); return v; }
static inline void store_vec(real *p, vec v) { memcpy(p, &v, sizeof v); }
static inline wide load_wide(const real *p) { wide v; memcpy(&v, p, sizeof v); return v; }
#else
#define MR 4
#define NV 1
#define WIDE_LANES 8
#define CONTRACT
#define CONTRACT_HERE
#endif
#define NR (NV * WIDE_LANES)                  /* columns of a panel */
#define KC (32768 / (NR * (int)sizeof(real))) /* rows of a panel: 32 KiB, in L1 */

/* Sparse rows times a dense matrix: out[0..n) = sum over k of value[k] * matrix[index[k] * stride
   + 0..n) (+ add[0..n), NumPy's (x @ W) + b). A block of up to 8 vectors of columns is summed in
   registers, in two sets (even and odd k) so that the additions do not wait on each other. */
#ifdef VECTORS
#define SPARSE_BLOCK(NB)                                                                             \
    CONTRACT static void sparse_block_##NB(int64_t nnz, const int32_t *restrict index, int64_t stride, \
                                            const real *restrict value, const real *restrict matrix,  \
                                            const real *restrict add, real *restrict out) {           \
        CONTRACT_HERE                                                                                \
        vec a0[NB], a1[NB];                                                                          \
        for (int v = 0; v < NB; v++) a0[v] = a1[v] = (vec){0};                                       \
        int64_t k = 0;                                                                               \
        for (; k + 1 < nnz; k += 2) {                                                                \
            const real x0 = value[k], x1 = value[k + 1];                                             \
            const real *r0 = matrix + (int64_t)index[k] * stride;                                    \
            const real *r1 = matrix + (int64_t)index[k + 1] * stride;                                \
            for (int v = 0; v < NB; v++) {                                                           \
                a0[v] += x0 * load_vec(r0 + v * LANES);                                              \
                a1[v] += x1 * load_vec(r1 + v * LANES);                                              \
            }                                                                                        \
        }                                                                                            \
        if (k < nnz) {                                                                               \
            const real x0 = value[k];                                                                \
            const real *r0 = matrix + (int64_t)index[k] * stride;                                    \
            for (int v = 0; v < NB; v++) a0[v] += x0 * load_vec(r0 + v * LANES);                     \
        }                                                                                            \
        for (int v = 0; v < NB; v++) {                                                               \
            vec sum = a0[v] + a1[v];                                                                 \
            if (add) sum = sum + load_vec(add + v * LANES);                                          \
            store_vec(out + v * LANES, sum);                                                         \
        }                                                                                            \
    }
SPARSE_BLOCK(1)
SPARSE_BLOCK(2)
SPARSE_BLOCK(3)
SPARSE_BLOCK(4)
SPARSE_BLOCK(5)
SPARSE_BLOCK(6)
SPARSE_BLOCK(7)
SPARSE_BLOCK(8)
#endif

/* out (rows x n) = S M (+ add, on every row) for a sparse S in CSR form (row r: index/value
   start[r] .. start[r + 1]) and a dense M with n columns. Column blocks are the outer loop, so that
   a block of M stays in cache for every row; threads take whole column blocks. */
#define BLOCK_VECTORS 8
#ifdef VECTORS
#define BLOCK_COLUMNS (BLOCK_VECTORS * LANES)
#else
#define BLOCK_COLUMNS 64
#endif

CONTRACT static void spmm_block(int64_t rows, const int64_t *restrict start, const int32_t *restrict index,
                                const real *restrict value, const real *restrict matrix, int n, int64_t block,
                                const real *restrict add, real *restrict out) {
    CONTRACT_HERE
    const int j0 = (int)(block * BLOCK_COLUMNS);
    int width = n - j0 < BLOCK_COLUMNS ? n - j0 : BLOCK_COLUMNS;
#ifdef VECTORS
    typedef void block_fn(int64_t, const int32_t *, int64_t, const real *, const real *, const real *, real *);
    static block_fn *const blocks[9] = {NULL, sparse_block_1, sparse_block_2, sparse_block_3, sparse_block_4,
                                        sparse_block_5, sparse_block_6, sparse_block_7, sparse_block_8};
    const int nb = width / LANES;
    if (nb > 0) {
        for (int64_t r = 0; r < rows; r++)
            blocks[nb](start[r + 1] - start[r], index + start[r], n, value + start[r], matrix + j0,
                       add ? add + j0 : NULL, out + r * n + j0);
    }
    const int done = nb * LANES;
#else
    const int done = 0;
#endif
    if (done < width) {  /* less than a vector at the end of the row: in memory */
        const int first = j0 + done, m = width - done;
        for (int64_t r = 0; r < rows; r++) {
            real *restrict z = out + r * n + first;
            for (int j = 0; j < m; j++) z[j] = 0;
            for (int64_t k = start[r]; k < start[r + 1]; k++) {
                const real x = value[k];
                const real *restrict row = matrix + (int64_t)index[k] * n + first;
                for (int j = 0; j < m; j++) z[j] += x * row[j];
            }
            if (add)
                for (int j = 0; j < m; j++) z[j] = z[j] + add[first + j];
        }
    }
}

static void spmm(int64_t rows, const int64_t *start, const int32_t *index, const real *value, const real *matrix,
                 int n, const real *add, real *out) {
    const int64_t blocks = (n + BLOCK_COLUMNS - 1) / BLOCK_COLUMNS;
    if ((start[rows] + rows) * (int64_t)n > PARALLEL_WORK && blocks > 1) {
        PARALLEL_FOR(1)
        for (int64_t b = 0; b < blocks; b++) spmm_block(rows, start, index, value, matrix, n, b, add, out);
    } else {  /* not even asking OpenMP: that costs more than a small product */
        for (int64_t b = 0; b < blocks; b++) spmm_block(rows, start, index, value, matrix, n, b, add, out);
    }
}

/* The seed's update of the rows the non-zero pixels touch: row -= x * change, with `change` kept
   in registers a block of vectors at a time. Not fused: NumPy rounds the product, then the
   difference. */
#ifdef VECTORS
#define UPDATE_BLOCK(NB)                                                                             \
    static void update_block_##NB(int64_t nnz, const int32_t *restrict index, const real *restrict value, \
                                  real *restrict matrix, int64_t stride, const real *restrict change) { \
        vec c[NB];                                                                                   \
        for (int v = 0; v < NB; v++) c[v] = load_vec(change + v * LANES);                            \
        for (int64_t k = 0; k < nnz; k++) {                                                          \
            const real x = value[k];                                                                 \
            real *row = matrix + (int64_t)index[k] * stride;                                         \
            for (int v = 0; v < NB; v++) store_vec(row + v * LANES, load_vec(row + v * LANES) - x * c[v]); \
        }                                                                                            \
    }
UPDATE_BLOCK(1)
UPDATE_BLOCK(2)
UPDATE_BLOCK(3)
UPDATE_BLOCK(4)
UPDATE_BLOCK(5)
UPDATE_BLOCK(6)
UPDATE_BLOCK(7)
UPDATE_BLOCK(8)
#endif

#ifdef VECTORS
/* One pass over the rows per group of up to 8 vectors of columns, widest first (so a row's
   columns stay in registers); returns the first column left for the scalar loop. */
typedef void block_fn(int64_t, const int32_t *, const real *, real *, int64_t, const real *);
static int run_blocks(block_fn *const blocks[9], int64_t nnz, const int32_t *index, const real *value,
                      real *matrix, int n, const real *vector) {
    int j0 = 0;
    while (n - j0 >= LANES) {
        int nb = (n - j0) / LANES;
        if (nb > 8) nb = nb >= 16 ? 8 : (nb + 1) / 2;
        blocks[nb](nnz, index, value, matrix + j0, n, vector + j0);
        j0 += nb * LANES;
    }
    return j0;
}
#endif

void sn_sparse_rows_update(int64_t nnz, const int32_t *restrict index, const real *restrict value,
                           real *restrict matrix, int n, const real *restrict change) {
    int j0 = 0;
#ifdef VECTORS
    static block_fn *const blocks[9] = {NULL, update_block_1, update_block_2, update_block_3, update_block_4,
                                        update_block_5, update_block_6, update_block_7, update_block_8};
    j0 = run_blocks(blocks, nnz, index, value, matrix, n, change);
#endif
    if (j0 < n)
        for (int64_t k = 0; k < nnz; k++) {
            const real x = value[k];
            real *restrict row = matrix + (int64_t)index[k] * n;
            for (int j = j0; j < n; j++) row[j] = row[j] - x * change[j];
        }
}

/* The same rows the other way: matrix[index[k] * n + j] += value[k] * vector[j], fused (a sum of
   products, as a matrix product's). */
#ifdef VECTORS
#define SCATTER_BLOCK(NB)                                                                            \
    CONTRACT static void scatter_block_##NB(int64_t nnz, const int32_t *restrict index,             \
                                            const real *restrict value, real *restrict matrix,       \
                                            int64_t stride, const real *restrict vector) {           \
        CONTRACT_HERE                                                                                \
        vec c[NB];                                                                                   \
        for (int v = 0; v < NB; v++) c[v] = load_vec(vector + v * LANES);                            \
        for (int64_t k = 0; k < nnz; k++) {                                                          \
            const real x = value[k];                                                                 \
            real *row = matrix + (int64_t)index[k] * stride;                                         \
            for (int v = 0; v < NB; v++) store_vec(row + v * LANES, load_vec(row + v * LANES) + x * c[v]); \
        }                                                                                            \
    }
SCATTER_BLOCK(1)
SCATTER_BLOCK(2)
SCATTER_BLOCK(3)
SCATTER_BLOCK(4)
SCATTER_BLOCK(5)
SCATTER_BLOCK(6)
SCATTER_BLOCK(7)
SCATTER_BLOCK(8)
#endif

CONTRACT static void sparse_scatter(int64_t nnz, const int32_t *restrict index, const real *restrict value,
                                    real *restrict matrix, int n, const real *restrict vector) {
    CONTRACT_HERE
    int j0 = 0;
#ifdef VECTORS
    static block_fn *const blocks[9] = {NULL, scatter_block_1, scatter_block_2, scatter_block_3, scatter_block_4,
                                        scatter_block_5, scatter_block_6, scatter_block_7, scatter_block_8};
    j0 = run_blocks(blocks, nnz, index, value, matrix, n, vector);
#endif
    if (j0 < n)
        for (int64_t k = 0; k < nnz; k++) {
            const real x = value[k];
            real *restrict row = matrix + (int64_t)index[k] * n;
            for (int j = j0; j < n; j++) row[j] += x * vector[j];
        }
}

void sn_sparse_input_gradient(const sn_work *w, int n_inputs, const real *restrict delta, int n,
                              real *restrict grad_w) {
    if (!w->col_start) {  /* narrow rows: add each sample's x_si delta_s into the rows it touches */
        memset(grad_w, 0, (size_t)n_inputs * (size_t)n * sizeof *grad_w);
        for (int64_t s = 0; s < w->count; s++) {
            const int64_t begin = w->nz_start[s];
            sparse_scatter(w->nz_start[s + 1] - begin, w->nz_index + begin, w->nz_value + begin, grad_w, n,
                           delta + s * n);
        }
        return;
    }
    /* wide rows: row i sums, in registers, over the samples where pixel i is non-zero (the CSC) */
    spmm(n_inputs, w->col_start, w->col_sample, w->col_value, delta, n, NULL, grad_w);
}

/* Dense products: B is copied a panel of NR columns by KC rows at a time (contiguous, in L1), and
   an MR x NR block of C is accumulated in registers over the panel. Rows of A past the edge read
   its first row again (their results are dropped); columns past the edge are zeros in the panel. */
CONTRACT static void kernel(int64_t kc, const real *restrict a, int64_t lda, int trans_a, int mr,
                            const real *restrict panel, real *restrict c, int64_t ldc, int nr, int add) {
    CONTRACT_HERE
    int64_t row_step[MR], col_step[MR];  /* A[r][k] = a[r * row_step + k * col_step] */
    for (int r = 0; r < MR; r++) {
        const int64_t rr = r < mr ? r : 0;
        row_step[r] = trans_a ? rr : rr * lda;
        col_step[r] = trans_a ? lda : 1;
    }
    (void)col_step;
#ifdef VECTORS
    wide acc[MR][NV];
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++) acc[r][v] = (wide){0};
    if (!trans_a) {
        const real *ar[MR];
        for (int r = 0; r < MR; r++) ar[r] = a + row_step[r];
        for (int64_t k = 0; k < kc; k++) {
            wide b[NV];
            for (int v = 0; v < NV; v++) b[v] = load_wide(panel + k * NR + v * WIDE_LANES);
            for (int r = 0; r < MR; r++) {
                const real x = ar[r][k];
                for (int v = 0; v < NV; v++) acc[r][v] += x * b[v];
            }
        }
    } else {
        for (int64_t k = 0; k < kc; k++) {
            wide b[NV];
            for (int v = 0; v < NV; v++) b[v] = load_wide(panel + k * NR + v * WIDE_LANES);
            const real *ak = a + k * lda;
            for (int r = 0; r < MR; r++) {
                const real x = ak[row_step[r]];
                for (int v = 0; v < NV; v++) acc[r][v] += x * b[v];
            }
        }
    }
    real tile[MR][NR];
    memcpy(tile, acc, sizeof tile);
#else
    real tile[MR][NR];
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++) tile[r][j] = 0;
    for (int64_t k = 0; k < kc; k++)
        for (int r = 0; r < MR; r++) {
            const real x = a[row_step[r] + k * col_step[r]];
            for (int j = 0; j < NR; j++) tile[r][j] += x * panel[k * NR + j];
        }
#endif
    for (int r = 0; r < mr; r++) {
        real *restrict cr = c + r * ldc;
        if (add)
            for (int j = 0; j < nr; j++) cr[j] = cr[j] + tile[r][j];
        else
            for (int j = 0; j < nr; j++) cr[j] = tile[r][j];
    }
}

/* columns p * NR .. of C: the panels of B, each against all of A */
CONTRACT static void gemm_panel(int64_t p, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                                const real *a, int64_t lda, const real *b, int64_t ldb, real *c, int64_t ldc,
                                int accumulate) {
    CONTRACT_HERE
    _Alignas(64) real panel[KC * NR];
    const int64_t j0 = p * NR;
    const int nr = n - j0 < NR ? (int)(n - j0) : NR;
    for (int64_t k0 = 0; k0 < k; k0 += KC) {
        const int64_t kc = k - k0 < KC ? k - k0 : KC;
        if (!trans_b) {
            for (int64_t kk = 0; kk < kc; kk++) {
                const real *restrict from = b + (k0 + kk) * ldb + j0;
                real *restrict to = panel + kk * NR;
                if (nr == NR) {
                    for (int j = 0; j < NR; j++) to[j] = from[j];
                } else {
                    for (int j = 0; j < nr; j++) to[j] = from[j];
                    for (int j = nr; j < NR; j++) to[j] = 0;
                }
            }
        } else {  /* B stored n x k: column j of op(B) is row j of b */
            for (int j = 0; j < nr; j++) {
                const real *restrict from = b + (j0 + j) * ldb + k0;
                for (int64_t kk = 0; kk < kc; kk++) panel[kk * NR + j] = from[kk];
            }
            for (int j = nr; j < NR; j++)
                for (int64_t kk = 0; kk < kc; kk++) panel[kk * NR + j] = 0;
        }
        const int add = accumulate || k0 > 0;
        for (int64_t i0 = 0; i0 < m; i0 += MR) {
            const int mr = m - i0 < MR ? (int)(m - i0) : MR;
            const real *a_block = trans_a ? a + k0 * lda + i0 : a + i0 * lda + k0;
            kernel(kc, a_block, lda, trans_a, mr, panel, c + i0 * ldc + j0, ldc, nr, add);
        }
    }
}

CONTRACT void sn_gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const real *a, int64_t lda,
                      const real *b, int64_t ldb, real *c, int64_t ldc, int accumulate) {
    CONTRACT_HERE
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        if (!accumulate)
            for (int64_t i = 0; i < m; i++) memset(c + i * ldc, 0, (size_t)n * sizeof *c);
        return;
    }
    if (!trans_a && !trans_b && m < MR) {  /* a row or three: no packing, C row += a_k B row k */
        for (int64_t i = 0; i < m; i++) {
            real *restrict ci = c + i * ldc;
            const real *restrict ai = a + i * lda;
            if (!accumulate) memset(ci, 0, (size_t)n * sizeof *ci);
            for (int64_t kk = 0; kk < k; kk++) {
                const real x = ai[kk];
                const real *restrict bk = b + kk * ldb;
                for (int64_t j = 0; j < n; j++) ci[j] += x * bk[j];
            }
        }
        return;
    }
    const int64_t panels = (n + NR - 1) / NR;
    if (m * n * k > PARALLEL_WORK && panels > 1) {
        PARALLEL_FOR(1)
        for (int64_t p = 0; p < panels; p++) gemm_panel(p, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
    } else {
        for (int64_t p = 0; p < panels; p++) gemm_panel(p, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
    }
}

/* --------------------------------------------------------------------------------------------- */
/* the forward pass and sn_predict */

void sn_forward(const sn_net *net, sn_work *w) {
    const int layers = net->n_layers;
    const int64_t count = w->count;
    for (int l = 0; l < layers; l++) {
        const int n_in = net->sizes[l], n_out = net->sizes[l + 1];
        real *z = l == layers - 1 ? w->logits : w->act[l + 1];
        if (l == 0) {
            spmm(count, w->nz_start, w->nz_index, w->nz_value, net->weights[0], n_out, net->biases[0], z);
        } else {
            sn_gemm(0, 0, count, n_out, n_in, w->act[l], n_in, net->weights[l], n_out, z, n_out, 0);
            const real *restrict bias = net->biases[l];
            for (int64_t s = 0; s < count; s++) {
                real *restrict zs = z + s * n_out;
                for (int j = 0; j < n_out; j++) zs[j] = zs[j] + bias[j];
            }
        }
        sn_activate(l == layers - 1 ? net->output : net->hidden, z, w->act[l + 1], count, n_out);
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
        sn_load_batch(&w, net, images + start * net->sizes[0], NULL, count, 0);
        sn_forward(net, &w);
        memcpy(outputs + start * n_out, w.act[net->n_layers], (size_t)(count * n_out) * sizeof *outputs);
    }
    sn_work_free(&w);
    return 0;
}
