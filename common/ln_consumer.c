/*  ln_consumer: the client side of the event log (docs/protocol.md 5),
    with exactly-once effect.  See ln_consumer.h for the contract, the
    states and the crash-point analysis.

    How the code is laid out:
    - s_on_message judges one received message and either appends an event
      to the batch being gathered, counts a duplicate, or ends the batch
      (gap, bad message, Reset, poison) after committing what is good;
    - s_flush is the one place that applies and commits: BEGIN, apply,
      conditional cursor update, COMMIT, then Credit;
    - s_fail / s_recover are the BACKOFF path: after any failure the cursor
      is read back from the database, never trusted from memory, because a
      COMMIT that broke off may or may not have happened.
*/
#include "ln_consumer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zmq.h>

#include "lantern.pb-c.h"
#include "ln_audit.h"
#include "ln_auth.h"
#include "ln_clock.h"
#include "ln_log.h"
#include "ln_server.h"
#include "ln_pbcheck.h"
#include "wire.pb-c.h"

#define ENDPOINT_MAX   256
#define HOLDOFF_MIN_MS 10
#define IDLE_MIN_MS    20
#define CLIENT_MSG_MAX 64   /* a packed Subscribe or Credit is < 20 bytes */
#define POSITION_TEXT  24   /* 20 digits and a NUL */
#define RESEND_MIN_MS  20   /* a Subscribe that found no connection is tried again ... */
#define RESEND_MAX_MS  1000 /* ... backing off to this */

struct _ln_consumer_t {
    char upstream[LN_ENVELOPE_NODE_MAX + 1];
    char endpoint[ENDPOINT_MAX];
    ln_db_t *db;
    ln_consumer_apply_fn apply;
    void *arg;
    zsock_t *sock;
    uint32_t credit;
    int idle_ms;
    int holdoff_ms;
    size_t batch_max;

    ln_consumer_state_t state;
    uint64_t committed;     /* cursor as the database holds it */
    char projection[16];    /* asked for in Subscribe ("" = what the policy allows) */
    uint64_t upstream_last; /* the upstream's newest position, from its last Deliver/Reset */
    int64_t last_heard_us;  /* wall time of the last message from the upstream (0: never) */
    char problem[256];      /* why it stopped or waits */
    uint64_t stopped_at;    /* RESET: first position held; POISONED: the refused position */

    /* The batch being gathered; empty between calls. */
    ln_event_t **events;
    uint64_t *positions;
    size_t count;
    uint32_t credit_owed; /* Delivers read and not applied (duplicates, leftovers of an
                             earlier subscription, those read while stopped or backing
                             off) since the last Credit: every Deliver read is confirmed
                             (docs/protocol.md 5.3), so that the node's ledger of
                             unconfirmed bytes empties */

    int64_t heard_at;      /* last Deliver (accepted or duplicate) or Subscribe */
    int64_t contact_at;    /* last Deliver, or Subscribe that found a connection (start:
                              the consumer's creation): LAGGING counts from it, not from
                              the Subscribes that found none */
    int64_t holdoff_until; /* gaps and bad messages before this are leftovers */
    bool sub_pending;      /* the last Subscribe found no connection */
    const char *sub_why;   /* and why it was sent (a string literal) */
    int64_t resend_at;
    int resend_ms;
    int64_t retry_at; /* BACKOFF: when to recover */
    int backoff_ms;
};

const ln_migration_t ln_consumer_migration = {
    3, "consumer",
    "CREATE TABLE stream_cursors (\n"
    "    upstream   text PRIMARY KEY CHECK (length (upstream) BETWEEN 1 AND 63),\n"
    "    position   bigint NOT NULL CHECK (position >= 0),\n"
    "    updated_at timestamptz NOT NULL DEFAULT now ()\n"
    ");\n"
    "COMMENT ON TABLE stream_cursors IS\n"
    "    'ln_consumer: last position applied per upstream node, written in the same '\n"
    "    'transaction as the effects of the events up to it';\n"};

/* --- small helpers ------------------------------------------------------------ */

const char *
ln_consumer_state_name (ln_consumer_state_t state)
{
    switch (state) {
    case LN_CONSUMER_FOLLOWING:
        return "FOLLOWING";
    case LN_CONSUMER_BACKOFF:
        return "BACKOFF";
    case LN_CONSUMER_RESET:
        return "RESET";
    case LN_CONSUMER_POISONED:
        return "POISONED";
    }
    return "UNKNOWN";
}

static unsigned long long
s_ull (uint64_t v)
{
    return (unsigned long long)v;
}

static void
s_drop_batch (ln_consumer_t *self)
{
    for (size_t i = 0; i < self->count; i++)
        ln_event_destroy (&self->events[i]);
    self->count = 0;
}

/* The last position we hold: the newest accepted event, or the cursor. */
static uint64_t
s_have (const ln_consumer_t *self)
{
    return self->count ? self->positions[self->count - 1] : self->committed;
}

/* Send one ClientMessage without blocking.  The socket has ZMQ_IMMEDIATE
   set, so this fails at once when there is no connection (the node is down
   or the handshake is not done yet) instead of queueing: a Subscribe queued
   during a day's outage would reach the node as a burst of stale ones, and
   a Credit for a connection that is gone means nothing (the node dropped
   that subscription).  Returns 0 or -1. */
