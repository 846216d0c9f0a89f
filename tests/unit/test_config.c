/*  Unit tests for ln_config: a schema with every type loads and reads back
    with defaults; every kind of bad file is refused with the exact
    `FILE:LINE: SETTING: ` prefix, the right line and the right code.
    Each case writes its config to a mkstemp file in /tmp and removes it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ln_config.h"

static const char *const s_modes[] = {"strict", "lenient", "off", NULL};

static const ln_config_spec_t s_specs[] = {
    {.path = "node", .type = LN_CONFIG_STRING, .required = true, .min = 1, .max = 64},
    {.path = "description", .type = LN_CONFIG_STRING, .default_str = "none"},
    {.path = "comment", .type = LN_CONFIG_STRING},
    {.path = "port", .type = LN_CONFIG_INT, .min = 1, .max = 65535, .default_int = 5555},
    {.path = "big", .type = LN_CONFIG_INT, .default_int = 7},
    {.path = "verbose", .type = LN_CONFIG_BOOL, .default_bool = true},
    {.path = "ratio", .type = LN_CONFIG_FLOAT, .fmin = 0.0, .fmax = 1.0, .default_float = 0.5},
    {.path = "tags", .type = LN_CONFIG_STRING_LIST, .max = 3},
    {.path = "max_level", .type = LN_CONFIG_LEVEL, .default_str = "intern"},
    {.path = "mode", .type = LN_CONFIG_ENUM, .values = s_modes, .default_str = "strict"},
    {.path = "db", .type = LN_CONFIG_GROUP, .required = true},
    {.path = "db.host", .type = LN_CONFIG_STRING, .required = true},
    {.path = "db.connect_timeout", .type = LN_CONFIG_INT, .min = 1, .max = 600, .default_int = 10},
    {.path = "curve", .type = LN_CONFIG_GROUP},
    {.path = "curve.secret_key", .type = LN_CONFIG_STRING, .required = true},
    {.path = "curve.secret_level", .type = LN_CONFIG_LEVEL, .default_str = "geheim"},
    {.path = "curve.secret_mode", .type = LN_CONFIG_ENUM, .values = s_modes, .default_str = "off"},
    {.path = "curve.secret_port", .type = LN_CONFIG_INT, .min = 1, .max = 9, .default_int = 5},
    {.path = "upstreams", .type = LN_CONFIG_GROUP_LIST, .max = 4},
    {.path = "upstreams.[].name", .type = LN_CONFIG_STRING, .required = true},
    {.path = "upstreams.[].endpoint", .type = LN_CONFIG_STRING, .required = true},
    {.path = "upstreams.[].credit",
     .type = LN_CONFIG_INT,
     .min = 1,
     .max = 1000,
     .default_int = 100},
    {.path = "upstreams.[].level", .type = LN_CONFIG_LEVEL, .default_str = "openbaar"},
    {.path = "upstreams.[].events", .type = LN_CONFIG_STRING_LIST},
    {.path = "upstreams.[].tls", .type = LN_CONFIG_GROUP},
    {.path = "upstreams.[].tls.ca", .type = LN_CONFIG_STRING, .required = true},
    LN_CONFIG_SPEC_END};

/* The smallest valid file for s_specs. */
#define MINIMAL "node = \"n\";\ndb = { host = \"h\"; };\n"

/* Path of the last file written (kept after s_remove, for messages). */
static char s_path[64];
static bool s_written;

static void
s_write (const char *text, size_t len)
{
    snprintf (s_path, sizeof s_path, "/tmp/ln_config_test.XXXXXX");
    int fd = mkstemp (s_path);
    assert_true (fd >= 0);
    assert_int_equal (write (fd, text, len), (ssize_t)len);
    assert_int_equal (close (fd), 0);
    s_written = true;
}

static void
s_remove (void)
{
    if (s_written)
        unlink (s_path);
    s_written = false;
}

static ln_config_t *
s_load_ok (const char *text, const ln_config_spec_t *specs)
{
    ln_error_t err;
    s_write (text, strlen (text));
    ln_config_t *cfg = ln_config_load (s_path, specs, &err);
    if (!cfg)
        fail_msg ("refused: %s (%s)", err.message, err.code);
    assert_null (err.code);
    s_remove ();
    return cfg;
}

/* Load `len` bytes of `text`; it must be refused with `code`, and the
   message must start with exactly "FILE:LINE: SETTING: " (SETTING also in
   err.field).  The message is left in *err for further checks. */
static void
s_refused_n (const char *text, size_t len, const ln_config_spec_t *specs, const char *code,
             unsigned line, const char *setting, ln_error_t *err)
{
    s_write (text, len);
    ln_config_t *cfg = ln_config_load (s_path, specs, err);
    char prefix[256];
    snprintf (prefix, sizeof prefix, "%s:%u: %s: ", s_path, line, setting);
    s_remove ();
    if (cfg) {
        ln_config_destroy (&cfg);
        fail_msg ("accepted a file that should fail with %s", code);
    }
    assert_non_null (err->code);
    if (strcmp (err->code, code) != 0 || strncmp (err->message, prefix, strlen (prefix)) != 0)
        fail_msg ("got %s \"%s\", want %s \"%s...\"", err->code, err->message, code, prefix);
    assert_string_equal (err->field, setting);
}

