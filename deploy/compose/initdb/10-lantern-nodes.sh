#!/usr/bin/env bash
# The database side of the Lantern nodes in docker-compose: run by the
# postgres image once, when it creates the cluster (it is mounted into
# /docker-entrypoint-initdb.d), as the postgres user against $POSTGRES_DB.
#
# For every node NODE listed below, two login roles with the passwords from
# their pgpass files (one line *:*:lantern:ROLE:PASSWORD each, the docker
# secrets NODE_owner_pgpass and NODE_pgpass):
#   NODE_owner  owns the schema NODE and migrates it (the one-shot service
#               NODE-migrate runs `lantern-intake --migrate` (or
#               lantern-triage) as it, which
#               also grants the runtime role its rights);
#   NODE        the runtime role the node serves as: owns nothing.
# Both may connect to this database only; no role may create in public.
# postgres-entrypoint.sh put readable copies of the pgpass files in
# $LANTERN_INITDB_SECRETS; they are deleted here once used.  The same
# statements, by hand, add a node to a cluster that already exists
# (docs/operations.md, "Adding a node to a running region").
set -euo pipefail

NODES=(intake_venlo intake_politie triage)
secrets=${LANTERN_INITDB_SECRETS:-/run/lantern-initdb}
db=${POSTGRES_DB:?}
psql=(psql -X -q -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:?}" --dbname "$db")

"${psql[@]}" <<SQL
REVOKE ALL ON DATABASE "$db" FROM PUBLIC;
REVOKE CONNECT ON DATABASE postgres FROM PUBLIC;
REVOKE CONNECT ON DATABASE template1 FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL

# The password of ROLE from its pgpass copy (checked), on stdout.
password_of() { # role
    local f="$secrets/${1}_pgpass" user password
    if [ ! -r "$f" ]; then
        echo "lantern initdb: $f is missing: create deploy/secrets/$1.pgpass (deploy/secrets/README.md)" >&2
        exit 1
    fi
    IFS=: read -r _ _ _ user password <"$f"
    if [ "$user" != "$1" ] || ! [[ "$password" =~ ^[A-Za-z0-9]{16,128}$ ]]; then
        echo "lantern initdb: $f must be one line *:*:$db:$1:PASSWORD (16-128 letters and digits)" >&2
        exit 1
    fi
    printf '%s' "$password"
}

for node in "${NODES[@]}"; do
    owner_pw=$(password_of "${node}_owner")
    runtime_pw=$(password_of "$node")
    "${psql[@]}" <<SQL
CREATE ROLE ${node}_owner LOGIN PASSWORD '$owner_pw';
CREATE ROLE $node LOGIN PASSWORD '$runtime_pw';
CREATE SCHEMA $node AUTHORIZATION ${node}_owner;
GRANT CONNECT ON DATABASE "$db" TO ${node}_owner, $node;
SQL
    rm -f "$secrets/${node}_pgpass" "$secrets/${node}_owner_pgpass"
    echo "lantern initdb: roles ${node}_owner (owns schema $node) and $node (runtime)"
done
