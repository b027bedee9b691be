#include "invoke_cmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "handler.h"
#include "invocation.h"
#include "log.h"
#include "lua_host.h"

#define USAGE "usage: moonrun invoke HANDLER [--event FILE|-]\n"

static bool read_stream(FILE *f, struct buffer *into)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (!buffer_append(into, chunk, n)) return false;
    return !ferror(f);
}

static bool read_event(const char *source, struct buffer *event)
{
    if (!source) return buffer_append_str(event, "{}");
    if (strcmp(source, "-") == 0) return read_stream(stdin, event);
    FILE *f = fopen(source, "rb");
    if (!f) {
        log_error("cannot read the event file '%s': %s", source, strerror(errno));
        return false;
    }
    bool ok = read_stream(f, event);
    fclose(f);
    if (!ok) log_error("cannot read the event file '%s'", source);
    return ok;
}

static void make_request_id(char out[37])
{
    unsigned char b[16] = {0};
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) memset(b, 0x5a, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
             b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* What Lambda would tell the handler: the same headers and environment, made up locally. */
static size_t local_headers(struct header_view *headers, char *request_id, char *deadline, char *arn)
{
    if (!getenv("AWS_LAMBDA_FUNCTION_NAME")) setenv("AWS_LAMBDA_FUNCTION_NAME", "moonrun-local", 1);
    if (!getenv("AWS_LAMBDA_FUNCTION_VERSION")) setenv("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST", 1);
    if (!getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")) setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128", 1);
    const char *region = getenv("AWS_REGION") ? getenv("AWS_REGION") : "us-east-1";
    make_request_id(request_id);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long long timeout_ms = 3000; /* Lambda's default timeout */
    snprintf(deadline, 24, "%lld", (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000 + timeout_ms);
    snprintf(arn, 256, "arn:aws:lambda:%s:000000000000:function:%s", region, getenv("AWS_LAMBDA_FUNCTION_NAME"));
    static const char *names[] = {"Lambda-Runtime-Aws-Request-Id", "Lambda-Runtime-Deadline-Ms",
                                  "Lambda-Runtime-Invoked-Function-Arn"};
    const char *values[] = {request_id, deadline, arn};
    for (size_t i = 0; i < 3; i++)
        headers[i] = (struct header_view){names[i], values[i], strlen(names[i]), strlen(values[i])};
    return 3;
}

int invoke_cmd_main(int argc, char **argv)
{
    const char *spec = NULL, *event_source = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(USAGE "\nRuns HANDLER (path/module.function under LAMBDA_TASK_ROOT, default the current\n"
                        "directory) once with the event read from FILE, from stdin with '-', or {} by\n"
                        "default, and prints the response JSON. Exits 1 with the Lambda error JSON when\n"
                        "the handler fails.\n",
                  stdout);
            return 0;
        }
        if (strcmp(argv[i], "--event") == 0) {
            if (++i == argc) return log_error("--event needs a file name or '-'"), 2;
            event_source = argv[i];
        } else if (argv[i][0] == '-') {
            log_error("invoke: unknown option '%s'", argv[i]);
            return fputs(USAGE, stderr), 2;
        } else if (spec) {
            log_error("invoke: unexpected argument '%s' (the handler is already '%s')", argv[i], spec);
            return 2;
        } else {
            spec = argv[i];
        }
    }
    if (!spec) return fputs(USAGE, stderr), 2;

    setvbuf(stdout, NULL, _IOLBF, 0);
    struct buffer event = {0}, out = {0};
    if (!read_event(event_source, &event)) return buffer_free(&event), 2;
    const char *task_root = getenv("LAMBDA_TASK_ROOT");
    struct lua_host host;
    if (!lua_host_open(&host, task_root && *task_root ? task_root : ".")) return buffer_free(&event), 1;

    struct handler h;
    struct error_report report;
    bool ok = handler_load(host.L, spec, host.task_root, &h, &out, &report);
    if (ok) {
        struct header_view headers[3];
        char request_id[37], deadline[24], arn[256];
        size_t count = local_headers(headers, request_id, deadline, arn);
        ok = invocation_run(host.L, h.function_ref, event.data, event.len, headers, count, &out, &report);
    }
    if (!ok) log_error("%s", report.type);
    fwrite(out.data, 1, out.len, stdout);
    fputc('\n', stdout);
    buffer_free(&event);
    buffer_free(&out);
    lua_host_close(&host);
    return ok ? 0 : 1;
}