static int
s_send (ln_consumer_t *self, const Lantern__V1__ClientMessage *msg)
{
    uint8_t buf[CLIENT_MSG_MAX];
    size_t size = lantern__v1__client_message__get_packed_size (msg);
    if (size > sizeof buf)
        return -1; /* cannot happen for Subscribe/Credit */
    lantern__v1__client_message__pack (msg, buf);
    if (zmq_send (zsock_resolve (self->sock), buf, size, ZMQ_DONTWAIT) < 0) {
        ln_log_debug ("stream message not sent", "upstream=%s error=%s", self->upstream,
                      zmq_strerror (zmq_errno ()));
        return -1;
    }
    return 0;
}

static void s_grant (ln_consumer_t *self, uint64_t n);

/* One more Deliver read and not applied: to be confirmed with the next
   Credit. */
static void
s_owe (ln_consumer_t *self, uint64_t n)
{
    uint64_t owed = self->credit_owed + n;
    self->credit_owed = owed > UINT32_MAX ? UINT32_MAX : (uint32_t)owed;
}

/* Send Subscribe{after_position: cursor, credit}.  `holdoff`: the previous
   subscription may still have messages in flight (we resubscribe because of
   a gap, a bad message or a failed batch), so gaps and bad messages that
   arrive during the next holdoff_ms are taken as its leftovers and dropped
   without yet another Subscribe.  Not after the first Subscribe of a new
   socket, nor after an idle interval, when nothing is in flight.
   A Subscribe that finds no connection is tried again soon (RESEND_*),
   so that a (re)connected node hears from us long before idle_ms. */
static void
s_subscribe (ln_consumer_t *self, int64_t now, const char *why, bool holdoff)
{
    Lantern__V1__Subscribe sub = LANTERN__V1__SUBSCRIBE__INIT;
    Lantern__V1__ClientMessage msg = LANTERN__V1__CLIENT_MESSAGE__INIT;
    sub.after_position = self->committed;
    sub.credit = self->credit;
    sub.projection = self->projection;
    msg.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_SUBSCRIBE;
    msg.subscribe = &sub;
    /* What we read and did not apply is confirmed first: the node's ledger
       of this connection counts every Deliver it sent. */
    s_grant (self, self->credit_owed);
    self->credit_owed = 0;
    bool sent = s_send (self, &msg) == 0;
    self->holdoff_until = holdoff ? now + self->holdoff_ms : 0;
    self->heard_at = now;
    if (sent)
        self->contact_at = now;
    if (!sent) {
        self->sub_pending = true;
        self->sub_why = why;
        self->resend_at = now + self->resend_ms;
        self->resend_ms = self->resend_ms * 2 > RESEND_MAX_MS ? RESEND_MAX_MS : self->resend_ms * 2;
        return;
    }
    self->sub_pending = false;
    self->resend_ms = RESEND_MIN_MS;
    /* The idle resubscribe is routine (every idle_ms on a quiet stream). */
    ln_log (strcmp (why, "idle") == 0 ? LN_LOG_DEBUG : LN_LOG_INFO, "stream subscribe",
            "upstream=%s after=%llu credit=%u why=%s", self->upstream, s_ull (self->committed),
            (unsigned)self->credit, why);
}

static void
s_grant (ln_consumer_t *self, uint64_t n)
{
    Lantern__V1__Credit credit = LANTERN__V1__CREDIT__INIT;
    Lantern__V1__ClientMessage msg = LANTERN__V1__CLIENT_MESSAGE__INIT;
    if (n == 0)
        return;
    credit.credit = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
    msg.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_CREDIT;
    msg.credit = &credit;
    s_send (self, &msg);
}

/* --- the cursor row ------------------------------------------------------------- */

static int
s_load_cursor (ln_consumer_t *self, uint64_t *position, ln_error_t *err)
{
    int rc = -1;
    const char *params[1] = {self->upstream};
    PGresult *res = ln_db_exec (self->db, "SELECT position FROM stream_cursors WHERE upstream = $1",
                                1, params, err);
    if (!res)
        goto out;
    *position = 0;
    if (PQntuples (res) > 0) {
        const char *text = PQgetvalue (res, 0, 0);
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull (text, &end, 10);
        if (errno != 0 || end == text || *end != '\0' || text[0] == '-') {
            ln_error_set (err, "DB_STATEMENT", "stream_cursors.position",
                          "unreadable cursor for %s", self->upstream);
            goto out;
        }
        *position = (uint64_t)v;
    }
    rc = 0;
out:
    PQclear (res);
    return rc;
}

/* Move the cursor from self->committed to `position`, only if the row still
   holds self->committed: a transaction built on a stale cursor must change
   nothing (see the header: a COMMIT of unknown outcome, or a second
   process on the same row). */
