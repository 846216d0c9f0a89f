/*  triage_link: intake events -> cases (see triage_link.h).

    The pure part works on index arrays: the usable tokens of all members
    are sorted by (kind, token) into token groups (equal tokens = one
    group), and a union-find over members joins each token group's holders
    and each pinned case's members.  The apply part loads the members of
    the cases an event touches (triage_store), partitions them, and writes
    the differences.
*/
#include "triage_link.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "triage.pb-c.h"
#include "triage_decide.h"
#include "triage_store.h"

#define K(x) LANTERN__V1__IDENTIFIER_KIND__IDENTIFIER_KIND_##x

/* Strong kinds, strongest first: the order in which a link's reason is
   chosen when two signals share tokens of several kinds. */
static const int s_strong[] = {K (BSN),     K (DOCUMENT), K (NAME_BIRTHDATE), K (PHONE),
                               K (VEHICLE), K (EMPLOYER), K (ADDRESS)};
#define S_STRONG_N (sizeof s_strong / sizeof s_strong[0])

int
triage_link_kind_rank (int kind)
{
    for (size_t i = 0; i < S_STRONG_N; i++)
        if (s_strong[i] == kind)
            return (int)i;
    return -1;
}

const char *
triage_link_kind_name (int kind)
{
    switch (kind) {
    case K (NAME_BIRTHDATE):
        return "NAME_BIRTHDATE";
    case K (BSN):
        return "BSN";
    case K (DOCUMENT):
        return "DOCUMENT";
    case K (PHONE):
        return "PHONE";
    case K (ADDRESS):
        return "ADDRESS";
    case K (VEHICLE):
        return "VEHICLE";
    case K (EMPLOYER):
        return "EMPLOYER";
    default:
        return "UNKNOWN";
    }
}

bool
triage_link_token_usable (int kind, const char *token)
{
    if (triage_link_kind_rank (kind) < 0 || !token || strlen (token) != 64)
        return false;
    for (size_t i = 0; i < 64; i++)
        if (!((token[i] >= '0' && token[i] <= '9') || (token[i] >= 'a' && token[i] <= 'f')))
            return false;
    return true;
}

void
triage_link_reason (int kind, const char *other_signal_id, const char *other_node, char *out,
                    size_t out_size)
{
    snprintf (out, out_size, "same %s token as %s from %s", triage_link_kind_name (kind),
              other_signal_id, other_node);
}

/* --- the pure part ---------------------------------------------------------------- */

/* One usable token of one member. */
typedef struct {
    int kind;
    int rank;
    const char *token;
    size_t member;
    size_t group; /* token group: entries with equal (kind, token) */
} s_entry_t;

static int
s_cmp_entry_token (const void *a, const void *b)
{
    const s_entry_t *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    int c = strcmp (x->token, y->token);
    if (c)
        return c;
    return x->member < y->member ? -1 : x->member > y->member;
}

static int
s_cmp_entry_member (const void *a, const void *b)
{
    const s_entry_t *x = a, *y = b;
    if (x->member != y->member)
        return x->member < y->member ? -1 : 1;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    return strcmp (x->token, y->token);
}

/* Every usable token of every member, sorted by (kind, token) with groups
   numbered; *count set.  The caller frees. */
static s_entry_t *
s_entries (const triage_member_t *m, size_t n, size_t *count, size_t *groups)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += m[i].n_tokens;
    s_entry_t *e = ln_xcalloc (total ? total : 1, sizeof *e);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t t = 0; t < m[i].n_tokens; t++)
            if (triage_link_token_usable (m[i].tokens[t].kind, m[i].tokens[t].token))
                e[k++] = (s_entry_t){.kind = m[i].tokens[t].kind,
                                     .rank = triage_link_kind_rank (m[i].tokens[t].kind),
                                     .token = m[i].tokens[t].token,
                                     .member = i};
    triage_sort (e, k, sizeof *e, s_cmp_entry_token);
    size_t g = 0;
    for (size_t i = 0; i < k; i++) {
        if (i > 0 && (e[i].kind != e[i - 1].kind || strcmp (e[i].token, e[i - 1].token) != 0))
            g++;
        e[i].group = g;
    }
    *count = k;
    *groups = k ? g + 1 : 0;
    return e;
}

/* Member order: (received_us, id). */
static int
s_member_cmp (const triage_member_t *a, const triage_member_t *b)
{
    if (a->received_us != b->received_us)
        return a->received_us < b->received_us ? -1 : 1;
    return strcmp (a->id, b->id);
}

static size_t
s_find (size_t *up, size_t x)
{
    while (up[x] != x) {
        up[x] = up[up[x]];
        x = up[x];
    }
    return x;
}

static void
s_union (size_t *up, size_t a, size_t b)
{
    a = s_find (up, a);
    b = s_find (up, b);
    if (a != b)
        up[a < b ? b : a] = a < b ? a : b;
}

static int
s_cmp_pin (const void *a, const void *b)
{
    const triage_member_t *const *x = a;
    const triage_member_t *const *y = b;
    return strcmp ((*x)->case_id, (*y)->case_id);
}

static int
s_cmp_member_ptr (const void *a, const void *b)
{
    const triage_member_t *const *x = a;
    const triage_member_t *const *y = b;
    return s_member_cmp (*x, *y);
}

typedef struct {
    char id[TRIAGE_CASE_ID_SIZE];
    size_t root;
} s_named_t;

static int
s_cmp_named (const void *a, const void *b)
{
    const s_named_t *x = a, *y = b;
    return strcmp (x->id, y->id);
}

