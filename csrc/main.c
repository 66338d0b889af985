/* scratchnet-c: train, evaluate and ask the network on MNIST without Python.
 *
 * The float64 engine of libscratchnet, on IDX files (raw or gzip) and the text parameter format
 * of docs/FORMAT.md, which the Python `scratchnet` reads too (`scratchnet import`). The defaults
 * are the seed's: 784-20-10 sigmoid, uniform(-0.5, 0.5) weights, per-sample SGD at lr 0.005 for
 * 5 epochs in file order. Every error is one line on stderr and exit status 1.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* flock */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h" /* sn_check_net */

#define PROGRAM "scratchnet-c"
#define DEFAULT_PARAMS "network_params.txt"
#define EXIT_ERROR 1
#define EXIT_INTERRUPTED 130

static const char *const HIDDEN_NAMES[] = {"sigmoid", "tanh", "relu", NULL};
static const char *const OUTPUT_NAMES[] = {"sigmoid", "", "", "softmax", NULL}; /* enum values */
static const char *const LOSS_NAMES[] = {"bce", "cross_entropy", "mse", NULL};
static const char *const OPTIMIZER_NAMES[] = {"sgd", "momentum", "nesterov", "adam", NULL};
static const char *const SCHEDULE_NAMES[] = {"constant", "inverse", "step", "cosine", NULL};
static const char *const INIT_NAMES[] = {"uniform", "xavier", "he", NULL};
static const char *const ACTIVATION_NAMES[] = {"sigmoid", "tanh", "relu", "softmax"};
static const char *const SET_NAMES[] = {"test", "train", NULL};
static const char SHADES[] = " .:-=+*#%@"; /* dark to bright */

static const char USAGE[] =
    "usage: " PROGRAM " COMMAND [options]\n"
    "\n"
    "A neural network from scratch, in C: train it on MNIST, evaluate it, ask it about digits.\n"
    "\n"
    "commands:\n"
    "  train                 train a network, resuming from --params if it exists\n"
    "  evaluate              accuracy, per-class accuracy and the confusion matrix\n"
    "  predict [INDEX...]    draw images, their label and the network's answer\n"
    "                        (asks for indices until 'q' or end of input without INDEX)\n"
    "\n"
    "common options:\n"
    "  --data DIR            folder of MNIST IDX files: train-images-idx3-ubyte, train-labels-idx1-ubyte,\n"
    "                        t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, raw or .gz\n"
    "                        (default: $SCRATCHNET_DATA, else the data/mnist folder of the repository\n"
    "                        this program was built in, found from its own path: csrc/../data/mnist)\n"
    "  --params FILE         text parameter file, docs/FORMAT.md (default: " DEFAULT_PARAMS "); train saves\n"
    "                        it atomically, through a symlink to its target, and not to - (it is read back)\n"
    "  --set test|train      evaluate, predict: which images (default: test)\n"
    "  -h, --help            show this help\n"
    "\n"
    "train options (defaults: the seed's; an existing --params file is resumed, with the\n"
    "architecture it holds, unless --fresh):\n"
    "  --fresh               start a new network even if --params exists\n"
    "  --wait                if another process is training --params, wait for it to finish and go\n"
    "                        on from there (default: refuse at once)\n"
    "  --epochs N            epochs to train in this run (default: 5)\n"
    "  --lr X                learning rate (default: 0.005)\n"
    "  --batch-size N        samples per update; 1 is the seed's per-sample SGD (default: 1)\n"
    "  --layers A,B,...      layer sizes, inputs first (default: 784,20,10)\n"
    "  --hidden NAME         sigmoid, tanh or relu (default: sigmoid)\n"
    "  --output NAME         sigmoid or softmax (default: sigmoid)\n"
    "  --loss NAME           bce, cross_entropy or mse (default: bce for sigmoid, cross_entropy for softmax)\n"
    "  --init NAME           uniform(-0.5, 0.5) as the seed, xavier or he (default: uniform)\n"
    "  --optimizer NAME      sgd, momentum, nesterov or adam (default: sgd)\n"
    "  --momentum X          for momentum and nesterov (default: 0.9)\n"
    "  --weight-decay X      L2 penalty on the weights (default: 0)\n"
    "  --schedule NAME       constant, inverse lr/(1+decay*epoch), step or cosine (default: constant)\n"
    "  --lr-decay X          of the inverse schedule (default: 0.1)\n"
    "  --lr-step N           epochs between steps of the step schedule (default: 10)\n"
    "  --lr-gamma X          factor of each step (default: 0.1)\n"
    "  --shuffle             shuffle the training set each epoch (default: file order, as the seed)\n"
    "  --seed N              random seed of the initial weights and the shuffling (default: 0)\n"
    "\n"
    "Ctrl-C during training stops after the current batch; the file keeps the last whole epoch (a\n"
    "text file has no place in an epoch), and the next run trains the interrupted one from its start.\n";

/* ------------------------------------------------------------------------------------------ */
/* errors and small helpers */

static void fail(const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2), noreturn))
#endif
    ;