static int
s_store_cursor (ln_consumer_t *self, uint64_t position, ln_error_t *err)
{
    int rc = -1;
    PGresult *res = NULL;
    char from[POSITION_TEXT], to[POSITION_TEXT];
    snprintf (from, sizeof from, "%" PRIu64, self->committed);
    snprintf (to, sizeof to, "%" PRIu64, position);
    const char *params[3] = {self->upstream, to, from};

    if (self->committed == 0)
        /* No row yet (or one still at 0). */
        res = ln_db_exec (self->db,
                          "INSERT INTO stream_cursors (upstream, position) VALUES ($1, $2) "
                          "ON CONFLICT (upstream) DO UPDATE SET position = EXCLUDED.position, "
                          "updated_at = now () WHERE stream_cursors.position = $3::bigint",
                          3, params, err);
    else
        res = ln_db_exec (self->db,
                          "UPDATE stream_cursors SET position = $2, updated_at = now () "
                          "WHERE upstream = $1 AND position = $3",
                          3, params, err);
    if (!res)
        goto out;
    if (strcmp (PQcmdTuples (res), "1") != 0) {
        ln_error_set (err, "CONSUMER_CURSOR_MOVED", "stream_cursors.position",
                      "the stored cursor of %s is no longer %s", self->upstream, from);
        goto out;
    }
    rc = 0;
out:
    PQclear (res);
    return rc;
}

/* --- failure and recovery ------------------------------------------------------------ */

static void
s_schedule_retry (ln_consumer_t *self)
{
    int d = self->backoff_ms;
    int half = d / 2;
    /* Equal jitter, so that consumers failing together do not retry in step. */
    self->retry_at =
        zclock_mono () + half + (int64_t)randombytes_uniform ((uint32_t)(d - half + 1));
    self->backoff_ms = d * 2 > LN_CONSUMER_BACKOFF_MAX_MS ? LN_CONSUMER_BACKOFF_MAX_MS : d * 2;
}

/* A batch failed: drop it, enter BACKOFF. */
static void
s_fail (ln_consumer_t *self, const char *what, const ln_error_t *err)
{
    ln_log_error ("stream batch failed, will retry from the stored cursor",
                  "upstream=%s what=%s code=%s field=%s error=%s cursor=%llu events=%zu "
                  "db_lost=%s",
                  self->upstream, what, err && err->code ? err->code : "-", err ? err->field : "",
                  err ? err->message : "", s_ull (self->committed), self->count,
                  ln_db_last_lost (self->db) ? "yes" : "no");
    s_owe (self, self->count); /* read, not applied: confirmed at the resubscription */
    s_drop_batch (self);
    self->state = LN_CONSUMER_BACKOFF;
    s_schedule_retry (self);
}

/* BACKOFF is over: reconnect if needed, read the cursor back, resubscribe. */
static int
s_recover (ln_consumer_t *self, int64_t now)
{
    ln_error_t err;
    uint64_t position = 0;
    ln_error_clear (&err);
    /* one bounded attempt (the loop it runs in answers clients too); the
       backoff below spaces the attempts */
    if (ln_db_reconnect (self->db, LN_DB_RECONNECT_MS, &err) != 0 ||
        s_load_cursor (self, &position, &err) != 0) {
        ln_log_error ("stream recovery failed", "upstream=%s code=%s error=%s", self->upstream,
                      err.code ? err.code : "-", err.message);
        s_schedule_retry (self);
        return -1;
    }
    if (position != self->committed)
        /* A COMMIT whose outcome we did not see did happen, or someone moved
           the cursor: the database is the truth. */
        ln_log_warn ("stream cursor differs from ours; the database wins",
                     "upstream=%s ours=%llu stored=%llu", self->upstream, s_ull (self->committed),
                     s_ull (position));
    self->committed = position;
    self->state = LN_CONSUMER_FOLLOWING;
    s_subscribe (self, now, "recovery", true);
    return 0;
}

/* --- applying a batch ---------------------------------------------------------------- */

/* The upstream's audit anchors of the batch, stored in the batch's
   transaction (ln_audit.h "Anchors"): what the upstream's audit head was,
   kept where its database owner cannot write.  One that contradicts an
   earlier one (its trail was cut or rewritten) is logged as an error; the
   stream goes on.  Returns 0, or -1 (err set) when storing failed. */
static int
s_record_anchors (ln_consumer_t *self, size_t count, ln_error_t *err)
{
    for (size_t i = 0; i < count; i++) {
        if (strcmp (ln_event_type (self->events[i]), LN_ENVELOPE_TYPE_ANCHORED) != 0)
            continue;
        const Lantern__V1__AuditAnchored *a =
            (const Lantern__V1__AuditAnchored *)ln_event_payload (self->events[i]);
        ln_audit_anchor_t anchor;
        memset (&anchor, 0, sizeof anchor);
        anchor.seq = a->seq;
        snprintf (anchor.hash, sizeof anchor.hash, "%s", a->hash);
        anchor.at_us = a->at_us;
        int rc =
            ln_audit_anchor_record (self->db, self->upstream, self->positions[i], &anchor, err);
        if (rc < 0 && err->code && strcmp (err->code, "AUDIT_INVALID") == 0) {
            /* a malformed anchor is the upstream's problem: said, not stored,
               and the stream goes on (failing the batch would stop it for
               ever) */
            ln_log_error ("upstream's audit anchor refused", "upstream=%s position=%llu error=%s",
                          self->upstream, s_ull (self->positions[i]), err->message);
            continue;
        }
        if (rc < 0)
            return -1;
        if (rc > 0)
            ln_log_error ("upstream's audit trail contradicts its earlier anchor",
                          "upstream=%s position=%llu seq=%llu code=%s error=%s", self->upstream,
                          s_ull (self->positions[i]), s_ull (a->seq), err->code, err->message);
    }
    return 0;
}

