/*  ln_keys: CURVE certificates, principals and the registry; see ln_keys.h.

    Reading: a certificate file is read whole (bounded by LN_KEYS_FILE_MAX)
    into a buffer that is wiped before it is freed, parsed in place by a
    strict ZPL subset parser (two sections, `key = "value"` settings, comment
    and blank lines), and every value is validated before anything is built
    from it.  Writing: the files are produced by snprintf into fixed buffers
    (every field is bounded, so the text is too) and written with
    O_CREAT|O_EXCL, which is the only way to refuse an overwrite without a
    race and to create the secret file 0600 from its first moment.
*/
#include "ln_keys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "ln_log.h"

#define LINE_MAX_BYTES 1000 /* zconfig silently cuts lines at 1024 */
#define TEXT_MAX       4096 /* a certificate we write; fields are bounded */

/* --- validation ------------------------------------------------------------ */

static bool
s_name_char (char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

/* A name is also a file stem: it must not start with '.' (hidden, "..")
   or '-' (read as an option), and holds no '/'. */
static bool
s_name_valid (const char *name)
{
    size_t len = name ? strnlen (name, LN_KEYS_NAME_MAX + 1) : 0;
    if (len == 0 || len > LN_KEYS_NAME_MAX || name[0] == '.' || name[0] == '-')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!s_name_char (name[i]))
            return false;
    return true;
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool
s_utf8_valid (const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        else if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        }
        else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        }
        else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        }
        else
            return false;
        if (i + n >= len) /* truncated sequence */
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

/* NULL if the organisation is acceptable, else why not. */
static const char *
s_org_problem (const char *org)
{
    size_t len = strnlen (org, LN_KEYS_ORG_MAX + 1);
    if (len == 0)
        return "must not be empty";
    if (len > LN_KEYS_ORG_MAX)
        return "is longer than 128 bytes";
    if (org[0] == ' ' || org[len - 1] == ' ')
        return "must not start or end with a space";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)org[i];
        if (c < 0x20 || c == 0x7f)
            return "must not contain control characters";
        if (c == '"')
            return "must not contain '\"'";
    }
    if (!s_utf8_valid ((const unsigned char *)org, len))
        return "is not valid UTF-8";
    return NULL;
}

/* Parse a comma-separated role list into self->roles.  NULL if fine, else
   why not. */
static const char *
s_roles_parse (ln_principal_t *self, const char *text)
{
    self->role_count = 0;
    const char *p = text;
    if (*p == '\0')
        return "must name at least one role";
    for (;;) {
        const char *end = strchr (p, ',');
        size_t len = end ? (size_t)(end - p) : strlen (p);
        if (len == 0)
            return "has an empty role name (roles are comma-separated, no spaces)";
        if (len > LN_KEYS_ROLE_MAX)
            return "has a role name longer than 32 characters";
        for (size_t i = 0; i < len; i++)
            if (!((p[i] >= 'a' && p[i] <= 'z') || p[i] == '_'))
                return "has a role name with other characters than a-z and _";
        if (self->role_count == LN_KEYS_ROLES_MAX)
            return "has more than 16 roles";
        for (size_t r = 0; r < self->role_count; r++)
            if (strlen (self->roles[r]) == len && memcmp (self->roles[r], p, len) == 0)
                return "names a role twice";
        memcpy (self->roles[self->role_count], p, len);
        self->roles[self->role_count][len] = '\0';
        self->role_count++;
        if (!end)
            break;
        p = end + 1;
    }
    return NULL;
}

/* A canonical Z85 key: 40 characters that decode to 32 bytes and encode
   back to the same text (so one key has one spelling, and duplicate checks
   on the text are sound).  Fills `key` when not NULL. */
static bool
s_z85_key_valid (const char *text, uint8_t *key)
{
    uint8_t bytes[32];
    char again[LN_KEYS_Z85_LEN + 1];
    bool ok = false;
    if (!text || strnlen (text, LN_KEYS_Z85_LEN + 1) != LN_KEYS_Z85_LEN)
        goto out;
    if (!zmq_z85_decode (bytes, text))
        goto out;
    if (!zmq_z85_encode (again, bytes, sizeof bytes) || strcmp (again, text) != 0)
        goto out;
    if (key)
        memcpy (key, bytes, sizeof bytes);
    ok = true;
out:
    sodium_memzero (bytes, sizeof bytes);
    sodium_memzero (again, sizeof again);
    return ok;
}

/* Field names as they appear in errors ("metadata.name") and in files. */
enum { F_NAME, F_ORG, F_ROLES, F_LEVEL, F_PUBLIC, F_SECRET, F_COUNT };
static const char *s_field_path[F_COUNT] = {
    "metadata.name",  "metadata.organisation", "metadata.roles",
    "metadata.level", "curve.public-key",      "curve.secret-key",
};

