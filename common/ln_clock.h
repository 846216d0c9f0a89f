/*  ln_clock: the two clocks liblantern uses.

    Wall time (CLOCK_REALTIME, microseconds since the Unix epoch) is what
    gets stored: event times, audit times, reply ages.  Monotonic time
    (milliseconds) is what timers and backoffs measure, immune to the wall
    clock being set.
*/
#ifndef LN_CLOCK_H
#define LN_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t
ln_clock_wall_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t
ln_clock_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
