# municipalities.awk: turn services/intake/municipalities.tsv into the C
# table that intake_municipality.c includes (build/gen/intake_municipalities.inc).
#
#   awk -f services/intake/municipalities.awk services/intake/municipalities.tsv > OUT
#
# It checks the data as it goes and fails the build (exit 1, the line named on
# stderr) on anything it would not vouch for: a malformed or repeated code,
# codes out of order, a change without a date or with a date after as_of, a
# successor that is not in the list, a chain of successors that does not end
# in a current municipality, a name the C string could not hold as it is.
# POSIX awk only (Debian's mawk is enough).

BEGIN {
    FS = "\t"
    n = 0
    current = 0
    as_of = ""
    failed = 0
}

function fail(msg) {
    printf "%s:%d: %s\n", FILENAME, FNR, msg > "/dev/stderr"
    failed = 1
    exit 1
}

function is_code(c) {
    return c ~ /^GM[0-9][0-9][0-9][0-9]$/
}

function is_date(d,    y, m, dd) {
    if (d !~ /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]$/)
        return 0
    m = substr(d, 6, 2) + 0
    dd = substr(d, 9, 2) + 0
    return m >= 1 && m <= 12 && dd >= 1 && dd <= 31
}

/^#/ || /^[ \t]*$/ { next }

$1 == "as_of" {
    if (as_of != "")
        fail("as_of given twice")
    if (NF != 2 || !is_date($2))
        fail("as_of needs one date, YYYY-MM-DD")
    as_of = $2
    next
}

{
    if (as_of == "")
        fail("the as_of line must come before the municipalities")
    if (NF != 2 && NF != 5)
        fail("expected CODE NAME, or CODE NAME DATE CHANGE SUCCESSORS, separated by TABs")
    code = $1
    name = $2
    if (!is_code(code))
        fail("not a code (GM and 4 digits): " code)
    if (n > 0 && code <= codes[n - 1])
        fail(code " is out of order or repeated (the list is sorted by code)")
    if (name == "" || name ~ /^ / || name ~ / $/ || name ~ /["\\]/)
        fail(code ": the name is empty, has spaces around it, or holds \" or \\")
    codes[n] = code
    names[n] = name
    index_of[code] = n
    if (NF == 2) {
        ceased[n] = ""
        change[n] = "CURRENT"
        successors[n] = ""
        current++
        n++
        next
    }
    if (!is_date($3))
        fail(code ": not a date (YYYY-MM-DD): " $3)
    if ($3 > as_of)
        fail(code ": the change of " $3 " is after as_of " as_of " (list only changes in force)")
    k = split($5, parts, ",")
    if ($4 == "merged" || $4 == "renamed") {
        if (k != 1)
            fail(code ": " $4 " names exactly one successor")
    } else if ($4 == "divided") {
        if (k < 2)
            fail(code ": divided names two or more successors")
    } else
        fail(code ": the change is merged, renamed or divided, not " $4)
    for (i = 1; i <= k; i++) {
        if (!is_code(parts[i]) || parts[i] == code)
            fail(code ": not a successor code: " parts[i])
    }
    ceased[n] = $3
    change[n] = toupper($4)
    successors[n] = $5
    n++
}

END {
    if (failed)
        exit 1
    if (as_of == "")
        fail("no as_of line")
    if (current == 0)
        fail("no current municipality")
    # Every successor is in the list, and following successors always ends
    # in current municipalities, each step later in time than the one before.
    for (j = 0; j < n; j++) {
        if (change[j] == "CURRENT")
            continue
        k = split(successors[j], parts, ",")
        for (i = 1; i <= k; i++) {
            s = parts[i]
            date = ceased[j]
            for (depth = 0; depth < 16; depth++) {
                if (!(s in index_of)) {
                    FNR = 0
                    fail(codes[j] ": successor " s " is not in the list")
                }
                t = index_of[s]
                if (change[t] == "CURRENT")
                    break
                if (ceased[t] <= date) {
                    FNR = 0
                    fail(codes[j] ": successor " s " ceased on " ceased[t] ", not after " date)
                }
                if (change[t] == "DIVIDED") {
                    FNR = 0
                    fail(codes[j] ": successor " s " was divided; name its parts instead")
                }
                date = ceased[t]
                s = successors[t]
            }
            if (depth == 16) {
                FNR = 0
                fail(codes[j] ": its successors do not end in a current municipality")
            }
        }
    }

    print "/* Generated from services/intake/municipalities.tsv by"
    print "   services/intake/municipalities.awk: do not edit. */"
    printf "#define S_AS_OF \"%s\"\n", as_of
    printf "#define S_CURRENT %d\n", current
    print "static const intake_municipality_t s_table[] = {"
    for (j = 0; j < n; j++)
        printf "    {\"%s\", \"%s\", \"%s\", INTAKE_MUNICIPALITY_%s, \"%s\"},\n", \
               codes[j], names[j], ceased[j], change[j], successors[j]
    print "};"
}
