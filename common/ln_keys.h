/*  ln_keys: CURVE key pairs as certificate files, principals, and the
    registry of known public keys.

    A key pair lives in two files in czmq's ZPL certificate format, so that
    czmq's zcert_load() reads them too:

        NAME.pub      public key + metadata; operators exchange these
        NAME.secret   public + secret key + metadata; mode 0600, never shared

        metadata
            name = "intake-venlo"
            organisation = "Gemeente Venlo"
            roles = "node,intake"
            level = "vertrouwelijk"
        curve
            public-key = "<40 characters Z85>"
            secret-key = "<40 characters Z85>"      (NAME.secret only)

    The metadata *is* the principal: who holds the key (name), for which
    organisation, in which roles, and up to which ZGW confidentiality level
    (see ln_level.h) it may see data.  A registry is a directory of *.pub
    files; ln_auth admits exactly the keys in it and maps each message to its
    principal.

    Certificates are read by a strict parser of our own rather than czmq's
    zconfig: every input is bounded, unknown or duplicate settings are
    refused, errors say `file:line: field: what is wrong`, and nothing is
    printed to stdout.  It accepts what czmq's zcert_save() writes.

    Rules (checked on generate and on every load):
      name           [A-Za-z0-9][A-Za-z0-9._-]{0,63}  (also the file name stem)
      organisation   1..128 bytes of UTF-8, no control characters, no '"',
                     no leading/trailing space
      roles          1..16 comma-separated role names [a-z_]{1,32}, no spaces,
                     no duplicates
      level          a ZGW level name (ln_level_names())
      public-key     40 characters of Z85

    Error codes (ln_error_t.code):
      KEYS_NAME_INVALID     a key pair name that is not allowed as a file stem
      KEYS_EXISTS           NAME.pub or NAME.secret exists; nothing was written
      KEYS_IO               a file or directory could not be read or written
      KEYS_INSECURE_FILE    a secret file that group/other may access, that
                            is owned by someone else, or is not a regular file
      KEYS_FORBID_FULL      the log's table of forbidden secrets is full
      KEYS_NO_CURVE         libzmq was built without CURVE
      CERT_MALFORMED        not a certificate: syntax, size, line length
      CERT_FIELD_MISSING    a required setting is absent
      CERT_FIELD_INVALID    a setting breaks the rules above (or is repeated)
      CERT_FIELD_UNKNOWN    a section or setting we do not know
      CERT_HAS_SECRET       a public certificate that contains a secret key
      CERT_NO_SECRET        a secret certificate without a secret key
      CERT_KEY_MISMATCH     the secret key does not belong to the public key
      REGISTRY_DUPLICATE_KEY   two certificates with the same public key
      REGISTRY_DUPLICATE_NAME  two certificates with the same principal name
      REGISTRY_TOO_LARGE    more than LN_REGISTRY_MAX certificates

    Naming: ln_principal_* and ln_registry_* live here because a principal
    is nothing but certificate metadata and the registry nothing but a
    directory of certificates.
*/
#ifndef LN_KEYS_H
#define LN_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <czmq.h>

#include "ln_error.h"
#include "ln_level.h"

#define LN_KEYS_NAME_MAX  64          /* principal / file stem */
#define LN_KEYS_ORG_MAX   128         /* organisation, bytes */
#define LN_KEYS_ROLES_MAX 16          /* roles per principal */
#define LN_KEYS_ROLE_MAX  32          /* bytes per role name */
#define LN_KEYS_Z85_LEN   40          /* a 32-byte key in Z85 */
#define LN_KEYS_FILE_MAX  (16 * 1024) /* largest certificate file we read */
#define LN_REGISTRY_MAX   10000       /* certificates per registry */

typedef struct {
    char name[LN_KEYS_NAME_MAX + 1];
    char organisation[LN_KEYS_ORG_MAX + 1];
    size_t role_count;
    char roles[LN_KEYS_ROLES_MAX][LN_KEYS_ROLE_MAX + 1];
    ln_level_t level;
    char public_key[LN_KEYS_Z85_LEN + 1]; /* Z85; "" until a key is known */
} ln_principal_t;

/* --- principals ----------------------------------------------------------- */

/* Fill *self from text (e.g. command-line options), validating each field.
   `roles` is comma-separated, `level` a ZGW name.  public_key is left "".
   Returns 0, or -1 with err set (CERT_FIELD_INVALID, field "metadata.X"). */
int ln_principal_init (ln_principal_t *self, const char *name, const char *organisation,
                       const char *roles, const char *level, ln_error_t *err);

