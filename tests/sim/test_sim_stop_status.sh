# `mnem sim serve` stopped by SIGTERM or SIGINT exits 0, also with a
# built-in scenario, whose copy in a temporary folder it removes on the way
# out.
. tests/lib/t.sh

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/tmp"
for signal in TERM INT; do
  rm -f "$dir/ready.json"
  TMPDIR="$dir/tmp" "$MNEM" sim serve --port 0 --scenario empty --ready-file "$dir/ready.json" --quiet \
    2>"$dir/err.$signal" &
  pid=$!
  i=0
  while [ ! -s "$dir/ready.json" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
  check "the simulator starts before SIG$signal" test -s "$dir/ready.json"
  kill -"$signal" "$pid"
  wait "$pid"
  status=$?
  check "SIG$signal exits 0" test "$status" -eq 0
  check "SIG$signal prints no error" sh -c "! grep -q 'error' '$dir/err.$signal'"
  check "SIG$signal removes the scenario copy" sh -c "! ls '$dir/tmp/' | grep -q mnem-scenario"
done
t_done
