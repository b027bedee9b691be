#include "sigv4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define ALGORITHM "AWS4-HMAC-SHA256"
#define MAX_EXPIRES 604800      /* seven days: the longest a presigned URL may live */
#define MAX_TIME 253402300799LL /* 9999-12-31T23:59:59Z: X-Amz-Date has four year digits */

/* A header or query parameter in canonical form. Offsets into signer->text while it grows,
 * pointers once it is complete; order keeps duplicates in their given order through qsort. */
struct sigv4_entry {
    size_t name_off, name_len, value_off, value_len, order;
    const char *name, *value;
};

struct url_parts {
    size_t base_len;  /* the URL up to its query or fragment */
    const char *host; /* host[:port] as the Host header carries it: no default port */
    size_t host_len;
    char host_with_port[300]; /* a port written with leading zeros is sent as a plain number */
    const char *path, *query;
    size_t path_len, query_len;
};

static bool fail(char *err, size_t errlen, const char *message)
{
    snprintf(err, errlen, "%s", message);
    return false;
}

static bool out_of_memory(char *err, size_t errlen)
{
    return fail(err, errlen, "out of memory while signing the request");
}

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* RFC 9110's token characters: what a method or a header name may be made of. */
static bool is_token(const char *s)
{
    if (!*s) return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!is_unreserved(c) && !strchr("!#$%&'*+^`|", c)) return false;
    }
    return true;
}

/* Region, service and access key id go into the credential scope, which '/', ',' and spaces
 * would break apart. */
static bool is_scope_part(const char *s)
{
    if (!*s) return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c == 0x7f || c == '/' || c == ',' || c == ';') return false;
    }
    return true;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool is_escape(const char *s, size_t n, size_t i)
{
    return s[i] == '%' && i + 2 < n && hex_value((unsigned char)s[i + 1]) >= 0 &&
           hex_value((unsigned char)s[i + 2]) >= 0;
}

static void put_escaped(char *out, size_t *len, unsigned char c)
{
    static const char digits[] = "0123456789ABCDEF";
    out[(*len)++] = '%';
    out[(*len)++] = digits[c >> 4];
    out[(*len)++] = digits[c & 0x0F];
}

enum encoding {
    ENCODE_QUERY,     /* decode %XX first, then encode every byte but the unreserved */
    ENCODE_PATH,      /* every byte but the unreserved and '/': a '%' becomes %25 */
    ENCODE_PATH_ONCE, /* S3: as ENCODE_PATH, but an existing %XX stays as it is */
    ENCODE_COMPONENT, /* every byte but the unreserved (values we add to a query) */
};

static bool append_encoded(struct buffer *b, const char *s, size_t n, enum encoding how)
{
    if (n > ((size_t)-1 - b->len) / 4 || !buffer_reserve(b, 3 * n)) return false;
    char *out = b->data;
    size_t len = b->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (how == ENCODE_QUERY && is_escape(s, n, i)) {
            c = (unsigned char)(hex_value((unsigned char)s[i + 1]) << 4 |
                                hex_value((unsigned char)s[i + 2]));
            i += 2;
        } else if (how == ENCODE_PATH_ONCE && is_escape(s, n, i)) {
            memcpy(out + len, s + i, 3);
            len += 3;
            i += 2;
            continue;
        }
        if (is_unreserved(c) || (c == '/' && how != ENCODE_QUERY && how != ENCODE_COMPONENT))
            out[len++] = (char)c;
        else
            put_escaped(out, &len, c);
    }
    b->len = len;
    return true;
}

static bool bad_url(const char *url, char *err, size_t errlen)
{
    snprintf(err, errlen, "'url' must be an absolute http or https URL, got '%.200s%s'", url,
             strlen(url) > 200 ? "..." : "");
    return false;
}

/* Splits scheme://host[:port]/path?query#fragment. The port is checked; the host is kept as
 * written, since the HTTP client sends it so. */