static void s_stop_poisoned (ln_consumer_t *self, uint64_t position, const char *code,
                             const char *field, const char *message);
static int s_isolate (ln_consumer_t *self);

/* Apply and commit the gathered batch with its cursor, then grant credit
   for it (and for duplicates consumed meanwhile).  Returns 0, or -1 after
   entering BACKOFF, or after stopping POISONED at an event the apply
   callback refused (s_isolate). */
static int
s_flush (ln_consumer_t *self)
{
    ln_error_t err;
    const char *what = NULL;
    ln_error_clear (&err);

    if (self->count == 0) {
        s_grant (self, self->credit_owed);
        self->credit_owed = 0;
        return 0;
    }
    uint64_t last = self->positions[self->count - 1];
    if (ln_db_begin (self->db) != 0) {
        what = "begin";
        err = *ln_db_last_error (self->db);
        goto fail;
    }
    if (s_record_anchors (self, self->count, &err) != 0) {
        what = "anchor";
        goto fail;
    }
    int arc = self->apply (self->arg, self->db, self->upstream, self->events, self->positions,
                           self->count, &err);
    if (arc == LN_CONSUMER_REFUSE) {
        ln_db_rollback (self->db);
        return s_isolate (self);
    }
    if (arc != 0) {
        what = "apply";
        if (!err.code)
            ln_error_set (&err, "CONSUMER_APPLY_FAILED", NULL, "the apply callback failed");
        goto fail;
    }
    if (PQtransactionStatus (ln_db_conn (self->db)) == PQTRANS_IDLE) {
        /* The callback committed or rolled back itself: its effects and our
           cursor are no longer one transaction.  Refuse loudly (and keep
           refusing) rather than carry on without exactly-once. */
        what = "apply";
        ln_error_set (&err, "CONSUMER_APPLY_INVALID", NULL,
                      "the apply callback ended the transaction itself");
        goto fail;
    }
    if (s_store_cursor (self, last, &err) != 0) {
        what = "cursor";
        goto fail;
    }
    if (ln_db_commit (self->db) != 0) {
        what = "commit";
        err = *ln_db_last_error (self->db);
        goto fail;
    }
    /* Committed: only now may the node send more (protocol 5.3 rule 2). */
    self->committed = last;
    uint64_t n = self->count + (uint64_t)self->credit_owed;
    s_drop_batch (self);
    self->credit_owed = 0;
    self->backoff_ms = LN_CONSUMER_BACKOFF_MIN_MS;
    s_grant (self, n);
    return 0;
fail:
    ln_db_rollback (self->db);
    s_fail (self, what, &err);
    return -1;
}

/* The apply callback refused an event of the batch for what it is
   (LN_CONSUMER_REFUSE).  Apply the batch again one event at a time, each in
   a savepoint of one transaction: the events before the refused one are
   committed with the cursor just before it, and the consumer stops
   POISONED at it, as for an event that fails the envelope's checks (an
   operator looks; `upstream skip` moves past it).  If no event is refused
   alone, the batch as a whole is committed.  Any other failure: BACKOFF,
   as in s_flush.  Returns 0 when the whole batch was committed, else -1. */
static int
s_isolate (ln_consumer_t *self)
{
    ln_error_t err, refusal;
    ln_error_clear (&err);
    ln_error_clear (&refusal);
    const char *what = "begin";
    size_t refused = self->count;
    if (ln_db_begin (self->db) != 0) {
        err = *ln_db_last_error (self->db);
        goto fail;
    }
    what = "apply";
    for (size_t i = 0; i < self->count; i++) {
        if (ln_db_run (self->db, "SAVEPOINT lantern_event", 0, NULL, &err) != 0)
            goto fail;
        int arc = self->apply (self->arg, self->db, self->upstream, self->events + i,
                               self->positions + i, 1, &refusal);
        if (arc == LN_CONSUMER_REFUSE) {
            if (ln_db_run (self->db, "ROLLBACK TO SAVEPOINT lantern_event", 0, NULL, &err) != 0)
                goto fail;
            refused = i;
            break;
        }
        if (arc != 0) {
            err = refusal;
            if (!err.code)
                ln_error_set (&err, "CONSUMER_APPLY_FAILED", NULL, "the apply callback failed");
            goto fail;
        }
        if (ln_db_run (self->db, "RELEASE SAVEPOINT lantern_event", 0, NULL, &err) != 0)
            goto fail;
        ln_error_clear (&refusal);
    }
    what = "anchor";
    if (s_record_anchors (self, refused, &err) != 0)
        goto fail;
    what = "cursor";
    uint64_t last = refused ? self->positions[refused - 1] : self->committed;
    if (refused && s_store_cursor (self, last, &err) != 0)
        goto fail;
    what = "commit";
    if (ln_db_commit (self->db) != 0) {
        err = *ln_db_last_error (self->db);
        goto fail;
    }
    self->committed = last;
    uint64_t n = refused + (uint64_t)self->credit_owed;
    uint64_t at = refused < self->count ? self->positions[refused] : 0;
    s_drop_batch (self);
    self->credit_owed = 0;
    self->backoff_ms = LN_CONSUMER_BACKOFF_MIN_MS;
    s_grant (self, n);
    if (!at)
        return 0;
    s_stop_poisoned (self, at, refusal.code ? refusal.code : "CONSUMER_APPLY_REFUSED",
                     refusal.field, refusal.message);
    return -1;
fail:
    ln_db_rollback (self->db);
    s_fail (self, what, &err);
    return -1;
}

