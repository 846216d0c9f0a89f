/*  Unit tests for triage_link's pure part: which tokens link, how signals
    are partitioned into cases and named, why each signal is in its case,
    and that none of it depends on the order the signals are given in
    (the determinism a replay in another interleaving relies on). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lantern.pb-c.h"
#include "triage_link.h"

#define K(x) LANTERN__V1__IDENTIFIER_KIND__IDENTIFIER_KIND_##x

/* A valid signal id whose 26 characters encode n (so ids sort by n). */
static void
s_sig (char out[TRIAGE_SIGNAL_ID_SIZE], unsigned n)
{
    static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
    memcpy (out, "sig-", 4);
    for (int i = 0; i < TRIAGE_ID_CHARS; i++)
        out[4 + i] = 'a';
    for (int i = 0; i < 6; i++)
        out[4 + TRIAGE_ID_CHARS - 1 - i] = b32[(n >> (5 * i)) & 31];
    out[4 + TRIAGE_ID_CHARS] = '\0';
}

/* A token: 64 hex digits made from a number. */
static void
s_tok (char out[65], unsigned n)
{
    snprintf (out, 65, "%064x", n);
}

/* --- tokens ------------------------------------------------------------------------- */

static void
test_strong_kinds (void **state)
{
    (void)state;
    char t[65];
    s_tok (t, 7);
    static const int strong[] = {K (NAME_BIRTHDATE), K (BSN),     K (DOCUMENT), K (PHONE),
                                 K (ADDRESS),        K (VEHICLE), K (EMPLOYER)};
    for (size_t i = 0; i < sizeof strong / sizeof strong[0]; i++) {
        assert_true (triage_link_kind_rank (strong[i]) >= 0);
        assert_true (triage_link_token_usable (strong[i], t));
    }
    /* Strongest first: BSN before ADDRESS. */
    assert_true (triage_link_kind_rank (K (BSN)) < triage_link_kind_rank (K (PHONE)));
    assert_true (triage_link_kind_rank (K (PHONE)) < triage_link_kind_rank (K (ADDRESS)));
    /* No other kind links. */
    assert_int_equal (triage_link_kind_rank (K (UNSPECIFIED)), -1);
    assert_int_equal (triage_link_kind_rank (8), -1);
    assert_int_equal (triage_link_kind_rank (-1), -1);
    assert_false (triage_link_token_usable (0, t));
    assert_false (triage_link_token_usable (8, t));
    /* Only 64 lower-case hex digits. */
    char bad[70];
    snprintf (bad, sizeof bad, "%s", t);
    bad[63] = '\0';
    assert_false (triage_link_token_usable (K (PHONE), bad));
    snprintf (bad, sizeof bad, "%s0", t);
    assert_false (triage_link_token_usable (K (PHONE), bad));
    snprintf (bad, sizeof bad, "%s", t);
    bad[0] = 'A';
    assert_false (triage_link_token_usable (K (PHONE), bad));
    bad[0] = 'g';
    assert_false (triage_link_token_usable (K (PHONE), bad));
    assert_false (triage_link_token_usable (K (PHONE), NULL));
    assert_false (triage_link_token_usable (K (PHONE), ""));
    assert_string_equal (triage_link_kind_name (K (NAME_BIRTHDATE)), "NAME_BIRTHDATE");
    assert_string_equal (triage_link_kind_name (99), "UNKNOWN");

    char reason[160];
    triage_link_reason (K (PHONE), "sig-x", "intake-politie", reason, sizeof reason);
    assert_string_equal (reason, "same PHONE token as sig-x from intake-politie");
}

/* --- partition ------------------------------------------------------------------------ */

/* A small world: up to 64 members, up to 8 tokens each. */
typedef struct {
    char ids[64][TRIAGE_SIGNAL_ID_SIZE];
    char toks[64][8][65];
    triage_token_t tokens[64][8];
    triage_member_t m[64];
    size_t n;
} world_t;

