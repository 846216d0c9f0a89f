/*  lanternctl signal: register and follow signals at an intake node.

        lanternctl signal submit   [DETAIL FLAGS] [--file signal.json] [--dry-run]
        lanternctl signal amend ID [DETAIL FLAGS] [--file added.json] [--dry-run]
        lanternctl signal withdraw ID --reason TEXT
        lanternctl signal show ID [--tokens]
        lanternctl signal list [--status S] [--municipality GM..] [--form F]
                               [--from DATE] [--to DATE] [--limit N]
                               [--page-token T] [--all]
        lanternctl signal template
        (each but template also: --json, --request-id/--timeout/--retries,
        connection options)

    These are the intake commands of proto/wire.proto (SubmitSignal ..
    ListSignals) with flags for people; `lanternctl call submit_signal`
    remains the raw form.  The details of submit and amend are built as
    JSON (the file's, if any, with every flag added to it or overriding it)
    and converted with ln_json, so a flag's value meets exactly the checks
    a file's would (ln_pbcheck), with the same error paths
    (details.persons[0].name) the node uses in its refusals.  Nothing is
    sent when that fails.

    The file speaks the flags' words: lines may carry // comments, enum
    values may be written as the flags write them ("labour", "victim",
    "municipal_staff") as well as in full ("EXPLOITATION_FORM_LABOUR"), an
    empty value says nothing, and a person, address, vehicle or employer
    whose values are all empty is left out; so `signal template` can print
    a commented file with every field, and --dry-run prints exactly what
    --file takes back.  Municipality codes are checked here against the
    same list as the node's (intake_municipality), so a former code gets
    its hint before anything is sent.  Dates are written alike everywhere:
    --observed, dates of birth and list's --from/--to all take YYYY-MM-DD
    or day first D-M-YYYY, D/M/YYYY, D.M.YYYY.

    Exit codes: lanternctl.h (1 the node refused, one line on stderr:
    "lanternctl: signal refused: CODE at FIELD: message"; 2 usage, nothing
    sent; 3 no reply or UNAVAILABLE: a submit, amend or withdraw retried
    with the --request-id printed is executed at most once; 4 a file that
    cannot be read, or output that cannot be written).
*/
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "connect.h"
#include "intake_municipality.h"
#include "ln_alloc.h"
#include "lanternctl.h"
#include "ln_json.h"
#include "ln_pseudonym.h"
#include "request.h"
#include "table.h"
#include "wire.pb-c.h"

#define LIST_MAX_PAGE_SIZE 500
#define LIST_MAX_PAGES     100000 /* --all: a node that never ends its pages */
#define ENUM_CHOICES_MAX   512

enum {
    OPT_JSON = 0x2001,
    OPT_DRY_RUN,
    OPT_MUNICIPALITY,
    OPT_OBSERVED,
    OPT_FORM,
    OPT_SECTOR,
    OPT_INDICATOR,
    OPT_DANGER,
    OPT_MINOR,
    OPT_REPORTER_ROLE,
    OPT_REPORTER_ORGANISATION,
    OPT_REPORTER_CONTACT,
    OPT_PERSON,
    OPT_ADDRESS,
    OPT_VEHICLE,
    OPT_EMPLOYER,
    OPT_ACCOUNT,
    OPT_ACCOUNT_FILE,
    OPT_REASON,
    OPT_TOKENS,
    OPT_PURPOSE,
    OPT_STATUS,
    OPT_FROM,
    OPT_TO,
    OPT_LIMIT,
    OPT_PAGE_TOKEN,
    OPT_ALL,
};

// --------------------------------------------------------------------------
// Help

#define HELP_COMMON                                                                                \
    "      --json                print the node's reply as JSON\n"                                 \
    "      --timeout MS          wait this long for the reply, per attempt (default 5000)\n"       \
    "      --retries N           resend the same request N more times when no reply\n"             \
    "                            comes (default 2)\n"                                              \
    "  -h, --help                show this help\n"

#define HELP_REQUEST_ID                                                                            \
    "      --request-id ID       the idempotency key, [A-Za-z0-9._:-]{1,64} (default:\n"           \
    "                            fresh; printed when no reply comes, to retry with)\n"

#define HELP_DETAILS                                                                               \
    "details (a flag given with --file adds to the file's details, or overrides\n"                 \
    "a single value):\n"                                                                           \
    "  -f, --file FILE           a JSON SignalDetails ('-': stdin); 'lanternctl signal\n"          \
    "                            template' prints one to fill in, with comments\n"                 \
    "      --municipality CODE   CBS code where it was observed, e.g. GM0983 (Venlo)\n"            \
    "      --observed DATE       when: YYYY-MM-DD or day first D-M-YYYY, D/M/YYYY,\n"              \
    "                            D.M.YYYY (2026-05-01 = 1-5-2026); not in the future\n"            \
    "      --form FORM           sexual, labour, criminal, organ_removal, unknown\n"               \
    "                            (repeatable; any case)\n"                                         \
    "      --sector SECTOR       labour sector: transport, agriculture, horticulture,\n"           \
    "                            logistics, construction, hospitality, cleaning,\n"                \
    "                            domestic_work, meat_processing, retail, manufacturing,\n"         \
    "                            other\n"                                                          \
    "      --indicator CODE      an indicator of the catalogue (repeatable)\n"                     \
    "      --immediate-danger    someone is in immediate danger\n"                                 \
    "      --minor               a minor is involved\n"                                            \
    "      --person SPEC         a person (repeatable), SPEC = KEY=VALUE,... with keys\n"          \
    "                            role (victim, perpetrator, witness), name, dob,\n"                \
    "                            nationality, bsn, document, phone, description\n"                 \
    "      --address SPEC        an address (repeatable): street, number, postcode,\n"             \
    "                            city, country, description\n"                                     \
    "      --vehicle SPEC        a vehicle (repeatable): plate, country, description\n"            \
    "      --employer SPEC       an employer (repeatable): name, kvk, address\n"                   \
    "      --account TEXT        the account, in free text\n"                                      \
    "      --account-file FILE   the account from a file ('-': stdin)\n"

#define HELP_SPEC                                                                                  \
    "In a SPEC, write a comma inside a value as \\, and a backslash before a comma\n"              \
    "as \\\\ (e.g. --person 'name=Kowalska\\, Anna,role=victim').\n"                               \
    "\n"                                                                                           \
    "Dates in the future are refused, by the node's clock in the earliest time zone\n"             \
    "on Earth (UTC+14): a date that is already today anywhere passes.  So today's\n"               \
    "date always passes, and in the Netherlands tomorrow's from 11:00 (12:00 in\n"                 \
    "summer) on; the node cannot know the time zone of whoever typed the date.\n"

#define HELP_REPORTER                                                                              \
    "      --reporter-role ROLE  who shared it: municipal_staff, citizen, employer,\n"             \
    "                            school, healthcare, police, labour_inspectorate,\n"               \
    "                            care_provider, hotline, victim, other\n"                          \
    "      --reporter-organisation TEXT   the reporter's organisation\n"                           \
    "      --reporter-contact TEXT        how to reach the reporter\n"

#define HELP_EXIT LANTERNCTL_EXIT_HELP

static void
s_usage (FILE *out)
{
    fprintf (out, "usage: lanternctl signal SUBCOMMAND [ARGS...] [options]\n"
                  "\n"
                  "Register and follow signals at an intake node.\n"
                  "\n"
                  "subcommands:\n"
                  "  submit       register a new signal\n"
                  "  amend ID     add information to a signal (nothing is ever removed)\n"
                  "  withdraw ID  withdraw a signal, with a reason\n"
                  "  show ID      a signal in full: details, persons, history\n"
                  "  list         the signals of your organisation, newest first\n"
                  "  template     print a commented JSON signal to fill in for --file\n"
                  "\n"
                  "'lanternctl signal SUBCOMMAND --help' lists its flags.  Every subcommand\n"
                  "takes --json (the reply as JSON) and the connection options:\n"
                  "\n" LANTERNCTL_CONN_HELP "\n" HELP_EXIT "\n"
                  "examples:\n"
                  "  lanternctl signal submit --reporter-role municipal_staff \\\n"
                  "      --observed 2026-05-01 --municipality GM0983 --form labour \\\n"
                  "      --person 'role=victim,name=Anna K,dob=1-2-1990,nationality=PL'\n"
                  "  lanternctl signal list --status received --all\n"
                  "  lanternctl signal show sig-01hzx3k9q4m2n7p5r8s6t0v1w2\n"
                  "  lanternctl signal template > signal.json   # fill it in, then --file\n");
}

static void
s_usage_submit (FILE *out)
{
    fprintf (out,
             "usage: lanternctl signal submit [DETAILS] [--file FILE] [options]\n"
             "\n"
             "Register a new signal and print its id.  Give the details as flags, as a\n"
             "JSON file, or both.  --dry-run prints the details as JSON instead of\n"
             "sending them, in the form --file takes back.\n"
             "\n"
             "In --file, enum values may be written as the flags write them (labour,\n"
             "agriculture, municipal_staff, victim) or in full (EXPLOITATION_FORM_LABOUR),\n"
             "lines may end in // comments, an empty value says nothing, and a person,\n"
             "address, vehicle or employer with only empty values is left out.\n"
             "\n" HELP_DETAILS HELP_REPORTER HELP_SPEC "\n"
             "options:\n"
             "      --dry-run             print the details as JSON (for --file); send "
             "nothing\n" HELP_REQUEST_ID HELP_COMMON "\n" LANTERNCTL_CONN_HELP "\n" HELP_EXIT "\n"
             "example:\n"
             "  lanternctl signal submit --municipality GM0983 --observed 2026-05-01 \\\n"
             "      --form labour --sector agriculture --indicator ILO_DEBT_BONDAGE \\\n"
             "      --person 'role=victim,name=Anna K,dob=1-2-1990,nationality=PL' \\\n"
             "      --address 'street=Markt,number=1,postcode=5911 AB,city=Venlo' \\\n"
             "      --reporter-role citizen --account 'Works nights in the greenhouse.'\n"
             "  -> signal sig-... received (version 1, catalogue ..., event ...)\n");
}

static void
s_usage_amend (FILE *out)
{
    fprintf (out,
             "usage: lanternctl signal amend ID [DETAILS] [--file FILE] [options]\n"
             "\n"
             "Add information to signal ID.  Persons, addresses, vehicles, employers,\n"
             "indicators and forms are added; the account text is added as a dated\n"
             "addendum; urgency flags can only be raised; the sector can be set when\n"
             "none was.  Nothing is removed; the reporter, the municipality and the\n"
             "date observed cannot be changed.\n"
             "\n" HELP_DETAILS HELP_SPEC "\n"
             "options:\n"
             "      --dry-run             print the details to add as JSON (for --file); send\n"
             "                            nothing\n" HELP_REQUEST_ID HELP_COMMON
             "\n" LANTERNCTL_CONN_HELP "\n" HELP_EXIT "\n"
             "example:\n"
             "  lanternctl signal amend sig-01hzx3k9q4m2n7p5r8s6t0v1w2 --minor \\\n"
             "      --vehicle 'plate=AB-123-C,description=white van'\n");
}

