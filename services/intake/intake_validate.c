/*  intake_validate: see intake_validate.h for the API, the codes and their
    order.  This comment says why each rule is what it is.

    Decisions
    - Forms alone do not make a signal: EMPTY_SIGNAL when a submission names
      no indicator, person, address, vehicle or employer and its account is
      blank (white space only).  A classification without anything observed
      gives the screening meeting nothing to discuss.
    - UNKNOWN means "not yet known", so one list may not hold UNKNOWN and a
      real form (UNKNOWN_WITH_OTHER_FORM), and an amendment may not add
      UNKNOWN to a signal that already has a real form.  The other way round
      is the normal course of a signal: an amendment may add LABOUR to a
      signal whose form was UNKNOWN.  From then on the real forms count:
      indicators are checked against the real forms of the merged signal,
      or against UNKNOWN (anything fits) while it has none.
    - Indicator and form (ln_catalogue.h): an indicator fits when it lists
      one of those forms, or the forms are UNKNOWN; else
      INDICATOR_FORM_MISMATCH.  Only the indicators given in this message
      are checked: those already stored were checked when they came.
    - LABOUR without a sector is allowed (the sector is often not yet
      known); a sector without LABOUR in the merged forms is refused.  An
      amendment may set the sector only when none was set (SECTOR_IMMUTABLE).
    - An amendment adds; it never changes what the signal already says:
      reporter, observed_on and municipality must be absent from it
      (REPORTER_IMMUTABLE, OBSERVED_ON_IMMUTABLE, MUNICIPALITY_IMMUTABLE;
      an empty Reporter message counts as absent).  An amendment that adds
      nothing at all (no element, no account text, no sector, no flag that
      was not already raised) is EMPTY_AMENDMENT: it would only make a new
      version.
    - Dates: "in the future" means after today in any time zone: the UTC date
      of now + 14 hours, so an officer in the Netherlands just after
      midnight is not refused.  observed_on must be 2000-01-01 or later
      (OBSERVED_BEFORE_2000: a typo guard; a disclosure of old events is
      observed when it is made), a date of birth 1900-01-01 or later.
    - MINOR_FLAG_MISSING: a possible victim under 18 on the observation date
      (by date of birth) while minor_involved is false (in the merged signal)
      is refused, at the person's date_of_birth: the flag drives safety
      routing (youth protection), so it must not be forgotten.  Other roles
      do not trigger it.
    - PERSON_WITHOUT_IDENTITY: a person needs one of name, bsn,
      document_number, phone or description (not blank).  A description
      alone ("young woman, speaks Romanian") is how many signals describe a
      victim, so it counts (proto/lantern.proto's comment omits it).
    - Control characters (CONTROL_CHARACTER): none in one-line fields; in
      free text (account, every description) only LF and TAB.  CR is
      refused too (clients send LF line ends), and so are DEL, the C1
      controls, the line/paragraph separators U+2028/U+2029 and the bidi
      embeddings, overrides and isolates U+202A..U+202E, U+2066..U+2069,
      which can make text read differently on an operator's screen than it
      is stored.
    - Text limits are those of proto/lantern.proto; fields it gives no limit
      get one here: identifiers and dates 16..64 bytes, city 200.
    - Formats are checked with ln_pseudonym's normalisers (the same code that
      later makes the tokens), so whatever passes here can be tokenised.
      Dutch postcode and house-number rules apply to addresses in NL (country
      empty, NL or NLD); abroad they are text.  Names of persons must pass
      the name normaliser (INVALID_NAME: letters, separators, apostrophes,
      a remark in parentheses), streets and cities the place normaliser
      (INVALID_ADDRESS: letters, digits, separators, no other symbols; they
      are part of an address's token); the normaliser's message names the
      refused character and its position, and s_norm puts the field's path
      before it.  Employer names and addresses are free text (one line):
      "De Wit & Zn. (Venlo) B.V." is how companies are written.
    - Nationality: ISO 3166-1 alpha-2 or alpha-3 in upper case
      (intake_country: iso-codes 4.15), plus XK/XKX (Kosovo) and the ICAO 9303 codes
      XXA (stateless), XXB (refugee), XXC (other refugee) and XXX
      (unspecified), which victims' documents do carry.  Countries of
      addresses and vehicles: ISO 3166-1 and XK/XKX only.
    - Municipality: a CBS code of a municipality that exists today
      (intake_municipality: the CBS classification, shipped as data).  A
      malformed code is INVALID_MUNICIPALITY, a well-formed one that no
      municipality ever had UNKNOWN_MUNICIPALITY, and the code of a
      municipality that has since merged, been renamed or divided
      FORMER_MUNICIPALITY, whose message names the code to use now.  The
      current list counts, not the one of the observation date: a signal
      is filed under the municipality that is responsible for it today.
    - Messages never quote a value that a user typed.
*/
#include "intake_validate.h"
#include "intake_country.h"
#include "intake_municipality.h"
#include "ln_pseudonym.h"
#include "ln_utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define F_UNKNOWN LANTERN__V1__EXPLOITATION_FORM__EXPLOITATION_FORM_UNKNOWN
#define F_LABOUR  LANTERN__V1__EXPLOITATION_FORM__EXPLOITATION_FORM_LABOUR
/* Bits of the real forms (SEXUAL..ORGAN_REMOVAL) in a forms mask. */
#define S_REAL_FORMS (LN_CATALOGUE_FORM_BIT (F_UNKNOWN) - LN_CATALOGUE_FORM_BIT (1))

