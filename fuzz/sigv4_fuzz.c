/* Fuzzes SigV4 canonicalisation. The input is split into a request:
 *
 *   byte 0          flags: 1 normalize_path, 2 content_sha256_header, 4 query mode (presigned),
 *                   8 a session token, 16 omit_session_token, 32 payload UNSIGNED-PAYLOAD
 *   lines (\n)      method, url, region, service, then "name:value" headers up to an empty line
 *   the rest        the body
 *
 * Signing must never crash or read out of bounds; a refusal must say why; a signature must be
 * the same from a warm signer (cached key, kept buffers) and a fresh one, and must be what the
 * specification's steps give when redone here with the plain HMAC. The canonical request must
 * have its query parameters sorted and encoded, its headers lowercase, sorted, unique and
 * listed in SignedHeaders. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "sigv4.h"

#define MAX_FUZZ_HEADERS 32

static void broken(const char *what, const struct sigv4_signer *s)
{
    fprintf(stderr, "sigv4_fuzz: %s\n", what);
    if (s && s->canonical_request.data)
        fprintf(stderr, "canonical request:\n%.*s\n", (int)s->canonical_request.len,
                s->canonical_request.data);
    abort();
}

/* The next piece up to '\n' (or the end) as a NUL-terminated copy; *at moves past it. NUL bytes
 * inside end the string early, as they would in C. */
static char *next_line(const uint8_t *data, size_t size, size_t *at)
{
    size_t start = *at, end = start;
    while (end < size && data[end] != '\n')
        end++;
    *at = end < size ? end + 1 : end;
    char *line = malloc(end - start + 1);
    if (!line) abort();
    memcpy(line, data + start, end - start);
    line[end - start] = '\0';
    return line;
}

