/*  ln_pbcheck: see ln_pbcheck.h.

    Both passes recurse only into sub-messages and stop at max_depth, so the
    C stack used here is bounded by the limit, never by the input.  Error
    paths are built on the way back up: the innermost failure writes its
    code and an empty (or relative) field, and every level prepends its own
    segment.  That keeps the success path free of string work; on the error
    path a repeated field's index comes from the element counters (wire
    pass) or the loop (message pass), and a map entry's key is recovered by
    looking again at the entry.
*/
#include "ln_pbcheck.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_utf8.h"

const ln_pbcheck_limits_t ln_pbcheck_default_limits = LN_PBCHECK_LIMITS_DEFAULT;
const ln_pbcheck_limits_t ln_pbcheck_wire_limits = LN_PBCHECK_LIMITS_WIRE;

enum { WT_VARINT = 0, WT_64BIT = 1, WT_LEN = 2, WT_32BIT = 5 };

/* A map key is shown in a path only when it cannot confuse the reader of
   the path (or of a log line that carries it). */
#define PLAIN_KEY_MAX 40

/* Above this many entries, duplicate keys are found by sorting. */
#define SMALL_MAP 16

// --------------------------------------------------------------------------
// Error paths

/* Make e->field "<seg>.<field>", or "<seg><field>" when field is empty or
   starts with an index. */
static void
s_prepend (ln_error_t *e, const char *seg)
{
    /* Built by hand: paths longer than the field buffer are cut at the end
       (the head of a path says more than its tail). */
    char tmp[LN_ERROR_FIELD_MAX];
    size_t cap = sizeof tmp - 1, n = 0;
    const char *parts[3] = {seg, (e->field[0] == '\0' || e->field[0] == '[') ? "" : ".", e->field};
    for (int p = 0; p < 3; p++)
        for (const char *c = parts[p]; *c && n < cap; c++)
            tmp[n++] = *c;
    tmp[n] = '\0';
    memcpy (e->field, tmp, n + 1);
}

/* Replace e->field by `text`. */
static void
s_set_field (ln_error_t *e, const char *text)
{
    size_t n = strnlen (text, sizeof e->field - 1);
    memmove (e->field, text, n);
    e->field[n] = '\0';
}

