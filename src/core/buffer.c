#include "buffer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool buffer_reserve(struct buffer *b, size_t extra)
{
    if (extra <= b->cap - b->len) return true;
    if (extra > (size_t)-1 / 2 - b->len) return false;
    size_t want = b->len + extra;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < want)
        cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data) return false;
    b->data = data;
    b->cap = cap;
    return true;
}

bool buffer_append(struct buffer *b, const void *bytes, size_t n)
{
    if (!buffer_reserve(b, n)) return false;
    if (n) memcpy(b->data + b->len, bytes, n);
    b->len += n;
    return true;
}

bool buffer_append_str(struct buffer *b, const char *s)
{
    return buffer_append(b, s, strlen(s));
}

bool buffer_printf(struct buffer *b, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(NULL, 0, fmt, args);
    va_end(args);
    if (n < 0 || !buffer_reserve(b, (size_t)n + 1)) return false;
    va_start(args, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, args);
    va_end(args);
    b->len += (size_t)n;
    return true;
}

void buffer_shrink(struct buffer *b, size_t keep)
{
    if (b->cap <= keep || b->len > keep) return;
    char *data = realloc(b->data, keep);
    if (!data) return;
    b->data = data;
    b->cap = keep;
}

void buffer_free(struct buffer *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