static void
s_usage_withdraw (FILE *out)
{
    fprintf (out, "usage: lanternctl signal withdraw ID --reason TEXT [options]\n"
                  "\n"
                  "Withdraw signal ID.  The reason (1..1000 bytes) is required.\n"
                  "\n"
                  "options:\n"
                  "      --reason TEXT         why it is withdrawn\n" HELP_REQUEST_ID HELP_COMMON
                  "\n" LANTERNCTL_CONN_HELP "\n" HELP_EXIT "\n"
                  "example:\n"
                  "  lanternctl signal withdraw sig-01hzx3k9q4m2n7p5r8s6t0v1w2 \\\n"
                  "      --reason 'entered twice, see sig-01hzx3m...'\n");
}

static void
s_usage_show (FILE *out)
{
    fprintf (out,
             "usage: lanternctl signal show ID [--tokens] [--purpose TEXT] [options]\n"
             "\n"
             "Show signal ID in full: its header (status, version, where, forms,\n"
             "urgency, times in local time), tables of persons, addresses, vehicles,\n"
             "employers and indicators, the account, and its history.  Pseudonym\n"
             "tokens are left out unless --tokens is given (also with --json).  The\n"
             "read is in the node's audit trail, with its purpose when given.\n"
             "\n"
             "options:\n"
             "      --tokens              show the pseudonym tokens too\n"
             "      --purpose TEXT        why you read it (up to 200 bytes), audited\n" HELP_COMMON
             "\n" LANTERNCTL_CONN_HELP "\n" HELP_EXIT "\n"
             "example:\n"
             "  lanternctl signal show sig-01hzx3k9q4m2n7p5r8s6t0v1w2\n");
}

static void
s_usage_list (FILE *out)
{
    fprintf (out,
             "usage: lanternctl signal list [filters] [--limit N] [--page-token T | --all]\n"
             "                              [options]\n"
             "\n"
             "List the signals of your organisation, newest first, one line each:\n"
             "  ID  STATUS  RECEIVED  MUNICIPALITY  FORMS  URGENT  PERSONS  VERSION\n"
             "(no personal data).  One page at a time: when there are more, a line on\n"
             "stderr gives the --page-token of the next page; --all fetches every page.\n"
             "\n"
             "filters:\n"
             "      --status STATUS       received, scheduled, more_information,\n"
             "                            tracks_opened, closed, closed_no_action, withdrawn\n"
             "      --municipality CODE   CBS code, e.g. GM0983\n"
             "      --form FORM           sexual, labour, criminal, organ_removal, unknown\n"
             "      --from DATE           received on or after DATE, in local time: a date\n"
             "                            as submit takes it (YYYY-MM-DD, D-M-YYYY, D/M/YYYY,\n"
             "                            D.M.YYYY), optionally with a time: 'DATE HH:MM[:SS]'\n"
             "                            or DATETHH:MM[:SS]\n"
             "      --to DATE             received before DATE; a date without a time\n"
             "                            includes that whole day\n"
             "\n"
             "options:\n"
             "      --limit N             signals per page, 1..%d (default: the node's, 50)\n"
             "      --page-token T        the page after the one that gave T\n"
             "      --all                 follow the pages to the end\n" HELP_COMMON
             "\n" LANTERNCTL_CONN_HELP "\n" HELP_EXIT "\n"
             "examples:\n"
             "  lanternctl signal list --status received --from 1-5-2026\n"
             "  lanternctl signal list --from '2026-05-01 08:00' --to 2026-12-31 --all --json\n",
             LIST_MAX_PAGE_SIZE);
}

// --------------------------------------------------------------------------
// Arguments

typedef struct {
    const char **items;
    size_t count;
} strv_t;

static void
s_strv_push (strv_t *v, const char *item)
{
    v->items = ln_xrealloc (v->items, v->count + 1, sizeof *v->items);
    v->items[v->count++] = item;
}

static void
s_strv_free (strv_t *v)
{
    free (v->items);
    v->items = NULL;
    v->count = 0;
}

/* Everything the flags of any subcommand say (each subcommand's option
   table admits only its own). */
typedef struct {
    const char *cmd; /* "signal submit", for messages */
    lanternctl_conn_t conn;
    lanternctl_req_t req;
    bool json, dry_run, tokens, all, danger, minor;
    const char *file, *municipality, *observed, *sector, *account, *account_file;
    const char *reporter_role, *reporter_organisation, *reporter_contact;
    const char *reason, *status, *from, *to, *page_token, *purpose;
    long limit; /* 0: the node's default */
    strv_t forms, indicators, persons, addresses, vehicles, employers;
    char **rest; /* positional arguments */
    int n_rest;
} args_t;

static void
s_args_free (args_t *a)
{
    s_strv_free (&a->forms);
    s_strv_free (&a->indicators);
    s_strv_free (&a->persons);
    s_strv_free (&a->addresses);
    s_strv_free (&a->vehicles);
    s_strv_free (&a->employers);
}

#define OPTIONS_COMMON                                                                             \
    {"json", no_argument, NULL, OPT_JSON}, {"help", no_argument, NULL, 'h'},                       \
        LANTERNCTL_REQ_OPTIONS, LANTERNCTL_CONN_OPTIONS

#define OPTIONS_DETAILS                                                                            \
    {"file", required_argument, NULL, 'f'},                                                        \
        {"municipality", required_argument, NULL, OPT_MUNICIPALITY},                               \
        {"observed", required_argument, NULL, OPT_OBSERVED},                                       \
        {"form", required_argument, NULL, OPT_FORM},                                               \
        {"sector", required_argument, NULL, OPT_SECTOR},                                           \
        {"indicator", required_argument, NULL, OPT_INDICATOR},                                     \
        {"immediate-danger", no_argument, NULL, OPT_DANGER},                                       \
        {"minor", no_argument, NULL, OPT_MINOR},                                                   \
        {"reporter-role", required_argument, NULL, OPT_REPORTER_ROLE},                             \
        {"reporter-organisation", required_argument, NULL, OPT_REPORTER_ORGANISATION},             \
        {"reporter-contact", required_argument, NULL, OPT_REPORTER_CONTACT},                       \
        {"person", required_argument, NULL, OPT_PERSON},                                           \
        {"address", required_argument, NULL, OPT_ADDRESS},                                         \
        {"vehicle", required_argument, NULL, OPT_VEHICLE},                                         \
        {"employer", required_argument, NULL, OPT_EMPLOYER},                                       \
        {"account", required_argument, NULL, OPT_ACCOUNT},                                         \
        {"account-file", required_argument, NULL, OPT_ACCOUNT_FILE},                               \
    {                                                                                              \
        "dry-run", no_argument, NULL, OPT_DRY_RUN                                                  \
    }

/* Parse argv (argv[0]: the subcommand) with `options`.  Returns true to go
   on; false when the command is done: *exit_code is 0 after --help (usage
   printed), 2 after a usage error (printed). */
static bool
s_parse (args_t *a, const struct option *options, const char *shortopts, int argc, char **argv,
         void (*usage) (FILE *), int *exit_code)
{
    *exit_code = LANTERNCTL_EXIT_USAGE;
    optind = 0; /* GNU getopt: start afresh */
    opterr = 0;
    int c;
    while ((c = getopt_long (argc, argv, shortopts, options, NULL)) != -1) {
        switch (c) {
        case 'h':
            usage (stdout);
            *exit_code = LANTERNCTL_EXIT_OK;
            return false;
        case ':':
            lanternctl_usage_error (a->cmd, "option '%s' needs a value", argv[optind - 1]);
            return false;
        case '?':
            if (optopt)
                lanternctl_usage_error (a->cmd, "unknown option '-%c'", optopt);
            else
                lanternctl_usage_error (a->cmd, "unknown option '%s'", argv[optind - 1]);
            return false;
        case OPT_JSON:
            a->json = true;
            break;
        case OPT_DRY_RUN:
            a->dry_run = true;
            break;
        case 'f':
            a->file = optarg;
            break;
        case OPT_MUNICIPALITY:
            a->municipality = optarg;
            break;
        case OPT_OBSERVED:
            a->observed = optarg;
            break;
        case OPT_FORM:
            s_strv_push (&a->forms, optarg);
            break;
        case OPT_SECTOR:
            a->sector = optarg;
            break;
        case OPT_INDICATOR:
            s_strv_push (&a->indicators, optarg);
            break;
        case OPT_DANGER:
            a->danger = true;
            break;
        case OPT_MINOR:
            a->minor = true;
            break;
        case OPT_REPORTER_ROLE:
            a->reporter_role = optarg;
            break;
        case OPT_REPORTER_ORGANISATION:
            a->reporter_organisation = optarg;
            break;
        case OPT_REPORTER_CONTACT:
            a->reporter_contact = optarg;
            break;
        case OPT_PERSON:
            s_strv_push (&a->persons, optarg);
            break;
        case OPT_ADDRESS:
            s_strv_push (&a->addresses, optarg);
            break;
        case OPT_VEHICLE:
            s_strv_push (&a->vehicles, optarg);
            break;
        case OPT_EMPLOYER:
            s_strv_push (&a->employers, optarg);
            break;
        case OPT_ACCOUNT:
            a->account = optarg;
            break;
        case OPT_ACCOUNT_FILE:
            a->account_file = optarg;
            break;
        case OPT_REASON:
            a->reason = optarg;
            break;
        case OPT_TOKENS:
            a->tokens = true;
            break;
        case OPT_PURPOSE:
            a->purpose = optarg;
            break;
        case OPT_STATUS:
            a->status = optarg;
            break;
        case OPT_FROM:
            a->from = optarg;
            break;
        case OPT_TO:
            a->to = optarg;
            break;
        case OPT_LIMIT:
            if (!lanternctl_parse_long (optarg, 1, LIST_MAX_PAGE_SIZE, &a->limit)) {
                lanternctl_usage_error (a->cmd, "--limit: not a number in 1..%d",
                                        LIST_MAX_PAGE_SIZE);
                return false;
            }
            break;
        case OPT_PAGE_TOKEN:
            a->page_token = optarg;
            break;
        case OPT_ALL:
            a->all = true;
            break;
        default: {
            int taken = lanternctl_req_option (&a->req, a->cmd, c, optarg);
            if (taken < 0)
                return false;
            if (!taken && !lanternctl_conn_option (&a->conn, c, optarg)) {
                lanternctl_usage_error (a->cmd, "unknown option '%s'", argv[optind - 1]);
                return false;
            }
            break;
        }
        }
    }
    a->rest = argv + optind;
    a->n_rest = argc - optind;
    return true;
}