static bool
s_plain_key (const char *key, size_t len)
{
    if (!key || len == 0 || len > PLAIN_KEY_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = key[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.' || c == ':' || c == '/';
        if (!ok)
            return false;
    }
    return true;
}

/* Prepend the segment of field f: "name", "name[index]", or for a map
   entry `name["key"]` (dropping the entry's own "value" segment) when the
   key is plain, else "name[index]". */
static void
s_prepend_field (ln_error_t *e, const ProtobufCFieldDescriptor *f, size_t index, const char *key,
                 size_t key_len)
{
    char seg[LN_ERROR_FIELD_MAX];
    if (f->label != PROTOBUF_C_LABEL_REPEATED)
        snprintf (seg, sizeof seg, "%s", f->name);
    else if (ln_pbcheck_is_map (f) && s_plain_key (key, key_len) &&
             (e->field[0] == '\0' || strcmp (e->field, "value") == 0 ||
              strncmp (e->field, "value.", 6) == 0)) {
        /* attributes["time"].ce_string rather than attributes[2].value.ce_string */
        const char *rest = e->field[0] ? e->field + 5 : e->field;
        if (*rest == '.')
            rest++;
        s_set_field (e, rest);
        snprintf (seg, sizeof seg, "%s[\"%.*s\"]", f->name, (int)key_len, key);
    }
    else
        snprintf (seg, sizeof seg, "%s[%zu]", f->name, index);
    s_prepend (e, seg);
}

static void
s_set_unknown (ln_error_t *e, uint32_t tag)
{
    char seg[16];
    snprintf (seg, sizeof seg, "#%" PRIu32, tag);
    ln_error_set (e, "PB_UNKNOWN_FIELD", seg, "unknown field number %" PRIu32, tag);
}

// --------------------------------------------------------------------------
// Field shapes

bool
ln_pbcheck_is_map (const ProtobufCFieldDescriptor *field)
{
    if (!field || field->label != PROTOBUF_C_LABEL_REPEATED ||
        field->type != PROTOBUF_C_TYPE_MESSAGE || !field->descriptor)
        return false;
    const ProtobufCMessageDescriptor *entry = field->descriptor;
    if (entry->n_fields != 2 || entry->fields[0].id != 1 || entry->fields[1].id != 2 ||
        strcmp (entry->fields[0].name, "key") != 0 ||
        strcmp (entry->fields[1].name, "value") != 0 ||
        entry->fields[0].label == PROTOBUF_C_LABEL_REPEATED ||
        entry->fields[1].label == PROTOBUF_C_LABEL_REPEATED)
        return false;
    switch (entry->fields[0].type) {
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_ENUM:
    case PROTOBUF_C_TYPE_MESSAGE:
        return false;
    default:
        break;
    }
    /* protoc names the entry type after the field: foo_bar -> FooBarEntry.
       Compare ignoring case and underscores. */
    const char *name = field->name;
    const char *sn = entry->short_name;
    size_t sn_len = strlen (sn);
    if (sn_len < 5 || strcmp (sn + sn_len - 5, "Entry") != 0)
        return false;
    size_t j = 0;
    for (size_t i = 0; name[i]; i++) {
        if (name[i] == '_')
            continue;
        char a = name[i], b = j < sn_len - 5 ? sn[j] : '\0';
        if (a >= 'A' && a <= 'Z')
            a = (char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z')
            b = (char)(b - 'A' + 'a');
        if (a != b)
            return false;
        j++;
    }
    return j == sn_len - 5;
}

/* Bytes per element of a repeated field in protobuf-c's C layout. */
static inline size_t
s_elem_size (ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_ENUM:
        return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof (protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof (char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof (ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof (ProtobufCMessage *);
    }
    return 0;
}

size_t
ln_pbcheck_elem_size (ProtobufCType type)
{
    return s_elem_size (type);
}

int
ln_pbcheck_wire_type (ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return WT_32BIT;
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return WT_64BIT;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_MESSAGE:
        return WT_LEN;
    default:
        return WT_VARINT;
    }
}

// --------------------------------------------------------------------------
// Wire pass

static int
s_read_varint (const uint8_t *buf, size_t size, size_t *pos, uint64_t *value)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 10; i++) {
        if (*pos >= size)
            return -1;
        uint8_t b = buf[(*pos)++];
        v |= (uint64_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            *value = v;
            return 0;
        }
    }
    return -1; /* more than 10 bytes */
}

/* Read one field header and skip its value.  Returns 0 and sets the field
   number, wire type and (for WT_LEN) the value's place; -1 with a message
   in e when malformed. */
static int
s_next_field (const uint8_t *buf, size_t size, size_t *pos, uint32_t *number, int *wire_type,
              size_t *val_pos, size_t *val_len, ln_error_t *e)
{
    size_t start = *pos;
    uint64_t key, v;
    /* protobuf-c takes at most 5 bytes of tag and a 32-bit value */
    if (s_read_varint (buf, size, pos, &key) != 0 || *pos - start > 5 || key > UINT32_MAX) {
        ln_error_set (e, "PB_DECODE", "", "malformed field tag at offset %zu", start);
        return -1;
    }
    *number = (uint32_t)(key >> 3);
    *wire_type = (int)(key & 7);
    *val_pos = *pos;
    *val_len = 0;
    if (*number == 0) {
        ln_error_set (e, "PB_DECODE", "", "field number 0 at offset %zu", start);
        return -1;
    }
    switch (*wire_type) {
    case WT_VARINT:
        if (s_read_varint (buf, size, pos, &v) != 0)
            goto truncated;
        break;
    case WT_64BIT:
        if (size - *pos < 8)
            goto truncated;
        *pos += 8;
        break;
    case WT_32BIT:
        if (size - *pos < 4)
            goto truncated;
        *pos += 4;
        break;
    case WT_LEN:
        if (s_read_varint (buf, size, pos, &v) != 0 || v > size - *pos)
            goto truncated;
        *val_pos = *pos;
        *val_len = (size_t)v;
        *pos += (size_t)v;
        break;
    default:
        ln_error_set (e, "PB_DECODE", "", "unsupported wire type %d at offset %zu", *wire_type,
                      start);
        return -1;
    }
    return 0;
truncated:
    ln_error_set (e, "PB_DECODE", "", "field %" PRIu32 " runs past the end (offset %zu)", *number,
                  start);
    return -1;
}

int
ln_pbcheck_find_field (const void *data, size_t size, const uint32_t *path, size_t depth,
                       const uint8_t **value, size_t *value_size)
{
    const uint8_t *buf = data;
    if (!buf || depth == 0)
        return -1;
    for (size_t level = 0; level < depth; level++) {
        size_t pos = 0, found_pos = 0, found_len = 0;
        bool found = false;
        while (pos < size) {
            uint32_t n;
            int wt;
            size_t vp, vl;
            if (s_next_field (buf, size, &pos, &n, &wt, &vp, &vl, NULL) != 0)
                return -1;
            if (n == path[level] && wt == WT_LEN) {
                found = true;
                found_pos = vp;
                found_len = vl;
            }
        }
        if (!found)
            return -1;
        buf += found_pos;
        size = found_len;
    }
    if (value)
        *value = buf;
    if (value_size)
        *value_size = size;
    return 0;
}

int
ln_pbcheck_find_id (const void *data, size_t size, const uint32_t *path, size_t depth, char *out,
                    size_t out_size)
{
    const uint8_t *buf = NULL;
    if (out_size < 2 || ln_pbcheck_find_field (data, size, path, depth, &buf, &size) != 0)
        return -1;
    if (size == 0 || size >= out_size)
        return -1;
    for (size_t i = 0; i < size; i++) {
        uint8_t c = buf[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return -1;
    }
    memcpy (out, buf, size);
    out[size] = '\0';
    return 0;
}

// --------------------------------------------------------------------------
// Wire pass: counts and the allocation budget
//
// protobuf-c sizes every repeated array in a first scan and allocates the
// message, its arrays and each element before anything else looks at it,
// so what it would allocate is counted here, from the descriptors, while
// walking the bytes.  A "logical instance" is what becomes one C struct:
// the bytes of one occurrence of a message, or, for a singular (not
// oneof) message field given more than once, ALL its occurrences, which
// protobuf-c merges (repeated fields concatenated, singular messages merged
// again, recursively); so counts run over every segment of the instance.

/* One stretch of bytes of a logical instance. */
typedef struct {
    const uint8_t *data;
    size_t size;
} s_seg_t;

typedef struct {
    const ln_pbcheck_limits_t *lim;
    size_t budget; /* bytes protobuf-c may allocate */
    size_t cost;   /* estimated so far */
    bool too_big;  /* the error is PB_TOO_BIG: no field path */
} s_wire_ctx_t;

/* Counters of the fields of one instance live on the stack up to this
   many fields (Lantern's messages have fewer than 20). */
#define COUNTS_ON_STACK 64

/* What malloc (n) takes from the heap (glibc: an 8-byte header, 16-byte
   granules, 32 bytes at least), so that a flood of tiny allocations is
   counted at what it costs.  n is at most the size of the input. */
static inline size_t
s_chunk (size_t n)
{
    size_t c = (n + 8 + 15) & ~(size_t)15;
    return c < 32 ? 32 : c;
}

static size_t
s_mul (size_t a, size_t b)
{
    return b != 0 && a > SIZE_MAX / b ? SIZE_MAX : a * b;
}

/* Add to the estimate; -1 (PB_TOO_BIG) past the budget.  (cost <=
   budget always, so nothing overflows.) */
static inline int
s_charge (s_wire_ctx_t *ctx, size_t bytes, ln_error_t *e)
{
    if (bytes <= ctx->budget - ctx->cost) {
        ctx->cost += bytes;
        return 0;
    }
    ctx->cost = ctx->budget;
    ln_error_set (e, "PB_TOO_BIG", "", "decoding would allocate more than %zu bytes", ctx->budget);
    ctx->too_big = true;
    return -1;
}

/* Elements of a packed run of a repeated scalar, as protobuf-c counts
   them (*alloc: the elements its first scan allocates room for, more than
   *n for booleans of several bytes).  -1 with e when no run can be so. */
static int
s_packed_count (ProtobufCType type, const uint8_t *p, size_t len, size_t *n, size_t *alloc,
                ln_error_t *e)
{
    int wt = ln_pbcheck_wire_type (type);
    if (wt == WT_32BIT || wt == WT_64BIT) {
        size_t width = wt == WT_32BIT ? 4 : 8;
        if (len % width != 0) {
            ln_error_set (e, "PB_DECODE", "", "packed run of %zu bytes (not a multiple of %zu)",
                          len, width);
            return -1;
        }
        *n = *alloc = len / width;
        return 0;
    }
    if (len > 0 && (p[len - 1] & 0x80)) {
        ln_error_set (e, "PB_DECODE", "", "packed run ends inside a varint");
        return -1;
    }
    size_t count = 0;
    for (size_t i = 0; i < len; i++)
        count += !(p[i] & 0x80);
    *n = count;
    *alloc = type == PROTOBUF_C_TYPE_BOOL ? len : count;
    return 0;
}

/* Every occurrence of field `number` in the instance's segments, as the
   segments of the merged instance (the caller frees *out). */
static size_t
s_collect (const s_seg_t *segs, size_t nsegs, uint32_t number, s_seg_t **out)
{
    size_t n = 0, cap = 0;
    *out = NULL;
    for (size_t s = 0; s < nsegs; s++) {
        size_t pos = 0;
        while (pos < segs[s].size) {
            uint32_t num;
            int wt;
            size_t vp, vl;
            if (s_next_field (segs[s].data, segs[s].size, &pos, &num, &wt, &vp, &vl, NULL) != 0)
                break; /* malformed further on: the walk refuses it there */
            if (num == number && wt == WT_LEN) {
                *out = ln_xgrow (*out, &cap, n + 1, sizeof **out);
                (*out)[n++] = (s_seg_t){segs[s].data + vp, vl};
            }
        }
    }
    return n;
}

/* The last `key` (field 1, length-delimited) of a map entry's bytes. */
static void
s_wire_map_key (const uint8_t *buf, size_t size, const char **key, size_t *key_len)
{
    size_t pos = 0;
    *key = NULL;
    *key_len = 0;
    while (pos < size) {
        uint32_t n;
        int wt;
        size_t vp, vl;
        if (s_next_field (buf, size, &pos, &n, &wt, &vp, &vl, NULL) != 0)
            break;
        if (n == 1 && wt == WT_LEN) {
            *key = (const char *)buf + vp;
            *key_len = vl;
        }
    }
}

static int s_wire (s_wire_ctx_t *ctx, const ProtobufCMessageDescriptor *desc, const s_seg_t *segs,
                   size_t nsegs, unsigned depth, ln_error_t *e);

/* Check one length-delimited value of field f (string, bytes or message;
   not a packed run) of the instance made of segs.  `occurrences`: for a
   singular message field that protobuf-c merges, its occurrences in the
   instance so far, this one included (else 1).  Sets e with an empty or
   relative field on failure. */
static int
s_wire_value (s_wire_ctx_t *ctx, const ProtobufCFieldDescriptor *f, const uint8_t *val, size_t vlen,
              const s_seg_t *segs, size_t nsegs, size_t occurrences, unsigned depth, ln_error_t *e)
{
    const ln_pbcheck_limits_t *lim = ctx->lim;
    size_t bad;
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        if (vlen > lim->max_string) {
            ln_error_set (e, "PB_TOO_LONG", "", "string of %zu bytes (limit %zu)", vlen,
                          lim->max_string);
            return -1;
        }
        if (ln_utf8_check (val, vlen, LN_UTF8_TEXT, &bad) != 0) {
            ln_error_set (e, "PB_INVALID_UTF8", "",
                          "not valid UTF-8 text (bad encoding, NUL or control "
                          "character) at byte %zu",
                          bad);
            return -1;
        }
        return s_charge (ctx, s_chunk (vlen + 1), e); /* a NUL-terminated copy */
    case PROTOBUF_C_TYPE_BYTES:
        if (vlen > lim->max_bytes) {
            ln_error_set (e, "PB_TOO_LONG", "", "%zu bytes (limit %zu)", vlen, lim->max_bytes);
            return -1;
        }
        return vlen > 0 ? s_charge (ctx, s_chunk (vlen), e) : 0;
    case PROTOBUF_C_TYPE_MESSAGE: {
        if (depth + 1 > lim->max_depth) {
            ln_error_set (e, "PB_TOO_DEEP", "", "messages nested deeper than %u", lim->max_depth);
            return -1;
        }
        bool merges =
            f->label != PROTOBUF_C_LABEL_REPEATED && !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF);
        if (!merges || occurrences == 1) {
            s_seg_t one = {val, vlen};
            return s_wire (ctx, f->descriptor, &one, 1, depth + 1, e);
        }
        if (occurrences > 2)
            return 0; /* walked with the second */
        /* The second occurrence of a singular message: walk every
           occurrence of it in this instance as the one message protobuf-c
           makes of them (the first was also walked alone: its cost counts
           twice, which keeps the estimate an upper bound). */
        s_seg_t *merged = NULL;
        size_t n = s_collect (segs, nsegs, f->id, &merged);
        int rc = s_wire (ctx, f->descriptor, merged, n, depth + 1, e);
        free (merged);
        return rc;
    }
    default:
        return 0;
    }
}