/* Text limits that proto/lantern.proto does not give. */
#define S_DATE_MAX      32
#define S_CODE_MAX      16 /* municipality, nationality, country */
#define S_IDENT_MAX     64 /* bsn, document, phone, plate, kvk, indicator code */
#define S_SHORT_MAX     20 /* foreign postcode, house number */
#define S_NAME_MAX      200
#define S_DESC_MAX      1000
#define S_ADDRDESC_MAX  500
#define S_SMALLDESC_MAX 200
#define S_EMPADDR_MAX   300
/* Room for a "YYYY-MM-DD" date (and for what a compiler thinks an int may print). */
#define S_DATEBUF 48

/* One validation run. */
typedef struct {
    const intake_validate_ctx_t *ctx;
    const Lantern__V1__SignalDetails *d;   /* what is given */
    const Lantern__V1__SignalDetails *cur; /* the stored signal (empty on submit) */
    bool amend;
    const char *root; /* "details" or "added" */
    ln_error_t *err;
    char today[S_DATEBUF];    /* the latest date that is not in the future */
    char observed[S_DATEBUF]; /* the signal's observation date (normalised) */
    unsigned forms;           /* merged forms mask */
} s_check_t;

static const Lantern__V1__SignalDetails s_empty_details = LANTERN__V1__SIGNAL_DETAILS__INIT;
static const Lantern__V1__Person s_empty_person = LANTERN__V1__PERSON__INIT;
static const Lantern__V1__Address s_empty_address = LANTERN__V1__ADDRESS__INIT;
static const Lantern__V1__Vehicle s_empty_vehicle = LANTERN__V1__VEHICLE__INIT;
static const Lantern__V1__Employer s_empty_employer = LANTERN__V1__EMPLOYER__INIT;

/* --- small helpers --------------------------------------------------------- */

static const char *
s_str (const char *s)
{
    return s ? s : "";
}

/* Empty or only ASCII white space. */
static bool
s_blank (const char *s)
{
    for (s = s_str (s); *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return false;
    return true;
}

static bool
s_given (const char *s)
{
    return s && *s;
}

static int s_fail (s_check_t *ck, const char *code, const char *field, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

/* Fail with code at root.field (field "" names the root itself). */
static int
s_fail (s_check_t *ck, const char *code, const char *field, const char *fmt, ...)
{
    char path[LN_ERROR_FIELD_MAX];
    char message[LN_ERROR_MESSAGE_MAX];
    snprintf (path, sizeof path, "%s%s%s", ck->root, (*ck->root && *field) ? "." : "", field);
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (message, sizeof message, fmt, ap);
    va_end (ap);
    ln_error_set (ck->err, code, path, "%s: %s", path, message);
    return -1;
}

static bool
s_enum_defined (const ProtobufCEnumDescriptor *desc, int value)
{
    return value != 0 && protobuf_c_enum_descriptor_get_value (desc, value) != NULL;
}

/* The position of the first control character that `multiline` text may
   not hold (see the header comment), or -1.  s is valid UTF-8. */
static long
s_control_at (const char *s, bool multiline)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; p[i]; i++) {
        unsigned char c = p[i];
        if (c < 0x20) {
            if (!(multiline && (c == '\n' || c == '\t')))
                return (long)i;
        }
        else if (c == 0x7f)
            return (long)i;
        else if (c == 0xc2 && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f)
            return (long)i; /* C1 */
        else if (c == 0xe2 && p[i + 1] == 0x80 && p[i + 2] >= 0xa8 && p[i + 2] <= 0xae)
            return (long)i; /* U+2028..U+202E */
        else if (c == 0xe2 && p[i + 1] == 0x81 && p[i + 2] >= 0xa6 && p[i + 2] <= 0xa9)
            return (long)i; /* U+2066..U+2069 */
    }
    return -1;
}

/* TEXT_TOO_LONG, INVALID_UTF8, CONTROL_CHARACTER for one string field. */
static int
s_text (s_check_t *ck, const char *field, const char *value, size_t max, bool multiline)
{
    value = s_str (value);
    size_t len = strlen (value), bad = 0;
    if (len > max)
        return s_fail (ck, "TEXT_TOO_LONG", field, "is %zu bytes long; at most %zu allowed", len,
                       max);
    if (ln_utf8_check (value, len, LN_UTF8_ALLOW_CONTROLS, &bad) != 0)
        return s_fail (ck, "INVALID_UTF8", field, "not valid UTF-8 (at byte %zu)", bad);
    long at = s_control_at (value, multiline);
    if (at >= 0)
        return s_fail (ck, "CONTROL_CHARACTER", field, "holds a control character at byte %ld (%s)",
                       at, multiline ? "only line feed and tab are allowed" : "one line of text");
    return 0;
}

