# When `mnem run --sim` is killed outright (SIGKILL, the OOM killer), it
# cannot stop its servers itself. Its guard process notices within about a
# second and stops the simulator and the throwaway PostgreSQL, and removes
# both temporary folders.
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
playbook {
  name = "rehearsal-killed",
  steps = { step "Wait" { run = function() sleep("60s") end } },
}
PLAYBOOK
"$MNEM" run --sim --scenario empty "$dir/slow.lua" --state-dir "$dir/state" >"$dir/out" 2>&1 &
mnem_pid=$!
i=0
while ! grep -q '\[Wait\] starting' "$dir/out" 2>/dev/null && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
check "the rehearsal started" grep -q '\[Wait\] starting' "$dir/out"

# The simulator is mnem's child; its --ready-file names the rehearsal's
# folder. The PostgreSQL port is in the start message.
sim_pid=$(pgrep -P "$mnem_pid" -f 'sim serve' | head -n 1)
sim_dir=$(tr '\0' '\n' < "/proc/$sim_pid/cmdline" | sed -n 's|/ready.json$||p')
pg_port=$(sed -n 's/.*PostgreSQL on 127.0.0.1:\([0-9]*\).*/\1/p' "$dir/out")
pg_dir=$(pgrep -a postgres | sed -n "s|.*postgres -D \($TMPDIR/mnem-pg\.[^/]*\)/data .*-p $pg_port .*|\1|p" | head -n 1)
check "the servers are found" test -n "$sim_pid" -a -d "$sim_dir" -a -n "$pg_port" -a -d "$pg_dir"
check "the rehearsal's folder is under TMPDIR" test "$(dirname "$sim_dir")" = "$TMPDIR"

kill -KILL "$mnem_pid"
wait "$mnem_pid" 2>/dev/null
gone() { ! kill -0 "$sim_pid" 2>/dev/null && [ ! -e "$sim_dir" ] && [ ! -e "$pg_dir" ]; }
i=0
while ! gone && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
check "the simulator is stopped" sh -c "! kill -0 $sim_pid 2>/dev/null"
check "the rehearsal's folder is removed" test ! -e "$sim_dir"
check "the PostgreSQL folder is removed" test ! -e "$pg_dir"
# The [x] in each pattern keeps pgrep from matching the sh -c running it.
check "no PostgreSQL serves the port" sh -c "! pgrep -f 'postgres -[D] $pg_dir/data' >/dev/null"
check "the guard is gone" sh -c "! pgrep -f 'mnem-rehearsal-gu[a]rd $mnem_pid ' >/dev/null"

# A normal run leaves no guard behind.
cat > "$dir/quick.lua" <<'PLAYBOOK'
playbook { name = "rehearsal-quick", steps = { step "Nothing" { run = function() end } } }
PLAYBOOK
"$MNEM" run --sim --scenario empty "$dir/quick.lua" --state-dir "$dir/state" >"$dir/quick.out" 2>&1 &
quick_pid=$!
wait "$quick_pid"
check "a normal rehearsal succeeds" grep -q 'succeeded' "$dir/quick.out"
check "no guard outlives a normal rehearsal" sh -c "! pgrep -f 'mnem-rehearsal-gu[a]rd $quick_pid ' >/dev/null"
t_done