static bool parse_url(const char *url, struct url_parts *u, char *err, size_t errlen)
{
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return fail(err, errlen, "'url' must not contain control characters");
    const char *default_port;
    size_t scheme_len;
    if (strncasecmp(url, "https://", 8) == 0) {
        scheme_len = 8;
        default_port = "443";
    } else if (strncasecmp(url, "http://", 7) == 0) {
        scheme_len = 7;
        default_port = "80";
    } else {
        return bad_url(url, err, errlen);
    }
    const char *authority = url + scheme_len;
    size_t authority_len = strcspn(authority, "/?#");
    const char *end = authority + authority_len;
    if (authority_len == 0 || memchr(authority, '@', authority_len) ||
        memchr(authority, ' ', authority_len) || memchr(authority, '\\', authority_len))
        return bad_url(url, err, errlen);
    /* an IPv6 literal keeps its colons inside brackets */
    const char *host_end = authority;
    if (*authority == '[') {
        const char *close = memchr(authority, ']', authority_len);
        if (!close || close == authority + 1) return bad_url(url, err, errlen);
        host_end = close + 1;
    } else {
        while (host_end < end && *host_end != ':')
            host_end++;
    }
    u->host = authority;
    u->host_len = authority_len;
    if (host_end < end) {
        const char *port = host_end + 1;
        size_t digits = (size_t)(end - port);
        long number = 0;
        for (const char *p = port; p < end && digits <= 5; p++)
            number = *p >= '0' && *p <= '9' ? number * 10 + (*p - '0') : -1;
        if (*host_end != ':' || digits == 0 || digits > 5 || number < 1 || number > 65535) {
            snprintf(err, errlen,
                     "'url' must have a port from 1 to 65535 after the host, got '%.200s'", url);
            return false;
        }
        /* the HTTP client writes the port as a number ("08778" goes out as 8778, "0443" as
         * nothing), so the signature covers that form */
        u->host_len = (size_t)(host_end - authority);
        if (number != atol(default_port)) {
            int n = snprintf(u->host_with_port, sizeof u->host_with_port, "%.*s:%ld",
                             (int)u->host_len, authority, number);
            if (n < 0 || (size_t)n >= sizeof u->host_with_port)
                return fail(err, errlen, "'url' has a host name too long to sign");
            u->host = u->host_with_port;
            u->host_len = (size_t)n;
        }
    }
    if (host_end == authority) return bad_url(url, err, errlen);
    u->path = end;
    u->path_len = strcspn(end, "?#");
    u->base_len = (size_t)(end + u->path_len - url);
    u->query = u->path + u->path_len;
    u->query_len = 0;
    if (*u->query == '?') {
        u->query++;
        u->query_len = strcspn(u->query, "#");
    }
    return true;
}

/* RFC 3986's dot-segment removal, plus the removal of empty segments that AWS asks for; a
 * trailing slash stays when the path keeps any segment. */
static bool normalize_path(struct buffer *out, const char *path, size_t n)
{
    buffer_clear(out);
    if (!buffer_reserve(out, n + 2)) return false;
    for (size_t i = 0; i < n; i++) {
        size_t start = i;
        while (i < n && path[i] != '/')
            i++;
        size_t len = i - start;
        if (len == 0 || (len == 1 && path[start] == '.')) continue;
        if (len == 2 && path[start] == '.' && path[start + 1] == '.') {
            while (out->len > 0 && out->data[out->len - 1] != '/')
                out->len--;
            if (out->len > 0) out->len--;
            continue;
        }
        out->data[out->len++] = '/';
        memcpy(out->data + out->len, path + start, len);
        out->len += len;
    }
    if (out->len == 0 || path[n - 1] == '/') out->data[out->len++] = '/';
    return true;
}

static bool append_canonical_uri(struct sigv4_signer *s, const struct sigv4_request *req,
                                 const struct url_parts *u)
{
    const char *path = u->path_len ? u->path : "/";
    size_t n = u->path_len ? u->path_len : 1;
    if (req->normalize_path) {
        if (!normalize_path(&s->path, path, n)) return false;
        path = s->path.data;
        n = s->path.len;
    }
    /* S3 signs the path as it is sent; every other service encodes it once more */
    enum encoding how = strcmp(req->service, "s3") == 0 ? ENCODE_PATH_ONCE : ENCODE_PATH;
    return append_encoded(&s->canonical_request, path, n, how);
}

static struct sigv4_entry *new_entry(struct sigv4_signer *s, size_t count)
{
    if (count == s->entry_cap) {
        size_t cap = s->entry_cap ? 2 * s->entry_cap : 16;
        struct sigv4_entry *grown = realloc(s->entries, cap * sizeof *grown);
        if (!grown) return NULL;
        s->entries = grown;
        s->entry_cap = cap;
    }
    struct sigv4_entry *e = &s->entries[count];
    e->order = count;
    return e;
}

