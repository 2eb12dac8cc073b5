#!/bin/sh
# Entrypoint of docker/postgres-standin.Dockerfile: initialises the cluster on first start
# (user, password and database from POSTGRES_USER, POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE,
# POSTGRES_DB, as the upstream image), then runs the server.
set -eu
BIN=/usr/lib/postgresql/15/bin
as_pg() { setpriv --reuid postgres --regid postgres --init-groups "$@"; }
mkdir -p "$PGDATA"
chown postgres:postgres "$PGDATA"
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pw=$(mktemp)
    if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
        # the password's first line, as initdb --pwfile reads it
        head -n 1 "$POSTGRES_PASSWORD_FILE" > "$pw"
    else
        printf '%s' "$POSTGRES_PASSWORD" > "$pw"
    fi
    chown postgres "$pw"
    as_pg "$BIN/initdb" -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pw" --auth-local=trust --auth-host=scram-sha-256
    rm -f "$pw"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    echo "CREATE DATABASE \"$POSTGRES_DB\";" | as_pg "$BIN/postgres" --single -D "$PGDATA" postgres >/dev/null
fi
exec setpriv --reuid postgres --regid postgres --init-groups "$BIN/postgres" -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/tmp
