#!/bin/sh
# The postgres service's entrypoint: runs as root, then hands over to the
# image's own docker-entrypoint.sh.
#
# Each node's pgpass file is mode 0600 and owned by the lantern user (uid
# 10001), as libpq in the node requires; the init script that creates the
# node roles (initdb/10-lantern-nodes.sh) runs as postgres and cannot read
# it.  So, only when there is no cluster yet, copy the secrets to a
# directory only postgres can read; the init script deletes each copy once
# it has set the password.
set -eu
LANTERN_INITDB_SECRETS=/run/lantern-initdb
export LANTERN_INITDB_SECRETS
if [ "$(id -u)" = 0 ] && [ ! -s "${PGDATA:?}/PG_VERSION" ]; then
    install -d -o postgres -g postgres -m 0700 "$LANTERN_INITDB_SECRETS"
    for f in /run/secrets/*_pgpass; do
        [ -f "$f" ] || continue
        install -o postgres -g postgres -m 0600 "$f" "$LANTERN_INITDB_SECRETS/${f##*/}"
    done
fi
exec docker-entrypoint.sh "$@"
