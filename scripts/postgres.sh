# Sourced by scripts/test.sh: gives the tests a throwaway PostgreSQL server and exports
# BRICKWIRE_TEST_DATABASE_URL (a superuser URL; each test creates its own database) and
# BRICKWIRE_REQUIRE_POSTGRES=1 (so the PostgreSQL half of a suite fails instead of skipping).
# Installs Debian's postgresql when no server binaries are found. The server lives in a
# temporary directory, listens on loopback only, and is stopped when the calling shell exits.
# An already set BRICKWIRE_TEST_DATABASE_URL is used as it is.

if [ -z "${BRICKWIRE_TEST_DATABASE_URL:-}" ]; then
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
    sudo=""
    if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then sudo=sudo; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  fi
  pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/brickwire-pg.XXXXXX")
  pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  # initdb refuses to run as root: then the server runs as Debian's postgres user.
  as_owner=()
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$pg_dir"
    as_owner=(runuser -u postgres --)
  fi
  "${as_owner[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust -E UTF8 >/dev/null
  "${as_owner[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $pg_dir -c max_connections=300 -c fsync=off" \
    start >/dev/null
  trap '"${as_owner[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$pg_dir"' EXIT
  export BRICKWIRE_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"
  echo "PostgreSQL for the tests: $BRICKWIRE_TEST_DATABASE_URL ($("$pg_bin/postgres" --version))"
fi
export BRICKWIRE_REQUIRE_POSTGRES=1
