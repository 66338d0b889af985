/* The fast kernels behind network.c: the matrix products of the forward and backward passes (dense,
 * and with the sparse batch of pixels), the per-sample step's first and dense layers, and the sum
 * in NumPy's order. network.c says what is computed; this file, how to compute it quickly. Its
 * tricks, each explained where it is used:
 *
 *   vectors    a `vec` holds LANES reals in one register (GCC's and clang's vector types); without
 *              them (another compiler, or -DSN_NO_VECTORS) a `vec` is one real: the same code on scalars
 *   widths     WITH_WIDTH hands a kernel its number of vectors as a constant, one copy per width
 *   fusing     CONTRACT functions (sums of products) let the compiler fuse a * b + c; every other step,
 *              here and elsewhere, rounds each operation as NumPy does
 *   blocking   the dense product copies a panel of B into L1 and accumulates a tile of C in registers
 *   threads    PARALLEL_FOR spreads blocks of columns over the OpenMP threads when the product is large
 *   overlap    a row of columns that does not fill whole vectors ends with the last LANES columns'
 *              vector, which computes again, to the same bits, columns the one before it has
 *   AVX2       the non-zero pixels of an image are found 32 at a time and packed with a byte shuffle,
 *              in x86 intrinsics (portable C has no way to say either); elsewhere 8 at a time in plain C
 *   masks      one image (the per-sample step) is read through a bit mask of its non-zero pixels,
 *              64 a word, rather than a list of them, whose writing one sample does not repay (measured
 *              again: a list, with sn_spmm and a row update, ran 13% slower), its values x_p looked up
 *              in a table of the 256 bytes'
 *   libmvec    exp and log1p of a whole array, a vector at a time, by glibc's vector math library where
 *              the Makefile finds it (x86-64 with AVX2): within 4 ulps where libm's (and NumPy's)
 *              round correctly, so these are the elementwise steps that may round unlike NumPy's
 */
#include <string.h>

#include <math.h>

#include "internal.h"

#if defined(__AVX2__) && defined(__GNUC__) && !defined(SN_NO_VECTORS)
#define PIXELS_AVX2 1
#include <immintrin.h>
#endif

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* clang would fuse a * b + c within a statement; NumPy rounds both */
#endif

/* vectors */
#if defined(__GNUC__) && !defined(SN_NO_VECTORS) && (defined(__AVX__) || defined(__SSE2__) || defined(__ARM_NEON))
#if defined(__AVX__)
typedef real vec __attribute__((vector_size(32)));
#else
typedef real vec __attribute__((vector_size(16)));
#endif
#if defined(__AVX512F__)
typedef real wide __attribute__((vector_size(64))); /* the dense kernel's: AVX-512 has 32 such registers */
#define NV 4
#else
typedef vec wide;
#define NV 2
#endif
#else
typedef real vec;
typedef real wide;
#define NV 8
#endif
#define LANES ((int)(sizeof(vec) / sizeof(real)))
#define WIDE_LANES ((int)(sizeof(wide) / sizeof(real)))
static inline vec load_vec(const real *p) { vec v; memcpy(&v, p, sizeof v); return v; }
static inline void store_vec(real *p, vec v) { memcpy(p, &v, sizeof v); }
static inline wide load_wide(const real *p) { wide v; memcpy(&v, p, sizeof v); return v; }

/* a * b + c rounded once, where the machine has it (the sum of products W delta of the per-sample step) */
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
#ifdef SN_FLOAT32
#define FMA(a, b, c) fmaf((a), (b), (c))
#else
#define FMA(a, b, c) fma((a), (b), (c))
#endif
#else
#define FMA(a, b, c) ((a) * (b) + (c))
#endif

/* fusing: GCC takes it as a function's attribute, clang as a pragma in its body */
#if defined(__clang__)
#define CONTRACT
#define CONTRACT_HERE _Pragma("clang fp contract(fast)")
#elif defined(__GNUC__)
#define CONTRACT __attribute__((optimize("fp-contract=fast")))
#define CONTRACT_HERE
#else
#define CONTRACT
#define CONTRACT_HERE
#endif

/* widths: a kernel over a block of columns keeps one vector of partial sums per vector of columns,
   nb of them (1 to MAX_NB). It is written once, as an always-inline function of nb, and WITH_WIDTH
   calls it with nb a constant: the compiler makes one copy per width, in which the loops over the
   nb vectors unroll and every vector is a register (with nb known only at run time, they would
   live in memory). */
