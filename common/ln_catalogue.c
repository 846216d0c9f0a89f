/*  ln_catalogue: see ln_catalogue.h.

    Loading takes two steps.  ln_config checks the schema (s_specs) and gives
    the values; then the file is parsed once more with libconfig only to know
    the line of each setting, for the semantic checks that ln_config cannot
    express (code syntax, duplicates, form names, labels).  The values always
    come from the first read; the second read must agree with it on the
    codes, or loading fails (the file was replaced in between).

    The digest is computed once at load over a canonical form (lengths
    before strings, so no two contents can run into each other), in sorted
    orders, so that reordering the file does not change it.
*/
#include "ln_catalogue.h"
#include "ln_alloc.h"
#include "ln_config.h"
#include "ln_utf8.h"

#include "lantern.pb-c.h"

#include <libconfig.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *name;
    long long value;
} s_named_t;

struct _ln_catalogue_t {
    char *version;
    ln_indicator_t *items;          /* file order */
    const ln_indicator_t **by_code; /* sorted by code, for ln_catalogue_find */
    size_t size;
    s_named_t *named; /* file order */
    size_t named_n;
    char digest[LN_CATALOGUE_DIGEST_SIZE];
};

static const ln_config_spec_t s_specs[] = {
    {.path = "version",
     .type = LN_CONFIG_STRING,
     .required = true,
     .min = 1,
     .max = LN_CATALOGUE_VERSION_MAX},
    {.path = "indicators",
     .type = LN_CONFIG_GROUP_LIST,
     .required = true,
     .min = 1,
     .max = LN_CATALOGUE_MAX},
    {.path = "indicators.[].code",
     .type = LN_CONFIG_STRING,
     .required = true,
     .min = 1,
     .max = LN_CATALOGUE_CODE_MAX},
    {.path = "indicators.[].label_nl",
     .type = LN_CONFIG_STRING,
     .required = true,
     .min = 1,
     .max = LN_CATALOGUE_LABEL_MAX},
    {.path = "indicators.[].label_en",
     .type = LN_CONFIG_STRING,
     .required = true,
     .min = 1,
     .max = LN_CATALOGUE_LABEL_MAX},
    /* At most one of each of the five names; duplicates are refused below. */
    {.path = "indicators.[].forms",
     .type = LN_CONFIG_STRING_LIST,
     .required = true,
     .min = 1,
     .max = 5},
    {.path = "indicators.[].weight",
     .type = LN_CONFIG_INT,
     .required = true,
     .min = LN_CATALOGUE_WEIGHT_MIN,
     .max = LN_CATALOGUE_WEIGHT_MAX,
     .default_int = LN_CATALOGUE_WEIGHT_MIN},
    {.path = "weights", .type = LN_CONFIG_GROUP_LIST, .min = 0, .max = LN_CATALOGUE_NAMED_MAX},
    {.path = "weights.[].name",
     .type = LN_CONFIG_STRING,
     .required = true,
     .min = 1,
     .max = LN_CATALOGUE_NAME_MAX},
    {.path = "weights.[].value",
     .type = LN_CONFIG_INT,
     .required = true,
     .min = LN_CATALOGUE_NAMED_VALUE_MIN,
     .max = LN_CATALOGUE_NAMED_VALUE_MAX},
    LN_CONFIG_SPEC_END};

/* The catalogue's names of the ExploitationForm values, indexed by value. */
static const char *const s_form_names[] = {
    [LANTERN__V1__EXPLOITATION_FORM__EXPLOITATION_FORM_SEXUAL] = "SEXUAL",
    [LANTERN__V1__EXPLOITATION_FORM__EXPLOITATION_FORM_LABOUR] = "LABOUR",
    [LANTERN__V1__EXPLOITATION_FORM__EXPLOITATION_FORM_CRIMINAL] = "CRIMINAL",
    [LANTERN__V1__EXPLOITATION_FORM__EXPLOITATION_FORM_ORGAN_REMOVAL] = "ORGAN_REMOVAL",
    [LANTERN__V1__EXPLOITATION_FORM__EXPLOITATION_FORM_UNKNOWN] = "UNKNOWN",
};
#define S_FORMS_N (sizeof s_form_names / sizeof s_form_names[0])

