/*  test_pbcheck: ln_utf8 and ln_pbcheck.

    ln_pbcheck is generic, so it is tested against a message type made for
    the purpose: `t.Person`, with every shape the validator must handle
    (string, repeated string, enum, packed repeated enum, fixed32 and bool,
    map, bytes, repeated sub-message, and a RECURSIVE sub-message, which Lantern's own
    schema forbids but which proves that the depth limit holds before
    protobuf-c recurses).  Its protobuf-c descriptors are written out by hand
    below, so that the test needs no .proto in the library:

        enum Color { COLOR_UNSPECIFIED = 0; RED = 1; GREEN = 2; }
        message Person {
          string name = 1;
          repeated string aliases = 2;
          Color color = 3;
          map<string, int32> scores = 4;
          Person child = 5;
          bytes blob = 6;
          repeated Person friends = 7;
          repeated Color colors = 8;    // packed
          repeated fixed32 stamps = 9;  // packed
          repeated bool flags = 10;     // packed
        }

    Inputs are written with a small protobuf wire writer, so that they can
    hold what protobuf-c would never produce (NULs in strings, duplicate map
    keys, unknown fields, wrong wire types, absurd nesting).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cloudevents.pb-c.h"
#include "lantern.pb-c.h"
#include "wire.pb-c.h"
#include "ln_pbcheck.h"
#include "ln_utf8.h"

// --------------------------------------------------------------------------
// t.Person, by hand

typedef struct {
    ProtobufCMessage base;
    char *key;
    int32_t value;
} t_scores_entry_t;

typedef struct t_person_s t_person_t;
struct t_person_s {
    ProtobufCMessage base;
    char *name;
    size_t n_aliases;
    char **aliases;
    int color;
    size_t n_scores;
    t_scores_entry_t **scores;
    t_person_t *child;
    ProtobufCBinaryData blob;
    size_t n_friends;
    t_person_t **friends;
    size_t n_colors;
    int *colors;
    size_t n_stamps;
    uint32_t *stamps;
    size_t n_flags;
    protobuf_c_boolean *flags;
};

static const ProtobufCEnumValue s_color_values[] = {
    {"COLOR_UNSPECIFIED", "T__COLOR__COLOR_UNSPECIFIED", 0},
    {"RED", "T__COLOR__RED", 1},
    {"GREEN", "T__COLOR__GREEN", 2},
};
static const ProtobufCIntRange s_color_ranges[] = {{0, 0}, {0, 3}};
static const ProtobufCEnumValueIndex s_color_by_name[] = {
    {"COLOR_UNSPECIFIED", 0}, {"GREEN", 2}, {"RED", 1}};
static const ProtobufCEnumDescriptor s_color_desc = {PROTOBUF_C__ENUM_DESCRIPTOR_MAGIC,
                                                     "t.Color",
                                                     "Color",
                                                     "T__Color",
                                                     "t",
                                                     3,
                                                     s_color_values,
                                                     3,
                                                     s_color_by_name,
                                                     1,
                                                     s_color_ranges,
                                                     NULL,
                                                     NULL,
                                                     NULL,
                                                     NULL};

extern const ProtobufCMessageDescriptor s_person_desc;
extern const ProtobufCMessageDescriptor s_entry_desc;

/* protobuf-c frees a string unless it is the field's default, so string
   fields need protobuf_c_empty_string as their default, as protoc-c gives. */
#define FIELD(NAME, ID, LABEL, TYPE, QOFF, OFF, DESC, FLAGS)                                       \
    {                                                                                              \
        NAME, ID, PROTOBUF_C_LABEL_##LABEL, PROTOBUF_C_TYPE_##TYPE, QOFF, OFF, DESC,               \
            PROTOBUF_C_TYPE_##TYPE == PROTOBUF_C_TYPE_STRING ? &protobuf_c_empty_string : NULL,    \
            FLAGS, 0, NULL, NULL                                                                   \
    }

static const ProtobufCFieldDescriptor s_entry_fields[] = {
    FIELD ("key", 1, NONE, STRING, 0, offsetof (t_scores_entry_t, key), NULL, 0),
    FIELD ("value", 2, NONE, INT32, 0, offsetof (t_scores_entry_t, value), NULL, 0),
};
static const unsigned s_entry_by_name[] = {0, 1};
static const ProtobufCIntRange s_entry_ranges[] = {{1, 0}, {0, 2}};

static void
s_entry_init (ProtobufCMessage *m)
{
    t_scores_entry_t *e = (t_scores_entry_t *)m;
    memset (e, 0, sizeof *e);
    e->base.descriptor = &s_entry_desc;
    e->key = (char *)protobuf_c_empty_string;
}

const ProtobufCMessageDescriptor s_entry_desc = {PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC,
                                                 "t.Person.ScoresEntry",
                                                 "ScoresEntry",
                                                 "T__Person__ScoresEntry",
                                                 "t",
                                                 sizeof (t_scores_entry_t),
                                                 2,
                                                 s_entry_fields,
                                                 s_entry_by_name,
                                                 1,
                                                 s_entry_ranges,
                                                 (ProtobufCMessageInit)s_entry_init,
                                                 NULL,
                                                 NULL,
                                                 NULL};

#define P(member) offsetof (t_person_t, member)
static const ProtobufCFieldDescriptor s_person_fields[] = {
    FIELD ("name", 1, NONE, STRING, 0, P (name), NULL, 0),
    FIELD ("aliases", 2, REPEATED, STRING, P (n_aliases), P (aliases), NULL, 0),
    FIELD ("color", 3, NONE, ENUM, 0, P (color), &s_color_desc, 0),
    FIELD ("scores", 4, REPEATED, MESSAGE, P (n_scores), P (scores), &s_entry_desc, 0),
    FIELD ("child", 5, NONE, MESSAGE, 0, P (child), &s_person_desc, 0),
    FIELD ("blob", 6, NONE, BYTES, 0, P (blob), NULL, 0),
    FIELD ("friends", 7, REPEATED, MESSAGE, P (n_friends), P (friends), &s_person_desc, 0),
    FIELD ("colors", 8, REPEATED, ENUM, P (n_colors), P (colors), &s_color_desc,
           PROTOBUF_C_FIELD_FLAG_PACKED),
    FIELD ("stamps", 9, REPEATED, FIXED32, P (n_stamps), P (stamps), NULL,
           PROTOBUF_C_FIELD_FLAG_PACKED),
    FIELD ("flags", 10, REPEATED, BOOL, P (n_flags), P (flags), NULL, PROTOBUF_C_FIELD_FLAG_PACKED),
};
static const unsigned s_person_by_name[] = {1, 5, 4, 2, 7, 9, 6, 0, 3, 8};
static const ProtobufCIntRange s_person_ranges[] = {{1, 0}, {0, 10}};

static void
s_person_init (ProtobufCMessage *m)
{
    t_person_t *p = (t_person_t *)m;
    memset (p, 0, sizeof *p);
    p->base.descriptor = &s_person_desc;
    p->name = (char *)protobuf_c_empty_string;
}

const ProtobufCMessageDescriptor s_person_desc = {PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC,
                                                  "t.Person",
                                                  "Person",
                                                  "T__Person",
                                                  "t",
                                                  sizeof (t_person_t),
                                                  10,
                                                  s_person_fields,
                                                  s_person_by_name,
                                                  1,
                                                  s_person_ranges,
                                                  (ProtobufCMessageInit)s_person_init,
                                                  NULL,
                                                  NULL,
                                                  NULL};

// --------------------------------------------------------------------------
// A protobuf wire writer for hostile inputs

typedef struct {
    uint8_t *data;
    size_t len, cap;
} buf_t;

