#define _POSIX_C_SOURCE 200809L /* S_ISSOCK */
/* Error messages, whole-file reads and frees: the plumbing every other file uses. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static _Thread_local char error_message[512];

const char *sn_error(void) { return error_message; }

int sn_fail(const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(error_message, sizeof error_message, format, args);
    va_end(args);
    return -1;
}

int sn_real_bits(void) { return (int)(8 * sizeof(real)); }

int sn_threads(int n) {
#ifdef _OPENMP
    if (n > 0) omp_set_num_threads(n);
    return omp_get_max_threads();
#else
    (void)n;
    return 1;
#endif
}

void sn_free(void *p) { free(p); }

const char *sn_file_kind(unsigned mode) {
    return S_ISDIR(mode) ? "a folder" : S_ISCHR(mode) ? "a character device" : S_ISBLK(mode) ? "a block device"
         : S_ISFIFO(mode) ? "a named pipe" : S_ISSOCK(mode) ? "a socket" : "a special file";
}

int sn_read_file(const char *path, uint8_t **bytes, size_t *len) {
    *bytes = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return sn_fail("%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, used = 0;
    uint8_t *buf = malloc(cap + 1);
    while (buf) {
        used += fread(buf + used, 1, cap - used, f);
        if (used < cap) break;
        uint8_t *bigger = cap > ((size_t)1 << 40) ? NULL : realloc(buf, 2 * cap + 1);
        if (!bigger) { free(buf); buf = NULL; break; }
        buf = bigger;
        cap *= 2;
    }
    int failed = ferror(f);
    fclose(f);
    if (!buf) return sn_fail("%s: out of memory reading it", path);
    if (failed) { free(buf); return sn_fail("%s: read error", path); }
    buf[used] = 0;
    *bytes = buf;
    *len = used;
    return 0;
}

const char *sn_with_commas(long long value, char out[32]) {
    char digits[24];
    const int n = snprintf(digits, sizeof digits, "%lld", value);
    int at = 0;
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0) out[at++] = ',';
        out[at++] = digits[i];
    }
    out[at] = 0;
    return out;
}
