/* What the C files share and the library's users need not see. */
#ifndef SCRATCHNET_INTERNAL_H
#define SCRATCHNET_INTERNAL_H

#include "scratchnet.h"

/* A loop spread over the OpenMP threads when `condition` holds (and OpenMP is on). */
#define SN_PRAGMA(x) _Pragma(#x)
#ifdef _OPENMP
#define PARALLEL_FOR(condition) SN_PRAGMA(omp parallel for schedule(static) if (condition))
#else
#define PARALLEL_FOR(condition)
#endif
/* work (multiply-adds) below which a loop is not worth spreading over threads */
#define PARALLEL_WORK 300000

/* Record a printf-style one-line message for sn_error(); always returns -1, so callers can
   `return sn_fail("...", ...)`. */
int sn_fail(const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Whether s[0..n) is a number of docs/FORMAT.md's grammar (parameters, and the numeric options). */
int sn_is_number(const char *s, size_t n);

/* Read a whole file into memory (malloc'ed, NUL-terminated for convenience; *len excludes it). */
int sn_read_file(const char *path, uint8_t **bytes, size_t *len);

/* The file behind path: its symlinks followed to the end, even to a file not there yet. A malloc'd
   string, or NULL with errno set (ELOOP for a loop). */
char *sn_final_target(const char *path);

/* What a file that is not a regular one is, for messages ("a named pipe"), as files.py says it. */
const char *sn_file_kind(unsigned mode);

/* 60000 -> "60,000" (value >= 0), in out. */
const char *sn_with_commas(long long value, char out[32]);

/* --- network.c: network.py ---------------------------------------------------------------- */

/* check_architecture: 0, or -1 with a message: n_layers, sizes, activations (and the loss, unless
   loss < 0). */
int sn_check_net(const sn_net *net, int loss);

/* activate: a = f(z) for `rows` rows of n (softmax per row); z and a may be the same array. */
void sn_activate(int activation, const real *z, real *a, int64_t rows, int n);
/* delta[i] *= f'(z[i]) written in terms of a[i] = f(z[i]), as derivative (not softmax). */
void sn_times_derivative(int activation, real *delta, const real *a, int64_t count);
/* output_delta: dLoss/dz at the output for `rows` samples (rows x n); targets one-hot labels. */
void sn_output_delta(int loss, int output, const real *outputs, const uint8_t *labels, int64_t rows, int n,
                     real *delta);
/* loss_per_sample: each sample's loss from its logits (and outputs, for mse), rows x n -> rows. */
void sn_loss_per_sample(int loss, const real *logits, const real *outputs, const uint8_t *labels, int64_t rows,
                        int n, real *losses);
int sn_argmax(const real *v, int n);

/* The gradients of every layer, the parameters' shapes (what backward returns). */
typedef struct {
    real *weights[SN_MAX_LAYERS];  /* sizes[l] x sizes[l+1] */
    real *biases[SN_MAX_LAYERS];   /* sizes[l+1] */
} sn_grads;

/* Scratch for a batch of up to `capacity` samples: the inputs as sparse rows (zero pixels left
   out), every layer's activations, and for training the errors and gradients. */
typedef struct {
    int64_t capacity, count;         /* samples it holds room for, samples loaded */
    int32_t *nz_index;               /* CSR: sample s's non-zero pixels nz_index[nz_start[s]..] */
    real *nz_value;                  /* and their values pixel * (real)(1.0 / 255.0) */
    int64_t *nz_start;               /* capacity + 1 */
    int32_t *col_sample;             /* CSC of the same (training wide first layers only, else NULL) */
    real *col_value;
    int64_t *col_start;              /* sizes[0] + 1 */
    int64_t *cursor;                 /* sizes[0]: building the CSC */
    real *act[SN_MAX_LAYERS + 1];    /* act[l], l >= 1: capacity x sizes[l] (act[0] is the CSR) */
    real *logits;                    /* capacity x sizes[n_layers] */
    real *delta, *below;             /* capacity x the widest layer: dL/dz of a layer and of the one below */
    real *change;                    /* the widest layer: sgd_sample_step's lr * delta */
    uint64_t *mask;                  /* (sizes[0] + 63) / 64: sgd_sample_step's non-zero pixels */
    sn_grads grads;
} sn_work;

/* First layers at most this wide (bytes of a row of weights) get their batch gradient by adding
   into the rows each sample touches; wider ones from a column-major copy of the batch (CSC). */
#define SN_NARROW_BYTES 512
int sn_work_init(sn_work *w, const sn_net *net, int64_t capacity, int for_training);
void sn_work_free(sn_work *w);
/* Load images[order[0..count)] (order NULL: images[0..count)) as the batch, and its CSC if the
   work has room for one. */
/* Asks for an image's cache lines ahead of use: images are read in shuffled order, each from main memory. */
static inline void sn_prefetch_image(const uint8_t *px, int n) {
#ifdef __GNUC__
    for (int i = 0; i < n; i += 64) __builtin_prefetch(px + i);
#else
    (void)px;
    (void)n;
#endif
}
void sn_load_batch(sn_work *w, const sn_net *net, const uint8_t *images, const int64_t *order, int64_t count);
/* forward: the loaded batch's activations w->act[1..L] and w->logits (act[L] = the outputs);
   sn_forward_from starts at layer `first` >= 1, from w->act[first]. */
void sn_forward(const sn_net *net, sn_work *w);
void sn_forward_from(const sn_net *net, sn_work *w, int first);
/* backward: the gradients of the batch-mean loss of every layer, from sn_forward's activations and
   the output error dL/dz of each sample in w->delta (count x sizes[L]). Changes neither the
   network nor the activations (w->delta and w->below are its scratch). */
void sn_backward(const sn_net *net, sn_work *w, sn_grads *grads);

/* --- kernels.c: the fast products ------------------------------------------------------------ */

/* The non-zero pixels of an image of n: their indices and values pixel * (real)(1.0 / 255.0), in order;
   returns how many. It may write SN_PIXELS_SLACK entries past them. */
#define SN_PIXELS_SLACK 8
int sn_nonzero_pixels(const uint8_t *px, int n, int32_t *index, real *value);
/* x[i] = e^x[i], and x[i] = log(1 + x[i]), for i < n (kernels.c's libmvec says how they round). */
void sn_exp(real *x, int64_t n);
void sn_log1p(real *x, int64_t n);
/* The sum of n numbers in NumPy's order (pairwise, as np.sum along a contiguous axis). */
real sn_sum(const real *a, int64_t n);
/* out (rows x n) = S M (+ add on every row) for S sparse in CSR form (row r: index/value
   start[r] .. start[r + 1]) and M dense with n columns. */
void sn_spmm(int64_t rows, const int64_t *start, const int32_t *index, const real *value, const real *matrix, int n,
             const real *add, real *out);
/* C (m x n) = op(A) op(B) (+ C with `accumulate`), row-major with leading dimensions; op(A) is
   A (m x k), or A^T with trans_a where A is stored k x m; likewise B (k x n) or, with trans_b,
   stored n x k. */
void sn_gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const real *a, int64_t lda,
             const real *b, int64_t ldb, real *c, int64_t ldc, int accumulate);
