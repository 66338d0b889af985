/* The text parameter format of docs/FORMAT.md, read and written exactly as textformat.py does:
 * the same rules, the same messages (naming file:line:column), byte-identical output.
 */
#define _POSIX_C_SOURCE 200809L /* fsync, fchmod, readlink, kill, unlinkat: the atomic write needs them */
#define _DEFAULT_SOURCE         /* and mkstemps */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "internal.h"
#include "pow10.h"

#ifdef SN_FLOAT32
#define STRTOREAL strtof
#define DTYPE "float32"
#define OTHER_DTYPE "float64"
#define POSITIONAL_BELOW 1e6    /* NumPy prints float32 >= 1e6 in scientific notation */
#else
#define STRTOREAL strtod
#define DTYPE "float64"
#define OTHER_DTYPE "float32"
#define POSITIONAL_BELOW 1e16   /* as Python's repr */
#endif

#define MAGIC "scratchnet-params"
#define DIGITS_ROOM 21  /* any uint64_t's digits and a NUL (a float32 needs 9 digits, a float64 17) */
#define MAX_SIZE 1000000                  /* neurons in one layer */
#define MAX_PARAMETERS 1000000000ull      /* in the whole network */

static const char *const HIDDEN[] = {"sigmoid", "tanh", "relu"};  /* index = enum sn_activation */

/* ---------------------------------------------------------------------------------------------
 * reading: lines without comments, split into tokens */

typedef struct {
    const char *s;
    size_t n;
    int column;  /* 1-based */
} token;

typedef struct {
    const char *start, *end;  /* the physical line's start; the end of its content (before any
                                 '#', blanks trimmed) */
    int number;               /* 1-based; 0: none */
} line;

typedef struct {
    const char *name, *end;
    size_t size;              /* of the whole file, for the check of sizes */
    const char *next;         /* first byte of the next physical line not yet scanned */
    int next_number;          /* its line number */
    line cur;                 /* the meaningful line being read */
    line ahead;               /* the next meaningful line, once peek() has found it */
    int peeked;
    char *scratch;            /* a NUL-terminated copy of the number being converted */
    size_t scratch_cap;
} reader;

/* Tokens are separated by spaces and tabs; a line may end in CRLF. check_characters() has made
   sure that, outside comments, there is nothing else but printable ASCII. */
static int blank(char c) { return c == ' ' || c == '\t'; }

/* Before anything else, as textformat.py: outside comments, every byte is printable ASCII, a space
   or a tab, but for a CR right before a line's LF or at the end of the file. */
static int check_characters(const reader *r, const char *start);

/* Find the next meaningful line (not blank once its comment is removed) in r->ahead; 0 if none. */
static int peek(reader *r) {
    while (!r->peeked && r->next < r->end) {
        const char *nl = memchr(r->next, '\n', (size_t)(r->end - r->next));
        const char *stop = nl ? nl : r->end;
        const char *hash = memchr(r->next, '#', (size_t)(stop - r->next));
        line ln = {r->next, hash ? hash : stop, r->next_number++};
        while (ln.end > ln.start && (blank(ln.end[-1]) || ln.end[-1] == '\r')) ln.end--;  /* only a last CR */
        r->next = nl ? nl + 1 : r->end;
        if (ln.end > ln.start) {  /* trimmed, so anything left is not blank */
            r->ahead = ln;
            r->peeked = 1;
        }
    }
    return r->peeked;
}

/* Move on to the next meaningful line; 0 at the end of the file (r->cur stays the last line). */
static int next(reader *r) {
    if (!peek(r)) return 0;
    r->cur = r->ahead;
    r->peeked = 0;
    return 1;
}

/* The token of ln starting at or after *p, moving *p past it; 0 if there is none. */
static int next_token(const line *ln, const char **p, token *t) {
    const char *s = *p;
    while (s < ln->end && blank(*s)) s++;
    if (s == ln->end) return 0;
    *p = s;
    while (*p < ln->end && !blank(**p)) ++*p;
    *t = (token){s, (size_t)(*p - s), (int)(s - ln->start) + 1};
    return 1;
}

/* Tokens of ln: stores the first `max`, returns how many there are. */
static int split(const line *ln, token *tokens, int max) {
    int count = 0;
    token t;
    for (const char *p = ln->start; next_token(ln, &p, &t); count++) {
        if (count < max) tokens[count] = t;
    }
    return count;
}

/* From the token to the end of the line's content, e.g. for "found 'end 2'" */
static token rest_of(const line *ln, token t) { return (token){t.s, (size_t)(ln->end - t.s), t.column}; }

static int is(token t, const char *word) { return t.n == strlen(word) && memcmp(t.s, word, t.n) == 0; }

/* "name:line:column: message" (line 0: the name alone; column 0: no column), like textformat.py. */
static int error_at(const reader *r, int line, int column, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static int error_at(const reader *r, int line, int column, const char *format, ...) {
    char where[300], message[400];
    int n = snprintf(where, sizeof where, "%s", r->name);
    if (line && n >= 0 && (size_t)n < sizeof where) n += snprintf(where + n, sizeof where - (size_t)n, ":%d", line);
    if (column && n >= 0 && (size_t)n < sizeof where) snprintf(where + n, sizeof where - (size_t)n, ":%d", column);
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    return sn_fail("%s: %s", where, message);
}

/* A token as a message shows it: cut to 40 bytes, control characters as '?', so that the
   message stays one short line. */
static const char *shown(token t, char out[48]) {
    size_t n = t.n < 40 ? t.n : 40;
    for (size_t k = 0; k < n; k++) out[k] = (unsigned char)t.s[k] < 32 || t.s[k] == 127 ? '?' : t.s[k];
    out[n] = 0;
    return out;
}
#define QUOTE(t) shown((t), (char[48]){0})

/* A whole number (0, or digits not starting with 0: FORMAT.md's `whole`) of at most `max` (more is
   max + 1), or -1. */
static long long whole(token t, long long max) {
    long long value = 0;
    if (t.n > 1 && t.s[0] == '0') return -1;
    for (size_t k = 0; k < t.n; k++) {
        if (t.s[k] < '0' || t.s[k] > '9') return -1;
        value = value * 10 + (t.s[k] - '0');
        if (value > max) value = max + 1;  /* saturate: the caller says it is too large */
    }
    return t.n ? value : -1;
}

static int digit(const char *p, const char *end) { return p < end && *p >= '0' && *p <= '9'; }

/* FORMAT.md's grammar: [+-] (digits [. [digits]] | . digits) [(e|E) [+-] digits] */
int sn_is_number(const char *s, size_t n) {
    const char *p = s, *end = s + n;
    if (p < end && (*p == '+' || *p == '-')) p++;
    int before = 0, after = 0;
    while (digit(p, end)) p++, before++;
    if (p < end && *p == '.') {
        p++;
        while (digit(p, end)) p++, after++;
    }
    if (!before && !after) return 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (!digit(p, end)) return 0;
        while (digit(p, end)) p++;
    }
    return p == end;
}

