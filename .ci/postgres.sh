# A throwaway PostgreSQL cluster for the tests, sourced by .ci/run (and usable by hand:
# `source .ci/postgres.sh && start_postgres`). Installs Debian's server package when no
# initdb is found, creates the cluster under the target directory (or a temporary directory
# when the server's user cannot reach it), starts it on loopback on its own port with its
# socket beside it, creates the database and exports OPSLEDGER_PG_URL. The server also accepts
# TLS (ssl=on) with a certificate for 127.0.0.1 and localhost signed by a throwaway authority
# made here with openssl; OPSLEDGER_PG_CA names that authority's certificate (the TLS tests
# verify the server against it). stop_postgres stops it and removes the cluster.

pg_bin_dir() {
  local initdb
  initdb="$(command -v initdb 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$initdb" ] && dirname "$(realpath "$initdb")"
}

# Runs a command as the cluster's owner (the server refuses to run as root).
pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$PG_OWNER" -- "$@"
  else
    "$@"
  fi
}

start_postgres() {
  local bin
  bin="$(pg_bin_dir || true)"
  if [ -z "$bin" ]; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "PostgreSQL is not installed and installing it needs root (apt-get install postgresql)" >&2
      return 1
    fi
    echo "installing PostgreSQL (Debian's package)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    bin="$(pg_bin_dir)"
  fi
  PG_OWNER="$(id -un)"
  if [ "$(id -u)" -eq 0 ]; then
    PG_OWNER=postgres
    if ! id "$PG_OWNER" >/dev/null 2>&1; then
      PG_OWNER=opsledger-ci
      id "$PG_OWNER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_OWNER"
    fi
  fi
  # Its own port: the first free one from 55432 (or OPSLEDGER_PG_PORT).
  local port="${OPSLEDGER_PG_PORT:-55432}"
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    port=$((port + 1))
  done
  PG_CLUSTER="$(realpath -m "${CARGO_TARGET_DIR:-target}")/ci-postgres"
  rm -rf "$PG_CLUSTER"
  mkdir -p "$PG_CLUSTER"
  [ "$(id -u)" -eq 0 ] && chown "$PG_OWNER" "$PG_CLUSTER"
  if ! pg_as_owner test -w "$PG_CLUSTER"; then
    # The owner cannot reach the target directory (a home directory of mode 700).
    rm -rf "$PG_CLUSTER"
    PG_CLUSTER="$(mktemp -d /tmp/opsledger-ci-postgres.XXXXXX)"
    [ "$(id -u)" -eq 0 ] && chown "$PG_OWNER" "$PG_CLUSTER"
  fi
  pg_as_owner "$bin/initdb" --pgdata="$PG_CLUSTER/data" --username=opsledger --auth=trust \
    --encoding=UTF8 --locale=C >"$PG_CLUSTER/initdb.log" 2>&1 \
    || { cat "$PG_CLUSTER/initdb.log" >&2; return 1; }
  # Unix socket paths are limited to about 100 bytes: a deep target directory gets a short one.
  local socket="$PG_CLUSTER/socket"
  if [ "${#socket}" -gt 80 ]; then
    socket="$(mktemp -d /tmp/opsledger-pg-socket.XXXXXX)"
    [ "$(id -u)" -eq 0 ] && chown "$PG_OWNER" "$socket"
    PG_SOCKET_DIR="$socket"
  fi
  pg_as_owner mkdir -p "$socket"
  # TLS: a throwaway authority and a server certificate for the loopback names.
  if ! command -v openssl >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "openssl is not installed and installing it needs root (apt-get install openssl)" >&2
      return 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
  fi
  local tls="$PG_CLUSTER/tls"
  mkdir -p "$tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=opsledger test authority" \
    -keyout "$tls/ca.key" -out "$tls/ca.crt" >/dev/null 2>&1 || return 1
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$tls/server.key" -out "$tls/server.csr" >/dev/null 2>&1 || return 1
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$tls/san.ext"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial \
    -days 2 -extfile "$tls/san.ext" -out "$tls/server.crt" >/dev/null 2>&1 || return 1
  chmod 600 "$tls/server.key"
  [ "$(id -u)" -eq 0 ] && chown -R "$PG_OWNER" "$tls"
  pg_as_owner "$bin/pg_ctl" --pgdata="$PG_CLUSTER/data" --log="$PG_CLUSTER/server.log" --wait \
    --options="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$socket -c max_connections=300 -c fsync=on -c ssl=on -c ssl_cert_file=$tls/server.crt -c ssl_key_file=$tls/server.key" \
    start >/dev/null || { cat "$PG_CLUSTER/server.log" >&2; return 1; }
  export OPSLEDGER_PG_CA="$tls/ca.crt"
  PG_BIN="$bin"
  pg_as_owner "$bin/createdb" --host=127.0.0.1 --port="$port" --username=opsledger opsledger || return 1
  export OPSLEDGER_PG_URL="postgres://opsledger@127.0.0.1:$port/opsledger"
  # How a test restarts the server (the soak restarts it once under load).
  export OPSLEDGER_PG_RESTART="runuser -u $PG_OWNER -- $bin/pg_ctl --pgdata=$PG_CLUSTER/data --mode=fast --wait restart --log=$PG_CLUSTER/server.log"
  [ "$(id -u)" -eq 0 ] || OPSLEDGER_PG_RESTART="$bin/pg_ctl --pgdata=$PG_CLUSTER/data --mode=fast --wait restart --log=$PG_CLUSTER/server.log"
  echo "$("$bin/postgres" --version) on 127.0.0.1:$port ($PG_CLUSTER): OPSLEDGER_PG_URL=$OPSLEDGER_PG_URL"
}

stop_postgres() {
  if [ -n "${PG_CLUSTER:-}" ] && [ -d "$PG_CLUSTER/data" ]; then
    pg_as_owner "$PG_BIN/pg_ctl" --pgdata="$PG_CLUSTER/data" --mode=fast --wait stop >/dev/null 2>&1 || true
    rm -rf "$PG_CLUSTER"
  fi
  if [ -n "${PG_SOCKET_DIR:-}" ]; then
    rm -rf "$PG_SOCKET_DIR"
  fi
}