static void pin_entries(struct sigv4_signer *s, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        s->entries[i].name = s->text.data + s->entries[i].name_off;
        s->entries[i].value = s->text.data + s->entries[i].value_off;
    }
}

static int compare_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

/* Query parameters sort by name, then value. */
static int compare_params(const void *pa, const void *pb)
{
    const struct sigv4_entry *a = pa, *b = pb;
    int c = compare_bytes(a->name, a->name_len, b->name, b->name_len);
    return c ? c : compare_bytes(a->value, a->value_len, b->value, b->value_len);
}

/* Headers sort by name; duplicates keep their given order, since their values are joined. */
static int compare_headers(const void *pa, const void *pb)
{
    const struct sigv4_entry *a = pa, *b = pb;
    int c = compare_bytes(a->name, a->name_len, b->name, b->name_len);
    return c ? c : (a->order > b->order) - (a->order < b->order);
}

/* Adds the parameters of query (as sent: percent-escapes are decoded, then every byte is
 * encoded once, AWS's canonical form) to the entries from *count on. */
static bool add_query_params(struct sigv4_signer *s, const char *query, size_t n, size_t *count)
{
    for (size_t i = 0; i < n; i++) {
        size_t start = i;
        while (i < n && query[i] != '&')
            i++;
        if (i == start) continue; /* "a=1&&b=2" has no empty parameter */
        const char *eq = memchr(query + start, '=', i - start);
        size_t name_len = eq ? (size_t)(eq - (query + start)) : i - start;
        struct sigv4_entry *e = new_entry(s, *count);
        if (!e) return false;
        e->name_off = s->text.len;
        if (!append_encoded(&s->text, query + start, name_len, ENCODE_QUERY)) return false;
        e->name_len = s->text.len - e->name_off;
        e->value_off = s->text.len;
        if (eq && !append_encoded(&s->text, eq + 1, (size_t)(query + i - eq - 1), ENCODE_QUERY))
            return false;
        e->value_len = s->text.len - e->value_off;
        ++*count;
    }
    return true;
}

static bool append_canonical_query(struct sigv4_signer *s, const struct url_parts *u,
                                   const char *signing_params, size_t signing_len)
{
    buffer_clear(&s->text);
    size_t count = 0;
    if (!add_query_params(s, u->query, u->query_len, &count) ||
        !add_query_params(s, signing_params, signing_len, &count))
        return false;
    pin_entries(s, count);
    qsort(s->entries, count, sizeof *s->entries, compare_params);
    for (size_t i = 0; i < count; i++) {
        const struct sigv4_entry *e = &s->entries[i];
        if ((i > 0 && !buffer_append(&s->canonical_request, "&", 1)) ||
            !buffer_append(&s->canonical_request, e->name, e->name_len) ||
            !buffer_append(&s->canonical_request, "=", 1) ||
            !buffer_append(&s->canonical_request, e->value, e->value_len))
            return false;
    }
    return true;
}

/* Hop-by-hop headers and those a proxy or Lambda may rewrite are not signed (as the AWS SDKs
 * do): a signature over them would break in transit. */
static bool is_unsigned_header(const char *name, size_t n)
{
    static const char *const names[] = {"connection",
                                        "expect",
                                        "keep-alive",
                                        "proxy-authenticate",
                                        "proxy-authorization",
                                        "te",
                                        "trailer",
                                        "transfer-encoding",
                                        "upgrade",
                                        "user-agent",
                                        "x-amzn-trace-id"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strlen(names[i]) == n && memcmp(names[i], name, n) == 0) return true;
    return false;
}

/* Headers the signer sets itself: a caller's own copy would be signed twice. */
static bool is_signer_header(const char *name, size_t n, const struct sigv4_request *req)
{
#define IS(literal) (n == sizeof literal - 1 && memcmp(name, literal, n) == 0)
    bool header_mode = req->expires == 0;
    return IS("authorization") || (header_mode && IS("x-amz-date")) ||
           (header_mode && req->session_token && IS("x-amz-security-token")) ||
           (header_mode && req->content_sha256_header && IS("x-amz-content-sha256"));
#undef IS
}

/* The value with surrounding white space removed and inner runs of it (a folded multi-line
 * value's line breaks included) made one space. */
