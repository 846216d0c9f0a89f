/*  test_pbcheck: ln_utf8 and ln_pbcheck.

    ln_pbcheck is generic, so it is tested against a message type made for
    the purpose: `t.Person`, with every shape the validator must handle
    (string, repeated string, enum, packed repeated enum, map, bytes,
    repeated sub-message, and a RECURSIVE sub-message, which Lantern's own
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
};
static const unsigned s_person_by_name[] = {1, 5, 4, 2, 7, 6, 0, 3};
static const ProtobufCIntRange s_person_ranges[] = {{1, 0}, {0, 8}};

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
                                                  8,
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
        cmocka_unit_test (test_duplicate_keys),
        cmocka_unit_test (test_null_args),
        cmocka_unit_test (test_random_mutations),
        cmocka_unit_test (test_find_id),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
