/* The JSON string scan of src/core/json_text.h (SSE2 on x86_64, NEON on arm64, eight-byte words
 * elsewhere) against a byte-by-byte reference: every byte value at every offset of stretches up
 * to 70 bytes, then random stretches mixing plain and special bytes. Built for the host, and
 * (when aarch64-linux-gnu-gcc and qemu-aarch64-static are there) for arm64 under qemu, so the
 * NEON path is checked on this machine too, and with MOONRUN_JSON_SCALAR for the portable word
 * path. Exit 0: passed; prints which path it checked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_text.h"

static int failures;

static size_t reference_run(const unsigned char *p, const unsigned char *end)
{
    const unsigned char *start = p;
    while (p < end && is_plain_byte(*p))
        p++;
    return (size_t)(p - start);
}

/* Checks both scans of the n bytes at data (which is followed by more bytes the scan must not
 * read as part of it: they differ from call to call). */
static void check(const unsigned char *data, size_t n, const char *what)
{
    size_t want = reference_run(data, data + n);
    size_t scanned = plain_ascii_run(data, data + n);
    char out[128 + JSON_COPY_SLACK];
    memset(out, '?', sizeof out);
    size_t copied = copy_plain_run(out, data, data + n);
    if (scanned != want || copied != want || memcmp(out, data, want) != 0) {
        if (failures++ < 20)
            printf("FAIL %s: length %zu, reference run %zu, scan %zu, copy %zu\n", what, n, want,
                   scanned, copied);
    }
#if JSON_VECTOR_SCAN
    if (n >= 16) {
        unsigned first = first_special16(data);
        size_t block_want = want < 16 ? want : 16;
        if (first != block_want && failures++ < 20)
            printf("FAIL %s: first_special16 %u, reference %zu\n", what, first, block_want);
    }
#endif
}

int main(void)
{
    unsigned char buf[160];
    /* Every byte value at every offset, in plain surroundings. */
    for (size_t n = 0; n <= 70; n++) {
        for (size_t at = 0; at < n; at++) {
            for (int byte = 0; byte < 256; byte++) {
                memset(buf, 'a', sizeof buf);
                buf[at] = (unsigned char)byte;
                buf[n] = '"'; /* what follows a string in a document */
                check(buf, n, "one byte");
                buf[n] = 0xff;
                check(buf, n, "one byte, 0xff after");
            }
        }
    }
    /* Random mixes: mostly plain, with quotes, backslashes, controls and high bytes. */
    static const unsigned char specials[] = {'"',  '\\', 0,    1,   0x1f, 0x7f,
                                             0x80, 0xc3, 0xff, ' ', '~'};
    srand(22);
    for (int round = 0; round < 200000; round++) {
        size_t n = (size_t)(rand() % 100);
        for (size_t i = 0; i < sizeof buf; i++) {
            int r = rand() % 40;
            buf[i] = r < (int)sizeof specials ? specials[r] : (unsigned char)('a' + r % 26);
        }
        check(buf + (size_t)(rand() % 16), n, "random");
    }
#if (defined(__x86_64__) || defined(__aarch64__)) && !defined(MOONRUN_JSON_SCALAR)
    if (!JSON_VECTOR_SCAN) {
        printf("FAIL the vector scan is not built on this architecture\n");
        failures++;
    }
#endif
    printf("checked the %s path\n", !JSON_VECTOR_SCAN ? "eight-byte word"
#if defined(__SSE2__)
                                                      : "SSE2"
#else
                                                      : "NEON"
#endif
    );
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
