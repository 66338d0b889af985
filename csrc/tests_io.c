/* Tests of the file code: IDX (raw and gzip), the text parameter format. No framework: each check
 * counts, failures print where; the last line is "N passed, N failed" and the exit status is
 * non-zero on any failure. Run from anywhere: fixtures are found beside the program
 * (fuzz/corpus/) or in the folder given as argument, MNIST in the repository's data/mnist (../data/mnist
 * from the program).
 * Built with -DSN_FLOAT32 (test_io32) it tests the float32 build.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, opendir, chmod, mkfifo, symlink, fork: scratch files for the tests */
#define _DEFAULT_SOURCE         /* mknod, makedev: a device of our own */
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#ifdef __linux__
#include <sys/sysmacros.h> /* makedev */
#endif
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#define ZLIB_CONST /* deflate's next_in is const: the gzip bomb */
#include <zlib.h>

#include "check.h"
#include "internal.h"

#ifdef SN_FLOAT32
#define DTYPE "float32"
#define OTHER "float64"
#define REAL_MAX FLT_MAX
#define REAL_MIN FLT_MIN
#define REAL_TRUE_MIN FLT_TRUE_MIN
typedef uint32_t real_bits;
#else
#define DTYPE "float64"
#define OTHER "float32"
#define REAL_MAX DBL_MAX
#define REAL_MIN DBL_MIN
#define REAL_TRUE_MIN DBL_TRUE_MIN
typedef uint64_t real_bits;
#endif

static char corpus[2048] = "fuzz/corpus", mnist[2048] = "../data/mnist", tmpdir[2048];


/* rc must be -1 with every fragment (NULL-terminated list) in sn_error() */
static int check_error(int rc, int line, const char *what, ...) {
    va_list args;
    va_start(args, what);
    int ok = rc == -1;
    for (const char *fragment; ok && (fragment = va_arg(args, const char *));) ok = strstr(sn_error(), fragment) != NULL;
    va_end(args);
    return check(ok, __FILE__, line, "%s: rc %d, message \"%s\"", what, rc, rc ? sn_error() : "");
}
#define CHECK_ERROR(rc, what, ...) check_error((rc), __LINE__, what, __VA_ARGS__, (const char *)NULL)

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void) { /* xorshift64: deterministic, so a failure can be reproduced */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static uint8_t *load(const char *dir, const char *name, size_t *len) {
    char path[8192];
    uint8_t *bytes;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (sn_read_file(path, &bytes, len)) {
        CHECK(0, "cannot read fixture %s", sn_error());
        return NULL;
    }
    return bytes;
}

/* A copy in a buffer of exactly len bytes, so AddressSanitizer sees any read past the end. */
static uint8_t *exact(const void *bytes, size_t len) {
    uint8_t *copy = malloc(len ? len : 1);
    if (len) memcpy(copy, bytes, len);
    return copy;
}

/* ---- IDX, raw and gzip ---------------------------------------------------------------------- */

/* The images of the idx seeds (fuzz/README.md has the script that made them). */
static uint8_t pixel(size_t k) { return (uint8_t)((k * 7 + (k >> 6) * 13) ^ (k % 11 == 0 ? 0xa5 : 0)); }

static const uint8_t first_labels[10] = {5, 0, 4, 1, 9, 2, 1, 3, 1, 4};

/* sn_parse_idx of a copy of bytes[0..len) in a buffer of exactly that size */
static int parse_exact(const uint8_t *bytes, size_t len, const char *name, uint8_t **data, int *ndim, int64_t dims[3]) {
    uint8_t *copy = exact(bytes, len);
    int rc = sn_parse_idx(copy, len, name, data, ndim, dims);
    free(copy);
    return rc;
}

/* The seeds decode to what the script put in them: every kind of deflate block and gzip header,
   and two members. */
static void test_gzip_known(void) {
    static const char *const names[] = {"images-stored.idx3.gz", "images-fast.idx3.gz", "images-best.idx3.gz",
                                        "images-fixed.idx3.gz", "images-fields.idx3.gz", "images-members.idx3.gz",
                                        "labels.idx1.gz"};
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/idx", corpus);
    for (int f = 0; f < 7; f++) {
        size_t len;
        uint8_t *gz = load(dir, names[f], &len), *data;
        if (!gz) continue;
        int labels_file = f == 6, ndim;
        int64_t dims[3];
        if (CHECK(parse_exact(gz, len, names[f], &data, &ndim, dims) == 0, "%s: %s", names[f], sn_error())) {
            int ok = labels_file ? ndim == 1 && dims[0] == 10 && memcmp(data, first_labels, 10) == 0
                                 : ndim == 3 && dims[0] == 4 && dims[1] == 16 && dims[2] == 16;
            for (size_t k = 0; ok && !labels_file && k < 1024; k++) ok = data[k] == pixel(k);
            CHECK(ok, "%s: wrong content", names[f]);
            sn_free(data);
        }
        free(gz);
    }
    /* hand-made streams: an empty stored block (no IDX content), and broken ones: zlib's words */
    static const struct {
        const char *hex, *fragment;
    } made[] = {
        {"1f8b080000000000000303000000000000000000", /* no content */
         "made.gz: not an IDX file of unsigned bytes (magic number missing,"},
        {"1f8b08000000000000030302000000000000000000", "made.gz: corrupt gzip data (invalid distance too far back)"},
        {"1f8b0800000000000003070000000000000000", "made.gz: corrupt gzip data (invalid block type)"},
        {"1f8b0800000000000003010500000068656c6c6f86a6103605000000", "corrupt gzip data (invalid stored block"},
        {"1f8b0700000000000003030000000000000000", "corrupt gzip data (unknown compression method)"},
        {"1f8b08200000000000030300000000000000000000", "corrupt gzip data (unknown header flags set)"},
        {"1f8c080000000000000303000000000000000000", "not an IDX file of unsigned bytes (magic number 1f8c0800"},
        {"1f8b08040000000000030300", "made.gz: corrupt gzip data (unexpected end of file)"},
    };
    for (size_t m = 0; m < sizeof made / sizeof made[0]; m++) {
        uint8_t bytes[64], *data;
        size_t len = strlen(made[m].hex) / 2;
        int ndim;
        int64_t dims[3];
        for (size_t k = 0; k < len; k++) sscanf(made[m].hex + 2 * k, "%2hhx", &bytes[k]);
        CHECK_ERROR(parse_exact(bytes, len, "made.gz", &data, &ndim, dims), made[m].hex, made[m].fragment);
    }
}

static void test_gzip_damage(void) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/idx", corpus);
    size_t len;
    uint8_t *gz = load(dir, "images-best.idx3.gz", &len), *data, *good;
    int ndim;
    int64_t dims[3];
    if (!gz) return;
    /* every prefix is an error */
    int prefix_errors = 0;
    for (size_t n = 0; n < len; n++) prefix_errors += parse_exact(gz, n, "cut.gz", &data, &ndim, dims) == -1 && !data;
    CHECK(prefix_errors == (int)len, "every prefix of a gzip file is an error: %d of %zu", prefix_errors, len);
    /* the trailer: CRC-32, ISIZE; then anything after the member */
    uint8_t *copy = malloc(len + 1);
    memcpy(copy, gz, len);
    copy[len - 6] ^= 1;
    CHECK_ERROR(parse_exact(copy, len, "x.gz", &data, &ndim, dims), "crc",
                "x.gz: corrupt gzip data (incorrect data check)");
    memcpy(copy, gz, len);
    copy[len - 2] ^= 1;
    CHECK_ERROR(parse_exact(copy, len, "x.gz", &data, &ndim, dims), "isize",
                "corrupt gzip data (incorrect length check)");
    memcpy(copy, gz, len);
    copy[len] = 0;
    CHECK_ERROR(parse_exact(copy, len + 1, "x.gz", &data, &ndim, dims), "trailing zero",
                "x.gz: trailing garbage after the gzip data");
    copy[len] = 0x1f;
    CHECK_ERROR(parse_exact(copy, len + 1, "x.gz", &data, &ndim, dims), "trailing 1f", "trailing garbage");
    /* random damage: an error or (a flip in MTIME, XFL, OS) the same data, never a crash */
    int errors = 0, same = 0;
    if (!CHECK(sn_parse_idx(gz, len, "x.gz", &good, &ndim, dims) == 0, "%s", sn_error())) return;
    for (int trial = 0; trial < 3000; trial++) {
        memcpy(copy, gz, len);
        for (int flips = 1 + (int)(rnd() % 3); flips; flips--) copy[rnd() % len] ^= (uint8_t)(1 + rnd() % 255);
        if (parse_exact(copy, len, "x.gz", &data, &ndim, dims)) {
            errors++;
        } else {
            same += ndim == 3 && dims[0] == 4 && dims[1] == 16 && dims[2] == 16 && memcmp(data, good, 1024) == 0;
            sn_free(data);
        }
    }
    CHECK(errors + same == 3000 && errors > 2800, "random damage: %d errors, %d harmless", errors, same);
    sn_free(good);
    free(copy);
    free(gz);
}

