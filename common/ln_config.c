/*  ln_config: load and validate a libconfig file against a schema.
    See ln_config.h for the contract.

    Loading goes in five steps, each of which can refuse the file:
      1. the spec array is checked (a bad spec is a programming error, but it
         is reported as CONFIG_SPEC rather than crashing at some later getter);
      2. the file is read into memory by us, not by libconfig, so that its
         size is bounded, it must be a regular file, and we can refuse NUL
         bytes, @include, and an unterminated string or comment (which
         libconfig 1.5 takes as a silent end of file) before it sees them;
      3. libconfig parses the text (syntax errors);
      4. a small lexer walks the text again in lock-step with libconfig's
         tree, to find integer literals that libconfig 1.5 silently mangled:
         it reads an integer without an L suffix into a 32-bit int (so 2147483648
         becomes -2147483648 and 5000000000 becomes 705032704) and saturates
         64-bit ones.  Such settings are marked through libconfig's per-setting
         hook pointer and refused by step 5 when they are read as numbers;
      5. a depth-first walk in file order checks every setting against the
         specs and builds a view for each element of every list of groups.
    After that the libconfig tree is kept as the store that getters read.
*/
#include "ln_config.h"
#include "ln_alloc.h"
#include "ln_utf8.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Display paths carry element indexes ("a.[12].b"), so may be a little
   longer than spec paths; they are only ever truncated, never matched. */
#define S_DISPLAY_MAX 256
/* File name as shown in messages. */
#define S_SHOWN_MAX 256
/* Values quoted in messages are cut to this many bytes. */
#define S_QUOTE_MAX 40
/* The literal checker descends this deep; no spec path can be deeper
   (LN_CONFIG_PATH_MAX bytes hold at most 64 components), and settings below
   it are refused as unknown anyway. */
#define S_LEX_DEPTH_MAX 64

/* Hook markers set by the literal checker (step 4). */
static char s_needs_l;  /* fits in 64 bits, but was read as a 32-bit int */
static char s_overflow; /* does not fit in 64 bits at all */

/* The group lists directly inside one view, with a view per element. */
typedef struct {
    char *path; /* relative to the owning view */
    size_t count;
    ln_config_t **elems;
} s_list_t;

struct _ln_config_t {
    config_t *lc;                 /* root only: the parsed tree */
    char *file;                   /* root only: path as given */
    const ln_config_t *root;      /* self for the root */
    const config_setting_t *base; /* group the getters' paths start at */
    const ln_config_spec_t *specs;
    char *prefix; /* spec path of base: "" or "upstreams.[]" */
    bool is_view;
    s_list_t *lists;
    size_t nlists;
};

/* --- small helpers --------------------------------------------------------- */

static void s_misuse (const char *getter, const char *path, const char *why)
    __attribute__ ((noreturn));

static void
s_misuse (const char *getter, const char *path, const char *why)
{
    fprintf (stderr, "ln_config: %s (\"%s\"): %s\n", getter, path ? path : "(null)", why);
    abort ();
}

/* Copy for a one-line message: control characters become '?'. */
static void
s_sanitize (char *dst, size_t size, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < size; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    dst[i] = '\0';
}

