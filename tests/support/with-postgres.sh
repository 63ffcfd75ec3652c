#!/usr/bin/env bash
# Runs "$@" with a throw-away PostgreSQL server on 127.0.0.1 and DIA_TEST_POSTGRES_URL set.
# Without PostgreSQL binaries the command still runs, and the PostgreSQL tests skip.
set -u
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
    echo "with-postgres: no PostgreSQL server found: PostgreSQL tests will be skipped" >&2
    exec "$@"
fi
dir=$(mktemp -d /tmp/dia-pg.XXXXXX)
as_user=()
if [ "$(id -u)" = 0 ]; then
    # initdb refuses to run as root.
    id postgres >/dev/null 2>&1 || useradd -r -M postgres
    chown postgres "$dir"
    as_user=(runuser -u postgres --)
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() { "${as_user[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1; rm -rf "$dir"; }
trap cleanup EXIT
if "${as_user[@]}" "$bindir/initdb" -D "$dir/data" -U dia --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 \
   && "${as_user[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200 -c fsync=off" start >/dev/null; then
    export DIA_TEST_POSTGRES_URL="postgresql+psycopg://dia:secret@127.0.0.1:$port/postgres"
    echo "with-postgres: PostgreSQL on 127.0.0.1:$port" >&2
else
    echo "with-postgres: PostgreSQL did not start ($(tail -n 1 "$dir"/*.log 2>/dev/null)): PostgreSQL tests will be skipped" >&2
fi
"$@"
