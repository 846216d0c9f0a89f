/*  lanternctl as a user meets it: --help (with the exit statuses every
    command shares), --version, unknown commands, and keygen (files, modes,
    refusals, each exit status), run as the real binary; and the README's
    keygen example, read from README.md itself and run as written in a
    fresh directory, as a newcomer would run it in a fresh clone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
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

    /* one exit scheme, stated by lanternctl --help and by every command */
    static const char *const statuses[] = {"exit status (the same for every lanternctl command):",
                                           "\n  0  done\n",
                                           "\n  1  refused by the node",
                                           "\n  2  usage",
                                           "\n  3  unreachable",
                                           "\n  4  local error"};
    static const char *const helps[][3] = {
        {"--help", NULL, NULL},           {"keygen", "--help", NULL},
        {"events", "--help", NULL},       {"signal", "--help", NULL},
        {"signal", "submit", "--help"},   {"signal", "amend", "--help"},
        {"signal", "withdraw", "--help"}, {"signal", "show", "--help"},
        {"signal", "list", "--help"},     {"signal", "template", "--help"},
    };
    for (size_t i = 0; i < sizeof helps / sizeof helps[0]; i++) {
        r = s_ctl (helps[i][0], helps[i][1], helps[i][2], NULL, NULL, NULL);
        assert_int_equal (r.status, 0);
        for (size_t k = 0; k < sizeof statuses / sizeof statuses[0]; k++)
            if (!strstr (r.out, statuses[k]))
                fail_msg ("lanternctl %s %s: no '%s' in its help", helps[i][0],
                          helps[i][1] ? helps[i][1] : "", statuses[k]);
        run_cmd_free (&r);
    }
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

    /* a second keygen refuses, exit 4 (a file it cannot write), both files
       unchanged */
    r = s_ctl ("keygen", "intake-venlo", "--dir", s_dir, "--roles", "operator");
    assert_int_equal (r.status, 4);
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
    /* never overwritten (exit 4); NAME with --regional is a usage error */
    r = s_ctl ("keygen", "--regional", path, NULL, NULL, NULL);
    assert_int_equal (r.status, 4);
    assert_non_null (strstr (r.err, "refusing to overwrite"));
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

/* keygen makes the directories it is told to write to (mode 0700), and
   says which one it cannot make. */
static void
test_keygen_makes_its_directory (void **state)
{
    (void)state;
    char dir[160], pub[200], key[200];
    snprintf (dir, sizeof dir, "%s/new/keys", s_dir);
    run_cmd_result_t r = s_ctl ("keygen", "anna", "--dir", dir, NULL, NULL);
    assert_int_equal (r.status, 0);
    run_cmd_free (&r);
    struct stat st;
    assert_int_equal (stat (dir, &st), 0);
    assert_true (S_ISDIR (st.st_mode));
    assert_int_equal (st.st_mode & 0777, 0700);
    snprintf (pub, sizeof pub, "%s/anna.pub", dir);
    assert_int_equal (access (pub, R_OK), 0);

    snprintf (key, sizeof key, "%s/other/region/regional.key", s_dir);
    r = s_ctl ("keygen", "--regional", key, NULL, NULL, NULL);
    assert_int_equal (r.status, 0);
    run_cmd_free (&r);
    assert_int_equal (access (key, R_OK), 0);

    /* a file where a directory should be: exit 4, the directory named */
    char blocked[200];
    snprintf (blocked, sizeof blocked, "%s/anna.pub/keys", dir);
    r = s_ctl ("keygen", "bob", "--dir", blocked, NULL, NULL);
    assert_int_equal (r.status, 4);
    if (!strstr (r.err, "anna.pub is not a directory"))
        fail_msg ("stderr: %s", r.err);
    run_cmd_free (&r);
}

/* The README's keygen block, as written, in a fresh directory: the folder
   does not exist yet, and `build/bin/lanternctl` is this build's binary. */