static bool append_trimmed(struct buffer *b, const char *value, size_t n)
{
    if (!buffer_reserve(b, n)) return false;
    size_t start = b->len;
    bool gap = false;
    for (size_t i = 0; i < n; i++) {
        if (is_space(value[i])) {
            gap = true;
            continue;
        }
        if (gap && b->len > start) b->data[b->len++] = ' ';
        gap = false;
        b->data[b->len++] = value[i];
    }
    return true;
}

static bool add_header(struct sigv4_signer *s, size_t *count, const char *name, size_t name_len,
                       const char *value, size_t value_len)
{
    struct sigv4_entry *e = new_entry(s, *count);
    if (!e) return false;
    e->name_off = s->text.len;
    e->name_len = name_len;
    if (!buffer_append(&s->text, name, name_len)) return false;
    e->value_off = s->text.len;
    if (!append_trimmed(&s->text, value, value_len)) return false;
    e->value_len = s->text.len - e->value_off;
    ++*count;
    return true;
}

/* Collects the caller's headers, lower-cased, with the ones the signer adds. */
static bool collect_headers(struct sigv4_signer *s, const struct sigv4_request *req,
                            const struct url_parts *u, size_t *count, char *err, size_t errlen)
{
    buffer_clear(&s->text);
    bool has_host = false;
    for (size_t i = 0; i < req->header_count; i++) {
        const char *name = req->headers[i].name;
        if (!is_token(name)) {
            snprintf(err, errlen, "header name '%.100s' is not a valid HTTP header name", name);
            return false;
        }
        size_t n = strlen(name);
        char lower[64]; /* names longer than this are neither unsigned nor the signer's */
        size_t check = n < sizeof lower ? n : 0;
        for (size_t j = 0; j < check; j++)
            lower[j] = (char)(name[j] >= 'A' && name[j] <= 'Z' ? name[j] + 32 : name[j]);
        if (check && (is_unsigned_header(lower, n) || is_signer_header(lower, n, req))) continue;
        size_t at = s->text.len;
        const char *value = req->headers[i].value;
        if (!add_header(s, count, name, n, value, strlen(value))) return out_of_memory(err, errlen);
        for (char *p = s->text.data + at; p < s->text.data + at + n; p++)
            if (*p >= 'A' && *p <= 'Z') *p = (char)(*p + 32);
        has_host = has_host || (n == 4 && memcmp(s->text.data + at, "host", 4) == 0);
    }
    bool header_mode = req->expires == 0;
    bool sign_token = req->session_token && !req->omit_session_token;
    if ((!has_host && !add_header(s, count, "host", 4, u->host, u->host_len)) ||
        (header_mode && !add_header(s, count, "x-amz-date", 10, s->amz_date, 16)) ||
        (header_mode && sign_token &&
         !add_header(s, count, "x-amz-security-token", 20, req->session_token,
                     strlen(req->session_token))) ||
        (header_mode && req->content_sha256_header &&
         !add_header(s, count, "x-amz-content-sha256", 20, s->payload_hash,
                     strlen(s->payload_hash))))
        return out_of_memory(err, errlen);
    return true;
}

/* Writes the canonical headers ("name:value\n", duplicates joined with ',') and the signed
 * header list ("a;b;c"). */
static bool canonicalize_headers(struct sigv4_signer *s, const struct sigv4_request *req,
                                 const struct url_parts *u, char *err, size_t errlen)
{
    size_t count = 0;
    if (!collect_headers(s, req, u, &count, err, errlen)) return false;
    pin_entries(s, count);
    qsort(s->entries, count, sizeof *s->entries, compare_headers);
    buffer_clear(&s->canonical_headers);
    buffer_clear(&s->signed_headers);
    for (size_t i = 0; i < count; i++) {
        const struct sigv4_entry *e = &s->entries[i];
        bool repeat = i > 0 && compare_bytes(e->name, e->name_len, e[-1].name, e[-1].name_len) == 0;
        bool ok = repeat ? buffer_append(&s->canonical_headers, ",", 1)
                         : (i == 0 || (buffer_append(&s->canonical_headers, "\n", 1) &&
                                       buffer_append(&s->signed_headers, ";", 1))) &&
                               buffer_append(&s->canonical_headers, e->name, e->name_len) &&
                               buffer_append(&s->canonical_headers, ":", 1) &&
                               buffer_append(&s->signed_headers, e->name, e->name_len);
        if (!ok || !buffer_append(&s->canonical_headers, e->value, e->value_len))
            return out_of_memory(err, errlen);
    }
    if (!buffer_append(&s->canonical_headers, "\n", 1)) return out_of_memory(err, errlen);
    return true;
}

