/*  triage_tz: TZif files and POSIX TZ rules (see triage_tz.h).

    The file is read whole (bounded: 256 KiB; real ones are a few KiB) and
    every count is checked against what is left before anything is read,
    so a damaged or hostile file fails cleanly.
*/
#include "triage_tz.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "triage.h"

#define S_FILE_MAX  (256 * 1024)
#define S_DAY       86400
#define S_NAME_MAX  128
#define S_TIMES_MAX 100000

/* A POSIX rule date: M (month, week, weekday), J (1..365 without Feb 29)
   or N (0..365 with it), and the local time of the change. */
typedef struct {
    char kind; /* 'M', 'J', 'N' */
    int month, week, wday, day;
    int32_t time; /* seconds after local midnight, may be negative or > 24 h */
} s_rule_date_t;

typedef struct {
    bool present;
    int32_t std_off; /* seconds east of UTC */
    int32_t dst_off;
    bool has_dst;
    s_rule_date_t start, end;
} s_rule_t;

struct triage_tz_t {
    char name[S_NAME_MAX];
    int64_t *times; /* transitions, ascending */
    uint8_t *idx;   /* type of each */
    size_t n;
    int32_t *type_off; /* types' offsets */
    size_t ntypes;
    s_rule_t rule; /* footer / given rule */
};

void
triage_tz_destroy (triage_tz_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    triage_tz_t *self = *self_p;
    free (self->times);
    free (self->idx);
    free (self->type_off);
    free (self);
    *self_p = NULL;
}

const char *
triage_tz_name (const triage_tz_t *self)
{
    return self->name;
}

/* --- POSIX rules -------------------------------------------------------------------- */

/* [+-]hh[:mm[:ss]], hh up to max_hours.  Advances *p. */
static bool
s_parse_hms (const char **p, int max_hours, int32_t *out)
{
    const char *s = *p;
    int sign = 1;
    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    if (*s < '0' || *s > '9')
        return false;
    long h = 0, m = 0, sec = 0;
    int digits = 0;
    while (*s >= '0' && *s <= '9' && digits < 3) {
        h = h * 10 + (*s++ - '0');
        digits++;
    }
    if (h > max_hours)
        return false;
    for (int part = 0; part < 2 && *s == ':'; part++) {
        s++;
        if (!(s[0] >= '0' && s[0] <= '5' && s[1] >= '0' && s[1] <= '9'))
            return false;
        long v = (s[0] - '0') * 10 + (s[1] - '0');
        s += 2;
        if (part == 0)
            m = v;
        else
            sec = v;
    }
    *out = (int32_t)(sign * (h * 3600 + m * 60 + sec));
    *p = s;
    return true;
}

/* A zone abbreviation: <...> or 3+ letters. */
static bool
s_parse_abbr (const char **p)
{
    const char *s = *p;
    size_t n = 0;
    if (*s == '<') {
        s++;
        while (*s && *s != '>') {
            if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
                  (*s >= '0' && *s <= '9') || *s == '+' || *s == '-'))
                return false;
            s++;
            n++;
        }
        if (*s != '>' || n < 3)
            return false;
        *p = s + 1;
        return true;
    }
    while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')) {
        s++;
        n++;
    }
    if (n < 3)
        return false;
    *p = s;
    return true;
}

static bool
s_parse_int (const char **p, int lo, int hi, int *out)
{
    const char *s = *p;
    long v = 0;
    int digits = 0;
    while (*s >= '0' && *s <= '9' && digits < 4) {
        v = v * 10 + (*s++ - '0');
        digits++;
    }
    if (!digits || v < lo || v > hi)
        return false;
    *out = (int)v;
    *p = s;
    return true;
}

static bool
s_parse_date (const char **p, s_rule_date_t *d)
{
    const char *s = *p;
    memset (d, 0, sizeof *d);
    if (*s == 'M') {
        s++;
        d->kind = 'M';
        if (!s_parse_int (&s, 1, 12, &d->month) || *s++ != '.' ||
            !s_parse_int (&s, 1, 5, &d->week) || *s++ != '.' || !s_parse_int (&s, 0, 6, &d->wday))
            return false;
    }
    else if (*s == 'J') {
        s++;
        d->kind = 'J';
        if (!s_parse_int (&s, 1, 365, &d->day))
            return false;
    }
    else {
        d->kind = 'N';
        if (!s_parse_int (&s, 0, 365, &d->day))
            return false;
    }
    d->time = 7200;
    if (*s == '/') {
        s++;
        if (!s_parse_hms (&s, 167, &d->time))
            return false;
    }
    *p = s;
    return true;
}