static void
s_refused (const char *text, const char *code, unsigned line, const char *setting, ln_error_t *err)
{
    s_refused_n (text, strlen (text), s_specs, code, line, setting, err);
}

/* The message after the "FILE:" part. */
static const char *
s_after_file (const ln_error_t *err)
{
    return err->message + strlen (s_path) + 1;
}

/* --- valid files ------------------------------------------------------------ */

static void
test_every_type_reads_back (void **state)
{
    (void)state;
    ln_config_t *cfg = s_load_ok ("# a full node\n"
                                  "node = \"intake-venlo\";\n"
                                  "description = \"Gemeente Venlo \xc3\xa9\xe2\x82\xac\";\n"
                                  "port = 65535;\n"
                                  "big = -9223372036854775808L;\n"
                                  "verbose = false;\n"
                                  "ratio = 0.25;\n"
                                  "tags = [ \"a\", \"b\", \"c\" ];\n"
                                  "max_level = \"vertrouwelijk\";\n"
                                  "mode = \"lenient\";\n"
                                  "db = {\n"
                                  "  host = \"/run/pg\";\n"
                                  "  connect_timeout = 600;\n"
                                  "};\n"
                                  "curve = { secret_key = \"/etc/lantern/node.secret\"; };\n",
                                  s_specs);
    assert_string_equal (ln_config_string (cfg, "node"), "intake-venlo");
    assert_string_equal (ln_config_string (cfg, "description"),
                         "Gemeente Venlo \xc3\xa9\xe2\x82\xac");
    assert_null (ln_config_string (cfg, "comment"));
    assert_int_equal (ln_config_int (cfg, "port"), 65535);
    assert_true (ln_config_int (cfg, "big") == INT64_MIN);
    assert_false (ln_config_bool (cfg, "verbose"));
    assert_true (ln_config_float (cfg, "ratio") == 0.25);
    assert_int_equal (ln_config_list_size (cfg, "tags"), 3);
    assert_string_equal (ln_config_string_at (cfg, "tags", 0), "a");
    assert_string_equal (ln_config_string_at (cfg, "tags", 2), "c");
    assert_null (ln_config_string_at (cfg, "tags", 3));
    assert_int_equal (ln_config_level (cfg, "max_level"), LN_LEVEL_VERTROUWELIJK);
    assert_string_equal (ln_config_string (cfg, "max_level"), "vertrouwelijk");
    assert_int_equal (ln_config_enum (cfg, "mode"), 1);
    assert_string_equal (ln_config_string (cfg, "mode"), "lenient");
    assert_string_equal (ln_config_string (cfg, "db.host"), "/run/pg");
    assert_int_equal (ln_config_int (cfg, "db.connect_timeout"), 600);
    assert_true (ln_config_has (cfg, "curve"));
    assert_string_equal (ln_config_string (cfg, "curve.secret_key"), "/etc/lantern/node.secret");
    assert_int_equal (ln_config_level (cfg, "curve.secret_level"), LN_LEVEL_GEHEIM);
    assert_int_equal (ln_config_list_size (cfg, "upstreams"), 0);
    assert_null (ln_config_element (cfg, "upstreams", 0));
    ln_config_destroy (&cfg);
    assert_null (cfg);
}

static void
test_defaults_apply (void **state)
{
    (void)state;
    ln_config_t *cfg = s_load_ok (MINIMAL, s_specs);
    assert_true (ln_config_has (cfg, "node"));
    assert_false (ln_config_has (cfg, "port"));
    assert_false (ln_config_has (cfg, "curve"));
    assert_false (ln_config_has (cfg, "curve.secret_key"));
    assert_string_equal (ln_config_string (cfg, "description"), "none");
    assert_null (ln_config_string (cfg, "comment"));
    assert_int_equal (ln_config_int (cfg, "port"), 5555);
    assert_int_equal (ln_config_int (cfg, "big"), 7);
    assert_true (ln_config_bool (cfg, "verbose"));
    assert_true (ln_config_float (cfg, "ratio") == 0.5);
    assert_int_equal (ln_config_list_size (cfg, "tags"), 0);
    assert_null (ln_config_string_at (cfg, "tags", 0));
    assert_int_equal (ln_config_level (cfg, "max_level"), LN_LEVEL_INTERN);
    assert_int_equal (ln_config_enum (cfg, "mode"), 0);
    assert_string_equal (ln_config_string (cfg, "mode"), "strict");
    assert_int_equal (ln_config_int (cfg, "db.connect_timeout"), 10);
    /* A member of an absent optional group reads as its default. */
    assert_null (ln_config_string (cfg, "curve.secret_key"));
    assert_int_equal (ln_config_level (cfg, "curve.secret_level"), LN_LEVEL_GEHEIM);
    assert_int_equal (ln_config_enum (cfg, "curve.secret_mode"), 2);
    assert_int_equal (ln_config_list_size (cfg, "upstreams"), 0);
    assert_null (ln_config_element (cfg, "upstreams", 0));
    assert_string_equal (ln_config_file (cfg), s_path);
    ln_config_destroy (&cfg);
}