static bool check_request(const struct sigv4_request *req, char *err, size_t errlen)
{
    if (!is_token(req->method))
        return fail(err, errlen, "'method' must be an HTTP method like GET or POST");
    if (!is_scope_part(req->access_key_id))
        return fail(err, errlen,
                    "'access_key_id' must be an access key id (no spaces, '/', ',' or ';')");
    if (!*req->secret_access_key) return fail(err, errlen, "'secret_access_key' is empty");
    if (!is_scope_part(req->region)) {
        snprintf(err, errlen, "'region' must be a region name like us-east-1, got '%.100s'",
                 req->region);
        return false;
    }
    if (!is_scope_part(req->service)) {
        snprintf(err, errlen, "'service' must be a signing name like sqs or s3, got '%.100s'",
                 req->service);
        return false;
    }
    if (req->payload_hash) {
        bool ok = *req->payload_hash != '\0';
        for (const char *p = req->payload_hash; *p; p++)
            ok = ok && (unsigned char)*p > ' ';
        if (!ok)
            return fail(err, errlen,
                        "'payload_hash' must be a hex SHA-256 or a value like UNSIGNED-PAYLOAD");
    }
    if (req->time < 0 || req->time > MAX_TIME)
        return fail(err, errlen, "'time' must be from 0 to 253402300799 seconds since the epoch");
    if (req->expires < 0 || req->expires > MAX_EXPIRES)
        return fail(err, errlen, "'presign' must be a number of seconds from 1 to 604800");
    return true;
}

/* Requests signed within one second share their date, formatted once. */
static bool format_amz_date(struct sigv4_signer *s, int64_t t)
{
    if (s->amz_date[0] && t == s->amz_date_time) return true;
    time_t seconds = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&seconds, &tm) || strftime(s->amz_date, 17, "%Y%m%dT%H%M%SZ", &tm) != 16) {
        s->amz_date[0] = '\0';
        return false;
    }
    s->amz_date_time = t;
    return true;
}

static bool hash_payload(struct sigv4_signer *s, const struct sigv4_request *req, char *err,
                         size_t errlen)
{
    if (req->payload_hash) {
        s->payload_hash = req->payload_hash;
        return true;
    }
    /* S3's rule: a caller's own x-amz-content-sha256 (UNSIGNED-PAYLOAD, a streaming marker) is
     * the payload hash the service checks the signature with */
    for (size_t i = 0; i < req->header_count; i++) {
        if (strcasecmp(req->headers[i].name, "x-amz-content-sha256") != 0) continue;
        const char *value = req->headers[i].value;
        bool ok = *value != '\0';
        for (const char *p = value; *p; p++)
            ok = ok && (unsigned char)*p > ' ';
        if (!ok)
            return fail(err, errlen,
                        "the x-amz-content-sha256 header must be a hex SHA-256 or "
                        "a value like UNSIGNED-PAYLOAD, without spaces");
        s->payload_hash = value;
        return true;
    }
    unsigned char digest[CRYPTO_SHA256_SIZE];
    if (!crypto_fast_sha256(req->body ? req->body : "", req->body_len, digest, err, errlen))
        return false;
    crypto_hex(digest, sizeof digest, s->body_hash);
    s->payload_hash = s->body_hash;
    return true;
}

static bool fits(const char *s, size_t size)
{
    return strlen(s) < size;
}

/* HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request"), kept for the
 * next requests with the same date, region, service and secret. */
