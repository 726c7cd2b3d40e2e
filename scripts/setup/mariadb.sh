#!/usr/bin/env bash
# Throw-away MariaDB servers on loopback for tests and benches (never touches /etc/mysql or the system service).
#
#   mariadb.sh install                      apt-get install mariadb-server + galera-4 when missing (needs root)
#   mariadb.sh init DIR [USER]              create an empty datadir DIR/data owned by USER (default root)
#   mariadb.sh start DIR PORT [OPTION...]   start mariadbd on 127.0.0.1:PORT with DIR/data; prints its PID
#   mariadb.sh stop DIR [SIGNAL]            stop the server started in DIR (default TERM) and wait for it
#
# OPTIONs are extra mariadbd options (Galera nodes pass their wsrep_* settings). A server runs as the owner
# of DIR: Galera's rsync SST fails when nodes run as root, so Galera nodes use a DIR owned by mysql.
set -euo pipefail
MARIADBD=/usr/sbin/mariadbd
SOCK_WAIT=${SOCK_WAIT:-60}

cmd="${1:-}"; shift || true
case "$cmd" in
install)
  if [ -x "$MARIADBD" ] && [ -e /usr/lib/galera/libgalera_smm.so ] && command -v rsync >/dev/null; then exit 0; fi
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "mariadb.sh: $MARIADBD or galera-4 missing and cannot apt-get install (not root / no apt)" >&2
    exit 2
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server galera-4 rsync socat >/dev/null
  ;;
init)
  dir="$1"; user="${2:-root}"
  mkdir -p "$dir/data"
  chown -R "$user" "$dir"
  # normal root auth: root can log in over TCP without the unix_socket plugin (PyMySQL cannot do that).
  mariadb-install-db --no-defaults --datadir="$dir/data" --user="$user" \
    --auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1
  ;;
start)
  dir="$1"; port="$2"; shift 2
  user="$(stat -c %U "$dir")"
  mkdir -p "$dir/data"
  : >"$dir/error.log"
  chown "$user" "$dir/data" "$dir/error.log"
  # --no-defaults first: nothing from /etc/mysql leaks in. stdout/stderr to files, never a pipe we hold.
  "$MARIADBD" --no-defaults --datadir="$dir/data" --port="$port" --bind-address=127.0.0.1 \
    --socket="$dir/mysqld.sock" --pid-file="$dir/mariadbd.pid" --log-error="$dir/error.log" \
    --user="$user" --innodb-buffer-pool-size=256M --innodb-log-file-size=64M \
    --max-connections=200 --character-set-server=utf8mb4 "$@" \
    >"$dir/stdout.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$dir/server.pid"
  echo "$pid"
  ;;
stop)
  dir="$1"; sig="${2:-TERM}"
  [ -f "$dir/server.pid" ] || exit 0
  pid="$(cat "$dir/server.pid")"
  kill -"$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((SOCK_WAIT * 10))); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$dir/server.pid"; exit 0; }
    sleep 0.1
  done
  echo "mariadb.sh: server $pid in $dir did not stop" >&2
  exit 1
  ;;
*)
  sed -n '2,10p' "$0" >&2
  exit 2
  ;;
esac
