/*  Unit tests for intake_tokens: which tokens each person, address,
    vehicle and employer gets, that the same identifiers written
    differently in two signals give the same tokens (and another regional
    key other ones), that dates of birth are stored normalised, and that an
    error names the field.  Messages are built in C, packed and unpacked by
    protobuf-c with the default allocator (as the service receives them),
    and freed with free_unpacked: under ASan this checks the allocation
    discipline, after success and after failure alike.  No database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intake_tokens.h"
#include "lantern.pb-c.h"
#include "ln_pseudonym.h"

#define K(name) LANTERN__V1__IDENTIFIER_KIND__IDENTIFIER_KIND_##name

static ln_pseudonym_key_t s_key;
static ln_pseudonym_key_t s_other_key;

/* --- building messages -------------------------------------------------------- */

typedef struct {
    const char *name, *date_of_birth, *bsn, *document_number, *phone;
} person_t;

typedef struct {
    const char *street, *house_number, *postcode, *city, *country;
} address_t;

typedef struct {
    const char *licence_plate, *country;
} vehicle_t;

typedef struct {
    const char *name, *kvk_number;
} employer_t;

#define MAX_ITEMS 8

typedef struct {
    size_t n_persons, n_addresses, n_vehicles, n_employers;
    person_t persons[MAX_ITEMS];
    address_t addresses[MAX_ITEMS];
    vehicle_t vehicles[MAX_ITEMS];
    employer_t employers[MAX_ITEMS];
} spec_t;

static char *
s_str (const char *s)
{
    return (char *)(s ? s : protobuf_c_empty_string);
}

/* Build details from spec on the stack, pack it and unpack it with the
   default allocator: the result owns every string, as in the service. */
static Lantern__V1__SignalDetails *
s_details (const spec_t *spec)
{
    Lantern__V1__SignalDetails d = LANTERN__V1__SIGNAL_DETAILS__INIT;
    Lantern__V1__Person persons[MAX_ITEMS], *pp[MAX_ITEMS];
    Lantern__V1__Address addresses[MAX_ITEMS], *ap[MAX_ITEMS];
    Lantern__V1__Vehicle vehicles[MAX_ITEMS], *vp[MAX_ITEMS];
    Lantern__V1__Employer employers[MAX_ITEMS], *ep[MAX_ITEMS];
    d.observed_on = "2026-11-01";
    d.account = "an account that stays untouched";
    for (size_t i = 0; i < spec->n_persons; i++) {
        lantern__v1__person__init (&persons[i]);
        persons[i].role = LANTERN__V1__PERSON_ROLE__PERSON_ROLE_POSSIBLE_VICTIM;
        persons[i].name = s_str (spec->persons[i].name);
        persons[i].date_of_birth = s_str (spec->persons[i].date_of_birth);
        persons[i].bsn = s_str (spec->persons[i].bsn);
        persons[i].document_number = s_str (spec->persons[i].document_number);
        persons[i].phone = s_str (spec->persons[i].phone);
        persons[i].description = "speaks Romanian";
        pp[i] = &persons[i];
    }
    for (size_t i = 0; i < spec->n_addresses; i++) {
        lantern__v1__address__init (&addresses[i]);
        addresses[i].street = s_str (spec->addresses[i].street);
        addresses[i].house_number = s_str (spec->addresses[i].house_number);
        addresses[i].postcode = s_str (spec->addresses[i].postcode);
        addresses[i].city = s_str (spec->addresses[i].city);
        addresses[i].country = s_str (spec->addresses[i].country);
        ap[i] = &addresses[i];
    }
    for (size_t i = 0; i < spec->n_vehicles; i++) {
        lantern__v1__vehicle__init (&vehicles[i]);
        vehicles[i].licence_plate = s_str (spec->vehicles[i].licence_plate);
        vehicles[i].country = s_str (spec->vehicles[i].country);
        vp[i] = &vehicles[i];
    }
    for (size_t i = 0; i < spec->n_employers; i++) {
        lantern__v1__employer__init (&employers[i]);
        employers[i].name = s_str (spec->employers[i].name);
        employers[i].kvk_number = s_str (spec->employers[i].kvk_number);
        ep[i] = &employers[i];
    }
    d.n_persons = spec->n_persons;
    d.persons = pp;
    d.n_addresses = spec->n_addresses;
    d.addresses = ap;
    d.n_vehicles = spec->n_vehicles;
    d.vehicles = vp;
    d.n_employers = spec->n_employers;
    d.employers = ep;

    size_t len = lantern__v1__signal_details__get_packed_size (&d);
    uint8_t *buf = malloc (len ? len : 1);
    assert_non_null (buf);
    assert_int_equal (lantern__v1__signal_details__pack (&d, buf), len);
    Lantern__V1__SignalDetails *out = lantern__v1__signal_details__unpack (NULL, len, buf);
    free (buf);
    assert_non_null (out);
    return out;
}

