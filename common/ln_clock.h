/*  ln_clock: the two clocks liblantern uses.

    Wall time (CLOCK_REALTIME, microseconds since the Unix epoch) is what
    gets stored: event times, audit times, reply ages, retention, meeting
    dates.  Monotonic time (milliseconds) is what timers and backoffs
    measure, immune to the wall clock being set.

    A controllable wall clock, for tests only: ln_clock_set_offset_us moves
    the process's wall time by an offset (a node takes it from the file its
    configuration names in testing.clock_file, ln_node.h), so that a test
    can make a week pass for retention, deadlines and the meeting agenda
    without waiting.  The offset is 0 unless someone sets it.
*/
#ifndef LN_CLOCK_H
#define LN_CLOCK_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

extern _Atomic int64_t ln_clock_offset_us;

static inline int64_t
ln_clock_wall_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 +
           atomic_load_explicit (&ln_clock_offset_us, memory_order_relaxed);
}

static inline void
ln_clock_set_offset_us (int64_t offset)
{
    atomic_store (&ln_clock_offset_us, offset);
}

static inline int64_t
ln_clock_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
