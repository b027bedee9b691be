/* A growable byte buffer that is kept and reused, so the invoke path does not allocate
 * per invocation once it has warmed up. */
#ifndef MOONRUN_BUFFER_H
#define MOONRUN_BUFFER_H

#include <stdbool.h>
#include <stddef.h>

struct buffer {
    char *data;
    size_t len;
    size_t cap;
};

/* Each returns false only when memory runs out; the buffer is then unchanged. */
bool buffer_reserve(struct buffer *b, size_t extra);
bool buffer_append(struct buffer *b, const void *bytes, size_t n);
bool buffer_append_str(struct buffer *b, const char *s);
bool buffer_printf(struct buffer *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline void buffer_clear(struct buffer *b)
{
    b->len = 0;
}

/* Gives memory back after a large payload, so resident size does not stay at its peak. */
void buffer_shrink(struct buffer *b, size_t keep);
void buffer_free(struct buffer *b);

#endif