static void fail(const char *format, ...) {
    char message[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    for (char *c = message; *c; c++) /* one line, whatever the message holds */
        if (*c == '\n' || *c == '\r') *c = ' ';
    fflush(stdout);
    fprintf(stderr, PROGRAM ": error: %s\n", message);
    exit(EXIT_ERROR);
}

static void fail_library(void) { fail("%s", sn_error()); }

/* what was printed reaches standard output now, or the run stops (train > /dev/full), before more work */
static void flush_output(void) {
    if (fflush(stdout) != 0) fail("cannot write the output: %s", strerror(errno));
}

static void *checked_malloc(size_t size) {
    void *p = malloc(size ? size : 1);
    if (!p) fail("out of memory (%zu bytes)", size);
    return p;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* 60000 -> "60,000" */
static const char *with_commas(long long value, char *buffer, size_t size) {
    char digits[32];
    snprintf(digits, sizeof digits, "%lld", value < 0 ? -value : value);
    size_t n = strlen(digits), at = 0;
    if (value < 0 && at + 1 < size) buffer[at++] = '-';
    for (size_t i = 0; i < n && at + 1 < size; i++) {
        if (i && (n - i) % 3 == 0 && at + 1 < size) buffer[at++] = ',';
        buffer[at++] = digits[i];
    }
    buffer[at] = 0;
    return buffer;
}

/* ------------------------------------------------------------------------------------------ */
/* options */

typedef struct {
    const char *command, *data, *params, *layers;
    const char *data_from;      /* where data came from, for messages: "--data", "SCRATCHNET_DATA" or NULL */
    char repository_data[4096]; /* the default: the repository's data/mnist */
    int set; /* 0 test, 1 train */
    int fresh, shuffle, wait;
    int epochs, batch_size, lr_step;
    int hidden, output, loss, optimizer, schedule, init; /* -1: not given */
    double lr, momentum, weight_decay, lr_decay, lr_gamma;
    unsigned long long seed;
    int n_indices;
    const char **indices;
} options;

static int choice(const char *option, const char *value, const char *const *names) {
    for (int i = 0; names[i]; i++)
        if (names[i][0] && strcmp(value, names[i]) == 0) return i;
    char allowed[256] = "";
    for (int i = 0; names[i]; i++) {
        if (!names[i][0]) continue;
        if (allowed[0]) strncat(allowed, ", ", sizeof allowed - strlen(allowed) - 1);
        strncat(allowed, names[i], sizeof allowed - strlen(allowed) - 1);
    }
    fail("%s: unknown value '%s': choose one of %s", option, value, allowed);
}

/* [+-] digits, ASCII only (docs/FORMAT.md: the options follow the files' grammar); strtol alone
   would take leading blanks. */
static int is_whole(const char *text, size_t n) {
    size_t k = n && (text[0] == '+' || text[0] == '-');
    if (k == n) return 0;
    while (k < n && text[k] >= '0' && text[k] <= '9') k++;
    return k == n;
}

static long long whole_number(const char *option, const char *text, long long low, long long high) {
    if (!is_whole(text, strlen(text))) fail("%s: '%s' is not a whole number", option, text);
    errno = 0;
    long long value = strtoll(text, NULL, 10);
    if (errno == ERANGE || value < low || value > high)
        fail("%s must be from %lld to %lld, got %s", option, low, high, text);
    return value;
}

static double number(const char *option, const char *text) {
    if (!sn_is_number(text, strlen(text))) fail("%s: '%s' is not a number", option, text);  /* no 0x10, nan */
    double value = strtod(text, NULL);
    if (!isfinite(value) || value < 0) fail("%s must be a finite number >= 0, got %s", option, text);
    return value;
}

static void parse_layers(const char *text, sn_net *net) {
    int count = 0;
    const char *p = text;
    memset(net->sizes, 0, sizeof net->sizes);
    for (;;) {
        char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        errno = 0;
        long value = is_whole(p, n) ? strtol(p, &end, 10) : 0;
        if (!is_whole(p, n) || errno == ERANGE)
            fail("--layers '%s' is not a comma-separated list of sizes, e.g. 784,20,10", text);
        if (value < 1 || value > 1000000) fail("--layers '%s': sizes must be from 1 to 1000000", text);
        if (count > SN_MAX_LAYERS) fail("--layers '%s': at most %d sizes", text, SN_MAX_LAYERS + 1);
        net->sizes[count++] = (int)value;
        if (!*end) break;
        p = end + 1;
    }
    if (count < 2) fail("--layers '%s': need two or more sizes of at least 1", text);
    net->n_layers = count - 1;
}

/* Without --data: $SCRATCHNET_DATA, as scratchnet reads it; else the repository's own MNIST, found
   from where this program is (REPO/csrc/scratchnet-c -> REPO/data/mnist), whatever the current folder. */
static void default_data(options *o) {
    const char *env = getenv("SCRATCHNET_DATA");
    if (env && *env) {
        o->data = env, o->data_from = "SCRATCHNET_DATA";
        return;
    }
    char self[sizeof o->repository_data - 16];
    const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    char *slash = NULL;
    if (n > 0) {
        self[n] = 0;
        if ((slash = strrchr(self, '/'))) *slash = 0;               /* REPO/csrc */
        if (slash && (slash = strrchr(self, '/'))) slash[1] = 0;    /* REPO/ */
    }
    if (!slash) fail("cannot tell where " PROGRAM " is (/proc/self/exe), so not where its data is: give --data DIR");
    snprintf(o->repository_data, sizeof o->repository_data, "%sdata/mnist", self);
    o->data = o->repository_data;
}

static void parse(int argc, char **argv, options *o) {
    memset(o, 0, sizeof *o);
    o->params = DEFAULT_PARAMS;
    o->epochs = 5;
    o->batch_size = 1;
    o->lr = 0.005;
    o->momentum = 0.9;
    o->lr_decay = 0.1;
    o->lr_step = 10;
    o->lr_gamma = 0.1;
    o->hidden = o->output = o->loss = o->init = -1;
    o->optimizer = 0;
    o->schedule = 0;
    o->indices = checked_malloc(sizeof(char *) * (size_t)(argc > 0 ? argc : 1));
    if (argc < 2) fail("no command given: train, evaluate or predict (see " PROGRAM " --help)");
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            fputs(USAGE, stdout);
            exit(0);
        }
    }
    o->command = argv[1];
    if (strcmp(o->command, "train") && strcmp(o->command, "evaluate") && strcmp(o->command, "predict"))
        fail("unknown command '%s': choose train, evaluate or predict (see " PROGRAM " --help)", o->command);
    const int training = strcmp(o->command, "train") == 0;
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0 || strcmp(arg, "--") == 0) {
            if (strcmp(arg, "--") == 0) {
                for (i++; i < argc; i++) o->indices[o->n_indices++] = argv[i];
                break;
            }
            if (strcmp(o->command, "predict") != 0) fail("unexpected argument '%s' (see " PROGRAM " --help)", arg);
            o->indices[o->n_indices++] = arg;
            continue;
        }
        /* --name value or --name=value */
        char name[64];
        const char *value = NULL, *eq = strchr(arg, '=');
        size_t length = eq ? (size_t)(eq - arg) : strlen(arg);
        if (length >= sizeof name) fail("unknown option %.40s... (see " PROGRAM " --help)", arg);
        memcpy(name, arg, length);
        name[length] = 0;
        static const char *const flags[] = {"--fresh", "--shuffle", "--wait", NULL};
        int is_flag = 0;
        for (int f = 0; flags[f]; f++) is_flag |= strcmp(name, flags[f]) == 0;
        if (is_flag) {
            if (eq) fail("%s takes no value", name);
            if (!training) fail("%s is a train option (see " PROGRAM " --help)", name);
            if (strcmp(name, "--fresh") == 0) o->fresh = 1;
            else if (strcmp(name, "--wait") == 0) o->wait = 1;
            else o->shuffle = 1;
            continue;
        }
        if (eq) {
            value = eq + 1;
        } else {
            if (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)
                fail("%s needs a value (see " PROGRAM " --help)", name);
            value = argv[++i];
        }
        if (strcmp(name, "--data") == 0) { o->data = value, o->data_from = "--data"; continue; }
        if (strcmp(name, "--params") == 0) { o->params = value; continue; }
        if (strcmp(name, "--set") == 0) {
            if (training) fail("--set is for evaluate and predict");
            o->set = choice(name, value, SET_NAMES);
            continue;
        }
        if (!training) fail("unknown option %s for %s (see " PROGRAM " --help)", name, o->command);
        if (strcmp(name, "--epochs") == 0) o->epochs = (int)whole_number(name, value, 0, 1000000);
        else if (strcmp(name, "--batch-size") == 0) o->batch_size = (int)whole_number(name, value, 1, 10000000);
        else if (strcmp(name, "--lr-step") == 0) o->lr_step = (int)whole_number(name, value, 1, 1000000);
        else if (strcmp(name, "--seed") == 0) o->seed = (unsigned long long)whole_number(name, value, 0, LLONG_MAX);
        else if (strcmp(name, "--lr") == 0) o->lr = number(name, value);
        else if (strcmp(name, "--momentum") == 0) o->momentum = number(name, value);
        else if (strcmp(name, "--weight-decay") == 0) o->weight_decay = number(name, value);
        else if (strcmp(name, "--lr-decay") == 0) o->lr_decay = number(name, value);
        else if (strcmp(name, "--lr-gamma") == 0) o->lr_gamma = number(name, value);
        else if (strcmp(name, "--layers") == 0) o->layers = value;
        else if (strcmp(name, "--hidden") == 0) o->hidden = choice(name, value, HIDDEN_NAMES);
        else if (strcmp(name, "--output") == 0) o->output = choice(name, value, OUTPUT_NAMES);
        else if (strcmp(name, "--loss") == 0) o->loss = choice(name, value, LOSS_NAMES);
        else if (strcmp(name, "--optimizer") == 0) o->optimizer = choice(name, value, OPTIMIZER_NAMES);
        else if (strcmp(name, "--schedule") == 0) o->schedule = choice(name, value, SCHEDULE_NAMES);
        else if (strcmp(name, "--init") == 0) o->init = choice(name, value, INIT_NAMES);
        else fail("unknown option %s (see " PROGRAM " --help)", name);
    }
    if (o->n_indices && strcmp(o->command, "predict") != 0) fail("unexpected argument '%s'", o->indices[0]);
    if (!o->data) default_data(o);
}