int
triage_link_partition (const triage_member_t *m, size_t n, size_t *group,
                       char (*case_ids)[TRIAGE_CASE_ID_SIZE])
{
    int rc = -1;
    size_t ne = 0, ng = 0;
    s_entry_t *e = NULL;
    size_t *up = ln_xcalloc (n ? n : 1, sizeof *up);
    size_t *best = ln_xcalloc (n ? n : 1, sizeof *best);     /* per root: earliest member */
    size_t *pinned = ln_xcalloc (n ? n : 1, sizeof *pinned); /* per root: best pinned + 1 */
    s_named_t *named = ln_xcalloc (n ? n : 1, sizeof *named);
    const triage_member_t **pins = ln_xcalloc (n ? n : 1, sizeof *pins);

    for (size_t i = 0; i < n; i++) {
        if (!triage_signal_id_valid (m[i].id))
            goto out;
        up[i] = i;
    }
    e = s_entries (m, n, &ne, &ng);
    for (size_t i = 1; i < ne; i++)
        if (e[i].group == e[i - 1].group)
            s_union (up, e[i].member, e[i - 1].member);
    /* Members of one pinned case stay together, tokens or not: sorted by
       case id, neighbours with the same one are joined. */
    size_t np = 0;
    for (size_t i = 0; i < n; i++)
        if (m[i].pinned && m[i].case_id)
            pins[np++] = &m[i];
    triage_sort (pins, np, sizeof *pins, s_cmp_pin);
    for (size_t i = 1; i < np; i++)
        if (strcmp (pins[i]->case_id, pins[i - 1]->case_id) == 0)
            s_union (up, (size_t)(pins[i] - m), (size_t)(pins[i - 1] - m));
    for (size_t i = 0; i < n; i++)
        best[i] = i;
    for (size_t i = 0; i < n; i++) {
        size_t r = s_find (up, i);
        if (s_member_cmp (&m[i], &m[best[r]]) < 0)
            best[r] = i;
        if (m[i].pinned && m[i].case_id) {
            size_t p = pinned[r];
            if (p == 0 || m[i].pinned_opened_us < m[p - 1].pinned_opened_us ||
                (m[i].pinned_opened_us == m[p - 1].pinned_opened_us &&
                 strcmp (m[i].case_id, m[p - 1].case_id) < 0))
                pinned[r] = i + 1;
        }
    }
    size_t groups = 0;
    for (size_t i = 0; i < n; i++) {
        if (s_find (up, i) != i)
            continue;
        named[groups].root = i;
        if (pinned[i])
            snprintf (named[groups].id, sizeof named[groups].id, "%s", m[pinned[i] - 1].case_id);
        else
            triage_case_id_of (m[best[i]].id, named[groups].id);
        groups++;
    }
    triage_sort (named, groups, sizeof *named, s_cmp_named);
    for (size_t g = 0; g < groups; g++) {
        memcpy (case_ids[g], named[g].id, TRIAGE_CASE_ID_SIZE);
        best[named[g].root] = g; /* reuse: root -> group number */
    }
    for (size_t i = 0; i < n; i++)
        group[i] = best[s_find (up, i)];
    rc = (int)groups;
out:
    free (e);
    free (up);
    free (best);
    free (pinned);
    free (named);
    free (pins);
    return rc;
}

/* A binary min-heap of member indexes by member order. */
typedef struct {
    size_t *items;
    size_t n;
    const triage_member_t *m;
} s_heap_t;

static bool
s_heap_less (const s_heap_t *h, size_t a, size_t b)
{
    return s_member_cmp (&h->m[h->items[a]], &h->m[h->items[b]]) < 0;
}

static void
s_heap_push (s_heap_t *h, size_t v)
{
    size_t i = h->n++;
    h->items[i] = v;
    while (i > 0 && s_heap_less (h, i, (i - 1) / 2)) {
        size_t p = (i - 1) / 2, t = h->items[p];
        h->items[p] = h->items[i];
        h->items[i] = t;
        i = p;
    }
}

static size_t
s_heap_pop (s_heap_t *h)
{
    size_t top = h->items[0];
    h->items[0] = h->items[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, s = i;
        if (l < h->n && s_heap_less (h, l, s))
            s = l;
        if (r < h->n && s_heap_less (h, r, s))
            s = r;
        if (s == i)
            break;
        size_t t = h->items[s];
        h->items[s] = h->items[i];
        h->items[i] = t;
        i = s;
    }
    return top;
}

void
triage_link_explain (const triage_member_t *m, size_t n, long *parent, int *kind)
{
    size_t ne = 0, ng = 0;
    s_entry_t *by_token = s_entries (m, n, &ne, &ng);
    s_entry_t *by_member = ln_xcalloc (ne ? ne : 1, sizeof *by_member);
    memcpy (by_member, by_token, ne * sizeof *by_member);
    triage_sort (by_member, ne, sizeof *by_member, s_cmp_entry_member);
    size_t *group_start = ln_xcalloc (ng + 1, sizeof *group_start);  /* in by_token */
    size_t *member_start = ln_xcalloc (n + 1, sizeof *member_start); /* in by_member */
    bool *expanded = ln_xcalloc (ng ? ng : 1, sizeof *expanded);
    bool *visited = ln_xcalloc (n ? n : 1, sizeof *visited);
    bool *queued = ln_xcalloc (n ? n : 1, sizeof *queued);
    size_t *order = ln_xcalloc (n ? n : 1, sizeof *order);
    s_heap_t heap = {.items = ln_xcalloc (n ? n : 1, sizeof (size_t)), .n = 0, .m = m};

    for (size_t i = 0, g = 0; i < ne; i++)
        if (i == 0 || by_token[i].group != by_token[i - 1].group)
            group_start[g++] = i;
    group_start[ng] = ne;
    for (size_t i = 0, k = 0; i <= n; i++) {
        while (k < ne && by_member[k].member < i)
            k++;
        member_start[i] = k;
    }
    /* Roots are taken in member order: sort the members once. */
    const triage_member_t **sorted = ln_xcalloc (n ? n : 1, sizeof *sorted);
    for (size_t i = 0; i < n; i++) {
        parent[i] = -1;
        kind[i] = 0;
        sorted[i] = &m[i];
    }
    triage_sort (sorted, n, sizeof *sorted, s_cmp_member_ptr);
    for (size_t i = 0; i < n; i++)
        order[i] = (size_t)(sorted[i] - m);
    free (sorted);
    size_t next_root = 0;
    for (size_t done = 0; done < n; done++) {
        size_t v;
        if (heap.n == 0) {
            while (visited[order[next_root]])
                next_root++;
            v = order[next_root];
        }
        else
            v = s_heap_pop (&heap);
        visited[v] = true;
        /* Expand v's tokens, strongest first: whoever holds one and has no
           link yet gets its link to v, through that token. */
        for (size_t k = member_start[v]; k < member_start[v + 1]; k++) {
            size_t g = by_member[k].group;
            if (expanded[g])
                continue;
            expanded[g] = true;
            for (size_t h = group_start[g]; h < group_start[g + 1]; h++) {
                size_t u = by_token[h].member;
                if (visited[u] || queued[u])
                    continue;
                queued[u] = true;
                parent[u] = (long)v;
                kind[u] = by_member[k].kind;
                s_heap_push (&heap, u);
            }
        }
    }
    free (by_token);
    free (by_member);
    free (group_start);
    free (member_start);
    free (expanded);
    free (visited);
    free (queued);
    free (order);
    free (heap.items);
}

