/*  ln_utf8: see ln_utf8.h.

    A plain byte-at-a-time decoder with an ASCII fast path: Lantern's strings
    are short and mostly ASCII, so eight bytes at a time are checked for
    "all printable ASCII" before the general path runs.  The general path
    follows the table of well-formed byte sequences in Unicode 15, §3.9,
    Table 3-7, which rules out overlongs, surrogates and > U+10FFFF by the
    allowed range of the second byte.
*/
#include "ln_utf8.h"

#include <stdint.h>
#include <string.h>

/* True when every byte of the 8-byte word is in 0x20..0x7E. */
static inline bool
s_word_printable_ascii (uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ULL;
    const uint64_t highs = 0x8080808080808080ULL;
    /* Byte >= 0x80: high bit set.  Byte < 0x20: (b - 0x20) borrows into the
       high bit.  Byte == 0x7F: (b + 1) sets the high bit.  Each test is a
       standard "has byte less than / greater than" word trick; the borrows
       can only create false positives (a slower path), never misses. */
    uint64_t lt20 = (w - ones * 0x20) & ~w & highs;
    uint64_t eq7f_or_high = ((w + ones) | w) & highs;
    return (lt20 | eq7f_or_high) == 0;
}

static inline bool
s_control_ok (uint32_t cp, int flags)
{
    if (cp == 0)
        return false;
    if (flags & LN_UTF8_ALLOW_CONTROLS)
        return true;
    if (cp < 0x20)
        return cp == '\t' || cp == '\n' || cp == '\r';
    if (cp == 0x7F)
        return false;
    if (cp >= 0x80 && cp <= 0x9F)
        return false;
    return true;
}

int
ln_utf8_check (const void *data, size_t len, int flags, size_t *bad_offset)
{
    const uint8_t *s = data;
    size_t i = 0;

    if (len > 0 && !s)
        goto bad;
    while (i < len) {
        if (len - i >= 8) {
            uint64_t w;
            memcpy (&w, s + i, 8);
            if (s_word_printable_ascii (w)) {
                i += 8;
                continue;
            }
        }
        uint8_t c = s[i];
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7F) {
                if (!s_control_ok (c, flags))
                    goto bad;
            }
            i++;
            continue;
        }
        size_t need;
        uint32_t cp;
        uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1F;
        }
        else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            cp = c & 0x0F;
            if (c == 0xE0)
                lo = 0xA0; /* overlong */
            else if (c == 0xED)
                hi = 0x9F; /* surrogates */
        }
        else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            cp = c & 0x07;
            if (c == 0xF0)
                lo = 0x90; /* overlong */
            else if (c == 0xF4)
                hi = 0x8F; /* > U+10FFFF */
        }
        else
            goto bad; /* continuation byte alone, C0, C1, F5..FF */
        if (len - i - 1 < need)
            goto bad; /* truncated */
        if (s[i + 1] < lo || s[i + 1] > hi)
            goto bad;
        cp = (cp << 6) | (s[i + 1] & 0x3F);
        for (size_t k = 2; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                goto bad;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp <= 0x9F && !s_control_ok (cp, flags))
            goto bad; /* C1 controls */
        i += need + 1;
    }
    return 0;
bad:
    if (bad_offset)
        *bad_offset = i;
    return -1;
}

bool
ln_utf8_valid (const void *data, size_t len)
{
    return ln_utf8_check (data, len, LN_UTF8_TEXT, NULL) == 0;
}
