/*  test_examples: every example a person may copy, from README.md, the
    .md files of docs/ and every --help, runs against a region as `make run` starts
    it (issue 10, "the habits" 1).

    The examples are read from the files and from the help texts at run
    time, never copied here: a changed document is what is tested.

    The region: deploy/run-region start, in a temporary LANTERN_REGION_DIR,
    on free ports (LANTERN_REGION_PORT), with this test's variant of the
    binaries (BUILD).  What `make run` prints is kept: the LANTERN_DB
    connection of each node's schema.

    Which blocks run (docs/operations.md, "Examples in these documents"):
      ```sh       a script: every line runs, in order; each command must
                  succeed;
      ```console  a transcript: the lines after "$ " (with the lines that
                  continue them after a trailing \) run; the rest is
                  output, not compared;
      other blocks (```text, ```sql, ```proto, none) are not commands.
    An HTML comment on the line before the fence changes that:
      <!-- example: not run: REASON -->   an illustration, with the reason
                                           (the rest of the comment);
      <!-- example: as PERSON -->          run with PERSON's key (default
                                           officer-venlo);
      <!-- example: on NODE -->            against NODE (default
                                           intake-venlo); "on a follower of
                                           NODE": against a node that
                                           follows NODE (skipped, and said
                                           so, while the region has none);
      <!-- example: exit N -->             the block's last command must
                                           exit N (a refusal shown on
                                           purpose);
      <!-- test: NAME (...) -->            another test runs it.
    Options combine with ';'.  A block with a line starting "$ " must be a
    console block.  Help texts: the lines after "example:" / "examples:"
    and after "e.g.", each with the key and node its command needs, and
    the exit status when it is not 0 (s_needs: the screening meeting's
    commands at triage, as the chair or, to move a track, as the police's
    partner).  The help examples run after the documents', in the region
    those left.

    Every example runs in a directory of its own that looks like a checkout
    (the repository's files, `region` the test's region, `build/bin` this
    variant's binaries), with the environment the README's first line of
    the tour sets (LANTERN_ENDPOINT, LANTERN_SERVER_KEY, LANTERN_CERT) and
    `lanternctl` on PATH.  Filled in, as a person would fill them in from
    what was printed before (the wrapper, s_wrapper):
      - a signal id (`sig-...`, or a made-up one) is the one the latest
        `signal submit` printed;
      - the ids triage prints (`case-...`, `trk-...`, `alert-...-danger`,
        `dec-...`, or made-up ones) are remembered as lanternctl prints
        them, and a placeholder is the latest one the command can act on,
        as the node shows it at that moment: `decide` a case that waits on
        the agenda, `case close` a decided case whose every track is done,
        `track update` a track led by the caller's organisation that can
        make that move, `alerts ack` an alert not yet acknowledged; when
        none is, one is made first (a signal at intake-venlo about a new
        person, a decision by the chair, a track done by its lead), and
        the wrapper says so on stderr;
      - the ports 5710, 5711, ... are the region's (triage's first);
      - a LANTERN_DB with `...` is the one `make run` printed for the
        --schema given.
    `events tail` is ended after 8 s with SIGINT, as a person ends it with
    Ctrl-C (it must then exit 0).  An example that names a schema the
    region does not have is skipped, and said so.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proc_child.h"
#include "run_cmd.h"

#define SCRIPT_MAX   32768
#define EXAMPLES_MAX 256

static char s_src[1024];    /* the repository */
static char s_tmp[256];     /* everything this test makes */
static char s_region[320];  /* LANTERN_REGION_DIR */
static char s_build[1024];  /* this variant's BUILD */
static char s_state[320];   /* what the wrapper remembers */
static char s_wrap[700];    /* the wrapper of lanternctl */
static int s_root_count;    /* directories made per example */
static char s_follower[64]; /* "" unknown, "-" none, else a node following intake-venlo */

typedef struct {
    char where[300];   /* file:line, or the help page */
    char *script;      /* the commands */
    char as[64];       /* the key */
    char on[64];       /* the node */
    char follower[64]; /* run on a node that follows this one */
    int exit_code;     /* expected status of the last command */
    bool not_run;      /* an illustration */
    char why[256];     /* its reason */
} example_t;

static example_t s_examples[EXAMPLES_MAX];
static size_t s_count;
static int s_problems; /* malformed markers and blocks */

/* --- small helpers ------------------------------------------------------------------- */

static char *
s_dup (const char *text)
{
    char *p = strdup (text);
    assert_non_null (p);
    return p;
}

/* Run a bash script; prints what it said when it failed and `quiet` is
   false.  Returns its exit status (-1 when it could not run). */
static int
s_bash (const char *script, int timeout_ms, bool quiet, run_cmd_result_t *r)
{
    char *const argv[] = {"/bin/bash", "-c", (char *)script, NULL};
    int rc = run_cmd (argv, NULL, timeout_ms, r);
    if (!quiet && (rc != 0 || r->status != 0))
        fprintf (stderr, "--- script (exit %d):\n%s\n--- stdout:\n%s\n--- stderr:\n%s\n", r->status,
                 script, r->out ? r->out : "", r->err ? r->err : "");
    return rc == 0 ? r->status : -1;
}

static void
s_write_file (const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs (text, f);
    fclose (f);
    assert_int_equal (chmod (path, mode), 0);
}

static example_t *
s_new_example (const char *where)
{
    assert_true (s_count < EXAMPLES_MAX);
    example_t *e = &s_examples[s_count++];
    memset (e, 0, sizeof *e);
    snprintf (e->where, sizeof e->where, "%s", where);
    snprintf (e->as, sizeof e->as, "officer-venlo");
    snprintf (e->on, sizeof e->on, "intake-venlo");
    return e;
}