/* --- applying intake events ----------------------------------------------------------- */

#define CS(x) LANTERN__V1__CASE_STATE__CASE_STATE_##x

/* What one apply needs. */
typedef struct {
    ln_db_t *db;
    triage_emitter_t *em;
    ln_error_t *err;
    int64_t at_us; /* the time of the intake event */
} s_apply_t;

static int
s_bad (ln_error_t *err, const char *code, const char *field, const char *what)
{
    ln_error_set (err, code, field, "%s: %s", field, what);
    return -1;
}

/* The checks every intake event passes (see the header). */
int
triage_link_check_signal (const Lantern__V1__Signal *sig, const char *upstream, ln_error_t *err)
{
    if (!sig)
        return s_bad (err, "TRIAGE_BAD_EVENT", "signal", "missing");
    if (!triage_signal_id_valid (sig->id))
        return s_bad (err, "TRIAGE_BAD_EVENT", "signal.id", "not an intake signal id");
    if (!sig->details)
        return s_bad (err, "TRIAGE_BAD_EVENT", "signal.details", "missing");
    if (!upstream || strcmp (sig->node, upstream) != 0)
        return s_bad (err, "TRIAGE_FOREIGN_SIGNAL", "signal.node",
                      "a signal of another node than the one it came from");
    return 0;
}

/* Every token of a signal's persons, addresses, vehicles and employers
   (borrowed from sig); *n set.  The caller frees the array. */
triage_token_t *
triage_link_tokens (const Lantern__V1__SignalDetails *d, size_t *n)
{
    size_t total = 0;
    for (size_t i = 0; i < d->n_persons; i++)
        total += d->persons[i]->n_tokens;
    for (size_t i = 0; i < d->n_addresses; i++)
        total += d->addresses[i]->n_tokens;
    for (size_t i = 0; i < d->n_vehicles; i++)
        total += d->vehicles[i]->n_tokens;
    for (size_t i = 0; i < d->n_employers; i++)
        total += d->employers[i]->n_tokens;
    triage_token_t *t = ln_xcalloc (total ? total : 1, sizeof *t);
    size_t k = 0;
#define S_ADD(items, count)                                                                        \
    for (size_t i = 0; i < d->count; i++)                                                          \
        for (size_t j = 0; j < d->items[i]->n_tokens; j++)                                         \
            if (d->items[i]->tokens[j])                                                            \
                t[k++] = (triage_token_t){.kind = d->items[i]->tokens[j]->kind,                    \
                                          .token = d->items[i]->tokens[j]->token};
    S_ADD (persons, n_persons)
    S_ADD (addresses, n_addresses)
    S_ADD (vehicles, n_vehicles)
    S_ADD (employers, n_employers)
#undef S_ADD
    *n = k;
    return t;
}

uint32_t
triage_link_forms_mask (const Lantern__V1__SignalDetails *d)
{
    uint32_t forms = 0;
    for (size_t i = 0; i < d->n_forms; i++)
        if (d->forms[i] > 0 && d->forms[i] < 31)
            forms |= 1u << d->forms[i];
    return forms;
}

uint8_t *
triage_link_record (const Lantern__V1__Signal *sig, bool withdrawn, size_t *size_out)
{
    const Lantern__V1__SignalDetails *d = sig->details;
    /* The record keeps what a track's partner may be given (persons,
       addresses, vehicles, employers) and the facts; not the account (free
       text no follower of triage receives: each partner tells its own at
       the table), nor who submitted it, nor a reporter (intake never sends
       one).  A shallow copy with those emptied is packed; sig is not
       touched. */
    Lantern__V1__Signal keep = *sig;
    Lantern__V1__SignalDetails keep_d = *d;
    keep_d.account = (char *)protobuf_c_empty_string;
    keep_d.reporter = NULL;
    keep.details = &keep_d;
    keep.submitted_by = (char *)protobuf_c_empty_string;
    if (withdrawn) {
        /* A withdrawn signal is in no case and goes to no partner: of its
           details only the facts stay (until intake's erasure reaches
           here). */
        keep_d.n_persons = keep_d.n_addresses = keep_d.n_vehicles = keep_d.n_employers = 0;
    }
    size_t size = protobuf_c_message_get_packed_size (&keep.base);
    uint8_t *record = ln_xcalloc (1, size ? size : 1);
    protobuf_c_message_pack (&keep.base, record);
    *size_out = size;
    return record;
}

/* Store the signal's columns and record. */
static int
s_put (s_apply_t *a, const Lantern__V1__Signal *sig, uint64_t position, int64_t withdrawn_us,
       bool clear_discussed)
{
    const Lantern__V1__SignalDetails *d = sig->details;
    uint32_t forms = triage_link_forms_mask (d);
    size_t size = 0;
    uint8_t *record = triage_link_record (sig, withdrawn_us != 0, &size);
    triage_signal_put_t put = {
        .id = sig->id,
        .node = sig->node,
        .organisation = sig->organisation,
        .organisation_type = sig->organisation_type,
        .version = sig->version,
        .catalogue_version = sig->catalogue_version,
        .municipality = d->municipality,
        .forms_mask = forms,
        .indicators = d->indicators,
        .n_indicators = d->n_indicators,
        .immediate_danger = d->immediate_danger,
        .minor_involved = d->minor_involved,
        .received_us = sig->received_at_us,
        .updated_us = sig->updated_at_us,
        .withdrawn_us = withdrawn_us,
        .position = position,
        .record = record,
        .record_size = size,
    };
    int rc = triage_store_signal_put (a->db, &put, clear_discussed, a->err);
    free (record);
    return rc;
}

