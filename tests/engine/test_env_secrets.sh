# Secrets in the environment (AWS keys, session tokens, PGPASSWORD) are
# masked from the start of a command. A step that prints them before any
# AWS or pg call has read them shows the mask, on the terminal and in the
# run record.
. tests/lib/t.sh

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/show.lua" <<'PLAYBOOK'
playbook {
  name = "show-env",
  steps = {
    step "Print the environment" {
      run = function()
        local r = exec{ "sh", "-c", "echo key=$AWS_SECRET_ACCESS_KEY token=$AWS_SESSION_TOKEN pg=$PGPASSWORD" }
        print(r.stdout)
        return { seen = r.stdout }
      end,
    },
  },
}
PLAYBOOK
AWS_SECRET_ACCESS_KEY=envKeyVALUE7 AWS_SESSION_TOKEN=envTokenVALUE8 PGPASSWORD=envPgVALUE9 \
  "$MNEM" run "$dir/show.lua" --state-dir "$dir/state" > "$dir/out" 2>&1
status=$?

check "the run succeeds" test "$status" -eq 0
check "the terminal shows the mask" grep -q 'key=\*\*\*\*\*\*\*\* token=\*\*\*\*\*\*\*\* pg=\*\*\*\*\*\*\*\*' "$dir/out"
check "no secret on the terminal" sh -c "! grep -Eq 'envKeyVALUE7|envTokenVALUE8|envPgVALUE9' '$dir/out'"
check "a run record was written" sh -c "ls '$dir/state/runs/'*.jsonl"
check "no secret in the run record" sh -c "! grep -Eqr 'envKeyVALUE7|envTokenVALUE8|envPgVALUE9' '$dir/state'"
t_done