#ifdef __GNUC__
#define KERNEL static inline __attribute__((always_inline))
#else
#define KERNEL static inline
#endif
#define MAX_NB 8
#define WITH_WIDTH(nb, kernel, ...)                                                                              \
    switch (nb) {                                                                                                \
    case 1: kernel(1, __VA_ARGS__); break;                                                                       \
    case 2: kernel(2, __VA_ARGS__); break;                                                                       \
    case 3: kernel(3, __VA_ARGS__); break;                                                                       \
    case 4: kernel(4, __VA_ARGS__); break;                                                                       \
    case 5: kernel(5, __VA_ARGS__); break;                                                                       \
    case 6: kernel(6, __VA_ARGS__); break;                                                                       \
    case 7: kernel(7, __VA_ARGS__); break;                                                                       \
    default: kernel(8, __VA_ARGS__); break;                                                                      \
    }

/* How many vectors the next group of columns takes when `left` columns remain: MAX_NB while twice
   that remains, then the rest in two even groups (so that no group is a sliver), then the last. */
static int group_width(int left) {
    const int nb = left / LANES;
    return nb <= MAX_NB ? nb : nb >= 2 * MAX_NB ? MAX_NB : (nb + 1) / 2;
}

/* --------------------------------------------------------------------------------------------- */
/* np.add.reduce along a contiguous axis, in its order: blocks of at most 128 summed with 8
   accumulators, halves of longer runs summed pairwise. */

real sn_sum(const real *a, int64_t n) {
    if (n < 8) {
        real s = (real)0;  /* NumPy starts from its identity, not from a[0] */
        for (int64_t i = 0; i < n; i++) s += a[i];
        return s;
    }
    if (n <= 128) {
        real r[8];
        for (int j = 0; j < 8; j++) r[j] = a[j];
        int64_t i;
        for (i = 8; i < n - n % 8; i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        real s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) s += a[i];
        return s;
    }
    int64_t half = n / 2;
    half -= half % 8;
    return sn_sum(a, half) + sn_sum(a + half, n - half);
}

/* --------------------------------------------------------------------------------------------- */
/* exp and log1p of an array, in place: a vector at a time with libmvec, whose functions take and
   return one AVX2 register. The last partial vector is padded, so that a number's result does not
   depend on where in the array it is. */

#if defined(SN_LIBMVEC) && defined(__AVX2__) && defined(__GNUC__)
#ifdef SN_FLOAT32
typedef float math_vec __attribute__((vector_size(32)));
math_vec _ZGVdN8v_expf(math_vec x);
math_vec _ZGVdN8v_log1pf(math_vec x);
#define VECTOR_EXP _ZGVdN8v_expf
#define VECTOR_LOG1P _ZGVdN8v_log1pf
#else
typedef double math_vec __attribute__((vector_size(32)));
math_vec _ZGVdN4v_exp(math_vec x);
math_vec _ZGVdN4v_log1p(math_vec x);
#define VECTOR_EXP _ZGVdN4v_exp
#define VECTOR_LOG1P _ZGVdN4v_log1p
#endif
#define MATH_LANES ((int64_t)(sizeof(math_vec) / sizeof(real)))
#define EACH_VECTOR(x, n, f)                                                                                     \
    do {                                                                                                         \
        int64_t i = 0;                                                                                           \
        for (; i + MATH_LANES <= (n); i += MATH_LANES) {                                                         \
            math_vec v;                                                                                          \
            memcpy(&v, (x) + i, sizeof v);                                                                       \
            v = f(v);                                                                                            \
            memcpy((x) + i, &v, sizeof v);                                                                       \
        }                                                                                                        \
        if (i < (n)) {                                                                                           \
            real padded[MATH_LANES];                                                                             \
            memset(padded, 0, sizeof padded);                                                                    \
            memcpy(padded, (x) + i, (size_t)((n) - i) * sizeof(real));                                           \
            math_vec v;                                                                                          \
            memcpy(&v, padded, sizeof v);                                                                        \
            v = f(v);                                                                                            \
            memcpy(padded, &v, sizeof v);                                                                        \
            memcpy((x) + i, padded, (size_t)((n) - i) * sizeof(real));                                           \
        }                                                                                                        \
    } while (0)
void sn_exp(real *x, int64_t n) { EACH_VECTOR(x, n, VECTOR_EXP); }
void sn_log1p(real *x, int64_t n) { EACH_VECTOR(x, n, VECTOR_LOG1P); }
#else
#ifdef SN_FLOAT32
void sn_exp(real *x, int64_t n) { for (int64_t i = 0; i < n; i++) x[i] = expf(x[i]); }
void sn_log1p(real *x, int64_t n) { for (int64_t i = 0; i < n; i++) x[i] = log1pf(x[i]); }
#else
void sn_exp(real *x, int64_t n) { for (int64_t i = 0; i < n; i++) x[i] = exp(x[i]); }
void sn_log1p(real *x, int64_t n) { for (int64_t i = 0; i < n; i++) x[i] = log1p(x[i]); }
#endif
#endif

/* --------------------------------------------------------------------------------------------- */
/* the non-zero pixels of an image: its row of the batch's sparse inputs (CSR) */