static void
b_raw (buf_t *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->data = realloc (b->data, b->cap);
        assert_non_null (b->data);
    }
    if (n)
        memcpy (b->data + b->len, p, n);
    b->len += n;
}

static void
b_varint (buf_t *b, uint64_t v)
{
    do {
        uint8_t c = (uint8_t)(v & 0x7F);
        v >>= 7;
        if (v)
            c |= 0x80;
        b_raw (b, &c, 1);
    } while (v);
}

static void
b_tag (buf_t *b, uint32_t field, int wire_type)
{
    b_varint (b, ((uint64_t)field << 3) | (uint64_t)wire_type);
}

/* Length-delimited field with raw content. */
static void
b_len (buf_t *b, uint32_t field, const void *p, size_t n)
{
    b_tag (b, field, 2);
    b_varint (b, n);
    b_raw (b, p, n);
}

static void
b_str (buf_t *b, uint32_t field, const char *s)
{
    b_len (b, field, s, strlen (s));
}

/* A field whose content is another buffer (a sub-message). */
static void
b_msg (buf_t *b, uint32_t field, const buf_t *sub)
{
    b_len (b, field, sub->data, sub->len);
}

static void
b_uint (buf_t *b, uint32_t field, uint64_t v)
{
    b_tag (b, field, 0);
    b_varint (b, v);
}

static void
b_free (buf_t *b)
{
    free (b->data);
    memset (b, 0, sizeof *b);
}

/* A map<string,int32> entry */
static void
b_entry (buf_t *b, uint32_t field, const char *key, size_t key_len, int32_t value)
{
    buf_t e = {0};
    b_len (&e, 1, key, key_len);
    b_uint (&e, 2, (uint64_t)(int64_t)value);
    b_msg (b, field, &e);
    b_free (&e);
}

/* Unpack with the given limits (NULL: defaults); expect failure with code
   and field. */
static void
s_expect_fail (const buf_t *b, const ln_pbcheck_limits_t *lim, const char *prefix, const char *code,
               const char *field)
{
    ln_error_t err;
    ln_error_clear (&err);
    ProtobufCMessage *m = ln_pbcheck_unpack (&s_person_desc, b->data, b->len, lim, prefix, &err);
    if (m)
        protobuf_c_message_free_unpacked (m, NULL);
    assert_null (m);
    assert_non_null (err.code);
    if (strcmp (err.code, code) != 0 || strcmp (err.field, field) != 0)
        print_message ("got %s at '%s' (%s); expected %s at '%s'\n", err.code, err.field,
                       err.message, code, field);
    assert_string_equal (err.code, code);
    assert_string_equal (err.field, field);
    assert_true (err.message[0] != '\0');
}

static t_person_t *
s_expect_ok (const buf_t *b, const ln_pbcheck_limits_t *lim)
{
    ln_error_t err;
    ln_error_clear (&err);
    ProtobufCMessage *m = ln_pbcheck_unpack (&s_person_desc, b->data, b->len, lim, NULL, &err);
    if (!m)
        print_message ("unexpected %s at '%s': %s\n", err.code, err.field, err.message);
    assert_non_null (m);
    return (t_person_t *)m;
}

// --------------------------------------------------------------------------
// ln_utf8

/* An independent, slow reference: decode by the bit patterns, then refuse
   non-shortest forms, surrogates, > U+10FFFF and the controls. */
static int
s_ref_utf8 (const uint8_t *s, size_t len, int flags)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            n = 1;
            cp = c;
        }
        else if ((c & 0xE0) == 0xC0) {
            n = 2;
            cp = c & 0x1F;
        }
        else if ((c & 0xF0) == 0xE0) {
            n = 3;
            cp = c & 0x0F;
        }
        else if ((c & 0xF8) == 0xF0) {
            n = 4;
            cp = c & 0x07;
        }
        else
            return -1;
        if (i + n > len)
            return -1;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return -1;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        size_t shortest = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (n != shortest || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF || cp == 0)
            return -1;
        bool control = (cp < 0x20 && cp != 9 && cp != 10 && cp != 13) || (cp >= 0x7F && cp <= 0x9F);
        if (control && !(flags & LN_UTF8_ALLOW_CONTROLS))
            return -1;
        i += n;
    }
    return 0;
}

static void
test_utf8_known (void **state)
{
    (void)state;
    struct {
        const char *s;
        size_t len;
        int ok;
    } cases[] = {
        {"", 0, 1},
        {"plain ascii", 11, 1},
        {"tab\tnl\ncr\r", 10, 1},
        {"caf\xc3\xa9", 5, 1},      /* é */
        {"\xe2\x82\xac", 3, 1},     /* € */
        {"\xef\xbf\xbd", 3, 1},     /* U+FFFD */
        {"\xf0\x9f\x98\x80", 4, 1}, /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", 4, 1}, /* U+10FFFF */
        {"\xc2\xa0", 2, 1},         /* U+00A0, first after C1 */
        {"a\0b", 3, 0},             /* NUL */
        {"\xc0\x80", 2, 0},         /* overlong NUL */
        {"\xc1\xbf", 2, 0},         /* overlong */
        {"\xe0\x80\x80", 3, 0},     /* overlong */
        {"\xe0\x9f\xbf", 3, 0},     /* overlong U+07FF */
        {"\xf0\x80\x80\x80", 4, 0}, /* overlong */
        {"\xf0\x8f\xbf\xbf", 4, 0}, /* overlong U+FFFF */
        {"\xed\xa0\x80", 3, 0},     /* U+D800 */
        {"\xed\xbf\xbf", 3, 0},     /* U+DFFF */
        {"\xf4\x90\x80\x80", 4, 0}, /* U+110000 */
        {"\xf5\x80\x80\x80", 4, 0},
        {"\xff", 1, 0},
        {"\x80", 1, 0},         /* lone continuation */
        {"\xe2\x82", 2, 0},     /* truncated */
        {"\xf0\x9f\x98", 3, 0}, /* truncated */
        {"\xc3(", 2, 0},        /* bad continuation */
        {"\x1b[31m", 5, 0},     /* ESC */
        {"\x7f", 1, 0},         /* DEL */
        {"\xc2\x80", 2, 0},     /* C1 U+0080 */
        {"\xc2\x9f", 2, 0},     /* C1 U+009F */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = ln_utf8_check (cases[i].s, cases[i].len, LN_UTF8_TEXT, NULL);
        if ((rc == 0) != cases[i].ok)
            print_message ("case %zu: rc %d\n", i, rc);
        assert_int_equal (rc == 0, cases[i].ok);
        assert_int_equal (ln_utf8_valid (cases[i].s, cases[i].len), cases[i].ok);
    }
    /* Controls may be allowed; NUL never */
    assert_int_equal (ln_utf8_check ("\x1b[0m\x7f\xc2\x85", 7, LN_UTF8_ALLOW_CONTROLS, NULL), 0);
    assert_int_equal (ln_utf8_check ("a\0", 2, LN_UTF8_ALLOW_CONTROLS, NULL), -1);
    assert_int_equal (ln_utf8_check (NULL, 0, 0, NULL), 0);
    assert_int_equal (ln_utf8_check (NULL, 1, 0, NULL), -1);
}

static void
test_utf8_offset_and_fast_path (void **state)
{
    (void)state;
    /* A bad byte at every position of a long ASCII string (exercises the
       8-byte fast path and its edges), and the offset reported. */
    char s[100];
    for (size_t pos = 0; pos < sizeof s; pos++) {
        const uint8_t bad[] = {0x00, 0x01, 0x1f, 0x7f, 0x80, 0xc0, 0xff};
        for (size_t k = 0; k < sizeof bad; k++) {
            memset (s, 'x', sizeof s);
            s[pos] = (char)bad[k];
            size_t off = 9999;
            assert_int_equal (ln_utf8_check (s, sizeof s, LN_UTF8_TEXT, &off), -1);
            assert_int_equal (off, pos);
        }
    }
    memset (s, '~', sizeof s);
    assert_int_equal (ln_utf8_check (s, sizeof s, LN_UTF8_TEXT, NULL), 0);
    memset (s, ' ', sizeof s);
    assert_int_equal (ln_utf8_check (s, sizeof s, LN_UTF8_TEXT, NULL), 0);
}

