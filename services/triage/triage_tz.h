/*  triage_tz: local time in a named time zone, from the system's tz
    database, without touching the process's TZ.

    The weekly meeting is "Tuesday 10:00 Europe/Amsterdam": 08:00 UTC in
    summer, 09:00 UTC in winter.  libc can only convert in the one zone of
    the process (setenv TZ + tzset: global state, not for a library), so
    this module reads the zone's TZif file (RFC 8536; $TZDIR or
    /usr/share/zoneinfo; Debian's tzdata) itself: its transitions (the
    64-bit data of version 2+) and, for times after the last transition,
    its footer, a POSIX TZ rule such as "CET-1CEST,M3.5.0,M10.5.0/3"
    (POSIX.1-2017 8.3, with RFC 8536's extensions: hours up to 167 and
    negative rule times).  A rule can also be given directly.

    Local time -> UTC (triage_tz_to_utc) is not one-to-one around a change:
      - a local time that does not exist (skipped when clocks go forward,
        e.g. 02:30 on the last Sunday of March in Amsterdam) is taken as
        the same distance after the change: 02:30 -> 03:30 CEST, as
        mktime does;
      - a local time that happens twice (when clocks go back) is taken the
        first time (the summer-time one).

    Times are seconds since the epoch, local "seconds" being the wall clock
    read as if it were UTC.

    Error codes: TRIAGE_TZ_UNKNOWN (no such zone file; a name with "..",
    a leading "/" or other than [A-Za-z0-9_+/-] is refused as this too),
    TRIAGE_TZ_INVALID (not a TZif file, or a rule that does not parse;
    zones with leap seconds ("right/...") are refused).
*/
#ifndef TRIAGE_TZ_H
#define TRIAGE_TZ_H

#include <stddef.h>
#include <stdint.h>

#include "ln_error.h"

typedef struct triage_tz_t triage_tz_t;

/* The zone named name ("Europe/Amsterdam", "UTC"). */
triage_tz_t *triage_tz_load (const char *name, ln_error_t *err);
/* A zone from TZif bytes (name is only remembered). */
triage_tz_t *triage_tz_from_tzif (const char *name, const uint8_t *data, size_t size,
                                  ln_error_t *err);
/* A zone from a POSIX TZ rule alone ("CET-1CEST,M3.5.0,M10.5.0/3"). */
triage_tz_t *triage_tz_from_rule (const char *rule, ln_error_t *err);
void triage_tz_destroy (triage_tz_t **self_p);

const char *triage_tz_name (const triage_tz_t *self);

/* Seconds east of UTC in effect at utc (seconds since the epoch). */
int32_t triage_tz_offset (const triage_tz_t *self, int64_t utc);

/* The UTC time of a local wall-clock time (see above for gaps and
   overlaps). */
int64_t triage_tz_to_utc (const triage_tz_t *self, int64_t local);

#endif