static void
test_list_of_groups (void **state)
{
    (void)state;
    ln_config_t *cfg =
        s_load_ok (MINIMAL "upstreams = (\n"
                           "  { name = \"venlo\"; endpoint = \"tcp://127.0.0.1:7001\";\n"
                           "    credit = 5; level = \"geheim\";\n"
                           "    events = ( \"signal\", \"case\" );\n"
                           "    tls = { ca = \"/etc/ca.pem\"; }; },\n"
                           "  { name = \"horst\"; endpoint = \"tcp://127.0.0.1:7002\"; }\n"
                           ");\n",
                   s_specs);
    assert_int_equal (ln_config_list_size (cfg, "upstreams"), 2);
    const ln_config_t *a = ln_config_element (cfg, "upstreams", 0);
    const ln_config_t *b = ln_config_element (cfg, "upstreams", 1);
    assert_non_null (a);
    assert_non_null (b);
    assert_null (ln_config_element (cfg, "upstreams", 2));
    assert_string_equal (ln_config_string (a, "name"), "venlo");
    assert_string_equal (ln_config_string (a, "endpoint"), "tcp://127.0.0.1:7001");
    assert_int_equal (ln_config_int (a, "credit"), 5);
    assert_int_equal (ln_config_level (a, "level"), LN_LEVEL_GEHEIM);
    assert_int_equal (ln_config_list_size (a, "events"), 2);
    assert_string_equal (ln_config_string_at (a, "events", 1), "case");
    assert_string_equal (ln_config_string (a, "tls.ca"), "/etc/ca.pem");
    assert_string_equal (ln_config_string (b, "name"), "horst");
    assert_int_equal (ln_config_int (b, "credit"), 100);
    assert_int_equal (ln_config_level (b, "level"), LN_LEVEL_OPENBAAR);
    assert_int_equal (ln_config_list_size (b, "events"), 0);
    assert_false (ln_config_has (b, "tls"));
    assert_null (ln_config_string (b, "tls.ca"));
    assert_string_equal (ln_config_file (b), ln_config_file (cfg));
    /* A view is not destroyed by itself. */
    ln_config_t *view = (ln_config_t *)b;
    ln_config_destroy (&view);
    assert_null (view);
    assert_string_equal (ln_config_string (b, "name"), "horst");
    ln_config_destroy (&cfg);
    ln_config_destroy (&cfg); /* NULL-safe */
    ln_config_destroy (NULL);
}

static void
test_empty_lists_and_accepted_forms (void **state)
{
    (void)state;
    /* Colons, commas, an int for a float, a list for a string list, an
       empty array for a list of groups, adjacent strings, comments. */
    ln_config_t *cfg = s_load_ok ("node: \"a\" \"b\", // c++ comment\n"
                                  "db: { host: \"h\" } /* block\ncomment */\n"
                                  "ratio = 1;\n"
                                  "tags = ( \"x\" );\n"
                                  "upstreams = [];\n"
                                  "big = 0x7FFFFFFF;\n",
                                  s_specs);
    assert_string_equal (ln_config_string (cfg, "node"), "ab");
    assert_true (ln_config_float (cfg, "ratio") == 1.0);
    assert_int_equal (ln_config_list_size (cfg, "tags"), 1);
    assert_int_equal (ln_config_list_size (cfg, "upstreams"), 0);
    assert_int_equal (ln_config_int (cfg, "big"), 0x7fffffff);
    ln_config_destroy (&cfg);
}

static void
test_int64_literals (void **state)
{
    (void)state;
    ln_config_t *cfg = s_load_ok (MINIMAL "big = 5000000000L;\n", s_specs);
    assert_true (ln_config_int (cfg, "big") == 5000000000LL);
    ln_config_destroy (&cfg);
    cfg = s_load_ok (MINIMAL "big = 9223372036854775807L;\n", s_specs);
    assert_true (ln_config_int (cfg, "big") == INT64_MAX);
    ln_config_destroy (&cfg);
    cfg = s_load_ok (MINIMAL "big = -2147483648;\n", s_specs);
    assert_true (ln_config_int (cfg, "big") == INT32_MIN);
    ln_config_destroy (&cfg);
    cfg = s_load_ok (MINIMAL "big = 0x100000000L;\n", s_specs);
    assert_true (ln_config_int (cfg, "big") == 0x100000000LL);
    ln_config_destroy (&cfg);
}

/* --- wrong type ------------------------------------------------------------- */

