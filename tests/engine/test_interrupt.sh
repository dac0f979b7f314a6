# Interrupts: SIGINT or SIGTERM stops the current step at a safe point,
# rollbacks do not run (unless --rollback-on-interrupt), always-steps do,
# the record is closed and mnem exits with status 130.
. tests/lib/t.sh

TMP=$(mktemp -d "${MNEM_TEST_TMP:-/tmp}/interrupt.XXXXXX")

cat >"$TMP/playbook.lua" <<'LUA'
local function note(ctx, text)
  local f = io.open(ctx.vars.dir .. "/log", "a") f:write(text, "\n") f:close()
end
playbook {
  name = "interruptible",
  vars = { dir = { type = "path" }, busy = { type = "boolean", default = false } },
  steps = {
    step "Create" { run = function(ctx) note(ctx, "created") end, rollback = function(ctx) note(ctx, "undo") end },
    step "Wait" { run = function(ctx)
      note(ctx, "waiting")
      if ctx.vars.busy then while true do end end
      sleep(60)
    end },
    step "Later" { run = function(ctx) note(ctx, "later") end },
    step "Report" { always = true, run = function(ctx) note(ctx, "always") end },
  },
}
LUA

# run_and_kill NAME SIGNAL [ARGS...]: starts the playbook, waits until its
# second step is running, sends SIGNAL and stores the exit status in $rc.
run_and_kill() {
  name=$1 sig=$2
  shift 2
  dir="$TMP/$name"
  mkdir -p "$dir"
  "$MNEM" run "$TMP/playbook.lua" --state-dir "$dir/state" --var "dir=$dir" "$@" >"$dir/out" 2>"$dir/err" &
  pid=$!
  i=0
  # Up to 30 s: a loaded machine can be slow to start mnem.
  while ! grep -q waiting "$dir/log" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
  sleep 0.2
  kill "-$sig" "$pid"
  wait "$pid"
  rc=$?
  record=$(ls "$dir"/state/runs/*.jsonl | head -n 1)
}

run_and_kill sigint INT
check "SIGINT exits 130" test "$rc" -eq 130
check "SIGINT skips rollbacks" sh -c "! grep -q undo '$dir/log'"
check "SIGINT runs always-steps" grep -qx always "$dir/log"
check "SIGINT skips later steps" sh -c "! grep -q later '$dir/log'"
check "SIGINT closes the record" sh -c "tail -n 1 '$record' | grep -q '\"event\":\"run_end\"'"
check "SIGINT status recorded" sh -c "tail -n 1 '$record' | grep -q '\"status\":\"interrupted\"'"
check "SIGINT message names the step" grep -q 'interrupted by SIGINT during step "Wait"' "$dir/err"
check "SIGINT message lists what is not undone" grep -q 'not rolled back (interrupted): "Create"' "$dir/err"

run_and_kill sigterm TERM --var busy=true
check "SIGTERM stops a busy loop with 130" test "$rc" -eq 130
check "SIGTERM runs always-steps" grep -qx always "$dir/log"
check "SIGTERM message" grep -q 'interrupted by SIGTERM during step "Wait"' "$dir/err"

run_and_kill rollback INT --rollback-on-interrupt
check "rollback-on-interrupt exits 130" test "$rc" -eq 130
check "rollback-on-interrupt undoes" grep -qx undo "$dir/log"
check "rollback-on-interrupt runs always-steps" grep -qx always "$dir/log"

# mnem runs and mnem show read the interrupted run's record.
check "runs lists the interrupted run" sh -c "'$MNEM' runs --state-dir '$dir/state' | grep -q 'interruptible  interrupted'"
check "show prints the interrupted end" sh -c "'$MNEM' show last --state-dir '$dir/state' | grep -q 'run interrupted'"

t_done