/* A value as it may appear in a message: printable ASCII, cut short. */
static void
s_quote (char *dst, size_t size, const char *src)
{
    size_t i = 0, o = 0;
    for (; src[i] && o + 4 < size && i < S_QUOTE_MAX; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[o++] = (c < 0x20 || c > 0x7e || c == '"' || c == '\\') ? '?' : (char)c;
    }
    if (src[i] && o + 4 <= size) {
        memcpy (dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
}

/* Whether a setting's value must never appear in a message. */
static bool
s_is_secret (const char *path)
{
    static const char *const words[] = {"secret", "password", "passphrase"};
    for (size_t w = 0; w < sizeof words / sizeof words[0]; w++)
        if (strcasestr (path, words[w]))
            return true;
    return false;
}

/* Offset of the first byte that is not valid UTF-8 (ln_utf8; control
   characters are the operator's business in a config file), or len. */
static size_t
s_utf8_invalid_at (const unsigned char *s, size_t len)
{
    size_t bad = len;
    return ln_utf8_check (s, len, LN_UTF8_ALLOW_CONTROLS, &bad) == 0 ? len : bad;
}

/* dst = prefix "." name (or name when prefix is ""); -1 when it does not fit. */
static int
s_join (char *dst, size_t size, const char *prefix, const char *name)
{
    int n =
        *prefix ? snprintf (dst, size, "%s.%s", prefix, name) : snprintf (dst, size, "%s", name);
    return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

/* dst = path ".[" i "]" for messages, visibly cut short if it must be. */
static void
s_elem_path (char *dst, size_t size, const char *path, size_t i)
{
    int n = snprintf (dst, size, "%s.[%zu]", path, i);
    if (n < 0 || (size_t)n >= size)
        memcpy (dst + size - 4, "...", 4);
}

static const ln_config_spec_t *
s_find (const ln_config_spec_t *specs, const char *path)
{
    for (const ln_config_spec_t *s = specs; s->path; s++)
        if (strcmp (s->path, path) == 0)
            return s;
    return NULL;
}

/* Whether `path` is a direct member of `prefix` ("" is the top level). */
static bool
s_is_member_of (const char *path, const char *prefix)
{
    size_t plen = strlen (prefix);
    if (plen) {
        if (strncmp (path, prefix, plen) != 0 || path[plen] != '.')
            return false;
        path += plen + 1;
    }
    return strchr (path, '.') == NULL;
}

static const char *
s_last_component (const char *path)
{
    const char *dot = strrchr (path, '.');
    return dot ? dot + 1 : path;
}

static long long
s_max_or (long long max, long long dflt)
{
    return max ? max : dflt;
}

static bool
s_int_unbounded (const ln_config_spec_t *spec)
{
    return spec->min == 0 && spec->max == 0;
}

static bool
s_float_unbounded (const ln_config_spec_t *spec)
{
    return spec->fmin == 0 && spec->fmax == 0;
}

static int
s_enum_index (const ln_config_spec_t *spec, const char *value)
{
    for (int i = 0; spec->values && spec->values[i]; i++)
        if (strcmp (spec->values[i], value) == 0)
            return i;
    return -1;
}

/* "a, b, c" into dst, cut short if it must be. */
static void
s_enum_list (char *dst, size_t size, const ln_config_spec_t *spec)
{
    size_t o = 0;
    dst[0] = '\0';
    for (int i = 0; spec->values[i] && o < size; i++) {
        int n = snprintf (dst + o, size - o, "%s%s", i ? ", " : "", spec->values[i]);
        if (n < 0)
            break;
        o += (size_t)n;
    }
}

/* --- step 1: the spec ---------------------------------------------------- */

static int s_spec_fail (ln_error_t *err, const char *path, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_spec_fail (ln_error_t *err, const char *path, const char *fmt, ...)
{
    char problem[LN_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (problem, sizeof problem, fmt, ap);
    va_end (ap);
    ln_error_set (err, "CONFIG_SPEC", path, "spec: %s: %s", path, problem);
    return -1;
}

/* A spec path: components separated by '.', each a libconfig-style name
   [A-Za-z][A-Za-z0-9_-]* or "[]"; "[]" is never first nor last. */
static bool
s_path_valid (const char *path)
{
    const char *p = path;
    bool first = true;
    for (;;) {
        const char *dot = strchr (p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen (p);
        if (n == 2 && p[0] == '[' && p[1] == ']') {
            if (first || !dot)
                return false;
        }
        else {
            if (n == 0 || !isalpha ((unsigned char)p[0]))
                return false;
            for (size_t i = 1; i < n; i++)
                if (!isalnum ((unsigned char)p[i]) && p[i] != '_' && p[i] != '-')
                    return false;
        }
        if (!dot)
            return true;
        p = dot + 1;
        first = false;
    }
}

/* True when a setting is present whenever its enclosing list element (or
   the file) is: it and every enclosing group up to there are required. */
static bool
s_always_present (const ln_config_spec_t *specs, const char *path)
{
    char cur[LN_CONFIG_PATH_MAX + 1];
    snprintf (cur, sizeof cur, "%s", path);
    for (;;) {
        const ln_config_spec_t *spec = s_find (specs, cur);
        if (!spec || !spec->required)
            return false;
        char *dot = strrchr (cur, '.');
        if (!dot)
            return true;
        *dot = '\0';
        if (strcmp (s_last_component (cur), "[]") == 0)
            return true;
    }
}

static int
s_check_string_default (ln_error_t *err, const ln_config_spec_t *spec, long long min, long long max)
{
    size_t len = strlen (spec->default_str);
    if ((long long)len < min || (long long)len > max)
        return s_spec_fail (err, spec->path, "default_str is %zu bytes long, outside [%lld, %lld]",
                            len, min, max);
    if (s_utf8_invalid_at ((const unsigned char *)spec->default_str, len) != len)
        return s_spec_fail (err, spec->path, "default_str is not valid UTF-8");
    return 0;
}

static int
s_check_spec (const ln_config_spec_t *specs, const ln_config_spec_t *spec, ln_error_t *err)
{
    const char *path = spec->path;
    size_t len = strlen (path);
    if (len == 0 || len > LN_CONFIG_PATH_MAX)
        return s_spec_fail (err, path, "path must be 1 to %d bytes long", LN_CONFIG_PATH_MAX);
    if (!s_path_valid (path))
        return s_spec_fail (err, path,
                            "not a valid path (names [A-Za-z][A-Za-z0-9_-]* "
                            "and \"[]\" separated by dots)");
    for (const ln_config_spec_t *s = specs; s < spec; s++)
        if (strcmp (s->path, path) == 0)
            return s_spec_fail (err, path, "declared twice");

    /* The enclosing group or list of groups must be declared too. */
    const char *last = s_last_component (path);
    if (last != path) {
        char parent[LN_CONFIG_PATH_MAX + 1];
        snprintf (parent, sizeof parent, "%.*s", (int)(last - 1 - path), path);
        ln_config_type_t want = LN_CONFIG_GROUP;
        if (strcmp (s_last_component (parent), "[]") == 0) {
            parent[strlen (parent) - 3] = '\0';
            want = LN_CONFIG_GROUP_LIST;
        }
        const ln_config_spec_t *p = s_find (specs, parent);
        if (!p || p->type != want)
            return s_spec_fail (err, path, "%s is not declared as a %s", parent,
                                want == LN_CONFIG_GROUP ? "GROUP" : "GROUP_LIST");
    }

    bool needs_default = !s_always_present (specs, path);
    switch (spec->type) {
    case LN_CONFIG_STRING:
        if (spec->min < 0 || spec->max < 0 ||
            spec->min > s_max_or (spec->max, LN_CONFIG_STRING_MAX))
            return s_spec_fail (err, path, "bad length range [%lld, %lld]", spec->min, spec->max);
        if (spec->default_str &&
            s_check_string_default (err, spec, spec->min,
                                    s_max_or (spec->max, LN_CONFIG_STRING_MAX)) != 0)
            return -1;
        break;
    case LN_CONFIG_INT:
        if (spec->min > spec->max)
            return s_spec_fail (err, path, "min %lld is above max %lld", spec->min, spec->max);
        if (!s_int_unbounded (spec) &&
            (spec->default_int < spec->min || spec->default_int > spec->max))
            return s_spec_fail (err, path, "default_int %lld is outside [%lld, %lld]",
                                spec->default_int, spec->min, spec->max);
        break;
    case LN_CONFIG_FLOAT:
        if (!isfinite (spec->fmin) || !isfinite (spec->fmax) || spec->fmin > spec->fmax)
            return s_spec_fail (err, path, "bad range [%g, %g]", spec->fmin, spec->fmax);
        if (!isfinite (spec->default_float) ||
            (!s_float_unbounded (spec) &&
             (spec->default_float < spec->fmin || spec->default_float > spec->fmax)))
            return s_spec_fail (err, path, "default_float %g is outside [%g, %g]",
                                spec->default_float, spec->fmin, spec->fmax);
        break;
    case LN_CONFIG_STRING_LIST:
    case LN_CONFIG_GROUP_LIST:
        if (spec->min < 0 || spec->max < 0 || spec->min > s_max_or (spec->max, LN_CONFIG_LIST_MAX))
            return s_spec_fail (err, path, "bad count range [%lld, %lld]", spec->min, spec->max);
        break;
    case LN_CONFIG_LEVEL:
        if (spec->default_str && ln_level_parse (spec->default_str, NULL) != 0)
            return s_spec_fail (err, path, "default_str is not a level name");
        if (!spec->default_str && needs_default)
            return s_spec_fail (err, path, "may be absent, so it needs a default_str");
        break;
    case LN_CONFIG_ENUM:
        if (!spec->values || !spec->values[0])
            return s_spec_fail (err, path, "ENUM without values");
        if (spec->default_str && s_enum_index (spec, spec->default_str) < 0)
            return s_spec_fail (err, path, "default_str is not one of the values");
        if (!spec->default_str && needs_default)
            return s_spec_fail (err, path, "may be absent, so it needs a default_str");
        break;
    case LN_CONFIG_BOOL:
    case LN_CONFIG_GROUP:
        break;
    default:
        return s_spec_fail (err, path, "unknown type %d", (int)spec->type);
    }
    return 0;
}

static int
s_check_specs (const ln_config_spec_t *specs, ln_error_t *err)
{
    size_t n = 0;
    while (specs[n].path) {
        if (++n > LN_CONFIG_SPECS_MAX)
            return s_spec_fail (err, "(array)",
                                "more than %d entries (missing LN_CONFIG_SPEC_END?)",
                                LN_CONFIG_SPECS_MAX);
    }
    for (size_t i = 0; i < n; i++)
        if (s_check_spec (specs, &specs[i], err) != 0)
            return -1;
    return 0;
}

/* --- step 2: reading the file ------------------------------------------- */

static unsigned
s_line_at (const char *text, const char *at)
{
    unsigned line = 1;
    for (const char *p = text; p < at; p++)
        if (*p == '\n')
            line++;
    return line;
}

/* Read the whole file into a NUL-terminated buffer (*text_p, caller frees). */
static int
s_read_file (const char *path, const char *shown, char **text_p, ln_error_t *err)
{
    int rc = -1;
    int fd = -1;
    char *text = NULL;
    struct stat st;

    fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        ln_error_set (err, "CONFIG_IO", "", "%s: cannot open: %s", shown, strerror (errno));
        goto out;
    }
    if (fstat (fd, &st) != 0) {
        ln_error_set (err, "CONFIG_IO", "", "%s: cannot stat: %s", shown, strerror (errno));
        goto out;
    }
    /* Not a FIFO or device: those could feed us forever or block. */
    if (!S_ISREG (st.st_mode)) {
        ln_error_set (err, "CONFIG_IO", "", "%s: not a regular file", shown);
        goto out;
    }
    if (st.st_size > LN_CONFIG_FILE_MAX) {
        ln_error_set (err, "CONFIG_TOO_LARGE", "", "%s: file is larger than %d bytes", shown,
                      LN_CONFIG_FILE_MAX);
        goto out;
    }
    /* Read one byte more than stat promised, to notice a file that grows
       while we read it (it is being rewritten: refuse rather than guess). */
    size_t size = (size_t)st.st_size;
    text = ln_xcalloc (1, size + 2);
    size_t len = 0;
    while (len <= size) {
        ssize_t n = read (fd, text + len, size + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ln_error_set (err, "CONFIG_IO", "", "%s: cannot read: %s", shown, strerror (errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > size) {
        ln_error_set (err, "CONFIG_IO", "", "%s: file changed while being read", shown);
        goto out;
    }
    text[len] = '\0';
    /* libconfig reads a C string: a NUL would silently end the file. */
    const char *nul = memchr (text, '\0', len);
    if (nul) {
        ln_error_set (err, "CONFIG_SYNTAX", "", "%s:%u: NUL byte in file", shown,
                      s_line_at (text, nul));
        goto out;
    }
    /* libconfig 1.5 cannot turn @include off; refuse it before parsing so
       that no other file is ever opened.  (It recognises the directive only
       at the start of a line after blanks; we refuse a little more: such a
       line inside a multi-line string.) */
    for (const char *p = text; p; p = strchr (p, '\n')) {
        if (*p == '\n')
            p++;
        const char *q = p + strspn (p, " \t");
        if (strncmp (q, "@include", 8) == 0) {
            ln_error_set (err, "CONFIG_SYNTAX", "", "%s:%u: @include is not supported", shown,
                          s_line_at (text, q));
            goto out;
        }
    }
    *text_p = text;
    text = NULL;
    rc = 0;
out:
    if (fd >= 0)
        close (fd);
    free (text);
    return rc;
}

/* --- steps 2b and 4: a lexer for libconfig's syntax ----------------------- */

/* libconfig 1.5 has a second silent failure: an unterminated string or block
   comment ends the file without an error, so every setting after it is
   ignored.  The same lexer that checks integer literals (step 4) is run over
   the text before libconfig sees it, to refuse those (S_TOK_BAD). */
typedef enum { S_TOK_EOF, S_TOK_PUNCT, S_TOK_STRING, S_TOK_WORD, S_TOK_BAD } s_tok_kind_t;

typedef struct {
    s_tok_kind_t kind;
    const char *s;
    size_t len;
    unsigned line;
    const char *bad; /* S_TOK_BAD: what is wrong */
} s_tok_t;

typedef struct {
    const char *p;
    const char *end;
    unsigned line;
    s_tok_t tok; /* current token */
} s_lex_t;

static bool
s_is_punct (char c)
{
    return c && strchr ("=:;,{}[]()", c) != NULL;
}

/* Next token into lx->tok.  This lexer only has to split the text the way
   libconfig does (comments, strings, punctuation, words); the grammar is
   libconfig's business.  The text is NUL-terminated at lx->end, so p[1] is
   always readable when p < end. */
static void
s_lex_next (s_lex_t *lx)
{
    const char *p = lx->p, *end = lx->end;
    s_tok_t *t = &lx->tok;
    for (;;) {
        while (p < end && isspace ((unsigned char)*p)) {
            if (*p == '\n')
                lx->line++;
            p++;
        }
        if (p < end && (*p == '#' || (p[0] == '/' && p[1] == '/'))) {
            while (p < end && *p != '\n')
                p++;
        }
        else if (p < end && p[0] == '/' && p[1] == '*') {
            unsigned start = lx->line;
            for (p += 2; p < end && !(p[0] == '*' && p[1] == '/'); p++)
                if (*p == '\n')
                    lx->line++;
            if (p >= end) {
                t->kind = S_TOK_BAD;
                t->line = start;
                t->bad = "unterminated comment";
                lx->p = end;
                return;
            }
            p += 2;
        }
        else
            break;
    }
    t->s = p;
    t->line = lx->line;
    if (p >= end)
        t->kind = S_TOK_EOF;
    else if (s_is_punct (*p)) {
        t->kind = S_TOK_PUNCT;
        p++;
    }
    else if (*p == '"') {
        t->kind = S_TOK_STRING;
        for (p++; p < end && *p != '"'; p++) {
            if (*p == '\\' && p + 1 < end)
                p++;
            if (*p == '\n')
                lx->line++;
        }
        if (p >= end) {
            t->kind = S_TOK_BAD;
            t->bad = "unterminated string";
        }
        else
            p++;
    }
    else {
        t->kind = S_TOK_WORD;
        while (p < end && !isspace ((unsigned char)*p) && !s_is_punct (*p) && *p != '"' &&
               *p != '#' && !(p[0] == '/' && (p[1] == '/' || p[1] == '*')))
            p++;
    }
    t->len = (size_t)(p - t->s);
    lx->p = p;
}

/* Step 2b: refuse what libconfig would silently cut short. */
static int
s_check_tokens (const char *text, size_t len, const char *shown, ln_error_t *err)
{
    s_lex_t lx = {.p = text, .end = text + len, .line = 1};
    do {
        s_lex_next (&lx);
        if (lx.tok.kind == S_TOK_BAD) {
            ln_error_set (err, "CONFIG_SYNTAX", "", "%s:%u: %s", shown, lx.tok.line, lx.tok.bad);
            return -1;
        }
    } while (lx.tok.kind != S_TOK_EOF);
    return 0;
}

/* --- step 4: integer literals that libconfig 1.5 mangled ------------------ */

static bool
s_tok_is (const s_lex_t *lx, char punct)
{
    return lx->tok.kind == S_TOK_PUNCT && lx->tok.s[0] == punct;
}

/* Compare an integer literal with what libconfig stored for it. */
static void
s_lex_check_integer (const s_tok_t *t, config_setting_t *s)
{
    int type = config_setting_type (s);
    if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
        return; /* floats and booleans are read faithfully */

    char buf[72];
    if (t->len >= sizeof buf) {
        /* Even with leading zeros, nobody writes an integer this long. */
        config_setting_set_hook (s, &s_overflow);
        return;
    }
    memcpy (buf, t->s, t->len);
    size_t len = t->len;
    while (len > 0 && buf[len - 1] == 'L')
        len--;
    buf[len] = '\0';

    const char *q = buf;
    bool neg = false;
    if (*q == '+' || *q == '-')
        neg = *q++ == '-';
    int base = 10;
    if (q[0] == '0' && (q[1] == 'x' || q[1] == 'X')) {
        base = 16;
        q += 2;
    }
    if (!isxdigit ((unsigned char)*q)) {
        config_setting_set_hook (s, &s_overflow);
        return;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long mag = strtoull (q, &end, base);
    unsigned long long limit =
        neg ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX;
    if (errno == ERANGE || *end != '\0' || mag > limit) {
        config_setting_set_hook (s, &s_overflow);
        return;
    }
    long long exact = neg ? (mag == limit ? LLONG_MIN : -(long long)mag) : (long long)mag;
    if (config_setting_get_int64 (s) != exact)
        config_setting_set_hook (s, &s_needs_l);
}

/* Skip one nested value without checking it (deeper than any spec). */
static int
s_lex_skip (s_lex_t *lx)
{
    size_t depth = 0;
    do {
        if (lx->tok.kind == S_TOK_EOF)
            return -1;
        if (s_tok_is (lx, '{') || s_tok_is (lx, '[') || s_tok_is (lx, '('))
            depth++;
        else if (s_tok_is (lx, '}') || s_tok_is (lx, ']') || s_tok_is (lx, ')'))
            depth--;
        s_lex_next (lx);
    } while (depth > 0);
    return 0;
}

static int s_lex_value (s_lex_t *lx, config_setting_t *s, int depth);

/* Members of a group, up to `close` (0: end of file, for the root). */
static int
s_lex_members (s_lex_t *lx, config_setting_t *group, char close, int depth)
{
    for (;;) {
        if (lx->tok.kind == S_TOK_EOF)
            return close ? -1 : 0;
        if (close && s_tok_is (lx, close)) {
            s_lex_next (lx);
            return 0;
        }
        if (s_tok_is (lx, ';') || s_tok_is (lx, ',')) {
            s_lex_next (lx);
            continue;
        }
        if (lx->tok.kind != S_TOK_WORD)
            return -1;
        char *name = strndup (lx->tok.s, lx->tok.len);
        if (!name)
            abort ();
        config_setting_t *member = config_setting_get_member (group, name);
        free (name);
        if (!member)
            return -1;
        s_lex_next (lx);
        if (!s_tok_is (lx, '=') && !s_tok_is (lx, ':'))
            return -1;
        s_lex_next (lx);
        if (s_lex_value (lx, member, depth + 1) != 0)
            return -1;
    }
}

/* Elements of an array or list, up to `close`. */
static int
s_lex_elements (s_lex_t *lx, config_setting_t *list, char close, int depth)
{
    unsigned index = 0;
    for (;;) {
        if (lx->tok.kind == S_TOK_EOF)
            return -1;
        if (s_tok_is (lx, close)) {
            s_lex_next (lx);
            return 0;
        }
        if (s_tok_is (lx, ',')) {
            s_lex_next (lx);
            continue;
        }
        config_setting_t *elem = config_setting_get_elem (list, index++);
        if (!elem)
            return -1;
        if (s_lex_value (lx, elem, depth + 1) != 0)
            return -1;
    }
}

static int
s_lex_value (s_lex_t *lx, config_setting_t *s, int depth)
{
    bool open = s_tok_is (lx, '{') || s_tok_is (lx, '[') || s_tok_is (lx, '(');
    if (open && depth > S_LEX_DEPTH_MAX)
        return s_lex_skip (lx);
    if (s_tok_is (lx, '{')) {
        s_lex_next (lx);
        return s_lex_members (lx, s, '}', depth);
    }
    if (s_tok_is (lx, '[') || s_tok_is (lx, '(')) {
        char close = s_tok_is (lx, '[') ? ']' : ')';
        s_lex_next (lx);
        return s_lex_elements (lx, s, close, depth);
    }
    if (lx->tok.kind == S_TOK_STRING) {
        /* Adjacent strings are one value: "a" "b" is "ab". */
        while (lx->tok.kind == S_TOK_STRING)
            s_lex_next (lx);
        return 0;
    }
    if (lx->tok.kind == S_TOK_WORD) {
        s_lex_check_integer (&lx->tok, s);
        s_lex_next (lx);
        return 0;
    }
    return -1;
}

static int
s_check_literals (const char *text, config_setting_t *root, const char *shown, ln_error_t *err)
{
    s_lex_t lx = {.p = text, .end = text + strlen (text), .line = 1};
    s_lex_next (&lx);
    if (s_lex_members (&lx, root, 0, 0) != 0) {
        /* Our lexer and libconfig disagree about the text: refuse it rather
           than trust numbers we could not check. */
        ln_error_set (err, "CONFIG_SYNTAX", "", "%s:%u: cannot be read reliably here", shown,
                      lx.tok.line);
        return -1;
    }
    return 0;
}

/* --- step 5: the validation walk ----------------------------------------- */

typedef struct {
    const ln_config_spec_t *specs;
    const char *shown;
    ln_error_t *err;
} s_walk_t;

static int s_fail (s_walk_t *w, unsigned line, const char *code, const char *path, const char *fmt,
                   ...) __attribute__ ((format (printf, 5, 6)));

static int
s_fail (s_walk_t *w, unsigned line, const char *code, const char *path, const char *fmt, ...)
{
    char problem[LN_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (problem, sizeof problem, fmt, ap);
    va_end (ap);
    ln_error_set (w->err, code, path, "%s:%u: %s: %s", w->shown, line, path, problem);
    return -1;
}

static unsigned
s_line (const config_setting_t *s)
{
    unsigned line = config_setting_source_line (s);
    return line ? line : 1;
}

static const char *
s_found (int type)
{
    switch (type) {
    case CONFIG_TYPE_GROUP:
        return "a group";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        return "an integer";
    case CONFIG_TYPE_FLOAT:
        return "a float";
    case CONFIG_TYPE_STRING:
        return "a string";
    case CONFIG_TYPE_BOOL:
        return "a boolean";
    case CONFIG_TYPE_ARRAY:
        return "an array";
    case CONFIG_TYPE_LIST:
        return "a list";
    default:
        return "nothing";
    }
}

static const char *
s_expected (ln_config_type_t type)
{
    switch (type) {
    case LN_CONFIG_STRING:
        return "a string";
    case LN_CONFIG_INT:
        return "an integer";
    case LN_CONFIG_BOOL:
        return "a boolean (true or false)";
    case LN_CONFIG_FLOAT:
        return "a number";
    case LN_CONFIG_STRING_LIST:
        return "a list of strings";
    case LN_CONFIG_LEVEL:
        return "a confidentiality level name (a string)";
    case LN_CONFIG_ENUM:
        return "a string";
    case LN_CONFIG_GROUP:
        return "a group";
    case LN_CONFIG_GROUP_LIST:
        return "a list of groups";
    }
    return "?";
}

static int
s_type_error (s_walk_t *w, const config_setting_t *s, const char *path, const char *expected)
{
    return s_fail (w, s_line (s), "CONFIG_TYPE", path, "expected %s, found %s", expected,
                   s_found (config_setting_type (s)));
}

/* A string setting's value: length within [min, max] bytes, valid UTF-8. */
static int
s_check_string (s_walk_t *w, const config_setting_t *s, const char *path, long long min,
                long long max)
{
    const char *value = config_setting_get_string (s);
    size_t len = strlen (value);
    if ((long long)len < min) {
        if (len == 0)
            return s_fail (w, s_line (s), "CONFIG_RANGE", path, "must not be empty");
        return s_fail (w, s_line (s), "CONFIG_RANGE", path,
                       "is %zu bytes long; at least %lld needed", len, min);
    }
    if ((long long)len > max)
        return s_fail (w, s_line (s), "CONFIG_RANGE", path,
                       "is %zu bytes long; at most %lld allowed", len, max);
    size_t bad = s_utf8_invalid_at ((const unsigned char *)value, len);
    if (bad != len)
        return s_fail (w, s_line (s), "CONFIG_VALUE", path, "not valid UTF-8 (at byte %zu)", bad);
    return 0;
}

static int
s_check_mangled (s_walk_t *w, const config_setting_t *s, const char *path)
{
    const void *hook = config_setting_get_hook (s);
    if (hook == &s_needs_l)
        return s_fail (
            w, s_line (s), "CONFIG_RANGE", path,
            "integer does not fit in 32 bits; write it with an L suffix (e.g. 5000000000L)");
    if (hook == &s_overflow)
        return s_fail (w, s_line (s), "CONFIG_RANGE", path, "integer does not fit in 64 bits");
    return 0;
}

static int
s_check_count (s_walk_t *w, const config_setting_t *s, const char *path,
               const ln_config_spec_t *spec)
{
    long long count = config_setting_length (s);
    long long max = s_max_or (spec->max, LN_CONFIG_LIST_MAX);
    if (count < spec->min || count > max)
        return s_fail (w, s_line (s), "CONFIG_RANGE", path,
                       "has %lld elements; expected %lld to %lld", count, spec->min, max);
    return 0;
}

static int s_walk_group (s_walk_t *w, const config_setting_t *group, ln_config_t *view,
                         const char *spath, const char *dpath, unsigned missing_line);

static ln_config_t *
s_view_new (ln_config_t *parent, const config_setting_t *base, const char *prefix)
{
    ln_config_t *view = ln_xcalloc (1, sizeof *view);
    view->root = parent->root;
    view->base = base;
    view->specs = parent->specs;
    view->prefix = ln_xstrdup (prefix);
    view->is_view = true;
    return view;
}

static int
s_check_group_list (s_walk_t *w, const config_setting_t *s, const ln_config_spec_t *spec,
                    ln_config_t *view, const char *spath, const char *dpath)
{
    int type = config_setting_type (s);
    /* An empty list may be written either way; groups only fit in a list. */
    if (type != CONFIG_TYPE_LIST && !(type == CONFIG_TYPE_ARRAY && config_setting_length (s) == 0))
        return s_type_error (w, s, dpath, s_expected (spec->type));
    if (s_check_count (w, s, dpath, spec) != 0)
        return -1;

    /* Register the list and its element views first: should an element be
       refused, ln_config_destroy of the root frees all that was built. */
    char eprefix[LN_CONFIG_PATH_MAX + 4];
    snprintf (eprefix, sizeof eprefix, "%s.[]", spath);
    size_t count = (size_t)config_setting_length (s);
    view->lists = ln_xrealloc (view->lists, view->nlists + 1, sizeof *view->lists);
    s_list_t *list = &view->lists[view->nlists++];
    list->path = ln_xstrdup (spath + (*view->prefix ? strlen (view->prefix) + 1 : 0));
    list->count = count;
    list->elems = ln_xcalloc (count, sizeof *list->elems);
    for (size_t i = 0; i < count; i++)
        list->elems[i] = s_view_new (view, config_setting_get_elem (s, (unsigned)i), eprefix);

    for (size_t i = 0; i < count; i++) {
        const config_setting_t *elem = config_setting_get_elem (s, (unsigned)i);
        char edpath[S_DISPLAY_MAX];
        s_elem_path (edpath, sizeof edpath, dpath, i);
        if (config_setting_type (elem) != CONFIG_TYPE_GROUP)
            return s_type_error (w, elem, edpath, "a group");
        if (s_walk_group (w, elem, list->elems[i], eprefix, edpath, s_line (elem)) != 0)
            return -1;
    }
    return 0;
}

/* One setting against its spec.  spath: its spec path; dpath: as shown. */
static int
s_check_setting (s_walk_t *w, const config_setting_t *s, const ln_config_spec_t *spec,
                 ln_config_t *view, const char *spath, const char *dpath)
{
    int type = config_setting_type (s);
    bool secret = s_is_secret (dpath);
    char quoted[S_QUOTE_MAX + 8];

    switch (spec->type) {
    case LN_CONFIG_STRING:
        if (type != CONFIG_TYPE_STRING)
            return s_type_error (w, s, dpath, s_expected (spec->type));
        return s_check_string (w, s, dpath, spec->min, s_max_or (spec->max, LN_CONFIG_STRING_MAX));

    case LN_CONFIG_INT: {
        if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
            return s_type_error (w, s, dpath, s_expected (spec->type));
        if (s_check_mangled (w, s, dpath) != 0)
            return -1;
        long long v = config_setting_get_int64 (s);
        if (!s_int_unbounded (spec) && (v < spec->min || v > spec->max)) {
            if (secret)
                return s_fail (w, s_line (s), "CONFIG_RANGE", dpath,
                               "value is out of range [%lld, %lld]", spec->min, spec->max);
            return s_fail (w, s_line (s), "CONFIG_RANGE", dpath,
                           "value %lld is out of range [%lld, %lld]", v, spec->min, spec->max);
        }
        return 0;
    }

    case LN_CONFIG_FLOAT: {
        double v;
        if (type == CONFIG_TYPE_FLOAT)
            v = config_setting_get_float (s);
        else if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64) {
            if (s_check_mangled (w, s, dpath) != 0)
                return -1;
            v = (double)config_setting_get_int64 (s);
        }
        else
            return s_type_error (w, s, dpath, s_expected (spec->type));
        if (!isfinite (v))
            return s_fail (w, s_line (s), "CONFIG_VALUE", dpath, "not a finite number");
        if (!s_float_unbounded (spec) && (v < spec->fmin || v > spec->fmax)) {
            if (secret)
                return s_fail (w, s_line (s), "CONFIG_RANGE", dpath,
                               "value is out of range [%g, %g]", spec->fmin, spec->fmax);
            return s_fail (w, s_line (s), "CONFIG_RANGE", dpath,
                           "value %g is out of range [%g, %g]", v, spec->fmin, spec->fmax);
        }
        return 0;
    }

    case LN_CONFIG_BOOL:
        if (type != CONFIG_TYPE_BOOL)
            return s_type_error (w, s, dpath, s_expected (spec->type));
        return 0;

    case LN_CONFIG_STRING_LIST: {
        if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
            return s_type_error (w, s, dpath, s_expected (spec->type));
        if (s_check_count (w, s, dpath, spec) != 0)
            return -1;
        int count = config_setting_length (s);
        for (int i = 0; i < count; i++) {
            const config_setting_t *elem = config_setting_get_elem (s, (unsigned)i);
            char edpath[S_DISPLAY_MAX];
            s_elem_path (edpath, sizeof edpath, dpath, (size_t)i);
            if (config_setting_type (elem) != CONFIG_TYPE_STRING)
                return s_type_error (w, elem, edpath, "a string");
            if (s_check_string (w, elem, edpath, 0, LN_CONFIG_STRING_MAX) != 0)
                return -1;
        }
        return 0;
    }

    case LN_CONFIG_LEVEL:
        if (type != CONFIG_TYPE_STRING)
            return s_type_error (w, s, dpath, s_expected (spec->type));
        if (s_check_string (w, s, dpath, 0, LN_CONFIG_STRING_MAX) != 0)
            return -1;
        if (ln_level_parse (config_setting_get_string (s), NULL) != 0) {
            if (secret)
                return s_fail (w, s_line (s), "CONFIG_VALUE", dpath,
                               "unknown confidentiality level; expected one of: %s",
                               ln_level_names ());
            s_quote (quoted, sizeof quoted, config_setting_get_string (s));
            return s_fail (w, s_line (s), "CONFIG_VALUE", dpath,
                           "unknown confidentiality level \"%s\"; expected one of: %s", quoted,
                           ln_level_names ());
        }
        return 0;

    case LN_CONFIG_ENUM:
        if (type != CONFIG_TYPE_STRING)
            return s_type_error (w, s, dpath, s_expected (spec->type));
        if (s_check_string (w, s, dpath, 0, LN_CONFIG_STRING_MAX) != 0)
            return -1;
        if (s_enum_index (spec, config_setting_get_string (s)) < 0) {
            char allowed[256];
            s_enum_list (allowed, sizeof allowed, spec);
            if (secret)
                return s_fail (w, s_line (s), "CONFIG_VALUE", dpath,
                               "unknown value; expected one of: %s", allowed);
            s_quote (quoted, sizeof quoted, config_setting_get_string (s));
            return s_fail (w, s_line (s), "CONFIG_VALUE", dpath,
                           "unknown value \"%s\"; expected one of: %s", quoted, allowed);
        }
        return 0;

    case LN_CONFIG_GROUP:
        if (type != CONFIG_TYPE_GROUP)
            return s_type_error (w, s, dpath, s_expected (spec->type));
        return s_walk_group (w, s, view, spath, dpath, s_line (s));

    case LN_CONFIG_GROUP_LIST:
        return s_check_group_list (w, s, spec, view, spath, dpath);
    }
    return s_fail (w, s_line (s), "CONFIG_SPEC", dpath, "unknown spec type");
}

/* Every member of `group` (spec path spath, shown as dpath), in file order,
   then the required members that are missing (reported at missing_line). */
static int
s_walk_group (s_walk_t *w, const config_setting_t *group, ln_config_t *view, const char *spath,
              const char *dpath, unsigned missing_line)
{
    int n = config_setting_length (group);
    for (int i = 0; i < n; i++) {
        const config_setting_t *m = config_setting_get_elem (group, (unsigned)i);
        const char *name = config_setting_name (m);
        char mspath[LN_CONFIG_PATH_MAX + 1];
        char mdpath[S_DISPLAY_MAX];
        const ln_config_spec_t *spec = NULL;

        if (s_join (mdpath, sizeof mdpath, dpath, name) != 0) {
            /* Too long to show whole: end it visibly. */
            memcpy (mdpath + sizeof mdpath - 4, "...", 4);
        }
        /* A path too long for any spec cannot be declared. */
        if (s_join (mspath, sizeof mspath, spath, name) == 0)
            spec = s_find (w->specs, mspath);
        if (!spec)
            return s_fail (w, s_line (m), "CONFIG_UNKNOWN", mdpath, "unknown setting");
        if (s_check_setting (w, m, spec, view, mspath, mdpath) != 0)
            return -1;
    }
    for (const ln_config_spec_t *spec = w->specs; spec->path; spec++) {
        if (!spec->required || !s_is_member_of (spec->path, spath))
            continue;
        const char *name = s_last_component (spec->path);
        if (config_setting_get_member (group, name))
            continue;
        char mdpath[S_DISPLAY_MAX];
        if (s_join (mdpath, sizeof mdpath, dpath, name) != 0)
            memcpy (mdpath + sizeof mdpath - 4, "...", 4);
        return s_fail (w, missing_line, "CONFIG_REQUIRED", mdpath, "required setting is missing");
    }
    return 0;
}

/* --- load / destroy -------------------------------------------------------- */

ln_config_t *
ln_config_load (const char *path, const ln_config_spec_t *specs, ln_error_t *err)
{
    ln_config_t *self = NULL;
    char *text = NULL;
    char shown[S_SHOWN_MAX];
    bool ok = false;

    ln_error_clear (err);
    s_sanitize (shown, sizeof shown, path ? path : "(null)");
    if (!path || !specs) {
        ln_error_set (err, "CONFIG_SPEC", "", "spec: ln_config_load needs a path and specs");
        goto out;
    }
    if (s_check_specs (specs, err) != 0)
        goto out;
    if (s_read_file (path, shown, &text, err) != 0)
        goto out;
    if (s_check_tokens (text, strlen (text), shown, err) != 0)
        goto out;

    self = ln_xcalloc (1, sizeof *self);
    self->root = self;
    self->specs = specs;
    self->file = ln_xstrdup (path);
    self->prefix = ln_xstrdup ("");
    self->lc = ln_xcalloc (1, sizeof *self->lc);
    config_init (self->lc);
    if (config_read_string (self->lc, text) != CONFIG_TRUE) {
        ln_error_set (err, "CONFIG_SYNTAX", "", "%s:%d: %s", shown, config_error_line (self->lc),
                      config_error_text (self->lc) ? config_error_text (self->lc) : "syntax error");
        goto out;
    }
    self->base = config_root_setting (self->lc);
    if (s_check_literals (text, config_root_setting (self->lc), shown, err) != 0)
        goto out;

    s_walk_t w = {.specs = specs, .shown = shown, .err = err};
    if (s_walk_group (&w, self->base, self, "", "", 1) != 0)
        goto out;
    ok = true;
out:
    free (text);
    if (!ok)
        ln_config_destroy (&self);
    return self;
}

static void
s_view_free (ln_config_t *self)
{
    for (size_t i = 0; i < self->nlists; i++) {
        for (size_t j = 0; j < self->lists[i].count; j++)
            s_view_free (self->lists[i].elems[j]);
        free (self->lists[i].elems);
        free (self->lists[i].path);
    }
    free (self->lists);
    free (self->prefix);
    if (self->lc) {
        config_destroy (self->lc);
        free (self->lc);
    }
    free (self->file);
    free (self);
}

void
ln_config_destroy (ln_config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    if (!(*self_p)->is_view)
        s_view_free (*self_p);
    *self_p = NULL;
}

/* --- getters --------------------------------------------------------------- */

#define S_TYPE_BIT(t) (1u << (t))

/* The spec of a getter's path, or abort: asking for an undeclared setting or
   with another type's getter is a bug in the caller, not a config error. */
static const ln_config_spec_t *
s_spec_for (const ln_config_t *self, const char *path, const char *getter, unsigned types)
{
    char full[LN_CONFIG_PATH_MAX + 1];
    if (!self || !path)
        s_misuse (getter, path, "NULL configuration or path");
    /* Elements of a list of groups are read through ln_config_element. */
    if (strstr (path, "[]"))
        s_misuse (getter, path, "use ln_config_element for list elements");
    if (s_join (full, sizeof full, self->prefix, path) != 0)
        s_misuse (getter, path, "path too long");
    const ln_config_spec_t *spec = s_find (self->specs, full);
    if (!spec)
        s_misuse (getter, path, "setting not declared in the spec");
    if (!(types & S_TYPE_BIT (spec->type)))
        s_misuse (getter, path, "setting declared with another type");
    return spec;
}

/* The setting at a path relative to self->base, or NULL when absent. */
static const config_setting_t *
s_lookup (const ln_config_t *self, const char *path)
{
    const config_setting_t *s = self->base;
    char name[LN_CONFIG_PATH_MAX + 1];
    const char *p = path;
    while (s) {
        const char *dot = strchr (p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen (p);
        if (n >= sizeof name || config_setting_type (s) != CONFIG_TYPE_GROUP)
            return NULL;
        memcpy (name, p, n);
        name[n] = '\0';
        s = config_setting_get_member (s, name);
        if (!dot)
            break;
        p = dot + 1;
    }
    return s;
}

const char *
ln_config_file (const ln_config_t *self)
{
    return self ? self->root->file : NULL;
}

bool
ln_config_has (const ln_config_t *self, const char *path)
{
    s_spec_for (self, path, "ln_config_has", ~0u);
    return s_lookup (self, path) != NULL;
}

const char *
ln_config_string (const ln_config_t *self, const char *path)
{
    const ln_config_spec_t *spec = s_spec_for (
        self, path, "ln_config_string",
        S_TYPE_BIT (LN_CONFIG_STRING) | S_TYPE_BIT (LN_CONFIG_ENUM) | S_TYPE_BIT (LN_CONFIG_LEVEL));
    const config_setting_t *s = s_lookup (self, path);
    return s ? config_setting_get_string (s) : spec->default_str;
}

long long
ln_config_int (const ln_config_t *self, const char *path)
{
    const ln_config_spec_t *spec =
        s_spec_for (self, path, "ln_config_int", S_TYPE_BIT (LN_CONFIG_INT));
    const config_setting_t *s = s_lookup (self, path);
    return s ? config_setting_get_int64 (s) : spec->default_int;
}

bool
ln_config_bool (const ln_config_t *self, const char *path)
{
    const ln_config_spec_t *spec =
        s_spec_for (self, path, "ln_config_bool", S_TYPE_BIT (LN_CONFIG_BOOL));
    const config_setting_t *s = s_lookup (self, path);
    return s ? config_setting_get_bool (s) != 0 : spec->default_bool;
}

double
ln_config_float (const ln_config_t *self, const char *path)
{
    const ln_config_spec_t *spec =
        s_spec_for (self, path, "ln_config_float", S_TYPE_BIT (LN_CONFIG_FLOAT));
    const config_setting_t *s = s_lookup (self, path);
    if (!s)
        return spec->default_float;
    if (config_setting_type (s) == CONFIG_TYPE_FLOAT)
        return config_setting_get_float (s);
    return (double)config_setting_get_int64 (s);
}

ln_level_t
ln_config_level (const ln_config_t *self, const char *path)
{
    const ln_config_spec_t *spec =
        s_spec_for (self, path, "ln_config_level", S_TYPE_BIT (LN_CONFIG_LEVEL));
    const config_setting_t *s = s_lookup (self, path);
    const char *name = s ? config_setting_get_string (s) : spec->default_str;
    ln_level_t level = LN_LEVEL_ZEER_GEHEIM;
    /* Checked at load (value) and at spec check (default). */
    if (ln_level_parse (name, &level) != 0)
        s_misuse ("ln_config_level", path, "no value and no default");
    return level;
}

int
ln_config_enum (const ln_config_t *self, const char *path)
{
    const ln_config_spec_t *spec =
        s_spec_for (self, path, "ln_config_enum", S_TYPE_BIT (LN_CONFIG_ENUM));
    const config_setting_t *s = s_lookup (self, path);
    const char *value = s ? config_setting_get_string (s) : spec->default_str;
    int index = value ? s_enum_index (spec, value) : -1;
    if (index < 0)
        s_misuse ("ln_config_enum", path, "no value and no default");
    return index;
}

size_t
ln_config_list_size (const ln_config_t *self, const char *path)
{
    s_spec_for (self, path, "ln_config_list_size",
                S_TYPE_BIT (LN_CONFIG_STRING_LIST) | S_TYPE_BIT (LN_CONFIG_GROUP_LIST));
    const config_setting_t *s = s_lookup (self, path);
    return s ? (size_t)config_setting_length (s) : 0;
}

const char *
ln_config_string_at (const ln_config_t *self, const char *path, size_t index)
{
    s_spec_for (self, path, "ln_config_string_at", S_TYPE_BIT (LN_CONFIG_STRING_LIST));
    const config_setting_t *s = s_lookup (self, path);
    if (!s || index >= (size_t)config_setting_length (s))
        return NULL;
    return config_setting_get_string_elem (s, (int)index);
}

const ln_config_t *
ln_config_element (const ln_config_t *self, const char *path, size_t index)
{
    s_spec_for (self, path, "ln_config_element", S_TYPE_BIT (LN_CONFIG_GROUP_LIST));
    for (size_t i = 0; i < self->nlists; i++)
        if (strcmp (self->lists[i].path, path) == 0)
            return index < self->lists[i].count ? self->lists[i].elems[index] : NULL;
    return NULL; /* the list is absent */
}
