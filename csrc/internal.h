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

/* What a file that is not a regular one is, for messages ("a named pipe"), as files.py says it. */
const char *sn_file_kind(unsigned mode);

/* --- network.c, for train.c: the arithmetic of network.py -------------------------------- */

/* a * b + c, fused where the machine has it (matrix products only: elementwise steps round each
   operation as NumPy does; -std=c11 keeps the compiler from fusing anything else). */
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
#ifdef SN_FLOAT32
#define SN_FMA(a, b, c) fmaf((a), (b), (c))
#else
#define SN_FMA(a, b, c) fma((a), (b), (c))
#endif
#else
#define SN_FMA(a, b, c) ((a) * (b) + (c))
#endif

/* 0, or -1 with a message: n_layers, sizes, activations (and the loss, unless loss < 0). */
int sn_check_net(const sn_net *net, int loss);

/* The sum of n numbers in NumPy's order (pairwise, as np.sum along a contiguous axis). */
real sn_sum(const real *a, int64_t n);

/* a = f(z) for `rows` rows of n (softmax per row); z and a may be the same array. */
void sn_activate(int activation, const real *z, real *a, int64_t rows, int n);
/* delta[i] *= f'(z[i]) written in terms of a[i] = f(z[i]), as network.derivative (not softmax). */
void sn_times_derivative(int activation, real *delta, const real *a, int64_t count);
/* dLoss/dz at the output for `rows` samples, as network.output_delta; targets one-hot labels. */
void sn_output_delta(int loss, int output, const real *outputs, const uint8_t *labels, int64_t rows, int n,
                     real *delta);
/* One sample's loss from its logits (and outputs, for mse), as network.loss_per_sample. */
real sn_sample_loss(int loss, const real *logits, const real *outputs, int label, int n);
int sn_argmax(const real *v, int n);

/* Scratch for a batch of up to `capacity` samples: the inputs as sparse rows (zero pixels left
   out), every layer's activations, and what backpropagation needs. */
typedef struct {
    int64_t capacity, count;         /* samples it holds room for, samples loaded */
    int32_t *nz_index;               /* CSR: sample s's non-zero pixels nz_index[nz_start[s]..] */
    real *nz_value;                  /* and their values pixel * (real)(1.0 / 255.0) */
    int64_t *nz_start;               /* capacity + 1 */
    int32_t *col_sample;             /* CSC of the same (wide first layers only, else NULL) */
    real *col_value;
    int64_t *col_start;              /* sizes[0] + 1 */
    real *act[SN_MAX_LAYERS + 1];    /* act[l], l >= 1: capacity x sizes[l] */
    real *logits;                    /* capacity x sizes[n_layers] */
    real *delta, *below;             /* capacity x the widest layer */
    real *grad_w, *grad_b;           /* the largest layer's */
    int64_t *cursor;                 /* sizes[0]: building the CSC */
} sn_work;

/* First layers at most this wide (bytes of a row of weights) get their batch gradient by adding
   into the rows each sample touches; wider ones from a column-major copy of the batch (CSC). */
#define SN_NARROW_BYTES 512
int sn_work_init(sn_work *w, const sn_net *net, int64_t capacity, int for_training);
void sn_work_free(sn_work *w);
/* Load images[order[0..count)] (order NULL: images[0..count)) as the batch; with `columns`,
   build the CSC too. */
void sn_load_batch(sn_work *w, const sn_net *net, const uint8_t *images, const int64_t *order, int64_t count,
                   int columns);
/* The forward pass of the loaded batch: w->act[1..L], w->logits (act[L] = outputs). */
void sn_forward(const sn_net *net, sn_work *w);
/* C (m x n) = op(A) op(B) (+ C with `accumulate`), row-major with leading dimensions; op(A) is
   A (m x k), or A^T with trans_a where A is stored k x m; likewise B (k x n) or, with trans_b,
   stored n x k. Blocked and vectorised, and spread over threads when built with OpenMP. */
void sn_gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const real *a, int64_t lda,
             const real *b, int64_t ldb, real *c, int64_t ldc, int accumulate);
/* matrix[index[k] * n + j] -= value[k] * change[j] for k < nnz, j < n: the seed's update of the
   rows of the non-zero pixels (each product rounded, then subtracted, as NumPy). */
void sn_sparse_rows_update(int64_t nnz, const int32_t *index, const real *value, real *matrix, int n,
                           const real *change);
/* grad_w (sizes[0] x n) = X^T delta for the loaded batch's sparse inputs (needs the CSC). */
void sn_sparse_input_gradient(const sn_work *w, int n_inputs, const real *delta, int n, real *grad_w);


#endif
