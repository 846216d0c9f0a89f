/*  test_conformance: the error codes of docs/protocol.md, each produced by
    a real node with the field path the protocol's convention gives.

    The tables are read from docs/protocol.md at run time (never copied
    here), so a code added to the spec without a case, or a case whose code
    left the spec, fails this test; the cases come from the services' own
    files in tests/conformance/ (conformance.h says how a file registers).
    Groups:
      spec           every code of every table has a case in the service
                     that covers the table's section, and every case's code
                     is in its service's tables; every case's field is a
                     path of the convention (docs/protocol.md 8.1);
      <service>      the service's fixture is started; its checks run (the
                     limits of section 7.1, each from both sides); then
                     every case is sent and must come back as an ERROR
                     Reply with its code and field, under the request_id
                     the protocol says.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../conformance/conformance.h"
#include "ln_log.h"

#define SERVICES_MAX 16
#define CODES_MAX    512

static const conf_service_t *s_services[SERVICES_MAX];
static size_t s_service_count;

void
conf_register (const conf_service_t *service)
{
    if (s_service_count < SERVICES_MAX)
        s_services[s_service_count++] = service;
}

/* --- the spec's tables ------------------------------------------------------------ */

typedef struct {
    char section[16]; /* "8", "4.6" */
    char code[64];
} spec_code_t;

static spec_code_t s_codes[CODES_MAX];
static size_t s_code_count;

/* The section number a heading line starts with ("### 4.6 Intake ..." ->
   "4.6"; "## 8. Error codes" -> "8"), or "" when it has none. */
static void
s_heading_number (const char *line, char *out, size_t size)
{
    const char *p = line;
    while (*p == '#')
        p++;
    while (*p == ' ')
        p++;
    size_t n = strspn (p, "0123456789.");
    while (n > 0 && p[n - 1] == '.')
        n--;
    if (n == 0 || n >= size || !isdigit ((unsigned char)p[0])) {
        out[0] = '\0';
        return;
    }
    memcpy (out, p, n);
    out[n] = '\0';
}

/* Every `CODE` in backticks in a table row's first cell. */
static void
s_row_codes (const char *row, const char *section)
{
    const char *p = row + 1; /* past the first '|' */
    const char *end = strchr (p, '|');
    if (!end)
        return;
    while (p < end) {
        const char *open = memchr (p, '`', (size_t)(end - p));
        if (!open)
            break;
        const char *close = memchr (open + 1, '`', (size_t)(end - open - 1));
        if (!close)
            break;
        size_t len = (size_t)(close - open - 1);
        bool code = len >= 2 && len < sizeof s_codes[0].code && isupper ((unsigned char)open[1]);
        for (size_t i = 1; code && i <= len; i++)
            code = isupper ((unsigned char)open[i]) || isdigit ((unsigned char)open[i]) ||
                   open[i] == '_';
        if (code && s_code_count < CODES_MAX) {
            spec_code_t *c = &s_codes[s_code_count++];
            snprintf (c->section, sizeof c->section, "%s", section);
            snprintf (c->code, sizeof c->code, "%.*s", (int)len, open + 1);
        }
        p = close + 1;
    }
}

/* Read the code tables of docs/protocol.md: tables whose first column is
   headed `code`, in a numbered section. */
static int
s_read_spec (void)
{
    const char *src = getenv ("LANTERN_SOURCE_DIR");
    char path[1024];
    snprintf (path, sizeof path, "%s/docs/protocol.md", src && *src ? src : ".");
    FILE *f = fopen (path, "r");
    if (!f) {
        fprintf (stderr, "cannot read %s\n", path);
        return -1;
    }
    char line[4096], section[16] = "";
    bool in_table = false, fence = false;
    while (fgets (line, sizeof line, f)) {
        if (strncmp (line, "```", 3) == 0)
            fence = !fence;
        if (fence)
            continue;
        if (line[0] == '#') {
            char number[16];
            s_heading_number (line, number, sizeof number);
            if (number[0])
                snprintf (section, sizeof section, "%s", number);
            in_table = false;
            continue;
        }
        if (line[0] != '|') {
            in_table = false;
            continue;
        }
        if (!in_table) {
            /* a header row: is its first cell "code"? */
            const char *p = line + 1;
            while (*p == ' ')
                p++;
            in_table = strncmp (p, "code ", 5) == 0 || strncmp (p, "code|", 5) == 0;
            continue;
        }
        if (strncmp (line, "|---", 4) == 0 || strncmp (line, "| ---", 5) == 0)
            continue;
        s_row_codes (line, section);
    }
    fclose (f);
    return 0;
}

