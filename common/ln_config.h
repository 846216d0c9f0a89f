/*  ln_config: load and validate a service's libconfig file against a schema.

    A service declares what its configuration may contain as a static array
    of ln_config_spec_t, ended by LN_CONFIG_SPEC_END, and loads its file with
    ln_config_load().  Every setting in the file must be declared (unknown
    settings are refused, also inside groups and list elements), must have the
    declared type and lie in the declared range; every required setting must
    be present.  Once loaded, the typed getters cannot fail for a declared
    setting: an absent optional setting yields its default.

        static const char *const s_modes[] = { "strict", "lenient", NULL };
        static const ln_config_spec_t s_specs[] = {
            { .path = "node", .type = LN_CONFIG_STRING, .required = true, .min = 1, .max = 64 },
            { .path = "mode", .type = LN_CONFIG_ENUM, .values = s_modes, .default_str = "strict" },
            { .path = "db", .type = LN_CONFIG_GROUP, .required = true },
            { .path = "db.connect_timeout", .type = LN_CONFIG_INT, .min = 1, .max = 600,
   .default_int = 10 }, { .path = "upstreams", .type = LN_CONFIG_GROUP_LIST, .max = 32 }, { .path =
   "upstreams.[].name", .type = LN_CONFIG_STRING, .required = true }, { .path =
   "upstreams.[].max_level", .type = LN_CONFIG_LEVEL, .default_str = "intern" }, LN_CONFIG_SPEC_END
        };

        ln_error_t err;
        ln_config_t *cfg = ln_config_load ("intake.cfg", s_specs, &err);
        if (!cfg) { fprintf (stderr, "%s\n", err.message); exit (1); }
        long long timeout = ln_config_int (cfg, "db.connect_timeout");
        for (size_t i = 0; i < ln_config_list_size (cfg, "upstreams"); i++) {
            const ln_config_t *up = ln_config_element (cfg, "upstreams", i);
            const char *name = ln_config_string (up, "name");
            ...
        }
        ln_config_destroy (&cfg);

    Paths are dotted (`db.connect_timeout`).  In specs, the members of each
    element of a list of groups are declared under `LIST.[]` (`upstreams.[].name`);
    in error messages such an element is named by its zero-based index
    (`upstreams.[2].name`, libconfig's own path syntax).

    Types and what min/max mean for each:
      STRING       a string; min/max are its length range in bytes (max 0 means
                   LN_CONFIG_STRING_MAX).  Must be valid UTF-8.
      INT          a 64-bit integer (libconfig int or int64, `5` or `5L`);
                   [min, max] is the range; min == max == 0 means any int64.
      BOOL         true / false (no numbers, no strings).
      FLOAT        a float or an integer, finite; [fmin, fmax] is the range;
                   fmin == fmax == 0 means any finite value.
      STRING_LIST  an array `[ "a", "b" ]` or list `( "a", "b" )` of strings;
                   min/max is the element count (max 0 means LN_CONFIG_LIST_MAX);
                   each element is checked like a STRING of 0..LN_CONFIG_STRING_MAX bytes.
      LEVEL        a string naming a ZGW confidentiality level (ln_level_parse).
      ENUM         a string from `values` (a NULL-terminated array).
      GROUP        a group `{ ... }`; its members are declared as `PATH.member`.
      GROUP_LIST   a list of groups `( { ... }, { ... } )` (or an empty `()` / `[]`);
                   min/max is the element count (max 0 means LN_CONFIG_LIST_MAX);
                   members of each element are declared as `PATH.[].member`.

    Required and absent:
      - A required setting must be present in its enclosing group.  A member
        of an optional group that is absent is not checked (the group is
        absent, so are its members); getters then return the member's default.
      - Defaults: default_str (STRING, LEVEL, ENUM), default_int (INT),
        default_float (FLOAT), default_bool (BOOL).  An absent STRING without
        a default reads as NULL.  A LEVEL or ENUM that can be absent (not
        required, or inside an optional group) must have a default_str, so
        that its getter always has an answer.  Defaults are checked against
        the spec's own range at load time, so an INT whose range excludes 0
        needs a default_int inside it, even when it is required.

    Errors.  ln_config_load() stops at the FIRST error of a depth-first walk of
    the file in file order (members of a group are checked in the order they
    appear, then the group's missing required members), and fills err:
      err->code     one of the codes below;
      err->field    the setting's dotted path ("" for file-level errors);
      err->message  exactly `FILE:LINE: SETTING: what is wrong`, where FILE is
                    the path as given to ln_config_load (control characters
                    replaced by '?') and LINE the line of the setting's name (of an
                    array element: the element's line).  For a missing
                    required setting, LINE is the line of the enclosing group,
                    or 1 for a top-level setting.  Two exceptions carry no
                    setting: syntax errors read `FILE:LINE: problem`, and
                    errors about the file as a whole (cannot open, too large)
                    read `FILE: problem`.
    Values are quoted in messages only when that helps (a bad enum or level
    name, an out-of-range number), only as printable ASCII, and never for a
    setting whose path contains "secret", "password" or "passphrase"
    (any case).  String values are never echoed.

    Error codes:
      CONFIG_IO         the file cannot be opened or read, is not a regular file,
                        or grows while it is read
      CONFIG_TOO_LARGE  the file is larger than LN_CONFIG_FILE_MAX bytes
      CONFIG_SYNTAX     libconfig cannot parse it (duplicate names included);
                        also what libconfig 1.5 would silently take as the end
                        of the file: a NUL byte, an unterminated string or
                        block comment; and @include (refused: a setting must
                        live in the file that is named)
      CONFIG_UNKNOWN    a setting that the spec does not declare
      CONFIG_TYPE       a setting of the wrong type (a string where a number is
                        expected, a float where an integer is, ...)
      CONFIG_RANGE      a number outside [min, max]; a string length or list
                        count outside its bounds; an integer literal that
                        libconfig 1.5 would silently truncate (it reads
                        `2147483648` without an L suffix as -2147483648)
      CONFIG_REQUIRED   a required setting is missing
      CONFIG_VALUE      a string that is not valid UTF-8, an unknown level or
                        enum value, a float that is not finite
      CONFIG_SPEC       the spec array itself is wrong (a programming error:
                        bad path, member without its group, duplicate, bad
                        default, ENUM without values, ...); the message reads
                        `spec: PATH: problem`

    Getters are for declared settings only.  Asking for an undeclared path, or
    with the getter of another type, is a programming error: the process
    prints the path to stderr and aborts (like a failed assert), so that a
    typo shows up on the first run rather than as a silent default.

    Threads: a loaded ln_config_t is read-only; getters may be called from any
    thread.  Nothing here logs.
*/
#ifndef LN_CONFIG_H
#define LN_CONFIG_H

