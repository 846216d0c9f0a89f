/*  intake_country: see intake_country.h.  Generated from iso-codes 4.15
    (/usr/share/iso-codes/json/iso_3166-1.json) plus XK/XKX. */
#include "intake_country.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Sorted by alpha-2. */
static const char s_codes[][2][4] = {
    {"AD", "AND"}, {"AE", "ARE"}, {"AF", "AFG"}, {"AG", "ATG"}, {"AI", "AIA"}, {"AL", "ALB"},
    {"AM", "ARM"}, {"AO", "AGO"}, {"AQ", "ATA"}, {"AR", "ARG"}, {"AS", "ASM"}, {"AT", "AUT"},
    {"AU", "AUS"}, {"AW", "ABW"}, {"AX", "ALA"}, {"AZ", "AZE"}, {"BA", "BIH"}, {"BB", "BRB"},
    {"BD", "BGD"}, {"BE", "BEL"}, {"BF", "BFA"}, {"BG", "BGR"}, {"BH", "BHR"}, {"BI", "BDI"},
    {"BJ", "BEN"}, {"BL", "BLM"}, {"BM", "BMU"}, {"BN", "BRN"}, {"BO", "BOL"}, {"BQ", "BES"},
    {"BR", "BRA"}, {"BS", "BHS"}, {"BT", "BTN"}, {"BV", "BVT"}, {"BW", "BWA"}, {"BY", "BLR"},
    {"BZ", "BLZ"}, {"CA", "CAN"}, {"CC", "CCK"}, {"CD", "COD"}, {"CF", "CAF"}, {"CG", "COG"},
    {"CH", "CHE"}, {"CI", "CIV"}, {"CK", "COK"}, {"CL", "CHL"}, {"CM", "CMR"}, {"CN", "CHN"},
    {"CO", "COL"}, {"CR", "CRI"}, {"CU", "CUB"}, {"CV", "CPV"}, {"CW", "CUW"}, {"CX", "CXR"},
    {"CY", "CYP"}, {"CZ", "CZE"}, {"DE", "DEU"}, {"DJ", "DJI"}, {"DK", "DNK"}, {"DM", "DMA"},
    {"DO", "DOM"}, {"DZ", "DZA"}, {"EC", "ECU"}, {"EE", "EST"}, {"EG", "EGY"}, {"EH", "ESH"},
    {"ER", "ERI"}, {"ES", "ESP"}, {"ET", "ETH"}, {"FI", "FIN"}, {"FJ", "FJI"}, {"FK", "FLK"},
    {"FM", "FSM"}, {"FO", "FRO"}, {"FR", "FRA"}, {"GA", "GAB"}, {"GB", "GBR"}, {"GD", "GRD"},
    {"GE", "GEO"}, {"GF", "GUF"}, {"GG", "GGY"}, {"GH", "GHA"}, {"GI", "GIB"}, {"GL", "GRL"},
    {"GM", "GMB"}, {"GN", "GIN"}, {"GP", "GLP"}, {"GQ", "GNQ"}, {"GR", "GRC"}, {"GS", "SGS"},
    {"GT", "GTM"}, {"GU", "GUM"}, {"GW", "GNB"}, {"GY", "GUY"}, {"HK", "HKG"}, {"HM", "HMD"},
    {"HN", "HND"}, {"HR", "HRV"}, {"HT", "HTI"}, {"HU", "HUN"}, {"ID", "IDN"}, {"IE", "IRL"},
    {"IL", "ISR"}, {"IM", "IMN"}, {"IN", "IND"}, {"IO", "IOT"}, {"IQ", "IRQ"}, {"IR", "IRN"},
    {"IS", "ISL"}, {"IT", "ITA"}, {"JE", "JEY"}, {"JM", "JAM"}, {"JO", "JOR"}, {"JP", "JPN"},
    {"KE", "KEN"}, {"KG", "KGZ"}, {"KH", "KHM"}, {"KI", "KIR"}, {"KM", "COM"}, {"KN", "KNA"},
    {"KP", "PRK"}, {"KR", "KOR"}, {"KW", "KWT"}, {"KY", "CYM"}, {"KZ", "KAZ"}, {"LA", "LAO"},
    {"LB", "LBN"}, {"LC", "LCA"}, {"LI", "LIE"}, {"LK", "LKA"}, {"LR", "LBR"}, {"LS", "LSO"},
    {"LT", "LTU"}, {"LU", "LUX"}, {"LV", "LVA"}, {"LY", "LBY"}, {"MA", "MAR"}, {"MC", "MCO"},
    {"MD", "MDA"}, {"ME", "MNE"}, {"MF", "MAF"}, {"MG", "MDG"}, {"MH", "MHL"}, {"MK", "MKD"},
    {"ML", "MLI"}, {"MM", "MMR"}, {"MN", "MNG"}, {"MO", "MAC"}, {"MP", "MNP"}, {"MQ", "MTQ"},
    {"MR", "MRT"}, {"MS", "MSR"}, {"MT", "MLT"}, {"MU", "MUS"}, {"MV", "MDV"}, {"MW", "MWI"},
    {"MX", "MEX"}, {"MY", "MYS"}, {"MZ", "MOZ"}, {"NA", "NAM"}, {"NC", "NCL"}, {"NE", "NER"},
    {"NF", "NFK"}, {"NG", "NGA"}, {"NI", "NIC"}, {"NL", "NLD"}, {"NO", "NOR"}, {"NP", "NPL"},
    {"NR", "NRU"}, {"NU", "NIU"}, {"NZ", "NZL"}, {"OM", "OMN"}, {"PA", "PAN"}, {"PE", "PER"},
    {"PF", "PYF"}, {"PG", "PNG"}, {"PH", "PHL"}, {"PK", "PAK"}, {"PL", "POL"}, {"PM", "SPM"},
    {"PN", "PCN"}, {"PR", "PRI"}, {"PS", "PSE"}, {"PT", "PRT"}, {"PW", "PLW"}, {"PY", "PRY"},
    {"QA", "QAT"}, {"RE", "REU"}, {"RO", "ROU"}, {"RS", "SRB"}, {"RU", "RUS"}, {"RW", "RWA"},
    {"SA", "SAU"}, {"SB", "SLB"}, {"SC", "SYC"}, {"SD", "SDN"}, {"SE", "SWE"}, {"SG", "SGP"},
    {"SH", "SHN"}, {"SI", "SVN"}, {"SJ", "SJM"}, {"SK", "SVK"}, {"SL", "SLE"}, {"SM", "SMR"},
    {"SN", "SEN"}, {"SO", "SOM"}, {"SR", "SUR"}, {"SS", "SSD"}, {"ST", "STP"}, {"SV", "SLV"},
    {"SX", "SXM"}, {"SY", "SYR"}, {"SZ", "SWZ"}, {"TC", "TCA"}, {"TD", "TCD"}, {"TF", "ATF"},
    {"TG", "TGO"}, {"TH", "THA"}, {"TJ", "TJK"}, {"TK", "TKL"}, {"TL", "TLS"}, {"TM", "TKM"},
    {"TN", "TUN"}, {"TO", "TON"}, {"TR", "TUR"}, {"TT", "TTO"}, {"TV", "TUV"}, {"TW", "TWN"},
    {"TZ", "TZA"}, {"UA", "UKR"}, {"UG", "UGA"}, {"UM", "UMI"}, {"US", "USA"}, {"UY", "URY"},
    {"UZ", "UZB"}, {"VA", "VAT"}, {"VC", "VCT"}, {"VE", "VEN"}, {"VG", "VGB"}, {"VI", "VIR"},
    {"VN", "VNM"}, {"VU", "VUT"}, {"WF", "WLF"}, {"WS", "WSM"}, {"XK", "XKX"}, {"YE", "YEM"},
    {"YT", "MYT"}, {"ZA", "ZAF"}, {"ZM", "ZMB"}, {"ZW", "ZWE"},
};
#define S_COUNT (sizeof s_codes / sizeof s_codes[0])