static void
s_free (Lantern__V1__SignalDetails *d)
{
    lantern__v1__signal_details__free_unpacked (d, NULL);
}

/* The tokens of one item must be exactly `kinds` (0-ended), in order. */
static void
s_expect_kinds (Lantern__V1__Token **tokens, size_t n, const int *kinds)
{
    size_t want = 0;
    while (kinds[want])
        want++;
    assert_int_equal (n, want);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal (tokens[i]->kind, kinds[i]);
        assert_int_equal (strlen (tokens[i]->token), 64);
        assert_int_equal (strspn (tokens[i]->token, "0123456789abcdef"), 64);
    }
}

#define EXPECT_KINDS(item, ...)                                                                    \
    do {                                                                                           \
        static const int kinds_[] = {__VA_ARGS__, 0};                                              \
        s_expect_kinds ((item)->tokens, (item)->n_tokens, kinds_);                                 \
    } while (0)

#define EXPECT_NO_TOKENS(item) assert_int_equal ((item)->n_tokens, 0)

/* Every token of `a` equals the one at the same place in `b`. */
static void
s_expect_same_tokens (const Lantern__V1__SignalDetails *a, const Lantern__V1__SignalDetails *b,
                      bool same)
{
#define COMPARE(list, n)                                                                           \
    for (size_t i = 0; i < a->n; i++) {                                                            \
        assert_int_equal (a->list[i]->n_tokens, b->list[i]->n_tokens);                             \
        for (size_t t = 0; t < a->list[i]->n_tokens; t++) {                                        \
            assert_int_equal (a->list[i]->tokens[t]->kind, b->list[i]->tokens[t]->kind);           \
            if (same)                                                                              \
                assert_string_equal (a->list[i]->tokens[t]->token, b->list[i]->tokens[t]->token);  \
            else                                                                                   \
                assert_string_not_equal (a->list[i]->tokens[t]->token,                             \
                                         b->list[i]->tokens[t]->token);                            \
        }                                                                                          \
    }
    assert_int_equal (a->n_persons, b->n_persons);
    assert_int_equal (a->n_addresses, b->n_addresses);
    assert_int_equal (a->n_vehicles, b->n_vehicles);
    assert_int_equal (a->n_employers, b->n_employers);
    COMPARE (persons, n_persons)
    COMPARE (addresses, n_addresses)
    COMPARE (vehicles, n_vehicles)
    COMPARE (employers, n_employers)
#undef COMPARE
}

/* --- tests ---------------------------------------------------------------------- */

static const spec_t s_signal_a = {
    .n_persons = 3,
    .persons =
        {
            {"Ana-Maria Ionescu", "7-3-1990", "111222333", "NW92BC123", "06 12345678"},
            {"Ion Popescu", NULL, NULL, NULL, NULL},
            {NULL, "1985-12-01", NULL, NULL, "+48 601 234 567"},
        },
    .n_addresses = 4,
    .addresses =
        {
            {"Kerkstraat", "12a", "5911 AB", "Venlo", NULL},
            {NULL, "3", "5912 CD", NULL, "NL"},
            {"Hauptstraße", "7", "10115", "Berlin", "de"},
            {NULL, NULL, "5913 EF", NULL, NULL},
        },
    .n_vehicles = 2,
    .vehicles = {{"12-ABC-3", NULL}, {"WX 12345", "PL"}},
    .n_employers = 2,
    .employers = {{"Schoonmaak BV", "12345678"}, {"Tuinderij", NULL}},
};

/* The same identifiers, written the other way (a remark in parentheses in
   a name is left out of its token). */