static triage_member_t *
s_add (world_t *w, unsigned id, int64_t received)
{
    triage_member_t *m = &w->m[w->n];
    s_sig (w->ids[w->n], id);
    *m = (triage_member_t){
        .id = w->ids[w->n], .node = "intake-x", .received_us = received, .tokens = w->tokens[w->n]};
    w->n++;
    return m;
}

static void
s_give (world_t *w, triage_member_t *m, int kind, unsigned token)
{
    size_t i = (size_t)(m - w->m);
    size_t k = m->n_tokens++;
    s_tok (w->toks[i][k], token);
    w->tokens[i][k] = (triage_token_t){.kind = kind, .token = w->toks[i][k]};
}

static void
s_give_raw (world_t *w, triage_member_t *m, int kind, const char *token)
{
    size_t i = (size_t)(m - w->m);
    size_t k = m->n_tokens++;
    snprintf (w->toks[i][k], sizeof w->toks[i][k], "%s", token);
    w->tokens[i][k] = (triage_token_t){.kind = kind, .token = w->toks[i][k]};
}

static void
test_partition_links_strong_tokens_only (void **state)
{
    (void)state;
    world_t *w = calloc (1, sizeof *w);
    /* a (t=30) and b (t=10) share a phone; c shares nothing strong with
       them: the same kind-0 and kind-99 "tokens" and a same-looking but
       invalid one (what a name alone or a city alone would be, if anyone
       made them) link nothing. */
    triage_member_t *a = s_add (w, 1, 30);
    triage_member_t *b = s_add (w, 2, 10);
    triage_member_t *c = s_add (w, 3, 20);
    s_give (w, a, K (PHONE), 100);
    s_give (w, b, K (PHONE), 100);
    s_give (w, b, 0, 200);
    s_give (w, c, 0, 200);
    s_give (w, b, 99, 201);
    s_give (w, c, 99, 201);
    s_give_raw (w, b, K (NAME_BIRTHDATE), "jan jansen");
    s_give_raw (w, c, K (NAME_BIRTHDATE), "jan jansen");
    /* Same token text under another kind: different identifiers. */
    s_give (w, c, K (BSN), 100);
    size_t group[3];
    char ids[3][TRIAGE_CASE_ID_SIZE];
    int ng = triage_link_partition (w->m, w->n, group, ids);
    assert_int_equal (ng, 2);
    assert_int_equal (group[0], group[1]);
    assert_int_not_equal (group[0], group[2]);
    /* Named after the earliest signal: b (received 10). */
    char want[TRIAGE_CASE_ID_SIZE];
    triage_case_id_of (b->id, want);
    assert_string_equal (ids[group[0]], want);
    triage_case_id_of (c->id, want);
    assert_string_equal (ids[group[2]], want);
    /* Groups are numbered in id order. */
    assert_true (strcmp (ids[0], ids[1]) < 0);
    free (w);
}

static void
test_partition_transitive_and_ties (void **state)
{
    (void)state;
    world_t *w = calloc (1, sizeof *w);
    /* a-b by phone, b-c by address, d alone; a and c received at the same
       time: the tie goes to the smaller id. */
    triage_member_t *a = s_add (w, 9, 50);
    triage_member_t *b = s_add (w, 5, 60);
    triage_member_t *c = s_add (w, 4, 50);
    s_add (w, 1, 1);
    s_give (w, a, K (PHONE), 1);
    s_give (w, b, K (PHONE), 1);
    s_give (w, b, K (ADDRESS), 2);
    s_give (w, c, K (ADDRESS), 2);
    size_t group[4];
    char ids[4][TRIAGE_CASE_ID_SIZE];
    assert_int_equal (triage_link_partition (w->m, w->n, group, ids), 2);
    assert_int_equal (group[0], group[1]);
    assert_int_equal (group[1], group[2]);
    char want[TRIAGE_CASE_ID_SIZE];
    triage_case_id_of (c->id, want); /* id 4 < id 9 at received 50 */
    assert_string_equal (ids[group[0]], want);
    /* An empty world has no group; a bad id is refused. */
    assert_int_equal (triage_link_partition (w->m, 0, group, ids), 0);
    w->m[3].id = "sig-TOO-SHORT";
    assert_int_equal (triage_link_partition (w->m, w->n, group, ids), -1);
    free (w);
}