#ifdef PIXELS_AVX2
/* positions[m]: where the set bits of m are, in order, one byte each (the byte shuffle's pattern that
   packs the non-zero bytes of a group of 8 to its front). Filled when the library loads. */
static uint64_t positions[256];

__attribute__((constructor)) static void fill_positions(void) {
    for (int m = 0; m < 256; m++) {
        int count = 0;
        for (int bit = 0; bit < 8; bit++)
            if (m >> bit & 1) positions[m] |= (uint64_t)bit << (8 * count++);
    }
}

/* 8 pixels, of which the set bits of `mask` are non-zero: their indices and values packed at index and
   value (8 of each written, the ones past the non-zero ones to be overwritten); returns how many. */
static inline int pack_group(const uint8_t *px, int first, unsigned mask, int32_t *index, real *value) {
    const __m128i pattern = _mm_cvtsi64_si128((long long)positions[mask]);
    const __m128i packed = _mm_shuffle_epi8(_mm_loadl_epi64((const __m128i *)(const void *)px), pattern);
    const __m256i places = _mm256_add_epi32(_mm256_cvtepu8_epi32(pattern), _mm256_set1_epi32(first));
    const __m256i pixels = _mm256_cvtepu8_epi32(packed);
    _mm256_storeu_si256((__m256i *)(void *)index, places);
#ifdef SN_FLOAT32
    _mm256_storeu_ps(value, _mm256_mul_ps(_mm256_cvtepi32_ps(pixels), _mm256_set1_ps((real)(1.0 / 255.0))));
#else
    const __m256d scale = _mm256_set1_pd(1.0 / 255.0);
    _mm256_storeu_pd(value, _mm256_mul_pd(_mm256_cvtepi32_pd(_mm256_castsi256_si128(pixels)), scale));
    _mm256_storeu_pd(value + 4, _mm256_mul_pd(_mm256_cvtepi32_pd(_mm256_extracti128_si256(pixels, 1)), scale));
#endif
    return __builtin_popcount(mask);
}
#endif

int sn_nonzero_pixels(const uint8_t *px, int n, int32_t *restrict index, real *restrict value) {
    const real scale = (real)(1.0 / 255.0);  /* data.inputs: pixels times 1/255 rounded to the dtype */
    int e = 0, i = 0;
#ifdef PIXELS_AVX2
    for (; i + 32 <= n; i += 32) {  /* 32 at a time: most of an MNIST image is zero */
        const __m256i bytes = _mm256_loadu_si256((const __m256i *)(const void *)(px + i));
        const unsigned zero = (unsigned)_mm256_movemask_epi8(_mm256_cmpeq_epi8(bytes, _mm256_setzero_si256()));
        if (zero == 0xFFFFFFFFu) continue;
        for (int group = 0; group < 4; group++)
            e += pack_group(px + i + 8 * group, i + 8 * group, ~zero >> (8 * group) & 0xFF, index + e, value + e);
    }
#else
    for (; i + 8 <= n; i += 8) {  /* 8 at a time: most of an MNIST image is zero */
        uint64_t word;
        memcpy(&word, px + i, 8);
        if (!word) continue;
        for (int b = 0; b < 8; b++) {  /* branch-free: always write, advance past non-zeros */
            index[e] = i + b;
            value[e] = (real)px[i + b] * scale;
            e += px[i + b] != 0;
        }
    }
#endif
    for (; i < n; i++) {
        index[e] = i;
        value[e] = (real)px[i] * scale;
        e += px[i] != 0;
    }
    return e;
}

/* --------------------------------------------------------------------------------------------- */
/* sparse rows times a dense matrix: the first layer's x @ W, and X^T delta from the batch's CSC */

/* out[r][0 .. nb vectors) = sum over row r's entries k of value[k] * matrix[index[k]][...] (+ add),
   rows and matrix `stride` apart. The sum runs in two sets (even and odd k) so that each addition
   need not wait for the one before. */
CONTRACT KERNEL void sparse_rows_block(int nb, int64_t rows, const int64_t *restrict start,
                                       const int32_t *restrict index, const real *restrict value,
                                       const real *restrict matrix, int64_t stride, const real *restrict add,
                                       real *restrict out) {
    CONTRACT_HERE
    for (int64_t r = 0; r < rows; r++) {
        vec a0[MAX_NB], a1[MAX_NB];
        for (int v = 0; v < nb; v++) a0[v] = a1[v] = (vec){0};
        int64_t k = start[r];
        for (; k + 1 < start[r + 1]; k += 2) {
            const real x0 = value[k], x1 = value[k + 1];
            const real *r0 = matrix + index[k] * stride, *r1 = matrix + index[k + 1] * stride;
            for (int v = 0; v < nb; v++) {
                a0[v] += x0 * load_vec(r0 + v * LANES);
                a1[v] += x1 * load_vec(r1 + v * LANES);
            }
        }
        if (k < start[r + 1])
            for (int v = 0; v < nb; v++) a0[v] += value[k] * load_vec(matrix + index[k] * stride + v * LANES);
        for (int v = 0; v < nb; v++) {
            vec sum = a0[v] + a1[v];
            if (add) sum = sum + load_vec(add + v * LANES);
            store_vec(out + r * stride + v * LANES, sum);
        }
    }
}

