/* gunzip in plain C: an RFC 1951 inflater (after zlib's contrib/puff) in an RFC 1952 wrapper.
 *
 * Huffman codes are decoded with a 10-bit lookup table, falling back to puff's canonical
 * bit-by-bit walk for longer codes, so MNIST's 47 MB of training images inflate in a fraction of
 * a second. Every read is bounds-checked: damaged input gives an error, never a crash.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Largest output we agree to produce: more than any IDX file we read, less than a hostile file
   could make us allocate. Not static so tests can lower it (declared extern there). */
size_t sn_gunzip_max = (size_t)1 << 30;

#define MAXBITS 15      /* longest Huffman code deflate allows */
#define FASTBITS 10     /* codes this short decode with one table look-up */
#define MAXLCODES 286   /* literal/length codes used */
#define MAXDCODES 30    /* distance codes used */
#define FIXLCODES 288   /* literal/length codes in the fixed code (two never appear) */

typedef struct {
    const uint8_t *in;
    size_t in_len, pos;     /* pos: next input byte not yet in bitbuf */
    uint64_t bitbuf;        /* bits not yet used, least significant first */
    int bitcnt;
    uint8_t *out;
    size_t out_len, out_cap;
    const char *error;      /* what was wrong, for the message */
    int too_large;
} state;

typedef struct {
    uint16_t count[MAXBITS + 1];      /* codes of each length (count[0]: unused symbols) */
    uint16_t symbol[FIXLCODES];       /* symbols in canonical order */
    uint16_t fast[1 << FASTBITS];     /* next FASTBITS input bits -> symbol << 4 | length; 0: a longer
                                         code, or none (an incomplete code) */
} huffman;

static int fail(state *s, const char *why) {
    s->error = why;
    return -1;
}

/* Top bitbuf up to at least 57 bits, or with whatever input is left. */
static void refill(state *s) {
    while (s->bitcnt <= 56 && s->pos < s->in_len) {
        s->bitbuf |= (uint64_t)s->in[s->pos++] << s->bitcnt;
        s->bitcnt += 8;
    }
}

/* n (0..16) bits as a number, or -1 when the input ends first. */
static int bits(state *s, int n) {
    if (s->bitcnt < n) refill(s);
    if (s->bitcnt < n) return fail(s, "unexpected end of data");
    int value = (int)(s->bitbuf & ((1u << n) - 1));
    s->bitbuf >>= n;
    s->bitcnt -= n;
    return value;
}

/* Drop the bits left of the current byte and hand whole unused bytes back to the input, so
   that pos is the next byte of the stream (stored blocks and the gzip trailer are byte-aligned). */
static void byte_align(state *s) {
    s->pos -= (size_t)(s->bitcnt / 8);
    s->bitbuf = 0;
    s->bitcnt = 0;
}

/* Room for n more output bytes, growing geometrically up to sn_gunzip_max. */
static int reserve(state *s, size_t n) {
    if (n > sn_gunzip_max - s->out_len) {
        s->too_large = 1;
        return fail(s, "too large");
    }
    if (n <= s->out_cap - s->out_len) return 0;
    size_t cap = s->out_cap < sn_gunzip_max / 2 ? 2 * s->out_cap : sn_gunzip_max;
    if (cap < s->out_len + n) cap = s->out_len + n;
    if (cap < 4096) cap = 4096;
    uint8_t *bigger = realloc(s->out, cap);
    if (!bigger) return fail(s, "out of memory");
    s->out = bigger;
    s->out_cap = cap;
    return 0;
}

/* Build a canonical Huffman code from code lengths (RFC 1951 3.2.2). Returns 0 for a complete
   code, > 0 for an incomplete one (allowed in a few cases), < 0 for an over-subscribed one. */