/* Fill *self from a certificate's metadata and public key (e.g. one from
   ln_keys_load_secret() or zcert_load()).  Returns 0, or -1 with err set
   (CERT_FIELD_MISSING, CERT_FIELD_INVALID, CERT_FIELD_UNKNOWN). */
int ln_principal_from_cert (ln_principal_t *self, zcert_t *cert, ln_error_t *err);

/* True if the principal holds `role`.  NULL-safe (false). */
bool ln_principal_has_role (const ln_principal_t *self, const char *role);

/* Roles joined with ',' into buf (for logs and metadata).  Returns 0, or -1
   when buf is too small (buf then holds ""). */
int ln_principal_roles_join (const ln_principal_t *self, char *buf, size_t size);

/* --- key pairs ------------------------------------------------------------ */

/* Generate a CURVE key pair and write DIR/NAME.pub and DIR/NAME.secret with
   `principal` as metadata (its public_key is ignored).  The secret file is
   created with O_CREAT|O_EXCL|O_NOFOLLOW and mode 0600, so it is never
   readable by others, even for a moment.  Refuses if either file exists
   (KEYS_EXISTS) and writes both or neither.  The directory must exist.
   If public_key_out is not NULL it receives the public key (Z85, NUL-ended;
   LN_KEYS_Z85_LEN + 1 bytes).  Returns 0, or -1 with err set. */
int ln_keys_generate (const char *dir, const char *name, const ln_principal_t *principal,
                      char *public_key_out, ln_error_t *err);

/* Read a whole key or certificate file (regular, at most LN_KEYS_FILE_MAX
   bytes, no NUL) into a NUL-terminated buffer (*size_out bytes + 1); free
   it with ln_keys_file_free, which wipes it.  A secret file must give
   group and other no access and be ours or root's, like ssh asks
   (KEYS_INSECURE_FILE).  NULL with err set (KEYS_IO, KEYS_INSECURE_FILE,
   CERT_MALFORMED). */
char *ln_keys_read_file (const char *path, bool secret, size_t *size_out, ln_error_t *err);
void ln_keys_file_free (char *buf);

/* Create `path` exclusively (O_EXCL, O_NOFOLLOW, `mode`) and write `len`
   bytes to it durably (fsync); an existing file is never touched
   (KEYS_EXISTS); on any failure after creating it, it is removed again
   (KEYS_IO).  For key files of any kind.  Returns 0 or -1 with err set. */
int ln_keys_write_new (const char *path, mode_t mode, const void *bytes, size_t len,
                       ln_error_t *err);

/* Load a secret certificate.  Refuses a file that group or other may access
   in any way, that is owned by another user than us or root, or that is not
   a regular file (KEYS_INSECURE_FILE); checks that the secret key belongs to
   the public key, and validates the metadata as a principal.  Before it
   returns, the secret's Z85 text and hex (both cases) are registered with
   ln_log_forbid(), so that they can never be logged.  The caller owns the
   certificate (zcert_destroy).  Returns NULL with err set on failure. */
zcert_t *ln_keys_load_secret (const char *path, ln_error_t *err);

/* Load a public certificate (e.g. the server's, for a client to connect
   to).  Refuses one that carries a secret key (CERT_HAS_SECRET).  The
   caller owns the certificate.  Returns NULL with err set on failure. */
zcert_t *ln_keys_load_public (const char *path, ln_error_t *err);

/* --- the registry ----------------------------------------------------------- */

typedef struct _ln_registry_t ln_registry_t;

/* Load every `*.pub` in `dir` (names starting with '.' are skipped; other
   files are ignored).  One bad certificate fails the whole load, with the
   file named in the error: an operator must fix it rather than have a
   partner silently locked out or let in.  An empty directory gives an empty
   registry (that admits nobody).  Once loaded, a registry is immutable and
   may be read from any thread.  Returns NULL with err set on failure. */
ln_registry_t *ln_registry_load (const char *dir, ln_error_t *err);

void ln_registry_destroy (ln_registry_t **self_p);

/* Number of principals. */
size_t ln_registry_size (const ln_registry_t *self);

/* The principal whose public key is `public_z85` (40 characters), or NULL.
   The pointer stays valid until the registry is destroyed. NULL-safe. */
const ln_principal_t *ln_registry_lookup (const ln_registry_t *self, const char *public_z85);

/* The principal called `name`, or NULL.  NULL-safe. */
const ln_principal_t *ln_registry_lookup_name (const ln_registry_t *self, const char *name);

#endif
