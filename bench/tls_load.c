/* What the first HTTP request of a packaged handler costs before any byte is sent: loading the
 * zip's libcrypto, libssl and libcurl, in that order, and curl_global_init (OpenSSL's own
 * initialisation: its configuration file, error strings, providers). These are the steps
 * moonrun's curl_lib.c and http_pool.c take on the first request, timed one by one in a fresh
 * process, so bench/package.sh can say where sqs_init's cold start goes.
 *
 *   tls_load LIB_DIR   prints: crypto_ms=.. ssl_ms=.. curl_ms=.. global_init_ms=.. total_ms=.. */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdio.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void *load(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) fprintf(stderr, "tls_load: %s\n", dlerror());
    return handle;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(
            stderr,
            "usage: tls_load LIB_DIR (the folder of libcurl.so.4, libssl.so.3, libcrypto.so.3)\n");
        return 2;
    }
    double start = now_ms();
    /* Loaded one at a time so each is timed alone; libcurl's own load then finds both. */
    if (!load(argv[1], "libcrypto.so.3")) return 1;
    double crypto = now_ms();
    if (!load(argv[1], "libssl.so.3")) return 1;
    double ssl = now_ms();
    void *curl = load(argv[1], "libcurl.so.4");
    if (!curl) return 1;
    double curl_loaded = now_ms();
    int (*global_init)(long) = (int (*)(long))dlsym(curl, "curl_global_init");
    if (!global_init || global_init(3 /* CURL_GLOBAL_DEFAULT */) != 0) {
        fprintf(stderr, "tls_load: curl_global_init failed\n");
        return 1;
    }
    double end = now_ms();
    printf("crypto_ms=%.3f ssl_ms=%.3f curl_ms=%.3f global_init_ms=%.3f total_ms=%.3f\n",
           crypto - start, ssl - crypto, curl_loaded - ssl, end - curl_loaded, end - start);
    return 0;
}