/* Walk one logical instance of `desc` made of nsegs segments. */
static int
s_wire (s_wire_ctx_t *ctx, const ProtobufCMessageDescriptor *desc, const s_seg_t *segs,
        size_t nsegs, unsigned depth, ln_error_t *e)
{
    const ln_pbcheck_limits_t *lim = ctx->lim;
    size_t stack_counts[COUNTS_ON_STACK];
    size_t *count = NULL;
    int rc = -1;

    /* count[i]: elements of repeated field i, or occurrences of singular
       (not oneof) message field i, over the whole instance; set up when
       the first such field comes (many messages have none) */
#define S_COUNTS_READY                                                                             \
    do {                                                                                           \
        if (!count) {                                                                              \
            count = desc->n_fields > COUNTS_ON_STACK                                               \
                        ? ln_xcalloc (desc->n_fields, sizeof *count)                               \
                        : memset (stack_counts, 0, desc->n_fields * sizeof *count);                \
        }                                                                                          \
    } while (0)

    for (size_t s = 0; s < nsegs; s++) {
        const uint8_t *buf = segs[s].data;
        size_t size = segs[s].size, pos = 0, fields = 0, unknown = 0;
        /* each segment is one protobuf_c_message_unpack: the struct, and
           a required-field bitmap beyond 128 fields */
        if (s_charge (ctx, s_chunk (desc->sizeof_message), e) != 0 ||
            (desc->n_fields > 128 && s_charge (ctx, s_chunk ((desc->n_fields + 7) / 8), e) != 0))
            goto out;
        while (pos < size) {
            size_t vpos, vlen, index = 0;
            uint32_t number;
            int wt;
            if (s_next_field (buf, size, &pos, &number, &wt, &vpos, &vlen, e) != 0)
                goto out;
            fields++;
            const uint8_t *val = buf + vpos;
            const ProtobufCFieldDescriptor *f =
                protobuf_c_message_descriptor_get_field (desc, number);
            if (!f) {
                if (!lim->allow_unknown) {
                    s_set_unknown (e, number);
                    goto out;
                }
                /* protobuf-c keeps a copy (and a 24-byte record) of each */
                unknown++;
                if (s_charge (ctx, s_chunk (wt == WT_LEN ? vlen + 10 : 10) + 24, e) != 0)
                    goto out;
                continue;
            }
            size_t fi = 0, occurrences = 1;
            int want = ln_pbcheck_wire_type (f->type);
            if (f->label == PROTOBUF_C_LABEL_REPEATED) {
                S_COUNTS_READY;
                fi = (size_t)(f - desc->fields);
                index = count[fi];
            }
            if (wt != want && !(wt == WT_LEN && f->label == PROTOBUF_C_LABEL_REPEATED)) {
                ln_error_set (e, "PB_DECODE", "", "wrong wire type %d (expected %d)", wt, want);
                goto field_error;
            }
            if (f->label == PROTOBUF_C_LABEL_REPEATED) {
                size_t n = 1, alloc = 1;
                bool packed = wt == WT_LEN && want != WT_LEN;
                if (packed && s_packed_count (f->type, val, vlen, &n, &alloc, e) != 0) {
                    s_set_field (e, f->name); /* the run, not one element */
                    goto out;
                }
                count[fi] += n;
                if (count[fi] > lim->max_repeated) {
                    ln_error_set (e, "PB_TOO_MANY", "", "more than %zu elements",
                                  lim->max_repeated);
                    s_set_field (e, f->name); /* the whole field, as the message pass says */
                    goto out;
                }
                /* The field's array: its elements, and malloc's overhead
                   once (s_chunk (x) <= x + 32).  Each of the nsegs
                   segments allocates its own (at most the instance's
                   count) and each of the nsegs - 1 merges a concatenation
                   (at most the count again). */
                size_t bytes = alloc * s_elem_size (f->type) + (index == 0 ? 32 : 0);
                if (nsegs > 1)
                    bytes = s_mul (bytes, 2 * nsegs - 1);
                if (s_charge (ctx, bytes, e) != 0)
                    goto out;
                if (packed)
                    continue;
            }
            else if (f->type == PROTOBUF_C_TYPE_MESSAGE &&
                     !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) {
                S_COUNTS_READY;
                occurrences = ++count[(size_t)(f - desc->fields)];
            }
            if (wt != WT_LEN)
                continue;
            if (s_wire_value (ctx, f, val, vlen, segs, nsegs, occurrences, depth, e) != 0)
                goto field_error;
            continue;

        field_error:
            if (ctx->too_big)
                goto out; /* the whole message is too big, not one field */
            {
                const char *key = NULL;
                size_t key_len = 0;
                if (wt == WT_LEN && ln_pbcheck_is_map (f))
                    s_wire_map_key (val, vlen, &key, &key_len);
                s_prepend_field (e, f, index, key, key_len);
            }
            goto out;
        }
        /* protobuf-c's scan keeps 16 fields on the stack, then slabs of
           32-byte records that double: less than 64 bytes per field (and
           an allocation per slab); unknown fields: an array of records */
        if (fields > 16 && s_charge (ctx, fields * 64 + 32 * 16, e) != 0)
            goto out;
        if (unknown > 0 && s_charge (ctx, 32, e) != 0)
            goto out;
    }
    rc = 0;
out:
    if (count != stack_counts)
        free (count);
    return rc;
#undef S_COUNTS_READY
}

