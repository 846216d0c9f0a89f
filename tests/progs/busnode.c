/*  busnode: a minimal Lantern node for the bus's process-level tests.

    It is an ln_server with the node commands only (Ping, PostNotice,
    VerifyAudit) and, when asked, an ln_consumer following one upstream
    node, whose Notice events it records in a table `received` in the same
    transaction as the cursor.  Tests start it as a separate process so that
    they can kill -9 it, restart it, and restart PostgreSQL under it.

        busnode --node NAME --endpoint EP --db CONNINFO --schema S
                --cert FILE.secret --registry DIR
                [--follow NAME,ENDPOINT,SERVER.pub] [--idle-ms N] [--credit N]
                [--batch-max N] [--rule ROLE,TYPE,PROJECTION]...
                [--apply-delay-us N] [--log-level LEVEL]
                [--fault-apply-outside-transaction]

    Prints "ready ENDPOINT" on stdout once it serves.  SIGTERM or SIGINT:
    finish the batch in hand and exit 0.

    --fault-apply-outside-transaction is fault injection for the tests'
    self-check (tests/integration/test_bus_process.c): the consumer's apply
    writes `received` through a second, autocommit connection instead of
    the transaction it is given, as a buggy service would.  A kill -9
    between apply and the cursor's commit then makes the consumer apply
    those events again, and the exactly-once checks must catch it.  Never
    use it for anything else.
*/
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ln_auth.h"
#include "ln_consumer.h"
#include "ln_db.h"
#include "ln_envelope.h"
#include "ln_keys.h"
#include "ln_log.h"
#include "ln_server.h"
#include "lantern.pb-c.h"

static ln_server_t *s_server;
static long s_apply_delay_us;
static ln_db_t *s_fault_db; /* --fault-apply-outside-transaction: autocommit writes */

static void
s_on_signal (int sig)
{
    (void)sig;
    if (s_server)
        ln_server_stop (s_server);
}

static const ln_migration_t s_migrations[] = {
    {100, "received",
     "CREATE TABLE received (\n"
     "    upstream text NOT NULL,\n"
     "    position bigint NOT NULL,\n"
     "    event_id text NOT NULL,\n"
     "    type text NOT NULL,\n"
     "    text text\n"
     ");\n"},
};

/* Record each event (no uniqueness constraint: a duplicate must be seen by
   the tests, not hidden by the database). */
static int
s_apply (void *arg, ln_db_t *db, const char *upstream, ln_event_t *const *events,
         const uint64_t *positions, size_t count, ln_error_t *err)
{
    (void)arg;
    for (size_t i = 0; i < count; i++) {
        char pos[24];
        snprintf (pos, sizeof pos, "%llu", (unsigned long long)positions[i]);
        const char *text = NULL;
        if (strcmp (ln_event_type (events[i]), "nl.lantern.notice.posted.v1") == 0)
            text = ((const Lantern__V1__Notice *)ln_event_payload (events[i]))->text;
        const char *params[5] = {upstream, pos, ln_event_id (events[i]), ln_event_type (events[i]),
                                 text};
        if (ln_db_run (s_fault_db ? s_fault_db : db,
                       "INSERT INTO received (upstream, position, event_id, type, text)"
                       " VALUES ($1, $2::bigint, $3, $4, $5)",
                       5, params, err) != 0)
            return -1;
    }
    if (s_apply_delay_us > 0)
        usleep ((useconds_t)s_apply_delay_us);
    return 0;
}

static void
s_usage (void)
{
    fprintf (stderr, "usage: busnode --node NAME --endpoint EP --db CONNINFO --schema S "
                     "--cert FILE.secret --registry DIR [--follow NAME,ENDPOINT,SERVER.pub] "
                     "[--idle-ms N] [--credit N] [--batch-max N] [--rule ROLE,TYPE,PROJECTION]... "
                     "[--apply-delay-us N] [--log-level LEVEL] "
                     "[--limits SUBSCRIBERS,PER_PRINCIPAL,MIB_PER_PRINCIPAL,MIB_TOTAL] "
                     "[--fault-apply-outside-transaction]\n");
}

/* A whole decimal number in [min, max], or -1 (after usage) when not. */
static int
s_number (const char *text, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol (text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max) {
        fprintf (stderr, "busnode: '%s' is not a number in %ld..%ld\n", text, min, max);
        s_usage ();
        return -1;
    }
    *out = v;
    return 0;
}

