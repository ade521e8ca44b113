# Shared helpers for scripts/*. Source it; it changes nothing by itself.
# shellcheck shell=bash

PG_BIN=/usr/lib/postgresql/15/bin
PG_CONFIG=$PG_BIN/pg_config
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Commands that need root: plain as root, through sudo otherwise.
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi

# Cargo installed by rustup may not be on a non-login shell's PATH.
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi

step_started=0
step() {
  step_started=$(date +%s.%N)
  printf '\033[1m==> %s\033[0m\n' "$*"
}
step_done() {
  local now; now=$(date +%s.%N)
  awk -v a="$step_started" -v b="$now" 'BEGIN { printf "    done in %.1fs\n", b - a }'
}

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

# A cluster of our own: its data directory, port and log; never another cluster's.
# cluster_start DIR PORT
cluster_start() {
  local dir=$1 port=$2
  if [ ! -s "$dir/PG_VERSION" ]; then
    $SUDO mkdir -p "$dir"
    $SUDO chown postgres:postgres "$dir"
    $SUDO chmod 700 "$dir"
    as_postgres "$PG_BIN/initdb" -D "$dir" --auth=trust --encoding=UTF8 --locale=C.UTF-8 -U postgres >/dev/null
    cat <<CONF | as_postgres tee -a "$dir/postgresql.conf" >/dev/null
# pg_crm's own cluster
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_parallel_workers_per_gather = 2
shared_buffers = 256MB
work_mem = 64MB
max_wal_size = 4GB
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
  fi
  if ! as_postgres "$PG_BIN/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    as_postgres "$PG_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start >/dev/null
  fi
}

cluster_stop() {
  local dir=$1
  if [ -s "$dir/PG_VERSION" ] && as_postgres "$PG_BIN/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    as_postgres "$PG_BIN/pg_ctl" -D "$dir" -m fast -w stop >/dev/null
  fi
}

# Build the release extension and install it into Debian's Postgres 15, with the frozen
# install scripts of earlier releases (sql/pg_crm--X.Y.Z.sql: `CREATE EXTENSION pg_crm
# VERSION 'X.Y.Z'` and the upgrade tests use them; cargo pgrx installs only the current
# version's script and the pg_crm--A--B.sql upgrade scripts).
install_extension() {
  local sudo_flag=()
  [ "$(id -u)" = 0 ] || sudo_flag=(--sudo)
  (cd "$REPO_ROOT" && cargo pgrx install --release --pg-config "$PG_CONFIG" "${sudo_flag[@]}" 2>&1 \
    | grep -vE '^\s+(Compiling|Checking)' | tail -n 3)
  local extdir; extdir="$($PG_CONFIG --sharedir)/extension"
  for frozen in "$REPO_ROOT"/sql/pg_crm--[0-9]*.[0-9]*.[0-9]*.sql; do
    case "$(basename "$frozen")" in *--*--*) continue ;; esac
    [ -e "$frozen" ] && $SUDO install -m 644 "$frozen" "$extdir/"
  done
}