static bool signing_key(struct sigv4_signer *s, const struct sigv4_request *req,
                        unsigned char key[CRYPTO_SHA256_SIZE], char *err, size_t errlen)
{
    const char *date = s->amz_date; /* its first 8 characters */
    for (size_t i = 0; i < SIGV4_KEY_CACHE_SIZE; i++) {
        const struct sigv4_cached_key *k = &s->keys[i];
        if (k->used && memcmp(k->date, date, 8) == 0 && strcmp(k->region, req->region) == 0 &&
            strcmp(k->service, req->service) == 0 &&
            strcmp(k->secret, req->secret_access_key) == 0) {
            memcpy(key, k->key, CRYPTO_SHA256_SIZE);
            return true;
        }
    }
    buffer_clear(&s->path);
    if (!buffer_append(&s->path, "AWS4", 4) ||
        !buffer_append(&s->path, req->secret_access_key, strlen(req->secret_access_key)))
        return out_of_memory(err, errlen);
    bool ok =
        crypto_fast_hmac_sha256(s->path.data, s->path.len, date, 8, key, err, errlen) &&
        crypto_fast_hmac_sha256(key, 32, req->region, strlen(req->region), key, err, errlen) &&
        crypto_fast_hmac_sha256(key, 32, req->service, strlen(req->service), key, err, errlen) &&
        crypto_fast_hmac_sha256(key, 32, "aws4_request", 12, key, err, errlen);
    explicit_bzero(s->path.data, s->path.len);
    if (!ok) return false;
    /* region, service and secret too long for a slot are simply not kept */
    struct sigv4_cached_key *k = &s->keys[s->next_key % SIGV4_KEY_CACHE_SIZE];
    if (fits(req->region, sizeof k->region) && fits(req->service, sizeof k->service) &&
        fits(req->secret_access_key, sizeof k->secret)) {
        s->next_key++;
        k->used = true;
        memcpy(k->date, date, 8);
        k->date[8] = '\0';
        strcpy(k->region, req->region);
        strcpy(k->service, req->service);
        strcpy(k->secret, req->secret_access_key);
        memcpy(k->key, key, CRYPTO_SHA256_SIZE);
    }
    return true;
}

static bool append_scope(struct buffer *b, const struct sigv4_signer *s,
                         const struct sigv4_request *req, enum encoding how)
{
    /* the date, region and service hold no byte that needs encoding but '/' */
    const char *slash = how == ENCODE_COMPONENT ? "%2F" : "/";
    return buffer_append(b, s->amz_date, 8) && buffer_append_str(b, slash) &&
           buffer_append_str(b, req->region) && buffer_append_str(b, slash) &&
           buffer_append_str(b, req->service) && buffer_append_str(b, slash) &&
           buffer_append_str(b, "aws4_request");
}

/* Query mode: the URL with the signing parameters after the caller's, X-Amz-Signature last.
 * Returns where the signing parameters start in s->url. */
static bool start_presigned_url(struct sigv4_signer *s, const struct sigv4_request *req,
                                const struct url_parts *u, size_t *params_at)
{
    struct buffer *b = &s->url;
    buffer_clear(b);
    char expires[24];
    snprintf(expires, sizeof expires, "%ld", req->expires);
    if (!buffer_append(b, req->url, u->base_len) || !buffer_append(b, "?", 1) ||
        !buffer_append(b, u->query, u->query_len) || (u->query_len && !buffer_append(b, "&", 1)))
        return false;
    *params_at = b->len;
    bool ok = buffer_append_str(b, "X-Amz-Algorithm=" ALGORITHM "&X-Amz-Credential=") &&
              append_encoded(b, req->access_key_id, strlen(req->access_key_id), ENCODE_COMPONENT) &&
              buffer_append_str(b, "%2F") && append_scope(b, s, req, ENCODE_COMPONENT) &&
              buffer_append_str(b, "&X-Amz-Date=") && buffer_append(b, s->amz_date, 16) &&
              buffer_append_str(b, "&X-Amz-Expires=") && buffer_append_str(b, expires) &&
              buffer_append_str(b, "&X-Amz-SignedHeaders=") &&
              append_encoded(b, s->signed_headers.data, s->signed_headers.len, ENCODE_COMPONENT);
    if (ok && req->session_token && !req->omit_session_token)
        ok = buffer_append_str(b, "&X-Amz-Security-Token=") &&
             append_encoded(b, req->session_token, strlen(req->session_token), ENCODE_COMPONENT);
    return ok;
}

static bool finish_presigned_url(struct sigv4_signer *s, const struct sigv4_request *req)
{
    struct buffer *b = &s->url;
    bool ok = true;
    if (req->session_token && req->omit_session_token)
        ok = buffer_append_str(b, "&X-Amz-Security-Token=") &&
             append_encoded(b, req->session_token, strlen(req->session_token), ENCODE_COMPONENT);
    return ok && buffer_append_str(b, "&X-Amz-Signature=") &&
           buffer_append(b, s->signature, 2 * CRYPTO_SHA256_SIZE);
}