/* Is `section` (a table's) covered by `s` (a service's: itself or a
   subsection of it)? */
static bool
s_covers (const char *s, const char *section)
{
    size_t n = strlen (s);
    return strncmp (section, s, n) == 0 && (section[n] == '\0' || section[n] == '.');
}

static const conf_service_t *
s_service_of (const char *section)
{
    for (size_t i = 0; i < s_service_count; i++)
        for (const char *const *s = s_services[i]->sections; *s; s++)
            if (s_covers (*s, section))
                return s_services[i];
    return NULL;
}

static bool
s_spec_has (const conf_service_t *service, const char *code)
{
    for (size_t i = 0; i < s_code_count; i++)
        if (strcmp (s_codes[i].code, code) == 0 && s_service_of (s_codes[i].section) == service)
            return true;
    return false;
}

/* --- the field-path convention (docs/protocol.md 8.1) ------------------------------ */

/* A path in message `desc`: fields by name, `[i]` after a repeated one,
   `#N` for a field number the message does not define (last only). */
static bool
s_path_in (const ProtobufCMessageDescriptor *desc, const char *path)
{
    while (desc && *path) {
        if (*path == '#') {
            const char *p = path + 1;
            size_t digits = strspn (p, "0123456789");
            return digits > 0 && p[digits] == '\0';
        }
        char name[128];
        size_t n = strcspn (path, ".[");
        if (n == 0 || n >= sizeof name)
            return false;
        memcpy (name, path, n);
        name[n] = '\0';
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name (desc, name);
        if (!f)
            return false;
        path += n;
        if (*path == '[') {
            size_t digits = strspn (path + 1, "0123456789");
            if (f->label != PROTOBUF_C_LABEL_REPEATED || digits == 0 || path[1 + digits] != ']')
                return false;
            path += digits + 2;
        }
        if (*path == '\0')
            return true;
        if (*path != '.' || f->type != PROTOBUF_C_TYPE_MESSAGE)
            return false;
        path++;
        desc = f->descriptor;
    }
    return false;
}

static bool
s_path_ok (const conf_case_t *c, const char *path)
{
    if (*path == '\0' || strcmp (path, "request_id") == 0 || strcmp (path, "call.type_url") == 0)
        return true;
    if (path[0] == '#' && s_path_in (&lantern__v1__request__descriptor, path))
        return true;
    return c->command && s_path_in (c->command, path);
}

/* --- the groups ---------------------------------------------------------------------- */

static void
test_spec_codes_have_cases (void **state)
{
    (void)state;
    assert_int_equal (s_read_spec (), 0);
    assert_true (s_code_count >= 20); /* the tables were found */
    int problems = 0;
    for (size_t i = 0; i < s_code_count; i++) {
        const spec_code_t *sc = &s_codes[i];
        const conf_service_t *service = s_service_of (sc->section);
        if (!service) {
            fprintf (stderr,
                     "docs/protocol.md section %s lists %s, but no file of tests/conformance/ "
                     "covers that section\n",
                     sc->section, sc->code);
            problems++;
            continue;
        }
        size_t n = 0;
        const conf_case_t *cases = service->cases (&n);
        bool found = false;
        for (size_t k = 0; k < n && !found; k++)
            found = strcmp (cases[k].code, sc->code) == 0;
        if (!found) {
            fprintf (stderr, "docs/protocol.md section %s lists %s: no case of service %s\n",
                     sc->section, sc->code, service->name);
            problems++;
        }
    }
    for (size_t i = 0; i < s_service_count; i++) {
        size_t n = 0;
        const conf_case_t *cases = s_services[i]->cases (&n);
        assert_true (n > 0);
        for (size_t k = 0; k < n; k++) {
            if (!s_spec_has (s_services[i], cases[k].code)) {
                fprintf (stderr,
                         "case '%s' of service %s produces %s, which its sections of "
                         "docs/protocol.md do not list\n",
                         cases[k].what, s_services[i]->name, cases[k].code);
                problems++;
            }
            if (!s_path_ok (&cases[k], cases[k].field)) {
                fprintf (stderr,
                         "case '%s' of service %s expects field '%s': not a path of the "
                         "convention (docs/protocol.md 8.1)\n",
                         cases[k].what, s_services[i]->name, cases[k].field);
                problems++;
            }
        }
    }
    if (problems)
        fail_msg ("%d problems between docs/protocol.md and tests/conformance/ (above)", problems);
}

