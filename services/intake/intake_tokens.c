/*  intake_tokens: normalise a signal's identifiers and attach their
    pseudonym tokens; see intake_tokens.h for the rules.

    Each item is handled by one function that normalises its fields into
    fixed buffers (bounded by LN_PSEUDONYM_NORM_MAX), builds the token
    inputs, and appends the tokens.  Every change to the message (a new
    token, a replaced date) is complete before the next one starts, so the
    message can be freed with protobuf_c_message_free_unpacked at any
    point, including after a failure half-way.
*/
#include "intake_tokens.h"
#include "intake_country.h"
#include "ln_alloc.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A token input: up to four normal forms and their separators. */
#define JOINED_MAX (4 * LN_PSEUDONYM_NORM_MAX + 8)

typedef int (*s_norm_fn) (const char *, char *, size_t, ln_error_t *);

typedef struct {
    const ln_pseudonym_key_t *key;
    const char *prefix; /* "details", "added" or "" */
    ln_error_t *err;
} s_ctx_t;

/* A field is given when it holds more than spaces and tabs. */
static bool
s_given (const char *s)
{
    return s && s[strspn (s, " \t")] != '\0';
}

/* Set err's field to prefix.list[index].field. */
static void
s_set_field (const s_ctx_t *ctx, const char *list, size_t index, const char *field)
{
    if (!ctx->err)
        return;
    snprintf (ctx->err->field, sizeof ctx->err->field, "%s%s%s[%zu].%s", ctx->prefix,
              *ctx->prefix ? "." : "", list, index, field);
}

/* Normalise a given field into out; on failure, err carries the
   normaliser's code and message with the field's path. */
static int
s_norm (const s_ctx_t *ctx, s_norm_fn fn, const char *in, char out[LN_PSEUDONYM_NORM_MAX],
        const char *list, size_t index, const char *field)
{
    ln_error_t local = {0};
    if (fn (in, out, LN_PSEUDONYM_NORM_MAX, &local) == 0)
        return 0;
    if (ctx->err) {
        *ctx->err = local;
        s_set_field (ctx, list, index, field);
    }
    return -1;
}

/* Country as stored for a token: "" for the Netherlands (empty, NL, NLD in
   any case), else the ISO 3166-1 alpha-2 code, whether alpha-2 or alpha-3
   was written (DE and DEU give DE: intake_country). */