static void
test_utf8_exhaustive (void **state)
{
    (void)state;
    uint8_t s[4];
    /* every 1- and 2-byte string */
    for (unsigned a = 0; a < 256; a++) {
        s[0] = (uint8_t)a;
        for (int flags = 0; flags <= 1; flags++)
            assert_int_equal (ln_utf8_check (s, 1, flags, NULL), s_ref_utf8 (s, 1, flags));
        for (unsigned b = 0; b < 256; b++) {
            s[1] = (uint8_t)b;
            for (int flags = 0; flags <= 1; flags++)
                assert_int_equal (ln_utf8_check (s, 2, flags, NULL), s_ref_utf8 (s, 2, flags));
        }
    }
    /* every 3-byte string led by E0..EF, and every 4-byte string led by
       F0..F4 with its last byte from the interesting edges */
    const uint8_t edges[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff};
    for (unsigned a = 0xe0; a <= 0xef; a++)
        for (unsigned b = 0; b < 256; b++)
            for (unsigned c = 0; c < 256; c++) {
                s[0] = (uint8_t)a, s[1] = (uint8_t)b, s[2] = (uint8_t)c;
                assert_int_equal (ln_utf8_check (s, 3, 0, NULL), s_ref_utf8 (s, 3, 0));
            }
    for (unsigned a = 0xf0; a <= 0xf7; a++)
        for (unsigned b = 0; b < 256; b++)
            for (unsigned c = 0; c < sizeof edges; c++)
                for (unsigned d = 0; d < sizeof edges; d++) {
                    s[0] = (uint8_t)a, s[1] = (uint8_t)b, s[2] = edges[c], s[3] = edges[d];
                    assert_int_equal (ln_utf8_check (s, 4, 0, NULL), s_ref_utf8 (s, 4, 0));
                }
}

// --------------------------------------------------------------------------
// ln_pbcheck: the good case

static void
test_valid_person (void **state)
{
    (void)state;
    buf_t b = {0}, f = {0};
    b_str (&b, 1, "Ada");
    b_str (&b, 2, "A. L.");
    b_str (&b, 2, "Countess");
    b_uint (&b, 3, 2);
    b_entry (&b, 4, "x", 1, 7);
    b_entry (&b, 4, "y", 1, 8);
    b_len (&b, 6, "\0\xff\x01", 3); /* bytes may hold anything */
    b_str (&f, 1, "Charles");
    b_msg (&b, 7, &f);
    uint8_t packed[] = {1, 2, 0};
    b_len (&b, 8, packed, sizeof packed);
    t_person_t *p = s_expect_ok (&b, NULL);
    assert_string_equal (p->name, "Ada");
    assert_int_equal (p->n_aliases, 2);
    assert_string_equal (p->aliases[1], "Countess");
    assert_int_equal (p->color, 2);
    assert_int_equal (p->n_scores, 2);
    assert_string_equal (p->scores[1]->key, "y");
    assert_int_equal (p->blob.len, 3);
    assert_int_equal (p->n_friends, 1);
    assert_string_equal (p->friends[0]->name, "Charles");
    assert_int_equal (p->n_colors, 3);
    protobuf_c_message_free_unpacked (&p->base, NULL);
    b_free (&f);
    b_free (&b);
}

static void
test_is_map (void **state)
{
    (void)state;
    assert_true (ln_pbcheck_is_map (&s_person_fields[3]));  /* scores */
    assert_false (ln_pbcheck_is_map (&s_person_fields[1])); /* aliases */
    assert_false (ln_pbcheck_is_map (&s_person_fields[6])); /* friends */
    assert_false (ln_pbcheck_is_map (&s_person_fields[4])); /* child */
    const ProtobufCFieldDescriptor *attrs = protobuf_c_message_descriptor_get_field_by_name (
        &io__cloudevents__v1__cloud_event__descriptor, "attributes");
    assert_non_null (attrs);
    assert_true (ln_pbcheck_is_map (attrs));
    const ProtobufCFieldDescriptor *events = protobuf_c_message_descriptor_get_field_by_name (
        &io__cloudevents__v1__cloud_event_batch__descriptor, "events");
    assert_false (ln_pbcheck_is_map (events));
}

// --------------------------------------------------------------------------
// Wire pass: strings, NUL, paths

static void
test_invalid_utf8_paths (void **state)
{
    (void)state;
    buf_t b = {0}, f = {0}, g = {0};

    /* embedded NUL: protobuf-c would hand us "Ad" */
    b_len (&b, 1, "Ad\0a", 4);
    s_expect_fail (&b, NULL, NULL, "PB_INVALID_UTF8", "name");
    b_free (&b);

    b_str (&b, 2, "fine");
    b_str (&b, 2, "\xc0\x80");
    s_expect_fail (&b, NULL, NULL, "PB_INVALID_UTF8", "aliases[1]");
    b_free (&b);

    /* friends[2].name, the third friend, after good ones */
    b_str (&f, 1, "ok");
    b_msg (&b, 7, &f);
    b_str (&b, 1, "between"); /* other fields between do not count */
    b_msg (&b, 7, &f);
    b_str (&g, 1, "bad\x1b[2J");
    b_msg (&b, 7, &g);
    s_expect_fail (&b, NULL, NULL, "PB_INVALID_UTF8", "friends[2].name");
    s_expect_fail (&b, NULL, "data", "PB_INVALID_UTF8", "data.friends[2].name");
    b_free (&b);
    b_free (&f);
    b_free (&g);

    /* deeper: child.friends[1].aliases[0] */
    b_str (&g, 2, "\xed\xa0\x80");
    b_str (&f, 1, "x");
    b_msg (&b, 7, &f); /* b is now the child */
    b_msg (&b, 7, &g);
    buf_t top = {0};
    b_msg (&top, 5, &b);
    s_expect_fail (&top, NULL, NULL, "PB_INVALID_UTF8", "child.friends[1].aliases[0]");
    b_free (&top);
    b_free (&b);
    b_free (&f);
    b_free (&g);

    /* map key: plain keys are named, others by index */
    b_entry (&b, 4, "a", 1, 1);
    b_entry (&b, 4, "b\0", 2, 1);
    s_expect_fail (&b, NULL, NULL, "PB_INVALID_UTF8", "scores[1].key");
    b_free (&b);
}

static void
test_lengths (void **state)
{
    (void)state;
    ln_pbcheck_limits_t lim = LN_PBCHECK_LIMITS_DEFAULT;
    lim.max_string = 5;
    lim.max_bytes = 4;
    buf_t b = {0};
    b_str (&b, 1, "12345");
    b_len (&b, 6, "1234", 4);
    t_person_t *p = s_expect_ok (&b, &lim);
    protobuf_c_message_free_unpacked (&p->base, NULL);
    b_free (&b);

    b_str (&b, 1, "123456");
    s_expect_fail (&b, &lim, NULL, "PB_TOO_LONG", "name");
    b_free (&b);
    b_len (&b, 6, "12345", 5);
    s_expect_fail (&b, &lim, NULL, "PB_TOO_LONG", "blob");
    b_free (&b);

    /* the message pass alone, on a locally built message: strnlen-bounded */
    t_person_t m;
    s_person_init (&m.base);
    m.name = "123456";
    ln_error_t err;
    assert_int_equal (ln_pbcheck_message (&m.base, &lim, NULL, &err), -1);
    assert_string_equal (err.code, "PB_TOO_LONG");
    assert_string_equal (err.field, "name");
}