typedef int (*s_norm_fn) (const char *in, char *out, size_t size, ln_error_t *err);

/* Run a normaliser; on failure report its code at field. */
static int
s_norm (s_check_t *ck, s_norm_fn norm, const char *field, const char *value, char *out, size_t size)
{
    ln_error_t e;
    ln_error_clear (&e);
    if (norm (s_str (value), out, size, &e) == 0)
        return 0;
    /* Its message starts with its own name for the field ("bsn: ..."):
       ours names the whole path instead. */
    const char *msg = e.message;
    size_t word = strspn (msg, "abcdefghijklmnopqrstuvwxyz_");
    if (word > 0 && msg[word] == ':' && msg[word + 1] == ' ')
        msg += word + 2;
    return s_fail (ck, e.code ? e.code : "INVALID_VALUE", field, "%s", *msg ? msg : "not valid");
}

/* ISO 3166-1 (intake_country); `nationality` adds the ICAO codes. */
static bool
s_country_valid (const char *code, bool nationality)
{
    if (nationality && (strcmp (code, "XXA") == 0 || strcmp (code, "XXB") == 0 ||
                        strcmp (code, "XXC") == 0 || strcmp (code, "XXX") == 0))
        return true;
    return intake_country_find (code, NULL);
}

bool
intake_municipality_valid (const char *m)
{
    const intake_municipality_t *entry = intake_municipality_find (m);
    return entry && entry->change == INTAKE_MUNICIPALITY_CURRENT;
}

/* The mask of the valid forms in a list (values no form are skipped). */
static unsigned
s_forms_mask (const Lantern__V1__SignalDetails *d)
{
    unsigned mask = 0;
    for (size_t i = 0; i < d->n_forms; i++)
        if (ln_catalogue_form_name ((int)d->forms[i]))
            mask |= LN_CATALOGUE_FORM_BIT (d->forms[i]);
    return mask;
}

/* Validate a date field: INVALID_DATE, DATE_IN_FUTURE, then not before
   `earliest` (code too_early).  Writes the normal form to out. */
static int
s_date (s_check_t *ck, const char *field, const char *value, const char *earliest,
        const char *too_early, char out[S_DATEBUF])
{
    char norm[LN_PSEUDONYM_NORM_MAX];
    if (s_norm (ck, ln_pseudonym_norm_date, field, value, norm, sizeof norm) != 0)
        return -1;
    if (strlen (norm) != 10)
        return s_fail (ck, "INVALID_DATE", field, "not a date");
    if (strcmp (norm, ck->today) > 0)
        return s_fail (ck, "DATE_IN_FUTURE", field, "is in the future");
    if (strcmp (norm, earliest) < 0)
        return s_fail (ck, too_early, field, "is before %s", earliest);
    snprintf (out, S_DATEBUF, "%.10s", norm);
    return 0;
}

/* --- the steps --------------------------------------------------------------- */

static int
s_check_counts (s_check_t *ck)
{
    const Lantern__V1__SignalDetails *d = ck->d, *c = ck->cur;
    const char *what = ck->amend ? " (with those already in the signal)" : "";
    if (d->n_indicators + c->n_indicators > INTAKE_MAX_INDICATORS)
        return s_fail (ck, "TOO_MANY_INDICATORS", "indicators", "more than %d indicators%s",
                       INTAKE_MAX_INDICATORS, what);
    if (d->n_persons + c->n_persons > INTAKE_MAX_PERSONS)
        return s_fail (ck, "TOO_MANY_PERSONS", "persons", "more than %d persons%s",
                       INTAKE_MAX_PERSONS, what);
    if (d->n_addresses + c->n_addresses > INTAKE_MAX_ADDRESSES)
        return s_fail (ck, "TOO_MANY_ADDRESSES", "addresses", "more than %d addresses%s",
                       INTAKE_MAX_ADDRESSES, what);
    if (d->n_vehicles + c->n_vehicles > INTAKE_MAX_VEHICLES)
        return s_fail (ck, "TOO_MANY_VEHICLES", "vehicles", "more than %d vehicles%s",
                       INTAKE_MAX_VEHICLES, what);
    if (d->n_employers + c->n_employers > INTAKE_MAX_EMPLOYERS)
        return s_fail (ck, "TOO_MANY_EMPLOYERS", "employers", "more than %d employers%s",
                       INTAKE_MAX_EMPLOYERS, what);
    return 0;
}