static void
test_partition_pinned_cases (void **state)
{
    (void)state;
    world_t *w = calloc (1, sizeof *w);
    /* p1, p2: decided case "case-P" (opened 500) without a shared token;
       q1: decided case "case-Q" (opened 400); u: undecided, the earliest
       signal of all, sharing a phone with p1 and a plate with q1. */
    const char *P = "case-pppppppppppppppppppppppp";
    const char *Q = "case-qqqqqqqqqqqqqqqqqqqqqqqq";
    triage_member_t *p1 = s_add (w, 1, 500);
    triage_member_t *p2 = s_add (w, 2, 700);
    triage_member_t *q1 = s_add (w, 3, 400);
    triage_member_t *u = s_add (w, 4, 1);
    p1->case_id = p2->case_id = P;
    p1->pinned = p2->pinned = true;
    p1->pinned_opened_us = p2->pinned_opened_us = 500;
    q1->case_id = Q;
    q1->pinned = true;
    q1->pinned_opened_us = 400;
    size_t group[4];
    char ids[4][TRIAGE_CASE_ID_SIZE];
    /* Without u: P stays whole, Q apart. */
    assert_int_equal (triage_link_partition (w->m, 3, group, ids), 2);
    assert_int_equal (group[0], group[1]);
    assert_string_equal (ids[group[0]], P);
    assert_string_equal (ids[group[2]], Q);
    /* u joins P alone: the decided case keeps its id, earlier u or not. */
    s_give (w, u, K (PHONE), 7);
    s_give (w, p1, K (PHONE), 7);
    assert_int_equal (triage_link_partition (w->m, 4, group, ids), 2);
    assert_int_equal (group[3], group[0]);
    assert_string_equal (ids[group[3]], P);
    /* u bridges P and Q: the earlier opened decided case survives (Q). */
    s_give (w, u, K (VEHICLE), 8);
    s_give (w, q1, K (VEHICLE), 8);
    assert_int_equal (triage_link_partition (w->m, 4, group, ids), 1);
    assert_string_equal (ids[0], Q);
    free (w);
}

/* --- explain -------------------------------------------------------------------------- */

static void
test_explain (void **state)
{
    (void)state;
    world_t *w = calloc (1, sizeof *w);
    /* a (t1) - c (t3) share a phone; b (t2) - c share an address; a and d
       (t4) share an address AND a BSN: d's reason is the BSN (strongest),
       with a; b is reached through c (it shares nothing with a). */
    triage_member_t *a = s_add (w, 1, 1);
    triage_member_t *b = s_add (w, 2, 2);
    triage_member_t *c = s_add (w, 3, 3);
    triage_member_t *d = s_add (w, 4, 4);
    s_give (w, a, K (PHONE), 10);
    s_give (w, c, K (PHONE), 10);
    s_give (w, b, K (ADDRESS), 20);
    s_give (w, c, K (ADDRESS), 20);
    s_give (w, a, K (ADDRESS), 30);
    s_give (w, d, K (ADDRESS), 30);
    s_give (w, a, K (BSN), 40);
    s_give (w, d, K (BSN), 40);
    long parent[4];
    int kind[4];
    triage_link_explain (w->m, 4, parent, kind);
    assert_int_equal (parent[0], -1);
    assert_int_equal (kind[0], 0);
    assert_int_equal (parent[2], 0);
    assert_int_equal (kind[2], K (PHONE));
    assert_int_equal (parent[3], 0);
    assert_int_equal (kind[3], K (BSN));
    assert_int_equal (parent[1], 2);
    assert_int_equal (kind[1], K (ADDRESS));
    free (w);

    /* A member reached by no token (kept by a decision) has no link, and
       the next tree starts from it. */
    w = calloc (1, sizeof *w);
    a = s_add (w, 1, 1);
    b = s_add (w, 2, 2);
    c = s_add (w, 3, 3);
    s_give (w, b, K (PHONE), 5);
    s_give (w, c, K (PHONE), 5);
    triage_link_explain (w->m, 3, parent, kind);
    assert_int_equal (parent[0], -1);
    assert_int_equal (parent[1], -1);
    assert_int_equal (parent[2], 1);
    (void)a;
    free (w);
}

