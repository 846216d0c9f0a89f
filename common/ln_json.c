/*  ln_json: see ln_json.h.

    Three parts: a strict JSON parser that builds json-c objects; the walk
    from a message to json-c objects (output); and the walk from json-c
    objects to protobuf wire bytes (input), which ln_pbcheck_unpack then
    decodes and checks.  All three are driven by descriptors only.

    Recursion: the parser recurses once per nested array or object and
    refuses to go deeper than max_depth; the encoder recurses only where the
    JSON does (a sub-message needs a nested object); the output walk
    recurses with the message types, which are not recursive on the wire
    (docs/architecture.md), and stops at OUTPUT_DEPTH_MAX anyway.
*/
#include "ln_json.h"
#include "ln_alloc.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/timestamp.pb-c.h"
#include "ln_utf8.h"

const ln_json_limits_t ln_json_default_limits = LN_JSON_LIMITS_DEFAULT;

#define OUTPUT_DEPTH_MAX 64
/* Keys are shown in error paths only when short and plain (see s_plain). */
#define PLAIN_KEY_MAX 40
/* RFC 3339 range that proto3 allows for Timestamp: 0001-01-01T00:00:00Z to
   9999-12-31T23:59:59.999999999Z. */
#define TS_SECONDS_MIN (-62135596800LL)
#define TS_SECONDS_MAX 253402300799LL

enum { WT_VARINT = 0, WT_64BIT = 1, WT_LEN = 2, WT_32BIT = 5 };

static void *
s_alloc (size_t size)
{
    void *p = malloc (size ? size : 1);
    if (!p)
        abort (); /* out of memory: no sane recovery (docs/architecture.md) */
    return p;
}

// --------------------------------------------------------------------------
// Error paths, built top-down as the walk descends

typedef struct {
    char buf[LN_ERROR_FIELD_MAX];
    size_t len;
} path_t;

static void
s_path_init (path_t *p, const char *prefix)
{
    p->len = 0;
    p->buf[0] = '\0';
    if (prefix && *prefix) {
        p->len = strnlen (prefix, sizeof p->buf - 1);
        memcpy (p->buf, prefix, p->len);
        p->buf[p->len] = '\0';
    }
}

/* Append text; a path longer than the buffer is cut at the end (its head
   says more than its tail).  Returns the length before, for s_path_pop. */
static size_t
s_path_append (path_t *p, const char *text, size_t n)
{
    size_t old = p->len;
    size_t room = sizeof p->buf - 1 - p->len;
    if (n > room)
        n = room;
    memcpy (p->buf + p->len, text, n);
    p->len += n;
    p->buf[p->len] = '\0';
    return old;
}

static void
s_path_pop (path_t *p, size_t old)
{
    p->len = old;
    p->buf[old] = '\0';
}