/* Fill and validate the principal fields from text values.  `where` is
   "file:line" context per field (may be NULL: then no prefix). */
static int
s_principal_fill (ln_principal_t *self, const char *const value[F_COUNT], const char *file,
                  const int line[F_COUNT], ln_error_t *err)
{
    int rc = -1;
    int f = 0;
    const char *why = NULL;
    char prefix[PATH_MAX + 32] = "";
    ln_principal_t p;
    memset (&p, 0, sizeof p);

    for (f = F_NAME; f <= F_LEVEL; f++)
        if (!value[f]) {
            if (file)
                snprintf (prefix, sizeof prefix, "%s: ", file);
            ln_error_set (err, "CERT_FIELD_MISSING", s_field_path[f], "%s%s: missing", prefix,
                          s_field_path[f]);
            goto out;
        }

    f = F_NAME;
    if (!s_name_valid (value[F_NAME]))
        why = "must be 1..64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit";
    else {
        snprintf (p.name, sizeof p.name, "%s", value[F_NAME]);
        f = F_ORG;
        why = s_org_problem (value[F_ORG]);
    }
    if (!why) {
        snprintf (p.organisation, sizeof p.organisation, "%s", value[F_ORG]);
        f = F_ROLES;
        why = s_roles_parse (&p, value[F_ROLES]);
    }
    if (!why) {
        f = F_LEVEL;
        if (ln_level_parse (value[F_LEVEL], &p.level) != 0) {
            if (file && line)
                snprintf (prefix, sizeof prefix, "%s:%d: ", file, line[f]);
            ln_error_set (err, "CERT_FIELD_INVALID", s_field_path[f],
                          "%s%s: \"%.64s\" is not a confidentiality level (one of: %s)", prefix,
                          s_field_path[f], value[f], ln_level_names ());
            goto out;
        }
    }
    if (why) {
        if (file && line)
            snprintf (prefix, sizeof prefix, "%s:%d: ", file, line[f]);
        ln_error_set (err, "CERT_FIELD_INVALID", s_field_path[f], "%s%s: %s", prefix,
                      s_field_path[f], why);
        goto out;
    }
    *self = p;
    rc = 0;
out:
    return rc;
}

int
ln_principal_init (ln_principal_t *self, const char *name, const char *organisation,
                   const char *roles, const char *level, ln_error_t *err)
{
    if (!self) {
        ln_error_set (err, "CERT_FIELD_MISSING", NULL, "no principal given");
        return -1;
    }
    const char *value[F_COUNT] = {name, organisation, roles, level, NULL, NULL};
    return s_principal_fill (self, value, NULL, NULL, err);
}

int
ln_principal_from_cert (ln_principal_t *self, zcert_t *cert, ln_error_t *err)
{
    int rc = -1;
    zlist_t *keys = NULL;
    if (!self || !cert) {
        ln_error_set (err, "CERT_FIELD_MISSING", NULL, "no certificate given");
        goto out;
    }
    keys = zcert_meta_keys (cert);
    for (const char *key = keys ? (const char *)zlist_first (keys) : NULL; key;
         key = (const char *)zlist_next (keys))
        if (strcmp (key, "name") != 0 && strcmp (key, "organisation") != 0 &&
            strcmp (key, "roles") != 0 && strcmp (key, "level") != 0) {
            ln_error_set (err, "CERT_FIELD_UNKNOWN", "metadata", "metadata.%.64s: unknown setting",
                          key);
            goto out;
        }
    const char *value[F_COUNT] = {zcert_meta (cert, "name"),
                                  zcert_meta (cert, "organisation"),
                                  zcert_meta (cert, "roles"),
                                  zcert_meta (cert, "level"),
                                  NULL,
                                  NULL};
    ln_principal_t p;
    if (s_principal_fill (&p, value, NULL, NULL, err) != 0)
        goto out;
    snprintf (p.public_key, sizeof p.public_key, "%s", zcert_public_txt (cert));
    *self = p;
    rc = 0;
out:
    zlist_destroy (&keys);
    return rc;
}

bool
ln_principal_has_role (const ln_principal_t *self, const char *role)
{
    if (!self || !role)
        return false;
    for (size_t i = 0; i < self->role_count && i < LN_KEYS_ROLES_MAX; i++)
        if (strcmp (self->roles[i], role) == 0)
            return true;
    return false;
}

