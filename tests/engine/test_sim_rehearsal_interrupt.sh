# SIGINT while `mnem run --sim` starts its throwaway PostgreSQL and
# simulator: mnem exits 130 with a message, and stops what it started and
# removes its temporary folders.
. tests/lib/t.sh

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# The rehearsal's folders go under TMPDIR, so only this test's are
# counted. PostgreSQL, run as the postgres user under root, must be able to
# reach its folder there.
mkdir "$dir/tmp"
chmod 755 "$dir" "$dir/tmp"
export TMPDIR="$dir/tmp"
cat > "$dir/quick.lua" <<'PLAYBOOK'
playbook { name = "quick", steps = { step "Nothing" { run = function() end } } }
PLAYBOOK

count_leftovers() {
  ls -d "$TMPDIR"/mnem-sim.* "$TMPDIR"/mnem-pg.* 2>/dev/null | wc -l
}
"$MNEM" run --sim --scenario empty "$dir/quick.lua" --state-dir "$dir/state" >"$dir/out" 2>&1 &
pid=$!
# The signal is sent as soon as the rehearsal logs that it is starting its
# servers, because initdb alone takes longer than the wait for that line.
i=0
while ! grep -q "rehearsal: starting" "$dir/out" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.02; i=$((i + 1)); done
kill -INT "$pid"
wait "$pid"
status=$?

check "mnem exits 130" test "$status" -eq 130
check "the message says what happened" grep -q "interrupted while the rehearsal's servers started" "$dir/out"
check "no temporary folder is left" test "$(count_leftovers)" -eq 0
# The [m] keeps pgrep from matching the sh -c running it.
check "no server of the rehearsal is left" sh -c "! pgrep -f '$TMPDIR/[m]nem-' >/dev/null"
check "no run was recorded" sh -c "! ls '$dir/state/runs/'*.jsonl 2>/dev/null"
t_done