static const spec_t s_signal_b = {
    .n_persons = 3,
    .persons =
        {
            {"  ANA MARIA (Ani) IONESCU ", "07/03/1990", "111.222.333", "nw92 bc123",
             "+31 (0)6-1234 5678"},
            {"ion popescu", " ", "", NULL, NULL},
            {NULL, "1-12-1985", NULL, NULL, "0048601234567"},
        },
    .n_addresses = 4,
    .addresses =
        {
            {"KERKSTRAAT", "12 A", "5911ab", " venlo", "nld"},
            {NULL, "3", "5912cd", NULL, ""},
            {"hauptstrasse", "7", "10115", "BERLIN", "deu"}, /* alpha-3 = alpha-2 */
            {NULL, NULL, "5913EF", NULL, NULL},
        },
    .n_vehicles = 2,
    .vehicles = {{"12 abc 3", "NL"}, {"wx-12345", "POL"}},
    .n_employers = 2,
    .employers = {{"Schoonmaak B.V.", "1234 5678"}, {"Tuinderij", ""}},
};

static void
test_tokens_per_item (void **state)
{
    (void)state;
    Lantern__V1__SignalDetails *d = s_details (&s_signal_a);
    ln_error_t err = {0};
    assert_int_equal (intake_tokens_fill (&s_key, d, "details", &err), 0);

    EXPECT_KINDS (d->persons[0], K (NAME_BIRTHDATE), K (BSN), K (DOCUMENT), K (PHONE));
    EXPECT_NO_TOKENS (d->persons[1]); /* a name alone */
    EXPECT_KINDS (d->persons[2], K (PHONE));
    EXPECT_KINDS (d->addresses[0], K (ADDRESS), K (ADDRESS)); /* postcode form, street form */
    EXPECT_KINDS (d->addresses[1], K (ADDRESS));
    EXPECT_KINDS (d->addresses[2], K (ADDRESS)); /* foreign: street form only */
    EXPECT_NO_TOKENS (d->addresses[3]);          /* postcode without house number */
    EXPECT_KINDS (d->vehicles[0], K (VEHICLE));
    EXPECT_KINDS (d->vehicles[1], K (VEHICLE));
    EXPECT_KINDS (d->employers[0], K (EMPLOYER));
    EXPECT_NO_TOKENS (d->employers[1]);

    /* Dates of birth are stored normalised; everything else as written. */
    assert_string_equal (d->persons[0]->date_of_birth, "1990-03-07");
    assert_string_equal (d->persons[2]->date_of_birth, "1985-12-01");
    assert_string_equal (d->persons[1]->date_of_birth, "");
    assert_string_equal (d->persons[0]->name, "Ana-Maria Ionescu");
    assert_string_equal (d->persons[0]->phone, "06 12345678");
    assert_string_equal (d->addresses[0]->postcode, "5911 AB");
    assert_string_equal (d->vehicles[0]->licence_plate, "12-ABC-3");
    assert_string_equal (d->observed_on, "2026-11-01");

    /* The tokens are ln_pseudonym's, over the documented inputs. */
    char t[LN_PSEUDONYM_TOKEN_SIZE];
    assert_int_equal (
        ln_pseudonym_token (&s_key, K (NAME_BIRTHDATE), "ana maria ionescu|1990-03-07", t), 0);
    assert_string_equal (d->persons[0]->tokens[0]->token, t);
    assert_int_equal (ln_pseudonym_token (&s_key, K (PHONE), "+31612345678", t), 0);
    assert_string_equal (d->persons[0]->tokens[3]->token, t);
    assert_int_equal (ln_pseudonym_token (&s_key, K (ADDRESS), "5911AB|12A", t), 0);
    assert_string_equal (d->addresses[0]->tokens[0]->token, t);
    assert_int_equal (ln_pseudonym_token (&s_key, K (ADDRESS), "NL|kerkstraat|12A|venlo", t), 0);
    assert_string_equal (d->addresses[0]->tokens[1]->token, t);
    assert_int_equal (ln_pseudonym_token (&s_key, K (ADDRESS), "DE|hauptstrasse|7|berlin", t), 0);
    assert_string_equal (d->addresses[2]->tokens[0]->token, t);
    assert_int_equal (ln_pseudonym_token (&s_key, K (VEHICLE), "12ABC3", t), 0);
    assert_string_equal (d->vehicles[0]->tokens[0]->token, t);
    assert_int_equal (ln_pseudonym_token (&s_key, K (VEHICLE), "PL|WX12345", t), 0);
    assert_string_equal (d->vehicles[1]->tokens[0]->token, t);
    assert_int_equal (ln_pseudonym_token (&s_key, K (EMPLOYER), "12345678", t), 0);
    assert_string_equal (d->employers[0]->tokens[0]->token, t);

    /* A foreign plate does not match the same plate in the Netherlands. */
    assert_int_equal (ln_pseudonym_token (&s_key, K (VEHICLE), "WX12345", t), 0);
    assert_string_not_equal (d->vehicles[1]->tokens[0]->token, t);

    /* The filled message still packs, unpacks and frees cleanly. */
    size_t len = lantern__v1__signal_details__get_packed_size (d);
    uint8_t *buf = malloc (len);
    assert_non_null (buf);
    lantern__v1__signal_details__pack (d, buf);
    Lantern__V1__SignalDetails *again = lantern__v1__signal_details__unpack (NULL, len, buf);
    free (buf);
    assert_non_null (again);
    s_expect_same_tokens (d, again, true);
    s_free (again);
    s_free (d);
}