static void
test_unknown_fields (void **state)
{
    (void)state;
    buf_t b = {0}, f = {0};
    b_str (&b, 1, "x");
    b_uint (&b, 99, 1);
    s_expect_fail (&b, NULL, NULL, "PB_UNKNOWN_FIELD", "#99");

    ln_pbcheck_limits_t lim = LN_PBCHECK_LIMITS_DEFAULT;
    lim.allow_unknown = true;
    t_person_t *p = s_expect_ok (&b, &lim);
    assert_int_equal (p->base.n_unknown_fields, 1);
    /* the message pass agrees with the wire pass */
    ln_error_t err;
    assert_int_equal (ln_pbcheck_message (&p->base, NULL, "req", &err), -1);
    assert_string_equal (err.code, "PB_UNKNOWN_FIELD");
    assert_string_equal (err.field, "req.#99");
    assert_int_equal (ln_pbcheck_message (&p->base, &lim, NULL, &err), 0);
    protobuf_c_message_free_unpacked (&p->base, NULL);
    b_free (&b);

    b_len (&f, 1000, "zz", 2);
    b_msg (&b, 7, &f);
    s_expect_fail (&b, NULL, NULL, "PB_UNKNOWN_FIELD", "friends[0].#1000");
    b_free (&b);
    b_free (&f);

    /* unknown field inside a map entry, whose key is plain */
    b_str (&f, 1, "k");
    b_uint (&f, 3, 1);
    b_msg (&b, 4, &f);
    s_expect_fail (&b, NULL, NULL, "PB_UNKNOWN_FIELD", "scores[0].#3");
    b_free (&b);
    b_free (&f);
}

