/* scratchnet-c: the whole training program in C, to read in one sitting.
 *
 * It trains the network the project started from (784-20-10, sigmoid hidden and output units,
 * binary cross-entropy, plain SGD at lr 0.005 one sample at a time, 5 epochs over MNIST in file
 * order) on the library of this folder (scratchnet.h), and shows what the network makes of a test
 * image. It reads the IDX files (raw or gzip) and keeps the network in the text format of
 * docs/FORMAT.md, which `scratchnet` reads too. It is small on purpose: every other setting is
 * `scratchnet train --engine c`, the same library driven by the Python command line; this program
 * is the C side to read, and the way to time it without Python.
 *
 * From top to bottom: errors, options, data, the network, the parameter file (one writer at a
 * time, never over another's change, never half written), train, predict, main.
 * Every error is one line on stderr, "scratchnet-c: error: ...", and exit status 1.
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

#include "internal.h" /* sn_is_number (the options read numbers as the files do), sn_file_kind */

#define PROGRAM "scratchnet-c"

static const char USAGE[] =
    "usage: " PROGRAM " train [options]\n"
    "       " PROGRAM " predict [--data DIR] [--params FILE] [INDEX...]\n"
    "\n"
    "The original program's network in C: 784-20-10, sigmoid units, binary cross-entropy, plain SGD, on MNIST.\n"
    "\n"
    "commands:\n"
    "  train                 train the network in --params, resuming it if the file exists\n"
    "  predict [INDEX...]    draw test images, their label and the network's answer\n"
    "                        (without INDEX, asks for indices until 'q' or the end of input)\n"
    "\n"
    "options:\n"
    "  --data DIR            folder of MNIST IDX files, raw or .gz: train-images-idx3-ubyte,\n"
    "                        train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte\n"
    "                        (default: $SCRATCHNET_DATA, else the data/mnist folder of the repository\n"
    "                        this program was built in, found from its own path: csrc/../data/mnist)\n"
    "  --params FILE         text parameter file, docs/FORMAT.md (default: network_params.txt); train\n"
    "                        saves it atomically after every epoch, through a symlink to its target\n"
    "  --fresh               train a new network even if --params exists\n"
    "  --wait                if another process is training --params, wait for it and go on from there\n"
    "                        (default: refuse at once)\n"
    "  --epochs N            epochs to train in this run (default: 5)\n"
    "  --lr X                learning rate (default: 0.005)\n"
    "  --batch-size N        samples per update; 1 updates after every sample (default: 1)\n"
    "  --layers A,B,...      layer sizes of a new network, inputs first (default: 784,20,10)\n"
    "  --seed N              seed of the uniform(-0.5, 0.5) initial weights (default: 0), drawn by this\n"
    "                        program's own generator (splitmix64): not the weights of scratchnet's --seed N\n"
    "  -h, --help            show this help\n"
    "\n"
    "Every other setting (optimizers, schedules, float32, other activations and losses, shuffling)\n"
    "is in `scratchnet train --engine c`, which runs the same C library.\n"
    "Ctrl-C during training stops after the current batch; the file keeps the last whole epoch, and\n"
    "the next run trains the interrupted one again from its start.\n";

/* ------------------------------------------------------------------------------------------ */
/* errors and small helpers */