/* nan, inf, infinity in any case, signed or not: worth a clearer message than "not a number" */
static int is_not_finite(token t) {
    static const char *const words[] = {"nan", "inf", "infinity"};
    size_t skip = t.n && (t.s[0] == '+' || t.s[0] == '-');
    for (int w = 0; w < 3; w++) {
        size_t n = strlen(words[w]), k = 0;
        if (t.n - skip != n) continue;
        while (k < n && (t.s[skip + k] | 0x20) == words[w][k]) k++;
        if (k == n) return 1;
    }
    return 0;
}

/* Token -> real with strtod/strtof (correctly rounded). Returns -1 (message set) for a token that
   is not a number; sets *overflow for one too large for `real` (strtod gives inf). */
static int convert(reader *r, token t, real *value, int *overflow) {
    if (!sn_is_number(t.s, t.n)) {
        if (is_not_finite(t))
            return error_at(r, r->cur.number, t.column, "%s is not allowed: parameters must be finite "
                            "numbers", QUOTE(t));
        return error_at(r, r->cur.number, t.column, "'%s' is not a number", QUOTE(t));
    }
    if (t.n >= r->scratch_cap) {  /* the grammar allows any number of digits: grow as needed */
        size_t cap = 2 * t.n + 64;
        char *bigger = realloc(r->scratch, cap);
        if (!bigger) return error_at(r, r->cur.number, t.column, "out of memory");
        r->scratch = bigger;
        r->scratch_cap = cap;
    }
    memcpy(r->scratch, t.s, t.n);
    r->scratch[t.n] = 0;
    char *stop;
    *value = STRTOREAL(r->scratch, &stop);  /* errno's ERANGE also flags subnormals: ask isinf */
    if (stop != r->scratch + t.n)
        return error_at(r, r->cur.number, t.column, "'%s' could not be converted (LC_NUMERIC is not "
                        "\"C\"?)", QUOTE(t));
    *overflow = isinf(*value) != 0;
    return 0;
}

static int check_characters(const reader *r, const char *start) {
    int number = 1, comment = 0;
    for (const char *p = start, *line = start; p < r->end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '\n') {
            number++, comment = 0, line = p + 1;
        } else if (!comment && c == '#') {
            comment = 1;
        } else if (!comment && c != '\t' && (c < 0x20 || c > 0x7e) &&
                   !(c == '\r' && (p + 1 == r->end || p[1] == '\n'))) {
            return error_at(r, number, (int)(p - line) + 1, "character 0x%02x is not allowed outside comments "
                            "(printable ASCII, spaces and tabs only)", c);
        }
    }
    return 0;
}

typedef struct {
    int number;   /* the line it was on; 0: not seen */
    token value;  /* its first value */
} header_line;