/* State of one load, for error messages. */
typedef struct {
    char shown[256]; /* the path as given, control characters as '?' */
    config_t lc;     /* second read: lines only */
    bool lc_ok;
    ln_error_t *err;
} s_load_t;

static void
s_sanitize (char *dst, size_t size, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < size; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    dst[i] = '\0';
}

/* Line of a setting in the second read (1 when it cannot be found). */
static unsigned
s_line (const config_setting_t *s)
{
    unsigned line = s ? config_setting_source_line (s) : 0;
    return line ? line : 1;
}

static int s_fail (s_load_t *ld, unsigned line, const char *code, const char *field,
                   const char *fmt, ...) __attribute__ ((format (printf, 5, 6)));

static int
s_fail (s_load_t *ld, unsigned line, const char *code, const char *field, const char *fmt, ...)
{
    char problem[LN_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (problem, sizeof problem, fmt, ap);
    va_end (ap);
    ln_error_set (ld->err, code, field, "%s:%u: %s: %s", ld->shown, line, field, problem);
    return -1;
}

static bool
s_version_valid (const char *v)
{
    if (!((v[0] >= '0' && v[0] <= '9') || (v[0] >= 'A' && v[0] <= 'Z') ||
          (v[0] >= 'a' && v[0] <= 'z')))
        return false;
    for (const char *p = v; *p; p++) {
        char c = *p;
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool
s_code_valid (const char *code)
{
    size_t len = strlen (code);
    if (len < 2 || len > LN_CATALOGUE_CODE_MAX || code[0] < 'A' || code[0] > 'Z')
        return false;
    for (size_t i = 1; i < len; i++) {
        char c = code[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

static bool
s_weight_name_valid (const char *name)
{
    size_t len = strlen (name);
    if (len < 1 || len > LN_CATALOGUE_NAME_MAX || name[0] < 'a' || name[0] > 'z')
        return false;
    for (size_t i = 1; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

/* NULL when the label is fine, else what is wrong with it. */
static const char *
s_label_problem (const char *label)
{
    size_t len = strlen (label);
    if (ln_utf8_check (label, len, LN_UTF8_TEXT, NULL) != 0)
        return "holds a control character";
    for (size_t i = 0; i < len; i++)
        if (label[i] == '\t' || label[i] == '\n' || label[i] == '\r')
            return "holds a control character (a label is one line)";
    if (label[0] == ' ' || label[len - 1] == ' ')
        return "must not start or end with a space";
    return NULL;
}

static int
s_form_value (const char *name)
{
    for (size_t f = 0; f < S_FORMS_N; f++)
        if (s_form_names[f] && strcmp (s_form_names[f], name) == 0)
            return (int)f;
    return -1;
}

static int
s_cmp_code (const void *a, const void *b)
{
    const ln_indicator_t *const *x = a;
    const ln_indicator_t *const *y = b;
    return strcmp ((*x)->code, (*y)->code);
}

/* Line of member `name` of element i of the second read's list. */
static unsigned
s_member_line (s_load_t *ld, size_t i, const char *name)
{
    config_setting_t *list = config_lookup (&ld->lc, "indicators");
    config_setting_t *elem = list ? config_setting_get_elem (list, (unsigned)i) : NULL;
    config_setting_t *member = elem ? config_setting_get_member (elem, name) : NULL;
    return s_line (member ? member : elem);
}

/* Line of member `name` of element i of the second read's `weights`. */
static unsigned
s_weight_line (s_load_t *ld, size_t i, const char *name)
{
    config_setting_t *list = config_lookup (&ld->lc, "weights");
    config_setting_t *elem = list ? config_setting_get_elem (list, (unsigned)i) : NULL;
    config_setting_t *member = elem ? config_setting_get_member (elem, name) : NULL;
    return s_line (member ? member : elem);
}

/* Line of form j of element i of the second read. */
static unsigned
s_form_line (s_load_t *ld, size_t i, size_t j)
{
    config_setting_t *list = config_lookup (&ld->lc, "indicators");
    config_setting_t *elem = list ? config_setting_get_elem (list, (unsigned)i) : NULL;
    config_setting_t *forms = elem ? config_setting_get_member (elem, "forms") : NULL;
    config_setting_t *form = forms ? config_setting_get_elem (forms, (unsigned)j) : NULL;
    return s_line (form ? form : forms);
}

/* The second read: parse the file again for lines, and check that it holds
   the same codes and weight names as the first. */
static int
s_read_lines (s_load_t *ld, const char *path, const ln_config_t *cfg)
{
    config_init (&ld->lc);
    ld->lc_ok = true;
    bool same = config_read_file (&ld->lc, path) == CONFIG_TRUE;
    config_setting_t *list = same ? config_lookup (&ld->lc, "indicators") : NULL;
    size_t n = ln_config_list_size (cfg, "indicators");
    same = list && (size_t)config_setting_length (list) == n;
    for (size_t i = 0; same && i < n; i++) {
        const char *code = NULL;
        config_setting_t *elem = config_setting_get_elem (list, (unsigned)i);
        same =
            elem && config_setting_lookup_string (elem, "code", &code) == CONFIG_TRUE &&
            strcmp (code, ln_config_string (ln_config_element (cfg, "indicators", i), "code")) == 0;
    }
    /* The same for the named weights (the list is optional). */
    config_setting_t *wlist = same ? config_lookup (&ld->lc, "weights") : NULL;
    size_t wn = ln_config_list_size (cfg, "weights");
    same = same && (wlist ? (size_t)config_setting_length (wlist) : 0) == wn;
    for (size_t i = 0; same && i < wn; i++) {
        const char *name = NULL;
        config_setting_t *elem = config_setting_get_elem (wlist, (unsigned)i);
        same = elem && config_setting_lookup_string (elem, "name", &name) == CONFIG_TRUE &&
               strcmp (name, ln_config_string (ln_config_element (cfg, "weights", i), "name")) == 0;
    }
    if (!same) {
        ln_error_set (ld->err, "CONFIG_IO", "", "%s: changed while it was read; load it again",
                      ld->shown);
        return -1;
    }
    return 0;
}

/* Check element i (items 0..i-1 are loaded) and fill item i. */
static int
s_load_indicator (s_load_t *ld, const ln_config_t *elem, size_t i, ln_indicator_t *items)
{
    char field[LN_ERROR_FIELD_MAX];
    ln_indicator_t *item = &items[i];
    const char *code = ln_config_string (elem, "code");
    snprintf (field, sizeof field, "indicators.[%zu].code", i);
    if (!s_code_valid (code))
        return s_fail (ld, s_member_line (ld, i, "code"), "CATALOGUE_BAD_CODE", field,
                       "must be an upper-case letter, then 1 to 47 of A-Z, 0-9 and _");
    /* Quadratic, but over at most LN_CATALOGUE_MAX short strings, once per
       load; it finds the first duplicate in file order. */
    for (size_t k = 0; k < i; k++)
        if (strcmp (items[k].code, code) == 0)
            return s_fail (ld, s_member_line (ld, i, "code"), "CATALOGUE_DUPLICATE_CODE", field,
                           "%s is already defined at line %u", code, s_member_line (ld, k, "code"));
    static const char *const labels[] = {"label_nl", "label_en"};
    for (size_t l = 0; l < 2; l++) {
        const char *problem = s_label_problem (ln_config_string (elem, labels[l]));
        if (problem) {
            snprintf (field, sizeof field, "indicators.[%zu].%s", i, labels[l]);
            return s_fail (ld, s_member_line (ld, i, labels[l]), "CATALOGUE_BAD_LABEL", field, "%s",
                           problem);
        }
    }
    unsigned forms = 0;
    for (size_t j = 0; j < ln_config_list_size (elem, "forms"); j++) {
        const char *name = ln_config_string_at (elem, "forms", j);
        int value = s_form_value (name);
        snprintf (field, sizeof field, "indicators.[%zu].forms.[%zu]", i, j);
        if (value < 0)
            return s_fail (ld, s_form_line (ld, i, j), "CATALOGUE_UNKNOWN_FORM", field,
                           "not a form; use SEXUAL, LABOUR, CRIMINAL, ORGAN_REMOVAL or UNKNOWN");
        if (forms & LN_CATALOGUE_FORM_BIT (value))
            return s_fail (ld, s_form_line (ld, i, j), "CATALOGUE_DUPLICATE_FORM", field,
                           "%s is listed twice", s_form_names[value]);
        forms |= LN_CATALOGUE_FORM_BIT (value);
    }
    item->code = ln_xstrdup (code);
    item->label_nl = ln_xstrdup (ln_config_string (elem, "label_nl"));
    item->label_en = ln_xstrdup (ln_config_string (elem, "label_en"));
    item->forms = forms;
    item->weight = (int)ln_config_int (elem, "weight");
    return 0;
}

/* Check and fill the named weights (self->named_n counts those filled). */
static int
s_load_named (s_load_t *ld, const ln_config_t *cfg, ln_catalogue_t *self)
{
    char field[LN_ERROR_FIELD_MAX];
    size_t n = ln_config_list_size (cfg, "weights");
    self->named = ln_xcalloc (n ? n : 1, sizeof *self->named);
    for (size_t i = 0; i < n; i++) {
        const ln_config_t *elem = ln_config_element (cfg, "weights", i);
        const char *name = ln_config_string (elem, "name");
        snprintf (field, sizeof field, "weights.[%zu].name", i);
        if (!s_weight_name_valid (name))
            return s_fail (ld, s_weight_line (ld, i, "name"), "CATALOGUE_BAD_WEIGHT_NAME", field,
                           "must be a lower-case letter, then up to 47 of a-z, 0-9 and _");
        for (size_t k = 0; k < i; k++)
            if (strcmp (self->named[k].name, name) == 0)
                return s_fail (ld, s_weight_line (ld, i, "name"), "CATALOGUE_DUPLICATE_WEIGHT",
                               field, "%s is already defined at line %u", name,
                               s_weight_line (ld, k, "name"));
        self->named[i].name = ln_xstrdup (name);
        self->named[i].value = ln_config_int (elem, "value");
        self->named_n++;
    }
    return 0;
}

static int
s_cmp_named (const void *a, const void *b)
{
    const s_named_t *const *x = a;
    const s_named_t *const *y = b;
    return strcmp ((*x)->name, (*y)->name);
}

/* Feed one length-prefixed string (8 bytes big-endian length, then the
   bytes) or one 64-bit big-endian number into the digest. */
static void
s_digest_u64 (crypto_hash_sha256_state *st, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (56 - 8 * i));
    crypto_hash_sha256_update (st, b, sizeof b);
}

static void
s_digest_str (crypto_hash_sha256_state *st, const char *text)
{
    size_t len = strlen (text);
    s_digest_u64 (st, len);
    crypto_hash_sha256_update (st, (const uint8_t *)text, len);
}

static void
s_make_digest (ln_catalogue_t *self)
{
    static const char tag[] = "lantern-catalogue-v1";
    crypto_hash_sha256_state st;
    uint8_t hash[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_init (&st);
    s_digest_str (&st, tag);
    s_digest_u64 (&st, self->size);
    for (size_t i = 0; i < self->size; i++) { /* by_code: sorted */
        s_digest_str (&st, self->by_code[i]->code);
        s_digest_u64 (&st, self->by_code[i]->forms);
        s_digest_u64 (&st, (uint64_t)self->by_code[i]->weight);
    }
    const s_named_t **sorted = ln_xcalloc (self->named_n ? self->named_n : 1, sizeof *sorted);
    for (size_t i = 0; i < self->named_n; i++)
        sorted[i] = &self->named[i];
    qsort (sorted, self->named_n, sizeof *sorted, s_cmp_named);
    s_digest_u64 (&st, self->named_n);
    for (size_t i = 0; i < self->named_n; i++) {
        s_digest_str (&st, sorted[i]->name);
        s_digest_u64 (&st, (uint64_t)sorted[i]->value);
    }
    free (sorted);
    crypto_hash_sha256_final (&st, hash);
    sodium_bin2hex (self->digest, sizeof self->digest, hash, sizeof hash);
}

ln_catalogue_t *
ln_catalogue_load (const char *path, ln_error_t *err)
{
    ln_catalogue_t *self = NULL;
    ln_config_t *cfg = NULL;
    s_load_t ld = {.err = err};
    bool ok = false;

    ln_error_clear (err);
    cfg = ln_config_load (path, s_specs, err);
    if (!cfg)
        goto out;
    s_sanitize (ld.shown, sizeof ld.shown, path);
    if (s_read_lines (&ld, path, cfg) != 0)
        goto out;

    const char *version = ln_config_string (cfg, "version");
    if (!s_version_valid (version)) {
        config_setting_t *v = config_lookup (&ld.lc, "version");
        s_fail (&ld, s_line (v), "CATALOGUE_BAD_VERSION", "version",
                "must be letters, digits, '.', '_' and '-', starting with a letter or digit");
        goto out;
    }
    self = ln_xcalloc (1, sizeof *self);
    self->version = ln_xstrdup (version);
    size_t n = ln_config_list_size (cfg, "indicators");
    self->items = ln_xcalloc (n, sizeof *self->items);
    self->by_code = ln_xcalloc (n, sizeof *self->by_code);
    for (size_t i = 0; i < n; i++) {
        if (s_load_indicator (&ld, ln_config_element (cfg, "indicators", i), i, self->items) != 0)
            goto out;
        self->size++;
        self->by_code[i] = &self->items[i];
    }
    qsort (self->by_code, n, sizeof *self->by_code, s_cmp_code);
    if (s_load_named (&ld, cfg, self) != 0)
        goto out;
    s_make_digest (self);
    ok = true;
out:
    if (ld.lc_ok)
        config_destroy (&ld.lc);
    ln_config_destroy (&cfg);
    if (!ok)
        ln_catalogue_destroy (&self);
    return self;
}

void
ln_catalogue_destroy (ln_catalogue_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ln_catalogue_t *self = *self_p;
    for (size_t i = 0; i < self->size; i++) {
        free ((char *)self->items[i].code);
        free ((char *)self->items[i].label_nl);
        free ((char *)self->items[i].label_en);
    }
    free (self->items);
    free (self->by_code);
    for (size_t i = 0; i < self->named_n; i++)
        free (self->named[i].name);
    free (self->named);
    free (self->version);
    free (self);
    *self_p = NULL;
}

const char *
ln_catalogue_version (const ln_catalogue_t *self)
{
    return self->version;
}

size_t
ln_catalogue_size (const ln_catalogue_t *self)
{
    return self->size;
}

const ln_indicator_t *
ln_catalogue_find (const ln_catalogue_t *self, const char *code)
{
    if (!self || !code)
        return NULL;
    ln_indicator_t key = {.code = code};
    const ln_indicator_t *keyp = &key;
    const ln_indicator_t **hit =
        bsearch (&keyp, self->by_code, self->size, sizeof *self->by_code, s_cmp_code);
    return hit ? *hit : NULL;
}

bool
ln_catalogue_weight (const ln_catalogue_t *self, const char *name, long long *value)
{
    if (!self || !name)
        return false;
    for (size_t i = 0; i < self->named_n; i++)
        if (strcmp (self->named[i].name, name) == 0) {
            *value = self->named[i].value;
            return true;
        }
    return false;
}

size_t
ln_catalogue_weight_count (const ln_catalogue_t *self)
{
    return self ? self->named_n : 0;
}

bool
ln_catalogue_weight_at (const ln_catalogue_t *self, size_t i, const char **name, long long *value)
{
    if (!self || i >= self->named_n)
        return false;
    *name = self->named[i].name;
    *value = self->named[i].value;
    return true;
}

const char *
ln_catalogue_digest (const ln_catalogue_t *self)
{
    return self->digest;
}

const ln_indicator_t *
ln_catalogue_at (const ln_catalogue_t *self, size_t i)
{
    return (self && i < self->size) ? &self->items[i] : NULL;
}

bool
ln_indicator_applies_to (const ln_indicator_t *indicator, int exploitation_form)
{
    if (!indicator || !ln_catalogue_form_name (exploitation_form))
        return false;
    if (exploitation_form == LANTERN__V1__EXPLOITATION_FORM__EXPLOITATION_FORM_UNKNOWN)
        return true;
    return (indicator->forms & LN_CATALOGUE_FORM_BIT (exploitation_form)) != 0;
}

const char *
ln_catalogue_form_name (int exploitation_form)
{
    if (exploitation_form < 0 || (size_t)exploitation_form >= S_FORMS_N)
        return NULL;
    return s_form_names[exploitation_form];
}
