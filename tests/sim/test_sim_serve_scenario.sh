#!/bin/sh
# mnem sim serve --scenario takes a file or the name of a built-in scenario,
# as mnem run --sim --scenario does, and lists the built-ins when it finds
# neither.
. tests/lib/t.sh
DIR=$(mktemp -d "${MNEM_TEST_TMP:-/tmp}/sim-scenario.XXXXXX")
. tests/lib/sim_cli.sh

# serve LABEL SCENARIO: starts the simulator with --scenario SCENARIO from
# the folder $DIR/LABEL, waits for its ready file there and sets ENDPOINT
# and SIM_PID. Fails when the simulator exits first.
serve() {
  mkdir -p "$DIR/$1"
  (cd "$DIR/$1" && exec "$MNEM" sim serve --port 0 --quiet --ready-file ready.json --scenario "$2") \
    >"$DIR/$1/sim.log" 2>&1 &
  SIM_PID=$!
  i=0
  while [ ! -s "$DIR/$1/ready.json" ] && [ $i -lt 300 ] && kill -0 "$SIM_PID" 2>/dev/null; do
    sleep 0.1
    i=$((i + 1))
  done
  [ -s "$DIR/$1/ready.json" ] || return 1
  ENDPOINT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["endpoint"])' "$DIR/$1/ready.json")
}

stop() {
  kill "$SIM_PID" 2>/dev/null
  wait "$SIM_PID" 2>/dev/null
  SIM_PID=
}

case "$MNEM" in /*) ;; *) MNEM=$(pwd)/$MNEM ;; esac

if serve parity parity; then
  t_pass "built-in parity starts from another folder"
  expect "built-in parity has its ECS cluster" "d['clusterArns'] and 'mnemosys-nonprod' in d['clusterArns'][0]" \
    awsj ecs list-clusters
  stop
else
  t_fail "built-in parity starts from another folder" "$(tail -n 3 "$DIR/parity/sim.log")"
fi

if serve empty empty; then
  t_pass "built-in empty starts"
  expect "built-in empty has no cluster" "d['clusterArns'] == []" awsj ecs list-clusters
  stop
else
  t_fail "built-in empty starts" "$(tail -n 3 "$DIR/empty/sim.log")"
fi

# A file path still wins over a built-in name.
cat >"$DIR/scenario.lua" <<'EOF'
return { ecs = { clusters = { "from-file" } } }
EOF
if serve file "$DIR/scenario.lua"; then
  expect "scenario file is loaded" "'from-file' in d['clusterArns'][0]" awsj ecs list-clusters
  stop
else
  t_fail "scenario file is loaded" "$(tail -n 3 "$DIR/file/sim.log")"
fi

"$MNEM" sim serve --port 0 --scenario no-such-scenario >"$DIR/unknown.out" 2>&1
status=$?
check "unknown scenario exits 2" test "$status" -eq 2
check "unknown scenario names the value" grep -q '"no-such-scenario"' "$DIR/unknown.out"
check "unknown scenario lists the built-ins" grep -q "built-in: empty, parity" "$DIR/unknown.out"

check "empty scenario header shows an installed start" \
  grep -q "mnem sim serve --scenario empty" stdlib/sim/scenarios/empty.lua
check "empty scenario header shows no source path" \
  sh -c '! grep -q -- "--scenario stdlib/" stdlib/sim/scenarios/empty.lua'

rm -rf "$DIR"
t_done