static void test_idx(void) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/idx", corpus);
    uint8_t *data;
    int ndim;
    int64_t dims[3];
    char path[8192];
    /* the seeds: raw and gzip */
    snprintf(path, sizeof path, "%s/labels.idx1", dir);
    if (CHECK(sn_read_idx(path, &data, &ndim, dims) == 0, "%s", sn_error())) {
        CHECK(ndim == 1 && dims[0] == 10 && memcmp(data, first_labels, 10) == 0, "labels.idx1 content");
        sn_free(data);
    }
    snprintf(path, sizeof path, "%s/images-fields.idx3.gz", dir);
    if (CHECK(sn_read_idx(path, &data, &ndim, dims) == 0, "%s", sn_error())) {
        int ok = ndim == 3 && dims[0] == 4 && dims[1] == 16 && dims[2] == 16;
        for (size_t k = 0; ok && k < 1024; k++) ok = data[k] == pixel(k);
        CHECK(ok, "images-fields.idx3.gz content");
        sn_free(data);
    }
    /* Huffman-only coding of skewed pixels: long codes (the CRC-32 check vouches for every byte) */
    snprintf(path, sizeof path, "%s/skewed.idx3.gz", dir);
    if (CHECK(sn_read_idx(path, &data, &ndim, dims) == 0, "%s", sn_error())) {
        CHECK(ndim == 3 && dims[0] == 1 && dims[1] == 64 && dims[2] == 64, "skewed.idx3.gz shape");
        sn_free(data);
    }
    size_t len;
    uint8_t *raw = load(dir, "images.idx3", &len);
    if (!raw) return;
    if (CHECK(sn_parse_idx(raw, len, "m", &data, &ndim, dims) == 0, "%s", sn_error())) {
        CHECK(ndim == 3 && dims[0] == 2 && dims[1] == 3 && dims[2] == 4 && data[5] == pixel(5), "images.idx3");
        sn_free(data);
    }
    /* every prefix, and one byte too many */
    int errors = 0;
    for (size_t n = 0; n < len; n++) errors += parse_exact(raw, n, "cut", &data, &ndim, dims) == -1 && data == NULL;
    CHECK(errors == (int)len, "every prefix of an IDX file is an error: %d of %zu", errors, len);
    uint8_t bytes[1100] = {0};
    memcpy(bytes, raw, len);
    bytes[len] = 7;
    CHECK_ERROR(sn_parse_idx(bytes, len + 1, "long.idx", &data, &ndim, dims), "trailing",
                "long.idx: header says 2x3x4 = 24 bytes of data but the file holds 25 (trailing bytes)");
    CHECK_ERROR(sn_parse_idx(bytes, len - 1, "short.idx", &data, &ndim, dims), "truncated", "holds 23 (truncated)");
    CHECK_ERROR(sn_parse_idx(bytes, 0, "e.idx", &data, &ndim, dims), "empty", "magic number missing");
    bytes[2] = 9;
    CHECK_ERROR(sn_parse_idx(bytes, len, "f.idx", &data, &ndim, dims), "float IDX",
                "f.idx: not an IDX file of unsigned bytes (magic number 00000903, expected 00000801 or 00000803)");
    bytes[2] = 8;
    bytes[3] = 0;
    CHECK_ERROR(sn_parse_idx(bytes, len, "d.idx", &data, &ndim, dims), "0 dims",
                "d.idx: IDX file with 0 dimensions: expected 1 (labels) or 3 (images)");
    bytes[3] = 2;
    CHECK_ERROR(sn_parse_idx(bytes, len, "d.idx", &data, &ndim, dims), "2 dims", "IDX file with 2 dimensions");
    bytes[3] = 255;  /* and 255 dimensions of 1, then a byte */
    for (size_t k = 4; k < 4 + 4 * 255; k += 4) bytes[k] = bytes[k + 1] = bytes[k + 2] = 0, bytes[k + 3] = 1;
    CHECK_ERROR(sn_parse_idx(bytes, 4 + 4 * 255 + 1, "d.idx", &data, &ndim, dims), "255 dims",
                "d.idx: IDX file with 255 dimensions: expected 1 (labels) or 3 (images)");
    static const uint8_t huge[16] = {0, 0, 8, 3, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255};
    CHECK_ERROR(sn_parse_idx(huge, 16, "h.idx", &data, &ndim, dims), "overflowing dims",
                "h.idx: header says 4294967295x4294967295x4294967295 = more than 1073741824 bytes of data, the most an "
                "IDX file may hold (1 GiB)");
    static const uint8_t over[16] = {0, 0, 8, 3, 0, 0, 8, 0, 0, 0, 4, 0, 0, 0, 4, 0};  /* 2048x1024x1024 */
    CHECK_ERROR(sn_parse_idx(over, 16, "o.idx", &data, &ndim, dims), "over the limit",
                "o.idx: header says 2048x1024x1024 = more than 1073741824 bytes");
    static const uint8_t empty_dims[16] = {0, 0, 8, 3, 0, 0, 0, 0, 0, 0, 0, 28, 0, 0, 0, 28};
    CHECK_ERROR(sn_parse_idx(empty_dims, 16, "z.idx", &data, &ndim, dims), "0 items",
                "z.idx: header says 0x28x28: no data (a dimension is 0)");
    snprintf(path, sizeof path, "%s/no-such.idx", tmpdir);
    CHECK_ERROR(sn_read_idx(path, &data, &ndim, dims), "missing file", path, "cannot read (No such file");
    /* damaged gzip IDX: the message names the file */
    size_t gz_len;
    uint8_t *gz = load(dir, "images-best.idx3.gz", &gz_len);
    if (gz) {
        gz[gz_len / 2] ^= 0x40;
        snprintf(path, sizeof path, "%s/damaged.idx3.gz", tmpdir);
        FILE *f = fopen(path, "wb");
        fwrite(gz, 1, gz_len, f);
        fclose(f);
        CHECK_ERROR(sn_read_idx(path, &data, &ndim, dims), "damaged gzip", path, "corrupt gzip data");
        int parse_errors = 0;
        for (int trial = 0; trial < 1000; trial++) {  /* random damage through the IDX reader */
            uint8_t *copy = exact(gz, gz_len);
            copy[rnd() % gz_len] ^= (uint8_t)(1 + rnd() % 255);
            if (sn_parse_idx(copy, gz_len, "x", &data, &ndim, dims) == 0) sn_free(data);
            else parse_errors++;
            free(copy);
        }
        CHECK(parse_errors > 900, "random damage to a gzip IDX: %d of 1000 errors", parse_errors);
        free(gz);
    }
    free(raw);
}