#ifdef __GNUC__
__attribute__((format(printf, 1, 2)))
#endif
static _Noreturn void fail(const char *format, ...) {
    char message[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    for (char *c = message; *c; c++) /* one line, whatever the message holds */
        if (*c == '\n' || *c == '\r') *c = ' ';
    fflush(stdout);
    fprintf(stderr, PROGRAM ": error: %s\n", message);
    exit(1);
}

/* What was printed reaches standard output now, or the run stops (train > /dev/full) before more work. */
static void flush_output(void) {
    if (fflush(stdout) != 0 || ferror(stdout)) fail("cannot write the output: %s", strerror(errno));
}

static void *allocate(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size);
    if (!p) fail("out of memory (%zu x %zu bytes)", count, size);
    return p;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ------------------------------------------------------------------------------------------ */
/* options */

typedef struct {
    int train;                  /* the command: train, or predict */
    const char *data, *params;
    const char *data_from;      /* what gave the folder, for messages: "--data", "SCRATCHNET_DATA" or NULL */
    const char *layers;         /* NULL: not given */
    int fresh, wait, epochs, batch_size;
    double lr;
    unsigned long long seed;
    int n_indices;              /* predict's image indices */
    const char **indices;
    char repository_data[PATH_MAX];
} options;

/* [+-] and ASCII digits (docs/FORMAT.md: the options follow the files' grammar); strtol alone would
   take leading blanks */
static int is_whole(const char *text, size_t n) {
    size_t k = n && (text[0] == '+' || text[0] == '-');
    if (k == n) return 0;
    while (k < n && text[k] >= '0' && text[k] <= '9') k++;
    return k == n;
}

static long long whole_number(const char *option, const char *text, long long low, long long high) {
    if (!is_whole(text, strlen(text))) fail("%s: '%s' is not a whole number", option, text);
    errno = 0;
    const long long value = strtoll(text, NULL, 10);
    if (errno == ERANGE || value < low || value > high)
        fail("%s must be from %lld to %lld, got %s", option, low, high, text);
    return value;
}

static double number(const char *option, const char *text) {
    if (!sn_is_number(text, strlen(text))) fail("%s: '%s' is not a number", option, text); /* no 0x10, nan */
    const double value = strtod(text, NULL);
    if (!isfinite(value) || value < 0) fail("%s must be a finite number >= 0, got %s", option, text);
    return value;
}

/* "784,20,10" into sizes: 2 to SN_MAX_LAYERS + 1 of them, each from 1 to 1,000,000. Returns how many. */
static int parse_layers(const char *text, int sizes[SN_MAX_LAYERS + 1]) {
    int count = 0;
    for (const char *p = text;; p++) {
        const size_t n = strcspn(p, ",");
        if (!is_whole(p, n)) fail("--layers '%s' is not a comma-separated list of sizes, e.g. 784,20,10", text);
        errno = 0;
        const long size = strtol(p, NULL, 10);
        if (errno == ERANGE || size < 1 || size > 1000000) fail("--layers '%s': sizes must be from 1 to 1000000", text);
        if (count > SN_MAX_LAYERS) fail("--layers '%s': at most %d sizes", text, SN_MAX_LAYERS + 1);
        sizes[count++] = (int)size;
        if (!p[n]) break;
        p += n;
    }
    if (count < 2) fail("--layers '%s': need two or more sizes of at least 1", text);
    return count;
}

/* Without --data: $SCRATCHNET_DATA, as scratchnet reads it; else the repository's own MNIST, found
   from where this program is (REPO/csrc/scratchnet-c -> REPO/data/mnist), whatever the current folder. */
static void default_data(options *o) {
    const char *env = getenv("SCRATCHNET_DATA");
    if (env && *env) {
        o->data = env, o->data_from = "SCRATCHNET_DATA";
        return;
    }
    char self[sizeof o->repository_data - 16], *slash = NULL;
    const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = 0;
        if ((slash = strrchr(self, '/'))) *slash = 0;            /* REPO/csrc */
        if (slash && (slash = strrchr(self, '/'))) slash[1] = 0; /* REPO/ */
    }
    if (!slash) fail("cannot tell where " PROGRAM " is (/proc/self/exe), so not where its data is: give --data DIR");
    snprintf(o->repository_data, sizeof o->repository_data, "%sdata/mnist", self);
    o->data = o->repository_data;
}

enum { FRESH, WAIT, EPOCHS, LR, BATCH_SIZE, LAYERS, SEED, DATA, PARAMS }; /* the order of OPTIONS */
static const char *const OPTIONS[] = {"--fresh", "--wait", "--epochs", "--lr", "--batch-size", "--layers", "--seed",
                                      "--data", "--params", NULL}; /* flags first; the last two also predict's */

