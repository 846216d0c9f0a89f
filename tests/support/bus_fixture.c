/*  bus_fixture: see bus_fixture.h. */
#include "bus_fixture.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ln_auth.h"
#include "ln_keys.h"
#include "ln_log.h"

struct bus_keys_t {
    char root[256];
    char keys[300];
    char registry[300];
    zlist_t *certs; /* loaded certs handed out, destroyed with the fixture */
};

bus_keys_t *
bus_keys_new (void)
{
    bus_keys_t *self = calloc (1, sizeof *self);
    snprintf (self->root, sizeof self->root, "/tmp/lantern-bus-keys.XXXXXX");
    if (!mkdtemp (self->root)) {
        free (self);
        return NULL;
    }
    snprintf (self->keys, sizeof self->keys, "%s/keys", self->root);
    snprintf (self->registry, sizeof self->registry, "%s/registry", self->root);
    mkdir (self->keys, 0700);
    mkdir (self->registry, 0700);
    return self;
}

void
bus_keys_destroy (bus_keys_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    bus_keys_t *self = *self_p;
    char cmd[512];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", self->root);
    if (system (cmd) != 0)
        fprintf (stderr, "bus_fixture: could not remove %s\n", self->root);
    free (self);
    *self_p = NULL;
}

int
bus_keys_add (bus_keys_t *self, const char *name, const char *roles, const char *level,
              bool registered)
{
    char org[128];
    snprintf (org, sizeof org, "Org of %s", name);
    return bus_keys_add_org (self, name, org, roles, level, registered);
}

int
bus_keys_add_org (bus_keys_t *self, const char *name, const char *organisation, const char *roles,
                  const char *level, bool registered)
{
    ln_error_t err;
    ln_principal_t p;
    if (ln_principal_init (&p, name, organisation, roles, level, &err) != 0 ||
        ln_keys_generate (self->keys, name, &p, NULL, &err) != 0) {
        fprintf (stderr, "bus_fixture: %s: %s\n", name, err.message);
        return -1;
    }
    if (registered) {
        char cmd[1024];
        snprintf (cmd, sizeof cmd, "cp '%s/%s.pub' '%s/'", self->keys, name, self->registry);
        if (system (cmd) != 0)
            return -1;
    }
    return 0;
}

const char *
bus_keys_dir (const bus_keys_t *self)
{
    return self->keys;
}

const char *
bus_keys_registry (const bus_keys_t *self)
{
    return self->registry;
}

const char *
bus_keys_secret (const bus_keys_t *self, const char *name)
{
    static char path[512];
    snprintf (path, sizeof path, "%s/%s.secret", self->keys, name);
    return path;
}

const char *
bus_keys_public (const bus_keys_t *self, const char *name)
{
    static char path[512];
    snprintf (path, sizeof path, "%s/%s.pub", self->keys, name);
    return path;
}

zcert_t *
bus_keys_cert (const bus_keys_t *self, const char *name)
{
    ln_error_t err;
    char path[512]; /* not bus_keys_secret's static buffer: clients start in threads */
    snprintf (path, sizeof path, "%s/%s.secret", self->keys, name);
    zcert_t *cert = ln_keys_load_secret (path, &err);
    if (!cert)
        fprintf (stderr, "bus_fixture: %s\n", err.message);
    return cert;
}

const char *
bus_keys_public_z85 (const bus_keys_t *self, const char *name)
{
    static char z85[64];
    ln_error_t err;
    zcert_t *cert = ln_keys_load_public (bus_keys_public (self, name), &err);
    if (!cert)
        return NULL;
    snprintf (z85, sizeof z85, "%s", zcert_public_txt (cert));
    zcert_destroy (&cert);
    return z85;
}

/* --- the node in a thread ------------------------------------------------------ */

struct bus_server_t {
    bus_server_config_t config;
    const bus_keys_t *keys;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int state; /* 0 starting, 1 serving, -1 failed */
    char endpoint[256];
    char public_z85[64];
    ln_server_t *server;
    volatile int stop;
    ln_server_stats_t stats;
};