static int header(reader *r, sn_net *net, int *epochs) {
    token t[SN_MAX_LAYERS + 2] = {{0}};
    if (!next(r)) return error_at(r, 0, 0, "file ends early: expected '" MAGIC " 1'");
    int n = split(&r->cur, t, 2), at = r->cur.number;
    if (!is(t[0], MAGIC))
        return error_at(r, at, 0, "not a scratchnet parameter file: expected '" MAGIC " 1' first");
    if (n != 2 || !is(t[1], "1")) {
        token version = n > 1 ? rest_of(&r->cur, t[1]) : (token){"missing", 7, 0};
        return error_at(r, at, 0, "format version %s is not supported (this scratchnet reads 1)",
                        QUOTE(version));
    }
    static const char *const keys[] = {"sizes", "hidden", "output", "dtype", "epochs"};
    header_line seen[5] = {{0}};
    while (peek(r) && (split(&r->ahead, t, 1), !is(t[0], "layer"))) {
        next(r);
        n = split(&r->cur, t, SN_MAX_LAYERS + 2);
        at = r->cur.number;
        int key = 0;
        while (key < 5 && !is(t[0], keys[key])) key++;
        if (key == 5)
            return error_at(r, at, t[0].column, "unknown header line '%s': expected one of sizes, hidden, "
                            "output, dtype, epochs, or 'layer 1 ...'", QUOTE(t[0]));
        if (seen[key].number) return error_at(r, at, 0, "'%s' appears twice in the header", keys[key]);
        seen[key] = (header_line){at, n > 1 ? t[1] : t[0]};
        if (key == 0) {  /* sizes: at most 17, each a whole number, then at least two, none 0 */
            if (n - 2 > SN_MAX_LAYERS)
                return error_at(r, at, 0, "sizes has %d layers of neurons; at most %d are supported", n - 2,
                                SN_MAX_LAYERS);
            int zero = 0;
            for (int k = 1; k < n; k++) {
                long long size = whole(t[k], MAX_SIZE);
                if (size < 0)
                    return error_at(r, at, t[k].column, "a layer size must be a whole number, not '%s'",
                                    QUOTE(t[k]));
                if (size > MAX_SIZE)
                    return error_at(r, at, t[k].column, "a layer size of %s is more than this reader "
                                    "allows (%d)", QUOTE(t[k]), MAX_SIZE);
                net->sizes[k - 1] = (int)size;
                zero |= size == 0;
            }
            if (n < 3 || zero) return error_at(r, at, 0, "sizes needs two or more layer sizes of at least 1");
            net->n_layers = n - 2;
            unsigned long long total = 0;
            for (int l = 0; l < net->n_layers; l++)
                total += ((unsigned long long)net->sizes[l] + 1) * (unsigned long long)net->sizes[l + 1];
            if (total > MAX_PARAMETERS)
                return error_at(r, at, 0, "these sizes make %llu parameters, more than this reader allows "
                                "(%llu)", total, MAX_PARAMETERS);
            /* Each number takes a character and a blank or line end at least: a hostile header cannot
               make the reader allocate more than the file could hold. */
            if (2 * total > r->size)
                return error_at(r, at, 0, "these sizes need %llu numbers, more than a file of %zu bytes can "
                                "hold: cut short?", total, r->size);
            continue;
        }
        if (n != 2) return error_at(r, at, 0, "'%s' takes one value, found %d", keys[key], n - 1);
        if (key == 4) {  /* epochs */
            long long value = whole(t[1], INT_MAX);
            if (value < 0)
                return error_at(r, at, t[1].column, "epochs must be a whole number, not '%s'", QUOTE(t[1]));
            if (value > INT_MAX)
                return error_at(r, at, t[1].column, "epochs %s is more than this reader allows (%d)", QUOTE(t[1]),
                                INT_MAX);
            *epochs = (int)value;
        }
    }
    /* the values, checked once the header is read (as textformat.py, but naming the line) */
    header_line *hidden = &seen[1], *output = &seen[2], *dtype = &seen[3];
    if (hidden->number) {
        for (net->hidden = 0; net->hidden < 3 && !is(hidden->value, HIDDEN[net->hidden]); net->hidden++) {}
        if (net->hidden == 3)
            return error_at(r, hidden->number, hidden->value.column, "hidden '%s' is not one of sigmoid, "
                            "tanh, relu", QUOTE(hidden->value));
    }
    if (output->number) {
        net->output = is(output->value, "sigmoid") ? SN_SIGMOID : is(output->value, "softmax") ? SN_SOFTMAX : -1;
        if (net->output < 0)
            return error_at(r, output->number, output->value.column, "output '%s' is not one of sigmoid, "
                            "softmax", QUOTE(output->value));
    }
    if (dtype->number && !is(dtype->value, "float64") && !is(dtype->value, "float32"))
        return error_at(r, dtype->number, dtype->value.column, "dtype '%s' is not one of float64, float32",
                        QUOTE(dtype->value));
    for (int key = 0; key < 4; key++) {
        if (!seen[key].number)
            return error_at(r, peek(r) ? r->ahead.number : 0, 0, "header line '%s' is missing before the "
                            "layers", keys[key]);
    }
    if (!is(dtype->value, DTYPE))
        return error_at(r, dtype->number, dtype->value.column, "the parameters are " OTHER_DTYPE " but this "
                        "build of scratchnet reads " DTYPE " (use its " OTHER_DTYPE " build)");
    return 0;
}

/* `neuron j bias B weights W_0 .. W_{n_in - 1}` into bias and column j of weights. */
static int neuron(reader *r, int layer, int j, int n_in, int n_out, real *weights, real *bias) {
    token t[5] = {{0}};
    if (!next(r)) return error_at(r, r->cur.number, 0, "file ends early: expected neuron %d of layer %d", j, layer);
    int n = split(&r->cur, t, 5), at = r->cur.number;
    if (is(t[0], "layer") || is(t[0], "end"))
        return error_at(r, at, 0, "layer %d has %d neurons, expected %d", layer, j, n_out);
    if (n < 5 || !is(t[0], "neuron") || !is(t[2], "bias") || !is(t[4], "weights"))
        return error_at(r, at, 0, "expected 'neuron %d bias B weights W...' (layer %d)", j, layer);
    char expected[16];
    snprintf(expected, sizeof expected, "%d", j);
    if (!is(t[1], expected))
        return error_at(r, at, t[1].column, "expected neuron %d of layer %d, found neuron %s", j, layer,
                        QUOTE(t[1]));
    /* the bias, then each weight: syntax first, then the count, then overflow, as textformat.py */
    token big = {0}, w;
    int overflow;
    if (convert(r, t[3], bias, &overflow)) return -1;
    if (overflow) big = t[3];
    long long count = 0;
    for (const char *p = t[4].s + t[4].n; next_token(&r->cur, &p, &w); count++) {
        real value;
        if (convert(r, w, &value, &overflow)) return -1;
        if (overflow && !big.s) big = w;
        if (count < n_in) weights[count * n_out + j] = value;  /* input-major: w[i][j] */
    }
    if (count != n_in)
        return error_at(r, at, 0, "row too %s: neuron %d of layer %d has %lld weights, expected %d%s",
                        count < n_in ? "short" : "long", j, layer, count, n_in,
                        peek(r) ? "" : "; the file ends there: cut short?");
    if (big.s)
        return error_at(r, at, big.column, "neuron %d of layer %d: %s overflows " DTYPE, j, layer, QUOTE(big));
    return 0;
}

