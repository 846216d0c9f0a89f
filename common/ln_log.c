/*  ln_log: levelled logfmt logging; see ln_log.h for the contract.

    A record is built in a bounded stack buffer (longer records are cut and
    marked `truncated=true`), scrubbed of every forbidden secret, and written
    with one fwrite under a mutex so that lines of different threads never
    interleave.  The field format is interpreted here rather than handed to
    vsnprintf as a whole: each value must be quoted on its own, and walking
    a va_list piecewise through vsnprintf is not portable.
*/
#include "ln_log.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define LINE_MAX_BYTES  4096
#define VALUE_MAX_BYTES 1024
#define FORBID_MAX      64
#define FORBID_LEN_MAX  256
#define REDACTED        "[redacted]"

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static char s_node[64] = "-";
static ln_log_level_t s_min = LN_LOG_INFO;
static FILE *s_out = NULL; /* NULL means stderr */
static _Thread_local char s_cid[128];

typedef struct {
    size_t len;
    unsigned char bytes[FORBID_LEN_MAX];
} forbidden_t;
static forbidden_t s_forbidden[FORBID_MAX];
static size_t s_nforbidden = 0;

static const char *s_level_names[] = {"debug", "info", "warn", "error"};

void
ln_log_init (const char *node, ln_log_level_t min_level)
{
    pthread_mutex_lock (&s_lock);
    snprintf (s_node, sizeof s_node, "%s", node && *node ? node : "-");
    s_min = min_level;
    pthread_mutex_unlock (&s_lock);
}

int
ln_log_level_parse (const char *text, ln_log_level_t *level)
{
    for (int i = 0; text && i < 4; i++)
        if (strcmp (text, s_level_names[i]) == 0) {
            *level = (ln_log_level_t)i;
            return 0;
        }
    return -1;
}

void
ln_log_set_cid (const char *cid)
{
    snprintf (s_cid, sizeof s_cid, "%s", cid ? cid : "");
}

void
ln_log_set_output (FILE *out)
{
    pthread_mutex_lock (&s_lock);
    s_out = out;
    pthread_mutex_unlock (&s_lock);
}

int
ln_log_forbid (const void *secret, size_t len)
{
    int rc = -1;
    if (!secret || len == 0 || len > FORBID_LEN_MAX)
        return -1;
    pthread_mutex_lock (&s_lock);
    for (size_t i = 0; i < s_nforbidden; i++)
        if (s_forbidden[i].len == len && memcmp (s_forbidden[i].bytes, secret, len) == 0) {
            rc = 0; /* already known */
            goto out;
        }
    if (s_nforbidden < FORBID_MAX) {
        s_forbidden[s_nforbidden].len = len;
        memcpy (s_forbidden[s_nforbidden].bytes, secret, len);
        s_nforbidden++;
        rc = 0;
    }
out:
    pthread_mutex_unlock (&s_lock);
    return rc;
}

void
ln_log_forget_all (void)
{
    pthread_mutex_lock (&s_lock);
    memset (s_forbidden, 0, sizeof s_forbidden);
    s_nforbidden = 0;
    pthread_mutex_unlock (&s_lock);
}

/* A bounded output buffer: appends past the end are dropped and remembered. */
typedef struct {
    char data[LINE_MAX_BYTES];
    size_t len;
    bool truncated;
} line_t;

static void
s_put (line_t *line, const char *text, size_t len)
{
    /* keep 64 bytes for "\n" and the truncation marker */
    size_t room = sizeof line->data - 64 - line->len;
    if (len > room) {
        len = room;
        line->truncated = true;
    }
    memcpy (line->data + line->len, text, len);
    line->len += len;
}

static void
s_puts (line_t *line, const char *text)
{
    s_put (line, text, strlen (text));
}

/* logfmt value: bare if it is a simple token, else quoted with escapes.
   Control bytes are escaped so that no value can start a new line. */