static bool
s_plain (const char *key, size_t len)
{
    if (len == 0 || len > PLAIN_KEY_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = key[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.' || c == ':' || c == '/'))
            return false;
    }
    return true;
}

/* ".name" (or "name" at the start); a name that is not plain shows as
   "[?]" so that hostile keys never reach an error message. */
static size_t
s_path_push_name (path_t *p, const char *name, size_t len)
{
    if (!s_plain (name, len))
        return s_path_append (p, "[?]", 3);
    size_t old = p->len;
    if (p->len > 0)
        s_path_append (p, ".", 1);
    s_path_append (p, name, len);
    return old;
}

static size_t
s_path_push_index (path_t *p, size_t index)
{
    char seg[32];
    int n = snprintf (seg, sizeof seg, "[%zu]", index);
    return s_path_append (p, seg, (size_t)n);
}

static size_t
s_path_push_key (path_t *p, const char *key, size_t len)
{
    char seg[PLAIN_KEY_MAX + 8];
    int n = s_plain (key, len) ? snprintf (seg, sizeof seg, "[\"%.*s\"]", (int)len, key)
                               : snprintf (seg, sizeof seg, "[?]");
    return s_path_append (p, seg, (size_t)n);
}

// --------------------------------------------------------------------------
// Parser: strict RFC 8259 into json-c objects

typedef struct {
    const char *s;
    size_t n, i;
    unsigned depth, max_depth;
    path_t path;
    ln_error_t *err;
} parser_t;

static int s_parse_value (parser_t *p, json_object **out);

static void s_parse_error (parser_t *p, const char *code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_parse_error (parser_t *p, const char *code, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (what, sizeof what, fmt, ap);
    va_end (ap);
    /* Line and column (1-based, in bytes) of where the parser stopped. */
    size_t line = 1, col = 1;
    for (size_t k = 0; k < p->i && k < p->n; k++) {
        if (p->s[k] == '\n') {
            line++;
            col = 1;
        }
        else
            col++;
    }
    ln_error_set (p->err, code, p->path.buf, "%s at line %zu column %zu", what, line, col);
}

static void
s_skip_ws (parser_t *p)
{
    while (p->i < p->n &&
           (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

static int
s_hex4 (parser_t *p, unsigned *value)
{
    if (p->n - p->i < 4) {
        s_parse_error (p, "JSON_SYNTAX", "truncated \\u escape");
        return -1;
    }
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        char c = p->s[p->i + (size_t)k];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else {
            s_parse_error (p, "JSON_SYNTAX", "bad \\u escape");
            return -1;
        }
        v = v * 16 + d;
    }
    p->i += 4;
    *value = v;
    return 0;
}

static size_t
s_put_utf8 (char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A string at p->s[p->i] == '"'.  The text was checked as UTF-8 as a
   whole, so bytes >= 0x80 are copied as they are.  *out is NUL-terminated
   and may hold NULs (from \u0000): *out_len says how long it is. */
static int
s_parse_string (parser_t *p, char **out, size_t *out_len)
{
    p->i++; /* the opening quote */
    /* Find the end first: the decoded string is never longer than the raw
       one, so one allocation of the raw length is enough. */
    size_t end = p->i;
    while (end < p->n && p->s[end] != '"') {
        if (p->s[end] == '\\' && end + 1 < p->n)
            end++;
        end++;
    }
    if (end >= p->n) {
        p->i = p->n;
        s_parse_error (p, "JSON_SYNTAX", "unterminated string");
        return -1;
    }
    char *buf = s_alloc (end - p->i + 1);
    size_t len = 0;
    while (p->i < end) {
        unsigned char c = (unsigned char)p->s[p->i];
        if (c < 0x20) {
            s_parse_error (p, "JSON_SYNTAX", "control character in a string (escape it)");
            goto fail;
        }
        if (c != '\\') {
            buf[len++] = (char)c;
            p->i++;
            continue;
        }
        p->i++;
        char e = p->s[p->i++];
        switch (e) {
        case '"':
        case '\\':
        case '/':
            buf[len++] = e;
            break;
        case 'b':
            buf[len++] = '\b';
            break;
        case 'f':
            buf[len++] = '\f';
            break;
        case 'n':
            buf[len++] = '\n';
            break;
        case 'r':
            buf[len++] = '\r';
            break;
        case 't':
            buf[len++] = '\t';
            break;
        case 'u': {
            unsigned cp, lo;
            if (s_hex4 (p, &cp) != 0)
                goto fail;
            if (cp >= 0xDC00 && cp <= 0xDFFF) {
                s_parse_error (p, "JSON_SYNTAX", "unpaired surrogate \\u%04X", cp);
                goto fail;
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (p->i + 2 > end || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u') {
                    s_parse_error (p, "JSON_SYNTAX", "unpaired surrogate \\u%04X", cp);
                    goto fail;
                }
                p->i += 2;
                if (s_hex4 (p, &lo) != 0)
                    goto fail;
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    s_parse_error (p, "JSON_SYNTAX", "unpaired surrogate \\u%04X", cp);
                    goto fail;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            len += s_put_utf8 (buf + len, cp);
            break;
        }
        default:
            p->i--;
            s_parse_error (p, "JSON_SYNTAX", "bad escape in a string");
            goto fail;
        }
    }
    p->i = end + 1;
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return 0;
fail:
    free (buf);
    return -1;
}

static bool
s_is_digit (char c)
{
    return c >= '0' && c <= '9';
}

static int
s_parse_number (parser_t *p, json_object **out)
{
    size_t start = p->i;
    bool integral = true;
    if (p->s[p->i] == '-')
        p->i++;
    if (p->i < p->n && p->s[p->i] == '0')
        p->i++;
    else if (p->i < p->n && s_is_digit (p->s[p->i]))
        while (p->i < p->n && s_is_digit (p->s[p->i]))
            p->i++;
    else {
        s_parse_error (p, "JSON_SYNTAX", "bad number");
        return -1;
    }
    if (p->i < p->n && p->s[p->i] == '.') {
        integral = false;
        p->i++;
        if (p->i >= p->n || !s_is_digit (p->s[p->i])) {
            s_parse_error (p, "JSON_SYNTAX", "bad number: digits expected after '.'");
            return -1;
        }
        while (p->i < p->n && s_is_digit (p->s[p->i]))
            p->i++;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        integral = false;
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-'))
            p->i++;
        if (p->i >= p->n || !s_is_digit (p->s[p->i])) {
            s_parse_error (p, "JSON_SYNTAX", "bad number: digits expected in the exponent");
            return -1;
        }
        while (p->i < p->n && s_is_digit (p->s[p->i]))
            p->i++;
    }
    size_t len = p->i - start;
    char *text = s_alloc (len + 1);
    memcpy (text, p->s + start, len);
    text[len] = '\0';
    /* Integers stay exact as long as they fit 64 bits; anything else is a
       double that keeps its text (json-c prints it back as written).  A
       double that is infinite (1e400) is refused later, by field, as
       JSON_RANGE. */
    if (integral && strcmp (text, "-0") == 0) {
        *out = json_object_new_double_s (-0.0, text); /* keep the sign for doubles */
        goto done;
    }
    if (integral) {
        errno = 0;
        long long v = strtoll (text, NULL, 10);
        if (errno == 0) {
            *out = json_object_new_int64 (v);
            goto done;
        }
        if (text[0] != '-') {
            errno = 0;
            unsigned long long u = strtoull (text, NULL, 10);
            if (errno == 0) {
                *out = json_object_new_uint64 (u);
                goto done;
            }
        }
    }
    *out = json_object_new_double_s (strtod (text, NULL), text);
done:
    free (text);
    if (!*out)
        abort ();
    return 0;
}

static int
s_parse_literal (parser_t *p, const char *word, json_object **out, json_object *value)
{
    size_t len = strlen (word);
    if (p->n - p->i < len || memcmp (p->s + p->i, word, len) != 0) {
        json_object_put (value);
        s_parse_error (p, "JSON_SYNTAX", "unexpected character");
        return -1;
    }
    p->i += len;
    *out = value;
    return 0;
}

static int
s_parse_array (parser_t *p, json_object **out)
{
    if (p->depth >= p->max_depth) {
        s_parse_error (p, "JSON_LIMIT", "nested deeper than %u", p->max_depth);
        return -1;
    }
    p->depth++;
    p->i++; /* [ */
    json_object *arr = json_object_new_array ();
    s_skip_ws (p);
    if (p->i < p->n && p->s[p->i] == ']') {
        p->i++;
        goto done;
    }
    for (size_t index = 0;; index++) {
        json_object *v = NULL;
        s_skip_ws (p);
        size_t old = s_path_push_index (&p->path, index);
        if (s_parse_value (p, &v) != 0)
            goto fail;
        s_path_pop (&p->path, old);
        if (json_object_array_add (arr, v) != 0)
            abort ();
        s_skip_ws (p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == ']') {
            p->i++;
            break;
        }
        s_parse_error (p, "JSON_SYNTAX", p->i < p->n ? "expected ',' or ']'" : "unexpected end");
        goto fail;
    }
done:
    p->depth--;
    *out = arr;
    return 0;
fail:
    json_object_put (arr);
    return -1;
}

static int
s_parse_object (parser_t *p, json_object **out)
{
    if (p->depth >= p->max_depth) {
        s_parse_error (p, "JSON_LIMIT", "nested deeper than %u", p->max_depth);
        return -1;
    }
    p->depth++;
    p->i++; /* { */
    json_object *obj = json_object_new_object ();
    char *key = NULL;
    s_skip_ws (p);
    if (p->i < p->n && p->s[p->i] == '}') {
        p->i++;
        goto done;
    }
    while (true) {
        size_t key_len;
        json_object *v = NULL;
        s_skip_ws (p);
        if (p->i >= p->n || p->s[p->i] != '"') {
            s_parse_error (p, "JSON_SYNTAX", "expected a \"key\"");
            goto fail;
        }
        size_t key_at = p->i;
        if (s_parse_string (p, &key, &key_len) != 0)
            goto fail;
        size_t old = s_path_push_name (&p->path, key, key_len);
        if (memchr (key, '\0', key_len)) {
            p->i = key_at;
            s_parse_error (p, "JSON_SYNTAX", "NUL in an object key");
            goto fail;
        }
        /* json-c would keep the last of two equal keys without a word: two
           readers of the same text could then disagree.  Refuse. */
        if (json_object_object_get_ex (obj, key, NULL)) {
            p->i = key_at;
            s_parse_error (p, "JSON_DUPLICATE_KEY", "key given twice");
            goto fail;
        }
        s_skip_ws (p);
        if (p->i >= p->n || p->s[p->i] != ':') {
            s_parse_error (p, "JSON_SYNTAX", "expected ':'");
            goto fail;
        }
        p->i++;
        s_skip_ws (p);
        if (s_parse_value (p, &v) != 0)
            goto fail;
        if (json_object_object_add (obj, key, v) != 0)
            abort ();
        s_path_pop (&p->path, old);
        free (key);
        key = NULL;
        s_skip_ws (p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == '}') {
            p->i++;
            break;
        }
        s_parse_error (p, "JSON_SYNTAX", p->i < p->n ? "expected ',' or '}'" : "unexpected end");
        goto fail;
    }
done:
    p->depth--;
    *out = obj;
    return 0;
fail:
    free (key);
    json_object_put (obj);
    return -1;
}

static int
s_parse_value (parser_t *p, json_object **out)
{
    *out = NULL;
    if (p->i >= p->n) {
        s_parse_error (p, "JSON_SYNTAX", "unexpected end");
        return -1;
    }
    char c = p->s[p->i];
    switch (c) {
    case '{':
        return s_parse_object (p, out);
    case '[':
        return s_parse_array (p, out);
    case '"': {
        char *str;
        size_t len;
        if (s_parse_string (p, &str, &len) != 0)
            return -1;
        *out = json_object_new_string_len (str, (int)len);
        free (str);
        if (!*out)
            abort ();
        return 0;
    }
    case 't':
        return s_parse_literal (p, "true", out, json_object_new_boolean (1));
    case 'f':
        return s_parse_literal (p, "false", out, json_object_new_boolean (0));
    case 'n':
        return s_parse_literal (p, "null", out, NULL);
    default:
        if (c == '-' || s_is_digit (c))
            return s_parse_number (p, out);
        s_parse_error (p, "JSON_SYNTAX", "unexpected character");
        return -1;
    }
}

json_object *
ln_json_parse (const char *text, size_t len, const ln_json_limits_t *limits, const char *prefix,
               ln_error_t *err)
{
    if (!limits)
        limits = &ln_json_default_limits;
    ln_error_clear (err);
    parser_t p = {
        .s = text, .n = len, .i = 0, .depth = 0, .max_depth = limits->max_depth, .err = err};
    s_path_init (&p.path, prefix);
    if (!text) {
        ln_error_set (err, "JSON_SYNTAX", p.path.buf, "no JSON text");
        return NULL;
    }
    if (len > limits->max_size) {
        ln_error_set (err, "JSON_LIMIT", p.path.buf, "JSON text of %zu bytes (limit %zu)", len,
                      limits->max_size);
        return NULL;
    }
    size_t bad;
    if (ln_utf8_check (text, len, LN_UTF8_ALLOW_CONTROLS, &bad) != 0) {
        p.i = bad;
        s_parse_error (&p, "JSON_SYNTAX", "not valid UTF-8 (byte %zu)", bad);
        return NULL;
    }
    json_object *value = NULL;
    s_skip_ws (&p);
    if (p.i >= p.n) {
        s_parse_error (&p, "JSON_SYNTAX", "no JSON value");
        return NULL;
    }
    if (s_parse_value (&p, &value) != 0)
        return NULL;
    s_skip_ws (&p);
    if (p.i < p.n) {
        json_object_put (value);
        s_parse_error (&p, "JSON_SYNTAX", "unexpected characters after the JSON value");
        return NULL;
    }
    return value;
}

// --------------------------------------------------------------------------
// Time (proleptic Gregorian calendar, H. Hinnant's civil date algorithms)

static int64_t
s_days_from_civil (int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void
s_civil_from_days (int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

int
ln_json_format_time (int64_t seconds, int32_t nanos, char *buf, size_t size)
{
    if (!buf || size == 0)
        return -1;
    buf[0] = '\0';
    if (seconds < TS_SECONDS_MIN || seconds > TS_SECONDS_MAX || nanos < 0 || nanos > 999999999)
        return -1;
    int64_t days = seconds >= 0 ? seconds / 86400 : -((-seconds + 86399) / 86400);
    int64_t rem = seconds - days * 86400;
    int64_t y;
    unsigned m, d;
    s_civil_from_days (days, &y, &m, &d);
    char frac[16] = "";
    if (nanos % 1000000 == 0 && nanos)
        snprintf (frac, sizeof frac, ".%03d", (int)(nanos / 1000000));
    else if (nanos % 1000 == 0 && nanos)
        snprintf (frac, sizeof frac, ".%06d", (int)(nanos / 1000));
    else if (nanos)
        snprintf (frac, sizeof frac, ".%09d", (int)nanos);
    int n = snprintf (buf, size, "%04d-%02u-%02uT%02d:%02d:%02d%sZ", (int)y, m, d,
                      (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), frac);
    if (n < 0 || (size_t)n >= size) {
        buf[0] = '\0';
        return -1;
    }
    return 0;
}

/* Read exactly `count` digits. */
static bool
s_digits (const char **s, int count, int *value)
{
    int v = 0;
    for (int k = 0; k < count; k++) {
        if (!s_is_digit ((*s)[k]))
            return false;
        v = v * 10 + ((*s)[k] - '0');
    }
    *s += count;
    *value = v;
    return true;
}

/* RFC 3339: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM).  Returns 0,
   -1 for a malformed text (JSON_TYPE), -2 out of range (JSON_RANGE). */
static int
s_parse_time (const char *s, size_t len, int64_t *seconds, int32_t *nanos)
{
    if (len > 64 || memchr (s, '\0', len))
        return -1;
    char text[72];
    memcpy (text, s, len);
    text[len] = '\0';
    const char *c = text;
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
    if (!s_digits (&c, 4, &y) || *c++ != '-' || !s_digits (&c, 2, &mo) || *c++ != '-' ||
        !s_digits (&c, 2, &d))
        return -1;
    if (*c != 'T' && *c != 't')
        return -1;
    c++;
    if (!s_digits (&c, 2, &h) || *c++ != ':' || !s_digits (&c, 2, &mi) || *c++ != ':' ||
        !s_digits (&c, 2, &sec))
        return -1;
    int32_t ns = 0;
    if (*c == '.') {
        c++;
        int digits = 0;
        while (s_is_digit (*c)) {
            if (digits == 9)
                return -1;
            ns = ns * 10 + (*c++ - '0');
            digits++;
        }
        if (digits == 0)
            return -1;
        for (; digits < 9; digits++)
            ns *= 10;
    }
    if (*c == 'Z' || *c == 'z')
        c++;
    else if (*c == '+' || *c == '-') {
        sign = *c++ == '+' ? 1 : -1;
        if (!s_digits (&c, 2, &oh) || *c++ != ':' || !s_digits (&c, 2, &om) || oh > 23 || om > 59)
            return -1;
    }
    else
        return -1;
    if (*c != '\0')
        return -1;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap) || h > 23 || mi > 59 ||
        sec > 59)
        return -1;
    int64_t t = s_days_from_civil (y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
                sec - (int64_t)sign * (oh * 3600 + om * 60);
    if (y == 0 || t < TS_SECONDS_MIN || t > TS_SECONDS_MAX)
        return -2;
    *seconds = t;
    *nanos = ns;
    return 0;
}

// --------------------------------------------------------------------------
// Message to JSON

static json_object *s_message_to_json (const ProtobufCMessage *msg, unsigned depth);

static json_object *
s_new_string_or_die (const char *s, size_t len)
{
    json_object *o = json_object_new_string_len (s, (int)len);
    if (!o)
        abort ();
    return o;
}

/* The shortest text that reads back as the same value. */
static json_object *
s_new_double (double d, bool is_float)
{
    if (isnan (d))
        return json_object_new_string ("NaN");
    if (isinf (d))
        return json_object_new_string (d > 0 ? "Infinity" : "-Infinity");
    char text[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf (text, sizeof text, "%.*g", prec, d);
        double back = strtod (text, NULL);
        if (is_float ? (float)back == (float)d : back == d)
            break;
    }
    return json_object_new_double_s (d, text);
}

static json_object *
s_base64 (const uint8_t *data, size_t len)
{
    size_t cap = sodium_base64_ENCODED_LEN (len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = s_alloc (cap);
    sodium_bin2base64 (b64, cap, data ? data : (const uint8_t *)"", len,
                       sodium_base64_VARIANT_ORIGINAL);
    json_object *o = json_object_new_string (b64);
    free (b64);
    return o;
}

/* One value of field f stored at `member` (a repeated field's element). */
static json_object *
s_value_to_json (const ProtobufCFieldDescriptor *f, const void *member, unsigned depth)
{
    char num[32];
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: {
        int32_t v;
        memcpy (&v, member, sizeof v);
        return json_object_new_int (v);
    }
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: {
        uint32_t v;
        memcpy (&v, member, sizeof v);
        return json_object_new_int64 (v);
    }
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: {
        int64_t v;
        memcpy (&v, member, sizeof v);
        snprintf (num, sizeof num, "%" PRId64, v);
        return json_object_new_string (num);
    }
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t v;
        memcpy (&v, member, sizeof v);
        snprintf (num, sizeof num, "%" PRIu64, v);
        return json_object_new_string (num);
    }
    case PROTOBUF_C_TYPE_FLOAT: {
        float v;
        memcpy (&v, member, sizeof v);
        return s_new_double (v, true);
    }
    case PROTOBUF_C_TYPE_DOUBLE: {
        double v;
        memcpy (&v, member, sizeof v);
        return s_new_double (v, false);
    }
    case PROTOBUF_C_TYPE_BOOL: {
        protobuf_c_boolean v;
        memcpy (&v, member, sizeof v);
        return json_object_new_boolean (v ? 1 : 0);
    }
    case PROTOBUF_C_TYPE_ENUM: {
        int v;
        memcpy (&v, member, sizeof v);
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value (f->descriptor, v);
        return ev ? json_object_new_string (ev->name) : json_object_new_int (v);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *v;
        memcpy (&v, member, sizeof v);
        return v ? s_new_string_or_die (v, strlen (v)) : s_new_string_or_die ("", 0);
    }
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData v;
        memcpy (&v, member, sizeof v);
        return s_base64 (v.data, v.len);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *v;
        memcpy (&v, member, sizeof v);
        return v ? s_message_to_json (v, depth + 1) : NULL;
    }
    }
    return NULL;
}

/* A map's key as the JSON object key: a string key itself (whole: one cut
   to a buffer could fall together with another key and replace its
   entry), any other written into buf. */
static const char *
s_map_key (const ProtobufCFieldDescriptor *kf, const void *member, char *buf, size_t size)
{
    buf[0] = '\0';
    json_object *k = NULL;
    if (kf->type == PROTOBUF_C_TYPE_STRING) {
        const char *v;
        memcpy (&v, member, sizeof v);
        return v ? v : "";
    }
    if (kf->type == PROTOBUF_C_TYPE_BOOL) {
        protobuf_c_boolean v;
        memcpy (&v, member, sizeof v);
        snprintf (buf, size, "%s", v ? "true" : "false");
        return buf;
    }
    k = s_value_to_json (kf, member, 0);
    if (k)
        snprintf (buf, size, "%s",
                  json_object_is_type (k, json_type_string) ? json_object_get_string (k)
                                                            : json_object_to_json_string (k));
    json_object_put (k);
    return buf;
}

static json_object *
s_timestamp_to_json (const ProtobufCMessage *msg)
{
    const Google__Protobuf__Timestamp *ts = (const Google__Protobuf__Timestamp *)msg;
    char text[LN_JSON_TIME_MAX];
    if (ln_json_format_time (ts->seconds, ts->nanos, text, sizeof text) != 0)
        return NULL;
    return json_object_new_string (text);
}

static json_object *
s_message_to_json (const ProtobufCMessage *msg, unsigned depth)
{
    if (!msg || depth > OUTPUT_DEPTH_MAX)
        return NULL;
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    if (desc == &google__protobuf__timestamp__descriptor) {
        json_object *t = s_timestamp_to_json (msg);
        if (t)
            return t;
        /* out of the RFC 3339 range: fall through to the plain form */
    }
    const char *base = (const char *)msg;
    json_object *obj = json_object_new_object ();
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        const void *member = base + f->offset;
        json_object *value = NULL;
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t which;
            memcpy (&which, base + f->quantifier_offset, sizeof which);
            if (which != f->id)
                continue;
            value = s_value_to_json (f, member, depth);
            if (!value && f->type != PROTOBUF_C_TYPE_MESSAGE)
                goto fail;
            json_object_object_add (obj, f->name, value);
            continue;
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n;
            const char *items;
            memcpy (&n, base + f->quantifier_offset, sizeof n);
            memcpy (&items, member, sizeof items);
            bool map = ln_pbcheck_is_map (f);
            value = map ? json_object_new_object () : json_object_new_array ();
            size_t step = ln_pbcheck_elem_size (f->type);
            for (size_t k = 0; k < n && items; k++) {
                if (map) {
                    const ProtobufCMessage *entry;
                    memcpy (&entry, items + k * sizeof entry, sizeof entry);
                    if (!entry)
                        continue;
                    const ProtobufCMessageDescriptor *ed = f->descriptor;
                    char buf[64]; /* a number or a boolean */
                    const char *key =
                        s_map_key (&ed->fields[0], (const char *)entry + ed->fields[0].offset, buf,
                                   sizeof buf);
                    json_object *v = s_value_to_json (
                        &ed->fields[1], (const char *)entry + ed->fields[1].offset, depth + 1);
                    json_object_object_add (value, key, v);
                    continue;
                }
                json_object *v = s_value_to_json (f, items + k * step, depth);
                json_object_array_add (value, v);
            }
            json_object_object_add (obj, f->name, value);
            continue;
        }
        if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            const ProtobufCMessage *sub;
            memcpy (&sub, member, sizeof sub);
            if (!sub)
                continue; /* unset sub-message: left out */
            value = s_message_to_json (sub, depth + 1);
            if (!value)
                goto fail;
            json_object_object_add (obj, f->name, value);
            continue;
        }
        /* proto3 "optional" (and proto2) scalars carry a has_ flag */
        if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
            f->type != PROTOBUF_C_TYPE_STRING) {
            protobuf_c_boolean has;
            memcpy (&has, base + f->quantifier_offset, sizeof has);
            if (!has)
                continue;
        }
        value = s_value_to_json (f, member, depth);
        if (!value)
            goto fail;
        json_object_object_add (obj, f->name, value);
    }
    return obj;
fail:
    json_object_put (obj);
    return NULL;
}

json_object *
ln_json_object_from_message (const ProtobufCMessage *msg)
{
    return s_message_to_json (msg, 0);
}

char *
ln_json_to_string (json_object *obj, bool pretty)
{
    if (!obj)
        return NULL;
    int flags =
        JSON_C_TO_STRING_NOSLASHESCAPE |
        (pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED : JSON_C_TO_STRING_PLAIN);
    size_t len = 0;
    const char *text = json_object_to_json_string_length (obj, flags, &len);
    if (!text)
        abort ();
    char *copy = s_alloc (len + 1);
    memcpy (copy, text, len);
    copy[len] = '\0';
    return copy;
}

char *
ln_json_from_message (const ProtobufCMessage *msg, bool pretty)
{
    json_object *obj = ln_json_object_from_message (msg);
    char *text = ln_json_to_string (obj, pretty);
    json_object_put (obj);
    return text;
}

// --------------------------------------------------------------------------
// JSON to protobuf wire bytes

typedef struct {
    uint8_t *data;
    size_t len, cap;
} buf_t;

static void
s_put (buf_t *b, const void *data, size_t n)
{
    if (n == 0)
        return;
    b->data = ln_xgrow (b->data, &b->cap, b->len + n, 1);
    memcpy (b->data + b->len, data, n);
    b->len += n;
}

static void
s_put_varint (buf_t *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (uint8_t)(v & 0x7F);
        v >>= 7;
        if (v)
            tmp[n] |= 0x80;
        n++;
    } while (v);
    s_put (b, tmp, n);
}

