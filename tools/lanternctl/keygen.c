/*  lanternctl keygen: generate a CURVE key pair as two certificate files.

        lanternctl keygen NAME [--dir DIR] [--organisation ORG]
                               [--roles R1,R2] [--level LEVEL]
        lanternctl keygen --regional FILE

    writes DIR/NAME.pub (give it to the operators of the nodes NAME talks
    to; it goes in their registry) and DIR/NAME.secret (mode 0600, stays
    here).  The metadata is the principal the registry will map the key to;
    the rules and the file format are in common/ln_keys.h.  All the work is
    ln_keys_generate(); this file is argument handling, and making DIR (and
    the directories above it, mode 0700) when it does not exist yet, so
    that `keygen NAME --dir keys` works in a fresh clone.  --regional writes
    a region's pseudonymisation key instead (common/ln_pseudonym.h), shared
    by the region's intake nodes; its directory is made the same way.
    Exit status: lanternctl.h (2 for bad arguments, 4 when a file or
    directory cannot be written, an existing key included).
*/
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "lanternctl.h"
#include "ln_error.h"
#include "ln_keys.h"
#include "ln_level.h"
#include "ln_pseudonym.h"

#define KEYGEN_DEFAULT_DIR   "."
#define KEYGEN_DEFAULT_ROLES "node"
#define KEYGEN_DEFAULT_LEVEL "intern"

static void
s_usage (FILE *out)
{
    fprintf (out,
             "usage: lanternctl keygen NAME [--dir DIR] [--organisation ORG]\n"
             "                              [--roles R1,R2] [--level LEVEL]\n"
             "       lanternctl keygen --regional FILE\n"
             "\n"
             "Generate a CURVE key pair and write it as two certificate files:\n"
             "  DIR/NAME.pub     public key and principal; give it to the operators of the\n"
             "                   nodes NAME talks to (it goes in their registry directory)\n"
             "  DIR/NAME.secret  public and secret key, mode 0600; never share it\n"
             "DIR is made (mode 0700) when it does not exist.  Existing files are never\n"
             "overwritten.\n"
             "\n"
             "NAME is the principal's name: 1-64 characters of A-Z a-z 0-9 . _ -,\n"
             "starting with a letter or digit.\n"
             "\n"
             "options:\n"
             "  -d, --dir DIR            directory to write to (default: %s)\n"
             "  -o, --organisation ORG   organisation holding the key (default: NAME)\n"
             "  -r, --roles R1,R2        comma-separated roles, each [a-z_]+ (default: %s)\n"
             "  -l, --level LEVEL        highest confidentiality level it may see\n"
             "                           (default: %s); from low to high:",
             KEYGEN_DEFAULT_DIR, KEYGEN_DEFAULT_ROLES, KEYGEN_DEFAULT_LEVEL);
    /* The names come from ln_level, three to a line, so they cannot drift. */
    for (int i = 0; i < LN_LEVEL_COUNT; i++)
        fprintf (out, "%s%s%s", i % 3 == 0 ? "\n                           " : " ",
                 ln_level_name ((ln_level_t)i), i + 1 < LN_LEVEL_COUNT ? "," : "\n");
    fprintf (out,
             "      --regional FILE      instead: write a new regional pseudonymisation key\n"
             "                           (32 random bytes as hex, mode 0600) to FILE, for\n"
             "                           every intake node of the region; never overwrites\n"
             "  -h, --help               show this help\n"
             "\n"
             "examples:\n"
             "  lanternctl keygen intake-venlo --dir keys --organisation gemeente-venlo \\\n"
             "      --roles node --level vertrouwelijk\n"
             "  lanternctl keygen officer-venlo --dir keys --organisation gemeente-venlo \\\n"
             "      --roles attention_officer --level vertrouwelijk\n"
             "  lanternctl keygen --regional keys/regional.key\n"
             "\n%s",
             LANTERNCTL_EXIT_HELP);
}

#define s_usage_error(...) lanternctl_usage_error ("keygen", __VA_ARGS__)

/* Make directory `dir` and those above it that are missing, mode 0700 (a
   key directory holds secrets).  Returns 0, or -1 after saying which one
   could not be made. */
static int
s_make_dirs (const char *dir)
{
    char path[4096];
    if (snprintf (path, sizeof path, "%s", dir) >= (int)sizeof path) {
        fprintf (stderr, "lanternctl: keygen: directory path too long\n");
        return -1;
    }
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        struct stat st;
        if (stat (path, &st) != 0) {
            if (errno != ENOENT || mkdir (path, 0700) != 0) {
                fprintf (stderr, "lanternctl: keygen: cannot make directory %s: %s\n", path,
                         strerror (errno));
                return -1;
            }
        }
        else if (!S_ISDIR (st.st_mode)) {
            fprintf (stderr, "lanternctl: keygen: %s is not a directory\n", path);
            return -1;
        }
        *p = saved;
        if (saved == '\0')
            return 0;
    }
}