static void
test_readme_keygen_example (void **state)
{
    (void)state;
    const char *src = getenv ("LANTERN_SOURCE_DIR");
    char readme[PATH_MAX];
    snprintf (readme, sizeof readme, "%s/README.md", src && *src ? src : ".");
    FILE *f = fopen (readme, "r");
    assert_non_null (f);
    char bin[PATH_MAX];
    assert_non_null (realpath (run_cmd_lanternctl (), bin));

    /* The commands of the fenced block that holds "lanternctl keygen",
       continuation lines (ending in \) joined. */
    char line[1024], cmd[4096] = "", *cmds[8];
    size_t ncmds = 0;
    bool in_block = false, in_keygen = false;
    while (fgets (line, sizeof line, f)) {
        if (strncmp (line, "```", 3) == 0) {
            if (in_block && in_keygen)
                break;
            in_block = !in_block;
            ncmds = 0;
            continue;
        }
        if (!in_block)
            continue;
        line[strcspn (line, "\n")] = '\0';
        size_t len = strlen (line);
        bool more = len && line[len - 1] == '\\';
        if (more)
            line[len - 1] = ' ';
        size_t used = strlen (cmd);
        snprintf (cmd + used, sizeof cmd - used, "%s", line);
        if (more)
            continue;
        if (strstr (cmd, "lanternctl keygen")) {
            in_keygen = true;
            assert_true (ncmds < 8);
            cmds[ncmds++] = strdup (cmd);
        }
        cmd[0] = '\0';
    }
    fclose (f);
    assert_true (in_keygen);
    assert_int_equal (ncmds, 2); /* a node's key pair, the regional key */

    char fresh[160], home[PATH_MAX];
    snprintf (fresh, sizeof fresh, "%s/fresh-clone", s_dir);
    assert_int_equal (mkdir (fresh, 0755), 0);
    assert_non_null (getcwd (home, sizeof home));
    assert_int_equal (chdir (fresh), 0);
    for (size_t i = 0; i < ncmds; i++) {
        /* split the words as the shell would (double quotes only here) */
        char *argv[32];
        int argc = 0;
        char *p = cmds[i];
        while (*p && argc < 31) {
            while (*p == ' ')
                p++;
            if (!*p)
                break;
            char *word = p, *out = p;
            bool quoted = false;
            for (; *p && (quoted || *p != ' '); p++) {
                if (*p == '"')
                    quoted = !quoted;
                else
                    *out++ = *p;
            }
            if (*p)
                p++;
            *out = '\0';
            argv[argc++] = word;
        }
        argv[argc] = NULL;
        assert_string_equal (argv[0], "build/bin/lanternctl");
        argv[0] = bin;
        run_cmd_result_t r;
        assert_int_equal (run_cmd (argv, NULL, 20000, &r), 0);
        if (r.status != 0)
            fail_msg ("README example %zu: exit %d\nstdout: %s\nstderr: %s", i, r.status, r.out,
                      r.err);
        run_cmd_free (&r);
        free (cmds[i]);
    }
    struct stat st;
    assert_int_equal (stat ("keys/intake-venlo.secret", &st), 0);
    assert_int_equal (st.st_mode & 0777, 0600);
    assert_int_equal (stat ("keys/regional.key", &st), 0);
    assert_int_equal (st.st_mode & 0777, 0600);
    assert_int_equal (stat ("keys", &st), 0);
    assert_int_equal (st.st_mode & 0777, 0700);
    char *pub = s_read ("keys/intake-venlo.pub");
    assert_non_null (pub);
    assert_non_null (strstr (pub, "organisation = \"gemeente-venlo\""));
    free (pub);
    assert_int_equal (chdir (home), 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_help_and_version),
        cmocka_unit_test (test_usage_errors),
        cmocka_unit_test (test_keygen_writes_and_refuses_overwrite),
        cmocka_unit_test (test_keygen_regional_key),
        cmocka_unit_test (test_keygen_makes_its_directory),
        cmocka_unit_test (test_readme_keygen_example),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