int
ln_principal_roles_join (const ln_principal_t *self, char *buf, size_t size)
{
    if (!buf || size == 0)
        return -1;
    buf[0] = '\0';
    if (!self)
        return -1;
    size_t used = 0;
    for (size_t i = 0; i < self->role_count && i < LN_KEYS_ROLES_MAX; i++) {
        int n = snprintf (buf + used, size - used, "%s%s", i ? "," : "", self->roles[i]);
        if (n < 0 || (size_t)n >= size - used) {
            buf[0] = '\0';
            return -1;
        }
        used += (size_t)n;
    }
    return 0;
}

/* --- reading certificate files -------------------------------------------- */

/* O_NONBLOCK keeps a FIFO planted in place of the file from hanging us. */
char *
ln_keys_read_file (const char *path, bool secret, size_t *size_out, ln_error_t *err)
{
    char *buf = NULL;
    char *result = NULL;
    size_t len = 0;
    int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        ln_error_set (err, "KEYS_IO", "path", "%s: %s", path, strerror (errno));
        goto out;
    }
    struct stat st;
    if (fstat (fd, &st) != 0) {
        ln_error_set (err, "KEYS_IO", "path", "%s: %s", path, strerror (errno));
        goto out;
    }
    if (!S_ISREG (st.st_mode)) {
        ln_error_set (err, secret ? "KEYS_INSECURE_FILE" : "KEYS_IO", "path",
                      "%s: not a regular file", path);
        goto out;
    }
    if (secret && (st.st_mode & 077) != 0) {
        ln_error_set (err, "KEYS_INSECURE_FILE", "path",
                      "%s: mode %04o lets group or others access the secret key; "
                      "chmod 600 it (and replace the key if others may have read it)",
                      path, (unsigned)(st.st_mode & 07777));
        goto out;
    }
    if (secret && st.st_uid != geteuid () && st.st_uid != 0) {
        ln_error_set (err, "KEYS_INSECURE_FILE", "path",
                      "%s: owned by uid %u, not by us (uid %u) or root", path, (unsigned)st.st_uid,
                      (unsigned)geteuid ());
        goto out;
    }
    if (st.st_size > LN_KEYS_FILE_MAX) {
        ln_error_set (err, "CERT_MALFORMED", "path", "%s: larger than %d bytes", path,
                      LN_KEYS_FILE_MAX);
        goto out;
    }
    /* The file may change under us: read up to one byte past the limit. */
    buf = malloc (LN_KEYS_FILE_MAX + 2);
    if (!buf)
        abort ();
    while (len < LN_KEYS_FILE_MAX + 1) {
        ssize_t n = read (fd, buf + len, LN_KEYS_FILE_MAX + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ln_error_set (err, "KEYS_IO", "path", "%s: %s", path, strerror (errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > LN_KEYS_FILE_MAX) {
        ln_error_set (err, "CERT_MALFORMED", "path", "%s: larger than %d bytes", path,
                      LN_KEYS_FILE_MAX);
        goto out;
    }
    if (memchr (buf, '\0', len)) {
        ln_error_set (err, "CERT_MALFORMED", "path", "%s: contains a NUL byte", path);
        goto out;
    }
    buf[len] = '\0';
    *size_out = len;
    result = buf;
    buf = NULL;
out:
    if (buf) {
        sodium_memzero (buf, LN_KEYS_FILE_MAX + 2);
        free (buf);
    }
    if (fd >= 0)
        close (fd);
    return result;
}

void
ln_keys_file_free (char *buf)
{
    if (buf) {
        sodium_memzero (buf, LN_KEYS_FILE_MAX + 2);
        free (buf);
    }
}

static bool
s_blank_or_comment (const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return *p == '\0' || *p == '#';
}

/* Parse certificate text in place.  value[] points into `text`; line[] is
   where each was set.  Accepts the ZPL subset zcert_save() writes:
   top-level sections `metadata` and `curve`, settings indented 4 spaces as
   `key = "value"`, `key = 'value'` or `key = value`, blank lines and
   comments. */
static int
s_parse (char *text, const char *file, const char *value[F_COUNT], int line[F_COUNT],
         ln_error_t *err)
{
    enum { SEC_NONE, SEC_META, SEC_CURVE } section = SEC_NONE;
    bool seen_meta = false, seen_curve = false;
    int lineno = 0;
    char *p = text;

    for (int f = 0; f < F_COUNT; f++) {
        value[f] = NULL;
        line[f] = 0;
    }
    while (*p) {
        char *eol = strchr (p, '\n');
        char *next = eol ? eol + 1 : p + strlen (p);
        if (eol)
            *eol = '\0';
        lineno++;
        size_t len = strlen (p);
        if (len > LINE_MAX_BYTES) {
            ln_error_set (err, "CERT_MALFORMED", NULL, "%s:%d: line longer than %d bytes", file,
                          lineno, LINE_MAX_BYTES);
            return -1;
        }
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r'))
            p[--len] = '\0';
        if (s_blank_or_comment (p)) {
            p = next;
            continue;
        }
        size_t indent = strspn (p, " ");
        if (p[indent] == '\t') {
            ln_error_set (err, "CERT_MALFORMED", NULL, "%s:%d: indent with spaces, not tabs", file,
                          lineno);
            return -1;
        }
        char *s = p + indent;
        size_t klen = 0;
        while (s_name_char (s[klen]))
            klen++;
        if (klen == 0) {
            ln_error_set (err, "CERT_MALFORMED", NULL, "%s:%d: expected a name", file, lineno);
            return -1;
        }
        char *rest = s + klen;
        char saved = *rest;
        *rest = '\0'; /* s is now the name; `saved` was the next character */

        if (indent == 0) {
            *rest = saved;
            if (!s_blank_or_comment (rest)) {
                ln_error_set (err, "CERT_MALFORMED", NULL,
                              "%s:%d: a section line holds only its name", file, lineno);
                return -1;
            }
            *rest = '\0';
            bool *seen = NULL;
            if (strcmp (s, "metadata") == 0) {
                section = SEC_META;
                seen = &seen_meta;
            }
            else if (strcmp (s, "curve") == 0) {
                section = SEC_CURVE;
                seen = &seen_curve;
            }
            else {
                ln_error_set (err, "CERT_FIELD_UNKNOWN", s, "%s:%d: %.64s: unknown section", file,
                              lineno, s);
                return -1;
            }
            if (*seen) {
                ln_error_set (err, "CERT_MALFORMED", s, "%s:%d: %s: section repeated", file, lineno,
                              s);
                return -1;
            }
            *seen = true;
        }
        else if (indent == 4) {
            if (section == SEC_NONE) {
                ln_error_set (err, "CERT_MALFORMED", NULL, "%s:%d: setting outside a section", file,
                              lineno);
                return -1;
            }
            int f = -1;
            if (section == SEC_META) {
                f = strcmp (s, "name") == 0           ? F_NAME
                    : strcmp (s, "organisation") == 0 ? F_ORG
                    : strcmp (s, "roles") == 0        ? F_ROLES
                    : strcmp (s, "level") == 0        ? F_LEVEL
                                                      : -1;
            }
            else
                f = strcmp (s, "public-key") == 0   ? F_PUBLIC
                    : strcmp (s, "secret-key") == 0 ? F_SECRET
                                                    : -1;
            if (f < 0) {
                ln_error_set (err, "CERT_FIELD_UNKNOWN", section == SEC_META ? "metadata" : "curve",
                              "%s:%d: %s.%.64s: unknown setting", file, lineno,
                              section == SEC_META ? "metadata" : "curve", s);
                return -1;
            }
            if (value[f]) {
                ln_error_set (err, "CERT_FIELD_INVALID", s_field_path[f],
                              "%s:%d: %s: repeated (first set on line %d)", file, lineno,
                              s_field_path[f], line[f]);
                return -1;
            }
            /* `= value` */
            char *v = rest;
            *v = saved;
            while (*v == ' ')
                v++;
            if (*v != '=') {
                ln_error_set (err, "CERT_MALFORMED", s_field_path[f], "%s:%d: %s: expected '='",
                              file, lineno, s_field_path[f]);
                return -1;
            }
            v++;
            while (*v == ' ')
                v++;
            char *end;
            if (*v == '"' || *v == '\'') {
                char *close = strchr (v + 1, *v);
                if (!close) {
                    ln_error_set (err, "CERT_MALFORMED", s_field_path[f],
                                  "%s:%d: %s: missing closing %c", file, lineno, s_field_path[f],
                                  *v);
                    return -1;
                }
                if (!s_blank_or_comment (close + 1)) {
                    ln_error_set (err, "CERT_MALFORMED", s_field_path[f],
                                  "%s:%d: %s: text after the closing quote", file, lineno,
                                  s_field_path[f]);
                    return -1;
                }
                *close = '\0';
                v++;
            }
            else {
                end = strchr (v, '#');
                if (end)
                    *end = '\0';
                size_t vl = strlen (v);
                while (vl && v[vl - 1] == ' ')
                    v[--vl] = '\0';
            }
            value[f] = v;
            line[f] = lineno;
        }
        else {
            ln_error_set (err, "CERT_MALFORMED", NULL,
                          "%s:%d: indent is 0 (section) or 4 spaces (setting)", file, lineno);
            return -1;
        }
        p = next;
    }
    return 0;
}

typedef enum { WANT_PUBLIC, WANT_SECRET } want_t;

/* Read, parse and validate one certificate file.  Fills *principal (if not
   NULL) and *cert_out (if not NULL; with the secret key for WANT_SECRET). */
static int
s_load (const char *path, want_t want, ln_principal_t *principal, zcert_t **cert_out,
        ln_error_t *err)
{
    int rc = -1;
    char *text = NULL;
    size_t size = 0;
    const char *value[F_COUNT];
    int line[F_COUNT];
    uint8_t public_key[32] = {0};
    uint8_t secret_key[32] = {0};
    char derived[LN_KEYS_Z85_LEN + 1] = "";
    char hex[2 * sizeof secret_key + 1] = "";
    zcert_t *cert = NULL;
    ln_principal_t p;

    text = ln_keys_read_file (path, want == WANT_SECRET, &size, err);
    if (!text)
        goto out;
    if (s_parse (text, path, value, line, err) != 0)
        goto out;
    if (s_principal_fill (&p, value, path, line, err) != 0)
        goto out;
    if (!value[F_PUBLIC]) {
        ln_error_set (err, "CERT_FIELD_MISSING", s_field_path[F_PUBLIC], "%s: %s: missing", path,
                      s_field_path[F_PUBLIC]);
        goto out;
    }
    if (!s_z85_key_valid (value[F_PUBLIC], public_key)) {
        ln_error_set (err, "CERT_FIELD_INVALID", s_field_path[F_PUBLIC],
                      "%s:%d: %s: not a 40-character Z85 key", path, line[F_PUBLIC],
                      s_field_path[F_PUBLIC]);
        goto out;
    }
    snprintf (p.public_key, sizeof p.public_key, "%s", value[F_PUBLIC]);

    if (want == WANT_PUBLIC && value[F_SECRET]) {
        ln_error_set (err, "CERT_HAS_SECRET", s_field_path[F_SECRET],
                      "%s:%d: a public certificate must not contain a secret key; "
                      "this key pair is compromised, generate a new one",
                      path, line[F_SECRET]);
        goto out;
    }
    if (want == WANT_SECRET) {
        if (!value[F_SECRET]) {
            ln_error_set (err, "CERT_NO_SECRET", s_field_path[F_SECRET], "%s: %s: missing", path,
                          s_field_path[F_SECRET]);
            goto out;
        }
        /* No value echoed here: it is the secret. */
        if (!s_z85_key_valid (value[F_SECRET], secret_key)) {
            ln_error_set (err, "CERT_FIELD_INVALID", s_field_path[F_SECRET],
                          "%s:%d: %s: not a 40-character Z85 key", path, line[F_SECRET],
                          s_field_path[F_SECRET]);
            goto out;
        }
        if (zmq_curve_public (derived, value[F_SECRET]) != 0 ||
            strcmp (derived, value[F_PUBLIC]) != 0) {
            ln_error_set (err, "CERT_KEY_MISMATCH", s_field_path[F_SECRET],
                          "%s: the secret key does not belong to the public key", path);
            goto out;
        }
        /* Register every printable form before the secret goes anywhere. */
        static const char digits_lc[] = "0123456789abcdef";
        static const char digits_uc[] = "0123456789ABCDEF";
        int forbid = ln_log_forbid (value[F_SECRET], LN_KEYS_Z85_LEN);
        for (int pass = 0; pass < 2 && forbid == 0; pass++) {
            const char *digits = pass ? digits_uc : digits_lc;
            for (size_t i = 0; i < sizeof secret_key; i++) {
                hex[2 * i] = digits[secret_key[i] >> 4];
                hex[2 * i + 1] = digits[secret_key[i] & 0x0f];
            }
            hex[2 * sizeof secret_key] = '\0';
            forbid = ln_log_forbid (hex, 2 * sizeof secret_key);
        }
        if (forbid != 0) {
            ln_error_set (err, "KEYS_FORBID_FULL", NULL,
                          "%s: cannot register the secret with the log scrubber (table full)",
                          path);
            goto out;
        }
    }
    if (cert_out) {
        cert = zcert_new_from (public_key, secret_key);
        if (!cert)
            abort ();
        zcert_set_meta (cert, "name", "%s", value[F_NAME]);
        zcert_set_meta (cert, "organisation", "%s", value[F_ORG]);
        zcert_set_meta (cert, "roles", "%s", value[F_ROLES]);
        zcert_set_meta (cert, "level", "%s", value[F_LEVEL]);
        *cert_out = cert;
        cert = NULL;
    }
    if (principal)
        *principal = p;
    rc = 0;
out:
    sodium_memzero (secret_key, sizeof secret_key);
    sodium_memzero (hex, sizeof hex);
    ln_keys_file_free (text);
    zcert_destroy (&cert);
    return rc;
}

zcert_t *
ln_keys_load_secret (const char *path, ln_error_t *err)
{
    zcert_t *cert = NULL;
    if (!path) {
        ln_error_set (err, "KEYS_IO", "path", "no path given");
        return NULL;
    }
    if (s_load (path, WANT_SECRET, NULL, &cert, err) != 0)
        return NULL;
    return cert;
}

zcert_t *
ln_keys_load_public (const char *path, ln_error_t *err)
{
    zcert_t *cert = NULL;
    if (!path) {
        ln_error_set (err, "KEYS_IO", "path", "no path given");
        return NULL;
    }
    if (s_load (path, WANT_PUBLIC, NULL, &cert, err) != 0)
        return NULL;
    return cert;
}

/* --- writing certificate files -------------------------------------------- */

/* Certificate text in the layout zcert_save() writes. */
static int
s_format (char *buf, size_t size, const ln_principal_t *p, const char *public_z85,
          const char *secret_z85)
{
    char roles[LN_KEYS_ROLES_MAX * (LN_KEYS_ROLE_MAX + 1) + 1];
    if (ln_principal_roles_join (p, roles, sizeof roles) != 0)
        return -1;
    const char *level = ln_level_name (p->level);
    int n = snprintf (buf, size,
                      "#   ****  Generated by Lantern (lanternctl keygen)  ****\n"
                      "%s"
                      "\n"
                      "metadata\n"
                      "    name = \"%s\"\n"
                      "    organisation = \"%s\"\n"
                      "    roles = \"%s\"\n"
                      "    level = \"%s\"\n"
                      "curve\n"
                      "    public-key = \"%s\"\n"
                      "%s%s%s",
                      secret_z85 ? "#   ZeroMQ CURVE **Secret** Certificate\n"
                                   "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its "
                                   "permissions.\n"
                                 : "#   ZeroMQ CURVE Public Certificate\n"
                                   "#   Exchange securely, or use a secure mechanism to verify "
                                   "the contents\n"
                                   "#   of this file after exchange.\n",
                      p->name, p->organisation, roles, level ? level : "", public_z85,
                      secret_z85 ? "    secret-key = \"" : "", secret_z85 ? secret_z85 : "",
                      secret_z85 ? "\"\n" : "");
    if (n < 0 || (size_t)n >= size || !level)
        return -1;
    return n;
}

int
ln_keys_write_new (const char *path, mode_t mode, const void *bytes, size_t len, ln_error_t *err)
{
    int rc = -1;
    bool created = false;
    const char *data = bytes;
    int fd = open (path, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode);
    if (fd < 0) {
        if (errno == EEXIST)
            ln_error_set (err, "KEYS_EXISTS", "path", "%s exists; refusing to overwrite it", path);
        else
            ln_error_set (err, "KEYS_IO", "path", "%s: %s", path, strerror (errno));
        goto out;
    }
    created = true;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write (fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ln_error_set (err, "KEYS_IO", "path", "%s: %s", path, strerror (errno));
            goto out;
        }
        done += (size_t)n;
    }
    if (fsync (fd) != 0) {
        ln_error_set (err, "KEYS_IO", "path", "%s: %s", path, strerror (errno));
        goto out;
    }
    int fd_closing = fd;
    fd = -1;
    if (close (fd_closing) != 0) {
        ln_error_set (err, "KEYS_IO", "path", "%s: %s", path, strerror (errno));
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close (fd);
    if (rc != 0 && created)
        unlink (path);
    return rc;
}

static bool
s_exists (const char *path)
{
    struct stat st;
    return lstat (path, &st) == 0 || errno != ENOENT;
}

int
ln_keys_generate (const char *dir, const char *name, const ln_principal_t *principal,
                  char *public_key_out, ln_error_t *err)
{
    int rc = -1;
    bool pub_written = false;
    char pub_path[PATH_MAX];
    char sec_path[PATH_MAX];
    char public_z85[LN_KEYS_Z85_LEN + 1] = "";
    char secret_z85[LN_KEYS_Z85_LEN + 1] = "";
    char pub_text[TEXT_MAX];
    char sec_text[TEXT_MAX];
    ln_principal_t checked;
    memset (sec_text, 0, sizeof sec_text);

    if (!dir || !*dir) {
        ln_error_set (err, "KEYS_IO", "dir", "no directory given");
        goto out;
    }
    if (!s_name_valid (name)) {
        ln_error_set (err, "KEYS_NAME_INVALID", "name",
                      "key name must be 1..64 characters of A-Z a-z 0-9 . _ -, "
                      "starting with a letter or digit");
        goto out;
    }
    if (!principal) {
        ln_error_set (err, "CERT_FIELD_MISSING", NULL, "no principal given");
        goto out;
    }
    /* The caller may have filled the struct by hand: check it as if read. */
    char roles[LN_KEYS_ROLES_MAX * (LN_KEYS_ROLE_MAX + 1) + 1];
    if (principal->role_count > LN_KEYS_ROLES_MAX ||
        ln_principal_roles_join (principal, roles, sizeof roles) != 0) {
        ln_error_set (err, "CERT_FIELD_INVALID", "metadata.roles", "metadata.roles: too many");
        goto out;
    }
    char pname[sizeof principal->name];
    char porg[sizeof principal->organisation];
    snprintf (pname, sizeof pname, "%s", principal->name);
    snprintf (porg, sizeof porg, "%s", principal->organisation);
    if (ln_principal_init (&checked, pname, porg, roles,
                           ln_level_name (principal->level) ? ln_level_name (principal->level) : "",
                           err) != 0)
        goto out;

    const char *sep = dir[strlen (dir) - 1] == '/' ? "" : "/";
    int n1 = snprintf (pub_path, sizeof pub_path, "%s%s%s.pub", dir, sep, name);
    int n2 = snprintf (sec_path, sizeof sec_path, "%s%s%s.secret", dir, sep, name);
    if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof pub_path || (size_t)n2 >= sizeof sec_path) {
        ln_error_set (err, "KEYS_IO", "dir", "directory path too long");
        goto out;
    }
    /* O_EXCL below is what guarantees no overwrite; this early check only
       avoids creating a .pub that we would at once remove again. */
    if (s_exists (pub_path) || s_exists (sec_path)) {
        ln_error_set (err, "KEYS_EXISTS", "name", "%s exists; refusing to overwrite it",
                      s_exists (pub_path) ? pub_path : sec_path);
        goto out;
    }
    if (zmq_curve_keypair (public_z85, secret_z85) != 0) {
        ln_error_set (err, "KEYS_NO_CURVE", NULL, "libzmq cannot generate CURVE keys: %s",
                      zmq_strerror (zmq_errno ()));
        goto out;
    }
    int pub_len = s_format (pub_text, sizeof pub_text, &checked, public_z85, NULL);
    int sec_len = s_format (sec_text, sizeof sec_text, &checked, public_z85, secret_z85);
    if (pub_len < 0 || sec_len < 0) {
        ln_error_set (err, "CERT_FIELD_INVALID", NULL, "certificate text too long");
        goto out;
    }
    if (ln_keys_write_new (pub_path, 0644, pub_text, (size_t)pub_len, err) != 0)
        goto out;
    pub_written = true;
    if (ln_keys_write_new (sec_path, 0600, sec_text, (size_t)sec_len, err) != 0)
        goto out;
    /* Make the new directory entries durable too (best effort). */
    int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync (dfd);
        close (dfd);
    }
    if (public_key_out)
        memcpy (public_key_out, public_z85, sizeof public_z85);
    rc = 0;
out:
    if (rc != 0 && pub_written)
        unlink (pub_path);
    sodium_memzero (secret_z85, sizeof secret_z85);
    sodium_memzero (sec_text, sizeof sec_text);
    return rc;
}