static void on_alarm(int signal) {
    (void)signal;
    static const char message[] = "FAIL tests_io.c: reading a special file hangs\n";
    ssize_t written = write(2, message, sizeof message - 1);
    _exit(written > 0 ? 1 : 2);
}

/* What a file may cost: a gzip bomb is refused after inflating what its header declares, special
   files before they are opened; a symlink to a regular file is fine. */
static void test_idx_limits(void) {
    char path[8192], link[8192];
    uint8_t *data;
    int ndim;
    int64_t dims[3];
    /* 6x4x4 declared, then 200 MB of zeros: 0.9 MB gzipped */
    snprintf(path, sizeof path, "%s/bomb.idx3.gz", tmpdir);
    FILE *f = fopen(path, "wb");
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    static uint8_t zeros[1 << 20], out[1 << 16];
    static const uint8_t head[16] = {0, 0, 8, 3, 0, 0, 0, 6, 0, 0, 0, 4, 0, 0, 0, 4};
    for (int block = -1; block < 200; block++) {
        z.next_in = block < 0 ? head : zeros;
        z.avail_in = block < 0 ? (uInt)sizeof head : (uInt)sizeof zeros;
        do {
            z.next_out = out;
            z.avail_out = sizeof out;
            deflate(&z, block == 199 ? Z_FINISH : Z_NO_FLUSH);
            fwrite(out, 1, sizeof out - z.avail_out, f);
        } while (z.avail_out == 0);
    }
    deflateEnd(&z);
    fclose(f);
    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    clock_t start = clock();
    CHECK_ERROR(sn_read_idx(path, &data, &ndim, dims), "gzip bomb", path,
                ": header says 6x4x4 = 96 bytes of data but the file holds more (trailing bytes)");
    double seconds = (double)(clock() - start) / CLOCKS_PER_SEC;
    getrusage(RUSAGE_SELF, &after);
    CHECK(after.ru_maxrss - before.ru_maxrss < 32 * 1024 && seconds < 1, "gzip bomb: %ld KiB more memory, %.2f s",
          after.ru_maxrss - before.ru_maxrss, seconds);
    remove(path);
    /* special files, refused before they are opened (a FIFO without a writer would block) */
    signal(SIGALRM, on_alarm);
    alarm(20);
    snprintf(path, sizeof path, "%s/fifo", tmpdir);
    CHECK(mkfifo(path, 0600) == 0, "mkfifo %s", path);
    CHECK_ERROR(sn_read_idx(path, &data, &ndim, dims), "fifo", path, ": is a named pipe, not a regular file");
    snprintf(link, sizeof link, "%s/link", tmpdir);
    CHECK(symlink("/dev/zero", link) == 0, "symlink");
    CHECK_ERROR(sn_read_idx(link, &data, &ndim, dims), "/dev/zero", link,
                ": is a character device, not a regular file");
    CHECK_ERROR(sn_read_idx(tmpdir, &data, &ndim, dims), "folder", tmpdir, ": is a folder, not a regular file");
    alarm(0);
    remove(path);
    remove(link);
    snprintf(path, sizeof path, "%s/idx/labels.idx1.gz", corpus);
    if (path[0] != '/') {  /* a relative corpus: make the link's target absolute */
        char cwd[4096];
        snprintf(path, sizeof path, "%s/%s/idx/labels.idx1.gz", getcwd(cwd, sizeof cwd) ? cwd : ".", corpus);
    }
    CHECK(symlink(path, link) == 0, "symlink");
    if (CHECK(sn_read_idx(link, &data, &ndim, dims) == 0, "a symlink to a regular file: %s", sn_error())) {
        CHECK(ndim == 1 && dims[0] == 10 && memcmp(data, first_labels, 10) == 0, "labels through a symlink");
        sn_free(data);
    }
    remove(link);
}

static void test_mnist(void) {
    const char *dir = mnist;  /* the repository ships it: a missing file fails */
    char path[8192];
    static const struct {
        const char *name;
        int ndim;
        int64_t n;
        uint8_t first[5];
    } files[] = {{"train-images-idx3-ubyte.gz", 3, 60000, {0}}, {"train-labels-idx1-ubyte.gz", 1, 60000, {5, 0, 4, 1, 9}},
                 {"t10k-images-idx3-ubyte.gz", 3, 10000, {0}}, {"t10k-labels-idx1-ubyte.gz", 1, 10000, {7, 2, 1, 0, 4}}};
    for (int f = 0; f < 4; f++) {
        uint8_t *data;
        int ndim;
        int64_t dims[4];
        snprintf(path, sizeof path, "%s/%s", dir, files[f].name);
        clock_t start = clock();
        if (!CHECK(sn_read_idx(path, &data, &ndim, dims) == 0, "%s", sn_error())) continue;
        double seconds = (double)(clock() - start) / CLOCKS_PER_SEC;
        if (f == 0) printf("read %s (60000x28x28) in %.3f s\n", path, seconds);
        CHECK(ndim == files[f].ndim && dims[0] == files[f].n && (ndim == 1 || (dims[1] == 28 && dims[2] == 28)),
              "%s: shape", files[f].name);
        if (ndim == 1) {
            int ok = memcmp(data, files[f].first, 5) == 0;
            for (int64_t k = 0; ok && k < dims[0]; k++) ok = data[k] <= 9;
            CHECK(ok, "%s: first labels %d %d %d %d %d", files[f].name, data[0], data[1], data[2], data[3], data[4]);
        } else {  /* the first training image is a 5: its middle rows have ink, its corner none */
            int ink = 0;
            for (int k = 0; k < 784; k++) ink += data[k] > 128;
            CHECK(data[0] == 0 && ink > 50, "%s: first image (%d bright pixels)", files[f].name, ink);
        }
        sn_free(data);
    }
}

/* ---- parameters ------------------------------------------------------------------------- */

static real random_real(void) {
    static const real specials[] = {0.0, -0.0, REAL_MAX, -REAL_MAX, REAL_MIN, -REAL_MIN, REAL_TRUE_MIN,
                                    -REAL_TRUE_MIN, (real)0.1, (real)(1.0 / 3), (real)1e-5, (real)123456789.0, 1.0,
                                    (real)1e16, (real)1e6, (real)1e-4, (real)0.5};
    if (rnd() % 4 == 0) return specials[rnd() % (sizeof specials / sizeof specials[0])];
    for (;;) {
        real_bits bits = (real_bits)rnd();
        real x;
        if (rnd() % 3 == 0) return (real)((double)(int)(rnd() % 2001) - 1000) / (real)(1 + rnd() % 64);
        memcpy(&x, &bits, sizeof x);
        if (isfinite(x)) return x;
    }
}

static int same_bits(const real *a, const real *b, size_t n) { return memcmp(a, b, n * sizeof(real)) == 0; }

static void make_net(sn_net *net, int n_layers, const int *sizes, int random) {
    memset(net, 0, sizeof *net);
    net->n_layers = n_layers;
    net->hidden = SN_TANH;
    net->output = SN_SOFTMAX;
    for (int l = 0; l <= n_layers; l++) net->sizes[l] = sizes[l];
    for (int l = 0; l < n_layers; l++) {
        size_t n_w = (size_t)sizes[l] * (size_t)sizes[l + 1];
        net->weights[l] = malloc(n_w * sizeof(real));
        net->biases[l] = calloc((size_t)sizes[l + 1], sizeof(real));
        for (size_t k = 0; k < n_w; k++)  /* weights like an initialisation's */
            net->weights[l][k] = random ? random_real() : (real)(((double)(k * 7919 % 1000) - 500) / 1637.0);
        for (int j = 0; random && j < sizes[l + 1]; j++) net->biases[l][j] = random_real();
    }
}