static void
test_wrong_types (void **state)
{
    (void)state;
    ln_error_t err;
    s_refused (MINIMAL "port = \"80\";\n", "CONFIG_TYPE", 3, "port", &err);
    assert_string_equal (s_after_file (&err), "3: port: expected an integer, found a string");
    s_refused (MINIMAL "port = 80.0;\n", "CONFIG_TYPE", 3, "port", &err);
    s_refused (MINIMAL "node2 = 1;\n", "CONFIG_UNKNOWN", 3, "node2", &err);
    s_refused ("node = 5;\n"
               "db = { host = \"h\"; };\n",
               "CONFIG_TYPE", 1, "node", &err);
    s_refused (MINIMAL "verbose = 1;\n", "CONFIG_TYPE", 3, "verbose", &err);
    s_refused (MINIMAL "verbose = \"yes\";\n", "CONFIG_TYPE", 3, "verbose", &err);
    s_refused (MINIMAL "ratio = \"0.5\";\n", "CONFIG_TYPE", 3, "ratio", &err);
    s_refused (MINIMAL "tags = \"a\";\n", "CONFIG_TYPE", 3, "tags", &err);
    s_refused (MINIMAL "tags = [ 1, 2 ];\n", "CONFIG_TYPE", 3, "tags.[0]", &err);
    s_refused (MINIMAL "tags = ( \"a\",\n  2 );\n", "CONFIG_TYPE", 4, "tags.[1]", &err);
    s_refused (MINIMAL "max_level = 3;\n", "CONFIG_TYPE", 3, "max_level", &err);
    s_refused (MINIMAL "mode = true;\n", "CONFIG_TYPE", 3, "mode", &err);
    s_refused ("node = \"n\";\ndb = \"h\";\n", "CONFIG_TYPE", 2, "db", &err);
    s_refused (MINIMAL "upstreams = { name = \"x\"; };\n", "CONFIG_TYPE", 3, "upstreams", &err);
    s_refused (MINIMAL "upstreams = ( { name = \"a\"; endpoint = \"e\"; },\n \"b\" );\n",
               "CONFIG_TYPE", 4, "upstreams.[1]", &err);
    assert_string_equal (s_after_file (&err), "4: upstreams.[1]: expected a group, found a string");
}

/* --- out of range -------------------------------------------------------------- */

static void
test_out_of_range (void **state)
{
    (void)state;
    ln_error_t err;
    s_refused (MINIMAL "port = 0;\n", "CONFIG_RANGE", 3, "port", &err);
    assert_string_equal (s_after_file (&err), "3: port: value 0 is out of range [1, 65535]");
    s_refused (MINIMAL "port = 65536;\n", "CONFIG_RANGE", 3, "port", &err);
    s_refused (MINIMAL "port = -1;\n", "CONFIG_RANGE", 3, "port", &err);
    s_refused (MINIMAL "port = 65536L;\n", "CONFIG_RANGE", 3, "port", &err);
    s_refused ("node = \"n\";\ndb = {\n  host = \"h\";\n  connect_timeout = 601;\n};\n",
               "CONFIG_RANGE", 4, "db.connect_timeout", &err);
    s_refused (MINIMAL "ratio = -0.001;\n", "CONFIG_RANGE", 3, "ratio", &err);
    s_refused (MINIMAL "ratio = 1.5;\n", "CONFIG_RANGE", 3, "ratio", &err);
    s_refused (MINIMAL "ratio = 2;\n", "CONFIG_RANGE", 3, "ratio", &err);
    s_refused (MINIMAL "ratio = 1e999;\n", "CONFIG_VALUE", 3, "ratio", &err);
    s_refused (MINIMAL "tags = [ \"a\", \"b\", \"c\", \"d\" ];\n", "CONFIG_RANGE", 3, "tags", &err);
    assert_string_equal (s_after_file (&err), "3: tags: has 4 elements; expected 0 to 3");
    s_refused ("node = \"\";\ndb = { host = \"h\"; };\n", "CONFIG_RANGE", 1, "node", &err);
    assert_string_equal (s_after_file (&err), "1: node: must not be empty");
    s_refused ("node = \"12345678901234567890123456789012345678901234567890123456789012345\";\n"
               "db = { host = \"h\"; };\n",
               "CONFIG_RANGE", 1, "node", &err);
    assert_string_equal (s_after_file (&err), "1: node: is 65 bytes long; at most 64 allowed");
    s_refused (MINIMAL
               "upstreams = (\n"
               " { name = \"a\"; endpoint = \"e\"; }, { name = \"b\"; endpoint = \"e\"; },\n"
               " { name = \"c\"; endpoint = \"e\"; }, { name = \"d\"; endpoint = \"e\"; },\n"
               " { name = \"e\"; endpoint = \"e\"; } );\n",
               "CONFIG_RANGE", 3, "upstreams", &err);
    s_refused (MINIMAL "upstreams = ( { name = \"a\"; endpoint = \"e\"; },\n"
                       "  { name = \"b\"; endpoint = \"e\";\n    credit = 0; } );\n",
               "CONFIG_RANGE", 5, "upstreams.[1].credit", &err);
}

/* libconfig 1.5 reads integers without an L suffix through a 32-bit int and
   would hand us a different number: those must be refused, not truncated. */