static int
s_no_tokens (s_check_t *ck, const char *list, size_t i, size_t n_tokens)
{
    if (n_tokens == 0)
        return 0;
    char field[64];
    snprintf (field, sizeof field, "%s[%zu].tokens", list, i);
    return s_fail (ck, "TOKENS_NOT_ALLOWED", field,
                   "tokens are made by the intake node, never sent to it");
}

static int
s_check_tokens (s_check_t *ck)
{
    const Lantern__V1__SignalDetails *d = ck->d;
    for (size_t i = 0; i < d->n_persons; i++)
        if (d->persons[i] && s_no_tokens (ck, "persons", i, d->persons[i]->n_tokens) != 0)
            return -1;
    for (size_t i = 0; i < d->n_addresses; i++)
        if (d->addresses[i] && s_no_tokens (ck, "addresses", i, d->addresses[i]->n_tokens) != 0)
            return -1;
    for (size_t i = 0; i < d->n_vehicles; i++)
        if (d->vehicles[i] && s_no_tokens (ck, "vehicles", i, d->vehicles[i]->n_tokens) != 0)
            return -1;
    for (size_t i = 0; i < d->n_employers; i++)
        if (d->employers[i] && s_no_tokens (ck, "employers", i, d->employers[i]->n_tokens) != 0)
            return -1;
    return 0;
}

/* Field name "list[i].member" into buf. */
static const char *
s_elem (char *buf, size_t size, const char *list, size_t i, const char *member)
{
    snprintf (buf, size, "%s[%zu]%s%s", list, i, *member ? "." : "", member);
    return buf;
}

static int
s_check_text (s_check_t *ck)
{
    const Lantern__V1__SignalDetails *d = ck->d;
    char f[96];
    if (d->reporter) {
        if (s_text (ck, "reporter.organisation", d->reporter->organisation, S_NAME_MAX, false) ||
            s_text (ck, "reporter.contact", d->reporter->contact, S_NAME_MAX, false))
            return -1;
    }
    if (s_text (ck, "observed_on", d->observed_on, S_DATE_MAX, false) ||
        s_text (ck, "municipality", d->municipality, S_CODE_MAX, false))
        return -1;
    for (size_t i = 0; i < d->n_indicators; i++)
        if (s_text (ck, s_elem (f, sizeof f, "indicators", i, ""), d->indicators[i], S_IDENT_MAX,
                    false))
            return -1;
    for (size_t i = 0; i < d->n_persons; i++) {
        const Lantern__V1__Person *p = d->persons[i] ? d->persons[i] : &s_empty_person;
        if (s_text (ck, s_elem (f, sizeof f, "persons", i, "name"), p->name, S_NAME_MAX, false) ||
            s_text (ck, s_elem (f, sizeof f, "persons", i, "date_of_birth"), p->date_of_birth,
                    S_DATE_MAX, false) ||
            s_text (ck, s_elem (f, sizeof f, "persons", i, "nationality"), p->nationality,
                    S_CODE_MAX, false) ||
            s_text (ck, s_elem (f, sizeof f, "persons", i, "bsn"), p->bsn, S_IDENT_MAX, false) ||
            s_text (ck, s_elem (f, sizeof f, "persons", i, "document_number"), p->document_number,
                    S_IDENT_MAX, false) ||
            s_text (ck, s_elem (f, sizeof f, "persons", i, "phone"), p->phone, S_IDENT_MAX,
                    false) ||
            s_text (ck, s_elem (f, sizeof f, "persons", i, "description"), p->description,
                    S_DESC_MAX, true))
            return -1;
    }
    for (size_t i = 0; i < d->n_addresses; i++) {
        const Lantern__V1__Address *a = d->addresses[i] ? d->addresses[i] : &s_empty_address;
        if (s_text (ck, s_elem (f, sizeof f, "addresses", i, "street"), a->street, S_NAME_MAX,
                    false) ||
            s_text (ck, s_elem (f, sizeof f, "addresses", i, "house_number"), a->house_number,
                    S_SHORT_MAX, false) ||
            s_text (ck, s_elem (f, sizeof f, "addresses", i, "postcode"), a->postcode, S_SHORT_MAX,
                    false) ||
            s_text (ck, s_elem (f, sizeof f, "addresses", i, "city"), a->city, S_NAME_MAX, false) ||
            s_text (ck, s_elem (f, sizeof f, "addresses", i, "country"), a->country, S_CODE_MAX,
                    false) ||
            s_text (ck, s_elem (f, sizeof f, "addresses", i, "description"), a->description,
                    S_ADDRDESC_MAX, true))
            return -1;
    }
    for (size_t i = 0; i < d->n_vehicles; i++) {
        const Lantern__V1__Vehicle *v = d->vehicles[i] ? d->vehicles[i] : &s_empty_vehicle;
        if (s_text (ck, s_elem (f, sizeof f, "vehicles", i, "licence_plate"), v->licence_plate,
                    S_IDENT_MAX, false) ||
            s_text (ck, s_elem (f, sizeof f, "vehicles", i, "country"), v->country, S_CODE_MAX,
                    false) ||
            s_text (ck, s_elem (f, sizeof f, "vehicles", i, "description"), v->description,
                    S_SMALLDESC_MAX, true))
            return -1;
    }
    for (size_t i = 0; i < d->n_employers; i++) {
        const Lantern__V1__Employer *e = d->employers[i] ? d->employers[i] : &s_empty_employer;
        if (s_text (ck, s_elem (f, sizeof f, "employers", i, "name"), e->name, S_NAME_MAX, false) ||
            s_text (ck, s_elem (f, sizeof f, "employers", i, "kvk_number"), e->kvk_number,
                    S_IDENT_MAX, false) ||
            s_text (ck, s_elem (f, sizeof f, "employers", i, "address"), e->address, S_EMPADDR_MAX,
                    false))
            return -1;
    }
    return s_text (ck, "account", d->account, INTAKE_ACCOUNT_MAX, true);
}