static bool
s_parse_rule (const char *text, s_rule_t *r)
{
    const char *s = text;
    int32_t off;
    memset (r, 0, sizeof *r);
    if (!s_parse_abbr (&s) || !s_parse_hms (&s, 24, &off))
        return false;
    r->std_off = -off; /* POSIX offsets count west */
    r->present = true;
    if (*s == '\0')
        return true;
    if (!s_parse_abbr (&s))
        return false;
    r->has_dst = true;
    r->dst_off = r->std_off + 3600;
    if (*s && *s != ',') {
        if (!s_parse_hms (&s, 24, &off))
            return false;
        r->dst_off = -off;
    }
    if (*s == '\0') { /* no rule given: POSIX leaves it to the system; the US rule */
        const char *dflt = "M3.2.0,M11.1.0";
        return s_parse_date (&dflt, &r->start) && *dflt++ == ',' && s_parse_date (&dflt, &r->end);
    }
    if (*s++ != ',' || !s_parse_date (&s, &r->start) || *s++ != ',' || !s_parse_date (&s, &r->end))
        return false;
    return *s == '\0';
}

static bool
s_leap (int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days since the epoch of a rule date in year y. */
static int64_t
s_rule_day (const s_rule_date_t *d, int64_t y)
{
    int64_t jan1 = triage_days_from_civil (y, 1, 1);
    if (d->kind == 'J')
        return jan1 + d->day - 1 + (s_leap (y) && d->day >= 60 ? 1 : 0);
    if (d->kind == 'N')
        return jan1 + d->day;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t first = triage_days_from_civil (y, (unsigned)d->month, 1);
    int wday_first = (int)(((first % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday (4) */
    int64_t day = first + (d->wday - wday_first + 7) % 7 + 7 * (d->week - 1);
    int len = mdays[d->month - 1] + (d->month == 2 && s_leap (y) ? 1 : 0);
    while (day >= first + len)
        day -= 7;
    return day;
}

static int32_t
s_rule_offset (const s_rule_t *r, int64_t utc)
{
    if (!r->has_dst)
        return r->std_off;
    int64_t y;
    unsigned m, d;
    int64_t local_days = (utc + r->std_off) / S_DAY - ((utc + r->std_off) % S_DAY < 0 ? 1 : 0);
    triage_civil_from_days (local_days, &y, &m, &d);
    int64_t start = s_rule_day (&r->start, y) * S_DAY + r->start.time - r->std_off;
    int64_t end = s_rule_day (&r->end, y) * S_DAY + r->end.time - r->dst_off;
    bool dst = start < end ? (utc >= start && utc < end) : !(utc >= end && utc < start);
    return dst ? r->dst_off : r->std_off;
}

triage_tz_t *
triage_tz_from_rule (const char *rule, ln_error_t *err)
{
    triage_tz_t *self = ln_xcalloc (1, sizeof *self);
    snprintf (self->name, sizeof self->name, "%s", rule ? rule : "");
    if (!rule || !s_parse_rule (rule, &self->rule)) {
        ln_error_set (err, "TRIAGE_TZ_INVALID", "time_zone", "not a POSIX TZ rule");
        triage_tz_destroy (&self);
    }
    return self;
}

/* --- TZif ------------------------------------------------------------------------------- */

static uint32_t
s_be32 (const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t
s_be64 (const uint8_t *p)
{
    return (int64_t)((uint64_t)s_be32 (p) << 32 | s_be32 (p + 4));
}

typedef struct {
    uint32_t isut, isstd, leap, time, type, chars;
} s_counts_t;

static bool
s_header (const uint8_t *p, size_t left, s_counts_t *c, char *version)
{
    if (left < 44 || memcmp (p, "TZif", 4) != 0)
        return false;
    *version = (char)p[4];
    c->isut = s_be32 (p + 20);
    c->isstd = s_be32 (p + 24);
    c->leap = s_be32 (p + 28);
    c->time = s_be32 (p + 32);
    c->type = s_be32 (p + 36);
    c->chars = s_be32 (p + 40);
    return c->type >= 1 && c->type <= 256 && c->time <= S_TIMES_MAX && c->chars <= 4096 &&
           c->leap <= 1000 && c->isut <= c->type && c->isstd <= c->type;
}

static size_t
s_block (const s_counts_t *c, size_t timesize)
{
    return (size_t)c->time * timesize + c->time + (size_t)c->type * 6 + c->chars +
           (size_t)c->leap * (timesize + 4) + c->isstd + c->isut;
}

triage_tz_t *
triage_tz_from_tzif (const char *name, const uint8_t *data, size_t size, ln_error_t *err)
{
    triage_tz_t *self = ln_xcalloc (1, sizeof *self);
    snprintf (self->name, sizeof self->name, "%s", name ? name : "");
    s_counts_t c;
    char version;
    size_t timesize = 4;
    const uint8_t *p = data;
    size_t left = size;
    if (!s_header (p, left, &c, &version))
        goto bad;
    if (version >= '2') { /* skip the 32-bit block: the 64-bit one follows */
        size_t skip = 44 + s_block (&c, 4);
        if (skip > left)
            goto bad;
        p += skip;
        left -= skip;
        if (!s_header (p, left, &c, &version))
            goto bad;
        timesize = 8;
    }
    if (c.leap > 0)
        goto bad; /* "right/" zones count leap seconds: not for wall clocks */
    p += 44;
    left -= 44;
    size_t block = s_block (&c, timesize);
    if (block > left)
        goto bad;
    const uint8_t *footer_at = p + block;
    size_t footer_left = left - block;
    self->n = c.time;
    self->times = ln_xcalloc (c.time ? c.time : 1, sizeof *self->times);
    self->idx = ln_xcalloc (c.time ? c.time : 1, sizeof *self->idx);
    self->ntypes = c.type;
    self->type_off = ln_xcalloc (c.type, sizeof *self->type_off);
    for (uint32_t i = 0; i < c.time; i++) {
        self->times[i] = timesize == 8 ? s_be64 (p + 8 * i) : (int32_t)s_be32 (p + 4 * i);
        if (i > 0 && self->times[i] <= self->times[i - 1])
            goto bad;
    }
    p += (size_t)c.time * timesize;
    for (uint32_t i = 0; i < c.time; i++) {
        self->idx[i] = p[i];
        if (p[i] >= c.type)
            goto bad;
    }
    p += c.time;
    for (uint32_t i = 0; i < c.type; i++) {
        int32_t off = (int32_t)s_be32 (p + 6 * i);
        if (off < -25 * 3600 || off > 26 * 3600)
            goto bad;
        self->type_off[i] = off;
    }
    /* The footer (version 2+): "\n" rule "\n"; an empty rule is allowed. */
    if (timesize == 8 && footer_left >= 2 && footer_at[0] == '\n') {
        char footer[128];
        size_t k = 0;
        for (size_t i = 1; i < footer_left && footer_at[i] != '\n'; i++) {
            if (k + 1 >= sizeof footer)
                goto bad;
            footer[k++] = (char)footer_at[i];
        }
        footer[k] = '\0';
        if (k > 0 && !s_parse_rule (footer, &self->rule))
            goto bad;
    }
    return self;
bad:
    ln_error_set (err, "TRIAGE_TZ_INVALID", "time_zone", "%s: not a usable TZif file", self->name);
    triage_tz_destroy (&self);
    return NULL;
}

static bool
s_name_valid (const char *name)
{
    size_t len = name ? strlen (name) : 0;
    if (len == 0 || len >= S_NAME_MAX || name[0] == '/' || strstr (name, ".."))
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '+' || ch == '-' || ch == '/'))
            return false;
    }
    return true;
}

triage_tz_t *
triage_tz_load (const char *name, ln_error_t *err)
{
    if (!s_name_valid (name)) {
        ln_error_set (err, "TRIAGE_TZ_UNKNOWN", "time_zone",
                      "not a time zone name (like Europe/Amsterdam)");
        return NULL;
    }
    const char *dir = getenv ("TZDIR");
    char path[512];
    snprintf (path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    FILE *f = fopen (path, "rb");
    if (!f) {
        ln_error_set (err, "TRIAGE_TZ_UNKNOWN", "time_zone", "%s: no such time zone (%s)", name,
                      strerror (errno));
        return NULL;
    }
    uint8_t *buf = ln_xcalloc (1, S_FILE_MAX + 1);
    size_t size = fread (buf, 1, S_FILE_MAX + 1, f);
    fclose (f);
    triage_tz_t *self = NULL;
    if (size > S_FILE_MAX)
        ln_error_set (err, "TRIAGE_TZ_INVALID", "time_zone", "%s: too large", name);
    else
        self = triage_tz_from_tzif (name, buf, size, err);
    free (buf);
    return self;
}

/* --- conversions -------------------------------------------------------------------------- */

int32_t
triage_tz_offset (const triage_tz_t *self, int64_t utc)
{
    if (self->n == 0 || utc >= self->times[self->n - 1]) {
        if (self->rule.present)
            return s_rule_offset (&self->rule, utc);
        return self->n ? self->type_off[self->idx[self->n - 1]] : self->type_off[0];
    }
    if (utc < self->times[0])
        return self->type_off[0];
    size_t lo = 0, hi = self->n - 1; /* times[lo] <= utc < times[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (self->times[mid] <= utc)
            lo = mid;
        else
            hi = mid;
    }
    return self->type_off[self->idx[lo]];
}

int64_t
triage_tz_to_utc (const triage_tz_t *self, int64_t local)
{
    /* Offsets lie within -25 h .. +26 h, so the UTC time is within that of
       local: try the offsets in effect at both ends and in the middle. */
    int32_t cand[3] = {triage_tz_offset (self, local - 26 * 3600), triage_tz_offset (self, local),
                       triage_tz_offset (self, local + 26 * 3600)};
    bool found = false;
    int64_t best = 0;
    for (int i = 0; i < 3; i++) {
        int64_t t = local - cand[i];
        if (triage_tz_offset (self, t) == cand[i] && (!found || t < best)) {
            best = t;
            found = true;
        }
    }
    if (found)
        return best;
    /* A gap: read it with the offset from before the change, which lands
       as far after the change as the time was meant to be. */
    return local - cand[0];
}
