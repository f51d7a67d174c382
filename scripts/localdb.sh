#!/usr/bin/env bash
# The embedded development/test database: a PostgreSQL 15 cluster with TimescaleDB and pgvector,
# owned by this checkout, listening on loopback only.
#
#   scripts/localdb.sh start   install what is missing, create the cluster once, start it, print its URL
#   scripts/localdb.sh stop    stop it (the data stays in .local/)
#   scripts/localdb.sh url     print the admin URL
#   scripts/localdb.sh status
#
# When a Docker engine answers, `start` uses docker/compose.yml (timescale/timescaledb-ha) instead.
# Debian 12 packages neither TimescaleDB nor pgvector; Debian 13 ships their sources, which build
# against PostgreSQL 15 in about a minute. The apt configuration of the system is left untouched:
# the trixie source list lives in a temporary folder.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
PORT=${ARC_DB_PORT:-55432}
PG_BIN=${ARC_PG_BIN:-/usr/lib/postgresql/15/bin}
DATA=${ARC_DB_DIR:-$here/.local/pgdata}
[ -L "$DATA" ] && DATA=$(readlink "$DATA")
RUN_AS=postgres
DB_USER=arc
DB_PASSWORD=arc

log() { printf '[localdb] %s\n' "$*" >&2; }
as_pg() { (cd / && runuser -u "$RUN_AS" -- "$@"); }

docker_engine() { [ -z "${ARC_NO_DOCKER:-}" ] && command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

url() { printf 'postgresql://%s:%s@127.0.0.1:%s/postgres\n' "$DB_USER" "$DB_PASSWORD" "$PORT"; }

apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; then
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# Download one trixie source package into $2 without touching the system's apt sources.
fetch_trixie_source() {
  local pkg=$1 dest=$2 work uri
  work=$(mktemp -d)
  uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$uri" ] || { log "cannot find a Debian mirror in the apt configuration"; return 1; }
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri trixie main" >"$work/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
              -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -q)
  apt-get "${opts[@]}" update >/dev/null
  (cd "$dest" && apt-get "${opts[@]}" source "$pkg" >/dev/null 2>&1)
  rm -rf "$work"
}

install_pgvector() {
  [ -f "$("$PG_BIN/pg_config" --sharedir)/extension/vector.control" ] && return 0
  log "building pgvector from Debian's source package"
  local src; src=$(mktemp -d)
  fetch_trixie_source pgvector "$src"
  local dir; dir=$(find "$src" -maxdepth 1 -mindepth 1 -type d -name 'pgvector-*' | head -1)
  make -C "$dir" PG_CONFIG="$PG_BIN/pg_config" OPTFLAGS="" -j"$(nproc)" >/dev/null
  make -C "$dir" PG_CONFIG="$PG_BIN/pg_config" install >/dev/null
  rm -rf "$src"
}

install_timescaledb() {
  [ -f "$("$PG_BIN/pg_config" --sharedir)/extension/timescaledb.control" ] && return 0
  log "building TimescaleDB (Apache-2 edition) from Debian's source package"
  local src; src=$(mktemp -d)
  fetch_trixie_source timescaledb "$src"
  local dir; dir=$(find "$src" -maxdepth 1 -mindepth 1 -type d -name 'timescaledb-*' | head -1)
  (cd "$dir" && ./bootstrap -DPG_CONFIG="$PG_BIN/pg_config" -DAPACHE_ONLY=ON -DREGRESS_CHECKS=OFF \
      -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF -DGENERATE_DOWNGRADE_SCRIPT=OFF \
      -DCMAKE_BUILD_TYPE=Release >/dev/null \
    && make -C build -j"$(nproc)" >/dev/null && make -C build install >/dev/null)
  rm -rf "$src"
}

install_server() {
  apt_install postgresql-15 postgresql-contrib postgresql-server-dev-15 cmake dpkg-dev gcc make libssl-dev libkrb5-dev debian-archive-keyring
  install_pgvector
  install_timescaledb
}

# initdb refuses root; the cluster belongs to the postgres system user, which must reach $DATA.
# A checkout under a private home (e.g. /root) is out of its reach: the cluster then lives in
# /var/tmp, in a folder named after the checkout, and .local/pgdata links to it.
prepare_data_dir() {
  id "$RUN_AS" >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash "$RUN_AS"
  mkdir -p "$(dirname "$DATA")"
  if [ -z "${ARC_DB_DIR:-}" ] && [ ! -e "$DATA" ] && ! as_pg test -x "$(dirname "$DATA")"; then
    local outside; outside="/var/tmp/arc-eval-db-$(printf '%s' "$here" | sha1sum | cut -c1-12)/pgdata"
    mkdir -p "$(dirname "$outside")" && chown "$RUN_AS" "$(dirname "$outside")"
    ln -sfn "$outside" "$DATA"
    log "the postgres user cannot enter $(dirname "$DATA"); the cluster lives in $outside"
    DATA=$outside
  fi
}

init_cluster() {
  [ -f "$DATA/PG_VERSION" ] && return 0
  log "creating the cluster in $DATA"
  mkdir -p "$DATA" && chown "$RUN_AS" "$DATA" && chmod 700 "$DATA"
  local pw; pw=$(mktemp); echo "$DB_PASSWORD" >"$pw"; chown "$RUN_AS" "$pw"
  as_pg "$PG_BIN/initdb" -D "$DATA" -U "$DB_USER" --pwfile="$pw" \
      --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pw"
  cat >>"$DATA/postgresql.conf" <<EOF

# arc-eval-db local development cluster
listen_addresses = '127.0.0.1'
port = $PORT
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

running() { as_pg "$PG_BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

start_local() {
  install_server
  prepare_data_dir
  init_cluster
  if ! running; then
    log "starting PostgreSQL on 127.0.0.1:$PORT"
    as_pg "$PG_BIN/pg_ctl" -D "$DATA" -l "$DATA/postgres.log" -w -t 60 start >/dev/null \
      || { tail -20 "$DATA/postgres.log" >&2; exit 1; }
  fi
}

start_docker() {
  log "starting timescale/timescaledb-ha with docker compose"
  ARC_DB_PORT=$PORT docker compose -f "$here/docker/compose.yml" up -d --wait >&2
}

case "${1:-start}" in
  start)
    if docker_engine; then start_docker; else start_local; fi
    url ;;
  stop)
    if docker_engine; then docker compose -f "$here/docker/compose.yml" down >&2
    elif [ -f "$DATA/PG_VERSION" ] && running; then
      as_pg "$PG_BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null && log "stopped"
    else log "not running"; fi ;;
  url) url ;;
  status)
    if docker_engine; then docker compose -f "$here/docker/compose.yml" ps
    elif [ -f "$DATA/PG_VERSION" ] && running; then log "running on 127.0.0.1:$PORT"; else log "not running"; exit 3; fi ;;
  *) echo "usage: $0 start|stop|url|status" >&2; exit 2 ;;
esac
