/*  triage: what the triage modules share (see triage.h). */
#include "triage.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ln_alloc.h"
#include "ln_utf8.h"
#include "triage.pb-c.h"

static const triage_event_type_t s_types[] = {
    {TRIAGE_EVENT_CASE_OPENED, &lantern__v1__case_opened__descriptor},
    {TRIAGE_EVENT_CASE_LINKED, &lantern__v1__case_linked__descriptor},
    {TRIAGE_EVENT_CASE_MERGED, &lantern__v1__case_merged__descriptor},
    {TRIAGE_EVENT_CASE_DECIDED, &lantern__v1__case_decided__descriptor},
    {TRIAGE_EVENT_TRACK_UPDATED, &lantern__v1__track_updated__descriptor},
    {TRIAGE_EVENT_CASE_CLOSED, &lantern__v1__case_closed__descriptor},
    {TRIAGE_EVENT_ALERT_RAISED, &lantern__v1__alert_raised__descriptor},
};

const triage_event_type_t *
triage_event_types (size_t *count)
{
    *count = sizeof s_types / sizeof s_types[0];
    return s_types;
}

/* --- ids ------------------------------------------------------------------------ */

static const char s_base32[] = "abcdefghijklmnopqrstuvwxyz234567";

static bool
s_chars_valid (const char *p)
{
    for (size_t i = 0; i < TRIAGE_ID_CHARS; i++)
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '2' && p[i] <= '7')))
            return false;
    return p[TRIAGE_ID_CHARS] == '\0';
}

bool
triage_prefixed_id_valid (const char *id, const char *prefix)
{
    size_t n = strlen (prefix);
    return id && strncmp (id, prefix, n) == 0 && strlen (id) == n + TRIAGE_ID_CHARS &&
           s_chars_valid (id + n);
}

bool
triage_signal_id_valid (const char *id)
{
    return triage_prefixed_id_valid (id, "sig-");
}

bool
triage_case_id_valid (const char *id)
{
    return triage_prefixed_id_valid (id, "case-");
}

int
triage_case_id_of (const char *signal_id, char out[TRIAGE_CASE_ID_SIZE])
{
    if (!triage_signal_id_valid (signal_id)) {
        out[0] = '\0';
        return -1;
    }
    snprintf (out, TRIAGE_CASE_ID_SIZE, "case-%s", signal_id + 4);
    return 0;
}