/* `layer l inputs n_in neurons n_out`, then its neurons, into net->weights[l], net->biases[l]. */
static int layer(reader *r, sn_net *net, int l) {
    int n_in = net->sizes[l], n_out = net->sizes[l + 1], number = l + 1;
    char expected[80], text[4][16];
    snprintf(expected, sizeof expected, "layer %d inputs %d neurons %d", number, n_in, n_out);
    if (!next(r)) return error_at(r, r->cur.number, 0, "file ends early: expected '%s'", expected);
    token t[7] = {{0}};
    int n = split(&r->cur, t, 7), at = r->cur.number;
    snprintf(text[0], sizeof text[0], "%d", number - 1);
    snprintf(text[1], sizeof text[1], "%d", number);
    snprintf(text[2], sizeof text[2], "%d", n_in);
    snprintf(text[3], sizeof text[3], "%d", n_out);
    if (l > 0 && n >= 2 && is(t[0], "layer") && is(t[1], text[0]))
        return error_at(r, at, 0, "layer %d appears twice, or has more than %d neurons", number - 1, n_in);
    if (!(n == 6 && is(t[0], "layer") && is(t[1], text[1]) && is(t[2], "inputs") && is(t[3], text[2]) &&
          is(t[4], "neurons") && is(t[5], text[3]))) {
        if (n == 1 && is(t[0], "end")) return error_at(r, at, 0, "'end' comes before layer %d", number);
        if (!is(t[0], "layer")) return error_at(r, at, 0, "expected '%s', found '%s'", expected, QUOTE(t[0]));
        if (n == 6 && is(t[1], text[1]) && !is(t[3], text[2]))
            return error_at(r, at, t[3].column, "layer %d has %s inputs but the layer before it has %d "
                            "neurons (sizes say %d)", number, QUOTE(t[3]), n_in, n_in);
        return error_at(r, at, 0, "expected '%s' (from sizes), found '%s'", expected,
                        QUOTE(rest_of(&r->cur, t[0])));
    }
    unsigned long long numbers = ((unsigned long long)n_in + 1) * (unsigned long long)n_out;
    net->weights[l] = malloc((size_t)n_in * (size_t)n_out * sizeof(real));
    net->biases[l] = malloc((size_t)n_out * sizeof(real));
    if (!net->weights[l] || !net->biases[l])
        return error_at(r, at, 0, "out of memory for layer %d (%llu parameters)", number, numbers);
    for (int j = 0; j < n_out; j++) {
        if (neuron(r, number, j, n_in, n_out, net->weights[l], net->biases[l] + j)) return -1;
    }
    return 0;
}

/* `end`, then nothing but blank lines and comments. */
static int end(reader *r, const sn_net *net) {
    token t[1] = {{0}};  /* a meaningful line has a token, but the compiler cannot know */
    if (!next(r)) return error_at(r, r->cur.number, 0, "file ends early: expected 'end'");
    int n = split(&r->cur, t, 1), at = r->cur.number;
    if (n != 1 || !is(t[0], "end")) {
        if (is(t[0], "layer") || is(t[0], "neuron")) {
            char sizes[12 * (SN_MAX_LAYERS + 1)] = "";
            for (int k = 0; k <= net->n_layers; k++)
                snprintf(sizes + strlen(sizes), sizeof sizes - strlen(sizes), " %d", net->sizes[k]);
            return error_at(r, at, 0, "more layers or neurons than sizes%s allow", sizes);
        }
        return error_at(r, at, 0, "expected 'end', found '%s'", QUOTE(rest_of(&r->cur, t[0])));
    }
    if (peek(r)) {
        split(&r->ahead, t, 1);
        return error_at(r, r->ahead.number, 0, "text after 'end': '%s'", QUOTE(rest_of(&r->ahead, t[0])));
    }
    return 0;
}

/* text[0..len) of a file of file_size bytes (more than len when comments were left out) */
static int parse(const char *text, size_t len, size_t file_size, const char *name, sn_net *net, int *epochs) {
    memset(net, 0, sizeof *net);
    *epochs = 0;
    if (!text) text = "", len = 0;  /* no pointer arithmetic on NULL */
    size_t bom = len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;  /* a UTF-8 byte-order mark */
    reader r = {.name = name, .end = text + len, .size = file_size, .next = text + bom, .next_number = 1};
    int err = check_characters(&r, text + bom);
    if (!err) err = header(&r, net, epochs);
    for (int l = 0; !err && l < net->n_layers; l++) err = layer(&r, net, l);
    if (!err) err = end(&r, net);
    free(r.scratch);
    if (err) {
        sn_free_net(net);
        *epochs = 0;
    }
    return err;
}

int sn_parse_params(const char *text, size_t len, const char *name, sn_net *net, int *epochs) {
    return parse(text, len, len, name, net, epochs);
}

/* How large a file may be, as textformat.py (docs/FORMAT.md, "How large"): 1 MiB for the header, comments
   and blank lines, and 64 bytes for each parameter of the network its sizes declare, the sizes within the
   first MiB. A larger file is refused before the rest is read. */
#define MAX_FILE_FIXED ((size_t)1 << 20)
#define MAX_FILE_PER_PARAMETER 64
#define READ_CHUNK 65536

/* The layer sizes the first line of s[0..n) that is `sizes` and blank-separated numbers of 1 to 7 digits
   (then blanks, a comment or the line's end) declares, as textformat.py's SIZES_LINE; their count, 0
   when there is no such line or it has fewer than 2 or more than SN_MAX_LAYERS + 1. */
static int declared_sizes(const char *s, size_t n, long long sizes[SN_MAX_LAYERS + 1]) {
    for (const char *line = s, *end = s + n; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line)), *stop = nl ? nl : end, *p = line;
        line = nl ? nl + 1 : end;
        while (p < stop && blank(*p)) p++;
        if (stop - p < 5 || memcmp(p, "sizes", 5) != 0) continue;
        int count = 0;
        for (p += 5; p < stop && blank(*p);) {
            const char *after_blanks = p;
            while (p < stop && blank(*p)) p++;
            const char *digits = p;
            long long value = 0;
            while (p < stop && *p >= '0' && *p <= '9' && p - digits < 8) value = 10 * value + (*p++ - '0');
            if (p == digits) { p = after_blanks; break; }  /* blanks, then no number: the numbers ended */
            if (p - digits > 7) { count = -1; break; }
            if (count < SN_MAX_LAYERS + 1) sizes[count] = value;
            count++;
        }
        while (p < stop && (blank(*p) || *p == '\r')) p++;
        if (count <= 0 || (p < stop && *p != '#')) continue;  /* not such a line: look further */
        return count >= 2 && count <= SN_MAX_LAYERS + 1 ? count : 0;
    }
    return 0;
}

