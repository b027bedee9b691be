/* UTF-8 validation shared by the JSON reader and writer: JSON text must be valid UTF-8, and
 * a string that is not would be rejected by Lambda or silently mangled by the next reader. */
#ifndef MOONRUN_UTF8_CHECK_H
#define MOONRUN_UTF8_CHECK_H

#include <stddef.h>

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

#endif
