/*  ln_pseudonym: normal forms of identifiers and their keyed-hash tokens;
    see ln_pseudonym.h for the rules.

    Every normaliser works the same way: walk the input once, skip what is
    formatting, refuse what is garbage, and append what is kept to `out`
    through s_put, which knows the buffer's size and fails cleanly past it.
    Only the name normaliser decodes UTF-8; the others accept ASCII only,
    so any non-ASCII byte is garbage to them.

    The key is secret: buffers that held it (as bytes or hex) are wiped with
    sodium_memzero before they go out of scope, and error messages never
    carry it.  Error messages never quote identifiers either.
*/
#include "ln_pseudonym.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ln_keys.h"
#include "ln_log.h"
#include "ln_utf8.h"

#define KEY_HEX_LEN (2 * LN_PSEUDONYM_KEY_BYTES)
#define TOKEN_BYTES 32
#define DOMAIN      "lantern-pseudonym-v1"

/* --- output buffer ------------------------------------------------------------ */

typedef struct {
    char *buf;
    size_t size; /* including the NUL */
    size_t len;
    bool overflow;
} s_out_t;

static void
s_out_init (s_out_t *o, char *buf, size_t size)
{
    o->buf = buf;
    o->size = buf ? size : 0;
    o->len = 0;
    o->overflow = o->size == 0;
    if (o->size)
        buf[0] = '\0';
}