// --------------------------------------------------------------------------
// Message pass

/* What the message pass checks with.  `wire_checked`: the message was
   decoded from bytes that passed the wire pass, whose string checks are
   stricter (they see NULs), so strings need no second look. */
typedef struct {
    const ln_pbcheck_limits_t *lim;
    bool wire_checked;
} s_msg_ctx_t;

static int s_message (const ProtobufCMessage *msg, const s_msg_ctx_t *ctx, unsigned depth,
                      ln_error_t *e);

/* Check one value of field f stored at `member`.  Sets e with an empty or
   relative field on failure. */
static int
s_value (const ProtobufCFieldDescriptor *f, const void *member, const s_msg_ctx_t *ctx,
         unsigned depth, ln_error_t *e)
{
    const ln_pbcheck_limits_t *lim = ctx->lim;
    switch (f->type) {
    case PROTOBUF_C_TYPE_ENUM: {
        int value;
        memcpy (&value, member, sizeof value);
        if (!protobuf_c_enum_descriptor_get_value (f->descriptor, value)) {
            ln_error_set (e, "PB_BAD_ENUM", "", "%d is not a value of %s", value,
                          ((const ProtobufCEnumDescriptor *)f->descriptor)->name);
            return -1;
        }
        return 0;
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)member;
        if (!s || ctx->wire_checked)
            return 0;
        size_t len = strnlen (s, lim->max_string + 1);
        if (len > lim->max_string) {
            ln_error_set (e, "PB_TOO_LONG", "", "string longer than %zu bytes", lim->max_string);
            return -1;
        }
        size_t bad;
        if (ln_utf8_check (s, len, LN_UTF8_TEXT, &bad) != 0) {
            ln_error_set (e, "PB_INVALID_UTF8", "",
                          "not valid UTF-8 text (bad encoding or control character) at byte %zu",
                          bad);
            return -1;
        }
        return 0;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = member;
        if (b->len > lim->max_bytes) {
            ln_error_set (e, "PB_TOO_LONG", "", "%zu bytes (limit %zu)", b->len, lim->max_bytes);
            return -1;
        }
        return 0;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)member;
        if (!sub)
            return 0;
        if (depth + 1 > lim->max_depth) {
            ln_error_set (e, "PB_TOO_DEEP", "", "messages nested deeper than %u", lim->max_depth);
            return -1;
        }
        return s_message (sub, ctx, depth + 1, e);
    }
    default:
        return 0;
    }
}