static int
s_country (const s_ctx_t *ctx, const char *in, char out[4], const char *list, size_t index)
{
    out[0] = '\0';
    if (!s_given (in))
        return 0;
    const char *p = in + strspn (in, " \t");
    size_t n = 0;
    while (p[n] && p[n] != ' ' && p[n] != '\t') {
        char c = p[n];
        if (n == 3 || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
            goto bad;
        out[n++] = c >= 'a' ? (char)(c - 'a' + 'A') : c;
    }
    out[n] = '\0';
    if (p[n + strspn (p + n, " \t")] != '\0' || !intake_country_find (out, out))
        goto bad;
    if (strcmp (out, "NL") == 0)
        out[0] = '\0';
    return 0;
bad:
    out[0] = '\0';
    ln_error_set (ctx->err, "INVALID_COUNTRY", NULL,
                  "country: not an ISO 3166-1 code of 2 or 3 letters");
    s_set_field (ctx, list, index, "country");
    return -1;
}

/* Append a token of `kind` over `text` to (*tokens, *n). */
static int
s_add_token (const s_ctx_t *ctx, Lantern__V1__Token ***tokens, size_t *n, int kind,
             const char *text)
{
    char hex[LN_PSEUDONYM_TOKEN_SIZE];
    if (ln_pseudonym_token (ctx->key, kind, text, hex) != 0) {
        ln_error_set (ctx->err, "INTERNAL", NULL, "cannot compute a token");
        return -1;
    }
    Lantern__V1__Token *token = malloc (sizeof *token);
    if (!token)
        abort ();
    lantern__v1__token__init (token);
    token->kind = (Lantern__V1__IdentifierKind)kind;
    token->token = ln_xstrdup (hex);
    *tokens = ln_xrealloc (*tokens, *n + 1, sizeof **tokens);
    (*tokens)[(*n)++] = token;
    return 0;
}

/* Join up to four parts with '|' into out (JOINED_MAX bytes). */
static int
s_join (const s_ctx_t *ctx, char *out, const char *a, const char *b, const char *c, const char *d)
{
    int len = snprintf (out, JOINED_MAX, "%s%s%s%s%s%s%s", a, b ? "|" : "", b ? b : "",
                        c ? "|" : "", c ? c : "", d ? "|" : "", d ? d : "");
    if (len < 0 || len >= JOINED_MAX) {
        ln_error_set (ctx->err, "INTERNAL", NULL, "token input too long");
        return -1;
    }
    return 0;
}

static int
s_person (const s_ctx_t *ctx, Lantern__V1__Person *p, size_t i)
{
    char name[LN_PSEUDONYM_NORM_MAX], date[LN_PSEUDONYM_NORM_MAX], norm[LN_PSEUDONYM_NORM_MAX];
    char joined[JOINED_MAX];
    bool has_name = s_given (p->name), has_date = s_given (p->date_of_birth);

    if (has_name && s_norm (ctx, ln_pseudonym_norm_name, p->name, name, "persons", i, "name") != 0)
        return -1;
    if (has_date) {
        if (s_norm (ctx, ln_pseudonym_norm_date, p->date_of_birth, date, "persons", i,
                    "date_of_birth") != 0)
            return -1;
        /* The stored date of birth is the normal form. */
        if (strcmp (p->date_of_birth, date) != 0) {
            char *old = p->date_of_birth;
            p->date_of_birth = ln_xstrdup (date);
            if (old != protobuf_c_empty_string)
                free (old);
        }
    }
    if (has_name && has_date) {
        if (s_join (ctx, joined, name, date, NULL, NULL) != 0 ||
            s_add_token (ctx, &p->tokens, &p->n_tokens,
                         LANTERN__V1__IDENTIFIER_KIND__IDENTIFIER_KIND_NAME_BIRTHDATE, joined) != 0)
            return -1;
    }
    if (s_given (p->bsn) &&
        (s_norm (ctx, ln_pseudonym_norm_bsn, p->bsn, norm, "persons", i, "bsn") != 0 ||
         s_add_token (ctx, &p->tokens, &p->n_tokens,
                      LANTERN__V1__IDENTIFIER_KIND__IDENTIFIER_KIND_BSN, norm) != 0))
        return -1;
    if (s_given (p->document_number) &&
        (s_norm (ctx, ln_pseudonym_norm_document, p->document_number, norm, "persons", i,
                 "document_number") != 0 ||
         s_add_token (ctx, &p->tokens, &p->n_tokens,
                      LANTERN__V1__IDENTIFIER_KIND__IDENTIFIER_KIND_DOCUMENT, norm) != 0))
        return -1;
    if (s_given (p->phone) &&
        (s_norm (ctx, ln_pseudonym_norm_phone, p->phone, norm, "persons", i, "phone") != 0 ||
         s_add_token (ctx, &p->tokens, &p->n_tokens,
                      LANTERN__V1__IDENTIFIER_KIND__IDENTIFIER_KIND_PHONE, norm) != 0))
        return -1;
    return 0;
}

static int
s_address (const s_ctx_t *ctx, Lantern__V1__Address *a, size_t i)
{
    char country[4], postcode[LN_PSEUDONYM_NORM_MAX], house[LN_PSEUDONYM_NORM_MAX];
    char street[LN_PSEUDONYM_NORM_MAX], city[LN_PSEUDONYM_NORM_MAX];
    char joined[JOINED_MAX];
    const int kind = LANTERN__V1__IDENTIFIER_KIND__IDENTIFIER_KIND_ADDRESS;

    if (s_country (ctx, a->country, country, "addresses", i) != 0)
        return -1;
    bool dutch = country[0] == '\0';
    bool has_postcode = dutch && s_given (a->postcode);
    bool has_house = s_given (a->house_number);
    bool has_street = s_given (a->street), has_city = s_given (a->city);

    if (has_postcode && s_norm (ctx, ln_pseudonym_norm_postcode, a->postcode, postcode, "addresses",
                                i, "postcode") != 0)
        return -1;
    if (has_house && s_norm (ctx, ln_pseudonym_norm_house_number, a->house_number, house,
                             "addresses", i, "house_number") != 0)
        return -1;
    if (has_postcode && has_house &&
        (s_join (ctx, joined, postcode, house, NULL, NULL) != 0 ||
         s_add_token (ctx, &a->tokens, &a->n_tokens, kind, joined) != 0))
        return -1;
    if (has_street && has_house && has_city) {
        if (s_norm (ctx, ln_pseudonym_norm_place, a->street, street, "addresses", i, "street") !=
                0 ||
            s_norm (ctx, ln_pseudonym_norm_place, a->city, city, "addresses", i, "city") != 0 ||
            s_join (ctx, joined, dutch ? "NL" : country, street, house, city) != 0 ||
            s_add_token (ctx, &a->tokens, &a->n_tokens, kind, joined) != 0)
            return -1;
    }
    return 0;
}

static int
s_vehicle (const s_ctx_t *ctx, Lantern__V1__Vehicle *v, size_t i)
{
    char country[4], plate[LN_PSEUDONYM_NORM_MAX], joined[JOINED_MAX];
    if (s_country (ctx, v->country, country, "vehicles", i) != 0)
        return -1;
    if (!s_given (v->licence_plate))
        return 0;
    if (s_norm (ctx, ln_pseudonym_norm_plate, v->licence_plate, plate, "vehicles", i,
                "licence_plate") != 0)
        return -1;
    if (country[0] ? s_join (ctx, joined, country, plate, NULL, NULL)
                   : s_join (ctx, joined, plate, NULL, NULL, NULL))
        return -1;
    return s_add_token (ctx, &v->tokens, &v->n_tokens,
                        LANTERN__V1__IDENTIFIER_KIND__IDENTIFIER_KIND_VEHICLE, joined);
}

static int
s_employer (const s_ctx_t *ctx, Lantern__V1__Employer *e, size_t i)
{
    char kvk[LN_PSEUDONYM_NORM_MAX];
    if (!s_given (e->kvk_number))
        return 0;
    if (s_norm (ctx, ln_pseudonym_norm_kvk, e->kvk_number, kvk, "employers", i, "kvk_number") != 0)
        return -1;
    return s_add_token (ctx, &e->tokens, &e->n_tokens,
                        LANTERN__V1__IDENTIFIER_KIND__IDENTIFIER_KIND_EMPLOYER, kvk);
}

int
intake_tokens_fill (const ln_pseudonym_key_t *key, Lantern__V1__SignalDetails *details,
                    const char *path_prefix, ln_error_t *err)
{
    if (!key || !details) {
        ln_error_set (err, "INTERNAL", NULL, "intake_tokens_fill: no key or no details");
        return -1;
    }
    const s_ctx_t ctx = {key, path_prefix ? path_prefix : "", err};
    for (size_t i = 0; i < details->n_persons; i++)
        if (details->persons[i] && s_person (&ctx, details->persons[i], i) != 0)
            return -1;
    for (size_t i = 0; i < details->n_addresses; i++)
        if (details->addresses[i] && s_address (&ctx, details->addresses[i], i) != 0)
            return -1;
    for (size_t i = 0; i < details->n_vehicles; i++)
        if (details->vehicles[i] && s_vehicle (&ctx, details->vehicles[i], i) != 0)
            return -1;
    for (size_t i = 0; i < details->n_employers; i++)
        if (details->employers[i] && s_employer (&ctx, details->employers[i], i) != 0)
            return -1;
    return 0;
}
