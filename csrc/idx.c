/* IDX files of unsigned bytes (MNIST's format), raw or gzip: as data.py's read_idx, messages too.
 *
 * Big-endian: two zero bytes, the type 0x08 (unsigned byte), the number of dimensions, each
 * dimension as a uint32, then exactly as many data bytes as the dimensions multiply to.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Parse raw (already inflated) IDX bytes buf[0..len). On success *data is `owned` (buf itself,
   malloc'ed by us) with the data moved to its front, saving a copy of 47 MB; or, if owned is
   NULL, a fresh copy. */
static int parse_raw(const uint8_t *buf, size_t len, uint8_t *owned, const char *name, uint8_t **data,
                     int *ndim, int64_t dims[4]) {
    if (len < 4 || buf[0] != 0 || buf[1] != 0 || buf[2] != 0x08) {
        char magic[9] = "missing";
        if (len) {
            for (size_t k = 0; k < 4 && k < len; k++) snprintf(magic + 2 * k, 3, "%02x", buf[k]);
        }
        return sn_fail("%s: not an IDX file of unsigned bytes (magic number %s, expected 00000801 "
                       "or 00000803)", name, magic);
    }
    int n = buf[3];
    if (n < 1 || n > 4) return sn_fail("%s: IDX file with %d dimensions: expected 1 to 4", name, n);
    size_t header = 4 + 4 * (size_t)n;
    if (len < header) return sn_fail("%s: truncated IDX header", name);
    char shape[64] = "";
    uint64_t size = 1;
    int overflow = 0;
    for (int d = n; d < 4; d++) dims[d] = 0;
    for (int d = 0; d < n; d++) {
        uint32_t dim = be32(buf + 4 + 4 * d);
        snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lu", d ? "x" : "",
                 (unsigned long)dim);
        /* four uint32 can multiply past 2^64: stop counting past the most a file can hold */
        if (dim && size > UINT64_C(0xffffffffffff) / dim) overflow = 1;
        else size *= dim;
        dims[d] = dim;
    }
    size_t have = len - header;
    if (overflow || size != have) {
        char said[32];
        snprintf(said, sizeof said, overflow ? "more than 2^48" : "%llu", (unsigned long long)size);
        return sn_fail("%s: header says %s = %s bytes of data but the file holds %zu (truncated or "
                       "trailing bytes)", name, shape, said, have);
    }
    if (owned) {
        memmove(owned, owned + header, have);
        uint8_t *smaller = realloc(owned, have ? have : 1);  /* shrinking: keep owned if refused */
        *data = smaller ? smaller : owned;
    } else {
        if (!(*data = malloc(have ? have : 1))) return sn_fail("%s: out of memory", name);
        memcpy(*data, buf + header, have);
    }
    *ndim = n;
    return 0;
}

int sn_parse_idx(const uint8_t *bytes, size_t len, const char *name, uint8_t **data, int *ndim,
                 int64_t dims[4]) {
    *data = NULL;
    *ndim = 0;
    if (len >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b) {  /* gzip magic: sniffed, not the suffix */
        uint8_t *raw;
        size_t raw_len;
        if (sn_gunzip(bytes, len, name, &raw, &raw_len)) return -1;
        int err = parse_raw(raw, raw_len, raw, name, data, ndim, dims);
        if (err) free(raw);
        return err;
    }
    return parse_raw(bytes, len, NULL, name, data, ndim, dims);
}

int sn_read_idx(const char *path, uint8_t **data, int *ndim, int64_t dims[4]) {
    uint8_t *bytes;
    size_t len;
    *data = NULL;
    *ndim = 0;
    if (sn_read_file(path, &bytes, &len)) return -1;
    int err = sn_parse_idx(bytes, len, path, data, ndim, dims);
    free(bytes);
    return err;
}