/* The one ID argument of amend, withdraw and show. */
static const char *
s_the_id (const args_t *a)
{
    if (a->n_rest < 1) {
        lanternctl_usage_error (a->cmd, "missing ID (the signal's id, sig-...)");
        return NULL;
    }
    if (a->n_rest > 1) {
        lanternctl_usage_error (a->cmd, "unexpected argument '%s'", a->rest[1]);
        return NULL;
    }
    if (!a->rest[0][0]) {
        lanternctl_usage_error (a->cmd, "the ID is empty");
        return NULL;
    }
    return a->rest[0];
}

static bool
s_no_arguments (const args_t *a)
{
    if (a->n_rest > 0) {
        lanternctl_usage_error (a->cmd, "unexpected argument '%s'", a->rest[0]);
        return false;
    }
    return true;
}

// --------------------------------------------------------------------------
// Enums by name: "labour", "LABOUR", "EXPLOITATION_FORM_LABOUR", "domestic-work"

static bool
s_same_name (const char *name, const char *text)
{
    for (; *name && *text; name++, text++) {
        char t = *text == '-' ? '_' : *text;
        if (t >= 'a' && t <= 'z')
            t = (char)(t - 'a' + 'A');
        if (t != *name)
            return false;
    }
    return *name == '\0' && *text == '\0';
}

/* The value `text` names: its name without `prefix`, or its full name, in
   any case, '-' for '_'.  UNSPECIFIED (0) is not a choice.  NULL if none. */
static const ProtobufCEnumValue *
s_enum_find (const ProtobufCEnumDescriptor *d, const char *prefix, const char *text)
{
    size_t n = strlen (prefix);
    for (unsigned i = 0; i < d->n_values; i++) {
        const ProtobufCEnumValue *v = &d->values[i];
        if (v->value == 0)
            continue;
        if (s_same_name (v->name, text) ||
            (strncmp (v->name, prefix, n) == 0 && s_same_name (v->name + n, text)))
            return v;
    }
    return NULL;
}

/* A value's name for people: lower case, without the prefix ("labour");
   the number when the enum does not define it. */
static const char *
s_enum_label (const ProtobufCEnumDescriptor *d, const char *prefix, int value, char *buf,
              size_t size)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value (d, value);
    if (!v) {
        snprintf (buf, size, "%d", value);
        return buf;
    }
    const char *name = v->name;
    size_t n = strlen (prefix);
    if (strncmp (name, prefix, n) == 0)
        name += n;
    size_t i = 0;
    for (; name[i] && i + 1 < size; i++)
        buf[i] = name[i] >= 'A' && name[i] <= 'Z' ? (char)(name[i] - 'A' + 'a') : name[i];
    buf[i] = '\0';
    return buf;
}

/* "sexual, labour, ..." for a usage error. */
static const char *
s_enum_choices (const ProtobufCEnumDescriptor *d, const char *prefix, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < d->n_values; i++) {
        if (d->values[i].value == 0)
            continue;
        char label[64];
        s_enum_label (d, prefix, d->values[i].value, label, sizeof label);
        int n = snprintf (buf + used, size - used, "%s%s", used ? ", " : "", label);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    return buf;
}

/* The enum's full value name for `text`, or NULL after a usage error that
   names the flag and the choices. */
static const char *
s_enum_name (const args_t *a, const char *flag, const ProtobufCEnumDescriptor *d,
             const char *prefix, const char *text)
{
    const ProtobufCEnumValue *v = s_enum_find (d, prefix, text);
    if (v)
        return v->name;
    char choices[ENUM_CHOICES_MAX];
    lanternctl_usage_error (a->cmd, "%s: unknown value '%s' (one of: %s)", flag, text,
                            s_enum_choices (d, prefix, choices, sizeof choices));
    return NULL;
}

// --------------------------------------------------------------------------
// KEY=VALUE,... specs of --person, --address, --vehicle, --employer

typedef struct {
    const char *key;   /* as typed */
    const char *field; /* the .proto field */
} spec_key_t;

static const spec_key_t s_person_keys[] = {
    {"role", "role"},
    {"name", "name"},
    {"dob", "date_of_birth"},
    {"born", "date_of_birth"},
    {"date_of_birth", "date_of_birth"},
    {"nationality", "nationality"},
    {"bsn", "bsn"},
    {"document", "document_number"},
    {"document_number", "document_number"},
    {"phone", "phone"},
    {"description", "description"},
    {NULL, NULL},
};
static const spec_key_t s_address_keys[] = {
    {"street", "street"},
    {"number", "house_number"},
    {"house_number", "house_number"},
    {"postcode", "postcode"},
    {"city", "city"},
    {"country", "country"},
    {"description", "description"},
    {NULL, NULL},
};
static const spec_key_t s_vehicle_keys[] = {
    {"plate", "licence_plate"},
    {"licence_plate", "licence_plate"},
    {"country", "country"},
    {"description", "description"},
    {NULL, NULL},
};
static const spec_key_t s_employer_keys[] = {
    {"name", "name"},       {"kvk", "kvk_number"}, {"kvk_number", "kvk_number"},
    {"address", "address"}, {NULL, NULL},
};

/* "role, name, dob, ..." (the short keys: the first of each field). */
static const char *
s_spec_key_list (const spec_key_t *keys, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; keys[i].key; i++) {
        bool first = true;
        for (size_t k = 0; k < i; k++)
            if (strcmp (keys[k].field, keys[i].field) == 0)
                first = false;
        if (!first)
            continue;
        int n = snprintf (buf + used, size - used, "%s%s", used ? ", " : "", keys[i].key);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    return buf;
}

/* One item of a spec ("name=Anna K") into obj, with the key trimmed of
   spaces.  Returns 0, or -1 after a usage error. */
static int
s_spec_item (const args_t *a, const char *flag, const spec_key_t *keys, char *item,
             json_object *obj)
{
    char *eq = strchr (item, '=');
    if (!eq) {
        lanternctl_usage_error (a->cmd, "%s: '%s' is not KEY=VALUE", flag, item);
        return -1;
    }
    *eq = '\0';
    char *key = item;
    while (*key == ' ')
        key++;
    for (char *end = eq; end > key && end[-1] == ' ';)
        *--end = '\0';
    const spec_key_t *k = keys;
    while (k->key && strcmp (k->key, key) != 0)
        k++;
    if (!k->key) {
        char list[256];
        lanternctl_usage_error (a->cmd, "%s: unknown key '%s' (keys: %s)", flag, key,
                                s_spec_key_list (keys, list, sizeof list));
        return -1;
    }
    if (json_object_object_get_ex (obj, k->field, NULL)) {
        lanternctl_usage_error (a->cmd, "%s: '%s' given twice", flag, key);
        return -1;
    }
    json_object_object_add (obj, k->field, json_object_new_string (eq + 1));
    return 0;
}

/* Parse "k=v,k=v" (a comma in a value written "\,", a backslash before a
   comma "\\"; any other backslash is itself) into a new object of .proto
   field names.  NULL after a usage error. */
static json_object *
s_spec_parse (const args_t *a, const char *flag, const spec_key_t *keys, const char *spec)
{
    json_object *obj = json_object_new_object ();
    char *item = malloc (strlen (spec) + 1);
    if (!item)
        abort ();
    size_t n = 0;
    for (const char *p = spec;; p++) {
        if (*p == '\\' && (p[1] == ',' || p[1] == '\\')) {
            item[n++] = *++p;
            continue;
        }
        if (*p != ',' && *p != '\0') {
            item[n++] = *p;
            continue;
        }
        item[n] = '\0';
        /* empty items (",," or a trailing comma) say nothing */
        if (strspn (item, " ") < n && s_spec_item (a, flag, keys, item, obj) != 0) {
            json_object_put (obj);
            obj = NULL;
            break;
        }
        n = 0;
        if (*p == '\0')
            break;
    }
    free (item);
    if (obj && json_object_object_length (obj) == 0) {
        lanternctl_usage_error (a->cmd, "%s: empty (give KEY=VALUE,...)", flag);
        json_object_put (obj);
        obj = NULL;
    }
    return obj;
}

// --------------------------------------------------------------------------
// Building SignalDetails from --file and the flags

/* Put value under `name`, after removing `name` and its lowerCamelCase
   JSON name, so a flag overrides what the file said under either. */
static void
s_put (json_object *obj, const char *name, json_object *value)
{
    char camel[64];
    json_object_object_del (obj, name);
    if (ln_json_name (name, camel, sizeof camel) == 0)
        json_object_object_del (obj, camel);
    json_object_object_add (obj, name, value);
}

/* The value under `name` or its JSON name (borrowed), or NULL. */
static json_object *
s_get (json_object *obj, const char *name)
{
    char camel[64];
    json_object *v = NULL;
    if (json_object_object_get_ex (obj, name, &v) && v)
        return v;
    if (ln_json_name (name, camel, sizeof camel) == 0 &&
        json_object_object_get_ex (obj, camel, &v) && v)
        return v;
    return NULL;
}

/* The container of type `type` under `name` (made when missing), to add
   to; NULL after a usage error when the file holds something else there. */
static json_object *
s_container (const args_t *a, json_object *obj, const char *prefix, const char *name,
             json_type type)
{
    json_object *v = s_get (obj, name);
    if (v && json_object_is_type (v, type))
        return v;
    if (v) {
        lanternctl_usage_error (a->cmd, "--file: %s.%s is not an %s", prefix, name,
                                type == json_type_array ? "array" : "object");
        return NULL;
    }
    v = type == json_type_array ? json_object_new_array () : json_object_new_object ();
    s_put (obj, name, v);
    return v;
}

/* Add each spec of `specs` as an object to the array `name`.  For persons,
   the role is turned into its enum name.  Returns 0 or -1 (usage error). */
static int
s_add_specs (const args_t *a, json_object *details, const char *prefix, const char *name,
             const char *flag, const spec_key_t *keys, const strv_t *specs)
{
    if (specs->count == 0)
        return 0;
    json_object *array = s_container (a, details, prefix, name, json_type_array);
    if (!array)
        return -1;
    for (size_t i = 0; i < specs->count; i++) {
        json_object *item = s_spec_parse (a, flag, keys, specs->items[i]);
        if (!item)
            return -1;
        json_object *role = NULL;
        if (keys == s_person_keys && json_object_object_get_ex (item, "role", &role)) {
            /* the words people use for the two "possible" roles */
            const char *text = json_object_get_string (role);
            if (strcasecmp (text, "victim") == 0)
                text = "possible_victim";
            else if (strcasecmp (text, "perpetrator") == 0 || strcasecmp (text, "suspect") == 0)
                text = "possible_perpetrator";
            const ProtobufCEnumValue *v =
                s_enum_find (&lantern__v1__person_role__descriptor, "PERSON_ROLE_", text);
            if (!v) {
                lanternctl_usage_error (a->cmd,
                                        "--person: unknown role '%s' (victim, perpetrator or "
                                        "witness)",
                                        json_object_get_string (role));
                json_object_put (item);
                return -1;
            }
            const char *enum_name = v->name;
            json_object_object_add (item, "role", json_object_new_string (enum_name));
        }
        json_object_array_add (array, item);
    }
    return 0;
}