static int compare_pieces(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

static bool is_hex_upper(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

/* name=value&... sorted by name then value, each byte unreserved or a %XX escape. */
static void check_query(const char *q, size_t n, const struct sigv4_signer *s)
{
    const char *prev_name = NULL, *prev_value = NULL;
    size_t prev_name_len = 0, prev_value_len = 0;
    for (size_t i = 0; i <= n;) {
        size_t start = i;
        while (i < n && q[i] != '&')
            i++;
        if (i == start) {
            if (n > 0) broken("an empty parameter in the canonical query", s);
            break;
        }
        const char *eq = memchr(q + start, '=', i - start);
        if (!eq) broken("a canonical query parameter without '='", s);
        const char *name = q + start, *value = eq + 1;
        size_t name_len = (size_t)(eq - name), value_len = (size_t)(q + i - value);
        for (const char *c = name; c < q + i; c++) {
            if (c == eq) continue;
            bool plain = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
                         (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.' ||
                         *c == '~';
            if (plain) continue;
            if (*c != '%' || q + i - c < 3 || !is_hex_upper(c[1]) || !is_hex_upper(c[2]))
                broken("a canonical query byte neither unreserved nor %XX", s);
            c += 2;
        }
        if (prev_name) {
            int order = compare_pieces(prev_name, prev_name_len, name, name_len);
            if (order > 0 ||
                (order == 0 && compare_pieces(prev_value, prev_value_len, value, value_len) > 0))
                broken("the canonical query is not sorted", s);
        }
        prev_name = name, prev_name_len = name_len, prev_value = value, prev_value_len = value_len;
        i++;
    }
}

/* Lines name:value up to the empty line; names lowercase, strictly ascending; their list is
 * the SignedHeaders line that follows. Returns where that line ends. */
static const char *check_headers(const char *h, const char *end, const struct sigv4_signer *s)
{
    char names[8192];
    size_t names_len = 0;
    bool truncated = false; /* more names than the check has room for: it is skipped */
    const char *prev = NULL;
    size_t prev_len = 0;
    while (h < end && *h != '\n') {
        const char *eol = memchr(h, '\n', (size_t)(end - h));
        const char *colon = eol ? memchr(h, ':', (size_t)(eol - h)) : NULL;
        if (!colon) broken("a canonical header line without ':'", s);
        size_t len = (size_t)(colon - h);
        if (len == 0) broken("an empty canonical header name", s);
        for (size_t i = 0; i < len; i++)
            if (h[i] >= 'A' && h[i] <= 'Z') broken("an uppercase canonical header name", s);
        if (prev && compare_pieces(prev, prev_len, h, len) >= 0)
            broken("canonical headers not sorted, or repeated", s);
        if (names_len + len + 1 >= sizeof names) {
            truncated = true;
        } else if (!truncated) {
            if (names_len) names[names_len++] = ';';
            memcpy(names + names_len, h, len);
            names_len += len;
        }
        prev = h, prev_len = len;
        h = eol + 1;
    }
    if (h >= end) broken("no empty line after the canonical headers", s);
    const char *signed_line = h + 1, *eol = memchr(signed_line, '\n', (size_t)(end - signed_line));
    if (!eol) broken("no SignedHeaders line", s);
    if (!truncated &&
        compare_pieces(names, names_len, signed_line, (size_t)(eol - signed_line)) != 0)
        broken("SignedHeaders is not the list of canonical header names", s);
    return eol + 1;
}

static void check_canonical_request(const struct sigv4_request *req, const struct sigv4_signer *s)
{
    const char *cr = s->canonical_request.data, *end = cr + s->canonical_request.len;
    const char *method_end = memchr(cr, '\n', (size_t)(end - cr));
    if (!method_end ||
        compare_pieces(cr, (size_t)(method_end - cr), req->method, strlen(req->method)) != 0)
        broken("the canonical request does not start with the method", s);
    const char *uri = method_end + 1, *uri_end = memchr(uri, '\n', (size_t)(end - uri));
    if (!uri_end || uri == uri_end || *uri != '/') broken("the canonical URI is not a path", s);
    const char *query = uri_end + 1, *query_end = memchr(query, '\n', (size_t)(end - query));
    if (!query_end) broken("no canonical query line", s);
    check_query(query, (size_t)(query_end - query), s);
    const char *hash = check_headers(query_end + 1, end, s);
    if (compare_pieces(hash, (size_t)(end - hash), s->payload_hash, strlen(s->payload_hash)) != 0)
        broken("the canonical request does not end with the payload hash", s);
}

/* The signature by the specification's steps, with the one-shot HMAC and no cache. */
static void check_signature(const struct sigv4_request *req, const struct sigv4_signer *s)
{
    char err[256], secret[300];
    unsigned char key[CRYPTO_SHA256_SIZE], digest[CRYPTO_SHA256_SIZE];
    int n = snprintf(secret, sizeof secret, "AWS4%s", req->secret_access_key);
    if (n < 0 || (size_t)n >= sizeof secret) return;
    if (!crypto_hmac_sha256(secret, (size_t)n, s->amz_date, 8, key, err, sizeof err) ||
        !crypto_hmac_sha256(key, 32, req->region, strlen(req->region), key, err, sizeof err) ||
        !crypto_hmac_sha256(key, 32, req->service, strlen(req->service), key, err, sizeof err) ||
        !crypto_hmac_sha256(key, 32, "aws4_request", 12, key, err, sizeof err) ||
        !crypto_hmac_sha256(key, 32, s->string_to_sign.data, s->string_to_sign.len, digest, err,
                            sizeof err))
        broken(err, s);
    char hex[2 * CRYPTO_SHA256_SIZE + 1];
    crypto_hex(digest, sizeof digest, hex);
    if (strcmp(hex, s->signature) != 0) broken("the signature is not HMAC(key, string to sign)", s);
    if (!crypto_sha256(s->canonical_request.data, s->canonical_request.len, digest, err,
                       sizeof err))
        broken(err, s);
    crypto_hex(digest, sizeof digest, hex);
    size_t sts_len = s->string_to_sign.len;
    if (sts_len < 64 || memcmp(s->string_to_sign.data + sts_len - 64, hex, 64) != 0)
        broken("the string to sign does not end with the canonical request's hash", s);
}

static bool same_buffer(const struct buffer *a, const struct buffer *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sigv4_signer warm; /* kept across inputs, as a client keeps its signer */
    if (size < 1) return 0;
    unsigned flags = data[0];
    size_t at = 1;
    char *method = next_line(data, size, &at), *url = next_line(data, size, &at);
    char *region = next_line(data, size, &at), *service = next_line(data, size, &at);
    struct sigv4_header headers[MAX_FUZZ_HEADERS];
    char *lines[MAX_FUZZ_HEADERS];
    size_t header_count = 0;
    while (at < size && header_count < MAX_FUZZ_HEADERS) {
        char *line = next_line(data, size, &at);
        if (!*line) {
            free(line);
            break;
        }
        char *colon = strchr(line, ':');
        if (colon) *colon = '\0';
        lines[header_count] = line;
        headers[header_count++] = (struct sigv4_header){line, colon ? colon + 1 : ""};
    }
    struct sigv4_request req = {
        .method = method,
        .url = url,
        .headers = headers,
        .header_count = header_count,
        .body = (const char *)data + at,
        .body_len = size - at,
        .payload_hash = flags & 32 ? "UNSIGNED-PAYLOAD" : NULL,
        .access_key_id = "AKIDEXAMPLE",
        .secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        .session_token = flags & 8 ? "IQoJb3JpZ2luX2VjE/token+with=odd&bytes" : NULL,
        .region = region,
        .service = service,
        .time = 1440938160,
        .normalize_path = flags & 1,
        .content_sha256_header = flags & 2,
        .expires = flags & 4 ? 300 : 0,
        .omit_session_token = flags & 16,
    };

    struct sigv4_signer fresh = {0};
    char err_warm[512] = "", err_fresh[512] = "";
    bool signed_warm = sigv4_sign(&warm, &req, err_warm, sizeof err_warm);
    bool signed_fresh = sigv4_sign(&fresh, &req, err_fresh, sizeof err_fresh);
    if (signed_warm != signed_fresh || strcmp(err_warm, err_fresh) != 0)
        broken("a warm signer and a fresh one disagree", &warm);
    if (!signed_warm && !*err_warm) broken("a refusal without a reason", NULL);
    if (signed_warm) {
        if (!same_buffer(&warm.canonical_request, &fresh.canonical_request) ||
            !same_buffer(&warm.string_to_sign, &fresh.string_to_sign) ||
            strcmp(warm.signature, fresh.signature) != 0 ||
            (req.expires ? !same_buffer(&warm.url, &fresh.url)
                         : !same_buffer(&warm.authorization, &fresh.authorization)))
            broken("signing the same request twice gives different results", &warm);
        check_canonical_request(&req, &warm);
        check_signature(&req, &warm);
    }
    sigv4_signer_free(&fresh);
    for (size_t i = 0; i < header_count; i++)
        free(lines[i]);
    free(method), free(url), free(region), free(service);
    return 0;
}