static void parse(int argc, char **argv, options *o) {
    *o = (options){.params = "network_params.txt", .epochs = 5, .batch_size = 1, .lr = 0.005};
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(USAGE, stdout);
            flush_output();
            exit(0);
        }
    if (argc < 2) fail("no command given: train or predict (see " PROGRAM " --help)");
    o->train = strcmp(argv[1], "train") == 0;
    if (!o->train && strcmp(argv[1], "predict") != 0)
        fail("unknown command '%s': choose train or predict (see " PROGRAM " --help)", argv[1]);
    o->indices = allocate((size_t)argc, sizeof *o->indices);
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i], *eq = strchr(arg, '='), *value;
        if (strncmp(arg, "--", 2) != 0) { /* an image index ("-1" too: predict says what is wrong with it) */
            if (o->train) fail("unexpected argument '%s' (see " PROGRAM " --help)", arg);
            o->indices[o->n_indices++] = arg;
            continue;
        }
        const size_t n = eq ? (size_t)(eq - arg) : strlen(arg); /* --name value, or --name=value */
        int k = 0;
        while (OPTIONS[k] && (strlen(OPTIONS[k]) != n || strncmp(arg, OPTIONS[k], n) != 0)) k++;
        if (!OPTIONS[k])
            fail("unknown option %.*s: " PROGRAM " has only the options of its --help; the others (optimizers, "
                 "schedules, ...) are in `scratchnet train --engine c`", (int)(n < 60 ? n : 60), arg);
        if (!o->train && k < DATA) fail("%s is a train option (see " PROGRAM " --help)", OPTIONS[k]);
        if (k == FRESH || k == WAIT) {
            if (eq) fail("%s takes no value", OPTIONS[k]);
            *(k == FRESH ? &o->fresh : &o->wait) = 1;
            continue;
        }
        if (eq) value = eq + 1;
        else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) value = argv[++i];
        else fail("%s needs a value (see " PROGRAM " --help)", OPTIONS[k]);
        switch (k) {
        case EPOCHS: o->epochs = (int)whole_number(OPTIONS[k], value, 0, 1000000); break;
        case LR: o->lr = number(OPTIONS[k], value); break;
        case BATCH_SIZE: o->batch_size = (int)whole_number(OPTIONS[k], value, 1, 10000000); break;
        case LAYERS: o->layers = value; break;
        case SEED: o->seed = (unsigned long long)whole_number(OPTIONS[k], value, 0, LLONG_MAX); break;
        case DATA: o->data = value, o->data_from = "--data"; break;
        default: o->params = value;
        }
    }
    if (!o->data) default_data(o);
}

/* ------------------------------------------------------------------------------------------ */
/* data: MNIST's IDX files */

typedef struct {
    uint8_t *images, *labels; /* n images of rows x cols pixels, row by row; n labels 0-9 */
    int64_t n, rows, cols;
} image_set;

/* folder/PREFIX-KIND-idxD-ubyte, raw or .gz, or Kaggle's PREFIX-KIND.idxD-ubyte[.gz]: the first there */
static void idx_path(const char *folder, const char *prefix, const char *kind, int dims, char path[PATH_MAX]) {
    for (int form = 0; form < 4; form++) {
        snprintf(path, PATH_MAX, "%s/%s-%s%sidx%d-ubyte%s", folder, prefix, kind, form < 2 ? "-" : ".", dims,
                 form % 2 ? ".gz" : "");
        struct stat st;
        if (stat(path, &st) == 0) return; /* any kind of file: a FIFO of that name gets sn_read_idx's message */
    }
    fail("%s: no %s-%s-idx%d-ubyte[.gz] in this folder (an MNIST IDX folder needs train-images-idx3-ubyte, "
         "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, raw or .gz; see --help)",
         folder, prefix, kind, dims);
}

