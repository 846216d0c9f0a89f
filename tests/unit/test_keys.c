/*  Unit tests for ln_keys: generating key pairs as certificate files, the
    promises about the secret file (0600 from birth, never overwritten,
    never logged), principal validation, the strict certificate reader and
    the registry.  Each test works in its own temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ln_keys.h"
#include "ln_log.h"

typedef struct {
    char dir[64];
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *fx = calloc (1, sizeof *fx);
    snprintf (fx->dir, sizeof fx->dir, "/tmp/lantern-test-keys-XXXXXX");
    if (!mkdtemp (fx->dir)) {
        free (fx);
        return -1;
    }
    ln_log_forget_all ();
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fx = *state;
    DIR *d = opendir (fx->dir);
    if (d) {
        struct dirent *de;
        char path[512];
        while ((de = readdir (d)) != NULL) {
            if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
                continue;
            snprintf (path, sizeof path, "%s/%s", fx->dir, de->d_name);
            unlink (path);
        }
        closedir (d);
    }
    rmdir (fx->dir);
    free (fx);
    ln_log_set_output (NULL);
    ln_log_forget_all ();
    return 0;
}

static void
s_path (char *buf, size_t size, const fixture_t *fx, const char *file)
{
    snprintf (buf, size, "%s/%s", fx->dir, file);
}

/* Whole file as a string (caller frees), or NULL if it does not exist. */
static char *
s_slurp (const char *path)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return NULL;
    char *buf = calloc (1, 65536);
    size_t n = fread (buf, 1, 65535, f);
    buf[n] = '\0';
    fclose (f);
    return buf;
}

static void
s_write (const fixture_t *fx, const char *file, const char *text, mode_t mode)
{
    char path[512];
    s_path (path, sizeof path, fx, file);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs (text, f);
    fclose (f);
    assert_int_equal (chmod (path, mode), 0);
}

static bool
s_exists (const fixture_t *fx, const char *file)
{
    char path[512];
    struct stat st;
    s_path (path, sizeof path, fx, file);
    return stat (path, &st) == 0;
}

/* text with the first `from` replaced by `to` (caller frees). */
static char *
s_replace (const char *text, const char *from, const char *to)
{
    const char *at = strstr (text, from);
    assert_non_null (at);
    size_t size = strlen (text) - strlen (from) + strlen (to) + 1;
    char *out = malloc (size);
    snprintf (out, size, "%.*s%s%s", (int)(at - text), text, to, at + strlen (from));
    return out;
}

static void
s_principal (ln_principal_t *p, const char *name, const char *org, const char *roles,
             const char *level)
{
    ln_error_t err;
    ln_error_clear (&err);
    int rc = ln_principal_init (p, name, org, roles, level, &err);
    if (rc != 0)
        fail_msg ("principal: %s", err.message);
}

static void
s_generate (const fixture_t *fx, const char *name, const char *org, const char *roles,
            const char *level, char *public_key)
{
    ln_principal_t p;
    ln_error_t err;
    ln_error_clear (&err);
    s_principal (&p, name, org, roles, level);
    if (ln_keys_generate (fx->dir, name, &p, public_key, &err) != 0)
        fail_msg ("generate: %s", err.message);
}

/* --- generate ------------------------------------------------------------- */

static void
test_generate_writes_both_files (void **state)
{
    fixture_t *fx = *state;
    char key[LN_KEYS_Z85_LEN + 1];
    char path[512];
    struct stat st;
    s_generate (fx, "intake-venlo", "Gemeente Venlo", "node,intake", "vertrouwelijk", key);
    assert_int_equal (strlen (key), LN_KEYS_Z85_LEN);

    s_path (path, sizeof path, fx, "intake-venlo.secret");
    assert_int_equal (stat (path, &st), 0);
    assert_true (S_ISREG (st.st_mode));
    assert_int_equal (st.st_mode & 07777, 0600);
    char *secret_text = s_slurp (path);
    assert_non_null (strstr (secret_text, "secret-key = \""));
    assert_non_null (strstr (secret_text, key));

    s_path (path, sizeof path, fx, "intake-venlo.pub");
    assert_int_equal (stat (path, &st), 0);
    assert_int_equal (st.st_mode & 0133, 0); /* no exec, no group/other write */
    char *pub_text = s_slurp (path);
    assert_null (strstr (pub_text, "secret"));
    assert_non_null (strstr (pub_text, key));
    assert_non_null (strstr (pub_text, "organisation = \"Gemeente Venlo\""));
    free (pub_text);
    free (secret_text);
}

