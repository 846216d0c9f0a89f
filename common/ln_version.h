/*  ln_version: the version of Lantern, shared by every binary (--version). */
#ifndef LN_VERSION_H
#define LN_VERSION_H

#define LN_VERSION "0.1.0"

#endif
