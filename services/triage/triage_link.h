/*  triage_link: intake events -> cases.

    THE RULE.  Two signals are linked when they share a STRONG token: a
    pseudonym of the same BSN, document number, phone number, name
    together with date of birth, licence plate, employer (KvK number) or
    full address (IdentifierKind; docs/protocol.md 4.7).  Nothing else
    links: there is no token of a name alone or a city alone, and a token
    of a kind this module does not list as strong (a kind added later, or a
    value out of range), or a token that is not 64 lower-case hex digits,
    is ignored.  A case is a set of signals connected by such links.  A
    signal in a CLOSED case links no more: a new signal sharing a token
    with it starts or joins another case.

    DETERMINISM.  Dropping triage's schema and replaying the intake streams,
    in whatever interleaving of the upstreams, must give the same cases,
    links, scores and agenda, row by row.  So nothing here depends on the
    order of arrival, a random number or the wall clock:
      - the open, undecided cases are exactly the connected components of
        the active (not withdrawn) signals that are not in a decided or
        closed case; each is named after its earliest signal by (received
        time, signal id): "sig-X" -> "case-X".  Applying an event changes
        only the components it touches (the signal's own case and the cases
        of the signals it shares a token with), recomputed from their
        members: joining unites them, a withdrawal may split one, and a
        late-arriving earlier signal renames one (the old id then resolves
        through its signal, triage_store_resolve);
      - the reason of every link is recomputed from the member set
        (triage_link_explain), not remembered from when it was made;
      - every time comes from the events (received_at_us, updated_at_us),
        and events get ids derived from the upstream position.
    A DECIDED case is pinned: once the meeting has decided on it, its id
    and its membership hold (it does not split or get renamed; signals
    still join it, and a decided case absorbs the cases it comes to share a
    token with; of two decided cases the earlier opened survives).
    Decisions are the meeting's, not the streams': they are outside the
    replay, so pinning does not touch the determinism above.

    A withdrawn signal leaves its case (its tokens are deleted); a case
    left without active signals closes (outcome EMPTY).  An amendment
    re-links (it can only add tokens), and makes the signal undiscussed
    again, so that the case comes back to the agenda with the news.
    Immediate danger or a minor involved raises alert.raised at once, once
    per signal and kind, also when an amendment adds the flag.

    Each apply function works inside the CALLER's open transaction (the
    consumer's, or a command's) on `db`, and writes its events through the
    emitter (triage.h).  Event order per intake event: case.opened,
    case.merged, case.linked, case.closed, alert.raised.

    Checks on the event (the upstream is a registered peer, not a trusted
    one): the signal id must be intake's form, signal.node must be the
    upstream (TRIAGE_FOREIGN_SIGNAL otherwise, also for an id that another
    upstream already holds).  A version not above the stored one changes
    nothing (duplicate delivery).  Refusals return -1 with the code: the
    consumer then rolls back and retries, so a bad upstream stops itself,
    not the others.

    Error codes: TRIAGE_BAD_EVENT (a payload without signal or details, a
    bad signal id; field names it), TRIAGE_FOREIGN_SIGNAL, TRIAGE_CORRUPT
    (the tables hold what this module never writes), DB_*, OUTBOX_* (from
    the emitter).
*/
#ifndef TRIAGE_LINK_H
#define TRIAGE_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lantern.pb-c.h"
#include "ln_db.h"
#include "ln_error.h"
#include "triage.h"

/* --- the pure part --------------------------------------------------------------- */

typedef struct {
    int kind;          /* lantern.v1.IdentifierKind */
    const char *token; /* 64 lower-case hex */
} triage_token_t;

/* The rank of a kind among the strong ones (0 strongest: BSN, DOCUMENT,
   NAME_BIRTHDATE, PHONE, VEHICLE, EMPLOYER, ADDRESS), or -1 when the kind
   never links. */
int triage_link_kind_rank (int kind);

/* "PHONE", "NAME_BIRTHDATE", ... or "UNKNOWN". */
const char *triage_link_kind_name (int kind);

/* Whether a token may link: a strong kind and 64 lower-case hex digits. */
bool triage_link_token_usable (int kind, const char *token);

/* One signal for the pure functions (everything borrowed). */
typedef struct {
    const char *id;      /* signal id */
    const char *node;    /* its intake node */
    int64_t received_us; /* with id: the order of signals */
    /* Its case now: a pinned (decided) case keeps its id and its members
       together; pinned_opened_us orders pinned cases (the earlier opened
       survives a merge of two). NULL case_id: none yet. */
    const char *case_id;
    bool pinned;
    int64_t pinned_opened_us;
    const triage_token_t *tokens;
    size_t n_tokens;
} triage_member_t;

/* Partition n members into cases: members sharing a usable token, and
   members of one pinned case, end up together.  group[i] (n entries) gets
   the group of member i; case_ids (room for n) gets each group's case id:
   the earliest-opened pinned case's id when the group holds one, else
   "case-" + its earliest member's id characters.  Groups are numbered in
   the order of their case ids.  Returns the number of groups, or -1 when a
   member id is not a signal id. */