/* Blank out // comments (to the end of their line) outside JSON strings,
   in place.  Blanks, not removal: the parser's positions stay those of the
   file.  JSON strings cannot hold a raw line break, so a comment is
   recognised by a scan that follows strings and their escapes. */
static void
s_strip_comments (char *text, size_t len)
{
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\' && i + 1 < len)
                i++; /* an escaped character, \" included */
            else if (c == '"' || c == '\n')
                in_string = false;
            continue;
        }
        if (c == '"')
            in_string = true;
        else if (c == '/' && i + 1 < len && text[i + 1] == '/')
            while (i < len && text[i] != '\n')
                text[i++] = ' ';
    }
}

/* The key under which obj holds `name` or its lowerCamelCase JSON name
   (borrowed from obj), or NULL. */
static const char *
s_key_of (json_object *obj, const char *name)
{
    char camel[64];
    json_object_object_foreach (obj, key, value)
    {
        (void)value;
        if (strcmp (key, name) == 0 ||
            (ln_json_name (name, camel, sizeof camel) == 0 && strcmp (key, camel) == 0))
            return key;
    }
    return NULL;
}

/* Nothing said: "", false, 0, null, or an array or object of such. */
static bool
s_json_empty (json_object *v)
{
    switch (json_object_get_type (v)) {
    case json_type_null:
        return true;
    case json_type_string:
        return json_object_get_string_len (v) == 0;
    case json_type_boolean:
        return !json_object_get_boolean (v);
    case json_type_int:
    case json_type_double:
        return json_object_get_double (v) == 0;
    case json_type_array:
        for (size_t i = 0; i < json_object_array_length (v); i++)
            if (!s_json_empty (json_object_array_get_idx (v, i)))
                return false;
        return true;
    case json_type_object: {
        json_object_object_foreach (v, key, value)
        {
            (void)key;
            if (!s_json_empty (value))
                return false;
        }
        return true;
    }
    }
    return false;
}

/* The enum name a file's string stands for: its full name, the flags'
   short one, or for a person's role the words the flags take (victim,
   perpetrator, suspect).  NULL when none. */
static const ProtobufCEnumValue *
s_file_enum (const ProtobufCEnumDescriptor *d, const char *prefix, const char *text)
{
    if (d == &lantern__v1__person_role__descriptor) {
        if (strcasecmp (text, "victim") == 0)
            text = "possible_victim";
        else if (strcasecmp (text, "perpetrator") == 0 || strcasecmp (text, "suspect") == 0)
            text = "possible_perpetrator";
    }
    return s_enum_find (d, prefix, text);
}

/* Rewrite the enum value under `name` in obj (a string) to its full name;
   an empty one is removed (unset).  Returns 0, or -1 after a usage error
   naming the file, the path and the choices. */
static int
s_file_enum_member (const args_t *a, json_object *obj, const char *name, const char *path,
                    const ProtobufCEnumDescriptor *d, const char *prefix)
{
    const char *key = s_key_of (obj, name);
    json_object *v = NULL;
    if (!key || !json_object_object_get_ex (obj, key, &v) ||
        !json_object_is_type (v, json_type_string))
        return 0; /* absent, or not text: ln_json says what is wrong with it */
    const ProtobufCEnumValue *zero = protobuf_c_enum_descriptor_get_value (d, 0);
    if (json_object_get_string_len (v) == 0 ||
        (zero && strcmp (json_object_get_string (v), zero->name) == 0)) {
        json_object_object_del (obj, key); /* unset, as proto3 has it */
        return 0;
    }
    const ProtobufCEnumValue *e = s_file_enum (d, prefix, json_object_get_string (v));
    if (!e) {
        char choices[ENUM_CHOICES_MAX];
        lanternctl_usage_error (a->cmd, "--file %s: %s: unknown value '%s' (one of: %s)", a->file,
                                path, json_object_get_string (v),
                                d == &lantern__v1__person_role__descriptor
                                    ? "victim, perpetrator, witness"
                                    : s_enum_choices (d, prefix, choices, sizeof choices));
        return -1;
    }
    json_object_object_add (obj, key, json_object_new_string (e->name));
    return 0;
}

/* Drop the empty elements of the list `name` ("" codes, entities with
   only empty values). */
static void
s_file_drop_empty (json_object *details, const char *name)
{
    const char *key = s_key_of (details, name);
    json_object *list = NULL;
    if (!key || !json_object_object_get_ex (details, key, &list) ||
        !json_object_is_type (list, json_type_array))
        return;
    for (size_t i = json_object_array_length (list); i-- > 0;)
        if (s_json_empty (json_object_array_get_idx (list, i)))
            json_object_array_del_idx (list, i, 1);
}

/* The file's details in the flags' words (see the header comment): empty
   entries dropped, enum values in full.  Returns 0 or -1 (usage error). */
static int
s_file_tidy (const args_t *a, json_object *details, const char *prefix)
{
    static const char *const lists[] = {"forms",     "indicators", "persons",
                                        "addresses", "vehicles",   "employers"};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        s_file_drop_empty (details, lists[i]);

    char path[128];
    json_object *v = NULL;
    const char *key = s_key_of (details, "forms");
    if (key && json_object_object_get_ex (details, key, &v) &&
        json_object_is_type (v, json_type_array))
        for (size_t i = 0; i < json_object_array_length (v); i++) {
            /* an array element: wrap it to reuse the member rewrite */
            json_object *holder = json_object_new_object ();
            json_object_object_add (holder, "form",
                                    json_object_get (json_object_array_get_idx (v, i)));
            snprintf (path, sizeof path, "%s.forms[%zu]", prefix, i);
            int rc = s_file_enum_member (a, holder, "form", path,
                                         &lantern__v1__exploitation_form__descriptor,
                                         "EXPLOITATION_FORM_");
            json_object *form = NULL;
            if (rc == 0 && json_object_object_get_ex (holder, "form", &form))
                json_object_array_put_idx (v, i, json_object_get (form));
            json_object_put (holder);
            if (rc != 0)
                return -1;
        }
    snprintf (path, sizeof path, "%s.sector", prefix);
    if (s_file_enum_member (a, details, "sector", path, &lantern__v1__labour_sector__descriptor,
                            "LABOUR_SECTOR_") != 0)
        return -1;
    key = s_key_of (details, "reporter");
    if (key && json_object_object_get_ex (details, key, &v) &&
        json_object_is_type (v, json_type_object)) {
        snprintf (path, sizeof path, "%s.reporter.role", prefix);
        if (s_file_enum_member (a, v, "role", path, &lantern__v1__reporter_role__descriptor,
                                "REPORTER_ROLE_") != 0)
            return -1;
        if (s_json_empty (v))
            json_object_object_del (details, key);
    }
    key = s_key_of (details, "persons");
    if (key && json_object_object_get_ex (details, key, &v) &&
        json_object_is_type (v, json_type_array))
        for (size_t i = 0; i < json_object_array_length (v); i++) {
            json_object *person = json_object_array_get_idx (v, i);
            if (!json_object_is_type (person, json_type_object))
                continue;
            snprintf (path, sizeof path, "%s.persons[%zu].role", prefix, i);
            if (s_file_enum_member (a, person, "role", path, &lantern__v1__person_role__descriptor,
                                    "PERSON_ROLE_") != 0)
                return -1;
        }
    return 0;
}

/* The municipality of the details, checked against the node's own list
   (intake_municipality), so that a former code is explained before
   anything is sent.  Returns 0, or -1 after a usage error naming where
   the code came from. */
static int
s_check_municipality (const args_t *a, json_object *details, const char *prefix)
{
    json_object *v = s_get (details, "municipality");
    if (!v || !json_object_is_type (v, json_type_string) || json_object_get_string_len (v) == 0)
        return 0; /* absent: the node says it is missing */
    char why[INTAKE_MUNICIPALITY_MESSAGE_MAX];
    const char *code = intake_municipality_explain (json_object_get_string (v), why, sizeof why);
    if (!code)
        return 0;
    if (a->municipality)
        lanternctl_usage_error (a->cmd, "--municipality: %s: %s", code, why);
    else
        lanternctl_usage_error (a->cmd, "--file %s: %s.municipality: %s: %s", a->file, prefix, code,
                                why);
    return -1;
}

/* Read a file ('-': stdin) as text for --account-file. */
static json_object *
s_account_from_file (const args_t *a)
{
    size_t len = 0;
    char *text =
        lanternctl_read_file (a->cmd, a->account_file, ln_json_default_limits.max_size, &len);
    if (!text)
        return NULL;
    /* json-c keeps the length: a NUL inside is refused later (PB_INVALID_UTF8) */
    json_object *s = json_object_new_string_len (text, (int)len);
    free (text);
    return s;
}

/* The details the file and the flags give, as a SignalDetails (the caller
   frees it with protobuf_c_message_free_unpacked), or NULL after saying
   why, with *exit_code: LANTERNCTL_EXIT_USAGE, or LANTERNCTL_EXIT_LOCAL
   when a file cannot be read.  `prefix` starts error paths: "details" or
   "added". */