static void
test_truncated_integers_refused (void **state)
{
    (void)state;
    ln_error_t err;
    /* 4294967297 would read as 1, which is in range. */
    s_refused (MINIMAL "port = 4294967297;\n", "CONFIG_RANGE", 3, "port", &err);
    assert_non_null (strstr (err.message, "L suffix"));
    s_refused (MINIMAL "big = 5000000000;\n", "CONFIG_RANGE", 3, "big", &err);
    s_refused (MINIMAL "big = 2147483648;\n", "CONFIG_RANGE", 3, "big", &err);
    s_refused (MINIMAL "big = -2147483649;\n", "CONFIG_RANGE", 3, "big", &err);
    s_refused (MINIMAL "big = 0x80000000;\n", "CONFIG_RANGE", 3, "big", &err);
    s_refused (MINIMAL "big = 9223372036854775808L;\n", "CONFIG_RANGE", 3, "big", &err);
    assert_non_null (strstr (err.message, "64 bits"));
    s_refused (MINIMAL "big = 0xFFFFFFFFFFFFFFFFL;\n", "CONFIG_RANGE", 3, "big", &err);
    s_refused (MINIMAL "ratio = 99999999999;\n", "CONFIG_RANGE", 3, "ratio", &err);
    /* Also inside a list element, on a later line than its group. */
    s_refused (MINIMAL
               "upstreams = ( { name = \"a\"; endpoint = \"e\";\n credit = 4294967297; } );\n",
               "CONFIG_RANGE", 4, "upstreams.[0].credit", &err);
    /* The literal is found behind strings, lists and groups of earlier elements. */
    s_refused (MINIMAL
               "upstreams = ( { name = \"a\" \"b\"; endpoint = \"e\"; events = ( \"x\", \"y\" );\n"
               "  tls = { ca = \"c\"; }; }, { name = \"b\"; endpoint = \"e\"; credit = 1; },\n"
               "  { name = \"c\"; endpoint = \"e\"; /* c */ credit = 4294967297; } );\n",
               "CONFIG_RANGE", 5, "upstreams.[2].credit", &err);
}

/* --- missing required ------------------------------------------------------- */

static void
test_missing_required (void **state)
{
    (void)state;
    ln_error_t err;
    /* Top level: line 1. */
    s_refused ("\n\ndb = { host = \"h\"; };\n", "CONFIG_REQUIRED", 1, "node", &err);
    assert_string_equal (s_after_file (&err), "1: node: required setting is missing");
    s_refused ("node = \"n\";\n", "CONFIG_REQUIRED", 1, "db", &err);
    /* In a group: the group's line. */
    s_refused ("node = \"n\";\n\ndb = {\n  connect_timeout = 5;\n};\n", "CONFIG_REQUIRED", 3,
               "db.host", &err);
    s_refused (MINIMAL "# keys\ncurve = { };\n", "CONFIG_REQUIRED", 4, "curve.secret_key", &err);
    /* In a list element: the element's line. */
    s_refused (MINIMAL "upstreams = (\n  { name = \"a\"; endpoint = \"e\"; },\n"
                       "  { name = \"b\"; }\n);\n",
               "CONFIG_REQUIRED", 5, "upstreams.[1].endpoint", &err);
    /* In a group inside a list element. */
    s_refused (MINIMAL "upstreams = ( { name = \"a\"; endpoint = \"e\";\n  tls = {\n  }; } );\n",
               "CONFIG_REQUIRED", 4, "upstreams.[0].tls.ca", &err);
}

/* --- unknown settings -------------------------------------------------------- */

static void
test_unknown_settings (void **state)
{
    (void)state;
    ln_error_t err;
    s_refused (MINIMAL "\nprot = 5;\n", "CONFIG_UNKNOWN", 4, "prot", &err);
    assert_string_equal (s_after_file (&err), "4: prot: unknown setting");
    s_refused ("node = \"n\";\ndb = {\n  host = \"h\";\n  hots = \"x\";\n};\n", "CONFIG_UNKNOWN", 4,
               "db.hots", &err);
    s_refused (MINIMAL "upstreams = ( { name = \"a\"; endpoint = \"e\"; },\n"
                       "  { name = \"b\"; endpoint = \"e\"; extra = 1; } );\n",
               "CONFIG_UNKNOWN", 4, "upstreams.[1].extra", &err);
    s_refused (MINIMAL "upstreams = ( { name = \"a\"; endpoint = \"e\";\n"
                       "  tls = { ca = \"c\";\n  cert = \"x\"; }; } );\n",
               "CONFIG_UNKNOWN", 5, "upstreams.[0].tls.cert", &err);
    /* An unknown group is refused as a whole, not walked. */
    s_refused (MINIMAL "extra = { a = { b = 1; }; };\n", "CONFIG_UNKNOWN", 3, "extra", &err);
    /* A spec path is not a setting name: "upstreams.[]" cannot be matched. */
    s_refused (MINIMAL "name = \"x\";\n", "CONFIG_UNKNOWN", 3, "name", &err);
}