/* ------------------------------------------------------------------------------------------ */
/* data */

typedef struct {
    uint8_t *images, *labels;
    int64_t n, rows, cols;
} image_set;

typedef struct {
    image_set train, test;
    char source[1024];
} dataset;

static void idx_path(const char *folder, const char *name, char *path, size_t size) {
    /* the standard names, raw or .gz; also Kaggle's spelling "train-images.idx3-ubyte" */
    char dotted[64];
    snprintf(dotted, sizeof dotted, "%s", name);
    char *dash = strstr(dotted, "-idx");
    if (dash) *dash = '.';
    const char *forms[4][2] = {{name, ""}, {name, ".gz"}, {dotted, ""}, {dotted, ".gz"}};
    for (int i = 0; i < 4; i++) {
        snprintf(path, size, "%s/%s%s", folder, forms[i][0], forms[i][1]);
        struct stat st;
        if (stat(path, &st) == 0) return;  /* any file: a FIFO of that name gets sn_read_idx's message */
    }
    fail("%s: no %s[.gz] in this folder (an MNIST IDX folder needs train-images-idx3-ubyte, "
         "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, raw or .gz; see --data)",
         folder, name);
}

static void read_set(const char *folder, const char *image_name, const char *label_name, image_set *set) {
    char image_path[1200], label_path[1200];
    idx_path(folder, image_name, image_path, sizeof image_path);
    idx_path(folder, label_name, label_path, sizeof label_path);
    int ndim;
    int64_t dims[3];
    if (sn_read_idx(image_path, &set->images, &ndim, dims)) fail_library();
    if (ndim != 3) fail("%s: expected images (n, rows, cols), got %d dimensions", image_path, ndim);  /* none 0 */
    set->n = dims[0];
    set->rows = dims[1];
    set->cols = dims[2];
    if (sn_read_idx(label_path, &set->labels, &ndim, dims)) fail_library();
    if (ndim != 1) fail("%s: expected labels (n,), got %d dimensions", label_path, ndim);
    if (dims[0] != set->n)
        fail("%s has %lld images but %s has %lld labels", image_path, (long long)set->n, label_path,
             (long long)dims[0]);
    for (int64_t i = 0; i < set->n; i++)
        if (set->labels[i] > 9) fail("%s: label %d is outside 0-9", label_path, set->labels[i]);
}

