# pg.sh: start and stop a throwaway PostgreSQL server for the tests.
#
# pg_start DIR: initdb into DIR, listen on 127.0.0.1 (a free port) and on a
# socket in DIR, trust authentication, and export PGHOST, PGPORT, PGUSER and
# PGDATABASE. Run as root, the server runs as the postgres user, because
# initdb refuses root. pg_stop DIR stops it.
pg_bindir() {
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && echo "$d"; done | sort -V | tail -n 1
}

pg_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_start() {
  dir=$1
  bin=$(pg_bindir)
  if [ -z "$bin" ]; then
    echo "pg.sh: PostgreSQL server binaries not found under /usr/lib/postgresql; run make deps" >&2
    return 1
  fi
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
  pg_as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust --no-sync >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2; return 1; }
  port=$(pg_free_port)
  pg_as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off" start >/dev/null || {
    cat "$dir/server.log" >&2; return 1; }
  export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres PGDATABASE=postgres
  export MNEM_TEST_PG_SOCKET_DIR=$dir
}

pg_stop() {
  dir=$1
  bin=$(pg_bindir)
  [ -d "$dir/data" ] && pg_as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1
  return 0
}