/* The first error in file order wins. */
static void
test_first_error_in_file_order (void **state)
{
    (void)state;
    ln_error_t err;
    s_refused ("node = \"n\";\nport = 0;\nbogus = 1;\n", "CONFIG_RANGE", 2, "port", &err);
    s_refused ("bogus = 1;\nport = 0;\n", "CONFIG_UNKNOWN", 1, "bogus", &err);
    /* Errors inside a group come before its missing members. */
    s_refused ("node = \"n\";\ndb = {\n  connect_timeout = 0;\n};\n", "CONFIG_RANGE", 3,
               "db.connect_timeout", &err);
}

/* --- the file itself ------------------------------------------------------------ */

/* `len` bytes of `text` must be refused as CONFIG_SYNTAX with a message that
   starts with "FILE:LINE: " followed by `what`. */
static void
s_syntax (const char *text, size_t len, unsigned line, const char *what)
{
    ln_error_t err;
    char prefix[128];
    s_write (text, len);
    ln_config_t *cfg = ln_config_load (s_path, s_specs, &err);
    snprintf (prefix, sizeof prefix, "%s:%u: %s", s_path, line, what);
    s_remove ();
    assert_null (cfg);
    if (strcmp (err.code, "CONFIG_SYNTAX") != 0 || strncmp (err.message, prefix, strlen (prefix)))
        fail_msg ("got %s \"%s\", want CONFIG_SYNTAX \"%s...\"", err.code, err.message, prefix);
    assert_string_equal (err.field, "");
}

static void
test_syntax_error (void **state)
{
    (void)state;
    const char *t = MINIMAL "port = ;\n";
    s_syntax (t, strlen (t), 3, "syntax error");

    /* A duplicate setting is refused by libconfig. */
    t = "node = \"a\";\nnode = \"b\";\n";
    s_syntax (t, strlen (t), 2, "duplicate setting name");

    /* @include would open another file: refused before parsing. */
    t = MINIMAL "  @include \"/etc/passwd\"\n";
    s_syntax (t, strlen (t), 3, "@include is not supported");

    /* What libconfig 1.5 would take as a silent end of file, ignoring the
       rest: a NUL byte, an unterminated string, an unterminated comment. */
    const char nul[] = MINIMAL "\0bogus = 1;\n";
    s_syntax (nul, sizeof nul - 1, 3, "NUL byte");
    t = MINIMAL "description = \"abc\\\";\nport = 0;\n";
    s_syntax (t, strlen (t), 3, "unterminated string");
    t = MINIMAL "# ok\n/* comment\n*\nport = 0;\n";
    s_syntax (t, strlen (t), 4, "unterminated comment");
    /* Quotes and comment marks inside strings and comments are no such thing. */
    ln_config_t *cfg = s_load_ok (MINIMAL "description = \"/* \\\" # //\"; // \"\n"
                                          "/* \" */ comment = \"*/\"; # /*\n",
                                  s_specs);
    assert_string_equal (ln_config_string (cfg, "description"), "/* \" # //");
    assert_string_equal (ln_config_string (cfg, "comment"), "*/");
    ln_config_destroy (&cfg);
}

static void
test_file_errors (void **state)
{
    (void)state;
    ln_error_t err;
    assert_null (ln_config_load ("/tmp/ln_config_test.does-not-exist", s_specs, &err));
    assert_string_equal (err.code, "CONFIG_IO");
    assert_string_equal (
        err.message, "/tmp/ln_config_test.does-not-exist: cannot open: No such file or directory");
    assert_null (ln_config_load ("/tmp", s_specs, &err));
    assert_string_equal (err.code, "CONFIG_IO");
    assert_string_equal (err.message, "/tmp: not a regular file");
    assert_null (ln_config_load ("/tmp/ln_config_test.does-not-exist", s_specs, NULL));

    /* Too large. */
    size_t big = LN_CONFIG_FILE_MAX + 1;
    char *text = malloc (big);
    assert_non_null (text);
    memset (text, '\n', big);
    s_write (text, big);
    free (text);
    assert_null (ln_config_load (s_path, s_specs, &err));
    s_remove ();
    assert_string_equal (err.code, "CONFIG_TOO_LARGE");

    /* Control characters in the file name do not break the one-line message. */
    assert_null (ln_config_load ("/tmp/ln_config\ntest", s_specs, &err));
    assert_null (strchr (err.message, '\n'));
    assert_memory_equal (err.message, "/tmp/ln_config?test: ", 21);
}

/* --- string values ---------------------------------------------------------- */