/* --- determinism --------------------------------------------------------------------- */

static uint64_t s_rng = 88172645463325252ull;

static unsigned
s_rand (unsigned below)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return (unsigned)(s_rng % below);
}

/* What the pure functions say about one member, by its id. */
typedef struct {
    char case_id[TRIAGE_CASE_ID_SIZE];
    char parent[TRIAGE_SIGNAL_ID_SIZE];
    int kind;
} verdict_t;

static void
s_verdicts (const triage_member_t *m, size_t n, verdict_t *out /* indexed by id number */,
            const unsigned *numbers)
{
    size_t group[64];
    char ids[64][TRIAGE_CASE_ID_SIZE];
    int ng = triage_link_partition (m, n, group, ids);
    assert_true (ng > 0);
    for (int g = 0; g < ng; g++) {
        triage_member_t sub[64];
        unsigned num[64];
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (group[i] == (size_t)g) {
                num[k] = numbers[i];
                sub[k++] = m[i];
            }
        long parent[64];
        int kind[64];
        triage_link_explain (sub, k, parent, kind);
        for (size_t i = 0; i < k; i++) {
            verdict_t *v = &out[num[i]];
            snprintf (v->case_id, sizeof v->case_id, "%s", ids[g]);
            snprintf (v->parent, sizeof v->parent, "%s", parent[i] < 0 ? "" : sub[parent[i]].id);
            v->kind = kind[i];
        }
    }
}

static void
test_order_does_not_matter (void **state)
{
    (void)state;
    for (int world = 0; world < 20; world++) {
        world_t *w = calloc (1, sizeof *w);
        size_t n = 10 + s_rand (40);
        unsigned numbers[64];
        for (size_t i = 0; i < n; i++) {
            /* received times collide often, so ties are exercised */
            triage_member_t *m = s_add (w, (unsigned)i, (int64_t)s_rand (8));
            numbers[i] = (unsigned)i;
            size_t nt = s_rand (4);
            for (size_t t = 0; t < nt; t++)
                s_give (w, m, (int)(1 + s_rand (8)), s_rand (12)); /* kind 8: never links */
        }
        verdict_t base[64], again[64];
        memset (base, 0, sizeof base);
        s_verdicts (w->m, n, base, numbers);
        for (int perm = 0; perm < 30; perm++) {
            triage_member_t shuffled[64];
            unsigned num[64];
            memcpy (shuffled, w->m, n * sizeof *shuffled);
            memcpy (num, numbers, n * sizeof *num);
            for (size_t i = n - 1; i > 0; i--) {
                size_t j = s_rand ((unsigned)i + 1);
                triage_member_t t = shuffled[i];
                shuffled[i] = shuffled[j];
                shuffled[j] = t;
                unsigned u = num[i];
                num[i] = num[j];
                num[j] = u;
            }
            /* Each member's tokens in another order too. */
            triage_token_t toks[64][8];
            for (size_t i = 0; i < n; i++) {
                memcpy (toks[i], shuffled[i].tokens,
                        shuffled[i].n_tokens * sizeof (triage_token_t));
                for (size_t t = 0; t + 1 < shuffled[i].n_tokens; t++) {
                    triage_token_t x = toks[i][t];
                    toks[i][t] = toks[i][shuffled[i].n_tokens - 1];
                    toks[i][shuffled[i].n_tokens - 1] = x;
                }
                shuffled[i].tokens = toks[i];
            }
            memset (again, 0, sizeof again);
            s_verdicts (shuffled, n, again, num);
            for (size_t i = 0; i < n; i++)
                if (strcmp (base[i].case_id, again[i].case_id) != 0 ||
                    strcmp (base[i].parent, again[i].parent) != 0 || base[i].kind != again[i].kind)
                    fail_msg ("world %d perm %d member %zu: %s/%s/%d vs %s/%s/%d", world, perm, i,
                              base[i].case_id, base[i].parent, base[i].kind, again[i].case_id,
                              again[i].parent, again[i].kind);
        }
        /* Sanity: a link always joins members of the same case, and a
           parent is always an earlier-visited member, so every case has
           exactly one member without a link when its tokens connect it. */
        for (size_t i = 0; i < n; i++)
            if (*base[i].parent) {
                unsigned pn = 0;
                for (size_t k = 0; k < n; k++)
                    if (strcmp (w->m[k].id, base[i].parent) == 0)
                        pn = numbers[k];
                assert_string_equal (base[pn].case_id, base[i].case_id);
            }
        free (w);
    }
}

