/*  intake_cases: see intake_cases.h.  Each mutator is named after its case;
    the helpers at the top build and change messages with malloc only. */
#include "intake_cases.h"
#include "ln_alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FORM(x)   LANTERN__V1__EXPLOITATION_FORM__EXPLOITATION_FORM_##x
#define SECTOR(x) LANTERN__V1__LABOUR_SECTOR__LABOUR_SECTOR_##x
#define PROLE(x)  LANTERN__V1__PERSON_ROLE__PERSON_ROLE_##x
#define RROLE(x)  LANTERN__V1__REPORTER_ROLE__REPORTER_ROLE_##x

/* --- helpers: malloc only ----------------------------------------------------- */

static void *
s_alloc (size_t size)
{
    void *p = calloc (1, size ? size : 1);
    if (!p)
        abort ();
    return p;
}

static void *
s_grow (void *array, size_t n, size_t size)
{
    void *p = realloc (array, n * size);
    if (!p)
        abort ();
    return p;
}

/* Replace a string field (freeing a malloc'ed old value). */
static void
s_set (char **field, const char *value)
{
    if (*field && *field != protobuf_c_empty_string)
        free (*field);
    *field = ln_xstrdup (value);
}

/* A string of n copies of c. */
static char *
s_repeat (char c, size_t n)
{
    char *p = s_alloc (n + 1);
    memset (p, c, n);
    return p;
}

static void
s_set_repeat (char **field, char c, size_t n)
{
    if (*field && *field != protobuf_c_empty_string)
        free (*field);
    *field = s_repeat (c, n);
}

static Lantern__V1__Person *
s_person (int role, const char *name, const char *dob, const char *nationality, const char *bsn,
          const char *document, const char *phone, const char *description)
{
    Lantern__V1__Person *p = s_alloc (sizeof *p);
    lantern__v1__person__init (p);
    p->role = role;
    s_set (&p->name, name);
    s_set (&p->date_of_birth, dob);
    s_set (&p->nationality, nationality);
    s_set (&p->bsn, bsn);
    s_set (&p->document_number, document);
    s_set (&p->phone, phone);
    s_set (&p->description, description);
    return p;
}

static Lantern__V1__Address *
s_address (const char *street, const char *number, const char *postcode, const char *city,
           const char *country, const char *description)
{
    Lantern__V1__Address *a = s_alloc (sizeof *a);
    lantern__v1__address__init (a);
    s_set (&a->street, street);
    s_set (&a->house_number, number);
    s_set (&a->postcode, postcode);
    s_set (&a->city, city);
    s_set (&a->country, country);
    s_set (&a->description, description);
    return a;
}

static Lantern__V1__Vehicle *
s_vehicle (const char *plate, const char *country, const char *description)
{
    Lantern__V1__Vehicle *v = s_alloc (sizeof *v);
    lantern__v1__vehicle__init (v);
    s_set (&v->licence_plate, plate);
    s_set (&v->country, country);
    s_set (&v->description, description);
    return v;
}

static Lantern__V1__Employer *
s_employer (const char *name, const char *kvk, const char *address)
{
    Lantern__V1__Employer *e = s_alloc (sizeof *e);
    lantern__v1__employer__init (e);
    s_set (&e->name, name);
    s_set (&e->kvk_number, kvk);
    s_set (&e->address, address);
    return e;
}

static void
s_add_person (Lantern__V1__SignalDetails *d, Lantern__V1__Person *p)
{
    d->persons = s_grow (d->persons, d->n_persons + 1, sizeof *d->persons);
    d->persons[d->n_persons++] = p;
}

static void
s_add_address (Lantern__V1__SignalDetails *d, Lantern__V1__Address *a)
{
    d->addresses = s_grow (d->addresses, d->n_addresses + 1, sizeof *d->addresses);
    d->addresses[d->n_addresses++] = a;
}

static void
s_add_vehicle (Lantern__V1__SignalDetails *d, Lantern__V1__Vehicle *v)
{
    d->vehicles = s_grow (d->vehicles, d->n_vehicles + 1, sizeof *d->vehicles);
    d->vehicles[d->n_vehicles++] = v;
}

static void
s_add_employer (Lantern__V1__SignalDetails *d, Lantern__V1__Employer *e)
{
    d->employers = s_grow (d->employers, d->n_employers + 1, sizeof *d->employers);
    d->employers[d->n_employers++] = e;
}

static void
s_add_form (Lantern__V1__SignalDetails *d, int form)
{
    d->forms = s_grow (d->forms, d->n_forms + 1, sizeof *d->forms);
    d->forms[d->n_forms++] = (Lantern__V1__ExploitationForm)form;
}

static void
s_add_indicator (Lantern__V1__SignalDetails *d, const char *code)
{
    d->indicators = s_grow (d->indicators, d->n_indicators + 1, sizeof *d->indicators);
    d->indicators[d->n_indicators++] = ln_xstrdup (code);
}

/* n made-up codes X0, X1, ...: the count is checked before the codes. */
static void
s_add_indicators (Lantern__V1__SignalDetails *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char code[32];
        snprintf (code, sizeof code, "X%zu", i);
        s_add_indicator (d, code);
    }
}

static void
s_add_token (size_t *n, Lantern__V1__Token ***tokens)
{
    Lantern__V1__Token *t = s_alloc (sizeof *t);
    lantern__v1__token__init (t);
    t->kind = LANTERN__V1__IDENTIFIER_KIND__IDENTIFIER_KIND_BSN;
    t->token = s_repeat ('a', 64);
    *tokens = s_grow (*tokens, *n + 1, sizeof **tokens);
    (*tokens)[(*n)++] = t;
}