/* --- registry ----------------------------------------------------------------- */

struct _ln_registry_t {
    ln_principal_t *by_key;         /* sorted by public_key */
    const ln_principal_t **by_name; /* sorted by name, into by_key */
    size_t size;
};

typedef struct {
    ln_principal_t principal;
    char *file;
} s_entry_t;

static int
s_cmp_str (const void *a, const void *b)
{
    return strcmp (*(char *const *)a, *(char *const *)b);
}

static int
s_cmp_entry_key (const void *a, const void *b)
{
    return strcmp (((const s_entry_t *)a)->principal.public_key,
                   ((const s_entry_t *)b)->principal.public_key);
}

static int
s_cmp_entry_name (const void *a, const void *b)
{
    return strcmp (((const s_entry_t *)a)->principal.name, ((const s_entry_t *)b)->principal.name);
}

static int
s_cmp_principal_name (const void *a, const void *b)
{
    return strcmp ((*(const ln_principal_t *const *)a)->name,
                   (*(const ln_principal_t *const *)b)->name);
}

ln_registry_t *
ln_registry_load (const char *dir, ln_error_t *err)
{
    ln_registry_t *self = NULL;
    ln_registry_t *result = NULL;
    DIR *d = NULL;
    char **files = NULL;
    size_t nfiles = 0;
    s_entry_t *entries = NULL;

    if (!dir || !*dir) {
        ln_error_set (err, "KEYS_IO", "dir", "no registry directory given");
        goto out;
    }
    d = opendir (dir);
    if (!d) {
        ln_error_set (err, "KEYS_IO", "dir", "%s: %s", dir, strerror (errno));
        goto out;
    }
    files = calloc (LN_REGISTRY_MAX, sizeof *files);
    if (!files)
        abort ();
    struct dirent *de;
    errno = 0;
    while ((de = readdir (d)) != NULL) {
        size_t len = strlen (de->d_name);
        if (de->d_name[0] == '.' || len <= 4 || strcmp (de->d_name + len - 4, ".pub") != 0)
            continue;
        if (nfiles == LN_REGISTRY_MAX) {
            ln_error_set (err, "REGISTRY_TOO_LARGE", "dir", "%s: more than %d certificates", dir,
                          LN_REGISTRY_MAX);
            goto out;
        }
        size_t plen = strlen (dir) + 1 + len + 1;
        if (plen > PATH_MAX) {
            ln_error_set (err, "KEYS_IO", "dir", "%s/%s: path too long", dir, de->d_name);
            goto out;
        }
        files[nfiles] = malloc (plen);
        if (!files[nfiles])
            abort ();
        snprintf (files[nfiles], plen, "%s/%s", dir, de->d_name);
        nfiles++;
    }
    if (errno != 0) {
        ln_error_set (err, "KEYS_IO", "dir", "%s: %s", dir, strerror (errno));
        goto out;
    }
    /* Sorted, so that errors (which file is the duplicate) are stable. */
    qsort (files, nfiles, sizeof *files, s_cmp_str);

    entries = calloc (nfiles ? nfiles : 1, sizeof *entries);
    if (!entries)
        abort ();
    for (size_t i = 0; i < nfiles; i++) {
        if (s_load (files[i], WANT_PUBLIC, &entries[i].principal, NULL, err) != 0)
            goto out;
        entries[i].file = files[i];
    }
    qsort (entries, nfiles, sizeof *entries, s_cmp_entry_name);
    for (size_t i = 1; i < nfiles; i++)
        if (strcmp (entries[i - 1].principal.name, entries[i].principal.name) == 0) {
            ln_error_set (err, "REGISTRY_DUPLICATE_NAME", "metadata.name",
                          "%s and %s: both name the principal \"%s\"", entries[i - 1].file,
                          entries[i].file, entries[i].principal.name);
            goto out;
        }
    qsort (entries, nfiles, sizeof *entries, s_cmp_entry_key);
    for (size_t i = 1; i < nfiles; i++)
        if (strcmp (entries[i - 1].principal.public_key, entries[i].principal.public_key) == 0) {
            ln_error_set (err, "REGISTRY_DUPLICATE_KEY", "curve.public-key",
                          "%s and %s: the same public key %s", entries[i - 1].file, entries[i].file,
                          entries[i].principal.public_key);
            goto out;
        }

    self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    self->size = nfiles;
    self->by_key = calloc (nfiles ? nfiles : 1, sizeof *self->by_key);
    self->by_name = calloc (nfiles ? nfiles : 1, sizeof *self->by_name);
    if (!self->by_key || !self->by_name)
        abort ();
    for (size_t i = 0; i < nfiles; i++) {
        self->by_key[i] = entries[i].principal;
        self->by_name[i] = &self->by_key[i];
    }
    qsort (self->by_name, nfiles, sizeof *self->by_name, s_cmp_principal_name);
    result = self;
    self = NULL;
out:
    ln_registry_destroy (&self);
    if (d)
        closedir (d);
    for (size_t i = 0; i < nfiles; i++)
        free (files[i]);
    free (files);
    free (entries);
    return result;
}