/* n bytes of a file's content appended to text (of *len bytes so far), each comment's text left out as it
   streams in ('#' and the line end kept, so lines and columns hold); *in_comment carries over chunks. */
static void append_without_comments(char *text, size_t *len, const char *chunk, size_t n, int *in_comment) {
    for (const char *p = chunk, *end = chunk + n; p < end;) {
        if (*in_comment) {
            p = memchr(p, '\n', (size_t)(end - p));
            if (!p) return;
            *in_comment = 0;
        }
        const char *hash = memchr(p, '#', (size_t)(end - p)), *stop = hash ? hash + 1 : end;
        memcpy(text + *len, p, (size_t)(stop - p));
        *len += (size_t)(stop - p);
        p = stop;
        *in_comment = hash != NULL;
    }
}

/* The file's content within the bound, comments' text left out; -1 with a message otherwise. */
static int read_bounded(const char *path, char **text, size_t *len, size_t *file_size) {
    *text = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return sn_fail("%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        int saved = errno;
        fclose(f);
        return sn_fail("%s: %s", path, strerror(saved));
    }
    size_t size = (size_t)st.st_size, cap = size < MAX_FILE_FIXED ? size : MAX_FILE_FIXED;
    char *buf = malloc(cap + 1);
    size_t got = buf ? fread(buf, 1, cap, f) : 0;
    long long sizes[SN_MAX_LAYERS + 1];
    int count = buf ? declared_sizes(buf, got, sizes) : 0;
    unsigned long long parameters = 0;
    for (int l = 0; l + 1 < count; l++) parameters += (unsigned long long)(sizes[l] + 1) * (unsigned long long)sizes[l + 1];
    const unsigned long long bound = MAX_FILE_FIXED + MAX_FILE_PER_PARAMETER * parameters;
    int err = 0;
    if (!buf) {
        err = sn_fail("%s: out of memory reading it", path);
    } else if ((unsigned long long)size > bound) {
        char network[16 * (SN_MAX_LAYERS + 1) + 64] = "that declares no sizes in its first 1,048,576 bytes";
        if (count) {
            int at = snprintf(network, sizeof network, "of a ");
            for (int l = 0; l < count; l++) at += snprintf(network + at, sizeof network - (size_t)at, "%s%lld", l ? "-" : "", sizes[l]);
            snprintf(network + at, sizeof network - (size_t)at, " network");
        }
        char have[32], may[32];
        err = sn_fail("%s: %s bytes, more than a parameter file %s may take (%s: 1 MiB and %d bytes a parameter)", path,
                      sn_with_commas((long long)size, have), network, sn_with_commas((long long)bound, may),
                      MAX_FILE_PER_PARAMETER);
    }
    char *content = err ? NULL : malloc(size + 1);  /* at most the file's bytes, which are within the bound */
    if (!err && !content) err = sn_fail("%s: out of memory reading it", path);
    if (!err) {
        int in_comment = 0;
        append_without_comments(content, len, buf, got, &in_comment);
        for (size_t total = got, n; total < size && (n = fread(buf, 1, cap < READ_CHUNK ? cap : READ_CHUNK, f)) > 0;) {
            if (n > size - total) n = size - total;  /* a file growing as it is read: what fstat saw */
            append_without_comments(content, len, buf, n, &in_comment);
            total += n;
        }
        if (ferror(f)) err = sn_fail("%s: read error", path);
        content[*len] = 0;
    }
    free(buf);
    fclose(f);
    if (err) {
        free(content);
        *len = 0;
        return err;
    }
    *text = content;
    *file_size = size;
    return 0;
}

/* Only a regular file, as textformat.py: /dev/zero would be read until memory runs out, a FIFO
   waits for a writer (so it is opened without waiting, to be looked at). */
static int check_regular(const char *path) {
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    if (fd < 0) return sn_fail("%s: %s", path, strerror(errno));
    struct stat st;
    int failed = fstat(fd, &st) != 0, saved = errno;
    close(fd);
    if (failed) return sn_fail("%s: %s", path, strerror(saved));
    if (S_ISREG(st.st_mode)) return 0;
    return sn_fail("%s: is %s, not a regular file", path, sn_file_kind(st.st_mode));
}

int sn_read_params(const char *path, sn_net *net, int *epochs) {
    char *text;
    size_t len, size;
    memset(net, 0, sizeof *net);
    *epochs = 0;
    if (check_regular(path) || read_bounded(path, &text, &len, &size)) return -1;
    int err = parse(text, len, size, path, net, epochs);
    free(text);
    return err;
}

void sn_free_net(sn_net *net) {
    for (int l = 0; l < SN_MAX_LAYERS; l++) {
        free(net->weights[l]);
        free(net->biases[l]);
    }
    memset(net, 0, sizeof *net);
}

/* ---------------------------------------------------------------------------------------------
 * writing */

/* The shortest decimal that reads back to x > 0 (as Python's repr and NumPy's str): its digits
   (no trailing zeros, NUL-terminated) and decimal exponent, x ~ d.ddd x 10^exponent. Of the
   shortest decimals that read back, the one nearest x; of two as near, the one whose last digit
   is even.

   Schubfach: R. Giulietti, "The Schubfach way to render doubles" (2020), figures 4 and 6, with
   the shorter decimal tried from two digits on, as repr, not three (Java's rule), and subnormals
   taken as they come. x = c 2^q; the decimals that read back to x are those in the interval
   between the midpoints to x's neighbours (both ends in when c is even: strtod rounds a tie to
   even), and that interval is narrower than 10^(k+1) for k = floor(log10(2^q)) (or of 3/4 2^q
   where the lower neighbour is nearer, at a power of two). So at most one decimal of the form
   d x 10^(k+1) lies in it, and no shorter one unless that one does; else the two of the form
   d x 10^k that surround x are the candidates. The interval's ends and x, in units of 10^k / 4,
   are c 2^q 10^-k times 4, multiplied by g ~ 10^-k 2^-r from pow10.h and rounded to odd: the
   paper shows that keeps every comparison below exact. tests/test_ctextformat.py compares the
   bytes with Python's on random bits and on the edge cases. About 0.1 us a number, where trying
   printf's %.*e for 1..17 digits with strtod took 10 us. */