static bool build_canonical_request(struct sigv4_signer *s, const struct sigv4_request *req,
                                    const struct url_parts *u)
{
    struct buffer *cr = &s->canonical_request;
    buffer_clear(cr);
    size_t params_at = 0;
    if (req->expires > 0 && !start_presigned_url(s, req, u, &params_at)) return false;
    const char *params = req->expires > 0 ? s->url.data + params_at : "";
    size_t params_len = req->expires > 0 ? s->url.len - params_at : 0;
    return buffer_append_str(cr, req->method) && buffer_append(cr, "\n", 1) &&
           append_canonical_uri(s, req, u) && buffer_append(cr, "\n", 1) &&
           append_canonical_query(s, u, params, params_len) && buffer_append(cr, "\n", 1) &&
           buffer_append(cr, s->canonical_headers.data, s->canonical_headers.len) &&
           buffer_append(cr, "\n", 1) &&
           buffer_append(cr, s->signed_headers.data, s->signed_headers.len) &&
           buffer_append(cr, "\n", 1) && buffer_append_str(cr, s->payload_hash);
}

static bool build_string_to_sign(struct sigv4_signer *s, const struct sigv4_request *req, char *err,
                                 size_t errlen)
{
    unsigned char digest[CRYPTO_SHA256_SIZE];
    char hex[2 * CRYPTO_SHA256_SIZE + 1];
    if (!crypto_fast_sha256(s->canonical_request.data, s->canonical_request.len, digest, err,
                            errlen))
        return false;
    crypto_hex(digest, sizeof digest, hex);
    struct buffer *b = &s->string_to_sign;
    buffer_clear(b);
    if (!buffer_append_str(b, ALGORITHM "\n") || !buffer_append(b, s->amz_date, 16) ||
        !buffer_append(b, "\n", 1) || !append_scope(b, s, req, ENCODE_PATH) ||
        !buffer_append(b, "\n", 1) || !buffer_append(b, hex, 2 * CRYPTO_SHA256_SIZE))
        return out_of_memory(err, errlen);
    return true;
}

static bool build_authorization(struct sigv4_signer *s, const struct sigv4_request *req)
{
    struct buffer *b = &s->authorization;
    buffer_clear(b);
    return buffer_append_str(b, ALGORITHM " Credential=") &&
           buffer_append_str(b, req->access_key_id) && buffer_append(b, "/", 1) &&
           append_scope(b, s, req, ENCODE_PATH) && buffer_append_str(b, ", SignedHeaders=") &&
           buffer_append(b, s->signed_headers.data, s->signed_headers.len) &&
           buffer_append_str(b, ", Signature=") &&
           buffer_append(b, s->signature, 2 * CRYPTO_SHA256_SIZE);
}

bool sigv4_sign(struct sigv4_signer *s, const struct sigv4_request *req, char *err, size_t errlen)
{
    struct url_parts u = {0}; /* parse_url fills it; zeroed so no compiler sees a gap */
    if (!check_request(req, err, errlen) || !parse_url(req->url, &u, err, errlen)) return false;
    if (!format_amz_date(s, req->time))
        return fail(err, errlen, "'time' cannot be written as a date");
    if (!hash_payload(s, req, err, errlen) || !canonicalize_headers(s, req, &u, err, errlen))
        return false;
    if (!build_canonical_request(s, req, &u)) return out_of_memory(err, errlen);
    if (!build_string_to_sign(s, req, err, errlen)) return false;
    unsigned char key[CRYPTO_SHA256_SIZE], signature[CRYPTO_SHA256_SIZE];
    if (!signing_key(s, req, key, err, errlen) ||
        !crypto_fast_hmac_sha256(key, sizeof key, s->string_to_sign.data, s->string_to_sign.len,
                                 signature, err, errlen))
        return false;
    explicit_bzero(key, sizeof key);
    crypto_hex(signature, sizeof signature, s->signature);
    bool ok = req->expires > 0 ? finish_presigned_url(s, req) : build_authorization(s, req);
    return ok || out_of_memory(err, errlen);
}

void sigv4_signer_free(struct sigv4_signer *s)
{
    struct buffer *buffers[] = {
        &s->canonical_request, &s->string_to_sign, &s->authorization, &s->url, &s->text, &s->path,
        &s->canonical_headers, &s->signed_headers};
    for (size_t i = 0; i < sizeof buffers / sizeof *buffers; i++)
        buffer_free(buffers[i]);
    free(s->entries);
    explicit_bzero(s->keys, sizeof s->keys);
    *s = (struct sigv4_signer){0};
}