/* Key of a map entry, for comparison and for error paths. */
static const void *
s_entry_key (const ProtobufCMessage *entry)
{
    return (const char *)entry + entry->descriptor->fields[0].offset;
}

static int
s_key_cmp (const ProtobufCFieldDescriptor *kf, const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    const void *ka = s_entry_key (a), *kb = s_entry_key (b);
    if (kf->type == PROTOBUF_C_TYPE_STRING) {
        const char *sa = *(char *const *)ka, *sb = *(char *const *)kb;
        return strcmp (sa ? sa : "", sb ? sb : "");
    }
    return memcmp (ka, kb, ln_pbcheck_elem_size (kf->type));
}

typedef struct {
    const ProtobufCMessage *entry;
    size_t index;
} s_entry_t;

static int
s_entry_sort_cmp (const void *a, const void *b, void *arg)
{
    const s_entry_t *ea = a, *eb = b;
    int c = s_key_cmp (arg, ea->entry, eb->entry);
    if (c == 0)
        c = ea->index < eb->index ? -1 : ea->index > eb->index;
    return c;
}

/* Index of an entry whose key occurred at a lower index already, or -1. */
static long
s_find_duplicate (const ProtobufCFieldDescriptor *kf, ProtobufCMessage *const *entries, size_t n)
{
    long dup = -1;
    if (n <= SMALL_MAP) {
        for (size_t j = 1; j < n && dup < 0; j++)
            for (size_t i = 0; i < j; i++)
                if (entries[i] && entries[j] && s_key_cmp (kf, entries[i], entries[j]) == 0) {
                    dup = (long)j;
                    break;
                }
        return dup;
    }
    s_entry_t *sorted = malloc (n * sizeof *sorted);
    if (!sorted)
        abort (); /* out of memory: docs/architecture.md */
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (entries[i])
            sorted[m++] = (s_entry_t){entries[i], i};
    qsort_r (sorted, m, sizeof *sorted, s_entry_sort_cmp, (void *)kf);
    for (size_t i = 1; i < m; i++)
        if (s_key_cmp (kf, sorted[i - 1].entry, sorted[i].entry) == 0) {
            /* the later occurrence of the earliest duplicated key */
            if (dup < 0 || sorted[i].index < (size_t)dup)
                dup = (long)sorted[i].index;
        }
    free (sorted);
    return dup;
}

