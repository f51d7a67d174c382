#!/usr/bin/env bash
# The embedded development/test database of this checkout: a PostgreSQL 15 cluster with
# TimescaleDB and pgvector on loopback, with TLS, and on demand a PgBouncer and a streaming
# replica in front of / behind it. Everything it makes lives under .local/ (or, when the
# postgres user cannot enter the checkout, under /var/tmp/arc-eval-db-<hash>/, linked from .local/).
#
#   scripts/localdb.sh start      install what is missing (asking first), start, print the URL
#   scripts/localdb.sh url        print the URL of the running cluster
#   scripts/localdb.sh env        start everything the tests use (and install promtool); print
#                                 `export` lines
#   scripts/localdb.sh pgbouncer  start PgBouncer (transaction mode) in front; print its URL
#   scripts/localdb.sh replica    start a streaming replica (pg_basebackup -R); print its URL
#   scripts/localdb.sh replica-stop  stop the replica (the tests of replica loss use it)
#   scripts/localdb.sh status     where it lives, ports, edition, extension versions
#   scripts/localdb.sh stop       stop all of it (the data stays)
#
# Ports: each checkout finds free loopback ports (from 55432, 56432, 57432 up), reuses its
# running cluster, and records them in .local/*.port; ARC_LOCALDB_PORT pins the cluster's port
# (a taken pinned port is an error naming the process holding it).
# Packages: before apt installs anything the script says what and what it upgrades, and asks on
# a terminal; CI=true or ARC_LOCALDB_YES=1 proceed without asking. Build output goes to
# .local/build.log; only a failure prints its tail.
# With a Docker engine (and no ARC_NO_DOCKER) the cluster is docker/compose.yml's
# timescale/timescaledb-ha container instead, one compose project per checkout.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
STATE=${ARC_LOCAL_DIR:-$here/.local}
PG_BIN=${ARC_PG_BIN:-/usr/lib/postgresql/15/bin}
DATA=${ARC_DB_DIR:-$STATE/pgdata}
RUN_AS=postgres
DB_USER=arc
DB_PASSWORD=arc
PINNED_PORT=${ARC_LOCALDB_PORT:-${ARC_DB_PORT:-}}
CHECKOUT_ID=$(printf '%s' "$STATE" | sha1sum | cut -c1-12)
mkdir -p "$STATE"
BUILD_LOG=$STATE/build.log
[ -L "$DATA" ] && DATA=$(readlink "$DATA")

