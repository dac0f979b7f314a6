# Other routes a playbook may take to the terminal mask secrets too:
# io.output():write, split arguments, require("io") in a recipe and
# coroutines. Lua's io still behaves as documented: io.type of the standard
# files, io.output redirection and restore, reading standard input with
# io.read and io.stdin:lines, and numbers written as file:write writes them.
# mnem's own messages stay as its log writes them.
. tests/lib/t.sh

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/recipe_io.lua" <<'RECIPE'
local M = {}

function M.write(value)
  local plain_io = require("io")
  plain_io.write("recipe-require-io:", value, "\n")
  io.stdout:write("recipe-stdout:", value, "\n")
end

return M
RECIPE
cat > "$dir/routes.lua" <<'PLAYBOOK'
playbook {
  name = "io-routes",
  steps = {
    step "Write a secret every way" {
      run = function()
        local s = secret("Hunter2Secret")
        io.output():write("output-call:", s, "\n")
        io.write("split:", "Hunter2", "Secret", "\n")
        require("recipe_io").write(s)
        local co = coroutine.wrap(function()
          io.write("coroutine:", s, "\n")
          coroutine.yield()
          io.stderr:write("coroutine-stderr:", s, "\n")
        end)
        co()
        co()
        print("type:", io.type(io.stdout), io.type(io.stderr), io.type(io.stdin))
        io.write("numbers:", 2.0, " ", 7, " ", 0.1, "\n")
        print("bad write:", select(2, pcall(io.write, {})))
        local path = os.tmpname()
        io.output(path)
        io.write("to the file:", s)
        io.close()
        io.output(io.stdout)
        io.write("restored:", s, "\n")
        local f = assert(io.open(path))
        print("file kept the value:", f:read("a") == "to the file:" .. s)
        f:close()
        os.remove(path)
        print("first line:", io.read("l"))
        print("second line:", io.stdin:read("l"))
        for line in io.stdin:lines() do print("stdin line:", line) end
      end,
    },
  },
}
PLAYBOOK
printf 'one\ntwo\nthree\nfour\n' | "$MNEM" run "$dir/routes.lua" --state-dir "$dir/state" >"$dir/out" 2>"$dir/err"
status=$?

check "the run succeeds" test "$status" -eq 0
check "io.output():write masks" grep -q '^output-call:\*\*\*\*\*\*\*\*$' "$dir/out"
check "a secret split across arguments is masked" grep -q '^split:\*\*\*\*\*\*\*\*$' "$dir/out"
check "require(\"io\") in a recipe masks" grep -q '^recipe-require-io:\*\*\*\*\*\*\*\*$' "$dir/out"
check "io.stdout in a recipe masks" grep -q '^recipe-stdout:\*\*\*\*\*\*\*\*$' "$dir/out"
check "a coroutine's io.write masks" grep -q '^coroutine:\*\*\*\*\*\*\*\*$' "$dir/out"
check "a coroutine's io.stderr:write masks" grep -q '^coroutine-stderr:\*\*\*\*\*\*\*\*$' "$dir/err"
check "io.type sees files" grep -q "$(printf '^type:\tfile\tfile\tfile$')" "$dir/out"
check "numbers are written as file:write writes them" grep -q '^numbers:2 7 0.1$' "$dir/out"
check "a table argument raises" grep -q "bad argument #1 to 'write' (string expected, got table)" "$dir/out"
check "writes after io.output(io.stdout) mask" grep -q '^restored:\*\*\*\*\*\*\*\*$' "$dir/out"
check "a file given to io.output keeps the value" grep -q "$(printf '^file kept the value:\ttrue$')" "$dir/out"
check "io.read reads standard input" grep -q "$(printf '^first line:\tone$')" "$dir/out"
check "io.stdin:read reads standard input" grep -q "$(printf '^second line:\ttwo$')" "$dir/out"
check "io.stdin:lines reads the rest" grep -q "$(printf '^stdin line:\tfour$')" "$dir/out"
check "no secret on the terminal" sh -c "! grep -q Hunter2Secret '$dir/out' '$dir/err'"
check "the final message names the record" grep -q "^record: $dir/state/runs/" "$dir/err"
check "no secret in the run record" sh -c "! grep -rq Hunter2Secret '$dir/state'"
t_done