/* The key of an entry as text for an error path, when it is a string. */
static void
s_entry_key_text (const ProtobufCFieldDescriptor *f, const ProtobufCMessage *entry,
                  const char **key, size_t *key_len)
{
    *key = NULL;
    *key_len = 0;
    if (!entry || !ln_pbcheck_is_map (f))
        return;
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    if (ed->fields[0].type != PROTOBUF_C_TYPE_STRING)
        return;
    const char *k = *(char *const *)s_entry_key (entry);
    if (k) {
        *key = k;
        *key_len = strnlen (k, PLAIN_KEY_MAX + 1);
    }
}

static int
s_message (const ProtobufCMessage *msg, const s_msg_ctx_t *ctx, unsigned depth, ln_error_t *e)
{
    const ln_pbcheck_limits_t *lim = ctx->lim;
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    const char *base = (const char *)msg;

    if (msg->n_unknown_fields > 0 && !lim->allow_unknown) {
        s_set_unknown (e, msg->unknown_fields ? msg->unknown_fields[0].tag : 0);
        return -1;
    }
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        const void *member = base + f->offset;

        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t which;
            memcpy (&which, base + f->quantifier_offset, sizeof which);
            if (which != f->id)
                continue;
        }
        else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
                 f->type != PROTOBUF_C_TYPE_MESSAGE) {
            protobuf_c_boolean has;
            memcpy (&has, base + f->quantifier_offset, sizeof has);
            if (!has)
                continue;
        }
        if (f->label != PROTOBUF_C_LABEL_REPEATED) {
            if (s_value (f, member, ctx, depth, e) != 0) {
                s_prepend_field (e, f, 0, NULL, 0);
                return -1;
            }
            continue;
        }
        size_t n;
        memcpy (&n, base + f->quantifier_offset, sizeof n);
        if (n > lim->max_repeated) {
            ln_error_set (e, "PB_TOO_MANY", "", "%zu elements (limit %zu)", n, lim->max_repeated);
            s_set_field (e, f->name); /* the whole field, not one element */
            return -1;
        }
        const char *array = *(char *const *)member;
        size_t size = ln_pbcheck_elem_size (f->type);
        if (n > 0 && !array)
            continue; /* only a locally built message can be like this */
        for (size_t k = 0; k < n; k++) {
            if (s_value (f, array + k * size, ctx, depth, e) != 0) {
                const char *key;
                size_t key_len;
                s_entry_key_text (f,
                                  f->type == PROTOBUF_C_TYPE_MESSAGE
                                      ? *(ProtobufCMessage *const *)(array + k * size)
                                      : NULL,
                                  &key, &key_len);
                s_prepend_field (e, f, k, key, key_len);
                return -1;
            }
        }
        if (ln_pbcheck_is_map (f)) {
            const ProtobufCMessageDescriptor *ed = f->descriptor;
            ProtobufCMessage *const *entries = (ProtobufCMessage *const *)array;
            long dup = s_find_duplicate (&ed->fields[0], entries, n);
            if (dup >= 0) {
                const char *key;
                size_t key_len;
                ln_error_set (e, "PB_DUPLICATE_KEY", "", "map key occurs more than once");
                s_entry_key_text (f, entries[dup], &key, &key_len);
                s_prepend_field (e, f, (size_t)dup, key, key_len);
                return -1;
            }
        }
    }
    return 0;
}