/* The images and labels of one set: prefix "train" or "t10k". */
static void read_set(const options *o, const char *prefix, image_set *set) {
    struct stat st;
    if (stat(o->data, &st) != 0) {
        if (o->data_from) fail("%s: %s (given by %s)", o->data, strerror(errno), o->data_from);
        fail("%s: %s: no repository's MNIST beside this program; give an MNIST IDX folder with --data DIR or "
             "SCRATCHNET_DATA", o->data, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        fail("%s is %s, not a folder of MNIST IDX files", o->data,
             S_ISREG(st.st_mode) ? "a file" : sn_file_kind(st.st_mode));
    char images[PATH_MAX], labels[PATH_MAX];
    idx_path(o->data, prefix, "images", 3, images);
    idx_path(o->data, prefix, "labels", 1, labels);
    int ndim;
    int64_t dims[3];
    if (sn_read_idx(images, &set->images, &ndim, dims)) fail("%s", sn_error());
    if (ndim != 3) fail("%s: expected images (n, rows, cols), got %d dimensions", images, ndim);
    set->n = dims[0], set->rows = dims[1], set->cols = dims[2];
    if (sn_read_idx(labels, &set->labels, &ndim, dims)) fail("%s", sn_error());
    if (ndim != 1) fail("%s: expected labels (n,), got %d dimensions", labels, ndim);
    if (dims[0] != set->n)
        fail("%s has %lld images but %s has %lld labels", images, (long long)set->n, labels, (long long)dims[0]);
    for (int64_t i = 0; i < set->n; i++)
        if (set->labels[i] > 9) fail("%s: label %d is outside 0-9", labels, set->labels[i]);
}

/* The network's inputs must be the images' pixels, its outputs more than the largest label. */
static void check_fits(const char *params, const int *sizes, int n_layers, const options *o, const image_set *set) {
    if (sizes[0] != set->rows * set->cols)
        fail("%s: the network takes %d inputs but %s has images of %lld pixels", params, sizes[0], o->data,
             (long long)(set->rows * set->cols));
    for (int64_t i = 0; i < set->n; i++)
        if (set->labels[i] >= sizes[n_layers])
            fail("%s: label %d needs more than the network's %d outputs", o->data, set->labels[i], sizes[n_layers]);
}

/* ------------------------------------------------------------------------------------------ */
/* the network */

static const char *const ACTIVATIONS[] = {"sigmoid", "tanh", "relu", "softmax"}; /* enum sn_activation */

/* "784-20-10 sigmoid/sigmoid float64", as scratchnet says it */
static const char *describe(const sn_net *net, char text[512]) {
    int at = 0;
    for (int l = 0; l <= net->n_layers; l++) at += snprintf(text + at, 64, "%s%d", l ? "-" : "", net->sizes[l]);
    snprintf(text + at, 64, " %s/%s float%d", ACTIVATIONS[net->hidden], ACTIVATIONS[net->output], sn_real_bits());
    return text;
}

/* splitmix64: a small, good generator of this program's own, so that a seed gives the same weights
   on every machine; NumPy's is another, so the same --seed gives other weights than scratchnet's. */
static uint64_t next_random(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A new network: sigmoid units, weights uniform(-0.5, 0.5) as the original program's (53 random bits each), biases 0. */
static void create(sn_net *net, const int *sizes, int count, uint64_t seed) {
    *net = (sn_net){.n_layers = count - 1, .hidden = SN_SIGMOID, .output = SN_SIGMOID};
    memcpy(net->sizes, sizes, (size_t)count * sizeof *sizes);
    uint64_t state = seed ^ 0x5eed5eed5eed5eedULL;
    for (int l = 0; l < net->n_layers; l++) {
        const size_t n = (size_t)sizes[l] * (size_t)sizes[l + 1];
        net->weights[l] = allocate(n, sizeof(real));
        net->biases[l] = allocate((size_t)sizes[l + 1], sizeof(real));
        for (size_t i = 0; i < n; i++) net->weights[l][i] = (real)((double)(next_random(&state) >> 11) * 0x1p-53 - 0.5);
    }
}

static int argmax(const real *v, int n) {
    int best = 0;
    for (int j = 1; j < n; j++)
        if (v[j] > v[best]) best = j;
    return best;
}

/* The fraction of the set whose label is the network's largest output. */
static double accuracy(const sn_net *net, const image_set *set) {
    const int n_out = net->sizes[net->n_layers];
    real *outputs = allocate((size_t)set->n * (size_t)n_out, sizeof(real));
    if (sn_predict(net, set->images, set->n, outputs)) fail("%s", sn_error());
    int64_t right = 0;
    for (int64_t i = 0; i < set->n; i++) right += argmax(outputs + i * n_out, n_out) == set->labels[i];
    free(outputs);
    return (double)right / (double)set->n;
}

/* ------------------------------------------------------------------------------------------ */
/* the parameter file: one writer at a time (the lock of docs/FORMAT.md, "Locking", as
   src/scratchnet/lock.py, so this program and `scratchnet train` exclude each other), never over
   a change another program made, and never half written (sn_write_params: temporary file, rename) */

/* The file `path` names, as os.path.realpath: the symlinks of its last part followed (to a file that
   need not exist yet), then its folder resolved. */
static void resolve(const char *path, char actual[PATH_MAX]) {
    char folder[PATH_MAX], resolved[PATH_MAX];
    char *p = sn_final_target(path);
    if (!p) fail("%s: cannot follow the symlink: %s", path, errno == ELOOP ? "a loop" : strerror(errno));
    const char *slash = strrchr(p, '/'), *name = slash ? slash + 1 : p;
    snprintf(folder, sizeof folder, "%.*s", slash ? (slash == p ? 1 : (int)(slash - p)) : 1, slash ? p : ".");
    if (!realpath(folder, resolved)) fail("cannot write %s: folder %s does not exist", path, folder);
    struct stat st;
    if (!*name || (stat(p, &st) == 0 && S_ISDIR(st.st_mode))) fail("cannot write %s: it is a folder", path);
    if (snprintf(actual, PATH_MAX, "%s/%s", strcmp(resolved, "/") ? resolved : "", name) >= PATH_MAX)
        fail("%.60s...: path too long", path);
    free(p);
}

static char held_lock[PATH_MAX + 8]; /* the lock file this process holds */

static void release_lock(void) { unlink(held_lock); } /* still holding it: the lock goes with the process */

/* Hold .NAME.lock beside `actual` until the process exits, or refuse naming its holder (wait: wait for it). */
static void lock(const char *params, const char *actual, int wait) {
    char lock[PATH_MAX + 8];
    const char *slash = strrchr(actual, '/');
    snprintf(lock, sizeof lock, "%.*s.%s.lock", (int)(slash - actual) + 1, actual, slash + 1);
    for (;;) {
        const int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) fail("cannot lock %s: %s: %s", params, lock, strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            if (errno != EWOULDBLOCK) fail("cannot lock %s: %s: %s", params, lock, strerror(errno));
            char text[32], holder[48] = "another process", *end; /* its pid, once it has written it */
            const ssize_t n = pread(fd, text, sizeof text - 1, 0);
            text[n > 0 ? n : 0] = 0;
            const long pid = strtol(text, &end, 10);
            if (end != text && (*end == '\n' || !*end) && pid > 0) snprintf(holder, sizeof holder, "pid %ld", pid);
            if (!wait)
                fail("%s is in use by %s (lock file %s): wait for it to finish, or pass --wait", params, holder, lock);
            fprintf(stderr, PROGRAM ": %s is in use by %s: waiting for it to finish\n", params, holder);
            while (flock(fd, LOCK_EX) != 0)
                if (errno != EINTR) fail("cannot lock %s: %s: %s", params, lock, strerror(errno));
        }
        /* its last holder removes the file as it lets go: go on only if the path still names the file locked */
        struct stat mine, named;
        if (fstat(fd, &mine) == 0 && stat(lock, &named) == 0 && mine.st_dev == named.st_dev &&
            mine.st_ino == named.st_ino) {
            snprintf(held_lock, sizeof held_lock, "%s", lock);
            atexit(release_lock);
            char pid[32];
            const int length = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
            if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)length, 0) != length)
                fail("cannot lock %s: %s: %s", params, lock, strerror(errno));
            return; /* fd stays open, and the lock held, until the process exits */
        }
        close(fd);
    }
}

