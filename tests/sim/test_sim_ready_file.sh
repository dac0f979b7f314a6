#!/bin/sh
# The simulator's ready file gives a client every value of the scenario's
# first credential, including its session token when it has one.
. tests/lib/t.sh
DIR=$(mktemp -d "${MNEM_TEST_TMP:-/tmp}/sim-ready.XXXXXX")
. tests/lib/sim_cli.sh

# field NAME: prints field NAME of the ready file, or "absent".
field() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], "absent"))' "$DIR/ready.json" "$1"
}

cat >"$DIR/scenario.lua" <<'LUA'
return { credentials = {
  { access_key_id = "ASIASIMSESSION", secret_access_key = "sessionsecret99", session_token = "SimSessionToken42" },
} }
LUA
if sim_start; then
  check "ready file has the access key" test "$(field access_key_id)" = ASIASIMSESSION
  check "ready file has the secret key" test "$(field secret_access_key)" = sessionsecret99
  check "ready file has the session token" test "$(field session_token)" = SimSessionToken42
  # The three values are all a client needs: the CLI signs with them.
  expect "CLI signs with the ready file values" "d['Account'] == '123456789012'" \
    env AWS_ACCESS_KEY_ID="$(field access_key_id)" AWS_SECRET_ACCESS_KEY="$(field secret_access_key)" \
    AWS_SESSION_TOKEN="$(field session_token)" /usr/bin/aws --endpoint-url "$ENDPOINT" --output json \
    sts get-caller-identity
  kill "$SIM_PID"
  wait "$SIM_PID" 2>/dev/null
else
  t_fail "simulator starts" "$(tail -n 3 "$DIR/sim.log")"
fi

rm -f "$DIR/ready.json"
cat >"$DIR/scenario.lua" <<'LUA'
return { credentials = { { access_key_id = "test", secret_access_key = "test" } } }
LUA
if sim_start; then
  check "ready file without token omits it" test "$(field session_token)" = absent
  kill "$SIM_PID"
  wait "$SIM_PID" 2>/dev/null
else
  t_fail "simulator starts without a token" "$(tail -n 3 "$DIR/sim.log")"
fi

rm -rf "$DIR"
t_done