static void test_round_trip(void) {
    char path[8192];
    snprintf(path, sizeof path, "%s/p.txt", tmpdir);
    int identical = 0, trials = 300;
    for (int trial = 0; trial < trials; trial++) {
        int sizes[5], n_layers = 1 + (int)(rnd() % 4);
        for (int l = 0; l <= n_layers; l++) sizes[l] = 1 + (int)(rnd() % 6);
        sn_net net, back;
        make_net(&net, n_layers, sizes, 1);
        net.hidden = (int)(rnd() % 3);
        net.output = rnd() % 2 ? SN_SIGMOID : SN_SOFTMAX;
        int epochs = (int)(rnd() % 1000), back_epochs;
        if (!CHECK(sn_write_params(path, &net, epochs) == 0, "write: %s", sn_error()) ||
            !CHECK(sn_read_params(path, &back, &back_epochs) == 0, "read back: %s", sn_error())) {
            sn_free_net(&net);
            continue;
        }
        int ok = back.n_layers == n_layers && back.hidden == net.hidden && back.output == net.output &&
                 back_epochs == epochs;
        for (int l = 0; ok && l < n_layers; l++)
            ok = back.sizes[l + 1] == sizes[l + 1] &&
                 same_bits(back.weights[l], net.weights[l], (size_t)sizes[l] * (size_t)sizes[l + 1]) &&
                 same_bits(back.biases[l], net.biases[l], (size_t)sizes[l + 1]);
        identical += ok;
        sn_free_net(&net);
        sn_free_net(&back);
    }
    CHECK(identical == trials, "round trip bit-identical: %d of %d", identical, trials);
}

/* The text sn_write_params gives x, as on a neuron line. */
static void written_as(real x, const char *expected, int line) {
    char path[8192], *text = NULL;
    snprintf(path, sizeof path, "%s/n.txt", tmpdir);
    sn_net net;
    int sizes[2] = {1, 1};
    make_net(&net, 1, sizes, 0);
    net.biases[0][0] = x;
    size_t len;
    if (sn_write_params(path, &net, 0) == 0 && sn_read_file(path, (uint8_t **)&text, &len) == 0) {
        char *bias = strstr(text, "neuron 0 bias ");
        char *end = bias ? strstr(bias, " weights") : NULL;
        int n = end ? (int)(end - bias) - 14 : 0;
        check(end && (size_t)n == strlen(expected) && memcmp(bias + 14, expected, (size_t)n) == 0, __FILE__, line,
              "written as '%.*s', expected '%s'", n, end ? bias + 14 : "", expected);
    } else {
        check(0, __FILE__, line, "write %s", sn_error());
    }
    free(text);
    sn_free_net(&net);
}

static void test_number_text(void) {
    /* as Python's repr / NumPy's str, so files are byte-identical to the Python exporter's */
    written_as((real)0.1, "0.1", __LINE__);
    written_as((real)-0.0, "-0.0", __LINE__);
    written_as(0.0, "0.0", __LINE__);
    written_as(1.0, "1.0", __LINE__);
    written_as(100.0, "100.0", __LINE__);
    written_as((real)1e-5, "1e-05", __LINE__);
    written_as((real)0.5, "0.5", __LINE__);
    written_as(-2.5, "-2.5", __LINE__);
#ifdef SN_FLOAT32
    written_as((real)1e-4, "1e-04", __LINE__);  /* float32(1e-4) is a hair below 1e-4 */
    written_as((real)123456789.0, "1.2345679e+08", __LINE__);
    written_as((real)1e6, "1e+06", __LINE__);
    written_as(nextafterf(1e6f, 0), "999999.94", __LINE__);
    written_as(FLT_MAX, "3.4028235e+38", __LINE__);
    written_as(FLT_TRUE_MIN, "1e-45", __LINE__);
    written_as(16777216.0f, "1.6777216e+07", __LINE__);
#else
    written_as(1e-4, "0.0001", __LINE__);
    written_as(123456789.0, "123456789.0", __LINE__);
    written_as(1e15, "1000000000000000.0", __LINE__);
    written_as(1e16, "1e+16", __LINE__);
    written_as(1.5e300, "1.5e+300", __LINE__);
    written_as(DBL_MAX, "1.7976931348623157e+308", __LINE__);
    written_as(DBL_TRUE_MIN, "5e-324", __LINE__);
    written_as(1.0 / 3, "0.3333333333333333", __LINE__);
    written_as(ldexp(1.0, -1022), "2.2250738585072014e-308", __LINE__);
    written_as(ldexp(1.0, 1000), "1.0715086071862673e+301", __LINE__);  /* a power of two: Ryu's shortest */
#endif
}

static char *read_text(const char *dir, const char *name) {
    size_t len;
    return (char *)load(dir, name, &len);
}

static void test_python_file(void) {
    char dir[4096], path[8192];
    snprintf(dir, sizeof dir, "%s/params", corpus);
    snprintf(path, sizeof path, "%s/python-5-3-2-%s.txt", dir, DTYPE);
    sn_net net;
    int epochs;
    if (!CHECK(sn_read_params(path, &net, &epochs) == 0, "%s", sn_error())) return;
    CHECK(net.n_layers == 2 && net.sizes[0] == 5 && net.sizes[1] == 3 && net.sizes[2] == 2 && net.hidden == SN_TANH &&
              net.output == SN_SOFTMAX && epochs == 3,
          "python file: header");
    real b0[3] = {-0.0, (real)1e-5, (real)123456789.0}, b1[2] = {REAL_TRUE_MIN, -REAL_MAX}, w = (real)0.1;
    CHECK(same_bits(net.biases[0], b0, 3) && same_bits(net.biases[1], b1, 2) && same_bits(net.weights[1], &w, 1),
          "python file: values");
    /* written back: Python's bytes, but for the history comment that only Python has */
    char out[8192];
    snprintf(out, sizeof out, "%s/again.txt", tmpdir);
    char *python = read_text(dir, strrchr(path, '/') + 1), *mine = NULL;
    size_t len;
    if (CHECK(sn_write_params(out, &net, epochs) == 0, "%s", sn_error()) && python &&
        sn_read_file(out, (uint8_t **)&mine, &len) == 0) {
        char *summary = strstr(python, "# last epoch"), *after = summary ? strchr(summary, '\n') : NULL;
        char expected[8192] = "";
        if (after)
            snprintf(expected, sizeof expected, "%.*s# no training history%s", (int)(summary - python), python, after);
        CHECK(after && strcmp(mine, expected) == 0, "C's file differs from Python's:\n%s", mine);
    }
    free(python);
    free(mine);
    sn_free_net(&net);
    snprintf(path, sizeof path, "%s/python-5-3-2-%s.txt", dir, OTHER);
    CHECK_ERROR(sn_read_params(path, &net, &epochs), "other dtype", "the parameters are " OTHER,
                "this build of scratchnet reads " DTYPE);
    CHECK(net.n_layers == 0 && net.weights[0] == NULL, "a failed read leaves an empty net");
#ifdef SN_FLOAT32
    /* exactly halfway between two floats: ties to even; a hair above rounds up (double rounding
       through a double would not) */
    const char *text = "scratchnet-params 1\nsizes 1 1\nhidden relu\noutput sigmoid\ndtype float32\n"
                       "layer 1 inputs 1 neurons 1\nneuron 0 bias 1.000000059604644775390625 weights "
                       "1.00000005960464477539062500000001\nend\n";
    if (CHECK(sn_parse_params(text, strlen(text), "h", &net, &epochs) == 0, "%s", sn_error())) {
        CHECK(net.biases[0][0] == 1.0f && net.weights[0][0] == nextafterf(1.0f, 2.0f), "float32 halfway cases");
        sn_free_net(&net);
    }
#endif
}

