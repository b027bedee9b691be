/* Byte-level helpers shared by the JSON reader and writer: UTF-8 validation (JSON text must be
 * valid UTF-8, and a string that is not would be rejected by Lambda or mangled by the next
 * reader) and the scan for the plain bytes of a string, eight at a time. */
#ifndef MOONRUN_JSON_TEXT_H
#define MOONRUN_JSON_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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
    return (((v - ones * 0x20) & ~v) | ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash) | v) & highs;
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

/* How many bytes from p on are plain (see special_bytes). */
static inline size_t plain_ascii_run(const unsigned char *p, const unsigned char *end)
{
    const unsigned char *start = p;
    for (; end - p >= 8; p += 8) {
        uint64_t v;
        size_t at;
        memcpy(&v, p, 8);
        if (word_has_special(v, &at)) {
            if (at < 8) return (size_t)(p - start) + at;
            break;
        }
    }
    while (p < end && is_plain_byte(*p)) p++;
    return (size_t)(p - start);
}

/* Copies the plain run at p to o while scanning it, and returns its length. o must have room
 * for the run plus 8 bytes: whole words are stored, so escape-dense strings (JSON inside JSON,
 * as SQS bodies often are) cost one pass instead of a scan and a memcpy call per run. */
static inline size_t copy_plain_run(char *o, const unsigned char *p, const unsigned char *end)
{
    const unsigned char *start = p;
    for (; end - p >= 8; p += 8, o += 8) {
        uint64_t v;
        size_t at;
        memcpy(&v, p, 8);
        memcpy(o, &v, 8);
        if (word_has_special(v, &at)) {
            if (at < 8) return (size_t)(p - start) + at;
            break;
        }
    }
    while (p < end && is_plain_byte(*p)) *o++ = (char)*p++;
    return (size_t)(p - start);
}

#endif