static ProtobufCMessage *
s_build_details (const args_t *a, const char *prefix, int *exit_code)
{
    ProtobufCMessage *msg = NULL;
    json_object *details = NULL;
    char *text = NULL;
    ln_error_t err;
    ln_error_clear (&err);
    *exit_code = LANTERNCTL_EXIT_USAGE;

    if (a->file && a->account_file && strcmp (a->file, "-") == 0 &&
        strcmp (a->account_file, "-") == 0) {
        lanternctl_usage_error (a->cmd, "--file and --account-file cannot both read stdin");
        goto out;
    }
    if (a->account && a->account_file) {
        lanternctl_usage_error (a->cmd, "give --account or --account-file, not both");
        goto out;
    }
    if (a->file) {
        size_t len = 0;
        text = lanternctl_read_file (a->cmd, a->file, ln_json_default_limits.max_size, &len);
        if (!text) {
            *exit_code = LANTERNCTL_EXIT_LOCAL;
            goto out;
        }
        s_strip_comments (text, len);
        details = ln_json_parse (text, len, NULL, prefix, &err);
        if (!details || !json_object_is_type (details, json_type_object)) {
            if (err.code)
                lanternctl_usage_error (a->cmd, "--file %s: %s: %s", a->file, err.code,
                                        err.message);
            else
                lanternctl_usage_error (a->cmd,
                                        "--file %s: not a JSON object (a SignalDetails, "
                                        "proto/lantern.proto)",
                                        a->file);
            goto out;
        }
        if (s_file_tidy (a, details, prefix) != 0)
            goto out;
    }
    else
        details = json_object_new_object ();

    if (a->municipality)
        s_put (details, "municipality", json_object_new_string (a->municipality));
    if (a->observed)
        s_put (details, "observed_on", json_object_new_string (a->observed));
    if (a->forms.count) {
        json_object *forms = s_container (a, details, prefix, "forms", json_type_array);
        if (!forms)
            goto out;
        for (size_t i = 0; i < a->forms.count; i++) {
            const char *name =
                s_enum_name (a, "--form", &lantern__v1__exploitation_form__descriptor,
                             "EXPLOITATION_FORM_", a->forms.items[i]);
            if (!name)
                goto out;
            json_object_array_add (forms, json_object_new_string (name));
        }
    }
    if (a->sector) {
        const char *name = s_enum_name (a, "--sector", &lantern__v1__labour_sector__descriptor,
                                        "LABOUR_SECTOR_", a->sector);
        if (!name)
            goto out;
        s_put (details, "sector", json_object_new_string (name));
    }
    if (a->indicators.count) {
        json_object *codes = s_container (a, details, prefix, "indicators", json_type_array);
        if (!codes)
            goto out;
        for (size_t i = 0; i < a->indicators.count; i++)
            json_object_array_add (codes, json_object_new_string (a->indicators.items[i]));
    }
    if (a->danger)
        s_put (details, "immediate_danger", json_object_new_boolean (1));
    if (a->minor)
        s_put (details, "minor_involved", json_object_new_boolean (1));
    if (a->reporter_role || a->reporter_organisation || a->reporter_contact) {
        json_object *reporter = s_container (a, details, prefix, "reporter", json_type_object);
        if (!reporter)
            goto out;
        if (a->reporter_role) {
            const char *name =
                s_enum_name (a, "--reporter-role", &lantern__v1__reporter_role__descriptor,
                             "REPORTER_ROLE_", a->reporter_role);
            if (!name)
                goto out;
            s_put (reporter, "role", json_object_new_string (name));
        }
        if (a->reporter_organisation)
            s_put (reporter, "organisation", json_object_new_string (a->reporter_organisation));
        if (a->reporter_contact)
            s_put (reporter, "contact", json_object_new_string (a->reporter_contact));
    }
    if (s_add_specs (a, details, prefix, "persons", "--person", s_person_keys, &a->persons) ||
        s_add_specs (a, details, prefix, "addresses", "--address", s_address_keys, &a->addresses) ||
        s_add_specs (a, details, prefix, "vehicles", "--vehicle", s_vehicle_keys, &a->vehicles) ||
        s_add_specs (a, details, prefix, "employers", "--employer", s_employer_keys, &a->employers))
        goto out;
    if (a->account)
        s_put (details, "account", json_object_new_string (a->account));
    if (a->account_file) {
        json_object *account = s_account_from_file (a);
        if (!account) {
            *exit_code = LANTERNCTL_EXIT_LOCAL;
            goto out;
        }
        s_put (details, "account", account);
    }
    if (s_check_municipality (a, details, prefix) != 0)
        goto out;

    /* Every check the node makes on the bytes, before anything is sent. */
    msg = ln_json_object_to_message (&lantern__v1__signal_details__descriptor, details,
                                     &lanternctl_json_limits, prefix, &err);
    if (!msg)
        lanternctl_usage_error (a->cmd, "%s: %s%s%s", err.code, err.field, err.field[0] ? ": " : "",
                                err.message);
out:
    json_object_put (details);
    free (text);
    return msg;
}

// --------------------------------------------------------------------------
// Talking to the node

/* Send the request and sort the outcome.  Returns LANTERNCTL_EXIT_OK with
   *answer holding a reply whose result is `expect`; otherwise the exit
   code, the reason printed: 1 a refusal or a reply without the result, 3
   no reply or UNAVAILABLE. */
static int
s_exchange (const args_t *a, ln_client_t *client, Lantern__V1__Request *request,
            Lantern__V1__Reply__ResultCase expect, Lantern__V1__ServerMessage **answer)
{
    if (lanternctl_request (client, a->cmd, &a->req, request, answer) != 0)
        return LANTERNCTL_EXIT_UNAVAILABLE;
    const Lantern__V1__Reply *reply = (*answer)->reply;
    const Lantern__V1__Error *e = reply->error;
    if (reply->status != LANTERN__V1__REPLY__STATUS__OK) {
        if (e && strcmp (e->code, "UNAVAILABLE") == 0) {
            fprintf (stderr,
                     "lanternctl: %s: the node is unavailable (%s); nothing changed: try "
                     "again later\n",
                     a->cmd, e->message[0] ? e->message : "it could not commit");
            return LANTERNCTL_EXIT_UNAVAILABLE;
        }
        lanternctl_print_refusal ("signal refused", e);
        return LANTERNCTL_EXIT_FAIL;
    }
    if (reply->result_case != expect) {
        fprintf (stderr,
                 "lanternctl: %s: the node's reply carries no result for this command (is "
                 "%s an intake node?)\n",
                 a->cmd, lanternctl_conn_endpoint ());
        return LANTERNCTL_EXIT_FAIL;
    }
    return LANTERNCTL_EXIT_OK;
}

static int
s_flush (const args_t *a)
{
    if (fflush (stdout) != 0 || ferror (stdout)) {
        fprintf (stderr, "lanternctl: %s: cannot write the output: %s\n", a->cmd, strerror (errno));
        return LANTERNCTL_EXIT_LOCAL;
    }
    return LANTERNCTL_EXIT_OK;
}

/* What submit, amend and withdraw print: one line, or the reply as JSON. */
static int
s_print_accepted (const args_t *a, const Lantern__V1__SignalAccepted *acc, const char *verb)
{
    if (a->json)
        return lanternctl_print_json (a->cmd, &acc->base, true) == 0 ? LANTERNCTL_EXIT_OK
                                                                     : LANTERNCTL_EXIT_LOCAL;
    printf ("signal %s %s (version %" PRIu32, acc->signal_id, verb, acc->version);
    if (acc->catalogue_version[0])
        printf (", catalogue %s", acc->catalogue_version);
    if (acc->event_id[0])
        printf (", event %s", acc->event_id);
    printf (")\n");
    return s_flush (a);
}

/* Remove, at any depth, the members that say nothing: "", false, 0, [],
   {}, and an enum's zero value (its name ends in _UNSPECIFIED).  Elements
   of lists stay (a person is a person), emptied of their own blanks. */
static void
s_prune_json (json_object *obj)
{
    if (json_object_is_type (obj, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length (obj); i++)
            s_prune_json (json_object_array_get_idx (obj, i));
        return;
    }
    if (!json_object_is_type (obj, json_type_object))
        return;
    const char *drop[64];
    size_t n = 0;
    json_object_object_foreach (obj, key, value)
    {
        s_prune_json (value);
        const char *text =
            json_object_is_type (value, json_type_string) ? json_object_get_string (value) : "";
        size_t len = strlen (text);
        bool unspecified = len > 12 && strcmp (text + len - 12, "_UNSPECIFIED") == 0;
        if ((s_json_empty (value) || unspecified) && n < sizeof drop / sizeof drop[0])
            drop[n++] = key;
    }
    for (size_t i = 0; i < n; i++)
        json_object_object_del (obj, drop[i]);
}

/* --dry-run: the details as JSON, without what says nothing, in the form
   --file takes back (the round trip is tested); nothing is sent. */
static int
s_print_dry_run (const args_t *a, const ProtobufCMessage *details)
{
    json_object *json = ln_json_object_from_message (details);
    if (!json) {
        fprintf (stderr, "lanternctl: %s: cannot print the details as JSON\n", a->cmd);
        return LANTERNCTL_EXIT_LOCAL;
    }
    s_prune_json (json);
    int rc = lanternctl_print_json_object (a->cmd, json, true) == 0 ? LANTERNCTL_EXIT_OK
                                                                    : LANTERNCTL_EXIT_LOCAL;
    json_object_put (json);
    return rc;
}

/* Send a change (submit, amend, withdraw) and print what the node accepted.  `command` is the
   Request's oneof member for `command_case`; the members share one union, and so do the three
   SignalAccepted results. */
static int
s_send_change (args_t *a, ProtobufCMessage *command, Lantern__V1__Request__CommandCase command_case,
               Lantern__V1__Reply__ResultCase expect, const char *verb)
{
    int rc = LANTERNCTL_EXIT_FAIL;
    Lantern__V1__ServerMessage *answer = NULL;
    ln_client_t *client = lanternctl_connect (&a->conn, a->cmd, &rc);
    if (!client)
        return rc;
    Lantern__V1__Request request = LANTERN__V1__REQUEST__INIT;
    request.command_case = command_case;
    request.submit_signal = (Lantern__V1__SubmitSignal *)command;
    rc = s_exchange (a, client, &request, expect, &answer);
    if (rc == LANTERNCTL_EXIT_OK)
        rc = s_print_accepted (a, answer->reply->submit_signal, verb);
    if (answer)
        lantern__v1__server_message__free_unpacked (answer, NULL);
    ln_client_destroy (&client);
    return rc;
}

// --------------------------------------------------------------------------
// submit, amend, withdraw

static int
s_submit (int argc, char **argv)
{
    static const struct option options[] = {OPTIONS_DETAILS, OPTIONS_COMMON, {NULL, 0, NULL, 0}};
    args_t a = {.cmd = "signal submit", .req = LANTERNCTL_REQ_DEFAULTS};
    int rc = LANTERNCTL_EXIT_USAGE;
    ProtobufCMessage *details = NULL;
    a.req.changes = true;

    if (!s_parse (&a, options, ":f:h", argc, argv, s_usage_submit, &rc) || !s_no_arguments (&a))
        goto out;
    details = s_build_details (&a, "details", &rc);
    if (!details)
        goto out;

    if (a.dry_run) {
        rc = s_print_dry_run (&a, details);
        goto out;
    }
    Lantern__V1__SubmitSignal submit = LANTERN__V1__SUBMIT_SIGNAL__INIT;
    submit.details = (Lantern__V1__SignalDetails *)details;
    rc = s_send_change (&a, &submit.base, LANTERN__V1__REQUEST__COMMAND_SUBMIT_SIGNAL,
                        LANTERN__V1__REPLY__RESULT_SUBMIT_SIGNAL, "received");
out:
    if (details)
        protobuf_c_message_free_unpacked (details, NULL);
    s_args_free (&a);
    return rc;
}