/* Column block `block` of out: vectors with sparse_rows_block, the columns past the last whole
   vector one at a time. A block is 6 vectors wide: its two sets of sums take 12 registers, and
   wider ones would spill out of AVX2's 16 (a column's sum is the same whatever the width). */
#define BLOCK_COLUMNS (6 * LANES)
CONTRACT static void spmm_block(int64_t rows, const int64_t *restrict start, const int32_t *restrict index,
                                const real *restrict value, const real *restrict matrix, int n, int64_t block,
                                const real *restrict add, real *restrict out) {
    CONTRACT_HERE
    const int j0 = (int)(block * BLOCK_COLUMNS), width = n - j0 < BLOCK_COLUMNS ? n - j0 : BLOCK_COLUMNS;
    const int nb = width / LANES, first = j0 + nb * LANES;
    if (nb > 0) {
        WITH_WIDTH(nb, sparse_rows_block, rows, start, index, value, matrix + j0, n, add ? add + j0 : NULL,
                   out + j0);
    }
    if (first == j0 + width) return;  /* every column was in a whole vector */
    for (int64_t r = 0; r < rows; r++) {
        real *restrict z = out + r * n;
        for (int j = first; j < j0 + width; j++) z[j] = 0;
        for (int64_t k = start[r]; k < start[r + 1]; k++) {
            const real x = value[k], *restrict row = matrix + (int64_t)index[k] * n;
            for (int j = first; j < j0 + width; j++) z[j] = FMA(x, row[j], z[j]);  /* fused, as sn_pixels_forward's */
        }
        if (add)
            for (int j = first; j < j0 + width; j++) z[j] = z[j] + add[j];
    }
}

/* Column blocks are the outer loop, so that a block of the matrix stays in cache for every row;
   threads take whole blocks. */
void sn_spmm(int64_t rows, const int64_t *start, const int32_t *index, const real *value, const real *matrix, int n,
             const real *add, real *out) {
    const int64_t blocks = (n + BLOCK_COLUMNS - 1) / BLOCK_COLUMNS;
    if ((start[rows] + rows) * (int64_t)n > PARALLEL_WORK && blocks > 1) {
        PARALLEL_FOR(1)
        for (int64_t b = 0; b < blocks; b++) spmm_block(rows, start, index, value, matrix, n, b, add, out);
    } else {  /* not even asking OpenMP: that costs more than a small product */
        for (int64_t b = 0; b < blocks; b++) spmm_block(rows, start, index, value, matrix, n, b, add, out);
    }
}

/* --------------------------------------------------------------------------------------------- */
/* the per-sample step's first layer: the rows of one image's non-zero pixels, found by the bits of a
   mask of them. A list (sn_nonzero_pixels') costs more to write than one pass and one update that
   read it save: each walks the bits, lowest first, and reads the pixel itself. */

static inline int lowest_bit(uint64_t bits) {  /* bits != 0 */
#ifdef __GNUC__
    return __builtin_ctzll(bits);
#else
    int i = 0;
    while (!(bits >> i & 1)) i++;
    return i;
#endif
}

/* x_p = pixel * (real)(1.0 / 255.0) (data.inputs' values, rounded to the dtype) for every byte: looked up,
   one load straight into a vector, rather than converted and multiplied for every pixel of every pass */
#define PIXEL(i) ((real)(i) * (real)(1.0 / 255.0))
#define PIXELS4(i) PIXEL(i), PIXEL((i) + 1), PIXEL((i) + 2), PIXEL((i) + 3)
#define PIXELS16(i) PIXELS4(i), PIXELS4((i) + 4), PIXELS4((i) + 8), PIXELS4((i) + 12)
#define PIXELS64(i) PIXELS16(i), PIXELS16((i) + 16), PIXELS16((i) + 32), PIXELS16((i) + 48)
static const real pixel_value[256] = {PIXELS64(0), PIXELS64(64), PIXELS64(128), PIXELS64(192)};

void sn_pixel_mask(const uint8_t *px, int n, uint64_t *mask) {
    int i = 0;
#ifdef PIXELS_AVX2
    for (; i + 64 <= n; i += 64) {
        const __m256i zero = _mm256_setzero_si256();
        const __m256i low = _mm256_loadu_si256((const __m256i *)(const void *)(px + i));
        const __m256i high = _mm256_loadu_si256((const __m256i *)(const void *)(px + i + 32));
        const uint64_t zeros = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(low, zero)) |
                               (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(high, zero)) << 32;
        mask[i / 64] = ~zeros;
    }