static const conf_service_t *s_current;
static void *s_fixture;

static int
s_group_setup (void **state)
{
    (void)state;
    s_fixture = s_current->setup ();
    return s_fixture ? 0 : -1;
}

static int
s_group_teardown (void **state)
{
    (void)state;
    s_current->teardown (s_fixture);
    s_fixture = NULL;
    return 0;
}

static const char *
s_or (const char *s)
{
    return s ? s : "(null)";
}

static void
test_service_cases (void **state)
{
    (void)state;
    size_t n = 0;
    const conf_case_t *cases = s_current->cases (&n);
    int problems = 0;
    for (size_t k = 0; k < n; k++) {
        const conf_case_t *c = &cases[k];
        conf_result_t r;
        memset (&r, 0, sizeof r);
        if (c->run (s_fixture, c->arg, &r) != 0) {
            fprintf (stderr, "%s: case '%s' could not be sent\n", s_current->name, c->what);
            problems++;
            continue;
        }
        const Lantern__V1__Reply *reply =
            r.msg && r.msg->kind_case == LANTERN__V1__SERVER_MESSAGE__KIND_REPLY ? r.msg->reply
                                                                                 : NULL;
        const Lantern__V1__Error *e = reply ? reply->error : NULL;
        if (!reply || reply->status != LANTERN__V1__REPLY__STATUS__ERROR || !e) {
            fprintf (stderr, "%s: case '%s': expected %s at '%s', got %s\n", s_current->name,
                     c->what, c->code, c->field,
                     !reply                                            ? "no reply"
                     : reply->status == LANTERN__V1__REPLY__STATUS__OK ? "OK"
                                                                       : "an ERROR without error");
            problems++;
        }
        else if (strcmp (s_or (e->code), c->code) != 0 || strcmp (s_or (e->field), c->field) != 0 ||
                 strcmp (s_or (reply->request_id), r.request_id) != 0) {
            fprintf (stderr,
                     "%s: case '%s': expected %s at '%s' under request_id '%s', got %s at '%s' "
                     "under '%s' (%s)\n",
                     s_current->name, c->what, c->code, c->field, r.request_id, s_or (e->code),
                     s_or (e->field), s_or (reply->request_id), s_or (e->message));
            problems++;
        }
        if (r.msg)
            lantern__v1__server_message__free_unpacked (r.msg, NULL);
    }
    if (problems)
        fail_msg ("%s: %d of %zu cases did not give what docs/protocol.md says (above)",
                  s_current->name, problems, n);
}

static void
test_service_check (void **state)
{
    const conf_check_t *check = *state;
    check->run (s_fixture);
}

static int
s_check_setup (void **state)
{
    (void)state;
    return 0;
}

static int
s_by_name (const void *a, const void *b)
{
    return strcmp ((*(const conf_service_t *const *)a)->name,
                   (*(const conf_service_t *const *)b)->name);
}

int
main (void)
{
    ln_log_init ("test-conformance", LN_LOG_WARN);
    qsort (s_services, s_service_count, sizeof s_services[0], s_by_name);
    const struct CMUnitTest spec[] = {
        cmocka_unit_test (test_spec_codes_have_cases),
    };
    int failed = cmocka_run_group_tests_name ("conformance: spec", spec, NULL, NULL);
    for (size_t i = 0; i < s_service_count; i++) {
        s_current = s_services[i];
        size_t ntests = 1 + s_current->check_count;
        struct CMUnitTest *tests = calloc (ntests, sizeof *tests);
        char (*names)[160] = calloc (ntests, sizeof *names);
        assert_non_null (tests);
        assert_non_null (names);
        /* the checks first: the last case of a service may take its
           node's database away (UNAVAILABLE) */
        for (size_t k = 0; k < s_current->check_count; k++) {
            snprintf (names[k], sizeof names[k], "%s: %s", s_current->name,
                      s_current->checks[k].name);
            tests[k] = (struct CMUnitTest){names[k], test_service_check, s_check_setup, NULL,
                                           (void *)&s_current->checks[k]};
        }
        size_t last = ntests - 1;
        snprintf (names[last], sizeof names[last], "%s: every case gives its code and field",
                  s_current->name);
        tests[last] = (struct CMUnitTest){names[last], test_service_cases, NULL, NULL, NULL};
        char group[64];
        snprintf (group, sizeof group, "conformance: %s", s_current->name);
        failed += _cmocka_run_group_tests (group, tests, ntests, s_group_setup, s_group_teardown);
        free (tests);
        free (names);
    }
    return failed;
}