#include "ln_error.h"
#include "ln_level.h"

#include <stdbool.h>
#include <stddef.h>

/* Default maximum length of a string setting, in bytes. */
#define LN_CONFIG_STRING_MAX 4096
/* Default maximum element count of a STRING_LIST or GROUP_LIST. */
#define LN_CONFIG_LIST_MAX 1024
/* Largest config file accepted, in bytes. */
#define LN_CONFIG_FILE_MAX (1024 * 1024)
/* Longest spec path, in bytes (it must fit ln_error_t.field). */
#define LN_CONFIG_PATH_MAX (LN_ERROR_FIELD_MAX - 1)
/* Most entries a spec array may have (guards a spec that lacks its end). */
#define LN_CONFIG_SPECS_MAX 1024

typedef enum {
    LN_CONFIG_STRING = 1,
    LN_CONFIG_INT,
    LN_CONFIG_BOOL,
    LN_CONFIG_FLOAT,
    LN_CONFIG_STRING_LIST,
    LN_CONFIG_LEVEL,
    LN_CONFIG_ENUM,
    LN_CONFIG_GROUP,
    LN_CONFIG_GROUP_LIST,
} ln_config_type_t;

typedef struct {
    const char *path; /* dotted; NULL ends the array */
    ln_config_type_t type;
    bool required;
    long long min, max;        /* INT range; STRING length; list counts (see above) */
    double fmin, fmax;         /* FLOAT range */
    const char *default_str;   /* STRING, LEVEL, ENUM */
    long long default_int;     /* INT */
    double default_float;      /* FLOAT */
    bool default_bool;         /* BOOL */
    const char *const *values; /* ENUM: allowed values, NULL-terminated */
    const char *help;          /* one line for people; not used by the loader */
} ln_config_spec_t;

#define LN_CONFIG_SPEC_END                                                                         \
    {                                                                                              \
        .path = NULL                                                                               \
    }

/* A loaded, validated configuration, or a view of one element of a list of
   groups (see ln_config_element); both are read with the same getters. */
typedef struct _ln_config_t ln_config_t;

/* Load and validate `path` against `specs` (which must outlive the result).
   Returns the configuration, or NULL and fills err (may be NULL). */
ln_config_t *ln_config_load (const char *path, const ln_config_spec_t *specs, ln_error_t *err);

/* Destroy a configuration loaded by ln_config_load (and every view of it).
   NULL-safe; sets *self_p to NULL.  A view is not destroyed by itself: passing
   one only clears the pointer. */
void ln_config_destroy (ln_config_t **self_p);

/* The file name as given to ln_config_load (for log lines). */
const char *ln_config_file (const ln_config_t *self);

/* True when the setting is present in the file (any declared type). */
bool ln_config_has (const ln_config_t *self, const char *path);

/* STRING, ENUM or LEVEL: the value, or default_str (may be NULL for a
   STRING) when absent.  Valid as long as the configuration is. */
const char *ln_config_string (const ln_config_t *self, const char *path);

/* INT: the value, or default_int when absent. */
long long ln_config_int (const ln_config_t *self, const char *path);

/* BOOL: the value, or default_bool when absent. */
bool ln_config_bool (const ln_config_t *self, const char *path);

/* FLOAT: the value, or default_float when absent. */
double ln_config_float (const ln_config_t *self, const char *path);

/* LEVEL: the level, or the level named by default_str when absent. */
ln_level_t ln_config_level (const ln_config_t *self, const char *path);

/* ENUM: the index in `values` of the value (or of default_str when absent). */
int ln_config_enum (const ln_config_t *self, const char *path);

/* STRING_LIST or GROUP_LIST: the number of elements (0 when absent). */
size_t ln_config_list_size (const ln_config_t *self, const char *path);

/* STRING_LIST: element `index`, or NULL when index >= size. */
const char *ln_config_string_at (const ln_config_t *self, const char *path, size_t index);

/* GROUP_LIST: a view of element `index` (read its members with the getters
   above, by paths relative to the element, e.g. "name"), or NULL when
   index >= size.  Owned by the configuration: valid as long as it is. */
const ln_config_t *ln_config_element (const ln_config_t *self, const char *path, size_t index);

#endif
