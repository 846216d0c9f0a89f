/*  ln_pseudonym: normalised identifiers and their keyed-hash tokens.

    Partners link signals about the same person, address, phone, vehicle or
    employer without sharing identities (docs/architecture.md, "Pseudonymous
    matching"): the intake node normalises each identifier and hashes it
    under the region's secret key.  Equal tokens mean equal normalised
    identifiers; a token cannot be turned back into its identifier by anyone
    who lacks the key.  The key never leaves the intake nodes of its region,
    so tokens of different regions (different keys) never match.

    The regional key
    ----------------
    A file holding exactly 64 hex digits (either case) and an optional
    trailing "\n"; nothing else.  It must be a regular file that group and
    other cannot access in any way (mode 0600 or stricter), owned by us or
    root.  Once loaded, its hex text (both cases) is registered with
    ln_log_forbid(), so the key can never appear in a log line.

    Token
    -----
    BLAKE2b-256 keyed with the 32-byte regional key (libsodium
    crypto_generichash) over

        "lantern-pseudonym-v1" 0x00  kind (4 bytes, big-endian)
        length of the normalised text (8 bytes, big-endian)  normalised text

    written as 64 lowercase hex digits.  The kind is the int value of
    lantern.v1.IdentifierKind (LANTERN__V1__IDENTIFIER_KIND__IDENTIFIER_KIND_BSN, ...), so
    the same text under two kinds gives unrelated tokens.  Composite
    identifiers (name + date of birth, postcode + house number) are joined
    with '|' by the caller; no normal form below can contain '|', so the
    parts cannot run into each other.  Changing any normal form changes
    tokens: bump the "-v1" prefix when one does.

    Normal forms
    ------------
    Every normaliser takes UTF-8 text, writes the normal form (NUL-ended)
    to out (at most size bytes including the NUL) and returns 0; or returns
    -1 with err set to the code given below and err->field "" (the caller
    knows the field and fills it in).  Lenient on formatting, strict on
    garbage.  Error messages never quote the input (it is personal data).
    A result that does not fit in out fails with the same code.  Leading
    and trailing spaces/tabs are ignored everywhere.

    name  (INVALID_NAME)
        - invalid UTF-8, and control characters other than TAB, are refused;
        - letters of Latin-1 Supplement, Latin Extended-A and the Romanian
          S/T with comma (U+0218..U+021B) lose their diacritics and are
          lowercased: é->e, ö->o, ç->c, ñ->n, ø->o, ł->l, đ/ð->d, ı/İ->i,
          ß->ss, æ->ae, œ->oe, þ->th, ĳ->ij, ſ->s; ASCII is lowercased;
          combining marks U+0300..U+036F are dropped (so a decomposed é
          equals a precomposed one);
        - hyphens (- and U+2010..U+2015, U+2212), dots, commas and
          whitespace (space, TAB, NBSP, U+2000..U+200A, U+202F, U+205F,
          U+3000) separate words: "Jan-Willem" = "jan willem" = "Jan.Willem";
        - apostrophes (' ` ´ ‘ ’ ‛ ʼ) are dropped, joining the word:
          "D'Souza" = "DSouza" = "dsouza" (but not "d souza"), "O’Brien" =
          "obrien"; soft hyphen U+00AD, zero-width space U+200B and U+FEFF
          are dropped too;
        - text in parentheses is a remark (a nickname, a maiden name): it
          is checked like the rest and left out, as a word break: "Anna
          (Ania) Kowalska" = "Anna(Ania)Kowalska" = "Anna Kowalska".
          Parentheses must pair up and not nest, and a name needs a letter
          outside them;
        - digits, other ASCII punctuation and symbols, Latin-1 symbols
          (U+00A1..U+00BF except ´, and × ÷) and the rest of U+2000..U+206F
          are refused, and the message says which character, counted in
          characters from 1 ("character 14 ('2', a digit) is not allowed");
          printable ASCII is shown as itself, anything else only as U+XXXX;
        - Greek and Cyrillic basic capitals (U+0391..U+03A9,
          U+0400..U+042F) are lowercased and ς becomes σ; every other code
          point (other scripts, other Latin blocks) is kept as it is;
        - words are joined by one space; word order is not changed ("de
          Vries, Jan" != "Jan de Vries").  Nothing left: refused.
        Example: "  Jan-Willem  D'Éçole " -> "jan willem decole".
        Every name valid before the remark rule keeps its normal form and so
        its token (parentheses were refused until then; the tokens are
        pinned in tests/unit/test_pseudonym.c).

    place (INVALID_ADDRESS): a street or city name.  As name, but ASCII
        digits are kept ("Laan 1940-1945" -> "laan 1940 1945") and
        ( ) / & + ; : " separate words too, text in parentheses included
        ("Blerick (Venlo)" -> "blerick venlo"); other ASCII punctuation
        (# ! ? * ...) is refused.

    date  (INVALID_DATE) -> "YYYY-MM-DD"
        YYYY-MM-DD, or day first: D-M-YYYY, DD-MM-YYYY, D/M/YYYY,
        D.M.YYYY (one separator, used twice; 1 or 2 digits for day and
        month; the year always 4 digits; YYYY/MM/DD and YYYY.MM.DD too).
        Must be a real Gregorian date (leap years), year 0001..9999.
        Ranges (not in the future, ...) are the validator's business.

    phone (INVALID_PHONE) -> E.164 "+" and 8..15 digits
        Spaces, '-', '.', '/', '(' and ')' are ignored, as is a "(0)" after
        the country code.  "+CC..." is kept; "00CC..." becomes "+CC...";
        "0..." (not "00") is Dutch: exactly 9 digits must follow the 0 and
        the result is "+31" + those 9.  For +31, one trunk 0 written after
        the country code is dropped ("+31 06 ..."), and exactly 9 digits
        must follow 31.  A number without + or a leading 0 (no area code),
        letters, a '+' anywhere but first, or a country code starting with
        0: refused.
        "06 12345678", "+31 6 12345678", "0031612345678",
        "+31(0)6-1234 5678" -> "+31612345678".

    bsn   (INVALID_BSN, BSN_CHECKSUM) -> 9 digits
        Spaces and dots are ignored; 8 digits get a leading 0 (old BSNs
        written without it).  Anything but 8 or 9 digits: INVALID_BSN.
        Fails the 11-check or is all zeros: BSN_CHECKSUM.

    document (INVALID_DOCUMENT) -> 6..20 of [A-Z0-9]
        Uppercased; spaces and '-' ignored.

    postcode (INVALID_POSTCODE) -> "1234AB"
        Dutch only: 4 digits (the first 1-9) and 2 letters, spaces ignored,
        any case; the letter pairs SA, SD and SS are never issued: refused.

    house_number (INVALID_HOUSE_NUMBER) -> e.g. "12", "12A", "12-3", "12BIS"
        Spaces ignored, uppercased.  1..5 digits (the first 1-9), then an
        optional addition of up to 10 characters of [A-Z0-9] in groups
        separated by single '-' or '/' (not at its end).  A separator
        directly between the number and a letter is dropped ("12-a" =
        "12 A" = "12A"); between digits it is kept ("12-3" != "123").

    plate (INVALID_PLATE) -> 4..10 of [A-Z0-9]
        Uppercased; spaces and '-' ignored ("12-abc-3" -> "12ABC3").
        Foreign plates too; the country is the caller's part of the token.

    kvk   (INVALID_KVK) -> 8 digits
        Spaces and dots ignored; exactly 8 digits.
*/
#ifndef LN_PSEUDONYM_H
#define LN_PSEUDONYM_H