static void
test_load_round_trips_principal (void **state)
{
    fixture_t *fx = *state;
    char key[LN_KEYS_Z85_LEN + 1];
    char path[512];
    ln_error_t err;
    ln_principal_t p;
    s_generate (fx, "care", "Zorgcoördinator 's-Hertogenbosch", "node,care,admin", "geheim", key);

    s_path (path, sizeof path, fx, "care.pub");
    zcert_t *pub = ln_keys_load_public (path, &err);
    assert_non_null (pub);
    assert_int_equal (ln_principal_from_cert (&p, pub, &err), 0);
    assert_string_equal (p.name, "care");
    assert_string_equal (p.organisation, "Zorgcoördinator 's-Hertogenbosch");
    assert_int_equal (p.role_count, 3);
    assert_string_equal (p.roles[0], "node");
    assert_string_equal (p.roles[1], "care");
    assert_string_equal (p.roles[2], "admin");
    assert_int_equal (p.level, LN_LEVEL_GEHEIM);
    assert_string_equal (p.public_key, key);
    assert_true (ln_principal_has_role (&p, "care"));
    assert_false (ln_principal_has_role (&p, "triage"));
    assert_false (ln_principal_has_role (&p, "car"));
    char roles[64];
    assert_int_equal (ln_principal_roles_join (&p, roles, sizeof roles), 0);
    assert_string_equal (roles, "node,care,admin");
    zcert_destroy (&pub);

    s_path (path, sizeof path, fx, "care.secret");
    zcert_t *secret = ln_keys_load_secret (path, &err);
    if (!secret)
        fail_msg ("load_secret: %s", err.message);
    assert_string_equal (zcert_public_txt (secret), key);
    assert_string_not_equal (zcert_secret_txt (secret), "0000000000000000000000000000000000000000");
    assert_int_equal (ln_principal_from_cert (&p, secret, &err), 0);
    assert_string_equal (p.name, "care");
    zcert_destroy (&secret);
}

/* The files are czmq certificates: zcert_load reads them as they are. */
static void
test_czmq_reads_our_files (void **state)
{
    fixture_t *fx = *state;
    char key[LN_KEYS_Z85_LEN + 1];
    char path[512];
    s_generate (fx, "triage", "Regio Limburg-Noord", "node,triage", "zaakvertrouwelijk", key);

    s_path (path, sizeof path, fx, "triage.pub");
    zcert_t *cert = zcert_load (path);
    assert_non_null (cert);
    assert_string_equal (zcert_public_txt (cert), key);
    assert_string_equal (zcert_meta (cert, "name"), "triage");
    assert_string_equal (zcert_meta (cert, "organisation"), "Regio Limburg-Noord");
    assert_string_equal (zcert_meta (cert, "roles"), "node,triage");
    assert_string_equal (zcert_meta (cert, "level"), "zaakvertrouwelijk");
    zcert_destroy (&cert);

    s_path (path, sizeof path, fx, "triage.secret");
    cert = zcert_load (path);
    assert_non_null (cert);
    assert_string_equal (zcert_public_txt (cert), key);
    char derived[LN_KEYS_Z85_LEN + 1];
    assert_int_equal (zmq_curve_public (derived, zcert_secret_txt (cert)), 0);
    assert_string_equal (derived, key);
    zcert_destroy (&cert);
}

/* And we read what czmq's zcert_save writes. */
static void
test_we_read_czmq_files (void **state)
{
    fixture_t *fx = *state;
    char path[512];
    ln_error_t err;
    ln_principal_t p;
    zcert_t *cert = zcert_new ();
    zcert_set_meta (cert, "name", "monitor");
    zcert_set_meta (cert, "organisation", "Regio");
    zcert_set_meta (cert, "roles", "node,monitor");
    zcert_set_meta (cert, "level", "openbaar");
    s_path (path, sizeof path, fx, "monitor.pub");
    assert_int_equal (zcert_save_public (cert, path), 0);
    zcert_t *loaded = ln_keys_load_public (path, &err);
    if (!loaded)
        fail_msg ("load czmq cert: %s", err.message);
    assert_int_equal (ln_principal_from_cert (&p, loaded, &err), 0);
    assert_string_equal (p.name, "monitor");
    assert_string_equal (p.public_key, zcert_public_txt (cert));
    assert_int_equal (p.level, LN_LEVEL_OPENBAAR);
    zcert_destroy (&loaded);
    zcert_destroy (&cert);
}

