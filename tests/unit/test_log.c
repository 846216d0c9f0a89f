/*  Unit tests for ln_log: logfmt records, levels, escaping, and the promise
    that a registered secret can never be printed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_log.h"

static FILE *s_out;

/* Everything written since setup, as one NUL-terminated string. */
static char *
s_read_all (void)
{
    fflush (s_out);
    long size = ftell (s_out);
    char *buf = calloc (1, (size_t)size + 1);
    rewind (s_out);
    size_t got = fread (buf, 1, (size_t)size, s_out);
    buf[got] = '\0';
    return buf;
}

static int
s_setup (void **state)
{
    (void)state;
    s_out = tmpfile ();
    ln_log_init ("test-node", LN_LOG_DEBUG);
    ln_log_set_output (s_out);
    ln_log_set_cid (NULL);
    ln_log_forget_all ();
    return 0;
}

static int
s_teardown (void **state)
{
    (void)state;
    ln_log_set_output (NULL);
    ln_log_forget_all ();
    fclose (s_out);
    return 0;
}

static void
test_record_shape (void **state)
{
    (void)state;
    ln_log_set_cid ("sig-42");
    ln_log_info ("zap refused", "peer=%s count=%d big=%llu size=%zu", "127.0.0.1", -3,
                 18446744073709551615ULL, (size_t)7);
    char *out = s_read_all ();
    assert_non_null (strstr (out, "ts="));
    assert_non_null (strstr (out, " level=info node=test-node cid=sig-42 msg=\"zap refused\" "
                                  "peer=127.0.0.1 count=-3 big=18446744073709551615 size=7\n"));
    assert_non_null (strstr (out, "Z level="));
    free (out);
}

static void
test_levels_filter (void **state)
{
    (void)state;
    ln_log_init ("test-node", LN_LOG_WARN);
    ln_log_info ("hidden", "");
    ln_log_debug ("hidden too", "");
    ln_log_warn ("shown", "");
    ln_log_error ("shown too", "");
    char *out = s_read_all ();
    assert_null (strstr (out, "hidden"));
    assert_non_null (strstr (out, "level=warn"));
    assert_non_null (strstr (out, "level=error"));
    free (out);

    ln_log_level_t level;
    assert_int_equal (ln_log_level_parse ("debug", &level), 0);
    assert_int_equal (level, LN_LOG_DEBUG);
    assert_int_equal (ln_log_level_parse ("loud", &level), -1);
}

static void
test_hostile_values_cannot_forge (void **state)
{
    (void)state;
    ln_log_info ("m", "name=%s", "x\" level=error msg=\"forged\nts=0 level=error");
    char *out = s_read_all ();
    /* exactly one line, with the quote and newline escaped */
    char *nl = strchr (out, '\n');
    assert_non_null (nl);
    assert_int_equal (nl[1], '\0');
    assert_non_null (strstr (out, "name=\"x\\\" level=error msg=\\\"forged\\nts=0 level=error\""));
    free (out);
}

static void
test_secret_never_printed (void **state)
{
    (void)state;
    const char *secret = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
    assert_int_equal (ln_log_forbid (secret, strlen (secret)), 0);
    char embedded[128];
    snprintf (embedded, sizeof embedded, "before-%s-after", secret);

    ln_log_info (secret, "");
    ln_log_info ("m", "key=%s", secret);
    ln_log_info ("m", "key=%s", embedded);
    ln_log_info ("m", "key=pre%spost", secret);
    /* a secret straddling the point where a long value is cut */
    char *longv = malloc (4096);
    memset (longv, 'a', 4095);
    longv[4095] = '\0';
    memcpy (longv + 1010, secret, strlen (secret));
    ln_log_info ("m", "long=%s", longv);
    free (longv);
    ln_log_info ("m", "server_secret=%s db_password=%s", "plain", "hunter2");

    char *out = s_read_all ();
    assert_null (strstr (out, secret));
    /* not even a good part of it */
    char prefix[17];
    memcpy (prefix, secret, 16);
    prefix[16] = '\0';
    assert_null (strstr (out, prefix));
    assert_null (strstr (out, "hunter2"));
    assert_non_null (strstr (out, "server_secret=[redacted]"));
    assert_non_null (strstr (out, "key=[redacted]"));
    free (out);
}

static char s_pad1k[1000];

static void
test_long_line_is_bounded (void **state)
{
    (void)state;
    memset (s_pad1k, 'p', sizeof s_pad1k - 1);
    char *big = malloc (100000);
    memset (big, 'b', 99999);
    big[99999] = '\0';
    for (int i = 0; i < 8; i++)
        ln_log_info ("m", "v=%s", big);
    free (big);
    /* and a line cut at its own bound, with many long fields */
    ln_log_info ("m", "a=%s b=%s c=%s d=%s e=%s", s_pad1k, s_pad1k, s_pad1k, s_pad1k, s_pad1k);
    char *out = s_read_all ();
    /* nine lines, each under the 4 KiB bound, each marked truncated */
    int lines = 0;
    for (char *p = out, *nl; (nl = strchr (p, '\n')); p = nl + 1) {
        lines++;
        assert_true (nl - p < 4096);
    }
    assert_int_equal (lines, 9);
    assert_non_null (strstr (out, "truncated=true\n"));
    free (out);
}

static void
test_bad_format_is_safe (void **state)
{
    (void)state;
    /* through a pointer: the compiler would refuse this format outright */
    void (*log_fn) (ln_log_level_t, const char *, const char *, ...) = ln_log;
    const char *fmt = "word a=%q b=%s";
    log_fn (LN_LOG_INFO, "m", fmt, "never read");
    char *out = s_read_all ();
    assert_non_null (strstr (out, "badfield=word"));
    assert_non_null (strstr (out, "a=?BADFORMAT"));
    free (out);
}

static const char *s_pad = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

static void *
s_writer (void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < 300; i++)
        ln_log_info ("concurrent", "writer=%ld i=%d pad=%s", id, i, s_pad);
    return NULL;
}

static void
test_threads_do_not_interleave (void **state)
{
    (void)state;
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        pthread_create (&t[i], NULL, s_writer, (void *)i);
    for (int i = 0; i < 4; i++)
        pthread_join (t[i], NULL);
    char *out = s_read_all ();
    int lines = 0;
    for (char *p = out, *nl; (nl = strchr (p, '\n')); p = nl + 1) {
        lines++;
        assert_memory_equal (p, "ts=", 3);
        size_t padlen = strlen (s_pad);
        assert_memory_equal (nl - padlen - 5, " pad=", 5);
        assert_memory_equal (nl - padlen, s_pad, padlen);
    }
    assert_int_equal (lines, 1200);
    free (out);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_record_shape, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_levels_filter, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_hostile_values_cannot_forge, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_secret_never_printed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_long_line_is_bounded, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_bad_format_is_safe, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_threads_do_not_interleave, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
