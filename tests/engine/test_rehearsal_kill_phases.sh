# `mnem run --sim` killed outright while PostgreSQL initializes, or while
# it stops its servers after the playbook, leaves no server or folder
# behind: its guard receives the PostgreSQL folder before initdb, and is
# stopped only after the servers are. Ctrl-C (SIGINT) during the playbook
# cleans up and leaves no guard either. Only the processes this test
# starts are signalled.
. tests/lib/t.sh

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# The rehearsal's folders go under TMPDIR, so the checks below see only
# this test's. PostgreSQL, run as the postgres user under root, must be
# able to reach its folder there.
mkdir "$dir/tmp"
chmod 755 "$dir" "$dir/tmp"
export TMPDIR="$dir/tmp"
cat > "$dir/slow.lua" <<'PLAYBOOK'
playbook { name = "rehearsal-phases", steps = { step "Wait" { run = function() sleep("60s") end } } }
PLAYBOOK
cat > "$dir/brief.lua" <<'PLAYBOOK'
playbook { name = "rehearsal-phases-brief", steps = { step "Pause" { run = function() sleep("1s") end } } }
PLAYBOOK

# wait_until COMMAND...: runs COMMAND every 10 ms, for up to 10 s, until it succeeds.
wait_until() {
  i=0
  while ! "$@" 2>/dev/null && [ $i -lt 1000 ]; do sleep 0.01; i=$((i + 1)); done
  "$@" 2>/dev/null
}
# As root, initdb runs under runuser, so the child's whole command line is matched.
initdb_dir() { pgrep -a -P "$1" -f initdb | sed -n "s|.* -D \($TMPDIR/mnem-pg\.[^/ ]*\)/data .*|\1|p" | head -n 1; }
has_initdb() { [ -n "$(initdb_dir "$1")" ]; }
# The [x] in each pattern keeps pgrep from matching the sh -c running it.
no_postgres() { ! pgrep -f "postgres -[D] $1/data" >/dev/null; }
no_guard() { ! pgrep -f "mnem-rehearsal-gu[a]rd $1 " >/dev/null; }

# Killed while initdb runs.
"$MNEM" run --sim --scenario empty "$dir/slow.lua" --state-dir "$dir/state" >"$dir/initdb.out" 2>&1 &
pid=$!
wait_until has_initdb "$pid"
pg_dir=$(initdb_dir "$pid")
check "initdb was caught running" test -n "$pg_dir"
kill -KILL "$pid"
wait "$pid" 2>/dev/null
wait_until test ! -e "$pg_dir"
check "the PostgreSQL folder is removed after a kill in initdb" test ! -e "$pg_dir"
sleep 1
check "no PostgreSQL runs after a kill in initdb" no_postgres "$pg_dir"
check "no guard outlives the kill in initdb" no_guard "$pid"

# Killed while the servers stop: the simulator, mnem's child, is gone but
# mnem is still running. The folders are found while the playbook pauses.
"$MNEM" run --sim --scenario empty "$dir/brief.lua" --state-dir "$dir/brief-state" >"$dir/cleanup.out" 2>&1 &
pid=$!
wait_until grep -q '\[Pause\] starting' "$dir/cleanup.out"
sim_dir=$(tr '\0' '\n' < "/proc/$(pgrep -P "$pid" -f 'sim serve' | head -n 1)/cmdline" | sed -n 's|/ready.json$||p')
pg_port=$(sed -n 's/.*PostgreSQL on 127.0.0.1:\([0-9]*\).*/\1/p' "$dir/cleanup.out")
pg_dir=$(pgrep -a postgres | sed -n "s|.*postgres -D \($TMPDIR/mnem-pg\.[^/]*\)/data .*-p $pg_port .*|\1|p" | head -n 1)
while kill -0 "$pid" 2>/dev/null && pgrep -P "$pid" -f 'sim serve' >/dev/null; do sleep 0.005; done
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
# The run record is synced when the run ends, before the servers stop.
check "the rehearsal reached its cleanup" grep -q '"event":"run_end"' "$dir"/brief-state/runs/*.jsonl
check "the simulator's folder was found" test -n "$sim_dir"
check "the PostgreSQL folder was found" test -n "$pg_dir"
wait_until test ! -e "$sim_dir"
check "the rehearsal's folder is removed after a kill in cleanup" test ! -e "$sim_dir"
wait_until test ! -e "$pg_dir"
check "the PostgreSQL folder is removed after a kill in cleanup" test ! -e "$pg_dir"
check "no PostgreSQL runs after a kill in cleanup" no_postgres "$pg_dir"
check "no guard outlives the kill in cleanup" no_guard "$pid"

# Ctrl-C during the playbook.
"$MNEM" run --sim --scenario empty "$dir/slow.lua" --state-dir "$dir/state" >"$dir/int.out" 2>&1 &
pid=$!
wait_until grep -q '\[Wait\] starting' "$dir/int.out"
sim_dir=$(tr '\0' '\n' < "/proc/$(pgrep -P "$pid" -f 'sim serve' | head -n 1)/cmdline" | sed -n 's|/ready.json$||p')
kill -INT "$pid"
wait "$pid"
status=$?
check "SIGINT ends the rehearsal as interrupted" test "$status" -eq 130
check "SIGINT leaves no rehearsal folder" test ! -e "$sim_dir"
check "SIGINT leaves no guard" no_guard "$pid"
t_done
