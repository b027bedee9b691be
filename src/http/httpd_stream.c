/* The streamed answers of moonrun.httpd (see httpd_stream.h): a byte queue between the Lua side
 * that writes and libmicrohttpd's content reader that sends. */
#include "httpd_stream.h"

#include <stdlib.h>
#include <string.h>

#include "buffer.h"

#define CHUNK_BYTES (16 * 1024) /* the most MHD asks of the reader at once */
#define KEEP_BYTES (64 * 1024)  /* kept for the next writes once the queue is drained */

struct httpd_stream {
    const struct httpd_lib *mhd;
    struct MHD_Connection *connection;
    struct buffer queue; /* written, not yet handed to MHD */
    size_t taken;        /* the bytes at the queue's head already handed to MHD */
    bool ended, failed;
    bool waiting; /* the reader suspended the connection for want of bytes */
    int owners;   /* the request and the response: freed when both are done with it */
};

static void drop_owner(struct httpd_stream *stream)
{
    if (--stream->owners > 0) return;
    buffer_free(&stream->queue);
    free(stream);
}

static void on_response_freed(void *cls)
{
    drop_owner(cls);
}

static ssize_t read_stream(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct httpd_stream *stream = cls;
    size_t available = stream->queue.len - stream->taken;
    if (available > 0) {
        size_t n = available < max ? available : max;
        memcpy(buf, stream->queue.data + stream->taken, n);
        stream->taken += n;
        if (stream->taken == stream->queue.len) { /* drained: start again at the front */
            buffer_clear(&stream->queue);
            buffer_shrink(&stream->queue, KEEP_BYTES);
            stream->taken = 0;
        }
        return (ssize_t)n;
    }
    if (stream->failed) return MHD_CONTENT_READER_END_WITH_ERROR;
    if (stream->ended) return MHD_CONTENT_READER_END_OF_STREAM;
    /* Nothing to send yet: returning 0 alone would have MHD ask again at once, forever. */
    stream->waiting = true;
    stream->mhd->suspend_connection(stream->connection);
    return 0;
}

struct httpd_stream *httpd_stream_new(const struct httpd_lib *mhd,
                                      struct MHD_Connection *connection,
                                      struct MHD_Response **response)
{
    struct httpd_stream *stream = calloc(1, sizeof *stream);
    if (!stream) return NULL;
    stream->mhd = mhd;
    stream->connection = connection;
    *response = mhd->create_response_from_callback(MHD_SIZE_UNKNOWN, CHUNK_BYTES, read_stream,
                                                   stream, on_response_freed);
    if (!*response) {
        free(stream);
        return NULL;
    }
    stream->owners = 2;
    return stream;
}

static bool wake(struct httpd_stream *stream)
{
    if (!stream->waiting) return false;
    stream->waiting = false;
    stream->mhd->resume_connection(stream->connection);
    return true;
}

bool httpd_stream_write(struct httpd_stream *stream, const char *data, size_t len, bool *ok)
{
    *ok = !stream->ended && buffer_append(&stream->queue, data, len);
    return *ok && len > 0 && wake(stream);
}

bool httpd_stream_end(struct httpd_stream *stream, bool failed)
{
    if (stream->ended) return false;
    stream->ended = true;
    stream->failed = failed;
    return wake(stream);
}

void httpd_stream_release(struct httpd_stream *stream)
{
    stream->ended = true;
    drop_owner(stream);
}