/* `from`: what gave the folder ("--data", "SCRATCHNET_DATA"), NULL for the repository's own */
static void load_data(const char *folder, const char *from, dataset *d) {
    struct stat st;
    if (stat(folder, &st) != 0) {
        if (from) fail("%s: %s (given by %s)", folder, strerror(errno), from);
        fail("%s: %s: no repository's MNIST beside this program; give an MNIST IDX folder with --data DIR or "
             "SCRATCHNET_DATA", folder, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        fail("%s is not a folder: " PROGRAM " reads a folder of MNIST IDX files (see --help)", folder);
    snprintf(d->source, sizeof d->source, "%s", folder);
    read_set(folder, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", &d->train);
    read_set(folder, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", &d->test);
    if (d->train.rows != d->test.rows || d->train.cols != d->test.cols)
        fail("%s: test images are %lldx%lld but training images are %lldx%lld", folder, (long long)d->test.rows,
             (long long)d->test.cols, (long long)d->train.rows, (long long)d->train.cols);
}

static void free_data(dataset *d) {
    sn_free(d->train.images);
    sn_free(d->train.labels);
    sn_free(d->test.images);
    sn_free(d->test.labels);
}

static void check_fits(const char *params, const sn_net *net, const dataset *d) {
    const int64_t pixels = d->train.rows * d->train.cols;
    if (net->sizes[0] != pixels)
        fail("%s: the network takes %d inputs but %s has images of %lld pixels", params, net->sizes[0], d->source,
             (long long)pixels);
    int top = 0;
    for (int64_t i = 0; i < d->train.n; i++) top = d->train.labels[i] > top ? d->train.labels[i] : top;
    for (int64_t i = 0; i < d->test.n; i++) top = d->test.labels[i] > top ? d->test.labels[i] : top;
    if (top >= net->sizes[net->n_layers])
        fail("%s: label %d needs more than the network's %d outputs", d->source, top, net->sizes[net->n_layers]);
}

/* ------------------------------------------------------------------------------------------ */
/* the network */

static void describe(const sn_net *net, char *text, size_t size) {
    size_t at = 0;
    for (int l = 0; l <= net->n_layers && at < size; l++)
        at += (size_t)snprintf(text + at, size - at, "%s%d", l ? "-" : "", net->sizes[l]);
    if (at < size)
        snprintf(text + at, size - at, " %s/%s float%d", ACTIVATION_NAMES[net->hidden],
                 ACTIVATION_NAMES[net->output], sn_real_bits());
}

/* splitmix64: a small, good generator; its own stream, not NumPy's */
static uint64_t next_random(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double uniform01(uint64_t *state) { return (double)(next_random(state) >> 11) * 0x1.0p-53; }

static void create(sn_net *net, int init, uint64_t seed) {
    uint64_t state = seed ^ 0x5eed5eed5eed5eedULL;
    for (int l = 0; l < net->n_layers; l++) {
        const int fan_in = net->sizes[l], fan_out = net->sizes[l + 1];
        const size_t count = (size_t)fan_in * (size_t)fan_out;
        net->weights[l] = checked_malloc(count * sizeof(real));
        net->biases[l] = calloc((size_t)fan_out, sizeof(real));
        if (!net->biases[l]) fail("out of memory");
        for (size_t i = 0; i < count; i++) {
            double w;
            if (init == 0) { /* the seed's uniform(-0.5, 0.5) */
                w = uniform01(&state) - 0.5;
            } else if (init == 1) { /* xavier: uniform(-limit, limit) */
                const double limit = sqrt(6.0 / (fan_in + fan_out));
                w = (2 * uniform01(&state) - 1) * limit;
            } else { /* he: normal(0, sqrt(2 / fan_in)), Box-Muller */
                const double u1 = 1.0 - uniform01(&state), u2 = uniform01(&state);
                w = sqrt(-2 * log(u1)) * cos(2 * 3.141592653589793 * u2) * sqrt(2.0 / fan_in);
            }
            net->weights[l][i] = (real)w;
        }
    }
}

static int all_finite(const sn_net *net) {
    for (int l = 0; l < net->n_layers; l++) {
        const int64_t count = (int64_t)net->sizes[l] * net->sizes[l + 1];
        for (int64_t i = 0; i < count; i++)
            if (!isfinite(net->weights[l][i])) return 0;
        for (int j = 0; j < net->sizes[l + 1]; j++)
            if (!isfinite(net->biases[l][j])) return 0;
    }
    return 1;
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static void load_params(const char *path, sn_net *net, int *epochs) {
    if (!file_exists(path))
        fail("%s: no such parameter file (train one with `" PROGRAM " train`, or give --params)", path);
    if (sn_read_params(path, net, epochs)) fail_library();
}

/* predicted classes for a set, a chunk at a time */
static void predict_all(const sn_net *net, const image_set *set, int *predicted) {
    const int n_out = net->sizes[net->n_layers];
    const int64_t chunk = 10000, pixels = set->rows * set->cols;
    real *outputs = checked_malloc((size_t)chunk * (size_t)n_out * sizeof(real));
    for (int64_t start = 0; start < set->n; start += chunk) {
        const int64_t count = set->n - start < chunk ? set->n - start : chunk;
        if (sn_predict(net, set->images + start * pixels, count, outputs)) fail_library();
        for (int64_t i = 0; i < count; i++) {
            const real *o = outputs + i * n_out;
            int best = 0;
            for (int j = 1; j < n_out; j++)
                if (o[j] > o[best]) best = j;
            predicted[start + i] = best;
        }
    }
    free(outputs);
}

static double accuracy_of(const sn_net *net, const image_set *set) {
    int *predicted = checked_malloc((size_t)set->n * sizeof(int));
    predict_all(net, set, predicted);
    int64_t right = 0;
    for (int64_t i = 0; i < set->n; i++) right += predicted[i] == set->labels[i];
    free(predicted);
    return (double)right / (double)set->n;
}

/* ------------------------------------------------------------------------------------------ */
/* one writer per parameter file: the protocol of docs/FORMAT.md ("Locking"), as
   src/scratchnet/lock.py, so this program and the Python trainer exclude each other */

#define MAX_PATH 4096

/* The file `path` names, its symlinks resolved (the file itself need not exist yet), as
   os.path.realpath: the symlinks of the last component followed, then the folder resolved. */
static void resolve_path(const char *path, char *actual) {
    char p[MAX_PATH], target[MAX_PATH];
    if (snprintf(p, sizeof p, "%s", path) >= (int)sizeof p) fail("%.60s...: path too long", path);
    for (size_t n = strlen(p); n > 1 && p[n - 1] == '/'; n--) p[n - 1] = 0;
    struct stat st;
    for (int hops = 0; lstat(p, &st) == 0 && S_ISLNK(st.st_mode); hops++) {
        const ssize_t n = readlink(p, target, sizeof target - 1);
        if (n < 0 || hops == 40) fail("%s: cannot follow the symlink: %s", path, n < 0 ? strerror(errno) : "a loop");
        target[n] = 0;
        const char *slash = strrchr(p, '/');
        char joined[2 * MAX_PATH];
        if (target[0] == '/' || !slash) snprintf(joined, sizeof joined, "%s", target);
        else snprintf(joined, sizeof joined, "%.*s/%s", (int)(slash - p), p, target);
        if (snprintf(p, sizeof p, "%s", joined) >= (int)sizeof p) fail("%.60s...: path too long", path);
    }
    const char *slash = strrchr(p, '/');
    char folder[MAX_PATH], resolved[PATH_MAX];
    snprintf(folder, sizeof folder, "%.*s", slash ? (slash == p ? 1 : (int)(slash - p)) : 1, slash ? p : ".");
    if (!realpath(folder, resolved)) fail("cannot write %s: folder %s does not exist", path, folder);
    const char *name = slash ? slash + 1 : p;
    if (!name[0] || (stat(p, &st) == 0 && S_ISDIR(st.st_mode))) fail("cannot write %s: it is a folder", path);
    if (snprintf(actual, MAX_PATH, "%s%s%s", resolved, strcmp(resolved, "/") ? "/" : "", name) >= MAX_PATH)
        fail("%.60s...: path too long", path);
}

static char held_lock[MAX_PATH + 8]; /* the lock file this process holds, removed as it exits */

static void release_lock(void) {
    if (held_lock[0]) unlink(held_lock); /* still holding it: the lock goes when the process does */
}

/* "pid 1234", or "another process" before the holder has written its pid */
static void lock_holder(int fd, char *holder, size_t size) {
    char text[32];
    const ssize_t n = pread(fd, text, sizeof text - 1, 0);
    text[n > 0 ? n : 0] = 0;
    char *end;
    const long pid = strtol(text, &end, 10);
    if (end != text && (*end == '\n' || !*end) && pid > 0) snprintf(holder, size, "pid %ld", pid);
    else snprintf(holder, size, "another process");
}

/* Hold .NAME.lock beside `actual` (from resolve_path) until the process exits. */
static void lock_params(const char *params, const char *actual, int wait) {
    char lock[MAX_PATH + 8];
    const char *slash = strrchr(actual, '/');
    snprintf(lock, sizeof lock, "%.*s.%s.lock", (int)(slash - actual) + 1, actual, slash + 1);
    for (;;) {
        const int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) fail("cannot lock %s: %s: %s", params, lock, strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            if (errno != EWOULDBLOCK) fail("cannot lock %s: %s: %s", params, lock, strerror(errno));
            char holder[64];
            lock_holder(fd, holder, sizeof holder);
            if (!wait) fail("%s is in use by %s (lock file %s): wait for it to finish, or pass --wait", params, holder, lock);
            fprintf(stderr, PROGRAM ": %s is in use by %s: waiting for it to finish\n", params, holder);
            while (flock(fd, LOCK_EX) != 0)
                if (errno != EINTR) fail("cannot lock %s: %s: %s", params, lock, strerror(errno));
        }
        /* its last holder removes the file as it lets go: go on only if the path still names it */
        struct stat mine, named;
        if (fstat(fd, &mine) == 0 && stat(lock, &named) == 0 && mine.st_dev == named.st_dev &&
            mine.st_ino == named.st_ino) {
            snprintf(held_lock, sizeof held_lock, "%s", lock);
            atexit(release_lock);
            char pid[32];
            const int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
            if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n)
                fail("cannot lock %s: %s: %s", params, lock, strerror(errno));
            return; /* fd stays open, and the lock held, until exit */
        }
        close(fd);
    }
}

/* (st_dev, st_ino, st_size, st_mtime) of the file, or all zero when there is none: any write or
   replacement changes it */
typedef struct {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} identity;

static identity identity_of(const char *path) {
    identity id;
    memset(&id, 0, sizeof id);
    struct stat st;
    if (stat(path, &st) == 0) {
        id.dev = st.st_dev;
        id.ino = st.st_ino;
        id.size = st.st_size;
        id.mtime = st.st_mtim;
    } else if (errno != ENOENT) {
        fail("%s: %s", path, strerror(errno));
    }
    return id;
}

static int same_identity(const identity *a, const identity *b) {
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
           a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static volatile sig_atomic_t saving; /* a second Ctrl-C waits while it is set (on_interrupt) */

/* sn_write_params, with a second Ctrl-C held off until the file is whole */
static void write_params(const char *path, const sn_net *net, int epochs) {
    saving = 1;
    const int err = sn_write_params(path, net, epochs);
    saving = 0;
    if (err) fail_library();
}

/* sn_write_params to the file `params` names (`actual`), unless it changed on disk since this run
   read it or last wrote it (*on_disk): then it is left as it is, the network goes to
   NAME.conflict-PID.SUFFIX beside it, and the run stops saying so: neither is lost. */
static void save_params(const char *params, const char *actual, const sn_net *net, int epochs, identity *on_disk) {
    const identity now = identity_of(params);
    if (!same_identity(&now, on_disk)) {
        const char *slash = strrchr(params, '/'), *name = slash ? slash + 1 : params, *dot = strrchr(name, '.');
        if (!dot || dot == name) dot = name + strlen(name);
        char sibling[MAX_PATH + 64];
        struct stat st;
        for (int n = 1;; n++) {
            char count[16] = "";
            if (n > 1) snprintf(count, sizeof count, "-%d", n);
            snprintf(sibling, sizeof sibling, "%.*s.conflict-%ld%s%s", (int)(dot - params), params, (long)getpid(),
                     count, dot);
            if (lstat(sibling, &st) != 0) break;
        }
        write_params(sibling, net, epochs);
        fail("%s changed on disk while this run was training it (another program wrote it?): left as it is; "
             "this run's network (%d epochs) is saved in %s",
             params, epochs, sibling);
    }
    write_params(actual, net, epochs);
    *on_disk = identity_of(params);
}

/* ------------------------------------------------------------------------------------------ */
/* train */

static volatile int stop_requested;

/* The first Ctrl-C asks training to stop after the current batch; a second one stops at once,
   unless the parameters are being written: the write finishes first, so that no temporary file
   is left behind. */
static void on_interrupt(int signum) {
    if (stop_requested && !saving) {
        signal(signum, SIG_DFL);
        raise(signum);
    }
    stop_requested = 1;
}

static int command_train(const options *o) {
    if (!o->params[0]) fail("the file name is empty: give a file to write");
    if (strcmp(o->params, "-") == 0)
        fail("cannot write to - (standard output) here: this file is read back later, so give a file name");
    char actual[MAX_PATH];
    resolve_path(o->params, actual); /* checks its folder is there before any work */
    lock_params(o->params, actual, o->wait); /* for the whole run: the file read is the one extended */
    identity on_disk = identity_of(o->params); /* before reading it: a change meanwhile is seen too */
    sn_net net;
    memset(&net, 0, sizeof net);
    int epochs_done = 0;
    const int resuming = !o->fresh && file_exists(o->params);
    sn_net asked;
    memset(&asked, 0, sizeof asked);
    parse_layers(o->layers ? o->layers : "784,20,10", &asked);
    asked.hidden = o->hidden >= 0 ? o->hidden : SN_SIGMOID;
    asked.output = o->output >= 0 ? o->output : SN_SIGMOID;
    if (resuming) {
        if (sn_read_params(o->params, &net, &epochs_done)) fail_library();
        /* the file's architecture, unless asked for another one: then refuse */
        int differs = (o->hidden >= 0 && o->hidden != net.hidden) || (o->output >= 0 && o->output != net.output);
        if (o->layers) {
            differs |= asked.n_layers != net.n_layers;
            for (int l = 0; l <= asked.n_layers && !differs; l++) differs |= asked.sizes[l] != net.sizes[l];
        }
        if (differs) {
            if (!o->layers) memcpy(asked.sizes, net.sizes, sizeof net.sizes), asked.n_layers = net.n_layers;
            if (o->hidden < 0) asked.hidden = net.hidden;
            if (o->output < 0) asked.output = net.output;
            char held[512], wanted[512];
            describe(&net, held, sizeof held);
            describe(&asked, wanted, sizeof wanted);
            fail("%s holds a %s network, not the %s asked for: pass --fresh to start over in that file, or "
                 "--params to use another",
                 o->params, held, wanted);
        }
    } else {
        net.n_layers = asked.n_layers;
        memcpy(net.sizes, asked.sizes, sizeof net.sizes);
        net.hidden = asked.hidden;
        net.output = asked.output;
    }
    const int loss = o->loss >= 0 ? o->loss : net.output == SN_SOFTMAX ? SN_CROSS_ENTROPY : SN_BCE;
    /* checks the architecture and the loss before any work; the weights are not there yet */
    {
        sn_net probe = net;
        static real dummy[1];
        for (int l = 0; l < probe.n_layers; l++)
            if (!probe.weights[l]) probe.weights[l] = probe.biases[l] = dummy;
        if (sn_check_net(&probe, loss)) fail_library();
    }
    dataset d;
    memset(&d, 0, sizeof d);
    load_data(o->data, o->data_from, &d);
    check_fits(o->params, &net, &d);
    if (!resuming) create(&net, o->init >= 0 ? o->init : 0, o->seed);

    /* optimizer state: zeros, as the text format keeps none */
    sn_optimizer_state opt;
    memset(&opt, 0, sizeof opt);
    opt.kind = o->optimizer;
    opt.momentum = o->momentum;
    opt.weight_decay = o->weight_decay;
    for (int l = 0; l < net.n_layers; l++) {
        const size_t nw = (size_t)net.sizes[l] * (size_t)net.sizes[l + 1], nb = (size_t)net.sizes[l + 1];
        if (opt.kind == SN_MOMENTUM || opt.kind == SN_NESTEROV) {
            opt.velocity_w[l] = calloc(nw, sizeof(real));
            opt.velocity_b[l] = calloc(nb, sizeof(real));
            if (!opt.velocity_w[l] || !opt.velocity_b[l]) fail("out of memory");
        } else if (opt.kind == SN_ADAM) {
            opt.m_w[l] = calloc(nw, sizeof(real));
            opt.m_b[l] = calloc(nb, sizeof(real));
            opt.v_w[l] = calloc(nw, sizeof(real));
            opt.v_b[l] = calloc(nb, sizeof(real));
            if (!opt.m_w[l] || !opt.m_b[l] || !opt.v_w[l] || !opt.v_b[l]) fail("out of memory");
        }
    }

    char text[512], count[32];
    describe(&net, text, sizeof text);
    char began[64];
    if (epochs_done) snprintf(began, sizeof began, "resuming after %d epochs", epochs_done);
    else snprintf(began, sizeof began, "new network");
    printf("%s, %s: %d epochs, lr %g, batch %d, %s, %s schedule\n", text, began, o->epochs, o->lr, o->batch_size,
           OPTIMIZER_NAMES[o->optimizer], SCHEDULE_NAMES[o->schedule]);
    printf("data %s, params %s\n", d.source, o->params);
    flush_output();

    const int64_t n = d.train.n;
    int64_t *order = checked_malloc((size_t)n * sizeof *order);
    struct sigaction interrupt = {.sa_handler = on_interrupt}; /* unlike signal() in strict C, stays installed */
    sigemptyset(&interrupt.sa_mask);
    sigaction(SIGINT, &interrupt, NULL);
    const int total = epochs_done + o->epochs;
    int status = 0;
    for (int epoch = epochs_done; epoch < total; epoch++) {
        const double lr = sn_learning_rate(o->schedule, o->lr, o->lr_decay, o->lr_step, o->lr_gamma, epoch, total);
        if (!isfinite(lr)) fail_library();
        for (int64_t i = 0; i < n; i++) order[i] = i;
        if (o->shuffle) { /* Fisher-Yates, one stream per epoch: a resumed run shuffles as an unbroken one */
            uint64_t state = o->seed * 0x9e3779b97f4a7c15ULL + (uint64_t)epoch + 1;
            for (int64_t i = n - 1; i > 0; i--) {
                const int64_t j = (int64_t)(next_random(&state) % (uint64_t)(i + 1));
                const int64_t t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
        }
        double mean_loss, accuracy;
        int64_t done;
        const double began_at = now();
        if (sn_train_epoch(&net, &opt, loss, d.train.images, d.train.labels, order, n, o->batch_size, lr,
                           &mean_loss, &accuracy, &stop_requested, &done))
            fail_library();
        const double seconds = now() - began_at;
        if (stop_requested) {
            /* Nothing is saved: a text file has no place in an epoch, so it keeps the last whole epoch,
               from which the next run trains this one again, as an unbroken run would. */
            fflush(stdout);
            char total_count[32], kept[64] = "was not written";
            if (epochs_done) snprintf(kept, sizeof kept, "keeps the network of epoch %d", epochs_done);
            fprintf(stderr,
                    PROGRAM ": interrupted in epoch %d after %s of %s samples; %s %s, as a text file has no place in "
                    "an epoch: the next run trains epoch %d from its start.\n",
                    epoch + 1, with_commas(done, count, sizeof count), with_commas(n, total_count, sizeof total_count),
                    o->params, kept, epoch + 1);
            status = EXIT_INTERRUPTED;
            break;
        }
        if (!isfinite(mean_loss) || !all_finite(&net))
            fail("training diverged in epoch %d: the loss is %g; try a smaller --lr (now %g)", epoch + 1, mean_loss,
                 lr);
        const double test = accuracy_of(&net, &d.test);
        epochs_done = epoch + 1;
        save_params(o->params, actual, &net, epochs_done, &on_disk);
        printf("epoch %3d  loss %.4f  train %.2f%%  test %.2f%%  %6.2f s  %9s samples/s\n", epoch + 1, mean_loss,
               100 * accuracy, 100 * test, seconds,
               with_commas((long long)llround((double)n / (seconds > 0 ? seconds : 1e-9)), count, sizeof count));
        flush_output();
    }
    if (!status) {
        if (o->epochs == 0) save_params(o->params, actual, &net, epochs_done, &on_disk);
        printf("saved %s (%d epochs in all)\n", o->params, epochs_done);
    }
    signal(SIGINT, SIG_DFL);
    free(order);
    for (int l = 0; l < SN_MAX_LAYERS; l++) {
        free(opt.velocity_w[l]);
        free(opt.velocity_b[l]);
        free(opt.m_w[l]);
        free(opt.m_b[l]);
        free(opt.v_w[l]);
        free(opt.v_b[l]);
    }
    sn_free_net(&net);
    free_data(&d);
    return status;
}

/* ------------------------------------------------------------------------------------------ */
/* evaluate and predict */

/* The network in --params and the data in --data, checked to fit each other. */
static void load_model_and_data(const options *o, sn_net *net, dataset *d) {
    int epochs;
    load_params(o->params, net, &epochs);
    memset(d, 0, sizeof *d);
    load_data(o->data, o->data_from, d);
    check_fits(o->params, net, d);
}

static int command_evaluate(const options *o) {
    sn_net net;
    dataset d;
    load_model_and_data(o, &net, &d);
    const image_set *set = o->set ? &d.train : &d.test;
    const int n_out = net.sizes[net.n_layers];
    int *predicted = checked_malloc((size_t)set->n * sizeof(int));
    predict_all(&net, set, predicted);
    int64_t *confusion = calloc((size_t)n_out * (size_t)n_out, sizeof *confusion);
    if (!confusion) fail("out of memory");
    int64_t right = 0;
    for (int64_t i = 0; i < set->n; i++) {
        confusion[set->labels[i] * n_out + predicted[i]]++;
        right += predicted[i] == set->labels[i];
    }
    char count[32];
    printf("%s accuracy %.2f%% on %s images (%s)\n", SET_NAMES[o->set], 100.0 * (double)right / (double)set->n,
           with_commas(set->n, count, sizeof count), o->params);
    printf("\nclass  accuracy   images\n");
    for (int c = 0; c < n_out; c++) {
        int64_t total = 0;
        for (int p = 0; p < n_out; p++) total += confusion[c * n_out + p];
        char percent[16];
        snprintf(percent, sizeof percent, "%.2f%%", total ? 100.0 * (double)confusion[c * n_out + c] / (double)total : 0.0);
        printf("%5d  %8s  %7s\n", c, percent, with_commas(total, count, sizeof count));
    }
    printf("\nconfusion (rows: true label, columns: predicted)\n     ");
    for (int c = 0; c < n_out; c++) printf("%6d", c);
    printf("\n");
    for (int c = 0; c < n_out; c++) {
        printf("%5d", c);
        for (int p = 0; p < n_out; p++) printf("%6lld", (long long)confusion[c * n_out + p]);
        printf("\n");
    }
    free(confusion);
    free(predicted);
    sn_free_net(&net);
    free_data(&d);
    return 0;
}

static int64_t parse_index(const char *text, int64_t count, const char *which, char *error, size_t size) {
    char *end;
    errno = 0;
    long long index = strtoll(text, &end, 10);
    while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r') end++;
    if (end == text || *end || errno == ERANGE) {
        snprintf(error, size, "'%.40s' is not an image index: give a whole number from 0 to %lld", text,
                 (long long)count - 1);
        return -1;
    }
    if (index < 0 || index >= count) {
        snprintf(error, size, "image %lld does not exist: the %s set has images 0 to %lld", index, which,
                 (long long)count - 1);
        return -1;
    }
    return index;
}

static void answer(const sn_net *net, const image_set *set, const char *which, int64_t index, real *outputs) {
    const int64_t pixels = set->rows * set->cols;
    const uint8_t *image = set->images + index * pixels;
    if (sn_predict(net, image, 1, outputs)) fail_library();
    const int n_out = net->sizes[net->n_layers];
    int top[3] = {-1, -1, -1};
    for (int t = 0; t < 3 && t < n_out; t++)
        for (int j = 0; j < n_out; j++) {
            if (j == top[0] || j == top[1]) continue;
            if (top[t] < 0 || outputs[j] > outputs[top[t]]) top[t] = j;
        }
    for (int64_t r = 0; r < set->rows; r++) {
        for (int64_t c = 0; c < set->cols; c++) {
            const char shade = SHADES[(image[r * set->cols + c] * (int)(sizeof SHADES - 1)) / 256];
            putchar(shade);
            putchar(shade);
        }
        putchar('\n');
    }
    const int label = set->labels[index];
    printf("image %lld (%s): label %d, prediction %d (confidence %.2f), %s; top 3:", (long long)index, which, label,
           top[0], (double)outputs[top[0]], top[0] == label ? "right" : "WRONG");
    for (int t = 0; t < 3 && top[t] >= 0; t++) printf("%s %d %.2f", t ? "," : "", top[t], (double)outputs[top[t]]);
    printf("\n");
    fflush(stdout);
}

static int command_predict(const options *o) {
    sn_net net;
    dataset d;
    load_model_and_data(o, &net, &d);
    const image_set *set = o->set ? &d.train : &d.test;
    const char *which = SET_NAMES[o->set];
    real *outputs = checked_malloc((size_t)net.sizes[net.n_layers] * sizeof(real));
    char error[256];
    if (o->n_indices) {
        for (int i = 0; i < o->n_indices; i++) /* all checked before any answer */
            if (parse_index(o->indices[i], set->n, which, error, sizeof error) < 0) fail("%s", error);
        for (int i = 0; i < o->n_indices; i++)
            answer(&net, set, which, parse_index(o->indices[i], set->n, which, error, sizeof error), outputs);
    } else {
        char line[256];
        for (;;) {
            printf("Enter the number of an image (0 - %lld), q to quit: ", (long long)set->n - 1);
            fflush(stdout);
            if (!fgets(line, sizeof line, stdin)) {
                printf("\n");
                break;
            }
            if (!strchr(line, '\n') && !feof(stdin)) { /* a line too long: drop the rest */
                int ch;
                while ((ch = getchar()) != EOF && ch != '\n') {}
            }
            char *text = line;
            while (*text == ' ' || *text == '\t') text++;
            size_t length = strlen(text);
            while (length && (text[length - 1] == '\n' || text[length - 1] == '\r' || text[length - 1] == ' ' ||
                              text[length - 1] == '\t'))
                text[--length] = 0;
            if (strcmp(text, "q") == 0 || strcmp(text, "Q") == 0 || strcmp(text, "quit") == 0 ||
                strcmp(text, "exit") == 0)
                break;
            if (!*text) continue;
            const int64_t index = parse_index(text, set->n, which, error, sizeof error);
            if (index < 0) {
                fflush(stdout);
                fprintf(stderr, PROGRAM ": %s\n", error);
                continue;
            }
            answer(&net, set, which, index, outputs);
        }
    }
    free(outputs);
    sn_free_net(&net);
    free_data(&d);
    return 0;
}

/* OpenMP's threads spin between parallel regions by default: on a machine where another process
   keeps a core busy, every region then waits for a time slice and training runs 5-10 times slower
   than on one thread. Waiting passively costs ~10% on an idle machine and keeps a busy one at
   single-thread speed. libgomp reads the setting when it loads, before main, so the program
   starts itself again with it, unless OMP_WAIT_POLICY or GOMP_SPINCOUNT was given. */
static void prefer_passive_threads(char **argv) {
#ifdef _OPENMP
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
    execv("/proc/self/exe", argv); /* returns only on failure (no /proc): go on as we are */
    unsetenv("OMP_WAIT_POLICY");
#else
    (void)argv;
#endif
}

int main(int argc, char **argv) {
    prefer_passive_threads(argv);
    options o;
    parse(argc, argv, &o);
    int status;
    if (strcmp(o.command, "train") == 0) status = command_train(&o);
    else if (strcmp(o.command, "evaluate") == 0) status = command_evaluate(&o);
    else status = command_predict(&o);
    free(o.indices);
    if (fflush(stdout) != 0) {
        fprintf(stderr, PROGRAM ": error: cannot write the output: %s\n", strerror(errno));
        return EXIT_ERROR;
    }
    return status;
}