static char *replace_all(const char *text, const char *old, const char *new) {
    size_t count = 0, lo = strlen(old), ln = strlen(new);
    for (const char *p = text; (p = strstr(p, old)); p += lo) count++;
    char *out = malloc(strlen(text) + count * ln + 1), *o = out;
    for (const char *p = text, *hit; ; p = hit + lo) {
        hit = strstr(p, old);
        size_t n = hit ? (size_t)(hit - p) : strlen(p);
        memcpy(o, p, n);
        o += n;
        if (!hit) break;
        memcpy(o, new, ln);
        o += ln;
    }
    *o = 0;
    return out;
}

/* text with its (first) line starting with prefix replaced by `new` (NULL: removed). */
static char *replace_line(const char *text, const char *prefix, const char *new) {
    size_t lp = strlen(prefix);
    const char *line = text;
    while (strncmp(line, prefix, lp) != 0) line = strchr(line, '\n') + 1;
    const char *after = strchr(line, '\n') + 1;
    char *out = malloc(strlen(text) + (new ? strlen(new) : 0) + 2);
    sprintf(out, "%.*s%s%s%s", (int)(line - text), text, new ? new : "", new ? "\n" : "", after);
    return out;
}

static char *line_of(const char *text, const char *prefix) {
    const char *line = text;
    while (strncmp(line, prefix, strlen(prefix)) != 0) line = strchr(line, '\n') + 1;
    size_t n = (size_t)(strchr(line, '\n') - line);
    char *out = malloc(n + 1);
    memcpy(out, line, n);
    out[n] = 0;
    return out;
}

/* Parse `text` (freed) as net.txt: an error on `line` (0: any) with the fragment. */
static void broken(char *text, int line, const char *fragment, int at) {
    sn_net net;
    int epochs;
    size_t len = strlen(text);
    char *copy = (char *)exact(text, len);  /* no NUL after it: the parser must not need one */
    int rc = sn_parse_params(copy, len, "net.txt", &net, &epochs);
    char start[32], start2[32];
    snprintf(start, sizeof start, "net.txt:%d:", line);
    snprintf(start2, sizeof start2, "net.txt:%d ", line);
    const char *m = sn_error();
    check(rc == -1 && strchr(m, '\n') == NULL && strncmp(m, "net.txt", 7) == 0 && strstr(m, fragment) &&
              (!line || strncmp(m, start, strlen(start)) == 0 || strncmp(m, start2, strlen(start2)) == 0),
          __FILE__, at, "expected an error on line %d with \"%s\", got rc %d \"%s\"", line, fragment, rc, rc ? m : "");
    if (rc == 0) sn_free_net(&net);
    free(copy);
    free(text);
}
#define BROKEN(text, line, fragment) broken(text, line, fragment, __LINE__)

static char *good_text(void) {
    char path[8192], *text = NULL;
    snprintf(path, sizeof path, "%s/good.txt", tmpdir);
    sn_net net;
    int sizes[3] = {5, 3, 2};
    size_t len;
    make_net(&net, 2, sizes, 0);  /* as tests/test_textformat.py's make_net: 5-3-2, biases 0.0 */
    if (sn_write_params(path, &net, 0) || sn_read_file(path, (uint8_t **)&text, &len)) {
        CHECK(0, "good text: %s", sn_error());
        exit(1);
    }
    sn_free_net(&net);
    return text;
}