static void
s_put_fixed (buf_t *b, uint64_t v, size_t bytes)
{
    uint8_t tmp[8];
    for (size_t k = 0; k < bytes; k++)
        tmp[k] = (uint8_t)(v >> (8 * k));
    s_put (b, tmp, bytes);
}

static void
s_put_tag (buf_t *b, uint32_t id, int wire_type)
{
    s_put_varint (b, ((uint64_t)id << 3) | (uint64_t)wire_type);
}

static void
s_put_len (buf_t *b, const void *data, size_t n)
{
    s_put_varint (b, n);
    s_put (b, data, n);
}

typedef struct {
    path_t path;
    ln_error_t *err;
} enc_t;

static void s_enc_error (enc_t *e, const char *code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_enc_error (enc_t *e, const char *code, const char *fmt, ...)
{
    char what[LN_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (what, sizeof what, fmt, ap);
    va_end (ap);
    ln_error_set (e->err, code, e->path.buf, "%s", what);
}

static const char *
s_json_type_name (json_object *v)
{
    switch (json_object_get_type (v)) {
    case json_type_null:
        return "null";
    case json_type_boolean:
        return "a boolean";
    case json_type_double:
    case json_type_int:
        return "a number";
    case json_type_string:
        return "a string";
    case json_type_array:
        return "an array";
    case json_type_object:
        return "an object";
    }
    return "?";
}

/* An integer value: negative ones in s (neg), others in u. */
typedef struct {
    bool neg;
    int64_t s;
    uint64_t u;
} integer_t;

/* Read an integer from a JSON number or a string of decimal digits, and
   check it against [min, max] (min <= 0 given as int64, max as uint64). */
static int
s_get_integer (enc_t *e, json_object *v, int64_t min, uint64_t max, integer_t *out)
{
    integer_t x = {false, 0, 0};
    switch (json_object_get_type (v)) {
    case json_type_int: {
        int64_t s = json_object_get_int64 (v);
        if (s < 0) {
            x.neg = true;
            x.s = s;
        }
        else
            x.u = json_object_get_uint64 (v); /* exact also above INT64_MAX */
        break;
    }
    case json_type_double: {
        double d = json_object_get_double (v);
        if (!isfinite (d)) {
            s_enc_error (e, "JSON_RANGE", "number out of range");
            return -1;
        }
        if (d != floor (d)) {
            s_enc_error (e, "JSON_TYPE", "expected an integer, got a fraction");
            return -1;
        }
        if (d < 0) {
            if (d < -9223372036854775808.0) {
                s_enc_error (e, "JSON_RANGE", "number out of range");
                return -1;
            }
            x.neg = true;
            x.s = (int64_t)d;
        }
        else {
            if (d >= 18446744073709551616.0) {
                s_enc_error (e, "JSON_RANGE", "number out of range");
                return -1;
            }
            x.u = (uint64_t)d;
        }
        break;
    }
    case json_type_string: {
        const char *s = json_object_get_string (v);
        size_t len = (size_t)json_object_get_string_len (v);
        size_t k = s[0] == '-' ? 1 : 0;
        bool ok = len > k && len < 32;
        for (size_t j = k; ok && j < len; j++)
            ok = s_is_digit (s[j]);
        if (!ok) {
            s_enc_error (e, "JSON_TYPE", "expected an integer (a number or a string of digits)");
            return -1;
        }
        errno = 0;
        if (k) {
            long long n = strtoll (s, NULL, 10);
            x.neg = n < 0;
            x.s = n;
            x.u = 0;
        }
        else
            x.u = strtoull (s, NULL, 10);
        if (errno == ERANGE) {
            s_enc_error (e, "JSON_RANGE", "number out of range");
            return -1;
        }
        break;
    }
    default:
        s_enc_error (e, "JSON_TYPE", "expected an integer, got %s", s_json_type_name (v));
        return -1;
    }
    if ((x.neg && x.s < min) || (!x.neg && x.u > max)) {
        s_enc_error (e, "JSON_RANGE", "number out of range (%" PRId64 "..%" PRIu64 ")", min, max);
        return -1;
    }
    *out = x;
    return 0;
}

static int
s_get_double (enc_t *e, json_object *v, bool is_float, double *out)
{
    double d;
    if (json_object_is_type (v, json_type_string)) {
        const char *s = json_object_get_string (v);
        if (strcmp (s, "NaN") == 0)
            d = NAN;
        else if (strcmp (s, "Infinity") == 0)
            d = INFINITY;
        else if (strcmp (s, "-Infinity") == 0)
            d = -INFINITY;
        else {
            /* a number in a string: the JSON number grammar, nothing else */
            ln_error_t inner;
            json_object *n =
                ln_json_parse (s, (size_t)json_object_get_string_len (v), NULL, NULL, &inner);
            bool number = n && (json_object_is_type (n, json_type_double) ||
                                json_object_is_type (n, json_type_int));
            d = number ? json_object_get_double (n) : 0;
            json_object_put (n);
            if (!number) {
                s_enc_error (e, "JSON_TYPE", "expected a number");
                return -1;
            }
            if (!isfinite (d)) {
                s_enc_error (e, "JSON_RANGE", "number out of range");
                return -1;
            }
        }
    }
    else if (json_object_is_type (v, json_type_double) || json_object_is_type (v, json_type_int)) {
        d = json_object_get_double (v);
        if (!isfinite (d)) {
            s_enc_error (e, "JSON_RANGE", "number out of range");
            return -1;
        }
    }
    else {
        s_enc_error (e, "JSON_TYPE", "expected a number, got %s", s_json_type_name (v));
        return -1;
    }
    if (is_float && isfinite (d) && isinf ((float)d)) {
        s_enc_error (e, "JSON_RANGE", "number out of the range of a float");
        return -1;
    }
    *out = d;
    return 0;
}

static int s_enc_message (enc_t *e, const ProtobufCMessageDescriptor *desc, json_object *obj,
                          buf_t *out);

static int
s_enc_timestamp (enc_t *e, json_object *v, buf_t *out)
{
    int64_t seconds;
    int32_t nanos;
    if (!json_object_is_type (v, json_type_string)) {
        s_enc_error (e, "JSON_TYPE", "expected an RFC 3339 timestamp string, got %s",
                     s_json_type_name (v));
        return -1;
    }
    int rc = s_parse_time (json_object_get_string (v), (size_t)json_object_get_string_len (v),
                           &seconds, &nanos);
    if (rc == -1) {
        s_enc_error (e, "JSON_TYPE",
                     "expected an RFC 3339 timestamp (e.g. \"2024-05-01T10:00:00Z\")");
        return -1;
    }
    if (rc == -2) {
        s_enc_error (e, "JSON_RANGE", "timestamp outside 0001-01-01..9999-12-31");
        return -1;
    }
    if (seconds) {
        s_put_tag (out, 1, WT_VARINT);
        s_put_varint (out, (uint64_t)seconds);
    }
    if (nanos) {
        s_put_tag (out, 2, WT_VARINT);
        s_put_varint (out, (uint64_t)(int64_t)nanos);
    }
    return 0;
}

static int
s_enc_bytes (enc_t *e, json_object *v, buf_t *out)
{
    if (!json_object_is_type (v, json_type_string)) {
        s_enc_error (e, "JSON_TYPE", "expected a base64 string, got %s", s_json_type_name (v));
        return -1;
    }
    const char *s = json_object_get_string (v);
    size_t len = (size_t)json_object_get_string_len (v);
    bool url = strpbrk (s, "-_") != NULL;
    bool padded = len > 0 && s[len - 1] == '=';
    int variant =
        url ? (padded ? sodium_base64_VARIANT_URLSAFE : sodium_base64_VARIANT_URLSAFE_NO_PADDING)
            : (padded ? sodium_base64_VARIANT_ORIGINAL : sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    size_t cap = len / 4 * 3 + 3, bin_len = 0;
    uint8_t *bin = s_alloc (cap);
    const char *end = NULL;
    int rc = sodium_base642bin (bin, cap, s, len, NULL, &bin_len, &end, variant);
    if (rc != 0 || end != s + len) {
        free (bin);
        s_enc_error (e, "JSON_TYPE", "expected base64");
        return -1;
    }
    s_put_len (out, bin, bin_len);
    free (bin);
    return 0;
}

/* Encode one value of field f (without its tag; length-delimited types
   with their length). */
static int
s_enc_value (enc_t *e, const ProtobufCFieldDescriptor *f, json_object *v, buf_t *out)
{
    integer_t x;
    double d;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (s_get_integer (e, v, INT32_MIN, INT32_MAX, &x) != 0)
            return -1;
        {
            int32_t n = x.neg ? (int32_t)x.s : (int32_t)x.u;
            if (f->type == PROTOBUF_C_TYPE_INT32)
                s_put_varint (out, (uint64_t)(int64_t)n); /* negative: 10 bytes */
            else if (f->type == PROTOBUF_C_TYPE_SINT32)
                s_put_varint (out, ((uint32_t)n << 1) ^ (uint32_t)(n >> 31));
            else
                s_put_fixed (out, (uint32_t)n, 4);
        }
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (s_get_integer (e, v, 0, UINT32_MAX, &x) != 0)
            return -1;
        if (f->type == PROTOBUF_C_TYPE_UINT32)
            s_put_varint (out, x.u);
        else
            s_put_fixed (out, x.u, 4);
        return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (s_get_integer (e, v, INT64_MIN, INT64_MAX, &x) != 0)
            return -1;
        {
            int64_t n = x.neg ? x.s : (int64_t)x.u;
            if (f->type == PROTOBUF_C_TYPE_INT64)
                s_put_varint (out, (uint64_t)n);
            else if (f->type == PROTOBUF_C_TYPE_SINT64)
                s_put_varint (out, ((uint64_t)n << 1) ^ (uint64_t)(n >> 63));
            else
                s_put_fixed (out, (uint64_t)n, 8);
        }
        return 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (s_get_integer (e, v, 0, UINT64_MAX, &x) != 0)
            return -1;
        if (f->type == PROTOBUF_C_TYPE_UINT64)
            s_put_varint (out, x.u);
        else
            s_put_fixed (out, x.u, 8);
        return 0;
    case PROTOBUF_C_TYPE_FLOAT: {
        if (s_get_double (e, v, true, &d) != 0)
            return -1;
        float fl = (float)d;
        uint32_t bits;
        memcpy (&bits, &fl, sizeof bits);
        s_put_fixed (out, bits, 4);
        return 0;
    }
    case PROTOBUF_C_TYPE_DOUBLE: {
        if (s_get_double (e, v, false, &d) != 0)
            return -1;
        uint64_t bits;
        memcpy (&bits, &d, sizeof bits);
        s_put_fixed (out, bits, 8);
        return 0;
    }
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_object_is_type (v, json_type_boolean)) {
            s_enc_error (e, "JSON_TYPE", "expected true or false, got %s", s_json_type_name (v));
            return -1;
        }
        s_put_varint (out, json_object_get_boolean (v) ? 1 : 0);
        return 0;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        const ProtobufCEnumValue *ev = NULL;
        if (json_object_is_type (v, json_type_string)) {
            ev = protobuf_c_enum_descriptor_get_value_by_name (ed, json_object_get_string (v));
            if (!ev || (size_t)json_object_get_string_len (v) != strlen (ev->name)) {
                s_enc_error (e, "JSON_RANGE", "not a value of %s", ed->name);
                return -1;
            }
        }
        else if (json_object_is_type (v, json_type_int) ||
                 json_object_is_type (v, json_type_double)) {
            if (s_get_integer (e, v, INT32_MIN, INT32_MAX, &x) != 0)
                return -1;
            ev = protobuf_c_enum_descriptor_get_value (ed, x.neg ? (int)x.s : (int)x.u);
            if (!ev) {
                s_enc_error (e, "JSON_RANGE", "not a value of %s", ed->name);
                return -1;
            }
        }
        else {
            s_enc_error (e, "JSON_TYPE", "expected a value name of %s, got %s", ed->name,
                         s_json_type_name (v));
            return -1;
        }
        s_put_varint (out, (uint64_t)(int64_t)ev->value);
        return 0;
    }
    case PROTOBUF_C_TYPE_STRING:
        if (!json_object_is_type (v, json_type_string)) {
            s_enc_error (e, "JSON_TYPE", "expected a string, got %s", s_json_type_name (v));
            return -1;
        }
        /* with its length: a NUL inside is kept, and ln_pbcheck refuses it */
        s_put_len (out, json_object_get_string (v), (size_t)json_object_get_string_len (v));
        return 0;
    case PROTOBUF_C_TYPE_BYTES:
        return s_enc_bytes (e, v, out);
    case PROTOBUF_C_TYPE_MESSAGE: {
        buf_t sub = {NULL, 0, 0};
        int rc = s_enc_message (e, f->descriptor, v, &sub);
        if (rc == 0)
            s_put_len (out, sub.data, sub.len);
        free (sub.data);
        return rc;
    }
    }
    s_enc_error (e, "JSON_TYPE", "unsupported field type");
    return -1;
}