static int
s_amend (int argc, char **argv)
{
    static const struct option options[] = {OPTIONS_DETAILS, OPTIONS_COMMON, {NULL, 0, NULL, 0}};
    args_t a = {.cmd = "signal amend", .req = LANTERNCTL_REQ_DEFAULTS};
    int rc = LANTERNCTL_EXIT_USAGE;
    ProtobufCMessage *added = NULL;
    a.req.changes = true;

    if (!s_parse (&a, options, ":f:h", argc, argv, s_usage_amend, &rc))
        goto out;
    const char *id = s_the_id (&a);
    if (!id)
        goto out;
    if (a.reporter_role || a.reporter_organisation || a.reporter_contact) {
        lanternctl_usage_error (a.cmd, "the reporter of a signal cannot be changed");
        goto out;
    }
    added = s_build_details (&a, "added", &rc);
    if (!added)
        goto out;

    if (a.dry_run) {
        rc = s_print_dry_run (&a, added);
        goto out;
    }
    Lantern__V1__AmendSignal amend = LANTERN__V1__AMEND_SIGNAL__INIT;
    amend.signal_id = (char *)id;
    amend.added = (Lantern__V1__SignalDetails *)added;
    rc = s_send_change (&a, &amend.base, LANTERN__V1__REQUEST__COMMAND_AMEND_SIGNAL,
                        LANTERN__V1__REPLY__RESULT_AMEND_SIGNAL, "amended");
out:
    if (added)
        protobuf_c_message_free_unpacked (added, NULL);
    s_args_free (&a);
    return rc;
}

static int
s_withdraw (int argc, char **argv)
{
    static const struct option options[] = {
        {"reason", required_argument, NULL, OPT_REASON}, OPTIONS_COMMON, {NULL, 0, NULL, 0}};
    args_t a = {.cmd = "signal withdraw", .req = LANTERNCTL_REQ_DEFAULTS};
    int rc = LANTERNCTL_EXIT_USAGE;
    a.req.changes = true;

    if (!s_parse (&a, options, ":h", argc, argv, s_usage_withdraw, &rc))
        goto out;
    const char *id = s_the_id (&a);
    if (!id)
        goto out;
    if (!a.reason || !a.reason[0]) {
        lanternctl_usage_error (a.cmd, "missing --reason TEXT (why the signal is withdrawn)");
        goto out;
    }
    Lantern__V1__WithdrawSignal withdraw = LANTERN__V1__WITHDRAW_SIGNAL__INIT;
    withdraw.signal_id = (char *)id;
    withdraw.reason = (char *)a.reason;
    rc = s_send_change (&a, &withdraw.base, LANTERN__V1__REQUEST__COMMAND_WITHDRAW_SIGNAL,
                        LANTERN__V1__REPLY__RESULT_WITHDRAW_SIGNAL, "withdrawn");
out:
    s_args_free (&a);
    return rc;
}

// --------------------------------------------------------------------------
// Printing for people

/* Microseconds since the epoch as local ISO 8601 with the offset
   ("2026-05-02T10:00:00+02:00"); "-" for 0. */
static const char *
s_local_time (int64_t us, char *buf, size_t size)
{
    time_t secs = (time_t)(us / 1000000);
    struct tm tm;
    if (us <= 0 || !localtime_r (&secs, &tm)) {
        snprintf (buf, size, "-");
        return buf;
    }
    long offset = tm.tm_gmtoff;
    char sign = offset < 0 ? '-' : '+';
    if (offset < 0)
        offset = -offset;
    snprintf (buf, size, "%04d-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld", tm.tm_year + 1900,
              tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, sign, offset / 3600,
              offset % 3600 / 60);
    return buf;
}

/* The forms joined by `sep` ("labour, criminal"). */
static const char *
s_forms (const Lantern__V1__ExploitationForm *forms, size_t n, const char *sep, char *buf,
         size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char label[64];
        s_enum_label (&lantern__v1__exploitation_form__descriptor, "EXPLOITATION_FORM_",
                      (int)forms[i], label, sizeof label);
        int w = snprintf (buf + used, size - used, "%s%s", i ? sep : "", label);
        if (w < 0 || (size_t)w >= size - used)
            break;
        used += (size_t)w;
    }
    return buf;
}

/* One "label  value" line of the header; the value on one line. */
static void
s_header_line (const char *label, const char *value)
{
    printf ("%-13s ", label);
    if (!value || !*value)
        value = "-";
    for (const char *c = value; *c; c++)
        putchar (*c == '\n' || *c == '\r' || *c == '\t' ? ' ' : *c);
    putchar ('\n');
}

/* A table under its title, with an empty line before; nothing when empty. */
static void
s_section (const char *title, lanternctl_table_t *table)
{
    if (lanternctl_table_rows (table) == 0)
        return;
    printf ("\n%s\n", title);
    lanternctl_table_print (table, stdout, "  ");
}

/* The tokens of one entity, as rows of the tokens table. */
static void
s_token_rows (lanternctl_table_t *table, const char *what, size_t index,
              Lantern__V1__Token *const *tokens, size_t n)
{
    char of[64], kind[64];
    snprintf (of, sizeof of, "%s[%zu]", what, index);
    for (size_t i = 0; i < n; i++) {
        s_enum_label (&lantern__v1__identifier_kind__descriptor, "IDENTIFIER_KIND_",
                      (int)tokens[i]->kind, kind, sizeof kind);
        const char *row[] = {of, kind, tokens[i]->token};
        lanternctl_table_add (table, row);
    }
}

static void
s_print_record (const Lantern__V1__SignalRecord *record, bool with_tokens)
{
    static const Lantern__V1__SignalDetails no_details = LANTERN__V1__SIGNAL_DETAILS__INIT;
    const Lantern__V1__Signal *s = record->signal;
    const Lantern__V1__SignalDetails *d = s->details ? s->details : &no_details;
    char buf[512], a[64], b[64];

    s_header_line ("signal", s->id);
    s_header_line ("status", s_enum_label (&lantern__v1__signal_status__descriptor,
                                           "SIGNAL_STATUS_", (int)s->status, a, sizeof a));
    snprintf (buf, sizeof buf, "%" PRIu32, s->version);
    s_header_line ("version", buf);
    snprintf (buf, sizeof buf, "%s (%s, %s)", s->node, s->organisation,
              s_enum_label (&lantern__v1__organisation_type__descriptor, "ORGANISATION_TYPE_",
                            (int)s->organisation_type, a, sizeof a));
    s_header_line ("node", buf);
    s_header_line ("municipality", d->municipality);
    s_header_line ("forms", s_forms (d->forms, d->n_forms, ", ", buf, sizeof buf));
    s_header_line ("sector", d->sector
                                 ? s_enum_label (&lantern__v1__labour_sector__descriptor,
                                                 "LABOUR_SECTOR_", (int)d->sector, a, sizeof a)
                                 : NULL);
    snprintf (buf, sizeof buf, "%s%s%s", d->immediate_danger ? "immediate danger" : "",
              d->immediate_danger && d->minor_involved ? ", " : "",
              d->minor_involved ? "minor involved" : "");
    s_header_line ("urgency", buf);
    s_header_line ("observed", d->observed_on);
    s_header_line ("received", s_local_time (s->received_at_us, a, sizeof a));
    s_header_line ("updated", s_local_time (s->updated_at_us, a, sizeof a));
    s_header_line ("catalogue", s->catalogue_version);
    s_header_line ("submitted by", s->submitted_by);
    buf[0] = '\0';
    if (d->reporter) {
        const Lantern__V1__Reporter *r = d->reporter;
        snprintf (buf, sizeof buf, "%s%s%s%s%s",
                  r->role ? s_enum_label (&lantern__v1__reporter_role__descriptor, "REPORTER_ROLE_",
                                          (int)r->role, a, sizeof a)
                          : "",
                  r->organisation[0] ? ", " : "", r->organisation, r->contact[0] ? ", " : "",
                  r->contact);
    }
    s_header_line ("reporter", buf[0] == ',' ? buf + 2 : buf);

    static const char *const person_cols[] = {"ROLE", "NAME",     "BORN",  "NATIONALITY",
                                              "BSN",  "DOCUMENT", "PHONE", "DESCRIPTION"};
    static const char *const address_cols[] = {"STREET", "NUMBER",  "POSTCODE",
                                               "CITY",   "COUNTRY", "DESCRIPTION"};
    static const char *const vehicle_cols[] = {"PLATE", "COUNTRY", "DESCRIPTION"};
    static const char *const employer_cols[] = {"NAME", "KVK", "ADDRESS"};
    static const char *const indicator_cols[] = {"CODE"};
    static const char *const history_cols[] = {"VERSION", "ACTION", "BY", "AT", "REASON"};
    static const char *const token_cols[] = {"OF", "KIND", "TOKEN"};
    lanternctl_table_t *t = NULL;
    lanternctl_table_t *tokens = lanternctl_table_new (3, token_cols);

    t = lanternctl_table_new (8, person_cols);
    for (size_t i = 0; i < d->n_persons; i++) {
        const Lantern__V1__Person *p = d->persons[i];
        const char *row[] = {p->role ? s_enum_label (&lantern__v1__person_role__descriptor,
                                                     "PERSON_ROLE_", (int)p->role, a, sizeof a)
                                     : NULL,
                             p->name,
                             p->date_of_birth,
                             p->nationality,
                             p->bsn,
                             p->document_number,
                             p->phone,
                             p->description};
        lanternctl_table_add (t, row);
        s_token_rows (tokens, "persons", i, p->tokens, p->n_tokens);
    }
    s_section ("persons", t);
    lanternctl_table_destroy (&t);

    t = lanternctl_table_new (6, address_cols);
    for (size_t i = 0; i < d->n_addresses; i++) {
        const Lantern__V1__Address *x = d->addresses[i];
        const char *row[] = {x->street, x->house_number, x->postcode,
                             x->city,   x->country,      x->description};
        lanternctl_table_add (t, row);
        s_token_rows (tokens, "addresses", i, x->tokens, x->n_tokens);
    }
    s_section ("addresses", t);
    lanternctl_table_destroy (&t);

    t = lanternctl_table_new (3, vehicle_cols);
    for (size_t i = 0; i < d->n_vehicles; i++) {
        const Lantern__V1__Vehicle *v = d->vehicles[i];
        const char *row[] = {v->licence_plate, v->country, v->description};
        lanternctl_table_add (t, row);
        s_token_rows (tokens, "vehicles", i, v->tokens, v->n_tokens);
    }
    s_section ("vehicles", t);
    lanternctl_table_destroy (&t);

    t = lanternctl_table_new (3, employer_cols);
    for (size_t i = 0; i < d->n_employers; i++) {
        const Lantern__V1__Employer *e = d->employers[i];
        const char *row[] = {e->name, e->kvk_number, e->address};
        lanternctl_table_add (t, row);
        s_token_rows (tokens, "employers", i, e->tokens, e->n_tokens);
    }
    s_section ("employers", t);
    lanternctl_table_destroy (&t);

    t = lanternctl_table_new (1, indicator_cols);
    for (size_t i = 0; i < d->n_indicators; i++) {
        const char *row[] = {d->indicators[i]};
        lanternctl_table_add (t, row);
    }
    s_section ("indicators", t);
    lanternctl_table_destroy (&t);

    if (d->account[0]) {
        /* indented, line by line; a CR would let text overwrite its line */
        printf ("\naccount\n  ");
        for (const char *c = d->account; *c; c++) {
            if (*c == '\r')
                continue;
            putchar (*c);
            if (*c == '\n' && c[1])
                printf ("  ");
        }
        if (d->account[strlen (d->account) - 1] != '\n')
            putchar ('\n');
    }

    if (with_tokens)
        s_section ("tokens", tokens);
    lanternctl_table_destroy (&tokens);

    t = lanternctl_table_new (5, history_cols);
    for (size_t i = 0; i < record->n_history; i++) {
        const Lantern__V1__SignalHistoryEntry *h = record->history[i];
        snprintf (buf, sizeof buf, "%" PRIu32, h->version);
        const char *row[] = {buf, h->action, h->principal, s_local_time (h->at_us, b, sizeof b),
                             h->reason};
        lanternctl_table_add (t, row);
    }
    s_section ("history", t);
    lanternctl_table_destroy (&t);
}