/* Each malformed case of tests/test_textformat.py, on the line Python names. */
static void test_malformed(void) {
    char *good = good_text(), *row, *text;
    row = line_of(good, "neuron 1 ");
    *strrchr(row, ' ') = 0;
    BROKEN(replace_line(good, "neuron 1 ", row), 13, "row too short: neuron 1 of layer 1 has 4 weights, expected 5");
    free(row);
    row = line_of(good, "neuron 1 ");
    text = malloc(strlen(row) + 8);
    sprintf(text, "%s 0.5", row);
    BROKEN(replace_line(good, "neuron 1 ", text), 13, "row too long: neuron 1 of layer 1 has 6 weights, expected 5");
    free(text);
    free(row);
    /* a non-number: line and column */
    row = line_of(good, "neuron 2 ");
    char *p = row;
    for (int k = 0; k < 7; k++) p = strchr(p, ' ') + 1;  /* token 7: the third weight */
    char *next = strchr(p, ' ');
    text = malloc(strlen(row) + 8);
    sprintf(text, "%.*s0.1x%s", (int)(p - row), row, next);
    char fragment[64];
    snprintf(fragment, sizeof fragment, "net.txt:14:%d: '0.1x' is not a number", (int)(p - row) + 1);
    BROKEN(replace_line(good, "neuron 2 ", text), 14, fragment);
    free(text);
    free(row);
    /* numbers: only finite plain decimals */
    static const struct {
        const char *bias, *fragment;
    } numbers[] = {{"nan", "nan is not allowed: parameters must be finite numbers"},
                   {"inf", "must be finite"}, {"-inf", "-inf is not allowed"}, {"NaN", "must be finite"},
                   {"Infinity", "Infinity is not allowed"}, {"+INF", "must be finite"},
                   {"1e999", "overflows " DTYPE}, {"-1e999", "overflows " DTYPE},
#ifdef SN_FLOAT32
                   {"3.5e38", "overflows float32"},
#endif
                   {"1_000", "'1_000' is not a number"}, {"0x10", "'0x10' is not a number"}, {".", "is not a number"},
                   {"1e", "is not a number"}, {"+-1", "is not a number"}, {"1.2.3", "is not a number"},
                   {"e5", "is not a number"}, {"1e+", "is not a number"}, {"--1", "is not a number"},
                   {"1,5", "is not a number"}, {"infinite", "'infinite' is not a number"},
                   {"0.0\r1", "net.txt:12:18: character 0x0d is not allowed outside comments"},  /* CR only in CRLF */
                   {"0.0\0011", "character 0x01 is not allowed outside comments"}};  /* ASCII only */
    for (size_t k = 0; k < sizeof numbers / sizeof numbers[0]; k++) {
        row = line_of(good, "neuron 0 ");
        char bias[64];
        snprintf(bias, sizeof bias, "bias %s", numbers[k].bias);
        char *edited = replace_all(row, "bias 0.0", bias);
        BROKEN(replace_line(good, "neuron 0 ", edited), 12, numbers[k].fragment);
        free(edited);
        free(row);
    }
    /* missing and repeated sections */
    BROKEN(replace_line(good, "hidden", NULL), 9, "header line 'hidden' is missing before the layers");
    BROKEN(replace_all(good, "dtype " DTYPE, "dtype " DTYPE "\ndtype " DTYPE), 7, "'dtype' appears twice in the header");
    BROKEN(replace_all(good, "layer 2 inputs 3 neurons 2", "layer 1 inputs 5 neurons 3"), 16, "layer 1 appears twice");
    BROKEN(replace_all(good, "neuron 2 bias", "neuron 7 bias"), 14, "expected neuron 2 of layer 1, found neuron 7");
    text = strdup(good);
    strcpy(strstr(text, "layer 2"), "end\n");
    BROKEN(text, 16, "'end' comes before layer 2");
    BROKEN(replace_all(good, "neuron 1 bias", "#neuron 1 bias"), 14, "expected neuron 1 of layer 1, found neuron 2");
    BROKEN(replace_all(good, "neuron 0 bias", "neuron 0 bias\n"), 12, "expected 'neuron 0 bias B weights W...' (layer 1)");
    /* sizes that do not chain */
    BROKEN(replace_all(good, "layer 2 inputs 3 neurons 2", "layer 2 inputs 4 neurons 2"), 16,
           "net.txt:16:16: layer 2 has 4 inputs but the layer before it has 3 neurons");
    BROKEN(replace_all(good, "sizes 5 3 2", "sizes 5 3 3"), 16, "expected 'layer 2 inputs 3 neurons 3'");
    BROKEN(replace_all(good, "sizes 5 3 2", "sizes 5 x 2"), 3, "net.txt:3:9: a layer size must be a whole number, not 'x'");
    BROKEN(replace_all(good, "sizes 5 3 2", "sizes 5"), 3, "two or more layer sizes");
    BROKEN(replace_all(good, "sizes 5 3 2", "sizes 5 0 2"), 3, "two or more layer sizes of at least 1");
    /* trailing text, files cut short */
    text = malloc(strlen(good) + 64);
    sprintf(text, "%sneuron 9 bias 0 weights 1\n", good);
    BROKEN(text, 21, "text after 'end': 'neuron 9 bias 0 weights 1'");
    BROKEN(replace_all(good, "end\n", ""), 19, "file ends early: expected 'end'");
    text = strdup(good);
    strstr(text, "neuron 1 ")[30] = 0;
    BROKEN(text, 13, "cut short");
    BROKEN(strdup(""), 0, "net.txt: file ends early: expected 'scratchnet-params 1'");
    BROKEN(strdup("\n  \n# only a comment\n"), 0, "net.txt: file ends early");
    BROKEN(replace_all(good, "end\n", "finish\n"), 20, "expected 'end', found 'finish'");
    BROKEN(replace_all(good, "end\n", "layer 3 inputs 2 neurons 1\nend\n"), 20, "more layers or neurons than sizes 5 3 2 allow");
    /* foreign files, bad header values */
    BROKEN(strdup("Weights and Biases:\nLayer 1 Weights:\n[[0.1 0.2]]\n"), 1, "not a scratchnet parameter file");
    BROKEN(replace_all(good, "scratchnet-params 1", "scratchnet-params 2"), 1, "format version 2 is not supported");
    BROKEN(replace_all(good, "scratchnet-params 1", "scratchnet-params"), 1, "format version missing");
    BROKEN(replace_all(good, "hidden tanh", "hidden swish"), 4, "hidden 'swish' is not one of");
    BROKEN(replace_all(good, "output softmax", "output relu"), 5, "output 'relu' is not one of sigmoid, softmax");
    BROKEN(replace_all(good, "dtype " DTYPE, "dtype float16"), 6, "dtype 'float16' is not one of float64, float32");
    BROKEN(replace_all(good, "hidden tanh", "colour blue"), 4, "unknown header line 'colour'");
    BROKEN(replace_all(good, "epochs 0", "epochs x"), 7, "net.txt:7:8: epochs must be a whole number, not 'x'");
    BROKEN(replace_all(good, "epochs 0", "epochs 1 2"), 7, "'epochs' takes one value, found 2");
    BROKEN(replace_all(good, "hidden tanh", "hidden"), 4, "'hidden' takes one value, found 0");
    /* limits: a hostile header must not make the reader allocate absurdly */
    BROKEN(replace_all(good, "sizes 5 3 2", "sizes 5 3000000 2"), 3, "more than this reader allows (1000000)");
    BROKEN(replace_all(good, "sizes 5 3 2", "sizes 1000000 1000000 2"), 3, "more than this reader allows");
    BROKEN(replace_all(good, "sizes 5 3 2", "sizes 5 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1"), 3, "at most 16");
    BROKEN(replace_all(good, "sizes 5 3 2\n", "sizes 5 99999 2\n"), 3,
           "these sizes need 799994 numbers, more than a file of");
    BROKEN(replace_all(good, "epochs 0", "epochs 99999999999999999999"), 7, "more than this reader allows");
    free(good);
    /* the hand edits textformat.py accepts: comments, CRLF, tabs, spaces, header order */
    good = good_text();
    char *edited = replace_all(good, "\n", "   # a comment\r\n"), *e2 = replace_all(edited, " weights ", "   weights\t ");
    char *e3 = replace_all(e2, "hidden tanh", "output softmax  "), *e4 = replace_all(e3, "output softmax   # a comment\r\ndtype", "hidden tanh\r\ndtype");
    text = malloc(strlen(e4) + 32);
    sprintf(text, "# my notes\r\n\r\n%s", e4);
    sn_net a, b;
    int epochs;
    if (CHECK(sn_parse_params(good, strlen(good), "good", &a, &epochs) == 0, "%s", sn_error())) {
        if (CHECK(sn_parse_params(text, strlen(text), "edited", &b, &epochs) == 0, "hand edits: %s", sn_error())) {
            CHECK(b.hidden == SN_TANH && b.output == SN_SOFTMAX && same_bits(a.weights[0], b.weights[0], 15) &&
                      same_bits(a.weights[1], b.weights[1], 6),
                  "hand-edited file reads the same");
            sn_free_net(&b);
        }
        sn_free_net(&a);
    }
    free(text), free(edited), free(e2), free(e3), free(e4);
    /* every prefix is an error unless it keeps all of "end"; random damage never crashes */
    size_t len = strlen(good), end_at = (size_t)(strstr(good, "\nend\n") - good) + 4;
    int right = 0;
    for (size_t n = 0; n <= len; n++) {
        uint8_t *cut = exact(good, n);
        int rc = sn_parse_params((const char *)cut, n, "cut", &a, &epochs);
        right += n >= end_at ? rc == 0 : rc == -1;
        if (rc == 0) sn_free_net(&a);
        free(cut);
    }
    CHECK(right == (int)len + 1, "prefixes of a parameter file: %d of %zu right", right, len + 1);
    int errors = 0;
    for (int trial = 0; trial < 3000; trial++) {
        uint8_t *copy = exact(good, len);
        for (int flips = 1 + (int)(rnd() % 3); flips; flips--) copy[rnd() % len] = (uint8_t)rnd();
        if (sn_parse_params((const char *)copy, len, "x", &a, &epochs) == 0) sn_free_net(&a);
        else errors++;
        free(copy);
    }
    CHECK(errors > 1000, "random damage to a parameter file: %d errors of 3000", errors);
    /* a number may have any number of digits: 0.5000...0001 is 0.5 */
    char *bias = malloc(5100);
    strcpy(bias, "neuron 0 bias 0.5");
    memset(bias + 17, '0', 5000);
    strcpy(bias + 5017, "1 weights");
    text = replace_all(good, "neuron 0 bias 0.0 weights", bias);
    if (CHECK(sn_parse_params(text, strlen(text), "long", &a, &epochs) == 0, "5000 digits: %s", sn_error())) {
        CHECK(a.biases[0][0] == (real)0.5 && a.biases[1][0] == (real)0.5, "5000 digits: value");
        sn_free_net(&a);
    }
    free(bias), free(text), free(good);
}

static int temp_files_left(void) {
    DIR *d = opendir(tmpdir);
    int count = 0;
    for (struct dirent *e; d && (e = readdir(d));) count += strncmp(e->d_name, ".p.txt.", 7) == 0;
    if (d) closedir(d);
    return count;
}