// --------------------------------------------------------------------------
// Public

static void
s_prefix (ln_error_t *e, const char *prefix)
{
    if (prefix && *prefix)
        s_prepend (e, prefix);
}

/* The wire pass with a budget (SIZE_MAX: none); *cost gets the estimate. */
static int
s_wire_top (const ProtobufCMessageDescriptor *desc, const void *data, size_t size,
            const ln_pbcheck_limits_t *lim, size_t budget, const char *prefix, ln_error_t *err,
            size_t *cost)
{
    ln_error_t e;
    ln_error_clear (&e);
    if (!desc || (!data && size > 0)) {
        ln_error_set (err, "PB_DECODE", prefix, "no message");
        return -1;
    }
    s_wire_ctx_t ctx = {.lim = lim, .budget = budget};
    s_seg_t top = {data, size};
    int rc = s_wire (&ctx, desc, &top, 1, 0, &e);
    if (cost)
        *cost = ctx.cost;
    if (rc == 0)
        return 0;
    s_prefix (&e, prefix);
    if (err)
        *err = e;
    return -1;
}

int
ln_pbcheck_wire (const ProtobufCMessageDescriptor *desc, const void *data, size_t size,
                 const ln_pbcheck_limits_t *limits, const char *prefix, ln_error_t *err)
{
    const ln_pbcheck_limits_t *lim = limits ? limits : &ln_pbcheck_default_limits;
    size_t budget = s_mul (size, lim->alloc_per_byte);
    budget = budget > SIZE_MAX - lim->alloc_base ? SIZE_MAX : budget + lim->alloc_base;
    return s_wire_top (desc, data, size, lim, budget, prefix, err, NULL);
}