static void s_problem (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
static void
s_problem (const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vfprintf (stderr, fmt, ap);
    va_end (ap);
    fputc ('\n', stderr);
    s_problems++;
}

/* --- the documents ------------------------------------------------------------------ */

/* Apply the options of a marker "<!-- example: OPTIONS -->" to e. */
static void
s_marker (example_t *e, const char *options)
{
    char buf[512];
    snprintf (buf, sizeof buf, "%s", options);
    char *end = strstr (buf, "-->");
    if (end)
        *end = '\0';
    for (char *opt = buf; opt && *opt;) {
        char *next = strchr (opt, ';');
        if (next)
            *next++ = '\0';
        while (*opt == ' ')
            opt++;
        size_t n = strlen (opt);
        while (n > 0 && opt[n - 1] == ' ')
            opt[--n] = '\0';
        if (strncmp (opt, "not run:", 8) == 0) {
            /* the rest of the marker is the reason, ';' and all */
            if (next)
                next[-1] = ';';
            e->not_run = true;
            snprintf (e->why, sizeof e->why, "%s", opt + 8 + strspn (opt + 8, " "));
            size_t wl = strlen (e->why);
            while (wl > 0 && e->why[wl - 1] == ' ')
                e->why[--wl] = '\0';
            if (!e->why[0])
                s_problem ("%s: 'not run' without a reason", e->where);
            break;
        }
        else if (strncmp (opt, "as ", 3) == 0)
            snprintf (e->as, sizeof e->as, "%s", opt + 3);
        else if (strncmp (opt, "on a follower of ", 17) == 0)
            snprintf (e->follower, sizeof e->follower, "%s", opt + 17);
        else if (strncmp (opt, "on ", 3) == 0)
            snprintf (e->on, sizeof e->on, "%s", opt + 3);
        else if (strncmp (opt, "exit ", 5) == 0) {
            char *rest = NULL;
            long code = strtol (opt + 5, &rest, 10);
            if (!rest || *rest || code < 0 || code > 255)
                s_problem ("%s: 'exit' needs a status 0..255", e->where);
            e->exit_code = (int)code;
        }
        else if (*opt)
            s_problem ("%s: unknown example option '%s'", e->where, opt);
        opt = next;
    }
}

/* Append text to a growing script. */
static void
s_append (char **script, size_t *len, const char *text)
{
    size_t add = strlen (text);
    char *grown = realloc (*script, *len + add + 1);
    assert_non_null (grown);
    memcpy (grown + *len, text, add + 1);
    *script = grown;
    *len += add;
}

/* Read the code blocks of one markdown file. */
static void
s_read_doc (const char *rel)
{
    char path[1400];
    snprintf (path, sizeof path, "%s/%s", s_src, rel);
    FILE *f = fopen (path, "r");
    assert_non_null (f);
    char line[4096], marker[512] = "", info[64] = "";
    int lineno = 0, marker_line = -10, start = 0;
    bool in_block = false, continued = false;
    char *script = NULL;
    size_t len = 0;
    bool prompt_seen = false;
    while (fgets (line, sizeof line, f)) {
        lineno++;
        if (!in_block) {
            if (strncmp (line, "<!-- example:", 13) == 0 || strncmp (line, "<!-- test:", 10) == 0) {
                snprintf (marker, sizeof marker, "%.500s", line);
                marker_line = lineno;
                continue;
            }
            if (strncmp (line, "```", 3) != 0)
                continue;
            in_block = true;
            start = lineno;
            snprintf (info, sizeof info, "%.*s", (int)strcspn (line + 3, " \n"), line + 3);
            if (marker_line != lineno - 1)
                marker[0] = '\0';
            free (script);
            script = NULL;
            len = 0;
            continued = false;
            prompt_seen = false;
            continue;
        }
        if (strncmp (line, "```", 3) == 0) {
            in_block = false;
            bool sh = strcmp (info, "sh") == 0, console = strcmp (info, "console") == 0;
            char where[300];
            snprintf (where, sizeof where, "%s:%d", rel, start);
            if (!sh && !console) {
                if (prompt_seen)
                    s_problem ("%s: a ```%s block with '$ ' lines: make it ```console", where,
                               info);
                if (marker[0] && strncmp (marker, "<!-- test:", 10) != 0)
                    s_problem ("%s: an example marker before a ```%s block", where, info);
                continue;
            }
            if (strncmp (marker, "<!-- test:", 10) == 0)
                continue; /* another test runs it */
            example_t *e = s_new_example (where);
            e->script = script ? script : s_dup ("");
            script = NULL;
            len = 0;
            if (marker[0])
                s_marker (e, marker + 13);
            continue;
        }
        if (strncmp (line, "$ ", 2) == 0)
            prompt_seen = true;
        if (strcmp (info, "sh") == 0)
            s_append (&script, &len, line);
        else if (strcmp (info, "console") == 0) {
            if (strncmp (line, "$ ", 2) == 0 || continued) {
                s_append (&script, &len, strncmp (line, "$ ", 2) == 0 ? line + 2 : line);
                size_t n = strlen (line);
                continued = n >= 2 && line[n - 2] == '\\';
            }
        }
    }
    fclose (f);
    free (script);
}

/* --- the help texts ----------------------------------------------------------------- */

/* Whose key a help example needs, and against which node, by how the
   example starts (the first match); and the exit status it must give
   when that is not 0. */
static const struct {
    const char *prefix;
    const char *as;
    const char *follower; /* a node following this one */
    const char *on;       /* this node */
    int exit_code;
} s_needs[] = {
    {"lanternctl call", "operator", NULL, NULL, 0},
    {"lanternctl events", "triage", NULL, NULL, 0},
    {"lanternctl audit", "auditor", NULL, NULL, 0},
    {"lanternctl upstream resync", "operator", "intake-venlo", NULL, 0},
    /* skip moves past the one event that stopped a POISONED consumer: in a
       healthy region it is refused (exit 1, "not POISONED: nothing to
       skip"), and that is what this example can show */
    {"lanternctl upstream skip", "operator", "intake-venlo", NULL, 1},
    {"lanternctl upstream", "operator", NULL, NULL, 0},
    /* the screening meeting's commands: at triage, as its chair; a track
       is moved by a partner of its lead organisation */
    {"lanternctl agenda", "chair", NULL, "triage", 0},
    {"lanternctl case", "chair", NULL, "triage", 0},
    {"lanternctl decide", "chair", NULL, "triage", 0},
    {"lanternctl track update", "partner-politie", NULL, "triage", 0},
    {"lanternctl tracks", "chair", NULL, "triage", 0},
    {"lanternctl alerts", "chair", NULL, "triage", 0},
};

/* The examples of one help text: the lines after a line "example:" or
   "examples:" (or "examples (...):"), up to a blank or unindented line,
   and "e.g. COMMAND" lines. */
static void
s_read_help (const char *page, const char *text)
{
    const char *p = text;
    bool in_examples = false;
    char *script = NULL;
    size_t len = 0;
    bool continued = false;
    size_t found = 0;
    while (*p) {
        size_t n = strcspn (p, "\n");
        char line[1024];
        snprintf (line, sizeof line, "%.*s", (int)(n < sizeof line ? n : sizeof line - 1), p);
        p += n + (p[n] == '\n');
        const char *t = line + strspn (line, " ");
        size_t tl0 = strlen (t);
        if (strncmp (t, "example", 7) == 0 && tl0 > 0 && t[tl0 - 1] == ':') {
            in_examples = true;
            continue;
        }
        bool eg = strncmp (t, "e.g. ", 5) == 0;
        if (eg)
            t += 5;
        bool command = strncmp (t, "lanternctl ", 11) == 0 || strncmp (t, "deploy/", 7) == 0 ||
                       strncmp (t, "lantern-", 8) == 0;
        if (continued || ((in_examples || eg) && command)) {
            s_append (&script, &len, t);
            s_append (&script, &len, "\n");
            size_t tl = strlen (t);
            continued = tl > 0 && t[tl - 1] == '\\';
            if (!continued) {
                char where[300];
                snprintf (where, sizeof where, "%s --help (example %zu)", page, ++found);
                example_t *e = s_new_example (where);
                e->script = script;
                script = NULL;
                len = 0;
                for (size_t i = 0; i < sizeof s_needs / sizeof s_needs[0]; i++)
                    if (strncmp (e->script, s_needs[i].prefix, strlen (s_needs[i].prefix)) == 0) {
                        snprintf (e->as, sizeof e->as, "%s", s_needs[i].as);
                        if (s_needs[i].follower)
                            snprintf (e->follower, sizeof e->follower, "%s", s_needs[i].follower);
                        if (s_needs[i].on)
                            snprintf (e->on, sizeof e->on, "%s", s_needs[i].on);
                        e->exit_code = s_needs[i].exit_code;
                        break;
                    }
            }
            continue;
        }
        if (in_examples && (line[0] != ' ' || *t == '\0'))
            in_examples = false;
    }
    free (script);
    if (strstr (text, "\nset -e"))
        s_problem ("%s --help prints a line of its script ('set -e...')", page);
}

/* Run `argv0 ARGS --help` (in the repository) and read its examples. */
static char *
s_help_text (const char *command)
{
    char script[4096];
    snprintf (script, sizeof script, "cd '%s' && PATH='%s/bin':\"$PATH\" %s --help", s_src, s_build,
              command);
    run_cmd_result_t r;
    int status = s_bash (script, 30000, false, &r);
    if (status != 0)
        s_problem ("%s --help exits %d", command, status);
    char *text = s_dup (r.out ? r.out : "");
    run_cmd_free (&r);
    return text;
}

/* The names listed under `heading` ("commands:", "subcommands:") in a help
   text, one per line ("  NAME ..."), into names (max n), returns the count. */
static size_t
s_listed (const char *text, const char *heading, char names[][32], size_t max)
{
    const char *p = strstr (text, heading);
    size_t n = 0;
    if (!p)
        return 0;
    p = strchr (p + 1, '\n');
    while (p && p[1] == ' ' && p[2] == ' ' && p[3] != ' ' && n < max) {
        p += 3;
        size_t w = strcspn (p, " \n");
        snprintf (names[n++], 32, "%.*s", (int)w, p);
        p = strchr (p, '\n');
    }
    return n;
}

static void
s_read_helps (void)
{
    char *top = s_help_text ("lanternctl");
    s_read_help ("lanternctl", top);
    char commands[32][32];
    size_t nc = s_listed (top, "\ncommands:", commands, 32);
    assert_true (nc >= 5);
    for (size_t i = 0; i < nc; i++) {
        char page[256];
        snprintf (page, sizeof page, "lanternctl %s", commands[i]);
        char *text = s_help_text (page);
        s_read_help (page, text);
        char subs[32][32];
        size_t ns = s_listed (text, "\nsubcommands:", subs, 32);
        for (size_t k = 0; k < ns; k++) {
            char sub[512];
            snprintf (sub, sizeof sub, "%s %s", page, subs[k]);
            char *t = s_help_text (sub);
            s_read_help (sub, t);
            free (t);
        }
        free (text);
    }
    free (top);
    /* every service, and every script of deploy/ */
    char dir[1100];
    snprintf (dir, sizeof dir, "%s/bin", s_build);
    DIR *d = opendir (dir);
    assert_non_null (d);
    struct dirent *de;
    while ((de = readdir (d)))
        if (strncmp (de->d_name, "lantern-", 8) == 0) {
            char *t = s_help_text (de->d_name);
            s_read_help (de->d_name, t);
            free (t);
        }
    closedir (d);
    snprintf (dir, sizeof dir, "%s/deploy", s_src);
    d = opendir (dir);
    assert_non_null (d);
    char names[32][64];
    size_t nn = 0;
    while ((de = readdir (d)) && nn < 32) {
        char path[1400];
        struct stat st;
        snprintf (path, sizeof path, "%s/%s", dir, de->d_name);
        if (de->d_name[0] != '.' && stat (path, &st) == 0 && S_ISREG (st.st_mode) &&
            (st.st_mode & 0111))
            snprintf (names[nn++], sizeof names[0], "%.60s", de->d_name);
    }
    closedir (d);
    qsort (names, nn, sizeof names[0], (int (*) (const void *, const void *))strcmp);
    for (size_t i = 0; i < nn; i++) {
        char page[256];
        snprintf (page, sizeof page, "deploy/%.60s", names[i]);
        char *t = s_help_text (page);
        s_read_help (page, t);
        free (t);
    }
}

/* --- running ------------------------------------------------------------------------- */

/* A directory that looks like a checkout: the repository's files, the
   region, and build/bin with this variant's binaries (lanternctl through
   the wrapper). */
static void
s_make_root (char *root, size_t size)
{
    snprintf (root, size, "%s/roots/%d", s_tmp, ++s_root_count);
    char script[8192];
    snprintf (script, sizeof script,
              "set -e\nmkdir -p '%s/build/bin'\ncd '%s'\n"
              "for f in '%s'/* '%s'/.[!.]*; do\n"
              "  case \"${f##*/}\" in build|region|.git|'.[!.]*') ;; *) ln -s \"$f\" . ;; esac\n"
              "done\n"
              "ln -s '%s' region\n"
              "for b in '%s'/bin/*; do ln -s \"$b\" build/bin/; done\n"
              "rm -f build/bin/lanternctl\nln -s '%s' build/bin/lanternctl\n",
              root, root, s_src, s_src, s_region, s_build, s_wrap);
    run_cmd_result_t r;
    assert_int_equal (s_bash (script, 30000, false, &r), 0);
    run_cmd_free (&r);
}

/* The node of the region that follows `node` (ListUpstreams), or "-". */
static const char *
s_follower_of (const char *node)
{
    if (s_follower[0])
        return s_follower;
    snprintf (s_follower, sizeof s_follower, "-");
    char script[8192];
    snprintf (script, sizeof script,
              "cd '%s'\nfor n in $(deploy/run-region status | awk '$2 == \"running\" && $1 ~ "
              "/^[a-z]/ {print $1}'); do\n"
              "  [ \"$n\" = PostgreSQL ] && continue\n"
              "  eval \"$(deploy/run-region env \"$n\" operator)\"\n"
              "  if '%s/bin/lanternctl' call ListUpstreams --json 2>/dev/null | grep -q "
              "'\"name\":\"%s\"'; then echo \"$n\"; break; fi\n"
              "done\n",
              s_src, s_build, node);
    run_cmd_result_t r;
    if (s_bash (script, 60000, true, &r) == 0 && r.out && r.out[0] && r.out[0] != '\n')
        snprintf (s_follower, sizeof s_follower, "%.*s", (int)strcspn (r.out, "\n"), r.out);
    run_cmd_free (&r);
    return s_follower;
}

/* A schema named by "--schema S" in the script that the region lacks, or
   NULL. */
static const char *
s_missing_schema (const char *script)
{
    static char schema[64];
    for (const char *p = strstr (script, "--schema "); p; p = strstr (p + 1, "--schema ")) {
        const char *s = p + 9;
        size_t n = strspn (s, "abcdefghijklmnopqrstuvwxyz0123456789_");
        snprintf (schema, sizeof schema, "%.*s", (int)n, s);
        char path[512];
        snprintf (path, sizeof path, "%s/conninfo.%s", s_state, schema);
        if (n > 0 && access (path, R_OK) != 0)
            return schema;
    }
    return NULL;
}

/* What the wrapper made for the example that just ran (ids it could not
   fill in from what was printed before), printed under its line. */
static void
s_print_notes (void)
{
    char path[400];
    snprintf (path, sizeof path, "%s/notes", s_state);
    FILE *f = fopen (path, "r");
    if (!f)
        return;
    char line[512];
    while (fgets (line, sizeof line, f))
        printf ("#      %s", line);
    fclose (f);
    unlink (path);
}

/* Run one example.  Returns 1 passed, 0 skipped (printed why), -1 failed. */
static int
s_run (const example_t *e)
{
    const char *on = e->on;
    if (e->follower[0]) {
        on = s_follower_of (e->follower);
        if (strcmp (on, "-") == 0) {
            printf ("# skip %s: no node of this region follows %s yet\n", e->where, e->follower);
            return 0;
        }
    }
    const char *schema = s_missing_schema (e->script);
    if (schema) {
        printf ("# skip %s: the region has no schema %s\n", e->where, schema);
        return 0;
    }
    char root[512];
    s_make_root (root, sizeof root);
    char *script = malloc (SCRIPT_MAX);
    assert_non_null (script);
    int n = snprintf (script, SCRIPT_MAX,
                      "set -o pipefail%s\ncd '%s'\nexport PATH='%s/build/bin':\"$PATH\"\n"
                      "eval \"$(deploy/run-region env '%s' '%s')\"\n%s",
                      e->exit_code ? "" : "\nset -e", root, root, on, e->as, e->script);
    assert_true (n > 0 && n < SCRIPT_MAX);
    run_cmd_result_t r;
    int status = s_bash (script, 180000, true, &r);
    int rc = status == e->exit_code ? 1 : -1;
    printf ("# %s %s (exit %d)\n", rc > 0 ? "ok  " : "FAIL", e->where, status);
    s_print_notes ();
    if (rc < 0)
        fprintf (stderr,
                 "--- %s: expected exit %d, got %d\n--- script:\n%s\n--- stdout:\n%s\n--- "
                 "stderr:\n%s\n",
                 e->where, e->exit_code, status, e->script, r.out ? r.out : "", r.err ? r.err : "");
    run_cmd_free (&r);
    free (script);
    return rc;
}

/* --- the wrapper ------------------------------------------------------------------------ */

static const char s_wrapper[] =
    "#!/bin/bash\n"
    "# lanternctl as test_examples runs the documentation's examples (written by\n"
    "# tests/integration/test_examples.c): it fills in what a person would fill in\n"
    "# from what was printed before, and ends `events tail` as Ctrl-C would.\n"
    "state=\"$LANTERN_EXAMPLES_STATE\"\n"
    "real=\"$LANTERN_EXAMPLES_REAL\"\n"
    "sig=$(cat \"$state/signal\" 2>/dev/null || true)\n"
    "base=$(cat \"$LANTERN_REGION_DIR/port\")\n"
    "say() { printf 'test_examples: %s\\n' \"$*\" | tee -a \"$state/notes\" >&2; }\n"
    "\n"
    "# --- triage's ids -----------------------------------------------------------\n"
    "# Every id lanternctl printed is remembered ($state/ids.KIND, the latest\n"
    "# last: the first of an output counts as the latest).  A placeholder\n"
    "# (case-..., trk-..., alert-...-danger, dec-..., or any id of that form) is\n"
    "# filled with a remembered one that the command can act on, as the node\n"
    "# shows it now; when there is none, one is made first, through the same\n"
    "# nodes and keys (a signal at intake-venlo, a decision by the chair), and\n"
    "# said so on stderr.\n"
    "remember() { # output file\n"
    "    local kind ids\n"
    "    for kind in case trk alert dec; do\n"
    "        ids=$(grep -oE \"(^|[^a-z])$kind-[a-z2-7]{26}(-danger|-minor)?\" \"$1\" | grep -oE "
    "\"$kind-.*\" |\n"
    "              awk '!seen[$0]++' | tac)\n"
    "        [ -n \"$ids\" ] || continue\n"
    "        { cat \"$state/ids.$kind\" 2>/dev/null; printf '%s\\n' \"$ids\"; } | tac | awk "
    "'!seen[$0]++' |\n"
    "            tac >\"$state/ids.$kind.new\" && mv \"$state/ids.$kind.new\" "
    "\"$state/ids.$kind\"\n"
    "    done\n"
    "}\n"
    "latest() { tac \"$state/ids.$1\" 2>/dev/null | head -n \"${2:-1000}\"; }\n"
    "at() { # NODE PERSON COMMAND...: the real lanternctl as PERSON at NODE\n"
    "    local node=$1 person=$2\n"
    "    shift 2\n"
    "    (eval \"$(\"$LANTERN_EXAMPLES_SRC/deploy/run-region\" env \"$node\" \"$person\")\" && "
    "\"$real\" \"$@\")\n"
    "}\n"
    "made_signal() { # [FLAG]: a new signal at intake-venlo about a new person\n"
    "    local n\n"
    "    n=$(($(cat \"$state/made\" 2>/dev/null || echo 0) + 1))\n"
    "    echo \"$n\" >\"$state/made\"\n"
    "    at intake-venlo officer-venlo signal submit --reporter-role municipal_staff \\\n"
    "        --municipality GM0983 --observed \"$(date +%F)\" --form labour \\\n"
    "        --indicator ILO_DEBT_BONDAGE \"$@\" \\\n"
    "        --person \"role=victim,name=Example Person,phone=06 2000 $(printf %04d \"$n\")\" \\\n"
    "        --account 'Made by test_examples for an example that names one.' |\n"
    "        grep -oE 'sig-[a-z2-7]{26}' | head -n 1\n"
    "}\n"
    "wait_for() { # what COMMAND...: until the chair's COMMAND succeeds (30 s)\n"
    "    local what=$1 i\n"
    "    shift\n"
    "    for ((i = 0; i < 300; i++)); do\n"
    "        at triage chair \"$@\" >/dev/null 2>&1 && return 0\n"
    "        sleep 0.1\n"
    "    done\n"
    "    say \"triage never showed $what\"\n"
    "    return 1\n"
    "}\n"
    "made_case() { # an undecided case of its own\n"
    "    local s\n"
    "    s=$(made_signal) && [ -n \"$s\" ] || return 1\n"
    "    wait_for \"case-${s#sig-}\" case show \"case-${s#sig-}\" --purpose 'test_examples: made "
    "for an example' &&\n"
    "        printf 'case-%s\\n' \"${s#sig-}\"\n"
    "}\n"
    "made_track() { # ORG: an OPEN track led by ORG, of a case of its own\n"
    "    local c\n"
    "    c=$(made_case) || return 1\n"
    "    at triage chair decide \"$c\" --meeting today --attendee \"$1\" \\\n"
    "        --track \"kind=administrative,lead=$1,deadline=+30d\" | grep -oE 'trk-[a-z2-7]{26}' | "
    "head -n 1\n"
    "}\n"
    "partner_of() { # ORG: the name of a screening_partner key of ORG\n"
    "    grep -lE \"^ +organisation = \\\"$1\\\"\" \"$LANTERN_REGION_DIR\"/keys/*.pub 2>/dev/null "
    "|\n"
    "        xargs -r grep -lE '^ +roles = \".*screening_partner' | head -n 1 | xargs -r basename "
    "-s .pub\n"
    "}\n"
    "ready() { # CASE: decided, and every track of it done\n"
    "    local s\n"
    "    s=$(\"$real\" case show \"$1\" --purpose 'test_examples: is it ready to close?' --json "
    "2>/dev/null |\n"
    "        grep -oE '\"state\": \"[A-Z_]+\"' | cut -d'\"' -f4)\n"
    "    [ \"$(head -n 1 <<<\"$s\")\" = CASE_STATE_DECIDED ] && [ \"$(sed 1d <<<\"$s\" | grep -c "
    ".)\" -gt 0 ] &&\n"
    "        [ -z \"$(sed 1d <<<\"$s\" | grep -v TRACK_STATE_DONE)\" ]\n"
    "}\n"
    "made_ready_case() { # a decided case whose one track, the police's, is done\n"
    "    local c t p\n"
    "    p=$(partner_of politie-limburg-noord)\n"
    "    c=$(made_case) || return 1\n"
    "    t=$(at triage chair decide \"$c\" --meeting today --attendee politie-limburg-noord \\\n"
    "        --track 'kind=criminal,lead=politie-limburg-noord,deadline=+30d' |\n"
    "        grep -oE 'trk-[a-z2-7]{26}' | head -n 1)\n"
    "    [ -n \"$t\" ] && [ -n \"$p\" ] &&\n"
    "        at triage \"$p\" track update \"$t\" --state done --outcome 'made ready by "
    "test_examples' >/dev/null &&\n"
    "        printf '%s\\n' \"$c\"\n"
    "}\n"
    "fill_case() { # CMD SUB: the case a command names\n"
    "    local c agenda\n"
    "    case \"$1 $2\" in\n"
    "    \"decide \"*)\n"
    "        # the latest case shown, if it waits for the meeting (any, for a\n"
    "        # --dry-run, which sends nothing); else a new one\n"
    "        c=$(latest case 1)\n"
    "        if [ -n \"$c\" ] && [ -n \"$dry\" ]; then printf '%s\\n' \"$c\"; return; fi\n"
    "        agenda=$(\"$real\" agenda 2>/dev/null)\n"
    "        if [ -n \"$c\" ] && grep -q -- \"$c\" <<<\"$agenda\"; then printf '%s\\n' \"$c\"; "
    "return; fi\n"
    "        c=$(made_case) && say \"made $c for it (no case shown before waits for a decision)\" "
    "&&\n"
    "            printf '%s\\n' \"$c\"\n"
    "        ;;\n"
    "    \"case close\")\n"
    "        for c in $(latest case 5); do\n"
    "            ready \"$c\" && { printf '%s\\n' \"$c\"; return; }\n"
    "        done\n"
    "        c=$(made_ready_case) && say \"made $c ready to close for it\" && printf '%s\\n' "
    "\"$c\"\n"
    "        ;;\n"
    "    *)\n"
    "        c=$(latest case 1)\n"
    "        [ -n \"$c\" ] || { c=$(made_case) && say \"made $c for it\"; }\n"
    "        printf '%s\\n' \"$c\"\n"
    "        ;;\n"
    "    esac\n"
    "}\n"
    "fill_track() { # STATE: a track of the caller's organisation that can move to STATE\n"
    "    local org live t want\n"
    "    org=$(grep -m 1 -E '^ +organisation = ' \"$LANTERN_CERT\" 2>/dev/null | cut -d'\"' -f2)\n"
    "    live=$(\"$real\" tracks --lead \"$org\" 2>/dev/null | awk 'NR > 1 {print $1, $5}')\n"
    "    case \"$1\" in in_progress | IN_PROGRESS) want='^OPEN$' ;; *) want='^(OPEN|IN_PROGRESS)$' "
    ";; esac\n"
    "    for t in $(latest trk) $(awk '{print $1}' <<<\"$live\"); do\n"
    "        if awk -v t=\"$t\" '$1 == t {print $2}' <<<\"$live\" | grep -qE \"$want\"; then\n"
    "            printf '%s\\n' \"$t\"\n"
    "            return\n"
    "        fi\n"
    "    done\n"
    "    t=$(made_track \"$org\") && say \"made $t, led by $org, for it\" && printf '%s\\n' "
    "\"$t\"\n"
    "}\n"
    "fill_alert() { # SUFFIX: an alert not yet acknowledged\n"
    "    local live a i\n"
    "    live=$(\"$real\" alerts 2>/dev/null | awk 'NR > 1 {print $1}')\n"
    "    for a in $(latest alert) $live; do\n"
    "        if grep -qx -- \"$a\" <<<\"$live\" && [[ \"$a\" == *\"$1\" ]]; then\n"
    "            printf '%s\\n' \"$a\"\n"
    "            return\n"
    "        fi\n"
    "    done\n"
    "    a=$(made_signal --immediate-danger) && [ -n \"$a\" ] || return 1\n"
    "    a=\"alert-${a#sig-}-danger\"\n"
    "    for ((i = 0; i < 300; i++)); do\n"
    "        at triage chair alerts 2>/dev/null | grep -q -- \"$a\" && break\n"
    "        sleep 0.1\n"
    "    done\n"
    "    say \"made $a for it\"\n"
    "    printf '%s\\n' \"$a\"\n"
    "}\n"
    "\n"
    "# fill ARG: ARG as a person would type it here, into REPLY.\n"
    "case_id= track_id= alert_id=\n"
    "fill() {\n"
    "    local a=$1 i\n"
    "    for i in 0 1 2 3 4 5 6 7 8 9 10; do\n"
    "        a=${a//127.0.0.1:$((5710 + i))/127.0.0.1:$((base - 1 + i))}\n"
    "    done\n"
    "    if [ -n \"$sig\" ]; then a=$(printf '%s' \"$a\" | sed -E \"s/sig-[A-Za-z0-9.]+/$sig/g\"); "
    "fi\n"
    "    if [[ \"$a\" =~ (^|[^a-z])case-[A-Za-z0-9.]+ ]]; then\n"
    "        [ -n \"$case_id\" ] || case_id=$(fill_case \"$cmd\" \"$sub\")\n"
    "        a=$(printf '%s' \"$a\" | sed -E \"s/(^|[^a-z])case-[A-Za-z0-9.]+/\\\\1$case_id/g\")\n"
    "    fi\n"
    "    if [[ \"$a\" =~ trk-[A-Za-z0-9.]+ ]]; then\n"
    "        [ -n \"$track_id\" ] || track_id=$(fill_track \"$to_state\")\n"
    "        a=$(printf '%s' \"$a\" | sed -E \"s/trk-[A-Za-z0-9.]+/$track_id/g\")\n"
    "    fi\n"
    "    if [[ \"$a\" =~ alert-[A-Za-z0-9.]+(-danger|-minor)? ]]; then\n"
    "        [ -n \"$alert_id\" ] || alert_id=$(fill_alert \"${BASH_REMATCH[1]}\")\n"
    "        a=$(printf '%s' \"$a\" | sed -E "
    "\"s/alert-[A-Za-z0-9.]+(-danger|-minor)?/$alert_id/g\")\n"
    "    fi\n"
    "    if [[ \"$a\" =~ dec-[A-Za-z0-9.]+ ]]; then\n"
    "        a=$(printf '%s' \"$a\" | sed -E \"s/dec-[A-Za-z0-9.]+/$(latest dec 1)/g\")\n"
    "    fi\n"
    "    REPLY=$a\n"
    "}\n"
    "cmd=${1:-}\n"
    "sub=${2:-}\n"
    "to_state=\n"
    "dry=\n"
    "prev=\n"
    "for a in \"$@\"; do\n"
    "    [ \"$prev\" = --state ] && to_state=$a\n"
    "    [ \"$a\" = --dry-run ] && dry=1\n"
    "    prev=$a\n"
    "done\n"
    "if [ -n \"${LANTERN_ENDPOINT:-}\" ]; then\n"
    "    fill \"$LANTERN_ENDPOINT\"\n"
    "    export LANTERN_ENDPOINT=$REPLY\n"
    "fi\n"
    "args=()\n"
    "schema=\n"
    "prev=\n"
    "for a in \"$@\"; do\n"
    "    [ \"$prev\" = --schema ] && schema=$a\n"
    "    prev=$a\n"
    "    fill \"$a\"\n"
    "    args+=(\"$REPLY\")\n"
    "done\n"
    "if [ -n \"$schema\" ] && [ -f \"$state/conninfo.$schema\" ] &&\n"
    "   { [ -z \"${LANTERN_DB:-}\" ] || [[ \"$LANTERN_DB\" == *...* ]]; }; then\n"
    "    export LANTERN_DB=$(cat \"$state/conninfo.$schema\")\n"
    "fi\n"
    "limit=()\n"
    "[ \"${args[0]:-}\" = events ] && [ \"${args[1]:-}\" = tail ] &&\n"
    "    limit=(timeout --preserve-status -s INT 8)\n"
    "\"${limit[@]}\" \"$real\" \"${args[@]}\" | tee \"$state/last.out\"\n"
    "status=${PIPESTATUS[0]}\n"
    "id=$(grep -oE '^signal sig-[a-z2-7]{26} received' \"$state/last.out\" | head -n 1 | cut -d' ' "
    "-f2)\n"
    "[ -n \"$id\" ] && printf '%s\\n' \"$id\" >\"$state/signal\"\n"
    "remember \"$state/last.out\"\n"
    "exit $status\n";

/* --- the test ----------------------------------------------------------------------------- */

static int
s_group_setup (void **state)
{
    (void)state;
    char path[sizeof s_wrap];
    snprintf (path, sizeof path, "%.600s/lanternctl", s_wrap);
    s_write_file (path, s_wrapper, 0755);
    snprintf (s_wrap, sizeof s_wrap, "%s", path);
    /* the region, as make run starts it; keep what it prints */
    char script[4096];
    snprintf (script, sizeof script, "cd '%s' && deploy/run-region start", s_src);
    run_cmd_result_t r;
    if (s_bash (script, 180000, false, &r) != 0) {
        run_cmd_free (&r);
        return -1;
    }
    int conninfos = 0;
    for (const char *p = strstr (r.out, "LANTERN_DB='"); p; p = strstr (p + 1, "LANTERN_DB='")) {
        const char *v = p + 12;
        size_t vl = strcspn (v, "'");
        const char *s = strstr (v, "--schema ");
        const char *eol = strchr (v, '\n');
        if (!s || (eol && s > eol))
            continue;
        char schema[64], file[512], value[1024];
        snprintf (schema, sizeof schema, "%.*s", (int)strcspn (s + 9, " \n"), s + 9);
        snprintf (file, sizeof file, "%s/conninfo.%s", s_state, schema);
        snprintf (value, sizeof value, "%.*s", (int)vl, v);
        s_write_file (file, value, 0600);
        conninfos++;
    }
    run_cmd_free (&r);
    return conninfos >= 2 ? 0 : -1;
}

static int
s_group_teardown (void **state)
{
    (void)state;
    char script[4096];
    snprintf (script, sizeof script, "cd '%s' && deploy/run-region stop >/dev/null 2>&1", s_src);
    run_cmd_result_t r;
    s_bash (script, 120000, true, &r);
    run_cmd_free (&r);
    run_cmd_remove_test_dir (s_tmp);
    return 0;
}

/* A node of the region that a sanitizer stopped (its report in the node's
   log, as run-region starts it): printed, and true.  Every example after
   it would only wait for a node that is gone. */
static bool
s_node_crashed (void)
{
    char script[1024];
    snprintf (script, sizeof script,
              "grep -E -A12 'runtime error|ERROR: (Address|Leak)Sanitizer' '%s'/*/*.log", s_region);
    run_cmd_result_t r;
    bool crashed = s_bash (script, 30000, true, &r) == 0;
    if (crashed)
        printf ("# a node of the region crashed; its log:\n%s", r.out);
    run_cmd_free (&r);
    return crashed;
}

static void
s_run_all (size_t from, size_t to, const char *what)
{
    int failed = 0, passed = 0, skipped = 0, not_run = 0;
    for (size_t i = from; i < to; i++) {
        const example_t *e = &s_examples[i];
        if (e->not_run) {
            printf ("# not run %s: %s\n", e->where, e->why);
            not_run++;
            continue;
        }
        int rc = s_run (e);
        passed += rc > 0;
        skipped += rc == 0;
        failed += rc < 0;
        if (s_node_crashed ())
            fail_msg ("a node crashed during %s (above); the examples after it were not run",
                      e->where);
    }
    printf ("# %s: %d ran, %d failed, %d skipped, %d illustrations\n", what, passed + failed,
            failed, skipped, not_run);
    if (failed)
        fail_msg ("%d examples of %s failed (above)", failed, what);
    if (s_problems)
        fail_msg ("%d problems with the examples' blocks and markers (above)", s_problems);
}

static void
test_docs_examples_run (void **state)
{
    (void)state;
    s_count = 0;
    s_problems = 0;
    s_read_doc ("README.md");
    char dir[1100];
    snprintf (dir, sizeof dir, "%s/docs", s_src);
    DIR *d = opendir (dir);
    assert_non_null (d);
    char names[64][128];
    size_t nn = 0;
    struct dirent *de;
    while ((de = readdir (d)) && nn < 64) {
        size_t l = strlen (de->d_name);
        if (l > 3 && strcmp (de->d_name + l - 3, ".md") == 0)
            snprintf (names[nn++], sizeof names[0], "docs/%.100s", de->d_name);
    }
    closedir (d);
    qsort (names, nn, sizeof names[0], (int (*) (const void *, const void *))strcmp);
    for (size_t i = 0; i < nn; i++)
        s_read_doc (names[i]);
    assert_true (s_count >= 5);
    s_run_all (0, s_count, "README.md and docs/");
}

static void
test_help_examples_run (void **state)
{
    (void)state;
    size_t from = s_count;
    s_problems = 0;
    s_read_helps ();
    assert_true (s_count - from >= 10);
    s_run_all (from, s_count, "the --help texts");
}

/* Can a node bind 127.0.0.1:port now? */
static bool
s_port_free (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in a;
    memset (&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons ((uint16_t)port);
    a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    bool ok = bind (fd, (struct sockaddr *)&a, sizeof a) == 0;
    close (fd);
    return ok;
}

/* A first port with the one before and the next ones free too: triage
   takes base - 1, the region's two intake nodes base and base + 1, and the
   one deploy/add-node's example adds base + 2. */
static int
s_free_ports (void)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        int base = proc_free_port ();
        if (base > 1024 && base < 64000 && s_port_free (base - 1) && s_port_free (base + 1) &&
            s_port_free (base + 2) && s_port_free (base + 3))
            return base;
    }
    return 47911;
}

