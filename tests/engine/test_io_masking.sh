# io.write, io.stdout:write and io.stderr:write in a playbook mask secrets
# as print does; other methods of the standard files still work.
. tests/lib/t.sh

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/write.lua" <<'PLAYBOOK'
playbook {
  name = "io-masking",
  steps = {
    step "Write a secret" {
      run = function()
        local s = secret("Hunter2Secret")
        io.write("write:", s, " ", 5, "\n")
        io.stdout:write("stdout:", s, "\n")
        io.stdout:flush()
        io.stderr:write("stderr:", s, "\n")
        local out = io.stdout
        out:write("alias:", s, "\n"):write("chained:", s, "\n")
        local path = os.tmpname()
        local f = assert(io.open(path, "w"))
        f:write(s)
        f:close()
        local back = io.open(path):read("a")
        os.remove(path)
        io.write("file kept the value: ", tostring(back == s), "\n")
      end,
    },
  },
}
PLAYBOOK
"$MNEM" run "$dir/write.lua" --state-dir "$dir/state" >"$dir/out" 2>"$dir/err"
status=$?

check "the run succeeds" test "$status" -eq 0
check "io.write masks" grep -q '^write:\*\*\*\*\*\*\*\* 5$' "$dir/out"
check "io.stdout:write masks" grep -q '^stdout:\*\*\*\*\*\*\*\*$' "$dir/out"
check "io.stderr:write masks" grep -q '^stderr:\*\*\*\*\*\*\*\*$' "$dir/err"
check "an alias of io.stdout masks" grep -q '^alias:\*\*\*\*\*\*\*\*$' "$dir/out"
check "chained writes mask" grep -q '^chained:\*\*\*\*\*\*\*\*$' "$dir/out"
check "files the playbook opens keep the value" grep -q '^file kept the value: true$' "$dir/out"
check "no secret on the terminal" sh -c "! grep -q Hunter2Secret '$dir/out' '$dir/err'"
t_done