/* A map: a JSON object whose keys become the entries' keys. */
static int
s_enc_map (enc_t *e, const ProtobufCFieldDescriptor *f, json_object *v, buf_t *out)
{
    if (!json_object_is_type (v, json_type_object)) {
        s_enc_error (e, "JSON_TYPE", "expected an object (a map), got %s", s_json_type_name (v));
        return -1;
    }
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
    struct json_object_iterator it = json_object_iter_begin (v), end = json_object_iter_end (v);
    int rc = 0;
    while (rc == 0 && !json_object_iter_equal (&it, &end)) {
        const char *key = json_object_iter_peek_name (&it);
        json_object *value = json_object_iter_peek_value (&it);
        json_object_iter_next (&it);
        size_t old = s_path_push_key (&e->path, key, strlen (key));
        buf_t entry = {NULL, 0, 0};
        s_put_tag (&entry, 1, ln_pbcheck_wire_type (kf->type));
        if (kf->type == PROTOBUF_C_TYPE_BOOL) {
            bool t = strcmp (key, "true") == 0;
            if (!t && strcmp (key, "false") != 0) {
                s_enc_error (e, "JSON_TYPE", "expected a key \"true\" or \"false\"");
                rc = -1;
            }
            else
                s_put_varint (&entry, t ? 1 : 0);
        }
        else {
            json_object *k = s_new_string_or_die (key, strlen (key));
            rc = s_enc_value (e, kf, k, &entry);
            json_object_put (k);
        }
        if (rc == 0 && !value) {
            s_enc_error (e, "JSON_TYPE", "null is not a map value");
            rc = -1;
        }
        if (rc == 0) {
            s_put_tag (&entry, 2, ln_pbcheck_wire_type (vf->type));
            rc = s_enc_value (e, vf, value, &entry);
        }
        if (rc == 0) {
            s_put_tag (out, f->id, WT_LEN);
            s_put_len (out, entry.data, entry.len);
        }
        free (entry.data);
        if (rc == 0)
            s_path_pop (&e->path, old);
    }
    return rc;
}

