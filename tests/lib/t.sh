# t.sh: the test library for tests/**/test_*.sh, sourced by each file.
#
#   . tests/lib/t.sh
#   check "mnem --version prints it" sh -c 'mnem --version | grep -q mnem'
#   t_done
#
# Output matches tests/lib/t.lua so tests/run adds both up.
T_PASSED=0
T_FAILED=0
T_SKIPPED=0
MNEM=${MNEM_BIN:-build/mnem}

t_pass() { T_PASSED=$((T_PASSED + 1)); echo "ok - $1"; }
t_fail() { T_FAILED=$((T_FAILED + 1)); echo "not ok - $1: $2"; }
t_skip() { T_SKIPPED=$((T_SKIPPED + 1)); echo "skip - $1: $2"; }

# check NAME COMMAND...: passes when COMMAND exits 0.
check() {
  name=$1; shift
  if out=$("$@" 2>&1); then t_pass "$name"; else t_fail "$name" "$(printf '%s' "$out" | tail -n 5)"; fi
}

t_done() {
  echo "# passed $T_PASSED failed $T_FAILED skipped $T_SKIPPED"
  [ "$T_FAILED" -eq 0 ]
}
