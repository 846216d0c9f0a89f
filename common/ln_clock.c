/*  ln_clock: the process's wall-clock offset (ln_clock.h: tests only). */
#include "ln_clock.h"

_Atomic int64_t ln_clock_offset_us = 0;