int
main (void)
{
    const char *src = getenv ("LANTERN_SOURCE_DIR");
    char *real = realpath (src && *src ? src : ".", NULL);
    if (!real)
        return 1;
    snprintf (s_src, sizeof s_src, "%s", real);
    free (real);
    /* this variant's binaries: BUILD for run-region, the real lanternctl */
    char intake[1024];
    if (run_cmd_binary ("lantern-intake", intake, sizeof intake) != 0)
        return 1;
    snprintf (s_build, sizeof s_build, "%.*s",
              (int)(strlen (intake) - strlen ("/bin/lantern-intake")), intake);
    if (s_build[0] != '/') {
        char abs[sizeof s_src + sizeof s_build + 2];
        snprintf (abs, sizeof abs, "%s/%s", s_src, s_build);
        snprintf (s_build, sizeof s_build, "%.1000s", abs);
    }
    snprintf (s_tmp, sizeof s_tmp, "/tmp/lantern-examples-XXXXXX");
    /* (o+x: as root, the cluster's postgres user must reach region/pg) */
    if (!mkdtemp (s_tmp) || chmod (s_tmp, 0711) != 0)
        return 1;
    snprintf (s_region, sizeof s_region, "%s/region", s_tmp);
    snprintf (s_state, sizeof s_state, "%s/state", s_tmp);
    snprintf (s_wrap, sizeof s_wrap, "%s/wrap", s_tmp);
    char roots[400];
    snprintf (roots, sizeof roots, "%s/roots", s_tmp);
    if (mkdir (s_state, 0700) != 0 || mkdir (s_wrap, 0755) != 0 || mkdir (roots, 0711) != 0)
        return 1;
    char port[16], ctl[1100];
    snprintf (port, sizeof port, "%d", s_free_ports ());
    snprintf (ctl, sizeof ctl, "%s/bin/lanternctl", s_build);
    setenv ("LANTERN_REGION_DIR", s_region, 1);
    setenv ("LANTERN_REGION_PORT", port, 1);
    setenv ("BUILD", s_build, 1);
    setenv ("LANTERN_EXAMPLES_STATE", s_state, 1);
    setenv ("LANTERN_EXAMPLES_REAL", ctl, 1);
    setenv ("LANTERN_EXAMPLES_SRC", s_src, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_docs_examples_run),
        cmocka_unit_test (test_help_examples_run),
    };
    return cmocka_run_group_tests_name ("examples", tests, s_group_setup, s_group_teardown);
}