static int build(huffman *h, const uint8_t *length, int n) {
    memset(h->count, 0, sizeof h->count);
    memset(h->fast, 0, sizeof h->fast);
    for (int s = 0; s < n; s++) h->count[length[s]]++;
    if (h->count[0] == n) return 0;  /* no codes: complete, but decoding any fails */
    int left = 1;  /* codes of the current length still available */
    for (int len = 1; len <= MAXBITS; len++) {
        left = 2 * left - h->count[len];
        if (left < 0) return left;
    }
    uint16_t offset[MAXBITS + 2];
    unsigned next_code[MAXBITS + 1], code = 0;
    offset[1] = 0;
    for (int len = 1; len <= MAXBITS; len++) {
        offset[len + 1] = (uint16_t)(offset[len] + h->count[len]);
        code = (code + (len > 1 ? h->count[len - 1] : 0)) << 1;
        next_code[len] = code;  /* first code of this length (RFC 1951 3.2.2) */
    }
    for (int s = 0; s < n; s++) {
        int len = length[s];
        if (len == 0) continue;
        h->symbol[offset[len]++] = (uint16_t)s;
        if (len > FASTBITS) continue;
        /* deflate sends codes MSB first into an LSB-first stream: index the table reversed */
        unsigned c = next_code[len]++, reversed = 0;
        for (int b = 0; b < len; b++) reversed |= ((c >> b) & 1u) << (len - 1 - b);
        for (unsigned r = reversed; r < (1u << FASTBITS); r += 1u << len)
            h->fast[r] = (uint16_t)(s << 4 | len);
    }
    return left;
}

/* Next symbol of code h, or -1. */
static int decode(state *s, const huffman *h) {
    if (s->bitcnt < MAXBITS) refill(s);
    unsigned entry = h->fast[s->bitbuf & ((1u << FASTBITS) - 1)];
    if (entry) {
        int len = (int)(entry & 15);
        if (len > s->bitcnt) return fail(s, "unexpected end of data");
        s->bitbuf >>= len;
        s->bitcnt -= len;
        return (int)(entry >> 4);
    }
    /* puff's canonical walk: code, first and index of each length in turn */
    int code = 0, first = 0, index = 0;
    for (int len = 1; len <= MAXBITS; len++) {
        if (len > s->bitcnt) return fail(s, "unexpected end of data");
        code |= (int)((s->bitbuf >> (len - 1)) & 1);
        int count = h->count[len];
        if (code - count < first) {
            s->bitbuf >>= len;
            s->bitcnt -= len;
            return h->symbol[index + (code - first)];
        }
        index += count;
        first = (first + count) << 1;
        code <<= 1;
    }
    return fail(s, "invalid Huffman code");
}