static void
s_clear_forms (Lantern__V1__SignalDetails *d)
{
    free (d->forms);
    d->forms = NULL;
    d->n_forms = 0;
}

static void
s_clear_indicators (Lantern__V1__SignalDetails *d)
{
    for (size_t i = 0; i < d->n_indicators; i++)
        free (d->indicators[i]);
    free (d->indicators);
    d->indicators = NULL;
    d->n_indicators = 0;
}

/* Free the elements of a repeated message field and empty it. */
#define S_CLEAR(d, list)                                                                           \
    do {                                                                                           \
        for (size_t i_ = 0; i_ < (d)->n_##list; i_++)                                              \
            protobuf_c_message_free_unpacked (&(d)->list[i_]->base, NULL);                         \
        free ((d)->list);                                                                          \
        (d)->list = NULL;                                                                          \
        (d)->n_##list = 0;                                                                         \
    } while (0)

/* --- baseline ------------------------------------------------------------------- */

Lantern__V1__SignalDetails *
intake_cases_empty (void)
{
    Lantern__V1__SignalDetails *d = s_alloc (sizeof *d);
    lantern__v1__signal_details__init (d);
    return d;
}

Lantern__V1__SignalDetails *
intake_cases_baseline (void)
{
    Lantern__V1__SignalDetails *d = intake_cases_empty ();
    d->reporter = s_alloc (sizeof *d->reporter);
    lantern__v1__reporter__init (d->reporter);
    d->reporter->role = RROLE (MUNICIPAL_STAFF);
    s_set (&d->reporter->organisation, "Gemeente Venlo, team Werk en Inkomen");
    s_set (&d->reporter->contact, "Klantmanager, via het KCC 14 077");
    s_set (&d->observed_on, "2026-05-28");
    s_set (&d->municipality, "GM0983");
    s_add_form (d, FORM (LABOUR));
    s_add_indicator (d, "ILO_WITHHOLDING_OF_WAGES");
    s_add_indicator (d, "LIVES_AT_WORKPLACE");
    s_add_person (d, s_person (PROLE (POSSIBLE_VICTIM), "Anna Kowalska", "12-04-1998", "POL", "",
                               "", "06 12345678",
                               "Spreekt Pools en een beetje Engels.\nLang donker haar, ± 1,65 m."));
    s_add_person (d, s_person (PROLE (POSSIBLE_PERPETRATOR), "Jan de Vries", "", "NL", "111222333",
                               "NXC12AB34", "+48 601 234 567", ""));
    s_add_address (d, s_address ("Kasteelstraat", "12a", "5911 AB", "Venlo", "",
                                 "Woont op het bedrijfsterrein, in een loods achter de kas."));
    s_add_vehicle (d, s_vehicle ("12-ABC-3", "", "Witte bestelbus, Ford Transit"));
    s_add_employer (d, s_employer ("Uitzendbureau Voorbeeld B.V.", "12345678",
                                   "Industrieweg 1, 5928 NA Venlo"));
    s_set (&d->account, "Mevrouw kwam aan de balie voor een uitkering.\n"
                        "Zij vertelde dat zij\t12 uur per dag in een kas werkt en dat haar loon\n"
                        "wordt ingehouden \xe2\x80\x9cvoor de huur\xe2\x80\x9d.");
    return d;
}

/* --- refused submissions ------------------------------------------------------------ */

static void
m_empty_signal (Lantern__V1__SignalDetails *d)
{
    s_clear_indicators (d);
    S_CLEAR (d, persons);
    S_CLEAR (d, addresses);
    S_CLEAR (d, vehicles);
    S_CLEAR (d, employers);
    s_set (&d->account, "");
}

static void
m_blank_account_only (Lantern__V1__SignalDetails *d)
{
    m_empty_signal (d);
    s_set (&d->account, "  \n\t \n");
    d->immediate_danger = 1;
}

static void
m_no_reporter (Lantern__V1__SignalDetails *d)
{
    protobuf_c_message_free_unpacked (&d->reporter->base, NULL);
    d->reporter = NULL;
}

static void
m_reporter_role_unspecified (Lantern__V1__SignalDetails *d)
{
    d->reporter->role = RROLE (UNSPECIFIED);
}

static void
m_reporter_role_undefined (Lantern__V1__SignalDetails *d)
{
    d->reporter->role = (Lantern__V1__ReporterRole)99;
}

static void
m_no_observed_on (Lantern__V1__SignalDetails *d)
{
    s_set (&d->observed_on, "");
}

static void
m_observed_on_words (Lantern__V1__SignalDetails *d)
{
    s_set (&d->observed_on, "gisteren");
}

static void
m_observed_on_feb_30 (Lantern__V1__SignalDetails *d)
{
    s_set (&d->observed_on, "2026-02-30");
}

static void
m_observed_on_future (Lantern__V1__SignalDetails *d)
{
    s_set (&d->observed_on, "3-6-2026");
}

static void
m_observed_on_1999 (Lantern__V1__SignalDetails *d)
{
    s_set (&d->observed_on, "31-12-1999");
}

static void
m_no_municipality (Lantern__V1__SignalDetails *d)
{
    s_set (&d->municipality, "");
}

static void
m_municipality_name (Lantern__V1__SignalDetails *d)
{
    s_set (&d->municipality, "Venlo");
}

static void
m_municipality_lower (Lantern__V1__SignalDetails *d)
{
    s_set (&d->municipality, "gm0983");
}

static void
m_municipality_5_digits (Lantern__V1__SignalDetails *d)
{
    s_set (&d->municipality, "GM09830");
}

static void
m_municipality_unknown (Lantern__V1__SignalDetails *d)
{
    s_set (&d->municipality, "GM9999");
}

static void
m_municipality_merged (Lantern__V1__SignalDetails *d)
{
    s_set (&d->municipality, "GM0756"); /* Boxmeer, in Land van Cuijk since 2022 */
}

static void
m_municipality_divided (Lantern__V1__SignalDetails *d)
{
    s_set (&d->municipality, "GM0788"); /* Haaren, divided in 2021 */
}

static void
m_no_forms (Lantern__V1__SignalDetails *d)
{
    s_clear_forms (d);
}

static void
m_form_unspecified (Lantern__V1__SignalDetails *d)
{
    s_add_form (d, FORM (UNSPECIFIED));
}

static void
m_form_undefined (Lantern__V1__SignalDetails *d)
{
    s_add_form (d, 42);
}

static void
m_form_negative (Lantern__V1__SignalDetails *d)
{
    s_add_form (d, -1);
}

static void
m_form_repeated (Lantern__V1__SignalDetails *d)
{
    s_add_form (d, FORM (SEXUAL));
    s_add_form (d, FORM (LABOUR));
}

static void
m_unknown_with_labour (Lantern__V1__SignalDetails *d)
{
    s_add_form (d, FORM (UNKNOWN));
}

static void
m_sector_undefined (Lantern__V1__SignalDetails *d)
{
    d->sector = (Lantern__V1__LabourSector)99;
}

static void
m_sector_without_labour (Lantern__V1__SignalDetails *d)
{
    s_clear_forms (d);
    s_add_form (d, FORM (SEXUAL));
    d->sector = SECTOR (HOSPITALITY);
}

static void
m_indicator_unknown (Lantern__V1__SignalDetails *d)
{
    s_add_indicator (d, "NOT_AN_INDICATOR");
}

static void
m_indicator_lower_case (Lantern__V1__SignalDetails *d)
{
    s_add_indicator (d, "minor_involved");
}

static void
m_indicator_empty (Lantern__V1__SignalDetails *d)
{
    s_add_indicator (d, "");
}

static void
m_indicator_repeated (Lantern__V1__SignalDetails *d)
{
    s_add_indicator (d, "LIVES_AT_WORKPLACE");
}

static void
m_indicator_form_mismatch (Lantern__V1__SignalDetails *d)
{
    s_add_indicator (d, "PRESSURED_TO_GIVE_ORGAN");
}

static void
m_too_many_indicators (Lantern__V1__SignalDetails *d)
{
    s_add_indicators (d, 63); /* 2 + 63 = 65 */
}

static void
m_too_many_persons (Lantern__V1__SignalDetails *d)
{
    for (int i = 0; i < 19; i++) /* 2 + 19 = 21 */
        s_add_person (d, s_person (PROLE (WITNESS), "Piet", "", "", "", "", "", ""));
}

static void
m_too_many_addresses (Lantern__V1__SignalDetails *d)
{
    for (int i = 0; i < 20; i++)
        s_add_address (d, s_address ("", "", "", "Venlo", "", ""));
}

static void
m_too_many_vehicles (Lantern__V1__SignalDetails *d)
{
    for (int i = 0; i < 20; i++)
        s_add_vehicle (d, s_vehicle ("", "", "rode auto"));
}

static void
m_too_many_employers (Lantern__V1__SignalDetails *d)
{
    for (int i = 0; i < 20; i++)
        s_add_employer (d, s_employer ("Bedrijf", "", ""));
}

static void
m_person_token (Lantern__V1__SignalDetails *d)
{
    s_add_token (&d->persons[1]->n_tokens, &d->persons[1]->tokens);
}

static void
m_address_token (Lantern__V1__SignalDetails *d)
{
    s_add_token (&d->addresses[0]->n_tokens, &d->addresses[0]->tokens);
}

static void
m_vehicle_token (Lantern__V1__SignalDetails *d)
{
    s_add_token (&d->vehicles[0]->n_tokens, &d->vehicles[0]->tokens);
}

static void
m_employer_token (Lantern__V1__SignalDetails *d)
{
    s_add_token (&d->employers[0]->n_tokens, &d->employers[0]->tokens);
}

static void
m_account_too_long (Lantern__V1__SignalDetails *d)
{
    s_set_repeat (&d->account, 'a', 20001);
}

static void
m_name_too_long (Lantern__V1__SignalDetails *d)
{
    s_set_repeat (&d->persons[0]->name, 'a', 201);
}

static void
m_person_description_too_long (Lantern__V1__SignalDetails *d)
{
    s_set_repeat (&d->persons[0]->description, 'a', 1001);
}

static void
m_address_description_too_long (Lantern__V1__SignalDetails *d)
{
    s_set_repeat (&d->addresses[0]->description, 'a', 501);
}

static void
m_vehicle_description_too_long (Lantern__V1__SignalDetails *d)
{
    s_set_repeat (&d->vehicles[0]->description, 'a', 201);
}

static void
m_employer_address_too_long (Lantern__V1__SignalDetails *d)
{
    s_set_repeat (&d->employers[0]->address, 'a', 301);
}

static void
m_reporter_contact_too_long (Lantern__V1__SignalDetails *d)
{
    s_set_repeat (&d->reporter->contact, 'a', 201);
}

static void
m_bsn_too_long (Lantern__V1__SignalDetails *d)
{
    s_set_repeat (&d->persons[1]->bsn, '1', 65);
}

static void
m_name_bad_utf8 (Lantern__V1__SignalDetails *d)
{
    s_set (&d->persons[0]->name, "Anna Kowalsk\xc3\x28");
}

static void
m_account_overlong_utf8 (Lantern__V1__SignalDetails *d)
{
    s_set (&d->account, "zie \xc0\xaf bijlage");
}

static void
m_employer_name_surrogate (Lantern__V1__SignalDetails *d)
{
    s_set (&d->employers[0]->name, "Bedrijf \xed\xa0\x80");
}

static void
m_name_escape (Lantern__V1__SignalDetails *d)
{
    s_set (&d->persons[0]->name, "Anna \x1b[31mKowalska");
}

static void
m_name_newline (Lantern__V1__SignalDetails *d)
{
    s_set (&d->persons[0]->name, "Anna\nKowalska");
}

static void
m_account_carriage_return (Lantern__V1__SignalDetails *d)
{
    s_set (&d->account, "regel een\r\nregel twee");
}

static void
m_description_bidi_override (Lantern__V1__SignalDetails *d)
{
    s_set (&d->persons[0]->description, "spreekt \xe2\x80\xae"
                                        "slooP");
}

static void
m_organisation_c1_control (Lantern__V1__SignalDetails *d)
{
    s_set (&d->reporter->organisation, "Gemeente \xc2\x9b"
                                       "Venlo");
}

static void
m_person_role_missing (Lantern__V1__SignalDetails *d)
{
    d->persons[1]->role = PROLE (UNSPECIFIED);
}

static void
m_person_role_undefined (Lantern__V1__SignalDetails *d)
{
    d->persons[1]->role = (Lantern__V1__PersonRole)7;
}

static void
m_person_without_identity (Lantern__V1__SignalDetails *d)
{
    s_add_person (d, s_person (PROLE (WITNESS), "", "01-01-1980", "NL", "", "", "", ""));
}

static void
m_person_blank_identity (Lantern__V1__SignalDetails *d)
{
    s_add_person (d, s_person (PROLE (WITNESS), "   ", "", "", "", "", "", "\n"));
}

static void
m_name_with_digits (Lantern__V1__SignalDetails *d)
{
    s_set (&d->persons[1]->name, "Jan de Vries 2");
}

static void
m_name_nickname_in_quotes (Lantern__V1__SignalDetails *d)
{
    s_set (&d->persons[1]->name, "Jan \"Johnny\" de Vries"); /* parentheses would do */
}

static void
m_name_parenthesis_open (Lantern__V1__SignalDetails *d)
{
    s_set (&d->persons[0]->name, "Anna (Ania Kowalska");
}

static void
m_name_only_remark (Lantern__V1__SignalDetails *d)
{
    s_set (&d->persons[0]->name, "(onbekend)");
}

static void
m_birth_date_invalid (Lantern__V1__SignalDetails *d)
{
    s_set (&d->persons[0]->date_of_birth, "31-02-1998");
}

static void
m_birth_date_future (Lantern__V1__SignalDetails *d)
{
    s_set (&d->persons[0]->date_of_birth, "2027-01-01");
}

static void
m_birth_date_1899 (Lantern__V1__SignalDetails *d)
{
    s_set (&d->persons[0]->date_of_birth, "31-12-1899");
}

static void
m_nationality_lower_case (Lantern__V1__SignalDetails *d)
{
    s_set (&d->persons[0]->nationality, "pol");
}

static void
m_nationality_unknown (Lantern__V1__SignalDetails *d)
{
    s_set (&d->persons[0]->nationality, "XYZ");
}

static void
m_nationality_name (Lantern__V1__SignalDetails *d)
{
    s_set (&d->persons[0]->nationality, "Polen");
}

static void
m_bsn_format (Lantern__V1__SignalDetails *d)
{
    s_set (&d->persons[1]->bsn, "12345");
}

static void
m_bsn_checksum (Lantern__V1__SignalDetails *d)
{
    s_set (&d->persons[1]->bsn, "111222334");
}

static void
m_document_short (Lantern__V1__SignalDetails *d)
{
    s_set (&d->persons[1]->document_number, "AB12");
}

static void
m_phone_letters (Lantern__V1__SignalDetails *d)
{
    s_set (&d->persons[0]->phone, "06-BELMIJ");
}

static void
m_minor_without_flag (Lantern__V1__SignalDetails *d)
{
    s_set (&d->persons[0]->date_of_birth, "2008-05-29"); /* 18 the day after observed_on */
}

static void
m_empty_address (Lantern__V1__SignalDetails *d)
{
    s_add_address (d, s_address ("", " ", "", "", "NL", ""));
}

static void
m_address_country_name (Lantern__V1__SignalDetails *d)
{
    s_set (&d->addresses[0]->country, "Nederland");
}

static void
m_street_symbol (Lantern__V1__SignalDetails *d)
{
    s_set (&d->addresses[0]->street, "Kasteelstraat #12");
}

static void
m_city_symbol (Lantern__V1__SignalDetails *d)
{
    s_set (&d->addresses[0]->city, "Venlo!");
}

static void
m_postcode_invalid (Lantern__V1__SignalDetails *d)
{
    s_set (&d->addresses[0]->postcode, "59111 AB");
}

static void
m_house_number_invalid (Lantern__V1__SignalDetails *d)
{
    s_set (&d->addresses[0]->house_number, "twaalf");
}

static void
m_empty_vehicle (Lantern__V1__SignalDetails *d)
{
    s_add_vehicle (d, s_vehicle ("", "DE", ""));
}

static void
m_plate_too_short (Lantern__V1__SignalDetails *d)
{
    s_set (&d->vehicles[0]->licence_plate, "AB");
}

static void
m_vehicle_country_invalid (Lantern__V1__SignalDetails *d)
{
    s_set (&d->vehicles[0]->country, "D"); /* the oval sticker, not ISO 3166 */
}

static void
m_empty_employer (Lantern__V1__SignalDetails *d)
{
    s_add_employer (d, s_employer ("", "", "  "));
}

static void
m_kvk_seven_digits (Lantern__V1__SignalDetails *d)
{
    s_set (&d->employers[0]->kvk_number, "1234567");
}

/* clang-format off */
#define CASE(n, c, f)  { .name = #n, .mutate = m_##n, .code = c, .field = f }
#define ACASE(n, c, f) { .name = #n, .mutate = a_##n, .code = c, .field = f }
/* clang-format on */

static const intake_case_t s_cases[] = {
    CASE (empty_signal, "EMPTY_SIGNAL", "details"),
    CASE (blank_account_only, "EMPTY_SIGNAL", "details"),
    CASE (no_reporter, "MISSING_REPORTER_ROLE", "details.reporter.role"),
    CASE (reporter_role_unspecified, "MISSING_REPORTER_ROLE", "details.reporter.role"),
    CASE (reporter_role_undefined, "UNKNOWN_REPORTER_ROLE", "details.reporter.role"),
    CASE (no_observed_on, "MISSING_OBSERVED_ON", "details.observed_on"),
    CASE (observed_on_words, "INVALID_DATE", "details.observed_on"),
    CASE (observed_on_feb_30, "INVALID_DATE", "details.observed_on"),
    CASE (observed_on_future, "DATE_IN_FUTURE", "details.observed_on"),
    CASE (observed_on_1999, "OBSERVED_BEFORE_2000", "details.observed_on"),
    CASE (no_municipality, "MISSING_MUNICIPALITY", "details.municipality"),
    CASE (municipality_name, "INVALID_MUNICIPALITY", "details.municipality"),
    CASE (municipality_lower, "INVALID_MUNICIPALITY", "details.municipality"),
    CASE (municipality_5_digits, "INVALID_MUNICIPALITY", "details.municipality"),
    CASE (municipality_unknown, "UNKNOWN_MUNICIPALITY", "details.municipality"),
    CASE (municipality_merged, "FORMER_MUNICIPALITY", "details.municipality"),
    CASE (municipality_divided, "FORMER_MUNICIPALITY", "details.municipality"),
    CASE (no_forms, "MISSING_FORM", "details.forms"),
    CASE (form_unspecified, "UNKNOWN_FORM", "details.forms[1]"),
    CASE (form_undefined, "UNKNOWN_FORM", "details.forms[1]"),
    CASE (form_negative, "UNKNOWN_FORM", "details.forms[1]"),
    CASE (form_repeated, "DUPLICATE_FORM", "details.forms[2]"),
    CASE (unknown_with_labour, "UNKNOWN_WITH_OTHER_FORM", "details.forms[1]"),
    CASE (sector_undefined, "UNKNOWN_SECTOR", "details.sector"),
    CASE (sector_without_labour, "SECTOR_WITHOUT_LABOUR", "details.sector"),
    CASE (indicator_unknown, "UNKNOWN_INDICATOR", "details.indicators[2]"),
    CASE (indicator_lower_case, "UNKNOWN_INDICATOR", "details.indicators[2]"),
    CASE (indicator_empty, "UNKNOWN_INDICATOR", "details.indicators[2]"),
    CASE (indicator_repeated, "DUPLICATE_INDICATOR", "details.indicators[2]"),
    CASE (indicator_form_mismatch, "INDICATOR_FORM_MISMATCH", "details.indicators[2]"),
    CASE (too_many_indicators, "TOO_MANY_INDICATORS", "details.indicators"),
    CASE (too_many_persons, "TOO_MANY_PERSONS", "details.persons"),
    CASE (too_many_addresses, "TOO_MANY_ADDRESSES", "details.addresses"),
    CASE (too_many_vehicles, "TOO_MANY_VEHICLES", "details.vehicles"),
    CASE (too_many_employers, "TOO_MANY_EMPLOYERS", "details.employers"),
    CASE (person_token, "TOKENS_NOT_ALLOWED", "details.persons[1].tokens"),
    CASE (address_token, "TOKENS_NOT_ALLOWED", "details.addresses[0].tokens"),
    CASE (vehicle_token, "TOKENS_NOT_ALLOWED", "details.vehicles[0].tokens"),
    CASE (employer_token, "TOKENS_NOT_ALLOWED", "details.employers[0].tokens"),
    CASE (account_too_long, "TEXT_TOO_LONG", "details.account"),
    CASE (name_too_long, "TEXT_TOO_LONG", "details.persons[0].name"),
    CASE (person_description_too_long, "TEXT_TOO_LONG", "details.persons[0].description"),
    CASE (address_description_too_long, "TEXT_TOO_LONG", "details.addresses[0].description"),
    CASE (vehicle_description_too_long, "TEXT_TOO_LONG", "details.vehicles[0].description"),
    CASE (employer_address_too_long, "TEXT_TOO_LONG", "details.employers[0].address"),
    CASE (reporter_contact_too_long, "TEXT_TOO_LONG", "details.reporter.contact"),
    CASE (bsn_too_long, "TEXT_TOO_LONG", "details.persons[1].bsn"),
    CASE (name_bad_utf8, "INVALID_UTF8", "details.persons[0].name"),
    CASE (account_overlong_utf8, "INVALID_UTF8", "details.account"),
    CASE (employer_name_surrogate, "INVALID_UTF8", "details.employers[0].name"),
    CASE (name_escape, "CONTROL_CHARACTER", "details.persons[0].name"),
    CASE (name_newline, "CONTROL_CHARACTER", "details.persons[0].name"),
    CASE (account_carriage_return, "CONTROL_CHARACTER", "details.account"),
    CASE (description_bidi_override, "CONTROL_CHARACTER", "details.persons[0].description"),
    CASE (organisation_c1_control, "CONTROL_CHARACTER", "details.reporter.organisation"),
    CASE (person_role_missing, "MISSING_PERSON_ROLE", "details.persons[1].role"),
    CASE (person_role_undefined, "UNKNOWN_PERSON_ROLE", "details.persons[1].role"),
    CASE (person_without_identity, "PERSON_WITHOUT_IDENTITY", "details.persons[2]"),
    CASE (person_blank_identity, "PERSON_WITHOUT_IDENTITY", "details.persons[2]"),
    CASE (name_with_digits, "INVALID_NAME", "details.persons[1].name"),
    CASE (name_nickname_in_quotes, "INVALID_NAME", "details.persons[1].name"),
    CASE (name_parenthesis_open, "INVALID_NAME", "details.persons[0].name"),
    CASE (name_only_remark, "INVALID_NAME", "details.persons[0].name"),
    CASE (birth_date_invalid, "INVALID_DATE", "details.persons[0].date_of_birth"),
    CASE (birth_date_future, "DATE_IN_FUTURE", "details.persons[0].date_of_birth"),
    CASE (birth_date_1899, "DATE_BEFORE_1900", "details.persons[0].date_of_birth"),
    CASE (nationality_lower_case, "INVALID_NATIONALITY", "details.persons[0].nationality"),
    CASE (nationality_unknown, "INVALID_NATIONALITY", "details.persons[0].nationality"),
    CASE (nationality_name, "INVALID_NATIONALITY", "details.persons[0].nationality"),
    CASE (bsn_format, "INVALID_BSN", "details.persons[1].bsn"),
    CASE (bsn_checksum, "BSN_CHECKSUM", "details.persons[1].bsn"),
    CASE (document_short, "INVALID_DOCUMENT", "details.persons[1].document_number"),
    CASE (phone_letters, "INVALID_PHONE", "details.persons[0].phone"),
    CASE (minor_without_flag, "MINOR_FLAG_MISSING", "details.persons[0].date_of_birth"),
    CASE (empty_address, "EMPTY_ADDRESS", "details.addresses[1]"),
    CASE (address_country_name, "INVALID_COUNTRY", "details.addresses[0].country"),
    CASE (street_symbol, "INVALID_ADDRESS", "details.addresses[0].street"),
    CASE (city_symbol, "INVALID_ADDRESS", "details.addresses[0].city"),
    CASE (postcode_invalid, "INVALID_POSTCODE", "details.addresses[0].postcode"),
    CASE (house_number_invalid, "INVALID_HOUSE_NUMBER", "details.addresses[0].house_number"),
    CASE (empty_vehicle, "EMPTY_VEHICLE", "details.vehicles[1]"),
    CASE (plate_too_short, "INVALID_PLATE", "details.vehicles[0].licence_plate"),
    CASE (vehicle_country_invalid, "INVALID_COUNTRY", "details.vehicles[0].country"),
    CASE (empty_employer, "EMPTY_EMPLOYER", "details.employers[1]"),
    CASE (kvk_seven_digits, "INVALID_KVK", "details.employers[0].kvk_number"),
};

/* --- accepted submissions -------------------------------------------------------- */

static void
m_baseline (Lantern__V1__SignalDetails *d)
{
    (void)d;
}

static void
m_unknown_form_alone (Lantern__V1__SignalDetails *d)
{
    s_clear_forms (d);
    s_add_form (d, FORM (UNKNOWN));
    s_add_indicator (d, "PRESSURED_TO_GIVE_ORGAN"); /* anything fits UNKNOWN */
}

static void
m_labour_with_sector (Lantern__V1__SignalDetails *d)
{
    d->sector = SECTOR (HORTICULTURE);
}

static void
m_every_real_form (Lantern__V1__SignalDetails *d)
{
    s_add_form (d, FORM (ORGAN_REMOVAL));
    s_add_form (d, FORM (SEXUAL));
    s_add_form (d, FORM (CRIMINAL));
    s_add_indicator (d, "PRESSURED_TO_GIVE_ORGAN");
    s_add_indicator (d, "FORCED_TO_COMMIT_CRIMES");
}

static void
m_bsn_eight_digits (Lantern__V1__SignalDetails *d)
{
    s_set (&d->persons[1]->bsn, "12345672"); /* 012345672 */
}

static void
m_minor_with_flag (Lantern__V1__SignalDetails *d)
{
    s_set (&d->persons[0]->date_of_birth, "2012-03-04");
    d->minor_involved = 1;
    s_add_indicator (d, "MINOR_INVOLVED");
}

static void
m_turned_18_on_observed_on (Lantern__V1__SignalDetails *d)
{
    s_set (&d->persons[0]->date_of_birth, "2008-05-28");
}

static void
m_minor_perpetrator_no_flag (Lantern__V1__SignalDetails *d)
{
    s_set (&d->persons[1]->date_of_birth, "2010-01-01");
}

static void
m_observed_today_day_first (Lantern__V1__SignalDetails *d)
{
    s_set (&d->observed_on, "1/6/2026");
}

static void
m_observed_tomorrow_somewhere (Lantern__V1__SignalDetails *d)
{
    s_set (&d->observed_on, "2026-06-02"); /* already 2 June east of UTC+12 */
}

static void
m_description_only_person (Lantern__V1__SignalDetails *d)
{
    s_add_person (d, s_person (PROLE (WITNESS), "", "", "", "", "", "",
                               "Buurvrouw, ziet elke ochtend een busje vertrekken."));
}

static void
m_stateless_victim (Lantern__V1__SignalDetails *d)
{
    s_set (&d->persons[0]->nationality, "XXA");
}

static void
m_foreign_address (Lantern__V1__SignalDetails *d)
{
    s_add_address (d, s_address ("Hauptstraße", "12 bis", "D-41061", "Mönchengladbach", "DEU", ""));
}

static void
m_place_with_parentheses (Lantern__V1__SignalDetails *d)
{
    s_set (&d->addresses[0]->street, "Maas/Waalweg");
    s_set (&d->addresses[0]->city, "Blerick (Venlo)");
}

static void
m_vehicle_description_only (Lantern__V1__SignalDetails *d)
{
    s_add_vehicle (d, s_vehicle ("", "PL", "grijze personenauto met Pools kenteken"));
}

static void
m_account_only (Lantern__V1__SignalDetails *d)
{
    s_clear_indicators (d);
    S_CLEAR (d, persons);
    S_CLEAR (d, addresses);
    S_CLEAR (d, vehicles);
    S_CLEAR (d, employers);
}

static void
m_twenty_persons (Lantern__V1__SignalDetails *d)
{
    for (int i = 0; i < 18; i++)
        s_add_person (d, s_person (PROLE (WITNESS), "Piet", "", "", "", "", "", ""));
}

static void
m_municipality_newest (Lantern__V1__SignalDetails *d)
{
    s_set (&d->municipality, "GM1992"); /* Voorne aan Zee, since 2023 */
}

static void
m_municipality_first (Lantern__V1__SignalDetails *d)
{
    s_set (&d->municipality, "GM0014"); /* Groningen, the lowest current code */
}

/* Names as people write them: a remark in parentheses, both apostrophes,
   initials with dots, diacritics; employers are free text. */
static void
m_names_as_written (Lantern__V1__SignalDetails *d)
{
    s_set (&d->persons[0]->name, "Anna (Ania) Kowalska-Wąsowska");
    s_set (&d->persons[1]->name, "J.W. van \u2019t Hof");
    s_add_person (d, s_person (PROLE (WITNESS), "Seán O'Connor", "", "", "", "", "", ""));
    s_add_person (d, s_person (PROLE (WITNESS), "Đặng Thị Ngọc (Ngoc)", "", "", "", "", "", ""));
    s_add_person (d, s_person (PROLE (WITNESS), "Kowalski, A.", "", "", "", "", "", ""));
    s_set (&d->employers[0]->name, "Uitzendbureau De Wit & Zn. (Venlo) B.V.");
    s_add_employer (d, s_employer ("Boer\u2019s Asperges v.o.f. / \"De Kempen\" #2", "", ""));
}

static const intake_case_t s_valid[] = {
    CASE (baseline, NULL, NULL),
    CASE (unknown_form_alone, NULL, NULL),
    CASE (labour_with_sector, NULL, NULL),
    CASE (every_real_form, NULL, NULL),
    CASE (bsn_eight_digits, NULL, NULL),
    CASE (minor_with_flag, NULL, NULL),
    CASE (turned_18_on_observed_on, NULL, NULL),
    CASE (minor_perpetrator_no_flag, NULL, NULL),
    CASE (observed_today_day_first, NULL, NULL),
    CASE (observed_tomorrow_somewhere, NULL, NULL),
    CASE (description_only_person, NULL, NULL),
    CASE (stateless_victim, NULL, NULL),
    CASE (foreign_address, NULL, NULL),
    CASE (place_with_parentheses, NULL, NULL),
    CASE (vehicle_description_only, NULL, NULL),
    CASE (account_only, NULL, NULL),
    CASE (twenty_persons, NULL, NULL),
    CASE (municipality_newest, NULL, NULL),
    CASE (municipality_first, NULL, NULL),
    CASE (names_as_written, NULL, NULL),
};

/* --- amendments of the baseline ------------------------------------------------------ */

static void
a_nothing (Lantern__V1__SignalDetails *d)
{
    (void)d;
}

static void
a_blank_account (Lantern__V1__SignalDetails *d)
{
    s_set (&d->account, " \n");
}

static void
a_reporter (Lantern__V1__SignalDetails *d)
{
    d->reporter = s_alloc (sizeof *d->reporter);
    lantern__v1__reporter__init (d->reporter);
    d->reporter->role = RROLE (POLICE);
}

static void
a_observed_on (Lantern__V1__SignalDetails *d)
{
    s_set (&d->observed_on, "2026-05-27");
}

static void
a_municipality (Lantern__V1__SignalDetails *d)
{
    s_set (&d->municipality, "GM0983");
}

static void
a_form_already_there (Lantern__V1__SignalDetails *d)
{
    s_add_form (d, FORM (LABOUR));
}

static void
a_unknown_to_known (Lantern__V1__SignalDetails *d)
{
    s_add_form (d, FORM (UNKNOWN));
}

static void
a_indicator_already_there (Lantern__V1__SignalDetails *d)
{
    s_add_indicator (d, "ILO_DEBT_BONDAGE");
    s_add_indicator (d, "LIVES_AT_WORKPLACE");
}

static void
a_indicator_form_mismatch (Lantern__V1__SignalDetails *d)
{
    s_add_indicator (d, "OWNERSHIP_TATTOO");
}

static void
a_persons_over_limit (Lantern__V1__SignalDetails *d)
{
    for (int i = 0; i < 19; i++) /* 2 + 19 */
        s_add_person (d, s_person (PROLE (WITNESS), "Piet", "", "", "", "", "", ""));
}

static void
a_indicators_over_limit (Lantern__V1__SignalDetails *d)
{
    s_add_indicators (d, 63); /* 2 + 63 */
}

static void
a_person_bad_bsn (Lantern__V1__SignalDetails *d)
{
    s_add_person (d, s_person (PROLE (POSSIBLE_VICTIM), "Ewa", "", "", "111222334", "", "", ""));
}

static void
a_minor_without_flag (Lantern__V1__SignalDetails *d)
{
    s_add_person (d,
                  s_person (PROLE (POSSIBLE_VICTIM), "Ewa", "2011-07-01", "POL", "", "", "", ""));
}

static void
a_address_token (Lantern__V1__SignalDetails *d)
{
    s_add_address (d, s_address ("", "3", "5911 AB", "", "", ""));
    s_add_token (&d->addresses[0]->n_tokens, &d->addresses[0]->tokens);
}

static void
a_sector_undefined (Lantern__V1__SignalDetails *d)
{
    d->sector = (Lantern__V1__LabourSector)13;
}

static const intake_case_t s_amend_cases[] = {
    ACASE (nothing, "EMPTY_AMENDMENT", "added"),
    ACASE (blank_account, "EMPTY_AMENDMENT", "added"),
    ACASE (reporter, "REPORTER_IMMUTABLE", "added.reporter"),
    ACASE (observed_on, "OBSERVED_ON_IMMUTABLE", "added.observed_on"),
    ACASE (municipality, "MUNICIPALITY_IMMUTABLE", "added.municipality"),
    ACASE (form_already_there, "DUPLICATE_FORM", "added.forms[0]"),
    ACASE (unknown_to_known, "UNKNOWN_WITH_OTHER_FORM", "added.forms[0]"),
    ACASE (indicator_already_there, "DUPLICATE_INDICATOR", "added.indicators[1]"),
    ACASE (indicator_form_mismatch, "INDICATOR_FORM_MISMATCH", "added.indicators[0]"),
    ACASE (persons_over_limit, "TOO_MANY_PERSONS", "added.persons"),
    ACASE (indicators_over_limit, "TOO_MANY_INDICATORS", "added.indicators"),
    ACASE (person_bad_bsn, "BSN_CHECKSUM", "added.persons[0].bsn"),
    ACASE (minor_without_flag, "MINOR_FLAG_MISSING", "added.persons[0].date_of_birth"),
    ACASE (address_token, "TOKENS_NOT_ALLOWED", "added.addresses[0].tokens"),
    ACASE (sector_undefined, "UNKNOWN_SECTOR", "added.sector"),
};

static void
a_add_person (Lantern__V1__SignalDetails *d)
{
    s_add_person (d, s_person (PROLE (POSSIBLE_VICTIM), "Ewa Nowak", "03-09-1995", "POL", "", "",
                               "+48 512 345 678", ""));
}

static void
a_add_form_and_indicator (Lantern__V1__SignalDetails *d)
{
    s_add_form (d, FORM (SEXUAL));
    s_add_indicator (d, "OWNERSHIP_TATTOO");
}

static void
a_set_sector (Lantern__V1__SignalDetails *d)
{
    d->sector = SECTOR (CONSTRUCTION);
}

static void
a_raise_danger (Lantern__V1__SignalDetails *d)
{
    d->immediate_danger = 1;
}

static void
a_minor_with_flag (Lantern__V1__SignalDetails *d)
{
    a_minor_without_flag (d);
    d->minor_involved = 1;
}

static void
a_account_addendum (Lantern__V1__SignalDetails *d)
{
    s_set (&d->account, "Bij huisbezoek op 29 mei bleken er 14 matrassen in de loods te liggen.");
}

static void
a_up_to_limits (Lantern__V1__SignalDetails *d)
{
    for (int i = 0; i < 18; i++)
        s_add_person (d, s_person (PROLE (WITNESS), "Piet", "", "", "", "", "", ""));
    for (int i = 0; i < 19; i++)
        s_add_address (d, s_address ("", "", "", "Venlo", "", ""));
}

static const intake_case_t s_amend_valid[] = {
    ACASE (add_person, NULL, NULL),      ACASE (add_form_and_indicator, NULL, NULL),
    ACASE (set_sector, NULL, NULL),      ACASE (raise_danger, NULL, NULL),
    ACASE (minor_with_flag, NULL, NULL), ACASE (account_addendum, NULL, NULL),
    ACASE (up_to_limits, NULL, NULL),
};

#define S_N(a) (sizeof (a) / sizeof (a)[0])

size_t
intake_cases_count (void)
{
    return S_N (s_cases);
}

const intake_case_t *
intake_cases_at (size_t i)
{
    return i < S_N (s_cases) ? &s_cases[i] : NULL;
}

size_t
intake_cases_valid_count (void)
{
    return S_N (s_valid);
}

const intake_case_t *
intake_cases_valid_at (size_t i)
{
    return i < S_N (s_valid) ? &s_valid[i] : NULL;
}

size_t
intake_amend_cases_count (void)
{
    return S_N (s_amend_cases);
}

const intake_case_t *
intake_amend_cases_at (size_t i)
{
    return i < S_N (s_amend_cases) ? &s_amend_cases[i] : NULL;
}

size_t
intake_amend_cases_valid_count (void)
{
    return S_N (s_amend_valid);
}

const intake_case_t *
intake_amend_cases_valid_at (size_t i)
{
    return i < S_N (s_amend_valid) ? &s_amend_valid[i] : NULL;
}
