#!/usr/bin/env bash
# The database side of the Lantern nodes in docker-compose: run by the
# postgres image once, when it creates the cluster (it is mounted into
# /docker-entrypoint-initdb.d), as the postgres user against $POSTGRES_DB.
#
# For every node NODE listed below: a login role NODE with the password from
# its pgpass file (one line *:*:lantern:NODE:PASSWORD, the docker secret the
# node itself reads), and a schema NODE owned by that role.  The role owns
# its schema and nothing else: no CREATE on public, CONNECT to this database
# only.  postgres-entrypoint.sh put readable copies of the pgpass files in
# $LANTERN_INITDB_SECRETS; they are deleted here once used.
#
# To add a node to a cluster that already exists, run the same statements by
# hand (docs/operations.md, "docker-compose").
set -euo pipefail

NODES=(intake_venlo intake_politie)
secrets=${LANTERN_INITDB_SECRETS:-/run/lantern-initdb}
db=${POSTGRES_DB:?}
psql=(psql -X -q -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:?}" --dbname "$db")

"${psql[@]}" <<SQL
REVOKE ALL ON DATABASE "$db" FROM PUBLIC;
REVOKE CONNECT ON DATABASE postgres FROM PUBLIC;
REVOKE CONNECT ON DATABASE template1 FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL

for node in "${NODES[@]}"; do
    f="$secrets/${node}_pgpass"
    if [ ! -r "$f" ]; then
        echo "lantern initdb: $f is missing: create deploy/secrets/$node.pgpass (docs/operations.md)" >&2
        exit 1
    fi
    IFS=: read -r _ _ _ user password <"$f"
    if [ "$user" != "$node" ] || ! [[ "$password" =~ ^[A-Za-z0-9]{16,128}$ ]]; then
        echo "lantern initdb: $f must be one line *:*:$db:$node:PASSWORD (16-128 letters and digits)" >&2
        exit 1
    fi
    "${psql[@]}" <<SQL
CREATE ROLE $node LOGIN PASSWORD '$password';
CREATE SCHEMA $node AUTHORIZATION $node;
GRANT CONNECT ON DATABASE "$db" TO $node;
SQL
    rm -f "$f"
    echo "lantern initdb: role and schema $node"
done