void
triage_random_id (const char *prefix, char *out, size_t size)
{
    uint8_t raw[16];
    char chars[TRIAGE_ID_CHARS + 1];
    randombytes_buf (raw, sizeof raw);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < sizeof raw; i++) {
        acc = (acc << 8) | raw[i];
        bits += 8;
        while (bits >= 5) {
            chars[o++] = s_base32[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    chars[o++] = s_base32[(acc << (5 - bits)) & 31]; /* 128 = 25 * 5 + 3 */
    chars[o] = '\0';
    snprintf (out, size, "%s%s", prefix, chars);
}

void
triage_event_id (const char *upstream, uint64_t position, unsigned n,
                 char out[LN_OUTBOX_EVENT_ID_SIZE])
{
    static const char tag[] = "lantern-triage-event-v1";
    uint8_t hash[16];
    uint8_t num[12];
    crypto_generichash_state st;
    crypto_generichash_init (&st, NULL, 0, sizeof hash);
    crypto_generichash_update (&st, (const uint8_t *)tag, sizeof tag); /* with its NUL */
    crypto_generichash_update (&st, (const uint8_t *)upstream, strlen (upstream) + 1);
    for (int i = 0; i < 8; i++)
        num[i] = (uint8_t)(position >> (56 - 8 * i));
    for (int i = 0; i < 4; i++)
        num[8 + i] = (uint8_t)(n >> (24 - 8 * i));
    crypto_generichash_update (&st, num, sizeof num);
    crypto_generichash_final (&st, hash, sizeof hash);
    sodium_bin2hex (out, LN_OUTBOX_EVENT_ID_SIZE, hash, sizeof hash);
}

/* --- emitting -------------------------------------------------------------------- */

int
triage_emit_outbox (void *ctx, const ln_outbox_event_t *ev, ln_error_t *err)
{
    return ln_outbox_append ((ln_db_t *)ctx, ev, NULL, 0, err);
}

int
triage_emit (triage_emitter_t *em, const char *type, const char *case_id, int64_t time_us,
             const ProtobufCMessage *msg, ln_error_t *err)
{
    char id[LN_OUTBOX_EVENT_ID_SIZE];
    size_t size = protobuf_c_message_get_packed_size (msg);
    uint8_t *buf = ln_xcalloc (1, size);
    protobuf_c_message_pack (msg, buf);
    if (em->upstream)
        triage_event_id (em->upstream, em->position, em->n++, id);
    ln_outbox_event_t ev = {
        .event_id = em->upstream ? id : NULL,
        .type = type,
        .level = em->level,
        .correlation_id = case_id,
        .time_us = time_us > 0 ? time_us : 0,
        .payload = buf,
        .payload_size = size,
    };
    int rc = em->fn (em->ctx, &ev, err);
    free (buf);
    return rc;
}

/* --- result messages ------------------------------------------------------------------ */

char *
triage_str (const char *text)
{
    if (!text || !*text)
        return (char *)protobuf_c_empty_string;
    return ln_xstrdup (text);
}

void
triage_push (void ***items, size_t *n, void *item)
{
    *items = ln_xrealloc (*items, *n + 1, sizeof **items);
    (*items)[(*n)++] = item;
}

void
triage_sort (void *base, size_t n, size_t size, int (*cmp) (const void *, const void *))
{
    if (n > 1)
        qsort (base, n, size, cmp);
}

void
triage_push_enum (int **items, size_t *n, int value)
{
    *items = ln_xrealloc (*items, *n + 1, sizeof **items);
    (*items)[(*n)++] = value;
}

void
triage_free_fields (ProtobufCMessage *msg)
{
    /* protobuf-c frees the message with its fields: give it a heap copy. */
    size_t size = msg->descriptor->sizeof_message;
    void *copy = ln_xcalloc (1, size);
    memcpy (copy, msg, size);
    protobuf_c_message_free_unpacked (copy, NULL);
}

void *
triage_alloc (size_t size)
{
    return ln_xcalloc (1, size);
}

/* --- texts and dates ------------------------------------------------------------------ */

bool
triage_blank (const char *text)
{
    for (const char *p = text ? text : ""; *p; p++)
        if (*p != ' ' && *p != '\t')
            return false;
    return true;
}

/* The first control character that text may not hold (intake's rule: C0
   but LF and TAB in multi-line texts, DEL, C1, U+2028..U+202E and
   U+2066..U+2069, the line separators and bidi controls that can make a
   text read differently from what it holds).  text is valid UTF-8. */
static bool
s_has_control (const char *text, bool multiline)
{
    const unsigned char *p = (const unsigned char *)text;
    for (size_t i = 0; p[i]; i++) {
        unsigned char c = p[i];
        if (c < 0x20) {
            if (!(multiline && (c == '\n' || c == '\t')))
                return true;
        }
        else if (c == 0x7f)
            return true;
        else if (c == 0xc2 && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f)
            return true;
        else if (c == 0xe2 && p[i + 1] == 0x80 && p[i + 2] >= 0xa8 && p[i + 2] <= 0xae)
            return true;
        else if (c == 0xe2 && p[i + 1] == 0x81 && p[i + 2] >= 0xa6 && p[i + 2] <= 0xa9)
            return true;
    }
    return false;
}

const char *
triage_text_problem (const char *text, size_t max, bool multiline, bool required)
{
    text = text ? text : "";
    size_t len = strlen (text);
    if (required && triage_blank (text))
        return "MISSING_TEXT";
    if (len > max)
        return "TEXT_TOO_LONG";
    if (ln_utf8_check (text, len, LN_UTF8_ALLOW_CONTROLS, NULL) != 0)
        return "INVALID_UTF8";
    if (s_has_control (text, multiline))
        return "CONTROL_CHARACTER";
    return NULL;
}

/* Howard Hinnant's days_from_civil / civil_from_days. */
int64_t
triage_days_from_civil (int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void
triage_civil_from_days (int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static unsigned
s_days_in_month (int64_t y, unsigned m)
{
    static const unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

int
triage_date_parse (const char *text, int64_t *days)
{
    if (!text || strlen (text) != 10 || text[4] != '-' || text[7] != '-')
        return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (text[i] < '0' || text[i] > '9'))
            return -1;
    int64_t y =
        (text[0] - '0') * 1000 + (text[1] - '0') * 100 + (text[2] - '0') * 10 + (text[3] - '0');
    unsigned m = (unsigned)((text[5] - '0') * 10 + (text[6] - '0'));
    unsigned d = (unsigned)((text[8] - '0') * 10 + (text[9] - '0'));
    if (y < 1900 || m < 1 || m > 12 || d < 1 || d > s_days_in_month (y, m))
        return -1;
    *days = triage_days_from_civil (y, m, d);
    return 0;
}

void
triage_date_format (int64_t days, char *out, size_t out_size)
{
    int64_t y;
    unsigned m, d;
    triage_civil_from_days (days, &y, &m, &d);
    snprintf (out, out_size, "%04" PRId64 "-%02u-%02u", y, m, d);
}