static void
test_same_identifiers_same_tokens (void **state)
{
    (void)state;
    Lantern__V1__SignalDetails *a = s_details (&s_signal_a);
    Lantern__V1__SignalDetails *b = s_details (&s_signal_b);
    ln_error_t err = {0};
    assert_int_equal (intake_tokens_fill (&s_key, a, "details", &err), 0);
    assert_int_equal (intake_tokens_fill (&s_key, b, "details", &err), 0);
    s_expect_same_tokens (a, b, true);
    assert_string_equal (b->persons[0]->date_of_birth, "1990-03-07");
    assert_string_equal (b->persons[2]->date_of_birth, "1985-12-01");
    assert_string_equal (b->persons[1]->date_of_birth, " "); /* not given: untouched */

    /* Another regional key: every token differs. */
    Lantern__V1__SignalDetails *c = s_details (&s_signal_b);
    assert_int_equal (intake_tokens_fill (&s_other_key, c, "details", &err), 0);
    s_expect_same_tokens (a, c, false);
    s_free (a);
    s_free (b);
    s_free (c);
}

static void
test_different_identifiers_differ (void **state)
{
    (void)state;
    spec_t spec = {
        .n_persons = 2,
        .persons = {{"Jan de Vries", "1-1-1980", NULL, NULL, NULL},
                    {"Jan de Vriez", "1-1-1980", NULL, NULL, NULL}},
        .n_addresses = 2,
        .addresses = {{NULL, "12", "5911AB", NULL, NULL}, {NULL, "12-3", "5911AB", NULL, NULL}},
    };
    Lantern__V1__SignalDetails *d = s_details (&spec);
    assert_int_equal (intake_tokens_fill (&s_key, d, "details", NULL), 0);
    assert_string_not_equal (d->persons[0]->tokens[0]->token, d->persons[1]->tokens[0]->token);
    assert_string_not_equal (d->addresses[0]->tokens[0]->token, d->addresses[1]->tokens[0]->token);
    s_free (d);
}

/* Fill a message with one bad field; the error must carry code and path,
   and the message (partly filled) must free cleanly. */
static void
s_expect_error (const spec_t *spec, const char *prefix, const char *code, const char *field)
{
    Lantern__V1__SignalDetails *d = s_details (spec);
    ln_error_t err = {0};
    assert_int_equal (intake_tokens_fill (&s_key, d, prefix, &err), -1);
    assert_non_null (err.code);
    assert_string_equal (err.code, code);
    assert_string_equal (err.field, field);
    /* Messages never quote the identifier. */
    assert_null (strstr (err.message, "0612"));
    s_free (d);
    /* A NULL err is allowed. */
    d = s_details (spec);
    assert_int_equal (intake_tokens_fill (&s_key, d, prefix, NULL), -1);
    s_free (d);
}

