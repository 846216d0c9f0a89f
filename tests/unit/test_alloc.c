/*  Unit tests for ln_alloc's growth helpers: contents survive a move, the
    capacity doubles from 16 until it holds what is asked and stays when it
    already does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"

static void
test_grow_doubles_and_keeps_contents (void **state)
{
    (void)state;
    size_t cap = 0;
    int *v = ln_xgrow (NULL, &cap, 1, sizeof *v);
    assert_int_equal (cap, 16);
    for (int i = 0; i < 16; i++)
        v[i] = i;
    int *same = ln_xgrow (v, &cap, 16, sizeof *v);
    assert_ptr_equal (same, v); /* room enough: nothing changes */
    assert_int_equal (cap, 16);
    v = ln_xgrow (v, &cap, 17, sizeof *v);
    assert_int_equal (cap, 32);
    v = ln_xgrow (v, &cap, 100, sizeof *v);
    assert_int_equal (cap, 128);
    for (int i = 0; i < 16; i++)
        assert_int_equal (v[i], i);
    free (v);
}

static void
test_realloc_exact (void **state)
{
    (void)state;
    char *p = ln_xrealloc (NULL, 3, 1);
    memcpy (p, "ab", 3);
    p = ln_xrealloc (p, 1000, 2);
    assert_string_equal (p, "ab");
    free (p);
    p = ln_xrealloc (NULL, 0, 8); /* never NULL */
    assert_non_null (p);
    free (p);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_grow_doubles_and_keeps_contents),
        cmocka_unit_test (test_realloc_exact),
    };
    return cmocka_run_group_tests_name ("alloc", tests, NULL, NULL);
}