static sn_file_id identity_of(const char *path) {
    sn_file_id id;
    if (sn_file_id_of(path, &id)) fail("%s", sn_error());
    return id;
}

static volatile sig_atomic_t saving; /* a second Ctrl-C waits while it is set (on_interrupt) */

/* Write the network to `actual` (the file `params` names), unless the file changed on disk since this
   run read it or last wrote it (*on_disk), as seen at the rename: then it is left as it is, the network
   goes to NAME.conflict-PID.SUFFIX beside it, and the run stops saying so: neither is lost. */
static void save(const char *params, const char *actual, const sn_net *net, int epochs, sn_file_id *on_disk) {
    saving = 1;
    const int written = sn_write_params_over(actual, net, epochs, on_disk);
    saving = 0;
    if (written < 0) fail("%s", sn_error());
    if (written == SN_CHANGED) {
        const char *slash = strrchr(params, '/'), *name = slash ? slash + 1 : params, *dot = strrchr(name, '.');
        if (!dot || dot == name) dot = name + strlen(name);
        char sibling[PATH_MAX + 64], count[16] = "";
        struct stat st;
        for (int n = 2;; n++) { /* the first name not taken: net.conflict-4242.txt, then -2, -3, ... */
            snprintf(sibling, sizeof sibling, "%.*s.conflict-%ld%s%s", (int)(dot - params), params, (long)getpid(),
                     count, dot);
            if (lstat(sibling, &st) != 0) break;
            snprintf(count, sizeof count, "-%d", n);
        }
        saving = 1;
        const int failed = sn_write_params(sibling, net, epochs);
        saving = 0;
        if (failed) fail("%s", sn_error());
        fail("%s changed on disk while this run was training it (another program wrote it?): left as it is; this "
             "run's network (%d epochs) is saved in %s", params, epochs, sibling);
    }
    *on_disk = identity_of(params);
}