static bool
s_has (char (*ids)[TRIAGE_CASE_ID_SIZE], size_t n, const char *id, size_t *at)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp (ids[i], id) == 0) {
            if (at)
                *at = i;
            return true;
        }
    return false;
}

static int
s_emit_facts (s_apply_t *a, const char *case_id, Lantern__V1__CaseFacts **facts)
{
    char revision[17];
    return triage_store_case_facts (a->db, case_id, facts, revision, a->err);
}

static int
s_emit_opened (s_apply_t *a, const char *case_id)
{
    Lantern__V1__CaseOpened ev = LANTERN__V1__CASE_OPENED__INIT;
    ev.case_id = (char *)case_id;
    int rc = -1;
    if (triage_store_case_signals (a->db, case_id, false, &ev.signals, &ev.n_signals, a->err) !=
            0 ||
        s_emit_facts (a, case_id, &ev.facts) != 0)
        goto out;
    rc = triage_emit (a->em, TRIAGE_EVENT_CASE_OPENED, case_id, a->at_us, &ev.base, a->err);
out:
    ev.case_id = NULL;
    triage_free_fields (&ev.base);
    return rc;
}

static int
s_emit_merged (s_apply_t *a, const char *case_id, char (*merged)[TRIAGE_CASE_ID_SIZE], size_t n)
{
    Lantern__V1__CaseMerged ev = LANTERN__V1__CASE_MERGED__INIT;
    ev.case_id = triage_str (case_id);
    for (size_t i = 0; i < n; i++)
        triage_push ((void ***)&ev.merged_case_ids, &ev.n_merged_case_ids, triage_str (merged[i]));
    int rc = -1;
    if (triage_store_case_signals (a->db, case_id, false, &ev.signals, &ev.n_signals, a->err) !=
            0 ||
        s_emit_facts (a, case_id, &ev.facts) != 0)
        goto out;
    rc = triage_emit (a->em, TRIAGE_EVENT_CASE_MERGED, case_id, a->at_us, &ev.base, a->err);
out:
    triage_free_fields (&ev.base);
    return rc;
}

/* case.linked for signal_id, which joined case_id. */
static int
s_emit_linked (s_apply_t *a, const char *case_id, const char *signal_id)
{
    Lantern__V1__CaseLinked ev = LANTERN__V1__CASE_LINKED__INIT;
    Lantern__V1__CaseSignal **signals = NULL;
    Lantern__V1__CaseLink **links = NULL;
    size_t ns = 0, nl = 0;
    int rc = -1;
    ev.case_id = triage_str (case_id);
    if (triage_store_case_signals (a->db, case_id, false, &signals, &ns, a->err) != 0 ||
        triage_store_case_links (a->db, case_id, &links, &nl, a->err) != 0 ||
        s_emit_facts (a, case_id, &ev.facts) != 0)
        goto out;
    for (size_t i = 0; i < ns; i++)
        if (strcmp (signals[i]->signal_id, signal_id) == 0) {
            ev.signal = signals[i];
            signals[i] = NULL;
        }
    for (size_t i = 0; i < nl; i++)
        if (strcmp (links[i]->signal_id, signal_id) == 0) {
            ev.link = links[i];
            links[i] = NULL;
        }
    rc = triage_emit (a->em, TRIAGE_EVENT_CASE_LINKED, case_id, a->at_us, &ev.base, a->err);
out:
    for (size_t i = 0; i < ns; i++)
        if (signals[i])
            protobuf_c_message_free_unpacked (&signals[i]->base, NULL);
    for (size_t i = 0; i < nl; i++)
        if (links[i])
            protobuf_c_message_free_unpacked (&links[i]->base, NULL);
    free (signals);
    free (links);
    triage_free_fields (&ev.base);
    return rc;
}

static int
s_emit_closed_empty (s_apply_t *a, const char *case_id)
{
    Lantern__V1__CaseClosed ev = LANTERN__V1__CASE_CLOSED__INIT;
    int rc = -1;
    ev.case_id = triage_str (case_id);
    ev.outcome = LANTERN__V1__CASE_OUTCOME__CASE_OUTCOME_EMPTY;
    ev.closed_at_us = a->at_us;
    if (triage_store_case_signals (a->db, case_id, true, &ev.signals, &ev.n_signals, a->err) != 0 ||
        s_emit_facts (a, case_id, &ev.facts) != 0)
        goto out;
    rc = triage_emit (a->em, TRIAGE_EVENT_CASE_CLOSED, case_id, a->at_us, &ev.base, a->err);
out:
    triage_free_fields (&ev.base);
    return rc;
}

/* Recompute the links of the members of one group (idx: member indexes)
   and add them to rows (strings point into members and reasons). */
static void
s_explain_group (triage_members_t *mem, const size_t *idx, size_t k, const char *case_id,
                 triage_link_row_t *rows, size_t *nrows, char (*reasons)[160])
{
    triage_member_t *sub = ln_xcalloc (k ? k : 1, sizeof *sub);
    long *parent = ln_xcalloc (k ? k : 1, sizeof *parent);
    int *kind = ln_xcalloc (k ? k : 1, sizeof *kind);
    for (size_t i = 0; i < k; i++)
        sub[i] = mem->m[idx[i]];
    triage_link_explain (sub, k, parent, kind);
    for (size_t i = 0; i < k; i++) {
        if (parent[i] < 0)
            continue;
        const triage_member_t *o = &sub[parent[i]];
        triage_link_reason (kind[i], o->id, o->node, reasons[*nrows], sizeof reasons[*nrows]);
        rows[*nrows] = (triage_link_row_t){.signal_id = sub[i].id,
                                           .case_id = case_id,
                                           .kind = kind[i],
                                           .other_signal_id = o->id,
                                           .other_node = o->node,
                                           .reason = reasons[*nrows]};
        (*nrows)++;
    }
    free (sub);
    free (parent);
    free (kind);
}