int
main (int argc, char **argv)
{
    const char *node = NULL, *endpoint = NULL, *conninfo = NULL, *schema = NULL;
    const char *certfile = NULL, *registrydir = NULL;
    char *follow = NULL;
    long idle_ms = 1000, credit = 1000, batch_max = 0;
    ln_log_level_t log_level = LN_LOG_INFO;
    bool fault_outside = false;
    ln_stream_rule_t rules[16];
    ln_stream_limits_t limits = {0, 0, 0, 0};
    char *rule_text[16];
    size_t nrules = 0;

    static const struct option options[] = {
        {"node", required_argument, NULL, 'n'},
        {"endpoint", required_argument, NULL, 'e'},
        {"db", required_argument, NULL, 'd'},
        {"schema", required_argument, NULL, 's'},
        {"cert", required_argument, NULL, 'c'},
        {"registry", required_argument, NULL, 'r'},
        {"follow", required_argument, NULL, 'f'},
        {"idle-ms", required_argument, NULL, 'i'},
        {"credit", required_argument, NULL, 'k'},
        {"batch-max", required_argument, NULL, 'b'},
        {"rule", required_argument, NULL, 'R'},
        {"apply-delay-us", required_argument, NULL, 'D'},
        {"log-level", required_argument, NULL, 'L'},
        {"fault-apply-outside-transaction", no_argument, NULL, 'F'},
        {"limits", required_argument, NULL, 'l'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long (argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 'n':
            node = optarg;
            break;
        case 'e':
            endpoint = optarg;
            break;
        case 'd':
            conninfo = optarg;
            break;
        case 's':
            schema = optarg;
            break;
        case 'c':
            certfile = optarg;
            break;
        case 'r':
            registrydir = optarg;
            break;
        case 'f':
            follow = optarg;
            break;
        case 'i':
            if (s_number (optarg, 20, 3600000, &idle_ms) != 0)
                return 2;
            break;
        case 'k':
            if (s_number (optarg, 1, 10000, &credit) != 0)
                return 2;
            break;
        case 'b':
            if (s_number (optarg, 0, 10000, &batch_max) != 0)
                return 2;
            break;
        case 'D':
            if (s_number (optarg, 0, 10000000, &s_apply_delay_us) != 0)
                return 2;
            break;
        case 'L':
            if (ln_log_level_parse (optarg, &log_level) != 0) {
                s_usage ();
                return 2;
            }
            break;
        case 'F':
            fault_outside = true;
            break;
        case 'l': {
            long v[4];
            char *save = NULL;
            char *text = strdup (optarg);
            char *part = strtok_r (text, ",", &save);
            for (int i = 0; i < 4; i++, part = strtok_r (NULL, ",", &save))
                if (!part || s_number (part, 1, 1000000, &v[i]) != 0) {
                    free (text);
                    return 2;
                }
            free (text);
            limits.subscribers_max = (size_t)v[0];
            limits.subscriptions_per_principal = (size_t)v[1];
            limits.unconfirmed_per_principal = (uint64_t)v[2] << 20;
            limits.unconfirmed_total = (uint64_t)v[3] << 20;
            break;
        }
        case 'R': {
            if (nrules == 16)
                return 2;
            char *text = rule_text[nrules] = strdup (optarg);
            char *save = NULL;
            char *role = strtok_r (text, ",", &save);
            char *type = strtok_r (NULL, ",", &save);
            char *proj = strtok_r (NULL, ",", &save);
            if (!role || !type || !proj ||
                ln_projection_parse (proj, &rules[nrules].projection) != 0) {
                s_usage ();
                return 2;
            }
            rules[nrules].role = role;
            rules[nrules].type = type;
            nrules++;
            break;
        }
        default:
            s_usage ();
            return 2;
        }
    }
    if (!node || !endpoint || !conninfo || !schema || !certfile || !registrydir) {
        s_usage ();
        return 2;
    }
    ln_log_init (node, log_level);

    int rc = 1;
    ln_error_t err;
    ln_error_clear (&err);
    zcert_t *cert = NULL;
    ln_registry_t *registry = NULL;
    ln_auth_t *auth = NULL;
    ln_db_t *db = NULL;
    ln_consumer_t *consumer = NULL;
    zcert_t *upstream_cert = NULL;

    zsys_init ();
    zsys_handler_set (NULL); /* our own signal handling below */
    signal (SIGTERM, s_on_signal);
    signal (SIGINT, s_on_signal);

    cert = ln_keys_load_secret (certfile, &err);
    if (!cert)
        goto fail;
    registry = ln_registry_load (registrydir, &err);
    if (!registry)
        goto fail;
    auth = ln_auth_new (&registry, &err);
    if (!auth)
        goto fail;
    ln_db_retry_t retry = {50, 1000, 2000};
    db = ln_db_connect (conninfo, schema, &retry, &err);
    if (!db)
        goto fail;
    if (ln_server_migrate (db, s_migrations, 1, &err) != 0)
        goto fail;
    if (fault_outside) {
        s_fault_db = ln_db_connect (conninfo, schema, &retry, &err);
        if (!s_fault_db)
            goto fail;
    }

    ln_server_config_t config = {
        .node = node,
        .endpoint = endpoint,
        .cert = cert,
        .auth = auth,
        .db = db,
        .rules = rules,
        .rule_count = nrules,
        .batch_max = (size_t)batch_max,
        .limits = limits,
    };
    s_server = ln_server_new (&config, &err);
    if (!s_server)
        goto fail;

    if (follow) {
        char *save = NULL;
        char *name = strtok_r (follow, ",", &save);
        char *ep = strtok_r (NULL, ",", &save);
        char *pub = strtok_r (NULL, ",", &save);
        if (!name || !ep || !pub) {
            s_usage ();
            goto fail;
        }
        upstream_cert = ln_keys_load_public (pub, &err);
        if (!upstream_cert)
            goto fail;
        ln_consumer_config_t cc = {
            .upstream = name,
            .endpoint = ep,
            .server_public_key = zcert_public_txt (upstream_cert),
            .cert = cert,
            .credit = (uint32_t)credit,
            .idle_ms = (int)idle_ms,
        };
        consumer = ln_consumer_new (&cc, db, s_apply, NULL, &err);
        if (!consumer || ln_server_add_consumer (s_server, consumer) != 0)
            goto fail;
    }

    printf ("ready %s\n", ln_server_endpoint (s_server));
    fflush (stdout);
    ln_server_run (s_server);
    rc = 0;
    goto out;
fail:
    fprintf (stderr, "busnode: %s: %s (%s)\n", err.code ? err.code : "ERROR", err.message,
             err.field);
out:
    ln_server_destroy (&s_server);
    ln_consumer_destroy (&consumer);
    zcert_destroy (&upstream_cert);
    ln_db_destroy (&s_fault_db);
    ln_db_destroy (&db);
    ln_auth_destroy (&auth);
    ln_registry_destroy (&registry);
    zcert_destroy (&cert);
    for (size_t i = 0; i < nrules; i++)
        free (rule_text[i]);
    return rc;
}