/* ------------------------------------------------------------------------------------------ */
/* train */

static volatile int stop_requested; /* set by the first Ctrl-C: sn_train_samples stops after its batch */

/* The first Ctrl-C asks training to stop after the current batch; a second one stops at once, unless
   the file is being written: the write finishes first, so that no temporary file is left behind. */
static void on_interrupt(int signum) {
    if (stop_requested && !saving) {
        signal(signum, SIG_DFL);
        raise(signum);
    }
    stop_requested = 1;
}

static int train(const options *o) {
    if (!o->params[0]) fail("the file name is empty: give a file to write");
    if (strcmp(o->params, "-") == 0)
        fail("cannot write to - (standard output) here: this file is read back later, so give a file name");
    int sizes[SN_MAX_LAYERS + 1], count = parse_layers(o->layers ? o->layers : "784,20,10", sizes);
    char actual[PATH_MAX], text[512], rate[32], done_text[32], all_text[32];
    resolve(o->params, actual);                /* its folder is there, before any work */
    lock(o->params, actual, o->wait);          /* for the whole run: the file read is the one extended */
    sn_file_id on_disk = identity_of(o->params); /* before reading it: a change meanwhile is seen too */
    sn_net net;
    int epochs_done = 0;
    struct stat st;
    const int resuming = !o->fresh && stat(o->params, &st) == 0;
    if (resuming) {
        if (sn_read_params(o->params, &net, &epochs_done)) fail("%s", sn_error());
        if (net.hidden != SN_SIGMOID || net.output != SN_SIGMOID)
            fail("%s holds a %s network; " PROGRAM " trains sigmoid ones only: train it with `scratchnet train "
                 "--engine c -p %s`, or pass --fresh to start over in that file", o->params, describe(&net, text),
                 o->params);
        int differs = o->layers && count != net.n_layers + 1;
        for (int l = 0; o->layers && !differs && l < count; l++) differs = sizes[l] != net.sizes[l];
        if (differs)
            fail("%s holds a %s network, not the --layers %s asked for: pass --fresh to start over in that file, or "
                 "--params to use another", o->params, describe(&net, text), o->layers);
        count = net.n_layers + 1;
        memcpy(sizes, net.sizes, sizeof sizes);
    }
    image_set train_set, test_set;
    read_set(o, "train", &train_set);
    read_set(o, "t10k", &test_set);
    check_fits(o->params, sizes, count - 1, o, &train_set);
    check_fits(o->params, sizes, count - 1, o, &test_set);
    if (!resuming) create(&net, sizes, count, o->seed);
    printf("%s, ", describe(&net, text));
    if (epochs_done) printf("resuming after %d epochs", epochs_done);
    else printf("new network");
    printf(": %d epochs, lr %g, batch %d, sgd\ndata %s, params %s\n", o->epochs, o->lr, o->batch_size, o->data,
           o->params);
    flush_output();

    struct sigaction interrupt = {.sa_handler = on_interrupt}; /* unlike signal() in strict C, stays installed */
    sigemptyset(&interrupt.sa_mask);
    sigaction(SIGINT, &interrupt, NULL);
    const int total = epochs_done + o->epochs;
    int status = 0;
    while (epochs_done < total) {
        double loss, train_accuracy;
        int64_t done;
        const double began = now();
        if (sn_train_samples(&net, NULL, SN_BCE, train_set.images, train_set.labels, NULL, train_set.n, o->batch_size,
                           o->lr, &loss, &train_accuracy, &stop_requested, &done))
            fail("%s", sn_error());
        const double seconds = now() - began;
        if (stop_requested) { /* Ctrl-C */
            /* Nothing is saved: a text file has no place in an epoch, so it keeps the last whole epoch, from
               which the next run trains this one again, as an unbroken run would. */
            char kept[64] = "was not written";
            if (epochs_done) snprintf(kept, sizeof kept, "keeps the network of epoch %d", epochs_done);
            fflush(stdout);
            fprintf(stderr, PROGRAM ": interrupted in epoch %d after %s of %s samples; %s %s, as a text file has no "
                    "place in an epoch: the next run trains epoch %d from its start.\n", epochs_done + 1,
                    sn_with_commas(done, done_text), sn_with_commas(train_set.n, all_text), o->params, kept, epochs_done + 1);
            status = 130;
            break;
        }
        if (!isfinite(loss))
            fail("training diverged in epoch %d: the loss is %g; try a smaller --lr (now %g)", epochs_done + 1, loss,
                 o->lr);
        const double test_accuracy = accuracy(&net, &test_set);
        save(o->params, actual, &net, ++epochs_done, &on_disk);
        printf("epoch %3d  loss %.4f  train %.2f%%  test %.2f%%  %6.2f s  %9s samples/s\n", epochs_done, loss,
               100 * train_accuracy, 100 * test_accuracy, seconds,
               sn_with_commas(llround((double)train_set.n / (seconds > 0 ? seconds : 1e-9)), rate));
        flush_output();
    }
    if (!status) {
        if (o->epochs == 0) save(o->params, actual, &net, epochs_done, &on_disk);
        printf("saved %s (%d epochs in all)\n", o->params, epochs_done);
    }
    sn_free_net(&net);
    sn_free(train_set.images), sn_free(train_set.labels), sn_free(test_set.images), sn_free(test_set.labels);
    return status;
}

