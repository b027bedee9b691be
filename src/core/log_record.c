#include "log_record.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "json_text.h"
#include "log.h"

static struct log_config config = {.minimum = LOG_INFO};
static pthread_once_t config_once = PTHREAD_ONCE_INIT;
static char format_warning[256], level_warning[256];
static atomic_bool config_warned;

static const char *const level_names[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"};

/* A warning about the variables themselves is kept for log_config to give, in the format that
 * was chosen: log_error cannot run while the configuration is being read. */
static void read_config(void)
{
    const char *format = getenv("AWS_LAMBDA_LOG_FORMAT");
    if (format && *format) {
        if (strcasecmp(format, "JSON") == 0)
            config.json = true;
        else if (strcasecmp(format, "Text") != 0)
            snprintf(format_warning, sizeof format_warning,
                     "ignoring AWS_LAMBDA_LOG_FORMAT=%s: expected JSON or Text", format);
    }
    const char *level = getenv("AWS_LAMBDA_LOG_LEVEL");
    if (!level || !*level) return;
    for (size_t i = 0; i < sizeof level_names / sizeof *level_names; i++) {
        if (strcasecmp(level, level_names[i]) == 0) {
            config.minimum = (enum log_level)i;
            return;
        }
    }
    snprintf(level_warning, sizeof level_warning,
             "ignoring AWS_LAMBDA_LOG_LEVEL=%s: expected TRACE, DEBUG, INFO, WARN, ERROR or FATAL",
             level);
}

const struct log_config *log_config(void)
{
    pthread_once(&config_once, read_config);
    if ((format_warning[0] || level_warning[0]) && !atomic_exchange(&config_warned, true)) {
        if (format_warning[0]) log_error("%s", format_warning);
        if (level_warning[0]) log_error("%s", level_warning);
    }
    return &config;
}

const char *log_level_name(enum log_level level)
{
    return level_names[level];
}

void log_timestamp(char out[25])
{
    /* gmtime_r costs more than the rest of a record: redo it only when the second changes. */
    static _Thread_local time_t cached_second = -1;
    static _Thread_local char cached[21];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (now.tv_sec != cached_second) {
        struct tm tm;
        gmtime_r(&now.tv_sec, &tm);
        strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
        cached_second = now.tv_sec;
    }
    int ms = (int)(now.tv_nsec / 1000000);
    memcpy(out, cached, 19);
    out[19] = '.', out[20] = (char)('0' + ms / 100), out[21] = (char)('0' + ms / 10 % 10);
    out[22] = (char)('0' + ms % 10), out[23] = 'Z', out[24] = '\0';
}

void log_record_open(struct buffer *out, enum log_level level, const char *request_id,
                     size_t request_id_len)
{
    char timestamp[25];
    log_timestamp(timestamp);
    buffer_append_str(out, "{\"timestamp\":\"");
    buffer_append_str(out, timestamp);
    buffer_append_str(out, "\",\"level\":\"");
    buffer_append_str(out, level_names[level]);
    buffer_append(out, "\"", 1);
    if (request_id) {
        buffer_append_str(out, ",\"requestId\":");
        log_append_json_string(out, request_id, request_id_len);
    }
}

void log_append_json_string(struct buffer *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    buffer_append(out, "\"", 1);
    while (p < end) {
        size_t plain = plain_ascii_run(p, end);
        buffer_append(out, p, plain);
        p += plain;
        if (p == end) break;
        unsigned char c = *p;
        if (c >= 0x80) {
            size_t n = utf8_sequence_length(p, end);
            if (n)
                buffer_append(out, p, n), p += n;
            else
                buffer_append(out, "\xEF\xBF\xBD", 3), p++;
            continue;
        }
        char escape[6] = {'\\', (char)c};
        size_t escape_len = 2;
        switch (c) {
        case '"':
        case '\\':
            break;
        case '\n':
            escape[1] = 'n';
            break;
        case '\r':
            escape[1] = 'r';
            break;
        case '\t':
            escape[1] = 't';
            break;
        default:
            escape[1] = 'u', escape[2] = '0', escape[3] = '0', escape[4] = hex[c >> 4],
            escape[5] = hex[c & 15];
            escape_len = 6;
        }
        buffer_append(out, escape, escape_len);
        p++;
    }
    buffer_append(out, "\"", 1);
}