static bool
s_reporter_given (const Lantern__V1__Reporter *r)
{
    return r && (r->role != 0 || s_given (r->organisation) || s_given (r->contact));
}

static int
s_check_content (s_check_t *ck)
{
    const Lantern__V1__SignalDetails *d = ck->d, *c = ck->cur;
    bool observed = d->n_indicators || d->n_persons || d->n_addresses || d->n_vehicles ||
                    d->n_employers || !s_blank (d->account);
    if (!ck->amend) {
        if (!observed)
            return s_fail (ck, "EMPTY_SIGNAL", "",
                           "names no indicator, person, address, vehicle or employer and has no "
                           "account");
        return 0;
    }
    bool adds = observed || d->n_forms || d->sector != 0 ||
                (d->immediate_danger && !c->immediate_danger) ||
                (d->minor_involved && !c->minor_involved) || s_reporter_given (d->reporter) ||
                s_given (d->observed_on) || s_given (d->municipality);
    if (!adds)
        return s_fail (ck, "EMPTY_AMENDMENT", "", "adds nothing to the signal");
    return 0;
}

static int
s_check_header (s_check_t *ck)
{
    const Lantern__V1__SignalDetails *d = ck->d;
    if (ck->amend) {
        if (s_reporter_given (d->reporter))
            return s_fail (ck, "REPORTER_IMMUTABLE", "reporter",
                           "the reporter cannot be changed by an amendment");
        if (s_given (d->observed_on))
            return s_fail (ck, "OBSERVED_ON_IMMUTABLE", "observed_on",
                           "the observation date cannot be changed by an amendment");
        if (s_given (d->municipality))
            return s_fail (ck, "MUNICIPALITY_IMMUTABLE", "municipality",
                           "the municipality cannot be changed by an amendment");
        return 0;
    }
    if (!d->reporter || d->reporter->role == 0)
        return s_fail (ck, "MISSING_REPORTER_ROLE", "reporter.role",
                       "required: who shared the signal");
    if (!s_enum_defined (&lantern__v1__reporter_role__descriptor, (int)d->reporter->role))
        return s_fail (ck, "UNKNOWN_REPORTER_ROLE", "reporter.role", "not a reporter role");
    if (!s_given (d->observed_on))
        return s_fail (ck, "MISSING_OBSERVED_ON", "observed_on", "required: when it was observed");
    if (s_date (ck, "observed_on", d->observed_on, "2000-01-01", "OBSERVED_BEFORE_2000",
                ck->observed) != 0)
        return -1;
    if (!s_given (d->municipality))
        return s_fail (ck, "MISSING_MUNICIPALITY", "municipality",
                       "required: the CBS code of the municipality, e.g. GM0983");
    char why[INTAKE_MUNICIPALITY_MESSAGE_MAX];
    const char *code = intake_municipality_explain (d->municipality, why, sizeof why);
    if (code)
        return s_fail (ck, code, "municipality", "%s", why);
    return 0;
}

static int
s_check_forms (s_check_t *ck)
{
    const Lantern__V1__SignalDetails *d = ck->d;
    char f[64];
    if (!ck->amend && d->n_forms == 0)
        return s_fail (ck, "MISSING_FORM", "forms",
                       "at least one form of exploitation (UNKNOWN when not yet known)");
    unsigned current = s_forms_mask (ck->cur), seen = current, given = 0;
    for (size_t i = 0; i < d->n_forms; i++) {
        int v = (int)d->forms[i];
        s_elem (f, sizeof f, "forms", i, "");
        if (!s_enum_defined (&lantern__v1__exploitation_form__descriptor, v) ||
            !ln_catalogue_form_name (v))
            return s_fail (ck, "UNKNOWN_FORM", f, "not a form of exploitation (value %d)", v);
        if (seen & LN_CATALOGUE_FORM_BIT (v))
            return s_fail (ck, "DUPLICATE_FORM", f, "%s is already %s", ln_catalogue_form_name (v),
                           (given & LN_CATALOGUE_FORM_BIT (v)) ? "listed" : "in the signal");
        seen |= LN_CATALOGUE_FORM_BIT (v);
        given |= LN_CATALOGUE_FORM_BIT (v);
    }
    if (given & LN_CATALOGUE_FORM_BIT (F_UNKNOWN)) {
        size_t at = 0;
        while (d->forms[at] != F_UNKNOWN)
            at++;
        s_elem (f, sizeof f, "forms", at, "");
        if (given & S_REAL_FORMS)
            return s_fail (ck, "UNKNOWN_WITH_OTHER_FORM", f,
                           "UNKNOWN cannot be listed together with a known form");
        if (current & S_REAL_FORMS)
            return s_fail (ck, "UNKNOWN_WITH_OTHER_FORM", f, "the signal's form is already known");
    }
    ck->forms = seen;
    return 0;
}