static void
s_put (s_out_t *o, const char *bytes, size_t n)
{
    if (o->overflow)
        return;
    if (o->len + n + 1 > o->size) {
        o->overflow = true;
        o->buf[0] = '\0';
        return;
    }
    memcpy (o->buf + o->len, bytes, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void
s_putc (s_out_t *o, char c)
{
    s_put (o, &c, 1);
}

/* Finish: -1 with err set on overflow or when nothing was written. */
static int
s_out_done (s_out_t *o, const char *code, const char *what, ln_error_t *err)
{
    if (o->overflow) {
        ln_error_set (err, code, NULL, "%s: too long", what);
        return -1;
    }
    if (o->len == 0) {
        ln_error_set (err, code, NULL, "%s: empty", what);
        return -1;
    }
    return 0;
}

static int
s_fail (s_out_t *o, const char *code, const char *what, const char *why, ln_error_t *err)
{
    if (o->size)
        o->buf[0] = '\0';
    ln_error_set (err, code, NULL, "%s: %s", what, why);
    return -1;
}

/* s_fail with the position (in characters, from 1) of what is wrong. */
static int
s_fail_at (s_out_t *o, const char *code, const char *what, size_t at, const char *why,
           ln_error_t *err)
{
    if (o->size)
        o->buf[0] = '\0';
    ln_error_set (err, code, NULL, "%s: character %zu: %s", what, at, why);
    return -1;
}

static bool
s_space (char c)
{
    return c == ' ' || c == '\t';
}

static bool
s_digit (char c)
{
    return c >= '0' && c <= '9';
}

static bool
s_alpha (char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char
s_upper (char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* [*start, *end) is `in` without leading and trailing spaces/tabs. */
static void
s_trim (const char *in, const char **start, const char **end)
{
    const char *s = in;
    const char *e = in + strlen (in);
    while (s < e && s_space (*s))
        s++;
    while (e > s && s_space (e[-1]))
        e--;
    *start = s;
    *end = e;
}

/* --- names and places ------------------------------------------------------------ */

/* Latin-1 Supplement letters U+00C0..U+00FF without diacritics; NULL for
   the two symbols (× and ÷) in the range. */
static const char *const s_latin1[64] = {
    "a", "a", "a", "a", "a", "a", "ae", "c",  "e", "e", "e", "e", "i", "i", "i",  "i",  /* C0 */
    "d", "n", "o", "o", "o", "o", "o",  NULL, "o", "u", "u", "u", "u", "y", "th", "ss", /* D0 */
    "a", "a", "a", "a", "a", "a", "ae", "c",  "e", "e", "e", "e", "i", "i", "i",  "i",  /* E0 */
    "d", "n", "o", "o", "o", "o", "o",  NULL, "o", "u", "u", "u", "u", "y", "th", "y",  /* F0 */
};

/* Latin Extended-A U+0100..U+017F, and the Romanian comma letters, as
   ranges of code points that all lose their diacritics to `plain`. */
static const struct {
    uint32_t first, last;
    const char *plain;
} s_latin_ext[] = {
    {0x0100, 0x0105, "a"}, {0x0106, 0x010D, "c"},  {0x010E, 0x0111, "d"}, {0x0112, 0x011B, "e"},
    {0x011C, 0x0123, "g"}, {0x0124, 0x0127, "h"},  {0x0128, 0x0131, "i"}, {0x0132, 0x0133, "ij"},
    {0x0134, 0x0135, "j"}, {0x0136, 0x0138, "k"},  {0x0139, 0x0142, "l"}, {0x0143, 0x014B, "n"},
    {0x014C, 0x0151, "o"}, {0x0152, 0x0153, "oe"}, {0x0154, 0x0159, "r"}, {0x015A, 0x0161, "s"},
    {0x0162, 0x0167, "t"}, {0x0168, 0x0173, "u"},  {0x0174, 0x0175, "w"}, {0x0176, 0x0178, "y"},
    {0x0179, 0x017E, "z"}, {0x017F, 0x017F, "s"},  {0x0218, 0x0219, "s"}, {0x021A, 0x021B, "t"},
};

typedef enum { CP_KEEP, CP_SEP, CP_DROP, CP_BAD } s_cp_class_t;

static s_cp_class_t
s_classify (uint32_t cp, bool digits)
{
    if (cp < 0x80) {
        char c = (char)cp;
        if (s_alpha (c))
            return CP_KEEP;
        if (s_digit (c))
            return digits ? CP_KEEP : CP_BAD;
        if (c == ' ' || c == '\t' || c == '-' || c == '.' || c == ',')
            return CP_SEP;
        if (c == '\'' || c == '`')
            return CP_DROP;
        if (digits && c != '\0' && strchr ("()/&+;:\"", c))
            return CP_SEP; /* places: "Blerick (Venlo)", "Maas/Waal" */
        return CP_BAD;     /* other punctuation, symbols, controls */
    }
    if (cp < 0xA0)
        return CP_BAD; /* C1 controls */
    if (cp == 0xA0)
        return CP_SEP; /* no-break space */
    if (cp == 0xAD || cp == 0xB4)
        return CP_DROP; /* soft hyphen; acute accent typed as an apostrophe */
    if (cp < 0xC0 || cp == 0xD7 || cp == 0xF7)
        return CP_BAD; /* Latin-1 symbols, × and ÷ */
    if (cp >= 0x0300 && cp <= 0x036F)
        return CP_DROP; /* combining diacritical marks */
    if (cp == 0x02BC)
        return CP_DROP; /* modifier letter apostrophe */
    if (cp >= 0x2000 && cp <= 0x206F) {
        if (cp <= 0x200A || cp == 0x202F || cp == 0x205F)
            return CP_SEP; /* spaces */
        if (cp >= 0x2010 && cp <= 0x2015)
            return CP_SEP; /* hyphens and dashes */
        if (cp == 0x200B || cp == 0x2018 || cp == 0x2019 || cp == 0x201B)
            return CP_DROP; /* zero-width space; quotes used as apostrophes */
        return CP_BAD;
    }
    if (cp == 0x2212 || cp == 0x3000)
        return CP_SEP; /* minus sign; ideographic space */
    if (cp == 0xFEFF)
        return CP_DROP; /* byte order mark / zero-width no-break space */
    return CP_KEEP;
}

/* Append the kept code point cp, folded as ln_pseudonym.h says. */
static void
s_put_folded (s_out_t *o, uint32_t cp)
{
    if (cp < 0x80) {
        char c = (char)cp;
        s_putc (o, c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c);
        return;
    }
    if (cp >= 0xC0 && cp <= 0xFF) {
        const char *plain = s_latin1[cp - 0xC0];
        s_put (o, plain, strlen (plain));
        return;
    }
    for (size_t i = 0; i < sizeof s_latin_ext / sizeof s_latin_ext[0]; i++)
        if (cp >= s_latin_ext[i].first && cp <= s_latin_ext[i].last) {
            s_put (o, s_latin_ext[i].plain, strlen (s_latin_ext[i].plain));
            return;
        }
    if ((cp >= 0x0391 && cp <= 0x03A9 && cp != 0x03A2) || (cp >= 0x0410 && cp <= 0x042F))
        cp += 0x20; /* Greek and basic Cyrillic capitals */
    else if (cp >= 0x0400 && cp <= 0x040F)
        cp += 0x50; /* Cyrillic Ѐ..Џ */
    else if (cp == 0x03C2)
        cp = 0x03C3; /* final sigma */
    char enc[4];
    size_t n;
    if (cp < 0x800) {
        enc[0] = (char)(0xC0 | (cp >> 6));
        enc[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    }
    else if (cp < 0x10000) {
        enc[0] = (char)(0xE0 | (cp >> 12));
        enc[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        enc[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    }
    else {
        enc[0] = (char)(0xF0 | (cp >> 18));
        enc[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        enc[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        enc[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    s_put (o, enc, n);
}

/* Decode one code point of text already checked by ln_utf8_check. */
static uint32_t
s_decode (const unsigned char *s, size_t *i)
{
    unsigned char c = s[*i];
    size_t n = c < 0x80 ? 0 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
    uint32_t cp = n == 0 ? c : n == 1 ? (c & 0x1Fu) : n == 2 ? (c & 0x0Fu) : (c & 0x07u);
    for (size_t k = 1; k <= n; k++)
        cp = (cp << 6) | (s[*i + k] & 0x3Fu);
    *i += n + 1;
    return cp;
}

/* What a name or a place may hold, for the messages that refuse one. */
#define S_NAME_HOLDS  "a name holds letters, spaces, - . , ' and a remark in (parentheses)"
#define S_PLACE_HOLDS "a street or city holds letters, digits, spaces and - . , ' ( ) / & + ; : \""

/* Refuse the character cp at position `at` (counted in characters from 1),
   saying which it is: printable ASCII is shown as itself (a character
   alone is no personal data), anything else by its code point only, so
   that no control or bidi character reaches a terminal or a log. */
static int
s_refuse_char (s_out_t *o, const char *code, const char *what, size_t at, uint32_t cp,
               const char *holds, ln_error_t *err)
{
    char shown[48];
    if (cp >= '0' && cp <= '9')
        snprintf (shown, sizeof shown, "'%c', a digit", (char)cp);
    else if (cp > 0x20 && cp < 0x7f)
        snprintf (shown, sizeof shown, "'%c'", (char)cp);
    else if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
        snprintf (shown, sizeof shown, "a control character, U+%04X", (unsigned)cp);
    else
        snprintf (shown, sizeof shown, "U+%04X", (unsigned)cp);
    if (o->size)
        o->buf[0] = '\0';
    ln_error_set (err, code, NULL, "%s: character %zu (%s) is not allowed: %s", what, at, shown,
                  holds);
    return -1;
}

/* Names and places: see "Normal forms" in ln_pseudonym.h.  `digits` says
   which: places keep digits and take ( ) / & + ; : " as separators; names
   take text in parentheses as a remark, checked like the rest but left out
   of the normal form. */
static int
s_norm_words (const char *in, char *out, size_t size, bool digits, const char *code,
              const char *what, ln_error_t *err)
{
    s_out_t o;
    s_out_init (&o, out, size);
    if (!in)
        return s_fail (&o, code, what, "missing", err);
    size_t len = strlen (in), bad = 0;
    if (ln_utf8_check (in, len, LN_UTF8_ALLOW_CONTROLS, &bad) != 0) {
        ln_error_set (err, code, NULL, "%s: not valid UTF-8 (at byte %zu)", what, bad + 1);
        if (o.size)
            o.buf[0] = '\0';
        return -1;
    }
    const char *holds = digits ? S_PLACE_HOLDS : S_NAME_HOLDS;
    bool pending_space = false;
    size_t remark_at = 0; /* names: the position of an open '(', 0 when none */
    size_t i = 0, at = 0;
    while (i < len) {
        uint32_t cp = s_decode ((const unsigned char *)in, &i);
        at++;
        if (!digits && cp == '(') {
            if (remark_at)
                return s_fail_at (&o, code, what, at, "a parenthesis inside parentheses", err);
            remark_at = at;
            pending_space = true; /* "Anna(Ania)Kowalska" is two words */
            continue;
        }
        if (!digits && cp == ')') {
            if (!remark_at)
                return s_fail_at (&o, code, what, at, "')' closes no '('", err);
            remark_at = 0;
            pending_space = true;
            continue;
        }
        switch (s_classify (cp, digits)) {
        case CP_SEP:
            pending_space = true;
            break;
        case CP_DROP:
            break;
        case CP_BAD:
            return s_refuse_char (&o, code, what, at, cp, holds, err);
        case CP_KEEP:
            if (remark_at)
                break; /* checked, not kept */
            if (pending_space && o.len > 0)
                s_putc (&o, ' ');
            pending_space = false;
            s_put_folded (&o, cp);
            break;
        }
    }
    if (remark_at)
        return s_fail_at (&o, code, what, remark_at, "'(' is never closed", err);
    if (o.len == 0 && !o.overflow)
        return s_fail (&o, code, what,
                       digits ? "no letter or digit in it" : "no letter in it outside parentheses",
                       err);
    return s_out_done (&o, code, what, err);
}

int
ln_pseudonym_norm_name (const char *in, char *out, size_t size, ln_error_t *err)
{
    return s_norm_words (in, out, size, false, "INVALID_NAME", "name", err);
}

int
ln_pseudonym_norm_place (const char *in, char *out, size_t size, ln_error_t *err)
{
    return s_norm_words (in, out, size, true, "INVALID_ADDRESS", "street or city", err);
}

/* --- dates ------------------------------------------------------------------------ */

/* Read 1..max digits at *p into *value; returns how many were read (0 when
   more than max, or none). */
static size_t
s_number (const char **p, const char *end, size_t max, int *value)
{
    size_t n = 0;
    int v = 0;
    while (*p < end && s_digit (**p)) {
        if (++n > max)
            return 0;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    *value = v;
    return n;
}

static bool
s_leap (int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int
ln_pseudonym_norm_date (const char *in, char *out, size_t size, ln_error_t *err)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    s_out_t o;
    s_out_init (&o, out, size);
    if (!in)
        return s_fail (&o, "INVALID_DATE", "date", "missing", err);
    const char *p, *end;
    s_trim (in, &p, &end);
    int a, b, c;
    size_t na = s_number (&p, end, 4, &a);
    char sep = p < end ? *p : '\0';
    if (na == 0 || (sep != '-' && sep != '/' && sep != '.'))
        return s_fail (&o, "INVALID_DATE", "date", "expected YYYY-MM-DD or D-M-YYYY", err);
    p++;
    size_t nb = s_number (&p, end, 2, &b);
    if (nb == 0 || p >= end || *p != sep)
        return s_fail (&o, "INVALID_DATE", "date", "expected YYYY-MM-DD or D-M-YYYY", err);
    p++;
    size_t nc = s_number (&p, end, 4, &c);
    if (nc == 0 || p != end)
        return s_fail (&o, "INVALID_DATE", "date", "expected YYYY-MM-DD or D-M-YYYY", err);
    int year, month, day;
    if (na == 4 && nc <= 2) {
        year = a;
        month = b;
        day = c;
    }
    else if (na <= 2 && nc == 4) {
        day = a;
        month = b;
        year = c;
    }
    else
        return s_fail (&o, "INVALID_DATE", "date",
                       "expected YYYY-MM-DD or D-M-YYYY (a four-digit year)", err);
    if (year < 1 || month < 1 || month > 12 || day < 1 ||
        day > days[month - 1] + (month == 2 && s_leap (year)))
        return s_fail (&o, "INVALID_DATE", "date", "not a calendar date", err);
    char buf[32]; /* the compiler cannot see that the ranges were checked */
    snprintf (buf, sizeof buf, "%04d-%02d-%02d", year, month, day);
    s_put (&o, buf, strlen (buf));
    return s_out_done (&o, "INVALID_DATE", "date", err);
}

/* --- phone numbers ------------------------------------------------------------------ */

#define PHONE_DIGITS_MAX 20 /* more than E.164's 15 plus "00" and a trunk 0 */

int
ln_pseudonym_norm_phone (const char *in, char *out, size_t size, ln_error_t *err)
{
    s_out_t o;
    s_out_init (&o, out, size);
    if (!in)
        return s_fail (&o, "INVALID_PHONE", "phone", "missing", err);
    const char *p, *end;
    s_trim (in, &p, &end);
    char d[PHONE_DIGITS_MAX + 1];
    size_t nd = 0;
    bool plus = false;
    int depth = 0;
    if (p < end && *p == '+') {
        plus = true;
        p++;
    }
    while (p < end) {
        char c = *p;
        bool international = plus || (nd >= 2 && d[0] == '0' && d[1] == '0');
        size_t prefix = plus ? 0 : 2;
        if (s_digit (c)) {
            if (nd == PHONE_DIGITS_MAX)
                return s_fail (&o, "INVALID_PHONE", "phone", "too many digits", err);
            d[nd++] = c;
            p++;
        }
        else if (c == '(' && international && nd > prefix && end - p >= 3 && p[1] == '0' &&
                 p[2] == ')' && depth == 0)
            p += 3; /* "+31 (0)6...": the trunk prefix that is not dialled */
        else if (c == '(' && depth == 0) {
            depth = 1;
            p++;
        }
        else if (c == ')' && depth == 1) {
            depth = 0;
            p++;
        }
        else if (s_space (c) || c == '-' || c == '.' || c == '/')
            p++;
        else
            return s_fail (&o, "INVALID_PHONE", "phone",
                           "only digits, a leading +, spaces, - . / ( ) are allowed", err);
    }
    d[nd] = '\0';
    if (depth != 0)
        return s_fail (&o, "INVALID_PHONE", "phone", "unbalanced parentheses", err);
    const char *intl = NULL; /* digits after the +, when international */
    if (plus)
        intl = d;
    else if (nd >= 2 && d[0] == '0' && d[1] == '0')
        intl = d + 2;
    else if (nd >= 1 && d[0] == '0') {
        if (nd != 10)
            return s_fail (&o, "INVALID_PHONE", "phone",
                           "a Dutch number has 9 digits after the leading 0", err);
        s_put (&o, "+31", 3);
        s_put (&o, d + 1, 9);
        return s_out_done (&o, "INVALID_PHONE", "phone", err);
    }
    else
        return s_fail (&o, "INVALID_PHONE", "phone",
                       "expected +CC..., 00CC... or a Dutch number starting with 0", err);
    if (intl[0] == '\0' || intl[0] == '0')
        return s_fail (&o, "INVALID_PHONE", "phone", "no country code", err);
    if (intl[0] == '3' && intl[1] == '1') {
        const char *national = intl + 2;
        if (*national == '0')
            national++;
        if (strlen (national) != 9)
            return s_fail (&o, "INVALID_PHONE", "phone", "a Dutch number has 9 digits after +31",
                           err);
        s_put (&o, "+31", 3);
        s_put (&o, national, 9);
        return s_out_done (&o, "INVALID_PHONE", "phone", err);
    }
    size_t n = strlen (intl);
    if (n < 8 || n > 15)
        return s_fail (&o, "INVALID_PHONE", "phone",
                       "an international number has 8 to 15 digits after the +", err);
    s_putc (&o, '+');
    s_put (&o, intl, n);
    return s_out_done (&o, "INVALID_PHONE", "phone", err);
}

/* --- BSN, KvK, documents, plates ------------------------------------------------------ */

bool
ln_pseudonym_bsn_valid (const char *nine_digits)
{
    if (!nine_digits || strnlen (nine_digits, 10) != 9)
        return false;
    int sum = 0;
    bool nonzero = false;
    for (int i = 0; i < 9; i++) {
        char c = nine_digits[i];
        if (!s_digit (c))
            return false;
        if (c != '0')
            nonzero = true;
        sum += (i < 8 ? 9 - i : -1) * (c - '0');
    }
    return nonzero && sum % 11 == 0;
}

/* Copy the ASCII characters of `in` that are not in `skip`, uppercased,
   into buf; fail when one is not a letter or digit (or a letter is not
   `letters`), or when there are more than max.  buf holds max + 1 bytes. */
static int
s_compact (const char *in, const char *skip, bool letters, char *buf, size_t max, size_t *n_out)
{
    size_t n = 0;
    for (const char *p = in; *p; p++) {
        if (s_space (*p) || strchr (skip, *p))
            continue;
        if (!s_digit (*p) && !(letters && s_alpha (*p)))
            return -1;
        if (n == max)
            return -1;
        buf[n++] = s_upper (*p);
    }
    buf[n] = '\0';
    *n_out = n;
    return 0;
}

int
ln_pseudonym_norm_bsn (const char *in, char *out, size_t size, ln_error_t *err)
{
    s_out_t o;
    s_out_init (&o, out, size);
    char d[11]; /* room for a leading 0, 9 digits and the NUL */
    size_t n = 0;
    if (!in || s_compact (in, ".", false, d + 1, 9, &n) != 0 || n < 8)
        return s_fail (&o, "INVALID_BSN", "bsn", "expected 9 digits", err);
    const char *bsn = d + 1;
    if (n == 8) {
        d[0] = '0'; /* written without its leading zero */
        bsn = d;
    }
    if (!ln_pseudonym_bsn_valid (bsn))
        return s_fail (&o, "BSN_CHECKSUM", "bsn", "fails the 11-check", err);
    s_put (&o, bsn, 9);
    return s_out_done (&o, "INVALID_BSN", "bsn", err);
}

int
ln_pseudonym_norm_kvk (const char *in, char *out, size_t size, ln_error_t *err)
{
    s_out_t o;
    s_out_init (&o, out, size);
    char d[9];
    size_t n = 0;
    if (!in || s_compact (in, ".", false, d, 8, &n) != 0 || n != 8)
        return s_fail (&o, "INVALID_KVK", "kvk_number", "expected 8 digits", err);
    s_put (&o, d, 8);
    return s_out_done (&o, "INVALID_KVK", "kvk_number", err);
}

int
ln_pseudonym_norm_document (const char *in, char *out, size_t size, ln_error_t *err)
{
    s_out_t o;
    s_out_init (&o, out, size);
    char d[21];
    size_t n = 0;
    if (!in || s_compact (in, "-", true, d, 20, &n) != 0 || n < 6)
        return s_fail (&o, "INVALID_DOCUMENT", "document_number",
                       "expected 6 to 20 letters and digits", err);
    s_put (&o, d, n);
    return s_out_done (&o, "INVALID_DOCUMENT", "document_number", err);
}

int
ln_pseudonym_norm_plate (const char *in, char *out, size_t size, ln_error_t *err)
{
    s_out_t o;
    s_out_init (&o, out, size);
    char d[11];
    size_t n = 0;
    if (!in || s_compact (in, "-", true, d, 10, &n) != 0 || n < 4)
        return s_fail (&o, "INVALID_PLATE", "licence_plate", "expected 4 to 10 letters and digits",
                       err);
    s_put (&o, d, n);
    return s_out_done (&o, "INVALID_PLATE", "licence_plate", err);
}

/* --- addresses ------------------------------------------------------------------------ */

int
ln_pseudonym_norm_postcode (const char *in, char *out, size_t size, ln_error_t *err)
{
    s_out_t o;
    s_out_init (&o, out, size);
    char d[7];
    size_t n = 0;
    if (!in || s_compact (in, "", true, d, 6, &n) != 0 || n != 6 || d[0] < '1' || d[0] > '9' ||
        !s_digit (d[1]) || !s_digit (d[2]) || !s_digit (d[3]) || !s_alpha (d[4]) || !s_alpha (d[5]))
        return s_fail (&o, "INVALID_POSTCODE", "postcode", "expected a Dutch postcode: 1234 AB",
                       err);
    if (d[4] == 'S' && (d[5] == 'A' || d[5] == 'D' || d[5] == 'S'))
        return s_fail (&o, "INVALID_POSTCODE", "postcode",
                       "the letters SA, SD and SS are not used in postcodes", err);
    s_put (&o, d, 6);
    return s_out_done (&o, "INVALID_POSTCODE", "postcode", err);
}

#define HOUSE_DIGITS_MAX   5
#define HOUSE_ADDITION_MAX 10

int
ln_pseudonym_norm_house_number (const char *in, char *out, size_t size, ln_error_t *err)
{
    static const char *const why =
        "expected a number of 1 to 5 digits and an optional addition (12, 12A, 12-3, 12 bis)";
    s_out_t o;
    s_out_init (&o, out, size);
    char d[HOUSE_DIGITS_MAX + HOUSE_ADDITION_MAX + 2];
    size_t n = 0;
    /* Spaces removed, uppercased, separators kept. */
    for (const char *p = in ? in : ""; *p; p++) {
        if (s_space (*p))
            continue;
        if (!s_digit (*p) && !s_alpha (*p) && *p != '-' && *p != '/')
            return s_fail (&o, "INVALID_HOUSE_NUMBER", "house_number", why, err);
        if (n == sizeof d - 1)
            return s_fail (&o, "INVALID_HOUSE_NUMBER", "house_number", why, err);
        d[n++] = s_upper (*p);
    }
    d[n] = '\0';
    size_t digits = strspn (d, "0123456789");
    if (digits == 0 || digits > HOUSE_DIGITS_MAX || d[0] == '0')
        return s_fail (&o, "INVALID_HOUSE_NUMBER", "house_number", why, err);
    const char *add = d + digits;
    /* "12-a" and "12 A" are the same address as "12A". */
    if ((add[0] == '-' || add[0] == '/') && s_alpha (add[1]))
        add++;
    size_t add_len = strlen (add);
    if (add_len > HOUSE_ADDITION_MAX)
        return s_fail (&o, "INVALID_HOUSE_NUMBER", "house_number", why, err);
    for (size_t i = 0; i < add_len; i++) {
        bool sep = add[i] == '-' || add[i] == '/';
        bool next_sep = add[i + 1] == '-' || add[i + 1] == '/' || add[i + 1] == '\0';
        if (sep && next_sep)
            return s_fail (&o, "INVALID_HOUSE_NUMBER", "house_number", why, err);
    }
    s_put (&o, d, digits);
    s_put (&o, add, add_len);
    return s_out_done (&o, "INVALID_HOUSE_NUMBER", "house_number", err);
}

/* --- tokens ------------------------------------------------------------------------------ */

int
ln_pseudonym_token (const ln_pseudonym_key_t *key, int kind, const char *normalised,
                    char out[LN_PSEUDONYM_TOKEN_SIZE])
{
    if (!out)
        return -1;
    out[0] = '\0';
    if (!key || !normalised || !*normalised || kind <= 0)
        return -1;
    size_t len = strlen (normalised);
    unsigned char head[sizeof DOMAIN + 4 + 8]; /* DOMAIN and its NUL, kind, length */
    memcpy (head, DOMAIN, sizeof DOMAIN);
    unsigned char *p = head + sizeof DOMAIN;
    for (int i = 3; i >= 0; i--)
        *p++ = (unsigned char)((uint32_t)kind >> (8 * i));
    for (int i = 7; i >= 0; i--)
        *p++ = (unsigned char)((uint64_t)len >> (8 * i));

    crypto_generichash_state state;
    unsigned char hash[TOKEN_BYTES];
    if (crypto_generichash_init (&state, key->bytes, sizeof key->bytes, sizeof hash) != 0 ||
        crypto_generichash_update (&state, head, sizeof head) != 0 ||
        crypto_generichash_update (&state, (const unsigned char *)normalised, len) != 0 ||
        crypto_generichash_final (&state, hash, sizeof hash) != 0) {
        sodium_memzero (&state, sizeof state);
        return -1;
    }
    sodium_memzero (&state, sizeof state); /* it holds the keyed state */
    sodium_bin2hex (out, LN_PSEUDONYM_TOKEN_SIZE, hash, sizeof hash);
    return 0;
}

/* --- the regional key -------------------------------------------------------------------- */

void
ln_pseudonym_key_wipe (ln_pseudonym_key_t *key)
{
    if (key)
        sodium_memzero (key->bytes, sizeof key->bytes);
}

/* Register the key's hex forms with the log scrubber. */
static int
s_forbid (const ln_pseudonym_key_t *key, const char *as_read)
{
    char hex[KEY_HEX_LEN + 1];
    int rc = 0;
    sodium_bin2hex (hex, sizeof hex, key->bytes, sizeof key->bytes);
    if (ln_log_forbid (hex, KEY_HEX_LEN) != 0)
        rc = -1;
    for (size_t i = 0; i < KEY_HEX_LEN; i++)
        hex[i] = s_upper (hex[i]);
    if (ln_log_forbid (hex, KEY_HEX_LEN) != 0)
        rc = -1;
    if (ln_log_forbid (as_read, KEY_HEX_LEN) != 0) /* mixed case */
        rc = -1;
    sodium_memzero (hex, sizeof hex);
    return rc;
}

int
ln_pseudonym_key_load (const char *path, ln_pseudonym_key_t *key, ln_error_t *err)
{
    int rc = -1;
    char *buf = NULL;
    size_t len = 0;

    if (key)
        ln_pseudonym_key_wipe (key);
    if (!path || !key) {
        ln_error_set (err, "KEYS_IO", "path", "no key file given");
        goto out;
    }
    /* read as a secret (mode, owner, regular file: ln_keys); anything the
       reader calls malformed is not a key either */
    buf = ln_keys_read_file (path, true, &len, err);
    if (!buf) {
        if (err && err->code && strcmp (err->code, "CERT_MALFORMED") == 0)
            ln_error_set (err, "PSEUDONYM_KEY_INVALID", "path",
                          "%s: expected 64 hex digits and an optional newline", path);
        goto out;
    }
    size_t bin_len = 0;
    const char *hex_end = NULL;
    if (!(len == KEY_HEX_LEN || (len == KEY_HEX_LEN + 1 && buf[KEY_HEX_LEN] == '\n')) ||
        sodium_hex2bin (key->bytes, sizeof key->bytes, buf, KEY_HEX_LEN, NULL, &bin_len,
                        &hex_end) != 0 ||
        bin_len != sizeof key->bytes || hex_end != buf + KEY_HEX_LEN) {
        ln_error_set (err, "PSEUDONYM_KEY_INVALID", "path",
                      "%s: expected 64 hex digits and an optional newline", path);
        goto out;
    }
    if (s_forbid (key, buf) != 0) {
        ln_error_set (err, "KEYS_FORBID_FULL", "path",
                      "%s: cannot register the key with the log scrubber (table full)", path);
        goto out;
    }
    rc = 0;
out:
    if (rc != 0 && key)
        ln_pseudonym_key_wipe (key);
    ln_keys_file_free (buf);
    return rc;
}

int
ln_pseudonym_key_generate (const char *path, ln_error_t *err)
{
    int rc = -1;
    ln_pseudonym_key_t key;
    char text[KEY_HEX_LEN + 2];
    memset (text, 0, sizeof text);

    if (!path || !*path) {
        ln_error_set (err, "KEYS_IO", "path", "no key file given");
        goto out;
    }
    if (sodium_init () < 0) {
        ln_error_set (err, "KEYS_IO", NULL, "libsodium cannot be initialised");
        goto out;
    }
    randombytes_buf (key.bytes, sizeof key.bytes);
    sodium_bin2hex (text, sizeof text, key.bytes, sizeof key.bytes);
    text[KEY_HEX_LEN] = '\n';
    if (ln_keys_write_new (path, 0600, text, KEY_HEX_LEN + 1, err) != 0)
        goto out;
    rc = 0;
out:
    ln_pseudonym_key_wipe (&key);
    sodium_memzero (text, sizeof text);
    return rc;
}