/* Re-partition the cases `seeds` and those of the signals `trigger`
   shares tokens with (trigger: the signal of the event, or NULL after a
   withdrawal), and write what changed (see the header). */
static int
s_relink (s_apply_t *a, const char *trigger, const char *own_case)
{
    int rc = -1;
    char (*cases)[TRIAGE_CASE_ID_SIZE] = NULL;
    size_t n_cases = 0;
    triage_members_t *mem = NULL;
    triage_case_row_t *old = NULL;
    size_t *group = NULL, *dest = NULL, *idx = NULL;
    char (*ids)[TRIAGE_CASE_ID_SIZE] = NULL;
    char (*merged)[TRIAGE_CASE_ID_SIZE] = NULL;
    const char **move = NULL;
    triage_link_row_t *rows = NULL;
    char (*reasons)[160] = NULL;
    const char **touched = NULL;
    int ng = 0;

    if (trigger && triage_store_neighbour_cases (a->db, trigger, &cases, &n_cases, a->err) != 0)
        goto out;
    if (own_case && *own_case && !s_has (cases, n_cases, own_case, NULL)) {
        cases = ln_xrealloc (cases, n_cases + 1, sizeof *cases);
        snprintf (cases[n_cases++], TRIAGE_CASE_ID_SIZE, "%s", own_case);
    }
    /* Lock and read every case touched, in id order (no deadlock between
       two writers taking the same ones). */
    old = ln_xcalloc (n_cases ? n_cases : 1, sizeof *old);
    for (size_t i = 0; i < n_cases; i++) {
        int found = triage_store_case_load (a->db, cases[i], true, &old[i], a->err);
        if (found < 0)
            goto out;
        if (found == 0) {
            ln_error_set (a->err, "TRIAGE_CORRUPT", "case_id", "case %s has signals but no row",
                          cases[i]);
            goto out;
        }
    }
    if (triage_store_members (a->db, cases, n_cases, trigger, &mem, a->err) != 0)
        goto out;
    group = ln_xcalloc (mem->n ? mem->n : 1, sizeof *group);
    ids = ln_xcalloc (mem->n ? mem->n : 1, sizeof *ids);
    ng = triage_link_partition (mem->m, mem->n, group, ids);
    if (ng < 0) {
        ln_error_set (a->err, "TRIAGE_CORRUPT", "signals", "a stored signal id is malformed");
        goto out;
    }
    /* Where each old case goes: the group of its earliest member left
       (SIZE_MAX: none left). */
    dest = ln_xcalloc (n_cases ? n_cases : 1, sizeof *dest);
    size_t *first = ln_xcalloc (n_cases ? n_cases : 1, sizeof *first);
    for (size_t c = 0; c < n_cases; c++)
        dest[c] = first[c] = SIZE_MAX;
    for (size_t i = 0; i < mem->n; i++) {
        size_t c;
        if (!mem->m[i].case_id || !s_has (cases, n_cases, mem->m[i].case_id, &c))
            continue;
        if (first[c] == SIZE_MAX || s_member_cmp (&mem->m[i], &mem->m[first[c]]) < 0)
            first[c] = i;
    }
    for (size_t c = 0; c < n_cases; c++)
        if (first[c] != SIZE_MAX)
            dest[c] = group[first[c]];
    free (first);

    /* 1. Rows and memberships. */
    idx = ln_xcalloc (mem->n ? mem->n : 1, sizeof *idx);
    move = ln_xcalloc (mem->n ? mem->n : 1, sizeof *move);
    for (int g = 0; g < ng; g++) {
        size_t k = 0, nm = 0, earliest = SIZE_MAX;
        for (size_t i = 0; i < mem->n; i++) {
            if (group[i] != (size_t)g)
                continue;
            idx[k++] = i;
            if (earliest == SIZE_MAX || s_member_cmp (&mem->m[i], &mem->m[earliest]) < 0)
                earliest = i;
            if (!mem->m[i].case_id || strcmp (mem->m[i].case_id, ids[g]) != 0)
                move[nm++] = mem->m[i].id;
        }
        size_t at;
        if (!s_has (cases, n_cases, ids[g], &at)) {
            triage_case_row_t row;
            memset (&row, 0, sizeof row);
            snprintf (row.id, sizeof row.id, "%s", ids[g]);
            row.state = CS (OPEN);
            snprintf (row.anchor, sizeof row.anchor, "%s", mem->m[earliest].id);
            row.opened_us = mem->m[earliest].received_us;
            if (triage_store_case_save (a->db, &row, a->err) != 0 ||
                triage_store_history_add (a->db, ids[g], a->at_us, "opened", row.anchor, NULL, NULL,
                                          a->err) != 0)
                goto out;
        }
        else if (old[at].state == CS (OPEN) &&
                 (old[at].opened_us != mem->m[earliest].received_us ||
                  strcmp (old[at].anchor, mem->m[earliest].id) != 0)) {
            /* An undecided case named after its earliest signal always
               keeps that anchor; a decided one keeps its own. */
            old[at].opened_us = mem->m[earliest].received_us;
            snprintf (old[at].anchor, sizeof old[at].anchor, "%s", mem->m[earliest].id);
            if (triage_store_case_save (a->db, &old[at], a->err) != 0)
                goto out;
        }
        if (triage_store_signals_move (a->db, move, nm, ids[g], a->err) != 0)
            goto out;
    }
    /* Old cases that are no group now: merged into their destination, or
       emptied. */
    for (size_t c = 0; c < n_cases; c++) {
        if (s_has (ids, (size_t)ng, cases[c], NULL))
            continue;
        bool pinned = old[c].state == CS (DECIDED);
        if (dest[c] == SIZE_MAX) {
            if (pinned) {
                old[c].state = CS (CLOSED);
                old[c].outcome = LANTERN__V1__CASE_OUTCOME__CASE_OUTCOME_EMPTY;
                old[c].closed_us = a->at_us;
                if (triage_store_case_save (a->db, &old[c], a->err) != 0)
                    goto out;
            }
            else if (triage_store_case_delete (a->db, cases[c], a->err) != 0)
                goto out;
            if (triage_store_history_add (a->db, cases[c], a->at_us, "closed", NULL, NULL, "EMPTY",
                                          a->err) != 0)
                goto out;
            continue;
        }
        const char *to = ids[dest[c]];
        if (pinned) {
            old[c].state = CS (MERGED);
            snprintf (old[c].merged_into, sizeof old[c].merged_into, "%s", to);
            if (triage_store_case_save (a->db, &old[c], a->err) != 0 ||
                triage_store_case_move_decisions (a->db, cases[c], to, a->err) != 0)
                goto out;
        }
        else if (triage_store_case_delete (a->db, cases[c], a->err) != 0)
            goto out;
        if (triage_store_history_add (a->db, cases[c], a->at_us, "merged", NULL, to, NULL,
                                      a->err) != 0 ||
            triage_store_history_add (a->db, to, a->at_us, "absorbed", NULL, cases[c], NULL,
                                      a->err) != 0)
            goto out;
    }
    /* Splits: an old case that goes on (or went) elsewhere lost members to
       another group. */
    for (size_t i = 0; i < mem->n; i++) {
        size_t c;
        if (!mem->m[i].case_id || !s_has (cases, n_cases, mem->m[i].case_id, &c))
            continue;
        if (dest[c] != group[i]) {
            bool seen = false; /* one history row per (old case, new group) */
            for (size_t j = 0; j < i && !seen; j++)
                seen = group[j] == group[i] && mem->m[j].case_id &&
                       strcmp (mem->m[j].case_id, mem->m[i].case_id) == 0;
            if (!seen && triage_store_history_add (a->db, cases[c], a->at_us, "split", NULL,
                                                   ids[group[i]], NULL, a->err) != 0)
                goto out;
        }
    }

    /* 2. Links, recomputed from each group's members. */
    touched = ln_xcalloc (mem->n + 1, sizeof *touched);
    rows = ln_xcalloc (mem->n ? mem->n : 1, sizeof *rows);
    reasons = ln_xcalloc (mem->n ? mem->n : 1, sizeof *reasons);
    size_t nrows = 0, nt = 0;
    for (size_t i = 0; i < mem->n; i++)
        touched[nt++] = mem->m[i].id;
    if (trigger)
        touched[nt++] = trigger;
    for (int g = 0; g < ng; g++) {
        size_t k = 0;
        for (size_t i = 0; i < mem->n; i++)
            if (group[i] == (size_t)g)
                idx[k++] = i;
        s_explain_group (mem, idx, k, ids[g], rows, &nrows, reasons);
    }
    if (triage_store_links_replace (a->db, touched, nt, rows, nrows, a->err) != 0)
        goto out;

    /* 3. Events: opened, merged, linked, closed. */
    for (int g = 0; g < ng; g++)
        if (!s_has (cases, n_cases, ids[g], NULL) && s_emit_opened (a, ids[g]) != 0)
            goto out;
    merged = ln_xcalloc (n_cases ? n_cases : 1, sizeof *merged);
    for (int g = 0; g < ng; g++) {
        size_t nm = 0;
        for (size_t c = 0; c < n_cases; c++)
            if (dest[c] == (size_t)g && strcmp (cases[c], ids[g]) != 0)
                memcpy (merged[nm++], cases[c], TRIAGE_CASE_ID_SIZE);
        if (nm && s_emit_merged (a, ids[g], merged, nm) != 0)
            goto out;
    }
    for (size_t i = 0; trigger && i < mem->n; i++) {
        if (strcmp (mem->m[i].id, trigger) != 0)
            continue;
        const char *to = ids[group[i]];
        bool moved = !mem->m[i].case_id || strcmp (mem->m[i].case_id, to) != 0;
        if (moved && s_has (cases, n_cases, to, NULL)) {
            if (triage_store_history_add (a->db, to, a->at_us, "linked", trigger, NULL, NULL,
                                          a->err) != 0 ||
                s_emit_linked (a, to, trigger) != 0)
                goto out;
        }
    }
    for (size_t c = 0; c < n_cases; c++)
        if (dest[c] == SIZE_MAX && !s_has (ids, (size_t)ng, cases[c], NULL) &&
            s_emit_closed_empty (a, cases[c]) != 0)
            goto out;
    rc = 0;
out:
    for (size_t c = 0; old && c < n_cases; c++)
        free (old[c].close_summary);
    free (old);
    free (cases);
    triage_members_destroy (&mem);
    free (group);
    free (dest);
    free (idx);
    free (ids);
    free (merged);
    free (move);
    free (rows);
    free (reasons);
    free (touched);
    return rc;
}