static void
test_errors_name_the_field (void **state)
{
    (void)state;
    /* Earlier items and fields are fine and get filled before the failure. */
    spec_t spec = {
        .n_persons = 3,
        .persons = {{"Jan", "1-1-1980", "111222333", NULL, NULL},
                    {NULL, NULL, NULL, NULL, NULL},
                    {"Piet", "2-2-1980", NULL, NULL, "0612 3456 78x"}},
    };
    s_expect_error (&spec, "details", "INVALID_PHONE", "details.persons[2].phone");
    spec.persons[2].phone = "06 1234 5678";
    spec.persons[2].date_of_birth = "30-2-1980";
    s_expect_error (&spec, "details", "INVALID_DATE", "details.persons[2].date_of_birth");
    spec.persons[2].date_of_birth = "1980-02-29";
    spec.persons[2].name = "Piet 2";
    s_expect_error (&spec, "added", "INVALID_NAME", "added.persons[2].name");
    spec.persons[2].name = "Piet";
    spec.persons[0].bsn = "123456789";
    s_expect_error (&spec, "details", "BSN_CHECKSUM", "details.persons[0].bsn");
    spec.persons[0].bsn = "1234";
    s_expect_error (&spec, "details", "INVALID_BSN", "details.persons[0].bsn");
    spec.persons[0].bsn = NULL;
    spec.persons[1].document_number = "AB1";
    s_expect_error (&spec, "details", "INVALID_DOCUMENT", "details.persons[1].document_number");
    spec.persons[1].document_number = "AB1234";
    Lantern__V1__SignalDetails *ok = s_details (&spec);
    assert_int_equal (intake_tokens_fill (&s_key, ok, "details", NULL), 0);
    assert_string_equal (ok->persons[2]->date_of_birth, "1980-02-29");
    s_free (ok);

    spec_t addr = {.n_addresses = 2,
                   .addresses = {{NULL, "1", "5911AB", NULL, NULL},
                                 {"Kerkstraat", "12", "5911 SA", "Venlo", NULL}}};
    s_expect_error (&addr, "details", "INVALID_POSTCODE", "details.addresses[1].postcode");
    addr.addresses[1].postcode = "5911 AB";
    addr.addresses[1].house_number = "A";
    s_expect_error (&addr, "details", "INVALID_HOUSE_NUMBER", "details.addresses[1].house_number");
    addr.addresses[1].house_number = "12";
    addr.addresses[1].street = "Kerkstraat #";
    s_expect_error (&addr, "details", "INVALID_ADDRESS", "details.addresses[1].street");
    addr.addresses[1].street = "Kerkstraat";
    addr.addresses[1].city = "?";
    s_expect_error (&addr, "details", "INVALID_ADDRESS", "details.addresses[1].city");
    addr.addresses[1].city = "Venlo";
    addr.addresses[1].country = "Nederland";
    s_expect_error (&addr, "details", "INVALID_COUNTRY", "details.addresses[1].country");
    addr.addresses[1].country = "B";
    s_expect_error (&addr, "details", "INVALID_COUNTRY", "details.addresses[1].country");
    /* A foreign postcode is neither checked nor used. */
    addr.addresses[1].country = "BE";
    addr.addresses[1].postcode = "B-1000";
    ok = s_details (&addr);
    assert_int_equal (intake_tokens_fill (&s_key, ok, "details", NULL), 0);
    assert_int_equal (ok->addresses[1]->n_tokens, 1);
    s_free (ok);

    spec_t veh = {.n_vehicles = 1, .vehicles = {{"12.ABC.3", NULL}}};
    s_expect_error (&veh, "", "INVALID_PLATE", "vehicles[0].licence_plate");
    veh.vehicles[0].licence_plate = "12ABC3";
    veh.vehicles[0].country = "P L";
    s_expect_error (&veh, NULL, "INVALID_COUNTRY", "vehicles[0].country");
    veh.vehicles[0].country = "XYZ"; /* letters, but no country */
    s_expect_error (&veh, NULL, "INVALID_COUNTRY", "vehicles[0].country");
    veh.vehicles[0].country = "QQ";
    s_expect_error (&veh, NULL, "INVALID_COUNTRY", "vehicles[0].country");

    spec_t emp = {.n_employers = 2, .employers = {{"A", "12345678"}, {"B", "1234567"}}};
    s_expect_error (&emp, "details", "INVALID_KVK", "details.employers[1].kvk_number");
}

static void
test_arguments (void **state)
{
    (void)state;
    spec_t empty = {0};
    Lantern__V1__SignalDetails *d = s_details (&empty);
    ln_error_t err = {0};
    assert_int_equal (intake_tokens_fill (&s_key, d, "details", &err), 0);
    assert_int_equal (intake_tokens_fill (NULL, d, "details", &err), -1);
    assert_string_equal (err.code, "INTERNAL");
    assert_int_equal (intake_tokens_fill (&s_key, NULL, "details", &err), -1);
    s_free (d);
}

int
main (void)
{
    for (int i = 0; i < LN_PSEUDONYM_KEY_BYTES; i++) {
        s_key.bytes[i] = (unsigned char)(0x10 + 3 * i);
        s_other_key.bytes[i] = (unsigned char)(0x11 + 3 * i);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_tokens_per_item),
        cmocka_unit_test (test_same_identifiers_same_tokens),
        cmocka_unit_test (test_different_identifiers_differ),
        cmocka_unit_test (test_errors_name_the_field),
        cmocka_unit_test (test_arguments),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
