/*  lanternctl table: rows of text printed in columns fitted to their
    content, for people (signal show, signal list).

        HEAD1  HEAD2   HEAD3
        a      bbbbbb  c
        aaa    -       cc

    Columns are separated by two spaces; the last column is not padded, so
    a long free text at the end does not widen every line.  Widths count
    code points, not bytes, so names with accents line up (characters that
    take two cells on a terminal, as in CJK, are still counted as one).  An
    empty cell shows as "-"; TAB, LF and CR in a cell show as spaces, so a
    row is one line (the other control characters never reach us: the
    node's checks refuse them in every string, ln_utf8.h).
*/
#ifndef LANTERNCTL_TABLE_H
#define LANTERNCTL_TABLE_H

#include <stddef.h>
#include <stdio.h>

typedef struct lanternctl_table_t lanternctl_table_t;

/* A table of `columns` columns (1..16) with these headers (borrowed: they
   must outlive the table; string literals).  NULL when columns is out of
   range. */
lanternctl_table_t *lanternctl_table_new (size_t columns, const char *const *headers);
void lanternctl_table_destroy (lanternctl_table_t **self_p);

/* Add a row of `columns` cells (copied; a NULL or "" cell is "-"). */
void lanternctl_table_add (lanternctl_table_t *self, const char *const *cells);

/* How many rows were added. */
size_t lanternctl_table_rows (const lanternctl_table_t *self);

/* Print the header and the rows, each line starting with `indent`.
   Returns 0, or -1 when writing fails. */
int lanternctl_table_print (const lanternctl_table_t *self, FILE *out, const char *indent);

/* The width of UTF-8 text in code points (continuation bytes not counted). */
size_t lanternctl_text_width (const char *text);

#endif