/* --- ids and texts (triage.c) ---------------------------------------------------------- */

static void
test_ids_and_texts (void **state)
{
    (void)state;
    char a[LN_OUTBOX_EVENT_ID_SIZE], b[LN_OUTBOX_EVENT_ID_SIZE];
    /* Event ids: the same upstream event and counter, the same id (a
       replay); any difference, another. */
    triage_event_id ("intake-venlo", 7, 0, a);
    assert_int_equal (strlen (a), 32);
    triage_event_id ("intake-venlo", 7, 0, b);
    assert_string_equal (a, b);
    triage_event_id ("intake-venlo", 7, 1, b);
    assert_string_not_equal (a, b);
    triage_event_id ("intake-venlo", 8, 0, b);
    assert_string_not_equal (a, b);
    triage_event_id ("intake-venl", 7, 0, b);
    assert_string_not_equal (a, b);
    /* Case ids from signal ids; random ids of their kind. */
    char c[TRIAGE_CASE_ID_SIZE];
    assert_int_equal (triage_case_id_of ("sig-abcdefghijklmnopqrstuvwxyz", c), 0);
    assert_string_equal (c, "case-abcdefghijklmnopqrstuvwxyz");
    assert_true (triage_case_id_valid (c));
    assert_int_equal (triage_case_id_of ("sig-abcdefghijklmnopqrstuvwxy1", c), -1);
    assert_int_equal (triage_case_id_of ("sig-abc", c), -1);
    assert_int_equal (triage_case_id_of (NULL, c), -1);
    char r1[TRIAGE_ID_SIZE], r2[TRIAGE_ID_SIZE];
    triage_random_id ("trk-", r1, sizeof r1);
    triage_random_id ("trk-", r2, sizeof r2);
    assert_true (triage_prefixed_id_valid (r1, "trk-"));
    assert_string_not_equal (r1, r2);
    assert_false (triage_prefixed_id_valid (r1, "dec-"));
    /* Texts. */
    assert_null (triage_text_problem ("", 10, false, false));
    assert_string_equal (triage_text_problem (" \t", 10, false, true), "MISSING_TEXT");
    assert_null (triage_text_problem ("0123456789", 10, false, true));
    assert_string_equal (triage_text_problem ("01234567890", 10, false, true), "TEXT_TOO_LONG");
    assert_string_equal (triage_text_problem ("a\nb", 10, false, false), "CONTROL_CHARACTER");
    assert_null (triage_text_problem ("a\nb\tc", 10, true, false));
    assert_string_equal (triage_text_problem ("a\rb", 10, true, false), "CONTROL_CHARACTER");
    assert_string_equal (triage_text_problem ("\xe2\x81\xa6x", 10, true, false),
                         "CONTROL_CHARACTER");
    assert_string_equal (triage_text_problem ("\xc3\x28", 10, true, false), "INVALID_UTF8");
    assert_null (triage_text_problem ("caf\xc3\xa9", 10, false, true));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_strong_kinds),
        cmocka_unit_test (test_partition_links_strong_tokens_only),
        cmocka_unit_test (test_partition_transitive_and_ties),
        cmocka_unit_test (test_partition_pinned_cases),
        cmocka_unit_test (test_explain),
        cmocka_unit_test (test_order_does_not_matter),
        cmocka_unit_test (test_ids_and_texts),
    };
    return cmocka_run_group_tests_name ("triage_link", tests, NULL, NULL);
}