static int
s_enc_repeated (enc_t *e, const ProtobufCFieldDescriptor *f, json_object *v, buf_t *out)
{
    if (!json_object_is_type (v, json_type_array)) {
        s_enc_error (e, "JSON_TYPE", "expected an array, got %s", s_json_type_name (v));
        return -1;
    }
    size_t n = json_object_array_length (v);
    int wt = ln_pbcheck_wire_type (f->type);
    bool packed = (f->flags & PROTOBUF_C_FIELD_FLAG_PACKED) && wt != WT_LEN;
    buf_t body = {NULL, 0, 0};
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < n; k++) {
        json_object *item = json_object_array_get_idx (v, k);
        size_t old = s_path_push_index (&e->path, k);
        if (!item) {
            s_enc_error (e, "JSON_TYPE", "null is not an array element");
            rc = -1;
            break;
        }
        if (!packed)
            s_put_tag (&body, f->id, wt);
        rc = s_enc_value (e, f, item, &body);
        if (rc == 0)
            s_path_pop (&e->path, old);
    }
    if (rc == 0 && packed && n > 0) {
        s_put_tag (out, f->id, WT_LEN);
        s_put_len (out, body.data, body.len);
    }
    else if (rc == 0)
        s_put (out, body.data, body.len);
    free (body.data);
    return rc;
}