static void
test_invalid_utf8 (void **state)
{
    (void)state;
    ln_error_t err;
    /* Raw bytes in the file. */
    s_refused (MINIMAL "description = \"caf\xc3\x28\";\n", "CONFIG_VALUE", 3, "description", &err);
    assert_string_equal (s_after_file (&err), "3: description: not valid UTF-8 (at byte 3)");
    /* Escapes, an overlong form, a surrogate, a truncated sequence. */
    s_refused (MINIMAL "description = \"\\xff\";\n", "CONFIG_VALUE", 3, "description", &err);
    s_refused (MINIMAL "description = \"\xc0\xaf\";\n", "CONFIG_VALUE", 3, "description", &err);
    s_refused (MINIMAL "description = \"\xed\xa0\x80\";\n", "CONFIG_VALUE", 3, "description", &err);
    s_refused (MINIMAL "description = \"\xe0\x80\xaf\";\n", "CONFIG_VALUE", 3, "description", &err);
    s_refused (MINIMAL "description = \"\xf4\x90\x80\x80\";\n", "CONFIG_VALUE", 3, "description",
               &err);
    s_refused (MINIMAL "description = \"ok\xe2\x82\";\n", "CONFIG_VALUE", 3, "description", &err);
    s_refused (MINIMAL "tags = [ \"a\",\n \"\xfe\" ];\n", "CONFIG_VALUE", 4, "tags.[1]", &err);
    s_refused (MINIMAL "upstreams = ( { name = \"\\x80\"; endpoint = \"e\"; } );\n", "CONFIG_VALUE",
               3, "upstreams.[0].name", &err);
}

static void
test_string_length_limit (void **state)
{
    (void)state;
    ln_error_t err;
    size_t n = LN_CONFIG_STRING_MAX;
    char *text = malloc (n + 128);
    assert_non_null (text);

    int head = snprintf (text, n + 128, MINIMAL "description = \"");
    memset (text + head, 'x', n);
    snprintf (text + head + n, 128 - (size_t)head, "\";\n");
    ln_config_t *cfg = s_load_ok (text, s_specs);
    assert_int_equal (strlen (ln_config_string (cfg, "description")), n);
    ln_config_destroy (&cfg);

    memset (text + head, 'x', n);
    snprintf (text + head + n, 128 - (size_t)head, "x\";\n");
    s_refused (text, "CONFIG_RANGE", 3, "description", &err);
    assert_string_equal (s_after_file (&err),
                         "3: description: is 4097 bytes long; at most 4096 allowed");
    free (text);
}

static void
test_bad_level_and_enum (void **state)
{
    (void)state;
    ln_error_t err;
    s_refused (MINIMAL "max_level = \"Geheim\";\n", "CONFIG_VALUE", 3, "max_level", &err);
    assert_non_null (strstr (err.message, "\"Geheim\""));
    assert_non_null (strstr (err.message, "zeer_geheim"));
    s_refused (MINIMAL
               "upstreams = ( { name = \"a\"; endpoint = \"e\";\n level = \"secret\"; } );\n",
               "CONFIG_VALUE", 4, "upstreams.[0].level", &err);
    s_refused (MINIMAL "mode = \"fast\";\n", "CONFIG_VALUE", 3, "mode", &err);
    assert_string_equal (s_after_file (&err),
                         "3: mode: unknown value \"fast\"; expected one of: strict, lenient, off");
    s_refused (MINIMAL "mode = \"\";\n", "CONFIG_VALUE", 3, "mode", &err);
    /* A hostile value is shown cut short and without control characters. */
    s_refused (MINIMAL
               "mode = \"a\\nb\\x1b[2J ccccccccccccccccccccccccccccccccccccccccccccccccccc\";\n",
               "CONFIG_VALUE", 3, "mode", &err);
    assert_non_null (strstr (err.message, "\"a?b?[2J cccc"));
    assert_non_null (strstr (err.message, "...\""));
    assert_null (strchr (err.message, '\n'));
}

/* Nothing may print the value of a setting whose name says it is secret. */
static void
test_secret_values_never_printed (void **state)
{
    (void)state;
    ln_error_t err;
    s_refused (MINIMAL "curve = { secret_key = \"k\"; secret_level = \"hunter2\"; };\n",
               "CONFIG_VALUE", 3, "curve.secret_level", &err);
    assert_null (strstr (err.message, "hunter2"));
    s_refused (MINIMAL "curve = { secret_key = \"k\"; secret_mode = \"hunter2\"; };\n",
               "CONFIG_VALUE", 3, "curve.secret_mode", &err);
    assert_null (strstr (err.message, "hunter2"));
    s_refused (MINIMAL "curve = { secret_key = \"k\"; secret_port = 31337; };\n", "CONFIG_RANGE", 3,
               "curve.secret_port", &err);
    assert_null (strstr (err.message, "31337"));
    s_refused (MINIMAL "curve = { secret_key = 31337; };\n", "CONFIG_TYPE", 3, "curve.secret_key",
               &err);
    assert_null (strstr (err.message, "31337"));
    s_refused (MINIMAL "curve = { secret_key = \"hunter2\xff\"; };\n", "CONFIG_VALUE", 3,
               "curve.secret_key", &err);
    assert_null (strstr (err.message, "hunter2"));
}

/* --- the spec itself ---------------------------------------------------------- */

static void
s_spec_refused (const ln_config_spec_t *specs, const char *path)
{
    ln_error_t err;
    s_write (MINIMAL, strlen (MINIMAL));
    ln_config_t *cfg = ln_config_load (s_path, specs, &err);
    s_remove ();
    assert_null (cfg);
    assert_string_equal (err.code, "CONFIG_SPEC");
    assert_string_equal (err.field, path);
}