/* Literals and matches until the end-of-block symbol. */
static int codes(state *s, const huffman *lencode, const huffman *distcode) {
    static const uint16_t lbase[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                       31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
    static const uint8_t lext[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                     2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
    static const uint16_t dbase[30] = {1,   2,   3,   4,   5,   7,    9,    13,   17,   25,
                                       33,  49,  65,  97,  129, 193,  257,  385,  513,  769,
                                       1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
    static const uint8_t dext[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                     6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
    for (;;) {
        int symbol = decode(s, lencode);
        if (symbol < 0) return -1;
        if (symbol < 256) {
            if (reserve(s, 1)) return -1;
            s->out[s->out_len++] = (uint8_t)symbol;
            continue;
        }
        if (symbol == 256) return 0;
        symbol -= 257;
        if (symbol >= 29) return fail(s, "invalid literal/length code");
        int extra = bits(s, lext[symbol]);
        if (extra < 0) return -1;
        size_t len = (size_t)lbase[symbol] + (size_t)extra;
        symbol = decode(s, distcode);
        if (symbol < 0) return -1;
        if (symbol >= 30) return fail(s, "invalid distance code");
        if ((extra = bits(s, dext[symbol])) < 0) return -1;
        size_t dist = (size_t)dbase[symbol] + (size_t)extra;
        if (dist > s->out_len) return fail(s, "distance too far back");
        if (reserve(s, len)) return -1;
        /* byte by byte: the source may overlap what is being written (a run) */
        uint8_t *to = s->out + s->out_len, *from = to - dist;
        for (size_t k = 0; k < len; k++) to[k] = from[k];
        s->out_len += len;
    }
}

static int stored(state *s) {
    byte_align(s);
    if (s->in_len - s->pos < 4) return fail(s, "unexpected end of data");
    const uint8_t *p = s->in + s->pos;
    size_t len = (size_t)p[0] | (size_t)p[1] << 8;
    if (((size_t)p[2] | (size_t)p[3] << 8) != (~len & 0xffff)) return fail(s, "stored block length check failed");
    s->pos += 4;
    if (s->in_len - s->pos < len) return fail(s, "unexpected end of data");
    if (reserve(s, len)) return -1;
    memcpy(s->out + s->out_len, s->in + s->pos, len);
    s->out_len += len;
    s->pos += len;
    return 0;
}

static int fixed(state *s) {
    huffman lencode, distcode;  /* built per block: cheap, and no shared state between threads */
    uint8_t length[FIXLCODES];
    int k = 0;
    for (; k < 144; k++) length[k] = 8;
    for (; k < 256; k++) length[k] = 9;
    for (; k < 280; k++) length[k] = 7;
    for (; k < FIXLCODES; k++) length[k] = 8;
    build(&lencode, length, FIXLCODES);
    for (k = 0; k < MAXDCODES; k++) length[k] = 5;
    build(&distcode, length, MAXDCODES);
    return codes(s, &lencode, &distcode);
}

static int dynamic(state *s) {
    static const uint8_t order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
    uint8_t length[MAXLCODES + MAXDCODES];
    huffman lencode, distcode;
    int nlen = bits(s, 5), ndist = bits(s, 5), ncode = bits(s, 4);
    if (nlen < 0 || ndist < 0 || ncode < 0) return -1;
    nlen += 257;
    ndist += 1;
    ncode += 4;
    if (nlen > MAXLCODES || ndist > MAXDCODES) return fail(s, "too many length or distance codes");
    /* the code-length code, which must be complete */
    memset(length, 0, 19);
    for (int k = 0; k < ncode; k++) {
        int len = bits(s, 3);
        if (len < 0) return -1;
        length[order[k]] = (uint8_t)len;
    }
    if (build(&lencode, length, 19) != 0) return fail(s, "incomplete code-length code");
    /* the literal/length and distance code lengths, run-length coded */
    for (int index = 0; index < nlen + ndist;) {
        int symbol = decode(s, &lencode);
        if (symbol < 0) return -1;
        if (symbol < 16) {
            length[index++] = (uint8_t)symbol;
            continue;
        }
        int len = 0, repeat;
        if (symbol == 16) {
            if (index == 0) return fail(s, "repeat with no previous length");
            len = length[index - 1];
            repeat = bits(s, 2);
            if (repeat >= 0) repeat += 3;
        } else {
            repeat = symbol == 17 ? bits(s, 3) : bits(s, 7);
            if (repeat >= 0) repeat += symbol == 17 ? 3 : 11;
        }
        if (repeat < 0) return -1;
        if (index + repeat > nlen + ndist) return fail(s, "too many code lengths");
        while (repeat--) length[index++] = (uint8_t)len;
    }
    if (length[256] == 0) return fail(s, "no end-of-block code");
    /* an incomplete code is allowed only if it is a single code of length 1 (as zlib) */
    int err = build(&lencode, length, nlen);
    if (err < 0 || (err > 0 && nlen != lencode.count[0] + lencode.count[1]))
        return fail(s, "invalid literal/length code lengths");
    err = build(&distcode, length + nlen, ndist);
    if (err < 0 || (err > 0 && ndist != distcode.count[0] + distcode.count[1]))
        return fail(s, "invalid distance code lengths");
    return codes(s, &lencode, &distcode);
}

/* One raw deflate stream starting at s->pos; leaves s->pos just after it. */
static int inflate_stream(state *s) {
    int last;
    do {
        last = bits(s, 1);
        int type = bits(s, 2), err;
        if (last < 0 || type < 0) return -1;
        switch (type) {
        case 0: err = stored(s); break;
        case 1: err = fixed(s); break;
        case 2: err = dynamic(s); break;
        default: err = fail(s, "invalid block type");
        }
        if (err) return -1;
    } while (!last);
    byte_align(s);
    return 0;
}

static uint32_t crc32_update(const uint32_t table[256], uint32_t crc, const uint8_t *p, size_t n) {
    crc = ~crc;
    while (n--) crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Skip a gzip member's header (RFC 1952 2.3): magic, method 8, optional fields. */
static int header(state *s, const uint32_t table[256]) {
    const uint8_t *p = s->in + s->pos;
    size_t n = s->in_len - s->pos, at = 10;
    if (n < 2 || p[0] != 0x1f || p[1] != 0x8b) return fail(s, "not gzip data (no 1f 8b magic)");
    if (n < 10) return fail(s, "unexpected end of data");
    if (p[2] != 8) return fail(s, "unknown compression method");
    int flags = p[3];
    if (flags & 0xe0) return fail(s, "reserved header flags set");
    if (flags & 4) {  /* FEXTRA: two-byte length, then that many bytes */
        if (n - at < 2) return fail(s, "unexpected end of data");
        size_t xlen = (size_t)p[at] | (size_t)p[at + 1] << 8;
        at += 2;
        if (n - at < xlen) return fail(s, "unexpected end of data");
        at += xlen;
    }
    for (int field = 8; field <= 16; field <<= 1) {  /* FNAME, FCOMMENT: zero-terminated */
        if (!(flags & field)) continue;
        const uint8_t *zero = memchr(p + at, 0, n - at);
        if (!zero) return fail(s, "unexpected end of data");
        at = (size_t)(zero - p) + 1;
    }
    if (flags & 2) {  /* FHCRC: low 16 bits of the CRC-32 of the header so far */
        if (n - at < 2) return fail(s, "unexpected end of data");
        if ((crc32_update(table, 0, p, at) & 0xffff) != ((unsigned)p[at] | (unsigned)p[at + 1] << 8))
            return fail(s, "header CRC mismatch");
        at += 2;
    }
    s->pos += at;
    return 0;
}

int sn_gunzip(const uint8_t *in, size_t in_len, const char *name, uint8_t **out, size_t *out_len) {
    uint32_t table[256];
    for (uint32_t k = 0; k < 256; k++) {
        uint32_t c = k;
        for (int b = 0; b < 8; b++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        table[k] = c;
    }
    *out = NULL;
    *out_len = 0;
    state s = {.in = in, .in_len = in_len};
    /* size the buffer from the last member's ISIZE, which a hostile file controls: no more than
       deflate's best ratio (1032:1) allows the input to expand to */
    size_t hint = in_len >= 18 ? le32(in + in_len - 4) : 0;
    size_t most = in_len < sn_gunzip_max / 1032 ? in_len * 1032 : sn_gunzip_max;
    if (reserve(&s, hint < most ? hint : most) || reserve(&s, 1)) {  /* never NULL, even if empty */
        free(s.out);
        return sn_fail("%s: out of memory", name);
    }
    int err = 0, members = 0;
    do {  /* members one after another, concatenated (as gzip -d and Python) */
        size_t start = s.out_len;
        if (members++ && (s.in[s.pos] != 0x1f || s.in_len - s.pos < 2 || s.in[s.pos + 1] != 0x8b))
            err = fail(&s, "trailing garbage after the gzip data");
        else
            err = header(&s, table) || inflate_stream(&s);
        if (!err && s.in_len - s.pos < 8) err = fail(&s, "unexpected end of data (no trailer)");
        if (!err && le32(in + s.pos) != crc32_update(table, 0, s.out + start, s.out_len - start))
            err = fail(&s, "CRC-32 mismatch");
        if (!err && le32(in + s.pos + 4) != (uint32_t)(s.out_len - start))
            err = fail(&s, "length mismatch");
        s.pos += 8;
    } while (!err && s.pos < in_len);
    if (err) {
        free(s.out);
        if (s.too_large)
            return sn_fail("%s: too large: inflates to more than %zu bytes", name, sn_gunzip_max);
        return sn_fail("%s: corrupt gzip data (%s)", name, s.error);
    }
    *out = s.out;
    *out_len = s.out_len;
    return 0;
}