static void
test_refuses_to_overwrite (void **state)
{
    fixture_t *fx = *state;
    char key[LN_KEYS_Z85_LEN + 1];
    char path_pub[512], path_sec[512];
    ln_error_t err;
    ln_principal_t p;
    s_generate (fx, "police", "Politie Limburg", "node", "vertrouwelijk", key);
    s_path (path_pub, sizeof path_pub, fx, "police.pub");
    s_path (path_sec, sizeof path_sec, fx, "police.secret");
    char *pub_before = s_slurp (path_pub);
    char *sec_before = s_slurp (path_sec);

    s_principal (&p, "police", "Someone Else", "node", "geheim");
    ln_error_clear (&err);
    assert_int_equal (ln_keys_generate (fx->dir, "police", &p, NULL, &err), -1);
    assert_string_equal (err.code, "KEYS_EXISTS");
    assert_non_null (strstr (err.message, "police.pub"));
    char *pub_after = s_slurp (path_pub);
    char *sec_after = s_slurp (path_sec);
    assert_string_equal (pub_before, pub_after);
    assert_string_equal (sec_before, sec_after);
    struct stat st;
    assert_int_equal (stat (path_sec, &st), 0);
    assert_int_equal (st.st_mode & 07777, 0600);
    free (pub_after);
    free (sec_after);

    /* Only the secret is there: refused, and no stray .pub is left. */
    assert_int_equal (unlink (path_pub), 0);
    ln_error_clear (&err);
    assert_int_equal (ln_keys_generate (fx->dir, "police", &p, NULL, &err), -1);
    assert_string_equal (err.code, "KEYS_EXISTS");
    assert_false (s_exists (fx, "police.pub"));
    sec_after = s_slurp (path_sec);
    assert_string_equal (sec_before, sec_after);
    free (sec_after);

    /* Only the .pub is there: refused, no secret written. */
    assert_int_equal (unlink (path_sec), 0);
    s_write (fx, "police.pub", pub_before, 0644);
    ln_error_clear (&err);
    assert_int_equal (ln_keys_generate (fx->dir, "police", &p, NULL, &err), -1);
    assert_string_equal (err.code, "KEYS_EXISTS");
    assert_false (s_exists (fx, "police.secret"));
    pub_after = s_slurp (path_pub);
    assert_string_equal (pub_before, pub_after);
    free (pub_after);

    /* A symlink in place of the secret is not followed either. */
    assert_int_equal (unlink (path_pub), 0);
    char target[512];
    s_path (target, sizeof target, fx, "elsewhere");
    assert_int_equal (symlink (target, path_sec), 0);
    ln_error_clear (&err);
    assert_int_equal (ln_keys_generate (fx->dir, "police", &p, NULL, &err), -1);
    assert_string_equal (err.code, "KEYS_EXISTS");
    assert_false (s_exists (fx, "elsewhere"));
    assert_false (s_exists (fx, "police.pub"));
    unlink (path_sec);

    free (pub_before);
    free (sec_before);
}

static void
test_rejects_bad_names (void **state)
{
    fixture_t *fx = *state;
    ln_principal_t p;
    ln_error_t err;
    s_principal (&p, "ok", "Org", "node", "intern");
    const char *bad[] = {
        "",
        "../evil",
        "a/b",
        ".hidden",
        "-rf",
        "a b",
        "naïve",
        "x\n",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 65 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ln_error_clear (&err);
        assert_int_equal (ln_keys_generate (fx->dir, bad[i], &p, NULL, &err), -1);
        assert_string_equal (err.code, "KEYS_NAME_INVALID");
    }
    ln_error_clear (&err);
    assert_int_equal (ln_keys_generate (fx->dir, NULL, &p, NULL, &err), -1);
    assert_string_equal (err.code, "KEYS_NAME_INVALID");
    /* 64 is fine */
    const char *longest = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    assert_int_equal (strlen (longest), 64);
    s_principal (&p, longest, "Org", "node", "intern");
    assert_int_equal (ln_keys_generate (fx->dir, longest, &p, NULL, &err), 0);

    /* Nothing else was written. */
    DIR *d = opendir (fx->dir);
    int files = 0;
    struct dirent *de;
    while ((de = readdir (d)) != NULL)
        if (de->d_name[0] != '.')
            files++;
    closedir (d);
    assert_int_equal (files, 2);
}