/* --- judging messages ------------------------------------------------------------------- */

/* The stream is suspect (gap, bad message): commit what we hold, then
   resubscribe from the cursor, unless we are in a holdoff after such a
   resubscription (then this is most likely a leftover of the previous
   subscription). */
static void
s_suspect (ln_consumer_t *self, int64_t now, const char *code, const char *detail)
{
    if (now < self->holdoff_until) {
        ln_log_debug ("stream message dropped while resubscribing", "upstream=%s code=%s detail=%s",
                      self->upstream, code, detail);
        return;
    }
    ln_log_warn ("stream suspect, resubscribing", "upstream=%s code=%s detail=%s", self->upstream,
                 code, detail);
    if (s_flush (self) == 0)
        s_subscribe (self, now, code, true);
}

/* An accepted Deliver cannot be applied: commit what came before, stop. */
static void
s_poison (ln_consumer_t *self, uint64_t position, const char *code, const char *field,
          const char *message)
{
    if (s_flush (self) != 0)
        return; /* BACKOFF: the event comes again after the recovery; or
                   stopped already, at an event of the batch before it */
    s_stop_poisoned (self, position, code, field, message);
}

/* Stop at the event at `position`, which cannot be accepted. */
static void
s_stop_poisoned (ln_consumer_t *self, uint64_t position, const char *code, const char *field,
                 const char *message)
{
    self->state = LN_CONSUMER_POISONED;
    self->stopped_at = position;
    snprintf (self->problem, sizeof self->problem, "event at %llu refused: %.40s %.60s: %.100s",
              s_ull (position), code, field, message);
    ln_log_error ("stream stopped: event refused, an operator must look",
                  "upstream=%s position=%llu cursor=%llu code=%s field=%s error=%s", self->upstream,
                  s_ull (position), s_ull (self->committed), code, field, message);
}

static void
s_on_deliver (ln_consumer_t *self, const Lantern__V1__Deliver *d, int64_t now)
{
    ln_error_t err;
    uint64_t have = s_have (self);
    ln_event_t *ev = NULL;
    ln_error_clear (&err);

    if (d->position <= have) {
        /* A duplicate after a resubscription: it took one credit. */
        self->heard_at = self->contact_at = now;
        s_owe (self, 1);
        return;
    }
    if (d->previous_position != have) {
        s_owe (self, 1); /* dropped: a leftover, or the stream is suspect */
        char detail[128];
        snprintf (detail, sizeof detail, "have=%llu previous=%llu position=%llu", s_ull (have),
                  s_ull (d->previous_position), s_ull (d->position));
        s_suspect (self, now, "CONSUMER_GAP", detail);
        return;
    }
    self->heard_at = self->contact_at = now;
    if (d->position > (uint64_t)INT64_MAX) {
        s_poison (self, d->position, "CONSUMER_SEQUENCE", "position",
                  "position beyond what a cursor can hold");
        return;
    }
    ev = ln_envelope_parse (d->event.data, d->event.len, &err);
    if (!ev) {
        s_poison (self, d->position, err.code ? err.code : "EVENT_DECODE", err.field, err.message);
        return;
    }
    if (ln_event_sequence (ev) != d->position) {
        char msg[96];
        snprintf (msg, sizeof msg, "the event's sequence is %llu", s_ull (ln_event_sequence (ev)));
        s_poison (self, d->position, "CONSUMER_SEQUENCE", "attributes[\"sequence\"]", msg);
        goto out;
    }
    if (strcmp (ln_event_node (ev), self->upstream) != 0) {
        char msg[128];
        snprintf (msg, sizeof msg, "the event comes from node %s", ln_event_node (ev));
        s_poison (self, d->position, "CONSUMER_SOURCE", "source", msg);
        goto out;
    }
    self->events[self->count] = ev;
    self->positions[self->count] = d->position;
    self->count++;
    ev = NULL;
out:
    ln_event_destroy (&ev);
}

