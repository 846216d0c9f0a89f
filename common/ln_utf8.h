/*  ln_utf8: strict UTF-8 validation of untrusted text.

    protobuf-c does not check that `string` fields hold UTF-8, and hands them
    to us as NUL-terminated C strings: a string with an embedded NUL silently
    becomes a shorter one.  Every string that arrives from the network is
    therefore checked here (by ln_pbcheck, on the raw wire bytes) before
    anything else looks at it.

    ln_utf8_check accepts exactly the shortest-form encodings of Unicode
    scalar values (RFC 3629) and refuses:
      - bytes that cannot start a sequence (0x80..0xBF alone, 0xC0, 0xC1,
        0xF5..0xFF), truncated sequences, bad continuation bytes;
      - overlong forms (e.g. C0 80 for NUL, E0 80 80, F0 80 80 80);
      - UTF-16 surrogates U+D800..U+DFFF (ED A0 80 .. ED BF BF);
      - code points above U+10FFFF;
      - NUL (U+0000), always: it would truncate the C string.

    Decision on control characters (LN_UTF8_TEXT, what ln_pbcheck uses): C0
    controls other than TAB, LF and CR, DEL (U+007F) and the C1 controls
    U+0080..U+009F are refused too.  No Lantern field needs them, and they
    are how hostile text attacks the terminals of operators (ESC sequences
    printed by lanternctl or a log viewer).  TAB/LF/CR stay allowed because
    free-text fields (a signal's description) legitimately hold them; log
    lines quote and escape them (ln_log).  Callers that need other controls
    pass LN_UTF8_ALLOW_CONTROLS; NUL stays refused even then.
*/
#ifndef LN_UTF8_H
#define LN_UTF8_H

#include <stdbool.h>
#include <stddef.h>

enum {
    LN_UTF8_TEXT = 0,                /* default: strict text, see above */
    LN_UTF8_ALLOW_CONTROLS = 1 << 0, /* accept C0 (except NUL), DEL and C1 controls */
};

/* Check `len` bytes at `data` (need not be NUL-terminated; data may be NULL
   when len is 0).  Returns 0 when valid.  Returns -1 when not, and sets
   *bad_offset (if not NULL) to the offset of the first byte of the offending
   sequence. */
int ln_utf8_check (const void *data, size_t len, int flags, size_t *bad_offset);

/* Shorthand: true when ln_utf8_check (data, len, LN_UTF8_TEXT, NULL) == 0. */
bool ln_utf8_valid (const void *data, size_t len);

#endif
