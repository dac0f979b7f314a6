# Interrupt during rollback: SIGINT while a rollback hook runs after a
# failure ends the run with exit status 130, recorded as interrupted during
# the rollback. The record, the message, mnem runs and mnem report name the
# stopped rollback and those that did not run. The always-steps still run.
. tests/lib/t.sh

TMP=$(mktemp -d "${MNEM_TEST_TMP:-/tmp}/interrupt-rollback.XXXXXX")

cat >"$TMP/playbook.lua" <<'LUA'
local function note(ctx, text)
  local f = io.open(ctx.vars.dir .. "/log", "a") f:write(text, "\n") f:close()
end
playbook {
  name = "slow-undo",
  vars = { dir = { type = "path" } },
  steps = {
    step "Create" { run = function(ctx) note(ctx, "created") end,
                    rollback = function(ctx) note(ctx, "undo create") end },
    step "Hold" { run = function(ctx) note(ctx, "held") end,
                  rollback = function(ctx) note(ctx, "undoing hold") sleep(60) note(ctx, "undo hold") end },
    step "Break" { run = function() error("broken on purpose") end },
    step "Report" { always = true, run = function(ctx) note(ctx, "always") end },
  },
}
LUA

dir="$TMP/run"
state="$dir/state"
mkdir -p "$dir"
"$MNEM" run "$TMP/playbook.lua" --state-dir "$state" --var "dir=$dir" >"$dir/out" 2>"$dir/err" &
pid=$!
i=0
# Up to 30 s: a loaded machine can be slow to start mnem.
while ! grep -q 'undoing hold' "$dir/log" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
sleep 0.2
kill -INT "$pid"
wait "$pid"
rc=$?
record=$(ls "$state"/runs/*.jsonl | head -n 1)
# The run_end line's string fields as NAME=VALUE lines, lists joined by ",".
cat >"$TMP/fields.lua" <<'LUA'
local events = require("mnem.record").read(arg[1])
for _, e in ipairs(events) do
  if e.event == "run_end" then
    for k, v in pairs(e) do
      if type(v) == "string" then print(k .. "=" .. v) end
      if type(v) == "table" and #v > 0 and type(v[1]) == "string" then print(k .. "=" .. table.concat(v, ",")) end
    end
  end
end
LUA
"$MNEM" script "$TMP/fields.lua" "$record" >"$dir/run_end"

check "exit status is 130" test "$rc" -eq 130
check "interrupted rollback stops" sh -c "! grep -q 'undo hold' '$dir/log'"
check "later rollbacks do not run" sh -c "! grep -q 'undo create' '$dir/log'"
check "always-steps still run" grep -qx always "$dir/log"
check "run_end status interrupted" grep -qx status=interrupted "$dir/run_end"
check "run_end says during rollback" grep -qx interrupted_during=rollback "$dir/run_end"
check "run_end names the signal" grep -qx signal=SIGINT "$dir/run_end"
check "run_end names stopped rollback" grep -qx rollback_interrupted=Hold "$dir/run_end"
check "run_end lists rollbacks not run" grep -qx rollback_not_run=Create "$dir/run_end"
check "run_end keeps the failed step" grep -qx failed_step=Break "$dir/run_end"
check "rollback_finish status interrupted" \
  sh -c "grep '\"event\":\"rollback_finish\"' '$record' | grep -q '\"status\":\"interrupted\"'"
check "message names failure and signal" \
  grep -q 'playbook "slow-undo" failed at step "Break", then SIGINT interrupted the rollback of step "Hold"' \
  "$dir/err"
check "message keeps the error" grep -q 'error: .*broken on purpose' "$dir/err"
check "message names stopped rollback" grep -q 'rollback of "Hold" interrupted by SIGINT' "$dir/err"
check "message lists rollbacks not run" grep -q 'rollback not run (interrupted): "Create"' "$dir/err"
check "message has no false rollback" sh -c "! grep -q 'nothing to roll back' '$dir/err'"

"$MNEM" runs --state-dir "$state" >"$dir/runs" 2>&1
check "runs shows interrupted in rollback" grep -q 'slow-undo  interrupted during rollback' "$dir/runs"
"$MNEM" report last --state-dir "$state" >"$dir/report" 2>&1
check "report outcome interrupted" grep -q 'Outcome: \*\*interrupted\*\* at step "Break"' "$dir/report"
check "report names stopped rollback" \
  grep -q 'Interrupted: by SIGINT during the rollback of step "Hold"' "$dir/report"
check "report lists rollbacks not run" grep -q 'Create: rollback not run (interrupted)' "$dir/report"
check "report shows rollback interrupted" grep -q 'Hold: rollback interrupted' "$dir/report"
check "report names the signal once" grep -q 'Hold: rollback interrupted by SIGINT' "$dir/report"
check "report does not repeat interrupted" sh -c "! grep -q 'interrupted: interrupted' '$dir/report'"
check "log does not repeat interrupted" sh -c "! grep -q 'interrupted: interrupted' '$dir/err'"
check "log names the stopped rollback" grep -q 'rollback of step "Hold" interrupted by SIGINT' "$dir/err"
check "report does not repeat the code" sh -c "! grep -q 'interrupted Interrupted' '$dir/report'"

# With --rollback-on-interrupt, SIGINT stops a step and SIGTERM then stops
# the rollback: the report names SIGTERM for the rollback.
cat >"$TMP/two.lua" <<'LUA'
local function note(ctx, text)
  local f = io.open(ctx.vars.dir .. "/log", "a") f:write(text, "\n") f:close()
end
playbook {
  name = "two-signals",
  vars = { dir = { type = "path" } },
  steps = {
    step "A" { run = function() end, rollback = function(ctx) note(ctx, "undoing a") sleep(60) end },
    step "B" { run = function(ctx) note(ctx, "running b") sleep(60) end },
  },
}
LUA
dir="$TMP/two"
mkdir -p "$dir"
"$MNEM" run "$TMP/two.lua" --state-dir "$dir/state" --var "dir=$dir" --rollback-on-interrupt >"$dir/out" 2>"$dir/err" &
pid=$!
i=0
while ! grep -q 'running b' "$dir/log" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
sleep 0.2
kill -INT "$pid"
i=0
while ! grep -q 'undoing a' "$dir/log" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
sleep 0.2
kill -TERM "$pid"
wait "$pid"
rc=$?
check "second signal exits 130" test "$rc" -eq 130
check "second signal message" grep -q 'rollback of "A" interrupted by SIGTERM' "$dir/err"
"$MNEM" report last --state-dir "$dir/state" >"$dir/report" 2>&1
check "report names the second signal" \
  grep -q 'Interrupted: by SIGTERM during the rollback of step "A"' "$dir/report"

t_done
