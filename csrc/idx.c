/* IDX files of unsigned bytes (MNIST's format), raw or gzip: as data.py's read_idx, messages too.
 *
 * Big-endian: two zero bytes, the type 0x08 (unsigned byte), the number of dimensions (1:
 * labels, 3: images), each dimension as a uint32, then exactly as many data bytes as the
 * dimensions multiply to: at least 1, at most SN_IDX_MAX_BYTES. The header is read and checked
 * first; then only the data it declares and one byte more (to see that nothing follows) is read,
 * or inflated by zlib, straight into the buffer handed back. So a small gzip file that would
 * inflate to gigabytes costs no more memory than its header declares.
 */
#define _POSIX_C_SOURCE 200809L /* open, fstat, O_NONBLOCK, O_CLOEXEC */
#define ZLIB_CONST              /* z_stream.next_in is const */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__has_include)
#if !__has_include(<zlib.h>)
#error "zlib.h not found: install zlib's headers (Debian, Ubuntu: apt-get install zlib1g-dev; Fedora: zlib-devel)"
#endif
#endif
#include <zlib.h>

#include "internal.h"

#define CHUNK 65536 /* bytes of the file read at a time */

typedef struct {
    const char *name;     /* for messages */
    int fd;               /* the file, or -1 when reading from memory */
    const uint8_t *mem;   /* memory not yet handed to z.next_in */
    size_t mem_left;
    int gzip;             /* inflate the input; else it is the IDX content itself */
    int member_ended;     /* a gzip member has just ended: the input ends, or another member follows */
    z_stream z;           /* next_in / avail_in: input not yet used, gzip or not */
    uint8_t in[CHUNK];    /* the file's bytes, read here */
} reader;

/* Make at least `need` (<= CHUNK) bytes of input available, or all that is left. */
static int fill(reader *r, size_t need) {
    while (r->z.avail_in < need) {
        if (r->fd < 0) {
            if (!r->mem_left) return 0;
            if (!r->z.avail_in) r->z.next_in = r->mem;  /* else the unused input ends where mem starts */
            size_t n = r->mem_left < CHUNK ? r->mem_left : CHUNK;
            r->mem += n;
            r->mem_left -= n;
            r->z.avail_in += (uInt)n;
        } else {
            if (r->z.avail_in) memmove(r->in, r->z.next_in, r->z.avail_in);
            r->z.next_in = r->in;
            ssize_t got;
            do got = read(r->fd, r->in + r->z.avail_in, CHUNK - r->z.avail_in);
            while (got < 0 && errno == EINTR);
            if (got < 0) return sn_fail("%s: cannot read (%s)", r->name, strerror(errno));
            if (got == 0) return 0;
            r->z.avail_in += (uInt)got;
        }
    }
    return 0;
}

/* The next n (<= SN_IDX_MAX_BYTES) bytes of the IDX content into out; *got is fewer only where the
   content ends. */
static int take(reader *r, uint8_t *out, size_t n, size_t *got) {
    *got = 0;
    if (!r->gzip) {
        while (*got < n) {
            if (fill(r, 1)) return -1;
            if (!r->z.avail_in) break;
            size_t k = r->z.avail_in < n - *got ? r->z.avail_in : n - *got;
            memcpy(out + *got, r->z.next_in, k);
            r->z.next_in += k;
            r->z.avail_in -= (uInt)k;
            *got += k;
        }
        return 0;
    }
    r->z.next_out = out;
    r->z.avail_out = (uInt)n;
    while (r->z.avail_out) {
        if (fill(r, 2)) return -1;  /* two: a next member's magic number */
        if (r->member_ended) {
            if (!r->z.avail_in) break;
            if (r->z.avail_in < 2 || r->z.next_in[0] != 0x1f || r->z.next_in[1] != 0x8b)
                return sn_fail("%s: trailing garbage after the gzip data", r->name);
            inflateReset(&r->z);
            r->member_ended = 0;
        }
        if (!r->z.avail_in) return sn_fail("%s: corrupt gzip data (unexpected end of file)", r->name);
        int rc = inflate(&r->z, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) r->member_ended = 1;
        else if (rc == Z_MEM_ERROR) return sn_fail("%s: out of memory", r->name);
        else if (rc != Z_OK) return sn_fail("%s: corrupt gzip data (%s)", r->name, r->z.msg ? r->z.msg : zError(rc));
    }
    *got = n - r->z.avail_out;
    return 0;
}