size_t
ln_pbcheck_alloc_estimate (const ProtobufCMessageDescriptor *desc, const void *data, size_t size,
                           const ln_pbcheck_limits_t *limits)
{
    size_t cost = 0;
    if (s_wire_top (desc, data, size, limits ? limits : &ln_pbcheck_default_limits, SIZE_MAX, NULL,
                    NULL, &cost) != 0)
        return SIZE_MAX;
    return cost;
}

static int
s_check_message (const ProtobufCMessage *msg, const ln_pbcheck_limits_t *limits, bool wire_checked,
                 const char *prefix, ln_error_t *err)
{
    ln_error_t e;
    ln_error_clear (&e);
    if (!msg || !msg->descriptor) {
        ln_error_set (err, "PB_DECODE", prefix, "no message");
        return -1;
    }
    s_msg_ctx_t ctx = {limits ? limits : &ln_pbcheck_default_limits, wire_checked};
    if (s_message (msg, &ctx, 0, &e) == 0)
        return 0;
    s_prefix (&e, prefix);
    if (err)
        *err = e;
    return -1;
}

int
ln_pbcheck_message (const ProtobufCMessage *msg, const ln_pbcheck_limits_t *limits,
                    const char *prefix, ln_error_t *err)
{
    return s_check_message (msg, limits, false, prefix, err);
}

ProtobufCMessage *
ln_pbcheck_unpack (const ProtobufCMessageDescriptor *desc, const void *data, size_t size,
                   const ln_pbcheck_limits_t *limits, const char *prefix, ln_error_t *err)
{
    ProtobufCMessage *msg = NULL;

    if (ln_pbcheck_wire (desc, data, size, limits, prefix, err) != 0)
        goto out;
    msg = protobuf_c_message_unpack (desc, NULL, size, data);
    if (!msg) {
        ln_error_set (err, "PB_DECODE", prefix, "protobuf decoding failed");
        goto out;
    }
    if (s_check_message (msg, limits, true, prefix, err) != 0) {
        protobuf_c_message_free_unpacked (msg, NULL);
        msg = NULL;
    }
out:
    return msg;
}