#endif
    for (; i < n; i += 64) {
        uint64_t bits = 0;
        for (int b = 0; b < 64 && i + b < n; b++) bits |= (uint64_t)(px[i + b] != 0) << b;
        mask[i / 64] = bits;
    }
}

/* z[0 .. nb vectors) = the sum over the pixels p of x_p matrix[p][...], + add: summed as
   sparse_rows_block sums a row (two sets, the pixels taking turns, fused), so the same bits as sn_spmm */
CONTRACT KERNEL void pixels_forward_block(int nb, int words, const uint64_t *restrict mask,
                                          const uint8_t *restrict px, const real *restrict matrix, int64_t stride,
                                          const real *restrict add, real *restrict z) {
    CONTRACT_HERE
    vec a0[MAX_NB], a1[MAX_NB];
    for (int v = 0; v < nb; v++) a0[v] = a1[v] = (vec){0};
    int64_t first = -1;  /* the first pixel of a pair whose second is in a later word, or -1 */
    for (int word = 0; word < words; word++) {
        uint64_t bits = mask[word];
        while (bits) {  /* a pair, its first pixel taken from before this word if one waits */
            int64_t p0 = first;
            if (p0 < 0) {
                p0 = 64 * word + lowest_bit(bits);
                bits &= bits - 1;
                if (!bits) {
                    first = p0;
                    break;
                }
            }
            const int64_t p1 = 64 * word + lowest_bit(bits);
            bits &= bits - 1;
            first = -1;
            const real x0 = pixel_value[px[p0]], x1 = pixel_value[px[p1]];
            const real *r0 = matrix + p0 * stride, *r1 = matrix + p1 * stride;
            for (int v = 0; v < nb; v++) {
                a0[v] += x0 * load_vec(r0 + v * LANES);
                a1[v] += x1 * load_vec(r1 + v * LANES);
            }
        }
    }
    if (first >= 0)
        for (int v = 0; v < nb; v++) a0[v] += pixel_value[px[first]] * load_vec(matrix + first * stride + v * LANES);
    for (int v = 0; v < nb; v++) store_vec(z + v * LANES, (a0[v] + a1[v]) + load_vec(add + v * LANES));
}

/* z[0 .. LANES) = the sum over the pixels p of x_p matrix[p][...], + add: one sum per column in the pixels'
   order, fused, as the loop over fewer columns than a vector in sn_pixels_forward (GCC makes its lanes one
   vector FMA; `sum += x * row` would not do: on AMD it avoids fusing such a chain, and the bits would differ) */
static void pixels_forward_one_sum(int words, const uint64_t *restrict mask, const uint8_t *restrict px,
                                   const real *restrict matrix, int64_t stride, const real *restrict add,
                                   real *restrict z) {
    real sum[LANES] = {0};
    for (int word = 0; word < words; word++)
        for (uint64_t bits = mask[word]; bits; bits &= bits - 1) {
            const int64_t p = 64 * word + lowest_bit(bits);
            const real x = pixel_value[px[p]], *row = matrix + p * stride;
            for (int lane = 0; lane < LANES; lane++) sum[lane] = FMA(x, row[lane], sum[lane]);
        }
    for (int lane = 0; lane < LANES; lane++) z[lane] = sum[lane] + add[lane];
}

CONTRACT void sn_pixels_forward(int n_in, int n, const real *matrix, const uint64_t *mask, const uint8_t *px,
                                const real *add, real *z) {
    CONTRACT_HERE
    const int words = (n_in + 63) / 64;
    int j0 = 0;
    /* The columns past the last whole vector are one sum each, as spmm_block's: with n >= LANES, the last
       LANES columns' vector computes them (float32's 784-20-10 has 4, which one at a time took as long as
       the 16 before them); it goes first, and the blocks then write again the columns it shares. */
    if (n % LANES && n >= LANES) pixels_forward_one_sum(words, mask, px, matrix + n - LANES, n, add + n - LANES,
                                                        z + n - LANES);
    for (int nb; (nb = group_width(n - j0)) > 0; j0 += nb * LANES) {
        WITH_WIDTH(nb, pixels_forward_block, words, mask, px, matrix + j0, n, add + j0, z + j0);
    }
    if (n >= LANES) return;
    for (int j = j0; j < n; j++) {  /* fewer columns than a vector: one sum each, as spmm_block's */
        real sum = 0;
        for (int word = 0; word < words; word++)
            for (uint64_t bits = mask[word]; bits; bits &= bits - 1) {
                const int64_t p = 64 * word + lowest_bit(bits);
                sum = FMA(pixel_value[px[p]], matrix[p * n + j], sum);  /* fused, as spmm_block's */
            }
        z[j] = sum + add[j];
    }
}