/* The field a JSON key names: its .proto name or its JSON name. */
static const ProtobufCFieldDescriptor *
s_find_field (const ProtobufCMessageDescriptor *desc, const char *key)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name (desc, key);
    if (f)
        return f;
    char json_name[128];
    for (unsigned i = 0; i < desc->n_fields; i++)
        if (ln_json_name (desc->fields[i].name, json_name, sizeof json_name) == 0 &&
            strcmp (json_name, key) == 0)
            return &desc->fields[i];
    return NULL;
}

static int
s_enc_message (enc_t *e, const ProtobufCMessageDescriptor *desc, json_object *obj, buf_t *out)
{
    /* A Timestamp is a string, as a field or as the message itself; one
       outside RFC 3339's years is written as the plain message
       (s_message_to_json), so that is read as one */
    if (desc == &google__protobuf__timestamp__descriptor &&
        !json_object_is_type (obj, json_type_object))
        return s_enc_timestamp (e, obj, out);
    if (!json_object_is_type (obj, json_type_object)) {
        s_enc_error (e, "JSON_TYPE", "expected an object (%s), got %s", desc->name,
                     s_json_type_name (obj));
        return -1;
    }
    int rc = -1;
    /* given[i]: field i named at all; set[i]: with a value (not null) */
    bool *given = calloc (desc->n_fields + 1, sizeof *given);
    bool *set = calloc (desc->n_fields + 1, sizeof *set);
    if (!given || !set)
        abort ();
    struct json_object_iterator it = json_object_iter_begin (obj), end = json_object_iter_end (obj);
    while (!json_object_iter_equal (&it, &end)) {
        const char *key = json_object_iter_peek_name (&it);
        json_object *v = json_object_iter_peek_value (&it);
        json_object_iter_next (&it);
        const ProtobufCFieldDescriptor *f = s_find_field (desc, key);
        if (!f) {
            s_path_push_name (&e->path, key, strlen (key));
            if (s_plain (key, strlen (key)))
                s_enc_error (e, "JSON_UNKNOWN_FIELD", "unknown field \"%s\" in %s", key,
                             desc->name);
            else
                s_enc_error (e, "JSON_UNKNOWN_FIELD", "unknown field in %s", desc->name);
            goto out;
        }
        size_t idx = (size_t)(f - desc->fields);
        size_t old = s_path_push_name (&e->path, f->name, strlen (f->name));
        if (given[idx]) {
            s_enc_error (e, "JSON_DUPLICATE_KEY", "field given twice (by its two names)");
            goto out;
        }
        given[idx] = true;
        if (!v) {
            s_path_pop (&e->path, old);
            continue; /* null: the default */
        }
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
            for (unsigned j = 0; j < desc->n_fields; j++)
                if (set[j] && (desc->fields[j].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                    desc->fields[j].quantifier_offset == f->quantifier_offset) {
                    s_enc_error (e, "JSON_DUPLICATE_KEY",
                                 "\"%s\" and \"%s\" are members of one oneof: give only one",
                                 desc->fields[j].name, f->name);
                    goto out;
                }
        set[idx] = true;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            if (ln_pbcheck_is_map (f) ? s_enc_map (e, f, v, out) : s_enc_repeated (e, f, v, out))
                goto out;
        }
        else {
            s_put_tag (out, f->id, ln_pbcheck_wire_type (f->type));
            if (s_enc_value (e, f, v, out) != 0)
                goto out;
        }
        s_path_pop (&e->path, old);
    }
    rc = 0;
out:
    free (given);
    free (set);
    return rc;
}

