/*  intake_store: the intake node's tables, and every SQL statement on them.

    Tables (migrations from version 100, in the node's own schema):
      signals         one row per signal: the columns lists and retention
                      need, and `record`, the whole signal as a packed
                      lantern.v1.Signal (reporter and tokens included: the
                      record never leaves the node as such; events carry
                      what each follower may see).
      signal_history  one row per change after the submission (version 2
                      and up: each amendment, withdrawal or status change):
                      who, when, what was added (a packed SignalDetails) or
                      why.  Version 1, the submission, is the signals row
                      itself (submitted_by, received_us): the hot path
                      writes one row per signal.  Deleted with its signal.
    Every later change writes its signals row and its history row in the caller's
    transaction; versions make concurrent changes of one signal fail rather
    than overwrite each other (the history's primary key is (signal_id,
    version)).

    Retention: a withdrawn signal, or one whose case ended with NO_ACTION,
    gets `closed_us`; intake_store_purge deletes those closed before a
    cutoff and writes one audit row per purged signal in the same
    transaction (docs/architecture.md "Retention").
*/
#ifndef INTAKE_STORE_H
#define INTAKE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "intake.h"
#include "ln_db.h"
#include "ln_error.h"

/* A message packed into a new buffer (the caller frees; never NULL: out of
   memory aborts). */
uint8_t *intake_pack (const ProtobufCMessage *msg, size_t *size);

/* The service's migrations (versions 100 and up), for ln_server_migrate. */
const ln_migration_t *intake_store_migrations (size_t *count);

/* One signal as written by a change: the row's columns and its history
   entry.  Strings and buffers are owned by the row (intake_row_destroy). */
typedef struct {
    char id[INTAKE_SIGNAL_ID_SIZE];
    char *organisation;
    char *submitted_by;
    int status; /* lantern.v1.SignalStatus */
    uint32_t version;
    char *catalogue_version;
    char *municipality;
    uint32_t forms_mask; /* bit f set: ExploitationForm f */
    bool immediate_danger;
    bool minor_involved;
    uint32_t persons;
    int64_t received_us;
    int64_t updated_us;
    int64_t closed_us; /* 0: open; else retention counts from here */
    uint8_t *record;   /* packed lantern.v1.Signal */
    size_t record_size;
    /* the history entry of this change */
    char *action; /* submitted, amended, withdrawn, status */
    char *principal;
    uint8_t *added; /* packed SignalDetails, or NULL */
    size_t added_size;
    char *reason; /* or NULL */
} intake_row_t;

intake_row_t *intake_row_new (void);
void intake_row_destroy (intake_row_t **self_p);
/* For ln_call_stage: destroys a row given as void *. */
void intake_row_free (void *row);

/* Insert n new signals (version 1): one statement whatever n is (the
   rows' history fields are not used: see signal_history above).  In the
   caller's transaction.  0 or -1 with err set. */
int intake_store_insert (ln_db_t *db, intake_row_t *const *rows, size_t n, ln_error_t *err);

/* The current state of one signal, read FOR UPDATE (locked until the
   transaction ends). */
typedef struct {
    char organisation[LN_KEYS_ORG_MAX + 1];
    int status;
    uint32_t version;
    uint8_t *record; /* malloc'ed packed Signal */
    size_t record_size;
} intake_current_t;

/* Read (and lock, when for_update) one signal.  Returns 1 found, 0 not
   found, -1 error.  cur->record is the caller's to free. */
int intake_store_load (ln_db_t *db, const char *id, bool for_update, intake_current_t *cur,
                       ln_error_t *err);

/* Write a change of an existing signal: update its row to row->version
   (only when the stored version is row->version - 1) and add the history
   entry.  0, or -1 with err set (INTAKE_CONFLICT when the version moved). */
int intake_store_update (ln_db_t *db, const intake_row_t *row, ln_error_t *err);

/* One history entry as read back. */
typedef struct {
    uint32_t version;
    char *action;
    char *principal;
    int64_t at_us;
    uint8_t *added;
    size_t added_size;
    char *reason;
} intake_history_t;

/* A signal's history in version order: *entries (malloc'ed array) and *n;
   free with intake_history_free.  0 or -1. */
int intake_store_history (ln_db_t *db, const char *id, intake_history_t **entries, size_t *n,
                          ln_error_t *err);
void intake_history_free (intake_history_t *entries, size_t n);

/* ListSignals: the organisation's signals, newest first. */
typedef struct {
    const char *organisation;
    int status;               /* 0: any */
    const char *municipality; /* NULL or "": any */
    int form;                 /* 0: any */
    int64_t from_us, to_us;   /* 0: unbounded */
    /* page: strictly after (after_us, after_id) in the order; after_id ""
       for the first page */
    int64_t after_us;
    const char *after_id;
    size_t limit;
} intake_filter_t;

/* Calls row_fn for each matching signal (at most filter->limit), with the
   summary columns.  Returns the number of rows, or -1. */
typedef struct {
    const char *id;
    int status;
    const char *municipality;
    uint32_t forms_mask;
    bool immediate_danger;
    bool minor_involved;
    int64_t received_us;
    int64_t updated_us;
    uint32_t persons;
    uint32_t version;
    const char *submitted_by;
} intake_summary_t;
typedef void (*intake_summary_fn) (void *arg, const intake_summary_t *summary);
int intake_store_list (ln_db_t *db, const intake_filter_t *filter, intake_summary_fn fn, void *arg,
                       ln_error_t *err);

/* Retention: delete at most max signals withdrawn before withdrawn_before_us
   or closed with NO_ACTION before no_action_before_us (0: that kind is
   kept), audit each deletion (outcome purged, by `by`), and erase the
   signals' events from the log (ln_outbox_erase: their payloads removed,
   one nl.lantern.record.erased.v1 per signal at `level`, so that
   followers erase their copies), in one transaction of its own.  *purged
   gets the count.  0 or -1. */
int intake_store_purge (ln_db_t *db, int64_t withdrawn_before_us, int64_t no_action_before_us,
                        size_t max, const char *by, ln_level_t level, size_t *purged,
                        ln_error_t *err);

#endif
