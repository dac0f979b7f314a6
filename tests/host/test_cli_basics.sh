# Command-line basics of the mnem binary: help, version, exit codes.
. tests/lib/t.sh

check "version prints mnem and a number" sh -c "$MNEM --version | grep -Eq '^mnem [0-9]+\.[0-9]+'"
check "help lists the run command" sh -c "$MNEM --help | grep -q '  run '"
check "unknown command exits 2" sh -c "$MNEM frobnicate; test \$? -eq 2"
check "unknown command names itself" sh -c "$MNEM frobnicate 2>&1 | grep -q 'unknown command \"frobnicate\"'"
check "no arguments exits 2" sh -c "$MNEM >/dev/null; test \$? -eq 2"
t_done
