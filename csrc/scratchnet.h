/* scratchnet in C: the same network, training and files as the NumPy engine (src/scratchnet/).
 *
 * `real` is double, or float when built with -DSN_FLOAT32: the Makefile builds both
 * (libscratchnet64.so, libscratchnet32.so), as a checkpoint's dtype is float64 or float32.
 *
 * Layout, as in network.py: layer l maps sizes[l] inputs to sizes[l+1] outputs,
 *   weights[l]: sizes[l] x sizes[l+1], row-major (input-major): weights[l][i * n_out + j]
 *   biases[l]:  sizes[l+1]
 *   z = a @ W + b, a' = f(z). Inputs are pixels * (real)(1.0 / 255.0).
 * The caller owns every array; the library never allocates parameters it hands back.
 * Every function that can fail returns 0 on success, or -1 with a one-line message in
 * sn_error() (which names the file, line and column when parsing).
 */
#ifndef SCRATCHNET_H
#define SCRATCHNET_H

#include <stddef.h>
#include <stdint.h>

#ifdef SN_FLOAT32
typedef float real;
#else
typedef double real;
#endif

#define SN_MAX_LAYERS 16

enum sn_activation { SN_SIGMOID = 0, SN_TANH = 1, SN_RELU = 2, SN_SOFTMAX = 3 };
enum sn_loss { SN_BCE = 0, SN_CROSS_ENTROPY = 1, SN_MSE = 2 };
enum sn_optimizer { SN_SGD = 0, SN_MOMENTUM = 1, SN_NESTEROV = 2, SN_ADAM = 3 };
enum sn_schedule { SN_CONSTANT = 0, SN_INVERSE = 1, SN_STEP = 2, SN_COSINE = 3 };

typedef struct {
    int n_layers;                  /* layers of neurons; sizes has n_layers + 1 entries */
    int sizes[SN_MAX_LAYERS + 1];
    int hidden, output;            /* enum sn_activation */
    real *weights[SN_MAX_LAYERS];  /* caller-owned, see the layout above */
    real *biases[SN_MAX_LAYERS];
} sn_net;

typedef struct {
    int kind;                      /* enum sn_optimizer */
    double momentum;               /* momentum and nesterov */
    double weight_decay;           /* L2 on the weights, not the biases */
    int64_t steps;                 /* batches done so far (Adam's bias correction); updated */
    /* state, caller-owned, same shapes as the parameters; NULL where the kind has none:
       velocity (momentum, nesterov), m and v (adam) */
    real *velocity_w[SN_MAX_LAYERS], *velocity_b[SN_MAX_LAYERS];
    real *m_w[SN_MAX_LAYERS], *m_b[SN_MAX_LAYERS];
    real *v_w[SN_MAX_LAYERS], *v_b[SN_MAX_LAYERS];
} sn_optimizer_state;

const char *sn_error(void);

/* The learning rate of 0-based `epoch` in a run reaching `total_epochs` (optim.learning_rate). */
double sn_learning_rate(int schedule, double lr, double lr_decay, int lr_step, double lr_gamma,
                        int epoch, int total_epochs);

/* Training on the samples images[order[0..n)] (uint8, n_inputs pixels each), labels uint8, as
 * numpy_engine.py's train_epoch: a whole epoch (main.c) or a chunk of one (cengine.py calls it 2,000
 * samples at a time, so that Ctrl-C and the progress bar are seen between calls). Plain SGD without
 * weight decay at batch_size 1 takes one sample a step, each layer updated as soon as its error is
 * known and the error then sent back through the updated weights;
 * anything else takes batches of batch_size (1 included): the gradient of the batch-mean loss,
 * then the optimizer's update.
 * Writes the mean training loss and the running accuracy (fraction) if the pointers are non-NULL.
 * `stop`, if non-NULL, is polled after every batch: non-zero stops the epoch early;
 * *samples_done (if non-NULL) gets the count done. `order` NULL means file order, `opt` NULL
 * plain SGD. */
int sn_train_samples(sn_net *net, sn_optimizer_state *opt, int loss, const uint8_t *images,
                   const uint8_t *labels, const int64_t *order, int64_t n, int batch_size, double lr,
                   double *mean_loss, double *accuracy, volatile int *stop, int64_t *samples_done);

/* Output activations (n x sizes[n_layers]) for n images. */
int sn_predict(const sn_net *net, const uint8_t *images, int64_t n, real *outputs);

/* --- files -------------------------------------------------------------------------- */

/* The most data an IDX file may declare: 1 GiB (EMNIST ByClass, the largest set, has 547 MB). */
#define SN_IDX_MAX_BYTES ((uint64_t)1 << 30)

/* An IDX file of unsigned bytes, raw or gzip (inflated by zlib: link with -lz), as data.py's
 * read_idx: a regular file (or a symlink to one, checked before opening it), 1 or 3 dimensions,
 * none 0, at most SN_IDX_MAX_BYTES of data. The header is checked first; then only the data it
 * declares and one byte more is read or inflated. On success *data is malloc'ed (free with
 * sn_free), dims[0..*ndim) filled. */
int sn_read_idx(const char *path, uint8_t **data, int *ndim, int64_t dims[3]);
/* The same from memory (for fuzzing and tests); `name` is used in messages. */
int sn_parse_idx(const uint8_t *bytes, size_t len, const char *name, uint8_t **data, int *ndim,
                 int64_t dims[3]);

/* The text parameter format of docs/FORMAT.md. sn_read_params allocates the parameters (free
 * with sn_free_net) and sets *epochs. Numbers are read with strtod (strtof in the float32 build);
 * a file whose dtype is not this build's `real` is refused with a message saying so.
 * sn_write_params writes numbers as the shortest decimals that read back exactly, as Python's repr
 * and NumPy's str (params.c: Schubfach), with the build's dtype: the bytes textformat.py writes. */
int sn_read_params(const char *path, sn_net *net, int *epochs);
int sn_parse_params(const char *text, size_t len, const char *name, sn_net *net, int *epochs);
int sn_write_params(const char *path, const sn_net *net, int epochs); /* atomic: temp + rename */

/* A file as any write or replacement changes it: (st_dev, st_ino, st_size, st_mtim); all zero when
 * there is no file. sn_file_id_of returns -1 (sn_error) when the file cannot be looked at. */
typedef struct {
    uint64_t dev, ino;
    int64_t size, mtime_sec, mtime_nsec;
} sn_file_id;
int sn_file_id_of(const char *path, sn_file_id *id);
int sn_same_file_id(sn_file_id a, sn_file_id b);
/* sn_write_params, but only over the file `only_over` names (all zero: only where there is none),
 * as seen in the file the rename takes out (renameat2's RENAME_EXCHANGE; where the file system
 * cannot swap, a check then a rename): another file there stays, and it returns SN_CHANGED. */
#define SN_CHANGED 1
int sn_write_params_over(const char *path, const sn_net *net, int epochs, const sn_file_id *only_over);

int sn_real_bits(void); /* 64, or 32 in the float32 build */
/* n >= 1 caps the threads of the library's parallel loops at n (OpenMP's omp_set_num_threads, for
 * the calling thread); 0 changes nothing. Returns the threads they will use: 1 without OpenMP. */
int sn_threads(int n);
void sn_free(void *p);
void sn_free_net(sn_net *net); /* frees what sn_read_params/sn_parse_params allocated */

#endif