static int
s_check_sector (s_check_t *ck)
{
    int sector = (int)ck->d->sector;
    if (sector == 0)
        return 0;
    if (!s_enum_defined (&lantern__v1__labour_sector__descriptor, sector))
        return s_fail (ck, "UNKNOWN_SECTOR", "sector", "not a labour sector (value %d)", sector);
    if (ck->amend && ck->cur->sector != 0)
        return s_fail (ck, "SECTOR_IMMUTABLE", "sector", "the signal already has a sector");
    if (!(ck->forms & LN_CATALOGUE_FORM_BIT (F_LABOUR)))
        return s_fail (ck, "SECTOR_WITHOUT_LABOUR", "sector",
                       "a sector is only given with the form LABOUR");
    return 0;
}

/* Whether an indicator fits the merged signal's forms (header comment). */
static bool
s_indicator_fits (const s_check_t *ck, const ln_indicator_t *ind)
{
    unsigned real = ck->forms & S_REAL_FORMS;
    if (!real)
        return true; /* only UNKNOWN (or nothing yet): anything fits */
    for (int form = 1; form < F_UNKNOWN; form++)
        if ((real & LN_CATALOGUE_FORM_BIT (form)) && ln_indicator_applies_to (ind, form))
            return true;
    return false;
}

static int
s_check_indicators (s_check_t *ck)
{
    const Lantern__V1__SignalDetails *d = ck->d, *c = ck->cur;
    char f[64];
    for (size_t i = 0; i < d->n_indicators; i++) {
        const char *code = s_str (d->indicators[i]);
        s_elem (f, sizeof f, "indicators", i, "");
        const ln_indicator_t *ind = ln_catalogue_find (ck->ctx->catalogue, code);
        if (!ind)
            return s_fail (ck, "UNKNOWN_INDICATOR", f, "not in the indicator catalogue (%s)",
                           ln_catalogue_version (ck->ctx->catalogue));
        for (size_t j = 0; j < i; j++)
            if (strcmp (s_str (d->indicators[j]), code) == 0)
                return s_fail (ck, "DUPLICATE_INDICATOR", f, "%s is already listed", ind->code);
        for (size_t j = 0; j < c->n_indicators; j++)
            if (strcmp (s_str (c->indicators[j]), code) == 0)
                return s_fail (ck, "DUPLICATE_INDICATOR", f, "%s is already in the signal",
                               ind->code);
        if (!s_indicator_fits (ck, ind))
            return s_fail (ck, "INDICATOR_FORM_MISMATCH", f,
                           "%s does not apply to the signal's forms", ind->code);
    }
    return 0;
}

/* Under 18 on the observation date, by a normalised date of birth. */
static bool
s_minor (const s_check_t *ck, const char *dob)
{
    char adult[S_DATEBUF];
    int year = (int)strtol (dob, NULL, 10);
    snprintf (adult, sizeof adult, "%04d%.6s", year + 18, dob + 4); /* -MM-DD */
    return strcmp (adult, ck->observed) > 0;
}

