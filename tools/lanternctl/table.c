/*  lanternctl table: see table.h. */
#include "table.h"
#include "ln_alloc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_MAX_COLUMNS 16

struct lanternctl_table_t {
    size_t columns;
    const char *const *headers;
    char **cells; /* rows * columns, row-major, each owned */
    size_t rows, capacity;
};

lanternctl_table_t *
lanternctl_table_new (size_t columns, const char *const *headers)
{
    if (columns == 0 || columns > TABLE_MAX_COLUMNS)
        return NULL;
    lanternctl_table_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    self->columns = columns;
    self->headers = headers;
    return self;
}

void
lanternctl_table_destroy (lanternctl_table_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lanternctl_table_t *self = *self_p;
    for (size_t i = 0; i < self->rows * self->columns; i++)
        free (self->cells[i]);
    free (self->cells);
    free (self);
    *self_p = NULL;
}

/* A copy of the cell fit for one line: "-" when empty, TAB/LF/CR as spaces. */
static char *
s_cell (const char *text)
{
    char *copy = strdup (text && *text ? text : "-");
    if (!copy)
        abort ();
    for (char *c = copy; *c; c++)
        if (*c == '\t' || *c == '\n' || *c == '\r')
            *c = ' ';
    return copy;
}

void
lanternctl_table_add (lanternctl_table_t *self, const char *const *cells)
{
    self->cells = ln_xgrow (self->cells, &self->capacity, self->rows + 1,
                            self->columns * sizeof *self->cells);
    for (size_t c = 0; c < self->columns; c++)
        self->cells[self->rows * self->columns + c] = s_cell (cells[c]);
    self->rows++;
}

size_t
lanternctl_table_rows (const lanternctl_table_t *self)
{
    return self->rows;
}

size_t
lanternctl_text_width (const char *text)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if ((*p & 0xC0) != 0x80)
            n++;
    return n;
}

static int
s_print_line (FILE *out, const char *indent, const char *const *cells, size_t columns,
              const size_t *widths)
{
    if (fputs (indent, out) < 0)
        return -1;
    for (size_t c = 0; c < columns; c++) {
        bool last = c + 1 == columns;
        if (fputs (cells[c], out) < 0)
            return -1;
        if (last)
            break;
        /* pad to the column's width, then the two-space gap */
        for (size_t w = lanternctl_text_width (cells[c]); w < widths[c] + 2; w++)
            if (fputc (' ', out) == EOF)
                return -1;
    }
    return fputc ('\n', out) == EOF ? -1 : 0;
}

int
lanternctl_table_print (const lanternctl_table_t *self, FILE *out, const char *indent)
{
    size_t widths[TABLE_MAX_COLUMNS];
    for (size_t c = 0; c < self->columns; c++) {
        widths[c] = lanternctl_text_width (self->headers[c]);
        for (size_t r = 0; r < self->rows; r++) {
            size_t w = lanternctl_text_width (self->cells[r * self->columns + c]);
            if (w > widths[c])
                widths[c] = w;
        }
    }
    if (s_print_line (out, indent, self->headers, self->columns, widths) != 0)
        return -1;
    for (size_t r = 0; r < self->rows; r++)
        if (s_print_line (out, indent, (const char *const *)&self->cells[r * self->columns],
                          self->columns, widths) != 0)
            return -1;
    return 0;
}