/* The same product as the plain triple loop, to read and to test sn_gemm against. */
void sn_gemm_naive(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const real *a, int64_t lda,
                   const real *b, int64_t ldb, real *c, int64_t ldc, int accumulate);
/* The per-sample step's first layer, on one image's pixels px (n_in of them): mask, bit p % 64 of
   mask[p / 64] set for each non-zero pixel p, by sn_pixel_mask; sn_pixels_forward, z (n) = x matrix
   + add for x = px / 255 (the same bits as sn_spmm on its list); sn_pixels_update, matrix[p] -= x_p
   change for the non-zero pixels (each product rounded, then subtracted, as NumPy). */
void sn_pixel_mask(const uint8_t *px, int n, uint64_t *mask);
void sn_pixels_forward(int n_in, int n, const real *matrix, const uint64_t *mask, const uint8_t *px,
                       const real *add, real *z);
void sn_pixels_update(int n_in, int n, real *matrix, const uint64_t *mask, const uint8_t *px, const real *change);
/* The per-sample step of a dense layer, row by row: matrix[i] -= a[i] change (each product rounded, then
   subtracted), then below[i] = matrix[i] . delta through the new row (fused multiply-adds, j from 0 up). */
void sn_dense_rows_update(int n_in, int n_out, real *matrix, const real *a, const real *change, const real *delta,
                          real *below);
/* grad_w (n_inputs x n) = x^T delta for the loaded batch's sparse inputs x. */
void sn_sparse_input_gradient(const sn_work *w, int n_inputs, const real *delta, int n, real *grad_w);

/* --- optim.c: optim.py ----------------------------------------------------------------------- */

/* 0, or -1 with a message: the kind, its coefficients and its state for every layer of `net`.
   NULL is plain SGD. */
int sn_check_optimizer(const sn_optimizer_state *opt, const sn_net *net);
/* Optimizer.update: count the step (Adam's bias correction), then update every layer's weights
   and biases from their gradients (L2 weight decay on the weights). opt NULL: plain SGD. */
void sn_update(sn_net *net, sn_optimizer_state *opt, const sn_grads *grads, double lr);

/* --- train.c: numpy_engine.py ---------------------------------------------------------------- */

/* uses_sample_step: whether an epoch takes sn_sgd_sample_step (plain SGD, one sample a step, no
   weight decay) rather than sn_batch_step. */
int sn_uses_sample_step(int batch_size, const sn_optimizer_state *opt);
/* sgd_sample_step: forward, then plain SGD on one image (its pixels, not a loaded batch), each layer
   updated as soon as its error is known and the error then sent back through the updated weights. */
void sn_sgd_sample_step(sn_net *net, sn_work *w, const uint8_t *image, uint8_t label, double lr, int loss);
/* batch_step: forward, output_delta, backward, update, on the loaded batch (labels: its own). */
void sn_batch_step(sn_net *net, sn_optimizer_state *opt, sn_work *w, const uint8_t *labels, double lr, int loss);

#endif