/* The compiler forgets what it knew of pointer p: a row's address is made once and its vectors read at
   constant offsets from it (GCC would otherwise add the column block's offset into every vector's
   address, two more instructions a vector). */
#ifdef __GNUC__
#define OPAQUE(p) __asm__("" : "+r"(p))
#else
#define OPAQUE(p) ((void)0)
#endif

/* the rows of the pixels -= x_p change: not fused (NumPy rounds the product, then the difference) */
KERNEL void pixels_update_block(int nb, int words, const uint64_t *restrict mask, const uint8_t *restrict px,
                                real *restrict matrix, int64_t stride, const real *restrict change) {
    vec c[MAX_NB];
    for (int v = 0; v < nb; v++) c[v] = load_vec(change + v * LANES);
    for (int word = 0; word < words; word++)
        for (uint64_t bits = mask[word]; bits; bits &= bits - 1) {
            const int64_t p = 64 * word + lowest_bit(bits);
            const real x = pixel_value[px[p]];
            real *row = matrix + p * stride;
            OPAQUE(row);
            for (int v = 0; v < nb; v++) store_vec(row + v * LANES, load_vec(row + v * LANES) - x * c[v]);
        }
}

void sn_pixels_update(int n_in, int n, real *matrix, const uint64_t *mask, const uint8_t *px, const real *change) {
    const int words = (n_in + 63) / 64;
    int j0 = 0;
    for (int nb; (nb = group_width(n - j0)) > 0; j0 += nb * LANES) {
        WITH_WIDTH(nb, pixels_update_block, words, mask, px, matrix + j0, n, change + j0);
    }
    if (j0 == n) return;
    if (n >= LANES) {  /* the last LANES columns' vector, its change 0 in the columns done: x_p 0 leaves them as they are */
        real last[LANES];
        for (int j = 0; j < LANES; j++) last[j] = n - LANES + j < j0 ? (real)0 : change[n - LANES + j];
        pixels_update_block(1, words, mask, px, matrix + n - LANES, n, last);
        return;
    }
    for (int word = 0; word < words; word++)
        for (uint64_t bits = mask[word]; bits; bits &= bits - 1) {
            const int64_t p = 64 * word + lowest_bit(bits);
            const real x = pixel_value[px[p]];
            real *restrict row = matrix + p * n;
            for (int j = j0; j < n; j++) row[j] = row[j] - x * change[j];
        }
}

/* a dense layer's per-sample step: W[i] -= a[i] change (not fused, as NumPy), then below[i] = W[i] . delta
   through the new row, summed from j = 0 up with fused multiply-adds (a matrix product's). Four rows at a
   time: their four sums are independent chains, so each fused add need not wait for the one before; each
   new weight goes into its sum as it is made, so a row is read once. */
KERNEL void dense_rows_block(int count, int n_out, real *restrict rows, const real *restrict a,
                             const real *restrict change, const real *restrict delta, real *restrict below) {
    real dot[4] = {0, 0, 0, 0};
    for (int j = 0; j < n_out; j++)
        for (int r = 0; r < count; r++) {
            const real updated = rows[r * n_out + j] - a[r] * change[j];
            rows[r * n_out + j] = updated;
            dot[r] = FMA(updated, delta[j], dot[r]);
        }
    for (int r = 0; r < count; r++) below[r] = dot[r];
}

void sn_dense_rows_update(int n_in, int n_out, real *restrict matrix, const real *restrict a,
                          const real *restrict change, const real *restrict delta, real *restrict below) {
    int i = 0;
    for (; i + 4 <= n_in; i += 4)
        dense_rows_block(4, n_out, matrix + (int64_t)i * n_out, a + i, change, delta, below + i);
    for (; i < n_in; i++) dense_rows_block(1, n_out, matrix + (int64_t)i * n_out, a + i, change, delta, below + i);
}

/* --------------------------------------------------------------------------------------------- */
/* the batch gradient of a narrow first layer: each sample adds into the rows of its non-zero pixels */

/* rows += value * vector: fused, a sum of products as a matrix product's */
CONTRACT KERNEL void add_rows_block(int nb, int64_t nnz, const int32_t *restrict index, const real *restrict value,
                                    real *restrict matrix, int64_t stride, const real *restrict vector) {
    CONTRACT_HERE
    vec c[MAX_NB];
    for (int v = 0; v < nb; v++) c[v] = load_vec(vector + v * LANES);
    for (int64_t k = 0; k < nnz; k++) {
        real *row = matrix + index[k] * stride;
        for (int v = 0; v < nb; v++) store_vec(row + v * LANES, load_vec(row + v * LANES) + value[k] * c[v]);
    }
}