ProtobufCMessage *
ln_json_object_to_message (const ProtobufCMessageDescriptor *desc, json_object *obj,
                           const ln_json_limits_t *limits, const char *prefix, ln_error_t *err)
{
    if (!limits)
        limits = &ln_json_default_limits;
    ln_error_clear (err);
    enc_t e = {.err = err};
    s_path_init (&e.path, prefix);
    if (!desc) {
        s_enc_error (&e, "JSON_TYPE", "no message type");
        return NULL;
    }
    buf_t wire = {NULL, 0, 0};
    ProtobufCMessage *msg = NULL;
    if (s_enc_message (&e, desc, obj, &wire) == 0) {
        static const uint8_t empty[1] = {0};
        msg = ln_pbcheck_unpack (desc, wire.data ? wire.data : empty, wire.len, &limits->pb, prefix,
                                 err);
    }
    free (wire.data);
    return msg;
}

ProtobufCMessage *
ln_json_to_message_with (const ProtobufCMessageDescriptor *desc, const char *json, size_t len,
                         const ln_json_limits_t *limits, const char *prefix, ln_error_t *err)
{
    ln_error_t local;
    json_object *obj = ln_json_parse (json, len, limits, prefix, &local);
    if (!obj) {
        if (!local.code) { /* a bare null */
            path_t p;
            s_path_init (&p, prefix);
            ln_error_set (&local, "JSON_TYPE", p.buf, "expected an object (%s), got null",
                          desc ? desc->name : "?");
        }
        if (err)
            *err = local;
        return NULL;
    }
    ProtobufCMessage *msg = ln_json_object_to_message (desc, obj, limits, prefix, err);
    json_object_put (obj);
    return msg;
}

ProtobufCMessage *
ln_json_to_message (const ProtobufCMessageDescriptor *desc, const char *json, ln_error_t *err)
{
    return ln_json_to_message_with (desc, json, json ? strlen (json) : 0, NULL, NULL, err);
}

int
ln_json_name (const char *field_name, char *buf, size_t size)
{
    size_t n = 0;
    bool upper = false;
    for (const char *c = field_name; *c; c++) {
        if (*c == '_') {
            upper = true;
            continue;
        }
        if (n + 1 >= size) {
            if (size)
                buf[0] = '\0';
            return -1;
        }
        char ch = *c;
        if (upper && ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 'a' + 'A');
        upper = false;
        buf[n++] = ch;
    }
    if (size == 0)
        return -1;
    buf[n] = '\0';
    return 0;
}