static int
s_check_person (s_check_t *ck, size_t i, const Lantern__V1__Person *p)
{
    char f[64], norm[LN_PSEUDONYM_NORM_MAX];
    if (p->role == 0)
        return s_fail (ck, "MISSING_PERSON_ROLE", s_elem (f, sizeof f, "persons", i, "role"),
                       "required: possible victim, possible perpetrator or witness");
    if (!s_enum_defined (&lantern__v1__person_role__descriptor, (int)p->role))
        return s_fail (ck, "UNKNOWN_PERSON_ROLE", s_elem (f, sizeof f, "persons", i, "role"),
                       "not a person role (value %d)", (int)p->role);
    if (s_blank (p->name) && s_blank (p->bsn) && s_blank (p->document_number) &&
        s_blank (p->phone) && s_blank (p->description))
        return s_fail (ck, "PERSON_WITHOUT_IDENTITY", s_elem (f, sizeof f, "persons", i, ""),
                       "needs at least one of name, bsn, document_number, phone, description");
    if (s_given (p->name) &&
        s_norm (ck, ln_pseudonym_norm_name, s_elem (f, sizeof f, "persons", i, "name"), p->name,
                norm, sizeof norm) != 0)
        return -1;
    char dob[S_DATEBUF] = "";
    if (s_given (p->date_of_birth) &&
        s_date (ck, s_elem (f, sizeof f, "persons", i, "date_of_birth"), p->date_of_birth,
                "1900-01-01", "DATE_BEFORE_1900", dob) != 0)
        return -1;
    if (s_given (p->nationality) && !s_country_valid (p->nationality, true))
        return s_fail (ck, "INVALID_NATIONALITY", s_elem (f, sizeof f, "persons", i, "nationality"),
                       "not an ISO 3166-1 country code in upper case (e.g. NL, POL)");
    if (s_given (p->bsn) &&
        s_norm (ck, ln_pseudonym_norm_bsn, s_elem (f, sizeof f, "persons", i, "bsn"), p->bsn, norm,
                sizeof norm) != 0)
        return -1;
    if (s_given (p->document_number) &&
        s_norm (ck, ln_pseudonym_norm_document,
                s_elem (f, sizeof f, "persons", i, "document_number"), p->document_number, norm,
                sizeof norm) != 0)
        return -1;
    if (s_given (p->phone) &&
        s_norm (ck, ln_pseudonym_norm_phone, s_elem (f, sizeof f, "persons", i, "phone"), p->phone,
                norm, sizeof norm) != 0)
        return -1;
    bool flag = ck->d->minor_involved || ck->cur->minor_involved;
    if (*dob && !flag && p->role == LANTERN__V1__PERSON_ROLE__PERSON_ROLE_POSSIBLE_VICTIM &&
        s_minor (ck, dob))
        return s_fail (ck, "MINOR_FLAG_MISSING",
                       s_elem (f, sizeof f, "persons", i, "date_of_birth"),
                       "a possible victim under 18 on the observation date: set minor_involved");
    return 0;
}

static bool
s_dutch (const char *country)
{
    return !s_given (country) || strcmp (country, "NL") == 0 || strcmp (country, "NLD") == 0;
}

static int
s_check_address (s_check_t *ck, size_t i, const Lantern__V1__Address *a)
{
    char f[64], norm[LN_PSEUDONYM_NORM_MAX];
    if (s_blank (a->street) && s_blank (a->house_number) && s_blank (a->postcode) &&
        s_blank (a->city) && s_blank (a->description))
        return s_fail (ck, "EMPTY_ADDRESS", s_elem (f, sizeof f, "addresses", i, ""),
                       "needs at least one of street, house_number, postcode, city, description");
    if (s_given (a->country) && !s_country_valid (a->country, false))
        return s_fail (ck, "INVALID_COUNTRY", s_elem (f, sizeof f, "addresses", i, "country"),
                       "not an ISO 3166-1 country code in upper case (e.g. NL, DEU)");
    if (s_given (a->street) &&
        s_norm (ck, ln_pseudonym_norm_place, s_elem (f, sizeof f, "addresses", i, "street"),
                a->street, norm, sizeof norm) != 0)
        return -1;
    if (s_given (a->city) &&
        s_norm (ck, ln_pseudonym_norm_place, s_elem (f, sizeof f, "addresses", i, "city"), a->city,
                norm, sizeof norm) != 0)
        return -1;
    if (!s_dutch (a->country))
        return 0;
    if (s_given (a->postcode) &&
        s_norm (ck, ln_pseudonym_norm_postcode, s_elem (f, sizeof f, "addresses", i, "postcode"),
                a->postcode, norm, sizeof norm) != 0)
        return -1;
    if (s_given (a->house_number) && s_norm (ck, ln_pseudonym_norm_house_number,
                                             s_elem (f, sizeof f, "addresses", i, "house_number"),
                                             a->house_number, norm, sizeof norm) != 0)
        return -1;
    return 0;
}

static int
s_check_vehicle (s_check_t *ck, size_t i, const Lantern__V1__Vehicle *v)
{
    char f[64], norm[LN_PSEUDONYM_NORM_MAX];
    if (s_blank (v->licence_plate) && s_blank (v->description))
        return s_fail (ck, "EMPTY_VEHICLE", s_elem (f, sizeof f, "vehicles", i, ""),
                       "needs a licence_plate or a description");
    if (s_given (v->licence_plate) &&
        s_norm (ck, ln_pseudonym_norm_plate, s_elem (f, sizeof f, "vehicles", i, "licence_plate"),
                v->licence_plate, norm, sizeof norm) != 0)
        return -1;
    if (s_given (v->country) && !s_country_valid (v->country, false))
        return s_fail (ck, "INVALID_COUNTRY", s_elem (f, sizeof f, "vehicles", i, "country"),
                       "not an ISO 3166-1 country code in upper case (e.g. NL, DEU)");
    return 0;
}

