/*  ln_log: levelled, structured (logfmt) logging to stderr.

    Every line is one logfmt record:

        ts=2026-11-29T10:33:44.123Z level=warn node=intake-venlo msg="zap refused" peer=127.0.0.1

    `node` is set once per process (ln_log_init), `cid` (correlation id: the
    signal or case a line concerns) per thread (ln_log_set_cid).  Fields are
    given as a printf-like format of `key=%spec` pairs; each value is quoted
    and escaped as logfmt requires, so a hostile value cannot forge fields or
    lines.  Supported conversions: %s %d %i %u %ld %lu %lld %llu %zu %zd %x %f %g.

    Secrets: no secret key can be printed through this module.  Whoever loads
    a secret registers its printable forms with ln_log_forbid(); every line is
    scrubbed of them before it is written, wherever they appear (message, key
    or value).  Values of keys whose name contains "secret", "password" or
    "passphrase" are always replaced by "[redacted]".
*/
#ifndef LN_LOG_H
#define LN_LOG_H

#include <stddef.h>
#include <stdio.h>

typedef enum {
    LN_LOG_DEBUG = 0,
    LN_LOG_INFO,
    LN_LOG_WARN,
    LN_LOG_ERROR,
} ln_log_level_t;

/* Set the node name and the lowest level that is written.  Safe to call
   again (tests do).  Before it is called, node is "-" and level is INFO. */
void ln_log_init (const char *node, ln_log_level_t min_level);

/* Parse "debug", "info", "warn", "error".  Returns 0 and sets *level, or -1. */
int ln_log_level_parse (const char *text, ln_log_level_t *level);

/* Correlation id for lines written by this thread; NULL clears it. */
void ln_log_set_cid (const char *cid);

/* Where lines go (default stderr).  For tests. */
void ln_log_set_output (FILE *out);

/* Register a secret's printable form (e.g. a Z85 or hex key): it is never
   written.  Copies the bytes.  Returns 0, or -1 when the table (64 entries)
   is full or len is 0.  ln_log_forget_all() empties it (for tests). */
int ln_log_forbid (const void *secret, size_t len);
void ln_log_forget_all (void);

/* "" is the documented way to say "no fields"; keep -Wformat's type checks
   for every other call without warning about that one. */
#pragma GCC diagnostic ignored "-Wformat-zero-length"

/* Write one record.  `fields` is a format of "key=%spec ..." pairs, or ""
   for none. */
void ln_log (ln_log_level_t level, const char *msg, const char *fields, ...)
    __attribute__ ((format (printf, 3, 4)));

#define ln_log_debug(msg, ...) ln_log (LN_LOG_DEBUG, (msg), __VA_ARGS__)
#define ln_log_info(msg, ...)  ln_log (LN_LOG_INFO, (msg), __VA_ARGS__)
#define ln_log_warn(msg, ...)  ln_log (LN_LOG_WARN, (msg), __VA_ARGS__)
#define ln_log_error(msg, ...) ln_log (LN_LOG_ERROR, (msg), __VA_ARGS__)

#endif