#ifdef SN_FLOAT32
#define SIGNIFICAND_BITS 23
#define EXPONENT_MASK 0xffu
#define EXPONENT_BIAS 150   /* x = c 2^(exponent field - 150) */
#define POW10_MIN_E SN_POW10_32_MIN_E
typedef uint32_t real_bits;
/* floor(g c 2^h / 2^63), its lowest bit set when bits of the product were cut off above its low 64
   bits (as Giulietti's rop: g's excess must not count) */
static uint64_t round_to_odd(int e, uint64_t c, int h) {
    __extension__ unsigned __int128 p = (unsigned __int128)SN_POW10_32[e - POW10_MIN_E] * (c << (h + 33));
    uint64_t high = (uint64_t)(p >> 64);  /* floor(g c 2^h / 2^63) and 32 bits of its fraction */
    return high >> 32 | ((high & UINT32_MAX) != 0);
}
#else
#define SIGNIFICAND_BITS 52
#define EXPONENT_MASK 0x7ffu
#define EXPONENT_BIAS 1075
#define POW10_MIN_E SN_POW10_64_MIN_E
typedef uint64_t real_bits;
/* floor(g c 2^h / 2^127), its lowest bit set when bits of the product were cut off above its low
   64 bits (as Giulietti's rop: g's excess must not count) */
static uint64_t round_to_odd(int e, uint64_t c, int h) {
    __extension__ typedef unsigned __int128 u128;
    const uint64_t *g = SN_POW10_64[e - POW10_MIN_E];
    u128 high = (u128)g[0] * (c << h) + (uint64_t)((u128)g[1] * (c << h) >> 64);  /* g c 2^h / 2^64 */
    return (uint64_t)(high >> 63) | (((uint64_t)high & (UINT64_MAX >> 1)) != 0);
}
#endif

static void shortest(real x, char digits[DIGITS_ROOM], int *exponent) {
    real_bits bits;
    memcpy(&bits, &x, sizeof bits);
    const uint64_t fraction = bits & (((real_bits)1 << SIGNIFICAND_BITS) - 1);
    const unsigned field = (unsigned)(bits >> SIGNIFICAND_BITS) & EXPONENT_MASK;
    const uint64_t c = field ? fraction | (uint64_t)1 << SIGNIFICAND_BITS : fraction;  /* x = c 2^q */
    const int q = (field ? (int)field : 1) - EXPONENT_BIAS;
    const int even = (c & 1) == 0, lower_nearer = fraction == 0 && field > 1;
    /* k = floor(log10(2^q)), or of 3/4 2^q; h = q + floor(log2(10^-k)) is 0..3 (make_pow10.py
       checks these multiply-and-shift forms of the logarithms; >> of a negative number floors with
       GCC and Clang, an arithmetic shift) */
    const int k = (q * 1262611 - (lower_nearer ? 524031 : 0)) >> 22;
    const int h = q + ((-k * 1741647) >> 19);
    const uint64_t vb = round_to_odd(-k, 4 * c, h);
    const uint64_t lower = round_to_odd(-k, 4 * c - 2 + (uint64_t)lower_nearer, h) + !even;
    const uint64_t upper = round_to_odd(-k, 4 * c + 2, h) - !even;
    uint64_t s = vb >> 2, d;
    int e = k;
    if (s >= 10 && (lower <= s / 10 * 40) != (s / 10 * 40 + 40 <= upper)) {  /* one digit fewer */
        d = s / 10 + (s / 10 * 40 + 40 <= upper);
        e = k + 1;
    } else if ((lower <= 4 * s) != (4 * s + 4 <= upper)) {
        d = s + (4 * s + 4 <= upper);
    } else {  /* both in: the nearer, the even one at a tie */
        d = s + (vb > 4 * s + 2 || (vb == 4 * s + 2 && (s & 1)));
    }
    while (d % 10 == 0) d /= 10, e++;
    char text[DIGITS_ROOM];
    int n = 0;
    for (; d; d /= 10) text[n++] = (char)('0' + d % 10);
    for (int i = 0; i < n; i++) digits[i] = text[n - 1 - i];
    digits[n] = 0;
    *exponent = e + n - 1;
}

/* x as textformat.py writes it (str of a NumPy scalar): positional from 1e-4 up to
   POSITIONAL_BELOW, always with a point ('0.1', '100.0', '-0.0'); otherwise scientific with a
   two-digit exponent at least ('1e-05', '1.5e+300'). */
static void format_number(real x, char out[48]) {
    char *o = out;
    if (signbit(x)) *o++ = '-';
    x = fabs(x);
    if (x == 0) {
        strcpy(o, "0.0");
        return;
    }
    char digits[DIGITS_ROOM];
    int e, n;
    shortest(x, digits, &e);
    n = (int)strlen(digits);
    if (x >= 1e-4 && x < POSITIONAL_BELOW) {
        if (e < 0) {  /* 0.000ddd */
            *o++ = '0';
            *o++ = '.';
            for (int k = 0; k < -e - 1; k++) *o++ = '0';
            strcpy(o, digits);
        } else {  /* the first e + 1 digits (zero-padded), the point, the rest or 0 */
            for (int k = 0; k <= e; k++) *o++ = k < n ? digits[k] : '0';
            *o++ = '.';
            strcpy(o, n > e + 1 ? digits + e + 1 : "0");
        }
    } else {
        sprintf(o, "%c%s%se%c%02d", digits[0], n > 1 ? "." : "", digits + 1, e < 0 ? '-' : '+', abs(e));
    }
}

/* Every parameter must be finite and the description one textformat.py accepts, or the file
   could not be read back. */
