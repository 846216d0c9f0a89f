/*  test_dynbuf: the growing text buffer keeps its maximum. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ln_dynbuf.h"

static void
test_grows_and_formats (void **state)
{
    (void)state;
    ln_dynbuf_t *b = ln_dynbuf_new (0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal (ln_dynbuf_addf (b, "%s$%d", i ? "," : "", i + 1), 0);
    assert_int_equal (strncmp (ln_dynbuf_text (b), "$1,$2,$3,", 9), 0);
    assert_int_equal (strlen (ln_dynbuf_text (b)), ln_dynbuf_len (b));
    char big[600];
    memset (big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ln_dynbuf_reset (b);
    assert_int_equal (ln_dynbuf_addf (b, "<%s>", big), 0);
    assert_int_equal (ln_dynbuf_len (b), sizeof big + 1);
    char *taken = ln_dynbuf_take (b);
    assert_int_equal (taken[0], '<');
    free (taken);
    assert_int_equal (ln_dynbuf_len (b), 0);
    assert_string_equal (ln_dynbuf_text (b), "");
    ln_dynbuf_destroy (&b);
    assert_null (b);
}

static void
test_maximum_refused_unchanged (void **state)
{
    (void)state;
    ln_dynbuf_t *b = ln_dynbuf_new (8);
    assert_int_equal (ln_dynbuf_add (b, "12345678"), 0);
    assert_int_equal (ln_dynbuf_add (b, "9"), -1);
    assert_string_equal (ln_dynbuf_text (b), "12345678");
    ln_dynbuf_reset (b);
    assert_int_equal (ln_dynbuf_addf (b, "%d", 123456789), -1);
    assert_string_equal (ln_dynbuf_text (b), "");
    ln_dynbuf_destroy (&b);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_grows_and_formats),
        cmocka_unit_test (test_maximum_refused_unchanged),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