#include <stdbool.h>
#include <stddef.h>

#include "ln_error.h"

#define LN_PSEUDONYM_KEY_BYTES  32
#define LN_PSEUDONYM_TOKEN_SIZE 65 /* 64 lowercase hex + NUL */
/* Enough for the normal form of any field Lantern accepts (names are at
   most 200 bytes, and normalising never lengthens text). */
#define LN_PSEUDONYM_NORM_MAX 512

typedef struct {
    unsigned char bytes[LN_PSEUDONYM_KEY_BYTES];
} ln_pseudonym_key_t;

/* --- the regional key ------------------------------------------------------ */

/* Load the key file at path into *key (see above).  Error codes:
   KEYS_IO (cannot open or read), KEYS_INSECURE_FILE (group/other access,
   foreign owner, not a regular file), PSEUDONYM_KEY_INVALID (not 64 hex
   digits and an optional newline), KEYS_FORBID_FULL (the log scrubber's
   table is full).  The key is never written into err.  On failure *key
   is zeroed.  Returns 0 or -1. */
int ln_pseudonym_key_load (const char *path, ln_pseudonym_key_t *key, ln_error_t *err);

/* Create a new random key file at path: O_CREAT|O_EXCL|O_NOFOLLOW, mode
   0600 from its first moment, 64 lowercase hex digits and "\n", fsynced.
   Refuses an existing path (KEYS_EXISTS); KEYS_IO otherwise.  Returns 0
   or -1. */
int ln_pseudonym_key_generate (const char *path, ln_error_t *err);

/* Zero the key (sodium_memzero).  NULL-safe. */
void ln_pseudonym_key_wipe (ln_pseudonym_key_t *key);

/* --- normalisers (see "Normal forms" above) -------------------------------- */

int ln_pseudonym_norm_name (const char *in, char *out, size_t size, ln_error_t *err);
int ln_pseudonym_norm_place (const char *in, char *out, size_t size, ln_error_t *err);
int ln_pseudonym_norm_date (const char *in, char *out, size_t size, ln_error_t *err);
int ln_pseudonym_norm_phone (const char *in, char *out, size_t size, ln_error_t *err);
int ln_pseudonym_norm_bsn (const char *in, char *out, size_t size, ln_error_t *err);
int ln_pseudonym_norm_document (const char *in, char *out, size_t size, ln_error_t *err);
int ln_pseudonym_norm_postcode (const char *in, char *out, size_t size, ln_error_t *err);
int ln_pseudonym_norm_house_number (const char *in, char *out, size_t size, ln_error_t *err);
int ln_pseudonym_norm_plate (const char *in, char *out, size_t size, ln_error_t *err);
int ln_pseudonym_norm_kvk (const char *in, char *out, size_t size, ln_error_t *err);

/* True when nine_digits is exactly 9 ASCII digits, not all zero, and
   9*d1 + 8*d2 + ... + 2*d8 - 1*d9 is a multiple of 11.  NULL-safe. */
bool ln_pseudonym_bsn_valid (const char *nine_digits);

/* --- tokens ---------------------------------------------------------------- */

/* The token of `normalised` (a normal form, or normal forms joined by '|')
   of the given IdentifierKind (> 0: UNSPECIFIED has no tokens), as 64
   lowercase hex digits and a NUL.  Returns 0, or -1 (out set to "") when
   key or normalised is NULL, normalised is empty, or kind <= 0. */
int ln_pseudonym_token (const ln_pseudonym_key_t *key, int kind, const char *normalised,
                        char out[LN_PSEUDONYM_TOKEN_SIZE]);

#endif
