/*  intake_tokens: the pseudonym tokens of a signal's persons, addresses,
    vehicles and employers (docs/architecture.md, "Pseudonymisation at intake").

    The intake service calls this after intake_validate has passed a
    signal's details (SubmitSignal) or additions (AmendSignal), and before
    it stores them.  It normalises each identifying field with
    ln_pseudonym's normalisers, stores the normal form where the stored
    form is normalised (a person's date_of_birth becomes YYYY-MM-DD; every
    other field is stored as the officer wrote it), and appends to each
    item's tokens.  The validator has already refused tokens on input, so
    every token on the result was made here, under the regional key.

    A field counts as given when it holds anything but spaces and tabs; an
    empty field yields no token and is not checked.  Every given
    identifying field is normalised (so checked) even when it yields no
    token on its own, e.g. a date of birth without a name.

    Tokens per item (kinds are lantern.v1.IdentifierKind; each token is
    ln_pseudonym_token over the text shown, normal forms joined by '|'):
      person    NAME_BIRTHDATE  "name|YYYY-MM-DD"  when name and date_of_birth
                BSN             "123456782"        when bsn
                DOCUMENT        "NW92BC123"        when document_number
                PHONE           "+31612345678"     when phone
      address   The country is Dutch when it is empty, "NL" or "NLD" (any
                case).  Foreign addresses have no common postcode form, so
                an address also gets a street form, which matches only the
                same street spelling (after normalising) in the same city:
                ADDRESS  "1234AB|12A"                  Dutch, when postcode and
                                                       house_number
                ADDRESS  "CC|street|12A|city"          when street, house_number
                                                       and city (any country;
                                                       CC = "NL" for Dutch)
                A Dutch address with all five fields therefore has two
                ADDRESS tokens; one written with postcode only and one
                written with street and city only do not match.  A foreign
                postcode is not checked (its format is not ours to know)
                and is not used.
      vehicle   VEHICLE   "12ABC3"       Dutch (country empty, NL or NLD)
                VEHICLE   "CC|WX12345"   foreign: the country's alpha-2 code
      employer  EMPLOYER  "12345678"     when kvk_number

    Countries may be written as ISO 3166-1 alpha-2 or alpha-3 codes, in any
    case (intake_country); tokens hold the alpha-2 code, so "DE", "deu" and
    "DEU" give the same token (and NL = NLD = empty for the Netherlands).

    Errors: the normaliser's code (INVALID_NAME, INVALID_DATE,
    INVALID_PHONE, INVALID_BSN, BSN_CHECKSUM, INVALID_DOCUMENT,
    INVALID_POSTCODE, INVALID_HOUSE_NUMBER, INVALID_ADDRESS (street or
    city), INVALID_PLATE, INVALID_KVK), or INVALID_COUNTRY (not an ISO
    3166-1 code), with field the path, e.g. "details.persons[2].phone";
    INTERNAL when key or details is NULL.
*/
#ifndef INTAKE_TOKENS_H
#define INTAKE_TOKENS_H

#include "lantern.pb-c.h"
#include "ln_error.h"
#include "ln_pseudonym.h"

/* Normalise the identifying fields of details in place and append the
   tokens of every person, address, vehicle and employer (see above).
   path_prefix roots the field paths in errors ("details", "added"; "" or
   NULL for none).

   Memory: details must own its strings and arrays as protobuf-c's unpack
   with the default allocator leaves them (each string malloc'd, or
   protobuf_c_empty_string).  New strings, Token messages and token arrays
   are malloc'd, and replaced strings are freed, so that
   protobuf_c_message_free_unpacked (details, NULL) frees everything.
   Out of memory aborts.

   Returns 0, or -1 with err set.  On failure details may already be
   partly filled (earlier items' tokens and dates), but is consistent and
   freeable; the caller refuses the signal. */
int intake_tokens_fill (const ln_pseudonym_key_t *key, Lantern__V1__SignalDetails *details,
                        const char *path_prefix, ln_error_t *err);

#endif
