/*  lanternctl as a user meets it: --help, --version, unknown commands, and
    keygen (files, modes, refusals), run as the real binary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ln_pseudonym.h"

#include "ln_version.h"
#include "run_cmd.h"

static char s_dir[64];

static int
s_setup (void **state)
{
    (void)state;
    snprintf (s_dir, sizeof s_dir, "/tmp/lantern-cli.XXXXXX");
    return mkdtemp (s_dir) ? 0 : -1;
}

static int
s_teardown (void **state)
{
    (void)state;
    char cmd[128];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    return system (cmd) == 0 ? 0 : -1;
}

static run_cmd_result_t
s_ctl (const char *a1, const char *a2, const char *a3, const char *a4, const char *a5,
       const char *a6)
{
    char *argv[8] = {(char *)run_cmd_lanternctl (),
                     (char *)a1,
                     (char *)a2,
                     (char *)a3,
                     (char *)a4,
                     (char *)a5,
                     (char *)a6,
                     NULL};
    run_cmd_result_t r;
    assert_int_equal (run_cmd (argv, NULL, 20000, &r), 0);
    return r;
}

static char *
s_read (const char *path)
{
    FILE *f = fopen (path, "r");
    if (!f)
        return NULL;
    char *buf = calloc (1, 4096);
    size_t n = fread (buf, 1, 4095, f);
    buf[n] = '\0';
    fclose (f);
    return buf;
}

static void
test_help_and_version (void **state)
{
    (void)state;
    run_cmd_result_t r = s_ctl ("--help", NULL, NULL, NULL, NULL, NULL);
    assert_int_equal (r.status, 0);
    assert_non_null (strstr (r.out, "usage: lanternctl"));
    assert_non_null (strstr (r.out, "keygen"));
    assert_non_null (strstr (r.out, "audit"));
    run_cmd_free (&r);

    r = s_ctl ("--version", NULL, NULL, NULL, NULL, NULL);
    assert_int_equal (r.status, 0);
    assert_non_null (strstr (r.out, LN_VERSION));
    run_cmd_free (&r);

    r = s_ctl ("keygen", "--help", NULL, NULL, NULL, NULL);
    assert_int_equal (r.status, 0);
    assert_non_null (strstr (r.out, "--level"));
    run_cmd_free (&r);
}

static void
test_usage_errors (void **state)
{
    (void)state;
    run_cmd_result_t r = s_ctl (NULL, NULL, NULL, NULL, NULL, NULL);
    assert_int_equal (r.status, 2);
    assert_non_null (strstr (r.err, "usage"));
    run_cmd_free (&r);

    r = s_ctl ("frobnicate", NULL, NULL, NULL, NULL, NULL);
    assert_int_equal (r.status, 2);
    assert_non_null (strstr (r.err, "lanternctl: unknown command 'frobnicate'"));
    assert_string_equal (r.out, "");
    run_cmd_free (&r);

    r = s_ctl ("--frobnicate", NULL, NULL, NULL, NULL, NULL);
    assert_int_equal (r.status, 2);
    assert_non_null (strstr (r.err, "unknown option"));
    run_cmd_free (&r);

    r = s_ctl ("keygen", "--dir", s_dir, NULL, NULL, NULL);
    assert_int_equal (r.status, 2);
    assert_non_null (strstr (r.err, "lanternctl: keygen: missing NAME"));
    run_cmd_free (&r);

    r = s_ctl ("keygen", "bob", "--dir", s_dir, "--level", "topsecret");
    assert_int_equal (r.status, 2);
    assert_non_null (strstr (r.err, "level"));
    run_cmd_free (&r);
    char path[128];
    snprintf (path, sizeof path, "%s/bob.pub", s_dir);
    assert_int_equal (access (path, F_OK), -1); /* nothing written */
}

static void
test_keygen_writes_and_refuses_overwrite (void **state)
{
    (void)state;
    run_cmd_result_t r = s_ctl ("keygen", "intake-venlo", "--dir", s_dir, "--roles", "node,intake");
    assert_int_equal (r.status, 0);
    run_cmd_free (&r);

    char pub[128], sec[128];
    snprintf (pub, sizeof pub, "%s/intake-venlo.pub", s_dir);
    snprintf (sec, sizeof sec, "%s/intake-venlo.secret", s_dir);
    struct stat st;
    assert_int_equal (stat (sec, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0600);
    assert_int_equal (stat (pub, &st), 0);

    char *pub_text = s_read (pub);
    char *sec_text = s_read (sec);
    assert_non_null (strstr (pub_text, "roles = \"node,intake\""));
    assert_null (strstr (pub_text, "secret-key"));
    char *secret_line = strstr (sec_text, "secret-key");
    assert_non_null (secret_line);

    /* a second keygen refuses, exit 1, both files unchanged */
    r = s_ctl ("keygen", "intake-venlo", "--dir", s_dir, "--roles", "operator");
    assert_int_equal (r.status, 1);
    assert_non_null (strstr (r.err, "refusing to overwrite"));
    run_cmd_free (&r);
    char *pub_after = s_read (pub);
    char *sec_after = s_read (sec);
    assert_string_equal (pub_after, pub_text);
    assert_string_equal (sec_after, sec_text);
    free (pub_after);
    free (sec_after);
    free (pub_text);
    free (sec_text);
}

static void
test_keygen_regional_key (void **state)
{
    (void)state;
    char path[160];
    snprintf (path, sizeof path, "%s/regional.key", s_dir);
    run_cmd_result_t r = s_ctl ("keygen", "--regional", path, NULL, NULL, NULL);
    assert_int_equal (r.status, 0);
    assert_non_null (strstr (r.out, "regional key:"));
    run_cmd_free (&r);
    struct stat st;
    assert_int_equal (stat (path, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0600);
    ln_pseudonym_key_t key;
    ln_error_t err;
    assert_int_equal (ln_pseudonym_key_load (path, &key, &err), 0);
    char *before = s_read (path);
    /* never overwritten; NAME with --regional is a usage error */
    r = s_ctl ("keygen", "--regional", path, NULL, NULL, NULL);
    assert_int_equal (r.status, 1);
    run_cmd_free (&r);
    r = s_ctl ("keygen", "bob", "--regional", path, NULL, NULL);
    assert_int_equal (r.status, 2);
    run_cmd_free (&r);
    char *after = s_read (path);
    assert_string_equal (before, after);
    free (before);
    free (after);
    ln_pseudonym_key_wipe (&key);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_help_and_version),
        cmocka_unit_test (test_usage_errors),
        cmocka_unit_test (test_keygen_writes_and_refuses_overwrite),
        cmocka_unit_test (test_keygen_regional_key),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
