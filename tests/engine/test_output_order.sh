# With stdout and stderr in one pipe (`mnem run ... 2>&1 | tee`), what a
# playbook prints stays in order with the log lines and comes before the
# final summary, because mnem line-buffers stdout.
. tests/lib/t.sh

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/order.lua" <<'PLAYBOOK'
playbook { name = "order", steps = {
  step "First" { run = function() print("printed in First") log.info("logged in First") end },
  step "Second" { run = function() io.write("written in Second\n") end },
} }
PLAYBOOK
"$MNEM" run "$dir/order.lua" --state-dir "$dir/state" 2>&1 | cat >"$dir/out"

line_of() { grep -n "$1" "$dir/out" | head -n 1 | cut -d: -f1; }
check "print comes before the next log line" test "$(line_of 'printed in First')" -lt "$(line_of 'logged in First')"
check "io.write comes before Second ends" test "$(line_of 'written in Second')" -lt "$(line_of '\[Second\] done')"
check "output comes before the summary" test "$(line_of 'written in Second')" -lt "$(line_of 'succeeded in')"
t_done