static void
s_on_reset (ln_consumer_t *self, const Lantern__V1__Reset *r, int64_t now)
{
    if (s_flush (self) != 0)
        return; /* BACKOFF; a later Subscribe will hear the Reset again */
    const char *reason = r->reason ? r->reason : "";
    self->upstream_last = r->last_position;
    if (strcmp (reason, "LIMIT") == 0 || strcmp (reason, "UNAVAILABLE") == 0) {
        /* the upstream cannot serve us now: subscribe again later */
        int wait = r->retry_after_ms ? (int)(r->retry_after_ms > 60000 ? 60000 : r->retry_after_ms)
                                     : RESEND_MAX_MS;
        snprintf (self->problem, sizeof self->problem, "upstream said %s: %s", reason,
                  r->message ? r->message : "");
        ln_log_warn ("stream refused for now, subscribing again later",
                     "upstream=%s reason=%s retry_ms=%d message=%s", self->upstream, reason, wait,
                     r->message ? r->message : "");
        self->heard_at = now + wait - self->idle_ms; /* the idle resubscribe comes after wait */
        return;
    }
    self->state = LN_CONSUMER_RESET;
    self->stopped_at = r->first_position;
    snprintf (self->problem, sizeof self->problem, "upstream sent Reset %s (log %llu..%llu): %s",
              reason, s_ull (r->first_position), s_ull (r->last_position),
              r->message ? r->message : "");
    ln_log_error ("stream stopped: upstream sent Reset, an operator must resynchronise",
                  "upstream=%s cursor=%llu first=%llu last=%llu reason=%s", self->upstream,
                  s_ull (self->committed), s_ull (r->first_position), s_ull (r->last_position),
                  r->reason ? r->reason : "");
}

static void
s_on_message (ln_consumer_t *self, const void *data, size_t size, bool multipart, int64_t now)
{
    ln_error_t err;
    Lantern__V1__ServerMessage *msg = NULL;
    char detail[LN_ERROR_MESSAGE_MAX + LN_ERROR_FIELD_MAX + 32];
    ln_error_clear (&err);

    if (multipart) {
        s_suspect (self, now, "CONSUMER_BAD_MESSAGE", "more than one frame");
        return;
    }
    msg = (Lantern__V1__ServerMessage *)ln_pbcheck_unpack (&lantern__v1__server_message__descriptor,
                                                           data, size, NULL, NULL, &err);
    if (!msg) {
        snprintf (detail, sizeof detail, "%s%s%s: %s", err.code ? err.code : "PB_DECODE",
                  err.field[0] ? " at " : "", err.field, err.message);
        s_suspect (self, now, "CONSUMER_BAD_MESSAGE", detail);
        return;
    }
    self->last_heard_us = ln_clock_wall_us ();
    switch (msg->kind_case) {
    case LANTERN__V1__SERVER_MESSAGE__KIND_DELIVER:
        if (msg->deliver->last_position > self->upstream_last)
            self->upstream_last = msg->deliver->last_position;
        s_on_deliver (self, msg->deliver, now);
        break;
    case LANTERN__V1__SERVER_MESSAGE__KIND_RESET:
        s_on_reset (self, msg->reset, now);
        break;
    default:
        s_suspect (self, now, "CONSUMER_BAD_MESSAGE", "neither Deliver nor Reset");
        break;
    }
    protobuf_c_message_free_unpacked (&msg->base, NULL);
}

/* A message read while not following (backing off, stopped): a Deliver is
   owed a Credit all the same. */
static void
s_count_unapplied (ln_consumer_t *self, const void *data, size_t size)
{
    Lantern__V1__ServerMessage *msg = (Lantern__V1__ServerMessage *)ln_pbcheck_unpack (
        &lantern__v1__server_message__descriptor, data, size, NULL, NULL, NULL);
    if (msg && msg->kind_case == LANTERN__V1__SERVER_MESSAGE__KIND_DELIVER)
        s_owe (self, 1);
    if (msg)
        protobuf_c_message_free_unpacked (&msg->base, NULL);
}

/* --- public ------------------------------------------------------------------------------ */