// --------------------------------------------------------------------------
// show

/* Remove every "tokens" member, at any depth (only the Token lists of
   persons, addresses, vehicles and employers have that name). */
static void
s_strip_tokens (json_object *obj)
{
    if (json_object_is_type (obj, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length (obj); i++)
            s_strip_tokens (json_object_array_get_idx (obj, i));
        return;
    }
    if (!json_object_is_type (obj, json_type_object))
        return;
    json_object_object_del (obj, "tokens");
    json_object_object_foreach (obj, key, value)
    {
        (void)key;
        s_strip_tokens (value);
    }
}

static int
s_show (int argc, char **argv)
{
    static const struct option options[] = {{"tokens", no_argument, NULL, OPT_TOKENS},
                                            {"purpose", required_argument, NULL, OPT_PURPOSE},
                                            OPTIONS_COMMON,
                                            {NULL, 0, NULL, 0}};
    args_t a = {.cmd = "signal show", .req = LANTERNCTL_REQ_DEFAULTS};
    int rc = LANTERNCTL_EXIT_USAGE;
    ln_client_t *client = NULL;
    Lantern__V1__ServerMessage *answer = NULL;
    json_object *json = NULL;

    if (!s_parse (&a, options, ":h", argc, argv, s_usage_show, &rc))
        goto out;
    const char *id = s_the_id (&a);
    if (!id)
        goto out;
    client = lanternctl_connect (&a.conn, a.cmd, &rc);
    if (!client)
        goto out;
    Lantern__V1__GetSignal get = LANTERN__V1__GET_SIGNAL__INIT;
    get.signal_id = (char *)id;
    get.purpose = (char *)(a.purpose ? a.purpose : "");
    Lantern__V1__Request request = LANTERN__V1__REQUEST__INIT;
    request.command_case = LANTERN__V1__REQUEST__COMMAND_GET_SIGNAL;
    request.get_signal = &get;
    rc = s_exchange (&a, client, &request, LANTERN__V1__REPLY__RESULT_GET_SIGNAL, &answer);
    if (rc != LANTERNCTL_EXIT_OK)
        goto out;
    const Lantern__V1__SignalRecord *record = answer->reply->get_signal;
    rc = LANTERNCTL_EXIT_LOCAL;
    if (a.json) {
        json = ln_json_object_from_message (&record->base);
        if (json && !a.tokens)
            s_strip_tokens (json);
        if (!json || lanternctl_print_json_object (a.cmd, json, true) != 0)
            goto out;
        rc = LANTERNCTL_EXIT_OK;
        goto out;
    }
    rc = LANTERNCTL_EXIT_FAIL;
    if (!record->signal) {
        fprintf (stderr, "lanternctl: %s: the node's reply holds no signal\n", a.cmd);
        goto out;
    }
    s_print_record (record, a.tokens);
    rc = s_flush (&a);
out:
    json_object_put (json);
    if (answer)
        lantern__v1__server_message__free_unpacked (answer, NULL);
    ln_client_destroy (&client);
    s_args_free (&a);
    return rc;
}

// --------------------------------------------------------------------------
// list

static bool
s_digits (const char *text, size_t n, int *value)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (text[i] < '0' || text[i] > '9')
            return false;
        v = v * 10 + (text[i] - '0');
    }
    *value = v;
    return true;
}

/* DATE of --from / --to in local time: a date as submit takes it
   (YYYY-MM-DD, or day first D-M-YYYY, D/M/YYYY, D.M.YYYY: ln_pseudonym's
   date normaliser, the node's own), midnight, or with `end_of_day` the
   midnight after it, so that --to includes the day; or a date and a time,
   "DATE HH:MM[:SS]" or "DATETHH:MM[:SS]".  Microseconds since the epoch,
   or false. */
static bool
s_parse_when (const char *text, bool end_of_day, int64_t *us)
{
    char date[32], norm[LN_PSEUDONYM_NORM_MAX];
    const char *time_part = text + strcspn (text, "T ");
    size_t date_len = (size_t)(time_part - text);
    if (date_len == 0 || date_len >= sizeof date)
        return false;
    snprintf (date, sizeof date, "%.*s", (int)date_len, text);
    if (ln_pseudonym_norm_date (date, norm, sizeof norm, NULL) != 0 || strlen (norm) != 10)
        return false;
    int year, month, day, hour = 0, minute = 0, second = 0;
    if (!s_digits (norm, 4, &year) || !s_digits (norm + 5, 2, &month) ||
        !s_digits (norm + 8, 2, &day))
        return false;
    bool has_time = *time_part != '\0';
    if (has_time) {
        const char *t = time_part + 1;
        size_t len = strlen (t);
        if ((len != 5 && len != 8) || !s_digits (t, 2, &hour) || t[2] != ':' ||
            !s_digits (t + 3, 2, &minute))
            return false;
        if (len == 8 && (t[5] != ':' || !s_digits (t + 6, 2, &second)))
            return false;
    }
    if (year < 1970 || hour > 23 || minute > 59 || second > 59)
        return false;
    struct tm tm = {.tm_year = year - 1900,
                    .tm_mon = month - 1,
                    .tm_mday = day + (!has_time && end_of_day ? 1 : 0),
                    .tm_hour = hour,
                    .tm_min = minute,
                    .tm_sec = second,
                    .tm_isdst = -1};
    time_t t = mktime (&tm); /* mktime carries day 32 into the next month */
    if (t == (time_t)-1)
        return false;
    *us = (int64_t)t * 1000000;
    return true;
}

static void
s_list_rows (lanternctl_table_t *table, const Lantern__V1__SignalList *list)
{
    for (size_t i = 0; i < list->n_signals; i++) {
        const Lantern__V1__SignalSummary *s = list->signals[i];
        char status[64], received[64], forms[256], persons[16], version[16];
        const char *urgent = s->immediate_danger && s->minor_involved ? "danger,minor"
                             : s->immediate_danger                    ? "danger"
                             : s->minor_involved                      ? "minor"
                                                                      : NULL;
        snprintf (persons, sizeof persons, "%" PRIu32, s->persons);
        snprintf (version, sizeof version, "%" PRIu32, s->version);
        const char *row[] = {s->id,
                             s_enum_label (&lantern__v1__signal_status__descriptor,
                                           "SIGNAL_STATUS_", (int)s->status, status, sizeof status),
                             s_local_time (s->received_at_us, received, sizeof received),
                             s->municipality,
                             s_forms (s->forms, s->n_forms, ",", forms, sizeof forms),
                             urgent,
                             persons,
                             version};
        lanternctl_table_add (table, row);
    }
}