static void
s_put_value (line_t *line, const char *value)
{
    bool bare = *value != '\0';
    for (const char *p = value; *p; p++)
        if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || (unsigned char)*p == 0x7f) {
            bare = false;
            break;
        }
    if (bare) {
        s_puts (line, value);
        return;
    }
    s_put (line, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            s_put (line, esc, 2);
        }
        else if (*p == '\n')
            s_put (line, "\\n", 2);
        else if (*p == '\t')
            s_put (line, "\\t", 2);
        else if (*p < 0x20 || *p == 0x7f) {
            snprintf (esc, sizeof esc, "\\x%02x", *p);
            s_puts (line, esc);
        }
        else
            s_put (line, (const char *)p, 1);
    }
    s_put (line, "\"", 1);
}

static bool
s_key_is_secret (const char *key, size_t len)
{
    static const char *words[] = {"secret", "password", "passphrase"};
    for (size_t w = 0; w < sizeof words / sizeof words[0]; w++) {
        size_t wl = strlen (words[w]);
        for (size_t i = 0; i + wl <= len; i++)
            if (strncasecmp (key + i, words[w], wl) == 0)
                return true;
    }
    return false;
}

/* Does text contain any forbidden string?  Caller holds s_lock. */
static bool
s_holds_secret (const char *text)
{
    size_t len = strlen (text);
    for (size_t i = 0; i < s_nforbidden; i++)
        if (memmem (text, len, s_forbidden[i].bytes, s_forbidden[i].len))
            return true;
    return false;
}

/* Format one conversion at *fmt_p (just past '%') into buf; advances *fmt_p. */
static void
s_format_one (const char **fmt_p, va_list *ap, char *buf, size_t size)
{
    const char *f = *fmt_p;
    char spec[16];
    size_t n = 0;
    spec[n++] = '%';
    /* length modifiers we accept: l, ll, z */
    while ((*f == 'l' || *f == 'z') && n < 4)
        spec[n++] = *f++;
    char conv = *f ? *f++ : '\0';
    spec[n++] = conv;
    spec[n] = '\0';
    *fmt_p = f;

    bool l = n == 3 && spec[1] == 'l';
    bool ll = n == 4 && spec[1] == 'l' && spec[2] == 'l';
    bool z = n == 3 && spec[1] == 'z';
    switch (conv) {
    case 's': {
        const char *s = n == 2 ? va_arg (*ap, const char *) : NULL;
        /* Check the whole argument, not only what fits: a secret cut in
           half by truncation would otherwise escape the line scrub. */
        snprintf (buf, size, "%s", !s ? "(null)" : s_holds_secret (s) ? REDACTED : s);
        break;
    }
    case 'd':
    case 'i':
        if (ll)
            snprintf (buf, size, "%lld", va_arg (*ap, long long));
        else if (l)
            snprintf (buf, size, "%ld", va_arg (*ap, long));
        else if (z)
            snprintf (buf, size, "%zd", va_arg (*ap, ssize_t));
        else
            snprintf (buf, size, "%d", va_arg (*ap, int));
        break;
    case 'u':
    case 'x':
        if (ll) {
            unsigned long long v = va_arg (*ap, unsigned long long);
            snprintf (buf, size, conv == 'u' ? "%llu" : "%llx", v);
        }
        else if (l) {
            unsigned long v = va_arg (*ap, unsigned long);
            snprintf (buf, size, conv == 'u' ? "%lu" : "%lx", v);
        }
        else if (z) {
            size_t v = va_arg (*ap, size_t);
            snprintf (buf, size, conv == 'u' ? "%zu" : "%zx", v);
        }
        else {
            unsigned v = va_arg (*ap, unsigned);
            snprintf (buf, size, conv == 'u' ? "%u" : "%x", v);
        }
        break;
    case 'f':
        snprintf (buf, size, "%f", va_arg (*ap, double));
        break;
    case 'g':
        snprintf (buf, size, "%g", va_arg (*ap, double));
        break;
    case '%':
        snprintf (buf, size, "%%");
        break;
    default:
        /* A conversion we do not know: we cannot know its argument's type,
           so we stop reading arguments rather than guess. */
        snprintf (buf, size, "?BADFORMAT");
        *fmt_p = f + strlen (f);
        break;
    }
}