static void test_atomic_write(void) {
    char path[8192];
    snprintf(path, sizeof path, "%s/p.txt", tmpdir);
    sn_net net;
    int sizes[3] = {4, 3, 2};
    make_net(&net, 2, sizes, 1);
    CHECK(sn_write_params(path, &net, 1) == 0, "%s", sn_error());
    chmod(path, 0640);
    CHECK(sn_write_params(path, &net, 2) == 0, "%s", sn_error());
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640, "replacing a file keeps its mode (%o)",
          (unsigned)(st.st_mode & 0777));
    size_t len_before, len_after;
    uint8_t *before, *after;
    sn_read_file(path, &before, &len_before);
    net.weights[1][3] = (real)NAN;
    CHECK_ERROR(sn_write_params(path, &net, 3), "nan", "cannot write", "not finite");
    net.weights[1][3] = 1;
    net.hidden = SN_SOFTMAX;
    CHECK_ERROR(sn_write_params(path, &net, 3), "softmax hidden", "cannot write");
    net.hidden = SN_RELU;
    sn_read_file(path, &after, &len_after);
    CHECK(len_before == len_after && memcmp(before, after, len_after) == 0, "a failed write leaves the old file");
    free(before);
    free(after);
    char bad[8192];
    snprintf(bad, sizeof bad, "%s/no-such-folder/p.txt", tmpdir);
    CHECK_ERROR(sn_write_params(bad, &net, 0), "missing folder", "cannot write", bad, "No such file");
    CHECK(temp_files_left() == 0, "no temporary file left behind");
    sn_free_net(&net);
}

/* The epochs in the parameter file at path, or -1 if it cannot be read. */
static int epochs_in(const char *path) {
    sn_net net;
    int epochs;
    if (sn_read_params(path, &net, &epochs)) return -1;
    sn_free_net(&net);
    return epochs;
}

static int is_link(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
}

/* sn_write_params_over replaces only the file it was told of (as atomic.py's only_over): a file
   another program wrote meanwhile, or one that appeared where there was none, stays. */
static void test_write_only_over(void) {
    char path[8192], fresh[8192];
    snprintf(path, sizeof path, "%s/over.txt", tmpdir);
    snprintf(fresh, sizeof fresh, "%s/fresh.txt", tmpdir);
    sn_net net;
    int sizes[3] = {4, 3, 2};
    make_net(&net, 2, sizes, 1);
    const sn_file_id none = {0};
    sn_file_id seen;
    CHECK(sn_write_params_over(path, &net, 1, &none) == 0 && sn_file_id_of(path, &seen) == 0, "%s", sn_error());
    CHECK(sn_write_params_over(path, &net, 2, &seen) == 0 && epochs_in(path) == 2, "over the file seen: %s",
          sn_error());
    CHECK(sn_write_params_over(path, &net, 3, &seen) == SN_CHANGED && epochs_in(path) == 2,
          "over a file changed since it was seen: left as it is");
    CHECK(sn_write_params_over(path, &net, 3, &none) == SN_CHANGED && epochs_in(path) == 2,
          "over a file that appeared where there was none: left as it is");
    CHECK(sn_file_id_of(path, &seen) == 0 && remove(path) == 0, "remove");
    CHECK(sn_write_params_over(path, &net, 4, &seen) == SN_CHANGED && access(path, F_OK) != 0,
          "over a file since removed: nothing written");
    CHECK(sn_write_params_over(fresh, &net, 5, &none) == 0 && epochs_in(fresh) == 5, "%s", sn_error());
    CHECK(temp_files_left() == 0, "no temporary file left behind");
    remove(fresh);
    sn_free_net(&net);
}

/* The pid of a process that has ended (and been waited for). */
static long dead_pid(void) {
    pid_t child = fork();
    if (child == 0) _exit(0);
    waitpid(child, NULL, 0);
    return (long)child;
}

/* A write goes through symlinks to the file at their end, straight into devices (never renamed
   over them), and first removes what writers killed mid-write left, and only that. */
static void test_write_targets(void) {
    char dir[4096], target[4200], link[4200], chain[4200], dangling[4200], loop[2][4200], made[4200];
    snprintf(dir, sizeof dir, "%s/links", tmpdir);
    snprintf(target, sizeof target, "%s/target.txt", dir);
    snprintf(link, sizeof link, "%s/link.txt", tmpdir);
    snprintf(chain, sizeof chain, "%s/chain.txt", tmpdir);
    snprintf(dangling, sizeof dangling, "%s/dangling.txt", tmpdir);
    snprintf(made, sizeof made, "%s/made.txt", dir);
    snprintf(loop[0], sizeof loop[0], "%s/loop0", tmpdir);
    snprintf(loop[1], sizeof loop[1], "%s/loop1", tmpdir);
    sn_net net;
    int sizes[3] = {4, 3, 2};
    make_net(&net, 2, sizes, 1);
    mkdir(dir, 0755);
    CHECK(sn_write_params(target, &net, 1) == 0, "%s", sn_error());
    chmod(target, 0640);
    CHECK(symlink("links/target.txt", link) == 0 && symlink(link, chain) == 0, "symlinks");
    CHECK(sn_write_params(link, &net, 2) == 0 && is_link(link) && epochs_in(target) == 2,
          "a symlink is written through to its target: %s", sn_error());
    struct stat st;
    CHECK(stat(target, &st) == 0 && (st.st_mode & 0777) == 0640, "the target keeps its mode (%o)",
          (unsigned)(st.st_mode & 0777));
    CHECK(sn_write_params(chain, &net, 3) == 0 && is_link(chain) && is_link(link) && epochs_in(target) == 3,
          "a chain of symlinks is followed to the end: %s", sn_error());
    CHECK(symlink("links/made.txt", dangling) == 0, "symlink");
    CHECK(sn_write_params(dangling, &net, 4) == 0 && is_link(dangling) && epochs_in(made) == 4,
          "a dangling symlink writes the file it names: %s", sn_error());
    CHECK(symlink("loop1", loop[0]) == 0 && symlink("loop0", loop[1]) == 0, "symlinks");
    CHECK_ERROR(sn_write_params(loop[0], &net, 5), "symlink loop", loop[0], "Too many levels of symbolic links");
    CHECK(is_link(loop[0]) && is_link(loop[1]), "a symlink loop is left alone");

    /* temporary files of ours (.NAME.PID.RANDOM.tmp, from C or Python) whose writer is gone go */
    long dead = dead_pid(), live = (long)getpid();
    char name[4][64], path[4][8192];
    snprintf(name[0], sizeof name[0], ".target.txt.%ld.AbC123.tmp", dead);   /* stale, as C names it */
    snprintf(name[1], sizeof name[1], ".target.txt.%ld.ab_cd123.tmp", dead);  /* stale, as Python does */
    snprintf(name[2], sizeof name[2], ".target.txt.%ld.AbC123.tmp", live);   /* a live writer's */
    snprintf(name[3], sizeof name[3], ".target.txt.x.%ld.AbC123.tmp", dead); /* target.txt.x's */
    for (int k = 0; k < 4; k++) {
        snprintf(path[k], sizeof path[k], "%s/%s", dir, name[k]);
        FILE *f = fopen(path[k], "w");
        if (f) fclose(f);
    }
    CHECK(sn_write_params(target, &net, 6) == 0, "%s", sn_error());
    CHECK(access(path[0], F_OK) != 0 && access(path[1], F_OK) != 0, "a dead writer's temporary files are removed");
    CHECK(access(path[2], F_OK) == 0 && access(path[3], F_OK) == 0, "others are kept");
    remove(path[2]), remove(path[3]);

    /* devices: copies of /dev/null and /dev/full, as a bug must not turn the machine's into files */
    char null[4200], full[4200];
    snprintf(null, sizeof null, "%s/null", tmpdir);
    snprintf(full, sizeof full, "%s/full", tmpdir);
    if (mknod(null, S_IFCHR | 0666, makedev(1, 3)) == 0 && mknod(full, S_IFCHR | 0666, makedev(1, 7)) == 0) {
        CHECK(sn_write_params(null, &net, 7) == 0 && lstat(null, &st) == 0 && S_ISCHR(st.st_mode),
              "a device is written directly and stays one: %s", sn_error());
        CHECK_ERROR(sn_write_params(full, &net, 7), "full device", full, "No space left on device");
        CHECK(lstat(full, &st) == 0 && S_ISCHR(st.st_mode), "a full device stays one");
    } else {
        printf("test_io: skipped the device checks: mknod needs root (%s)\n", strerror(errno));
    }
    const char *made_here[] = {target, made, link, chain, dangling, loop[0], loop[1], null, full};
    for (int k = 0; k < 9; k++) remove(made_here[k]);
    CHECK(rmdir(dir) == 0, "no temporary file left in %s", dir);
    sn_free_net(&net);
}