CONTRACT static void add_rows(int64_t nnz, const int32_t *restrict index, const real *restrict value,
                              real *restrict matrix, int n, const real *restrict vector) {
    CONTRACT_HERE
    int j0 = 0;
    for (int nb; (nb = group_width(n - j0)) > 0; j0 += nb * LANES) {
        WITH_WIDTH(nb, add_rows_block, nnz, index, value, matrix + j0, n, vector + j0);
    }
    if (j0 == n) return;
    for (int64_t k = 0; k < nnz; k++) {
        real *restrict row = matrix + (int64_t)index[k] * n;
        for (int j = j0; j < n; j++) row[j] += value[k] * vector[j];
    }
}

void sn_sparse_input_gradient(const sn_work *w, int n_inputs, const real *restrict delta, int n,
                              real *restrict grad_w) {
    if (w->col_start) {  /* wide rows: row i sums, in registers, over the samples where pixel i is non-zero */
        sn_spmm(n_inputs, w->col_start, w->col_sample, w->col_value, delta, n, NULL, grad_w);
        return;
    }
    /* narrow rows: add each sample's x_si delta_s into the rows it touches */
    memset(grad_w, 0, (size_t)n_inputs * (size_t)n * sizeof *grad_w);
    for (int64_t s = 0; s < w->count; s++) {
        const int64_t begin = w->nz_start[s];
        add_rows(w->nz_start[s + 1] - begin, w->nz_index + begin, w->nz_value + begin, grad_w, n, delta + s * n);
    }
}

/* --------------------------------------------------------------------------------------------- */
/* dense products */

/* A tile is MR x NV wide vectors of accumulators, and each step of k loads NV vectors of B and
   broadcasts MR numbers of A: 6 x 2 takes 12 of AVX2's 16 registers (15 in all), enough independent
   sums to keep both FMA units busy through their latency; AVX-512 takes 6 x 4 of its 32. The panel is
   half of L1, so that the rows of A streaming past do not evict it. */
#define MR 6                                  /* rows of a tile of C */
#define NR (NV * WIDE_LANES)                  /* columns of a tile and of a panel of B */
#define KC (16384 / (NR * (int)sizeof(real))) /* rows of a panel: 16 KiB */

/* blocking: an MR x NR tile of C accumulated in registers over a panel of B (kc x NR, contiguous).
   Rows of A past the edge (mr < MR) read its first row again and their results are dropped; columns
   past the edge are zeros in the panel. */
CONTRACT static void tile(int64_t kc, const real *restrict a, int64_t lda, int trans_a, int mr,
                          const real *restrict panel, real *restrict c, int64_t ldc, int nr, int add) {
    CONTRACT_HERE
    int64_t row[MR];  /* where row r of A starts: a[row[r] + k] (or a[k * lda + row[r]] transposed) */
    for (int r = 0; r < MR; r++) row[r] = (r < mr ? r : 0) * (trans_a ? 1 : lda);
    wide acc[MR][NV];
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++) acc[r][v] = (wide){0};
    for (int64_t k = 0; k < kc; k++) {
        wide b[NV];
        for (int v = 0; v < NV; v++) b[v] = load_wide(panel + k * NR + v * WIDE_LANES);
        const real *ak = trans_a ? a + k * lda : a + k;
        for (int r = 0; r < MR; r++)
            for (int v = 0; v < NV; v++) acc[r][v] += ak[row[r]] * b[v];
    }
    real sums[MR][NR];
    memcpy(sums, acc, sizeof sums);
    for (int r = 0; r < mr; r++) {
        real *restrict cr = c + r * ldc;
        if (add)
            for (int j = 0; j < nr; j++) cr[j] = cr[j] + sums[r][j];
        else
            for (int j = 0; j < nr; j++) cr[j] = sums[r][j];
    }
}

/* columns p * NR .. of C: the panels of B, each against all of A */
CONTRACT static void gemm_panel(int64_t p, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                                const real *a, int64_t lda, const real *b, int64_t ldb, real *c, int64_t ldc,
                                int accumulate) {
    CONTRACT_HERE
    _Alignas(64) real panel[KC * NR];
    const int64_t j0 = p * NR;
    const int nr = n - j0 < NR ? (int)(n - j0) : NR;
    for (int64_t k0 = 0; k0 < k; k0 += KC) {
        const int64_t kc = k - k0 < KC ? k - k0 : KC;
        if (!trans_b) {
            for (int64_t kk = 0; kk < kc; kk++) {
                const real *restrict from = b + (k0 + kk) * ldb + j0;
                real *restrict to = panel + kk * NR;
                if (nr == NR) {
                    for (int j = 0; j < NR; j++) to[j] = from[j];
                } else {
                    for (int j = 0; j < nr; j++) to[j] = from[j];
                    for (int j = nr; j < NR; j++) to[j] = 0;
                }
            }
        } else {  /* B stored n x k: column j of op(B) is row j of b */
            for (int j = 0; j < nr; j++) {
                const real *restrict from = b + (j0 + j) * ldb + k0;
                for (int64_t kk = 0; kk < kc; kk++) panel[kk * NR + j] = from[kk];
            }
            for (int j = nr; j < NR; j++)
                for (int64_t kk = 0; kk < kc; kk++) panel[kk * NR + j] = 0;
        }
        const int add = accumulate || k0 > 0;
        for (int64_t i0 = 0; i0 < m; i0 += MR) {
            const int mr = m - i0 < MR ? (int)(m - i0) : MR;
            const real *a_block = trans_a ? a + k0 * lda + i0 : a + i0 * lda + k0;
            tile(kc, a_block, lda, trans_a, mr, panel, c + i0 * ldc + j0, ldc, nr, add);
        }
    }
}