static int
s_check_employer (s_check_t *ck, size_t i, const Lantern__V1__Employer *e)
{
    char f[64], norm[LN_PSEUDONYM_NORM_MAX];
    if (s_blank (e->name) && s_blank (e->kvk_number) && s_blank (e->address))
        return s_fail (ck, "EMPTY_EMPLOYER", s_elem (f, sizeof f, "employers", i, ""),
                       "needs at least one of name, kvk_number, address");
    if (s_given (e->kvk_number) &&
        s_norm (ck, ln_pseudonym_norm_kvk, s_elem (f, sizeof f, "employers", i, "kvk_number"),
                e->kvk_number, norm, sizeof norm) != 0)
        return -1;
    return 0;
}

/* today = the UTC date of now + 14 h (the latest "today" on Earth). */
static void
s_today (int64_t now_us, char out[S_DATEBUF])
{
    time_t t = (time_t)(now_us / 1000000 + 14 * 3600);
    struct tm tm;
    if (now_us <= 0 || !gmtime_r (&t, &tm) || tm.tm_year + 1900 > 9999) {
        snprintf (out, S_DATEBUF, "9999-12-31"); /* no clock: no future check */
        return;
    }
    snprintf (out, S_DATEBUF, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* --- API ------------------------------------------------------------------------- */

int
intake_validate_details (const intake_validate_ctx_t *ctx,
                         const Lantern__V1__SignalDetails *details,
                         const Lantern__V1__SignalDetails *current, bool amendment, ln_error_t *err)
{
    s_check_t ck = {
        .ctx = ctx,
        .d = details,
        .cur = (amendment && current) ? current : &s_empty_details,
        .amend = amendment,
        .root = amendment ? "added" : "details",
        .err = err,
    };
    ln_error_clear (err);
    if (!ctx || !ctx->catalogue) {
        ln_error_set (err, "INTERNAL", "", "intake_validate_details: no catalogue");
        return -1;
    }
    if (!details)
        return s_fail (&ck, amendment ? "EMPTY_AMENDMENT" : "EMPTY_SIGNAL", "",
                       "the details are missing");
    s_today (ctx->now_us, ck.today);
    /* The observation date the age of a person is taken on: the signal's,
       or today when it has none that reads as a date. */
    snprintf (ck.observed, sizeof ck.observed, "%s", ck.today);
    if (amendment) {
        char norm[LN_PSEUDONYM_NORM_MAX];
        if (ln_pseudonym_norm_date (s_str (ck.cur->observed_on), norm, sizeof norm, NULL) == 0 &&
            strlen (norm) == 10)
            snprintf (ck.observed, sizeof ck.observed, "%.10s", norm);
    }

    if (s_check_counts (&ck) || s_check_tokens (&ck) || s_check_text (&ck) ||
        s_check_content (&ck) || s_check_header (&ck) || s_check_forms (&ck) ||
        s_check_sector (&ck) || s_check_indicators (&ck))
        return -1;
    for (size_t i = 0; i < details->n_persons; i++)
        if (s_check_person (&ck, i, details->persons[i] ? details->persons[i] : &s_empty_person))
            return -1;
    for (size_t i = 0; i < details->n_addresses; i++)
        if (s_check_address (&ck, i,
                             details->addresses[i] ? details->addresses[i] : &s_empty_address))
            return -1;
    for (size_t i = 0; i < details->n_vehicles; i++)
        if (s_check_vehicle (&ck, i,
                             details->vehicles[i] ? details->vehicles[i] : &s_empty_vehicle))
            return -1;
    for (size_t i = 0; i < details->n_employers; i++)
        if (s_check_employer (&ck, i,
                              details->employers[i] ? details->employers[i] : &s_empty_employer))
            return -1;
    return 0;
}

bool
intake_signal_id_valid (const char *id)
{
    if (!id || strncmp (id, "sig-", 4) != 0 || strlen (id) != 4 + 26)
        return false;
    for (const char *p = id + 4; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '2' && *p <= '7')))
            return false;
    return true;
}

int
intake_validate_withdraw (const Lantern__V1__WithdrawSignal *w, ln_error_t *err)
{
    s_check_t ck = {.root = "", .err = err};
    ln_error_clear (err);
    if (!w || !s_given (w->signal_id)) {
        ln_error_set (err, "MISSING_SIGNAL_ID", "signal_id", "signal_id: required");
        return -1;
    }
    if (!intake_signal_id_valid (w->signal_id)) {
        ln_error_set (err, "INVALID_SIGNAL_ID", "signal_id",
                      "signal_id: not a signal id (\"sig-\" and 26 of a-z, 2-7)");
        return -1;
    }
    if (s_blank (w->reason)) {
        ln_error_set (err, "MISSING_REASON", "reason", "reason: required: why it is withdrawn");
        return -1;
    }
    return s_text (&ck, "reason", w->reason, INTAKE_REASON_MAX, true);
}