/* Every seed and regression input of the fuzzers still parses without a crash or a leak. */
static void test_corpus(void) {
    const char *kinds[] = {"idx", "params"};
    for (int k = 0; k < 2; k++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", corpus, kinds[k]);
        DIR *d = opendir(dir);
        int files = 0;
        for (struct dirent *e; d && (e = readdir(d));) {
            if (e->d_name[0] == '.') continue;
            size_t len;
            uint8_t *bytes = load(dir, e->d_name, &len), *data;
            if (!bytes) continue;
            uint8_t *copy = exact(bytes, len);
            if (k == 0) {
                int ndim;
                int64_t dims[3];
                if (sn_parse_idx(copy, len, e->d_name, &data, &ndim, dims) == 0) sn_free(data);
            } else {
                sn_net net;
                int epochs;
                if (sn_parse_params((const char *)copy, len, e->d_name, &net, &epochs) == 0) sn_free_net(&net);
            }
            free(copy);
            free(bytes);
            files++;
        }
        if (d) closedir(d);
        CHECK(files > 0, "corpus %s has files", dir);
    }
}

/* tests/corpus/params, which tests/test_textformat.py reads too: the two readers must agree. A good
 * file must give the canonical text Python gives (so the same numbers, bit for bit); a bad one the
 * message its last line writes down. Files named float32-* are float32, the others float64: the
 * other build refuses them for their dtype, before or after what is wrong with them. */
static char shared[2048] = "../tests/corpus/params";

static int is_other_dtype(const char *name) { return (strncmp(name, "float32-", 8) == 0) != (sizeof(real) == 4); }

static void test_shared_corpus(void) {
    char dir[4096], path[8192], out[8192];
    int good = 0, bad = 0;
    snprintf(out, sizeof out, "%s/canonical.txt", tmpdir);
    for (int kind = 0; kind < 2; kind++) {
        snprintf(dir, sizeof dir, "%s/%s", shared, kind == 0 ? "good" : "bad");
        DIR *d = opendir(dir);
        if (!CHECK(d != NULL, "no corpus at %s", dir)) continue;
        for (struct dirent *e; (e = readdir(d));) {
            if (e->d_name[0] == '.') continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            sn_net net;
            int epochs, rc = sn_read_params(path, &net, &epochs);
            const char *refused = "but this build of scratchnet reads " DTYPE;
            if (kind == 0 && is_other_dtype(e->d_name)) {
                CHECK_ERROR(rc, e->d_name, refused);
            } else if (kind == 0 && CHECK(rc == 0, "good %s: %s", e->d_name, sn_error())) {
                char *expected = NULL, *mine = NULL;
                size_t len;
                snprintf(path, sizeof path, "%s/../canonical", dir);
                expected = (char *)load(path, e->d_name, &len);
                CHECK(sn_write_params(out, &net, epochs) == 0 && sn_read_file(out, (uint8_t **)&mine, &len) == 0 &&
                          expected && strcmp(mine, expected) == 0,
                      "good %s: C writes another canonical text:\n%s", e->d_name, mine ? mine : sn_error());
                free(expected);
                free(mine);
                sn_free_net(&net);
            } else if (kind == 1) {
                /* the last line: "# error: TEXT", where Python's message is the path then TEXT */
                size_t len;
                char *text = (char *)load(dir, e->d_name, &len), *last = text ? text + len : NULL;
                while (last && last > text && last[-1] == '\n') *--last = 0;
                while (last && last > text && last[-1] != '\n') last--;
                const char *expected = last && strncmp(last, "# error: ", 9) == 0 ? last + 9 : "(no # error: line)";
                size_t n = strlen(path);
                int same = rc == -1 && strncmp(sn_error(), path, n) == 0 &&
                           strncmp(sn_error() + n, expected, strlen(expected)) == 0;
                CHECK(same || (is_other_dtype(e->d_name) && rc == -1 && strstr(sn_error(), refused)),
                      "bad %s: expected \"%s\", got rc %d \"%s\"", e->d_name, expected, rc, rc ? sn_error() : "");
                if (rc == 0) sn_free_net(&net);
                free(text);
            }
            kind == 0 ? good++ : bad++;
        }
        closedir(d);
    }
    remove(out);
    CHECK(good >= 15 && bad >= 40, "the corpus has %d good and %d bad files", good, bad);
}

/* Only regular files are read: /dev/zero would fill the memory, a FIFO wait for a writer. */
static void test_special_files(void) {
    char fifo[8192];
    snprintf(fifo, sizeof fifo, "%s/pipe.txt", tmpdir);
    sn_net net;
    int epochs;
    if (CHECK(mkfifo(fifo, 0600) == 0, "mkfifo %s", fifo)) {
        alarm(20);  /* a reader that waits for a writer is killed, not left hanging */
        CHECK_ERROR(sn_read_params(fifo, &net, &epochs), "fifo", "pipe.txt: is a named pipe, not a regular file");
        alarm(0);
        remove(fifo);
    }
    CHECK_ERROR(sn_read_params("/dev/zero", &net, &epochs), "device", "/dev/zero: is a character device, not a regular file");
    CHECK_ERROR(sn_read_params(tmpdir, &net, &epochs), "directory", ": is a folder, not a regular file");
    CHECK_ERROR(sn_read_params("/no/such/file.txt", &net, &epochs), "missing", "/no/such/file.txt: No such file");
}

int main(int argc, char **argv) {
    const char *slash = strrchr(argv[0], '/');  /* fixtures live beside the program, or in argv[1] */
    if (argc > 1) snprintf(corpus, sizeof corpus, "%s", argv[1]);
    else if (slash) snprintf(corpus, sizeof corpus, "%.*s/fuzz/corpus", (int)(slash - argv[0]), argv[0]);
    if (slash) snprintf(mnist, sizeof mnist, "%.*s/../data/mnist", (int)(slash - argv[0]), argv[0]);
    if (slash) snprintf(shared, sizeof shared, "%.*s/../tests/corpus/params", (int)(slash - argv[0]), argv[0]);
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/test_io.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror(tmpdir);
        return 1;
    }
    printf("test_io: the %s build\n", DTYPE);
    test_gzip_known();
    test_gzip_damage();
    test_idx();
    test_idx_limits();
    test_mnist();
    test_round_trip();
    test_number_text();
    test_python_file();
    test_malformed();
    test_atomic_write();
    test_write_targets();
    test_write_only_over();
    test_corpus();
    test_shared_corpus();
    test_special_files();
    /* clean up the scratch folder */
    const char *names[] = {"p.txt", "n.txt", "good.txt", "again.txt", "damaged.idx3.gz"};
    for (int k = 0; k < 5; k++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", tmpdir, names[k]);
        remove(path);
    }
    rmdir(tmpdir);
    return summary();
}