/* Indexes into s_codes, sorted by alpha-3. */
static const uint8_t s_by_alpha3[] = {
    13,  2,   7,   4,   14,  5,   0,   1,   9,   6,   10,  8,   215, 3,   12,  11,  15,  23,
    19,  24,  29,  20,  18,  21,  22,  31,  16,  25,  35,  36,  26,  28,  30,  17,  27,  32,
    33,  34,  40,  37,  38,  42,  45,  47,  43,  46,  39,  41,  44,  48,  118, 51,  49,  50,
    52,  53,  123, 54,  55,  56,  57,  59,  58,  60,  61,  62,  64,  66,  65,  67,  63,  68,
    69,  70,  71,  74,  73,  72,  75,  76,  78,  80,  81,  82,  85,  86,  84,  92,  87,  88,
    77,  83,  90,  79,  91,  93,  94,  95,  96,  97,  98,  99,  100, 103, 104, 105, 101, 107,
    106, 108, 102, 109, 111, 110, 112, 113, 124, 114, 115, 116, 117, 119, 121, 122, 125, 126,
    130, 135, 127, 128, 129, 131, 132, 133, 134, 147, 140, 136, 137, 138, 141, 154, 156, 142,
    143, 144, 152, 145, 139, 146, 148, 158, 150, 151, 149, 153, 155, 157, 246, 159, 160, 161,
    162, 163, 164, 169, 165, 166, 167, 168, 170, 171, 177, 172, 180, 173, 176, 184, 175, 178,
    181, 120, 183, 185, 182, 174, 186, 187, 188, 190, 191, 192, 195, 204, 197, 89,  198, 200,
    193, 202, 209, 203, 205, 179, 189, 207, 208, 206, 201, 199, 196, 212, 210, 194, 211, 213,
    214, 216, 217, 218, 219, 221, 220, 223, 225, 222, 224, 226, 227, 228, 230, 229, 231, 233,
    232, 234, 235, 236, 237, 238, 239, 240, 241, 242, 243, 244, 245, 247, 248, 249,
};

_Static_assert(sizeof s_by_alpha3 == S_COUNT, "one alpha-3 index per country");

bool
intake_country_find (const char *code, char alpha2[3])
{
    size_t len = code ? strlen (code) : 0;
    if (len != 2 && len != 3)
        return false;
    for (size_t i = 0; i < len; i++)
        if (code[i] < 'A' || code[i] > 'Z')
            return false;
    int column = len == 2 ? 0 : 1;
    size_t lo = 0, hi = S_COUNT;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        size_t at = column == 0 ? mid : s_by_alpha3[mid];
        int c = strcmp (code, s_codes[at][column]);
        if (c == 0) {
            if (alpha2)
                memcpy (alpha2, s_codes[at][0], 3);
            return true;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return false;
}