static void
test_malformed (void **state)
{
    (void)state;
    struct {
        const char *bytes;
        size_t len;
        const char *field;
    } cases[] = {
        {"\x0a\x05"
         "abc",
         5, ""},                                                      /* length past the end */
        {"\x18\xff\xff", 3, ""},                                      /* truncated varint */
        {"\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12, ""}, /* 11-byte varint */
        {"\x0b\x0c", 2, ""},                   /* group wire type (start/end) */
        {"\x0f", 1, ""},                       /* wire type 7 */
        {"\x02\x00", 2, ""},                   /* field number 0 */
        {"\x08\x01", 2, "name"},               /* string as varint */
        {"\x1a\x01\x01", 3, "color"},          /* enum as length-delimited */
        {"\x2d\x00\x00\x00\x00", 5, "child"},  /* message as fixed32 */
        {"\xff\xff\xff\xff\xff\x01", 6, ""},   /* tag longer than 5 bytes */
        {"\x3a\x02\x0a\x05", 4, "friends[0]"}, /* inner length past inner end */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf_t b = {0};
        b_raw (&b, cases[i].bytes, cases[i].len);
        s_expect_fail (&b, NULL, NULL, "PB_DECODE", cases[i].field);
        b_free (&b);
    }
    /* packed enums are fine as length-delimited */
    buf_t b = {0};
    b_raw (&b, "\x42\x02\x01\x02", 4);
    t_person_t *p = s_expect_ok (&b, NULL);
    protobuf_c_message_free_unpacked (&p->base, NULL);
    b_free (&b);
}

// --------------------------------------------------------------------------
// Depth

/* `depth` levels of child inside child, the innermost with a name.  Built
   in one pass (headers outside-in, then the core), since copying the
   buffer per level would be quadratic. */
static void
s_nested (buf_t *out, unsigned depth, const char *inner_name)
{
    buf_t core = {0};
    b_str (&core, 1, inner_name);
    size_t *len = calloc (depth + 1, sizeof *len);
    assert_non_null (len);
    len[depth] = core.len; /* len[i]: bytes inside the header of level i */
    for (unsigned i = depth; i-- > 0;) {
        size_t inner = len[i + 1], v = inner, n = 1;
        while (v >= 0x80)
            v >>= 7, n++;
        len[i] = inner + 1 + n; /* tag 0x2a + length varint + inner */
    }
    buf_t b = {0};
    for (unsigned i = 0; i < depth; i++) {
        b_tag (&b, 5, 2);
        b_varint (&b, len[i + 1]);
    }
    b_raw (&b, core.data, core.len);
    b_free (&core);
    free (len);
    *out = b;
}

static void
test_depth (void **state)
{
    (void)state;
    buf_t b;
    s_nested (&b, 8, "deep"); /* 8 levels below the top: allowed */
    t_person_t *p = s_expect_ok (&b, NULL);
    protobuf_c_message_free_unpacked (&p->base, NULL);
    b_free (&b);

    s_nested (&b, 9, "deep");
    s_expect_fail (&b, NULL, NULL, "PB_TOO_DEEP",
                   "child.child.child.child.child.child.child.child.child");
    b_free (&b);

    /* deep nesting is refused before anything recurses into it, also when
       an error hides at the bottom */
    s_nested (&b, 9, "\xff");
    s_expect_fail (&b, NULL, NULL, "PB_TOO_DEEP",
                   "child.child.child.child.child.child.child.child.child");
    b_free (&b);

    /* 200000 levels (protobuf-c alone would recurse 200000 deep) */
    s_nested (&b, 200000, "x");
    ln_error_t err;
    assert_null (ln_pbcheck_unpack (&s_person_desc, b.data, b.len, NULL, NULL, &err));
    assert_string_equal (err.code, "PB_TOO_DEEP");
    b_free (&b);

    ln_pbcheck_limits_t lim = LN_PBCHECK_LIMITS_DEFAULT;
    lim.max_depth = 0;
    s_nested (&b, 1, "x");
    s_expect_fail (&b, &lim, NULL, "PB_TOO_DEEP", "child");
    b_free (&b);

    /* the message pass on a locally built chain */
    t_person_t chain[12];
    for (int i = 0; i < 12; i++) {
        s_person_init (&chain[i].base);
        chain[i].child = i + 1 < 12 ? &chain[i + 1] : NULL;
    }
    assert_int_equal (ln_pbcheck_message (&chain[0].base, NULL, NULL, &err), -1);
    assert_string_equal (err.code, "PB_TOO_DEEP");
    assert_int_equal (ln_pbcheck_message (&chain[3].base, NULL, NULL, &err), 0);
}

// --------------------------------------------------------------------------
// Message pass: enums, counts, duplicate keys

static void
test_enums (void **state)
{
    (void)state;
    buf_t b = {0}, f = {0};
    b_uint (&b, 3, 3);
    s_expect_fail (&b, NULL, NULL, "PB_BAD_ENUM", "color");
    b_free (&b);

    b_uint (&b, 3, (uint64_t)-1); /* -1 as a 10-byte varint */
    s_expect_fail (&b, NULL, NULL, "PB_BAD_ENUM", "color");
    b_free (&b);

    b_raw (&b, "\x42\x03\x01\x02\x09", 5); /* packed: 1, 2, 9 */
    s_expect_fail (&b, NULL, NULL, "PB_BAD_ENUM", "colors[2]");
    b_free (&b);

    b_uint (&f, 3, 1);
    b_msg (&b, 7, &f);
    b_free (&f);
    b_uint (&f, 3, 42);
    b_msg (&b, 7, &f);
    s_expect_fail (&b, NULL, "data", "PB_BAD_ENUM", "data.friends[1].color");
    b_free (&b);
    b_free (&f);
}

static void
test_counts (void **state)
{
    (void)state;
    ln_pbcheck_limits_t lim = LN_PBCHECK_LIMITS_DEFAULT;
    lim.max_repeated = 3;
    buf_t b = {0};
    for (int i = 0; i < 3; i++)
        b_str (&b, 2, "a");
    t_person_t *p = s_expect_ok (&b, &lim);
    protobuf_c_message_free_unpacked (&p->base, NULL);
    b_str (&b, 2, "a");
    s_expect_fail (&b, &lim, NULL, "PB_TOO_MANY", "aliases");
    b_free (&b);

    b_raw (&b, "\x42\x04\x01\x01\x01\x01", 6);
    s_expect_fail (&b, &lim, NULL, "PB_TOO_MANY", "colors");
    b_free (&b);
}

// --------------------------------------------------------------------------
// Issue 9 point 4: repeated fields are counted, and what protobuf-c would
// allocate is budgeted, in the WIRE pass, before protobuf-c allocates

/* The wire pass ALONE refuses b with code at field (today's code left
   counts to the message pass, after protobuf-c had allocated everything),
   and so does the whole unpack. */
static void
s_expect_wire_fail (const buf_t *b, const ln_pbcheck_limits_t *lim, const char *code,
                    const char *field)
{
    ln_error_t err;
    ln_error_clear (&err);
    int rc = ln_pbcheck_wire (&s_person_desc, b->data, b->len, lim, NULL, &err);
    if (rc == 0)
        print_message ("the wire pass accepted it; expected %s at '%s'\n", code, field);
    assert_int_equal (rc, -1);
    if (strcmp (err.code, code) != 0 || strcmp (err.field, field) != 0)
        print_message ("got %s at '%s' (%s)\n", err.code, err.field, err.message);
    assert_string_equal (err.code, code);
    assert_string_equal (err.field, field);
    s_expect_fail (b, lim, NULL, code, field);
}

/* More than max elements: the wire pass says PB_TOO_MANY at field, and
   the message pass, on the same bytes decoded without the wire pass,
   names the same field. */
static void
s_expect_too_many (const buf_t *b, size_t max, const char *field)
{
    ln_pbcheck_limits_t lim = LN_PBCHECK_LIMITS_DEFAULT;
    lim.max_repeated = max;
    s_expect_wire_fail (b, &lim, "PB_TOO_MANY", field);
    ProtobufCMessage *m = protobuf_c_message_unpack (&s_person_desc, NULL, b->len, b->data);
    assert_non_null (m);
    ln_error_t err;
    assert_int_equal (ln_pbcheck_message (m, &lim, NULL, &err), -1);
    assert_string_equal (err.code, "PB_TOO_MANY");
    assert_string_equal (err.field, field);
    protobuf_c_message_free_unpacked (m, NULL);
}

/* At most max elements: both passes accept. */
static t_person_t *
s_expect_within (const buf_t *b, size_t max)
{
    ln_pbcheck_limits_t lim = LN_PBCHECK_LIMITS_DEFAULT;
    lim.max_repeated = max;
    assert_int_equal (ln_pbcheck_wire (&s_person_desc, b->data, b->len, &lim, NULL, NULL), 0);
    return s_expect_ok (b, &lim);
}

static void
s_within_free (const buf_t *b, size_t max)
{
    t_person_t *p = s_expect_within (b, max);
    protobuf_c_message_free_unpacked (&p->base, NULL);
}

static void
test_issue9_p4_counts_unpacked (void **state)
{
    (void)state;
    buf_t b = {0}, f = {0};

    /* repeated string */
    for (int i = 0; i < 3; i++)
        b_str (&b, 2, "a");
    b_str (&b, 1, "interleaved");
    t_person_t *p = s_expect_within (&b, 3);
    assert_int_equal (p->n_aliases, 3);
    protobuf_c_message_free_unpacked (&p->base, NULL);
    b_str (&b, 2, "a");
    s_expect_too_many (&b, 3, "aliases");
    b_free (&b);

    /* repeated message, empty elements (the flood's shape) */
    for (int i = 0; i < 3; i++)
        b_len (&b, 7, "", 0);
    s_within_free (&b, 3);
    b_len (&b, 7, "", 0);
    s_expect_too_many (&b, 3, "friends");
    b_free (&b);

    /* map entries */
    b_entry (&b, 4, "a", 1, 1);
    b_entry (&b, 4, "b", 1, 1);
    b_entry (&b, 4, "c", 1, 1);
    s_within_free (&b, 3);
    b_entry (&b, 4, "d", 1, 1);
    s_expect_too_many (&b, 3, "scores");
    b_free (&b);

    /* the default limit, 1024 */
    for (int i = 0; i < 1024; i++)
        b_len (&b, 7, "", 0);
    s_within_free (&b, 1024);
    p = s_expect_ok (&b, NULL);
    assert_int_equal (p->n_friends, 1024);
    protobuf_c_message_free_unpacked (&p->base, NULL);
    b_len (&b, 7, "", 0);
    s_expect_too_many (&b, 1024, "friends");
    s_expect_fail (&b, NULL, NULL, "PB_TOO_MANY", "friends");
    b_free (&b);
    b_free (&f);
}

static void
test_issue9_p4_counts_packed (void **state)
{
    (void)state;
    buf_t b = {0};

    /* one packed run: every element counts */
    b_raw (&b, "\x42\x03\x01\x02\x01", 5);
    s_within_free (&b, 3);
    b_free (&b);
    b_raw (&b, "\x42\x04\x01\x02\x01\x02", 6);
    s_expect_too_many (&b, 3, "colors");
    b_free (&b);

    /* multi-byte varints are one element each */
    b_raw (&b, "\x42\x05\x81\x00\x02\x81\x00", 7); /* 3 elements (1, 2, 1) */
    s_within_free (&b, 3);
    b_free (&b);

    /* several runs and unpacked elements of the same field add up */
    b_raw (&b, "\x42\x02\x01\x02", 4);
    b_uint (&b, 8, 1);
    s_within_free (&b, 3);
    b_uint (&b, 8, 2);
    s_expect_too_many (&b, 3, "colors");
    b_free (&b);
    b_raw (&b, "\x42\x02\x01\x02\x42\x02\x01\x02", 8);
    s_expect_too_many (&b, 3, "colors");
    b_free (&b);

    /* fixed32: 4 bytes an element; a run that is no whole number of
       elements is malformed */
    uint8_t stamps[16] = {0};
    b_len (&b, 9, stamps, 12);
    t_person_t *p = s_expect_within (&b, 3);
    assert_int_equal (p->n_stamps, 3);
    protobuf_c_message_free_unpacked (&p->base, NULL);
    b_free (&b);
    b_len (&b, 9, stamps, 16);
    s_expect_too_many (&b, 3, "stamps");
    b_free (&b);
    b_len (&b, 9, stamps, 13);
    s_expect_wire_fail (&b, NULL, "PB_DECODE", "stamps");
    b_free (&b);

    /* bool: protobuf-c allocates a slot per byte but keeps one per varint */
    b_raw (&b, "\x52\x04\x81\x00\x01\x00", 6); /* 3 elements in 4 bytes */
    p = s_expect_within (&b, 3);
    assert_int_equal (p->n_flags, 3);
    protobuf_c_message_free_unpacked (&p->base, NULL);
    b_free (&b);
    b_raw (&b, "\x52\x04\x01\x01\x01\x00", 6);
    s_expect_too_many (&b, 3, "flags");
    b_free (&b);

    /* a run that ends inside a varint */
    b_raw (&b, "\x42\x02\x01\x81", 4);
    s_expect_wire_fail (&b, NULL, "PB_DECODE", "colors");
    b_free (&b);

    /* the default limit: 1024 one-byte elements in one run */
    uint8_t run[1025];
    memset (run, 1, sizeof run);
    b_len (&b, 8, run, 1024);
    s_within_free (&b, 1024);
    b_free (&b);
    b_len (&b, 8, run, 1025);
    s_expect_fail (&b, NULL, NULL, "PB_TOO_MANY", "colors");
    b_free (&b);
}

static void
test_issue9_p4_counts_nested (void **state)
{
    (void)state;
    buf_t b = {0}, f = {0}, g = {0}, c = {0};

    /* per instance: two friends with 3 each are fine, the second with 4
       is named by its index */
    for (int i = 0; i < 3; i++)
        b_str (&f, 2, "a");
    b_msg (&b, 7, &f);
    b_msg (&b, 7, &f);
    s_within_free (&b, 3);
    b_str (&f, 2, "a");
    b_msg (&b, 7, &f);
    s_expect_too_many (&b, 3, "friends[2].aliases");
    b_free (&b);
    b_free (&f);

    /* child.friends[1].colors (packed), below a singular message */
    b_raw (&f, "\x42\x03\x01\x01\x01", 5);
    b_msg (&c, 7, &f);
    b_free (&f);
    b_raw (&f, "\x42\x04\x01\x01\x01\x01", 6);
    b_msg (&c, 7, &f);
    b_msg (&b, 5, &c);
    s_expect_too_many (&b, 3, "child.friends[1].colors");
    b_free (&b);
    b_free (&c);
    b_free (&f);

    /* a singular message given twice is ONE message to protobuf-c (its
       repeated fields concatenated): counted over both occurrences, also
       with other fields between them */
    b_str (&f, 2, "a");
    b_str (&f, 2, "b");
    b_str (&g, 2, "c");
    b_msg (&b, 5, &f);
    b_len (&b, 7, "", 0);
    b_msg (&b, 5, &g);
    t_person_t *p = s_expect_within (&b, 3);
    assert_int_equal (p->child->n_aliases, 3);
    protobuf_c_message_free_unpacked (&p->base, NULL);
    b_msg (&b, 5, &g);
    s_expect_too_many (&b, 3, "child.aliases");
    b_free (&b);
    b_free (&f);
    b_free (&g);

    /* merged twice over: child.child.aliases, split across four
       occurrences; the wire pass names it as the message pass does */
    b_str (&f, 2, "a");
    b_msg (&c, 5, &f);
    b_msg (&b, 5, &c);
    b_msg (&b, 5, &c);
    b_msg (&b, 5, &c);
    p = s_expect_within (&b, 3);
    assert_int_equal (p->child->child->n_aliases, 3);
    protobuf_c_message_free_unpacked (&p->base, NULL);
    b_msg (&b, 5, &c);
    s_expect_too_many (&b, 3, "child.child.aliases");
    b_free (&b);

    /* ... inside a repeated element, merged within that element only */
    b_msg (&g, 5, &c);
    b_msg (&g, 5, &c);
    b_msg (&b, 7, &g);
    b_msg (&b, 7, &g);
    s_within_free (&b, 3);
    b_free (&g);
    for (int i = 0; i < 4; i++)
        b_msg (&g, 5, &c);
    b_msg (&b, 7, &g);
    s_expect_too_many (&b, 3, "friends[2].child.child.aliases");
    b_free (&b);
    b_free (&c);
    b_free (&f);
    b_free (&g);
}

/* A ProtobufCAllocator that adds up what protobuf-c asks for. */
typedef struct {
    size_t requested; /* bytes */
    size_t chunks;    /* bytes at glibc's granularity */
    size_t calls;
} s_counter_t;

static void *
s_counting_alloc (void *data, size_t size)
{
    s_counter_t *c = data;
    size_t chunk = (size + 8 + 15) / 16 * 16;
    c->requested += size;
    c->chunks += chunk < 32 ? 32 : chunk;
    c->calls++;
    return malloc (size ? size : 1);
}

static void
s_counting_free (void *data, void *p)
{
    (void)data;
    free (p);
}

/* protobuf-c's real allocations for b never exceed the estimate. */
static size_t
s_expect_estimate_holds (const ProtobufCMessageDescriptor *desc, const buf_t *b,
                         const ln_pbcheck_limits_t *lim)
{
    size_t est = ln_pbcheck_alloc_estimate (desc, b->data, b->len, lim);
    assert_true (est != SIZE_MAX);
    s_counter_t c = {0};
    ProtobufCAllocator a = {s_counting_alloc, s_counting_free, &c};
    ProtobufCMessage *m = protobuf_c_message_unpack (desc, &a, b->len, b->data);
    assert_non_null (m);
    protobuf_c_message_free_unpacked (m, &a);
    if (getenv ("SHOW_ESTIMATES") || c.chunks > est)
        print_message ("%s of %zu bytes: protobuf-c took %zu bytes (%zu calls), estimate %zu\n",
                       desc->name, b->len, c.chunks, c.calls, est);
    assert_true (c.requested <= est);
    assert_true (c.chunks <= est);
    return est;
}

/* A Lantern SignalList reply of 500 summaries, every field set: the
   largest message a client decodes in normal use. */
static void
s_signal_list (buf_t *out, int n)
{
    Lantern__V1__SignalSummary *s = calloc ((size_t)n, sizeof *s);
    Lantern__V1__SignalSummary **ps = calloc ((size_t)n, sizeof *ps);
    Lantern__V1__ExploitationForm forms[2] = {
        LANTERN__V1__EXPLOITATION_FORM__EXPLOITATION_FORM_LABOUR,
        LANTERN__V1__EXPLOITATION_FORM__EXPLOITATION_FORM_SEXUAL};
    assert_true (s && ps);
    for (int i = 0; i < n; i++) {
        lantern__v1__signal_summary__init (&s[i]);
        s[i].id = "sig-01JDRM5X3V9Q7K2M4N6P8R0T2W";
        s[i].status = LANTERN__V1__SIGNAL_STATUS__SIGNAL_STATUS_RECEIVED;
        s[i].municipality = "GM0983";
        s[i].n_forms = 2;
        s[i].forms = forms;
        s[i].immediate_danger = 1;
        s[i].received_at_us = 1764412424123456LL;
        s[i].updated_at_us = 1764412424123456LL;
        s[i].persons = 2;
        s[i].version = 3;
        s[i].submitted_by = "officer-venlo";
        ps[i] = &s[i];
    }
    Lantern__V1__SignalList list = LANTERN__V1__SIGNAL_LIST__INIT;
    list.n_signals = (size_t)n;
    list.signals = ps;
    list.next_page_token = "p-500";
    Lantern__V1__Reply reply = LANTERN__V1__REPLY__INIT;
    reply.request_id = "req-1";
    reply.status = LANTERN__V1__REPLY__STATUS__OK;
    reply.result_case = LANTERN__V1__REPLY__RESULT_LIST_SIGNALS;
    reply.list_signals = &list;
    Lantern__V1__ServerMessage sm = LANTERN__V1__SERVER_MESSAGE__INIT;
    sm.kind_case = LANTERN__V1__SERVER_MESSAGE__KIND_REPLY;
    sm.reply = &reply;
    buf_t b = {0};
    b.cap = b.len = lantern__v1__server_message__get_packed_size (&sm);
    b.data = malloc (b.cap);
    assert_non_null (b.data);
    lantern__v1__server_message__pack (&sm, b.data);
    free (ps);
    free (s);
    *out = b;
}

static void
test_issue9_p4_alloc_estimate (void **state)
{
    (void)state;
    ln_pbcheck_limits_t lim = LN_PBCHECK_LIMITS_DEFAULT;
    lim.allow_unknown = true;
    buf_t b = {0}, f = {0}, c = {0};

    /* every shape, merges and unknown fields included */
    b_str (&b, 1, "Ada");
    for (int i = 0; i < 40; i++)
        b_str (&b, 2, "an alias of some length");
    b_uint (&b, 3, 1);
    b_entry (&b, 4, "x", 1, 7);
    b_len (&b, 6, "\0\xff\x01", 3);
    b_raw (&b, "\x42\x03\x01\x02\x01", 5);
    b_raw (&b, "\x52\x04\x81\x00\x01\x00", 6);
    b_str (&f, 1, "Charles");
    b_str (&f, 2, "C");
    for (int i = 0; i < 30; i++)
        b_msg (&b, 7, &f);
    b_msg (&c, 5, &f);
    b_msg (&c, 7, &f);
    b_msg (&b, 5, &c);
    b_msg (&b, 5, &f);
    b_msg (&b, 5, &c); /* child merged three times, its child twice */
    b_uint (&b, 99, 5);
    b_len (&b, 98, "unknown", 7);
    s_expect_estimate_holds (&s_person_desc, &b, &lim);
    b_free (&b);

    /* the flood's shape: empty sub-messages, many scan records */
    for (int i = 0; i < 1000; i++)
        b_len (&b, 7, "", 0);
    size_t est = s_expect_estimate_holds (&s_person_desc, &b, NULL);
    assert_true (est > 1000 * sizeof (t_person_t)); /* counted, not ignored */
    b_free (&b);

    /* nothing at all: the struct */
    assert_true (s_expect_estimate_holds (&s_person_desc, &b, NULL) >= sizeof (t_person_t));

    /* a real, large reply needs about 3 bytes per byte: far below the
       default budget of 1 MiB + 8 per byte */
    s_signal_list (&b, 500);
    est = s_expect_estimate_holds (&lantern__v1__server_message__descriptor, &b, NULL);
    print_message ("SignalList of 500: %zu bytes, estimate %zu (%.1f per byte)\n", b.len, est,
                   (double)est / (double)b.len);
    assert_true (est < 4 * b.len);
    ProtobufCMessage *m = ln_pbcheck_unpack (&lantern__v1__server_message__descriptor, b.data,
                                             b.len, NULL, NULL, NULL);
    assert_non_null (m);
    protobuf_c_message_free_unpacked (m, NULL);
    b_free (&b);
    b_free (&c);
    b_free (&f);
}

static void
test_issue9_p4_alloc_budget (void **state)
{
    (void)state;
    buf_t b = {0}, f = {0};
    for (int i = 0; i < 100; i++)
        b_len (&b, 7, "", 0);
    size_t est = ln_pbcheck_alloc_estimate (&s_person_desc, b.data, b.len, NULL);

    /* exactly the budget passes, one byte less fails, from the base or
       from the per-byte part; the path is the whole message */
    ln_pbcheck_limits_t lim = LN_PBCHECK_LIMITS_DEFAULT;
    lim.alloc_base = est;
    lim.alloc_per_byte = 0;
    t_person_t *p = s_expect_ok (&b, &lim);
    protobuf_c_message_free_unpacked (&p->base, NULL);
    lim.alloc_base = est - 1;
    s_expect_wire_fail (&b, &lim, "PB_TOO_BIG", "");
    s_expect_fail (&b, &lim, "data", "PB_TOO_BIG", "data");
    lim.alloc_base = est - b.len * 2;
    lim.alloc_per_byte = 2;
    p = s_expect_ok (&b, &lim);
    protobuf_c_message_free_unpacked (&p->base, NULL);
    lim.alloc_base--;
    s_expect_wire_fail (&b, &lim, "PB_TOO_BIG", "");
    b_free (&b);

    /* what nesting multiplies: 1024 elements per field at most, but 400
       friends of 1024 empty friends each are 400 KiB on the wire and
       would be 410,000 structs; refused by the default budget, not by a
       count, before protobuf-c allocates */
    for (int i = 0; i < 1024; i++)
        b_len (&f, 7, "", 0);
    for (int i = 0; i < 400; i++)
        b_msg (&b, 7, &f);
    est = ln_pbcheck_alloc_estimate (&s_person_desc, b.data, b.len, NULL);
    assert_true (est > 400 * 1024 * sizeof (t_person_t));
    s_expect_wire_fail (&b, NULL, "PB_TOO_BIG", "");
    b_free (&b);

    /* ... while 4 of them (4,100 structs, 8 KiB) fit */
    for (int i = 0; i < 4; i++)
        b_msg (&b, 7, &f);
    p = s_expect_ok (&b, NULL);
    assert_int_equal (p->n_friends, 4);
    protobuf_c_message_free_unpacked (&p->base, NULL);
    b_free (&b);
    b_free (&f);
}

/* The real ClientMessage, as the node decodes it: exactly 1024 persons
   pass, 1025 fail in the wire pass with the path the message pass gives;
   a oneof member given twice is replaced, not merged, so each occurrence
   counts alone; a singular message given twice is merged and counted over
   both. */
static void
s_client_message (buf_t *out, int occurrences, int persons, int details_times)
{
    buf_t person = {0}, details = {0}, sub = {0}, req = {0};
    b_str (&person, 2, "x");
    for (int i = 0; i < persons; i++)
        b_msg (&details, 9, &person);
    for (int i = 0; i < details_times; i++)
        b_msg (&sub, 1, &details);
    b_str (&req, 1, "req-1");
    for (int i = 0; i < occurrences; i++)
        b_msg (&req, 100, &sub);
    buf_t top = {0};
    b_msg (&top, 1, &req);
    b_free (&person);
    b_free (&details);
    b_free (&sub);
    b_free (&req);
    *out = top;
}

static void
s_client_expect (const buf_t *b, const char *code)
{
    const ProtobufCMessageDescriptor *d = &lantern__v1__client_message__descriptor;
    ln_error_t err;
    ln_error_clear (&err);
    int rc = ln_pbcheck_wire (d, b->data, b->len, NULL, NULL, &err);
    ProtobufCMessage *m = ln_pbcheck_unpack (d, b->data, b->len, NULL, NULL, &err);
    if (!code) {
        assert_int_equal (rc, 0);
        assert_non_null (m);
        protobuf_c_message_free_unpacked (m, NULL);
        return;
    }
    assert_int_equal (rc, -1);
    assert_null (m);
    assert_string_equal (err.code, code);
    assert_string_equal (err.field, "request.submit_signal.details.persons");
    /* the message pass, on what protobuf-c alone makes of it */
    m = protobuf_c_message_unpack (d, NULL, b->len, b->data);
    assert_non_null (m);
    assert_int_equal (ln_pbcheck_message (m, NULL, NULL, &err), -1);
    assert_string_equal (err.code, code);
    assert_string_equal (err.field, "request.submit_signal.details.persons");
    protobuf_c_message_free_unpacked (m, NULL);
}

static void
test_issue9_p4_client_message (void **state)
{
    (void)state;
    buf_t b;
    s_client_message (&b, 1, 1024, 1);
    s_client_expect (&b, NULL);
    b_free (&b);
    s_client_message (&b, 1, 1025, 1);
    s_client_expect (&b, "PB_TOO_MANY");
    b_free (&b);
    s_client_message (&b, 2, 1000, 1); /* oneof twice: the last wins */
    s_client_expect (&b, NULL);
    b_free (&b);
    s_client_message (&b, 1, 600, 2); /* details twice: 1200 persons */
    s_client_expect (&b, "PB_TOO_MANY");
    b_free (&b);
    s_client_message (&b, 1, 512, 2); /* 1024 */
    s_client_expect (&b, NULL);
    b_free (&b);
}

static void
test_duplicate_keys (void **state)
{
    (void)state;
    buf_t b = {0};
    b_entry (&b, 4, "a", 1, 1);
    b_entry (&b, 4, "b", 1, 2);
    b_entry (&b, 4, "a", 1, 3);
    s_expect_fail (&b, NULL, NULL, "PB_DUPLICATE_KEY", "scores[\"a\"]");
    b_free (&b);

    /* many entries: the sorted path, and the later occurrence is named */
    char key[16];
    for (int i = 0; i < 100; i++) {
        snprintf (key, sizeof key, "k%d", i);
        b_entry (&b, 4, key, strlen (key), i);
    }
    t_person_t *p = s_expect_ok (&b, NULL);
    assert_int_equal (p->n_scores, 100);
    protobuf_c_message_free_unpacked (&p->base, NULL);
    b_entry (&b, 4, "k57", 3, 0);
    b_entry (&b, 4, "k3", 2, 0);
    /* the first entry whose key occurred before it */
    s_expect_fail (&b, NULL, NULL, "PB_DUPLICATE_KEY", "scores[\"k57\"]");
    b_free (&b);

    /* a key that is not plain is named by index; the empty key too */
    b_entry (&b, 4, "a b", 3, 1);
    b_entry (&b, 4, "a b", 3, 1);
    s_expect_fail (&b, NULL, NULL, "PB_DUPLICATE_KEY", "scores[1]");
    b_free (&b);
    b_entry (&b, 4, "", 0, 1);
    b_entry (&b, 4, "", 0, 2);
    s_expect_fail (&b, NULL, NULL, "PB_DUPLICATE_KEY", "scores[1]");
    b_free (&b);

    /* the same key in two different maps (of two friends) is fine */
    buf_t f = {0};
    b_entry (&f, 4, "a", 1, 1);
    b_msg (&b, 7, &f);
    b_msg (&b, 7, &f);
    p = s_expect_ok (&b, NULL);
    protobuf_c_message_free_unpacked (&p->base, NULL);
    b_entry (&f, 4, "a", 1, 1);
    b_msg (&b, 7, &f);
    s_expect_fail (&b, NULL, NULL, "PB_DUPLICATE_KEY", "friends[2].scores[\"a\"]");
    b_free (&b);
    b_free (&f);
}

static void
test_null_args (void **state)
{
    (void)state;
    ln_error_t err;
    assert_null (ln_pbcheck_unpack (&s_person_desc, NULL, 5, NULL, NULL, &err));
    assert_string_equal (err.code, "PB_DECODE");
    assert_int_equal (ln_pbcheck_message (NULL, NULL, NULL, &err), -1);
    assert_int_equal (ln_pbcheck_wire (NULL, "", 0, NULL, NULL, NULL), -1);
    /* an empty message is a valid message */
    ProtobufCMessage *m = ln_pbcheck_unpack (&s_person_desc, NULL, 0, NULL, NULL, &err);
    assert_non_null (m);
    protobuf_c_message_free_unpacked (m, NULL);
}

/* Random mutations of a rich message: whatever is accepted must pass the
   message pass again; nothing may crash or leak (ASan). */
static void
test_random_mutations (void **state)
{
    (void)state;
    buf_t b = {0}, f = {0};
    b_str (&b, 1, "Ada");
    b_str (&b, 2, "A");
    b_uint (&b, 3, 1);
    b_entry (&b, 4, "x", 1, 7);
    b_str (&f, 1, "Charles");
    b_entry (&f, 4, "y", 1, 8);
    b_msg (&b, 5, &f);
    b_msg (&b, 7, &f);
    b_raw (&b, "\x42\x02\x01\x02", 4);
    uint32_t seed = 12345;
    uint8_t *copy = malloc (b.len);
    for (int round = 0; round < 5000; round++) {
        memcpy (copy, b.data, b.len);
        int flips = 1 + round % 4;
        for (int k = 0; k < flips; k++) {
            seed = seed * 1103515245 + 12345;
            copy[(seed >> 8) % b.len] ^= (uint8_t)(1u << ((seed >> 4) % 8));
        }
        ln_error_t err;
        ProtobufCMessage *m = ln_pbcheck_unpack (&s_person_desc, copy, b.len, NULL, NULL, &err);
        if (m) {
            assert_int_equal (ln_pbcheck_message (m, NULL, NULL, NULL), 0);
            protobuf_c_message_free_unpacked (m, NULL);
        }
        else
            assert_true (strncmp (err.code, "PB_", 3) == 0);
    }
    free (copy);
    b_free (&b);
    b_free (&f);
}

/* A request that fails the checks still names its request_id. */
static void
test_find_id (void **state)
{
    (void)state;
    Lantern__V1__Person person = LANTERN__V1__PERSON__INIT;
    person.role = (Lantern__V1__PersonRole)99; /* out of range */
    Lantern__V1__Person *persons[1] = {&person};
    Lantern__V1__SignalDetails d = LANTERN__V1__SIGNAL_DETAILS__INIT;
    d.persons = persons;
    d.n_persons = 1;
    Lantern__V1__SubmitSignal sub = LANTERN__V1__SUBMIT_SIGNAL__INIT;
    sub.details = &d;
    Lantern__V1__Request r = LANTERN__V1__REQUEST__INIT;
    r.request_id = "req-42.a:b_c";
    r.command_case = LANTERN__V1__REQUEST__COMMAND_SUBMIT_SIGNAL;
    r.submit_signal = &sub;
    Lantern__V1__ClientMessage cm = LANTERN__V1__CLIENT_MESSAGE__INIT;
    cm.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_REQUEST;
    cm.request = &r;
    uint8_t buf[512];
    size_t n = lantern__v1__client_message__pack (&cm, buf);
    ln_error_t err;
    assert_null (
        ln_pbcheck_unpack (&lantern__v1__client_message__descriptor, buf, n, NULL, NULL, &err));
    const uint32_t path[2] = {1, 1};
    char id[65];
    assert_int_equal (ln_pbcheck_find_id (buf, n, path, 2, id, sizeof id), 0);
    assert_string_equal (id, "req-42.a:b_c");
    /* too small a buffer, a truncated message, a value of other characters */
    assert_int_equal (ln_pbcheck_find_id (buf, n, path, 2, id, 5), -1);
    for (size_t cut = 0; cut < n; cut++)
        (void)ln_pbcheck_find_id (buf, cut, path, 2, id, sizeof id); /* no crash, no overread */
    r.request_id = "bad id\n";
    n = lantern__v1__client_message__pack (&cm, buf);
    assert_int_equal (ln_pbcheck_find_id (buf, n, path, 2, id, sizeof id), -1);
    r.request_id = "";
    n = lantern__v1__client_message__pack (&cm, buf);
    assert_int_equal (ln_pbcheck_find_id (buf, n, path, 2, id, sizeof id), -1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_utf8_known),
        cmocka_unit_test (test_utf8_offset_and_fast_path),
        cmocka_unit_test (test_utf8_exhaustive),
        cmocka_unit_test (test_valid_person),
        cmocka_unit_test (test_is_map),
        cmocka_unit_test (test_invalid_utf8_paths),
        cmocka_unit_test (test_lengths),
        cmocka_unit_test (test_unknown_fields),
        cmocka_unit_test (test_malformed),
        cmocka_unit_test (test_depth),
        cmocka_unit_test (test_enums),
        cmocka_unit_test (test_counts),
        cmocka_unit_test (test_issue9_p4_counts_unpacked),
        cmocka_unit_test (test_issue9_p4_counts_packed),
        cmocka_unit_test (test_issue9_p4_counts_nested),
        cmocka_unit_test (test_issue9_p4_alloc_estimate),
        cmocka_unit_test (test_issue9_p4_alloc_budget),
        cmocka_unit_test (test_issue9_p4_client_message),
        cmocka_unit_test (test_duplicate_keys),
        cmocka_unit_test (test_null_args),
        cmocka_unit_test (test_random_mutations),
        cmocka_unit_test (test_find_id),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