static int check_net(const char *path, const sn_net *net) {
    if (net->n_layers < 1 || net->n_layers > SN_MAX_LAYERS)
        return sn_fail("cannot write %s: %d layers (1 to %d)", path, net->n_layers, SN_MAX_LAYERS);
    if (net->hidden < 0 || net->hidden > SN_RELU || (net->output != SN_SIGMOID && net->output != SN_SOFTMAX))
        return sn_fail("cannot write %s: activations %d/%d are not ones the format has", path, net->hidden,
                       net->output);
    for (int l = 0; l <= net->n_layers; l++) {
        if (net->sizes[l] < 1) return sn_fail("cannot write %s: size %d is %d", path, l, net->sizes[l]);
    }
    for (int l = 0; l < net->n_layers; l++) {
        size_t n_w = (size_t)net->sizes[l] * (size_t)net->sizes[l + 1], n_b = (size_t)net->sizes[l + 1];
        if (!net->weights[l] || !net->biases[l])
            return sn_fail("cannot write %s: layer %d has no parameters", path, l + 1);
        for (size_t k = 0; k < n_w + n_b; k++) {
            if (!isfinite(k < n_w ? net->weights[l][k] : net->biases[l][k - n_w]))
                return sn_fail("cannot write %s: layer %d has a parameter that is not finite", path, l + 1);
        }
    }
    return 0;
}

/* The text of textformat.to_text for a network without training history. */
static int write_text(FILE *f, const sn_net *net, int epochs) {
    char number[48];
    fprintf(f, MAGIC " 1\n# Every weight and bias of a scratchnet network, exact. Format: docs/FORMAT.md\nsizes");
    for (int l = 0; l <= net->n_layers; l++) fprintf(f, " %d", net->sizes[l]);
    fprintf(f, "\nhidden %s\noutput %s\ndtype " DTYPE "\nepochs %d\n# no training history\n", HIDDEN[net->hidden],
            net->output == SN_SOFTMAX ? "softmax" : "sigmoid", epochs);
    for (int l = 0; l < net->n_layers; l++) {
        int n_in = net->sizes[l], n_out = net->sizes[l + 1];
        fprintf(f, "\nlayer %d inputs %d neurons %d\n# neuron j bias b weights w[0][j] .. w[%d][j]: "
                "z_j = b + sum_i w[i][j] * input_i\n", l + 1, n_in, n_out, n_in - 1);
        for (int j = 0; j < n_out; j++) {
            format_number(net->biases[l][j], number);
            fprintf(f, "neuron %d bias %s weights", j, number);
            for (int i = 0; i < n_in; i++) {
                format_number(net->weights[l][(size_t)i * (size_t)n_out + (size_t)j], number);
                putc(' ', f);
                fputs(number, f);
            }
            putc('\n', f);
        }
    }
    fputs("end\n", f);
    return ferror(f) ? -1 : 0;
}

/* ---------------------------------------------------------------------------------------------
 * writing the file: docs/FORMAT.md, "How files are written" (atomic.py does the same) */

#define MAX_LINKS 40  /* as the Linux kernel: more symlinks in a row are a loop */

char *sn_final_target(const char *path) {
    char *target = strdup(path), link[PATH_MAX];
    for (int links = 0; target; links++) {
        struct stat st;
        if (lstat(target, &st) != 0 || !S_ISLNK(st.st_mode)) return target;
        ssize_t n = readlink(target, link, sizeof link);
        char *next = NULL;
        if (links == MAX_LINKS) {
            errno = ELOOP;
        } else if (n >= (ssize_t)sizeof link) {
            errno = ENAMETOOLONG;
        } else if (n >= 0) {  /* a relative link is relative to its own folder */
            const char *slash = strrchr(target, '/');
            int dir_len = link[0] != '/' && slash ? (int)(slash - target) + 1 : 0;
            next = malloc((size_t)dir_len + (size_t)n + 1);
            if (next) sprintf(next, "%.*s%.*s", dir_len, target, (int)n, link);
        }
        free(target);
        target = next;
    }
    return NULL;
}

/* a character of mkstemp's random part (ASCII, whatever the locale) */
static int random_char(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* Is `entry` ".NAME.PID.RANDOM.tmp", a temporary file of a writer of `name` whose process is gone?
   A live (or reused) pid keeps its file: the safe side. */
static int stale_temp(const char *entry, const char *name) {
    size_t n = strlen(name);
    if (entry[0] != '.' || strncmp(entry + 1, name, n) != 0 || entry[n + 1] != '.') return 0;
    const char *pid = entry + n + 2, *random = pid, *end;
    while (*random >= '0' && *random <= '9') random++;
    if (random == pid || random - pid > 9 || *random++ != '.') return 0;
    for (end = random; random_char(*end); end++) {}
    if (end == random || strcmp(end, ".tmp") != 0) return 0;
    return kill((pid_t)atol(pid), 0) != 0 && errno == ESRCH;  /* signal 0: does the process exist? */
}

/* Remove the temporary files that writers of dir/name killed mid-write left behind. Failures are
   ignored: tidying up must never stop the write itself. */
static void remove_stale_temps(const char *dir, const char *name) {
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (stale_temp(e->d_name, name)) unlinkat(dirfd(d), e->d_name, 0);
    }
    if (d) closedir(d);
}

/* A device or a FIFO (/dev/null, a pipe) is written directly: there is no file to rename over. */
static int write_directly(const char *path, const sn_net *net, int epochs) {
    FILE *f = fopen(path, "w");
    if (!f) return sn_fail("cannot write %s: %s", path, strerror(errno));
    int err = write_text(f, net, epochs) || fflush(f) != 0, saved = errno;
    if (fclose(f) != 0 && !err) err = 1, saved = errno;
    return err ? sn_fail("cannot write %s: %s", path, strerror(saved ? saved : EIO)) : 0;
}

static sn_file_id file_id(const struct stat *st) {
    return (sn_file_id){st->st_dev, st->st_ino, st->st_size, st->st_mtim.tv_sec, st->st_mtim.tv_nsec};
}

int sn_file_id_of(const char *path, sn_file_id *id) {
    struct stat st;
    *id = (sn_file_id){0};
    if (stat(path, &st) == 0) *id = file_id(&st);
    else if (errno != ENOENT) return sn_fail("%s: %s", path, strerror(errno));
    return 0;
}

