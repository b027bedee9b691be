/* Byte-level helpers shared by the JSON reader and writer: UTF-8 validation (JSON text must be
 * valid UTF-8, and a string that is not would be rejected by Lambda or mangled by the next
 * reader) and the scan for the plain bytes of a string: sixteen at a time with SSE2 (x86_64) or
 * NEON (arm64), eight at a time in a portable word loop elsewhere. Defining
 * MOONRUN_JSON_SCALAR before including this leaves the vector path out, so that the fuzz target
 * can hold both versions of the bridge against each other. */
#ifndef MOONRUN_JSON_TEXT_H
#define MOONRUN_JSON_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if !defined(MOONRUN_JSON_SCALAR) && defined(__SSE2__)
#include <emmintrin.h>
#define JSON_VECTOR_SCAN 1
#elif !defined(MOONRUN_JSON_SCALAR) && defined(__ARM_NEON) && defined(__BYTE_ORDER__) &&           \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#include <arm_neon.h>
#define JSON_VECTOR_SCAN 1
#else
#define JSON_VECTOR_SCAN 0
#endif

/* copy_plain_run stores whole blocks: its output needs this much room past the run. */
#define JSON_COPY_SLACK 16

/* Length (2-4) of the well-formed multi-byte sequence starting at p, or 0 if it is not one
 * (overlong forms, surrogates and code points above U+10FFFF are not well formed). */
static inline size_t utf8_sequence_length(const unsigned char *p, const unsigned char *end)
{
    size_t avail = (size_t)(end - p);
    unsigned char c = p[0];
    if (c >= 0xC2 && c <= 0xDF) return (avail >= 2 && (p[1] & 0xC0) == 0x80) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (avail < 3 || (p[2] & 0xC0) != 0x80) return 0;
        unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return (p[1] >= lo && p[1] <= hi) ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (avail < 4 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) return 0;
        unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return (p[1] >= lo && p[1] <= hi) ? 4 : 0;
    }
    return 0;
}

/* Flags (in the high bit of each byte) the bytes of v a JSON string cannot hold as they are:
 * control characters, '"', '\\', and non-ASCII bytes (which need UTF-8 validation). A flag is
 * exact for the lowest flagged byte; bytes above it may be flagged falsely. */
static inline uint64_t special_bytes(uint64_t v)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t quote = v ^ (ones * '"'), backslash = v ^ (ones * '\\');
    return (((v - ones * 0x20) & ~v) | ((quote - ones) & ~quote) |
            ((backslash - ones) & ~backslash) | v) &
           highs;
}

static inline bool is_plain_byte(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/* Whether the word v (loaded from p) holds a special byte; *at is then how many plain bytes
 * precede it, or 8 when that is unknown (big-endian: the byte loop takes over). */
static inline bool word_has_special(uint64_t v, size_t *at)
{
    uint64_t special = special_bytes(v);
    if (!special) return false;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    *at = (size_t)__builtin_ctzll(special) / 8; /* the lowest flag is exact */
#else
    *at = 8;
#endif
    return true;
}

#if JSON_VECTOR_SCAN
/* Where the first byte a JSON string cannot hold as it is (see special_bytes) sits among the 16
 * at p: 0 to 15, or 16 when there is none. Exact, unlike the word version. */
static inline unsigned first_special16(const unsigned char *p)
{
#if defined(__SSE2__)
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    /* A signed compare: bytes of 0x80 and above are negative, so one test finds them and the
     * control characters. */
    __m128i low = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));
    __m128i quote = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
    __m128i backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'));
    unsigned mask = (unsigned)_mm_movemask_epi8(_mm_or_si128(low, _mm_or_si128(quote, backslash)));
    return mask ? (unsigned)__builtin_ctz(mask) : 16;