static int
s_list (int argc, char **argv)
{
    static const struct option options[] = {
        {"status", required_argument, NULL, OPT_STATUS},
        {"municipality", required_argument, NULL, OPT_MUNICIPALITY},
        {"form", required_argument, NULL, OPT_FORM},
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"page-token", required_argument, NULL, OPT_PAGE_TOKEN},
        {"all", no_argument, NULL, OPT_ALL},
        OPTIONS_COMMON,
        {NULL, 0, NULL, 0}};
    static const char *const cols[] = {"ID",    "STATUS", "RECEIVED", "MUNICIPALITY",
                                       "FORMS", "URGENT", "PERSONS",  "VERSION"};
    args_t a = {.cmd = "signal list", .req = LANTERNCTL_REQ_DEFAULTS};
    int rc = LANTERNCTL_EXIT_USAGE;
    ln_client_t *client = NULL;
    Lantern__V1__ServerMessage *answer = NULL;
    lanternctl_table_t *table = lanternctl_table_new (8, cols);
    json_object *all = NULL; /* --all --json: every page's signals */
    char *token = NULL;      /* the page to ask for */

    if (!s_parse (&a, options, ":h", argc, argv, s_usage_list, &rc) || !s_no_arguments (&a))
        goto out;
    Lantern__V1__ListSignals list = LANTERN__V1__LIST_SIGNALS__INIT;
    if (a.status) {
        const ProtobufCEnumValue *v =
            s_enum_find (&lantern__v1__signal_status__descriptor, "SIGNAL_STATUS_", a.status);
        if (!v) {
            s_enum_name (&a, "--status", &lantern__v1__signal_status__descriptor, "SIGNAL_STATUS_",
                         a.status);
            goto out;
        }
        list.status = (Lantern__V1__SignalStatus)v->value;
    }
    if (a.forms.count > 1) {
        lanternctl_usage_error (a.cmd, "--form: one form at a time");
        goto out;
    }
    if (a.forms.count) {
        const ProtobufCEnumValue *v = s_enum_find (&lantern__v1__exploitation_form__descriptor,
                                                   "EXPLOITATION_FORM_", a.forms.items[0]);
        if (!v) {
            s_enum_name (&a, "--form", &lantern__v1__exploitation_form__descriptor,
                         "EXPLOITATION_FORM_", a.forms.items[0]);
            goto out;
        }
        list.form = (Lantern__V1__ExploitationForm)v->value;
    }
    if (a.from && !s_parse_when (a.from, false, &list.received_from_us)) {
        lanternctl_usage_error (a.cmd,
                                "--from: '%s' is not a date (YYYY-MM-DD, D-M-YYYY, D/M/YYYY or "
                                "D.M.YYYY), optionally with a time (HH:MM or HH:MM:SS)",
                                a.from);
        goto out;
    }
    if (a.to && !s_parse_when (a.to, true, &list.received_to_us)) {
        lanternctl_usage_error (a.cmd,
                                "--to: '%s' is not a date (YYYY-MM-DD, D-M-YYYY, D/M/YYYY or "
                                "D.M.YYYY), optionally with a time (HH:MM or HH:MM:SS)",
                                a.to);
        goto out;
    }
    if (a.municipality) {
        char why[INTAKE_MUNICIPALITY_MESSAGE_MAX];
        const char *code = intake_municipality_explain (a.municipality, why, sizeof why);
        if (code) {
            lanternctl_usage_error (a.cmd, "--municipality: %s: %s", code, why);
            goto out;
        }
    }
    if (a.from && a.to && list.received_from_us >= list.received_to_us) {
        lanternctl_usage_error (a.cmd, "--from must be before --to");
        goto out;
    }
    if (a.all && a.page_token) {
        lanternctl_usage_error (a.cmd, "give --page-token or --all, not both");
        goto out;
    }
    list.municipality = (char *)(a.municipality ? a.municipality : "");
    list.page_size = (uint32_t)a.limit;
    token = strdup (a.page_token ? a.page_token : "");
    if (!token)
        abort ();

    client = lanternctl_connect (&a.conn, a.cmd, &rc);
    if (!client)
        goto out;
    Lantern__V1__Request request = LANTERN__V1__REQUEST__INIT;
    request.command_case = LANTERN__V1__REQUEST__COMMAND_LIST_SIGNALS;
    request.list_signals = &list;
    if (a.all && a.json)
        all = json_object_new_array ();
    for (long page = 0;; page++) {
        list.page_token = token;
        rc = s_exchange (&a, client, &request, LANTERN__V1__REPLY__RESULT_LIST_SIGNALS, &answer);
        if (rc != LANTERNCTL_EXIT_OK)
            goto out;
        const Lantern__V1__SignalList *got = answer->reply->list_signals;
        rc = LANTERNCTL_EXIT_LOCAL; /* what fails now is our output */
        if (a.json && !a.all) {
            if (lanternctl_print_json (a.cmd, &got->base, true) != 0)
                goto out;
            break;
        }
        if (all) {
            json_object *one = ln_json_object_from_message (&got->base);
            json_object *signals = NULL;
            if (one && json_object_object_get_ex (one, "signals", &signals))
                for (size_t i = 0; i < json_object_array_length (signals); i++)
                    json_object_array_add (
                        all, json_object_get (json_object_array_get_idx (signals, i)));
            json_object_put (one);
        }
        else
            s_list_rows (table, got);
        const char *next = got->next_page_token;
        if (!a.all || !next[0]) {
            if (!a.all && next[0])
                fprintf (stderr,
                         "lanternctl: %s: more signals: repeat with --page-token %s (or "
                         "use --all)\n",
                         a.cmd, next);
            break;
        }
        if (strcmp (next, token) == 0 || page + 1 >= LIST_MAX_PAGES) {
            fprintf (stderr, "lanternctl: %s: the node's pages do not end (page token %s)\n", a.cmd,
                     next);
            rc = LANTERNCTL_EXIT_FAIL;
            goto out;
        }
        free (token);
        token = strdup (next);
        if (!token)
            abort ();
        lantern__v1__server_message__free_unpacked (answer, NULL);
        answer = NULL;
    }

    if (all) {
        json_object *doc = json_object_new_object ();
        json_object_object_add (doc, "signals", json_object_get (all));
        json_object_object_add (doc, "next_page_token", json_object_new_string (""));
        int printed = lanternctl_print_json_object (a.cmd, doc, true);
        json_object_put (doc);
        if (printed != 0)
            goto out;
    }
    else if (!a.json) {
        if (lanternctl_table_rows (table) == 0)
            fprintf (stderr, "lanternctl: %s: no signals\n", a.cmd);
        else
            lanternctl_table_print (table, stdout, "");
    }
    rc = s_flush (&a);
out:
    free (token);
    json_object_put (all);
    lanternctl_table_destroy (&table);
    if (answer)
        lantern__v1__server_message__free_unpacked (answer, NULL);
    ln_client_destroy (&client);
    s_args_free (&a);
    return rc;
}

// --------------------------------------------------------------------------
// template

static void
s_usage_template (FILE *out)
{
    fprintf (out, "usage: lanternctl signal template\n"
                  "\n"
                  "Print a signal as JSON with every field empty and a comment on each, to\n"
                  "fill in and give to 'lanternctl signal submit --file FILE' (or to 'signal\n"
                  "amend ID --file FILE', for what to add).  Comments run from // to the end\n"
                  "of the line; enum values are written as the flags write them (labour,\n"
                  "victim); what you leave empty is not sent, and a person, address, vehicle\n"
                  "or employer left empty is dropped.  'submit --file FILE --dry-run' shows\n"
                  "what would be sent.\n"
                  "\n"
                  "options:\n"
                  "  -h, --help                show this help\n"
                  "\n" HELP_EXIT "\n"
                  "example:\n"
                  "  lanternctl signal template > signal.json\n");
}

/* One "// ..." line per entry of `d` (short names, comma-separated),
   wrapped at about 78 columns, after `lead`. */
static void
s_template_choices (const char *indent, const char *lead, const ProtobufCEnumDescriptor *d,
                    const char *prefix)
{
    char choices[ENUM_CHOICES_MAX];
    s_enum_choices (d, prefix, choices, sizeof choices);
    size_t col = (size_t)printf ("%s// %s", indent, lead);
    for (char *p = choices; *p;) {
        size_t word = strcspn (p, " ");
        if (col + word + 1 > 78)
            col = (size_t)printf ("\n%s//  ", indent);
        col += (size_t)printf (" %.*s", (int)word, p);
        p += word;
        p += strspn (p, " ");
    }
    printf ("\n");
}

static int
s_template (int argc, char **argv)
{
    static const struct option options[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    args_t a = {.cmd = "signal template", .req = LANTERNCTL_REQ_DEFAULTS};
    int rc = LANTERNCTL_EXIT_USAGE;
    if (!s_parse (&a, options, ":h", argc, argv, s_usage_template, &rc) || !s_no_arguments (&a))
        goto out;
    printf ("// A signal for 'lanternctl signal submit --file FILE' (lanternctl signal\n"
            "// template).  Fill in what you know; leave the rest empty (\"\", [], false):\n"
            "// it is not sent, and a person, address, vehicle or employer left empty is\n"
            "// dropped.  Comments run from // to the end of the line.  Check it first with\n"
            "// 'lanternctl signal submit --file FILE --dry-run'.\n"
            "{\n");
    s_template_choices ("  ", "required, who shared it with you:",
                        &lantern__v1__reporter_role__descriptor, "REPORTER_ROLE_");
    printf ("  \"reporter\": {\"role\": \"\", \"organisation\": \"\", \"contact\": \"\"},\n"
            "  // required, when it was observed: YYYY-MM-DD or day first: D-M-YYYY,\n"
            "  // D/M/YYYY, D.M.YYYY; not in the future (today anywhere on Earth passes)\n"
            "  \"observed_on\": \"\",\n"
            "  // required, the CBS code of the municipality where, e.g. GM0983 (Venlo)\n"
            "  \"municipality\": \"\",\n");
    s_template_choices ("  ", "required, one or more (unknown only alone):",
                        &lantern__v1__exploitation_form__descriptor, "EXPLOITATION_FORM_");
    printf ("  \"forms\": [\"\"],\n");
    s_template_choices ("  ", "with labour, if known:", &lantern__v1__labour_sector__descriptor,
                        "LABOUR_SECTOR_");
    printf (
        "  \"sector\": \"\",\n"
        "  // codes of the node's indicator catalogue, e.g. [\"ILO_DEBT_BONDAGE\"]\n"
        "  \"indicators\": [],\n"
        "  \"immediate_danger\": false,\n"
        "  \"minor_involved\": false,\n"
        "  // role: victim, perpetrator or witness; and at least one of name, bsn,\n"
        "  // document_number, phone, description.  A name may carry a remark in\n"
        "  // parentheses (\"Anna (Ania) Kowalska\"); date_of_birth as observed_on;\n"
        "  // nationality an ISO 3166-1 code (PL or POL); phone as written (06 12345678)\n"
        "  \"persons\": [\n"
        "    {\"role\": \"\", \"name\": \"\", \"date_of_birth\": \"\", \"nationality\": \"\",\n"
        "     \"bsn\": \"\", \"document_number\": \"\", \"phone\": \"\", \"description\": \"\"}\n"
        "  ],\n"
        "  // country: an ISO 3166-1 code, empty for the Netherlands\n"
        "  \"addresses\": [\n"
        "    {\"street\": \"\", \"house_number\": \"\", \"postcode\": \"\", \"city\": \"\", "
        "\"country\": \"\",\n"
        "     \"description\": \"\"}\n"
        "  ],\n"
        "  \"vehicles\": [{\"licence_plate\": \"\", \"country\": \"\", \"description\": \"\"}],\n"
        "  // kvk_number: the chamber-of-commerce number, 8 digits\n"
        "  \"employers\": [{\"name\": \"\", \"kvk_number\": \"\", \"address\": \"\"}],\n"
        "  // what happened, in free text (a line break is written \\n)\n"
        "  \"account\": \"\"\n"
        "}\n");
    rc = s_flush (&a);
out:
    s_args_free (&a);
    return rc;
}

// --------------------------------------------------------------------------
// Dispatch

typedef struct {
    const char *name;
    int (*run) (int argc, char **argv);
} subcommand_t;

static const subcommand_t s_subcommands[] = {
    {"submit", s_submit}, {"amend", s_amend}, {"withdraw", s_withdraw},
    {"show", s_show},     {"list", s_list},   {"template", s_template},
};

int
lanternctl_signal (int argc, char **argv)
{
    if (argc < 2)
        return lanternctl_usage_error (
            "signal", "missing subcommand (submit, amend, withdraw, show, list, template)");
    const char *sub = argv[1];
    if (strcmp (sub, "--help") == 0 || strcmp (sub, "-h") == 0 || strcmp (sub, "help") == 0) {
        s_usage (stdout);
        return LANTERNCTL_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof s_subcommands / sizeof s_subcommands[0]; i++)
        if (strcmp (sub, s_subcommands[i].name) == 0)
            return s_subcommands[i].run (argc - 1, argv + 1);
    if (sub[0] == '-')
        return lanternctl_usage_error ("signal", "give the subcommand first, then '%s'", sub);
    return lanternctl_usage_error (
        "signal", "unknown subcommand '%s' (submit, amend, withdraw, show, list, template)", sub);
}