/* The directory part of a file path ("keys/regional.key" -> "keys"), or
   NULL when the file is in the current directory. */
static const char *
s_parent (const char *file, char *buf, size_t size)
{
    const char *slash = strrchr (file, '/');
    if (!slash || slash == file)
        return NULL;
    snprintf (buf, size, "%.*s", (int)(slash - file), file);
    return buf;
}

int
lanternctl_keygen (int argc, char **argv)
{
    static const struct option options[] = {
        {"dir", required_argument, NULL, 'd'},
        {"organisation", required_argument, NULL, 'o'},
        {"roles", required_argument, NULL, 'r'},
        {"level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {"regional", required_argument, NULL, 'R'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = KEYGEN_DEFAULT_DIR;
    const char *organisation = NULL;
    const char *roles = KEYGEN_DEFAULT_ROLES;
    const char *level = KEYGEN_DEFAULT_LEVEL;
    const char *regional = NULL;

    /* main.c may have run getopt already: 0 makes GNU getopt start afresh.
       We report bad options ourselves, in our own error format. */
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long (argc, argv, ":d:o:r:l:h", options, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'o':
            organisation = optarg;
            break;
        case 'r':
            roles = optarg;
            break;
        case 'l':
            level = optarg;
            break;
        case 'R':
            regional = optarg;
            break;
        case 'h':
            s_usage (stdout);
            return LANTERNCTL_EXIT_OK;
        case ':':
            return s_usage_error ("option '%s' needs a value", argv[optind - 1]);
        default:
            /* optopt is the character of an unknown short option, 0 for an
               unknown long one (which getopt has already stepped past). */
            if (optopt)
                return s_usage_error ("unknown option '-%c'", optopt);
            return s_usage_error ("unknown option '%s'", argv[optind - 1]);
        }
    }
    ln_error_t err;
    ln_error_clear (&err);
    if (regional) {
        if (optind < argc)
            return s_usage_error ("unexpected argument '%s' (--regional takes no NAME)",
                                  argv[optind]);
        char parent[4096];
        const char *dir_of = s_parent (regional, parent, sizeof parent);
        if (dir_of && s_make_dirs (dir_of) != 0)
            return LANTERNCTL_EXIT_LOCAL;
        if (ln_pseudonym_key_generate (regional, &err) != 0) {
            fprintf (stderr, "lanternctl: keygen: %s\n", err.message);
            return LANTERNCTL_EXIT_LOCAL;
        }
        printf ("regional key: %s\n(give it, over a safe channel, to this region's intake nodes "
                "only; a new key changes every token)\n",
                regional);
        return LANTERNCTL_EXIT_OK;
    }
    if (optind >= argc)
        return s_usage_error ("%s", "missing NAME");
    if (argc - optind > 1)
        return s_usage_error ("unexpected argument '%s' (only one NAME)", argv[optind + 1]);
    const char *name = argv[optind];
    if (!organisation)
        organisation = name;

    ln_principal_t principal;
    if (ln_principal_init (&principal, name, organisation, roles, level, &err) != 0) {
        /* Map "metadata.X" back to the option the user typed. */
        const char *option = strcmp (err.field, "metadata.name") == 0           ? "NAME"
                             : strcmp (err.field, "metadata.organisation") == 0 ? "--organisation"
                             : strcmp (err.field, "metadata.roles") == 0        ? "--roles"
                             : strcmp (err.field, "metadata.level") == 0        ? "--level"
                                                                                : "argument";
        const char *why = err.message;
        size_t flen = strlen (err.field);
        if (flen && strncmp (why, err.field, flen) == 0 && strncmp (why + flen, ": ", 2) == 0)
            why += flen + 2;
        fprintf (stderr, "lanternctl: keygen: %s: %s\ntry 'lanternctl keygen --help'\n", option,
                 why);
        return LANTERNCTL_EXIT_USAGE;
    }

    char public_key[LN_KEYS_Z85_LEN + 1];
    if (!*dir)
        return s_usage_error ("%s", "--dir: empty (give a directory, e.g. keys)");
    if (s_make_dirs (dir) != 0)
        return LANTERNCTL_EXIT_LOCAL;
    if (ln_keys_generate (dir, name, &principal, public_key, &err) != 0) {
        fprintf (stderr, "lanternctl: keygen: %s\n", err.message);
        return LANTERNCTL_EXIT_LOCAL;
    }
    const char *sep = dir[strlen (dir) - 1] == '/' ? "" : "/";
    printf ("public certificate: %s%s%s.pub\n", dir, sep, name);
    printf ("secret certificate: %s%s%s.secret\n", dir, sep, name);
    printf ("public key: %s\n", public_key);
    return LANTERNCTL_EXIT_OK;
}