static void *
s_run (void *arg)
{
    bus_server_t *self = arg;
    ln_error_t err;
    ln_error_clear (&err);
    zcert_t *cert = NULL;
    ln_registry_t *registry = NULL;
    ln_auth_t *auth = NULL;
    ln_db_t *db = NULL;
    int state = -1;

    cert = bus_keys_cert (self->keys, self->config.node);
    registry = cert ? ln_registry_load (bus_keys_registry (self->keys), &err) : NULL;
    auth = registry ? ln_auth_new (&registry, &err) : NULL;
    ln_db_retry_t retry = {50, 500, 2000};
    db = auth ? ln_db_connect (self->config.conninfo, self->config.schema, &retry, &err) : NULL;
    if (db && ln_server_migrate (db, NULL, 0, &err) == 0) {
        ln_server_config_t sc = {
            .node = self->config.node,
            .endpoint = "tcp://127.0.0.1:*",
            .cert = cert,
            .auth = auth,
            .db = db,
            .commands = self->config.commands,
            .command_count = self->config.command_count,
            .rules = self->config.rules,
            .rule_count = self->config.rule_count,
            .project = self->config.project,
            .batch_max = self->config.batch_max,
            .retention_ms = self->config.retention_ms,
            .limits = self->config.limits,
        };
        self->server = ln_server_new (&sc, &err);
    }
    if (self->server) {
        snprintf (self->endpoint, sizeof self->endpoint, "%s", ln_server_endpoint (self->server));
        snprintf (self->public_z85, sizeof self->public_z85, "%s", zcert_public_txt (cert));
        state = 1;
    }
    else
        fprintf (stderr, "bus_fixture: server: %s %s\n", err.code ? err.code : "", err.message);

    pthread_mutex_lock (&self->lock);
    self->state = state;
    pthread_cond_broadcast (&self->cond);
    pthread_mutex_unlock (&self->lock);

    while (state == 1 && !self->stop) {
        ln_server_step (self->server, 20);
        pthread_mutex_lock (&self->lock);
        ln_server_stats (self->server, &self->stats);
        pthread_mutex_unlock (&self->lock);
    }
    ln_server_destroy (&self->server);
    ln_db_destroy (&db);
    ln_auth_destroy (&auth);
    ln_registry_destroy (&registry);
    zcert_destroy (&cert);
    return NULL;
}

bus_server_t *
bus_server_start (const bus_keys_t *keys, const bus_server_config_t *config)
{
    bus_server_t *self = calloc (1, sizeof *self);
    self->config = *config;
    self->keys = keys;
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->cond, NULL);
    pthread_create (&self->thread, NULL, s_run, self);
    pthread_mutex_lock (&self->lock);
    while (self->state == 0)
        pthread_cond_wait (&self->cond, &self->lock);
    int state = self->state;
    pthread_mutex_unlock (&self->lock);
    if (state != 1)
        bus_server_stop (&self);
    return self;
}

void
bus_server_stop (bus_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    bus_server_t *self = *self_p;
    self->stop = 1;
    pthread_join (self->thread, NULL);
    pthread_mutex_destroy (&self->lock);
    pthread_cond_destroy (&self->cond);
    free (self);
    *self_p = NULL;
}

const char *
bus_server_endpoint (const bus_server_t *self)
{
    return self->endpoint;
}

void
bus_server_stats (bus_server_t *self, ln_server_stats_t *stats)
{
    pthread_mutex_lock (&self->lock);
    *stats = self->stats;
    pthread_mutex_unlock (&self->lock);
}

ln_client_t *
bus_client (const bus_keys_t *keys, const bus_server_t *server, const char *name)
{
    ln_error_t err;
    zcert_t *cert = bus_keys_cert (keys, name);
    if (!cert)
        return NULL;
    ln_client_t *client = ln_client_new (server->endpoint, server->public_z85, cert, &err);
    /* the client's socket has applied the key pair: the cert can go */
    zcert_destroy (&cert);
    if (!client)
        fprintf (stderr, "bus_fixture: client %s: %s\n", name, err.message);
    return client;
}