void
ln_registry_destroy (ln_registry_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ln_registry_t *self = *self_p;
    free (self->by_key);
    free (self->by_name);
    free (self);
    *self_p = NULL;
}

size_t
ln_registry_size (const ln_registry_t *self)
{
    return self ? self->size : 0;
}

static int
s_cmp_key_lookup (const void *key, const void *elem)
{
    return strcmp ((const char *)key, ((const ln_principal_t *)elem)->public_key);
}

static int
s_cmp_name_lookup (const void *key, const void *elem)
{
    return strcmp ((const char *)key, (*(const ln_principal_t *const *)elem)->name);
}

const ln_principal_t *
ln_registry_lookup (const ln_registry_t *self, const char *public_z85)
{
    if (!self || !public_z85 || strnlen (public_z85, LN_KEYS_Z85_LEN + 1) != LN_KEYS_Z85_LEN)
        return NULL;
    return bsearch (public_z85, self->by_key, self->size, sizeof *self->by_key, s_cmp_key_lookup);
}

const ln_principal_t *
ln_registry_lookup_name (const ln_registry_t *self, const char *name)
{
    if (!self || !name || strnlen (name, LN_KEYS_NAME_MAX + 1) > LN_KEYS_NAME_MAX)
        return NULL;
    const ln_principal_t **found =
        bsearch (name, self->by_name, self->size, sizeof *self->by_name, s_cmp_name_lookup);
    return found ? *found : NULL;
}