int sn_same_file_id(sn_file_id a, sn_file_id b) {
    return a.dev == b.dev && a.ino == b.ino && a.size == b.size && a.mtime_sec == b.mtime_sec &&
           a.mtime_nsec == b.mtime_nsec;
}

#define RENAME_NOREPLACE_ 1 /* renameat2's flags (linux/fs.h) */
#define RENAME_EXCHANGE_ 2

/* renameat2(2): 1 done, 0 where the kernel or the file system cannot, -1 failed (errno). */
static int rename2(const char *source, const char *target, unsigned flags) {
#ifdef SYS_renameat2
    if (syscall(SYS_renameat2, AT_FDCWD, source, AT_FDCWD, target, flags) == 0) return 1;
    return errno == ENOSYS || errno == EINVAL || errno == ENOTSUP ? 0 : -1;
#else
    (void)source, (void)target, (void)flags;
    return 0;
#endif
}

/* Rename temp over target if the file there is *only_over (all zero: none): 0, SN_CHANGED (target
   left as it is), or -1 (errno). As atomic.py's _replace_only_over: swap the two files, then look at
   the one taken out, so that nothing another program wrote is replaced unseen. */
static int replace_only_over(const char *temp, const char *target, const sn_file_id *only_over, sn_file_id ours) {
    const sn_file_id none = {0};
    sn_file_id seen;
    if (sn_same_file_id(*only_over, none)) {
        const int done = rename2(temp, target, RENAME_NOREPLACE_);
        if (done) return done > 0 ? 0 : errno == EEXIST ? SN_CHANGED : -1;
        if (access(target, F_OK) == 0) return SN_CHANGED;
        return rename(temp, target);
    }
    const int swapped = rename2(temp, target, RENAME_EXCHANGE_);
    if (swapped < 0) return errno == ENOENT ? SN_CHANGED : -1;
    if (!swapped) {
        if (sn_file_id_of(target, &seen) || !sn_same_file_id(seen, *only_over)) return SN_CHANGED;
        return rename(temp, target);
    }
    if (sn_file_id_of(temp, &seen) == 0 && sn_same_file_id(seen, *only_over)) return unlink(temp) == 0 ? 0 : -1;
    rename2(temp, target, RENAME_EXCHANGE_); /* the stranger's file back where it was */
    if (sn_file_id_of(temp, &seen) || !sn_same_file_id(seen, ours)) { /* a third writer's: kept, visibly */
        char kept[PATH_MAX + 8];
        snprintf(kept, sizeof kept, "%s.kept", temp);
        rename(temp, kept);
    }
    return SN_CHANGED;
}

/* A temporary file .NAME.PID.RANDOM.tmp beside target, renamed over it once complete and on disk
   (only over *only_over unless it is NULL): an interruption at any moment leaves the old file or the
   new one, never a mix. */
static int write_atomically(const char *path, const char *target, const sn_net *net, int epochs,
                            const sn_file_id *only_over) {
    const char *slash = strrchr(target, '/'), *name = slash ? slash + 1 : target;
    int dir_len = (int)(name - target);
    char *dir = malloc((size_t)dir_len + 2), *temp = malloc(strlen(target) + 40);
    if (!dir || !temp) {
        free(dir), free(temp);
        return sn_fail("cannot write %s: out of memory", path);
    }
    if (dir_len) sprintf(dir, "%.*s", dir_len, target);
    else strcpy(dir, ".");
    remove_stale_temps(dir, name);
    sprintf(temp, "%.*s.%s.%ld.XXXXXX.tmp", dir_len, target, name, (long)getpid());
    int fd = mkstemps(temp, 4);
    if (fd < 0) {
        int saved = errno;
        free(dir), free(temp);
        return sn_fail("cannot write %s: %s", path, strerror(saved));
    }
    /* mkstemps makes it 0600: give it the old file's mode, or what open() and the umask would */
    struct stat old;
    mode_t mode;
    if (stat(target, &old) == 0) {
        mode = old.st_mode & 07777;
    } else {
        mode_t mask = umask(0);
        umask(mask);
        mode = 0666 & ~mask;
    }
    FILE *f = fdopen(fd, "w");
    int err = !f || fchmod(fd, mode) != 0;
    if (!err) err = write_text(f, net, epochs) || fflush(f) != 0 || fsync(fd) != 0;
    struct stat written;
    if (!err) err = fstat(fd, &written) != 0;
    int saved = errno;
    if (f ? fclose(f) != 0 : close(fd) != 0) {
        if (!err) saved = errno;
        err = 1;
    }
    int changed = 0;
    if (!err) {
        changed = only_over ? replace_only_over(temp, target, only_over, file_id(&written)) : rename(temp, target);
        if (changed < 0) saved = errno, err = 1;
    }
    if (changed == SN_CHANGED) {
        remove(temp);
    } else if (err) {
        remove(temp);
        sn_fail("cannot write %s: %s", path, strerror(saved ? saved : EIO));
    } else {  /* make the rename itself durable; some file systems cannot fsync a folder: never mind */
        int dir_fd = open(dir, O_RDONLY);
        if (dir_fd >= 0) {
            fsync(dir_fd);
            close(dir_fd);
        }
    }
    free(dir), free(temp);
    return err ? -1 : changed;
}

static int write_params(const char *path, const sn_net *net, int epochs, const sn_file_id *only_over) {
    if (check_net(path, net)) return -1;
    if (epochs < 0) return sn_fail("cannot write %s: epochs %d", path, epochs);
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) return write_directly(path, net, epochs);
    char *target = sn_final_target(path);
    if (!target) return sn_fail("cannot write %s: %s", path, strerror(errno));
    int err = write_atomically(path, target, net, epochs, only_over);
    free(target);
    return err;
}

int sn_write_params(const char *path, const sn_net *net, int epochs) { return write_params(path, net, epochs, NULL); }

int sn_write_params_over(const char *path, const sn_net *net, int epochs, const sn_file_id *only_over) {
    return write_params(path, net, epochs, only_over);
}