ln_consumer_t *
ln_consumer_new (const ln_consumer_config_t *cfg, ln_db_t *db, ln_consumer_apply_fn apply,
                 void *arg, ln_error_t *err)
{
    ln_consumer_t *self = NULL;
    ln_consumer_t *result = NULL;

    if (!cfg || !db || !apply) {
        ln_error_set (err, "CONSUMER_INVALID", NULL, "a consumer needs a config, a db and apply");
        goto out;
    }
    if (!cfg->upstream || !ln_envelope_node_valid (cfg->upstream)) {
        ln_error_set (err, "CONSUMER_INVALID", "upstream",
                      "upstream must be a node name ([a-z0-9-], 1..63)");
        goto out;
    }
    if (!cfg->endpoint || !*cfg->endpoint || strlen (cfg->endpoint) >= ENDPOINT_MAX) {
        ln_error_set (err, "CONSUMER_INVALID", "endpoint", "endpoint missing or too long");
        goto out;
    }
    if (!cfg->server_public_key || !cfg->cert) {
        ln_error_set (err, "CONSUMER_INVALID", cfg->cert ? "server_public_key" : "cert",
                      "a consumer needs the upstream's public key and our key pair");
        goto out;
    }
    ln_projection_t asked;
    if (cfg->projection && *cfg->projection && ln_projection_parse (cfg->projection, &asked) != 0) {
        ln_error_set (err, "CONSUMER_INVALID", "projection",
                      "projection must be full, pseudonymised or statistical");
        goto out;
    }
    if (cfg->idle_ms < 0 || (cfg->idle_ms > 0 && cfg->idle_ms < IDLE_MIN_MS)) {
        ln_error_set (err, "CONSUMER_INVALID", "idle_ms", "idle_ms must be 0 or >= %d",
                      IDLE_MIN_MS);
        goto out;
    }
    self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    snprintf (self->upstream, sizeof self->upstream, "%s", cfg->upstream);
    snprintf (self->endpoint, sizeof self->endpoint, "%s", cfg->endpoint);
    snprintf (self->projection, sizeof self->projection, "%s",
              cfg->projection ? cfg->projection : "");
    self->db = db;
    self->apply = apply;
    self->arg = arg;
    self->credit = cfg->credit ? cfg->credit : LN_CONSUMER_CREDIT_DEFAULT;
    if (self->credit > LN_CONSUMER_CREDIT_MAX)
        self->credit = LN_CONSUMER_CREDIT_MAX;
    self->idle_ms = cfg->idle_ms ? cfg->idle_ms : LN_CONSUMER_IDLE_MS_DEFAULT;
    self->holdoff_ms = self->idle_ms / 4 > HOLDOFF_MIN_MS ? self->idle_ms / 4 : HOLDOFF_MIN_MS;
    self->batch_max = cfg->batch_max ? cfg->batch_max : self->credit;
    if (self->batch_max > LN_CONSUMER_CREDIT_MAX)
        self->batch_max = LN_CONSUMER_CREDIT_MAX; /* never more than a window can hold */
    self->backoff_ms = LN_CONSUMER_BACKOFF_MIN_MS;
    self->resend_ms = RESEND_MIN_MS;
    self->contact_at = zclock_mono ();
    self->events = calloc (self->batch_max, sizeof *self->events);
    self->positions = calloc (self->batch_max, sizeof *self->positions);
    if (!self->events || !self->positions)
        abort ();

    if (s_load_cursor (self, &self->committed, err) != 0)
        goto out;
    self->sock =
        ln_auth_client_socket (ZMQ_DEALER, self->endpoint, cfg->cert, cfg->server_public_key, err);
    if (!self->sock)
        goto out;
    /* Let a full window wait in our queue rather than back up to the node.
       ZMQ_IMMEDIATE (see s_send) and the HWM apply to connections made
       after they are set, and ln_auth_client_socket has connected already:
       connect again (nothing can have been sent yet). */
    /* After a resubscription up to two windows can be on their way; a full
       queue left unread past the heartbeat timeout trips a libzmq assertion
       (libzmq issue 3937), so never let it fill. */
    if (2 * (int)self->credit + 1000 > zsock_rcvhwm (self->sock))
        zsock_set_rcvhwm (self->sock, 2 * (int)self->credit + 1000);
    zsock_set_immediate (self->sock, 1);
    if (zsock_disconnect (self->sock, "%s", self->endpoint) != 0 ||
        zsock_connect (self->sock, "%s", self->endpoint) != 0) {
        ln_error_set (err, "AUTH_SOCKET", "endpoint", "cannot connect to %s: %s", self->endpoint,
                      zmq_strerror (zmq_errno ()));
        goto out;
    }
    self->state = LN_CONSUMER_FOLLOWING;
    ln_log_info ("stream consumer started", "upstream=%s endpoint=%s cursor=%llu credit=%u",
                 self->upstream, self->endpoint, s_ull (self->committed), (unsigned)self->credit);
    s_subscribe (self, zclock_mono (), "start", false);
    result = self;
    self = NULL;
out:
    ln_consumer_destroy (&self);
    return result;
}

void
ln_consumer_destroy (ln_consumer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ln_consumer_t *self = *self_p;
    if (self->events)
        s_drop_batch (self);
    zsock_destroy (&self->sock);
    free (self->events);
    free (self->positions);
    free (self);
    *self_p = NULL;
}

zsock_t *
ln_consumer_socket (ln_consumer_t *self)
{
    return self ? self->sock : NULL;
}