#else
    uint8x16_t v = vld1q_u8(p);
    uint8x16_t outside = vorrq_u8(vcltq_u8(v, vdupq_n_u8(0x20)), vcgeq_u8(v, vdupq_n_u8(0x80)));
    uint8x16_t marks = vorrq_u8(vceqq_u8(v, vdupq_n_u8('"')), vceqq_u8(v, vdupq_n_u8('\\')));
    uint8x16_t special = vorrq_u8(outside, marks);
    /* NEON has no movemask: narrowing each 16-bit lane by 4 leaves 4 bits per byte. */
    uint8x8_t nibbles = vshrn_n_u16(vreinterpretq_u16_u8(special), 4);
    uint64_t mask = vget_lane_u64(vreinterpret_u64_u8(nibbles), 0);
    return mask ? (unsigned)__builtin_ctzll(mask) >> 2 : 16;
#endif
}
#endif

/* The plain run of a stretch shorter than a block, copied to o when o is not NULL: the stretch
 * is tested in at most two overlapping word loads, and when any byte of it is special, byte by
 * byte (which finds the exact one). */
static inline __attribute__((always_inline)) size_t plain_tail(char *o, const unsigned char *p,
                                                               const unsigned char *end)
{
    size_t left = (size_t)(end - p);
    if (left >= 8) {
        uint64_t head, tail;
        memcpy(&head, p, 8);
        memcpy(&tail, end - 8, 8);
        if (!special_bytes(head) && !special_bytes(tail)) {
            if (o) memcpy(o, &head, 8), memcpy(o + left - 8, &tail, 8);
            return left;
        }
    } else if (left >= 4) {
        uint32_t head, tail;
        memcpy(&head, p, 4);
        memcpy(&tail, end - 4, 4);
        if (!special_bytes((uint64_t)head | (uint64_t)tail << 32)) {
            if (o) memcpy(o, &head, 4), memcpy(o + left - 4, &tail, 4);
            return left;
        }
    }
    const unsigned char *start = p;
    while (p < end && is_plain_byte(*p)) {
        if (o) *o++ = (char)*p;
        p++;
    }
    return (size_t)(p - start);
}

/* The plain run at p, copied to o when o is not NULL, in words of eight bytes: the portable
 * path, also the tail after the vector loop. */
static inline size_t plain_word_run(char *o, const unsigned char *p, const unsigned char *end)
{
    const unsigned char *start = p;
    for (; end - p >= 16; p += 8) {
        uint64_t v;
        size_t at;
        memcpy(&v, p, 8);
        if (o) memcpy(o + (p - start), &v, 8);
        if (word_has_special(v, &at)) {
            if (at < 8) return (size_t)(p - start) + at;
            return (size_t)(p - start) + plain_tail(o ? o + (p - start) : NULL, p, end);
        }
    }
    return (size_t)(p - start) + plain_tail(o ? o + (p - start) : NULL, p, end);
}

/* How many bytes from p on are plain (see special_bytes). */
static inline size_t plain_ascii_run(const unsigned char *p, const unsigned char *end)
{
    const unsigned char *start = p;
#if JSON_VECTOR_SCAN
    for (; end - p >= 16; p += 16) {
        unsigned at = first_special16(p);
        if (at < 16) return (size_t)(p - start) + at;
    }
#endif
    return (size_t)(p - start) + plain_word_run(NULL, p, end);
}

/* Copies the plain run at p to o while scanning it, and returns its length. o must have room
 * for the run plus JSON_COPY_SLACK bytes: whole blocks are stored, so escape-dense strings
 * (JSON inside JSON, as SQS bodies often are) cost one pass instead of a scan and a memcpy
 * call per run. */
static inline size_t copy_plain_run(char *o, const unsigned char *p, const unsigned char *end)
{
    const unsigned char *start = p;
#if JSON_VECTOR_SCAN
    for (; end - p >= 16; p += 16, o += 16) {
        memcpy(o, p, 16);
        unsigned at = first_special16(p);
        if (at < 16) return (size_t)(p - start) + at;
    }
#endif
    return (size_t)(p - start) + plain_word_run(o, p, end);
}

#endif