/* alert.raised for each flag of the signal that has no alert yet. */
static int
s_alerts (s_apply_t *a, const Lantern__V1__Signal *sig)
{
    static const struct {
        int kind;
        const char *suffix;
    } kinds[] = {{LANTERN__V1__ALERT_KIND__ALERT_KIND_IMMEDIATE_DANGER, "danger"},
                 {LANTERN__V1__ALERT_KIND__ALERT_KIND_MINOR_INVOLVED, "minor"}};
    for (size_t k = 0; k < 2; k++) {
        bool flag = k == 0 ? sig->details->immediate_danger : sig->details->minor_involved;
        if (!flag)
            continue;
        char id[TRIAGE_ID_SIZE];
        snprintf (id, sizeof id, "alert-%s-%s", sig->id + 4, kinds[k].suffix);
        int inserted =
            triage_store_alert_insert (a->db, id, kinds[k].kind, sig->id, a->at_us, a->err);
        if (inserted < 0)
            return -1;
        if (inserted == 0)
            continue;
        Lantern__V1__AlertRaised ev = LANTERN__V1__ALERT_RAISED__INIT;
        int rc = triage_store_alert_load (a->db, id, false, &ev.alert, a->err) == 1 ? 0 : -1;
        if (rc == 0 && *ev.alert->case_id)
            rc = s_emit_facts (a, ev.alert->case_id, &ev.facts);
        if (rc == 0)
            rc = triage_emit (a->em, TRIAGE_EVENT_ALERT_RAISED,
                              *ev.alert->case_id ? ev.alert->case_id : NULL, a->at_us, &ev.base,
                              a->err);
        triage_free_fields (&ev.base);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* SignalReceived and SignalAmended: store, add tokens, re-link, alert. */
static int
s_apply_active (ln_db_t *db, const char *upstream, uint64_t position,
                const Lantern__V1__Signal *sig, bool amendment, triage_emitter_t *em,
                ln_error_t *err)
{
    s_apply_t a = {.db = db, .em = em, .err = err};
    triage_signal_state_t st;
    triage_token_t *tokens = NULL;
    int rc = -1;
    ln_error_clear (err);
    if (triage_link_check_signal (sig, upstream, err) != 0)
        return -1;
    em->upstream = upstream;
    em->position = position;
    em->n = 0;
    a.at_us = amendment ? sig->updated_at_us : sig->received_at_us;
    if (a.at_us <= 0)
        a.at_us = sig->received_at_us > 0 ? sig->received_at_us : sig->updated_at_us;
    int found = triage_store_signal_state (db, sig->id, &st, err);
    if (found < 0)
        return -1;
    if (found && strcmp (st.node, upstream) != 0)
        return s_bad (err, "TRIAGE_FOREIGN_SIGNAL", "signal.id",
                      "another upstream holds a signal with this id");
    if (found && (st.withdrawn || sig->version <= st.version))
        return 0; /* delivered before, or older than what we hold */
    size_t nt = 0;
    tokens = triage_link_tokens (sig->details, &nt);
    if (s_put (&a, sig, position, 0, found) != 0 ||
        triage_store_tokens_add (db, sig->id, tokens, nt, err) != 0)
        goto out;
    /* A signal in a closed case stays there; what it adds is kept, links
       nothing and reopens nothing. */
    if (!(found && st.case_state == CS (CLOSED)) &&
        s_relink (&a, sig->id, found ? st.case_id : NULL) != 0)
        goto out;
    if (s_alerts (&a, sig) != 0)
        goto out;
    rc = 0;
out:
    free (tokens);
    return rc;
}

int
triage_link_apply (ln_db_t *db, const char *upstream, uint64_t position, const char *type,
                   const ProtobufCMessage *payload, triage_emitter_t *em, ln_error_t *err)
{
    static const struct {
        const char *type;
        const ProtobufCMessageDescriptor *desc;
    } known[] = {{"nl.lantern.signal.received.v1", &lantern__v1__signal_received__descriptor},
                 {"nl.lantern.signal.amended.v1", &lantern__v1__signal_amended__descriptor},
                 {"nl.lantern.signal.withdrawn.v1", &lantern__v1__signal_withdrawn__descriptor}};
    for (size_t i = 0; i < 3; i++) {
        if (!type || strcmp (type, known[i].type) != 0)
            continue;
        if (!payload || payload->descriptor != known[i].desc)
            return s_bad (err, "TRIAGE_BAD_EVENT", "data", "not the payload of its type");
        if (i == 0)
            return triage_link_received (db, upstream, position,
                                         (const Lantern__V1__SignalReceived *)payload, em, err);
        if (i == 1)
            return triage_link_amended (db, upstream, position,
                                        (const Lantern__V1__SignalAmended *)payload, em, err);
        return triage_link_withdrawn (db, upstream, position,
                                      (const Lantern__V1__SignalWithdrawn *)payload, em, err);
    }
    return 0; /* node.started, notice.posted, ...: nothing for triage */
}

int
triage_link_received (ln_db_t *db, const char *upstream, uint64_t position,
                      const Lantern__V1__SignalReceived *ev, triage_emitter_t *em, ln_error_t *err)
{
    if (!ev)
        return s_bad (err, "TRIAGE_BAD_EVENT", "", "no payload");
    return s_apply_active (db, upstream, position, ev->signal, false, em, err);
}

int
triage_link_amended (ln_db_t *db, const char *upstream, uint64_t position,
                     const Lantern__V1__SignalAmended *ev, triage_emitter_t *em, ln_error_t *err)
{
    if (!ev)
        return s_bad (err, "TRIAGE_BAD_EVENT", "", "no payload");
    return s_apply_active (db, upstream, position, ev->signal, true, em, err);
}

int
triage_link_withdrawn (ln_db_t *db, const char *upstream, uint64_t position,
                       const Lantern__V1__SignalWithdrawn *ev, triage_emitter_t *em,
                       ln_error_t *err)
{
    ln_error_clear (err);
    if (!ev)
        return s_bad (err, "TRIAGE_BAD_EVENT", "", "no payload");
    const Lantern__V1__Signal *sig = ev->signal;
    if (triage_link_check_signal (sig, upstream, err) != 0)
        return -1;
    em->upstream = upstream;
    em->position = position;
    em->n = 0;
    s_apply_t a = {.db = db, .em = em, .err = err};
    a.at_us = sig->updated_at_us > 0 ? sig->updated_at_us : sig->received_at_us;
    triage_signal_state_t st;
    int found = triage_store_signal_state (db, sig->id, &st, err);
    if (found < 0)
        return -1;
    if (found && strcmp (st.node, upstream) != 0)
        return s_bad (err, "TRIAGE_FOREIGN_SIGNAL", "signal.id",
                      "another upstream holds a signal with this id");
    if (found && st.withdrawn)
        return 0;
    if (s_put (&a, sig, position, a.at_us, false) != 0 ||
        triage_store_signal_leave (db, sig->id, err) != 0)
        return -1;
    if (!found || !*st.case_id)
        return 0;
    if (triage_store_history_add (db, st.case_id, a.at_us, "left", sig->id, NULL, NULL, err) != 0)
        return -1;
    if (st.case_state == CS (CLOSED))
        return 0;
    return s_relink (&a, NULL, st.case_id);
}

/* --- erasure ------------------------------------------------------------------------------ */

/* case.decided again for each decision of an open case, as it is now. */
static int
s_reissue_decisions (s_apply_t *a, const char *case_id)
{
    Lantern__V1__Decision **decisions = NULL;
    size_t nd = 0;
    int rc = -1;
    if (triage_store_case_decisions (a->db, case_id, &decisions, &nd, a->err) != 0)
        goto out;
    for (size_t i = 0; i < nd; i++) {
        Lantern__V1__CaseDecided ev = LANTERN__V1__CASE_DECIDED__INIT;
        ev.case_id = (char *)case_id;
        ev.decision = decisions[i];
        int erc = s_emit_facts (a, case_id, &ev.facts);
        if (erc == 0)
            erc = triage_store_case_signals (a->db, case_id, false, &ev.signals, &ev.n_signals,
                                             a->err);
        if (erc == 0)
            erc = triage_store_case_contents (a->db, case_id, TRIAGE_CONTENTS_BUDGET, &ev.contents,
                                              &ev.n_contents, &ev.contents_omitted, a->err);
        if (erc == 0)
            erc =
                triage_emit (a->em, TRIAGE_EVENT_CASE_DECIDED, case_id, a->at_us, &ev.base, a->err);
        ev.case_id = NULL;
        ev.decision = NULL;
        triage_free_fields (&ev.base);
        if (erc != 0)
            goto out;
    }
    rc = 0;
out:
    for (size_t i = 0; i < nd; i++)
        protobuf_c_message_free_unpacked (&decisions[i]->base, NULL);
    free (decisions);
    return rc;
}

int
triage_link_erase_signal (ln_db_t *db, const char *upstream, uint64_t position,
                          const char *signal_id, int64_t at_us, triage_emitter_t *em, char ***cases,
                          size_t *n_cases, ln_error_t *err)
{
    char **mine = NULL;
    size_t n_mine = 0;
    int rc = -1;
    ln_error_clear (err);
    /* Only a signal id of the node that erased it: anything else is not
       this node's to erase here (and no reason to stop following it). */
    if (!triage_signal_id_valid (signal_id) || !upstream)
        return 0;
    em->upstream = upstream;
    em->position = position;
    em->n = 0;
    s_apply_t a = {.db = db, .em = em, .err = err, .at_us = at_us};
    triage_signal_state_t st;
    int found = triage_store_signal_state (db, signal_id, &st, err);
    if (found <= 0 || strcmp (st.node, upstream) != 0)
        return found < 0 ? -1 : 0;
    if (triage_store_signal_cases (db, signal_id, &mine, &n_mine, err) != 0)
        goto out;
    /* Still in an open case (an erasure without a withdrawal first): it
       leaves as a withdrawn signal does, and the rest re-links. */
    if (!st.withdrawn && *st.case_id && st.case_state != CS (CLOSED)) {
        if (triage_store_signal_leave (db, signal_id, err) != 0 ||
            triage_store_history_add (db, st.case_id, at_us, "left", signal_id, NULL, "erased",
                                      err) != 0 ||
            s_relink (&a, NULL, st.case_id) != 0)
            goto out;
    }
    if (triage_store_signal_erase (db, signal_id, err) < 0)
        goto out;
    for (size_t i = 0; i < n_mine; i++) {
        bool have = false;
        for (size_t j = 0; j < *n_cases && !have; j++)
            have = strcmp ((*cases)[j], mine[i]) == 0;
        if (!have) {
            triage_push ((void ***)cases, n_cases, mine[i]);
            mine[i] = NULL;
        }
    }
    rc = 0;
out:
    for (size_t i = 0; i < n_mine; i++)
        free (mine[i]);
    free (mine);
    return rc;
}

int
triage_link_erase_cases (ln_db_t *db, char *const *cases, size_t n_cases, const char *why,
                         int64_t at_us, triage_emitter_t *em, ln_error_t *err)
{
    s_apply_t a = {.db = db, .em = em, .err = err, .at_us = at_us};
    if (n_cases == 0)
        return 0;
    /* Every event of every case it was in named it (a CaseSignal at least,
       its persons in case.decided): those payloads go, and each follower
       is told to erase its copies of those cases (RecordErased); one scan
       of the log for all of them. */
    if (ln_outbox_erase (db, (const char *const *)cases, n_cases, why, em->level, NULL, err) != 0)
        return -1;
    /* What is left of an open case is stated again, so that followers that
       erased the case hold it without the signal. */
    for (size_t i = 0; i < n_cases; i++) {
        triage_case_row_t row;
        memset (&row, 0, sizeof row);
        int got = triage_store_case_load (db, cases[i], false, &row, err);
        free (row.close_summary);
        if (got < 0)
            return -1;
        if (got == 0 || (row.state != CS (OPEN) && row.state != CS (DECIDED)))
            continue;
        if (row.state == CS (OPEN) ? s_emit_opened (&a, cases[i]) != 0
                                   : s_reissue_decisions (&a, cases[i]) != 0)
            return -1;
    }
    return 0;
}

int
triage_link_erased (ln_db_t *db, const char *upstream, uint64_t position, const char *signal_id,
                    const char *reason, int64_t at_us, triage_emitter_t *em, ln_error_t *err)
{
    char **cases = NULL;
    size_t n_cases = 0;
    int rc = triage_link_erase_signal (db, upstream, position, signal_id, at_us, em, &cases,
                                       &n_cases, err);
    if (rc == 0 && n_cases > 0) {
        char why[400];
        snprintf (why, sizeof why, "signal %s erased by %s%s%.200s", signal_id, upstream,
                  reason && *reason ? ": " : "", reason ? reason : "");
        rc = triage_link_erase_cases (db, cases, n_cases, why, at_us, em, err);
    }
    for (size_t i = 0; i < n_cases; i++)
        free (cases[i]);
    free (cases);
    return rc;
}