int
ln_consumer_on_readable (ln_consumer_t *self)
{
    if (!self)
        return -1;
    void *handle = zsock_resolve (self->sock);
    int64_t now = zclock_mono ();
    bool was_following = self->state == LN_CONSUMER_FOLLOWING;

    /* At most batch_max messages per call, so that one call is one
       transaction and a fast upstream cannot keep us here forever. */
    for (size_t reads = 0; reads < self->batch_max; reads++) {
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        if (zmq_msg_recv (&msg, handle, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&msg);
            break; /* EAGAIN: nothing more waiting */
        }
        bool more = zmq_msg_more (&msg);
        if (self->state == LN_CONSUMER_FOLLOWING)
            s_on_message (self, zmq_msg_data (&msg), zmq_msg_size (&msg), more, now);
        else if (!more)
            s_count_unapplied (self, zmq_msg_data (&msg), zmq_msg_size (&msg));
        zmq_msg_close (&msg);
        /* Discard the rest of a multi-frame message. */
        while (more) {
            zmq_msg_t part;
            zmq_msg_init (&part);
            if (zmq_msg_recv (&part, handle, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close (&part);
                break;
            }
            more = zmq_msg_more (&part);
            zmq_msg_close (&part);
        }
        if (self->count >= self->batch_max)
            break;
    }
    if (self->state == LN_CONSUMER_FOLLOWING)
        s_flush (self);
    else
        s_drop_batch (self); /* nothing gathered outlives a stop */
    return was_following && self->state == LN_CONSUMER_BACKOFF ? -1 : 0;
}

int
ln_consumer_on_tick (ln_consumer_t *self, int64_t now_ms)
{
    if (!self)
        return -1;
    switch (self->state) {
    case LN_CONSUMER_FOLLOWING:
        if (self->sub_pending && now_ms >= self->resend_at)
            s_subscribe (self, now_ms, self->sub_why, false);
        else if (now_ms - self->heard_at >= self->idle_ms)
            s_subscribe (self, now_ms, "idle", false);
        return 0;
    case LN_CONSUMER_BACKOFF:
        if (now_ms >= self->retry_at)
            return s_recover (self, now_ms);
        return 0;
    case LN_CONSUMER_RESET:
    case LN_CONSUMER_POISONED:
        return 0;
    }
    return 0;
}

int
ln_consumer_next_timeout_ms (ln_consumer_t *self, int64_t now_ms)
{
    int64_t due;
    if (!self)
        return -1;
    if (self->state == LN_CONSUMER_FOLLOWING) {
        due = self->heard_at + self->idle_ms;
        if (self->sub_pending && self->resend_at < due)
            due = self->resend_at;
    }
    else if (self->state == LN_CONSUMER_BACKOFF)
        due = self->retry_at;
    else
        return -1;
    if (due <= now_ms)
        return 0;
    return due - now_ms > INT32_MAX ? INT32_MAX : (int)(due - now_ms);
}

uint64_t
ln_consumer_position (const ln_consumer_t *self)
{
    return self ? self->committed : 0;
}

ln_consumer_state_t
ln_consumer_state (const ln_consumer_t *self)
{
    return self ? self->state : LN_CONSUMER_POISONED;
}

const char *
ln_consumer_upstream (const ln_consumer_t *self)
{
    return self->upstream;
}

void
ln_consumer_status (const ln_consumer_t *self, ln_consumer_status_t *st)
{
    memset (st, 0, sizeof *st);
    snprintf (st->upstream, sizeof st->upstream, "%s", self->upstream);
    snprintf (st->endpoint, sizeof st->endpoint, "%s", self->endpoint);
    st->state = self->state;
    st->position = self->committed;
    st->upstream_position = self->upstream_last;
    st->last_heard_us = self->last_heard_us;
    st->stopped_at = self->stopped_at;
    /* Following, but nothing heard for three idle intervals (each brings a
       Subscribe, which a live upstream answers or serves): lagging. */
    st->lagging = self->state == LN_CONSUMER_FOLLOWING &&
                  zclock_mono () - self->contact_at > 3LL * self->idle_ms &&
                  (self->last_heard_us == 0 ||
                   ln_clock_wall_us () - self->last_heard_us > 3000LL * self->idle_ms);
    snprintf (st->problem, sizeof st->problem, "%s",
              self->state == LN_CONSUMER_FOLLOWING && !st->lagging ? "" : self->problem);
    if (st->lagging && !st->problem[0])
        snprintf (st->problem, sizeof st->problem, "nothing heard from %.180s since %s",
                  self->endpoint, self->last_heard_us ? "a while" : "start");
}

int
ln_consumer_resync (ln_consumer_t *self, uint64_t after_position, ln_error_t *err)
{
    int rc = -1;
    PGresult *res = NULL;
    char to[POSITION_TEXT];
    if (after_position > (uint64_t)INT64_MAX) {
        ln_error_set (err, "CONSUMER_INVALID", "after_position", "position out of range");
        return -1;
    }
    snprintf (to, sizeof to, "%" PRIu64, after_position);
    const char *params[2] = {self->upstream, to};
    if (ln_db_begin (self->db) != 0) {
        *err = *ln_db_last_error (self->db);
        goto out;
    }
    res = ln_db_exec (self->db,
                      "INSERT INTO stream_cursors (upstream, position) VALUES ($1, $2::bigint) "
                      "ON CONFLICT (upstream) DO UPDATE SET position = EXCLUDED.position, "
                      "updated_at = now ()",
                      2, params, err);
    if (!res || ln_db_commit (self->db) != 0) {
        if (res)
            *err = *ln_db_last_error (self->db);
        goto out;
    }
    ln_log_warn ("stream resynchronised by an operator", "upstream=%s from=%llu to=%llu",
                 self->upstream, s_ull (self->committed), s_ull (after_position));
    s_drop_batch (self);
    self->committed = after_position;
    self->state = LN_CONSUMER_FOLLOWING;
    self->problem[0] = '\0';
    self->stopped_at = 0;
    self->backoff_ms = LN_CONSUMER_BACKOFF_MIN_MS;
    s_subscribe (self, zclock_mono (), "resync", true);
    rc = 0;
out:
    if (rc != 0)
        ln_db_rollback (self->db);
    PQclear (res);
    return rc;
}