static int mismatch(const char *name, const char *shape, uint64_t size, const char *holds, int truncated) {
    return sn_fail("%s: header says %s = %llu bytes of data but the file holds %s (%s)", name, shape,
                   (unsigned long long)size, holds, truncated ? "truncated" : "trailing bytes");
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Read the IDX file from r, whose input is in_len bytes. */
static int parse(reader *r, uint64_t in_len, uint8_t **data, int *ndim, int64_t dims[3]) {
    uint8_t head[4 + 4 * 3];
    size_t got;
    if (take(r, head, 4, &got)) return -1;
    if (got < 4 || head[0] != 0 || head[1] != 0 || head[2] != 0x08) {
        char magic[9] = "missing";
        for (size_t k = 0; k < got; k++) snprintf(magic + 2 * k, 3, "%02x", head[k]);
        return sn_fail("%s: not an IDX file of unsigned bytes (magic number %s, expected 00000801 "
                       "or 00000803)", r->name, magic);
    }
    int n = head[3];
    if (n != 1 && n != 3)
        return sn_fail("%s: IDX file with %d dimensions: expected 1 (labels) or 3 (images)", r->name, n);
    if (take(r, head + 4, 4 * (size_t)n, &got)) return -1;
    if (got < 4 * (size_t)n) return sn_fail("%s: truncated IDX header", r->name);
    char shape[40] = "";
    uint64_t size = 1;
    for (int d = 0; d < n; d++) {
        uint32_t dim = be32(head + 4 + 4 * d);
        snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lu", d ? "x" : "", (unsigned long)dim);
        size *= dim;  /* < 2^63: the size so far is at most SN_IDX_MAX_BYTES + 1 */
        if (size > SN_IDX_MAX_BYTES) size = SN_IDX_MAX_BYTES + 1;
        dims[d] = dim;
    }
    if (size == 0) return sn_fail("%s: header says %s: no data (a dimension is 0)", r->name, shape);
    if (size > SN_IDX_MAX_BYTES)
        return sn_fail("%s: header says %s = more than %llu bytes of data, the most an IDX file may hold (1 GiB)",
                       r->name, shape, (unsigned long long)SN_IDX_MAX_BYTES);
    char holds[32] = "more";
    uint64_t header = 4 + 4 * (uint64_t)n;
    if (!r->gzip && in_len != header + size) {  /* a raw file's size is known before reading it */
        uint64_t has = in_len - header;  /* in_len >= header: it was read */
        snprintf(holds, sizeof holds, "%llu", (unsigned long long)has);
        return mismatch(r->name, shape, size, holds, has < size);
    }
    uint8_t *buf = malloc(size), extra;
    if (!buf) return sn_fail("%s: out of memory for its %llu bytes of data", r->name, (unsigned long long)size);
    size_t more = 0;
    if (take(r, buf, size, &got) || (got == size && take(r, &extra, 1, &more))) {
        free(buf);
        return -1;
    }
    if (got < size || more) {
        free(buf);
        if (got < size) snprintf(holds, sizeof holds, "%zu", got);
        return mismatch(r->name, shape, size, holds, got < size);
    }
    *data = buf;
    *ndim = n;
    return 0;
}

/* parse() r, which reads from fd or (fd -1) from bytes[0..len) */
static int read_idx(int fd, const uint8_t *bytes, uint64_t len, const char *name, uint8_t **data, int *ndim,
                    int64_t dims[3]) {
    *data = NULL;
    *ndim = 0;
    reader *r = calloc(1, sizeof *r);
    if (!r) return sn_fail("%s: out of memory", name);
    r->name = name;
    r->fd = fd;
    r->mem = bytes;
    r->mem_left = fd < 0 ? len : 0;
    int err = fill(r, 2);
    if (!err) {
        /* the gzip magic number: sniffed rather than trusting the .gz suffix */
        r->gzip = r->z.avail_in >= 2 && r->z.next_in[0] == 0x1f && r->z.next_in[1] == 0x8b;
        if (r->gzip && inflateInit2(&r->z, 16 + MAX_WBITS) != Z_OK) err = sn_fail("%s: out of memory", name);
        else err = parse(r, len, data, ndim, dims);
        if (r->gzip) inflateEnd(&r->z);
    }
    free(r);
    return err;
}

int sn_parse_idx(const uint8_t *bytes, size_t len, const char *name, uint8_t **data, int *ndim, int64_t dims[3]) {
    return read_idx(-1, bytes, len, name, data, ndim, dims);
}

int sn_read_idx(const char *path, uint8_t **data, int *ndim, int64_t dims[3]) {
    *data = NULL;
    *ndim = 0;
    /* only a regular file (or a symlink to one), checked before opening it: /dev/zero never ends,
       and opening a FIFO that has no writer blocks for ever */
    struct stat st;
    if (stat(path, &st) != 0) return sn_fail("%s: cannot read (%s)", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return sn_fail("%s: is %s, not a regular file", path, sn_file_kind(st.st_mode));
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);  /* NONBLOCK: were a FIFO swapped in since */
    if (fd < 0) return sn_fail("%s: cannot read (%s)", path, strerror(errno));
    int err;
    if (fstat(fd, &st) != 0) err = sn_fail("%s: cannot read (%s)", path, strerror(errno));
    else if (!S_ISREG(st.st_mode)) err = sn_fail("%s: is %s, not a regular file", path, sn_file_kind(st.st_mode));
    else err = read_idx(fd, NULL, (uint64_t)st.st_size, path, data, ndim, dims);
    close(fd);
    return err;
}