log() { printf '[localdb] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
as_pg() { (cd / && runuser -u "$RUN_AS" -- "$@"); }
docker_engine() { [ -z "${ARC_NO_DOCKER:-}" ] && command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }
url_for() { printf 'postgresql://%s:%s@127.0.0.1:%s/postgres%s\n' "$DB_USER" "$DB_PASSWORD" "$1" "${2:-}"; }

# ---------------------------------------------------------------------------------- ports
port_free() {
  python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
PY
}

# "PID (command)" of the process listening on 127.0.0.1:$1, when it can be found.
port_holder() {
  python3 - "$1" <<'PY'
import os, sys
port = int(sys.argv[1])
inodes = set()
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        lines = open(table).read().splitlines()[1:]
    except OSError:
        continue
    for line in lines:
        parts = line.split()
        if int(parts[1].rsplit(":", 1)[1], 16) == port and parts[3] == "0A":
            inodes.add(parts[9])
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:[") and target[8:-1] in inodes:
                name = open(f"/proc/{pid}/comm").read().strip()
                print(f"PID {pid} ({name})")
                sys.exit(0)
    except OSError:
        continue
PY
}

taken() {
  local who; who=$(port_holder "$1" || true)
  die "port $1 (ARC_LOCALDB_PORT) is taken${who:+ by $who}: free it or pin another port"
}

# pick_port NAME FIRST [PINNED]: the recorded port if free, else the first free one from FIRST.
pick_port() {
  local name=$1 first=$2 pinned=${3:-} file=$STATE/$1.port p
  if [ -n "$pinned" ]; then
    port_free "$pinned" || taken "$pinned"
    p=$pinned
  elif [ -f "$file" ] && port_free "$(cat "$file")"; then
    p=$(cat "$file")
  else
    p=$first
    while ! port_free "$p"; do
      p=$((p + 1))
      [ "$p" -lt $((first + 200)) ] || die "no free port from $first to $((first + 200)) for $name"
    done
  fi
  echo "$p" >"$file"
  echo "$p"
}

# The port a running cluster listens on (line 4 of postmaster.pid).
running_port() { sed -n 4p "$1/postmaster.pid" 2>/dev/null; }
running() { [ -f "$1/PG_VERSION" ] && as_pg "$PG_BIN/pg_ctl" -D "$1" status >/dev/null 2>&1; }

# ------------------------------------------------------------------------------- packages
quietly() {  # quietly "what" command...: output to the build log; its tail only on failure
  local what=$1; shift
  printf '\n=== %s: %s\n' "$(date -u +%FT%TZ)" "$what" >>"$BUILD_LOG"
  if ! "$@" >>"$BUILD_LOG" 2>&1; then
    log "$what failed; the last lines of $BUILD_LOG:"
    tail -25 "$BUILD_LOG" >&2
    exit 1
  fi
}

consent() {
  if [ "${CI:-}" = "true" ] || [ "${ARC_LOCALDB_YES:-}" = "1" ]; then return 0; fi
  if (exec </dev/tty) 2>/dev/null; then
    local answer
    printf '[localdb] proceed? [y/N] ' >/dev/tty
    read -r answer </dev/tty || answer=""
    case "$answer" in [yY]*) return 0 ;; esac
    die "nothing installed"
  fi
  die "nothing installed: no terminal to ask on. Rerun with ARC_LOCALDB_YES=1 to allow it (CI=true does too)"
}

# Which of the packages would be newly installed or upgraded, and what else they pull in.
describe_plan() {
  local plan
  plan=$(apt-get -s install --no-install-recommends "$@" 2>/dev/null | awk '/^Inst /') || true
  if [ -z "$plan" ]; then
    log "  (the package lists are refreshed first; apt decides the exact versions then)"
    return 0
  fi
  log "  apt would install: $(printf '%s\n' "$plan" | awk '$3 !~ /^\[/ {print $2}' | tr '\n' ' ')"
  local upgrades
  upgrades=$(printf '%s\n' "$plan" | awk '$3 ~ /^\[/ {gsub(/[][]/, "", $3); gsub(/[(]/, "", $4); print $2 " " $3 " -> " $4}')
  if [ -n "$upgrades" ]; then
    log "  and UPGRADE (a running server of these packages is restarted by apt):"
    printf '%s\n' "$upgrades" | sed 's/^/[localdb]     /' >&2
  fi
}

apt_get_install() {
  [ $# -eq 0 ] && return 0
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends "$@" >>"$BUILD_LOG" 2>&1; then
    quietly "apt-get update" apt-get update -q
    quietly "apt-get install $*" apt-get install -y -q --no-install-recommends "$@"
  fi
}

missing_packages() { local p; for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done; }

apt_install() {
  local missing; mapfile -t missing < <(missing_packages "$@")
  [ ${#missing[@]} -eq 0 ] && return 0
  log "needs Debian packages: ${missing[*]}"
  describe_plan "${missing[@]}"
  consent
  apt_get_install "${missing[@]}"
}

# Download one trixie source package into $2 without touching the system's apt sources.
fetch_trixie_source() {
  local pkg=$1 dest=$2 work uri
  work=$(mktemp -d)
  uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$uri" ] || die "cannot find a Debian mirror in the apt configuration"
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri trixie main" >"$work/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
              -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -q)
  quietly "fetch the $pkg source index" apt-get "${opts[@]}" update
  (cd "$dest" && quietly "download the $pkg source" apt-get "${opts[@]}" source "$pkg")
  rm -rf "$work"
}

have_extension() {
  [ -x "$PG_BIN/pg_config" ] && [ -f "$("$PG_BIN/pg_config" --sharedir)/extension/$1.control" ]
}

build_pgvector() {
  log "building pgvector from Debian's source package (log: $BUILD_LOG)"
  local src; src=$(mktemp -d)
  fetch_trixie_source pgvector "$src"
  local dir; dir=$(find "$src" -maxdepth 1 -mindepth 1 -type d -name 'pgvector-*' | head -1)
  quietly "build pgvector" make -C "$dir" PG_CONFIG="$PG_BIN/pg_config" OPTFLAGS="" -j"$(nproc)"
  quietly "install pgvector" make -C "$dir" PG_CONFIG="$PG_BIN/pg_config" install
  rm -rf "$src"
}

build_timescaledb() {
  log "building TimescaleDB (Apache-2 edition) from Debian's source package (log: $BUILD_LOG)"
  local src; src=$(mktemp -d)
  fetch_trixie_source timescaledb "$src"
  local dir; dir=$(find "$src" -maxdepth 1 -mindepth 1 -type d -name 'timescaledb-*' | head -1)
  # The source package is no git checkout: its version script's `git` probes only print noise.
  (cd "$dir" && quietly "configure TimescaleDB" env GIT_DIR=/nonexistent ./bootstrap \
      -DPG_CONFIG="$PG_BIN/pg_config" -DAPACHE_ONLY=ON -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF \
      -DWARNINGS_AS_ERRORS=OFF -DGENERATE_DOWNGRADE_SCRIPT=OFF -DCMAKE_BUILD_TYPE=Release)
  quietly "build TimescaleDB" make -C "$dir/build" -j"$(nproc)"
  quietly "install TimescaleDB" make -C "$dir/build" install
  rm -rf "$src"
}

SERVER_PACKAGES=(postgresql-15 postgresql-contrib postgresql-server-dev-15 cmake dpkg-dev gcc make
                 libssl-dev libkrb5-dev debian-archive-keyring openssl python3)

install_server() {
  local missing build=()
  mapfile -t missing < <(missing_packages "${SERVER_PACKAGES[@]}")
  have_extension vector || build+=(pgvector)
  have_extension timescaledb || build+=(TimescaleDB)
  [ ${#missing[@]} -eq 0 ] && [ ${#build[@]} -eq 0 ] && return 0
  if [ ${#missing[@]} -gt 0 ]; then
    log "needs Debian packages: ${missing[*]}"
    describe_plan "${missing[@]}"
  fi
  [ ${#build[@]} -eq 0 ] || log "will build ${build[*]} from Debian 13's source packages into PostgreSQL 15's extension directories"
  consent
  apt_get_install "${missing[@]}"
  have_extension vector || build_pgvector
  have_extension timescaledb || build_timescaledb
}

# ------------------------------------------------------------------------------- cluster
# initdb refuses root; the cluster belongs to the postgres system user, which must reach $DATA.
# A checkout under a private home (e.g. /root) is out of its reach: the cluster then lives in
# /var/tmp, in a folder named after the checkout, and .local/pgdata links to it.
prepare_data_dir() {
  id "$RUN_AS" >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash "$RUN_AS"
  if [ -z "${ARC_DB_DIR:-}" ] && [ ! -e "$DATA" ] && ! as_pg test -x "$STATE"; then
    local outside="/var/tmp/arc-eval-db-$CHECKOUT_ID/pgdata"
    mkdir -p "$(dirname "$outside")" && chown "$RUN_AS" "$(dirname "$outside")"
    ln -sfn "$outside" "$STATE/pgdata"
    log "the postgres user cannot enter $STATE; the cluster lives in $outside"
    DATA=$outside
  fi
}

# Where the cluster's companions (replica, PgBouncer) live: next to it, where postgres can go.
companion_dir() { echo "$(dirname "$DATA")/$1"; }

make_tls() {
  local dir=$STATE/tls
  [ -f "$dir/server.crt" ] && [ -f "$dir/client.crt" ] && return 0
  mkdir -p "$dir"
  (
    cd "$dir"
    quietly "make the local CA" openssl req -x509 -newkey rsa:2048 -nodes -days 3650 \
      -subj "/CN=arc-eval-db local CA" -keyout ca.key -out ca.crt
    # The server certificate names 127.0.0.1 only: "localhost" is a host-name mismatch.
    printf 'subjectAltName=IP:127.0.0.1\n' >server.ext
    quietly "make the server key" openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
      -keyout server.key -out server.csr
    quietly "sign the server certificate" openssl x509 -req -in server.csr -CA ca.crt \
      -CAkey ca.key -CAcreateserial -days 3650 -extfile server.ext -out server.crt
    quietly "make the client key" openssl req -newkey rsa:2048 -nodes -subj "/CN=$DB_USER" \
      -keyout client.key -out client.csr
    quietly "sign the client certificate" openssl x509 -req -in client.csr -CA ca.crt \
      -CAkey ca.key -CAcreateserial -days 3650 -out client.crt
    chmod 600 ./*.key
    rm -f ./*.csr ./*.ext
  )
}

# TLS on the cluster with the local CA's certificates (reloadable; plain TCP keeps working).
enable_tls() {
  make_tls
  install -o "$RUN_AS" -m 600 "$STATE/tls/server.key" "$DATA/server.key"
  install -o "$RUN_AS" -m 644 "$STATE/tls/server.crt" "$DATA/server.crt"
  install -o "$RUN_AS" -m 644 "$STATE/tls/ca.crt" "$DATA/root.crt"
  grep -q '^# arc-eval-db TLS' "$DATA/postgresql.conf" || cat >>"$DATA/postgresql.conf" <<'EOF'

# arc-eval-db TLS (certificates made by scripts/localdb.sh in .local/tls)
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
ssl_ca_file = 'root.crt'
EOF
  grep -q '^host[[:space:]]\+replication' "$DATA/pg_hba.conf" \
    || echo "host replication $DB_USER 127.0.0.1/32 scram-sha-256" >>"$DATA/pg_hba.conf"
}

init_cluster() {
  [ -f "$DATA/PG_VERSION" ] && return 0
  log "creating the cluster in $DATA"
  mkdir -p "$DATA" && chown "$RUN_AS" "$DATA" && chmod 700 "$DATA"
  local pw; pw=$(mktemp); echo "$DB_PASSWORD" >"$pw"; chown "$RUN_AS" "$pw"
  quietly "initdb" as_pg "$PG_BIN/initdb" -D "$DATA" -U "$DB_USER" --pwfile="$pw" \
      --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8
  rm -f "$pw"
  cat >>"$DATA/postgresql.conf" <<EOF

# arc-eval-db local development cluster (the port is given at start: .local/postgres.port)
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DATA'
max_connections = 300
shared_buffers = 512MB
maintenance_work_mem = 512MB
work_mem = 16MB
shared_preload_libraries = 'timescaledb,pg_stat_statements'
timescaledb.telemetry_level = off
timescaledb.max_background_workers = 8
max_worker_processes = 24
fsync = on
EOF
  [ -n "${ARC_TIMESCALE_LICENSE:-}" ] && echo "timescaledb.license = '$ARC_TIMESCALE_LICENSE'" >>"$DATA/postgresql.conf"
  return 0
}

# start_cluster DIR NAME FIRST_PORT [PINNED]: start (or find running) and print its port.
start_cluster() {
  local dir=$1 name=$2 first=$3 pinned=${4:-} port
  if running "$dir"; then
    port=$(running_port "$dir")
    if [ -n "$pinned" ] && [ "$pinned" != "$port" ]; then
      die "$name runs on port $port, not the pinned $pinned: stop it first (scripts/localdb.sh stop)"
    fi
    echo "$port" >"$STATE/$name.port"
  else
    port=$(pick_port "$name" "$first" "$pinned")
    log "starting $name on 127.0.0.1:$port"
    if ! as_pg "$PG_BIN/pg_ctl" -D "$dir" -l "$dir/postgres.log" -w -t 90 \
        -o "-p $port -c unix_socket_directories=$dir" start >/dev/null; then
      tail -20 "$dir/postgres.log" >&2
      die "$name did not start (log: $dir/postgres.log)"
    fi
  fi
  echo "$port"
}

start_local() {
  if [ -n "$PINNED_PORT" ] && ! running "$DATA"; then port_free "$PINNED_PORT" || taken "$PINNED_PORT"; fi
  install_server
  prepare_data_dir
  init_cluster
  enable_tls
  local port
  port=$(start_cluster "$DATA" postgres 55432 "$PINNED_PORT")
  as_pg "$PG_BIN/pg_ctl" -D "$DATA" reload >/dev/null  # TLS / replication lines of an older cluster
  echo "$port"
}

# ------------------------------------------------------------------------------ companions
start_replica() {
  local primary=$1 dir; dir=$(companion_dir replica)
  # The primary keeps 1 GB of WAL for a replica that was stopped (the replica-loss tests stop
  # it; benchmarks write a lot): without it the replica cannot catch up once WAL is recycled.
  grep -q '^wal_keep_size' "$DATA/postgresql.conf" || {
    echo "wal_keep_size = 1GB" >>"$DATA/postgresql.conf"
    as_pg "$PG_BIN/pg_ctl" -D "$DATA" reload >/dev/null
  }
  if [ ! -f "$dir/PG_VERSION" ]; then
    log "making a streaming replica in $dir (pg_basebackup -R)"
    rm -rf "$dir"; mkdir -p "$dir" && chown "$RUN_AS" "$dir" && chmod 700 "$dir"
    quietly "pg_basebackup" as_pg env PGPASSWORD="$DB_PASSWORD" "$PG_BIN/pg_basebackup" \
      -h 127.0.0.1 -p "$primary" -U "$DB_USER" -D "$dir" -R -X stream -c fast
  fi
  # The primary may have moved to another port since the replica was made.
  sed -i "s/port=[0-9]\+/port=$primary/" "$dir/postgresql.auto.conf"
  start_cluster "$dir" replica 57432
}

start_pgbouncer() {
  local primary=$1 dir port; dir=$(companion_dir pgbouncer)
  apt_install pgbouncer
  mkdir -p "$dir" && chown "$RUN_AS" "$dir"
  if [ -f "$dir/pgbouncer.pid" ] && kill -0 "$(cat "$dir/pgbouncer.pid")" 2>/dev/null \
      && grep -q "port=$primary\$" "$dir/pgbouncer.ini"; then
    port=$(sed -n 's/^listen_port = //p' "$dir/pgbouncer.ini")
    echo "$port" >"$STATE/pgbouncer.port"
    echo "$port"; return 0
  fi
  [ -f "$dir/pgbouncer.pid" ] && kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null && sleep 0.5
  port=$(pick_port pgbouncer 56432)
  # The user's SCRAM secret, so PgBouncer authenticates clients as the server would.
  "$PG_BIN/psql" -X -At "$(url_for "$primary")" -c "SELECT '\"' || rolname || '\" \"' || rolpassword
    || '\"' FROM pg_authid WHERE rolname = '$DB_USER'" >"$dir/userlist.txt"
  # Transaction pooling with PgBouncer's defaults; only the limits are raised for the test suite.
  cat >"$dir/pgbouncer.ini" <<EOF
[databases]
* = host=127.0.0.1 port=$primary

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $dir/userlist.txt
pool_mode = transaction
max_client_conn = 2000
default_pool_size = 60
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
EOF
  chown -R "$RUN_AS" "$dir"
  log "starting PgBouncer (transaction mode) on 127.0.0.1:$port"
  as_pg pgbouncer -d -q "$dir/pgbouncer.ini" || { tail -5 "$dir/pgbouncer.log" >&2; die "PgBouncer did not start"; }
  echo "$port"
}

stop_all() {
  local dir
  dir=$(companion_dir pgbouncer)
  if [ -f "$dir/pgbouncer.pid" ] && kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null; then log "PgBouncer stopped"; fi
  for dir in "$(companion_dir replica)" "$DATA"; do
    if running "$dir"; then as_pg "$PG_BIN/pg_ctl" -D "$dir" -m fast -w stop >/dev/null && log "stopped $dir"; fi
  done
}

status() {
  local dir port
  log "checkout state: $STATE"
  if docker_engine; then docker compose -p "arc-eval-db-$CHECKOUT_ID" -f "$here/docker/compose.yml" ps; return; fi
  if ! running "$DATA"; then log "cluster: not running (data: $DATA)"; return 3; fi
  port=$(running_port "$DATA")
  log "cluster: running, data $DATA, $(url_for "$port")"
  "$PG_BIN/psql" -X -At "$(url_for "$port")" -F ' ' -c "
    SELECT 'server: PostgreSQL ' || current_setting('server_version')
      || ', TLS ' || current_setting('ssl');
    SELECT 'extension ' || name || ': available ' || default_version
      || coalesce(', installed in postgres ' || installed_version, '')
    FROM pg_available_extensions WHERE name IN ('timescaledb', 'vector') ORDER BY name;" >&2
  if compgen -G "$("$PG_BIN/pg_config" --pkglibdir)/timescaledb-tsl-*.so" >/dev/null; then
    log "TimescaleDB edition: full (Community) build installed"
  else
    log "TimescaleDB edition: Apache-2 only (Debian's source has no tsl/)"
  fi
  dir=$(companion_dir replica)
  if running "$dir"; then log "replica: running, $(url_for "$(running_port "$dir")")"; else log "replica: not running"; fi
  dir=$(companion_dir pgbouncer)
  if [ -f "$dir/pgbouncer.pid" ] && kill -0 "$(cat "$dir/pgbouncer.pid")" 2>/dev/null; then
    log "pgbouncer: running, $(url_for "$(sed -n 's/^listen_port = //p' "$dir/pgbouncer.ini")" '?pgbouncer=true')"
  else log "pgbouncer: not running"; fi
  log "TLS files: $STATE/tls (ca.crt, client.crt, client.key)"
}

start_docker() {
  local port; port=$(pick_port postgres 55432 "$PINNED_PORT")
  log "starting timescale/timescaledb-ha with docker compose on 127.0.0.1:$port"
  ARC_DB_PORT=$port quietly "docker compose up" docker compose -p "arc-eval-db-$CHECKOUT_ID" \
    -f "$here/docker/compose.yml" up -d --wait
  echo "$port"
}

# Each step runs on its own line: a failure inside $(...) must stop the script (set -e).
case "${1:-start}" in
  start)
    if docker_engine; then port=$(start_docker); else port=$(start_local); fi
    url_for "$port" ;;
  url)
    if running "$DATA"; then url_for "$(running_port "$DATA")"
    elif [ -f "$STATE/postgres.port" ]; then url_for "$(cat "$STATE/postgres.port")"
    else die "not started yet: scripts/localdb.sh start"; fi ;;
  env)
    if docker_engine; then
      port=$(start_docker)
      echo "export ARC_TEST_DATABASE_URL='$(url_for "$port")'"
      log "PgBouncer, TLS and replica tests need the local cluster (ARC_NO_DOCKER=1): they skip"
    else
      primary=$(start_local)
      replica=$(start_replica "$primary")
      bouncer=$(start_pgbouncer "$primary")
      command -v promtool >/dev/null || apt_install prometheus  # promtool checks the alert rules
      echo "export ARC_TEST_DATABASE_URL='$(url_for "$primary")'"
      echo "export ARC_TEST_TOPOLOGY_OF='$(url_for "$primary")'"
      echo "export ARC_TEST_TLS_DIR='$STATE/tls'"
      echo "export ARC_TEST_REPLICA_URL='$(url_for "$replica")'"
      echo "export ARC_TEST_PGBOUNCER_URL='$(url_for "$bouncer" '?pgbouncer=true')'"
    fi ;;
  pgbouncer)
    primary=$(start_local); bouncer=$(start_pgbouncer "$primary")
    url_for "$bouncer" '?pgbouncer=true' ;;
  replica)
    primary=$(start_local); replica=$(start_replica "$primary")
    url_for "$replica" ;;
  replica-stop)
    dir=$(companion_dir replica)
    if running "$dir"; then as_pg "$PG_BIN/pg_ctl" -D "$dir" -m fast -w stop >/dev/null && log "replica stopped"; fi ;;
  status) status ;;
  stop)
    if docker_engine; then docker compose -p "arc-eval-db-$CHECKOUT_ID" -f "$here/docker/compose.yml" down >&2
    else stop_all; fi ;;
  *) echo "usage: $0 start|url|env|pgbouncer|replica|replica-stop|status|stop" >&2; exit 2 ;;
esac