/* ------------------------------------------------------------------------------------------ */
/* predict: which digit is test image N? */

static const char SHADES[] = " .:-=+*#%@"; /* dark to bright */

/* The index `text` gives, or -1 with the reason in `error`. */
static int64_t image_index(const char *text, int64_t n, char *error, size_t size) {
    if (!is_whole(text, strlen(text))) {
        snprintf(error, size, "'%.40s' is not an image index: give a whole number from 0 to %lld", text,
                 (long long)n - 1);
        return -1;
    }
    errno = 0;
    const long long index = strtoll(text, NULL, 10);
    if (errno != ERANGE && index >= 0 && index < n) return index;
    snprintf(error, size, "image %.40s does not exist: the test set has images 0 to %lld", text, (long long)n - 1);
    return -1;
}

/* Draw the image in shades, then its label and the network's three largest outputs. */
static void answer(const sn_net *net, const image_set *set, int64_t index, real *outputs) {
    const uint8_t *image = set->images + index * set->rows * set->cols;
    if (sn_predict(net, image, 1, outputs)) fail("%s", sn_error());
    const int n_out = net->sizes[net->n_layers], label = set->labels[index];
    int top[3] = {-1, -1, -1};
    for (int t = 0; t < 3 && t < n_out; t++)
        for (int j = 0; j < n_out; j++)
            if (j != top[0] && j != top[1] && (top[t] < 0 || outputs[j] > outputs[top[t]])) top[t] = j;
    for (int64_t r = 0; r < set->rows; r++) {
        for (int64_t c = 0; c < set->cols; c++) {
            const char shade = SHADES[image[r * set->cols + c] * (int)(sizeof SHADES - 1) / 256];
            putchar(shade);
            putchar(shade);
        }
        putchar('\n');
    }
    printf("image %lld (test): label %d, prediction %d (confidence %.2f), %s; top 3:", (long long)index, label,
           top[0], (double)outputs[top[0]], top[0] == label ? "right" : "WRONG");
    for (int t = 0; t < 3 && top[t] >= 0; t++) printf("%s %d %.2f", t ? "," : "", top[t], (double)outputs[top[t]]);
    printf("\n");
    flush_output();
}

