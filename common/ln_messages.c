/*  ln_messages: see ln_messages.h.  The table itself is generated
    (ln_messages_table, $(BUILD)/gen/ln_messages_table.c); this file only
    searches it.  A few hundred messages at most: a linear search by name is
    fast enough for a command's type URL and keeps this free of state. */
#include "ln_messages.h"

#include <stdio.h>
#include <string.h>

extern const ProtobufCMessageDescriptor *const ln_messages_table[];

const ProtobufCMessageDescriptor *
ln_messages_find (const char *full_name)
{
    if (!full_name)
        return NULL;
    for (size_t i = 0; ln_messages_table[i]; i++)
        if (strcmp (ln_messages_table[i]->name, full_name) == 0)
            return ln_messages_table[i];
    return NULL;
}

const ProtobufCMessageDescriptor *
ln_messages_find_url (const char *type_url)
{
    if (!type_url)
        return NULL;
    const char *slash = strrchr (type_url, '/');
    return ln_messages_find (slash ? slash + 1 : type_url);
}

int
ln_messages_type_url (const ProtobufCMessageDescriptor *desc, char *out, size_t size)
{
    int n = snprintf (out, size, "%s%s", LN_MESSAGES_TYPE_URL_PREFIX, desc->name);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

const ProtobufCMessageDescriptor *const *
ln_messages_all (size_t *count)
{
    if (count) {
        size_t n = 0;
        while (ln_messages_table[n])
            n++;
        *count = n;
    }
    return ln_messages_table;
}