static void
test_rejects_bad_principals (void **state)
{
    (void)state;
    ln_principal_t p;
    ln_error_t err;
    struct {
        const char *name, *org, *roles, *level, *field;
    } cases[] = {
        {"a", "Org", "node", "secret", "metadata.level"},
        {"a", "Org", "node", "Intern", "metadata.level"},
        {"a", "Org", "node", "", "metadata.level"},
        {"a", "Org", "", "intern", "metadata.roles"},
        {"a", "Org", "Node", "intern", "metadata.roles"},
        {"a", "Org", "node,,care", "intern", "metadata.roles"},
        {"a", "Org", "node, care", "intern", "metadata.roles"},
        {"a", "Org", "node,", "intern", "metadata.roles"},
        {"a", "Org", "node,node", "intern", "metadata.roles"},
        {"a", "Org", "r,s,t,u,v,w,x,y,z,aa,bb,cc,dd,ee,ff,gg,hh", "intern", "metadata.roles"},
        {"a", "Org", "abcdefghijklmnopqrstuvwxyzabcdefg", "intern", "metadata.roles"},
        {"a", "", "node", "intern", "metadata.organisation"},
        {"a", "Say \"hi\"", "node", "intern", "metadata.organisation"},
        {"a", "Line\nbreak", "node", "intern", "metadata.organisation"},
        {"a", " Padded", "node", "intern", "metadata.organisation"},
        {"a", "Bad \xc3\x28 UTF-8", "node", "intern", "metadata.organisation"},
        {"a", "Overlong \xc0\xaf", "node", "intern", "metadata.organisation"},
        {"a", "Surrogate \xed\xa0\x80", "node", "intern", "metadata.organisation"},
        {"a", "Cut \xe2\x82", "node", "intern", "metadata.organisation"},
        {"", "Org", "node", "intern", "metadata.name"},
        {"a/b", "Org", "node", "intern", "metadata.name"},
        {NULL, "Org", "node", "intern", "metadata.name"},
        {"a", "Org", "node", NULL, "metadata.level"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ln_error_clear (&err);
        int rc = ln_principal_init (&p, cases[i].name, cases[i].org, cases[i].roles, cases[i].level,
                                    &err);
        if (rc != -1)
            fail_msg ("case %zu accepted", i);
        assert_non_null (err.code);
        assert_string_equal (err.field, cases[i].field);
        assert_true (strlen (err.message) > 0);
    }
    /* The level error lists the valid levels. */
    ln_principal_init (&p, "a", "Org", "node", "secret", &err);
    assert_string_equal (err.code, "CERT_FIELD_INVALID");
    assert_non_null (strstr (err.message, "zaakvertrouwelijk"));
    /* 16 roles of 32 characters and a 128-byte organisation are fine. */
    char org[129];
    memset (org, 'o', 128);
    org[128] = '\0';
    assert_int_equal (
        ln_principal_init (&p, "a", org, "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p", "zeer_geheim", &err),
        0);
    assert_int_equal (p.role_count, 16);
    assert_int_equal (
        ln_principal_init (&p, "a", "Org", "abcdefghijklmnopqrstuvwxyzabcdef", "openbaar", &err),
        0);
    char org129[130];
    memset (org129, 'o', 129);
    org129[129] = '\0';
    assert_int_equal (ln_principal_init (&p, "a", org129, "node", "intern", &err), -1);
}

/* --- secret files ------------------------------------------------------------ */

static void
test_load_secret_refuses_open_modes (void **state)
{
    fixture_t *fx = *state;
    char key[LN_KEYS_Z85_LEN + 1];
    char path[512];
    ln_error_t err;
    s_generate (fx, "node1", "Org", "node", "intern", key);
    s_path (path, sizeof path, fx, "node1.secret");

    const mode_t open_modes[] = {0644, 0640, 0604, 0660, 0601, 0610};
    for (size_t i = 0; i < sizeof open_modes / sizeof open_modes[0]; i++) {
        assert_int_equal (chmod (path, open_modes[i]), 0);
        ln_error_clear (&err);
        assert_null (ln_keys_load_secret (path, &err));
        assert_string_equal (err.code, "KEYS_INSECURE_FILE");
        assert_non_null (strstr (err.message, "node1.secret"));
    }
    assert_int_equal (chmod (path, 0400), 0);
    zcert_t *cert = ln_keys_load_secret (path, &err);
    assert_non_null (cert);
    zcert_destroy (&cert);

    /* A directory or a missing file is refused too. */
    assert_null (ln_keys_load_secret (fx->dir, &err));
    assert_string_equal (err.code, "KEYS_INSECURE_FILE");
    s_path (path, sizeof path, fx, "missing.secret");
    assert_null (ln_keys_load_secret (path, &err));
    assert_string_equal (err.code, "KEYS_IO");

    /* A public certificate is not a secret one. */
    s_path (path, sizeof path, fx, "node1.pub");
    assert_int_equal (chmod (path, 0600), 0);
    assert_null (ln_keys_load_secret (path, &err));
    assert_string_equal (err.code, "CERT_NO_SECRET");
}

static void
test_load_secret_checks_key_pair (void **state)
{
    fixture_t *fx = *state;
    char key_a[LN_KEYS_Z85_LEN + 1], key_b[LN_KEYS_Z85_LEN + 1];
    char path[512];
    ln_error_t err;
    s_generate (fx, "a", "Org", "node", "intern", key_a);
    s_generate (fx, "b", "Org", "node", "intern", key_b);
    /* a's secret file with b's public key */
    s_path (path, sizeof path, fx, "a.secret");
    char *text = s_slurp (path);
    char *at = strstr (text, key_a);
    assert_non_null (at);
    memcpy (at, key_b, LN_KEYS_Z85_LEN);
    s_write (fx, "mixed.secret", text, 0600);
    s_path (path, sizeof path, fx, "mixed.secret");
    assert_null (ln_keys_load_secret (path, &err));
    assert_string_equal (err.code, "CERT_KEY_MISMATCH");
    free (text);
}

/* The promise of ln_log.h: once loaded, the secret never reaches a log. */
static void
test_secret_is_never_logged (void **state)
{
    fixture_t *fx = *state;
    char key[LN_KEYS_Z85_LEN + 1];
    char path[512];
    ln_error_t err;
    s_generate (fx, "node2", "Org", "node", "intern", key);
    s_path (path, sizeof path, fx, "node2.secret");
    zcert_t *cert = ln_keys_load_secret (path, &err);
    assert_non_null (cert);

    char secret[LN_KEYS_Z85_LEN + 1];
    snprintf (secret, sizeof secret, "%s", zcert_secret_txt (cert));
    char hex_lc[65], hex_uc[65];
    const byte *bytes = zcert_secret_key (cert);
    for (int i = 0; i < 32; i++) {
        snprintf (hex_lc + 2 * i, 3, "%02x", bytes[i]);
        snprintf (hex_uc + 2 * i, 3, "%02X", bytes[i]);
    }

    FILE *out = tmpfile ();
    assert_non_null (out);
    ln_log_init ("test-keys", LN_LOG_DEBUG);
    ln_log_set_output (out);
    ln_log_info (secret, "key=%s hex=%s HEX=%s public=%s", secret, hex_lc, hex_uc, key);
    char embedded[200];
    snprintf (embedded, sizeof embedded, "prefix-%s-suffix", secret);
    ln_log_warn ("embedded", "value=%s", embedded);
    ln_log_set_output (NULL);

    fflush (out);
    long size = ftell (out);
    assert_true (size > 0);
    char *text = calloc (1, (size_t)size + 1);
    rewind (out);
    assert_int_equal (fread (text, 1, (size_t)size, out), (size_t)size);
    fclose (out);
    assert_null (strstr (text, secret));
    assert_null (strstr (text, hex_lc));
    assert_null (strstr (text, hex_uc));
    assert_non_null (strstr (text, "embedded")); /* the lines were written ... */
    assert_non_null (strstr (text, key));        /* ... and public data kept */
    free (text);
    zcert_destroy (&cert);
}

/* --- the certificate reader ------------------------------------------------------ */

/* A valid public key nobody registered (filled in main). */
static char s_good_key[LN_KEYS_Z85_LEN + 1];

static void
s_expect_load_error (const fixture_t *fx, const char *text, const char *code, const char *needle)
{
    char path[512];
    ln_error_t err;
    s_write (fx, "x.pub", text, 0644);
    s_path (path, sizeof path, fx, "x.pub");
    ln_error_clear (&err);
    zcert_t *cert = ln_keys_load_public (path, &err);
    if (cert)
        fail_msg ("accepted:\n%s", text);
    assert_string_equal (err.code, code);
    if (needle && !strstr (err.message, needle))
        fail_msg ("message \"%s\" lacks \"%s\"", err.message, needle);
    assert_non_null (strstr (err.message, "x.pub"));
}

static void
test_reader_is_strict (void **state)
{
    fixture_t *fx = *state;
    char text[2048];
    char path[512];
    ln_error_t err;
#define META(name, org, roles, level)                                                              \
    "metadata\n    name = \"" name "\"\n    organisation = \"" org "\"\n    roles = \"" roles      \
    "\"\n    level = \"" level "\"\n"

    /* The well-formed baseline loads, with comments, quotes of both kinds,
       bare values and CRLF line ends. */
    snprintf (text, sizeof text,
              "# comment\r\n\r\nmetadata\r\n    name = 'n1'   # trailing comment\r\n"
              "    organisation = \"O'Neil & Co\"\r\n    roles = node\r\n    level = intern\r\n"
              "curve\r\n    # indented comment\r\n    public-key = \"%s\"\r\n",
              s_good_key);
    s_write (fx, "x.pub", text, 0644);
    s_path (path, sizeof path, fx, "x.pub");
    zcert_t *cert = ln_keys_load_public (path, &err);
    if (!cert)
        fail_msg ("baseline: %s", err.message);
    ln_principal_t p;
    assert_int_equal (ln_principal_from_cert (&p, cert, &err), 0);
    assert_string_equal (p.organisation, "O'Neil & Co");
    assert_string_equal (p.public_key, s_good_key);
    zcert_destroy (&cert);

    snprintf (text, sizeof text, "%s", META ("n", "O", "node", "intern") "curve\n");
    s_expect_load_error (fx, text, "CERT_FIELD_MISSING", "curve.public-key");

    snprintf (text, sizeof text,
              "metadata\n    name = \"n\"\n    roles = \"node\"\n    level = \"intern\"\n"
              "curve\n    public-key = \"%s\"\n",
              s_good_key);
    s_expect_load_error (fx, text, "CERT_FIELD_MISSING", "metadata.organisation");

    snprintf (text, sizeof text,
              META ("n", "O", "node", "topsecret") "curve\n    public-key = \"%s\"\n", s_good_key);
    s_expect_load_error (fx, text, "CERT_FIELD_INVALID", "x.pub:5: metadata.level");

    snprintf (
        text, sizeof text,
        META ("n", "O", "node", "intern") "    email = \"a@b\"\ncurve\n    public-key = \"%s\"\n",
        s_good_key);
    s_expect_load_error (fx, text, "CERT_FIELD_UNKNOWN", "metadata.email");

    snprintf (
        text, sizeof text,
        META ("n", "O", "node", "intern") "    name = \"m\"\ncurve\n    public-key = \"%s\"\n",
        s_good_key);
    s_expect_load_error (fx, text, "CERT_FIELD_INVALID", "repeated");

    snprintf (text, sizeof text,
              META ("n", "O", "node", "intern") "curve\n    public-key = \"%.39s\"\n", s_good_key);
    s_expect_load_error (fx, text, "CERT_FIELD_INVALID", "curve.public-key");

    snprintf (text, sizeof text,
              META ("n", "O", "node", "intern") "curve\n    public-key = \"%.39s\\\"\n",
              s_good_key);
    s_expect_load_error (fx, text, "CERT_FIELD_INVALID", "curve.public-key");

    snprintf (text, sizeof text, META ("n", "O", "node", "intern") "curve\n\tpublic-key = \"%s\"\n",
              s_good_key);
    s_expect_load_error (fx, text, "CERT_MALFORMED", "x.pub:7");

    snprintf (text, sizeof text, META ("n", "O", "node", "intern") "curve\n  public-key = \"%s\"\n",
              s_good_key);
    s_expect_load_error (fx, text, "CERT_MALFORMED", "x.pub:7");

    snprintf (text, sizeof text, META ("n", "O", "node", "intern") "curve\n    public-key = \"%s\n",
              s_good_key);
    s_expect_load_error (fx, text, "CERT_MALFORMED", "missing closing");

    snprintf (text, sizeof text,
              META ("n", "O", "node", "intern") "curve\n    public-key = \"%s\" junk\n",
              s_good_key);
    s_expect_load_error (fx, text, "CERT_MALFORMED", NULL);

    snprintf (text, sizeof text, "%s", "    name = \"n\"\n");
    s_expect_load_error (fx, text, "CERT_MALFORMED", "outside a section");

    snprintf (text, sizeof text, "%s", META ("n", "O", "node", "intern") "keys\n");
    s_expect_load_error (fx, text, "CERT_FIELD_UNKNOWN", "unknown section");

    snprintf (text, sizeof text, "%s", META ("n", "O", "node", "intern") "metadata\n");
    s_expect_load_error (fx, text, "CERT_MALFORMED", "repeated");

    snprintf (text, sizeof text, "%s", "this is not a certificate\n");
    s_expect_load_error (fx, text, "CERT_MALFORMED", NULL);

    /* Oversized and overlong inputs. */
    char *big = malloc (LN_KEYS_FILE_MAX + 100);
    memset (big, '#', LN_KEYS_FILE_MAX + 99);
    big[LN_KEYS_FILE_MAX + 99] = '\0';
    s_expect_load_error (fx, big, "CERT_MALFORMED", "larger than");
    memset (big, ' ', 1100);
    big[0] = '#';
    big[1100] = '\0';
    s_expect_load_error (fx, big, "CERT_MALFORMED", "line longer");
    free (big);

    /* A NUL byte in the middle. */
    s_path (path, sizeof path, fx, "x.pub");
    FILE *f = fopen (path, "wb");
    static const char with_nul[] = "metadata\n\0    name = \"n\"\n";
    fwrite (with_nul, 1, sizeof with_nul - 1, f);
    fclose (f);
    assert_null (ln_keys_load_public (path, &err));
    assert_string_equal (err.code, "CERT_MALFORMED");
#undef META
}

/* --- registry ----------------------------------------------------------------------- */

static void
test_registry_loads_directory (void **state)
{
    fixture_t *fx = *state;
    char key_a[LN_KEYS_Z85_LEN + 1], key_b[LN_KEYS_Z85_LEN + 1];
    ln_error_t err;
    s_generate (fx, "intake-venlo", "Gemeente Venlo", "node,intake", "vertrouwelijk", key_a);
    s_generate (fx, "triage", "Screeningsoverleg", "node,triage", "geheim", key_b);
    s_write (fx, "README", "not a certificate\n", 0644);
    s_write (fx, ".hidden.pub", "junk\n", 0644);

    ln_registry_t *registry = ln_registry_load (fx->dir, &err);
    if (!registry)
        fail_msg ("registry: %s", err.message);
    assert_int_equal (ln_registry_size (registry), 2);

    const ln_principal_t *a = ln_registry_lookup (registry, key_a);
    assert_non_null (a);
    assert_string_equal (a->name, "intake-venlo");
    assert_string_equal (a->organisation, "Gemeente Venlo");
    assert_int_equal (a->level, LN_LEVEL_VERTROUWELIJK);
    assert_true (ln_principal_has_role (a, "intake"));
    assert_false (ln_principal_has_role (a, "triage"));
    const ln_principal_t *b = ln_registry_lookup (registry, key_b);
    assert_non_null (b);
    assert_string_equal (b->name, "triage");
    assert_ptr_equal (ln_registry_lookup_name (registry, "triage"), b);
    assert_ptr_equal (ln_registry_lookup_name (registry, "intake-venlo"), a);
    assert_null (ln_registry_lookup_name (registry, "care"));
    assert_null (ln_registry_lookup (registry, s_good_key));
    assert_null (ln_registry_lookup (registry, ""));
    assert_null (ln_registry_lookup (registry, NULL));
    char longer[64];
    snprintf (longer, sizeof longer, "%sX", key_a);
    assert_null (ln_registry_lookup (registry, longer));
    ln_registry_destroy (&registry);
    assert_null (registry);
    ln_registry_destroy (&registry); /* NULL-safe */

    /* An empty directory is an empty registry. */
    char empty[80];
    snprintf (empty, sizeof empty, "%s/empty", fx->dir);
    assert_int_equal (mkdir (empty, 0700), 0);
    registry = ln_registry_load (empty, &err);
    assert_non_null (registry);
    assert_int_equal (ln_registry_size (registry), 0);
    assert_null (ln_registry_lookup (registry, key_a));
    ln_registry_destroy (&registry);
    rmdir (empty);

    assert_null (ln_registry_load ("/nonexistent/registry", &err));
    assert_string_equal (err.code, "KEYS_IO");
}

static void
test_registry_rejects_bad_certificates (void **state)
{
    fixture_t *fx = *state;
    char key[LN_KEYS_Z85_LEN + 1];
    char path[512];
    ln_error_t err;
    s_generate (fx, "good", "Org", "node", "intern", key);

    /* A malformed certificate fails the load and is named. */
    s_write (fx, "broken.pub", "metadata\n    name = \"broken\"\ncurve\n", 0644);
    assert_null (ln_registry_load (fx->dir, &err));
    assert_string_equal (err.code, "CERT_FIELD_MISSING");
    assert_non_null (strstr (err.message, "broken.pub"));
    assert_non_null (strstr (err.message, "metadata.organisation"));
    s_path (path, sizeof path, fx, "broken.pub");
    unlink (path);

    /* A secret certificate published as .pub. */
    s_path (path, sizeof path, fx, "good.secret");
    char *secret_text = s_slurp (path);
    s_write (fx, "leaked.pub", secret_text, 0644);
    free (secret_text);
    assert_null (ln_registry_load (fx->dir, &err));
    assert_string_equal (err.code, "CERT_HAS_SECRET");
    assert_non_null (strstr (err.message, "leaked.pub"));
    s_path (path, sizeof path, fx, "leaked.pub");
    unlink (path);

    ln_registry_t *registry = ln_registry_load (fx->dir, &err);
    assert_non_null (registry);
    ln_registry_destroy (&registry);
}

static void
test_registry_rejects_duplicates (void **state)
{
    fixture_t *fx = *state;
    char key[LN_KEYS_Z85_LEN + 1], other[LN_KEYS_Z85_LEN + 1];
    char path[512];
    ln_error_t err;
    s_generate (fx, "alpha", "Org", "node", "intern", key);
    s_path (path, sizeof path, fx, "alpha.pub");
    char *text = s_slurp (path);

    /* Same key under another name. */
    char *at = strstr (text, "name = \"alpha\"");
    assert_non_null (at);
    memcpy (at, "name = \"omega\"", 14);
    s_write (fx, "omega.pub", text, 0644);
    assert_null (ln_registry_load (fx->dir, &err));
    assert_string_equal (err.code, "REGISTRY_DUPLICATE_KEY");
    assert_non_null (strstr (err.message, "alpha.pub"));
    assert_non_null (strstr (err.message, "omega.pub"));
    s_path (path, sizeof path, fx, "omega.pub");
    unlink (path);
    free (text);

    /* Same name with another key. */
    s_generate (fx, "beta", "Org", "node", "intern", other);
    s_path (path, sizeof path, fx, "beta.pub");
    text = s_slurp (path);
    char *renamed = s_replace (text, "name = \"beta\"", "name = \"alpha\"");
    s_write (fx, "beta.pub", renamed, 0644);
    free (renamed);
    free (text);
    assert_null (ln_registry_load (fx->dir, &err));
    assert_string_equal (err.code, "REGISTRY_DUPLICATE_NAME");
    assert_non_null (strstr (err.message, "alpha.pub"));
    assert_non_null (strstr (err.message, "beta.pub"));
}

/* Unknown metadata on a certificate built in memory. */
static void
test_principal_from_cert_rejects_unknown (void **state)
{
    (void)state;
    ln_principal_t p;
    ln_error_t err;
    zcert_t *cert = zcert_new ();
    zcert_set_meta (cert, "name", "n");
    zcert_set_meta (cert, "organisation", "O");
    zcert_set_meta (cert, "roles", "node");
    zcert_set_meta (cert, "level", "intern");
    assert_int_equal (ln_principal_from_cert (&p, cert, &err), 0);
    zcert_set_meta (cert, "admin", "yes");
    assert_int_equal (ln_principal_from_cert (&p, cert, &err), -1);
    assert_string_equal (err.code, "CERT_FIELD_UNKNOWN");
    zcert_destroy (&cert);

    cert = zcert_new ();
    zcert_set_meta (cert, "name", "n");
    assert_int_equal (ln_principal_from_cert (&p, cert, &err), -1);
    assert_string_equal (err.code, "CERT_FIELD_MISSING");
    zcert_destroy (&cert);
}

int
main (void)
{
    char secret[LN_KEYS_Z85_LEN + 1];
    if (zmq_curve_keypair (s_good_key, secret) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_generate_writes_both_files, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_load_round_trips_principal, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_czmq_reads_our_files, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_we_read_czmq_files, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_refuses_to_overwrite, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_rejects_bad_names, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_rejects_bad_principals, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_load_secret_refuses_open_modes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_load_secret_checks_key_pair, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_secret_is_never_logged, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_reader_is_strict, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_registry_loads_directory, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_registry_rejects_bad_certificates, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_registry_rejects_duplicates, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_principal_from_cert_rejects_unknown, s_setup,
                                         s_teardown),
    };
    return cmocka_run_group_tests_name ("keys", tests, NULL, NULL);
}