static int predict(const options *o) {
    struct stat st;
    if (stat(o->params, &st) != 0 && errno == ENOENT)
        fail("%s: no such parameter file (train one with `" PROGRAM " train`, or give --params)", o->params);
    sn_net net;
    int epochs;
    if (sn_read_params(o->params, &net, &epochs)) fail("%s", sn_error());
    image_set test;
    read_set(o, "t10k", &test);
    check_fits(o->params, net.sizes, net.n_layers, o, &test);
    real *outputs = allocate((size_t)net.sizes[net.n_layers], sizeof(real));
    char error[256], line[256];
    for (int i = 0; i < o->n_indices; i++) /* all checked before any answer */
        if (image_index(o->indices[i], test.n, error, sizeof error) < 0) fail("%s", error);
    for (int i = 0; i < o->n_indices; i++)
        answer(&net, &test, image_index(o->indices[i], test.n, error, sizeof error), outputs);
    while (o->n_indices == 0) { /* ask */
        printf("Enter the number of an image (0 - %lld), q to quit: ", (long long)test.n - 1);
        flush_output();
        if (!fgets(line, sizeof line, stdin)) {
            printf("\n");
            break;
        }
        if (!strchr(line, '\n')) /* a line too long: drop the rest */
            for (int c = getchar(); c != EOF && c != '\n'; c = getchar()) {}
        char *text = line + strspn(line, " \t");
        for (size_t n = strlen(text); n && strchr(" \t\r\n", text[n - 1]); n--) text[n - 1] = 0;
        if (strcmp(text, "q") == 0 || strcmp(text, "Q") == 0 || strcmp(text, "quit") == 0 || strcmp(text, "exit") == 0)
            break;
        if (!*text) continue;
        const int64_t index = image_index(text, test.n, error, sizeof error);
        if (index >= 0) {
            answer(&net, &test, index, outputs);
        } else { /* said, and asked again */
            fflush(stdout);
            fprintf(stderr, PROGRAM ": %s\n", error);
        }
    }
    free(outputs);
    sn_free_net(&net);
    sn_free(test.images), sn_free(test.labels);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */

int main(int argc, char **argv) {
    options o;
    parse(argc, argv, &o);
    const int status = o.train ? train(&o) : predict(&o);
    free(o.indices);
    flush_output();
    return status;
}