static void
test_bad_specs (void **state)
{
    (void)state;
    static const char *const no_values[] = {NULL};
    const ln_config_spec_t orphan[] = {{.path = "db.host", .type = LN_CONFIG_STRING},
                                       LN_CONFIG_SPEC_END};
    s_spec_refused (orphan, "db.host");
    const ln_config_spec_t dup[] = {{.path = "a", .type = LN_CONFIG_STRING},
                                    {.path = "a", .type = LN_CONFIG_INT},
                                    LN_CONFIG_SPEC_END};
    s_spec_refused (dup, "a");
    const ln_config_spec_t not_list[] = {{.path = "u", .type = LN_CONFIG_GROUP},
                                         {.path = "u.[].x", .type = LN_CONFIG_STRING},
                                         LN_CONFIG_SPEC_END};
    s_spec_refused (not_list, "u.[].x");
    const ln_config_spec_t bad_path[] = {{.path = "a..b", .type = LN_CONFIG_STRING},
                                         LN_CONFIG_SPEC_END};
    s_spec_refused (bad_path, "a..b");
    const ln_config_spec_t enum_empty[] = {
        {.path = "m", .type = LN_CONFIG_ENUM, .values = no_values, .required = true},
        LN_CONFIG_SPEC_END};
    s_spec_refused (enum_empty, "m");
    const ln_config_spec_t level_no_default[] = {{.path = "l", .type = LN_CONFIG_LEVEL},
                                                 LN_CONFIG_SPEC_END};
    s_spec_refused (level_no_default, "l");
    /* Required, but inside an optional group: may still be absent. */
    const ln_config_spec_t level_optional_group[] = {
        {.path = "g", .type = LN_CONFIG_GROUP},
        {.path = "g.l", .type = LN_CONFIG_LEVEL, .required = true},
        LN_CONFIG_SPEC_END};
    s_spec_refused (level_optional_group, "g.l");
    const ln_config_spec_t bad_default[] = {
        {.path = "p", .type = LN_CONFIG_INT, .min = 1, .max = 10}, LN_CONFIG_SPEC_END};
    s_spec_refused (bad_default, "p");
    const ln_config_spec_t bad_range[] = {
        {.path = "p", .type = LN_CONFIG_INT, .min = 10, .max = 1, .default_int = 5},
        LN_CONFIG_SPEC_END};
    s_spec_refused (bad_range, "p");

    /* A required LEVEL in a required group, or in a list element, needs no default. */
    static const ln_config_spec_t fine[] = {
        {.path = "node", .type = LN_CONFIG_STRING},
        {.path = "db", .type = LN_CONFIG_GROUP, .required = true},
        {.path = "db.host", .type = LN_CONFIG_STRING},
        {.path = "db.level", .type = LN_CONFIG_LEVEL, .required = true},
        {.path = "u", .type = LN_CONFIG_GROUP_LIST},
        {.path = "u.[].level", .type = LN_CONFIG_LEVEL, .required = true},
        LN_CONFIG_SPEC_END};
    ln_config_t *cfg = s_load_ok ("db = { host = \"h\"; level = \"intern\"; };\n"
                                  "u = ( { level = \"geheim\"; } );\n",
                                  fine);
    assert_int_equal (ln_config_level (cfg, "db.level"), LN_LEVEL_INTERN);
    assert_int_equal (ln_config_level (ln_config_element (cfg, "u", 0), "level"), LN_LEVEL_GEHEIM);
    ln_config_destroy (&cfg);
}

static int
s_teardown (void **state)
{
    (void)state;
    s_remove ();
    return 0;
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown (test_every_type_reads_back, s_teardown),
        cmocka_unit_test_teardown (test_defaults_apply, s_teardown),
        cmocka_unit_test_teardown (test_list_of_groups, s_teardown),
        cmocka_unit_test_teardown (test_empty_lists_and_accepted_forms, s_teardown),
        cmocka_unit_test_teardown (test_int64_literals, s_teardown),
        cmocka_unit_test_teardown (test_wrong_types, s_teardown),
        cmocka_unit_test_teardown (test_out_of_range, s_teardown),
        cmocka_unit_test_teardown (test_truncated_integers_refused, s_teardown),
        cmocka_unit_test_teardown (test_missing_required, s_teardown),
        cmocka_unit_test_teardown (test_unknown_settings, s_teardown),
        cmocka_unit_test_teardown (test_first_error_in_file_order, s_teardown),
        cmocka_unit_test_teardown (test_syntax_error, s_teardown),
        cmocka_unit_test_teardown (test_file_errors, s_teardown),
        cmocka_unit_test_teardown (test_invalid_utf8, s_teardown),
        cmocka_unit_test_teardown (test_string_length_limit, s_teardown),
        cmocka_unit_test_teardown (test_bad_level_and_enum, s_teardown),
        cmocka_unit_test_teardown (test_secret_values_never_printed, s_teardown),
        cmocka_unit_test_teardown (test_bad_specs, s_teardown),
    };
    return cmocka_run_group_tests_name ("ln_config", tests, NULL, NULL);
}
