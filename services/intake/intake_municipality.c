/*  intake_municipality: see intake_municipality.h.  The table itself is
    generated (build/gen/intake_municipalities.inc, from
    services/intake/municipalities.tsv); the generator has already checked
    that codes are sorted and unique and that every successor chain ends in
    current municipalities, so the lookups here can rely on both. */
#include "intake_municipality.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intake_municipalities.inc"

#define S_COUNT (sizeof s_table / sizeof s_table[0])
/* Longer chains are refused by the generator. */
#define S_CHAIN_MAX 16

static int
s_compare (const void *key, const void *entry)
{
    return strcmp ((const char *)key, ((const intake_municipality_t *)entry)->code);
}

const intake_municipality_t *
intake_municipality_find (const char *code)
{
    if (!code)
        return NULL;
    return bsearch (code, s_table, S_COUNT, sizeof s_table[0], s_compare);
}

const char *
intake_municipality_as_of (void)
{
    return S_AS_OF;
}

size_t
intake_municipality_current_count (void)
{
    return S_CURRENT;
}

static bool
s_well_formed (const char *code)
{
    if (strlen (code) != 6 || code[0] != 'G' || code[1] != 'M')
        return false;
    for (int i = 2; i < 6; i++)
        if (code[i] < '0' || code[i] > '9')
            return false;
    return true;
}

/* Append printf-style text at *used, keeping buf NUL-ended and never
   writing past size (a message too long is cut, never overflows). */
static void s_append (char *buf, size_t size, size_t *used, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static void
s_append (char *buf, size_t size, size_t *used, const char *fmt, ...)
{
    if (*used >= size)
        return;
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (buf + *used, size - *used, fmt, ap);
    va_end (ap);
    if (n < 0)
        return;
    *used = (size_t)n >= size - *used ? size - 1 : *used + (size_t)n;
}

/* The current municipality a single successor leads to (following renames
   and later mergers), or NULL if the table is inconsistent. */
static const intake_municipality_t *
s_today (const intake_municipality_t *m)
{
    for (int depth = 0; m && depth < S_CHAIN_MAX; depth++) {
        if (m->change == INTAKE_MUNICIPALITY_CURRENT)
            return m;
        if (m->change == INTAKE_MUNICIPALITY_DIVIDED)
            return NULL;
        m = intake_municipality_find (m->successors);
    }
    return NULL;
}

/* "GM1982 Land van Cuijk" for one successor code, plus "; today GM1945
   Berg en Dal" when it no longer exists itself. */
static void
s_successor (char *buf, size_t size, size_t *used, const char *code)
{
    const intake_municipality_t *s = intake_municipality_find (code);
    s_append (buf, size, used, "%s %s", code, s ? s->name : "?");
    if (s && s->change != INTAKE_MUNICIPALITY_CURRENT) {
        const intake_municipality_t *now = s_today (s);
        if (now)
            s_append (buf, size, used, " (today %s %s)", now->code, now->name);
    }
}

const char *
intake_municipality_explain (const char *code, char *message, size_t size)
{
    size_t used = 0;
    if (size)
        message[0] = '\0';
    if (!code || !s_well_formed (code)) {
        s_append (message, size, &used,
                  "not a CBS municipality code: GM and 4 digits, in upper case (e.g. GM0983 "
                  "for Venlo)");
        return "INVALID_MUNICIPALITY";
    }
    const intake_municipality_t *m = intake_municipality_find (code);
    if (!m) {
        s_append (message, size, &used,
                  "%s is no municipality: not in the CBS list of %s, nor a former code", code,
                  S_AS_OF);
        return "UNKNOWN_MUNICIPALITY";
    }
    if (m->change == INTAKE_MUNICIPALITY_CURRENT)
        return NULL;

    s_append (message, size, &used, "%s (%s) ", m->code, m->name);
    if (m->change == INTAKE_MUNICIPALITY_DIVIDED) {
        s_append (message, size, &used, "was divided among ");
        /* "A, B and C": successors are "GMnnnn,GMnnnn,..." (generator) */
        char codes[128];
        snprintf (codes, sizeof codes, "%s", m->successors);
        size_t total = 1;
        for (const char *c = codes; *c; c++)
            total += *c == ',';
        size_t i = 0;
        for (char *p = codes; p && *p; i++) {
            char *comma = strchr (p, ',');
            if (comma)
                *comma = '\0';
            s_append (message, size, &used, "%s", i == 0 ? "" : i + 1 == total ? " and " : ", ");
            s_successor (message, size, &used, p);
            p = comma ? comma + 1 : NULL;
        }
        s_append (message, size, &used, " on %s: give the one where it was observed", m->ceased);
        return "FORMER_MUNICIPALITY";
    }
    s_append (message, size, &used, "%s ",
              m->change == INTAKE_MUNICIPALITY_RENAMED ? "was renamed" : "merged into");
    s_successor (message, size, &used, m->successors);
    s_append (message, size, &used, " on %s", m->ceased);
    return "FORMER_MUNICIPALITY";
}

int
intake_municipality_check (const char *code, const char *field, ln_error_t *err)
{
    char why[INTAKE_MUNICIPALITY_MESSAGE_MAX];
    const char *error = intake_municipality_explain (code, why, sizeof why);
    if (!error)
        return 0;
    ln_error_set (err, error, field, "%s: %s", field ? field : "municipality", why);
    return -1;
}