int triage_link_partition (const triage_member_t *m, size_t n, size_t *group,
                           char (*case_ids)[TRIAGE_CASE_ID_SIZE]);

/* Why each member of ONE case is in it.  Members are visited from the
   earliest (received, id): repeatedly the earliest not yet visited member
   that shares a token with a visited one is visited, and its link is to
   the first visited member it shares a token with, through the strongest
   such token (triage_link_kind_rank, then token).  A member reached by no
   token (only in a pinned case) starts a new tree.  parent[i] is the index
   of member i's other signal, or -1 for no link (the earliest, and members
   kept only by a decision); kind[i] the kind of the shared token (0 when
   parent is -1).  The result depends on the set only, not on its order. */
void triage_link_explain (const triage_member_t *m, size_t n, long *parent, int *kind);

/* "same PHONE token as sig-... from intake-politie" into out. */
void triage_link_reason (int kind, const char *other_signal_id, const char *other_node, char *out,
                         size_t out_size);

/* --- a signal as triage keeps it (shared with triage_batch) --------------------------- */

/* The checks every intake event's signal passes: present, an intake
   signal id, details, and signal.node the upstream it came from.  0, or -1
   with err set (TRIAGE_BAD_EVENT, TRIAGE_FOREIGN_SIGNAL). */
int triage_link_check_signal (const Lantern__V1__Signal *sig, const char *upstream,
                              ln_error_t *err);

/* Every token of the details' persons, addresses, vehicles and employers,
   usable or not (borrowed from d); *n set; the caller frees the array. */
triage_token_t *triage_link_tokens (const Lantern__V1__SignalDetails *d, size_t *n);

/* The signal's ExploitationForms as a bit mask (bit f: form f). */
uint32_t triage_link_forms_mask (const Lantern__V1__SignalDetails *d);

/* The record triage stores of a signal (signals.record): the signal
   without its account, submitter and reporter, and, when withdrawn,
   without its persons, addresses, vehicles and employers.  Malloc'ed;
   *size set. */
uint8_t *triage_link_record (const Lantern__V1__Signal *sig, bool withdrawn, size_t *size);

/* --- applying intake events -------------------------------------------------------- */

/* Apply one intake event inside the caller's transaction on db: `upstream`
   is the node followed (its events' source), `position` the event's
   position in its stream (it names the events this causes).  The emitter's
   upstream/position/n are set here.  0 or -1 with err set (roll back). */
int triage_link_received (ln_db_t *db, const char *upstream, uint64_t position,
                          const Lantern__V1__SignalReceived *ev, triage_emitter_t *em,
                          ln_error_t *err);
int triage_link_amended (ln_db_t *db, const char *upstream, uint64_t position,
                         const Lantern__V1__SignalAmended *ev, triage_emitter_t *em,
                         ln_error_t *err);
int triage_link_withdrawn (ln_db_t *db, const char *upstream, uint64_t position,
                           const Lantern__V1__SignalWithdrawn *ev, triage_emitter_t *em,
                           ln_error_t *err);

/* The consumer's apply callback in one call: the three above by CloudEvent
   type (payload: the decoded payload, ln_event_payload), 0 and nothing done
   for any other type (node.started, notice.posted, ...); TRIAGE_BAD_EVENT
   when the payload is not the message of its type. */
int triage_link_apply (ln_db_t *db, const char *upstream, uint64_t position, const char *type,
                       const ProtobufCMessage *payload, triage_emitter_t *em, ln_error_t *err);

/* nl.lantern.record.erased.v1 from `upstream` for `signal_id` (intake's
   retention purged it): every copy triage holds goes (its row and record,
   tokens, link, alerts; an active signal first leaves its case as a
   withdrawn one does), the payloads of every event of every case it has
   been in are erased with ln_outbox_erase, whose RecordErased events tell
   triage's followers to erase those cases, and each of those cases that
   is still open is stated again without it (case.opened, or case.decided
   per decision).  An id that is not a signal id, a signal triage does not
   hold, or one of another upstream changes nothing (0).  at_us: the time
   of the erasure.  0 or -1 with err set. */
int triage_link_erased (ln_db_t *db, const char *upstream, uint64_t position, const char *signal_id,
                        const char *reason, int64_t at_us, triage_emitter_t *em, ln_error_t *err);

/* triage_link_erased in two steps, so that a batch of erasures scans the
   log once: erase_signal does all but the events (the signal's copies;
   the cases it has been in are added, distinct, to *cases, malloc'ed
   strings the caller frees); erase_cases erases the events of those cases
   (one ln_outbox_erase, `why` its reason) and states again those still
   open.  0 or -1 with err set. */
int triage_link_erase_signal (ln_db_t *db, const char *upstream, uint64_t position,
                              const char *signal_id, int64_t at_us, triage_emitter_t *em,
                              char ***cases, size_t *n_cases, ln_error_t *err);
int triage_link_erase_cases (ln_db_t *db, char *const *cases, size_t n_cases, const char *why,
                             int64_t at_us, triage_emitter_t *em, ln_error_t *err);

#endif