/* c[0 .. nb vectors) = the sum over k of a[k] b[k][...]: a row of A against a block of columns of B, the
   sums in registers, in two sets (k taking turns) so that each addition need not wait for the one before */
CONTRACT KERNEL void row_block(int nb, int64_t k, const real *restrict a, const real *restrict b, int64_t ldb,
                               real *restrict c) {
    CONTRACT_HERE
    vec s0[MAX_NB], s1[MAX_NB];
    for (int v = 0; v < nb; v++) s0[v] = s1[v] = (vec){0};
    int64_t kk = 0;
    for (; kk + 1 < k; kk += 2)
        for (int v = 0; v < nb; v++) {
            s0[v] += a[kk] * load_vec(b + kk * ldb + v * LANES);
            s1[v] += a[kk + 1] * load_vec(b + (kk + 1) * ldb + v * LANES);
        }
    if (kk < k)
        for (int v = 0; v < nb; v++) s0[v] += a[kk] * load_vec(b + kk * ldb + v * LANES);
    for (int v = 0; v < nb; v++) store_vec(c + v * LANES, s0[v] + s1[v]);
}

/* c (n >= LANES) = a (k) B (k x n): column blocks of row_block. The columns past the last whole vector
   are the last LANES columns' vector, which overlaps the one before it: the columns it shares are
   computed again, to the same bits (the same products in the same order), rather than one at a time. */
CONTRACT static void row_times_matrix(int64_t k, const real *a, const real *b, int64_t ldb, int n, real *c) {
    CONTRACT_HERE
    for (int j0 = 0; j0 < n;) {
        int nb = group_width(n - j0);
        if (nb == 0) j0 = n - LANES, nb = 1;  /* the overlapping last vector */
        WITH_WIDTH(nb, row_block, k, a, b + j0, ldb, c + j0);
        j0 += nb * LANES;
    }
}

/* The plain triple loop: sn_gemm's definition, a dot product per element of C. It is the tests'
   oracle for sn_gemm (tests_math.c), as llm.c keeps its naive matmul beside the fast one. */
void sn_gemm_naive(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const real *a, int64_t lda,
                   const real *b, int64_t ldb, real *c, int64_t ldc, int accumulate) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            real sum = accumulate ? c[i * ldc + j] : 0;
            for (int64_t t = 0; t < k; t++)
                sum += (trans_a ? a[t * lda + i] : a[i * lda + t]) * (trans_b ? b[j * ldb + t] : b[t * ldb + j]);
            c[i * ldc + j] = sum;
        }
}

CONTRACT void sn_gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const real *a, int64_t lda,
                      const real *b, int64_t ldb, real *c, int64_t ldc, int accumulate) {
    CONTRACT_HERE
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        if (!accumulate)
            for (int64_t i = 0; i < m; i++) memset(c + i * ldc, 0, (size_t)n * sizeof *c);
        return;
    }
    if (!trans_a && !trans_b && m < MR && !accumulate && n >= LANES) {  /* a row or three: no packing */
        for (int64_t i = 0; i < m; i++) row_times_matrix(k, a + i * lda, b, ldb, (int)n, c + i * ldc);
        return;
    }
    if (!trans_a && !trans_b && m < MR) {  /* C row += a_k B row k */
        for (int64_t i = 0; i < m; i++) {
            real *restrict ci = c + i * ldc;
            const real *restrict ai = a + i * lda;
            if (!accumulate) memset(ci, 0, (size_t)n * sizeof *ci);
            for (int64_t kk = 0; kk < k; kk++) {
                const real x = ai[kk];
                const real *restrict bk = b + kk * ldb;
                for (int64_t j = 0; j < n; j++) ci[j] += x * bk[j];
            }
        }
        return;
    }
    const int64_t panels = (n + NR - 1) / NR;
    if (m * n * k > PARALLEL_WORK && panels > 1) {
        PARALLEL_FOR(1)
        for (int64_t p = 0; p < panels; p++) gemm_panel(p, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
    } else {
        for (int64_t p = 0; p < panels; p++) gemm_panel(p, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
    }
}