/* Replace every occurrence of every forbidden byte string in the line. */
static void
s_scrub (line_t *line)
{
    for (size_t i = 0; i < s_nforbidden; i++) {
        const forbidden_t *fb = &s_forbidden[i];
        char *hit;
        size_t from = 0;
        while (from < line->len &&
               (hit = memmem (line->data + from, line->len - from, fb->bytes, fb->len))) {
            size_t at = (size_t)(hit - line->data);
            size_t rl = strlen (REDACTED);
            /* redacted text is never longer than a key form worth scrubbing
               (Z85 keys are 40 bytes); if it were, keep the line length */
            size_t put = rl <= fb->len ? rl : fb->len;
            memmove (line->data + at + put, line->data + at + fb->len, line->len - at - fb->len);
            memcpy (line->data + at, REDACTED, put);
            line->len -= fb->len - put;
            from = at + put;
        }
    }
}

void
ln_log (ln_log_level_t level, const char *msg, const char *fields, ...)
{
    if ((int)level < 0 || level > LN_LOG_ERROR)
        return;
    pthread_mutex_lock (&s_lock);
    bool wanted = level >= s_min;
    pthread_mutex_unlock (&s_lock);
    if (!wanted)
        return;

    line_t line;
    line.len = 0;
    line.truncated = false;
    /* One lock over the whole record: the forbidden table is read while
       formatting, and lines of different threads must not interleave. */
    pthread_mutex_lock (&s_lock);

    struct timeval tv;
    gettimeofday (&tv, NULL);
    struct tm tm;
    gmtime_r (&tv.tv_sec, &tm);
    char ts[96];
    snprintf (ts, sizeof ts, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
              tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
              (long)(tv.tv_usec / 1000));
    s_puts (&line, ts);
    s_puts (&line, " level=");
    s_puts (&line, s_level_names[level]);
    s_puts (&line, " node=");
    s_put_value (&line, s_node);
    if (s_cid[0]) {
        s_puts (&line, " cid=");
        s_put_value (&line, s_cid);
    }
    s_puts (&line, " msg=");
    s_put_value (&line, msg ? msg : "");

    va_list ap;
    va_start (ap, fields);
    const char *f = fields ? fields : "";
    while (*f) {
        while (*f == ' ')
            f++;
        if (!*f)
            break;
        /* key: up to '=' */
        const char *key = f;
        while (*f && *f != '=' && *f != ' ')
            f++;
        size_t keylen = (size_t)(f - key);
        s_put (&line, " ", 1);
        if (*f != '=') {
            /* bare word in the format: a programming error; show it */
            s_puts (&line, "badfield=");
            char word[128];
            snprintf (word, sizeof word, "%.*s", (int)(keylen < 100 ? keylen : 100), key);
            s_put_value (&line, word);
            continue;
        }
        f++; /* '=' */
        s_put (&line, key, keylen);
        s_put (&line, "=", 1);
        /* value: literal text and conversions up to the next space */
        char value[VALUE_MAX_BYTES];
        size_t vlen = 0;
        value[0] = '\0';
        while (*f && *f != ' ') {
            if (*f == '%') {
                f++;
                char piece[VALUE_MAX_BYTES];
                s_format_one (&f, &ap, piece, sizeof piece);
                size_t pl = strlen (piece);
                if (pl == sizeof piece - 1)
                    line.truncated = true; /* the argument filled the buffer */
                if (pl > sizeof value - 1 - vlen) {
                    pl = sizeof value - 1 - vlen;
                    line.truncated = true;
                }
                memcpy (value + vlen, piece, pl);
                vlen += pl;
            }
            else if (vlen < sizeof value - 1)
                value[vlen++] = *f++;
            else
                f++;
            value[vlen] = '\0';
        }
        s_put_value (&line, s_key_is_secret (key, keylen) ? REDACTED : value);
    }
    va_end (ap);

    if (line.truncated) {
        /* s_put keeps 64 bytes spare for this marker and the newline */
        memcpy (line.data + line.len, " truncated=true", 15);
        line.len += 15;
    }
    s_scrub (&line);
    line.data[line.len++] = '\n';
    FILE *out = s_out ? s_out : stderr;
    fwrite (line.data, 1, line.len, out);
    fflush (out);
    pthread_mutex_unlock (&s_lock);
}
